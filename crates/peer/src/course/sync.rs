//! Consensus and sync the course way, fast. A consensus round — on joining, again shortly after
//! (once gossip has found more peers), every [`super::node::CourseConfig::consensus_interval_ms`]
//! and on CONSENSUS — asks every known peer for STATS, groups the answers by (length, top hash)
//! and tries the chains that rank above ours: longer first, then reported by more peers (ours
//! counting us). A shorter chain never replaces ours. A chain is fetched
//! with one GET_BLOCK per height, pipelined over every peer that reported it by the shared
//! [`Downloader`] (window, per-request deadlines, doubling timeouts, resends to another peer),
//! and validated block by block as the heights fill in. A chain that forked off below our tip is
//! found by stepping back, doubling the step each time a first block does not link; a block that
//! fails validation is asked again elsewhere and costs its server a failure; three failures or
//! stalls and the server is dropped from the chain's peers, and with none left the next
//! candidate is tried. A liar's taller claim therefore costs a few timeouts, and the honest chain
//! wins. No peer is ever banned: course peers know nothing else to do.

use super::event::CourseEvent;
use super::node::CourseNode;
use crate::downloader::{DownloadAction, DownloadLimits, Downloader, Target};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use votechain_course::block::{meets_difficulty, CourseBlock, CourseError};
use votechain_course::wire::CourseMessage;
use votechain_course::Hash;
use votechain_sansio::output::Output;

/// Failures (invalid blocks, stalls) after which a peer no longer serves the current chain.
pub const MAX_FAILURES: u32 = 3;

/// Consensus rounds after the first that come [`EARLY_ROUND_GAP_MS`] apart, while gossip is
/// still finding peers.
pub const EARLY_ROUNDS: u32 = 2;

/// The gap between the early rounds.
pub const EARLY_ROUND_GAP_MS: u64 = 10_000;

/// Heights above the next one needed within which a late answer is still taken.
pub const LATE_WINDOW: u64 = 1_024;

/// How long a chain that could not be fetched is not tried again, so a liar's claim costs one
/// attempt per this time, however often it is repeated.
pub const FAILED_CLAIM_MS: u64 = 300_000;

/// Failed claims remembered.
pub const FAILED_CLAIMS: usize = 64;

/// Between two progress reports while syncing.
pub const PROGRESS_EVERY_MS: u64 = 2_000;

/// A chain some peers reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Its length in blocks.
    pub blocks: u64,
    /// Its top hash.
    pub hash: Hash,
    /// Who reported it.
    pub peers: Vec<SocketAddr>,
}

#[derive(Debug)]
struct Round {
    until_ms: u64,
    asked: HashSet<SocketAddr>,
    replies: HashMap<SocketAddr, Option<(u64, Hash)>>,
}

#[derive(Debug)]
struct Fetch {
    target: Candidate,
    /// Height of `got[0]`.
    base: u64,
    /// Verified blocks from `base` up, not yet in the chain (a branch still shorter than ours).
    got: Vec<CourseBlock>,
    /// Arrived, waiting for the heights below them.
    ahead: BTreeMap<u64, (SocketAddr, CourseBlock)>,
    failures: HashMap<SocketAddr, u32>,
    /// The next step back when the first block does not link.
    step: u64,
    /// Blocks of this chain verified so far: a fetch that made progress and then stalled was
    /// loss or a pause, not a lie.
    linked: u64,
    next_progress_ms: u64,
}

/// The consensus and sync state.
#[derive(Debug)]
pub struct SyncState {
    downloader: Downloader,
    round: Option<Round>,
    round_wanted: bool,
    candidates: VecDeque<Candidate>,
    fetch: Option<Fetch>,
    next_round_ms: Option<u64>,
    last_round_ms: Option<u64>,
    early_rounds: u32,
    /// Chains that could not be fetched, and until when they are not tried again.
    failed: HashMap<(u64, Hash), u64>,
}

impl SyncState {
    /// Idle.
    pub fn new(limits: DownloadLimits) -> SyncState {
        SyncState {
            downloader: Downloader::new(limits),
            round: None,
            round_wanted: false,
            candidates: VecDeque::new(),
            fetch: None,
            next_round_ms: None,
            last_round_ms: None,
            early_rounds: EARLY_ROUNDS,
            failed: HashMap::new(),
        }
    }

    /// The first round is due at once.
    pub fn schedule_first(&mut self, now_ms: u64) {
        self.next_round_ms = Some(now_ms);
    }

    /// A round as soon as the current one (if any) and its fetch are over.
    pub fn start_round_now(&mut self) {
        self.round_wanted = true;
    }

    /// Remembers that the chain `key` could not be fetched.
    fn remember_failed(&mut self, key: (u64, Hash), now_ms: u64) {
        self.failed.retain(|_, until| *until > now_ms);
        if self.failed.len() < FAILED_CLAIMS {
            self.failed.insert(key, now_ms + FAILED_CLAIM_MS);
        }
    }

    /// True when the chain `key` failed lately.
    fn failed_lately(&self, key: &(u64, Hash), now_ms: u64) -> bool {
        self.failed.get(key).is_some_and(|until| *until > now_ms)
    }

    /// True when the network may start a round now: none running and none within `gap_ms`.
    pub fn may_start_round(&self, now_ms: u64, gap_ms: u64) -> bool {
        self.round.is_none()
            && self.fetch.is_none()
            && !self.round_wanted
            && self.last_round_ms.is_none_or(|t| now_ms >= t + gap_ms)
    }

    /// True while a chain is being fetched.
    pub fn is_fetching(&self) -> bool {
        self.fetch.is_some()
    }

    /// `(have, want)` while fetching: blocks verified so far and the chain's length.
    pub fn progress(&self) -> Option<(u64, u64)> {
        self.fetch
            .as_ref()
            .map(|f| (f.base + f.got.len() as u64, f.target.blocks))
    }

    /// The earliest time the sync wants a timeout.
    pub fn next_deadline(&self) -> Option<u64> {
        // A round falls due only when none runs and no chain is being fetched: while one is,
        // a round time already past must not be offered as a deadline (the shell would spin).
        let idle = self.round.is_none() && self.fetch.is_none();
        [
            self.round.as_ref().map(|r| r.until_ms),
            self.next_round_ms.filter(|_| idle),
            // A round asked for while busy is due as soon as the node is idle.
            (idle && self.round_wanted).then_some(0),
            self.downloader.next_deadline(),
            self.fetch.as_ref().map(|f| f.next_progress_ms),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

impl CourseNode {
    /// Rounds due, rounds over, the downloader's requests and stalls.
    pub(super) fn sync_timeout(&mut self, now_ms: u64) {
        // The fetch first and the round next: either may end, and a round that is due then
        // starts in the same call (a due time left behind would make the shell spin).
        self.poll_fetch(now_ms);
        if self
            .sync
            .round
            .as_ref()
            .is_some_and(|r| now_ms >= r.until_ms)
        {
            self.finish_round(now_ms);
        }
        let idle = self.sync.round.is_none() && self.sync.fetch.is_none();
        let due = self.sync.next_round_ms.is_some_and(|t| now_ms >= t);
        if idle && (self.sync.round_wanted || due) {
            self.begin_round(now_ms);
        }
    }

    /// Forgets a peer that left.
    pub(super) fn sync_forget(&mut self, addr: &SocketAddr) {
        self.sync.downloader.forget_peer(addr);
    }

    fn begin_round(&mut self, now_ms: u64) {
        self.sync.round_wanted = false;
        self.sync.last_round_ms = Some(now_ms);
        self.sync.next_round_ms = Some(now_ms + self.round_gap());
        let asked: HashSet<SocketAddr> = self.peers.addrs().into_iter().collect();
        if asked.is_empty() {
            return;
        }
        for addr in self.peers.addrs() {
            self.send(addr, &CourseMessage::Stats);
        }
        self.sync.round = Some(Round {
            until_ms: now_ms + self.config.stats_wait_ms,
            asked,
            replies: HashMap::new(),
        });
    }

    fn round_gap(&mut self) -> u64 {
        if self.sync.early_rounds > 0 {
            self.sync.early_rounds -= 1;
            EARLY_ROUND_GAP_MS
        } else {
            self.config.consensus_interval_ms
        }
    }

    pub(super) fn on_stats_reply(
        &mut self,
        now_ms: u64,
        from: SocketAddr,
        chain: Option<(u64, Hash)>,
    ) {
        let Some(round) = self.sync.round.as_mut().filter(|r| r.asked.contains(&from)) else {
            self.counters.unsolicited += 1;
            return;
        };
        round.replies.insert(from, chain);
        if round.replies.len() == round.asked.len() {
            self.finish_round(now_ms);
        }
    }

    fn finish_round(&mut self, now_ms: u64) {
        let Some(round) = self.sync.round.take() else {
            return;
        };
        let answered = round.replies.len();
        let mut groups: HashMap<(u64, Hash), Vec<SocketAddr>> = HashMap::new();
        for (peer, chain) in round.replies {
            if let Some(key) = chain {
                groups.entry(key).or_default().push(peer);
            }
        }
        // The longest chain, and among chains as long the one most peers agree on (our own
        // chain counting us as one more; then the higher hash, so that every peer breaks a
        // tie alike). Only chains that rank above ours are tried: a chain shorter than ours
        // never replaces it, however many report it (one host with many ports could otherwise
        // roll the network back to a cheap prefix), and a longer one always may, so a block
        // mined by a few spreads even when its ANNOUNCE was lost.
        let len = self.chain.len();
        let ours = self.chain.tip().map(|t| (len, t.hash));
        if let Some(key) = ours {
            groups.entry(key).or_default();
        }
        let mut ranked: Vec<((u64, Hash), usize, Vec<SocketAddr>)> = groups
            .into_iter()
            .map(|(key, mut peers)| {
                peers.sort();
                let support = peers.len() + usize::from(Some(key) == ours);
                (key, support, peers)
            })
            .collect();
        ranked.sort_by(|(a, na, _), (b, nb, _)| (b.0, nb, b.1 .0).cmp(&(a.0, na, a.1 .0)));
        let candidates: Vec<Candidate> = ranked
            .into_iter()
            .take_while(|(key, _, _)| Some(*key) != ours)
            .filter(|((blocks, _), _, _)| *blocks >= 1)
            .filter(|(key, _, _)| !self.sync.failed_lately(key, now_ms))
            .map(|((blocks, hash), _, peers)| Candidate {
                blocks,
                hash,
                peers,
            })
            .collect();
        match candidates.first() {
            Some(best) => self.event(CourseEvent::ConsensusChose {
                blocks: best.blocks,
                hash: best.hash,
                agreeing: best.peers.len(),
                answered,
            }),
            None => self.event(CourseEvent::ConsensusKept {
                blocks: len,
                answered,
            }),
        }
        self.sync.candidates = candidates.into();
        self.next_candidate(now_ms);
    }

    fn next_candidate(&mut self, now_ms: u64) {
        self.sync.fetch = None;
        self.sync.downloader.stop();
        while let Some(candidate) = self.sync.candidates.pop_front() {
            let len = self.chain.len();
            let at_tip = self.chain.tip().is_some_and(|t| t.hash == candidate.hash);
            if at_tip || candidate.blocks == 0 {
                continue;
            }
            // A longer chain is fetched from our length up; one of the same length from its
            // top block, which must then link below.
            let base = len.min(candidate.blocks - 1);
            // A probe first: only the first block, which must link to ours (or the search for
            // the fork point steps back from it). The pipeline opens once something links, so
            // a chain that links nowhere costs the walk back, not a window of requests above.
            self.sync.downloader.start(
                Target {
                    blocks: base + 1,
                    hash: candidate.hash,
                    peers: candidate.peers.clone(),
                },
                base,
            );
            self.sync.fetch = Some(Fetch {
                target: candidate,
                base,
                got: Vec::new(),
                ahead: BTreeMap::new(),
                failures: HashMap::new(),
                step: 1,
                linked: 0,
                next_progress_ms: now_ms + PROGRESS_EVERY_MS,
            });
            break;
        }
        self.replan_mining(now_ms);
        self.poll_fetch(now_ms);
    }

    /// A GET_BLOCK_REPLY with a block.
    pub(super) fn on_fetched(&mut self, now_ms: u64, from: SocketAddr, block: CourseBlock) {
        let asked = self.sync.downloader.on_block(from, block.height, None);
        // A late answer (its request timed out and went to another peer) from a peer serving
        // this chain is as good as any, within the heights the downloader would ask for.
        let late = !asked
            && self.sync.fetch.as_ref().is_some_and(|f| {
                let next = f.base + f.got.len() as u64;
                f.target.peers.contains(&from)
                    && block.height >= next
                    && block.height < next + LATE_WINDOW
            });
        if !asked && !late {
            self.counters.unsolicited += 1;
            return;
        }
        if let Some(f) = self.sync.fetch.as_mut() {
            if block.height >= f.base {
                f.ahead.entry(block.height).or_insert((from, block));
            }
        }
        self.advance(now_ms);
        self.poll_fetch(now_ms);
    }

    /// Verifies what arrived in height order and applies it to the chain.
    fn advance(&mut self, now_ms: u64) {
        let difficulty = self.config.difficulty;
        loop {
            let Some(f) = self.sync.fetch.as_mut() else {
                return;
            };
            let h = f.base + f.got.len() as u64;
            let Some((peer, block)) = f.ahead.remove(&h) else {
                break;
            };
            let prev = match f.got.last() {
                Some(b) => Some(b),
                None if h == 0 => None,
                None => self.chain.get(h - 1),
            };
            match block.verify_after(prev, difficulty) {
                Ok(()) => {
                    if f.got.is_empty() {
                        // It links: open the pipeline up to the chain's claimed length.
                        self.sync.downloader.extend_to(f.target.blocks);
                    }
                    f.linked += 1;
                    f.got.push(block)
                }
                Err(CourseError::BadLink { .. })
                    if f.got.is_empty()
                        && h > 0
                        && block.check_format().is_ok()
                        && meets_difficulty(&block.hash, difficulty) =>
                {
                    // Well-formed work that does not link: the chain forked off lower down.
                    let back = f.step.min(h);
                    f.step = f.step.saturating_mul(2);
                    f.base = h - back;
                    f.ahead.insert(h, (peer, block));
                    self.sync.downloader.fetch_first(h - back, back);
                    break;
                }
                Err(e) => {
                    tracing::debug!(%peer, "block {h} of the chain being fetched is invalid: {e}");
                    self.counters.invalid_blocks += 1;
                    self.sync.downloader.fetch_first(h, 1);
                    self.fail(peer);
                    break;
                }
            }
        }
        self.apply(now_ms);
    }

    /// One more failure for `peer`; at [`MAX_FAILURES`] it no longer serves this chain.
    fn fail(&mut self, peer: SocketAddr) {
        let Some(f) = self.sync.fetch.as_mut() else {
            return;
        };
        let n = f.failures.entry(peer).or_default();
        *n += 1;
        if *n >= MAX_FAILURES {
            self.sync.downloader.forget_peer(&peer);
        }
    }

    /// Moves verified blocks into the chain: at once when they extend it, as a switch once the
    /// branch is longer than ours (or as long, and the chain the round chose).
    fn apply(&mut self, now_ms: u64) {
        let Some(f) = self.sync.fetch.as_mut() else {
            return;
        };
        if f.got.is_empty() {
            return;
        }
        let len = self.chain.len();
        let end = f.base + f.got.len() as u64;
        let chosen_tip = f.got.last().is_some_and(|b| b.hash == f.target.hash);
        let switch = f.base < len && (end > len || (end == len && chosen_tip));
        if f.base != len && !switch {
            return;
        }
        let got = std::mem::take(&mut f.got);
        let base = f.base;
        f.base = end;
        let dropped: Vec<CourseBlock> = self.chain.blocks()[base as usize..].to_vec();
        self.chain.truncate(base);
        for block in &got {
            if let Err(e) = self.chain.push(block.clone()) {
                // Verified against the same parent a moment ago: cannot happen.
                tracing::error!("a verified block did not fit the chain: {e}");
                break;
            }
        }
        if !dropped.is_empty() {
            self.event(CourseEvent::Reorganised {
                from_blocks: len,
                to_blocks: self.chain.len(),
                fork_height: base,
            });
            self.requeue_words(&dropped);
        }
        self.out.push_back(Output::Persist(got.clone()));
        if let Some(top) = got.last() {
            self.event(CourseEvent::TipChanged {
                height: top.height,
                hash: top.hash,
                mined_by: top.mined_by.clone(),
                messages: top.messages.clone(),
                ours: false,
            });
        }
        self.words_mined(&got);
        if self
            .sync
            .fetch
            .as_ref()
            .is_some_and(|f| self.chain.len() >= f.target.blocks)
        {
            self.sync.fetch = None;
            self.sync.downloader.stop();
            self.sync.candidates.clear();
            self.event(CourseEvent::Synced {
                blocks: self.chain.len(),
            });
            self.replan_mining(now_ms);
        }
    }

    /// Sends the downloader's requests, takes its stalls, reports progress, and moves on to the
    /// next candidate when this one cannot be had.
    fn poll_fetch(&mut self, now_ms: u64) {
        let Some(f) = self.sync.fetch.as_mut() else {
            return;
        };
        let held = f.base + f.got.len() as u64;
        if now_ms >= f.next_progress_ms {
            f.next_progress_ms = now_ms + PROGRESS_EVERY_MS;
            let want = f.target.blocks;
            self.event(CourseEvent::Syncing { have: held, want });
        }
        for action in self.sync.downloader.poll(now_ms, held) {
            match action {
                DownloadAction::Request { peer, start, .. } => {
                    self.send(peer, &CourseMessage::GetBlock { height: start })
                }
                DownloadAction::Strike(peer) => self.fail(peer),
            }
        }
        let stuck = !self.sync.downloader.is_active() || self.sync.downloader.is_drained();
        if stuck {
            if let Some(f) = self.sync.fetch.take() {
                if f.linked == 0 {
                    // Nothing of it verified: not tried again for a while.
                    self.sync
                        .remember_failed((f.target.blocks, f.target.hash), now_ms);
                } else {
                    // It was being served until its peers paused: ask again at once rather
                    // than wait for the next scheduled round.
                    self.sync.round_wanted = true;
                }
                let reason = if self.sync.downloader.is_active() {
                    "its peers did not serve all of it"
                } else {
                    "no peer serves it"
                };
                self.event(CourseEvent::CandidateFailed {
                    blocks: f.target.blocks,
                    reason: reason.to_owned(),
                });
                self.next_candidate(now_ms);
            }
        }
    }
}
