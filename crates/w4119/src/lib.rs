//! The W4119 voting chain (seed A, "Columbia-CSEE-W4119", in PROTOCOL.md and the seed reference;
//! its profile is `w4119`): a Python peer network whose blocks are hashed over Python's
//! `json.dumps`, and whose datagrams are Python JSON. This crate speaks it byte for byte and adds what the seed lacked: every block is checked before it
//! is kept, and the tally counts only votes for ballot options, one per voter.
//!
//! - [`pyjson`]: [`PyValue`] and [`python_dumps`], Python's `json.dumps` reproduced exactly.
//! - [`limits`]: W4119's numbers, and our limits where it sets none.
//! - [`block`]: [`W4119Block`], [`Transaction`], the hash rule ([`w4119_hash`]), the genesis
//!   block and the difficulty test; [`error`]: every refusal as a [`W4119Error`].
//! - [`chain`]: [`W4119Chain`], a chain valid from the fixed genesis block, and fork choice.
//! - [`tally`]: [`Tally`], the honest count, with every vote it did not count and why.
//! - [`wire`]: the eleven W4119 datagrams as [`W4119Message`], decoded into typed errors.
//! - [`miner`]: [`mine`] a block as the Python peer does, and [`now_timestamp`].
//! - [`store`]: [`W4119Store`], the chain on disk in the native store's crash-safe framing.
//!
//! Architecture invariant: nothing here opens a socket, reads the clock or spawns a thread; the
//! store is the one module that touches files, and [`mine`] runs on its caller's thread.

pub mod block;
pub mod chain;
pub mod error;
pub mod limits;
pub mod miner;
pub mod pyjson;
pub mod store;
pub mod tally;
pub mod wire;

pub use block::{genesis, meets_difficulty, w4119_hash, Transaction, W4119Block, GENESIS_HASH};
pub use chain::W4119Chain;
pub use error::W4119Error;
pub use miner::{mine, now_timestamp, BlockTemplate};
pub use pyjson::{python_dumps, PyDict, PyJsonError, PyValue};
pub use store::W4119Store;
pub use tally::{Tally, Uncounted, UncountedReason};
pub use wire::{W4119Message, WireError};
