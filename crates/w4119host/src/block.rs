//! The W4119 block: its fields, its hash (SHA-256 of `json.dumps` of the block without `hash`,
//! `sort_keys=True`), its proof of work (leading hex zeros), the fixed genesis block, a plain
//! miner, and the checks a block and a whole chain must pass. Reading a block from JSON is
//! checked field by field and fails with a [`BlockError`], never a panic.

use serde_json::Value;
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::wire::{python_dumps, Json};

/// The hash of the fixed genesis block every W4119 peer starts from.
pub const GENESIS_HASH: &str = "11ebe954fb06a6608d28849a2f9b440ab3665ae74d3bd03bf72230b40eeaae3c";

/// The leading hex zeros the running W4119 peer demands of every block but the genesis.
pub const DEFAULT_DIFFICULTY: usize = 2;

/// One vote. The fields are kept as whatever JSON arrived: the W4119 peer checks none of them.
#[derive(Debug, Clone, PartialEq)]
pub struct Transaction {
    /// Who voted (a string from honest peers).
    pub voter_id: Value,
    /// For whom (a string from honest peers; never checked against the ballot).
    pub candidate_id: Value,
    /// When, as `"YYYY-MM-DD HH:MM:SS"` from honest peers.
    pub timestamp: Value,
}

impl Transaction {
    /// A vote with string fields, as the W4119 peer makes them.
    pub fn new(voter: &str, candidate: &str, timestamp: &str) -> Transaction {
        Transaction {
            voter_id: Value::from(voter),
            candidate_id: Value::from(candidate),
            timestamp: Value::from(timestamp),
        }
    }

    /// The transaction's dictionary, keys in the W4119 order.
    pub fn to_json(&self) -> Json {
        Json::object([
            ("voter_id", Json::from(&self.voter_id)),
            ("candidate_id", Json::from(&self.candidate_id)),
            ("timestamp", Json::from(&self.timestamp)),
        ])
    }
}

/// A W4119 block as it travels in NEW_BLOCK and CHAIN_BLOCK.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// Its height; the genesis block is 0.
    pub index: u64,
    /// Its votes (one per block from an honest peer).
    pub transactions: Vec<Transaction>,
    /// When it was mined, `"YYYY-MM-DD HH:MM:SS"`.
    pub timestamp: String,
    /// The hash of its parent; `"0"` for the genesis block.
    pub previous_hash: String,
    /// The proof-of-work counter.
    pub nonce: u64,
    /// Its claimed hash, which [`Block::defect`] checks against [`Block::compute_hash`].
    pub hash: String,
}

/// Why a JSON value is not a block.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BlockError {
    /// The block is not a JSON object.
    #[error("The block is not a JSON object.")]
    NotAnObject,
    /// A field the block needs is absent.
    #[error("The block has no `{0}` field.")]
    MissingField(&'static str),
    /// A field has the wrong JSON type or range.
    #[error("The block's `{field}` field is not {expected}.")]
    WrongType {
        /// The field.
        field: &'static str,
        /// What it should have been.
        expected: &'static str,
    },
    /// A transaction is not an object with `voter_id`, `candidate_id` and `timestamp`.
    #[error(
        "Transaction {0} of the block is not an object with voter_id, candidate_id and timestamp."
    )]
    BadTransaction(usize),
}

/// Why a well-formed block does not belong where it was offered.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BlockDefect {
    /// The claimed hash is not the hash of the contents.
    #[error("The block's hash does not match its contents.")]
    HashMismatch,
    /// The hash lacks the leading zeros.
    #[error("The block's hash does not start with {0} zeros.")]
    InsufficientWork(usize),
    /// The index is not the parent's plus one.
    #[error("The block's index is {found}, not {expected}.")]
    WrongIndex {
        /// The index the block carries.
        found: u64,
        /// The parent's index plus one.
        expected: u64,
    },
    /// `previous_hash` is not the parent's hash.
    #[error("The block's previous_hash is not its parent's hash.")]
    WrongParent,
    /// A chain does not start with the fixed genesis block.
    #[error("The chain does not start with the W4119 genesis block.")]
    WrongGenesis,
    /// A chain has no blocks at all.
    #[error("The chain is empty.")]
    EmptyChain,
}

impl Block {
    /// The fixed genesis block: index 0, no transactions, nonce 0, previous hash `"0"`.
    pub fn genesis() -> Block {
        let mut block = Block {
            index: 0,
            transactions: Vec::new(),
            timestamp: "2000-01-01 00:00:00".to_owned(),
            previous_hash: "0".to_owned(),
            nonce: 0,
            hash: String::new(),
        };
        block.hash = block.compute_hash();
        block
    }

    /// The exact text the hash is taken over: `json.dumps` of the block without `hash`,
    /// `sort_keys=True`.
    pub fn hash_preimage(&self) -> String {
        python_dumps(&self.contents(), true)
    }

    /// The lowercase hex SHA-256 of [`Block::hash_preimage`].
    pub fn compute_hash(&self) -> String {
        hex::encode(Sha256::digest(self.hash_preimage().as_bytes()))
    }

    /// The block's dictionary as the W4119 peer sends it, keys in its order.
    pub fn to_json(&self) -> Json {
        let mut fields = self.content_fields();
        fields.push(("hash".to_owned(), Json::string(self.hash.clone())));
        Json::Object(fields)
    }

    /// The block without its hash.
    fn contents(&self) -> Json {
        Json::Object(self.content_fields())
    }

    /// The fields of the block but `hash`, in the W4119 order.
    fn content_fields(&self) -> Vec<(String, Json)> {
        vec![
            ("index".to_owned(), Json::int(self.index)),
            (
                "transactions".to_owned(),
                Json::Array(self.transactions.iter().map(Transaction::to_json).collect()),
            ),
            ("timestamp".to_owned(), Json::string(self.timestamp.clone())),
            (
                "previous_hash".to_owned(),
                Json::string(self.previous_hash.clone()),
            ),
            ("nonce".to_owned(), Json::int(self.nonce)),
        ]
    }

    /// Reads a block from the JSON of a NEW_BLOCK or CHAIN_BLOCK; every field is required.
    pub fn from_json(value: &Value) -> Result<Block, BlockError> {
        let fields = value.as_object().ok_or(BlockError::NotAnObject)?;
        let field = |name: &'static str| fields.get(name).ok_or(BlockError::MissingField(name));
        let unsigned = |name: &'static str| {
            field(name)?.as_u64().ok_or(BlockError::WrongType {
                field: name,
                expected: "a non-negative integer",
            })
        };
        let text = |name: &'static str| {
            field(name)?
                .as_str()
                .map(str::to_owned)
                .ok_or(BlockError::WrongType {
                    field: name,
                    expected: "a string",
                })
        };
        let index = unsigned("index")?;
        let nonce = unsigned("nonce")?;
        let timestamp = text("timestamp")?;
        let previous_hash = text("previous_hash")?;
        let hash = text("hash")?;
        let listed = field("transactions")?
            .as_array()
            .ok_or(BlockError::WrongType {
                field: "transactions",
                expected: "a list",
            })?;
        let mut transactions = Vec::with_capacity(listed.len());
        for (position, item) in listed.iter().enumerate() {
            let get = |name: &str| {
                item.get(name)
                    .cloned()
                    .ok_or(BlockError::BadTransaction(position))
            };
            transactions.push(Transaction {
                voter_id: get("voter_id")?,
                candidate_id: get("candidate_id")?,
                timestamp: get("timestamp")?,
            });
        }
        Ok(Block {
            index,
            transactions,
            timestamp,
            previous_hash,
            nonce,
            hash,
        })
    }

    /// Whether the claimed hash is the hash of the contents and has `difficulty` leading zeros.
    pub fn work_defect(&self, difficulty: usize) -> Option<BlockDefect> {
        if self.hash != self.compute_hash() {
            Some(BlockDefect::HashMismatch)
        } else if !has_work(&self.hash, difficulty) {
            Some(BlockDefect::InsufficientWork(difficulty))
        } else {
            None
        }
    }

    /// What, if anything, keeps this block from following `parent`: its hash and work, its
    /// index and its link.
    pub fn defect(&self, parent: &Block, difficulty: usize) -> Option<BlockDefect> {
        let expected = parent.index.saturating_add(1);
        if let Some(defect) = self.work_defect(difficulty) {
            Some(defect)
        } else if self.index != expected {
            Some(BlockDefect::WrongIndex {
                found: self.index,
                expected,
            })
        } else if self.previous_hash != parent.hash {
            Some(BlockDefect::WrongParent)
        } else {
            None
        }
    }
}

/// Whether a hex hash starts with `difficulty` `'0'` characters.
pub fn has_work(hash: &str, difficulty: usize) -> bool {
    hash.len() >= difficulty && hash.bytes().take(difficulty).all(|byte| byte == b'0')
}

/// Checks a whole chain: it starts with the fixed genesis block and every later block follows
/// its parent (hash, work, index, link).
pub fn chain_defect(chain: &[Block], difficulty: usize) -> Option<(usize, BlockDefect)> {
    let Some(first) = chain.first() else {
        return Some((0, BlockDefect::EmptyChain));
    };
    if *first != Block::genesis() {
        return Some((0, BlockDefect::WrongGenesis));
    }
    chain.windows(2).enumerate().find_map(|(position, pair)| {
        pair[1]
            .defect(&pair[0], difficulty)
            .map(|defect| (position + 1, defect))
    })
}

/// Mines the block after `parent` holding `transactions`, trying nonces from 0 upwards as the
/// W4119 peer does.
pub fn mine(
    parent: &Block,
    transactions: Vec<Transaction>,
    timestamp: &str,
    difficulty: usize,
) -> Block {
    let mut block = Block {
        index: parent.index.saturating_add(1),
        transactions,
        timestamp: timestamp.to_owned(),
        previous_hash: parent.hash.clone(),
        nonce: 0,
        hash: String::new(),
    };
    loop {
        let hash = block.compute_hash();
        if has_work(&hash, difficulty) {
            block.hash = hash;
            return block;
        }
        block.nonce += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A block and its hash computed by python3 (`json.dumps({...}, sort_keys=True)` and
    /// `hashlib.sha256(...).hexdigest()`), including escapes that `ensure_ascii` produces.
    const PY_PREIMAGE: &str = r#"{"index": 1, "nonce": 299, "previous_hash": "11ebe954fb06a6608d28849a2f9b440ab3665ae74d3bd03bf72230b40eeaae3c", "timestamp": "2025-01-01 12:00:05", "transactions": [{"candidate_id": "Adam", "timestamp": "2025-01-01 12:00:00", "voter_id": "alice"}, {"candidate_id": "Catherine\n", "timestamp": "2025-01-01 12:00:01", "voter_id": "b\u00f6b \"the\" \ud83d\ude00"}]}"#;
    const PY_HASH: &str = "a49ed5843d2c25e57bb2a2f879bfc82a63bc280f562bbda181c030ae72cdc100";

    #[test]
    fn genesis_hash_is_the_w4119_one() {
        let genesis = Block::genesis();
        assert_eq!(genesis.hash, GENESIS_HASH);
        assert_eq!(
            genesis.hash_preimage(),
            r#"{"index": 0, "nonce": 0, "previous_hash": "0", "timestamp": "2000-01-01 00:00:00", "transactions": []}"#
        );
    }

    fn python_block() -> Block {
        Block {
            index: 1,
            transactions: vec![
                Transaction::new("alice", "Adam", "2025-01-01 12:00:00"),
                Transaction::new(
                    "b\u{f6}b \"the\" \u{1f600}",
                    "Catherine\n",
                    "2025-01-01 12:00:01",
                ),
            ],
            timestamp: "2025-01-01 12:00:05".to_owned(),
            previous_hash: GENESIS_HASH.to_owned(),
            nonce: 299,
            hash: String::new(),
        }
    }

    #[test]
    fn hash_matches_python() {
        let block = python_block();
        assert_eq!(block.hash_preimage(), PY_PREIMAGE);
        assert_eq!(block.compute_hash(), PY_HASH);
    }

    #[test]
    fn json_round_trip_keeps_the_hash() {
        let mut block = python_block();
        block.hash = block.compute_hash();
        let text = python_dumps(&block.to_json(), false);
        assert!(text.starts_with(r#"{"index": 1, "transactions": [{"voter_id": "alice", "candidate_id": "Adam", "timestamp": "2025-01-01 12:00:00"}, "#));
        let value: Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(Block::from_json(&value), Ok(block));
    }

    #[test]
    fn mined_blocks_chain_and_defects_are_named() {
        let genesis = Block::genesis();
        let first = mine(&genesis, vec![Transaction::new("a", "Bob", "t")], "t", 2);
        assert!(first.hash.starts_with("00"));
        assert_eq!(first.defect(&genesis, 2), None);
        let second = mine(&first, Vec::new(), "t", 2);
        assert_eq!(
            chain_defect(&[genesis.clone(), first.clone(), second.clone()], 2),
            None
        );

        let mut forged = second.clone();
        forged
            .transactions
            .push(Transaction::new("mallory", "Bob", "t"));
        assert_eq!(forged.defect(&first, 2), Some(BlockDefect::HashMismatch));
        assert_eq!(
            second.defect(&genesis, 2),
            Some(BlockDefect::WrongIndex {
                found: 2,
                expected: 1
            })
        );
        assert_eq!(
            second.defect(&first, 60),
            Some(BlockDefect::InsufficientWork(60))
        );
        assert_eq!(
            chain_defect(std::slice::from_ref(&first), 2),
            Some((0, BlockDefect::WrongGenesis))
        );
        assert_eq!(chain_defect(&[], 2), Some((0, BlockDefect::EmptyChain)));
        // A correctly hashed block without the work: the first nonce whose hash lacks "00".
        let mut lazy = mine(&first, Vec::new(), "t", 0);
        while has_work(&lazy.hash, 2) {
            lazy.nonce += 1;
            lazy.hash = lazy.compute_hash();
        }
        assert_eq!(
            chain_defect(&[genesis, first, lazy], 2),
            Some((2, BlockDefect::InsufficientWork(2)))
        );
    }

    #[test]
    fn malformed_blocks_are_typed_errors() {
        let good = Block::genesis().to_json();
        let good: Value = serde_json::from_str(&python_dumps(&good, false)).expect("valid JSON");
        assert!(Block::from_json(&good).is_ok());
        assert_eq!(Block::from_json(&json!([1])), Err(BlockError::NotAnObject));
        for field in [
            "index",
            "transactions",
            "timestamp",
            "previous_hash",
            "nonce",
            "hash",
        ] {
            let mut broken = good.clone();
            broken.as_object_mut().map(|fields| fields.remove(field));
            assert_eq!(
                Block::from_json(&broken),
                Err(BlockError::MissingField(field))
            );
        }
        let mut negative = good.clone();
        negative["index"] = json!(-1);
        assert!(matches!(
            Block::from_json(&negative),
            Err(BlockError::WrongType { field: "index", .. })
        ));
        let mut bad_tx = good;
        bad_tx["transactions"] = json!([{"voter_id": "a"}]);
        assert_eq!(
            Block::from_json(&bad_tx),
            Err(BlockError::BadTransaction(0))
        );
    }
}
