//! Batch verification of vote signatures. Sync delivers many small blocks, and verifying their
//! signatures together costs about a third of checking each alone; [`verify_blocks`] batches
//! across block boundaries, bisects a failed batch to find the bad signatures and confirms those
//! one by one with the single check.
//!
//! One rule for every path: a vote is accepted in a batch exactly when [`Vote::verify_signature`]
//! accepts it alone, whatever else is in the batch. Both use ZIP-215's cofactored equation
//! (ed25519-zebra), whose batch form is the single form times random weights, summed, times the
//! cofactor: a small-order component in a nonce or key is multiplied away on both paths alike
//! (a cofactorless batch, by contrast, passes or fails such a vote depending on its weight and
//! the other votes). The key rule the equation does not cover ([`Vote::check_key`]) is applied
//! before a vote enters a batch. The weights come from a ChaCha stream keyed by a hash of every
//! signature in the batch, so no vote can be chosen knowing its weight, and the core seeds no
//! RNG from the system.
//!
//! Proof of work is checked before any of this ([`verify_blocks`] checks it first), so a block
//! that fails it costs one hash and no signature work.

use super::{check_work, ValidationError};
use crate::block::Block;
use crate::hash::sha256;
use crate::vote::{SignatureError, Vote};
use rand::SeedableRng;

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
    item: ed25519_zebra::batch::Item,
}

/// Applies the key rule and builds the batch item; `Err` sends the vote the single way.
fn prepare(vote: &Vote) -> Result<Prepared, ()> {
    vote.check_key().map_err(|_| ())?;
    let key = ed25519_zebra::VerificationKeyBytes::from(vote.voter.0);
    let signature = ed25519_zebra::Signature::from_bytes(&vote.signature.0);
    Ok(Prepared {
        item: (key, signature, &vote.signing_bytes()).into(),
    })
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
    let mut verifier = ed25519_zebra::batch::Verifier::new();
    for (_, p) in items {
        verifier.queue(p.item.clone());
    }
    // The weights' key commits to every vote (id = hash of signed bytes and signature).
    let ids: Vec<[u8; 32]> = items.iter().map(|(i, _)| votes[*i].id().0).collect();
    let parts: Vec<&[u8]> = ids.iter().map(|id| id.as_slice()).collect();
    let seed = sha256(&parts).0;
    if verifier
        .verify(rand_chacha::ChaCha20Rng::from_seed(seed))
        .is_ok()
    {
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
