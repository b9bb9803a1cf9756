//! Receipts: what a peer can say about a vote id — pending, in block h with k confirmations and a
//! Merkle proof, rejected with the reason, or unknown — and the capped memory of recent
//! rejections that lets a voter learn why a vote went nowhere.

use crate::hash::Hash;
use crate::validate::VoteError;
use std::collections::{BTreeMap, HashMap};

/// The status of one vote, by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Receipt {
    /// Accepted and waiting in the pending pool for a block.
    Pending,
    /// In the best chain.
    InBlock {
        /// Height of the block holding the vote.
        height: u64,
        /// Hash of that block.
        block: Hash,
        /// Blocks from that block to the tip, both counted: 1 when it is the tip.
        confirmations: u64,
        /// Position of the vote in the block.
        index: usize,
        /// Merkle path from the vote id to the block's votes root ([`crate::merkle::verify`]).
        proof: Vec<Hash>,
    },
    /// Refused recently, for this reason.
    Rejected {
        /// Why.
        reason: RejectReason,
    },
    /// Never seen, or rejected too long ago to be remembered.
    Unknown,
}

/// Why a vote is not pending and not in the best chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RejectReason {
    /// The vote breaks a vote rule against the best chain.
    #[error(transparent)]
    Invalid(#[from] VoteError),
    /// The voter already has a different vote pending, with this id.
    #[error("the voter already has vote {pending} pending")]
    VoterPending {
        /// The pending vote's id.
        pending: Hash,
    },
    /// The pending pool was full when the vote arrived, so it was refused, not accepted: nothing
    /// is wrong with the vote and the voter may submit it again later. (The pool never evicts a
    /// vote it accepted.)
    #[error("the pending pool is full ({capacity} votes); try again later")]
    PoolFull {
        /// The pool's capacity, [`crate::ChainConfig::max_pending_votes`].
        capacity: usize,
    },
}

/// The most recent rejections, oldest forgotten first.
#[derive(Debug, Clone)]
pub(crate) struct Rejections {
    reasons: HashMap<Hash, (RejectReason, u64)>,
    order: BTreeMap<u64, Hash>,
    next: u64,
    capacity: usize,
}

impl Rejections {
    pub(crate) fn new(capacity: usize) -> Rejections {
        Rejections {
            reasons: HashMap::new(),
            order: BTreeMap::new(),
            next: 0,
            capacity,
        }
    }

    /// Remembers (or refreshes) why `id` was rejected.
    pub(crate) fn record(&mut self, id: Hash, reason: RejectReason) {
        if self.capacity == 0 {
            return;
        }
        if let Some((_, seq)) = self.reasons.remove(&id) {
            self.order.remove(&seq);
        }
        while self.reasons.len() >= self.capacity {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            self.reasons.remove(&oldest);
        }
        self.order.insert(self.next, id);
        self.reasons.insert(id, (reason, self.next));
        self.next += 1;
    }

    pub(crate) fn get(&self, id: &Hash) -> Option<&RejectReason> {
        self.reasons.get(id).map(|(r, _)| r)
    }

    pub(crate) fn len(&self) -> usize {
        self.reasons.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejections_are_capped_oldest_first() {
        let mut r = Rejections::new(2);
        let ids: Vec<Hash> = (0..3).map(|i| Hash([i; 32])).collect();
        r.record(ids[0], RejectReason::PoolFull { capacity: 1 });
        r.record(ids[1], RejectReason::PoolFull { capacity: 1 });
        r.record(ids[0], RejectReason::PoolFull { capacity: 1 });
        r.record(ids[2], RejectReason::PoolFull { capacity: 1 });
        assert_eq!(r.len(), 2);
        assert!(
            r.get(&ids[1]).is_none(),
            "the refreshed id outlives the older one"
        );
        assert!(r.get(&ids[0]).is_some() && r.get(&ids[2]).is_some());
    }
}
