//! The validity rules of blocks and votes, each failure a typed value naming the rule it breaks.
//!
//! The rules that need only the block, its parent and the ballot live here as free functions:
//! [`check_header`] (proof of work, link, height, timestamps), [`check_votes_root`] and
//! [`check_vote`] (signature, election, choice, roll). The rules that need a whole branch (a voter
//! may vote once per branch) are applied by [`crate::state::ChainState`], which also calls these.
//! Signatures are checked last because they are by far the most expensive rule, so junk that
//! breaks a cheap rule costs little.
//!
//! Signature checks are strict Ed25519 (no small-order keys or nonces, canonical scalars).
//! [`verify_blocks`] checks the signatures of many blocks in batches, which costs about a third
//! of one-by-one checks; a failed batch is bisected to find the bad signatures, which are then
//! confirmed one by one with the strict check. The batch equation accepts exactly what the strict
//! check accepts for every signature whose nonce and key have no small-order component; such
//! components never occur in keys and signatures made by an Ed25519 signer and can only be
//! crafted by the key's owner (see the module test `batch_agrees_with_strict_on_small_order`).

use crate::ballot::Ballot;
use crate::block::Block;
use crate::hash::{Hash, PublicKey};
use crate::header::BlockHeader;
use crate::limits::MAX_FUTURE_DRIFT_MS;
use crate::merkle;
use crate::vote::{SignatureError, Vote};
use ed25519_dalek::VerifyingKey;

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

impl ValidationError {
    fn vote(index: usize, error: impl Into<VoteError>) -> ValidationError {
        ValidationError::Vote {
            index,
            error: error.into(),
        }
    }
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
/// header's own hash `hash`, which a [`Block`] caches), the link to the parent, the height and
/// the timestamp bounds. `now_ms` is the validator's clock.
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
    if header.height != parent.height + 1 {
        return Err(ValidationError::Height {
            expected: parent.height + 1,
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

/// Checks that `header` commits to exactly `votes`. A [`Block`] guarantees this by construction;
/// the check is for a header and a body that arrive separately.
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

/// A block whose vote signatures have all been verified, so the chain state can skip them.
/// Only [`verify_blocks`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedBlock(Block);

impl VerifiedBlock {
    /// The block.
    pub fn block(&self) -> &Block {
        &self.0
    }

    /// The block, giving up the proof.
    pub fn into_block(self) -> Block {
        self.0
    }
}

/// Signatures per batch: past a few hundred the per-signature cost hardly falls while the cost of
/// bisecting a failed batch keeps growing.
const BATCH: usize = 256;
/// Below this many signatures a batch does not pay; they are checked one by one.
const MIN_BATCH: usize = 4;

/// Verifies the vote signatures of all `blocks` together, in batches across block boundaries
/// (sync delivers many small blocks). Each block comes back verified, or with the error of its
/// first vote whose signature fails, in input order.
pub fn verify_blocks(blocks: Vec<Block>) -> Vec<Result<VerifiedBlock, (Block, ValidationError)>> {
    let votes: Vec<&Vote> = blocks.iter().flat_map(|b| b.votes()).collect();
    let mut bad = bad_signatures(&votes).into_iter().peekable();
    let mut offset = 0;
    let mut out = Vec::with_capacity(blocks.len());
    // Both lists are in vote order, so one pass pairs each block with its first bad vote.
    let mut first_bad = Vec::with_capacity(blocks.len());
    for b in &blocks {
        let end = offset + b.votes().len();
        let mut first = None;
        while let Some((i, e)) = bad.next_if(|(i, _)| *i < end) {
            first.get_or_insert((i - offset, e));
        }
        first_bad.push(first);
        offset = end;
    }
    for (block, first) in blocks.into_iter().zip(first_bad) {
        out.push(match first {
            None => Ok(VerifiedBlock(block)),
            Some((index, e)) => Err((block, ValidationError::vote(index, e))),
        });
    }
    out
}

/// Indices (ascending) of the votes whose signatures fail the strict check, with why. Uses batch
/// verification where it pays.
pub fn bad_signatures(votes: &[&Vote]) -> Vec<(usize, SignatureError)> {
    let mut bad = Vec::new();
    let mut prepared = Vec::with_capacity(votes.len().min(BATCH));
    for (chunk_no, chunk) in votes.chunks(BATCH).enumerate() {
        prepared.clear();
        for (i, vote) in chunk.iter().enumerate() {
            let index = chunk_no * BATCH + i;
            match prepare(vote) {
                Ok(p) => prepared.push((index, p)),
                // Anything the batch equation might treat differently goes the strict way.
                Err(()) => {
                    if let Err(e) = vote.verify_signature() {
                        bad.push((index, e));
                    }
                }
            }
        }
        bisect(votes, &prepared, &mut bad);
    }
    bad.sort_by_key(|(i, _)| *i);
    bad
}

/// A vote ready for the batch equation.
struct Prepared {
    key: VerifyingKey,
    message: Vec<u8>,
    signature: ed25519_dalek::Signature,
}

/// Decodes what the batch needs, refusing what the strict check rejects before its equation:
/// an invalid or small-order key, a small-order nonce point `R`.
fn prepare(vote: &Vote) -> Result<Prepared, ()> {
    let key = vote.verifying_key().map_err(|_| ())?;
    if key.is_weak() || is_small_order_encoding(&vote.signature.0[..32]) {
        return Err(());
    }
    Ok(Prepared {
        key,
        message: vote.signing_bytes(),
        signature: ed25519_dalek::Signature::from_bytes(&vote.signature.0),
    })
}

/// The y coordinates (sign bit cleared, little-endian) whose points have small order: 0, 1, the
/// two order-8 values, p − 1, and the non-canonical p and p + 1, which decode as 0 and 1. Every
/// small-order point decodes from one of these with either sign bit (the list libsodium uses).
const SMALL_ORDER_Y: [[u8; 32]; 7] = {
    let mut ys = [[0u8; 32]; 7];
    ys[1][0] = 1;
    ys[2] = [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
        0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
        0xfc, 0x05,
    ];
    ys[3] = [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03, 0x7a,
    ];
    let mut i = 4;
    while i < 7 {
        ys[i] = [0xff; 32];
        ys[i][31] = 0x7f;
        i += 1;
    }
    ys[4][0] = 0xec;
    ys[5][0] = 0xed;
    ys[6][0] = 0xee;
    ys
};

/// True when the 32-byte point encoding `p` decodes to a point of small order. Comparing bytes
/// costs nothing, where decoding the point (to ask it) costs a field exponentiation.
fn is_small_order_encoding(p: &[u8]) -> bool {
    SMALL_ORDER_Y
        .iter()
        .any(|y| p[..31] == y[..31] && p[31] & 0x7f == y[31])
}

/// Batch-verifies `items`; when the batch fails, splits it in halves and recurses, so k bad
/// signatures among n cost about k·log(n) small batches, and confirms singles strictly.
fn bisect(votes: &[&Vote], items: &[(usize, Prepared)], bad: &mut Vec<(usize, SignatureError)>) {
    if items.len() < MIN_BATCH {
        for (index, _) in items {
            if let Err(e) = votes[*index].verify_signature() {
                bad.push((*index, e));
            }
        }
        return;
    }
    let messages: Vec<&[u8]> = items.iter().map(|(_, p)| p.message.as_slice()).collect();
    let signatures: Vec<_> = items.iter().map(|(_, p)| p.signature).collect();
    let keys: Vec<_> = items.iter().map(|(_, p)| p.key).collect();
    if ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok() {
        return;
    }
    let (left, right) = items.split_at(items.len() / 2);
    bisect(votes, left, bad);
    bisect(votes, right, bad);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::VoterKey;

    fn vote(seed: u8) -> Vote {
        Vote::sign(
            VoterKey::from_seed([seed; 32]).signing_key(),
            Hash([9; 32]),
            "A",
        )
    }

    #[test]
    fn batch_finds_every_bad_signature() {
        for n in [0, 1, 3, 4, 5, 17, 300] {
            let mut votes: Vec<Vote> = (0..n).map(|i| vote(i as u8)).collect();
            let mut expected = Vec::new();
            for i in (0..n).filter(|i| i % 7 == 3) {
                votes[i].signature.0[40] ^= 1;
                expected.push(i);
            }
            let refs: Vec<&Vote> = votes.iter().collect();
            let found: Vec<usize> = bad_signatures(&refs).into_iter().map(|(i, _)| i).collect();
            assert_eq!(found, expected, "n={n}");
        }
    }

    #[test]
    fn small_order_encodings_match_the_curve() {
        // Around 0, 1 and p, with both sign bits, the byte test agrees with decoding the point.
        for low in 0..=255u8 {
            for sign in [0, 0x80] {
                let mut near_zero = [0u8; 32];
                near_zero[0] = low;
                near_zero[31] = sign;
                let mut near_p = [0xffu8; 32];
                near_p[0] = low;
                near_p[31] = 0x7f | sign;
                for enc in [near_zero, near_p] {
                    let decoded = VerifyingKey::from_bytes(&enc).is_ok_and(|k| k.is_weak());
                    assert_eq!(
                        is_small_order_encoding(&enc),
                        decoded,
                        "{}",
                        hex::encode(enc)
                    );
                }
            }
        }
        // The order-8 points decode, with either sign, to small-order points.
        for y in &SMALL_ORDER_Y[2..4] {
            for sign in [0, 0x80] {
                let mut enc = *y;
                enc[31] |= sign;
                assert!(VerifyingKey::from_bytes(&enc).unwrap().is_weak());
                assert!(is_small_order_encoding(&enc));
            }
        }
        // Real nonces and keys never match.
        for i in 0..200 {
            let v = vote(i);
            assert!(!is_small_order_encoding(&v.signature.0[..32]));
            assert!(!is_small_order_encoding(&v.voter.0));
        }
    }

    #[test]
    fn batch_agrees_with_strict_on_small_order() {
        // A signature whose nonce R is the identity (a small-order point) with s = 0 and a key
        // that is the identity satisfies the unweighted equation, so only the explicit
        // small-order refusal keeps the batch as strict as `verify_strict`.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let mut v = vote(1);
        v.voter = PublicKey(identity);
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&identity);
        v.signature = crate::hash::Signature(sig);
        assert!(v.verify_signature().is_err());
        let votes = [vote(2), v.clone(), vote(3), vote(4), vote(5)];
        let refs: Vec<&Vote> = votes.iter().collect();
        let found: Vec<usize> = bad_signatures(&refs).into_iter().map(|(i, _)| i).collect();
        assert_eq!(found, vec![1]);
    }
}
