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
    /// The public key is not a valid curve point, or it has a small-order component (it is not
    /// in the prime-order subgroup every real Ed25519 key lies in).
    #[error("voter key is not a valid Ed25519 public key")]
    BadKey,
    /// The signature does not verify (strict Ed25519: no malleable or small-order forms, and a
    /// nonce point `R` with a small-order component is refused too).
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

    /// Verifies the signature alone: [`Vote::check_points`], then strict verification (so ids
    /// are not malleable). This is the one rule; batch verification applies the same point rule
    /// before its equation, so both accept exactly the same votes.
    pub fn verify_signature(&self) -> Result<(), SignatureError> {
        let key = self.check_points()?;
        let sig = ed25519_dalek::Signature::from_bytes(&self.signature.0);
        key.verify_strict(&self.signing_bytes(), &sig)
            .map_err(|_| SignatureError::BadSignature)
    }

    /// The rule on the two points of a vote that no signature equation can enforce uniformly:
    /// the key `A` and the nonce `R` must decode and be torsion-free (in the prime-order
    /// subgroup, so no small-order component). Returns the decoded key.
    ///
    /// Why: `verify_strict` checks the cofactorless equation one signature at a time, while a
    /// batch checks a random linear combination of them. With a small-order component in `R` or
    /// `A`, the leftover torsion term of one signature can vanish under its random weight or
    /// cancel another's, so the batch result would depend on the other votes in the batch. With
    /// both points torsion-free there is no torsion term at all and the two checks agree. An
    /// Ed25519 signer never produces such points, so no honest vote is refused.
    pub fn check_points(&self) -> Result<VerifyingKey, SignatureError> {
        let key = self.verifying_key()?;
        if !key.to_edwards().is_torsion_free() {
            return Err(SignatureError::BadKey);
        }
        let mut r = [0u8; 32];
        r.copy_from_slice(&self.signature.0[..32]);
        let torsion_free_r = CompressedEdwardsY(r)
            .decompress()
            .is_some_and(|p| p.is_torsion_free());
        if !torsion_free_r {
            return Err(SignatureError::BadSignature);
        }
        Ok(key)
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
