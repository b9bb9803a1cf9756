//! A W4119 chain: the fixed genesis block, then blocks each valid after the one before, at one
//! difficulty. The only ways in are [`W4119Chain::try_append`] and
//! [`W4119Chain::validate_chain`] (which appends), so every block held has a hash that is exactly
//! its contents' hash and follows its parent.
//!
//! Fork choice: the longest valid chain wins; of two chains of equal length, the one whose tip
//! hash is lower. W4119 has no tie-break (equal forks never resolved there, and a vote on the
//! side that kept its branch stayed stranded until someone voted again); with the hash as
//! tie-break every peer that sees both branches picks the same one, and W4119's own peers, which
//! adopt any complete chain they are sent, follow. A switch drops our blocks from the fork
//! point ([`W4119Chain::replaced_from`]); the caller should put their votes back in its pool.

use crate::block::{genesis, W4119Block};
use crate::error::W4119Error;

/// A valid W4119 chain from the genesis block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct W4119Chain {
    /// Invariant: `blocks[0]` is the genesis block, `blocks[i].index == i`, and each block
    /// passes `verify_after` its predecessor at `difficulty`.
    blocks: Vec<W4119Block>,
    /// Leading `'0'` hex characters every block after the genesis needs.
    difficulty: u32,
}

impl W4119Chain {
    /// The chain of the genesis block alone, whose next blocks need `difficulty` zeros.
    pub fn new(difficulty: u32) -> W4119Chain {
        W4119Chain {
            blocks: vec![genesis()],
            difficulty,
        }
    }

    /// Leading `'0'` hex characters every block after the genesis needs.
    pub fn difficulty(&self) -> u32 {
        self.difficulty
    }

    /// The top block.
    pub fn tip(&self) -> &W4119Block {
        // Cannot fail: the genesis block is never removed (`new` puts it in, `truncate` keeps
        // it, `validate_chain` starts from `new`).
        self.blocks
            .last()
            .expect("a W4119 chain always holds its genesis block")
    }

    /// The top block's index (0 for the genesis block alone).
    pub fn height(&self) -> u64 {
        self.tip().index
    }

    /// Number of blocks, the genesis block included (the `total_blocks` of CHAIN_BLOCK).
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// Always false: a chain holds at least the genesis block.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// Every block, from the genesis block.
    pub fn blocks(&self) -> &[W4119Block] {
        &self.blocks
    }

    /// The block at `index`.
    pub fn get(&self, index: u64) -> Option<&W4119Block> {
        usize::try_from(index).ok().and_then(|i| self.blocks.get(i))
    }

    /// Appends `block` if it is valid after the tip.
    pub fn try_append(&mut self, block: W4119Block) -> Result<(), W4119Error> {
        block.verify_after(self.tip(), self.difficulty)?;
        self.blocks.push(block);
        Ok(())
    }

    /// Validates `blocks` as a whole chain: the first must be the genesis block, each next one
    /// valid after it at `difficulty`. On the first bad block, its position and why.
    pub fn validate_chain(
        blocks: Vec<W4119Block>,
        difficulty: u32,
    ) -> Result<W4119Chain, (usize, W4119Error)> {
        let mut blocks = blocks.into_iter();
        match blocks.next() {
            Some(first) if first.is_genesis() => {}
            _ => return Err((0, W4119Error::NotGenesis)),
        }
        let mut chain = W4119Chain::new(difficulty);
        for (position, block) in blocks.enumerate() {
            chain.try_append(block).map_err(|why| (position + 1, why))?;
        }
        Ok(chain)
    }

    /// The index of the first block where the chains differ, which is also the number of blocks
    /// they share (at least 1: both start with the genesis block). Equal to both lengths when
    /// the chains are the same.
    pub fn fork_point(&self, other: &W4119Chain) -> u64 {
        let shared = self
            .blocks
            .iter()
            .zip(&other.blocks)
            .take_while(|(a, b)| a.hash == b.hash)
            .count();
        shared as u64
    }

    /// Our blocks from `index` on: what switching to a fork at `index` would drop. Empty when
    /// `index` is past the tip; never the genesis block.
    pub fn replaced_from(&self, index: u64) -> &[W4119Block] {
        let from = usize::try_from(index.max(1)).unwrap_or(usize::MAX);
        self.blocks.get(from..).unwrap_or(&[])
    }

    /// True when `other` should replace us: at the same difficulty, it is longer, or as long
    /// with a lower tip hash (module docs).
    pub fn prefers(&self, other: &W4119Chain) -> bool {
        other.difficulty == self.difficulty
            && (other.len() > self.len()
                || (other.len() == self.len() && other.tip().hash < self.tip().hash))
    }

    /// Switches to `other` if [`W4119Chain::prefers`] it, returning the blocks of ours it drops
    /// (possibly none, when `other` extends us); `None` keeps ours.
    pub fn adopt(&mut self, other: W4119Chain) -> Option<Vec<W4119Block>> {
        if !self.prefers(&other) {
            return None;
        }
        let dropped = self.replaced_from(self.fork_point(&other)).to_vec();
        *self = other;
        Some(dropped)
    }

    /// Keeps the first `len` blocks, and always the genesis block.
    pub fn truncate(&mut self, len: u64) {
        let len = usize::try_from(len.max(1)).unwrap_or(usize::MAX);
        self.blocks.truncate(len);
    }
}

#[cfg(test)]
mod tests;
