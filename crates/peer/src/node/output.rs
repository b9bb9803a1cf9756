//! What the node hands its shell: [`Output`]s in order (the convention of
//! [`votechain_sansio::output`]), the store [`Record`]s, the [`Event`]s worth telling someone,
//! and the counters behind `stats`.

use crate::peers::plural;
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
        /// The ballot's title.
        title: String,
        /// Who may vote, in a sentence (`Ballot::roll_summary`).
        roll: String,
    },
    /// The tracker told us the address it sees us at, and we advertise it to peers from now on
    /// (bound to an unspecified address without `--advertise`).
    AddressLearned {
        /// The address peers are told now.
        address: SocketAddr,
    },
    /// The tracker acknowledged our registration (after none, or after it had gone quiet).
    Registered {
        /// The tracker.
        tracker: SocketAddr,
    },
    /// The tracker's ballot does not match the chain we hold.
    ElectionMismatch {
        /// The election of our stored chain: its id and title.
        ours: (Hash, String),
        /// The election the tracker serves: its id and title.
        tracker: (Hash, String),
        /// The tracker's own words, when it refused to register us (REGISTER_REFUSED).
        reason: Option<String>,
    },
    /// The best tip changed.
    TipChanged {
        /// New height.
        height: u64,
        /// New tip hash.
        hash: Hash,
        /// Blocks that left the best chain (0 for a plain extension).
        reorg_depth: usize,
        /// Votes of those blocks that went back to the pending pool.
        returned_votes: usize,
        /// The new tip's miner, as it named itself.
        miner: String,
        /// Votes in the new tip.
        votes: usize,
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
    /// A consensus round someone asked for (the console's `consensus`) ended.
    ConsensusDone {
        /// Peers asked for their chain.
        asked: usize,
        /// Peers that answered in time.
        replied: usize,
        /// The chain being fetched as a result, as (blocks, tip, peers that have it); `None`
        /// when ours is at least as good as every chain reported.
        fetching: Option<(u64, Hash, usize)>,
        /// Our chain's length in blocks.
        ours: u64,
    },
    /// A peer proved it holds another election: set aside (not synced from, not relayed to),
    /// without blame.
    OtherElection {
        /// Who.
        peer: SocketAddr,
        /// Its election (the genesis hash its blocks lead to).
        election: Hash,
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
    /// Bytes of every datagram received, dropped ones included.
    pub bytes_in: u64,
    /// Bytes of every datagram sent, envelopes included.
    pub bytes_out: u64,
    /// Decoded datagrams received, by wire type (a key per type ever seen: a few dozen).
    pub messages_in: BTreeMap<&'static str, u64>,
    /// Datagrams sent, by wire type; requests resent after a CHALLENGE count under
    /// [`RESENT`].
    pub messages_out: BTreeMap<&'static str, u64>,
    /// Blocks from the network (news or sync) that joined the block tree.
    pub blocks_accepted: u64,
    /// Blocks from the network held as orphans until their parent arrives.
    pub blocks_orphaned: u64,
    /// Blocks from the network the tree already held.
    pub blocks_duplicate: u64,
    /// Blocks validated, mined ones included: what the shell times for the validation
    /// histogram.
    pub blocks_validated: u64,
    /// Tip changes that took blocks off the best chain.
    pub reorgs: u64,
    /// Votes accepted into the pending pool (from the console or the network).
    pub votes_accepted: u64,
    /// Votes already held when they arrived.
    pub votes_duplicate: u64,
    /// Votes refused by validation (bad signature, not on the roll, a full pool…).
    pub votes_rejected: u64,
}

/// The `messages_out` key of requests resent after their receiver's CHALLENGE, whose type the
/// node no longer decodes.
pub const RESENT: &str = "RESENT";

/// Events as sentences, for the log and the console (never Debug output).
impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Event::ElectionKnown {
                election,
                title,
                roll,
            } => write!(
                f,
                "election \"{title}\" ({}) known. {roll}",
                election.short()
            ),
            Event::Registered { tracker } => write!(f, "registered with the tracker at {tracker}"),
            Event::AddressLearned { address } => write!(
                f,
                "the tracker sees this peer at {address}: advertising that address to peers"
            ),
            Event::OtherElection { peer, election } => write!(
                f,
                "peer {peer} holds another election ({}): set aside, neither synced from nor \
                 relayed to",
                election.short()
            ),
            Event::ElectionMismatch {
                ours,
                tracker,
                reason,
            } => {
                write!(
                    f,
                    "the tracker runs election \"{}\" ({}), but this data directory holds \
                     election \"{}\" ({}): start with another --data-dir (or move this one away) \
                     to join the tracker's",
                    tracker.1,
                    tracker.0.short(),
                    ours.1,
                    ours.0.short()
                )?;
                match reason {
                    Some(reason) => write!(f, "; the tracker refused us, saying: {reason}"),
                    None => Ok(()),
                }
            }
            Event::TipChanged {
                height,
                hash,
                reorg_depth,
                returned_votes,
                miner,
                votes,
            } => {
                if *reorg_depth > 0 {
                    let blocks = plural(*reorg_depth, "block");
                    let back = plural(*returned_votes, "vote");
                    write!(
                        f,
                        "reorganisation: {blocks} replaced, {back} back in the pool; "
                    )?;
                }
                let votes = plural(*votes, "vote");
                write!(
                    f,
                    "block {height} by {miner} · {votes} · tip {}",
                    hash.short()
                )
            }
            Event::Mined { height, hash } => write!(f, "mined block {height} ({})", hash.short()),
            Event::Synced { height } => write!(f, "caught up: tip at block {height}"),
            Event::ConsensusDone { asked: 0, ours, .. } => {
                write!(f, "consensus: no peers to ask; our chain has {ours} blocks")
            }
            Event::ConsensusDone {
                asked,
                replied,
                fetching,
                ours,
            } => {
                write!(f, "consensus: {replied} of {}", plural(*asked, "peer"))?;
                write!(f, " answered; ")?;
                match fetching {
                    Some((blocks, tip, from)) => write!(
                        f,
                        "fetching a chain of {blocks} blocks (tip {}) from {}",
                        tip.short(),
                        plural(*from, "peer")
                    ),
                    None => write!(f, "our chain of {ours} blocks is as good as any reported"),
                }
            }
            Event::PeerBanned { peer, reason } => {
                write!(f, "ignoring peer {peer} for a while: it {reason}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(event: Event, expect: &str) {
        assert_eq!(event.to_string(), expect);
    }

    #[test]
    fn events_read_as_sentences() {
        let (a, b) = (Hash([0xab; 32]), Hash([0x01; 32]));
        check(
            Event::TipChanged {
                height: 12,
                hash: a,
                reorg_depth: 0,
                returned_votes: 0,
                miner: "peer-6002".into(),
                votes: 1,
            },
            "block 12 by peer-6002 · 1 vote · tip abababababab…",
        );
        check(
            Event::TipChanged {
                height: 12,
                hash: a,
                reorg_depth: 1,
                returned_votes: 1,
                miner: "m".into(),
                votes: 0,
            },
            "reorganisation: 1 block replaced, 1 vote back in the pool; block 12 by m · 0 votes \
             · tip abababababab…",
        );
        check(
            Event::TipChanged {
                height: 12,
                hash: a,
                reorg_depth: 2,
                returned_votes: 0,
                miner: "m".into(),
                votes: 2,
            },
            "reorganisation: 2 blocks replaced, 0 votes back in the pool; block 12 by m · 2 \
             votes · tip abababababab…",
        );
        check(
            Event::Mined { height: 3, hash: b },
            "mined block 3 (010101010101…)",
        );
        check(Event::Synced { height: 9 }, "caught up: tip at block 9");
        let done = |asked, replied, fetching| Event::ConsensusDone {
            asked,
            replied,
            fetching,
            ours: 7,
        };
        check(
            done(0, 0, None),
            "consensus: no peers to ask; our chain has 7 blocks",
        );
        check(
            done(3, 2, None),
            "consensus: 2 of 3 peers answered; our chain of 7 blocks is as good as any reported",
        );
        check(
            done(1, 1, Some((9, a, 1))),
            "consensus: 1 of 1 peer answered; fetching a chain of 9 blocks (tip abababababab…) \
             from 1 peer",
        );
        check(
            Event::ElectionKnown {
                election: a,
                title: "Lunch".into(),
                roll: "This election is open.".into(),
            },
            "election \"Lunch\" (abababababab…) known. This election is open.",
        );
        check(
            Event::Registered {
                tracker: "127.0.0.1:5000".parse().unwrap(),
            },
            "registered with the tracker at 127.0.0.1:5000",
        );
        check(
            Event::ElectionMismatch {
                ours: (a, "Lunch".into()),
                tracker: (b, "Dinner".into()),
                reason: None,
            },
            "the tracker runs election \"Dinner\" (010101010101…), but this data directory \
             holds election \"Lunch\" (abababababab…): start with another --data-dir (or move \
             this one away) to join the tracker's",
        );
        check(
            Event::ElectionMismatch {
                ours: (a, "Lunch".into()),
                tracker: (b, "Dinner".into()),
                reason: Some("not yours".into()),
            },
            "the tracker runs election \"Dinner\" (010101010101…), but this data directory \
             holds election \"Lunch\" (abababababab…): start with another --data-dir (or move \
             this one away) to join the tracker's; the tracker refused us, saying: not yours",
        );
        check(
            Event::PeerBanned {
                peer: SocketAddr::from(([127, 0, 0, 1], 6002)),
                reason: "sent an invalid block".into(),
            },
            "ignoring peer 127.0.0.1:6002 for a while: it sent an invalid block",
        );
    }
}
