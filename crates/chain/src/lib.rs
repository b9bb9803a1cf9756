//! The chain of one election, as pure logic shared by the peer, the simulator and the benchmarks.
//!
//! - [`hash`]: hex byte strings (hashes, keys, signatures) and the SHA-256 helper.
//! - [`limits`]: every size bound, chosen so any valid block fits one datagram.
//! - [`ballot`]: the election's question; its canonical bytes are genesis's payload.
//! - [`vote`], [`keys`]: Ed25519-signed votes and voter key files.
//! - [`header`], [`merkle`], [`block`]: the 136-byte header with its midstate-friendly layout,
//!   the vote Merkle tree, and blocks whose hash always matches their contents.
//!
//! Architecture invariant: nothing here opens a socket, reads the clock, seeds an RNG or spawns a
//! thread. Time (`now_ms`) and randomness come in as arguments. The store is the one module that
//! touches files, and the miner's threads are started by its caller.

pub mod ballot;
pub mod block;
pub mod hash;
pub mod header;
pub mod keys;
pub mod limits;
pub mod merkle;
pub mod vote;

pub use ballot::{Ballot, BallotError};
pub use block::{Block, BlockFormatError, BlockTemplate};
pub use hash::{sha256, Hash, HexError, PublicKey, Signature};
pub use header::{work, BlockHeader, Midstate, HEADER_LEN};
pub use keys::{KeyFileError, VoterKey};
pub use vote::{SignatureError, Vote};
