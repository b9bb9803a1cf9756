//! The simulated network: what happens to one datagram between two addresses. Each directed
//! link has a latency distribution (a fixed minimum plus an exponentially distributed jitter, so
//! datagrams overtake each other: reordering), a loss rate and a duplication rate; partitions
//! block directed pairs of addresses. Every random draw comes from the simulator's one RNG, in
//! the order datagrams are sent, so a seed fixes every fate.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

/// How one directed link treats datagrams.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkConfig {
    /// Least one-way delay, in virtual milliseconds.
    pub min_latency_ms: u64,
    /// Mean of the exponentially distributed delay added to the minimum; 0 keeps order.
    pub jitter_ms: u64,
    /// Probability that a datagram is lost.
    pub loss: f64,
    /// Probability that a delivered datagram arrives twice (the copy with its own delay).
    pub duplicate: f64,
}

impl LinkConfig {
    /// A quiet LAN: 2–5 ms, nothing lost or duplicated.
    pub fn lan() -> LinkConfig {
        LinkConfig {
            min_latency_ms: 2,
            jitter_ms: 3,
            loss: 0.0,
            duplicate: 0.0,
        }
    }

    /// A bad WAN: 20 ms plus 30 ms mean jitter, with the given loss and duplication rates.
    pub fn lossy(loss: f64, duplicate: f64) -> LinkConfig {
        LinkConfig {
            min_latency_ms: 20,
            jitter_ms: 30,
            loss,
            duplicate,
        }
    }
}

/// Counters of what the network did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetStats {
    /// Datagrams handed to the network.
    pub sent: u64,
    /// Lost at random.
    pub lost: u64,
    /// Dropped by a partition.
    pub blocked: u64,
    /// Extra copies delivered.
    pub duplicated: u64,
    /// Bytes handed to the network.
    pub bytes: u64,
}

/// Links, their overrides, and partitions.
#[derive(Debug, Clone)]
pub struct Network {
    /// Every link not overridden.
    pub default_link: LinkConfig,
    /// Per directed link `(from, to)` settings.
    links: BTreeMap<(SocketAddr, SocketAddr), LinkConfig>,
    /// Directed pairs `(from, to)` that drop everything.
    blocked: BTreeSet<(SocketAddr, SocketAddr)>,
    /// What happened so far.
    pub stats: NetStats,
}

impl Network {
    /// A network where every link is `default_link` and nothing is partitioned.
    pub fn new(default_link: LinkConfig) -> Network {
        Network {
            default_link,
            links: BTreeMap::new(),
            blocked: BTreeSet::new(),
            stats: NetStats::default(),
        }
    }

    /// Overrides the link `from → to`.
    pub fn set_link(&mut self, from: SocketAddr, to: SocketAddr, link: LinkConfig) {
        self.links.insert((from, to), link);
    }

    /// Blocks `from → to` (one way).
    pub fn block(&mut self, from: SocketAddr, to: SocketAddr) {
        self.blocked.insert((from, to));
    }

    /// Blocks every pair between `a` and `b`, both ways when `two_way`, else only `a → b`.
    pub fn partition(&mut self, a: &[SocketAddr], b: &[SocketAddr], two_way: bool) {
        for x in a {
            for y in b {
                self.blocked.insert((*x, *y));
                if two_way {
                    self.blocked.insert((*y, *x));
                }
            }
        }
    }

    /// Removes every partition.
    pub fn heal(&mut self) {
        self.blocked.clear();
    }

    /// True when some partition is in force.
    pub fn is_partitioned(&self) -> bool {
        !self.blocked.is_empty()
    }

    /// The delays after which copies of a datagram `from → to` arrive: none when it is lost or
    /// blocked, two when it is duplicated.
    pub fn fate(
        &mut self,
        rng: &mut ChaCha8Rng,
        from: SocketAddr,
        to: SocketAddr,
        len: usize,
    ) -> Vec<u64> {
        self.stats.sent += 1;
        self.stats.bytes += len as u64;
        if self.blocked.contains(&(from, to)) {
            self.stats.blocked += 1;
            return Vec::new();
        }
        let link = self
            .links
            .get(&(from, to))
            .copied()
            .unwrap_or(self.default_link);
        if link.loss > 0.0 && rng.gen_bool(link.loss.min(1.0)) {
            self.stats.lost += 1;
            return Vec::new();
        }
        let mut delays = vec![delay(rng, &link)];
        if link.duplicate > 0.0 && rng.gen_bool(link.duplicate.min(1.0)) {
            self.stats.duplicated += 1;
            delays.push(delay(rng, &link));
        }
        delays
    }
}

fn delay(rng: &mut ChaCha8Rng, link: &LinkConfig) -> u64 {
    link.min_latency_ms + exponential(rng, link.jitter_ms)
}

/// A draw from the exponential distribution with mean `mean_ms`, rounded to whole milliseconds.
pub fn exponential(rng: &mut ChaCha8Rng, mean_ms: u64) -> u64 {
    if mean_ms == 0 {
        return 0;
    }
    let u: f64 = rng.gen();
    // 1 − u is in (0, 1], so the logarithm is finite.
    (-(1.0 - u).ln() * mean_ms as f64).round() as u64
}
