//! The votechain peer: a full node, as a sans-IO state machine and a tokio shell.
//!
//! - [`admission`]: who may fill the pending pool of an open election.
//! - [`config`]: every tunable with its default.
//! - [`course`]: the `comp3010` profile: a peer of the COMP 3010 course network.
//! - [`w4119`]: the `w4119` profile: a peer of a W4119 voting chain.
//! - [`console`]: the console command language.
//! - [`peers`]: known peers, their freshness and bans.
//! - [`loglimit`]: rate-limited log lines for what the network can repeat.
//! - [`tracker_client`]: registration with the tracker, heartbeats, re-registration.
//! - [`downloader`]: the pipelined block downloader.
//! - [`node`]: the state machine tying them together.
//! - [`profile`]: what differs per protocol profile (wire dialect, chain rules, handshakes).
//! - [`recover`]: rebuilding the chain from the store at start-up.
//! - [`view`]: what the console prints.
//! - [`shell`]: the tokio shell: socket, timer, miner threads, console, store.
//! - [`keys`]: voter key files in the data directory: the console's and `votechain-keys`'s
//!   `keys` commands.
//! - [`voting`]: the console's votes, named by voter, and those waiting for the election.
//! - [`start`]: opening the store and building the node, shared by every launcher.
//! - [`http`]: the HTTP server and JSON API, talking to the shell over channels.
//! - [`external`]: the shells' side of the mining port: templates out, found blocks in.
//! - [`metrics`]: Prometheus metrics derived from the node's counters, rendered as text.
//! - [`miningport`]: the mining port's TCP server for external miners, around
//!   `votechain_pool`'s sans-IO core.
//! - [`handle`]: [`handle::PeerHandle`], a whole peer as a task of this process (the
//!   one-command election, the benchmarks).
//!
//! What every shell and binary shares (exit codes, logging, signals, UDP sockets and burst
//! reads) is in `votechain_runtime`.

pub mod admission;
pub mod config;
pub mod console;
pub mod course;
pub mod downloader;
pub mod external;
pub mod handle;
pub mod http;
pub mod keys;
pub use votechain_sansio::loglimit;
pub mod metrics;
pub mod miningport;
pub mod node;
pub mod peers;
pub mod profile;
pub mod recover;
pub mod shell;
pub mod start;
pub mod tracker_client;
pub mod view;
pub mod voting;
pub mod w4119;
