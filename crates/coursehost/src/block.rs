//! The course block: its hash rule, its validity rules and its flat JSON form, written straight
//! from the specification ("Seed B" in `shared/reference/seed-protocols.md`) with no shortcuts, so
//! that it can serve as the referee for other implementations.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// The most messages a block may carry.
pub const MAX_MESSAGES: usize = 10;
/// The most characters (Unicode scalar values, as Python's `len` counts them) in one message.
pub const MAX_MESSAGE_CHARS: usize = 20;
/// A nonce must have fewer characters than this.
pub const NONCE_CHARS_LIMIT: usize = 40;

/// One block of a course chain, as a course peer holds and serves it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Block {
    /// The block's position in the chain: 0 for the genesis block.
    pub height: u64,
    /// Free text naming the miner (`minedBy` on the wire); part of the hash.
    pub mined_by: String,
    /// The words mined into the block: 1 to 10, each at most 20 characters.
    pub messages: Vec<String>,
    /// The proof-of-work nonce, a string of fewer than 40 characters.
    pub nonce: String,
    /// Seconds since the Unix epoch; hashed as 8 bytes big-endian.
    pub timestamp: u64,
    /// The block's SHA-256 as lowercase hex, as the course's `hexdigest()` writes it.
    pub hash: String,
}

/// The course hash: one SHA-256 over the previous block's hex hash (left out for the genesis
/// block), `minedBy`, each message in order, the timestamp as 8 bytes big-endian and the nonce,
/// concatenated without separators; returned as lowercase hex.
pub fn hash_block(
    prev_hash: Option<&str>,
    mined_by: &str,
    messages: &[String],
    timestamp: u64,
    nonce: &str,
) -> String {
    hex::encode(block_digest(
        prev_hash, mined_by, messages, timestamp, nonce,
    ))
}

/// The course hash as raw bytes (see [`hash_block`]).
pub(crate) fn block_digest(
    prev_hash: Option<&str>,
    mined_by: &str,
    messages: &[String],
    timestamp: u64,
    nonce: &str,
) -> [u8; 32] {
    let mut hasher = Sha256::new();
    if let Some(prev_hash) = prev_hash {
        hasher.update(prev_hash.as_bytes());
    }
    hasher.update(mined_by.as_bytes());
    for message in messages {
        hasher.update(message.as_bytes());
    }
    hasher.update(timestamp.to_be_bytes());
    hasher.update(nonce.as_bytes());
    hasher.finalize().into()
}

/// Whether `hash` shows the work of `difficulty`: it ends with `difficulty` `'0'` characters.
pub fn valid_hash(hash: &str, difficulty: usize) -> bool {
    hash.len() >= difficulty && hash.bytes().rev().take(difficulty).all(|b| b == b'0')
}

/// Whether `block` may follow `prev` (`None`: `block` must be a genesis block) at `difficulty`:
/// its height is the next one, its messages and nonce are within the limits, its hash is the
/// course hash of its contents linked to `prev`'s hash, and that hash shows the work.
pub fn block_valid(prev: Option<&Block>, block: &Block, difficulty: usize) -> bool {
    let expected_height = match prev {
        None => 0,
        Some(prev) => match prev.height.checked_add(1) {
            Some(height) => height,
            None => return false,
        },
    };
    if block.height != expected_height {
        return false;
    }
    if block.messages.is_empty() || block.messages.len() > MAX_MESSAGES {
        return false;
    }
    if block
        .messages
        .iter()
        .any(|message| message.chars().count() > MAX_MESSAGE_CHARS)
    {
        return false;
    }
    if block.nonce.chars().count() >= NONCE_CHARS_LIMIT {
        return false;
    }
    let recomputed = hash_block(
        prev.map(|prev| prev.hash.as_str()),
        &block.mined_by,
        &block.messages,
        block.timestamp,
        &block.nonce,
    );
    recomputed == block.hash && valid_hash(&block.hash, difficulty)
}

/// Whether `chain` is a whole valid chain at `difficulty`: a genesis block and then each block
/// valid after the one before it. The empty chain is valid.
pub fn chain_valid(chain: &[Block], difficulty: usize) -> bool {
    let mut prev: Option<&Block> = None;
    for block in chain {
        if !block_valid(prev, block, difficulty) {
            return false;
        }
        prev = Some(block);
    }
    true
}

/// The flat course form of a block, as a GET_BLOCK_REPLY or an ANNOUNCE carries it: the block's
/// fields at the top level next to `"type": ty`, no `block` key.
pub fn block_to_json(b: &Block, ty: &str) -> Value {
    json!({
        "type": ty,
        "height": b.height,
        "minedBy": b.mined_by,
        "messages": b.messages,
        "nonce": b.nonce,
        "hash": b.hash,
        "timestamp": b.timestamp,
    })
}

/// The GET_BLOCK_REPLY a course peer sends for a height it does not have: every block field is
/// `null`.
pub fn null_block_reply() -> Value {
    json!({
        "type": "GET_BLOCK_REPLY",
        "height": null,
        "minedBy": null,
        "messages": null,
        "nonce": null,
        "hash": null,
        "timestamp": null,
    })
}

/// Reads a block from its flat course form (any `type`). `None` when a field is missing, `null`
/// or of the wrong kind: the null form of GET_BLOCK_REPLY reads as `None`. The block's validity is
/// not checked here (see [`block_valid`]).
pub fn block_from_json(v: &Value) -> Option<Block> {
    let messages = v
        .get("messages")?
        .as_array()?
        .iter()
        .map(|message| message.as_str().map(str::to_owned))
        .collect::<Option<Vec<String>>>()?;
    Some(Block {
        height: v.get("height")?.as_u64()?,
        mined_by: v.get("minedBy")?.as_str()?.to_owned(),
        messages,
        nonce: v.get("nonce")?.as_str()?.to_owned(),
        timestamp: v.get("timestamp")?.as_u64()?,
        hash: v.get("hash")?.as_str()?.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(words: &[&str]) -> Vec<String> {
        words.iter().map(|word| (*word).to_owned()).collect()
    }

    fn fall_2024_genesis() -> Block {
        Block {
            height: 0,
            mined_by: "Prof!".into(),
            messages: strings(&["Keep it", "simple.", "Veni", "vidi", "vici"]),
            nonce: "663135608617883".into(),
            timestamp: 1730910874,
            hash: "75977fa09516d028befa0695e16c93be20271b66630236d38718e35700000000".into(),
        }
    }

    fn fall_2024_height_1() -> Block {
        Block {
            height: 1,
            mined_by: "Prof!".into(),
            messages: strings(&["test"]),
            nonce: "4776171179467".into(),
            timestamp: 1730974785,
            hash: "5c25ae996e712fc8e93c10a1b9fd3b42dd408aaa65f4c3e4dfe8982800000000".into(),
        }
    }

    fn fall_2023_genesis() -> Block {
        Block {
            height: 0,
            mined_by: "Prof!".into(),
            messages: strings(&[
                "3010 rocks",
                "Warning:",
                "Procrastinators",
                "will be sent back",
                "in time to start",
                "early.",
            ]),
            nonce: "7965175207940".into(),
            timestamp: 1699293749,
            hash: "2483cc5c0d2fdbeeba3c942bde825270f345b2e9cd28f22d12ba347300000000".into(),
        }
    }

    #[test]
    fn the_three_test_vectors_hash_and_validate_at_difficulty_8() {
        let genesis = fall_2024_genesis();
        let second = fall_2024_height_1();
        let other = fall_2023_genesis();
        assert_eq!(
            hash_block(
                None,
                &genesis.mined_by,
                &genesis.messages,
                genesis.timestamp,
                &genesis.nonce
            ),
            genesis.hash
        );
        assert_eq!(
            hash_block(
                Some(&genesis.hash),
                &second.mined_by,
                &second.messages,
                second.timestamp,
                &second.nonce
            ),
            second.hash
        );
        assert!(block_valid(None, &genesis, 8));
        assert!(block_valid(Some(&genesis), &second, 8));
        assert!(block_valid(None, &other, 8));
        assert!(chain_valid(&[genesis, second], 8));
        assert!(!block_valid(None, &other, 9), "only 8 trailing zeros");
    }

    #[test]
    fn a_block_fails_when_any_rule_fails() {
        let genesis = fall_2024_genesis();
        let second = fall_2024_height_1();
        assert!(!block_valid(None, &second, 8), "height 1 is not a genesis");
        assert!(!block_valid(Some(&second), &genesis, 8), "wrong height");
        let mut tampered = second.clone();
        tampered.timestamp += 1;
        assert!(!block_valid(Some(&genesis), &tampered, 8), "hash mismatch");
        let mut unlinked = genesis.clone();
        unlinked.hash = "0".repeat(64);
        assert!(
            !block_valid(Some(&unlinked), &second, 8),
            "the link is hashed"
        );
        let mut upper = genesis.clone();
        upper.hash = upper.hash.to_uppercase();
        assert!(!block_valid(None, &upper, 8), "the hash is lowercase hex");
    }

    #[test]
    fn the_limits_are_checked_before_anything_is_believed() {
        let base = Block {
            height: 0,
            mined_by: "m".into(),
            messages: strings(&["a"]),
            nonce: "0".into(),
            timestamp: 1,
            hash: String::new(),
        };
        let rehash = |mut b: Block| {
            b.hash = hash_block(None, &b.mined_by, &b.messages, b.timestamp, &b.nonce);
            b
        };
        assert!(block_valid(None, &rehash(base.clone()), 0));
        let none = Block {
            messages: vec![],
            ..base.clone()
        };
        assert!(!block_valid(None, &rehash(none), 0));
        let eleven = Block {
            messages: vec!["a".into(); 11],
            ..base.clone()
        };
        assert!(!block_valid(None, &rehash(eleven), 0));
        let ten = Block {
            messages: vec!["a".into(); 10],
            ..base.clone()
        };
        assert!(block_valid(None, &rehash(ten), 0));
        let long = Block {
            messages: vec!["x".repeat(21)],
            ..base.clone()
        };
        assert!(!block_valid(None, &rehash(long), 0));
        let twenty_chars = Block {
            messages: vec!["é".repeat(20)],
            ..base.clone()
        };
        assert!(block_valid(None, &rehash(twenty_chars), 0), "characters");
        let nonce_40 = Block {
            nonce: "1".repeat(40),
            ..base.clone()
        };
        assert!(!block_valid(None, &rehash(nonce_40), 0));
        let nonce_39 = Block {
            nonce: "1".repeat(39),
            ..base
        };
        assert!(block_valid(None, &rehash(nonce_39), 0));
    }

    #[test]
    fn valid_hash_counts_trailing_zeros() {
        assert!(valid_hash("ab00", 2));
        assert!(!valid_hash("a0b0", 2));
        assert!(valid_hash("", 0));
        assert!(!valid_hash("00", 3));
    }

    #[test]
    fn the_flat_form_round_trips_and_the_null_form_reads_as_none() {
        let genesis = fall_2024_genesis();
        let value = block_to_json(&genesis, "GET_BLOCK_REPLY");
        assert_eq!(
            value,
            serde_json::json!({
                "type": "GET_BLOCK_REPLY",
                "height": 0,
                "minedBy": "Prof!",
                "nonce": "663135608617883",
                "messages": ["Keep it", "simple.", "Veni", "vidi", "vici"],
                "hash": "75977fa09516d028befa0695e16c93be20271b66630236d38718e35700000000",
                "timestamp": 1730910874u64,
            })
        );
        assert_eq!(block_from_json(&value), Some(genesis));
        assert_eq!(block_from_json(&null_block_reply()), None);
        assert_eq!(block_from_json(&serde_json::json!({"height": 0})), None);
        assert_eq!(
            block_from_json(&serde_json::json!({
                "height": -1, "minedBy": "a", "messages": ["a"], "nonce": "1",
                "hash": "00", "timestamp": 1
            })),
            None
        );
        assert_eq!(
            block_from_json(&serde_json::json!({
                "height": 0, "minedBy": "a", "messages": ["a", 3], "nonce": "1",
                "hash": "00", "timestamp": 1
            })),
            None
        );
    }
}
