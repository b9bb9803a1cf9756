//! The read side of the chain state: the block template a miner works on, the tip, blocks by
//! hash or height, the best chain, the pool and the counters. Nothing here changes the state.

use super::{ChainState, ChainStats};
use crate::ballot::Ballot;
use crate::block::{Block, BlockFormatError, BlockTemplate};
use crate::hash::{Hash, PublicKey};
use crate::header::work;
use crate::limits::{MAX_VOTES_PER_BLOCK, RELAY_DISTANCE_BLOCKS};
use crate::pool::Pool;

impl ChainState {
    /// A template for the next block on the best tip: the oldest pending votes (none once the
    /// ballot is closed), stamped `now_ms` but never before the tip.
    pub fn template(&self, now_ms: u64, miner: &str) -> Result<BlockTemplate, BlockFormatError> {
        self.template_with(now_ms, miner, |_| true)
    }

    /// [`ChainState::template`] with only the pending votes whose id `wanted` accepts (the
    /// oldest of them): a peer mines at once only the votes it is due to mine.
    pub fn template_with(
        &self,
        now_ms: u64,
        miner: &str,
        wanted: impl FnMut(&Hash) -> bool,
    ) -> Result<BlockTemplate, BlockFormatError> {
        let tip = self.tip();
        let votes = if self.closed_at(tip.height().saturating_add(1)) {
            Vec::new()
        } else {
            self.pool.select_where(MAX_VOTES_PER_BLOCK, wanted)
        };
        let timestamp = now_ms.max(tip.header().timestamp_ms);
        BlockTemplate::new(
            tip.hash(),
            tip.height(),
            self.ballot.difficulty,
            timestamp,
            miner,
            votes,
        )
    }

    /// True when a block at `height` may carry no votes.
    pub(super) fn closed_at(&self, height: u64) -> bool {
        self.ballot.closing_height.is_some_and(|c| height > c)
    }

    /// The ballot.
    pub fn ballot(&self) -> &Ballot {
        &self.ballot
    }
    /// The election id: the genesis hash.
    pub fn election(&self) -> Hash {
        self.election
    }
    /// The best tip.
    pub fn tip(&self) -> &Block {
        &self.nodes[self.tip_hash_ref()].block
    }
    /// The best tip's hash.
    pub fn tip_hash(&self) -> Hash {
        *self.tip_hash_ref()
    }
    /// The best tip's height.
    pub fn height(&self) -> u64 {
        self.chain.len() as u64 - 1
    }
    /// Cumulative work of the best chain.
    pub fn cumulative_work(&self) -> u128 {
        self.nodes[self.tip_hash_ref()].cum_work
    }
    /// Cumulative work from genesis to `hash`, if it is in the tree.
    pub fn work_of(&self, hash: &Hash) -> Option<u128> {
        self.nodes.get(hash).map(|n| n.cum_work)
    }
    /// A block in the tree, on any branch.
    pub fn block(&self, hash: &Hash) -> Option<&Block> {
        self.nodes.get(hash).map(|n| &n.block)
    }
    /// True when `hash` is in the tree.
    pub fn contains(&self, hash: &Hash) -> bool {
        self.nodes.contains_key(hash)
    }
    /// True when `hash` waits in the orphan pool.
    pub fn is_orphan(&self, hash: &Hash) -> bool {
        self.orphans.contains(hash)
    }
    /// The best chain's block at `height`.
    pub fn block_at(&self, height: u64) -> Option<&Block> {
        let hash = self.chain.get(usize::try_from(height).ok()?)?;
        Some(&self.nodes[hash].block)
    }
    /// The best chain from genesis to the tip.
    pub fn best_chain(&self) -> impl Iterator<Item = &Block> {
        self.chain.iter().map(|h| &self.nodes[h].block)
    }
    /// True when `hash` is on the best chain.
    pub fn on_best_chain(&self, hash: &Hash) -> bool {
        self.nodes
            .get(hash)
            .is_some_and(|n| self.chain.get(n.block.height() as usize) == Some(hash))
    }
    /// True when `hash` is in the tree and worth relaying to other peers: its cumulative work is
    /// at least the best tip's minus [`RELAY_DISTANCE_BLOCKS`] blocks' work. Such a block is on
    /// the best chain or could become its tip within a few blocks (a competing tip or its close
    /// parent). A side block deeper below the tip is kept (it may still win through a sync, which
    /// fetches branches on request), but relaying it would let cheap blocks off old ancestors
    /// flood every peer at no cost to their maker.
    pub fn within_relay_distance(&self, hash: &Hash) -> bool {
        let Some(node) = self.nodes.get(hash) else {
            return false;
        };
        let slack = work(self.ballot.difficulty).saturating_mul(u128::from(RELAY_DISTANCE_BLOCKS));
        node.cum_work.saturating_add(slack) >= self.cumulative_work()
    }

    /// True when a side branch has as much work as the best chain: the network is split on a
    /// tie that only one more block on either side resolves, so a peer that mines only for
    /// pending votes should mine now too. Side tips are ordered by work, so this is O(log n).
    pub fn contested(&self) -> bool {
        self.side_leaves
            .last()
            .is_some_and(|(work, _, _)| *work >= self.cumulative_work())
    }

    /// The pending pool.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The id of `voter`'s vote: the one on the best chain, else the one pending. A console
    /// names the voter with it when a second vote is refused.
    pub fn vote_of(&self, voter: &PublicKey) -> Option<Hash> {
        self.chain_voters
            .get(voter)
            .copied()
            .or_else(|| self.pool.voter_pending(voter))
    }
    /// Counters for logs and metrics.
    pub fn stats(&self) -> ChainStats {
        ChainStats {
            blocks: self.nodes.len(),
            side_blocks: self.n_side,
            side_bytes: self.side_bytes,
            side_evicted: self.side_evicted,
            orphans: self.orphans.len(),
            orphans_evicted: self.orphans.evicted(),
            pending: self.pool.len(),
            pending_refused: self.pool.refused(),
            rejections: self.rejections.len(),
        }
    }
}
