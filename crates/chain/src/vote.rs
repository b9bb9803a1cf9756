//! Signed votes. A vote names its election (the genesis hash), the voter's Ed25519 public key and
//! a choice; the signature covers a domain-separated canonical encoding of those three, so a vote
//! cannot be replayed into another election or reinterpreted as any other signed object. A
//! vote's id is the SHA-256 of the signed vote.

use crate::hash::{sha256, Hash, PublicKey, Signature};
use curve25519_dalek::edwards::CompressedEdwardsY;
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
    /// the canonical encoding of a curve point, and that point is not of small order. Cheap (one
    /// point decompression, three doublings), and applied on every path.
    pub fn check_key(&self) -> Result<(), SignatureError> {
        let point = CompressedEdwardsY(self.voter.0)
            .decompress()
            .ok_or(SignatureError::BadKey)?;
        if point.compress().0 != self.voter.0 || point.is_small_order() {
            return Err(SignatureError::BadKey);
        }
        Ok(())
    }

    /// The voter key as a curve point.
    pub fn verifying_key(&self) -> Result<VerifyingKey, SignatureError> {
        VerifyingKey::from_bytes(&self.voter.0).map_err(|_| SignatureError::BadKey)
    }
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
