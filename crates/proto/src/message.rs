//! Every message of the protocol as a typed value. The JSON form of each is an object whose
//! `"type"` names the message and whose other keys are the struct's fields (PROTOCOL.md has one
//! example per message). Field names follow the two seed protocols where they define one.
//!
//! Each message struct also states its own bounds in [`Bounded::check`]: lengths of strings and
//! lists beyond what the type alone expresses. The codec calls it after parsing, so a decoded
//! message is always within bounds, and before encoding.

use crate::limits::*;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use votechain_chain::{Ballot, Block, Hash, PublicKey, Vote};

/// A field over its bound: the field's name and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundError {
    /// Field path, e.g. `"name"` or `"vote.choice"`.
    pub field: String,
    /// Human-readable description of the bound.
    pub detail: String,
}

/// Bounds a message states beyond its Rust type.
pub trait Bounded {
    /// `Ok` when every field is within its bound.
    fn check(&self) -> Result<(), BoundError> {
        Ok(())
    }
}

fn max_len(field: &str, value: &str, max: usize) -> Result<(), BoundError> {
    if value.len() > max {
        return Err(BoundError {
            field: field.to_owned(),
            detail: format!("{} bytes, at most {max} allowed", value.len()),
        });
    }
    Ok(())
}

fn token_shape(value: &str) -> Result<(), BoundError> {
    if value.len() != TOKEN_HEX_LEN || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(BoundError {
            field: "token".into(),
            detail: format!("must be {TOKEN_HEX_LEN} hex characters"),
        });
    }
    Ok(())
}

fn vote_bounds(field: &str, vote: &Vote) -> Result<(), BoundError> {
    max_len(
        &format!("{field}.choice"),
        &vote.choice,
        votechain_chain::limits::MAX_OPTION_BYTES,
    )
}

/// Peer → tracker: join the election. Answered by CHALLENGE until the sender's address is
/// verified, then by REGISTER_ACK (or REGISTER_REFUSED, when `election` names another election
/// than the tracker's).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RegisterPeer {
    /// Optional display name for the tracker's logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The election the peer already holds (its genesis hash), if any: a tracker serving
    /// another election refuses it instead of listing it to its members.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub election: Option<Hash>,
}
impl Bounded for RegisterPeer {
    fn check(&self) -> Result<(), BoundError> {
        self.name
            .as_deref()
            .map_or(Ok(()), |n| max_len("name", n, MAX_NAME))
    }
}

/// Tracker → peer: registration done; the current members, the new peer included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterAck {
    /// Registered peers as `"ip:port"` (a random sample when the network is large).
    pub peer_list: Vec<SocketAddr>,
    /// The address the tracker saw the registration come from, under which it lists the peer:
    /// a peer bound to an unspecified address (0.0.0.0) learns from it what to tell its peers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<SocketAddr>,
}
impl Bounded for RegisterAck {}

/// Tracker → peer, in answer to a proven REGISTER_PEER whose `election` is not the tracker's:
/// not registered, and why. Advisory: the peer says so and keeps trying, so a refusal can never
/// stop a peer for good.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterRefused {
    /// The election the tracker serves (its genesis hash).
    pub election: Hash,
    /// That election's title.
    pub title: String,
    /// Why, as a sentence for the peer's user.
    pub reason: String,
}
impl Bounded for RegisterRefused {
    fn check(&self) -> Result<(), BoundError> {
        max_len(
            "title",
            &self.title,
            votechain_chain::limits::MAX_TITLE_BYTES,
        )?;
        max_len("reason", &self.reason, MAX_REASON)
    }
}

/// Tracker → every verified peer: membership changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdatePeers {
    /// Registered peers as `"ip:port"` (a random sample when the network is large).
    pub peer_list: Vec<SocketAddr>,
}
impl Bounded for UpdatePeers {}

/// Peer → tracker: send me the ballot.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RequestBallot {}
impl Bounded for RequestBallot {}

/// Tracker → peer: the ballot, enough to rebuild the genesis block and check it against
/// `election`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BallotOptions {
    /// The options, in ballot order (seed A's field).
    pub voting_options: Vec<String>,
    /// The ballot's title.
    pub title: String,
    /// Proof of work per block, in leading zero bits.
    pub difficulty: u32,
    /// The voter roll, when the election has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voters: Option<Vec<PublicKey>>,
    /// Height after which blocks may carry no votes, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closing_height: Option<u64>,
    /// The election id: hash of the genesis block built from this ballot.
    pub election: Hash,
}
impl Bounded for BallotOptions {}

impl BallotOptions {
    /// The message for `ballot`, whose genesis hash is `election`.
    pub fn new(ballot: &Ballot, election: Hash) -> BallotOptions {
        BallotOptions {
            voting_options: ballot.options.clone(),
            title: ballot.title.clone(),
            difficulty: ballot.difficulty,
            voters: ballot.voters.clone(),
            closing_height: ballot.closing_height,
            election,
        }
    }

    /// The ballot the message describes (check it with [`Ballot::check`] and compare its
    /// genesis hash with `election` before trusting it).
    pub fn ballot(&self) -> Ballot {
        Ballot {
            title: self.title.clone(),
            options: self.voting_options.clone(),
            voters: self.voters.clone(),
            difficulty: self.difficulty,
            closing_height: self.closing_height,
        }
    }
}

/// Tracker → peer heartbeat. The nonce must come back in POKE_ACK, so a spoofer that cannot see
/// our datagrams cannot keep a dead peer registered.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Poke {
    /// Fresh random value per heartbeat (absent from seed A's trackers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<u64>,
}
impl Bounded for Poke {}

/// Peer → tracker: alive. Accepted as `POKE_ACK` or seed A's `POKE-ACK`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PokeAck {
    /// The nonce of the POKE being answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<u64>,
}
impl Bounded for PokeAck {}

/// Peer → tracker: leaving now; takes effect only from the registered address.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LeavePeer {}
impl Bounded for LeavePeer {}

/// Any node → an address it has not verified: prove you receive what I send by echoing this
/// token in VERIFY. Small by design, so it may be sent to anyone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Challenge {
    /// 32 hex characters, opaque to the receiver.
    pub token: String,
}
impl Bounded for Challenge {
    fn check(&self) -> Result<(), BoundError> {
        token_shape(&self.token)
    }
}

/// Answer to CHALLENGE, carrying its token back; the sender's address is then verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verify {
    /// The token from the CHALLENGE.
    pub token: String,
}
impl Bounded for Verify {
    fn check(&self) -> Result<(), BoundError> {
        token_shape(&self.token)
    }
}

/// Peer announcement, flooded: forwarded once per `id` to 3 peers (seed B's format).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gossip {
    /// The originator's host (IP address or name).
    pub host: String,
    /// The originator's UDP port.
    pub port: u16,
    /// Unique id of this announcement (seed B uses a UUID).
    pub id: String,
    /// The originator's display name.
    pub name: String,
}
impl Bounded for Gossip {
    fn check(&self) -> Result<(), BoundError> {
        max_len("host", &self.host, MAX_HOST)?;
        max_len("id", &self.id, MAX_GOSSIP_ID)?;
        max_len("name", &self.name, MAX_NAME)
    }
}

/// Answer to GOSSIP, sent to the originator once its address is verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GossipReply {
    /// The replier's host.
    pub host: String,
    /// The replier's UDP port.
    pub port: u16,
    /// The replier's display name.
    pub name: String,
}
impl Bounded for GossipReply {
    fn check(&self) -> Result<(), BoundError> {
        max_len("host", &self.host, MAX_HOST)?;
        max_len("name", &self.name, MAX_NAME)
    }
}

/// A block, relayed once per hash to every neighbour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewBlock {
    /// The block; decoding already checked its hash against its contents.
    pub block: Block,
}
impl Bounded for NewBlock {}

/// Ask a verified peer for `count` blocks of its best chain from height `start`; answered by
/// one CHAIN_BLOCK per block. Seed A's bare `{"type":"REQUEST_CHAIN"}` means start 0 and the
/// server's batch limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestChain {
    /// First height wanted.
    #[serde(default)]
    pub start: u64,
    /// How many blocks, at most [`MAX_CHAIN_BATCH`].
    #[serde(default = "max_chain_batch")]
    pub count: u32,
}
fn max_chain_batch() -> u32 {
    MAX_CHAIN_BATCH
}
impl Bounded for RequestChain {
    fn check(&self) -> Result<(), BoundError> {
        if self.count == 0 || self.count > MAX_CHAIN_BATCH {
            return Err(BoundError {
                field: "count".into(),
                detail: format!("must be 1..={MAX_CHAIN_BATCH}"),
            });
        }
        Ok(())
    }
}

/// One block of the sender's best chain, in answer to REQUEST_CHAIN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainBlock {
    /// The block's height.
    pub index: u64,
    /// Blocks in the sender's best chain (its tip height + 1).
    pub total_blocks: u64,
    /// The block.
    pub block: Block,
}
impl Bounded for ChainBlock {}

/// Ask for the block at `height` of the receiver's best chain, or, when `hash` is given, the
/// block with that hash on any branch it knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetBlock {
    /// Height wanted.
    pub height: u64,
    /// Exact block wanted, when the asker knows its hash (fetching an orphan's parent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<Hash>,
}
impl Bounded for GetBlock {}

/// Answer to GET_BLOCK; `block` is null when the sender has no such block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetBlockReply {
    /// The height asked for.
    pub height: u64,
    /// The block, or null.
    pub block: Option<Block>,
}
impl Bounded for GetBlockReply {}

/// Ask for the sender's best chain summary.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Stats {}
impl Bounded for Stats {}

/// Answer to STATS, exactly as on the course network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsReply {
    /// Number of blocks in the best chain (tip height + 1).
    pub height: u64,
    /// Hash of the tip.
    pub hash: Hash,
}
impl Bounded for StatsReply {}

/// Run a consensus round now (ask peers for STATS, catch up). No reply.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Consensus {}
impl Bounded for Consensus {}

/// Client → peer: accept this vote. Answered by RECEIPT (pending, or rejected with the reason).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitVote {
    /// The signed vote.
    pub vote: Vote,
}
impl Bounded for SubmitVote {
    fn check(&self) -> Result<(), BoundError> {
        vote_bounds("vote", &self.vote)
    }
}

/// Peer → peer: a vote, relayed once per vote id. No reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewVote {
    /// The signed vote.
    pub vote: Vote,
}
impl Bounded for NewVote {
    fn check(&self) -> Result<(), BoundError> {
        vote_bounds("vote", &self.vote)
    }
}

/// Ask where a vote stands. Answered by RECEIPT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetReceipt {
    /// The vote's id.
    pub vote_id: Hash,
}
impl Bounded for GetReceipt {}

/// Where a vote stands on the sender's best chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The vote's id.
    pub vote_id: Hash,
    /// Its status, with the fields that status carries.
    #[serde(flatten)]
    pub status: ReceiptStatus,
}
impl Bounded for Receipt {
    fn check(&self) -> Result<(), BoundError> {
        match &self.status {
            ReceiptStatus::Rejected { reason } => max_len("reason", reason, MAX_REASON),
            ReceiptStatus::Confirmed { proof, .. } if proof.len() > MAX_PROOF => Err(BoundError {
                field: "proof".into(),
                detail: format!("{} hashes, at most {MAX_PROOF} allowed", proof.len()),
            }),
            _ => Ok(()),
        }
    }
}

/// A vote's status; on the wire the `"status"` key names the variant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum ReceiptStatus {
    /// Accepted, waiting in the pending pool.
    Pending,
    /// In the best chain.
    Confirmed {
        /// Height of the block holding it.
        height: u64,
        /// Hash of that block.
        block: Hash,
        /// Blocks on top of it, that block included (1 = in the tip).
        confirmations: u64,
        /// Position of the vote in the block (Merkle leaf index).
        index: u32,
        /// Number of votes in the block (Merkle leaf count).
        vote_count: u32,
        /// Merkle siblings from the leaf up (empty for unverified askers).
        proof: Vec<Hash>,
    },
    /// Never seen, or forgotten.
    Unknown,
    /// Refused; the reason names the broken rule.
    Rejected {
        /// Why.
        reason: String,
    },
}
