//! Signed votes. A vote names its election (the genesis hash), the voter's Ed25519 public key and
//! a choice; the signature covers a domain-separated canonical encoding of those three, so a vote
//! cannot be replayed into another election or reinterpreted as any other signed object. A
//! vote's id is the SHA-256 of the signed vote.
//!
//! A [`Vote`]'s JSON is the wire format (PROTOCOL.md, "Vote": inside blocks, NEW_VOTE and
//! SUBMIT_VOTE) and the disk format (inside stored blocks, and the payload of a [`crate::store`]
//! vote record), so changing it is a protocol change (see the crate docs). The signing bytes are
//! fixed apart from serde: changing them invalidates every signature.

use crate::hash::{sha256, Hash, PublicKey, Signature};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

/// Domain-separation prefix of the bytes a voter signs.
pub const VOTE_DOMAIN: &[u8] = b"votechain/vote/v1\0";

/// One voter's signed choice in one election.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vote {
    /// The election id: hash of the genesis block.
    pub election: Hash,
    /// The voter's public key.
    pub voter: PublicKey,
    /// The chosen option, exactly as written on the ballot.
    pub choice: String,
    /// Ed25519 signature over [`Vote::signing_bytes`].
    pub signature: Signature,
}

/// Why a vote's signature does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The public key is not the canonical encoding of a curve point, or the point has small
    /// order (a key anyone could sign for).
    #[error("voter key is not a valid Ed25519 public key")]
    BadKey,
    /// The signature does not verify (ZIP-215: `S` canonical, the cofactored equation holds).
    #[error("signature does not verify")]
    BadSignature,
}

impl Vote {
    /// Signs `choice` in `election` with `key`.
    pub fn sign(key: &SigningKey, election: Hash, choice: &str) -> Vote {
        let voter = PublicKey(key.verifying_key().to_bytes());
        let msg = signing_bytes(&election, &voter, choice);
        Vote {
            election,
            voter,
            choice: choice.to_owned(),
            signature: Signature(key.sign(&msg).to_bytes()),
        }
    }

    /// The bytes the signature covers: domain prefix, election id, voter key, then the choice
    /// prefixed with its byte length as a big-endian u32.
    pub fn signing_bytes(&self) -> Vec<u8> {
        signing_bytes(&self.election, &self.voter, &self.choice)
    }

    /// The vote id: SHA-256 of the signing bytes followed by the signature.
    pub fn id(&self) -> Hash {
        sha256(&[&self.signing_bytes(), &self.signature.0])
    }

    /// Verifies the signature alone. The one rule, whichever path a vote takes (NEW_BLOCK, a
    /// sync batch, a restart from the store):
    ///
    /// - the voter key must be the canonical encoding of a point that is not of small order
    ///   ([`Vote::check_key`]): one voter, one key string, and no key anyone could sign for;
    /// - the signature must verify under ZIP-215 (`S` canonical, `R` any point encoding, the
    ///   cofactored equation `[8](S·B − R − k·A) = 0`).
    ///
    /// The cofactored equation is what makes a vote's verdict depend on the vote alone: batch
    /// verification ([`crate::validate::verify_blocks`]) checks a random combination of the
    /// same equations times the cofactor, so a small-order component in `R` or `A` cancels on
    /// both paths alike instead of passing or failing with the other votes of the batch (the
    /// cofactorless `verify_strict` and a cofactorless batch disagree on such votes). Honest
    /// signatures verify under both rules; nobody but the voter can make another valid
    /// signature for a vote, so ids are not malleable by third parties.
    pub fn verify_signature(&self) -> Result<(), SignatureError> {
        self.check_key()?;
        let key = ed25519_zebra::VerificationKey::try_from(self.voter.0)
            .map_err(|_| SignatureError::BadKey)?;
        let signature = ed25519_zebra::Signature::from_bytes(&self.signature.0);
        key.verify(&signature, &self.signing_bytes())
            .map_err(|_| SignatureError::BadSignature)
    }

    /// The rule on the voter key that the signature equation does not enforce: its 32 bytes are
    /// the canonical encoding of a point (y below the field prime), and not one of the
    /// small-order points. Byte comparisons only: decoding the point (which verification does
    /// anyway) costs a field exponentiation, and re-encoding it an inversion.
    pub fn check_key(&self) -> Result<(), SignatureError> {
        let key = &self.voter.0;
        if !is_canonical_y(key) || is_small_order_encoding(key) {
            return Err(SignatureError::BadKey);
        }
        Ok(())
    }

    /// The voter key as a curve point.
    pub fn verifying_key(&self) -> Result<VerifyingKey, SignatureError> {
        VerifyingKey::from_bytes(&self.voter.0).map_err(|_| SignatureError::BadKey)
    }
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

/// True when the y coordinate of the encoding `p` (sign bit cleared, little-endian) is below the
/// field prime 2^255 − 19: the only spelling of its point (the sign bit of a point with x = 0,
/// the other non-canonical form, only occurs on small-order points, refused separately).
fn is_canonical_y(p: &[u8; 32]) -> bool {
    let top = p[31] & 0x7f;
    !(top == 0x7f && p[1..31].iter().all(|b| *b == 0xff) && p[0] >= 0xed)
}

fn signing_bytes(election: &Hash, voter: &PublicKey, choice: &str) -> Vec<u8> {
    // Any string that arrives in a datagram is far shorter than 4 GiB.
    let len = u32::try_from(choice.len()).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(VOTE_DOMAIN.len() + 65 + choice.len());
    out.extend_from_slice(VOTE_DOMAIN);
    out.extend_from_slice(&election.0);
    out.extend_from_slice(&voter.0);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(choice.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_rule_matches_the_curve() {
        use curve25519_dalek::constants::EIGHT_TORSION;
        use curve25519_dalek::edwards::CompressedEdwardsY;
        // Every small-order point, in its canonical spelling and with the sign bit flipped.
        for point in EIGHT_TORSION {
            let mut enc = point.compress().to_bytes();
            assert!(is_small_order_encoding(&enc));
            enc[31] ^= 0x80;
            assert!(is_small_order_encoding(&enc));
        }
        // Around 0, 1 and p the byte tests agree with decoding and re-encoding.
        for low in 0..=255u8 {
            for sign in [0, 0x80] {
                let mut near_zero = [0u8; 32];
                near_zero[0] = low;
                near_zero[31] = sign;
                let mut near_p = [0xffu8; 32];
                near_p[0] = low;
                near_p[31] = 0x7f | sign;
                for enc in [near_zero, near_p] {
                    let Some(point) = CompressedEdwardsY(enc).decompress() else {
                        continue;
                    };
                    assert_eq!(is_small_order_encoding(&enc), point.is_small_order());
                    let canonical = point.compress().0 == enc;
                    if !point.is_small_order() {
                        assert_eq!(is_canonical_y(&enc), canonical, "{}", hex::encode(enc));
                    }
                }
            }
        }
        // Real keys pass.
        for seed in 0..200u8 {
            let v = Vote::sign(&key(seed), Hash([1; 32]), "A");
            assert_eq!(v.check_key(), Ok(()));
        }
    }

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    #[test]
    fn signed_vote_verifies_and_tampering_fails() {
        let election = sha256(&[b"e"]);
        let v = Vote::sign(&key(1), election, "Adam");
        assert_eq!(v.verify_signature(), Ok(()));
        let mut other_election = v.clone();
        other_election.election = sha256(&[b"f"]);
        assert_eq!(
            other_election.verify_signature(),
            Err(SignatureError::BadSignature)
        );
        let mut other_choice = v.clone();
        other_choice.choice = "Bob".into();
        assert_eq!(
            other_choice.verify_signature(),
            Err(SignatureError::BadSignature)
        );
        let mut other_voter = v.clone();
        other_voter.voter = PublicKey(key(2).verifying_key().to_bytes());
        assert_eq!(
            other_voter.verify_signature(),
            Err(SignatureError::BadSignature)
        );
    }

    #[test]
    fn id_is_deterministic_and_distinct() {
        let e = sha256(&[b"e"]);
        assert_eq!(
            Vote::sign(&key(1), e, "A").id(),
            Vote::sign(&key(1), e, "A").id()
        );
        assert_ne!(
            Vote::sign(&key(1), e, "A").id(),
            Vote::sign(&key(1), e, "B").id()
        );
        assert_ne!(
            Vote::sign(&key(1), e, "A").id(),
            Vote::sign(&key(2), e, "A").id()
        );
    }
}
