//! What the W4119 peer reports, as sentences for the console and the log: registration, the
//! ballot, membership, blocks, chain switches and our own votes. Everything a block or a peer
//! supplies is printed with its control characters replaced, so a hostile voter name cannot
//! write escape sequences to the terminal.

use crate::peers::{plural, printable};
use std::fmt;
use std::net::SocketAddr;

/// One thing worth telling the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum W4119Event {
    /// The tracker acknowledged our registration.
    Registered {
        /// Other peers it listed.
        peers: usize,
    },
    /// The tracker's ballot arrived.
    Ballot {
        /// The options.
        options: Vec<String>,
    },
    /// The tracker's peer list changed.
    PeersChanged {
        /// Other peers now listed.
        peers: usize,
    },
    /// The tracker stopped poking us; we register again.
    TrackerSilent {
        /// Seconds since its last datagram.
        silent_s: u64,
    },
    /// A block from the network extended our chain.
    BlockAdded {
        /// Its index.
        index: u64,
        /// Who sent it.
        from: SocketAddr,
        /// Transactions in it.
        votes: usize,
    },
    /// A longer chain from a peer replaced ours.
    ChainSwitched {
        /// Our length before.
        old_len: u64,
        /// Our length now.
        new_len: u64,
        /// Who served it.
        from: SocketAddr,
        /// Our own votes dropped with the old branch, queued to be mined again.
        requeued: usize,
    },
    /// A vote of ours waits to be mined.
    VoteQueued {
        /// The voter.
        voter: String,
        /// The choice.
        choice: String,
    },
    /// A vote of ours is in a block of our chain, sent to every peer.
    VoteMined {
        /// The voter.
        voter: String,
        /// The choice.
        choice: String,
        /// The block's index.
        index: u64,
    },
}

impl fmt::Display for W4119Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            W4119Event::Registered { peers } => {
                write!(
                    f,
                    "registered with the tracker; it lists {}",
                    plural(*peers, "other peer")
                )
            }
            W4119Event::Ballot { options } => {
                let shown: Vec<String> = options.iter().map(|o| printable(o)).collect();
                write!(f, "ballot: {}", shown.join(", "))
            }
            W4119Event::PeersChanged { peers } => {
                write!(f, "the tracker lists {}", plural(*peers, "other peer"))
            }
            W4119Event::TrackerSilent { silent_s } => write!(
                f,
                "no word from the tracker for {silent_s} s; registering again"
            ),
            W4119Event::BlockAdded { index, from, votes } => {
                write!(
                    f,
                    "block {index} from {from} added ({})",
                    plural(*votes, "vote")
                )
            }
            W4119Event::ChainSwitched {
                old_len,
                new_len,
                from,
                requeued,
            } => {
                write!(
                    f,
                    "switched to the longer chain of {from}: {old_len} → {new_len} blocks"
                )?;
                if *requeued > 0 {
                    write!(
                        f,
                        "; {} of ours will be mined again",
                        plural(*requeued, "vote")
                    )?;
                }
                Ok(())
            }
            W4119Event::VoteQueued { voter, choice } => write!(
                f,
                "vote of {} for {} accepted; mining it",
                printable(voter),
                printable(choice)
            ),
            W4119Event::VoteMined {
                voter,
                choice,
                index,
            } => write!(
                f,
                "vote of {} for {} is in block {index}, sent to every peer",
                printable(voter),
                printable(choice)
            ),
        }
    }
}
