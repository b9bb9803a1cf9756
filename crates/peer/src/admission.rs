//! Who may fill the pending pool. In an open election anyone can make any number of valid
//! votes, so one sender could fill the pool and make every honest voter wait for blocks to drain
//! it. The pool itself never evicts an accepted vote; this module decides, before a remote vote
//! is accepted, whether its sender may add one more:
//!
//! - while the pool is less than half full, anyone may;
//! - past half full (*under pressure*), only senders whose datagram proves its origin may (a
//!   forger could otherwise be a thousand senders), and each at most [`SHARE_DIVISOR`]th of
//!   the pool's capacity in pending votes it brought in.
//!
//! Votes typed on this peer's own console are not remote and are never limited here. Pure
//! logic: the node tells it what was accepted and what left the pool.

use std::collections::HashMap;
use std::net::SocketAddr;
use votechain_chain::Hash;

/// Under pressure, one sender may hold at most capacity / this many pending votes.
pub const SHARE_DIVISOR: usize = 8;

/// Why a remote vote was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The pool is under pressure and the datagram did not prove its origin.
    Unproven,
    /// The sender already holds its share of the pool.
    OverShare {
        /// Its share, in pending votes.
        share: usize,
    },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Unproven => f.write_str(
                "this peer's pending pool is busy; try again in a few seconds (or ask a peer \
                 that has exchanged datagrams with you before)",
            ),
            Refusal::OverShare { share } => write!(
                f,
                "this peer's pending pool is busy and you already have {share} votes waiting \
                 in it; try again once they are in a block"
            ),
        }
    }
}

/// Pending votes per remote sender.
#[derive(Debug, Default)]
pub struct Admission {
    /// The sender of each pending vote we admitted from a remote.
    source_of: HashMap<Hash, SocketAddr>,
    /// How many pending votes each sender brought in.
    pending: HashMap<SocketAddr, usize>,
}

impl Admission {
    /// May `from` add a vote to a pool of `pool_len` votes out of `capacity`?
    pub fn check(
        &self,
        from: SocketAddr,
        proven: bool,
        pool_len: usize,
        capacity: usize,
    ) -> Result<(), Refusal> {
        if pool_len.saturating_mul(2) < capacity {
            return Ok(());
        }
        if !proven {
            return Err(Refusal::Unproven);
        }
        let share = (capacity / SHARE_DIVISOR).max(1);
        if self.pending.get(&from).copied().unwrap_or(0) >= share {
            return Err(Refusal::OverShare { share });
        }
        Ok(())
    }

    /// The vote `id` from `from` was accepted into the pool.
    pub fn admitted(&mut self, id: Hash, from: SocketAddr) {
        if self.source_of.insert(id, from).is_none() {
            *self.pending.entry(from).or_default() += 1;
        }
    }

    /// Forgets every vote that is no longer pending (mined, or replaced), as told by
    /// `is_pending`. O(admitted votes): the node calls it once a second.
    pub fn sweep(&mut self, is_pending: impl Fn(&Hash) -> bool) {
        let pending = &mut self.pending;
        self.source_of.retain(|id, from| {
            let keep = is_pending(id);
            if !keep {
                if let Some(n) = pending.get_mut(from) {
                    *n -= 1;
                    if *n == 0 {
                        pending.remove(from);
                    }
                }
            }
            keep
        });
    }

    /// Pending votes `from` brought in.
    pub fn pending_from(&self, from: &SocketAddr) -> usize {
        self.pending.get(from).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn anyone_below_half_then_proven_senders_up_to_their_share() {
        let mut adm = Admission::default();
        assert_eq!(adm.check(a(1), false, 49, 100), Ok(()));
        assert_eq!(adm.check(a(1), false, 50, 100), Err(Refusal::Unproven));
        for i in 0..12u8 {
            adm.admitted(Hash([i; 32]), a(1));
        }
        assert_eq!(
            adm.check(a(1), true, 60, 100),
            Err(Refusal::OverShare { share: 12 })
        );
        assert_eq!(
            adm.check(a(2), true, 60, 100),
            Ok(()),
            "others keep their share"
        );
        adm.sweep(|id| id.0[0] >= 6);
        assert_eq!(adm.pending_from(&a(1)), 6);
        assert_eq!(adm.check(a(1), true, 60, 100), Ok(()));
    }
}
