//! The table of registered peers: who is a member, each member's heartbeat bookkeeping, the
//! schedule of the next POKE per member, and random samples of members for peer lists.
//!
//! Each member is poked on its own schedule (every heartbeat interval from the moment it
//! joined), so 10,000 members cost a steady trickle of datagrams rather than one burst per
//! second. The schedule is a min-heap with lazy deletion: removing a member leaves its entry
//! in the heap, and the entry is recognised as stale (its generation no longer matches) and
//! discarded when it comes up.

use rand::Rng;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fmt::Write as _;
use std::net::SocketAddr;
use votechain_proto::Cookie;
use votechain_sansio::ratelimit::Bucket;

/// One registered peer.
#[derive(Debug, Clone)]
pub(crate) struct Peer {
    /// Display name from REGISTER_PEER, for logs.
    pub name: Option<String>,
    /// Distinguishes this registration from an earlier one of the same address in the
    /// schedule.
    generation: u64,
    /// Position in [`PeerTable::members`], for O(1) removal and uniform sampling.
    index: usize,
    /// When the next POKE is due.
    pub next_poke_ms: u64,
    /// Nonce of the last POKE sent; a POKE_ACK echoing it proves the peer alive.
    pub nonce: Option<u64>,
    /// Nonce of the POKE before that, so an answer delayed past the next POKE still counts.
    pub prev_nonce: Option<u64>,
    /// Whether the last POKE was answered (registration counts as an answer).
    pub acked: bool,
    /// Consecutive unanswered POKEs.
    pub missed: u32,
    /// The peer's own rate-limit bucket.
    pub bucket: Bucket,
    /// The address cookie the peer last gave us in a proven datagram: echoed in everything we
    /// send it, so it can tell our datagrams from forged ones.
    pub cookie: Option<Cookie>,
    /// Without address cookies: a LEAVE_PEER came from its address, and it goes unless it
    /// answers the POKE sent then.
    pub leaving: bool,
    /// When it was last sent a REGISTER_ACK, so repeated (possibly forged) registrations get
    /// at most one peer list per heartbeat interval.
    pub last_list_ms: Option<u64>,
}

/// Registered peers, their schedule, and nothing else.
#[derive(Debug, Default)]
pub(crate) struct PeerTable {
    by_addr: HashMap<SocketAddr, Peer>,
    /// Every member once, in no particular order: the population peer lists are drawn from.
    members: Vec<SocketAddr>,
    /// `(due_ms, generation, addr)` of each member's next POKE, plus stale entries.
    schedule: BinaryHeap<Reverse<(u64, u64, SocketAddr)>>,
    next_generation: u64,
}

impl PeerTable {
    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn contains(&self, addr: &SocketAddr) -> bool {
        self.by_addr.contains_key(addr)
    }

    pub fn get_mut(&mut self, addr: &SocketAddr) -> Option<&mut Peer> {
        self.by_addr.get_mut(addr)
    }

    #[cfg(test)]
    pub fn get(&self, addr: &SocketAddr) -> Option<&Peer> {
        self.by_addr.get(addr)
    }

    pub fn members(&self) -> &[SocketAddr] {
        &self.members
    }

    /// Adds `addr` (not already a member) with its first POKE due at `first_poke_ms`.
    pub fn insert(
        &mut self,
        addr: SocketAddr,
        name: Option<String>,
        first_poke_ms: u64,
        bucket: Bucket,
    ) {
        debug_assert!(!self.by_addr.contains_key(&addr));
        let generation = self.next_generation;
        self.next_generation += 1;
        let peer = Peer {
            name,
            generation,
            index: self.members.len(),
            next_poke_ms: first_poke_ms,
            nonce: None,
            prev_nonce: None,
            acked: true,
            missed: 0,
            bucket,
            cookie: None,
            leaving: false,
            last_list_ms: None,
        };
        self.members.push(addr);
        self.by_addr.insert(addr, peer);
        self.schedule
            .push(Reverse((first_poke_ms, generation, addr)));
    }

    /// Removes `addr`; its schedule entry goes stale.
    pub fn remove(&mut self, addr: &SocketAddr) -> Option<Peer> {
        let peer = self.by_addr.remove(addr)?;
        self.members.swap_remove(peer.index);
        if let Some(moved) = self.members.get(peer.index) {
            // The last member took the removed one's slot; `moved` is a member by construction.
            if let Some(p) = self.by_addr.get_mut(moved) {
                p.index = peer.index;
            }
        }
        Some(peer)
    }

    /// Schedules `addr`'s next POKE at `due_ms`.
    pub fn reschedule(&mut self, addr: SocketAddr, due_ms: u64) {
        if let Some(peer) = self.by_addr.get_mut(&addr) {
            peer.next_poke_ms = due_ms;
            self.schedule.push(Reverse((due_ms, peer.generation, addr)));
        }
    }

    /// True when a schedule entry still describes its member's next POKE.
    fn is_live(&self, entry: &(u64, u64, SocketAddr)) -> bool {
        let (due, generation, addr) = entry;
        self.by_addr
            .get(addr)
            .is_some_and(|p| p.generation == *generation && p.next_poke_ms == *due)
    }

    /// The next member whose POKE is due at or before `now_ms`, with its due time.
    pub fn pop_due(&mut self, now_ms: u64) -> Option<(SocketAddr, u64)> {
        while let Some(Reverse(entry)) = self.schedule.peek().copied() {
            if entry.0 > now_ms {
                return None;
            }
            self.schedule.pop();
            if self.is_live(&entry) {
                return Some((entry.2, entry.0));
            }
        }
        None
    }

    /// When the earliest POKE is due, discarding stale entries on top.
    pub fn next_due(&mut self) -> Option<u64> {
        while let Some(Reverse(entry)) = self.schedule.peek().copied() {
            if self.is_live(&entry) {
                return Some(entry.0);
            }
            self.schedule.pop();
        }
        None
    }

    /// A uniform random sample of at most `max` members whose JSON list fits in `budget`
    /// bytes (`"addr"` entries joined by commas), `first` leading when given.
    pub fn sample<R: Rng>(
        &self,
        rng: &mut R,
        first: Option<SocketAddr>,
        max: usize,
        budget: usize,
    ) -> Vec<SocketAddr> {
        let mut list = Vec::with_capacity(max.min(self.members.len() + 1));
        let mut used = 0usize;
        let mut fits = |addr: SocketAddr, list: &mut Vec<SocketAddr>| {
            let cost = json_len(addr) + usize::from(!list.is_empty());
            if list.len() < max && used + cost <= budget {
                used += cost;
                list.push(addr);
                true
            } else {
                false
            }
        };
        if let Some(addr) = first {
            fits(addr, &mut list);
        }
        let want = max.min(self.members.len());
        for i in rand::seq::index::sample(rng, self.members.len(), want) {
            let addr = self.members[i];
            if Some(addr) != first && !fits(addr, &mut list) {
                break;
            }
        }
        list
    }
}

/// Bytes of `addr` as a JSON string, quotes included, without allocating.
fn json_len(addr: SocketAddr) -> usize {
    struct Count(usize);
    impl std::fmt::Write for Count {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.0 += s.len();
            Ok(())
        }
    }
    let mut count = Count(2);
    // Writing into a counter cannot fail.
    let _ = write!(count, "{addr}");
    count.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use votechain_sansio::ratelimit::Rate;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, 1], port))
    }

    fn table(n: u16) -> PeerTable {
        let bucket = Bucket::full(Rate { per_s: 1, burst: 1 }, 0);
        let mut t = PeerTable::default();
        for p in 1..=n {
            t.insert(addr(p), None, u64::from(p) * 10, bucket);
        }
        t
    }

    #[test]
    fn removal_keeps_members_and_indices_consistent() {
        let mut t = table(5);
        assert!(t.remove(&addr(2)).is_some());
        assert!(t.remove(&addr(2)).is_none());
        assert_eq!(t.len(), 4);
        for (i, a) in t.members().iter().enumerate() {
            assert_eq!(t.get(a).map(|p| p.index), Some(i));
        }
    }

    #[test]
    fn schedule_skips_removed_and_rescheduled_entries() {
        let mut t = table(3);
        t.remove(&addr(1));
        t.reschedule(addr(2), 100);
        assert_eq!(t.next_due(), Some(30));
        assert_eq!(t.pop_due(50), Some((addr(3), 30)));
        assert_eq!(t.pop_due(50), None);
        assert_eq!(t.pop_due(100), Some((addr(2), 100)));
        assert_eq!(t.next_due(), None);
    }

    #[test]
    fn sample_respects_max_budget_and_leads_with_first() {
        let t = table(200);
        let mut rng = StdRng::seed_from_u64(7);
        let s = t.sample(&mut rng, Some(addr(9)), 64, 1_200);
        assert_eq!(s[0], addr(9));
        assert_eq!(s.len(), 64);
        let mut dedup = s.clone();
        dedup.sort();
        dedup.dedup();
        assert_eq!(dedup.len(), s.len(), "no duplicates");
        let s = t.sample(&mut rng, None, 1_000, 100);
        let text = serde_json::to_string(&s).unwrap();
        assert!(text.len() - 2 <= 100, "{} bytes", text.len());
        assert_eq!(json_len(addr(80)), "\"10.0.0.1:80\"".len());
    }
}
