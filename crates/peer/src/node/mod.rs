//! The peer's sans-IO state machine. Inputs: [`Node::handle_datagram`], [`Node::end_of_burst`],
//! [`Node::handle_timeout`], [`Node::handle_mined`] and local commands
//! ([`Node::handle_command`]: a vote, mining on or off, a consensus round, leaving); after
//! each, the shell drains [`Node::poll_output`] and arms one timer from [`Node::poll_timeout`].
//! Outputs come in the order they must take effect: a `Persist` precedes the datagram that
//! acknowledges what it stores, so nothing acknowledged is lost across a crash.
//!
//! Time comes in as `now_ms` (Unix milliseconds) and randomness from a seeded RNG, so the same
//! inputs give the same outputs — the simulator depends on it.
//!
//! Proof of origin: a datagram's source address proves nothing, so every datagram we send
//! carries our address cookie for its receiver, and a datagram *proves* its origin only when it
//! echoes our cookie for its source ([`votechain_proto::Envelope`]). Only proven datagrams earn
//! replies larger than the anti-amplification budget, strikes, a say in sync or membership.

mod blocks;
mod command;
mod gossip;
#[cfg(test)]
mod tests;
mod votes;

use crate::admission::Admission;
use crate::config::{MiningMode, NodeConfig};
use crate::downloader::{DownloadLimits, Downloader};
use crate::loglimit::LogLimiter;
use crate::peers::{PeerTable, Source};
use crate::tracker_client::TrackerClient;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use votechain_chain::{Block, BlockTemplate, ChainState, Hash, Vote};
use votechain_proto::limits::{unverified_reply_budget, ENVELOPE_RESERVE};
use votechain_proto::{
    decode_envelope, encode, with_envelope, Challenge, Cookie, DecodeError, Envelope, Message,
    Verify,
};
use votechain_sansio::ratelimit::{Rate, SourceLimiter, Verdict};
use votechain_sansio::{DedupCache, TokenMinter};

pub use command::{Command, Reply};
pub use votechain_sansio::Transmit;
pub use votes::SubmitReply;

/// Something the shell must do, in order (see [`votechain_sansio::output`]): send, persist a
/// [`Record`], mine a [`BlockTemplate`], or report an [`Event`].
pub type Output = votechain_sansio::Output<Record, BlockTemplate, Event>;

/// A store record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A block that joined the block tree.
    Block(Block),
    /// A vote accepted into the pending pool.
    Vote(Vote),
}

/// Things that happened, for logs, the console and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The election is known: ballot and genesis checked.
    ElectionKnown {
        /// The genesis hash.
        election: Hash,
    },
    /// The tracker's ballot does not match the chain we hold.
    ElectionMismatch {
        /// The election of our stored chain.
        ours: Hash,
        /// The election the tracker serves.
        tracker: Hash,
    },
    /// The best tip changed.
    TipChanged {
        /// New height.
        height: u64,
        /// New tip hash.
        hash: Hash,
        /// Blocks that left the best chain (0 for a plain extension).
        reorg_depth: usize,
    },
    /// This node mined a block.
    Mined {
        /// Its height.
        height: u64,
        /// Its hash.
        hash: Hash,
    },
    /// Sync reached the chain it was fetching.
    Synced {
        /// Our height now.
        height: u64,
    },
    /// A peer is ignored for a while.
    PeerBanned {
        /// Who.
        peer: SocketAddr,
        /// Why, in words.
        reason: String,
    },
}

/// Counters, for `stats` and tests.
#[derive(Debug, Clone, Default)]
pub struct NodeStats {
    /// Datagrams received.
    pub datagrams_in: u64,
    /// Datagrams sent.
    pub datagrams_out: u64,
    /// Undecodable datagrams, by error kind.
    pub decode_errors: BTreeMap<&'static str, u64>,
    /// Datagrams dropped by the per-source rate limit.
    pub rate_limited: u64,
    /// Datagrams dropped because their sender is banned.
    pub from_banned: u64,
    /// Datagrams that echoed our address cookie for their source: proven origin.
    pub proven: u64,
    /// Well-formed messages this node does not act on (wrong sender, unsolicited, not ours).
    pub ignored: u64,
    /// CHALLENGEs sent instead of a reply too large for an unverified address.
    pub challenges_sent: u64,
    /// Blocks received that failed validation.
    pub invalid_blocks: u64,
    /// Blocks mined here.
    pub mined: u64,
    /// Remote votes refused because the pool was under pressure (see [`crate::admission`]).
    pub votes_refused: u64,
}

/// Requests remembered per address so they can be resent right after answering its CHALLENGE.
const RESEND_PER_ADDR: usize = 4;
/// Challenges answered per address since our last new request to it: bounded so that a
/// spoofed CHALLENGE stream cannot keep us resending.
const CHALLENGES_PER_REQUEST: u8 = 3;
/// How long a request stays resendable.
const RESEND_TTL_MS: u64 = 10_000;
/// Shortest gap between two consensus rounds started by CONSENSUS messages.
const CONSENSUS_MIN_GAP_MS: u64 = 2_000;

/// Requests recently sent to one address, for resending after its CHALLENGE.
#[derive(Debug, Default)]
struct Resend {
    /// When each was sent, and its encoding without envelope (a resend carries fresh cookies).
    requests: VecDeque<(u64, Vec<u8>)>,
    challenges_answered: u8,
}

/// The datagram being handled: who sent it, its size, whether it proved its origin, and the
/// cookie it carried, which our answers to it echo.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Inbound {
    from: SocketAddr,
    len: usize,
    proven: bool,
    cookie: Option<Cookie>,
}

/// Where breaking a tie with an equal-work side branch stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TieBreak {
    /// No tie.
    None,
    /// Tied; mining for the tie waits until then (the timer wakes us).
    Waiting { until_ms: u64 },
    /// Tied and the wait is over: mine even with nothing pending. No deadline any more, so the
    /// timer is not armed in the past (the shell would spin).
    Due,
}

/// A consensus round in progress: STATS sent, replies collected until the deadline.
#[derive(Debug)]
struct Round {
    deadline_ms: u64,
    /// How many peers were asked: the round ends early once all of them replied.
    asked: usize,
    replies: BTreeMap<SocketAddr, (u64, Hash)>,
}

/// The node. See the module docs.
pub struct Node {
    cfg: NodeConfig,
    rng: ChaCha8Rng,
    /// Mints and checks our address cookies.
    minter: TokenMinter,
    /// The cookie each address last gave us in a proven datagram: echoed in what we send it.
    their_cookies: HashMap<SocketAddr, Cookie>,
    /// The datagram being handled, while it is: answers to it echo its cookie.
    inbound: Option<Inbound>,
    limiter: SourceLimiter,
    peers: PeerTable,
    tracker: TrackerClient,
    chain: Option<ChainState>,
    downloader: Downloader,
    /// How far below the sync start to look for the fork point next, when the wanted chain does
    /// not connect.
    sync_back: u64,
    /// Our block count when the current sync started.
    sync_from: u64,
    /// When the current sync started or last connected a block (see `abandon_idle_sync`).
    sync_progress_ms: u64,
    /// Blocks served to each source since the last burst ended or the timer last fired (see
    /// `on_request_chain`): the per-burst serving budget.
    served_this_burst: HashMap<SocketAddr, u64>,
    /// Holds back repeated log lines caused by remote input.
    log_limiter: LogLimiter,
    /// Who brought which pending votes in, for the pool's per-sender shares.
    admission: Admission,
    /// Tip or pool changed since the miner's template was last checked.
    mining_dirty: bool,
    /// Breaking a tie with an equal-work side branch: mining waits a random delay (so tied
    /// peers do not all break the tie at once and tie again, which at low difficulty would go
    /// on indefinitely), then is due until the tie is gone.
    tie_break: TieBreak,
    /// The `now_ms` of the input being handled, for helpers deep in a call chain.
    last_now_ms: u64,
    seen_blocks: DedupCache<Hash>,
    seen_votes: DedupCache<Hash>,
    seen_gossip: DedupCache<String>,
    /// Unknown gossip originators we contacted, and when: each at most once per cooldown, and
    /// it joins the table when its CHALLENGE proves its address.
    contacted: HashMap<SocketAddr, u64>,
    /// Sync blocks waiting to be verified together (signatures in one batch).
    sync_buffer: Vec<(SocketAddr, Block)>,
    recent_requests: HashMap<SocketAddr, Resend>,
    round: Option<Round>,
    last_round_ms: u64,
    next_gossip_ms: u64,
    next_consensus_ms: u64,
    next_housekeeping_ms: u64,
    mining: MiningMode,
    /// The template being mined as (parent, payload root), which commit to its votes, so an
    /// unchanged template is not re-sent.
    job: Option<(Hash, Hash)>,
    out: VecDeque<Output>,
    stats: NodeStats,
    started: bool,
}

impl Node {
    /// A node with `cfg`, randomness from `seed`, holding `chain` if one was recovered from disk.
    pub fn new(cfg: NodeConfig, seed: u64, chain: Option<ChainState>) -> Node {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let minter = TokenMinter::new(rng.gen());
        let limits = DownloadLimits {
            batch: u64::from(cfg.sync_batch),
            window: cfg.sync_window,
            per_peer: cfg.sync_per_peer,
            timeout_ms: cfg.sync_timeout_ms,
            timeout_cap_ms: cfg.sync_timeout_cap_ms,
        };
        let mut tracker = TrackerClient::new(&cfg);
        if chain.is_some() {
            tracker.ballot_known();
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
            their_cookies: HashMap::new(),
            inbound: None,
            limiter: SourceLimiter::new(rate, cfg.max_verified).with_reserve(cfg.max_peers + 1),
            seen_blocks: DedupCache::new(cfg.dedup_cap),
            seen_votes: DedupCache::new(cfg.dedup_cap),
            seen_gossip: DedupCache::new(cfg.dedup_cap),
            contacted: HashMap::new(),
            downloader: Downloader::new(limits),
            mining: cfg.mining,
            peers,
            tracker,
            chain,
            minter,
            rng,
            cfg,
            sync_back: 0,
            sync_from: 0,
            sync_progress_ms: 0,
            served_this_burst: HashMap::new(),
            log_limiter: LogLimiter::default(),
            admission: Admission::default(),
            mining_dirty: true,
            tie_break: TieBreak::None,
            last_now_ms: 0,
            sync_buffer: Vec::new(),
            recent_requests: HashMap::new(),
            round: None,
            last_round_ms: 0,
            next_gossip_ms: 0,
            next_consensus_ms: 0,
            next_housekeeping_ms: 0,
            job: None,
            out: VecDeque::new(),
            stats: NodeStats::default(),
            started: false,
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

    /// Counters.
    pub fn stats(&self) -> &NodeStats {
        &self.stats
    }

    /// The configuration.
    pub fn config(&self) -> &NodeConfig {
        &self.cfg
    }

    /// True while a sync is fetching blocks.
    pub fn syncing(&self) -> bool {
        self.downloader.is_active()
    }

    /// Next output for the shell.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When the shell should call [`Node::handle_timeout`] next (always some time: the node
    /// has housekeeping every second).
    pub fn poll_timeout(&self) -> Option<u64> {
        let mut t = self.next_housekeeping_ms;
        for d in [
            self.tracker.next_deadline(),
            self.downloader.next_deadline(),
            self.round.as_ref().map(|r| r.deadline_ms),
            Some(self.next_gossip_ms),
            Some(self.next_consensus_ms),
            match self.tie_break {
                TieBreak::Waiting { until_ms } => Some(until_ms),
                TieBreak::None | TieBreak::Due => None,
            },
            self.downloader
                .is_active()
                .then(|| self.sync_progress_ms + self.cfg.sync_idle_limit_ms + 1),
        ]
        .into_iter()
        .flatten()
        {
            t = t.min(d);
        }
        Some(t)
    }

    /// One datagram from `from`.
    pub fn handle_datagram(&mut self, now_ms: u64, from: SocketAddr, bytes: &[u8]) {
        self.last_now_ms = now_ms;
        self.stats.datagrams_in += 1;
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
        let (message, envelope) = match decode_envelope(bytes) {
            Ok(m) => m,
            Err(e) => return self.dropped(from, &e),
        };
        // A VERIFY carries our cookie as its token rather than in its envelope.
        let proven = self.minter.proves(&from, &envelope, now_ms)
            || matches!(&message, Message::Verify(v) if self.minter.check(&from, &v.token, now_ms));
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
            cookie: envelope.cookie,
        };
        self.inbound = Some(inbound);
        self.dispatch(now_ms, inbound, message);
        self.inbound = None;
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
                self.on_peer_list(now_ms, &m.peer_list, false);
                let next = self.tracker.on_register_ack(now_ms);
                self.send_requests(now_ms, from, next);
            }
            Message::UpdatePeers(m) if from_tracker => {
                self.tracker.on_tracker_heard(now_ms);
                self.on_peer_list(now_ms, &m.peer_list, true);
            }
            Message::BallotOptions(m) if from_tracker => self.on_ballot(now_ms, &m),
            Message::Poke(p) if from_tracker => {
                let ack = self.tracker.on_poke(now_ms, p.nonce);
                self.send(from, &ack);
            }
            Message::RegisterAck(_)
            | Message::UpdatePeers(_)
            | Message::BallotOptions(_)
            | Message::Poke(_) => self.ignore(from, "tracker message not from the tracker"),
            Message::Gossip(g) => self.on_gossip(now_ms, input, g),
            Message::GossipReply(g) => self.on_gossip_reply(now_ms, input, g),
            Message::NewBlock(m) => self.on_new_block(now_ms, input, m.block),
            Message::RequestChain(r) => self.on_request_chain(now_ms, input, r),
            Message::ChainBlock(c) => {
                self.on_sync_block(now_ms, input, c.index, Some(c.total_blocks), c.block)
            }
            Message::GetBlock(g) => self.on_get_block(now_ms, input, g),
            // Asked by hash, the block may sit below the height given as a hint: its own height
            // is what counts.
            Message::GetBlockReply(r) => match r.block {
                Some(block) => self.on_sync_block(now_ms, input, block.height(), None, block),
                None if input.proven => self.on_short_chain(from, r.height),
                None => self.ignore(from, "unproven GET_BLOCK_REPLY"),
            },
            Message::Stats(_) => self.on_stats(now_ms, input),
            Message::StatsReply(s) => self.on_stats_reply(now_ms, input, s.height, s.hash),
            Message::Consensus(_) => {
                if now_ms >= self.last_round_ms + CONSENSUS_MIN_GAP_MS {
                    self.start_round(now_ms);
                }
            }
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

    /// Counts a well-formed message we do not act on.
    fn ignore(&mut self, from: SocketAddr, why: &'static str) {
        tracing::debug!(%from, why, "ignored message");
        self.stats.ignored += 1;
    }

    /// Keeps the cookie `addr` gave us in a proven datagram, to echo in what we send it. The
    /// map is capped: when full, only addresses in the peer table (or the tracker) get a slot.
    fn remember_cookie(&mut self, addr: SocketAddr, cookie: Cookie) {
        if self.their_cookies.len() >= self.cfg.max_verified
            && !self.their_cookies.contains_key(&addr)
        {
            let (peers, tracker) = (&self.peers, &self.tracker);
            self.their_cookies
                .retain(|a, _| peers.get(a).is_some() || tracker.is_tracker(a));
            if self.their_cookies.len() >= self.cfg.max_verified {
                return;
            }
        }
        self.their_cookies.insert(addr, cookie);
    }

    /// The timer fired (or the shell woke up anyway).
    pub fn handle_timeout(&mut self, now_ms: u64) {
        self.last_now_ms = now_ms;
        if !self.started {
            self.started = true;
            self.on_start(now_ms);
        }
        let to_tracker = self.tracker.on_timeout(now_ms);
        if let Some(tracker) = self.tracker.tracker() {
            self.send_requests(now_ms, tracker, to_tracker);
        }
        if now_ms >= self.next_gossip_ms {
            self.announce(now_ms);
            self.next_gossip_ms = now_ms + self.cfg.gossip_interval_ms;
        }
        if self.round.as_ref().is_some_and(|r| now_ms >= r.deadline_ms) {
            self.finish_round(now_ms);
        }
        if now_ms >= self.next_consensus_ms {
            self.start_round(now_ms);
        }
        self.flush_sync_buffer(now_ms);
        self.abandon_idle_sync(now_ms);
        self.served_this_burst.clear();
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
        self.last_now_ms = now_ms;
        self.served_this_burst.clear();
        self.flush_sync_buffer(now_ms);
        self.after_input(now_ms);
        self.update_mining(now_ms);
    }

    /// Work common to every input: drive the downloader. Buffered sync blocks wait for a full
    /// batch, and the miner's template for the end of the burst ([`Node::end_of_burst`]), the
    /// timer or a local command: re-planning mining after every datagram of a burst of votes
    /// would hand the miner a new template per vote, and at low difficulty it would finish many
    /// of them, each a sibling block.
    fn after_input(&mut self, now_ms: u64) {
        self.drive_sync(now_ms);
    }

    fn on_start(&mut self, now_ms: u64) {
        // Without a tracker, the election comes from a seed's genesis block.
        if self.chain.is_none() && self.tracker.tracker().is_none() {
            for seed in self.cfg.seeds.clone() {
                self.send_request(
                    now_ms,
                    seed,
                    &votechain_proto::GetBlock {
                        height: 0,
                        hash: None,
                    }
                    .into(),
                );
            }
        }
        // Catch up at once: the first round asks whoever is known (seeds, a stored peer list).
        self.next_consensus_ms = now_ms;
    }

    fn housekeeping(&mut self, now_ms: u64) {
        for gone in self.peers.expire(now_ms, self.cfg.peer_silence_ms) {
            tracing::info!(peer = %gone, "peer silent too long: dropped");
            self.downloader.forget_peer(&gone);
            // The sync may have stopped with it: the miner must come back on.
            self.mining_dirty = true;
        }
        self.limiter.sweep(now_ms);
        if let Some(chain) = &self.chain {
            self.admission.sweep(|id| chain.pool().contains(id));
        }
        self.recent_requests.retain(|_, r| {
            r.requests
                .retain(|(t, _)| now_ms.saturating_sub(*t) <= RESEND_TTL_MS);
            !r.requests.is_empty()
        });
    }

    /// Writes a warning caused by remote input, at most once per interval per `kind`.
    fn warn_limited(&mut self, now_ms: u64, kind: &'static str, detail: std::fmt::Arguments) {
        if let Some(held_back) = self.log_limiter.allow(kind, now_ms) {
            if held_back > 0 {
                tracing::warn!("{kind}: {detail} ({held_back} more since the last such line)");
            } else {
                tracing::warn!("{kind}: {detail}");
            }
        }
    }

    fn dropped(&mut self, from: SocketAddr, e: &DecodeError) {
        tracing::debug!(%from, error = %e, "undecodable datagram dropped");
        // No strike: nothing in an undecodable datagram proves who sent it, and a strike here
        // would let anyone get an honest peer banned by forging garbage "from" it.
        *self.stats.decode_errors.entry(e.kind()).or_default() += 1;
    }

    /// Gives `peer` misbehaviour points; bans it at the limit. Callers strike only for what
    /// `peer` provably did: a datagram that echoed our cookie, or silence after our request
    /// to its real address.
    fn strike(&mut self, peer: SocketAddr, points: u32, now_ms: u64, reason: &str) {
        if self.peers.strike(
            &peer,
            points,
            self.cfg.strike_limit,
            self.cfg.ban_ms,
            now_ms,
        ) {
            tracing::warn!(%peer, reason, "peer banned for {} s", self.cfg.ban_ms / 1000);
            self.downloader.forget_peer(&peer);
            // A sync whose last peer this was stopped: mining (off while syncing) resumes.
            self.mining_dirty = true;
            self.out.push_back(Output::Event(Event::PeerBanned {
                peer,
                reason: reason.to_owned(),
            }));
        }
    }

    /// The envelope of a datagram to `to`: our cookie for it, and its cookie for us — the one
    /// the datagram being answered carried, or else the last one it gave us in a proven
    /// datagram.
    fn envelope_for(&self, to: &SocketAddr) -> Envelope {
        let echo = match self.inbound {
            Some(i) if i.from == *to && i.cookie.is_some() => i.cookie,
            _ => self.their_cookies.get(to).copied(),
        };
        Envelope {
            cookie: Some(self.minter.cookie(to, self.last_now_ms)),
            echo,
        }
    }

    /// Queues an encoded message (without envelope) to `to`, adding the envelope.
    fn push_send(&mut self, to: SocketAddr, body: &[u8]) {
        let bytes = with_envelope(body, &self.envelope_for(&to));
        self.stats.datagrams_out += 1;
        self.out.push_back(Output::Send(Transmit { to, bytes }));
    }

    /// Encodes `message`, or logs why not: encoding our own messages fails only if a bound is
    /// broken, which is a bug worth a log line, not a crash.
    fn encode_or_log(message: &Message) -> Option<Vec<u8>> {
        encode(message)
            .map_err(|e| tracing::error!(error = %e, "could not encode {}", message.type_name()))
            .ok()
    }

    /// Encodes and queues `message` to `to`; returns the encoded length without envelope.
    fn send(&mut self, to: SocketAddr, message: &Message) -> Option<usize> {
        let body = Self::encode_or_log(message)?;
        self.push_send(to, &body);
        Some(body.len())
    }

    /// Encodes `message` once and queues it to every peer in good standing but `except`: the
    /// relay of a new block or vote.
    fn broadcast(&mut self, now_ms: u64, message: &Message, except: Option<SocketAddr>) {
        let Some(body) = Self::encode_or_log(message) else {
            return;
        };
        for to in self.peers.active(now_ms) {
            if Some(to) != except {
                self.push_send(to, &body);
            }
        }
    }

    /// Sends a request and remembers it, so it can be resent at once if `to` challenges us.
    fn send_request(&mut self, now_ms: u64, to: SocketAddr, message: &Message) {
        let Some(bytes) = Self::encode_or_log(message) else {
            return;
        };
        if self.recent_requests.len() < self.cfg.max_verified
            || self.recent_requests.contains_key(&to)
        {
            let r = self.recent_requests.entry(to).or_default();
            if r.requests.len() >= RESEND_PER_ADDR {
                r.requests.pop_front();
            }
            r.requests.push_back((now_ms, bytes.clone()));
            r.challenges_answered = 0;
        }
        self.push_send(to, &bytes);
    }

    fn send_requests(&mut self, now_ms: u64, to: SocketAddr, messages: Vec<Message>) {
        for m in messages {
            self.send_request(now_ms, to, &m);
        }
    }

    /// Answers `input`. A request that did not prove its origin gets the reply only if it fits
    /// the anti-amplification budget (with the envelope), and a CHALLENGE otherwise.
    fn reply(&mut self, now_ms: u64, input: Inbound, message: &Message) {
        let Some(body) = Self::encode_or_log(message) else {
            return;
        };
        let fits = body.len() + ENVELOPE_RESERVE <= unverified_reply_budget(input.len);
        if input.proven || fits {
            self.push_send(input.from, &body);
        } else {
            self.challenge(now_ms, input.from);
        }
    }

    /// Asks `to` to prove it receives our datagrams: its next request echoes the token.
    fn challenge(&mut self, now_ms: u64, to: SocketAddr) {
        self.stats.challenges_sent += 1;
        let token = self.minter.token(&to, now_ms);
        self.send(to, &Challenge { token }.into());
    }

    /// CHALLENGE: acted on only when it proves its origin (it echoes the cookie our request
    /// carried), so a forged CHALLENGE makes us send nothing. We VERIFY and resend what we
    /// recently asked, now carrying its cookie (a resent request can overtake the VERIFY and be
    /// challenged again, so a few challenges per request are answered). A gossip originator we
    /// contacted (see `on_gossip`) proves itself this way and joins the peer table.
    fn on_challenge(&mut self, now_ms: u64, input: Inbound, token: String) {
        let from = input.from;
        if !input.proven {
            return self.ignore(from, "CHALLENGE without our cookie");
        }
        if let Some(cookie) = Cookie::parse(&token) {
            self.remember_cookie(from, cookie);
            // What we send next to the challenger echoes its token.
            if let Some(i) = self.inbound.as_mut() {
                i.cookie = Some(cookie);
            }
        }
        if self.contacted.contains_key(&from) {
            self.peers.add(from, Source::Gossip, now_ms);
        }
        let resends = match self.recent_requests.get_mut(&from) {
            Some(r) if r.challenges_answered < CHALLENGES_PER_REQUEST => {
                r.challenges_answered += 1;
                r.requests
                    .iter()
                    .map(|(_, bytes)| bytes.clone())
                    .collect::<Vec<_>>()
            }
            _ => Vec::new(),
        };
        self.send(from, &Verify { token }.into());
        for bytes in resends {
            self.push_send(from, &bytes);
        }
    }

    /// VERIFY: its token is our cookie, so it proves its origin; its envelope's cookie was kept
    /// in `handle_datagram`. Nothing else to do: requests carry their own proof.
    fn on_verify(&mut self, input: Inbound) {
        if !input.proven {
            self.ignore(input.from, "VERIFY with a token we did not give");
        }
    }
}
