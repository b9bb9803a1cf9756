//! Fixed-size byte strings that travel as lowercase hex: block and vote hashes, voter public
//! keys and Ed25519 signatures, plus the one SHA-256 helper every other module uses.
//!
//! That hex is part of the wire and disk formats, inside blocks and votes and in messages of its
//! own, so changing it is a protocol change (see the crate docs).

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use std::fmt;

/// Declares a `[u8; N]` newtype that serialises as exactly `2 * N` lowercase hex characters and
/// rejects anything else when deserialised (wrong length, non-hex, wrong JSON type).
macro_rules! hex_bytes {
    ($(#[$doc:meta])* $name:ident, $n:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub [u8; $n]);

        impl $name {
            /// Number of raw bytes.
            pub const LEN: usize = $n;

            /// Lowercase hex, `2 * LEN` characters.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }

            /// Parses exactly `2 * LEN` hex characters (either case).
            pub fn from_hex(s: &str) -> Result<Self, HexError> {
                if s.len() != 2 * $n {
                    return Err(HexError::Length { expected: 2 * $n, found: s.len() });
                }
                let mut out = [0u8; $n];
                hex::decode_to_slice(s, &mut out).map_err(|_| HexError::NotHex)?;
                Ok(Self(out))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.to_hex())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_hex())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Self::from_hex(&s).map_err(|e| de::Error::invalid_value(de::Unexpected::Str(&s), &e.expected()))
            }
        }
    };
}

hex_bytes!(
    /// A SHA-256 digest: block hashes, vote ids, Merkle nodes, the election id.
    Hash,
    32
);
hex_bytes!(
    /// An Ed25519 public key (compressed Edwards point) identifying a voter.
    PublicKey,
    32
);
hex_bytes!(
    /// An Ed25519 signature over a vote's signing bytes.
    Signature,
    64
);

impl Hash {
    /// The all-zero hash: the genesis block's `prev`.
    pub const ZERO: Hash = Hash([0; 32]);

    /// The hash as people read it in a log line or a table: its first 12 hex digits and "…".
    pub fn short(&self) -> String {
        let mut hex = self.to_string();
        hex.truncate(12);
        format!("{hex}…")
    }

    /// Number of leading zero bits, the proof-of-work measure.
    pub fn leading_zero_bits(&self) -> u32 {
        let mut bits = 0;
        for byte in self.0 {
            if byte == 0 {
                bits += 8;
            } else {
                return bits + byte.leading_zeros();
            }
        }
        bits
    }
}

/// Why a hex string is not the byte string it claims to be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    /// Wrong number of characters.
    #[error("expected {expected} hex characters, found {found}")]
    Length {
        /// Characters required.
        expected: usize,
        /// Characters given.
        found: usize,
    },
    /// A character outside `0-9a-fA-F`.
    #[error("not hexadecimal")]
    NotHex,
}

impl HexError {
    fn expected(&self) -> &'static str {
        match self {
            HexError::Length { .. } => "a hex string of the right length",
            HexError::NotHex => "a hexadecimal string",
        }
    }
}

/// SHA-256 over the concatenation of `parts`.
pub fn sha256(parts: &[&[u8]]) -> Hash {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    Hash(h.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_rejects() {
        let h = sha256(&[b"abc"]);
        assert_eq!(
            h.to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(Hash::from_hex(&h.to_hex()), Ok(h));
        assert_eq!(
            Hash::from_hex("ab"),
            Err(HexError::Length {
                expected: 64,
                found: 2
            })
        );
        assert_eq!(Hash::from_hex(&"zz".repeat(32)), Err(HexError::NotHex));
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(serde_json::from_str::<Hash>(&json).unwrap(), h);
        assert!(serde_json::from_str::<Hash>("\"00\"").is_err());
        assert!(serde_json::from_str::<Hash>("5").is_err());
    }

    #[test]
    fn leading_zero_bits_counts_bits() {
        let mut h = Hash::ZERO;
        assert_eq!(h.leading_zero_bits(), 256);
        h.0[1] = 0b0001_0000;
        assert_eq!(h.leading_zero_bits(), 11);
    }
}
