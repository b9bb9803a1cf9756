//! The tracker's configuration: the election's ballot plus every timing and every cap of the
//! registry, with the defaults the `tracker` binary shows in `--help`. A [`Config`] is plain
//! data; [`Config::check`] says whether a registry can be built from it.

use std::sync::Arc;
use votechain_chain::{Ballot, BallotError};
use votechain_proto::dialect::{self, Dialect};
use votechain_proto::EncodeError;

/// Default heartbeat interval: seed A pokes every second.
pub const DEFAULT_HEARTBEAT_MS: u64 = 1_000;
/// Default number of consecutive unanswered heartbeats before eviction (seed A: 3).
pub const DEFAULT_MAX_MISSED: u32 = 3;
/// Default cap on registered peers.
pub const DEFAULT_MAX_PEERS: usize = 16_384;
/// Default cap on the entries of one peer list (fewer when 1,200 bytes are reached first).
pub const DEFAULT_MAX_LIST: usize = 64;
/// Default sustained datagrams per second accepted from one source address.
pub const DEFAULT_RATE_PER_S: u32 = 20;
/// Default burst of datagrams accepted from one source address.
pub const DEFAULT_RATE_BURST: u32 = 40;
/// How often `tracker --profile w4119` repeats the peer list to every member.
pub const W4119_LIST_REFRESH_MS: u64 = 10_000;
/// Default proof of work of the demo ballot, in leading zero bits: about 65,536 hashes per
/// block, a few milliseconds on one core.
pub const DEFAULT_DIFFICULTY: u32 = 16;
/// Title of the demo ballot.
pub const DEMO_TITLE: &str = "Demo election";
/// Options of the demo ballot (seed A's).
pub const DEMO_OPTIONS: &str = "Adam,Bob,Catherine";

/// Everything a registry needs to know besides time and randomness.
#[derive(Debug, Clone)]
pub struct Config {
    /// The wire format peers speak (`votechain_proto::dialect`): the protocol profile's codec.
    pub dialect: Arc<dyn Dialect>,
    /// The election's ballot; its genesis hash is the election id, served in BALLOT_OPTIONS.
    pub ballot: Ballot,
    /// Time between two POKEs to one peer, and the least time between two UPDATE_PEERS rounds.
    pub heartbeat_ms: u64,
    /// Consecutive unanswered POKEs after which a peer is evicted.
    pub max_missed: u32,
    /// Registered peers beyond which a registration is refused (memory and announcement cost).
    pub max_peers: usize,
    /// Most addresses in one REGISTER_ACK or UPDATE_PEERS; the 1,200-byte limit may cut it
    /// shorter.
    pub max_list: usize,
    /// Sustained datagrams per second accepted from one source address.
    pub rate_per_s: u32,
    /// Datagrams one source address may send in a burst.
    pub rate_burst: u32,
    /// Unregistered source addresses tracked by the rate limiter at once; beyond it, datagrams
    /// from new sources are dropped until idle entries are swept.
    pub max_sources: usize,
    /// Without address cookies (w4119): addresses that asked to register and were sent a POKE,
    /// held until they answer it or a few heartbeats pass; beyond it, new registrations are
    /// dropped until some expire.
    pub max_pending: usize,
    /// When set, an UPDATE_PEERS round goes out this often even without a membership change, so
    /// a member that lost one is not left with a stale list for good. W4119 peers never ask
    /// again (`tracker --profile w4119` sets it); native peers have gossip and re-registration.
    pub list_refresh_ms: Option<u64>,
    /// Heartbeat deadlines are rounded up to a multiple of this, so 10,000 peers registered at
    /// scattered instants cost at most `1000 / timer_granularity_ms` wake-ups per second.
    pub timer_granularity_ms: u64,
}

/// Why a configuration cannot drive a registry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The ballot breaks a ballot rule; the rule's own sentence says which (and is said once:
    /// wrapping it in a prefix that repeats it made "X: X").
    #[error(transparent)]
    Ballot(#[from] BallotError),
    /// The ballot does not fit one BALLOT_OPTIONS datagram.
    #[error("ballot does not fit one datagram: {0}")]
    BallotTooLarge(#[from] EncodeError),
    /// A setting that must be positive is zero.
    #[error("{0} must be at least 1")]
    Zero(&'static str),
}

impl Config {
    /// A configuration for `ballot` with every other setting at its default.
    pub fn new(ballot: Ballot) -> Config {
        Config {
            dialect: Arc::new(dialect::Native),
            ballot,
            heartbeat_ms: DEFAULT_HEARTBEAT_MS,
            max_missed: DEFAULT_MAX_MISSED,
            max_peers: DEFAULT_MAX_PEERS,
            max_list: DEFAULT_MAX_LIST,
            rate_per_s: DEFAULT_RATE_PER_S,
            rate_burst: DEFAULT_RATE_BURST,
            max_sources: 65_536,
            max_pending: 4_096,
            list_refresh_ms: None,
            timer_granularity_ms: 10,
        }
    }

    /// The demo ballot (`Adam,Bob,Catherine`, default difficulty) with default settings.
    pub fn demo() -> Config {
        let options: Vec<&str> = DEMO_OPTIONS.split(',').collect();
        Config::new(Ballot::open(DEMO_TITLE, &options, DEFAULT_DIFFICULTY))
    }

    /// `Ok` when a registry can run with these settings (the ballot's size is checked when the
    /// registry encodes it).
    pub fn check(&self) -> Result<(), ConfigError> {
        self.ballot.check()?;
        let positive: [(&'static str, u64); 9] = [
            ("heartbeat interval", self.heartbeat_ms),
            ("max missed heartbeats", self.max_missed.into()),
            ("max peers", self.max_peers as u64),
            ("max list", self.max_list as u64),
            ("rate per second", self.rate_per_s.into()),
            ("rate burst", self.rate_burst.into()),
            ("max sources", self.max_sources as u64),
            ("max pending", self.max_pending as u64),
            ("timer granularity", self.timer_granularity_ms),
        ];
        match positive.iter().find(|(_, v)| *v == 0) {
            Some((name, _)) => Err(ConfigError::Zero(name)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_config_is_valid_and_zeroes_are_refused() {
        let config = Config::demo();
        assert_eq!(config.check(), Ok(()));
        assert_eq!(config.ballot.options, ["Adam", "Bob", "Catherine"]);
        let mut c = config.clone();
        c.heartbeat_ms = 0;
        assert_eq!(c.check(), Err(ConfigError::Zero("heartbeat interval")));
        let mut c = config;
        c.ballot.options.truncate(1);
        assert!(matches!(c.check(), Err(ConfigError::Ballot(_))));
    }
}
