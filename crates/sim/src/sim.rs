//! The simulator: the real peer and tracker cores (and scripted hostile peers) on one virtual
//! clock, driven by one event heap and one seeded RNG.
//!
//! Events are ordered by `(time, sequence number)`, the sequence number being the order in which
//! they were scheduled, so ties are broken the same way on every run; nothing is ever taken from a
//! `HashMap`'s iteration order. After every input to a core the simulator drains its outputs at
//! once: datagrams go to the [`Network`], which decides their fate with the same RNG; `Persist`
//! records go to the node's in-memory store (what survives a crash); `Mine` jobs become a "found"
//! event after an exponentially distributed delay. When every event of one instant has been
//! handled, each peer that received datagrams gets `end_of_burst`, as the shell does after
//! draining its socket.
//!
//! Each node sees virtual time plus its own clock offset (skew). A crash drops the core; a restart
//! rebuilds it from its own store with a fresh seed. Invariants are checked after every input
//! (tables within their caps, bounded output per datagram) and the final properties by
//! [`crate::check`].
//!
//! Attacks ([`crate::attacks`]) may forge source addresses; `sim/forge.rs` delivers their datagrams
//! through the same network and accounts, in the [`Ledger`], who paid for which bytes.

mod forge;

use crate::adversary::{Adversary, Outbox};
use crate::attacks::Cookies;
use crate::ledger::Ledger;
use crate::net::{exponential, LinkConfig, Network};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};
use std::hash::{DefaultHasher, Hash as _, Hasher};
use std::net::SocketAddr;
use std::rc::Rc;
use votechain_chain::{Ballot, Block, BlockTemplate, ChainConfig, Hash, Vote};
use votechain_peer::config::NodeConfig;
use votechain_peer::node::{Event as NodeEvent, Node, Output, Record, SubmitReply};
use votechain_peer::recover;
use votechain_proto::limits::MAX_CHAIN_BATCH;
use votechain_tracker::Registry;

/// Virtual time 0 is this Unix time on every node's clock (before its skew), so block timestamps
/// look like real ones.
pub const EPOCH_MS: u64 = 1_700_000_000_000;

/// The tracker's address in every simulation.
pub const TRACKER_ADDR: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)),
    4000,
);

/// Index of a peer in the simulation, in the order peers were added.
pub type PeerId = usize;

/// The simulation's knobs.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The one seed everything is drawn from.
    pub seed: u64,
    /// Every link's behaviour unless overridden in [`Sim::net_mut`].
    pub link: LinkConfig,
    /// Mean virtual time for a peer to find a block once it has a template.
    pub mean_mine_ms: u64,
    /// Each node's clock is off by a uniform draw in `-max_skew_ms..=max_skew_ms`.
    pub max_skew_ms: u64,
    /// Check every table's cap after every input (cheap; off only for very large runs).
    pub check_invariants: bool,
    /// The caps of every peer's chain state, for peers whose chain is built by the simulator (a
    /// founder, or any peer restarted from its store); peers that learn the election from the
    /// tracker use the defaults.
    pub chain: ChainConfig,
}

impl SimConfig {
    /// A LAN with 500 ms mean block time and up to 2 s of clock skew.
    pub fn new(seed: u64) -> SimConfig {
        SimConfig {
            seed,
            link: LinkConfig::lan(),
            mean_mine_ms: 500,
            max_skew_ms: 2_000,
            check_invariants: true,
            chain: ChainConfig::default(),
        }
    }
}

/// The node settings simulations use: the defaults with periods shortened so that minutes of
/// protocol happen in seconds of virtual time.
pub fn sim_node_config(me: SocketAddr, tracker: Option<SocketAddr>) -> NodeConfig {
    let mut cfg = NodeConfig::new(me);
    cfg.tracker = tracker;
    cfg.gossip_interval_ms = 5_000;
    cfg.peer_silence_ms = 20_000;
    cfg.consensus_interval_ms = 4_000;
    cfg.ban_ms = 30_000;
    cfg.max_peers = 64;
    cfg
}

/// What is scheduled.
#[derive(Debug)]
enum Event {
    /// A datagram arrives at `to`.
    Deliver {
        to: SocketAddr,
        from: SocketAddr,
        bytes: Rc<[u8]>,
        /// Sent by an attack in `from`'s name.
        forged: bool,
    },
    /// A peer's timer, valid while `generation` matches.
    PeerTimer { peer: PeerId, generation: u64 },
    /// A peer's miner finds a block for the job of `generation`.
    Found { peer: PeerId, generation: u64 },
    /// The tracker's timer.
    TrackerTimer { generation: u64 },
    /// A hostile peer's own clock.
    AdversaryTick { index: usize },
    /// An attack's own clock.
    AttackTick { index: usize },
}

/// An event and when it happens.
#[derive(Debug)]
struct Scheduled {
    at: u64,
    seq: u64,
    event: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    /// Reversed, so the max-heap pops the earliest `(at, seq)` first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// Who lives at an address. Looked up by address only, never iterated.
#[derive(Debug, Clone, Copy)]
enum Endpoint {
    Peer(PeerId),
    Tracker,
    Adversary(usize),
    Attack(usize),
}

/// One simulated peer: its core while it runs, and what outlives a crash.
struct PeerSlot {
    addr: SocketAddr,
    cfg: NodeConfig,
    node: Option<Node>,
    /// Blocks persisted, in order: the store a restart rebuilds from.
    store_blocks: Vec<Block>,
    /// Votes persisted.
    store_votes: Vec<Vote>,
    skew_ms: i64,
    timer_generation: u64,
    armed: Option<u64>,
    mine_generation: u64,
    job: Option<BlockTemplate>,
    /// Left the election for good (churn).
    gone: bool,
    /// Datagrams delivered to it, over all its lives.
    datagrams_in: u64,
    /// Datagrams it sent, over all its lives.
    datagrams_out: u64,
    restarts: u32,
}

struct TrackerSlot {
    config: votechain_tracker::Config,
    registry: Option<Registry<ChaCha8Rng>>,
    skew_ms: i64,
    timer_generation: u64,
    armed: Option<u64>,
}

struct AdversarySlot {
    actor: Box<dyn Adversary>,
    tick_scheduled: bool,
    /// A hostile peer at its own address receives what is sent there, so it echoes cookies like
    /// any peer: its misbehaviour is then provably its own.
    cookies: Cookies,
}

/// Counters of the whole run.
#[derive(Debug, Clone, Default)]
pub struct SimStats {
    /// Events handled.
    pub events: u64,
    /// Datagrams delivered to a running endpoint.
    pub delivered: u64,
    /// Datagrams that arrived at a crashed or departed endpoint.
    pub to_down: u64,
    /// Blocks found by simulated miners.
    pub found: u64,
    /// Most outputs one `handle_datagram` call produced.
    pub max_outputs_per_datagram: usize,
}

/// The simulation. See the module docs.
pub struct Sim {
    cfg: SimConfig,
    ballot: Ballot,
    election: Hash,
    now: u64,
    rng: ChaCha8Rng,
    next_seq: u64,
    heap: BinaryHeap<Scheduled>,
    net: Network,
    peers: Vec<PeerSlot>,
    tracker: Option<TrackerSlot>,
    adversaries: Vec<AdversarySlot>,
    attacks: Vec<forge::AttackSlot>,
    /// Who paid for which bytes, bans, acknowledgements: what the promises are checked on.
    ledger: Ledger,
    /// While a forged datagram is being handled, the address it was forged as: datagrams sent
    /// there meanwhile are answers to the forgery.
    answering_forged: Option<SocketAddr>,
    endpoints: HashMap<SocketAddr, Endpoint>,
    /// Peers that received datagrams at the current instant and owe an `end_of_burst`.
    burst: BTreeSet<PeerId>,
    /// Every vote an honest peer acknowledged (`submit_vote` returned `Pending`).
    acked: BTreeMap<Hash, Vote>,
    digest: DefaultHasher,
    stats: SimStats,
    /// Peers whose inputs and outputs are printed (`SIM_TRACE=3,5`, or `all`), for debugging a
    /// replayed seed.
    traced: Option<BTreeSet<PeerId>>,
}

impl Sim {
    /// An empty simulation of the election `ballot`.
    pub fn new(cfg: SimConfig, ballot: Ballot) -> Sim {
        let election = Block::genesis(&ballot)
            .expect("simulations use a valid ballot")
            .hash();
        Sim {
            rng: ChaCha8Rng::seed_from_u64(cfg.seed),
            net: Network::new(cfg.link),
            cfg,
            ballot,
            election,
            now: 0,
            next_seq: 0,
            heap: BinaryHeap::new(),
            peers: Vec::new(),
            tracker: None,
            adversaries: Vec::new(),
            attacks: Vec::new(),
            ledger: Ledger::default(),
            answering_forged: None,
            endpoints: HashMap::new(),
            burst: BTreeSet::new(),
            acked: BTreeMap::new(),
            digest: DefaultHasher::new(),
            stats: SimStats::default(),
            traced: std::env::var("SIM_TRACE").ok().map(|v| {
                if v.trim() == "all" {
                    (0..100_000).collect()
                } else {
                    v.split(',').filter_map(|x| x.trim().parse().ok()).collect()
                }
            }),
        }
    }

    /// The address of the `i`-th peer: 10.1.x.y:6000.
    pub fn peer_addr_of(i: usize) -> SocketAddr {
        let ip = std::net::Ipv4Addr::new(10, 1, (i / 250) as u8, (i % 250 + 1) as u8);
        SocketAddr::new(ip.into(), 6000)
    }

    // ----- building -----

    /// Starts the tracker at [`TRACKER_ADDR`].
    pub fn add_tracker(&mut self) -> SocketAddr {
        let skew_ms = self.draw_skew();
        let config = votechain_tracker::Config::new(self.ballot.clone());
        self.tracker = Some(TrackerSlot {
            config,
            registry: None,
            skew_ms,
            timer_generation: 0,
            armed: None,
        });
        self.endpoints.insert(TRACKER_ADDR, Endpoint::Tracker);
        self.restart_tracker();
        TRACKER_ADDR
    }

    /// Adds a peer with [`sim_node_config`] (registered with the tracker if there is one),
    /// adjusted by `tweak`; it starts within 200 ms.
    pub fn add_peer(&mut self, tweak: impl FnOnce(&mut NodeConfig)) -> PeerId {
        let id = self.peers.len();
        let addr = Self::peer_addr_of(id);
        let tracker = self.tracker.as_ref().map(|_| TRACKER_ADDR);
        let mut cfg = sim_node_config(addr, tracker);
        tweak(&mut cfg);
        let skew_ms = self.draw_skew();
        self.peers.push(PeerSlot {
            addr,
            cfg,
            node: None,
            store_blocks: Vec::new(),
            store_votes: Vec::new(),
            skew_ms,
            timer_generation: 0,
            armed: None,
            mine_generation: 0,
            job: None,
            gone: false,
            datagrams_in: 0,
            datagrams_out: 0,
            restarts: 0,
        });
        self.endpoints.insert(addr, Endpoint::Peer(id));
        self.boot_peer(id);
        id
    }

    /// Adds a peer whose store already holds the genesis block, as if it had run before: the
    /// founder of an election without a tracker, whom the others fetch the election from.
    pub fn add_founder(&mut self, tweak: impl FnOnce(&mut NodeConfig)) -> PeerId {
        let genesis = Block::genesis(&self.ballot).expect("simulations use a valid ballot");
        let id = self.add_peer(tweak);
        self.crash_peer(id);
        self.peers[id].store_blocks.push(genesis);
        self.boot_peer(id);
        id
    }

    /// Turns peer `id`'s miner on or off, as its console's `mine` command does.
    pub fn set_mining(&mut self, id: PeerId, on: bool) {
        let local = self.local_time(self.peers[id].skew_ms);
        if let Some(node) = self.peers[id].node.as_mut() {
            node.set_mining(local, on);
            self.drain_peer(id, false);
        }
    }

    /// Adds a hostile peer; its first tick comes at once.
    pub fn add_adversary(&mut self, actor: Box<dyn Adversary>) -> SocketAddr {
        let addr = actor.addr();
        let index = self.adversaries.len();
        self.adversaries.push(AdversarySlot {
            actor,
            tick_scheduled: true,
            cookies: Cookies::default(),
        });
        self.endpoints.insert(addr, Endpoint::Adversary(index));
        self.schedule(self.now, Event::AdversaryTick { index });
        addr
    }

    fn draw_skew(&mut self) -> i64 {
        let max = self.cfg.max_skew_ms as i64;
        if max == 0 {
            0
        } else {
            self.rng.gen_range(-max..=max)
        }
    }

    // ----- accessors -----

    /// Virtual time, in milliseconds since the start.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// The election id.
    pub fn election(&self) -> Hash {
        self.election
    }

    /// The ballot.
    pub fn ballot(&self) -> &Ballot {
        &self.ballot
    }

    /// The network, to change links and partitions.
    pub fn net_mut(&mut self) -> &mut Network {
        &mut self.net
    }

    /// The network, to read its counters.
    pub fn net(&self) -> &Network {
        &self.net
    }

    /// The simulation's RNG, for scenarios that draw their faults from the same seed.
    pub fn rng(&mut self) -> &mut ChaCha8Rng {
        &mut self.rng
    }

    /// Counters of the run.
    pub fn stats(&self) -> &SimStats {
        &self.stats
    }

    /// Number of peers ever added.
    pub fn n_peers(&self) -> usize {
        self.peers.len()
    }

    /// The address of peer `id`.
    pub fn peer_addr(&self, id: PeerId) -> SocketAddr {
        self.peers[id].addr
    }

    /// Peer `id`'s core, while it runs.
    pub fn node(&self, id: PeerId) -> Option<&Node> {
        self.peers[id].node.as_ref()
    }

    /// Peers currently running, in id order.
    pub fn running(&self) -> Vec<PeerId> {
        (0..self.peers.len())
            .filter(|i| self.peers[*i].node.is_some())
            .collect()
    }

    /// True when peer `id` left for good.
    pub fn is_gone(&self, id: PeerId) -> bool {
        self.peers[id].gone
    }

    /// Datagrams peer `id` received and sent over all its lives.
    pub fn peer_traffic(&self, id: PeerId) -> (u64, u64) {
        (self.peers[id].datagrams_in, self.peers[id].datagrams_out)
    }

    /// Every vote an honest peer acknowledged.
    pub fn acked(&self) -> &BTreeMap<Hash, Vote> {
        &self.acked
    }

    /// A digest of every event handled and every output produced so far: equal digests mean
    /// (with overwhelming probability) identical runs.
    pub fn digest(&self) -> u64 {
        self.digest.finish()
    }

    /// True when the tracker is running.
    pub fn tracker_up(&self) -> bool {
        self.tracker.as_ref().is_some_and(|t| t.registry.is_some())
    }

    /// The tracker core, while it runs.
    pub fn tracker(&self) -> Option<&Registry<ChaCha8Rng>> {
        self.tracker.as_ref().and_then(|t| t.registry.as_ref())
    }

    /// Hands `blocks` to every hostile peer (e.g. an honest chain to replay).
    pub fn feed_adversaries(&mut self, blocks: &[Block]) {
        for a in &mut self.adversaries {
            a.actor.feed_chain(blocks);
        }
    }

    // ----- faults and commands -----

    /// Crashes peer `id`: its core is dropped with its timers and mining job; its store stays.
    pub fn crash_peer(&mut self, id: PeerId) {
        let slot = &mut self.peers[id];
        if slot.node.take().is_none() {
            return;
        }
        slot.timer_generation += 1;
        slot.mine_generation += 1;
        slot.armed = None;
        slot.job = None;
        self.burst.remove(&id);
        self.print(id, || "crashed".into());
        self.trace("crash", id, &[]);
    }

    /// Restarts a crashed peer from its own store, with a fresh seed.
    pub fn restart_peer(&mut self, id: PeerId) {
        if self.peers[id].node.is_some() || self.peers[id].gone {
            return;
        }
        self.peers[id].restarts += 1;
        self.boot_peer(id);
    }

    fn boot_peer(&mut self, id: PeerId) {
        let seed: u64 = self.rng.gen();
        let local = self.local_time(self.peers[id].skew_ms);
        let slot = &mut self.peers[id];
        let chain = match recover::rebuild(
            slot.store_blocks.clone(),
            slot.store_votes.clone(),
            self.cfg.chain.clone(),
            local,
        ) {
            Ok(Some((chain, _report))) => Some(chain),
            Ok(None) => None,
            Err(e) => panic!("peer {id} cannot rebuild from its own store: {e}"),
        };
        slot.node = Some(Node::new(slot.cfg.clone(), seed, chain));
        let start = self.now + self.rng.gen_range(0..200);
        self.trace("boot", id, &seed.to_be_bytes());
        self.arm_peer_at(id, start);
    }

    /// Peer `id` leaves the election for good (LEAVE_PEER to the tracker, then gone).
    pub fn leave_peer(&mut self, id: PeerId) {
        if let Some(node) = self.peers[id].node.as_mut() {
            node.leave();
            self.drain_peer(id, false);
        }
        self.crash_peer(id);
        self.peers[id].gone = true;
    }

    /// Crashes the tracker (it keeps no state worth saving).
    pub fn crash_tracker(&mut self) {
        if let Some(t) = self.tracker.as_mut() {
            t.registry = None;
            t.timer_generation += 1;
            t.armed = None;
        }
        self.trace("crash-tracker", 0u8, &[]);
    }

    /// Starts a fresh tracker on the same address.
    pub fn restart_tracker(&mut self) {
        let seed: u64 = self.rng.gen();
        let Some(t) = self.tracker.as_mut() else {
            return;
        };
        if t.registry.is_some() {
            return;
        }
        let registry = Registry::new(t.config.clone(), ChaCha8Rng::seed_from_u64(seed))
            .expect("simulations use a valid tracker configuration");
        t.registry = Some(registry);
        self.trace("boot-tracker", 0u8, &seed.to_be_bytes());
        self.arm_tracker();
    }

    /// Submits `vote` at peer `id` as its console would; an acknowledged vote (`Pending`) is
    /// remembered for the final check.
    pub fn submit_vote(&mut self, id: PeerId, vote: Vote) -> SubmitReply {
        let local = self.local_time(self.peers[id].skew_ms);
        let Some(node) = self.peers[id].node.as_mut() else {
            return SubmitReply::NoElection;
        };
        let reply = node.submit_vote(local, vote.clone());
        self.print(id, || format!("vote {reply:?}"));
        if let SubmitReply::Pending(vote_id) = &reply {
            self.acked.insert(*vote_id, vote);
            self.ledger.acked_by(*vote_id, id);
        }
        self.trace("vote", id, format!("{reply:?}").as_bytes());
        self.drain_peer(id, false);
        reply
    }

    // ----- running -----

    /// Runs every event up to and including virtual time `until`.
    pub fn run_until(&mut self, until: u64) {
        loop {
            let next_at = self.heap.peek().map(|s| s.at);
            match next_at {
                Some(at) if at <= until => {
                    if at > self.now && !self.burst.is_empty() {
                        self.flush_bursts();
                        continue;
                    }
                    let Some(s) = self.heap.pop() else { break };
                    self.now = s.at;
                    self.stats.events += 1;
                    self.handle(s.event);
                }
                _ => {
                    if !self.burst.is_empty() {
                        self.flush_bursts();
                        continue;
                    }
                    self.now = self.now.max(until);
                    return;
                }
            }
        }
    }

    /// Runs for `ms` more virtual milliseconds.
    pub fn run_for(&mut self, ms: u64) {
        self.run_until(self.now + ms);
    }

    fn flush_bursts(&mut self) {
        for id in std::mem::take(&mut self.burst) {
            let local = self.local_time(self.peers[id].skew_ms);
            if let Some(node) = self.peers[id].node.as_mut() {
                node.end_of_burst(local);
                self.drain_peer(id, false);
            }
        }
    }

    fn schedule(&mut self, at: u64, event: Event) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Scheduled { at, seq, event });
    }

    fn local_time(&self, skew_ms: i64) -> u64 {
        (EPOCH_MS + self.now).saturating_add_signed(skew_ms)
    }

    fn to_virtual(&self, local: u64, skew_ms: i64) -> u64 {
        (local.saturating_add_signed(-skew_ms)).saturating_sub(EPOCH_MS)
    }

    /// Prints `what` when peer `id` is traced (`SIM_TRACE`).
    fn print(&self, id: PeerId, what: impl FnOnce() -> String) {
        if self.traced.as_ref().is_some_and(|t| t.contains(&id)) {
            eprintln!("[t={:>7}] peer {id}: {}", self.now, what());
        }
    }

    fn trace(&mut self, kind: &str, who: impl std::hash::Hash, data: &[u8]) {
        self.now.hash(&mut self.digest);
        kind.hash(&mut self.digest);
        who.hash(&mut self.digest);
        data.hash(&mut self.digest);
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Deliver {
                to,
                from,
                bytes,
                forged,
            } => {
                self.ledger.on_deliver(to, bytes.len());
                self.answering_forged = forged.then_some(from);
                self.deliver(to, from, &bytes);
                self.answering_forged = None;
            }
            Event::PeerTimer { peer, generation } => {
                let slot = &mut self.peers[peer];
                if slot.timer_generation != generation || slot.node.is_none() {
                    return;
                }
                slot.armed = None;
                let local = self.local_time(self.peers[peer].skew_ms);
                self.trace("timer", peer, &[]);
                if let Some(node) = self.peers[peer].node.as_mut() {
                    node.handle_timeout(local);
                }
                self.drain_peer(peer, false);
            }
            Event::Found { peer, generation } => self.found(peer, generation),
            Event::TrackerTimer { generation } => {
                let Some(t) = self.tracker.as_mut() else {
                    return;
                };
                if t.timer_generation != generation {
                    return;
                }
                t.armed = None;
                let skew_ms = t.skew_ms;
                let local = self.local_time(skew_ms);
                if let Some(r) = self.tracker.as_mut().and_then(|t| t.registry.as_mut()) {
                    r.handle_timeout(local);
                }
                self.trace("tracker-timer", 0u8, &[]);
                self.drain_tracker();
            }
            Event::AdversaryTick { index } => {
                let mut out = Outbox::default();
                let now = self.now;
                let unix_ms = EPOCH_MS + now;
                let slot = &mut self.adversaries[index];
                slot.tick_scheduled = false;
                let next = slot.actor.on_tick(unix_ms, &mut self.rng, &mut out);
                if let Some(delay) = next {
                    self.adversaries[index].tick_scheduled = true;
                    self.schedule(now + delay.max(1), Event::AdversaryTick { index });
                }
                self.send_from_adversary(index, out);
            }
            Event::AttackTick { index } => self.attack_tick(index),
        }
    }

    fn deliver(&mut self, to: SocketAddr, from: SocketAddr, bytes: &[u8]) {
        let endpoint = self.endpoints.get(&to).copied();
        match endpoint {
            Some(Endpoint::Peer(id)) => {
                let local = self.local_time(self.peers[id].skew_ms);
                let slot = &mut self.peers[id];
                let Some(node) = slot.node.as_mut() else {
                    self.stats.to_down += 1;
                    return;
                };
                slot.datagrams_in += 1;
                self.stats.delivered += 1;
                node.handle_datagram(local, from, bytes);
                self.print(id, || {
                    format!(
                        "<- {from} {}",
                        String::from_utf8_lossy(&bytes[..bytes.len().min(160)])
                    )
                });
                self.trace("deliver", to, bytes);
                self.burst.insert(id);
                self.drain_peer(id, true);
            }
            Some(Endpoint::Tracker) => {
                let Some(t) = self.tracker.as_mut() else {
                    return;
                };
                let local = (EPOCH_MS + self.now).saturating_add_signed(t.skew_ms);
                let Some(registry) = t.registry.as_mut() else {
                    self.stats.to_down += 1;
                    return;
                };
                self.stats.delivered += 1;
                registry.handle_datagram(local, from, bytes);
                self.trace("deliver-tracker", from, bytes);
                self.drain_tracker();
            }
            Some(Endpoint::Adversary(index)) => {
                self.stats.delivered += 1;
                let mut out = Outbox::default();
                let unix_ms = EPOCH_MS + self.now;
                let slot = &mut self.adversaries[index];
                slot.cookies.remember(from, bytes);
                slot.actor.on_datagram(unix_ms, from, bytes, &mut out);
                self.send_from_adversary(index, out);
            }
            Some(Endpoint::Attack(index)) => {
                self.stats.delivered += 1;
                self.trace("deliver-attack", to, bytes);
                self.attack_datagram(index, to, from, bytes);
            }
            None => {
                self.stats.to_down += 1;
                self.ledger.on_sink(to, bytes.len());
            }
        }
    }

    fn send_from_adversary(&mut self, index: usize, out: Outbox) {
        let slot = &self.adversaries[index];
        let from = slot.actor.addr();
        let out = out
            .0
            .into_iter()
            .map(|(to, bytes)| (to, slot.cookies.stamp_bytes(to, &bytes)))
            .collect();
        self.send_all(from, out);
    }

    fn send_all(&mut self, from: SocketAddr, out: Vec<(SocketAddr, Vec<u8>)>) {
        for (to, bytes) in out {
            self.send(from, to, bytes.into());
        }
    }

    /// A genuine datagram: `from` really sent it.
    fn send(&mut self, from: SocketAddr, to: SocketAddr, bytes: Rc<[u8]>) {
        let answer = self.answering_forged == Some(to);
        self.ledger.on_send(self.now, from, to, bytes.len(), answer);
        self.transmit(from, to, bytes, false);
    }

    /// Hands a datagram to the network, which decides when (and whether) it arrives.
    fn transmit(&mut self, from: SocketAddr, to: SocketAddr, bytes: Rc<[u8]>, forged: bool) {
        for delay in self.net.fate(&mut self.rng, from, to, bytes.len()) {
            self.schedule(
                self.now + delay,
                Event::Deliver {
                    to,
                    from,
                    bytes: bytes.clone(),
                    forged,
                },
            );
        }
    }

    /// Drains peer `id`'s outputs; `from_datagram` when they answer one `handle_datagram`, whose
    /// work is then bounded.
    fn drain_peer(&mut self, id: PeerId, from_datagram: bool) {
        let from = self.peers[id].addr;
        let mut n_outputs = 0usize;
        let mut blocks_joined = 0usize;
        loop {
            let Some(node) = self.peers[id].node.as_mut() else {
                return;
            };
            let Some(output) = node.poll_output() else {
                break;
            };
            n_outputs += 1;
            match output {
                Output::Send { to, bytes } => {
                    self.print(id, || {
                        format!(
                            "-> {to} {}",
                            String::from_utf8_lossy(&bytes[..bytes.len().min(160)])
                        )
                    });
                    self.peers[id].datagrams_out += 1;
                    self.trace("send", (id, to), &bytes.len().to_be_bytes());
                    self.send(from, to, bytes.into());
                }
                Output::Persist(Record::Block(block)) => {
                    blocks_joined += 1;
                    self.trace("persist-block", id, &block.hash().0);
                    self.peers[id].store_blocks.push(block);
                }
                Output::Persist(Record::Vote(vote)) => {
                    self.trace("persist-vote", id, &vote.id().0);
                    self.peers[id].store_votes.push(vote);
                }
                Output::Mine(job) => {
                    self.print(id, || {
                        format!(
                            "mine {:?}",
                            job.as_ref().map(|t| (t.header().height, t.votes().len()))
                        )
                    });
                    let slot = &mut self.peers[id];
                    slot.mine_generation += 1;
                    let generation = slot.mine_generation;
                    let mining = job.is_some();
                    slot.job = job;
                    self.trace("mine", id, &[u8::from(mining)]);
                    if mining {
                        let delay = exponential(&mut self.rng, self.cfg.mean_mine_ms).max(1);
                        self.schedule(
                            self.now + delay,
                            Event::Found {
                                peer: id,
                                generation,
                            },
                        );
                    }
                }
                Output::Event(event) => {
                    self.print(id, || format!("event {event:?}"));
                    if let NodeEvent::PeerBanned { peer, reason } = &event {
                        self.ledger.on_ban(self.now, id, *peer, reason);
                    }
                    self.trace("event", id, format!("{event:?}").as_bytes());
                }
            }
        }
        if from_datagram {
            self.stats.max_outputs_per_datagram =
                self.stats.max_outputs_per_datagram.max(n_outputs);
        }
        if self.cfg.check_invariants {
            self.check_peer_invariants(id, from_datagram, n_outputs, blocks_joined);
        }
        self.rearm_peer(id);
    }

    /// Tables within their caps; one datagram's outputs bounded by a constant per block that
    /// joined the tree (a block is relayed to every peer once).
    fn check_peer_invariants(
        &self,
        id: PeerId,
        from_datagram: bool,
        n_outputs: usize,
        blocks_joined: usize,
    ) {
        let Some(node) = self.peers[id].node.as_ref() else {
            return;
        };
        let cfg = node.config();
        assert!(
            node.peers().len() <= cfg.max_peers,
            "peer {id}: {} peers over the cap {} at t={}",
            node.peers().len(),
            cfg.max_peers,
            self.now
        );
        if let Some(chain) = node.chain() {
            let s = chain.stats();
            let caps = ChainConfig::default();
            assert!(
                s.orphans <= caps.max_orphans
                    && s.pending <= caps.max_pending_votes
                    && s.side_blocks <= caps.max_side_blocks
                    && s.rejections <= caps.max_rejections,
                "peer {id}: chain table over its cap at t={}: {s:?}",
                self.now
            );
        }
        if from_datagram {
            let per_block = cfg.max_peers + 2;
            let bound = MAX_CHAIN_BATCH as usize + 16 + per_block * (1 + blocks_joined);
            assert!(
                n_outputs <= bound,
                "peer {id}: one datagram produced {n_outputs} outputs (bound {bound}) at t={}",
                self.now
            );
        }
    }

    fn rearm_peer(&mut self, id: PeerId) {
        let Some(node) = self.peers[id].node.as_ref() else {
            return;
        };
        let local = node.poll_timeout();
        let at = self.to_virtual(local, self.peers[id].skew_ms).max(self.now);
        self.arm_peer_at(id, at);
    }

    fn arm_peer_at(&mut self, id: PeerId, at: u64) {
        let slot = &mut self.peers[id];
        // A timer already armed earlier stays: when it fires, the core finds nothing due (an
        // early `handle_timeout` is harmless) and the later deadline is armed then. Re-arming
        // on every later deadline filled the heap with stale timers.
        if slot.armed.is_some_and(|armed| armed <= at) {
            return;
        }
        slot.timer_generation += 1;
        slot.armed = Some(at);
        let generation = slot.timer_generation;
        // A deadline already due fires in the next millisecond, so a core that keeps asking
        // for "now" cannot stall virtual time.
        let at = if at <= self.now { self.now + 1 } else { at };
        self.schedule(
            at,
            Event::PeerTimer {
                peer: id,
                generation,
            },
        );
    }

    fn drain_tracker(&mut self) {
        let mut sends = Vec::new();
        let mut events = Vec::new();
        let Some(registry) = self.tracker.as_mut().and_then(|t| t.registry.as_mut()) else {
            return;
        };
        while let Some(t) = registry.poll_transmit() {
            sends.push(t);
        }
        while let Some(e) = registry.poll_event() {
            events.push(e);
        }
        for e in events {
            self.trace("tracker-event", 0u8, format!("{e:?}").as_bytes());
        }
        for t in sends {
            self.trace("tracker-send", t.destination, &t.payload);
            self.send(TRACKER_ADDR, t.destination, t.payload.into());
        }
        self.arm_tracker();
    }

    fn arm_tracker(&mut self) {
        let Some(t) = self.tracker.as_mut() else {
            return;
        };
        let Some(registry) = t.registry.as_mut() else {
            return;
        };
        let skew = t.skew_ms;
        let Some(local) = registry.poll_timeout() else {
            t.armed = None;
            return;
        };
        let at = (local.saturating_add_signed(-skew))
            .saturating_sub(EPOCH_MS)
            .max(self.now + 1);
        if t.armed.is_some_and(|armed| armed <= at) {
            return;
        }
        t.timer_generation += 1;
        t.armed = Some(at);
        let generation = t.timer_generation;
        self.schedule(at, Event::TrackerTimer { generation });
    }

    /// A simulated miner finished: search a nonce for real (the ballot's difficulty is tiny in
    /// simulations) and hand the block to the node.
    fn found(&mut self, id: PeerId, generation: u64) {
        let slot = &mut self.peers[id];
        if slot.mine_generation != generation || slot.node.is_none() {
            return;
        }
        let Some(template) = slot.job.take() else {
            return;
        };
        let midstate = template.midstate();
        let difficulty = template.header().difficulty;
        let mut nonce: u64 = self.rng.gen();
        while midstate.hash(nonce).leading_zero_bits() < difficulty {
            nonce = nonce.wrapping_add(1);
        }
        let block = template.seal(nonce);
        self.stats.found += 1;
        self.print(id, || {
            format!("found {} at height {}", block.hash(), block.height())
        });
        self.trace("found", id, &block.hash().0);
        let local = self.local_time(self.peers[id].skew_ms);
        if let Some(node) = self.peers[id].node.as_mut() {
            node.handle_mined(local, block);
        }
        self.drain_peer(id, false);
    }
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim")
            .field("seed", &self.cfg.seed)
            .field("now", &self.now)
            .field("peers", &self.peers.len())
            .finish()
    }
}
