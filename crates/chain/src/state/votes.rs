//! The vote-level bookkeeping of the best chain: admitting votes to the pending pool, indexing
//! the votes of blocks as they join and leave the best chain, the running tally, and receipts.
//! Every change to the best chain goes through `connect_best` and `disconnect_best`, so the
//! indexes, the tally and the pool can never disagree with the chain.

use super::ChainState;
use crate::hash::Hash;
use crate::merkle;
use crate::pool::PoolInsert;
use crate::receipt::{Receipt, RejectReason};
use crate::tally::Tally;
use crate::validate::{check_vote_fields, VoteError};
use crate::vote::Vote;

/// What [`ChainState::submit_vote`] did with a vote that is not rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmitOutcome {
    /// New and valid: now pending. Relay it and store it. No other vote was removed for it: a
    /// full pool refuses new votes ([`RejectReason::PoolFull`]) instead of evicting.
    Accepted {
        /// The vote id.
        id: Hash,
    },
    /// Already pending or already in the best chain: nothing changed, do not relay it again.
    Duplicate {
        /// The vote id.
        id: Hash,
    },
}

/// A vote refused by [`ChainState::submit_vote`]; the reason is also kept for its receipt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("vote {id} rejected: {reason}")]
pub struct VoteRejected {
    /// The vote id.
    pub id: Hash,
    /// Why.
    pub reason: RejectReason,
}

impl ChainState {
    /// Admits `vote` to the pending pool if it is valid on top of the best tip: the ballot is open
    /// for the next block, the vote's fields pass [`check_vote_fields`], its voter has no vote in
    /// the best chain or the pool, the pool has room (else [`RejectReason::PoolFull`]: nothing
    /// accepted is ever evicted), and (checked last, being the costliest) its signature holds.
    pub fn submit_vote(&mut self, vote: Vote) -> Result<SubmitOutcome, VoteRejected> {
        self.admit(vote, false)
    }

    /// [`ChainState::submit_vote`] for a vote that was acknowledged before: one the store kept
    /// across a restart. Every rule applies except the pool's capacity, so a restart never loses
    /// a vote that was pending when the process stopped (the pool may hold more than
    /// [`super::ChainConfig::max_pending_votes`] until blocks drain it; new votes wait meanwhile).
    pub fn restore_vote(&mut self, vote: Vote) -> Result<SubmitOutcome, VoteRejected> {
        self.admit(vote, true)
    }

    fn admit(&mut self, vote: Vote, acknowledged: bool) -> Result<SubmitOutcome, VoteRejected> {
        let id = vote.id();
        if self.chain_votes.contains_key(&id) || self.pool.contains(&id) {
            return Ok(SubmitOutcome::Duplicate { id });
        }
        if let Err(reason) = self.check_pending(&vote, acknowledged) {
            if matches!(reason, RejectReason::PoolFull { .. }) {
                self.pool.count_refused();
            }
            self.rejections.record(id, reason.clone());
            return Err(VoteRejected { id, reason });
        }
        let outcome = if acknowledged {
            self.pool.insert_restored(id, vote)
        } else {
            self.pool.insert(id, vote)
        };
        match outcome {
            PoolInsert::Added => Ok(SubmitOutcome::Accepted { id }),
            // Ruled out by the checks above.
            PoolInsert::Duplicate => Ok(SubmitOutcome::Duplicate { id }),
            PoolInsert::VoterPending(pending) => Err(VoteRejected {
                id,
                reason: RejectReason::VoterPending { pending },
            }),
            PoolInsert::Full { capacity } => {
                let reason = RejectReason::PoolFull { capacity };
                self.rejections.record(id, reason.clone());
                Err(VoteRejected { id, reason })
            }
        }
    }

    /// The rules of a vote against the best tip, cheapest first. A full pool refuses a new vote
    /// before its signature is checked, so a flood against a full pool costs no signature work.
    fn check_pending(&self, vote: &Vote, acknowledged: bool) -> Result<(), RejectReason> {
        let next_height = self.height().saturating_add(1);
        if let Some(closing_height) = self.ballot.closing_height.filter(|c| next_height > *c) {
            return Err(VoteError::BallotClosed {
                closing_height,
                height: next_height,
            }
            .into());
        }
        check_vote_fields(vote, &self.ballot, &self.election)?;
        if let Some(earlier) = self.chain_voters.get(&vote.voter) {
            return Err(VoteError::AlreadyVoted {
                voter: vote.voter,
                earlier: *earlier,
            }
            .into());
        }
        if let Some(pending) = self.pool.voter_pending(&vote.voter) {
            return Err(RejectReason::VoterPending { pending });
        }
        if !acknowledged && self.pool.is_full() {
            return Err(RejectReason::PoolFull {
                capacity: self.pool.capacity(),
            });
        }
        vote.verify_signature().map_err(VoteError::from)?;
        Ok(())
    }

    /// The status of the vote with `id`: in the best chain (with a Merkle proof), pending,
    /// recently rejected, or unknown.
    pub fn receipt(&self, id: &Hash) -> Receipt {
        if let Some(&(height, index)) = self.chain_votes.get(id) {
            let block = self.chain[height as usize];
            let proof = merkle::proof(&self.nodes[&block].ids, index).unwrap_or_default();
            let confirmations = self.height() - height + 1;
            return Receipt::InBlock {
                height,
                block,
                confirmations,
                index,
                proof,
            };
        }
        if self.pool.contains(id) {
            return Receipt::Pending;
        }
        match self.rejections.get(id) {
            Some(reason) => Receipt::Rejected {
                reason: reason.clone(),
            },
            None => Receipt::Unknown,
        }
    }

    /// The tally of the best chain, one line per option in ballot order.
    pub fn tally(&self) -> Tally {
        Tally {
            tip: self.tip_hash(),
            height: self.height(),
            lines: self.counts.lines(&self.ballot),
        }
    }

    /// Appends `hash` (a child of the tip) to the best chain: indexes its votes, counts them,
    /// and drops from the pool the same votes and any other vote of the same voters.
    pub(super) fn connect_best(&mut self, hash: Hash) {
        self.mark_side(&hash, false);
        self.chain.push(hash);
        let height = self.height();
        let node = &self.nodes[&hash];
        for (index, (vote, id)) in node.block.votes().iter().zip(&node.ids).enumerate() {
            self.chain_votes.insert(*id, (height, index));
            self.chain_voters.insert(vote.voter, *id);
            self.counts.add(&vote.choice, 1);
            if self.pool.remove(id).is_none() {
                if let Some((pending, _)) = self.pool.remove_voter(&vote.voter) {
                    let error = VoteError::AlreadyVoted {
                        voter: vote.voter,
                        earlier: *id,
                    };
                    self.rejections.record(pending, error.into());
                }
            }
        }
    }

    /// Undoes [`ChainState::connect_best`] for `hash`, already popped off the chain; returns its
    /// votes with their ids, in block order.
    pub(super) fn disconnect_best(&mut self, hash: &Hash) -> Vec<(Hash, Vote)> {
        self.mark_side(hash, true);
        let node = &self.nodes[hash];
        let mut votes = Vec::with_capacity(node.ids.len());
        for (vote, id) in node.block.votes().iter().zip(&node.ids) {
            self.chain_votes.remove(id);
            self.chain_voters.remove(&vote.voter);
            self.counts.add(&vote.choice, -1);
            votes.push((*id, vote.clone()));
        }
        votes
    }

    /// Puts a vote of a block that left the best chain back at the front of the pool, unless the
    /// new chain holds it or holds another vote of its voter. Returns true when it went back.
    pub(super) fn return_vote(&mut self, id: Hash, vote: Vote) -> bool {
        if self.chain_votes.contains_key(&id) {
            return false;
        }
        if let Some(earlier) = self.chain_voters.get(&vote.voter) {
            let error = VoteError::AlreadyVoted {
                voter: vote.voter,
                earlier: *earlier,
            };
            self.rejections.record(id, error.into());
            return false;
        }
        match self.pool.insert_front(id, vote) {
            PoolInsert::Added | PoolInsert::Duplicate => true,
            // Returned votes are admitted past the capacity; never reached.
            PoolInsert::Full { .. } => false,
            PoolInsert::VoterPending(pending) => {
                self.rejections
                    .record(id, RejectReason::VoterPending { pending });
                false
            }
        }
    }

    /// Once the next block may carry no votes, the pending votes can never be mined: they are
    /// rejected as closed.
    pub(super) fn close_if_over(&mut self) {
        let next_height = self.height() + 1;
        let Some(closing_height) = self.ballot.closing_height.filter(|c| next_height > *c) else {
            return;
        };
        let ids: Vec<Hash> = self.pool.ids().copied().collect();
        for id in ids {
            self.pool.remove(&id);
            let error = VoteError::BallotClosed {
                closing_height,
                height: next_height,
            };
            self.rejections.record(id, error.into());
        }
    }
}
