//! The peers this node knows: where they came from, when they were last heard, and whether they
//! are ignored for misbehaving. Capped; silent peers expire; a banned peer's datagrams are
//! dropped until its ban ends.

use rand::seq::IteratorRandom;
use rand::Rng;
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// `text` with every control character replaced by U+FFFD, so it prints as it reads.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect()
}

/// "1 vote", "2 votes".
pub fn plural(n: usize, noun: &str) -> String {
    match n {
        1 => format!("1 {noun}"),
        n => format!("{n} {noun}s"),
    }
}

/// How a peer became known; a tracker or seed entry is kept even when silent, so a node can
/// always re-contact its entry points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Listed by the tracker.
    Tracker,
    /// Given on the command line with `--seed`.
    Seed,
    /// Learned from GOSSIP or GOSSIP_REPLY.
    Gossip,
}

impl Source {
    /// The word the console's `peers` table and the API use: tracker, seed or gossip.
    pub fn name(self) -> &'static str {
        match self {
            Source::Tracker => "tracker",
            Source::Seed => "seed",
            Source::Gossip => "gossip",
        }
    }
}

/// What is known about one peer.
#[derive(Debug, Clone)]
pub struct PeerInfo {
    /// How it became known.
    pub source: Source,
    /// Its display name, once it told us.
    pub name: Option<String>,
    /// When we last received a datagram from it (0 = never).
    pub last_heard_ms: u64,
    /// When it was added.
    pub added_ms: u64,
    /// Misbehaviour points since its last ban.
    pub strikes: u32,
    /// Ignored until this time.
    pub banned_until_ms: u64,
    /// The best chain it last reported: (number of blocks, tip hash).
    pub reported: Option<(u64, votechain_chain::Hash)>,
    /// When we last sent it a STATS because it had gone quiet (0 = never): one probe per
    /// silence, so a peer that is still there is heard before it would expire.
    pub probed_ms: u64,
    /// The other election it proved it holds, if it did: it is set aside (never sampled,
    /// relayed to or synced from) for as long as it stays in the table, without strikes.
    pub other_election: Option<votechain_chain::Hash>,
}

/// Known peers, capped.
#[derive(Debug)]
pub struct PeerTable {
    /// Ordered, so sampling with a seeded RNG picks the same peers on every run.
    peers: BTreeMap<SocketAddr, PeerInfo>,
    cap: usize,
    /// Our own addresses: the one we advertise, and any the tracker saw us at (a few at
    /// most), so a peer list naming us never puts us in our own table.
    me: Vec<SocketAddr>,
}

impl PeerTable {
    /// An empty table of at most `cap` peers, never containing `me`.
    pub fn new(cap: usize, me: SocketAddr) -> PeerTable {
        PeerTable {
            peers: BTreeMap::new(),
            cap: cap.max(1),
            me: vec![me],
        }
    }

    /// Notes that `addr` is ours too (the address the tracker saw us at): it leaves the table
    /// and is never added again.
    pub fn add_own_address(&mut self, addr: SocketAddr) {
        self.peers.remove(&addr);
        if !self.me.contains(&addr) && self.me.len() < 4 {
            self.me.push(addr);
        }
    }

    /// Adds `addr` (or upgrades its source); false when it is us or the table is full.
    pub fn add(&mut self, addr: SocketAddr, source: Source, now_ms: u64) -> bool {
        if self.me.contains(&addr) {
            return false;
        }
        if let Some(p) = self.peers.get_mut(&addr) {
            if source != Source::Gossip {
                p.source = source;
            }
            return true;
        }
        if self.peers.len() >= self.cap {
            return false;
        }
        self.peers.insert(
            addr,
            PeerInfo {
                source,
                name: None,
                last_heard_ms: 0,
                added_ms: now_ms,
                strikes: 0,
                banned_until_ms: 0,
                reported: None,
                probed_ms: 0,
                other_election: None,
            },
        );
        true
    }

    /// Notes a datagram from `addr`; false when `addr` is unknown.
    pub fn heard(&mut self, addr: &SocketAddr, now_ms: u64) -> bool {
        match self.peers.get_mut(addr) {
            Some(p) => {
                p.last_heard_ms = now_ms;
                true
            }
            None => false,
        }
    }

    /// The entry for `addr`.
    pub fn get(&self, addr: &SocketAddr) -> Option<&PeerInfo> {
        self.peers.get(addr)
    }

    /// The entry for `addr`, mutably.
    pub fn get_mut(&mut self, addr: &SocketAddr) -> Option<&mut PeerInfo> {
        self.peers.get_mut(addr)
    }

    /// True when `addr` is banned at `now_ms`.
    pub fn is_banned(&self, addr: &SocketAddr, now_ms: u64) -> bool {
        self.peers
            .get(addr)
            .is_some_and(|p| p.banned_until_ms > now_ms)
    }

    /// Adds `points` strikes to `addr`; at `limit` strikes it is banned for `ban_ms` and its
    /// strikes reset. Returns true when this call banned it.
    pub fn strike(
        &mut self,
        addr: &SocketAddr,
        points: u32,
        limit: u32,
        ban_ms: u64,
        now_ms: u64,
    ) -> bool {
        let Some(p) = self.peers.get_mut(addr) else {
            return false;
        };
        p.strikes += points;
        if p.strikes >= limit {
            p.strikes = 0;
            p.banned_until_ms = now_ms + ban_ms;
            p.reported = None;
            return true;
        }
        false
    }

    /// The peers silent for more than half of `silence_ms` that have not been probed since,
    /// marked probed now: the caller sends each a STATS, whose answer keeps a live peer from
    /// expiring. Seeds are never probed (they never expire).
    pub fn to_probe(&mut self, now_ms: u64, silence_ms: u64) -> Vec<SocketAddr> {
        let mut due = Vec::new();
        for (addr, p) in &mut self.peers {
            let quiet_since = p.last_heard_ms.max(p.added_ms);
            if p.source != Source::Seed
                && now_ms.saturating_sub(quiet_since) > silence_ms / 2
                && p.probed_ms <= quiet_since
            {
                p.probed_ms = now_ms;
                due.push(*addr);
            }
        }
        due
    }

    /// Removes peers silent for more than `silence_ms` (a peer never heard from counts from
    /// when it was added), wherever they came from, except seeds: `peers` lists only peers that
    /// are there. A live peer answers the probe sent at half that time ([`Self::to_probe`]).
    /// Returns the removed addresses.
    pub fn expire(&mut self, now_ms: u64, silence_ms: u64) -> Vec<SocketAddr> {
        let stale: Vec<SocketAddr> = self
            .peers
            .iter()
            .filter(|(_, p)| {
                p.source != Source::Seed
                    && now_ms.saturating_sub(p.last_heard_ms.max(p.added_ms)) > silence_ms
            })
            .map(|(a, _)| *a)
            .collect();
        for a in &stale {
            self.peers.remove(a);
        }
        stale
    }

    /// Removes the tracker-listed peers that `list` (the tracker's whole current list) no
    /// longer names. Returns the removed addresses.
    pub fn retain_listed(&mut self, list: &[SocketAddr]) -> Vec<SocketAddr> {
        let gone: Vec<SocketAddr> = self
            .peers
            .iter()
            .filter(|(a, p)| p.source == Source::Tracker && !list.contains(a))
            .map(|(a, _)| *a)
            .collect();
        for a in &gone {
            self.peers.remove(a);
        }
        gone
    }

    /// Sets `addr` aside as a peer of `election`, another election than ours; true when this
    /// is news (it was not set aside already).
    pub fn set_aside(&mut self, addr: &SocketAddr, election: votechain_chain::Hash) -> bool {
        match self.peers.get_mut(addr) {
            Some(p) if p.other_election.is_none() => {
                p.other_election = Some(election);
                p.reported = None;
                true
            }
            _ => false,
        }
    }

    /// True when `addr` is set aside as a peer of another election.
    pub fn is_set_aside(&self, addr: &SocketAddr) -> bool {
        self.peers
            .get(addr)
            .is_some_and(|p| p.other_election.is_some())
    }

    /// Records the display name `addr` gave, made printable: it comes from the network and is
    /// shown on the console, where control characters (terminal escape sequences) must not go.
    pub fn set_name(&mut self, addr: &SocketAddr, name: &str) {
        if let Some(p) = self.peers.get_mut(addr) {
            p.name = Some(printable(name));
        }
    }

    /// Forgets `addr`.
    pub fn remove(&mut self, addr: &SocketAddr) {
        self.peers.remove(addr);
    }

    /// Up to `n` distinct peers that are neither banned nor of another election, chosen at
    /// random, never `except`.
    pub fn sample<R: Rng>(
        &self,
        rng: &mut R,
        n: usize,
        now_ms: u64,
        except: Option<SocketAddr>,
    ) -> Vec<SocketAddr> {
        self.peers
            .iter()
            .filter(|(a, p)| {
                p.banned_until_ms <= now_ms && p.other_election.is_none() && Some(**a) != except
            })
            .map(|(a, _)| *a)
            .choose_multiple(rng, n)
    }

    /// Every peer that is neither banned nor of another election.
    pub fn active(&self, now_ms: u64) -> Vec<SocketAddr> {
        self.peers
            .iter()
            .filter(|(_, p)| p.banned_until_ms <= now_ms && p.other_election.is_none())
            .map(|(a, _)| *a)
            .collect()
    }

    /// All entries, for the console's `peers` command.
    pub fn iter(&self) -> impl Iterator<Item = (&SocketAddr, &PeerInfo)> {
        self.peers.iter()
    }

    /// Number of peers known.
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// True when no peer is known.
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn a(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn caps_skips_self_and_expires_silent_peers_but_seeds() {
        let mut t = PeerTable::new(2, a(1));
        assert!(!t.add(a(1), Source::Gossip, 0));
        assert!(t.add(a(2), Source::Gossip, 0));
        assert!(t.add(a(3), Source::Tracker, 0));
        assert!(!t.add(a(4), Source::Gossip, 0));
        assert!(t.heard(&a(2), 10_000));
        // Quiet for half the limit: probed once, then not again until heard.
        assert_eq!(t.to_probe(30_001, 60_000), vec![a(3)]);
        assert!(t.to_probe(35_000, 60_000).is_empty());
        assert_eq!(t.to_probe(40_001, 60_000), vec![a(2)]);
        assert_eq!(
            t.expire(60_001, 60_000),
            vec![a(3)],
            "tracker-listed or not"
        );
        assert_eq!(t.expire(70_001, 60_000), vec![a(2)]);
        assert!(t.is_empty());
        assert!(t.add(a(5), Source::Seed, 0));
        assert!(t.to_probe(u64::MAX, 60_000).is_empty());
        assert!(t.expire(u64::MAX, 60_000).is_empty(), "seeds never expire");
    }

    #[test]
    fn names_from_the_network_are_stored_printable() {
        let mut t = PeerTable::new(8, a(1));
        t.add(a(2), Source::Gossip, 0);
        t.set_name(&a(2), "evil\u{1b}[2J\u{7}name");
        assert_eq!(
            t.get(&a(2)).unwrap().name.as_deref(),
            Some("evil\u{fffd}[2J\u{fffd}name")
        );
    }

    #[test]
    fn the_tracker_list_replaces_tracker_listed_peers_only() {
        let mut t = PeerTable::new(8, a(1));
        t.add(a(2), Source::Tracker, 0);
        t.add(a(3), Source::Tracker, 0);
        t.add(a(4), Source::Gossip, 0);
        assert_eq!(t.retain_listed(&[a(3)]), vec![a(2)]);
        assert!(t.get(&a(3)).is_some() && t.get(&a(4)).is_some());
    }

    #[test]
    fn strikes_lead_to_a_timed_ban() {
        let mut t = PeerTable::new(8, a(1));
        t.add(a(2), Source::Gossip, 0);
        assert!(!t.strike(&a(2), 2, 3, 1_000, 0));
        assert!(t.strike(&a(2), 1, 3, 1_000, 5));
        assert!(t.is_banned(&a(2), 500));
        assert!(!t.is_banned(&a(2), 1_005));
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        assert!(t.sample(&mut rng, 3, 500, None).is_empty());
        assert_eq!(t.sample(&mut rng, 3, 2_000, None), vec![a(2)]);
    }
}
