//! Voter keys: generation from a caller-supplied RNG and the key-file format.
//!
//! A key file is one JSON object, `{"public":"<64 hex>","secret":"<64 hex>"}`, where `secret` is
//! the 32-byte Ed25519 seed. Loading checks that the public key matches the secret. The peer
//! writes these files with mode 0600 in its data directory; this module only formats and parses.

use crate::hash::PublicKey;
use ed25519_dalek::SigningKey;
use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};

/// A voter's signing key.
#[derive(Clone)]
pub struct VoterKey(SigningKey);

#[derive(Serialize, Deserialize)]
struct KeyFile {
    public: String,
    secret: String,
}

/// Why a key file cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyFileError {
    /// Not the JSON object described in the module docs.
    #[error("not a voter key file: {0}")]
    Format(String),
    /// The public key does not belong to the secret.
    #[error("public key does not match the secret key")]
    Mismatch,
}

impl VoterKey {
    /// A fresh key from `rng`.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> VoterKey {
        VoterKey(SigningKey::generate(rng))
    }

    /// A key from a 32-byte seed (tests and deterministic simulations).
    pub fn from_seed(seed: [u8; 32]) -> VoterKey {
        VoterKey(SigningKey::from_bytes(&seed))
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key().to_bytes())
    }

    /// The Ed25519 signing key, for [`crate::Vote::sign`].
    pub fn signing_key(&self) -> &SigningKey {
        &self.0
    }

    /// The key-file text.
    pub fn to_file_string(&self) -> String {
        let file = KeyFile {
            public: self.public().to_hex(),
            secret: hex::encode(self.0.to_bytes()),
        };
        // Serialising two strings cannot fail.
        serde_json::to_string(&file).expect("two strings always serialise") + "\n"
    }

    /// Parses key-file text.
    pub fn from_file_str(text: &str) -> Result<VoterKey, KeyFileError> {
        let file: KeyFile =
            serde_json::from_str(text).map_err(|e| KeyFileError::Format(e.to_string()))?;
        let mut seed = [0u8; 32];
        hex::decode_to_slice(file.secret.trim(), &mut seed)
            .map_err(|_| KeyFileError::Format("secret is not 64 hex characters".into()))?;
        let key = VoterKey::from_seed(seed);
        let public = PublicKey::from_hex(file.public.trim())
            .map_err(|e| KeyFileError::Format(format!("public: {e}")))?;
        if public != key.public() {
            return Err(KeyFileError::Mismatch);
        }
        Ok(key)
    }
}

impl std::fmt::Debug for VoterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        write!(f, "VoterKey({})", self.public())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_round_trips_and_checks() {
        let key = VoterKey::from_seed([7; 32]);
        let text = key.to_file_string();
        assert_eq!(
            VoterKey::from_file_str(&text).unwrap().public(),
            key.public()
        );
        let other = VoterKey::from_seed([8; 32]).public().to_hex();
        let forged = text.replace(&key.public().to_hex(), &other);
        assert_eq!(
            VoterKey::from_file_str(&forged).unwrap_err(),
            KeyFileError::Mismatch
        );
        assert!(matches!(
            VoterKey::from_file_str("{}"),
            Err(KeyFileError::Format(_))
        ));
        assert!(!format!("{key:?}").contains(&hex::encode([7u8; 32])));
    }
}
