//! The chain of one election, as pure logic shared by the peer, the simulator and the benchmarks.
//!
//! - [`hash`]: hex byte strings (hashes, keys, signatures) and the SHA-256 helper.
//! - [`limits`]: every size bound, chosen so any valid block fits one datagram.
//! - [`ballot`]: the election's question; its canonical bytes are genesis's payload.
//! - [`vote`], [`keys`], [`roll`]: Ed25519-signed votes, voter key files and voter-roll files.
//! - [`header`], [`merkle`], [`block`]: the 136-byte header with its midstate-friendly layout,
//!   the vote Merkle tree, and blocks whose hash always matches their contents.
//! - [`validate`]: every block and vote rule as a typed error; batch signature checks.
//! - [`state`], [`pool`], [`tally`], [`receipt`]: the block tree with fork choice by cumulative
//!   work and reorganisations, the pending pool, the tally and vote receipts.
//!
//! Architecture invariant: nothing here opens a socket, reads the clock, seeds an RNG or spawns a
//! thread. Time (`now_ms`) and randomness come in as arguments. The store is the one module that
//! touches files, and the miner's threads are started by its caller.
//!
//! Architecture invariant: chain's serde types are the wire format and the disk format. The JSON
//! of [`Block`], [`Vote`] and [`Ballot`], with the hex strings of [`Hash`](struct@Hash),
//! [`PublicKey`] and [`Signature`], is what PROTOCOL.md specifies ("Chain formats") and what
//! `votechain-proto`'s messages carry, byte for byte, and the [`store`] writes that same JSON as
//! its record payloads. Changing it is a protocol change: PROTOCOL.md and proto's wire snapshots
//! change with it, and the size bounds in [`limits`] must still hold. It changes the store format
//! too: records written before the change that no longer decode would be cut by [`Store::open`]
//! with everything after them, so such a change also takes a new [`store::STORE_MAGIC`] (an old
//! store is then refused, not cut). [`Tally`]'s derives are used by no format.

pub mod ballot;
pub mod block;
pub mod hash;
pub mod header;
pub mod keys;
pub mod limits;
pub mod merkle;
pub mod miner;
mod orphans;
pub mod pool;
pub mod receipt;
pub mod roll;
pub mod state;
pub mod store;
pub mod tally;
pub mod validate;
pub mod vote;

pub use ballot::{Ballot, BallotError};
pub use block::{Block, BlockFormatError, BlockTemplate};
pub use hash::{sha256, Hash, HexError, PublicKey, Signature};
pub use header::{work, BlockHeader, Midstate, HEADER_LEN};
pub use keys::{KeyFileError, VoterKey};
pub use miner::{MineOutcome, MinerControl, MiningJob, Worker};
pub use pool::Pool;
pub use receipt::{Receipt, RejectReason};
pub use state::{
    AddOutcome, ChainConfig, ChainState, ChainStats, Connected, SubmitOutcome, TipChange,
    VoteRejected,
};
pub use store::{Entry, Recovered, Store, StoreLocked};
pub use tally::{Tally, TallyLine};
pub use validate::{ValidationError, VerifiedBlock, VoteError};
pub use vote::{SignatureError, Vote};
