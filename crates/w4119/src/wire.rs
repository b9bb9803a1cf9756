//! The W4119 datagrams: one JSON object each, told apart by its string `type`. [`decode`] turns
//! any bytes into a [`W4119Message`] or a typed [`WireError`], never a panic; [`encode`] writes
//! what the Python peer and tracker write, byte for byte (`json.dumps`, keys in their order).
//!
//! Tolerance, like the Python peer's `json.loads`: any key order and whitespace, unknown keys
//! ignored (a REQUEST_CHAIN with extra keys is still a bare request; a float in an ignored key is
//! fine), `POKE_ACK` read as `POKE-ACK` (their design document's spelling; we always send the
//! hyphen, the only form their tracker accepts). Strict: a datagram of at most 65,507 bytes;
//! `peer_list` at most 256 strings of at most 64 bytes; `voting_options` at most 64 strings of
//! at most 64 bytes; a block whose fields have their types (the block's own checks, hash and
//! limits, belong to the chain). Peer addresses stay strings, as on the wire; [`peer_addr`]
//! reads one as a socket address.

use crate::block::W4119Block;
use crate::error::W4119Error;
use crate::pyjson::PyJsonError;
use std::net::{IpAddr, SocketAddr};

mod decode;
mod encode;
#[cfg(test)]
mod tests;

pub use crate::limits::MAX_DATAGRAM;
pub use decode::decode;
pub use encode::encode;

/// Most addresses in a `peer_list`.
pub const MAX_PEERS: usize = 256;
/// Longest address in a `peer_list`, in bytes (`"[ipv6]:port"` fits).
pub const MAX_PEER_BYTES: usize = 64;
/// Most ballot options in `voting_options`.
pub const MAX_OPTIONS: usize = 64;
/// Longest ballot option, in bytes.
pub const MAX_OPTION_BYTES: usize = 64;
/// Longest unknown `type` quoted back in a [`WireError::UnknownType`].
const MAX_QUOTED_TYPE_CHARS: usize = 32;

/// One W4119 datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum W4119Message {
    /// Peer to tracker: "add me" (resent every 0.5 s until acknowledged).
    RegisterPeer,
    /// Tracker to a new peer: every registered peer, the new one included.
    RegisterAck {
        /// Peers as "ip:port".
        peer_list: Vec<String>,
    },
    /// Tracker to every peer, on each registration and eviction: the peer list now.
    UpdatePeers {
        /// Peers as "ip:port".
        peer_list: Vec<String>,
    },
    /// Peer to tracker: "what is on the ballot?"
    RequestBallot,
    /// Tracker to peer: the ballot.
    BallotOptions {
        /// The options, in ballot order.
        voting_options: Vec<String>,
    },
    /// Peer to all peers, once, no acknowledgement: a newly mined block.
    NewBlock {
        /// The block.
        block: W4119Block,
    },
    /// Peer to peers: "send me your chain".
    RequestChain,
    /// The answer to REQUEST_CHAIN, one datagram per block.
    ChainBlock {
        /// The block's position in the sender's chain.
        index: u64,
        /// The block.
        block: W4119Block,
        /// How many blocks the sender's chain has.
        total_blocks: u64,
    },
    /// Tracker to peer, every second: "are you there?"
    Poke,
    /// Peer to tracker: "I am" (`POKE-ACK` on the wire).
    PokeAck,
    /// Peer to tracker: "remove me".
    LeavePeer,
}

impl W4119Message {
    /// The message's `type` string, as [`encode`] writes it.
    pub fn type_name(&self) -> &'static str {
        match self {
            W4119Message::RegisterPeer => "REGISTER_PEER",
            W4119Message::RegisterAck { .. } => "REGISTER_ACK",
            W4119Message::UpdatePeers { .. } => "UPDATE_PEERS",
            W4119Message::RequestBallot => "REQUEST_BALLOT",
            W4119Message::BallotOptions { .. } => "BALLOT_OPTIONS",
            W4119Message::NewBlock { .. } => "NEW_BLOCK",
            W4119Message::RequestChain => "REQUEST_CHAIN",
            W4119Message::ChainBlock { .. } => "CHAIN_BLOCK",
            W4119Message::Poke => "POKE",
            W4119Message::PokeAck => "POKE-ACK",
            W4119Message::LeavePeer => "LEAVE_PEER",
        }
    }
}

/// Why a datagram is not a W4119 message. Every variant is a sentence for the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Longer than [`MAX_DATAGRAM`].
    #[error("the datagram has {len} bytes, more than the {MAX_DATAGRAM} of one UDP datagram")]
    TooLarge {
        /// Its length.
        len: usize,
    },
    /// Not JSON (or not UTF-8, or nested too deep).
    #[error("the datagram is not JSON: {0}")]
    NotJson(String),
    /// JSON, but not an object.
    #[error("the datagram is JSON but not an object")]
    NotObject,
    /// No `type`, or a `type` that is not a string.
    #[error("the message has no string \"type\"")]
    NoType,
    /// A `type` W4119 does not define (quoted, truncated to 32 characters).
    #[error("unknown message type {0:?}")]
    UnknownType(String),
    /// A required field is absent.
    #[error("the message lacks its {0:?} field")]
    MissingField(&'static str),
    /// A field is present but not acceptable.
    #[error("the {field:?} field {why}")]
    BadField {
        /// The field's key.
        field: &'static str,
        /// What is wrong, as the end of a sentence ("is not a list").
        why: String,
    },
    /// The `block` field is not a block.
    #[error("the message's block is not acceptable: {0}")]
    Block(W4119Error),
    /// A peer address that is not "ip:port".
    #[error("the peer address {0:?} is not an IP address and port")]
    BadPeerAddress(String),
}

impl From<PyJsonError> for WireError {
    fn from(e: PyJsonError) -> WireError {
        match e {
            PyJsonError::NotJson(why) => WireError::NotJson(why),
            float @ PyJsonError::Float => WireError::NotJson(float.to_string()),
        }
    }
}

/// Reads a peer address from a `peer_list` as a socket address: `"127.0.0.1:8071"`,
/// `"[::1]:8071"`, or an IPv6 address and port without brackets (`"::1:8071"`, as Python's
/// `f"{ip}:{port}"` writes one), the port after the last colon.
pub fn peer_addr(address: &str) -> Result<SocketAddr, WireError> {
    if let Ok(addr) = address.parse::<SocketAddr>() {
        return Ok(addr);
    }
    address
        .rsplit_once(':')
        .and_then(|(ip, port)| {
            Some(SocketAddr::new(
                ip.parse::<IpAddr>().ok()?,
                port.parse().ok()?,
            ))
        })
        .ok_or_else(|| WireError::BadPeerAddress(address.chars().take(MAX_PEER_BYTES).collect()))
}
