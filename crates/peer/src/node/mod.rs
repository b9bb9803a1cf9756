//! The peer's sans-IO state machine. Inputs: [`Node::handle_datagram`], [`Node::end_of_burst`],
//! [`Node::handle_timeout`], [`Node::handle_mined`] and local commands
//! ([`Node::handle_command`]: a vote, mining on or off, a consensus round, leaving); after
//! each, the shell drains [`Node::poll_output`] and arms one timer from [`Node::poll_timeout`]
//! (the convention of [`votechain_sansio::output`], shared with the tracker's core). Outputs
//! come in the order they must take effect: a `Persist` precedes the datagram that acknowledges
//! what it stores, so nothing acknowledged is lost across a crash.
//!
//! Time comes in as `now_ms` (Unix milliseconds) with every input and is passed down, never
//! stored; randomness comes from the RNG the caller passes in, so the same inputs give the same
//! outputs — the simulator depends on it.
//!
//! `Node` is a composition of sub-state machines, each owning its fields and tested alone (the
//! way quinn-proto's `Connection` owns its packet spaces and streams); `Node` keeps the
//! dispatch, the peer table, the chain and the ordered output queue:
//! - `origin`: proof of origin — our address cookies, theirs, requests to resend after a
//!   CHALLENGE. A datagram's source address proves nothing, so every datagram we send carries
//!   our cookie for its receiver, and a datagram *proves* its origin only when it echoes our
//!   cookie for its source ([`votechain_proto::Envelope`]). Only proven datagrams earn replies
//!   larger than the anti-amplification budget, strikes, a say in sync or membership.
//! - `catchup`: sync — the downloader, batch verification, the fork search, the idle limit.
//! - `consensus`: consensus rounds (STATS, choosing the chain to fetch).
//! - `mining`: the mining plan and tie-breaking.
//! - `gossip`: finding peers (the tracker's lists, GOSSIP).
//! - `blocks`: the election, blocks as news, relay once per hash (`blocks::Seen`).
//! - `votes`: accepting, relaying and answering for votes.
//! - `serve`: serving the chain within a per-burst budget.
//! - `command`: local commands; `output`: what comes out; `transmit`: how it is sent.

mod blocks;
mod catchup;
mod command;
mod consensus;
mod gossip;
mod mining;
mod origin;
mod output;
mod serve;
#[cfg(test)]
mod tests;
mod transmit;
mod votes;

use crate::admission::Admission;
use crate::config::NodeConfig;
use crate::loglimit::LogLimiter;
use crate::peers::{PeerTable, Source};
use crate::tracker_client::{Phase, TrackerClient};
use blocks::Seen;
use catchup::Catchup;
use consensus::Rounds;
use gossip::GossipState;
use mining::MiningPlan;
use origin::Origin;
use rand::{Rng, RngCore};
use rand_chacha::ChaCha8Rng;
use serve::ServingBudget;
use std::collections::VecDeque;
use std::net::SocketAddr;
use votechain_chain::ChainState;
use votechain_proto::{Cookie, Message};
use votechain_sansio::ratelimit::{Rate, SourceLimiter, Verdict};

pub use command::{Command, Reply};
pub use output::{Event, NodeStats, Output, Record, RESENT};
pub use votechain_sansio::Transmit;
pub use votes::SubmitReply;

/// The datagram being handled: who sent it, its size (which bounds an unproven answer), and
/// whether it proved its origin.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Inbound {
    /// Its source address, which alone proves nothing.
    from: SocketAddr,
    /// Its size: an unproven request's answer must fit the budget this allows.
    len: usize,
    /// It echoed our cookie for `from`.
    proven: bool,
}

/// The node. See the module docs.
pub struct Node<R = ChaCha8Rng> {
    /// Tunables, fixed at start.
    cfg: NodeConfig,
    /// Every random choice: peer samples, gossip ids, tie-break delays, the cookie secret.
    rng: R,
    /// Per-source token buckets: a flood from one address costs us little.
    limiter: SourceLimiter,
    /// Our address cookies and theirs; requests to resend after a CHALLENGE.
    origin: Origin,
    /// The source and cookie of the datagram being handled, while it is: what we send that
    /// source echoes the cookie (the answer to a first contact cannot use a remembered one).
    answering: Option<(SocketAddr, Cookie)>,
    /// Known peers: freshness, names, strikes and bans.
    peers: PeerTable,
    /// Registration with the tracker, heartbeats, re-registration.
    tracker: TrackerClient,
    /// The block tree and pending pool, once the election is known.
    chain: Option<ChainState>,
    /// Sync: the downloader, the batch-verification buffer, the fork search.
    catchup: Catchup,
    /// Consensus rounds: their schedule and the one in progress.
    rounds: Rounds,
    /// What the miner should be doing.
    mining: MiningPlan,
    /// Gossip's seen ids, contacts and schedule.
    gossip: GossipState,
    /// Blocks and votes already handled: each validated and relayed once.
    seen: Seen,
    /// Blocks served to each source in this burst.
    serving: ServingBudget,
    /// Who brought which pending votes in, for the pool's per-sender shares.
    admission: Admission,
    /// Holds back repeated log lines caused by remote input.
    log_limiter: LogLimiter,
    /// When housekeeping (expiry, sweeps) is next due.
    next_housekeeping_ms: u64,
    /// The first timer has fired: start-up work is done.
    started: bool,
    /// What the shell must do, in order.
    out: VecDeque<Output>,
    /// Counters, for `stats` and tests.
    stats: NodeStats,
}

impl<R: RngCore> Node<R> {
    /// A node with `cfg`, drawing every random choice from `rng`, holding `chain` if one was
    /// recovered from disk.
    pub fn new(cfg: NodeConfig, mut rng: R, chain: Option<ChainState>) -> Node<R> {
        let origin = Origin::new(rng.gen(), cfg.max_verified);
        let mut tracker = TrackerClient::new(&cfg);
        if let Some(c) = &chain {
            tracker.holds(c.election());
        }
        let mut peers = PeerTable::new(cfg.max_peers, cfg.me);
        for seed in &cfg.seeds {
            peers.add(*seed, Source::Seed, 0);
        }
        let rate = Rate {
            per_s: cfg.rate_per_source,
            burst: cfg.rate_per_source.max(1),
        };
        Node {
            limiter: SourceLimiter::new(rate, cfg.max_verified).with_reserve(cfg.max_peers + 1),
            origin,
            answering: None,
            peers,
            tracker,
            chain,
            catchup: Catchup::new(&cfg),
            rounds: Rounds::default(),
            mining: MiningPlan::new(cfg.mining),
            gossip: GossipState::new(cfg.dedup_cap),
            seen: Seen::new(cfg.dedup_cap),
            serving: ServingBudget::default(),
            admission: Admission::default(),
            log_limiter: LogLimiter::default(),
            next_housekeeping_ms: 0,
            started: false,
            out: VecDeque::new(),
            stats: NodeStats::default(),
            rng,
            cfg,
        }
    }

    /// The chain, once the election is known.
    pub fn chain(&self) -> Option<&ChainState> {
        self.chain.as_ref()
    }

    /// Known peers.
    pub fn peers(&self) -> &PeerTable {
        &self.peers
    }

    /// The peers that count at `now_ms`: neither banned then nor set aside for another
    /// election (the status's and the metrics' `peers`).
    pub fn active_peers(&self, now_ms: u64) -> usize {
        self.peers
            .iter()
            .filter(|(_, p)| p.banned_until_ms <= now_ms && p.other_election.is_none())
            .count()
    }

    /// The peer table, to arrange a state in another module's tests.
    #[cfg(test)]
    pub(crate) fn peers_mut_for_tests(&mut self) -> &mut PeerTable {
        &mut self.peers
    }

    /// Counters.
    pub fn stats(&self) -> &NodeStats {
        &self.stats
    }

    /// The configuration.
    pub fn config(&self) -> &NodeConfig {
        &self.cfg
    }

    /// True while mining is on (the console's `mine` and `--no-mine` turn it off).
    pub fn mining_on(&self) -> bool {
        self.mining.is_on()
    }

    /// True while a sync is fetching blocks.
    pub fn syncing(&self) -> bool {
        self.catchup.downloader.is_active()
    }

    /// Where registration with the tracker stands at `now_ms`.
    pub fn tracker_status(&self, now_ms: u64) -> crate::tracker_client::TrackerStatus {
        self.tracker.status(now_ms)
    }

    /// Next output for the shell.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When the shell should call [`Node::handle_timeout`] next (always some time: the node
    /// has housekeeping every second).
    pub fn poll_timeout(&self) -> Option<u64> {
        [
            Some(self.next_housekeeping_ms),
            Some(self.gossip.next_ms),
            self.tracker.next_deadline(),
            self.catchup.deadline(),
            self.rounds.deadline(),
            self.mining.deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// One datagram from `from`.
    pub fn handle_datagram(&mut self, now_ms: u64, from: SocketAddr, bytes: &[u8]) {
        self.stats.datagrams_in += 1;
        self.stats.bytes_in += bytes.len() as u64;
        // Our tracker and known peers may use the limiter's reserved slots: a flood from many
        // strangers that fills its table must not cut us off from them.
        let vouched = self.tracker.is_tracker(&from) || self.peers.get(&from).is_some();
        let verdict = match vouched {
            true => self.limiter.check_vouched(from, now_ms),
            false => self.limiter.check(from, now_ms),
        };
        if verdict != Verdict::Allowed {
            self.stats.rate_limited += 1;
            return;
        }
        if self.peers.is_banned(&from, now_ms) {
            self.stats.from_banned += 1;
            return;
        }
        let (message, envelope) = match self.cfg.profile.dialect().decode(bytes) {
            Ok(m) => m,
            Err(e) => return self.dropped(from, &e),
        };
        *self
            .stats
            .messages_in
            .entry(message.type_name())
            .or_default() += 1;
        let proven = self.cfg.profile.handshakes().address_cookies
            && self.origin.proves(&from, &envelope, &message, now_ms);
        if proven {
            self.stats.proven += 1;
            if let Some(cookie) = envelope.cookie {
                self.remember_cookie(from, cookie);
            }
        }
        self.peers.heard(&from, now_ms);
        let inbound = Inbound {
            from,
            len: bytes.len(),
            proven,
        };
        self.answering = envelope.cookie.map(|c| (from, c));
        self.dispatch(now_ms, inbound, message);
        self.answering = None;
        self.after_input(now_ms);
    }

    /// Hands one decoded message to its handler. Every message type is named, so a new one is a
    /// compile error here until it is handled.
    fn dispatch(&mut self, now_ms: u64, input: Inbound, message: Message) {
        let from = input.from;
        // The tracker's datagrams change our election and peer table: they count only from its
        // address and with our cookie echoed, which no forger can know.
        let from_tracker = self.tracker.is_tracker(&from) && input.proven;
        match message {
            Message::Challenge(c) => self.on_challenge(now_ms, input, c.token),
            Message::Verify(_) => self.on_verify(input),
            Message::RegisterAck(m) if from_tracker => {
                // Before the list, which names us under the observed address.
                if let Some(observed) = m.observed {
                    self.on_observed_address(now_ms, observed);
                }
                self.on_peer_list(now_ms, &m.peer_list, false);
                if self.tracker.phase() != Phase::Registered {
                    self.out
                        .push_back(Output::Event(Event::Registered { tracker: from }));
                }
                let next = self.tracker.on_register_ack(now_ms);
                self.send_requests(now_ms, from, next);
            }
            Message::UpdatePeers(m) if from_tracker => {
                self.tracker.on_tracker_heard(now_ms);
                self.on_peer_list(now_ms, &m.peer_list, true);
            }
            Message::BallotOptions(m) if from_tracker => self.on_ballot(now_ms, &m),
            Message::RegisterRefused(m) if from_tracker => self.on_refused(&m),
            Message::Poke(p) if from_tracker => {
                let ack = self.tracker.on_poke(now_ms, p.nonce);
                self.send(now_ms, from, &ack);
            }
            Message::RegisterAck(_)
            | Message::UpdatePeers(_)
            | Message::BallotOptions(_)
            | Message::RegisterRefused(_)
            | Message::Poke(_) => self.ignore(from, "tracker message not from the tracker"),
            Message::Gossip(g) => self.on_gossip(now_ms, input, g),
            Message::GossipReply(g) => self.on_gossip_reply(now_ms, input, g),
            Message::NewBlock(m) => self.on_new_block(now_ms, input, m.block),
            Message::RequestChain(r) => self.on_request_chain(now_ms, input, r),
            Message::ChainBlock(c) => {
                self.on_sync_block(now_ms, input, (c.index, Some(c.total_blocks)), c.block)
            }
            Message::GetBlock(g) => self.on_get_block(now_ms, input, g),
            // Asked by hash, the block may sit below the height given as a hint: its own height
            // is what counts.
            Message::GetBlockReply(r) => match r.block {
                Some(block) => self.on_sync_block(now_ms, input, (block.height(), None), block),
                None if input.proven => self.on_short_chain(from, r.height),
                None => self.ignore(from, "unproven GET_BLOCK_REPLY"),
            },
            Message::Stats(_) => self.on_stats(now_ms, input),
            Message::StatsReply(s) => self.on_stats_reply(now_ms, input, s.height, s.hash),
            Message::Consensus(_) => self.on_consensus(now_ms),
            Message::SubmitVote(s) => self.on_submit_vote(now_ms, input, s.vote),
            Message::NewVote(v) => self.on_new_vote(now_ms, input, v.vote),
            Message::GetReceipt(g) => self.on_get_receipt(now_ms, input, g.vote_id),
            Message::RegisterPeer(_)
            | Message::RequestBallot(_)
            | Message::PokeAck(_)
            | Message::LeavePeer(_)
            | Message::Receipt(_) => self.ignore(from, "a message peers do not act on"),
        }
    }

    /// The timer fired (or the shell woke up anyway).
    pub fn handle_timeout(&mut self, now_ms: u64) {
        if !self.started {
            self.started = true;
            self.on_start(now_ms);
        }
        let to_tracker = self.tracker.on_timeout(now_ms);
        if let Some(tracker) = self.tracker.tracker() {
            self.send_requests(now_ms, tracker, to_tracker);
            if let Some(silent_ms) = self.tracker.unanswered(now_ms) {
                tracing::warn!(
                    "no answer from the tracker at {tracker} for {} s; still trying (is it \
                     running, and is this its address?)",
                    silent_ms / 1000
                );
            }
        }
        if now_ms >= self.gossip.next_ms {
            self.announce(now_ms);
            self.gossip.next_ms = now_ms + self.cfg.gossip_interval_ms;
        }
        if self.rounds.expired(now_ms) {
            self.finish_round(now_ms);
        }
        if self.rounds.due(now_ms) {
            self.start_round(now_ms);
        }
        self.flush_sync_buffer(now_ms);
        self.abandon_idle_sync(now_ms);
        self.serving.refill();
        self.update_mining(now_ms);
        if now_ms >= self.next_housekeeping_ms {
            self.housekeeping(now_ms);
            self.next_housekeeping_ms = now_ms + 1_000;
        }
        self.after_input(now_ms);
    }

    /// The shell read every datagram that was waiting: verify the buffered sync blocks as one
    /// batch now rather than waiting for a full batch.
    pub fn end_of_burst(&mut self, now_ms: u64) {
        self.serving.refill();
        self.flush_sync_buffer(now_ms);
        self.after_input(now_ms);
        self.update_mining(now_ms);
    }

    /// Work common to every input: drive the downloader. Buffered sync blocks wait for a full
    /// batch, and the miner's template for the end of the burst ([`Node::end_of_burst`]), the
    /// timer or a local command (see `mining`).
    fn after_input(&mut self, now_ms: u64) {
        self.drive_sync(now_ms);
    }

    fn on_start(&mut self, now_ms: u64) {
        // Without a tracker, the election comes from a seed's genesis block.
        if self.chain.is_none() && self.tracker.tracker().is_none() {
            self.ask_seeds_for_genesis(now_ms);
        }
        // Catch up at once: the first round asks whoever is known (seeds, a stored peer list).
        self.rounds.hurry(now_ms);
    }

    fn housekeeping(&mut self, now_ms: u64) {
        // A peer quiet for half the silence limit gets a STATS (small, answered by anyone): a
        // live one answers and stays; a gone one is dropped at the limit.
        for quiet in self.peers.to_probe(now_ms, self.cfg.peer_silence_ms) {
            self.send(now_ms, quiet, &votechain_proto::Stats {}.into());
        }
        for gone in self.peers.expire(now_ms, self.cfg.peer_silence_ms) {
            tracing::info!(peer = %gone, "peer silent too long: dropped");
            self.catchup.downloader.forget_peer(&gone);
            // The sync may have stopped with it: the miner must come back on.
            self.mining.touch();
        }
        self.limiter.sweep(now_ms);
        if let Some(chain) = &self.chain {
            self.admission.sweep(|id| chain.pool().contains(id));
        }
        self.origin.sweep(now_ms);
    }
}
