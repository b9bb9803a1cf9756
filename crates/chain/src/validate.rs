//! The validity rules of blocks and votes, each failure a typed value naming the rule it breaks.
//!
//! The rules that need only the block, its parent and the ballot live here as free functions:
//! [`check_header`] (proof of work, link, height, timestamps), [`check_votes_root`] and
//! [`check_vote`] (signature, election, choice, roll). The rules that need a whole branch (a voter
//! may vote once per branch) are applied by [`crate::state::ChainState`], which also calls these.
//! Signatures are checked last because they are by far the most expensive rule, so junk that
//! breaks a cheap rule costs little; on every path proof of work comes first.
//!
//! Signature checks follow ZIP-215 (canonical `S`, the cofactored equation) after the voter-key
//! rule ([`Vote::check_key`]: canonical, not of small order); see [`Vote::verify_signature`].
//! [`verify_blocks`] (in `batch.rs`) checks the signatures of many blocks in batches and accepts
//! exactly the votes the one-by-one check accepts.

use crate::ballot::Ballot;
use crate::hash::{Hash, PublicKey};
use crate::header::BlockHeader;
use crate::limits::MAX_FUTURE_DRIFT_MS;
use crate::merkle;
use crate::vote::{SignatureError, Vote};

mod batch;

pub use batch::{bad_signatures, verify_blocks, VerifiedBlock};

/// Why a block breaks the rules of the chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// The header's difficulty is not the one the ballot fixes for the whole election.
    #[error("difficulty {found} differs from the ballot's {expected}")]
    Difficulty {
        /// The ballot's difficulty.
        expected: u32,
        /// The header's.
        found: u32,
    },
    /// The hash has fewer leading zero bits than the difficulty asks for.
    #[error("proof of work too weak: {zeros} leading zero bits, {required} required")]
    ProofOfWork {
        /// Bits required.
        required: u32,
        /// Bits the hash has.
        zeros: u32,
    },
    /// The block's parent is not in the block tree (only from checks that cannot park orphans).
    #[error("parent {0} is unknown")]
    UnknownParent(Hash),
    /// The header names a different parent than the one it is checked against.
    #[error("previous hash {found} is not the parent's hash {expected}")]
    PrevMismatch {
        /// The parent's hash.
        expected: Hash,
        /// The header's `prev`.
        found: Hash,
    },
    /// The height is not the parent's height plus one.
    #[error("height {found}, expected {expected}")]
    Height {
        /// Parent height plus one.
        expected: u64,
        /// The header's height.
        found: u64,
    },
    /// The timestamp is more than [`MAX_FUTURE_DRIFT_MS`] ahead of the validator's clock.
    #[error("timestamp {timestamp_ms} is too far after now ({now_ms})")]
    FutureTimestamp {
        /// The header's timestamp.
        timestamp_ms: u64,
        /// The validator's clock.
        now_ms: u64,
    },
    /// The timestamp is earlier than the parent's.
    #[error("timestamp {timestamp_ms} is before the parent's {parent_ms}")]
    TimestampBeforeParent {
        /// The header's timestamp.
        timestamp_ms: u64,
        /// The parent's timestamp.
        parent_ms: u64,
    },
    /// The header's vote count does not match the body.
    #[error("header counts {header} votes, the body has {body}")]
    VoteCount {
        /// `vote_count` in the header.
        header: u32,
        /// Votes in the body.
        body: usize,
    },
    /// The header's payload root is not the Merkle root of the body's vote ids.
    #[error("votes root {found} is not the root of the votes, {expected}")]
    VotesRoot {
        /// Root of the body's vote ids.
        expected: Hash,
        /// The header's payload root.
        found: Hash,
    },
    /// The parent was found invalid, so this descendant is too (orphans waiting for it).
    #[error("parent {0} is invalid")]
    InvalidParent(Hash),
    /// A height-0 block that is not this election's genesis.
    #[error("block {0} is the genesis of another election")]
    ForeignGenesis(Hash),
    /// Vote number `index` of the block breaks a vote rule.
    #[error("vote {index}: {error}")]
    Vote {
        /// Position of the vote in the block.
        index: usize,
        /// The rule it breaks.
        error: VoteError,
    },
}

impl ValidationError {
    /// True when the block can never become valid, whatever arrives later and whenever it is
    /// checked again: the node may remember it as bad (and refuse its descendants) for good.
    /// False when the verdict can change: the timestamp is only too far ahead of *our* clock
    /// ([`ValidationError::FutureTimestamp`]), the parent is not known yet
    /// ([`ValidationError::UnknownParent`]), or the error describes a pairing rather than the
    /// block ([`ValidationError::PrevMismatch`], checked against a parent it does not name). Such
    /// a block must be reconsidered when it arrives again, or peers that saw it at different times
    /// would disagree for good.
    ///
    /// [`ValidationError::InvalidParent`] is not permanent either: an orphan inherits it when its
    /// parent fails for any reason, a future timestamp included, and the error does not say which.
    /// Everything else is a property of the block and of the ancestors its hash commits to.
    pub fn is_permanent(&self) -> bool {
        match self {
            ValidationError::FutureTimestamp { .. }
            | ValidationError::UnknownParent(_)
            | ValidationError::PrevMismatch { .. }
            | ValidationError::InvalidParent(_) => false,
            ValidationError::Difficulty { .. }
            | ValidationError::ProofOfWork { .. }
            | ValidationError::Height { .. }
            | ValidationError::TimestampBeforeParent { .. }
            | ValidationError::VoteCount { .. }
            | ValidationError::VotesRoot { .. }
            | ValidationError::ForeignGenesis(_) => true,
            // Every vote rule in a block is fixed by the block and its ancestry: the branch it
            // extends (for AlreadyVoted) and its height (for BallotClosed) are in its hash.
            ValidationError::Vote { error, .. } => match error {
                VoteError::Signature(_)
                | VoteError::WrongElection { .. }
                | VoteError::UnknownChoice(_)
                | VoteError::NotOnRoll(_)
                | VoteError::AlreadyVoted { .. }
                | VoteError::DuplicateVoter(_)
                | VoteError::BallotClosed { .. } => true,
            },
        }
    }
}

/// Why a vote is not valid, in a block or on its way into the pending pool.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VoteError {
    /// The key is not a curve point, or the signature does not verify strictly.
    #[error("signature: {0}")]
    Signature(#[from] SignatureError),
    /// The vote was cast in another election.
    #[error("vote belongs to election {found}, not {expected}")]
    WrongElection {
        /// This election's id (genesis hash).
        expected: Hash,
        /// The vote's election field.
        found: Hash,
    },
    /// The choice is not an option of the ballot.
    #[error("{0:?} is not an option on the ballot")]
    UnknownChoice(String),
    /// The ballot has a voter roll and the voter is not on it.
    #[error("voter {0} is not on the roll")]
    NotOnRoll(PublicKey),
    /// The voter already has a vote earlier on this branch (or, for the pool, in the best chain).
    #[error("voter {voter} already voted (vote {earlier})")]
    AlreadyVoted {
        /// The voter.
        voter: PublicKey,
        /// Id of the vote that counts.
        earlier: Hash,
    },
    /// The voter has two votes in the same block.
    #[error("voter {0} votes twice in the block")]
    DuplicateVoter(PublicKey),
    /// The block (or, for the pool, the next block) is above the ballot's closing height.
    #[error("the ballot closed at height {closing_height}; no votes at height {height}")]
    BallotClosed {
        /// The ballot's closing height.
        closing_height: u64,
        /// Height of the block the vote is in or would go in.
        height: u64,
    },
}

/// The rules of one vote that need neither the chain nor the signature: election, choice, roll.
pub fn check_vote_fields(vote: &Vote, ballot: &Ballot, election: &Hash) -> Result<(), VoteError> {
    if vote.election != *election {
        return Err(VoteError::WrongElection {
            expected: *election,
            found: vote.election,
        });
    }
    if !ballot.has_option(&vote.choice) {
        return Err(VoteError::UnknownChoice(vote.choice.clone()));
    }
    if !ballot.admits(&vote.voter) {
        return Err(VoteError::NotOnRoll(vote.voter));
    }
    Ok(())
}

/// Every rule of one vote that needs no chain: [`check_vote_fields`], then the strict signature
/// check. Whether the voter already voted is the chain state's question.
pub fn check_vote(vote: &Vote, ballot: &Ballot, election: &Hash) -> Result<(), VoteError> {
    check_vote_fields(vote, ballot, election)?;
    vote.verify_signature()?;
    Ok(())
}

/// Checks `header` against its parent and the election: difficulty and proof of work (with the
/// header's own hash `hash`, which a [`crate::Block`] caches), the link to the parent, the
/// height and the timestamp bounds. `now_ms` is the validator's clock.
pub fn check_header(
    header: &BlockHeader,
    hash: &Hash,
    parent: &BlockHeader,
    parent_hash: &Hash,
    difficulty: u32,
    now_ms: u64,
) -> Result<(), ValidationError> {
    check_work(header, hash, difficulty)?;
    if header.prev != *parent_hash {
        return Err(ValidationError::PrevMismatch {
            expected: *parent_hash,
            found: header.prev,
        });
    }
    // A parent at u64::MAX has no valid child; saturating keeps the comparison failing for it.
    let expected = parent.height.saturating_add(1);
    if header.height != expected || expected == parent.height {
        return Err(ValidationError::Height {
            expected,
            found: header.height,
        });
    }
    check_timestamp(header, now_ms)?;
    if header.timestamp_ms < parent.timestamp_ms {
        return Err(ValidationError::TimestampBeforeParent {
            timestamp_ms: header.timestamp_ms,
            parent_ms: parent.timestamp_ms,
        });
    }
    Ok(())
}

/// The proof-of-work rules alone, which need no parent: the difficulty is the ballot's and the
/// hash meets it. Cheap, so it guards the orphan pool too.
pub fn check_work(
    header: &BlockHeader,
    hash: &Hash,
    difficulty: u32,
) -> Result<(), ValidationError> {
    if header.difficulty != difficulty {
        return Err(ValidationError::Difficulty {
            expected: difficulty,
            found: header.difficulty,
        });
    }
    let zeros = hash.leading_zero_bits();
    if zeros < difficulty {
        return Err(ValidationError::ProofOfWork {
            required: difficulty,
            zeros,
        });
    }
    Ok(())
}

/// The future-drift rule alone: the timestamp is at most [`MAX_FUTURE_DRIFT_MS`] after `now_ms`.
pub fn check_timestamp(header: &BlockHeader, now_ms: u64) -> Result<(), ValidationError> {
    if header.timestamp_ms > now_ms.saturating_add(MAX_FUTURE_DRIFT_MS) {
        return Err(ValidationError::FutureTimestamp {
            timestamp_ms: header.timestamp_ms,
            now_ms,
        });
    }
    Ok(())
}

/// Checks that `header` commits to exactly `votes`. A [`crate::Block`] guarantees this by
/// construction; the check is for a header and a body that arrive separately.
pub fn check_votes_root(header: &BlockHeader, votes: &[Vote]) -> Result<(), ValidationError> {
    if header.vote_count as usize != votes.len() {
        return Err(ValidationError::VoteCount {
            header: header.vote_count,
            body: votes.len(),
        });
    }
    let ids: Vec<Hash> = votes.iter().map(Vote::id).collect();
    let expected = merkle::root(&ids);
    if header.payload_root != expected {
        return Err(ValidationError::VotesRoot {
            expected,
            found: header.payload_root,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vote::SignatureError;

    #[test]
    fn every_error_is_classified() {
        let h = Hash([1; 32]);
        let k = PublicKey([2; 32]);
        let vote = |error| ValidationError::Vote { index: 0, error };
        // Adding a variant without deciding here fails to compile `is_permanent`; this table
        // pins each decision.
        let cases = [
            (
                ValidationError::FutureTimestamp {
                    timestamp_ms: 9,
                    now_ms: 1,
                },
                false,
            ),
            (ValidationError::UnknownParent(h), false),
            (
                ValidationError::PrevMismatch {
                    expected: h,
                    found: h,
                },
                false,
            ),
            (ValidationError::InvalidParent(h), false),
            (
                ValidationError::Difficulty {
                    expected: 1,
                    found: 2,
                },
                true,
            ),
            (
                ValidationError::ProofOfWork {
                    required: 8,
                    zeros: 1,
                },
                true,
            ),
            (
                ValidationError::Height {
                    expected: 2,
                    found: 3,
                },
                true,
            ),
            (
                ValidationError::TimestampBeforeParent {
                    timestamp_ms: 1,
                    parent_ms: 2,
                },
                true,
            ),
            (ValidationError::VoteCount { header: 1, body: 2 }, true),
            (
                ValidationError::VotesRoot {
                    expected: h,
                    found: h,
                },
                true,
            ),
            (ValidationError::ForeignGenesis(h), true),
            (vote(VoteError::Signature(SignatureError::BadKey)), true),
            (
                vote(VoteError::Signature(SignatureError::BadSignature)),
                true,
            ),
            (
                vote(VoteError::WrongElection {
                    expected: h,
                    found: h,
                }),
                true,
            ),
            (vote(VoteError::UnknownChoice("x".into())), true),
            (vote(VoteError::NotOnRoll(k)), true),
            (
                vote(VoteError::AlreadyVoted {
                    voter: k,
                    earlier: h,
                }),
                true,
            ),
            (vote(VoteError::DuplicateVoter(k)), true),
            (
                vote(VoteError::BallotClosed {
                    closing_height: 1,
                    height: 2,
                }),
                true,
            ),
        ];
        for (error, permanent) in cases {
            assert_eq!(error.is_permanent(), permanent, "{error:?}");
        }
    }
}
