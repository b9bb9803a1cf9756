//! What votechain's sans-IO cores (the peer's `Node`, the tracker's `Registry`) share: no IO, no
//! clock, no global RNG — time and randomness come in as arguments, so the same inputs give the
//! same outputs and the simulator can replay any run.
//!
//! - [`output`]: the one output convention, [`Output`] and [`Transmit`].
//! - [`cookies`]: minting and checking address cookies ([`TokenMinter`]), the proof of origin.
//! - [`ratelimit`]: per-source token buckets in a capped table.
//! - [`dedup`]: a capped "seen it already" set.
//! - [`loglimit`]: rate-limited log lines for what the network can repeat.
//!
//! Where this sits: `votechain-proto` knows what messages look like (including the wire form of
//! a cookie); this crate holds the node-side machinery that decides what a datagram earns.

pub mod cookies;
pub mod dedup;
pub mod loglimit;
pub mod output;
pub mod ratelimit;

pub use cookies::{TokenMinter, TOKEN_WINDOW_MS};
pub use dedup::DedupCache;
pub use output::{Output, Transmit};
