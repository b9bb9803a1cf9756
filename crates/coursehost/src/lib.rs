//! An independent implementation of a COMP 3010 course peer, written from the course's
//! specification (`shared/reference/seed-protocols.md`, "Seed B") for tests and benchmarks. It
//! deliberately shares no code with votechain, so that agreeing with it means agreeing with the
//! specification, not with ourselves.
//!
//! It is plain, blocking Rust: `std::net::UdpSocket` and threads, `serde_json::Value` for the
//! wire, `sha2` for the hash. Simplicity is the point: it is the referee.
//!
//! - [`block`]: the block, the course hash rule, validity, and the flat JSON form.
//! - [`mine`]: a plain miner for valid test chains ([`mine_chain`], [`mine_on`]).
//! - [`host`]: [`Host`], a course peer on background threads (GOSSIP, STATS, GET_BLOCK,
//!   ANNOUNCE, NEW_WORD, CONSENSUS), honest or lying about its height, answering from its
//!   listening port and optionally sending its own requests from throw-away ports.
//! - [`consensus`]: the course consensus a host runs (STATS, most agreed chain, stop-and-wait
//!   GET_BLOCK, whole-chain validation, fallback to the next candidate).
//! - [`client`]: [`sync_stop_and_wait`], the course-style sync client, a benchmark baseline.
//! - [`relay`]: [`Relay`], a UDP relay adding a fixed one-way delay, for benchmarks.
//! - [`wire`]: [`python_dumps`], JSON written as the course's Python peers write it; everything
//!   the host sends goes through it.
//!
//! Architecture invariant: nothing received from the network can panic a thread here; every
//! field is checked and a bad datagram is counted and dropped. Every socket is bound to loopback.

pub mod block;
pub mod client;
pub mod consensus;
pub mod host;
pub mod mine;
pub mod relay;
mod serve;
mod socket;
pub mod wire;

pub use block::{
    block_from_json, block_to_json, block_valid, chain_valid, hash_block, null_block_reply,
    valid_hash, Block,
};
pub use client::sync_stop_and_wait;
pub use consensus::ConsensusOutcome;
pub use host::{Host, HostConfig};
pub use mine::{mine_chain, mine_on};
pub use relay::Relay;
pub use wire::python_dumps;
