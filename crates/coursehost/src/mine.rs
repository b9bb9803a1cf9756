//! A plain miner for test chains: a single-threaded loop over decimal nonces, hashing each
//! candidate in full with the course hash (no midstate), which is fast enough at difficulty 1
//! to 4. The only economy is that a candidate's hex is written out only once it shows the work.

use std::fmt::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::block::{block_digest, valid_hash, Block};

/// The timestamp of the first block [`mine_chain`] makes (the course's Fall 2024 genesis).
const FIRST_TIMESTAMP: u64 = 1_730_910_874;

/// Words for test blocks: ASCII and not, with punctuation that JSON must escape, and a message of
/// exactly 20 characters. Each is at most 20 bytes, so it passes byte and character limits alike.
const WORDS: &[&str] = &[
    "vote",
    "Keep it",
    "simple.",
    "Veni",
    "vidi",
    "vici",
    "3010 rocks",
    "say \"hi\"",
    "back\\slash",
    "café",
    "naïve",
    "Ωmega",
    "tab\there",
    "exactly twenty chars",
    "x",
    "Procrastinators",
    "{\"json\": 1}",
    "中文",
];

/// A small deterministic generator (splitmix64), so that a seed always gives the same chain.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        // n is a small list length, so the modulo bias is irrelevant for test data.
        (self.next() % n as u64) as usize
    }
}

/// Mines one block after `prev` with these contents: tries the decimal nonces
/// `first_nonce, first_nonce + 1, …` until the hash ends with `difficulty` zeros.
pub fn mine_block(
    prev: Option<&Block>,
    messages: Vec<String>,
    timestamp: u64,
    difficulty: usize,
    mined_by: &str,
    first_nonce: u64,
) -> Block {
    let prev_hash = prev.map(|prev| prev.hash.as_str());
    let mut nonce = first_nonce;
    let mut nonce_text = String::new();
    loop {
        nonce_text.clear();
        // Writing to a String cannot fail.
        let _ = write!(nonce_text, "{nonce}");
        let digest = block_digest(prev_hash, mined_by, &messages, timestamp, &nonce_text);
        if trailing_zero_nibbles(&digest) >= difficulty {
            let hash = hex::encode(digest);
            debug_assert!(valid_hash(&hash, difficulty));
            return Block {
                height: prev.map_or(0, |prev| prev.height + 1),
                mined_by: mined_by.to_owned(),
                messages,
                nonce: nonce_text,
                timestamp,
                hash,
            };
        }
        nonce = nonce.wrapping_add(1);
    }
}

/// How many `'0'` characters the digest's hex form ends with.
fn trailing_zero_nibbles(digest: &[u8; 32]) -> usize {
    let mut zeros = 0;
    for byte in digest.iter().rev() {
        if *byte == 0 {
            zeros += 2;
        } else {
            if byte & 0x0f == 0 {
                zeros += 1;
            }
            break;
        }
    }
    zeros
}

/// Mines a block with `messages` on top of `prev` (`None`: a genesis block), stamped with the
/// current time (or one second after `prev`, if the clock is not past it). The messages are not
/// checked: pass 1 to 10 of at most 20 characters for a valid block.
pub fn mine_on(
    prev: Option<&Block>,
    messages: Vec<String>,
    difficulty: usize,
    mined_by: &str,
) -> Block {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    let timestamp = match prev {
        Some(prev) if now <= prev.timestamp => prev.timestamp + 1,
        _ => now,
    };
    mine_block(prev, messages, timestamp, difficulty, mined_by, 0)
}

/// A valid chain of `n` blocks at `difficulty`, the same for the same arguments: 1 to 10
/// messages per block drawn from a varied word list (non-ASCII, escapes, a 20-character message),
/// timestamps increasing from the course's Fall 2024 genesis, nonces counting up from a
/// seed-dependent start. Cost: about 4^difficulty hashes a block (in the test profile roughly
/// 0.2 ms a block at difficulty 2, 3.5 ms at 3, 50 ms at 4).
pub fn mine_chain(n: usize, difficulty: usize, mined_by: &str, seed: u64) -> Vec<Block> {
    let mut rng = SplitMix64(seed);
    let mut chain: Vec<Block> = Vec::with_capacity(n);
    let mut timestamp = FIRST_TIMESTAMP;
    for index in 0..n {
        // The first blocks show the extremes (1 and 10 messages); the rest vary.
        let count = match index {
            0 => 1,
            1 => 10,
            _ => 1 + rng.below(10),
        };
        let messages = (0..count)
            .map(|_| WORDS[rng.below(WORDS.len())].to_owned())
            .collect();
        timestamp += 1 + rng.below(600) as u64;
        let first_nonce = rng.next() % 1_000_000_000_000;
        let block = mine_block(
            chain.last(),
            messages,
            timestamp,
            difficulty,
            mined_by,
            first_nonce,
        );
        chain.push(block);
    }
    chain
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::{block_valid, chain_valid, MAX_MESSAGE_CHARS};

    #[test]
    fn trailing_zero_nibbles_read_the_hex_form() {
        let mut digest = [0xffu8; 32];
        assert_eq!(trailing_zero_nibbles(&digest), 0);
        digest[31] = 0x10;
        assert_eq!(trailing_zero_nibbles(&digest), 1);
        digest[31] = 0x00;
        digest[30] = 0x01;
        assert_eq!(trailing_zero_nibbles(&digest), 2);
        digest[30] = 0xa0;
        assert_eq!(trailing_zero_nibbles(&digest), 3);
        assert_eq!(trailing_zero_nibbles(&[0u8; 32]), 64);
    }

    #[test]
    fn the_word_list_fits_the_limits() {
        for word in WORDS {
            assert!(word.len() <= MAX_MESSAGE_CHARS, "{word:?}");
        }
    }

    #[test]
    fn mine_chain_is_valid_varied_and_deterministic() {
        let chain = mine_chain(40, 2, "tester", 7);
        assert_eq!(chain.len(), 40);
        assert!(chain_valid(&chain, 2));
        for (index, block) in chain.iter().enumerate() {
            assert_eq!(block.height, index as u64);
        }
        assert!(chain.windows(2).all(|w| w[0].timestamp < w[1].timestamp));
        assert_eq!(chain[0].messages.len(), 1);
        assert_eq!(chain[1].messages.len(), 10);
        assert_eq!(chain, mine_chain(40, 2, "tester", 7));
        assert_ne!(chain, mine_chain(40, 2, "tester", 8));
        assert!(!chain_valid(&chain, 9), "difficulty 2 is not difficulty 9");
    }

    #[test]
    fn mine_on_extends_a_chain() {
        let chain = mine_chain(2, 1, "a", 1);
        let next = mine_on(chain.last(), vec!["next".into()], 3, "b");
        assert_eq!(next.height, 2);
        assert!(next.timestamp > chain[1].timestamp);
        assert!(block_valid(chain.last(), &next, 3));
        let genesis = mine_on(None, vec!["g".into()], 1, "b");
        assert!(block_valid(None, &genesis, 1));
    }
}
