//! The W4119 peer's sans-IO state machine, on the output convention of every votechain core
//! (`votechain_sansio::output`). Inputs: [`W4119Node::handle_datagram`],
//! [`W4119Node::handle_timeout`], [`W4119Node::handle_mined`] and
//! [`W4119Node::handle_command`]; after each the shell drains [`W4119Node::poll_output`] and
//! arms one timer at [`W4119Node::poll_timeout`]. Time comes in with every input (milliseconds
//! the shell passes Unix time; a simulator sets `W4119Config::epoch_unix_ms` to turn its clock into the wall-clock timestamps
//! W4119 blocks carry). Randomness comes from a seeded RNG, so the simulator replays it.
//!
//! What it does (PROTOCOL.md, "Profile w4119"):
//! - **Tracker.** REGISTER_PEER every 0.5 s until REGISTER_ACK, then REQUEST_BALLOT every 0.5 s
//!   until BALLOT_OPTIONS; POKE is answered with exactly `{"type": "POKE-ACK"}`; REGISTER_ACK
//!   and UPDATE_PEERS replace the peer list. Tracker messages count only from the tracker's
//!   address. After [`W4119Config::tracker_silence_ms`] without a POKE we register again (the
//!   tracker restarted or evicted us).
//! - **Blocks.** A NEW_BLOCK that extends our tip and is valid is added and persisted; it is not
//!   passed on, as W4119 peers do not pass blocks on: a W4119 peer takes a second copy of a
//!   block it holds for an invalid block and asks every peer for its whole chain, so a relay
//!   would multiply traffic. The miner sends each block to every peer; a copy lost on the way is
//!   recovered by the periodic resync below. One that does not link, from a listed peer, makes
//!   us ask that peer for its chain.
//! - **Chains.** A bare REQUEST_CHAIN from a peer the tracker lists is answered with our whole
//!   chain, one CHAIN_BLOCK per block with `total_blocks`, at most once per
//!   [`W4119Config::serve_gap_ms`] per peer; from anyone else it is refused (counted), so our
//!   peer never amplifies toward an address that did not register. CHAIN_BLOCK streams are read
//!   only from peers we asked, collected by index until `total_blocks` are in, validated from the
//!   genesis block and adopted when longer than ours, or as long with a lower tip hash (so an
//!   equal fork resolves). Every [`W4119Config::resync_every_ms`] we ask one random peer again
//!   and the tracker for its list (REGISTER_PEER), so a lost NEW_BLOCK or UPDATE_PEERS is not
//!   lost for good.
//! - **Votes.** `vote <voter> <choice>` is checked against the ballot and against the voter's
//!   counted vote, then mined into a one-vote block (as W4119 does) and sent to every peer. A
//!   vote whose block a chain switch drops is mined again on the new chain: nothing we
//!   acknowledged is lost.
//!
//! Architecture invariant: no IO, no clock, no global RNG, no tokio.

use super::event::W4119Event;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use votechain_sansio::dedup::DedupCache;
use votechain_sansio::output::{Output, Transmit};
use votechain_w4119::limits::MAX_STRING_BYTES;
use votechain_w4119::wire::{self, W4119Message};
use votechain_w4119::{
    now_timestamp, BlockTemplate, Tally, Transaction, W4119Block, W4119Chain, W4119Error,
};

/// What the shell must do, in order: send, persist, mine a template, report.
pub type W4119Output = Output<W4119Record, BlockTemplate, W4119Event>;

/// What the node asks the shell to store before anything that follows it is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum W4119Record {
    /// Blocks, from the first one that changed (the store replaces every block at or above a
    /// record's index).
    Blocks(Vec<W4119Block>),
    /// A vote of ours, accepted: after a restart it is still known as ours, and mined again if
    /// the chain lacks it.
    OwnVote(Transaction),
}

/// Most blocks a CHAIN_BLOCK stream may announce: a longer claim is not collected.
pub const MAX_CHAIN_BLOCKS: u64 = 200_000;

/// Most bytes of CHAIN_BLOCK datagrams one stream may hold before it is dropped.
pub const MAX_STREAM_BYTES: usize = 64 << 20;

/// Most CHAIN_BLOCK streams collected at once.
pub const MAX_STREAMS: usize = 4;

/// Block hashes remembered, so each NEW_BLOCK is handled once.
pub const SEEN_BLOCKS: usize = 8_192;

/// Most of our votes waiting to be mined.
pub const MAX_OWN_VOTES: usize = 1_000;

/// Our mined votes remembered, so a chain switch can put them back in the queue.
pub const REMEMBERED_OWN: usize = 10_000;

/// Tunables of a W4119 peer.
#[derive(Debug, Clone)]
pub struct W4119Config {
    /// The tracker's address.
    pub tracker: SocketAddr,
    /// Our address as the tracker sees it, to leave ourselves out of its peer lists.
    pub me: SocketAddr,
    /// Leading '0' hex characters of a valid block hash (W4119: 2).
    pub difficulty: u32,
    /// Between two REGISTER_PEERs (and two REQUEST_BALLOTs) until answered (W4119: 0.5 s).
    pub retry_ms: u64,
    /// Silence from the tracker after which we register again.
    pub tracker_silence_ms: u64,
    /// How long a CHAIN_BLOCK stream may pause before it is abandoned.
    pub chain_wait_ms: u64,
    /// Least time between two whole chains served to one peer, and between two requests of
    /// ours to one peer.
    pub serve_gap_ms: u64,
    /// Between two REQUEST_CHAINs of ours to a random peer.
    pub resync_every_ms: u64,
    /// Unix time in milliseconds at `now_ms` 0, for the timestamps blocks carry.
    pub epoch_unix_ms: u64,
    /// Seed of the node's RNG.
    pub rng_seed: u64,
}

impl W4119Config {
    /// The defaults for a peer at `me` of the tracker at `tracker`.
    pub fn new(tracker: SocketAddr, me: SocketAddr) -> W4119Config {
        W4119Config {
            tracker,
            me,
            difficulty: votechain_w4119::limits::DEFAULT_DIFFICULTY,
            retry_ms: 500,
            tracker_silence_ms: 5_000,
            chain_wait_ms: 3_000,
            serve_gap_ms: 2_000,
            resync_every_ms: 30_000,
            epoch_unix_ms: 0,
            rng_seed: 0,
        }
    }
}

/// Local commands: the console's and the web page's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum W4119Command {
    /// Vote: checked, then mined into a block and sent to every peer.
    Vote {
        /// Who votes (W4119's `voter_id`).
        voter: String,
        /// For which ballot option (`candidate_id`).
        choice: String,
    },
    /// Ask every listed peer for its chain now.
    Sync,
}

/// Counters for the status, the metrics and the tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct W4119Counters {
    /// Datagrams received.
    pub received: u64,
    /// Datagrams that did not decode.
    pub malformed: u64,
    /// Tracker messages (POKE, lists, ballot) from an address that is not the tracker.
    pub not_from_tracker: u64,
    /// Blocks that failed validation.
    pub invalid_blocks: u64,
    /// Whole chains sent.
    pub chains_served: u64,
    /// REQUEST_CHAINs refused: the asker is not on the tracker's list.
    pub chain_requests_refused: u64,
    /// REQUEST_CHAINs not answered: the asker had a chain less than `serve_gap_ms` ago.
    pub chain_requests_too_soon: u64,
    /// CHAIN_BLOCKs from a peer we did not ask, or beyond its stream's bounds.
    pub unsolicited: u64,
    /// Chains received whole but invalid.
    pub invalid_chains: u64,
    /// Chain switches.
    pub switches: u64,
    /// BALLOT_OPTIONS that differed from the first ballot the tracker sent, ignored.
    pub ballots_ignored: u64,
}

/// One CHAIN_BLOCK stream being collected.
#[derive(Debug)]
struct Stream {
    total: u64,
    blocks: BTreeMap<u64, W4119Block>,
    /// Datagram bytes received for it, bounded by [`MAX_STREAM_BYTES`].
    bytes: usize,
    last_ms: u64,
}

/// The W4119 peer.
#[derive(Debug)]
pub struct W4119Node {
    config: W4119Config,
    chain: W4119Chain,
    ballot: Option<Vec<String>>,
    peers: Vec<SocketAddr>,
    registered: bool,
    next_register_ms: u64,
    next_ballot_ms: u64,
    last_tracker_ms: u64,
    next_resync_ms: u64,
    /// When we last asked each peer for its chain.
    asked: HashMap<SocketAddr, u64>,
    streams: HashMap<SocketAddr, Stream>,
    /// When each peer last got our whole chain.
    served: HashMap<SocketAddr, u64>,
    seen: DedupCache<String>,
    /// Our votes not yet in the chain, oldest first.
    own: VecDeque<Transaction>,
    /// Our votes already mined, newest last (at most [`REMEMBERED_OWN`]): a chain switch that
    /// drops one of them puts it back in `own`.
    mined_own: VecDeque<Transaction>,
    /// The template the miner has.
    job: Option<BlockTemplate>,
    rng: ChaCha8Rng,
    out: VecDeque<W4119Output>,
    counters: W4119Counters,
    started: bool,
}

impl W4119Node {
    /// A node with the chain and our own votes recovered from its store: those the chain holds
    /// are remembered as ours, the others wait to be mined again.
    pub fn new(config: W4119Config, chain: W4119Chain, own_votes: &[Transaction]) -> W4119Node {
        let in_chain = |t: &Transaction| chain.blocks().iter().any(|b| b.transactions.contains(t));
        let (mined, waiting): (Vec<Transaction>, Vec<Transaction>) =
            own_votes.iter().cloned().partition(in_chain);
        let skip = mined.len().saturating_sub(REMEMBERED_OWN);
        W4119Node {
            own: waiting.into_iter().collect(),
            mined_own: mined.into_iter().skip(skip).collect(),
            rng: ChaCha8Rng::seed_from_u64(config.rng_seed),
            config,
            chain,
            ballot: None,
            peers: Vec::new(),
            registered: false,
            next_register_ms: 0,
            next_ballot_ms: 0,
            last_tracker_ms: 0,
            next_resync_ms: 0,
            asked: HashMap::new(),
            streams: HashMap::new(),
            served: HashMap::new(),
            seen: DedupCache::new(SEEN_BLOCKS),
            job: None,
            out: VecDeque::new(),
            counters: W4119Counters::default(),
            started: false,
        }
    }

    /// The chain.
    pub fn chain(&self) -> &W4119Chain {
        &self.chain
    }

    /// The ballot, once the tracker sent it.
    pub fn ballot(&self) -> Option<&[String]> {
        self.ballot.as_deref()
    }

    /// The honest tally of our chain (every vote counted against the empty ballot until the
    /// ballot arrives).
    pub fn tally(&self) -> Tally {
        Tally::of(self.chain.blocks(), self.ballot.as_deref().unwrap_or(&[]))
    }

    /// The other peers the tracker lists.
    pub fn peers(&self) -> &[SocketAddr] {
        &self.peers
    }

    /// Whether the tracker acknowledged us.
    pub fn registered(&self) -> bool {
        self.registered
    }

    /// Our votes waiting to be mined.
    pub fn own_pending(&self) -> impl Iterator<Item = &Transaction> {
        self.own.iter()
    }

    /// The counters.
    pub fn counters(&self) -> W4119Counters {
        self.counters
    }

    /// The configuration.
    pub fn config(&self) -> &W4119Config {
        &self.config
    }

    /// The next output, in order.
    pub fn poll_output(&mut self) -> Option<W4119Output> {
        self.out.pop_front()
    }

    /// When [`W4119Node::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Option<u64> {
        if !self.started {
            return Some(0);
        }
        let mut at = self.next_resync_ms;
        if !self.registered {
            at = at.min(self.next_register_ms);
        } else {
            at = at.min(self.last_tracker_ms + self.config.tracker_silence_ms);
            if self.ballot.is_none() {
                at = at.min(self.next_ballot_ms);
            }
        }
        if let Some(last) = self.streams.values().map(|s| s.last_ms).min() {
            at = at.min(last + self.config.chain_wait_ms);
        }
        Some(at)
    }

    /// Timers: registration and ballot retries, tracker silence, stream expiry, resync.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        if !self.started {
            self.started = true;
            self.next_resync_ms = now_ms + self.config.resync_every_ms;
            self.replan_mining();
        }
        if self.registered && now_ms >= self.last_tracker_ms + self.config.tracker_silence_ms {
            self.registered = false;
            self.next_register_ms = now_ms;
            self.event(W4119Event::TrackerSilent {
                silent_s: (now_ms - self.last_tracker_ms) / 1_000,
            });
        }
        if !self.registered && now_ms >= self.next_register_ms {
            self.next_register_ms = now_ms + self.config.retry_ms;
            self.send(self.config.tracker, &W4119Message::RegisterPeer);
        }
        if self.registered && self.ballot.is_none() && now_ms >= self.next_ballot_ms {
            self.next_ballot_ms = now_ms + self.config.retry_ms;
            self.send(self.config.tracker, &W4119Message::RequestBallot);
        }
        let wait = self.config.chain_wait_ms;
        self.streams.retain(|_, s| now_ms < s.last_ms + wait);
        if now_ms >= self.next_resync_ms {
            self.next_resync_ms = now_ms + self.config.resync_every_ms;
            // A lost UPDATE_PEERS would leave our list stale for good (the tracker sends one
            // per membership change): a registered peer's REGISTER_PEER gets the list again.
            if self.registered {
                self.send(self.config.tracker, &W4119Message::RegisterPeer);
            }
            if let Some(&peer) = self.peers.choose(&mut self.rng) {
                self.request_chain(now_ms, peer);
            }
        }
    }

    /// One datagram from `from`.
    pub fn handle_datagram(&mut self, now_ms: u64, from: SocketAddr, datagram: &[u8]) {
        self.counters.received += 1;
        let message = match wire::decode(datagram) {
            Ok(m) => m,
            Err(e) => {
                self.counters.malformed += 1;
                tracing::debug!(%from, error = %e, "dropped a W4119 datagram that does not decode");
                return;
            }
        };
        let from_tracker = from == self.config.tracker;
        match message {
            W4119Message::Poke if from_tracker => {
                self.last_tracker_ms = now_ms;
                self.send(from, &W4119Message::PokeAck);
            }
            W4119Message::RegisterAck { peer_list } if from_tracker => {
                self.last_tracker_ms = now_ms;
                self.set_peers(&peer_list);
                if !self.registered {
                    self.registered = true;
                    self.next_ballot_ms = now_ms;
                    self.event(W4119Event::Registered {
                        peers: self.peers.len(),
                    });
                    if self.ballot.is_none() {
                        self.next_ballot_ms = now_ms + self.config.retry_ms;
                        self.send(from, &W4119Message::RequestBallot);
                    }
                    self.sync_all(now_ms);
                }
            }
            W4119Message::UpdatePeers { peer_list } if from_tracker => {
                self.last_tracker_ms = now_ms;
                let before = self.peers.clone();
                self.set_peers(&peer_list);
                if self.peers != before {
                    self.event(W4119Event::PeersChanged {
                        peers: self.peers.len(),
                    });
                    // Newcomers may hold a longer chain; one request each.
                    let new: Vec<SocketAddr> = self
                        .peers
                        .iter()
                        .filter(|p| !before.contains(p))
                        .copied()
                        .collect();
                    for peer in new {
                        self.request_chain(now_ms, peer);
                    }
                }
            }
            W4119Message::BallotOptions { voting_options } if from_tracker => {
                self.last_tracker_ms = now_ms;
                // A W4119 tracker's ballot never changes: the first one stands, so a datagram
                // forged from the tracker's address later cannot rewrite what counts.
                match &self.ballot {
                    None => {
                        self.ballot = Some(voting_options.clone());
                        self.event(W4119Event::Ballot {
                            options: voting_options,
                        });
                    }
                    Some(ballot) if *ballot != voting_options => {
                        self.counters.ballots_ignored += 1;
                    }
                    Some(_) => {}
                }
            }
            W4119Message::Poke
            | W4119Message::RegisterAck { .. }
            | W4119Message::UpdatePeers { .. }
            | W4119Message::BallotOptions { .. } => self.counters.not_from_tracker += 1,
            W4119Message::NewBlock { block } => self.on_new_block(now_ms, from, block),
            W4119Message::RequestChain => self.on_request_chain(now_ms, from),
            W4119Message::ChainBlock {
                index,
                block,
                total_blocks,
            } => {
                let len = datagram.len();
                self.on_chain_block(now_ms, from, (index, total_blocks, len), block)
            }
            // Messages for a tracker: we are none.
            W4119Message::RegisterPeer
            | W4119Message::RequestBallot
            | W4119Message::PokeAck
            | W4119Message::LeavePeer => {}
        }
    }

    /// A block our miner found.
    pub fn handle_mined(&mut self, block: W4119Block) {
        if self
            .job
            .as_ref()
            .is_some_and(|j| j.previous_hash == block.previous_hash)
        {
            self.job = None;
        }
        match self.chain.try_append(block.clone()) {
            Ok(()) => {
                self.seen.insert(block.hash.clone());
                self.out
                    .push_back(Output::Persist(W4119Record::Blocks(vec![block.clone()])));
                let ours: Vec<Transaction> = block
                    .transactions
                    .iter()
                    .filter(|t| self.own.contains(t))
                    .cloned()
                    .collect();
                self.own.retain(|t| !block.transactions.contains(t));
                for t in &ours {
                    if self.mined_own.len() >= REMEMBERED_OWN {
                        self.mined_own.pop_front();
                    }
                    self.mined_own.push_back(t.clone());
                }
                self.broadcast(&W4119Message::NewBlock {
                    block: block.clone(),
                });
                for t in ours {
                    self.event(W4119Event::VoteMined {
                        voter: t.voter_id().unwrap_or_default().to_owned(),
                        choice: t.candidate_id().unwrap_or_default().to_owned(),
                        index: block.index,
                    });
                }
            }
            // The tip moved while it was mined: the next job is on the new tip.
            Err(e) => tracing::debug!("a mined block no longer fits the chain: {e}"),
        }
        self.replan_mining();
    }

    /// A local command; `Err` is a sentence for the user.
    pub fn handle_command(&mut self, now_ms: u64, command: W4119Command) -> Result<(), String> {
        match command {
            W4119Command::Vote { voter, choice } => self.vote(now_ms, voter, choice),
            W4119Command::Sync => {
                if self.peers.is_empty() {
                    return Err("the tracker lists no other peer yet".to_owned());
                }
                self.asked.clear();
                self.sync_all(now_ms);
                Ok(())
            }
        }
    }

    /// Checks a vote of ours and queues it for mining.
    fn vote(&mut self, now_ms: u64, voter: String, choice: String) -> Result<(), String> {
        let Some(ballot) = &self.ballot else {
            return Err("the ballot has not arrived from the tracker yet".to_owned());
        };
        if !ballot.contains(&choice) {
            return Err(format!(
                "{choice:?} is not on the ballot; the options are {}",
                ballot.join(", ")
            ));
        }
        if voter.is_empty() || voter.len() > MAX_STRING_BYTES || voter.chars().any(char::is_control)
        {
            return Err(format!(
                "a voter name must have 1 to {MAX_STRING_BYTES} bytes and no control characters"
            ));
        }
        if let Some((index, counted)) = self.tally().voted(&voter) {
            return Err(format!(
                "{voter} already voted, for {counted}, in block {index}; one vote per voter counts"
            ));
        }
        if self
            .own
            .iter()
            .any(|t| t.voter_id() == Some(voter.as_str()))
        {
            return Err(format!("{voter}'s vote is already being mined"));
        }
        if self.own.len() >= MAX_OWN_VOTES {
            return Err(format!("{MAX_OWN_VOTES} votes already wait to be mined"));
        }
        let timestamp = now_timestamp((self.config.epoch_unix_ms + now_ms) / 1_000);
        let vote = Transaction::vote(&voter, &choice, &timestamp);
        // Stored before it is acknowledged: a restart still knows it as ours.
        self.out
            .push_back(Output::Persist(W4119Record::OwnVote(vote.clone())));
        self.own.push_back(vote);
        self.event(W4119Event::VoteQueued { voter, choice });
        self.replan_mining();
        Ok(())
    }

    /// Gives the miner the next of our votes on the current tip, or stops it.
    fn replan_mining(&mut self) {
        let tip = self.chain.tip();
        let wanted = self.own.front().map(|vote| {
            let keep = self
                .job
                .as_ref()
                .filter(|j| j.previous_hash == tip.hash && j.transactions.first() == Some(vote));
            match keep {
                Some(job) => job.clone(),
                None => {
                    let stamp = vote.timestamp().unwrap_or_default().to_owned();
                    BlockTemplate::after(tip, vec![vote.clone()], stamp)
                }
            }
        });
        if wanted != self.job {
            self.job = wanted.clone();
            self.out.push_back(Output::Mine(wanted));
        }
    }

    /// NEW_BLOCK: added when it extends our tip (not passed on: module docs); a reason to ask its sender for
    /// its chain when it does not link and the sender is a listed peer.
    fn on_new_block(&mut self, now_ms: u64, from: SocketAddr, block: W4119Block) {
        if self.seen.contains(&block.hash) {
            return;
        }
        if let Err(e) = block.check_alone(self.chain.difficulty()) {
            // Invalid whatever the chain: remembered, so a repeat costs a lookup.
            self.counters.invalid_blocks += 1;
            self.seen.insert(block.hash.clone());
            tracing::debug!(%from, error = %e, "dropped an invalid W4119 block");
            return;
        }
        let tip = self.chain.tip();
        if block.index == tip.index + 1 && block.previous_hash == tip.hash {
            match self.chain.try_append(block.clone()) {
                Ok(()) => {
                    self.seen.insert(block.hash.clone());
                    self.out
                        .push_back(Output::Persist(W4119Record::Blocks(vec![block.clone()])));
                    self.event(W4119Event::BlockAdded {
                        index: block.index,
                        from,
                        votes: block.transactions.len(),
                    });
                    self.own.retain(|t| !block.transactions.contains(t));
                    self.replan_mining();
                }
                Err(e) => {
                    self.counters.invalid_blocks += 1;
                    tracing::debug!(%from, error = %e, "dropped a W4119 block");
                }
            }
            return;
        }
        if self
            .chain
            .get(block.index)
            .is_some_and(|b| b.hash == block.hash)
        {
            self.seen.insert(block.hash);
            return;
        }
        // Not on our tip: the sender may hold a longer chain. Only a peer the tracker lists
        // may make us ask (a stranger must not steer our sync).
        if block.index >= tip.index && self.peers.contains(&from) {
            self.request_chain(now_ms, from);
        }
    }

    /// REQUEST_CHAIN: our whole chain to a listed peer, at most once per `serve_gap_ms`.
    fn on_request_chain(&mut self, now_ms: u64, from: SocketAddr) {
        if !self.peers.contains(&from) {
            self.counters.chain_requests_refused += 1;
            return;
        }
        if self
            .served
            .get(&from)
            .is_some_and(|t| now_ms < t + self.config.serve_gap_ms)
        {
            self.counters.chain_requests_too_soon += 1;
            return;
        }
        self.served.insert(from, now_ms);
        self.counters.chains_served += 1;
        let total_blocks = self.chain.len() as u64;
        let blocks: Vec<W4119Block> = self.chain.blocks().to_vec();
        for block in blocks {
            let message = W4119Message::ChainBlock {
                index: block.index,
                block,
                total_blocks,
            };
            self.send(from, &message);
        }
    }

    /// CHAIN_BLOCK: collected when we asked `from`; a complete stream is validated and adopted
    /// when longer than our chain.
    /// `(index, total, len)`: the CHAIN_BLOCK's position, `total_blocks` and datagram size.
    fn on_chain_block(
        &mut self,
        now_ms: u64,
        from: SocketAddr,
        (index, total, len): (u64, u64, usize),
        block: W4119Block,
    ) {
        // From a peer asked within `chain_wait_ms`, or whose stream is still coming in.
        let asked = self.streams.contains_key(&from)
            || self
                .asked
                .get(&from)
                .is_some_and(|t| now_ms < t + self.config.chain_wait_ms);
        let ours = self.chain.len() as u64;
        if !asked || total > MAX_CHAIN_BLOCKS || index >= total || block.index != index {
            self.counters.unsolicited += 1;
            return;
        }
        if total < ours {
            // Shorter than ours: nothing to collect (an equal one may win on its tip hash).
            self.streams.remove(&from);
            return;
        }
        if !self.streams.contains_key(&from) && self.streams.len() >= MAX_STREAMS {
            self.counters.unsolicited += 1;
            return;
        }
        let stream = self.streams.entry(from).or_insert_with(|| Stream {
            total,
            blocks: BTreeMap::new(),
            bytes: 0,
            last_ms: now_ms,
        });
        if stream.total != total {
            // The sender's chain grew or changed mid-stream: start over with the new claim.
            stream.total = total;
            stream.blocks.clear();
            stream.bytes = 0;
        }
        stream.last_ms = now_ms;
        stream.bytes += len;
        if stream.bytes > MAX_STREAM_BYTES {
            self.streams.remove(&from);
            self.counters.unsolicited += 1;
            return;
        }
        stream.blocks.insert(index, block);
        if (stream.blocks.len() as u64) < stream.total {
            return;
        }
        let Some(stream) = self.streams.remove(&from) else {
            return;
        };
        self.asked.remove(&from);
        let blocks: Vec<W4119Block> = stream.blocks.into_values().collect();
        match W4119Chain::validate_chain(blocks, self.chain.difficulty()) {
            Ok(theirs) => self.adopt(from, theirs),
            Err((position, why)) => {
                self.counters.invalid_chains += 1;
                log_invalid_chain(from, position, &why);
            }
        }
    }

    /// Switches to `theirs` when longer; our votes on the dropped branch are mined again.
    fn adopt(&mut self, from: SocketAddr, theirs: W4119Chain) {
        let old_len = self.chain.len() as u64;
        let fork = self.chain.fork_point(&theirs);
        let Some(dropped) = self.chain.adopt(theirs) else {
            return;
        };
        self.counters.switches += 1;
        let new_blocks = self.chain.replaced_from(fork).to_vec();
        for block in &new_blocks {
            self.seen.insert(block.hash.clone());
        }
        self.out
            .push_back(Output::Persist(W4119Record::Blocks(new_blocks)));
        // Our own votes that the switch dropped and the new chain lacks go back in the queue;
        // what the new chain holds is no longer ours to mine.
        let in_chain = |t: &Transaction, chain: &W4119Chain| {
            chain.blocks().iter().any(|b| b.transactions.contains(t))
        };
        self.own.retain(|t| !in_chain(t, &self.chain));
        let mut requeued = 0;
        for block in dropped {
            for t in block.transactions {
                if self.is_ours(&t) && !in_chain(&t, &self.chain) && !self.own.contains(&t) {
                    self.own.push_back(t);
                    requeued += 1;
                }
            }
        }
        self.event(W4119Event::ChainSwitched {
            old_len,
            new_len: self.chain.len() as u64,
            from,
            requeued,
        });
        self.replan_mining();
    }

    /// Whether `t` is a vote this peer made, waiting or mined.
    fn is_ours(&self, t: &Transaction) -> bool {
        self.own.contains(t) || self.mined_own.contains(t)
    }

    /// Sends a bare REQUEST_CHAIN to `peer`, at most once per `serve_gap_ms`.
    fn request_chain(&mut self, now_ms: u64, peer: SocketAddr) {
        if self
            .asked
            .get(&peer)
            .is_some_and(|t| now_ms < t + self.config.serve_gap_ms)
        {
            return;
        }
        self.asked.insert(peer, now_ms);
        self.send(peer, &W4119Message::RequestChain);
    }

    /// Asks every listed peer for its chain.
    fn sync_all(&mut self, now_ms: u64) {
        for peer in self.peers.clone() {
            self.request_chain(now_ms, peer);
        }
    }

    /// Replaces the peer list with the tracker's, leaving ourselves and unreadable entries out.
    fn set_peers(&mut self, list: &[String]) {
        let me = self.config.me;
        self.peers = list
            .iter()
            .filter_map(|s| wire::peer_addr(s).ok())
            .filter(|a| *a != me)
            .collect();
        self.peers.sort();
        self.peers.dedup();
        let peers = &self.peers;
        self.asked.retain(|a, _| peers.contains(a));
        self.served.retain(|a, _| peers.contains(a));
        self.streams.retain(|a, _| peers.contains(a));
    }

    /// Sends `message` to every listed peer.
    fn broadcast(&mut self, message: &W4119Message) {
        let bytes = wire::encode(message);
        for peer in self.peers.clone() {
            self.out.push_back(Output::Send(Transmit {
                to: peer,
                bytes: bytes.clone(),
            }));
        }
    }

    fn send(&mut self, to: SocketAddr, message: &W4119Message) {
        self.out.push_back(Output::Send(Transmit {
            to,
            bytes: wire::encode(message),
        }));
    }

    fn event(&mut self, event: W4119Event) {
        self.out.push_back(Output::Event(event));
    }
}

fn log_invalid_chain(from: SocketAddr, position: usize, why: &W4119Error) {
    tracing::debug!(%from, position, error = %why, "a W4119 chain did not validate");
}
