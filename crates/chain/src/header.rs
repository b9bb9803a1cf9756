//! The fixed binary block header and its hash. The header is 136 bytes, big-endian, laid out so
//! that the first 128 bytes are constant while mining and the 8-byte nonce is alone in the final
//! 64-byte SHA-256 block: a miner compresses the first two blocks once ([`Midstate`]) and then
//! does exactly one compression per nonce. JSON is never hashed.
//!
//! The header has no serde form: a block's JSON carries its fields (PROTOCOL.md, "Block JSON")
//! and the receiver rebuilds the rest. This layout is as much a protocol as that JSON, though:
//! every block hash and proof of work is computed over it (PROTOCOL.md, "Block header").
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | magic `"VOTE"` (domain separation from every other SHA-256 use) |
//! | 4 | 4 | version (1) |
//! | 8 | 4 | difficulty, leading zero bits |
//! | 12 | 4 | vote count |
//! | 16 | 8 | height |
//! | 24 | 8 | timestamp, Unix milliseconds |
//! | 32 | 32 | previous block hash |
//! | 64 | 32 | payload root: Merkle root of vote ids, or the ballot hash in genesis |
//! | 96 | 32 | miner commitment: SHA-256 of the miner name's UTF-8 |
//! | 128 | 8 | nonce |

use crate::hash::Hash;
use sha2::digest::generic_array::GenericArray;

/// Header length in bytes.
pub const HEADER_LEN: usize = 136;
/// The magic that starts every header.
pub const HEADER_MAGIC: [u8; 4] = *b"VOTE";
/// The only header version so far.
pub const HEADER_VERSION: u32 = 1;

/// SHA-256 initial state (FIPS 180-4 §5.3.3): where every midstate starts, ours and the
/// course miner's.
pub const SHA256_IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// A block header as plain data. Construct through [`crate::BlockTemplate`] or
/// [`crate::Block::genesis`]; a header inside a [`crate::Block`] always matches its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockHeader {
    /// Format version, [`HEADER_VERSION`].
    pub version: u32,
    /// Required proof of work, leading zero bits of the hash.
    pub difficulty: u32,
    /// Number of votes in the body.
    pub vote_count: u32,
    /// Distance from genesis (genesis is 0).
    pub height: u64,
    /// Unix milliseconds, as claimed by the miner.
    pub timestamp_ms: u64,
    /// Hash of the parent block ([`Hash::ZERO`] for genesis).
    pub prev: Hash,
    /// Merkle root of the vote ids, or the ballot hash for genesis.
    pub payload_root: Hash,
    /// SHA-256 of the miner's name.
    pub miner_hash: Hash,
    /// Proof-of-work nonce.
    pub nonce: u64,
}

impl BlockHeader {
    /// The 136-byte encoding described in the module docs.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..4].copy_from_slice(&HEADER_MAGIC);
        b[4..8].copy_from_slice(&self.version.to_be_bytes());
        b[8..12].copy_from_slice(&self.difficulty.to_be_bytes());
        b[12..16].copy_from_slice(&self.vote_count.to_be_bytes());
        b[16..24].copy_from_slice(&self.height.to_be_bytes());
        b[24..32].copy_from_slice(&self.timestamp_ms.to_be_bytes());
        b[32..64].copy_from_slice(&self.prev.0);
        b[64..96].copy_from_slice(&self.payload_root.0);
        b[96..128].copy_from_slice(&self.miner_hash.0);
        b[128..136].copy_from_slice(&self.nonce.to_be_bytes());
        b
    }

    /// SHA-256 of [`BlockHeader::to_bytes`]: the block hash.
    pub fn hash(&self) -> Hash {
        self.midstate().hash(self.nonce)
    }

    /// The SHA-256 state after the first 128 bytes, which do not depend on the nonce.
    pub fn midstate(&self) -> Midstate {
        let bytes = self.to_bytes();
        let mut state = SHA256_IV;
        sha2::compress256(
            &mut state,
            &[
                *GenericArray::from_slice(&bytes[0..64]),
                *GenericArray::from_slice(&bytes[64..128]),
            ],
        );
        Midstate(state)
    }

    /// True when the hash has at least `difficulty` leading zero bits.
    pub fn meets_difficulty(&self) -> bool {
        self.hash().leading_zero_bits() >= self.difficulty
    }
}

/// SHA-256 state after the nonce-independent part of a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Midstate(pub [u32; 8]);

impl Midstate {
    /// The padded final block for `nonce`: the nonce, the 0x80 terminator, zeros, and the
    /// message length in bits (136 × 8 = 1088) as a big-endian u64.
    pub fn final_block(nonce: u64) -> [u8; 64] {
        let mut block = [0u8; 64];
        block[0..8].copy_from_slice(&nonce.to_be_bytes());
        block[8] = 0x80;
        block[56..64].copy_from_slice(&((HEADER_LEN as u64) * 8).to_be_bytes());
        block
    }

    /// The final SHA-256 state words for `nonce`: one compression.
    pub fn state_for(&self, nonce: u64) -> [u32; 8] {
        let mut state = self.0;
        sha2::compress256(&mut state, &[Midstate::final_block(nonce).into()]);
        state
    }

    /// The block hash for `nonce`.
    pub fn hash(&self, nonce: u64) -> Hash {
        state_to_hash(&self.state_for(nonce))
    }
}

/// Big-endian serialisation of SHA-256 state words: the digest.
pub fn state_to_hash(state: &[u32; 8]) -> Hash {
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    Hash(out)
}

/// True when the digest given as state words has at least `bits` leading zero bits. Checks the
/// words directly so a miner never serialises a losing hash.
pub fn state_meets(state: &[u32; 8], bits: u32) -> bool {
    let mut need = bits;
    for word in state {
        if need == 0 {
            return true;
        }
        if need >= 32 {
            if *word != 0 {
                return false;
            }
            need -= 32;
        } else {
            return word.leading_zeros() >= need;
        }
    }
    need == 0
}

/// Expected number of hashes to find a block at `difficulty`: the block's work.
pub fn work(difficulty: u32) -> u128 {
    1u128 << difficulty.min(127)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::sha256;

    fn sample() -> BlockHeader {
        BlockHeader {
            version: 1,
            difficulty: 8,
            vote_count: 2,
            height: 7,
            timestamp_ms: 1_700_000_000_000,
            prev: sha256(&[b"prev"]),
            payload_root: sha256(&[b"root"]),
            miner_hash: sha256(&[b"miner"]),
            nonce: 0x0102_0304_0506_0708,
        }
    }

    #[test]
    fn midstate_hash_equals_plain_sha256() {
        let h = sample();
        assert_eq!(h.hash(), sha256(&[&h.to_bytes()]));
        for nonce in [0, 1, u64::MAX, 12345] {
            let h = BlockHeader { nonce, ..sample() };
            assert_eq!(h.midstate().hash(nonce), sha256(&[&h.to_bytes()]));
        }
    }

    #[test]
    fn state_meets_agrees_with_leading_zero_bits() {
        for nonce in 0..2000u64 {
            let state = sample().midstate().state_for(nonce);
            let zeros = state_to_hash(&state).leading_zero_bits();
            for bits in [0, 1, 4, 8, 31, 32, 33, 64] {
                assert_eq!(state_meets(&state, bits), zeros >= bits);
            }
        }
        assert!(state_meets(&[0; 8], 256));
    }

    #[test]
    fn layout_places_nonce_last() {
        let b = sample().to_bytes();
        assert_eq!(&b[0..4], b"VOTE");
        assert_eq!(&b[128..136], &0x0102_0304_0506_0708u64.to_be_bytes());
        assert_eq!(&b[16..24], &7u64.to_be_bytes());
    }
}
