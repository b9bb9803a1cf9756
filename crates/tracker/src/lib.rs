//! The votechain tracker: the rendezvous point of one election. Peers register with it (after
//! proving their address), get a peer list and the ballot, and are heartbeated; the tracker
//! announces every membership change. It never stores the chain.
//!
//! - [`registry`]: the sans-IO core, a deterministic state machine driven by
//!   `handle_datagram` / `handle_timeout` and drained with `poll_output` / `poll_timeout`.
//! - `peers` (private): the member table, the heartbeat schedule and peer-list sampling.
//! - rate limits use `votechain_sansio::ratelimit` (per-source token buckets, capped table).
//! - [`stats`]: counters of everything done and dropped.
//! - [`config`]: settings and their defaults; [`ballot`]: the ballot from command-line text.
//! - [`metrics`]: `tracker --http`'s `GET /metrics`, Prometheus text rendered from the
//!   registry's counters, which the shell hands over on request.
//! - [`shell`]: the tokio loop around the registry, [`run`].
//!
//! Architecture invariant: everything but [`shell`] is free of IO, clocks, global randomness
//! and tokio; the benchmark and the tests drive the registry on a fake clock.

pub mod ballot;
pub mod config;
pub mod metrics;
mod peers;
pub mod registry;
pub mod shell;
pub mod stats;

pub use config::{Config, ConfigError};
pub use registry::{Event, Output, Registry};
pub use shell::{run, run_with_metrics, RunError};
pub use stats::Stats;
pub use votechain_sansio::Transmit;
