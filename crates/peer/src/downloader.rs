//! The block downloader: pipelined REQUEST_CHAIN batches spread over the peers that reported the
//! chain we want, with per-request deadlines, a timeout that doubles on each stall, resends of
//! whatever is missing to another peer, and a strike for each stall or bad answer so a peer that
//! lies about its height costs a bounded amount of work.
//!
//! It knows heights and peers, not blocks: the node feeds it what arrived and decides what the
//! chain needs (including stepping back below its own tip when the wanted chain forked off
//! earlier). Ranges are queued lazily, at most `window × batch × 4` heights ahead of the tip, so a
//! claimed height of a million costs nothing until blocks actually arrive.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;

/// The chain a consensus round chose to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Number of blocks in that chain (tip height + 1), as reported.
    pub blocks: u64,
    /// Its tip hash.
    pub hash: votechain_chain::Hash,
    /// Peers that reported exactly this chain.
    pub peers: Vec<SocketAddr>,
}

#[derive(Debug, Clone)]
struct InFlight {
    peer: SocketAddr,
    start: u64,
    count: u64,
    /// One flag per height in `start..start + count`.
    received: Vec<bool>,
    deadline_ms: u64,
    /// [`Downloader::sent`] when this request went out.
    seq: u64,
}

impl InFlight {
    fn missing(&self) -> Option<(u64, u64)> {
        let first = self.received.iter().position(|r| !r)?;
        let last = self.received.iter().rposition(|r| !r)?;
        Some((self.start + first as u64, (last - first + 1) as u64))
    }
}

/// Tunables of the downloader (copied from [`crate::config::NodeConfig`]).
#[derive(Debug, Clone, Copy)]
pub struct DownloadLimits {
    /// Blocks per request.
    pub batch: u64,
    /// Requests in flight over all peers.
    pub window: usize,
    /// Requests in flight to one peer.
    pub per_peer: usize,
    /// First request timeout.
    pub timeout_ms: u64,
    /// Longest request timeout.
    pub timeout_cap_ms: u64,
}

/// What the downloader wants done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownloadAction {
    /// Send REQUEST_CHAIN{start, count} to `peer`.
    Request {
        /// Who to ask.
        peer: SocketAddr,
        /// First height.
        start: u64,
        /// How many blocks.
        count: u32,
    },
    /// `peer` delivered nothing of a request before its deadline.
    Strike(SocketAddr),
}

/// The downloader.
#[derive(Debug)]
pub struct Downloader {
    limits: DownloadLimits,
    target: Option<Target>,
    queue: VecDeque<(u64, u64)>,
    /// Lowest height not yet queued or requested, going up.
    next: u64,
    inflight: Vec<InFlight>,
    timeout_ms: u64,
    round_robin: usize,
    /// Blocks received for the current target, for progress reports.
    pub received: u64,
    /// Requests sent so far: a clock that only requests move.
    sent: u64,
    /// Per peer, [`Downloader::sent`] at its latest delivery: a stalled request whose peer
    /// delivered something since it was sent was lost on the way, not refused.
    delivered: HashMap<SocketAddr, u64>,
    /// Per peer, [`Downloader::sent`] at its latest strike: one silence earns one strike, not
    /// one per request it caught (a 600 ms stall once struck every host out in a millisecond).
    struck: HashMap<SocketAddr, u64>,
}

impl Downloader {
    /// An idle downloader.
    pub fn new(limits: DownloadLimits) -> Downloader {
        Downloader {
            limits,
            target: None,
            queue: VecDeque::new(),
            next: 0,
            inflight: Vec::new(),
            timeout_ms: limits.timeout_ms,
            round_robin: 0,
            received: 0,
            sent: 0,
            delivered: HashMap::new(),
            struck: HashMap::new(),
        }
    }

    /// The chain being fetched.
    pub fn target(&self) -> Option<&Target> {
        self.target.as_ref()
    }

    /// True while a target is being fetched.
    pub fn is_active(&self) -> bool {
        self.target.is_some()
    }

    /// Starts fetching `target` from height `from` (normally our own block count).
    pub fn start(&mut self, target: Target, from: u64) {
        tracing::info!(blocks = target.blocks, hash = %target.hash, peers = target.peers.len(), from, "sync started");
        self.target = Some(target);
        self.queue.clear();
        self.inflight.clear();
        self.next = from;
        self.timeout_ms = self.limits.timeout_ms;
        self.received = 0;
        self.delivered.clear();
        self.struck.clear();
    }

    /// Raises the target's length to `blocks` (never lowers it): the node fetches a probe
    /// first and opens the pipeline once the probe links.
    pub fn extend_to(&mut self, blocks: u64) {
        if let Some(t) = &mut self.target {
            t.blocks = t.blocks.max(blocks);
        }
    }

    /// Stops; forgets the target and everything in flight.
    pub fn stop(&mut self) {
        self.target = None;
        self.queue.clear();
        self.inflight.clear();
    }

    /// Fetch `start..start + count` again (or for the first time) ahead of everything else: the
    /// node calls this to step below its tip when the wanted chain forked off earlier.
    pub fn fetch_first(&mut self, start: u64, count: u64) {
        let mut pieces = Vec::new();
        let mut at = start;
        while at < start + count {
            let n = self.limits.batch.min(start + count - at);
            pieces.push((at, n));
            at += n;
        }
        for piece in pieces.into_iter().rev() {
            self.queue.push_front(piece);
        }
    }

    /// `peer` says its chain has only `total_blocks` blocks: stop waiting for heights above.
    pub fn on_short(&mut self, peer: SocketAddr, total_blocks: u64) {
        for r in self.inflight.iter_mut().filter(|r| r.peer == peer) {
            for (k, flag) in r.received.iter_mut().enumerate() {
                if r.start + k as u64 >= total_blocks {
                    *flag = true;
                }
            }
        }
        self.inflight.retain(|r| !r.received.iter().all(|x| *x));
    }

    /// A block at `height` arrived from `peer` in answer to REQUEST_CHAIN (or GET_BLOCK).
    /// Returns false when we did not ask `peer` for it.
    pub fn on_block(&mut self, peer: SocketAddr, height: u64, total_blocks: Option<u64>) -> bool {
        let Some(i) = self
            .inflight
            .iter()
            .position(|r| r.peer == peer && height >= r.start && height < r.start + r.count)
        else {
            return false;
        };
        self.delivered.insert(peer, self.sent);
        let r = &mut self.inflight[i];
        let slot = (height - r.start) as usize;
        if !r.received[slot] {
            r.received[slot] = true;
            self.received += 1;
        }
        // A peer whose chain is shorter than asked sends fewer blocks: stop waiting for the rest.
        if let Some(total) = total_blocks {
            let end = total.max(r.start);
            for (k, flag) in r.received.iter_mut().enumerate() {
                if r.start + k as u64 >= end {
                    *flag = true;
                }
            }
        }
        if r.received.iter().all(|x| *x) {
            self.inflight.swap_remove(i);
            // Progress: the network is answering, so go back to the short timeout.
            self.timeout_ms = self.limits.timeout_ms;
        }
        true
    }

    /// Drops every request to `peer` and queues what it still owed (it was banned or left).
    pub fn forget_peer(&mut self, peer: &SocketAddr) {
        if let Some(t) = &mut self.target {
            t.peers.retain(|p| p != peer);
        }
        let (gone, kept): (Vec<_>, Vec<_>) = self.inflight.drain(..).partition(|r| r.peer == *peer);
        self.inflight = kept;
        for r in gone {
            if let Some(m) = r.missing() {
                self.queue.push_front(m);
            }
        }
        if self.target.as_ref().is_some_and(|t| t.peers.is_empty()) {
            tracing::info!("sync stopped: no peer left with the wanted chain");
            self.stop();
        }
    }

    /// True when every queued range has been answered: the node then checks whether the
    /// target is reached, or whether to step further back.
    pub fn is_drained(&self) -> bool {
        self.queue.is_empty()
            && self.inflight.is_empty()
            && self.target.as_ref().is_none_or(|t| self.next >= t.blocks)
    }

    /// Requests to send and strikes to give at `now_ms`, with our current block count `tip_blocks`.
    pub fn poll(&mut self, now_ms: u64, tip_blocks: u64) -> Vec<DownloadAction> {
        let mut actions = Vec::new();
        let Some(target) = &self.target else {
            return actions;
        };
        // Stalled requests: requeue what is missing. Only a silent request (below) earns its
        // peer a strike (once per poll) and a longer wait: a peer that claimed a chain and
        // serves none of it is lying, while partial delivery is loss or a slow peer.
        let mut stalled = Vec::new();
        self.inflight.retain(|r| {
            if now_ms >= r.deadline_ms {
                stalled.push(r.clone());
                false
            } else {
                true
            }
        });
        // A request is *silent* when it delivered nothing and its peer has delivered nothing
        // since it was sent; *partial* when it delivered part (a slow peer); otherwise it was
        // lost on the way (one-block requests are lost whole) by a peer that answers the rest.
        // One silent or partial stall doubles the timeout once, however many requests it
        // caught (doubling per request took a peer's four stalled requests from 500 ms straight
        // to the 8 s cap); loss alone does not, or a lossy link would wait seconds for every
        // lost block of a peer that answers everything else.
        // A silence already struck is not struck again for the requests it caught.
        let silent = |r: &InFlight| {
            let since = |at: Option<&u64>| at.is_none_or(|d| *d < r.seq);
            !r.received.iter().any(|x| *x)
                && since(self.delivered.get(&r.peer))
                && since(self.struck.get(&r.peer))
        };
        let silent: Vec<bool> = stalled.iter().map(silent).collect();
        let partial = stalled.iter().any(|r| r.received.iter().any(|x| *x));
        if partial || silent.contains(&true) {
            self.timeout_ms = (self.timeout_ms * 2).min(self.limits.timeout_cap_ms);
        }
        for (r, silent) in stalled.into_iter().zip(silent) {
            let strike = DownloadAction::Strike(r.peer);
            if silent && !actions.contains(&strike) {
                self.struck.insert(r.peer, self.sent);
                actions.push(strike);
            }
            if let Some(m) = r.missing() {
                self.queue.push_front(m);
            }
        }
        // Queue more ranges, never far ahead of what we hold.
        let horizon = tip_blocks + self.limits.batch * self.limits.window as u64 * 4;
        let end = target.blocks.min(horizon);
        while self.next < end {
            let count = self.limits.batch.min(end - self.next);
            self.queue.push_back((self.next, count));
            self.next += count;
        }
        // Hand queued ranges to peers with room, round robin.
        let peers = target.peers.clone();
        while self.inflight.len() < self.limits.window
            && !self.queue.is_empty()
            && !peers.is_empty()
        {
            let mut chosen = None;
            for k in 0..peers.len() {
                let p = peers[(self.round_robin + k) % peers.len()];
                if self.inflight.iter().filter(|r| r.peer == p).count() < self.limits.per_peer {
                    chosen = Some(p);
                    self.round_robin = (self.round_robin + k + 1) % peers.len();
                    break;
                }
            }
            let Some(peer) = chosen else { break };
            let Some((start, count)) = self.queue.pop_front() else {
                break;
            };
            let count = count.min(self.limits.batch);
            self.sent += 1;
            self.inflight.push(InFlight {
                peer,
                start,
                count,
                received: vec![false; count as usize],
                deadline_ms: now_ms + self.timeout_ms,
                seq: self.sent,
            });
            actions.push(DownloadAction::Request {
                peer,
                start,
                count: count as u32,
            });
        }
        actions
    }

    /// The earliest request deadline, for the node's timer.
    pub fn next_deadline(&self) -> Option<u64> {
        self.inflight.iter().map(|r| r.deadline_ms).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use votechain_chain::Hash;

    fn a(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn limits() -> DownloadLimits {
        DownloadLimits {
            batch: 10,
            window: 4,
            per_peer: 2,
            timeout_ms: 100,
            timeout_cap_ms: 400,
        }
    }

    fn target(blocks: u64, peers: &[u16]) -> Target {
        Target {
            blocks,
            hash: Hash::ZERO,
            peers: peers.iter().map(|p| a(*p)).collect(),
        }
    }

    fn requests(actions: &[DownloadAction]) -> Vec<(u16, u64, u32)> {
        actions
            .iter()
            .filter_map(|x| match x {
                DownloadAction::Request { peer, start, count } => {
                    Some((peer.port(), *start, *count))
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn pipelines_over_peers_within_the_window() {
        let mut s = Downloader::new(limits());
        s.start(target(100, &[1, 2]), 1);
        let r = requests(&s.poll(0, 1));
        assert_eq!(r, [(1, 1, 10), (2, 11, 10), (1, 21, 10), (2, 31, 10)]);
        for h in 1..11 {
            assert!(s.on_block(a(1), h, None));
        }
        assert!(!s.on_block(a(3), 12, None), "unsolicited");
        assert_eq!(requests(&s.poll(1, 11)), [(1, 41, 10)]);
    }

    #[test]
    fn stall_strikes_requeues_missing_and_backs_off() {
        let mut s = Downloader::new(limits());
        s.start(target(5, &[1, 2]), 0);
        assert_eq!(requests(&s.poll(0, 0)), [(1, 0, 5)]);
        s.on_block(a(1), 0, None);
        s.on_block(a(1), 1, None);
        let actions = s.poll(100, 2);
        assert!(
            !actions.contains(&DownloadAction::Strike(a(1))),
            "partial delivery is no lie"
        );
        assert_eq!(requests(&actions), [(2, 2, 3)]);
        assert_eq!(s.next_deadline(), Some(300), "timeout doubled");
        let actions = s.poll(300, 2);
        assert_eq!(
            actions
                .iter()
                .filter(|x| **x == DownloadAction::Strike(a(2)))
                .count(),
            1
        );
    }

    #[test]
    fn simultaneous_stalls_double_the_timeout_once() {
        let mut s = Downloader::new(limits());
        s.start(target(100, &[1]), 0);
        assert_eq!(requests(&s.poll(0, 0)).len(), 2, "per-peer limit");
        let actions = s.poll(100, 0);
        assert_eq!(requests(&actions).len(), 2, "both resent");
        assert_eq!(s.next_deadline(), Some(300), "200 ms, not 400 ms");
    }

    #[test]
    fn short_chain_answer_completes_the_request() {
        let mut s = Downloader::new(limits());
        s.start(target(30, &[1]), 0);
        s.poll(0, 0);
        s.on_block(a(1), 0, Some(1));
        assert!(s.inflight.iter().all(|r| r.start != 0));
    }

    #[test]
    fn lying_height_is_queued_lazily_and_peer_loss_stops_sync() {
        let mut s = Downloader::new(limits());
        s.start(target(1_000_000, &[1]), 0);
        let r = requests(&s.poll(0, 0));
        assert_eq!(r.len(), 2, "per-peer limit");
        assert!(s.queue.len() <= 16, "queued only up to the horizon");
        s.forget_peer(&a(1));
        assert!(!s.is_active());
    }

    #[test]
    fn a_lost_one_block_request_is_no_strike_while_its_peer_answers_others() {
        let one = DownloadLimits {
            batch: 1,
            window: 4,
            per_peer: 4,
            timeout_ms: 100,
            timeout_cap_ms: 400,
        };
        let mut s = Downloader::new(one);
        s.start(target(100, &[1]), 0);
        assert_eq!(requests(&s.poll(0, 0)).len(), 4);
        // Height 0's request is lost; the peer answers the three others.
        for h in 1..4 {
            assert!(s.on_block(a(1), h, None));
        }
        let actions = s.poll(100, 0);
        assert!(
            !actions.contains(&DownloadAction::Strike(a(1))),
            "{actions:?}"
        );
        // A peer that then serves none of the requests sent since is struck at their stall.
        let actions = s.poll(1_000, 0);
        assert!(
            actions.contains(&DownloadAction::Strike(a(1))),
            "{actions:?}"
        );
    }

    #[test]
    fn one_silence_is_one_strike_however_many_requests_it_caught() {
        let one = DownloadLimits {
            batch: 1,
            window: 8,
            per_peer: 8,
            timeout_ms: 100,
            timeout_cap_ms: 400,
        };
        let mut s = Downloader::new(one);
        s.start(target(100, &[1]), 0);
        // Eight requests at staggered times, then the peer goes quiet.
        for t in 0..8 {
            s.poll(t, 0);
        }
        let mut strikes = 0;
        for t in 100..108 {
            strikes += s
                .poll(t, 0)
                .iter()
                .filter(|x| **x == DownloadAction::Strike(a(1)))
                .count();
        }
        assert_eq!(strikes, 1, "eight stalled requests of one silence");
    }
}
