//! Valid course chains built up front, for scenarios that start from a long chain (a late
//! joiner that must sync hundreds of blocks) or from a fork. Blocks are mined for real at the
//! chain's (low) difficulty with [`CourseSearch`], each carrying distinct words.

use super::EPOCH_MS;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use votechain_course::chain::CourseChain;
use votechain_course::miner::{CourseJob, CourseSearch, COUNTER_SPACE};

/// Attempts per search window; a window without a block moves on to the next.
const WINDOW: u64 = 1 << 20;

/// Mines one block carrying `messages` (1 to 10 of at most 20 characters) by `mined_by` at
/// Unix time `timestamp` onto `chain`, at the chain's difficulty.
pub fn mine_on(
    chain: &mut CourseChain,
    messages: Vec<String>,
    mined_by: &str,
    timestamp: u64,
    rng: &mut ChaCha8Rng,
) {
    let job = CourseJob {
        prev: chain.tip().map(|t| t.hash),
        height: chain.len(),
        mined_by: mined_by.to_owned(),
        messages,
        timestamp,
        difficulty: chain.difficulty(),
    };
    let search = CourseSearch::new(&job);
    let mut start = rng.gen_range(0..COUNTER_SPACE / 2);
    let block = loop {
        if let Some(block) = search.search(start, WINDOW) {
            break block;
        }
        start += WINDOW;
    };
    // Mined on the tip at the chain's difficulty: it fits unless the caller broke the limits.
    if let Err(e) = chain.push(block) {
        panic!("a block mined on the tip did not fit (check the messages' limits): {e}");
    }
}

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
        let words = (0..words_per_block)
            .map(|i| format!("pre-{height}-{i}"))
            .collect();
        let timestamp = (EPOCH_MS / 1_000).saturating_sub(n_blocks - height);
        mine_on(&mut chain, words, mined_by, timestamp, rng);
    }
    chain
}
