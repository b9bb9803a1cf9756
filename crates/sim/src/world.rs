//! The fixed facts every part of a simulation agrees on — the Unix time of virtual time 0, the
//! tracker's address, how peers are numbered — kept apart from the simulator so that what it
//! hosts (attacks) can name them without depending on it. Re-exported by [`crate::sim`].

use std::net::SocketAddr;

/// Virtual time 0 is this Unix time on every node's clock (before its skew), so block timestamps
/// look like real ones.
pub const EPOCH_MS: u64 = 1_700_000_000_000;

/// The tracker's address in every simulation.
pub const TRACKER_ADDR: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)),
    4000,
);

/// Index of a peer in the simulation, in the order peers were added.
pub type PeerId = usize;
