//! The `comp3010` profile: our peer on a COMP 3010 course network (PROTOCOL.md, "Profile
//! comp3010"), byte-compatible with the course's peers. The course's chain (no votes, no ballot,
//! its own hash rule) and wire format live in `votechain-course`; this module is the node that
//! speaks them, built from the same parts as the native node: the sans-IO output convention,
//! the pipelined [`crate::downloader`], the per-source rate limits and dedup caches of
//! `votechain-sansio`, the miner control of `votechain-chain`, the store's record framing, the
//! shell's socket, console and signal handling, and the HTTP server's limits.
//!
//! - [`node`]: the state machine: gossip, serving, ANNOUNCE, words and mining.
//! - [`sync`]: consensus rounds and the pipelined GET_BLOCK sync.
//! - [`guard`]: per-IP limits for a protocol whose peers never prove their address.
//! - [`peers`]: the course peer table.
//! - [`event`]: what it reports, as sentences.
//! - [`console`]: the console language of the profile.
//! - [`shell`]: the tokio shell.
//! - [`http`]: the web page and JSON API of the profile.
//! - [`start`]: opening the store and building the node.

pub mod console;
pub mod event;
pub mod guard;
pub mod http;
pub mod node;
pub mod peers;
pub mod shell;
pub mod start;
pub mod sync;

pub use event::CourseEvent;
pub use node::{CourseCommand, CourseConfig, CourseNode};
#[cfg(test)]
mod tests;
