//! The course peer table: who we gossip with, when we last heard of them, and whether they ever
//! talked to us from their own address. Course peers learn each other from GOSSIP, whose
//! `host`/`port` nobody proves, so an entry is only a claim until a datagram comes from that
//! exact address; only such peers receive a GOSSIP_REPLY sent anywhere but the datagram's source
//! (`super::node`). The table is capped, with room kept for peers that talked directly, and
//! forgets peers silent for the course's 60 s; seeds (`--seed`) are never forgotten.

use rand::seq::SliceRandom;
use rand::Rng;
use std::collections::HashMap;
use std::net::SocketAddr;

/// Most peers in the table.
pub const MAX_PEERS: usize = 256;

/// Slots of [`MAX_PEERS`] kept for peers that talked to us from their own address, so forged
/// GOSSIP naming made-up addresses cannot fill the table against real peers.
pub const DIRECT_RESERVE: usize = 64;

/// Longest peer name kept (longer names are cut).
pub const MAX_NAME_CHARS: usize = 64;

/// One course peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoursePeer {
    /// The name it gave in GOSSIP or GOSSIP_REPLY.
    pub name: String,
    /// When we last heard of it: a datagram from it, or a GOSSIP it originated.
    pub last_heard_ms: u64,
    /// When a datagram last came from this exact address (`None`: it never talked to us).
    pub direct_ms: Option<u64>,
    /// Given with `--seed`: never forgotten.
    pub seed: bool,
}

/// The table.
#[derive(Debug, Default)]
pub struct CoursePeers {
    map: HashMap<SocketAddr, CoursePeer>,
}

/// Cuts a name to [`MAX_NAME_CHARS`], control characters shown as U+FFFD (names are printed).
fn short_name(name: &str) -> String {
    crate::peers::printable(&name.chars().take(MAX_NAME_CHARS).collect::<String>())
}

impl CoursePeers {
    /// Adds a seed.
    pub fn add_seed(&mut self, addr: SocketAddr, now_ms: u64) {
        self.map.insert(
            addr,
            CoursePeer {
                name: String::new(),
                last_heard_ms: now_ms,
                direct_ms: None,
                seed: true,
            },
        );
    }

    /// Learns or refreshes `addr` named `name`; `direct`: the datagram came from `addr` itself.
    /// Returns true when the peer is new. A full table refuses newcomers (claims first).
    pub fn learn(&mut self, addr: SocketAddr, name: &str, now_ms: u64, direct: bool) -> bool {
        if let Some(peer) = self.map.get_mut(&addr) {
            peer.last_heard_ms = now_ms;
            if !name.is_empty() {
                peer.name = short_name(name);
            }
            if direct {
                peer.direct_ms = Some(now_ms);
            }
            return false;
        }
        let room = if direct {
            MAX_PEERS
        } else {
            MAX_PEERS - DIRECT_RESERVE
        };
        if self.map.len() >= room {
            return false;
        }
        self.map.insert(
            addr,
            CoursePeer {
                name: short_name(name),
                last_heard_ms: now_ms,
                direct_ms: direct.then_some(now_ms),
                seed: false,
            },
        );
        true
    }

    /// A datagram came from `addr`: refreshes it when it is a peer.
    pub fn heard_from(&mut self, addr: SocketAddr, now_ms: u64) {
        if let Some(peer) = self.map.get_mut(&addr) {
            peer.last_heard_ms = now_ms;
            peer.direct_ms = Some(now_ms);
        }
    }

    /// True when a datagram has come from `addr` itself.
    pub fn has_talked(&self, addr: &SocketAddr) -> bool {
        self.map.get(addr).is_some_and(|p| p.direct_ms.is_some())
    }

    /// True when `addr` is in the table.
    pub fn contains(&self, addr: &SocketAddr) -> bool {
        self.map.contains_key(addr)
    }

    /// Forgets peers not heard of for `silence_ms` (never seeds); returns them.
    pub fn expire(&mut self, now_ms: u64, silence_ms: u64) -> Vec<SocketAddr> {
        let gone: Vec<SocketAddr> = self
            .map
            .iter()
            .filter(|(_, p)| !p.seed && now_ms.saturating_sub(p.last_heard_ms) > silence_ms)
            .map(|(a, _)| *a)
            .collect();
        for a in &gone {
            self.map.remove(a);
        }
        gone
    }

    /// Every peer's address, sorted (deterministic order for the simulator).
    pub fn addrs(&self) -> Vec<SocketAddr> {
        let mut v: Vec<SocketAddr> = self.map.keys().copied().collect();
        v.sort();
        v
    }

    /// Up to `n` peers chosen at random, none of them in `except`.
    pub fn sample(&self, rng: &mut impl Rng, n: usize, except: &[SocketAddr]) -> Vec<SocketAddr> {
        let mut v: Vec<SocketAddr> = self
            .addrs()
            .into_iter()
            .filter(|a| !except.contains(a))
            .collect();
        v.shuffle(rng);
        v.truncate(n);
        v
    }

    /// The peers with their entries, sorted by address.
    pub fn entries(&self) -> Vec<(SocketAddr, CoursePeer)> {
        let mut v: Vec<_> = self.map.iter().map(|(a, p)| (*a, p.clone())).collect();
        v.sort_by_key(|(a, _)| *a);
        v
    }

    /// Number of peers.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True with no peer.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn claims_cannot_fill_the_room_kept_for_peers_that_talked() {
        let mut peers = CoursePeers::default();
        for port in 1..=1_000 {
            peers.learn(a(port), "claimed", 0, false);
        }
        assert_eq!(peers.len(), MAX_PEERS - DIRECT_RESERVE);
        assert!(peers.learn(a(5_000), "real", 0, true));
        assert!(peers.has_talked(&a(5_000)));
        assert!(!peers.has_talked(&a(1)));
    }

    #[test]
    fn silent_peers_go_but_seeds_stay() {
        let mut peers = CoursePeers::default();
        peers.add_seed(a(1), 0);
        peers.learn(a(2), "x", 0, true);
        peers.learn(a(3), "y", 50_000, false);
        assert_eq!(peers.expire(61_000, 60_000), vec![a(2)]);
        assert_eq!(peers.addrs(), vec![a(1), a(3)]);
    }
}
