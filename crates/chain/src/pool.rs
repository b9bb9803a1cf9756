//! The pending pool: votes accepted but not yet in the best chain, waiting for a block.
//!
//! The pool only stores and orders; deciding whether a vote is valid against the best tip is
//! [`crate::state::ChainState`]'s job, which calls the pool after its checks. The pool keeps one
//! vote per voter and one entry per vote id and remembers arrival order (templates take the oldest
//! first, so no vote waits forever behind newer ones).
//!
//! The pool never drops a vote it accepted: a vote in it was acknowledged to its voter, and losing
//! it silently is worse than refusing it openly. So the cap is admission control, not eviction:
//! [`Pool::insert`] admits a *new* vote only while fewer than `capacity` are pending and otherwise
//! returns [`PoolInsert::Full`] (the voter is told to try again later). Votes that were already
//! acknowledged are always admitted, even past the cap: those a reorganisation takes out of the
//! best chain ([`Pool::insert_front`]) and those a restart restores from the store
//! ([`Pool::insert_restored`]). The excess is bounded by the votes of the blocks that left the
//! best chain (each of which cost a proof of work) and by what was pending before the restart, and
//! new votes wait until blocks drain the pool below the cap again.

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
    /// Most votes [`Pool::insert`] admits; acknowledged votes may go past it.
    capacity: usize,
    /// New votes refused because the pool was full, for metrics.
    refused: u64,
    /// Pending votes per choice, kept as votes come and go, so the pending tally (asked for by
    /// the HTTP API and its live events) costs a look-up per option, not a walk of the pool.
    by_choice: HashMap<String, u64>,
}

/// What [`Pool::insert`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolInsert {
    /// The vote is pending. Nothing else was removed to make room: the pool never evicts.
    Added,
    /// The pool holds `capacity` votes or more: the new vote is refused and nothing changed.
    Full {
        /// The pool's capacity.
        capacity: usize,
    },
    /// The same vote is already pending.
    Duplicate,
    /// The voter already has another vote pending, with this id.
    VoterPending(Hash),
}

impl Pool {
    /// An empty pool admitting new votes while fewer than `capacity` (at least one) are pending.
    pub fn new(capacity: usize) -> Pool {
        Pool {
            by_id: HashMap::new(),
            by_voter: HashMap::new(),
            order: BTreeMap::new(),
            next_back: 0,
            next_front: -1,
            capacity: capacity.max(1),
            refused: 0,
            by_choice: HashMap::new(),
        }
    }

    /// Adds a new `vote` (with its precomputed id) at the back, as the newest, if the pool is
    /// below its capacity; a full pool refuses it with [`PoolInsert::Full`].
    pub fn insert(&mut self, id: Hash, vote: Vote) -> PoolInsert {
        if !self.by_id.contains_key(&id)
            && !self.by_voter.contains_key(&vote.voter)
            && self.is_full()
        {
            self.refused += 1;
            return PoolInsert::Full {
                capacity: self.capacity,
            };
        }
        self.insert_restored(id, vote)
    }

    /// Adds an already acknowledged `vote` at the back, past the capacity if need be: for votes a
    /// restart restores from the store, which were accepted before and must not be lost.
    pub fn insert_restored(&mut self, id: Hash, vote: Vote) -> PoolInsert {
        let pos = self.next_back;
        let outcome = self.insert_at(id, vote, pos);
        if outcome == PoolInsert::Added {
            self.next_back += 1;
        }
        outcome
    }

    /// Adds `vote` at the front, as older than every pending vote: for votes a reorganisation took
    /// out of the best chain, which have waited longest. Returning several keeps their order when
    /// they are pushed last first. They were acknowledged, so they are admitted past the capacity.
    pub fn insert_front(&mut self, id: Hash, vote: Vote) -> PoolInsert {
        let pos = self.next_front;
        let outcome = self.insert_at(id, vote, pos);
        if outcome == PoolInsert::Added {
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
        self.by_voter.insert(vote.voter, id);
        self.order.insert(pos, id);
        *self.by_choice.entry(vote.choice.clone()).or_default() += 1;
        self.by_id.insert(id, (vote, pos));
        PoolInsert::Added
    }

    /// Removes the vote with `id`, returning it.
    pub fn remove(&mut self, id: &Hash) -> Option<Vote> {
        let (vote, pos) = self.by_id.remove(id)?;
        self.order.remove(&pos);
        self.by_voter.remove(&vote.voter);
        if let Some(n) = self.by_choice.get_mut(&vote.choice) {
            *n -= 1;
            if *n == 0 {
                self.by_choice.remove(&vote.choice);
            }
        }
        Some(vote)
    }

    /// Removes the pending vote of `voter`, returning its id and the vote.
    pub fn remove_voter(&mut self, voter: &PublicKey) -> Option<(Hash, Vote)> {
        let id = *self.by_voter.get(voter)?;
        self.remove(&id).map(|v| (id, v))
    }

    /// Up to `max` votes, oldest first, for a block template.
    pub fn select(&self, max: usize) -> Vec<Vote> {
        self.select_where(max, |_| true)
    }

    /// Up to `max` votes whose id `wanted` accepts, oldest first: a miner that takes only the
    /// votes it is due to mine.
    pub fn select_where(&self, max: usize, mut wanted: impl FnMut(&Hash) -> bool) -> Vec<Vote> {
        self.order
            .values()
            .filter(|id| wanted(id))
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

    /// Pending votes for `choice`, in constant time.
    pub fn pending_for(&self, choice: &str) -> u64 {
        self.by_choice.get(choice).copied().unwrap_or(0)
    }

    /// Number of pending votes.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// True when nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// New votes refused because the pool was full, since it was made.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// Counts a new vote refused for want of room before it reached [`Pool::insert`] (the chain
    /// state refuses it before checking its signature).
    pub(crate) fn count_refused(&mut self) {
        self.refused += 1;
    }

    /// True when [`Pool::insert`] would refuse a new vote: `capacity` or more are pending.
    pub fn is_full(&self) -> bool {
        self.by_id.len() >= self.capacity
    }

    /// Most votes [`Pool::insert`] admits; reorganisations and restarts may go past it.
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
        assert_eq!(pool.insert(a, va.clone()), PoolInsert::Added);
        assert_eq!(pool.insert(a, va.clone()), PoolInsert::Duplicate);
        assert_eq!(pool.insert(a2, va2), PoolInsert::VoterPending(a));
        assert_eq!(pool.insert(b, vb.clone()), PoolInsert::Added);
        let (c, vc) = vote(3, "A");
        assert_eq!(pool.insert_front(c, vc.clone()), PoolInsert::Added);
        assert_eq!(pool.select(10), vec![vc, va.clone(), vb]);
        assert_eq!(pool.select(1).len(), 1);
        assert_eq!((pool.pending_for("A"), pool.pending_for("B")), (3, 0));
        assert_eq!(pool.remove_voter(&va.voter).map(|(id, _)| id), Some(a));
        assert_eq!(pool.ids().copied().collect::<Vec<_>>(), vec![c, b]);
        assert_eq!(pool.pending_for("A"), 2, "a removed vote leaves the count");
        pool.remove(&b);
        pool.remove(&c);
        assert_eq!(pool.pending_for("A"), 0);
        assert!(
            pool.by_choice.is_empty(),
            "no count is kept for a choice with no vote"
        );
    }

    #[test]
    fn a_full_pool_refuses_new_votes_and_keeps_every_accepted_one() {
        let mut pool = Pool::new(2);
        let votes: Vec<_> = (1..=6).map(|s| vote(s, "A")).collect();
        for (id, v) in &votes[..2] {
            assert_eq!(pool.insert(*id, v.clone()), PoolInsert::Added);
        }
        assert!(pool.is_full());
        assert_eq!(
            pool.insert(votes[2].0, votes[2].1.clone()),
            PoolInsert::Full { capacity: 2 }
        );
        assert_eq!((pool.refused(), pool.len()), (1, 2));
        assert!(pool.contains(&votes[0].0) && pool.contains(&votes[1].0));
        assert!(!pool.contains(&votes[2].0));
        // A duplicate is still a duplicate, not a refusal.
        assert_eq!(
            pool.insert(votes[0].0, votes[0].1.clone()),
            PoolInsert::Duplicate
        );
        // Acknowledged votes go past the cap: returned by a reorganisation, restored at restart.
        assert_eq!(
            pool.insert_front(votes[3].0, votes[3].1.clone()),
            PoolInsert::Added
        );
        assert_eq!(
            pool.insert_restored(votes[4].0, votes[4].1.clone()),
            PoolInsert::Added
        );
        assert_eq!(pool.len(), 4);
        let ids: Vec<Hash> = pool.ids().copied().collect();
        assert_eq!(ids, vec![votes[3].0, votes[0].0, votes[1].0, votes[4].0]);
        // New votes wait until blocks drain the pool below its capacity.
        for (id, _) in &votes[..3] {
            pool.remove(id);
        }
        assert_eq!(
            pool.insert(votes[5].0, votes[5].1.clone()),
            PoolInsert::Full { capacity: 2 }
        );
        pool.remove(&votes[3].0);
        assert_eq!(
            pool.insert(votes[5].0, votes[5].1.clone()),
            PoolInsert::Added
        );
    }
}
