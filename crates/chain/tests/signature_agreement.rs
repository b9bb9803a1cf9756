//! Batch and one-by-one signature checks must accept exactly the same votes, whatever else is in
//! the batch (issue 9, attack 4: a cofactorless batch accepted or refused a vote with a
//! small-order component depending on its random weight, while `verify_strict` always refused
//! it, so peers disagreed about blocks). The votes here are crafted the way an attacker who owns
//! a key would: a nonce point `R` or a key `A` with a small-order component added, with the
//! scalar `s` computed so that only the torsion term is off (or, ground over nonces, so that the
//! torsion terms cancel and even the cofactorless equation holds). Under the rule we use (ZIP-215:
//! the cofactored equation, on both paths) every one of them is valid, alone and in any batch.

use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
use curve25519_dalek::scalar::Scalar;
use proptest::prelude::*;
use sha2::{Digest, Sha512};
use votechain_chain::validate::bad_signatures;
use votechain_chain::{sha256, Hash, PublicKey, Signature, SignatureError, Vote, VoterKey};

const ELECTION: Hash = Hash([9; 32]);

/// A scalar derived from `tag` and `n`, so every crafted vote is reproducible.
fn scalar(tag: &[u8], n: u64) -> Scalar {
    Scalar::from_bytes_mod_order(sha256(&[tag, &n.to_be_bytes()[..]]).0)
}

/// A vote by the owner of secret scalar `a` whose key is `aB + T[t_a]` and whose nonce point is
/// `rB + T[t_r]`, with `s = r + k·a`. `T` is the eight-torsion subgroup (odd indices have order
/// 8, 2 and 6 order 4, 4 order 2, 0 is the identity). When `cancel` holds, nonces are ground
/// until `T[t_r] + k·T[t_a]` is the identity (when it can be), so the cofactorless equation holds exactly and
/// `verify_strict` alone would accept the vote.
fn crafted(seed: u64, t_r: usize, t_a: usize, cancel: bool) -> Vote {
    let a = scalar(b"a", seed);
    let key = a * ED25519_BASEPOINT_POINT + EIGHT_TORSION[t_a];
    let mut vote = Vote {
        election: ELECTION,
        voter: PublicKey(key.compress().to_bytes()),
        choice: "A".into(),
        signature: Signature([0; 64]),
    };
    let message = vote.signing_bytes();
    // Cancelling needs T[t_r] in the subgroup T[t_a] generates; otherwise craft without it.
    let cancel = cancel
        && (0..8u64)
            .any(|k| EIGHT_TORSION[t_r] + Scalar::from(k) * EIGHT_TORSION[t_a] == EIGHT_TORSION[0]);
    for j in 0u64.. {
        let r = scalar(b"r", seed.wrapping_mul(1_000_003).wrapping_add(j));
        let nonce = r * ED25519_BASEPOINT_POINT + EIGHT_TORSION[t_r];
        let nonce_bytes = nonce.compress().to_bytes();
        let mut h = Sha512::new();
        h.update(nonce_bytes);
        h.update(vote.voter.0);
        h.update(&message);
        let mut wide = [0u8; 64];
        wide.copy_from_slice(&h.finalize());
        let k = Scalar::from_bytes_mod_order_wide(&wide);
        let residue = EIGHT_TORSION[t_r] + k * EIGHT_TORSION[t_a];
        if cancel && residue != EIGHT_TORSION[0] {
            continue;
        }
        let s = r + k * a;
        vote.signature.0[..32].copy_from_slice(&nonce_bytes);
        vote.signature.0[32..].copy_from_slice(s.as_bytes());
        return vote;
    }
    unreachable!("the nonce loop only ends by returning")
}

fn honest(seed: u64) -> Vote {
    let mut s = [0u8; 32];
    s[..8].copy_from_slice(&seed.to_be_bytes());
    Vote::sign(VoterKey::from_seed(s).signing_key(), ELECTION, "A")
}

/// One vote of a batch: honest, tampered, or crafted with torsion components.
#[derive(Debug, Clone)]
enum Kind {
    Honest,
    Tampered,
    Crafted {
        t_r: usize,
        t_a: usize,
        cancel: bool,
    },
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        3 => Just(Kind::Honest),
        1 => Just(Kind::Tampered),
        4 => (0..8usize, 0..8usize, any::<bool>())
            .prop_map(|(t_r, t_a, cancel)| Kind::Crafted { t_r, t_a, cancel }),
    ]
}

fn make(kind: &Kind, seed: u64) -> Vote {
    match kind {
        Kind::Honest => honest(seed),
        Kind::Tampered => {
            let mut v = honest(seed);
            v.signature.0[50] ^= 4;
            v
        }
        Kind::Crafted { t_r, t_a, cancel } => crafted(seed, *t_r, *t_a, *cancel),
    }
}

#[test]
fn torsion_components_get_the_cofactored_verdict_one_by_one() {
    // The torsion term is multiplied away by the cofactor: valid, cancelled or not.
    for (t_r, t_a) in [(0, 1), (1, 0), (3, 5), (4, 2), (4, 4), (7, 7)] {
        for cancel in [false, true] {
            let v = crafted(u64::from(t_r as u8) * 8 + t_a as u64, t_r, t_a, cancel);
            assert_eq!(v.verify_signature(), Ok(()), "t_r={t_r} t_a={t_a}");
        }
    }
    // A wrong scalar is wrong whatever the torsion.
    let mut v = crafted(7, 1, 3, false);
    v.signature.0[40] ^= 1;
    assert_eq!(v.verify_signature(), Err(SignatureError::BadSignature));
}

#[test]
fn keys_anyone_could_sign_for_or_spell_twice_are_refused() {
    // A small-order key: [8]kA vanishes, so a signature "by" it proves nothing about anyone.
    for (t, point) in EIGHT_TORSION.iter().enumerate() {
        let mut v = honest(t as u64);
        v.voter = PublicKey(point.compress().to_bytes());
        assert_eq!(
            v.verify_signature(),
            Err(SignatureError::BadKey),
            "order point {t}"
        );
    }
    // A non-canonical spelling of a point (y + p instead of y) would give one key two voter
    // ids: refused.
    let mut non_canonical = [0xffu8; 32];
    non_canonical[0] = 0xee; // y = p + 1, which decodes as y = 1
    non_canonical[31] = 0x7f;
    let mut v = honest(1);
    v.voter = PublicKey(non_canonical);
    assert_eq!(v.verify_signature(), Err(SignatureError::BadKey));
    let refs = [&v];
    assert_eq!(
        bad_signatures(&refs).len(),
        1,
        "the batch path refuses it too"
    );
}

#[test]
fn a_small_order_nonce_component_gets_the_same_verdict_in_every_batch() {
    // R + T8 with s left for R + T8: only the torsion term is off. A cofactorless batch
    // accepted it or not depending on its random weight; now every batch agrees with the
    // single check, which accepts it.
    for seed in 0..32 {
        let mut votes: Vec<Vote> = (0..6).map(|i| honest(100 + i)).collect();
        votes.insert(3, crafted(seed, 1, 0, false));
        assert_eq!(votes[3].verify_signature(), Ok(()));
        let refs: Vec<&Vote> = votes.iter().collect();
        assert!(bad_signatures(&refs).is_empty(), "seed {seed}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Every vote gets the same verdict in any batch as alone, whatever its companions.
    #[test]
    fn batch_and_single_agree_on_mixed_order_inputs(
        kinds in prop::collection::vec(kind(), 1..24),
        seed in any::<u32>(),
    ) {
        let votes: Vec<Vote> = kinds
            .iter()
            .enumerate()
            .map(|(i, k)| make(k, u64::from(seed) * 64 + i as u64))
            .collect();
        let single: Vec<usize> = votes
            .iter()
            .enumerate()
            .filter(|(_, v)| v.verify_signature().is_err())
            .map(|(i, _)| i)
            .collect();
        let refs: Vec<&Vote> = votes.iter().collect();
        let batch: Vec<usize> = bad_signatures(&refs).into_iter().map(|(i, _)| i).collect();
        prop_assert_eq!(&batch, &single);
        // Exactly the tampered votes are refused: torsion changes nothing under the rule.
        let tampered: Vec<usize> = kinds
            .iter()
            .enumerate()
            .filter(|(_, k)| matches!(k, Kind::Tampered))
            .map(|(i, _)| i)
            .collect();
        prop_assert_eq!(&single, &tampered);
    }
}
