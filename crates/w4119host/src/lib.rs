//! An independent implementation of the W4119 voting chain's tracker and peer (the seed A
//! protocol, `shared/reference/seed-protocols.md`), written from the specification for tests.
//! It deliberately shares no code with votechain, so that agreeing with it means agreeing with
//! the specification, not with ourselves: it is the referee.
//!
//! It is plain, blocking Rust: `std::net::UdpSocket` and threads, `serde_json::Value` for what
//! arrives, its own Python-compatible JSON writer for what leaves, `sha2` for the hash.
//!
//! - [`wire`]: [`Json`] and [`python_dumps`], JSON written as Python's `json.dumps` writes it
//!   (insertion order or `sort_keys`, `ensure_ascii`).
//! - [`block`]: [`Block`], the hash rule, proof of work, the fixed genesis block, a miner and
//!   the block and chain checks.
//! - [`datagram`]: decoding incoming datagrams and building every outgoing message.
//! - [`tracker`]: [`Registry`] (the tracker's rules, no IO) and [`W4119Tracker`] (on a thread).
//! - [`node`]: [`Node`], the peer's rules (no IO); [`peer`]: [`W4119Peer`] runs it on a thread.
//! - [`client`]: [`whole_chain_request`], a bare REQUEST_CHAIN client for testing other peers.
//! - [`clock`]: `"YYYY-MM-DD HH:MM:SS"` timestamps.
//!
//! Architecture invariant: nothing received from the network can panic a thread here; every
//! bad datagram is counted and dropped. Every socket is bound to loopback.

pub mod block;
pub mod client;
pub mod clock;
pub mod datagram;
pub mod node;
pub mod peer;
mod socket;
pub mod tracker;
pub mod wire;

pub use block::{Block, BlockDefect, BlockError, Transaction, DEFAULT_DIFFICULTY, GENESIS_HASH};
pub use client::whole_chain_request;
pub use datagram::DatagramError;
pub use node::{Node, Phase};
pub use peer::{W4119Peer, W4119PeerConfig};
pub use tracker::{Registry, W4119Tracker};
pub use wire::{python_dumps, Json};
