//! One course block, the course hash rule and the checks a block must pass: the limits, a hash
//! that matches its contents, the proof of work and its place after its parent.
//!
//! The hash is one SHA-256 over, concatenated without separators: the previous block's hash as
//! lowercase hex UTF-8 (left out for the genesis block), `minedBy`, each message in order, the
//! timestamp as 8 bytes big-endian, and the nonce. Without separators the rule is malleable
//! (`["ab","c"]` and `["a","bc"]` hash alike); see the crate docs for how that is handled.

use crate::limits::{MAX_MESSAGES, MAX_MESSAGE_CHARS, MAX_MINED_BY_CHARS, MAX_NONCE_CHARS};
use sha2::{Digest, Sha256};
use votechain_chain::Hash;

/// A block of the course chain, as the course's messages carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CourseBlock {
    /// Distance from the genesis block (which is 0).
    pub height: u64,
    /// Whoever mined it; hashed, not checked against anything.
    pub mined_by: String,
    /// The 1 to 10 messages it records, each at most 20 characters.
    pub messages: Vec<String>,
    /// The proof-of-work nonce, any string under 40 characters.
    pub nonce: String,
    /// Unix seconds, as claimed by the miner (the course checks no clock).
    pub timestamp: u64,
    /// The hash the block claims; [`CourseBlock::check_alone`] recomputes it.
    pub hash: Hash,
}

/// The course hash of a block's contents (module docs); `prev` is `None` for the genesis block.
pub fn course_hash(
    prev: Option<&Hash>,
    mined_by: &str,
    messages: &[String],
    timestamp: u64,
    nonce: &str,
) -> Hash {
    let mut hasher = Sha256::new();
    if let Some(prev) = prev {
        let mut hex = [0u8; 64];
        // Cannot fail: the buffer is exactly twice the hash's length.
        let _ = hex::encode_to_slice(prev.0, &mut hex);
        hasher.update(hex);
    }
    hasher.update(mined_by.as_bytes());
    for message in messages {
        hasher.update(message.as_bytes());
    }
    hasher.update(timestamp.to_be_bytes());
    hasher.update(nonce.as_bytes());
    Hash(hasher.finalize().into())
}

/// True when the hex digest of `hash` ends with `difficulty` `'0'` characters, that is when its
/// last `difficulty` nibbles are zero. Always true for 0; never for more than 64.
pub fn meets_difficulty(hash: &Hash, difficulty: u32) -> bool {
    if difficulty > 64 {
        return false;
    }
    // The last `difficulty / 2` bytes must be zero, and for an odd difficulty also the low
    // nibble of the byte before them.
    let whole = (difficulty / 2) as usize;
    let odd = difficulty & 1 == 1;
    let tail = &hash.0[32 - whole..];
    tail.iter().all(|&b| b == 0) && (!odd || hash.0[31 - whole] & 0x0f == 0)
}

/// Why a course block is refused. Every variant is a sentence for the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CourseError {
    /// More messages than [`MAX_MESSAGES`].
    #[error("the block has {count} messages, more than the {MAX_MESSAGES} allowed")]
    TooManyMessages {
        /// Messages in the block.
        count: usize,
    },
    /// No message at all.
    #[error("the block has no messages; it needs at least one")]
    NoMessages,
    /// A message over [`MAX_MESSAGE_CHARS`].
    #[error("message {index} has {chars} characters, more than the {MAX_MESSAGE_CHARS} allowed")]
    MessageTooLong {
        /// Position of the message in the block, from 0.
        index: usize,
        /// Its length in characters.
        chars: usize,
    },
    /// A nonce of 40 characters or more.
    #[error("the nonce has {chars} characters; it must be shorter than 40")]
    NonceTooLong {
        /// Its length in characters.
        chars: usize,
    },
    /// A `minedBy` over [`MAX_MINED_BY_CHARS`].
    #[error("minedBy has {chars} characters, more than the {MAX_MINED_BY_CHARS} we accept")]
    MinedByTooLong {
        /// Its length in characters.
        chars: usize,
    },
    /// The claimed hash is not the hash of the block's contents after its parent.
    #[error("the block claims hash {claimed} but its contents hash to {actual}")]
    HashMismatch {
        /// The hash the block carries.
        claimed: Hash,
        /// The hash recomputed from its contents.
        actual: Hash,
    },
    /// The hash does not end with enough zeros.
    #[error("the block's hash does not end with {difficulty} zeros")]
    NotEnoughWork {
        /// Trailing `'0'` hex characters required.
        difficulty: u32,
    },
    /// The block is not at the height that follows its parent.
    #[error("the block is at height {got}, but the next height is {expected}")]
    WrongHeight {
        /// The height that follows the parent (0 without one).
        expected: u64,
        /// The block's height.
        got: u64,
    },
    /// The block's hash is not its contents' hash after the parent it was checked against: it
    /// was mined on another parent, or altered. (The course block names no parent; the hash is
    /// the only link.) [`CourseBlock::verify_after`] reports this where
    /// [`CourseBlock::check_alone`] reports [`CourseError::HashMismatch`].
    #[error(
        "the block does not follow {parent}: its hash is not over that parent and its contents"
    )]
    BadLink {
        /// The hash of the parent it was checked against.
        parent: Hash,
    },
}

impl CourseBlock {
    /// Checks the limits: 1 to 10 messages of at most 20 characters, a nonce under 40
    /// characters, a `minedBy` within ours.
    pub fn check_format(&self) -> Result<(), CourseError> {
        let count = self.messages.len();
        if count == 0 {
            return Err(CourseError::NoMessages);
        }
        if count > MAX_MESSAGES {
            return Err(CourseError::TooManyMessages { count });
        }
        for (index, message) in self.messages.iter().enumerate() {
            let chars = message.chars().count();
            if chars > MAX_MESSAGE_CHARS {
                return Err(CourseError::MessageTooLong { index, chars });
            }
        }
        let chars = self.nonce.chars().count();
        if chars > MAX_NONCE_CHARS {
            return Err(CourseError::NonceTooLong { chars });
        }
        let chars = self.mined_by.chars().count();
        if chars > MAX_MINED_BY_CHARS {
            return Err(CourseError::MinedByTooLong { chars });
        }
        Ok(())
    }

    /// The course hash of this block's contents after `prev` (`None` for a genesis block).
    pub fn compute_hash(&self, prev: Option<&Hash>) -> Hash {
        course_hash(
            prev,
            &self.mined_by,
            &self.messages,
            self.timestamp,
            &self.nonce,
        )
    }

    /// Checks the block on its own, given its parent's hash: the limits, that the hash over
    /// `prev` equals the claimed hash, and that it ends with `difficulty` zeros.
    pub fn check_alone(&self, prev: Option<&Hash>, difficulty: u32) -> Result<(), CourseError> {
        self.check_format()?;
        let actual = self.compute_hash(prev);
        if actual != self.hash {
            return Err(CourseError::HashMismatch {
                claimed: self.hash,
                actual,
            });
        }
        if !meets_difficulty(&self.hash, difficulty) {
            return Err(CourseError::NotEnoughWork { difficulty });
        }
        Ok(())
    }

    /// Checks the block as the successor of `prev` (`None`: as the genesis block): its height is
    /// the next one, then [`CourseBlock::check_alone`] over `prev`'s hash, a hash mismatch after
    /// a parent being reported as [`CourseError::BadLink`].
    pub fn verify_after(
        &self,
        prev: Option<&CourseBlock>,
        difficulty: u32,
    ) -> Result<(), CourseError> {
        let expected = prev.map_or(0, |p| p.height.saturating_add(1));
        if self.height != expected {
            return Err(CourseError::WrongHeight {
                expected,
                got: self.height,
            });
        }
        match (self.check_alone(prev.map(|p| &p.hash), difficulty), prev) {
            (Err(CourseError::HashMismatch { .. }), Some(parent)) => Err(CourseError::BadLink {
                parent: parent.hash,
            }),
            (result, _) => result,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
