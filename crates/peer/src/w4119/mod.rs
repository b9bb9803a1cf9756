//! The `w4119` profile: our peer on a W4119 voting chain (PROTOCOL.md, "Profile w4119"),
//! byte-compatible with its Python peers and tracker. W4119's blocks, hash rule, honest tally and
//! wire format live in `votechain-w4119`; this module is the node that speaks them, built from
//! the same parts as the native and course nodes: the sans-IO output convention, the dedup
//! caches of `votechain-sansio`, the store's record framing, and the shell's socket, console,
//! signal handling and HTTP server.
//!
//! - [`node`]: the state machine: tracker, blocks, chains, votes.
//! - [`event`]: what it reports, as sentences.
//! - [`console`]: the console language of the profile.
//! - [`shell`]: the tokio shell.
//! - [`http`]: the web page and JSON API of the profile.
//! - [`start`]: opening the store and building the node.

pub mod console;
pub mod event;
pub mod http;
pub mod node;
pub mod shell;
pub mod start;

pub use event::W4119Event;
pub use node::{W4119Command, W4119Config, W4119Node, W4119Record};
#[cfg(test)]
mod tests;
