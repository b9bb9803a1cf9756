//! The simulator for the `w4119` profile: a mixed W4119 network on virtual time. Our tracker
//! core ([`votechain_tracker::Registry`] in the W4119 dialect), our W4119 peer core
//! ([`votechain_peer::w4119::W4119Node`]) and the independent W4119 peer written from the
//! specification ([`votechain_w4119host::Node`], "host" peers below) share one network model
//! ([`crate::net`]: latency, jitter so datagrams reorder, loss, duplication, partitions), one
//! seeded RNG and one event queue, so a seed fixes the whole run.
//!
//! A [`W4119Sim`] drives each core the way its shell does. Our node and the tracker: after
//! every input their outputs are drained at once (`Send` to the network, `Persist` into the
//! peer's simulated store, `Mine` to the simulated miner, `Event` into the peer's log) and one
//! timer is armed from `poll_timeout`. A `Mine(Some(template))` schedules a "found" event after
//! an exponentially distributed delay, at which the driver mines the template for real with
//! [`votechain_w4119::mine`] (difficulty 2: about 256 hashes) and hands the block back with
//! `handle_mined`; a newer `Mine` cancels it. Host peers have no clock: the driver calls
//! `handle_resend` every 0.5 s, as their thread does, and a host vote is mined at once, as the
//! W4119 peer does, with the block timestamped from virtual time.
//!
//! The driver remembers every vote a peer acknowledged (our node's `handle_command` returned
//! `Ok`, or a host mined it) and the bytes each address was delivered, so scenarios can demand
//! that every acknowledged vote ends in the common chain and that a stranger got nothing.
//! Our peers can crash and restart from the blocks they persisted.
//!
//! - `w4119/drive.rs`: the event queue, the run loop, delivery, timers and mining.
//! - `w4119/check.rs`: [`ChainView`], the end-of-run properties.

mod check;
mod drive;

pub use check::ChainView;

use crate::net::{LinkConfig, Network};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use votechain_peer::w4119::{W4119Command, W4119Config, W4119Event, W4119Node};
use votechain_tracker::{Config as TrackerConfig, ConfigError, Registry};
use votechain_w4119::{W4119Block, W4119Chain};
use votechain_w4119host::Node as HostNode;

pub use crate::world::{PeerId, EPOCH_MS, TRACKER_ADDR};

/// The port every simulated W4119 peer listens on (each peer has its own IP address).
pub const W4119_PORT: u16 = 5000;

/// The ballot our tracker serves (seed A's, the tracker's demo ballot).
pub const BALLOT: [&str; 3] = ["Adam", "Bob", "Catherine"];

/// Between two `handle_resend` calls of a host peer (the W4119 peer resends every 0.5 s).
pub const HOST_RESEND_MS: u64 = 500;

/// The knobs of a W4119 simulation.
#[derive(Debug, Clone)]
pub struct W4119SimConfig {
    /// The one seed everything is drawn from.
    pub seed: u64,
    /// Every link's behaviour unless overridden in [`W4119Sim::net_mut`].
    pub link: LinkConfig,
    /// Leading '0' hex characters of a valid block hash, for every peer (W4119: 2).
    pub difficulty: u32,
    /// Mean virtual time our node takes to mine a block once it has a template.
    pub mean_mine_ms: u64,
    /// Consecutive unanswered POKEs after which the tracker evicts a peer (seed A: 3). A host
    /// peer never registers again once evicted, as the W4119 peer does not.
    pub max_missed: u32,
}

impl W4119SimConfig {
    /// A LAN, difficulty 2, 300 ms mean mining time, seed A's eviction after 3 POKEs.
    pub fn new(seed: u64) -> W4119SimConfig {
        W4119SimConfig {
            seed,
            link: LinkConfig::lan(),
            difficulty: votechain_w4119::limits::DEFAULT_DIFFICULTY,
            mean_mine_ms: 300,
            max_missed: 3,
        }
    }
}

/// A vote some peer acknowledged: our node accepted the command, or a host mined it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckedVote {
    /// The peer that acknowledged it.
    pub peer: PeerId,
    /// The voter.
    pub voter: String,
    /// The choice.
    pub choice: String,
}

/// Counters of the whole run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct W4119SimStats {
    /// Events handled.
    pub events: u64,
    /// Datagrams delivered to someone living at their address.
    pub delivered: u64,
    /// Blocks our simulated miners found.
    pub found: u64,
    /// Blocks our nodes handed to `Persist`.
    pub persisted: u64,
}

/// Which implementation a peer runs.
#[derive(Debug)]
enum Core {
    /// Our W4119 node; boxed, it is far larger than the host's.
    Ours(Box<W4119Node>),
    /// The independent W4119 peer.
    Host(Box<HostNode>),
}

/// One simulated W4119 peer.
#[derive(Debug)]
struct SimPeer {
    /// Where it listens.
    addr: SocketAddr,
    /// Whether it runs our node (else a host), crashed or not.
    ours: bool,
    /// The running core; `None` while crashed.
    core: Option<Core>,
    /// Bumped on every arming of our node's timer (and on a crash): only the event of the
    /// current generation fires.
    timer_generation: u64,
    /// The virtual time our node's timer is armed for.
    timer_at: Option<u64>,
    /// Bumped on every `Mine` (and on a crash): only the "found" event of the current job counts.
    mine_generation: u64,
    /// The template being mined, if any.
    job: Option<votechain_w4119::BlockTemplate>,
    /// What our node persisted, replayed as the store does: genesis first, a record at index
    /// `h` replacing everything from `h` on.
    store: Vec<W4119Block>,
    /// Its own votes as the store keeps them (`W4119Record::OwnVote`), oldest first.
    own_votes: Vec<votechain_w4119::Transaction>,
    /// Every event our node reported, with the virtual time.
    log: Vec<(u64, W4119Event)>,
}

/// Who lives at an address.
#[derive(Debug, Clone, Copy)]
enum Endpoint {
    /// The tracker.
    Tracker,
    /// A peer, ours or a host.
    Peer(PeerId),
}

/// A simulation of a mixed W4119 network. See the module docs.
pub struct W4119Sim {
    /// The knobs it was built with.
    cfg: W4119SimConfig,
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
    /// Our tracker core.
    tracker: Registry<StdRng>,
    /// Bumped on every arming of the tracker's timer.
    tracker_generation: u64,
    /// The virtual time the tracker's timer is armed for.
    tracker_at: Option<u64>,
    /// The peers, indexed by [`PeerId`].
    peers: Vec<SimPeer>,
    /// Who lives at each address (looked up, never iterated).
    endpoints: HashMap<SocketAddr, Endpoint>,
    /// Bytes delivered to each address, by sender: `(to, from) → bytes`.
    delivered_bytes: BTreeMap<(SocketAddr, SocketAddr), u64>,
    /// Every vote a peer acknowledged, in order.
    acked: Vec<AckedVote>,
    /// Print every delivery and event (`SIM_TRACE` set).
    printing: bool,
    /// Counters of the run.
    stats: W4119SimStats,
}

impl W4119Sim {
    /// A simulation holding only our tracker (the [`BALLOT`], the W4119 dialect), at
    /// [`TRACKER_ADDR`]; `Err` when the tracker refuses its settings (a zero `max_missed`).
    pub fn new(cfg: W4119SimConfig) -> Result<W4119Sim, ConfigError> {
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        let mut tracker_config = TrackerConfig::demo();
        tracker_config.dialect = Arc::new(votechain_proto::dialect::W4119);
        tracker_config.max_missed = cfg.max_missed;
        // As `tracker --profile w4119` runs.
        tracker_config.list_refresh_ms = Some(votechain_tracker::config::W4119_LIST_REFRESH_MS);
        let tracker = Registry::new(tracker_config, StdRng::seed_from_u64(rng.gen()))?;
        let mut sim = W4119Sim {
            net: Network::new(cfg.link),
            cfg,
            now: 0,
            rng,
            queue: BTreeMap::new(),
            next_seq: 0,
            tracker,
            tracker_generation: 0,
            tracker_at: None,
            peers: Vec::new(),
            endpoints: HashMap::from([(TRACKER_ADDR, Endpoint::Tracker)]),
            delivered_bytes: BTreeMap::new(),
            acked: Vec::new(),
            printing: std::env::var_os("SIM_TRACE").is_some(),
            stats: W4119SimStats::default(),
        };
        sim.drain_tracker();
        Ok(sim)
    }

    /// The address peer number `id` gets: its own IP, [`W4119_PORT`].
    pub fn addr_of(id: PeerId) -> SocketAddr {
        let [_, _, hi, lo] = u32::try_from(id + 1).unwrap_or(u32::MAX).to_be_bytes();
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 3, hi, lo)), W4119_PORT)
    }

    /// Adds one of our W4119 nodes with an empty chain, started now.
    pub fn add_ours(&mut self) -> PeerId {
        let chain = W4119Chain::new(self.cfg.difficulty);
        let id = self.peers.len();
        let node = self.our_node(id, chain);
        self.push_peer(Core::Ours(Box::new(node)))
    }

    /// Adds a host W4119 peer (the independent implementation), registering with the tracker.
    pub fn add_host(&mut self) -> PeerId {
        let id = self.peers.len();
        let difficulty = usize::try_from(self.cfg.difficulty).unwrap_or(usize::MAX);
        let node = HostNode::new(W4119Sim::addr_of(id), TRACKER_ADDR, difficulty, true, true);
        self.push_peer(Core::Host(Box::new(node)))
    }

    /// Our node for peer `id` on `chain`, its RNG seeded from the simulation's.
    fn our_node(&mut self, id: PeerId, chain: W4119Chain) -> W4119Node {
        let mut config = W4119Config::new(TRACKER_ADDR, W4119Sim::addr_of(id));
        config.difficulty = self.cfg.difficulty;
        config.epoch_unix_ms = EPOCH_MS;
        config.rng_seed = self.rng.gen();
        let own = self.peers.get(id).map_or(&[][..], |p| &p.own_votes[..]);
        W4119Node::new(config, chain, own)
    }

    fn push_peer(&mut self, core: Core) -> PeerId {
        let id = self.peers.len();
        let addr = W4119Sim::addr_of(id);
        self.peers.push(SimPeer {
            addr,
            ours: matches!(core, Core::Ours(_)),
            core: Some(core),
            timer_generation: 0,
            timer_at: None,
            mine_generation: 0,
            job: None,
            store: vec![votechain_w4119::genesis()],
            own_votes: Vec::new(),
            log: Vec::new(),
        });
        self.endpoints.insert(addr, Endpoint::Peer(id));
        self.start_peer(id);
        id
    }

    /// A vote at peer `id` now: our node's console command, or a host's `vote` (mined at once
    /// and sent to every peer it lists). An acknowledged vote is remembered; our node's refusal
    /// is returned as its sentence.
    pub fn vote(&mut self, id: PeerId, voter: &str, choice: &str) -> Result<(), String> {
        let now = self.now;
        let stamp = votechain_w4119host::clock::format_timestamp((EPOCH_MS + now) / 1_000);
        let result = match self.peers[id].core.as_mut() {
            None => return Err(format!("peer {id} is down")),
            Some(Core::Ours(node)) => node.handle_command(
                now,
                W4119Command::Vote {
                    voter: voter.to_owned(),
                    choice: choice.to_owned(),
                },
            ),
            Some(Core::Host(node)) => {
                let (_, out) = node.vote(voter, choice, &stamp);
                self.send_host(id, out);
                Ok(())
            }
        };
        self.drain_ours(id);
        if result.is_ok() {
            self.acked.push(AckedVote {
                peer: id,
                voter: voter.to_owned(),
                choice: choice.to_owned(),
            });
        }
        result
    }

    /// Crashes peer `id`: it stops at once, losing everything but its store (what it was
    /// mining, its pending votes, its timers); datagrams to it are lost until it restarts.
    pub fn crash(&mut self, id: PeerId) {
        let peer = &mut self.peers[id];
        peer.core = None;
        peer.job = None;
        peer.timer_at = None;
        peer.timer_generation += 1;
        peer.mine_generation += 1;
    }

    /// Restarts our crashed peer `id` from the blocks it persisted, as `open_w4119_node` does
    /// from its store; returns the length of the chain it recovered.
    pub fn restart(&mut self, id: PeerId) -> Result<usize, String> {
        if self.peers[id].core.is_some() || !self.peers[id].ours {
            return Err(format!("peer {id} is running or is not one of ours"));
        }
        let mut chain = W4119Chain::new(self.cfg.difficulty);
        for block in self.peers[id].store.iter().skip(1).cloned() {
            chain
                .try_append(block)
                .map_err(|e| format!("peer {id}'s store does not replay: {e}"))?;
        }
        let len = chain.len();
        let node = self.our_node(id, chain);
        self.peers[id].core = Some(Core::Ours(Box::new(node)));
        self.start_peer(id);
        Ok(len)
    }

    /// Sends `bytes` to `to` from `from` now, through the network, as a stranger or forger
    /// would (`from` need not be anyone's address).
    pub fn inject(&mut self, from: SocketAddr, to: SocketAddr, bytes: &[u8]) {
        self.transmit(from, to, bytes.to_vec());
    }

    /// Virtual time, in milliseconds since the start.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Number of peers added.
    pub fn n_peers(&self) -> usize {
        self.peers.len()
    }

    /// Peer `id`'s address.
    pub fn peer_addr(&self, id: PeerId) -> SocketAddr {
        self.peers[id].addr
    }

    /// Whether peer `id` is one of our nodes (else a host).
    pub fn is_ours(&self, id: PeerId) -> bool {
        self.peers[id].ours
    }

    /// Peer `id`'s running node when it is ours.
    pub fn ours(&self, id: PeerId) -> Option<&W4119Node> {
        match &self.peers[id].core {
            Some(Core::Ours(node)) => Some(node),
            _ => None,
        }
    }

    /// Peer `id`'s running node when it is a host.
    pub fn host(&self, id: PeerId) -> Option<&HostNode> {
        match &self.peers[id].core {
            Some(Core::Host(node)) => Some(node),
            _ => None,
        }
    }

    /// The blocks our peer `id` persisted, genesis first.
    pub fn stored(&self, id: PeerId) -> &[W4119Block] {
        &self.peers[id].store
    }

    /// Every event our peer `id` reported, with the virtual time.
    pub fn events_of(&self, id: PeerId) -> &[(u64, W4119Event)] {
        &self.peers[id].log
    }

    /// Every vote a peer acknowledged, in order.
    pub fn acked(&self) -> &[AckedVote] {
        &self.acked
    }

    /// Our tracker core.
    pub fn tracker(&self) -> &Registry<StdRng> {
        &self.tracker
    }

    /// Bytes delivered to `to` from `from`, or from anyone when `from` is `None`.
    pub fn bytes_delivered_to(&self, to: SocketAddr, from: Option<SocketAddr>) -> u64 {
        self.delivered_bytes
            .range((to, SocketAddr::from(([0, 0, 0, 0], 0)))..)
            .take_while(|((t, _), _)| *t == to)
            .filter(|((_, f), _)| from.is_none_or(|from| from == *f))
            .map(|(_, n)| *n)
            .sum()
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
    pub fn stats(&self) -> &W4119SimStats {
        &self.stats
    }
}

impl std::fmt::Debug for W4119Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("W4119Sim")
            .field("seed", &self.cfg.seed)
            .field("now", &self.now)
            .field("peers", &self.peers.len())
            .finish()
    }
}
