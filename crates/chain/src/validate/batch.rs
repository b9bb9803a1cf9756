//! Batch verification of vote signatures. Sync delivers many small blocks, and verifying their
//! signatures together costs about a third of checking each alone; [`verify_blocks`] batches
//! across block boundaries, bisects a failed batch to find the bad signatures and confirms those
//! one by one with the strict check.
//!
//! One rule for every path: a vote is accepted in a batch exactly when [`Vote::verify_signature`]
//! accepts it alone, whatever else is in the batch. The batch equation (cofactorless, with random
//! weights) and the strict one differ only on points with a small-order component: for those, a
//! signature's leftover torsion term can vanish under its weight or cancel another signature's.
//! So, before any equation, [`Vote::check_points`] refuses keys and nonces that are not
//! torsion-free (both paths apply it), and the small-order keys and nonces `verify_strict` refuses
//! are refused here by their encodings. What reaches the batch is then in the prime-order
//! subgroup, where the two equations agree.
//!
//! Proof of work is checked before any of this ([`verify_blocks`] checks it first), so a block
//! that fails it costs one hash and no signature work.

use super::{check_work, ValidationError};
use crate::block::Block;
use crate::vote::{SignatureError, Vote};
use ed25519_dalek::VerifyingKey;

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

#[cfg(test)]
thread_local! {
    /// Votes handed to [`bad_signatures`] on this thread, so tests can prove a path did no
    /// signature work.
    static SIGNATURES_CHECKED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Signatures per batch: past a few hundred the per-signature cost hardly falls while the cost of
/// bisecting a failed batch keeps growing.
const BATCH: usize = 256;
/// Below this many signatures a batch does not pay; they are checked one by one.
const MIN_BATCH: usize = 4;

/// Verifies the vote signatures of all `blocks` together, in batches across block boundaries
/// (sync delivers many small blocks). Each block comes back verified, or with its error, in input
/// order.
///
/// Proof of work comes first: a block that fails [`check_work`] against the election's
/// `difficulty` is returned with that error and none of its signatures is looked at, so junk costs
/// its sender's work, not ours (one hash, which the block caches). Then the error of a block is
/// that of its first vote whose signature fails.
pub fn verify_blocks(
    blocks: Vec<Block>,
    difficulty: u32,
) -> Vec<Result<VerifiedBlock, (Block, ValidationError)>> {
    // A genesis block is not mined: the chain checks it against its ballot instead, so it
    // carries no signatures to guard and is passed through.
    let work: Vec<Result<(), ValidationError>> = blocks
        .iter()
        .map(|b| match b.height() {
            0 => Ok(()),
            _ => check_work(b.header(), &b.hash(), difficulty),
        })
        .collect();
    let votes: Vec<&Vote> = blocks
        .iter()
        .zip(&work)
        .filter(|(_, w)| w.is_ok())
        .flat_map(|(b, _)| b.votes())
        .collect();
    let mut bad = bad_signatures(&votes).into_iter().peekable();
    let mut offset = 0;
    let mut out = Vec::with_capacity(blocks.len());
    // Both lists are in vote order, so one pass pairs each block with its first bad vote.
    let mut first_bad = Vec::with_capacity(blocks.len());
    for (b, w) in blocks.iter().zip(&work) {
        if w.is_err() {
            first_bad.push(None);
            continue;
        }
        let end = offset + b.votes().len();
        let mut first = None;
        while let Some((i, e)) = bad.next_if(|(i, _)| *i < end) {
            first.get_or_insert((i - offset, e));
        }
        first_bad.push(first);
        offset = end;
    }
    for ((block, first), w) in blocks.into_iter().zip(first_bad).zip(work) {
        out.push(match (w, first) {
            (Err(e), _) => Err((block, e)),
            (Ok(()), None) => Ok(VerifiedBlock(block)),
            (Ok(()), Some((index, e))) => Err((
                block,
                ValidationError::Vote {
                    index,
                    error: e.into(),
                },
            )),
        });
    }
    out
}

/// Indices (ascending) of the votes whose signatures fail the strict check, with why. Uses batch
/// verification where it pays.
pub fn bad_signatures(votes: &[&Vote]) -> Vec<(usize, SignatureError)> {
    #[cfg(test)]
    SIGNATURES_CHECKED.with(|n| n.set(n.get() + votes.len()));
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
/// an invalid, small-order or not torsion-free key, a small-order or not torsion-free nonce `R`.
fn prepare(vote: &Vote) -> Result<Prepared, ()> {
    // The same point rule as the single path, so the batch never sees a torsion component.
    let key = vote.check_points().map_err(|_| ())?;
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
    use crate::hash::{Hash, PublicKey};
    use crate::keys::VoterKey;

    fn vote(seed: u8) -> Vote {
        Vote::sign(
            VoterKey::from_seed([seed; 32]).signing_key(),
            Hash([9; 32]),
            "A",
        )
    }

    #[test]
    fn proof_of_work_is_checked_before_any_signature() {
        use crate::{Ballot, BlockTemplate};
        let difficulty = 16;
        let g = Block::genesis(&Ballot::open("T", &["A", "B"], difficulty)).unwrap();
        let mut votes: Vec<Vote> = (0..8).map(|i| vote(i as u8)).collect();
        for v in &mut votes {
            v.signature.0[40] ^= 1;
        }
        // The genesis block is not mined: it passes, and the chain checks it by its ballot.
        assert!(verify_blocks(vec![g.clone()], difficulty)[0].is_ok());
        let t = BlockTemplate::new(g.hash(), 0, difficulty, 1_000, "m", votes).unwrap();
        // A nonce whose hash misses the difficulty: junk that cost its sender nothing.
        let weak = (0u64..)
            .map(|n| t.seal(n))
            .find(|b| b.hash().leading_zero_bits() < difficulty)
            .unwrap();
        let zeros = weak.hash().leading_zero_bits();
        SIGNATURES_CHECKED.with(|n| n.set(0));
        let out = verify_blocks(vec![weak.clone(), weak], difficulty);
        assert_eq!(SIGNATURES_CHECKED.with(|n| n.get()), 0, "no signature work");
        for result in out {
            assert_eq!(
                result.map(|_| ()).map_err(|(_, e)| e),
                Err(ValidationError::ProofOfWork {
                    required: difficulty,
                    zeros
                })
            );
        }
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
