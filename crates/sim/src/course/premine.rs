//! A valid course chain built up front, for scenarios that start from a long chain (a late
//! joiner that must sync hundreds of blocks). Blocks are mined for real at the given (low)
//! difficulty with [`CourseSearch`], one second apart, each carrying distinct words.

use super::EPOCH_MS;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use votechain_course::chain::CourseChain;
use votechain_course::miner::{CourseJob, CourseSearch, COUNTER_SPACE};

/// Attempts per search window; a window without a block moves on to the next.
const WINDOW: u64 = 1 << 20;

/// Mines a chain of `n_blocks` blocks at `difficulty`, by `mined_by`, block `h` carrying the
/// words `pre-h-0`…`pre-h-{words_per_block - 1}` (1 to 10 of them), timestamped one second apart
/// before the simulation's epoch.
pub fn premine(
    difficulty: u32,
    n_blocks: u64,
    words_per_block: usize,
    mined_by: &str,
    rng: &mut ChaCha8Rng,
) -> CourseChain {
    let mut chain = CourseChain::new(difficulty);
    let words_per_block = words_per_block.clamp(1, votechain_course::limits::MAX_MESSAGES);
    for height in 0..n_blocks {
        let job = CourseJob {
            prev: chain.tip().map(|t| t.hash),
            height,
            mined_by: mined_by.to_owned(),
            messages: (0..words_per_block)
                .map(|i| format!("pre-{height}-{i}"))
                .collect(),
            timestamp: (EPOCH_MS / 1_000).saturating_sub(n_blocks - height),
            difficulty,
        };
        let search = CourseSearch::new(&job);
        let mut start = rng.gen_range(0..COUNTER_SPACE / 2);
        let block = loop {
            if let Some(block) = search.search(start, WINDOW) {
                break block;
            }
            start += WINDOW;
        };
        // Mined on the tip with the chain's difficulty: it fits.
        if let Err(e) = chain.push(block) {
            unreachable!("a block mined on the tip did not fit: {e}");
        }
    }
    chain
}
