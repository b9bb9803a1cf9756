//! The course's datagrams: one JSON object each, told apart by its string `type`, with the block
//! replies flat (a block's fields at the top level). [`decode`] turns any bytes into a
//! [`CourseMessage`] or a typed [`WireError`], never a panic; [`encode`] writes exactly the
//! course's key names in the course's order, as compact JSON.
//!
//! Tolerance (PROTOCOL.md, "Profile comp3010", "Our choices on tolerance"): unknown keys are
//! ignored; a `nonce` may be a JSON integer (taken as its decimal string); a `timestamp` may be
//! an integral float; a `hash` may be upper case (it is recomputed anyway, and we send lower
//! case); in the replies an absent key counts as `null`. Strict: a request's fields are all required, ports are 1 to 65535, and
//! strings are bounded (host 255, id 64, name 256, word 20 characters).

use crate::block::CourseBlock;
use votechain_chain::Hash;

mod decode;
mod encode;
#[cfg(test)]
mod tests;

pub use decode::decode;
pub use encode::encode;

/// Largest UDP payload over IPv4; a longer datagram is refused before parsing.
pub const MAX_DATAGRAM: usize = 65_507;
/// Longest `host`, in characters (a DNS name's limit).
pub const MAX_HOST_CHARS: usize = 255;
/// Longest GOSSIP `id`, in characters (a UUID is 36).
pub const MAX_ID_CHARS: usize = 64;
/// Longest peer `name`, in characters.
pub const MAX_NAME_CHARS: usize = 256;
/// Longest NEW_WORD `word`, in characters: it must fit in a block as a message.
pub const MAX_WORD_CHARS: usize = crate::limits::MAX_MESSAGE_CHARS;
/// Longest unknown `type` quoted back in a [`WireError::UnknownType`].
const MAX_QUOTED_TYPE_CHARS: usize = 32;

/// One course datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CourseMessage {
    /// "I am here": answer with GOSSIP_REPLY to `host`:`port`, forward an unseen `id`.
    Gossip {
        /// The originator's host, where the reply goes.
        host: String,
        /// The originator's port.
        port: u16,
        /// Identifies this gossip round, so it is forwarded once.
        id: String,
        /// The originator's name.
        name: String,
    },
    /// The answer to a GOSSIP.
    GossipReply {
        /// The replying peer's host.
        host: String,
        /// The replying peer's port.
        port: u16,
        /// The replying peer's name.
        name: String,
    },
    /// Asks for the block at `height`.
    GetBlock {
        /// The height wanted.
        height: u64,
    },
    /// The block asked for, or `None` (all fields `null`) when the height is unknown.
    GetBlockReply(Option<CourseBlock>),
    /// A newly mined block.
    Announce(CourseBlock),
    /// Asks for the chain's length and top hash.
    Stats,
    /// The number of blocks and the top block's hash, or `None` for an empty chain.
    StatsReply(Option<(u64, Hash)>),
    /// Asks the receiver to run a consensus now.
    Consensus,
    /// A word for the receiver to mine into a block.
    NewWord {
        /// The word, at most 20 characters.
        word: String,
    },
}

impl CourseMessage {
    /// The message's `type` string, as on the wire.
    pub fn type_name(&self) -> &'static str {
        match self {
            CourseMessage::Gossip { .. } => "GOSSIP",
            CourseMessage::GossipReply { .. } => "GOSSIP_REPLY",
            CourseMessage::GetBlock { .. } => "GET_BLOCK",
            CourseMessage::GetBlockReply(_) => "GET_BLOCK_REPLY",
            CourseMessage::Announce(_) => "ANNOUNCE",
            CourseMessage::Stats => "STATS",
            CourseMessage::StatsReply(_) => "STATS_REPLY",
            CourseMessage::Consensus => "CONSENSUS",
            CourseMessage::NewWord { .. } => "NEW_WORD",
        }
    }
}

/// Why a datagram is not a course message. Every variant is a sentence for the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Longer than [`MAX_DATAGRAM`].
    #[error("the datagram has {len} bytes, more than the {MAX_DATAGRAM} of one UDP datagram")]
    TooLarge {
        /// Its length.
        len: usize,
    },
    /// Not JSON (or not UTF-8).
    #[error("the datagram is not JSON: {0}")]
    NotJson(String),
    /// JSON, but not an object.
    #[error("the datagram is JSON but not an object")]
    NotObject,
    /// No `type`, or a `type` that is not a string.
    #[error("the message has no string \"type\"")]
    NoType,
    /// A `type` the course does not define (quoted, truncated to 32 characters).
    #[error("unknown message type {0:?}")]
    UnknownType(String),
    /// A required field is absent or `null`.
    #[error("the message lacks its {0:?} field")]
    MissingField(&'static str),
    /// A field is present but not acceptable.
    #[error("the {field:?} field {why}")]
    BadField {
        /// The field's key.
        field: &'static str,
        /// What is wrong, as the end of a sentence ("is not a string").
        why: String,
    },
}
