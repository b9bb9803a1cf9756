//! One W4119 block, its hash rule and the checks a block must pass: our limits, a hash that is
//! exactly its contents' hash, the proof of work, and its place after its parent.
//!
//! The hash is the lowercase hex SHA-256 of `json.dumps({"index", "transactions", "timestamp",
//! "previous_hash", "nonce"}, sort_keys=True)`: Python's default separators and ASCII escapes,
//! keys sorted at every level, inside transactions too ([`crate::pyjson`]). The claimed `hash` is
//! compared as a string, as the Python peer compares it, so an upper-case hash is refused even
//! when it spells the right digest: a W4119 peer would refuse it, and accepting it would split us
//! from them. Proof of work: the hex hash starts with `difficulty` `'0'`s. The genesis block is
//! fixed ([`genesis`]) and needs no proof of work.

use crate::error::W4119Error;
use crate::limits::{
    MAX_BLOCK_JSON_BYTES, MAX_DIFFICULTY, MAX_STRING_BYTES, MAX_TRANSACTIONS, MAX_TRANSACTION_DEPTH,
};
use crate::pyjson::{python_dumps, python_dumps_str, PyDict, PyValue};
use sha2::{Digest, Sha256};

mod json;

/// The genesis block's hash, fixed by W4119.
pub const GENESIS_HASH: &str = "11ebe954fb06a6608d28849a2f9b440ab3665ae74d3bd03bf72230b40eeaae3c";
/// The genesis block's timestamp.
pub const GENESIS_TIMESTAMP: &str = "2000-01-01 00:00:00";

/// A block of the W4119 chain, as its peers send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct W4119Block {
    /// Distance from the genesis block (which is 0).
    pub index: u64,
    /// The votes (or whatever else) it records, each kept exactly as it came.
    pub transactions: Vec<Transaction>,
    /// When it was mined, "YYYY-MM-DD HH:MM:SS" by convention; hashed, never parsed.
    pub timestamp: String,
    /// The parent's hash ("0" for the genesis block).
    pub previous_hash: String,
    /// The proof-of-work nonce. A Python int beyond 2^64 - 1 is refused when decoding.
    pub nonce: u64,
    /// The hash the block claims; [`W4119Block::check_alone`] recomputes it.
    pub hash: String,
}

/// One transaction: a dict kept with every key it came with, in its order, so that its relayed
/// form is the author's. W4119 rebuilds a transaction from exactly `voter_id`, `candidate_id`
/// and `timestamp` (its `Transaction.to_dict()`), so those three, and only those, are hashed
/// ([`Transaction::HASHED`]); a block whose transaction lacks one of them, or has an empty
/// `timestamp` (which W4119 replaces with the current time), is refused as W4119 refuses it.
/// Their values may be any JSON W4119 accepts; a vote has three strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    /// The keys and values as received.
    fields: PyDict,
}

impl Transaction {
    /// The keys W4119 hashes, in its `to_dict()` order.
    pub const HASHED: [&'static str; 3] = ["voter_id", "candidate_id", "timestamp"];

    /// A vote, with its keys in the W4119 peer's order: `voter_id`, `candidate_id`, `timestamp`.
    pub fn vote(voter: &str, candidate: &str, timestamp: &str) -> Transaction {
        let mut fields = PyDict::new();
        fields.insert("voter_id", voter.into());
        fields.insert("candidate_id", candidate.into());
        fields.insert("timestamp", timestamp.into());
        Transaction { fields }
    }

    /// A transaction made of any dict.
    pub fn from_fields(fields: PyDict) -> Transaction {
        Transaction { fields }
    }

    /// Every key and value, in order.
    pub fn fields(&self) -> &PyDict {
        &self.fields
    }

    /// The voter, when `voter_id` is a string.
    pub fn voter_id(&self) -> Option<&str> {
        self.fields.get_str("voter_id")
    }

    /// The choice, when `candidate_id` is a string.
    pub fn candidate_id(&self) -> Option<&str> {
        self.fields.get_str("candidate_id")
    }

    /// When the vote was cast, when `timestamp` is a string.
    pub fn timestamp(&self) -> Option<&str> {
        self.fields.get_str("timestamp")
    }

    /// What W4119 hashes of it: the [`Transaction::HASHED`] keys (null for a missing one, which
    /// [`W4119Block::check_limits`] refuses before any hash is trusted).
    fn hashed(&self) -> PyDict {
        let mut dict = PyDict::new();
        for key in Transaction::HASHED {
            dict.insert(key, self.fields.get(key).cloned().unwrap_or(PyValue::Null));
        }
        dict
    }

    /// `Err` with the reason when W4119 would refuse the transaction: a hashed key missing, or
    /// a falsy `timestamp` (Python replaces it with the current time, so the hash never holds).
    fn check(&self, position: usize) -> Result<(), W4119Error> {
        let missing = Transaction::HASHED
            .into_iter()
            .find(|key| self.fields.get(key).is_none());
        if let Some(key) = missing {
            return Err(W4119Error::Transaction {
                position,
                why: format!("has no {key:?}"),
            });
        }
        let falsy = match self.fields.get("timestamp") {
            Some(PyValue::Null | PyValue::Bool(false) | PyValue::Int(0)) => true,
            Some(PyValue::Str(s)) => s.is_empty(),
            Some(PyValue::List(items)) => items.is_empty(),
            Some(PyValue::Dict(dict)) => dict.is_empty(),
            _ => false,
        };
        if falsy {
            return Err(W4119Error::Transaction {
                position,
                why: "has an empty timestamp, which W4119 replaces with the current time".into(),
            });
        }
        Ok(())
    }
}

/// The fixed W4119 genesis block.
pub fn genesis() -> W4119Block {
    W4119Block {
        index: 0,
        transactions: Vec::new(),
        timestamp: GENESIS_TIMESTAMP.into(),
        previous_hash: "0".into(),
        nonce: 0,
        hash: GENESIS_HASH.into(),
    }
}

/// The text the hash is taken over, split around the nonce: `prefix + nonce + suffix`. The five
/// keys sorted are `index`, `nonce`, `previous_hash`, `timestamp`, `transactions`.
pub(crate) fn hash_input_parts(
    index: u64,
    transactions: &[Transaction],
    timestamp: &str,
    previous_hash: &str,
) -> (String, String) {
    let prefix = format!("{{\"index\": {index}, \"nonce\": ");
    let transactions = PyValue::List(
        transactions
            .iter()
            .map(|t| PyValue::Dict(t.hashed()))
            .collect(),
    );
    let suffix = format!(
        ", \"previous_hash\": {}, \"timestamp\": {}, \"transactions\": {}}}",
        python_dumps_str(previous_hash),
        python_dumps_str(timestamp),
        python_dumps(&transactions, true)
    );
    (prefix, suffix)
}

/// The exact text W4119 hashes for `block`:
/// `json.dumps({index, transactions, timestamp, previous_hash, nonce}, sort_keys=True)`.
pub fn hash_input(block: &W4119Block) -> String {
    let (prefix, suffix) = hash_input_parts(
        block.index,
        &block.transactions,
        &block.timestamp,
        &block.previous_hash,
    );
    format!("{prefix}{}{suffix}", block.nonce)
}

/// The W4119 hash of `block`'s contents (its claimed `hash` is not read): lowercase hex.
pub fn w4119_hash(block: &W4119Block) -> String {
    hex::encode(Sha256::digest(hash_input(block).as_bytes()))
}

/// True when `hash` starts with `difficulty` `'0'` characters, as Python's
/// `hash.startswith("0" * difficulty)`: always for 0, never when `hash` is shorter.
pub fn meets_difficulty(hash: &str, difficulty: u32) -> bool {
    let wanted = usize::try_from(difficulty).unwrap_or(usize::MAX);
    hash.len() >= wanted && hash.bytes().take(wanted).all(|b| b == b'0')
}

/// True when the raw digest's hex form starts with `difficulty` `'0'`s: the first
/// `difficulty / 2` bytes are zero, and for an odd difficulty the high nibble of the next.
pub(crate) fn digest_meets_difficulty(digest: &[u8; 32], difficulty: u32) -> bool {
    if difficulty > MAX_DIFFICULTY {
        return false;
    }
    let whole = (difficulty / 2) as usize;
    digest[..whole].iter().all(|&b| b == 0) && (difficulty & 1 == 0 || digest[whole] & 0xf0 == 0)
}

impl W4119Block {
    /// True when this is exactly the W4119 genesis block.
    pub fn is_genesis(&self) -> bool {
        *self == genesis()
    }

    /// The W4119 hash of this block's contents.
    pub fn compute_hash(&self) -> String {
        w4119_hash(self)
    }

    /// Checks W4119's rule for transactions ([`Transaction`]) and our limits: at most
    /// [`MAX_TRANSACTIONS`] transactions nested at most
    /// [`MAX_TRANSACTION_DEPTH`], no string over [`MAX_STRING_BYTES`], a wire form of at most
    /// [`MAX_BLOCK_JSON_BYTES`].
    pub fn check_limits(&self) -> Result<(), W4119Error> {
        let count = self.transactions.len();
        if count > MAX_TRANSACTIONS {
            return Err(W4119Error::TooManyTransactions { count });
        }
        for (field, s) in [
            ("timestamp", &self.timestamp),
            ("previous_hash", &self.previous_hash),
            ("hash", &self.hash),
        ] {
            if s.len() > MAX_STRING_BYTES {
                return Err(W4119Error::StringTooLong {
                    field,
                    bytes: s.len(),
                });
            }
        }
        for (position, transaction) in self.transactions.iter().enumerate() {
            transaction.check(position)?;
            let fields = &transaction.fields;
            let depth = 1 + fields.iter().map(|(_, v)| v.depth()).max().unwrap_or(0);
            if depth > MAX_TRANSACTION_DEPTH {
                return Err(W4119Error::TooDeep { position, depth });
            }
            let longest = fields
                .iter()
                .flat_map(|(k, v)| [Some(k.len()), longest_string(v)])
                .flatten()
                .max();
            if let Some(bytes) = longest.filter(|&b| b > MAX_STRING_BYTES) {
                return Err(W4119Error::StringTooLong {
                    field: "transactions",
                    bytes,
                });
            }
        }
        let bytes = self.to_json_string().len();
        if bytes > MAX_BLOCK_JSON_BYTES {
            return Err(W4119Error::TooLarge { bytes });
        }
        Ok(())
    }

    /// Checks the block on its own: the limits, that its claimed hash is exactly its contents'
    /// hash, and that the hash starts with `difficulty` zeros.
    pub fn check_alone(&self, difficulty: u32) -> Result<(), W4119Error> {
        self.check_limits()?;
        self.check_hash_and_work(difficulty)
    }

    /// The hash and proof-of-work half of [`W4119Block::check_alone`].
    fn check_hash_and_work(&self, difficulty: u32) -> Result<(), W4119Error> {
        let actual = self.compute_hash();
        if actual != self.hash {
            return Err(W4119Error::HashMismatch {
                claimed: self.hash.clone(),
                actual,
            });
        }
        if !meets_difficulty(&self.hash, difficulty) {
            return Err(W4119Error::NotEnoughWork { difficulty });
        }
        Ok(())
    }

    /// Checks the block as the successor of `parent`: the limits, its index is the next one, its
    /// `previous_hash` is the parent's hash, then its hash and work as in
    /// [`W4119Block::check_alone`].
    pub fn verify_after(&self, parent: &W4119Block, difficulty: u32) -> Result<(), W4119Error> {
        self.check_limits()?;
        let expected = parent.index.saturating_add(1);
        if self.index != expected {
            return Err(W4119Error::WrongIndex {
                expected,
                got: self.index,
            });
        }
        if self.previous_hash != parent.hash {
            return Err(W4119Error::BadLink {
                expected: parent.hash.clone(),
                got: self.previous_hash.clone(),
            });
        }
        self.check_hash_and_work(difficulty)
    }
}

/// Bytes of the longest string (key or value) in `value`, `None` when there is none.
fn longest_string(value: &PyValue) -> Option<usize> {
    match value {
        PyValue::Str(s) => Some(s.len()),
        PyValue::List(items) => items.iter().filter_map(longest_string).max(),
        PyValue::Dict(dict) => dict
            .iter()
            .flat_map(|(k, v)| [Some(k.len()), longest_string(v)])
            .flatten()
            .max(),
        _ => None,
    }
}

#[cfg(test)]
pub(crate) mod tests;
