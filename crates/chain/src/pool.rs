//! The pending pool: votes accepted but not yet in the best chain, waiting for a block.
//!
//! The pool only stores and orders; deciding whether a vote is valid against the best tip is
//! [`crate::state::ChainState`]'s job, which calls the pool after its checks. The pool keeps one
//! vote per voter and one entry per vote id, remembers arrival order (templates take the oldest
//! first, so no vote waits forever behind newer ones) and holds at most `capacity` votes: a full
//! pool evicts its oldest vote and counts it, because refusing new votes instead would let an early
//! flood lock honest voters out.

use crate::hash::{Hash, PublicKey};
use crate::vote::Vote;
use std::collections::{BTreeMap, HashMap};

/// Votes waiting for a block, in arrival order.
#[derive(Debug, Clone)]
pub struct Pool {
    /// Vote id → the vote and its position in `order`.
    by_id: HashMap<Hash, (Vote, i64)>,
    /// One pending vote per voter: voter → vote id.
    by_voter: HashMap<PublicKey, Hash>,
    /// Arrival position → vote id. Positions grow for new votes and shrink for votes returned to
    /// the front by a reorganisation, so one ordered map gives both ends in O(log n).
    order: BTreeMap<i64, Hash>,
    next_back: i64,
    next_front: i64,
    capacity: usize,
    evicted: u64,
}

/// What [`Pool::insert`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolInsert {
    /// The vote is pending; `evicted` is the oldest vote pushed out to make room, if any.
    Added {
        /// Id of the vote evicted by a full pool.
        evicted: Option<Hash>,
    },
    /// The same vote is already pending.
    Duplicate,
    /// The voter already has another vote pending, with this id.
    VoterPending(Hash),
}

impl Pool {
    /// An empty pool holding at most `capacity` votes (at least one).
    pub fn new(capacity: usize) -> Pool {
        Pool {
            by_id: HashMap::new(),
            by_voter: HashMap::new(),
            order: BTreeMap::new(),
            next_back: 0,
            next_front: -1,
            capacity: capacity.max(1),
            evicted: 0,
        }
    }

    /// Adds `vote` (with its precomputed id) at the back, as the newest.
    pub fn insert(&mut self, id: Hash, vote: Vote) -> PoolInsert {
        let pos = self.next_back;
        let outcome = self.insert_at(id, vote, pos);
        if matches!(outcome, PoolInsert::Added { .. }) {
            self.next_back += 1;
        }
        outcome
    }

    /// Adds `vote` at the front, as older than every pending vote: for votes a reorganisation took
    /// out of the best chain, which have waited longest. Returning several keeps their order when
    /// they are pushed last first.
    pub fn insert_front(&mut self, id: Hash, vote: Vote) -> PoolInsert {
        let pos = self.next_front;
        let outcome = self.insert_at(id, vote, pos);
        if matches!(outcome, PoolInsert::Added { .. }) {
            self.next_front -= 1;
        }
        outcome
    }

    fn insert_at(&mut self, id: Hash, vote: Vote, pos: i64) -> PoolInsert {
        if self.by_id.contains_key(&id) {
            return PoolInsert::Duplicate;
        }
        if let Some(other) = self.by_voter.get(&vote.voter) {
            return PoolInsert::VoterPending(*other);
        }
        let mut evicted = None;
        if self.by_id.len() >= self.capacity {
            if let Some((_, oldest)) = self.order.first_key_value() {
                let oldest = *oldest;
                self.remove(&oldest);
                self.evicted += 1;
                evicted = Some(oldest);
            }
        }
        self.by_voter.insert(vote.voter, id);
        self.order.insert(pos, id);
        self.by_id.insert(id, (vote, pos));
        PoolInsert::Added { evicted }
    }

    /// Removes the vote with `id`, returning it.
    pub fn remove(&mut self, id: &Hash) -> Option<Vote> {
        let (vote, pos) = self.by_id.remove(id)?;
        self.order.remove(&pos);
        self.by_voter.remove(&vote.voter);
        Some(vote)
    }

    /// Removes the pending vote of `voter`, returning its id and the vote.
    pub fn remove_voter(&mut self, voter: &PublicKey) -> Option<(Hash, Vote)> {
        let id = *self.by_voter.get(voter)?;
        self.remove(&id).map(|v| (id, v))
    }

    /// Up to `max` votes, oldest first, for a block template.
    pub fn select(&self, max: usize) -> Vec<Vote> {
        self.order
            .values()
            .take(max)
            .map(|id| self.by_id[id].0.clone())
            .collect()
    }

    /// Every pending vote id, oldest first.
    pub fn ids(&self) -> impl Iterator<Item = &Hash> {
        self.order.values()
    }

    /// The pending vote with `id`.
    pub fn get(&self, id: &Hash) -> Option<&Vote> {
        self.by_id.get(id).map(|(v, _)| v)
    }

    /// True when the vote with `id` is pending.
    pub fn contains(&self, id: &Hash) -> bool {
        self.by_id.contains_key(id)
    }

    /// The id of `voter`'s pending vote.
    pub fn voter_pending(&self, voter: &PublicKey) -> Option<Hash> {
        self.by_voter.get(voter).copied()
    }

    /// Number of pending votes.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// True when nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Votes evicted by a full pool since it was made.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Most votes the pool holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::VoterKey;

    fn vote(seed: u8, choice: &str) -> (Hash, Vote) {
        let v = Vote::sign(
            VoterKey::from_seed([seed; 32]).signing_key(),
            Hash([1; 32]),
            choice,
        );
        (v.id(), v)
    }

    #[test]
    fn dedups_by_id_and_voter_and_keeps_order() {
        let mut pool = Pool::new(10);
        let (a, va) = vote(1, "A");
        let (b, vb) = vote(2, "A");
        let (a2, va2) = vote(1, "B");
        assert_eq!(
            pool.insert(a, va.clone()),
            PoolInsert::Added { evicted: None }
        );
        assert_eq!(pool.insert(a, va.clone()), PoolInsert::Duplicate);
        assert_eq!(pool.insert(a2, va2), PoolInsert::VoterPending(a));
        assert_eq!(
            pool.insert(b, vb.clone()),
            PoolInsert::Added { evicted: None }
        );
        let (c, vc) = vote(3, "A");
        assert_eq!(
            pool.insert_front(c, vc.clone()),
            PoolInsert::Added { evicted: None }
        );
        assert_eq!(pool.select(10), vec![vc, va.clone(), vb]);
        assert_eq!(pool.select(1).len(), 1);
        assert_eq!(pool.remove_voter(&va.voter).map(|(id, _)| id), Some(a));
        assert_eq!(pool.ids().copied().collect::<Vec<_>>(), vec![c, b]);
    }

    #[test]
    fn full_pool_evicts_oldest_and_counts() {
        let mut pool = Pool::new(2);
        let votes: Vec<_> = (1..=3).map(|s| vote(s, "A")).collect();
        for (id, v) in &votes[..2] {
            pool.insert(*id, v.clone());
        }
        assert_eq!(
            pool.insert(votes[2].0, votes[2].1.clone()),
            PoolInsert::Added {
                evicted: Some(votes[0].0)
            }
        );
        assert_eq!(pool.evicted(), 1);
        assert_eq!(pool.len(), 2);
        assert!(!pool.contains(&votes[0].0));
        assert_eq!(pool.voter_pending(&votes[0].1.voter), None);
    }
}
