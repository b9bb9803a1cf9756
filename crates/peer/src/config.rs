//! The node's tunables, with the defaults a user gets. Every timing and cap lives here so the
//! simulator and the tests can shrink them, and `peer --help` can show them: the defaults the
//! command line offers are the `DEFAULT_*` constants below, the one source of truth for both
//! [`NodeConfig::new`] and the `peer` binary's flags.

use crate::profile::{self, Profile};
use std::net::SocketAddr;
use std::sync::Arc;

/// When to mine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MiningMode {
    /// Never mine.
    Off,
    /// Mine while votes are pending (the default): at once the votes submitted to this peer,
    /// after a grace period those other peers relayed (their submitter mines them first), and
    /// no empty block after them.
    WhenPending,
    /// Mine continuously, empty blocks included (`--mine`): hash power that makes rewriting
    /// the chain costly for an attacker, as miners on the course networks do.
    Always,
}

/// Default interval between our own GOSSIP announcements (the course network uses 30 s).
pub const DEFAULT_GOSSIP_INTERVAL_MS: u64 = 30_000;
/// Default silence after which a gossip-learned peer is dropped (the course network uses 60 s).
pub const DEFAULT_PEER_SILENCE_MS: u64 = 60_000;
/// Default interval between periodic consensus rounds.
pub const DEFAULT_CONSENSUS_INTERVAL_MS: u64 = 60_000;
/// Default blocks asked for per REQUEST_CHAIN during sync.
pub const DEFAULT_SYNC_BATCH: u32 = 64;
/// Default sync requests in flight at once, over all peers.
pub const DEFAULT_SYNC_WINDOW: usize = 8;
/// Default shortest grace before mining a vote another peer relayed ([`NodeConfig::relay_grace_ms`]).
pub const DEFAULT_RELAY_GRACE_MS: u64 = 1_000;
/// Longest grace of the mining stagger, whatever the measured block time: with its random
/// spread a relayed vote waits at most twice this (10 s) before every peer mines it, which keeps
/// vote inclusion within SECURITY.md's bound (P2).
pub const RELAY_GRACE_CAP_MS: u64 = 5_000;

/// Everything a node needs to know that is not learned from the network.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// The protocol profile: wire dialect, chain rules, handshakes ([`crate::profile`]).
    pub profile: Arc<dyn Profile>,
    /// Our own address as peers should reach us (announced in GOSSIP): `--advertise`, the
    /// bound address, or, with `learn_address`, a stand-in until the tracker says better.
    pub me: SocketAddr,
    /// `me` is a stand-in (the socket is bound to an unspecified address such as 0.0.0.0 and
    /// no `--advertise` was given): the address the tracker observes in its proven
    /// REGISTER_ACK replaces it.
    pub learn_address: bool,
    /// The tracker, when there is one.
    pub tracker: Option<SocketAddr>,
    /// Peers to contact at start-up without a tracker (`--seed`).
    pub seeds: Vec<SocketAddr>,
    /// Our display name and miner name.
    pub name: String,
    /// When to mine.
    pub mining: MiningMode,
    /// First retry delay for tracker registration and ballot requests; doubles per attempt.
    pub retry_base_ms: u64,
    /// Longest retry delay.
    pub retry_cap_ms: u64,
    /// Re-register when the tracker has not poked us for this long (it restarted or forgot us).
    pub tracker_silence_ms: u64,
    /// Interval between our own GOSSIP announcements (the course network uses 30 s).
    pub gossip_interval_ms: u64,
    /// Gossip-learned peers silent this long are dropped (the course network uses 60 s).
    pub peer_silence_ms: u64,
    /// Peers a GOSSIP is forwarded to.
    pub gossip_fanout: usize,
    /// Interval between periodic consensus rounds.
    pub consensus_interval_ms: u64,
    /// How long a consensus round collects STATS_REPLY before choosing a chain.
    pub stats_wait_ms: u64,
    /// Blocks asked for per REQUEST_CHAIN during sync.
    pub sync_batch: u32,
    /// Sync requests in flight at once, over all peers.
    pub sync_window: usize,
    /// Sync requests in flight to one peer.
    pub sync_per_peer: usize,
    /// First timeout of a sync request; doubles on each stall up to `sync_timeout_cap_ms`.
    pub sync_timeout_ms: u64,
    /// Longest sync request timeout.
    pub sync_timeout_cap_ms: u64,
    /// Misbehaviour points that get a peer ignored.
    pub strike_limit: u32,
    /// How long a misbehaving peer is ignored.
    pub ban_ms: u64,
    /// Most peers remembered.
    pub max_peers: usize,
    /// Most addresses whose address cookies are remembered (and rate-limit buckets kept).
    pub max_verified: usize,
    /// Capacity of each dedup cache (blocks, votes, gossip ids).
    pub dedup_cap: usize,
    /// Datagrams per second accepted from one source address before dropping.
    pub rate_per_source: u32,
    /// Longest random wait before mining an empty block to break a tie with an equal-work side
    /// branch; the first tie-breaker to propagate settles it for everyone.
    pub tie_break_delay_ms: u64,
    /// The mining stagger: a vote submitted to this peer is mined at once, but one another peer
    /// relayed (or a reorganisation returned) is mined only after a random wait of one to two
    /// graces, the grace being this plus three block times measured here, at most
    /// [`RELAY_GRACE_CAP_MS`]. Its submitter has mined it by then, so one peer
    /// mines each vote instead of all of them racing to tie. 0 mines every vote at once.
    pub relay_grace_ms: u64,
    /// A sync that connects no block for this long is given up, and mining (off while
    /// syncing) resumes on our best chain: the longest anything a remote sends can stop it.
    pub sync_idle_limit_ms: u64,
}

impl NodeConfig {
    /// Defaults for a node reachable at `me`.
    pub fn new(me: SocketAddr) -> NodeConfig {
        NodeConfig {
            profile: Arc::new(profile::Native),
            me,
            learn_address: false,
            tracker: None,
            seeds: Vec::new(),
            name: format!("peer-{}", me.port()),
            mining: MiningMode::WhenPending,
            retry_base_ms: 250,
            retry_cap_ms: 4_000,
            tracker_silence_ms: 5_000,
            gossip_interval_ms: DEFAULT_GOSSIP_INTERVAL_MS,
            peer_silence_ms: DEFAULT_PEER_SILENCE_MS,
            gossip_fanout: 3,
            consensus_interval_ms: DEFAULT_CONSENSUS_INTERVAL_MS,
            stats_wait_ms: 300,
            sync_batch: DEFAULT_SYNC_BATCH,
            sync_window: DEFAULT_SYNC_WINDOW,
            sync_per_peer: 4,
            sync_timeout_ms: 500,
            sync_timeout_cap_ms: 8_000,
            strike_limit: 10,
            ban_ms: 120_000,
            max_peers: 256,
            max_verified: 4_096,
            dedup_cap: 65_536,
            rate_per_source: 20_000,
            tie_break_delay_ms: 1_000,
            relay_grace_ms: DEFAULT_RELAY_GRACE_MS,
            sync_idle_limit_ms: 20_000,
        }
    }
}
