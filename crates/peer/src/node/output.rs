//! What the node hands its shell: [`Output`]s in order (the convention of
//! [`votechain_sansio::output`]), the store [`Record`]s, the [`Event`]s worth telling someone,
//! and the counters behind `stats`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use votechain_chain::{Block, BlockTemplate, Hash, Vote};

/// Something the shell must do, in order (see [`votechain_sansio::output`]): send, persist a
/// [`Record`], mine a [`BlockTemplate`], or report an [`Event`].
pub type Output = votechain_sansio::Output<Record, BlockTemplate, Event>;

/// A store record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A block that joined the block tree.
    Block(Block),
    /// A vote accepted into the pending pool.
    Vote(Vote),
}

/// Things that happened, for logs, the console and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The election is known: ballot and genesis checked.
    ElectionKnown {
        /// The genesis hash.
        election: Hash,
    },
    /// The tracker's ballot does not match the chain we hold.
    ElectionMismatch {
        /// The election of our stored chain.
        ours: Hash,
        /// The election the tracker serves.
        tracker: Hash,
    },
    /// The best tip changed.
    TipChanged {
        /// New height.
        height: u64,
        /// New tip hash.
        hash: Hash,
        /// Blocks that left the best chain (0 for a plain extension).
        reorg_depth: usize,
    },
    /// This node mined a block.
    Mined {
        /// Its height.
        height: u64,
        /// Its hash.
        hash: Hash,
    },
    /// Sync reached the chain it was fetching.
    Synced {
        /// Our height now.
        height: u64,
    },
    /// A peer is ignored for a while.
    PeerBanned {
        /// Who.
        peer: SocketAddr,
        /// Why, in words.
        reason: String,
    },
}

/// Counters, for `stats` and tests.
#[derive(Debug, Clone, Default)]
pub struct NodeStats {
    /// Datagrams received.
    pub datagrams_in: u64,
    /// Datagrams sent.
    pub datagrams_out: u64,
    /// Undecodable datagrams, by error kind.
    pub decode_errors: BTreeMap<&'static str, u64>,
    /// Datagrams dropped by the per-source rate limit.
    pub rate_limited: u64,
    /// Datagrams dropped because their sender is banned.
    pub from_banned: u64,
    /// Datagrams that echoed our address cookie for their source: proven origin.
    pub proven: u64,
    /// Well-formed messages this node does not act on (wrong sender, unsolicited, not ours).
    pub ignored: u64,
    /// CHALLENGEs sent instead of a reply too large for an unverified address.
    pub challenges_sent: u64,
    /// Blocks received that failed validation.
    pub invalid_blocks: u64,
    /// Blocks mined here.
    pub mined: u64,
    /// Remote votes refused because the pool was under pressure (see [`crate::admission`]).
    pub votes_refused: u64,
}
