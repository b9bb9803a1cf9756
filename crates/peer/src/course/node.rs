//! The course peer's sans-IO state machine: the COMP 3010 protocol on the output convention of
//! every votechain core (`votechain_sansio::output`). Inputs: [`CourseNode::handle_datagram`],
//! [`CourseNode::handle_timeout`], [`CourseNode::handle_mined`] and
//! [`CourseNode::handle_command`]; after each the shell drains [`CourseNode::poll_output`] and
//! arms one timer at [`CourseNode::poll_timeout`]. Time comes in with every input; randomness
//! from a seeded RNG, so the simulator replays it.
//!
//! What it does, message by message (PROTOCOL.md, "Profile comp3010"):
//! - GOSSIP: learn the originator; answer GOSSIP_REPLY and forward an unseen id to 3 peers —
//!   both only toward an originator that sent the datagram or has talked to us before (the
//!   answer otherwise goes to the datagram's source, and nothing is forwarded), so a forged
//!   GOSSIP cannot aim our reply, or other peers' replies, at a third party.
//! - STATS → STATS_REPLY; GET_BLOCK → GET_BLOCK_REPLY (nulls for an unknown height); both
//!   within the per-IP reply budget and re-ask back-off of [`super::guard`].
//! - ANNOUNCE: a block on our tip is verified, added, persisted and passed on; a taller one
//!   starts a consensus round.
//! - NEW_WORD and the console's `word`: queued and mined into blocks when mining is on.
//! - CONSENSUS: a consensus round ([`super::sync`]), at most one per [`CONSENSUS_MIN_GAP_MS`].

use super::event::CourseEvent;
use super::guard::{Guard, GuardVerdict};
use super::peers::CoursePeers;
use super::sync::SyncState;
use crate::downloader::DownloadLimits;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use votechain_course::block::{meets_difficulty, CourseBlock, CourseError};
use votechain_course::chain::CourseChain;
use votechain_course::limits::MAX_MESSAGES;
use votechain_course::miner::CourseJob;
use votechain_course::wire::{self, CourseMessage};
use votechain_sansio::dedup::DedupCache;
use votechain_sansio::output::{Output, Transmit};

/// What the shell must do, in order.
pub type CourseOutput = Output<Vec<CourseBlock>, CourseJob, CourseEvent>;

/// Peers a GOSSIP is forwarded to, as the course says.
pub const GOSSIP_FANOUT: usize = 3;

/// Shortest gap between two consensus rounds started by the network (CONSENSUS, a taller
/// ANNOUNCE): a forged CONSENSUS costs one STATS per peer, so it may not cost it often.
pub const CONSENSUS_MIN_GAP_MS: u64 = 10_000;

/// Most words waiting to be mined.
pub const MAX_WORDS: usize = 1_000;

/// Blocks at the top of the chain whose words a repeated NEW_WORD is checked against.
pub const RECENT_WORD_BLOCKS: usize = 64;

/// Gossip ids remembered, so each is forwarded once.
pub const GOSSIP_IDS: usize = 8_192;

/// Block hashes remembered, so each ANNOUNCE is passed on once.
pub const ANNOUNCED: usize = 4_096;

/// Tunables of a course peer.
#[derive(Debug, Clone)]
pub struct CourseConfig {
    /// Our name in GOSSIP and `minedBy`.
    pub name: String,
    /// The address we tell peers in GOSSIP (an IP address: course peers do not resolve names).
    pub advertise: SocketAddr,
    /// Well-known hosts, resolved.
    pub seeds: Vec<SocketAddr>,
    /// Trailing '0' hex characters of a valid hash.
    pub difficulty: u32,
    /// Mine queued words.
    pub mine: bool,
    /// Between our GOSSIP rounds (the course: 30 s).
    pub gossip_interval_ms: u64,
    /// Silence after which a peer is dropped (the course: 60 s).
    pub peer_silence_ms: u64,
    /// Between periodic consensus rounds (the course: "every few minutes").
    pub consensus_interval_ms: u64,
    /// How long a consensus round waits for STATS_REPLY.
    pub stats_wait_ms: u64,
    /// The block downloader (one block per GET_BLOCK: `batch` is 1).
    pub download: DownloadLimits,
    /// Seed of the node's RNG.
    pub rng_seed: u64,
}

impl CourseConfig {
    /// The defaults, for a peer named `name` reachable at `advertise`.
    pub fn new(name: String, advertise: SocketAddr, seeds: Vec<SocketAddr>) -> CourseConfig {
        CourseConfig {
            name,
            advertise,
            seeds,
            difficulty: votechain_course::limits::DEFAULT_DIFFICULTY,
            mine: false,
            gossip_interval_ms: 30_000,
            peer_silence_ms: 60_000,
            consensus_interval_ms: 180_000,
            stats_wait_ms: 1_500,
            download: DownloadLimits {
                batch: 1,
                window: 256,
                per_peer: 128,
                timeout_ms: 500,
                timeout_cap_ms: 8_000,
            },
            rng_seed: 0,
        }
    }
}

/// Counters for the status, the metrics and the tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CourseCounters {
    /// Datagrams received.
    pub received: u64,
    /// Datagrams that did not decode.
    pub malformed: u64,
    /// Datagrams dropped by the per-IP datagram limit.
    pub flooded: u64,
    /// Replies not sent: over the destination IP's byte budget.
    pub over_budget: u64,
    /// GET_BLOCK not answered: the same height asked too often.
    pub backed_off: u64,
    /// Blocks that failed validation.
    pub invalid_blocks: u64,
    /// Replies we did not ask for.
    pub unsolicited: u64,
    /// Blocks served.
    pub served: u64,
}

/// The course peer.
#[derive(Debug)]
pub struct CourseNode {
    pub(super) config: CourseConfig,
    pub(super) chain: CourseChain,
    pub(super) peers: CoursePeers,
    pub(super) guard: Guard,
    pub(super) sync: SyncState,
    pub(super) rng: ChaCha8Rng,
    pub(super) out: VecDeque<CourseOutput>,
    pub(super) counters: CourseCounters,
    gossip_ids: DedupCache<String>,
    announced: DedupCache<votechain_course::Hash>,
    words: VecDeque<String>,
    mining: bool,
    /// The job the miner has, to start a new one only when it changes.
    job: Option<CourseJob>,
    next_gossip_ms: u64,
    /// Gossip rounds in a row that found no peer beyond the seeds.
    lonely_gossips: u32,
    started: bool,
}

impl CourseNode {
    /// A node with the chain recovered from its store.
    pub fn new(config: CourseConfig, chain: CourseChain) -> CourseNode {
        let mut peers = CoursePeers::default();
        for seed in &config.seeds {
            peers.add_seed(*seed, 0);
        }
        CourseNode {
            rng: ChaCha8Rng::seed_from_u64(config.rng_seed),
            sync: SyncState::new(config.download),
            mining: config.mine,
            config,
            chain,
            peers,
            guard: Guard::new(),
            out: VecDeque::new(),
            counters: CourseCounters::default(),
            gossip_ids: DedupCache::new(GOSSIP_IDS),
            announced: DedupCache::new(ANNOUNCED),
            words: VecDeque::new(),
            job: None,
            next_gossip_ms: 0,
            lonely_gossips: 0,
            started: false,
        }
    }

    /// The chain.
    pub fn chain(&self) -> &CourseChain {
        &self.chain
    }

    /// The peer table.
    pub fn peers(&self) -> &CoursePeers {
        &self.peers
    }

    /// The counters.
    pub fn counters(&self) -> CourseCounters {
        self.counters
    }

    /// The configuration.
    pub fn config(&self) -> &CourseConfig {
        &self.config
    }

    /// Words waiting to be mined.
    pub fn words(&self) -> impl Iterator<Item = &String> {
        self.words.iter()
    }

    /// Whether mining is on.
    pub fn mining(&self) -> bool {
        self.mining
    }

    /// `(have, want)` while fetching a chain.
    pub fn sync_progress(&self) -> Option<(u64, u64)> {
        self.sync.progress()
    }

    /// The next output, in order.
    pub fn poll_output(&mut self) -> Option<CourseOutput> {
        self.out.pop_front()
    }

    /// When [`CourseNode::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Option<u64> {
        let mut at = self.next_gossip_ms;
        if let Some(t) = self.sync.next_deadline() {
            at = at.min(t);
        }
        Some(at)
    }

    /// Timers: the first GOSSIP and consensus, re-gossip, silence, consensus rounds, sync.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        if !self.started {
            self.started = true;
            self.next_gossip_ms = now_ms;
            self.sync.schedule_first(now_ms);
            self.replan_mining(now_ms);
        }
        if now_ms >= self.next_gossip_ms {
            // Until gossip has found a peer beyond the seeds, our GOSSIP (or its answer) was
            // lost, or nobody is there yet: ask again soon, 2 s, 4 s, 8 s, 16 s apart, then at
            // the course's pace.
            let lonely = self.peers.len() <= self.config.seeds.len();
            let gap = match lonely {
                true => {
                    (2_000u64 << self.lonely_gossips.min(3)).min(self.config.gossip_interval_ms)
                }
                false => self.config.gossip_interval_ms,
            };
            self.lonely_gossips = if lonely { self.lonely_gossips + 1 } else { 0 };
            self.next_gossip_ms = now_ms + gap;
            self.gossip();
            for addr in self.peers.expire(now_ms, self.config.peer_silence_ms) {
                self.sync_forget(&addr);
                self.event(CourseEvent::PeerDropped { addr });
            }
        }
        self.sync_timeout(now_ms);
    }

    /// One datagram from `from`.
    pub fn handle_datagram(&mut self, now_ms: u64, from: SocketAddr, datagram: &[u8]) {
        self.counters.received += 1;
        if self.guard.datagram(from, now_ms) != GuardVerdict::Allowed {
            self.counters.flooded += 1;
            return;
        }
        let message = match wire::decode(datagram) {
            Ok(m) => m,
            Err(e) => {
                self.counters.malformed += 1;
                tracing::debug!(%from, error = %e, "dropped a course datagram that does not decode");
                return;
            }
        };
        self.peers.heard_from(from, now_ms);
        match message {
            CourseMessage::Gossip {
                host,
                port,
                id,
                name,
            } => self.on_gossip(now_ms, from, &host, port, id, &name),
            CourseMessage::GossipReply { host, port, name } => {
                if let Some(addr) = ip_addr(&host, port) {
                    self.learn(now_ms, addr, &name, addr == from);
                }
            }
            CourseMessage::Stats => {
                let reply =
                    CourseMessage::StatsReply(self.chain.tip().map(|t| (self.chain.len(), t.hash)));
                self.reply(now_ms, from, &reply);
            }
            CourseMessage::StatsReply(chain) => self.on_stats_reply(now_ms, from, chain),
            CourseMessage::GetBlock { height } => {
                if self.guard.ask(from, height, now_ms) != GuardVerdict::Allowed {
                    self.counters.backed_off += 1;
                    return;
                }
                let block = self.chain.get(height).cloned();
                if block.is_some() {
                    self.counters.served += 1;
                }
                self.reply(now_ms, from, &CourseMessage::GetBlockReply(block));
            }
            CourseMessage::GetBlockReply(Some(block)) => self.on_fetched(now_ms, from, block),
            // Nulls: the peer lacks a height we asked for (which one, it does not say); the
            // request's deadline deals with it.
            CourseMessage::GetBlockReply(None) => {}
            CourseMessage::Announce(block) => self.on_announce(now_ms, from, block),
            CourseMessage::Consensus => self.request_consensus(now_ms),
            CourseMessage::NewWord { word } => {
                // The answer is the block it ends up in; a refused word is only logged.
                if let Err(why) = self.add_word(now_ms, &word) {
                    tracing::debug!(%from, "NEW_WORD refused: {why}");
                }
            }
        }
    }

    /// A block our miner found.
    pub fn handle_mined(&mut self, now_ms: u64, block: CourseBlock) {
        if self.job.as_ref().is_some_and(|j| j.height == block.height) {
            self.job = None;
        }
        match self.chain.push(block.clone()) {
            Ok(()) => {
                self.block_added(block.clone(), true);
                self.announce(&block, None);
            }
            // The tip moved while it was mined: the next job is on the new tip.
            Err(e) => tracing::debug!("a mined block no longer fits the chain: {e}"),
        }
        self.replan_mining(now_ms);
    }

    /// Local commands.
    pub fn handle_command(&mut self, now_ms: u64, command: CourseCommand) -> Result<(), String> {
        match command {
            CourseCommand::Word(word) => self.add_word(now_ms, &word),
            CourseCommand::SetMining(on) => {
                self.mining = on;
                self.replan_mining(now_ms);
                Ok(())
            }
            CourseCommand::Consensus => {
                self.sync.start_round_now();
                self.sync_timeout(now_ms);
                Ok(())
            }
        }
    }

    /// Queues `word` to be mined.
    fn add_word(&mut self, now_ms: u64, word: &str) -> Result<(), String> {
        let chars = word.chars().count();
        if chars == 0 || chars > votechain_course::limits::MAX_MESSAGE_CHARS {
            return Err(format!(
                "a word must have 1 to {} characters",
                votechain_course::limits::MAX_MESSAGE_CHARS
            ));
        }
        if word.chars().any(char::is_control) {
            return Err("a word may not contain control characters".to_owned());
        }
        // A word the network delivered twice is mined once.
        let recent = self.chain.blocks().iter().rev().take(RECENT_WORD_BLOCKS);
        if self.words.iter().any(|w| w == word)
            || recent.clone().any(|b| b.messages.iter().any(|m| m == word))
        {
            return Ok(());
        }
        if self.words.len() >= MAX_WORDS {
            return Err(format!("{MAX_WORDS} words already wait to be mined"));
        }
        self.words.push_back(word.to_owned());
        self.event(CourseEvent::WordQueued {
            word: word.to_owned(),
        });
        self.replan_mining(now_ms);
        Ok(())
    }

    /// Sends our GOSSIP to the seeds and to 3 random peers.
    fn gossip(&mut self) {
        let id = self.new_id();
        self.gossip_ids.insert(id.clone());
        let message = CourseMessage::Gossip {
            host: self.config.advertise.ip().to_string(),
            port: self.config.advertise.port(),
            id,
            name: self.config.name.clone(),
        };
        let mut to = self.config.seeds.clone();
        let seeds = to.clone();
        to.extend(self.peers.sample(&mut self.rng, GOSSIP_FANOUT, &seeds));
        let bytes = wire::encode(&message);
        for addr in to {
            self.send_bytes(addr, bytes.clone());
        }
    }

    /// A random gossip id in the course's UUID-4 form.
    fn new_id(&mut self) -> String {
        let b: [u8; 16] = self.rng.gen();
        let h = hex::encode(b);
        format!(
            "{}-{}-4{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[13..16],
            &h[16..20],
            &h[20..32]
        )
    }

    fn on_gossip(
        &mut self,
        now_ms: u64,
        from: SocketAddr,
        host: &str,
        port: u16,
        id: String,
        name: &str,
    ) {
        let originator = ip_addr(host, port);
        if originator == Some(self.config.advertise) {
            return;
        }
        let unseen = self.gossip_ids.insert(id.clone());
        let direct = originator == Some(from);
        if let Some(addr) = originator {
            self.learn(now_ms, addr, name, direct);
        }
        // Passed on only when its originator is its sender or has talked to us itself: every
        // course peer answers a GOSSIP at the address it names, so forwarding a forged one
        // would aim the whole network's answers at its victim.
        let vouched = originator.is_some_and(|a| direct || self.peers.has_talked(&a));
        if unseen && vouched {
            let mut except = vec![from];
            except.extend(originator);
            let forward = CourseMessage::Gossip {
                host: host.to_owned(),
                port,
                id,
                name: name.to_owned(),
            };
            let bytes = wire::encode(&forward);
            for addr in self.peers.sample(&mut self.rng, GOSSIP_FANOUT, &except) {
                self.send_bytes(addr, bytes.clone());
            }
        }
        if !unseen && !direct {
            return;
        }
        // Our answer goes to the originator only when that address has talked to us itself;
        // otherwise to whoever sent the datagram, which a forger cannot aim at a third party.
        let to = match originator {
            Some(addr) if direct || self.peers.has_talked(&addr) => addr,
            _ => from,
        };
        let reply = CourseMessage::GossipReply {
            host: self.config.advertise.ip().to_string(),
            port: self.config.advertise.port(),
            name: self.config.name.clone(),
        };
        self.reply(now_ms, to, &reply);
    }

    fn learn(&mut self, now_ms: u64, addr: SocketAddr, name: &str, direct: bool) {
        if addr == self.config.advertise {
            return;
        }
        if self.peers.learn(addr, name, now_ms, direct) {
            let name = name.chars().take(super::peers::MAX_NAME_CHARS).collect();
            self.event(CourseEvent::PeerJoined { addr, name });
        }
    }

    fn on_announce(&mut self, now_ms: u64, from: SocketAddr, block: CourseBlock) {
        // Remembered once valid, never before: a forged body under a real hash must not keep
        // the real block out.
        if self.announced.contains(&block.hash) {
            return;
        }
        let len = self.chain.len();
        if block.height == len {
            match self.chain.push(block.clone()) {
                Ok(()) => {
                    self.block_added(block.clone(), false);
                    self.announce(&block, Some(from));
                    self.replan_mining(now_ms);
                }
                Err(e) => {
                    self.counters.invalid_blocks += 1;
                    tracing::debug!(%from, "ANNOUNCE of block {} refused: {e}", block.height);
                    // Well-formed work on another branch: a fork, which a round settles.
                    if matches!(e, CourseError::BadLink { .. })
                        && block.check_format().is_ok()
                        && meets_difficulty(&block.hash, self.config.difficulty)
                    {
                        self.request_consensus(now_ms);
                    }
                }
            }
        } else if block.height > len {
            // A taller chain, perhaps: ask everyone (the announcer alone could be lying).
            self.request_consensus(now_ms);
        }
    }

    /// Passes a new block on to every peer but `except`.
    pub(super) fn announce(&mut self, block: &CourseBlock, except: Option<SocketAddr>) {
        self.announced.insert(block.hash);
        let bytes = wire::encode(&CourseMessage::Announce(block.clone()));
        for addr in self.peers.addrs() {
            if Some(addr) != except {
                self.send_bytes(addr, bytes.clone());
            }
        }
    }

    /// A block was added on top of the chain (already pushed): persist, report, drop its words.
    pub(super) fn block_added(&mut self, block: CourseBlock, ours: bool) {
        self.words_mined(std::slice::from_ref(&block));
        self.event(CourseEvent::TipChanged {
            height: block.height,
            hash: block.hash,
            mined_by: block.mined_by.clone(),
            messages: block.messages.clone(),
            ours,
        });
        self.out.push_back(Output::Persist(vec![block]));
    }

    /// Words that are now in the chain no longer wait, whoever mined them.
    pub(super) fn words_mined(&mut self, blocks: &[CourseBlock]) {
        self.words
            .retain(|w| !blocks.iter().any(|b| b.messages.contains(w)));
    }

    /// Words of our own blocks that a reorganisation took out of the chain wait again.
    pub(super) fn requeue_words(&mut self, dropped: &[CourseBlock]) {
        for block in dropped.iter().rev() {
            if block.mined_by != self.config.name {
                continue;
            }
            for w in block.messages.iter().rev() {
                if !self.words.contains(w) && self.words.len() < MAX_WORDS {
                    self.words.push_front(w.clone());
                }
            }
        }
    }

    /// Starts, restarts or stops the miner for the current tip and words.
    pub(super) fn replan_mining(&mut self, now_ms: u64) {
        let want = self.mining && !self.words.is_empty() && !self.sync.is_fetching();
        if !want {
            if self.job.take().is_some() {
                self.out.push_back(Output::Mine(None));
            }
            return;
        }
        let tip = self.chain.tip();
        let messages: Vec<String> = self.words.iter().take(MAX_MESSAGES).cloned().collect();
        let prev = tip.map(|t| t.hash);
        let height = self.chain.len();
        if self
            .job
            .as_ref()
            .is_some_and(|j| j.prev == prev && j.height == height && j.messages == messages)
        {
            return;
        }
        let job = CourseJob {
            prev,
            height,
            mined_by: self.config.name.clone(),
            messages,
            timestamp: now_ms / 1_000,
            difficulty: self.config.difficulty,
        };
        self.job = Some(job.clone());
        self.out.push_back(Output::Mine(Some(job)));
    }

    /// A consensus round asked for by the network, at most one per [`CONSENSUS_MIN_GAP_MS`].
    pub(super) fn request_consensus(&mut self, now_ms: u64) {
        if self.sync.is_fetching() {
            // After the fetch: what it fetched may not be what this news is about.
            self.sync.start_round_now();
        } else if self.sync.may_start_round(now_ms, CONSENSUS_MIN_GAP_MS) {
            self.sync.start_round_now();
            self.sync_timeout(now_ms);
        }
    }

    /// Sends a reply within the destination IP's budget.
    pub(super) fn reply(&mut self, now_ms: u64, to: SocketAddr, message: &CourseMessage) {
        let bytes = wire::encode(message);
        if self.guard.reply(to, bytes.len(), now_ms) != GuardVerdict::Allowed {
            self.counters.over_budget += 1;
            return;
        }
        self.send_bytes(to, bytes);
    }

    /// Sends a request (ours, not an answer).
    pub(super) fn send(&mut self, to: SocketAddr, message: &CourseMessage) {
        let bytes = wire::encode(message);
        self.send_bytes(to, bytes);
    }

    fn send_bytes(&mut self, to: SocketAddr, bytes: Vec<u8>) {
        self.out.push_back(Output::Send(Transmit { to, bytes }));
    }

    pub(super) fn event(&mut self, event: CourseEvent) {
        self.out.push_back(Output::Event(event));
    }
}

/// Local commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CourseCommand {
    /// Mine this word.
    Word(String),
    /// Mining on or off.
    SetMining(bool),
    /// A consensus round now.
    Consensus,
}

/// `host:port` when `host` is an IP address (or `localhost`); course peers' names are never
/// resolved (a lookup per datagram is a lookup an attacker chooses).
fn ip_addr(host: &str, port: u16) -> Option<SocketAddr> {
    let ip: IpAddr = match host {
        // The one name course peers use without a lookup.
        "localhost" => IpAddr::from([127, 0, 0, 1]),
        _ => host.parse().ok()?,
    };
    (port != 0).then(|| SocketAddr::new(ip, port))
}
