//! The simulator for the `comp3010` profile: networks of the real course peer
//! ([`votechain_peer::course::CourseNode`]) on virtual time, with the same network model
//! ([`crate::net`]), the same hostile-peer trait ([`crate::adversary::Adversary`]) and the same
//! seed harness ([`crate::harness`]) as the native simulator, but a driver of its own: the native
//! [`crate::Sim`] is built around the native node, its tracker and its election.
//!
//! A [`CourseSim`] drives each course node the way its tokio shell does. After every input
//! (`handle_datagram`, `handle_timeout`, `handle_mined`, `handle_command`) it drains
//! `poll_output` at once: `Send` goes to the [`Network`] (latency, jitter so datagrams reorder,
//! loss, duplication, partitions), `Persist` is counted, `Mine(Some(job))` schedules a "found"
//! event after an exponentially distributed delay at which the driver searches a real nonce with
//! [`votechain_course::CourseSearch`] at the simulation's low difficulty (a newer `Mine` cancels
//! it), and `Event`s are logged per peer; then one timer is armed from `poll_timeout`. Events run
//! in `(virtual time, sequence number)` order and every random draw comes from one seeded RNG, so
//! a seed fixes the whole run ([`CourseSim::digest`]).
//!
//! Words come from a client address as NEW_WORD datagrams through the lossy network, as a course
//! client sends them, or as the console's `word` command ([`CourseSim::command`]). The driver
//! remembers which words reached a mining peer and which a miner put into a block it accepted,
//! and [`CourseSim::check`] demands at the end: one tip everywhere, every chain valid from its
//! genesis block (`CourseChain::from_blocks`), every such word in that chain exactly once, and no
//! node that asked to be woken again at the instant it was just woken (a busy loop in a shell).
//!
//! - `course/drive.rs`: the event queue, the run loop, delivery, timers and mining.
//! - `course/check.rs`: the end-of-run properties and the [`CourseSummary`].
//! - [`liar`]: [`CourseLiar`], a peer that claims a far taller chain and serves bogus blocks.
//! - [`premine`]: building a valid chain up front, for scenarios that start from a long chain.

mod check;
mod drive;
pub mod liar;
pub mod premine;

pub use check::CourseSummary;
pub use liar::CourseLiar;

use crate::adversary::Adversary;
use crate::net::{LinkConfig, Network};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::DefaultHasher;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use votechain_course::chain::CourseChain;
use votechain_course::miner::CourseJob;
use votechain_peer::course::{CourseCommand, CourseConfig, CourseEvent, CourseNode};

pub use crate::world::{PeerId, EPOCH_MS};

/// Where the words of a scenario come from: a course client that only sends NEW_WORD.
pub const CLIENT_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 9, 1)), 5000);

/// The port every simulated course peer listens on (each peer has its own IP address, as the
/// node's per-IP limits expect of separate machines).
pub const COURSE_PORT: u16 = 8999;

/// The knobs of a course simulation.
#[derive(Debug, Clone)]
pub struct CourseSimConfig {
    /// The one seed everything is drawn from.
    pub seed: u64,
    /// Every link's behaviour unless overridden in [`CourseSim::net_mut`].
    pub link: LinkConfig,
    /// Trailing `'0'` hex characters of a valid block: low, so the driver mines for real.
    pub difficulty: u32,
    /// Mean virtual time for a mining peer to find a block once it has a job.
    pub mean_mine_ms: u64,
}

impl CourseSimConfig {
    /// A LAN, difficulty 2 and 4 s mean block time.
    pub fn new(seed: u64) -> CourseSimConfig {
        CourseSimConfig {
            seed,
            link: LinkConfig::lan(),
            difficulty: 2,
            mean_mine_ms: 4_000,
        }
    }
}

/// Counters of the whole run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CourseSimStats {
    /// Events handled.
    pub events: u64,
    /// Datagrams delivered to a peer, an adversary or the client.
    pub delivered: u64,
    /// Blocks found by simulated miners.
    pub found: u64,
    /// Blocks handed to `Persist`.
    pub persisted: u64,
    /// Most outputs one `handle_datagram` call produced.
    pub max_outputs_per_datagram: usize,
    /// Times a node, just woken by its timer, asked to be woken again at or before that instant:
    /// its shell would spin. Should stay 0.
    pub busy_wakeups: u64,
}

/// One simulated course peer.
#[derive(Debug)]
struct CourseHost {
    /// Where it listens (and what it advertises).
    addr: SocketAddr,
    /// The real node.
    node: CourseNode,
    /// Bumped on every arming of the timer; only the event of the current generation fires.
    timer_generation: u64,
    /// The virtual time the timer is armed for.
    timer_at: Option<u64>,
    /// Bumped on every `Mine`; only the "found" event of the current job counts.
    mine_generation: u64,
    /// The job being mined, if any.
    job: Option<CourseJob>,
    /// Every event the node reported, with the virtual time.
    log: Vec<(u64, CourseEvent)>,
    /// Timer wake-ups after which the node asked to be woken again at once, and when the first
    /// was.
    busy: (u64, Option<u64>),
    /// Datagrams this peer sent, by destination and message type.
    sent_to: BTreeMap<(SocketAddr, &'static str), u64>,
}

/// Who lives at an address.
#[derive(Debug, Clone, Copy)]
enum Endpoint {
    /// An honest course peer.
    Peer(PeerId),
    /// A scripted hostile peer, by index.
    Adversary(usize),
    /// The word client: it reads nothing.
    Client,
}

/// The words of a run, as the driver saw them.
#[derive(Debug, Default)]
struct WordLog {
    /// Every word a scenario sent or commanded.
    sent: BTreeSet<String>,
    /// Words that arrived (as NEW_WORD or a command) at a peer that was mining.
    at_miner: BTreeSet<String>,
    /// Words in a block some miner found and put on its own chain.
    mined: BTreeSet<String>,
}

/// A simulation of a course network. See the module docs.
pub struct CourseSim {
    /// The knobs it was built with.
    cfg: CourseSimConfig,
    /// Virtual time, in milliseconds since the start.
    now: u64,
    /// The one RNG every random choice of the run is drawn from.
    rng: ChaCha8Rng,
    /// What happens next, keyed by `(time, sequence number)`.
    queue: BTreeMap<(u64, u64), drive::Event>,
    /// The sequence number of the next event scheduled.
    next_seq: u64,
    /// Links and partitions: decides every datagram's fate.
    net: Network,
    /// Honest peers, indexed by [`PeerId`].
    hosts: Vec<CourseHost>,
    /// Scripted hostile peers, in the order added.
    adversaries: Vec<Box<dyn Adversary>>,
    /// Who lives at each address (looked up, never iterated).
    endpoints: HashMap<SocketAddr, Endpoint>,
    /// The words of the run.
    words: WordLog,
    /// Hashes every event and output, for the determinism check.
    digest: DefaultHasher,
    /// Print every peer's inputs and outputs (`SIM_TRACE` set).
    printing: bool,
    /// Counters of the run.
    stats: CourseSimStats,
}

impl CourseSim {
    /// An empty simulation.
    pub fn new(cfg: CourseSimConfig) -> CourseSim {
        CourseSim {
            rng: ChaCha8Rng::seed_from_u64(cfg.seed),
            net: Network::new(cfg.link),
            cfg,
            now: 0,
            queue: BTreeMap::new(),
            next_seq: 0,
            hosts: Vec::new(),
            adversaries: Vec::new(),
            endpoints: HashMap::from([(CLIENT_ADDR, Endpoint::Client)]),
            words: WordLog::default(),
            digest: DefaultHasher::new(),
            printing: std::env::var_os("SIM_TRACE").is_some(),
            stats: CourseSimStats::default(),
        }
    }

    /// The address peer number `id` gets: its own IP, [`COURSE_PORT`].
    pub fn addr_of(id: PeerId) -> SocketAddr {
        let [_, _, hi, lo] = u32::try_from(id + 1).unwrap_or(u32::MAX).to_be_bytes();
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 1, hi, lo)), COURSE_PORT)
    }

    /// An empty chain at the simulation's difficulty.
    pub fn empty_chain(&self) -> CourseChain {
        CourseChain::new(self.cfg.difficulty)
    }

    /// Adds a course peer holding `chain`, started now. Its configuration is the profile's
    /// defaults with the simulation's difficulty, a name, its address and a seed from the RNG;
    /// `setup` changes the rest (seeds, mining, intervals).
    pub fn add_peer(
        &mut self,
        chain: CourseChain,
        setup: impl FnOnce(&mut CourseConfig),
    ) -> PeerId {
        let id = self.hosts.len();
        let addr = CourseSim::addr_of(id);
        let mut config = CourseConfig::new(format!("sim-{id}"), addr, Vec::new());
        config.difficulty = self.cfg.difficulty;
        config.rng_seed = rand::Rng::gen(&mut self.rng);
        setup(&mut config);
        self.hosts.push(CourseHost {
            addr,
            node: CourseNode::new(config, chain),
            timer_generation: 0,
            timer_at: None,
            mine_generation: 0,
            job: None,
            log: Vec::new(),
            busy: (0, None),
            sent_to: BTreeMap::new(),
        });
        self.endpoints.insert(addr, Endpoint::Peer(id));
        self.arm_timer(id, self.now);
        id
    }

    /// Adds a scripted hostile peer; its clock first ticks now.
    pub fn add_adversary(&mut self, adversary: Box<dyn Adversary>) -> usize {
        let index = self.adversaries.len();
        self.endpoints
            .insert(adversary.addr(), Endpoint::Adversary(index));
        self.adversaries.push(adversary);
        self.schedule(self.now, drive::Event::AdversaryTick { index });
        index
    }

    /// Sends `word` to peer `id` as a NEW_WORD datagram from [`CLIENT_ADDR`], through the
    /// network (it may be lost or duplicated).
    pub fn send_word(&mut self, id: PeerId, word: &str) {
        self.words.sent.insert(word.to_owned());
        let bytes = votechain_course::wire::encode(&votechain_course::CourseMessage::NewWord {
            word: word.to_owned(),
        });
        let to = self.hosts[id].addr;
        self.transmit(CLIENT_ADDR, to, bytes.into());
    }

    /// Gives peer `id` a console command now, as its shell does.
    pub fn command(&mut self, id: PeerId, command: CourseCommand) -> Result<(), String> {
        if let CourseCommand::Word(word) = &command {
            self.words.sent.insert(word.clone());
            if self.hosts[id].node.mining() {
                self.words.at_miner.insert(word.clone());
            }
        }
        let local = self.local_ms();
        let result = self.hosts[id].node.handle_command(local, command);
        self.drain(id, false);
        result
    }

    /// Virtual time, in milliseconds since the start.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Number of honest peers added.
    pub fn n_peers(&self) -> usize {
        self.hosts.len()
    }

    /// Peer `id`'s node.
    pub fn node(&self, id: PeerId) -> &CourseNode {
        &self.hosts[id].node
    }

    /// Peer `id`'s address.
    pub fn peer_addr(&self, id: PeerId) -> SocketAddr {
        self.hosts[id].addr
    }

    /// Peer `id`'s busy wake-ups (see [`CourseSimStats::busy_wakeups`]) and the virtual time of
    /// the first.
    pub fn busy_wakeups_of(&self, id: PeerId) -> (u64, Option<u64>) {
        self.hosts[id].busy
    }

    /// Every event peer `id` reported, with the virtual time.
    pub fn events_of(&self, id: PeerId) -> &[(u64, CourseEvent)] {
        &self.hosts[id].log
    }

    /// Datagrams peer `id` sent to `to` whose type is `kind` (`"GET_BLOCK"`…), or of any type
    /// when `kind` is `None`.
    pub fn sent_by_to(&self, id: PeerId, to: SocketAddr, kind: Option<&str>) -> u64 {
        self.hosts[id]
            .sent_to
            .range((to, "")..)
            .take_while(|((addr, _), _)| *addr == to)
            .filter(|((_, k), _)| kind.is_none_or(|kind| kind == *k))
            .map(|(_, n)| *n)
            .sum()
    }

    /// Datagrams all honest peers sent to `to` of type `kind` (any type when `None`).
    pub fn sent_to(&self, to: SocketAddr, kind: Option<&str>) -> u64 {
        (0..self.hosts.len())
            .map(|id| self.sent_by_to(id, to, kind))
            .sum()
    }

    /// Words a miner put into a block it found and accepted.
    pub fn mined_words(&self) -> &BTreeSet<String> {
        &self.words.mined
    }

    /// Words that arrived at a peer while it was mining.
    pub fn words_at_miners(&self) -> &BTreeSet<String> {
        &self.words.at_miner
    }

    /// The network, to change links and partitions.
    pub fn net_mut(&mut self) -> &mut Network {
        &mut self.net
    }

    /// The network, to read its counters.
    pub fn net(&self) -> &Network {
        &self.net
    }

    /// The simulation's RNG, for scenarios that draw their choices from the same seed.
    pub fn rng(&mut self) -> &mut ChaCha8Rng {
        &mut self.rng
    }

    /// Counters of the run.
    pub fn stats(&self) -> &CourseSimStats {
        &self.stats
    }

    /// A digest of every event handled and every output produced so far: equal digests mean
    /// (with overwhelming probability) identical runs.
    pub fn digest(&self) -> u64 {
        std::hash::Hasher::finish(&self.digest)
    }

    /// What every node's clock reads now: Unix milliseconds, no skew (the course checks no
    /// clock, so skew would change nothing but block timestamps).
    fn local_ms(&self) -> u64 {
        EPOCH_MS + self.now
    }
}

impl std::fmt::Debug for CourseSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CourseSim")
            .field("seed", &self.cfg.seed)
            .field("now", &self.now)
            .field("peers", &self.hosts.len())
            .field("adversaries", &self.adversaries.len())
            .finish()
    }
}
