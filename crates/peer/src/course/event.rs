//! What a course peer tells its user, the logs and the tests: events as sentences.

use crate::peers::printable;
use std::fmt;
use std::net::SocketAddr;
use votechain_course::Hash;

/// Something that happened in a course peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CourseEvent {
    /// A new top block: `height` is its index, `blocks` the chain length.
    TipChanged {
        /// Index of the new top block.
        height: u64,
        /// Its hash.
        hash: Hash,
        /// Who mined it.
        mined_by: String,
        /// Its messages (words).
        messages: Vec<String>,
        /// True when this peer mined it.
        ours: bool,
    },
    /// The chain switched to another branch.
    Reorganised {
        /// Blocks before.
        from_blocks: u64,
        /// Blocks after.
        to_blocks: u64,
        /// Lowest height that changed.
        fork_height: u64,
    },
    /// A consensus round chose a chain to fetch.
    ConsensusChose {
        /// Its length in blocks.
        blocks: u64,
        /// Its top hash.
        hash: Hash,
        /// Peers that reported it.
        agreeing: usize,
        /// Peers that answered.
        answered: usize,
    },
    /// A consensus round found nothing better than our chain.
    ConsensusKept {
        /// Our length in blocks.
        blocks: u64,
        /// Peers that answered.
        answered: usize,
    },
    /// A chosen chain could not be fetched or did not validate: the next candidate is tried.
    CandidateFailed {
        /// Its claimed length.
        blocks: u64,
        /// Why.
        reason: String,
    },
    /// Sync progress.
    Syncing {
        /// Blocks we hold.
        have: u64,
        /// Blocks wanted.
        want: u64,
    },
    /// Sync reached the chosen chain.
    Synced {
        /// Blocks we hold.
        blocks: u64,
    },
    /// A new peer entered the table.
    PeerJoined {
        /// Its address.
        addr: SocketAddr,
        /// Its name.
        name: String,
    },
    /// A peer was forgotten after its silence.
    PeerDropped {
        /// Its address.
        addr: SocketAddr,
    },
    /// A word is waiting to be mined.
    WordQueued {
        /// The word.
        word: String,
    },
}

impl fmt::Display for CourseEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CourseEvent::TipChanged {
                height,
                hash,
                mined_by,
                messages,
                ours,
            } => {
                // Blocks come from anyone: control characters must not reach a terminal.
                let who = if *ours {
                    "we mined".to_owned()
                } else {
                    format!("mined by \"{}\"", printable(mined_by))
                };
                write!(
                    f,
                    "block {height} ({}…) {who}: {}",
                    &hash.to_hex()[..12],
                    printable(&messages.join(" | "))
                )
            }
            CourseEvent::Reorganised {
                from_blocks,
                to_blocks,
                fork_height,
            } => write!(
                f,
                "switched to a longer branch from height {fork_height}: {from_blocks} → {to_blocks} blocks"
            ),
            CourseEvent::ConsensusChose {
                blocks,
                hash,
                agreeing,
                answered,
            } => write!(
                f,
                "consensus: {agreeing} of {} agree on a chain of {} ({}…); fetching it",
                count(*answered as u64, "peer"),
                count(*blocks, "block"),
                &hash.to_hex()[..12]
            ),
            CourseEvent::ConsensusKept { blocks, answered } => write!(
                f,
                "consensus: {} answered; our chain of {} stays",
                count(*answered as u64, "peer"),
                count(*blocks, "block")
            ),
            CourseEvent::CandidateFailed { blocks, reason } => write!(
                f,
                "the chain of {} could not be fetched ({reason}); trying the next one",
                count(*blocks, "block")
            ),
            CourseEvent::Syncing { have, want } => {
                write!(f, "syncing: {have} of {want} blocks")
            }
            CourseEvent::Synced { blocks } => write!(f, "in sync: {}", count(*blocks, "block")),
            CourseEvent::PeerJoined { addr, name } if name.is_empty() => {
                write!(f, "new peer {addr}")
            }
            CourseEvent::PeerJoined { addr, name } => {
                write!(f, "new peer {addr} (\"{}\")", printable(name))
            }
            CourseEvent::PeerDropped { addr } => {
                write!(f, "peer {addr} went silent and was dropped")
            }
            CourseEvent::WordQueued { word } => {
                write!(f, "word \"{}\" waits to be mined", printable(word))
            }
        }
    }
}

/// `1 block`, `2 blocks`.
fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}
