//! [`W4119Error`]: why a block is refused, from a missing field to a broken link. Every variant
//! is a sentence for the log; strings from the network are quoted with `{:?}`, so a control
//! character in them cannot reach a terminal.

use crate::limits::{
    MAX_BLOCK_JSON_BYTES, MAX_STRING_BYTES, MAX_TRANSACTIONS, MAX_TRANSACTION_DEPTH,
};
use crate::pyjson::PyJsonError;

/// Why a W4119 block is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum W4119Error {
    /// The block's bytes are not JSON we can hash exactly.
    #[error("the block is not usable JSON: {0}")]
    Json(#[from] PyJsonError),
    /// The block is JSON but not an object.
    #[error("the block is not a JSON object")]
    NotAnObject,
    /// A field the hash needs is absent.
    #[error("the block has no {0:?} field")]
    MissingField(&'static str),
    /// A field has the wrong type or range.
    #[error("the block's {field:?} field {why}")]
    BadField {
        /// The field's key.
        field: &'static str,
        /// What is wrong, as the end of a sentence ("is not a string").
        why: String,
    },
    /// More transactions than [`MAX_TRANSACTIONS`].
    #[error("the block has {count} transactions, more than the {MAX_TRANSACTIONS} we accept")]
    TooManyTransactions {
        /// Transactions in the block.
        count: usize,
    },
    /// A transaction W4119 would refuse (a hashed key missing, an empty timestamp).
    #[error("transaction {position} {why}")]
    Transaction {
        /// Position of the transaction in the block, from 0.
        position: usize,
        /// What is wrong, as the end of a sentence.
        why: String,
    },
    /// A string over [`MAX_STRING_BYTES`].
    #[error(
        "a string in the block's {field:?} has {bytes} bytes, more than the {MAX_STRING_BYTES} \
         we accept"
    )]
    StringTooLong {
        /// Where the string is: a block field, or `"transactions"`.
        field: &'static str,
        /// Its length in UTF-8 bytes.
        bytes: usize,
    },
    /// A transaction nested deeper than [`MAX_TRANSACTION_DEPTH`].
    #[error(
        "transaction {position} is nested {depth} deep, more than the {MAX_TRANSACTION_DEPTH} we \
         accept"
    )]
    TooDeep {
        /// Position of the transaction in the block, from 0.
        position: usize,
        /// Its depth.
        depth: usize,
    },
    /// The block's wire form is over [`MAX_BLOCK_JSON_BYTES`].
    #[error(
        "the block is {bytes} bytes of JSON, more than the {MAX_BLOCK_JSON_BYTES} that fit one \
         datagram"
    )]
    TooLarge {
        /// Length of its wire form.
        bytes: usize,
    },
    /// The claimed hash is not exactly the lowercase hex hash of the block's contents.
    #[error("the block claims hash {claimed:?} but its contents hash to {actual}")]
    HashMismatch {
        /// The hash the block carries.
        claimed: String,
        /// The hash recomputed from its contents.
        actual: String,
    },
    /// The hash does not start with enough zeros.
    #[error("the block's hash does not start with {difficulty} zeros")]
    NotEnoughWork {
        /// Leading `'0'` hex characters required.
        difficulty: u32,
    },
    /// The block's `previous_hash` is not its parent's hash.
    #[error("the block's previous_hash {got:?} is not its parent's hash {expected}")]
    BadLink {
        /// The parent's hash.
        expected: String,
        /// The block's `previous_hash`.
        got: String,
    },
    /// The block is not at the index that follows its parent.
    #[error("the block is at index {got}, but the next index is {expected}")]
    WrongIndex {
        /// The index after the parent's.
        expected: u64,
        /// The block's index.
        got: u64,
    },
    /// The first block of a chain is not the fixed W4119 genesis block.
    #[error("the first block is not the W4119 genesis block")]
    NotGenesis,
}
