//! Branches of the block tree. A block is validated against the voters of its own branch, which
//! for a side branch are the best chain's voters up to the fork point plus the side blocks' own;
//! the last side block's branch is cached so that syncing a competing branch in order costs
//! O(votes) per block instead of a walk back to the fork. Side branches are also capped, by count
//! and by bytes: past [`super::ChainConfig::max_side_blocks`] blocks or
//! [`super::ChainConfig::max_side_bytes`] bytes the side tip with the least work goes, so cheap
//! blocks off an old ancestor cannot grow memory past the cap. Honest reorganisations of any depth
//! still work: a competing branch synced in order gains work with every block, so the spam (with
//! less work) is evicted before it, and once it has more work it becomes the best chain.

use super::{ChainState, Connected};
use crate::block::Block;
use crate::hash::{Hash, PublicKey};
use crate::validate::{
    bad_signatures, check_header, check_timestamp, check_vote_fields, check_work, ValidationError,
    VoteError,
};
use crate::vote::Vote;
use std::collections::{HashMap, HashSet};

/// The voters of one branch as seen from a block: every best-chain vote at or below the fork
/// point, plus the votes of the side blocks between the fork and the block.
#[derive(Debug, Clone, Default)]
pub(super) struct BranchVoters {
    pub(super) fork_height: u64,
    pub(super) side: HashMap<PublicKey, Hash>,
}

impl ChainState {
    /// Checks every rule for `block` against its branch without adding it: unlike
    /// [`ChainState::add_block`], an unknown parent is an error here. A block already in the tree
    /// passes, as it was valid when added.
    pub fn check_block(&self, block: &Block, now_ms: u64) -> Result<(), ValidationError> {
        let hash = block.hash();
        if self.nodes.contains_key(&hash) {
            return Ok(());
        }
        if block.height() == 0 {
            return Err(ValidationError::ForeignGenesis(hash));
        }
        let difficulty = self.ballot.difficulty;
        check_work(block.header(), &hash, difficulty)?;
        check_timestamp(block.header(), now_ms)?;
        let prev = block.prev();
        let parent = self
            .nodes
            .get(&prev)
            .ok_or(ValidationError::UnknownParent(prev))?;
        check_header(
            block.header(),
            &hash,
            parent.block.header(),
            &prev,
            difficulty,
            now_ms,
        )?;
        self.check_votes(block, &self.walk_branch(&prev), false)
            .map(|_| ())
    }

    /// The voters of the branch ending at `tip` (a block in the tree), from the cache when `tip`
    /// is the side block added last.
    pub(super) fn branch_voters(&mut self, tip: &Hash) -> BranchVoters {
        if self
            .side_cache
            .as_ref()
            .is_some_and(|(cached, _)| cached == tip)
        {
            if let Some((_, branch)) = self.side_cache.take() {
                return branch;
            }
        }
        self.walk_branch(tip)
    }

    /// The voters of the branch ending at `tip`, by walking back to the best chain.
    fn walk_branch(&self, tip: &Hash) -> BranchVoters {
        let mut branch = BranchVoters::default();
        let mut at = *tip;
        loop {
            let node = &self.nodes[&at];
            if self.chain.get(node.block.height() as usize) == Some(&at) {
                branch.fork_height = node.block.height();
                return branch;
            }
            for (vote, id) in node.block.votes().iter().zip(&node.ids) {
                branch.side.insert(vote.voter, *id);
            }
            at = node.block.prev();
        }
    }

    /// The vote rules of `block` on the branch described by `branch`; returns the vote ids.
    pub(super) fn check_votes(
        &self,
        block: &Block,
        branch: &BranchVoters,
        verified: bool,
    ) -> Result<Vec<Hash>, ValidationError> {
        let votes = block.votes();
        if votes.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(closing_height) = self.ballot.closing_height {
            if block.height() > closing_height {
                let error = VoteError::BallotClosed {
                    closing_height,
                    height: block.height(),
                };
                return Err(ValidationError::Vote { index: 0, error });
            }
        }
        let ids = block.vote_ids();
        let mut in_block = HashSet::with_capacity(votes.len());
        for (index, vote) in votes.iter().enumerate() {
            let fail = |error| ValidationError::Vote { index, error };
            check_vote_fields(vote, &self.ballot, &self.election).map_err(fail)?;
            if !in_block.insert(vote.voter) {
                return Err(fail(VoteError::DuplicateVoter(vote.voter)));
            }
            if let Some(earlier) = self.branch_vote(branch, &vote.voter) {
                return Err(fail(VoteError::AlreadyVoted {
                    voter: vote.voter,
                    earlier,
                }));
            }
        }
        if !verified {
            // A vote in the pool was verified when it arrived, and its id covers the signature.
            let (unchecked, positions): (Vec<&Vote>, Vec<usize>) = votes
                .iter()
                .zip(&ids)
                .enumerate()
                .filter(|(_, (_, id))| !self.pool.contains(id))
                .map(|(i, (v, _))| (v, i))
                .unzip();
            if let Some((i, e)) = bad_signatures(&unchecked).into_iter().next() {
                return Err(ValidationError::Vote {
                    index: positions[i],
                    error: e.into(),
                });
            }
        }
        Ok(ids)
    }

    /// The id of `voter`'s vote on `branch`, if any.
    fn branch_vote(&self, branch: &BranchVoters, voter: &PublicKey) -> Option<Hash> {
        if let Some(id) = branch.side.get(voter) {
            return Some(*id);
        }
        let id = self.chain_voters.get(voter)?;
        let (height, _) = self.chain_votes[id];
        (height <= branch.fork_height).then_some(*id)
    }

    /// Evicts side tips while side branches exceed their caps (count or bytes).
    pub(super) fn evict_side(&mut self, report: &mut Connected) {
        while self.n_side > self.config.max_side_blocks
            || self.side_bytes > self.config.max_side_bytes
        {
            let Some(key) = self.side_leaves.pop_first() else {
                break;
            };
            let hash = key.2;
            let Some(node) = self.nodes.remove(&hash) else {
                continue;
            };
            self.n_side -= 1;
            self.side_bytes = self.side_bytes.saturating_sub(node.bytes);
            self.side_evicted += 1;
            report.evicted.push(hash);
            if self.side_cache.as_ref().is_some_and(|(h, _)| *h == hash) {
                self.side_cache = None;
            }
            let on_chain = |s: &ChainState, p: &Hash, h: u64| s.chain.get(h as usize) == Some(p);
            let prev = node.block.prev();
            // A block in the tree is never genesis, so its height is at least 1.
            let parent_height = node.block.height().saturating_sub(1);
            let parent_side = !on_chain(self, &prev, parent_height);
            if let Some(parent) = self.nodes.get_mut(&prev) {
                parent.children -= 1;
                if parent.children == 0 && parent_side {
                    self.side_leaves.insert(parent.leaf_key());
                }
            }
        }
    }

    /// Side-branch bookkeeping when `hash` joins or leaves the best chain.
    pub(super) fn mark_side(&mut self, hash: &Hash, side: bool) {
        let node = &self.nodes[hash];
        if side {
            self.n_side += 1;
            self.side_bytes = self.side_bytes.saturating_add(node.bytes);
            if node.children == 0 {
                self.side_leaves.insert(node.leaf_key());
            }
        } else {
            self.n_side -= 1;
            self.side_bytes = self.side_bytes.saturating_sub(node.bytes);
            self.side_leaves.remove(&node.leaf_key());
        }
    }
}
