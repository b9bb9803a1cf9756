//! A course chain: blocks valid one after the other from height 0, at one difficulty. The only
//! way in is [`CourseChain::push`] (or [`CourseChain::from_blocks`], which pushes), so every
//! block held has a hash that matches its contents and follows its parent.

use crate::block::{CourseBlock, CourseError};

/// A valid course chain from its genesis block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CourseChain {
    /// Invariant: `blocks[i].height == i` and each block passes `verify_after` its predecessor.
    blocks: Vec<CourseBlock>,
    /// Trailing `'0'` hex characters every block's hash needs.
    difficulty: u32,
}

impl CourseChain {
    /// An empty chain whose blocks need `difficulty` trailing zeros.
    pub fn new(difficulty: u32) -> CourseChain {
        CourseChain {
            blocks: Vec::new(),
            difficulty,
        }
    }

    /// Trailing `'0'` hex characters every block's hash needs.
    pub fn difficulty(&self) -> u32 {
        self.difficulty
    }

    /// Number of blocks (the top block's height + 1): the `height` of a STATS_REPLY.
    pub fn len(&self) -> u64 {
        self.blocks.len() as u64
    }

    /// True when the chain has no block, not even a genesis block.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// The top block.
    pub fn tip(&self) -> Option<&CourseBlock> {
        self.blocks.last()
    }

    /// The block at `height`.
    pub fn get(&self, height: u64) -> Option<&CourseBlock> {
        usize::try_from(height)
            .ok()
            .and_then(|h| self.blocks.get(h))
    }

    /// Every block, from height 0.
    pub fn blocks(&self) -> &[CourseBlock] {
        &self.blocks
    }

    /// Appends `block` if it is valid after the tip (as the genesis block when empty).
    pub fn push(&mut self, block: CourseBlock) -> Result<(), CourseError> {
        block.verify_after(self.tip(), self.difficulty)?;
        self.blocks.push(block);
        Ok(())
    }

    /// Keeps the first `len` blocks (all of them if there are fewer).
    pub fn truncate(&mut self, len: u64) {
        self.blocks
            .truncate(usize::try_from(len).unwrap_or(usize::MAX));
    }

    /// Validates `blocks` as a whole chain from height 0, block by block. On the first invalid
    /// block, returns the valid prefix before it with the reason.
    pub fn from_blocks(
        blocks: Vec<CourseBlock>,
        difficulty: u32,
    ) -> Result<CourseChain, (CourseChain, CourseError)> {
        let mut chain = CourseChain::new(difficulty);
        chain.blocks.reserve(blocks.len());
        for block in blocks {
            if let Err(e) = chain.push(block) {
                return Err((chain, e));
            }
        }
        Ok(chain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::tests::{fall2023_genesis, fall2024_genesis, fall2024_one};
    use crate::limits::DEFAULT_DIFFICULTY;

    #[test]
    fn the_fall_2024_chain_validates_and_a_bad_block_keeps_the_prefix() {
        let chain =
            CourseChain::from_blocks(vec![fall2024_genesis(), fall2024_one()], DEFAULT_DIFFICULTY)
                .unwrap();
        assert_eq!(chain.len(), 2);
        assert_eq!(chain.tip(), Some(&fall2024_one()));
        assert_eq!(chain.get(0), Some(&fall2024_genesis()));
        assert_eq!(chain.get(2), None);

        let mut bad = fall2024_one();
        bad.messages[0] = "tesT".into();
        let (prefix, why) =
            CourseChain::from_blocks(vec![fall2024_genesis(), bad], DEFAULT_DIFFICULTY)
                .unwrap_err();
        assert_eq!(prefix.blocks(), [fall2024_genesis()]);
        assert!(matches!(why, CourseError::BadLink { .. }), "{why}");

        let (prefix, why) =
            CourseChain::from_blocks(vec![fall2023_genesis(), fall2024_one()], DEFAULT_DIFFICULTY)
                .unwrap_err();
        assert_eq!(prefix.len(), 1);
        assert!(matches!(why, CourseError::BadLink { .. }));
    }

    #[test]
    fn push_and_truncate() {
        let mut chain = CourseChain::new(DEFAULT_DIFFICULTY);
        assert!(chain.is_empty() && chain.tip().is_none());
        assert!(chain.push(fall2024_one()).is_err());
        chain.push(fall2024_genesis()).unwrap();
        chain.push(fall2024_one()).unwrap();
        assert!(chain.push(fall2024_one()).is_err());
        chain.truncate(1);
        assert_eq!(chain.len(), 1);
        chain.truncate(5);
        assert_eq!(chain.len(), 1);
        chain.truncate(0);
        assert!(chain.is_empty());
    }
}
