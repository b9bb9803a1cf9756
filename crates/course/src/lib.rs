//! The COMP 3010 course network's chain and wire format (PROTOCOL.md, "Profile comp3010"):
//! blocks and the course hash rule, proof of work by trailing zeros, a midstate miner, whole-chain
//! validation, the flat JSON codec of the course's messages and a crash-safe chain store. Pure
//! apart from the store: the `comp3010` profile of `votechain-peer` drives it.
//!
//! - [`limits`]: the course's limits on a block, and ours where it sets none.
//! - [`block`]: [`CourseBlock`], the hash rule ([`course_hash`]), the difficulty test and every
//!   check as a [`CourseError`].
//! - [`chain`]: [`CourseChain`], a chain valid from height 0.
//! - [`miner`]: [`CourseSearch`], one SHA-256 compression per attempt, and workers steered by the
//!   native miner's `MinerControl`.
//! - [`wire`]: the course's datagrams as [`CourseMessage`], decoded into typed errors.
//! - [`store`]: [`CourseStore`], the chain on disk in the native store's crash-safe framing.
//!
//! # Malleability
//!
//! The course hashes its fields concatenated without separators, so the messages `["ab","c"]` and
//! `["a","bc"]` (or `minedBy` `"m"` with message `"ab"` and `minedBy` `"ma"` with `"b"`) give the
//! same hash, and by the course's rules both bodies are valid. Whoever relays a block can swap
//! its body for another with the same hash. We do not change the rule (that would leave the course
//! network); instead the node keys blocks by hash and keeps the first body it accepted for a
//! hash, answering GET_BLOCK with that body. Whatever body is served, its hash is recomputed from
//! its contents before it is accepted or served: a block is never served with a hash that does
//! not match its contents (a seed implementation did that), because [`CourseChain`] only holds
//! blocks that passed [`CourseBlock::verify_after`].
//!
//! Architecture invariant: nothing here opens a socket, reads the clock or spawns a thread; the
//! store is the one module that touches files, and the miner's threads belong to its caller.

pub mod block;
pub mod chain;
pub mod limits;
pub mod miner;
pub mod store;
pub mod wire;

pub use block::{course_hash, meets_difficulty, CourseBlock, CourseError};
pub use chain::CourseChain;
pub use miner::{run_worker, CourseJob, CourseMiningJob, CourseSearch};
pub use store::CourseStore;
pub use votechain_chain::Hash;
pub use wire::{CourseMessage, WireError};
