//! A deterministic simulator of whole votechain networks, in the style of quinn-proto's and
//! iroh-gossip's tests and FoundationDB's simulation: the real sans-IO cores (the peer's
//! [`votechain_peer::node::Node`], the tracker's [`votechain_tracker::Registry`], the chain state)
//! on virtual time, with one seeded RNG deciding every latency, loss, duplication, partition,
//! crash, mining delay and clock offset. The same seed gives the same run, bit for bit.
//!
//! - [`sim`]: the event heap, the nodes, mining, crashes and restarts, invariants at every step.
//! - [`net`]: links (latency distributions, loss, duplication), one- and two-way partitions.
//! - [`adversary`]: hostile peers — a liar, a replayer of old and invalid blocks, a vote flooder.
//! - [`attacks`]: attackers that forge source addresses, one per attack of issue 9.
//! - [`ledger`]: who paid for which bytes (per watched address), bans, acknowledgements.
//! - [`promises`]: the threat model's promises as checks (no split, no halt, no amplification…).
//! - [`course`]: networks of `comp3010` (COMP 3010 course) peers under loss, duplication and a
//!   lying peer, on the same network model.
//! - [`w4119`]: mixed networks of the `w4119` profile — our tracker, our W4119 peers and the
//!   independent W4119 peers — under loss, duplication, forks, crashes and forged senders.
//! - [`check`]: the end-of-scenario properties (one tip, every acknowledged vote once, tallies).
//! - [`sideblocks`]: side and empty blocks in a small election at the default settings.
//! - [`election`]: the ballot and voters of simulations.
//! - [`harness`]: running a scenario over many seeds and printing the replay command.
//!
//! ARCHITECTURE.md ("Simulation") explains how to write a scenario and replay a seed.
//!
//! # comp3010 scenarios
//!
//! [`course::CourseSim`] runs networks of the `comp3010` profile's real `CourseNode` on the same
//! network model, hostile-peer trait and seed harness, mining every job for real at difficulty 2.
//! `tests/comp3010.rs` holds its scenarios: 8 peers that all `--seed` one well-known host, under
//! 20 % loss and 5 % duplication, with NEW_WORD datagrams and 3 miners (every chain valid, one
//! tip, every mined word in it once); a partition that heals; two equal-length branches held
//! by four peers each; a NEW_WORD duplicated after its word was mined; a
//! [`course::CourseLiar`] claiming a chain of a million blocks and serving bogus blocks or
//! nothing, whose cost to each honest peer is bounded per consensus round; and late joiners
//! that sync 200 blocks under loss, or thousands over slow links without spinning.
//! `SIM_SEED=n` replays one seed, `SIM_TRACE=1` prints every datagram and event.

pub mod adversary;
pub mod attacks;
pub mod check;
pub mod course;
pub mod election;
pub mod harness;
pub mod ledger;
pub mod net;
pub mod promises;
pub mod sideblocks;
pub mod sim;
pub mod w4119;
mod world;

pub use check::Summary;
pub use ledger::Ledger;
pub use net::{LinkConfig, Network};
pub use sim::{sim_node_config, PeerId, Sim, SimConfig, EPOCH_MS, TRACKER_ADDR};
