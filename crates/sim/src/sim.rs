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
//!
//! This file holds the configuration and the [`Sim`] itself; the rest is split by concept:
//!
//! - `sim/events.rs`: the event heap and the run loop that dispatches its events.
//! - `sim/clock.rs`: each host's skewed clock and the one-shot timers armed for the cores.
//! - `sim/delivery.rs`: who lives at an address, datagrams handed to the network and delivered.
//! - `sim/peers.rs`: honest peer hosts — adding, crashing, restarting, commands.
//! - `sim/drive.rs`: driving a peer core — its timer, datagrams, outputs, mining, invariants.
//! - `sim/tracker.rs`: the tracker host.
//! - `sim/adversaries.rs`: scripted hostile peers at their own addresses.
//! - `sim/forge.rs`: attacks, which may forge source addresses.
//! - `sim/trace.rs`: the digest of the run and `SIM_TRACE` printing.

mod adversaries;
mod clock;
mod delivery;
mod drive;
mod events;
mod forge;
mod peers;
mod trace;
mod tracker;

use crate::ledger::Ledger;
use crate::net::{LinkConfig, Network};
use delivery::Endpoint;
use events::EventQueue;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use trace::Trace;
use votechain_chain::{Ballot, Block, ChainConfig, Hash, Vote};
use votechain_peer::config::NodeConfig;

pub use crate::world::{PeerId, EPOCH_MS, TRACKER_ADDR};

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
    /// Of `found`, blocks that carry no vote.
    pub found_empty: u64,
    /// Most outputs one `handle_datagram` call produced.
    pub max_outputs_per_datagram: usize,
}

/// The simulation. See the module docs.
pub struct Sim {
    /// The knobs it was built with.
    cfg: SimConfig,
    /// The election every peer and the tracker run.
    ballot: Ballot,
    /// The hash of `ballot`'s genesis block.
    election: Hash,
    /// Virtual time, in milliseconds since the start.
    now: u64,
    /// The one RNG every random choice of the run is drawn from.
    rng: ChaCha8Rng,
    /// What happens next, in `(time, sequence number)` order.
    events: EventQueue,
    /// Links and partitions: decides every datagram's fate.
    net: Network,
    /// Honest peers, indexed by [`PeerId`].
    peers: Vec<peers::PeerSlot>,
    /// The tracker, once added.
    tracker: Option<tracker::TrackerSlot>,
    /// Scripted hostile peers, in the order added.
    adversaries: Vec<adversaries::AdversarySlot>,
    /// Attacks, in the order added.
    attacks: Vec<forge::AttackSlot>,
    /// Who paid for which bytes, bans, acknowledgements: what the promises are checked on.
    ledger: Ledger,
    /// While a forged datagram is being handled, the address it was forged as: datagrams sent
    /// there meanwhile are answers to the forgery.
    answering_forged: Option<SocketAddr>,
    /// Who lives at each address (looked up, never iterated).
    endpoints: HashMap<SocketAddr, Endpoint>,
    /// Peers that received datagrams at the current instant and owe an `end_of_burst`.
    burst: BTreeSet<PeerId>,
    /// Every vote an honest peer acknowledged (`submit_vote` returned `Pending`).
    acked: BTreeMap<Hash, Vote>,
    /// The digest of the run and which peers are printed (`SIM_TRACE`).
    tracing: Trace,
    /// Counters of the run.
    stats: SimStats,
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
            events: EventQueue::default(),
            peers: Vec::new(),
            tracker: None,
            adversaries: Vec::new(),
            attacks: Vec::new(),
            ledger: Ledger::default(),
            answering_forged: None,
            endpoints: HashMap::new(),
            burst: BTreeSet::new(),
            acked: BTreeMap::new(),
            stats: SimStats::default(),
            tracing: Trace::from_env(),
        }
    }

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

    /// Every vote an honest peer acknowledged.
    pub fn acked(&self) -> &BTreeMap<Hash, Vote> {
        &self.acked
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
