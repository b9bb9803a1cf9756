//! Blocks: a header plus the body it commits to (miner name, votes, or the ballot in genesis).
//! A [`Block`] value always has a header that matches its body and a cached hash that matches its
//! header: it is built only by [`Block::genesis`], [`BlockTemplate::seal`] or decoding, and
//! decoding recomputes everything and rejects a claimed hash that differs. Validation against the
//! chain (proof of work, links, votes) is [`crate::validate`]'s job.
//!
//! A [`Block`]'s JSON is the wire format (PROTOCOL.md, "Block JSON": inside NEW_BLOCK,
//! CHAIN_BLOCK and GET_BLOCK_REPLY) and the disk format (the payload of a [`crate::store`] block
//! record), so changing it is a protocol change (see the crate docs). The header fields it leaves
//! out are derived, and the [header](crate::header) layout is fixed apart from serde: it is hashed.

use crate::ballot::{Ballot, BallotError};
use crate::hash::{sha256, Hash};
use crate::header::{BlockHeader, Midstate, HEADER_VERSION};
use crate::limits::{is_printable, MAX_MINER_NAME_BYTES, MAX_VOTES_PER_BLOCK};
use crate::merkle;
use crate::vote::Vote;
use serde::{Deserialize, Serialize};

/// A block with its header, body and hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "BlockWire", into = "BlockWire")]
pub struct Block {
    header: BlockHeader,
    miner: String,
    votes: Vec<Vote>,
    ballot: Option<Ballot>,
    hash: Hash,
}

/// Why bytes that claim to be a block are not a well-formed one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockFormatError {
    /// A header version this implementation does not know.
    #[error("unknown block version {0}")]
    Version(u32),
    /// More votes than a block may carry.
    #[error("{0} votes exceed the limit of {MAX_VOTES_PER_BLOCK}")]
    TooManyVotes(usize),
    /// Miner name too long or with control characters.
    #[error("miner name must be at most {MAX_MINER_NAME_BYTES} printable bytes")]
    MinerName,
    /// A ballot outside genesis, or genesis without one.
    #[error("the ballot belongs in the genesis block (height 0) and only there")]
    BallotPlacement,
    /// The genesis ballot breaks a ballot rule.
    #[error("genesis ballot: {0}")]
    Ballot(#[from] BallotError),
    /// A genesis block that is not the canonical one for its ballot.
    #[error("genesis block is not the canonical genesis of its ballot")]
    GenesisMismatch,
    /// The parent's height is `u64::MAX`, so no child height exists.
    #[error("no block can follow height {0}")]
    HeightOverflow(u64),
    /// The hash the sender claims is not the hash of the contents.
    #[error("claimed hash {claimed} does not match the contents' hash {actual}")]
    HashMismatch {
        /// What the block said.
        claimed: Hash,
        /// What the contents hash to.
        actual: Hash,
    },
}

impl Block {
    /// The genesis block of `ballot`: height 0, timestamp 0, zero parent, empty miner name,
    /// nonce 0, payload root the ballot hash. Its hash is the election id. It needs no proof of
    /// work: every peer derives it from the ballot.
    pub fn genesis(ballot: &Ballot) -> Result<Block, BallotError> {
        ballot.check()?;
        let header = BlockHeader {
            version: HEADER_VERSION,
            difficulty: ballot.difficulty,
            vote_count: 0,
            height: 0,
            timestamp_ms: 0,
            prev: Hash::ZERO,
            payload_root: ballot.hash(),
            miner_hash: sha256(&[b""]),
            nonce: 0,
        };
        Ok(Block {
            hash: header.hash(),
            header,
            miner: String::new(),
            votes: Vec::new(),
            ballot: Some(ballot.clone()),
        })
    }

    /// The header.
    pub fn header(&self) -> &BlockHeader {
        &self.header
    }
    /// The block hash (cached).
    pub fn hash(&self) -> Hash {
        self.hash
    }
    /// Height in the chain.
    pub fn height(&self) -> u64 {
        self.header.height
    }
    /// The parent's hash.
    pub fn prev(&self) -> Hash {
        self.header.prev
    }
    /// Who mined it.
    pub fn miner(&self) -> &str {
        &self.miner
    }
    /// The votes, in block order.
    pub fn votes(&self) -> &[Vote] {
        &self.votes
    }
    /// The ballot, present exactly in genesis.
    pub fn ballot(&self) -> Option<&Ballot> {
        self.ballot.as_ref()
    }
    /// Vote ids in block order (the Merkle leaves).
    pub fn vote_ids(&self) -> Vec<Hash> {
        self.votes.iter().map(Vote::id).collect()
    }
}

/// A block under construction: everything but the nonce. The miner searches nonces on its
/// [`Midstate`] and seals the winner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockTemplate {
    header: BlockHeader,
    miner: String,
    votes: Vec<Vote>,
}

impl BlockTemplate {
    /// A template extending `parent` (hash and height) with `votes`, stamped `timestamp_ms`.
    /// Fails with [`BlockFormatError::HeightOverflow`] for a parent at `u64::MAX`, a height only
    /// a remote can claim.
    pub fn new(
        parent_hash: Hash,
        parent_height: u64,
        difficulty: u32,
        timestamp_ms: u64,
        miner: &str,
        votes: Vec<Vote>,
    ) -> Result<BlockTemplate, BlockFormatError> {
        check_body(miner, &votes)?;
        let height = parent_height
            .checked_add(1)
            .ok_or(BlockFormatError::HeightOverflow(parent_height))?;
        let ids: Vec<Hash> = votes.iter().map(Vote::id).collect();
        let header = BlockHeader {
            version: HEADER_VERSION,
            difficulty,
            // check_body capped the votes at MAX_VOTES_PER_BLOCK, far below u32::MAX.
            vote_count: votes.len() as u32,
            height,
            timestamp_ms,
            prev: parent_hash,
            payload_root: merkle::root(&ids),
            miner_hash: sha256(&[miner.as_bytes()]),
            nonce: 0,
        };
        Ok(BlockTemplate {
            header,
            miner: miner.to_owned(),
            votes,
        })
    }

    /// The header with nonce 0.
    pub fn header(&self) -> &BlockHeader {
        &self.header
    }

    /// The SHA-256 state after the nonce-independent part of the header.
    pub fn midstate(&self) -> Midstate {
        self.header.midstate()
    }

    /// The votes the template carries.
    pub fn votes(&self) -> &[Vote] {
        &self.votes
    }

    /// The finished block with `nonce`. It may or may not meet the difficulty.
    pub fn seal(&self, nonce: u64) -> Block {
        let header = BlockHeader {
            nonce,
            ..self.header
        };
        Block {
            hash: header.hash(),
            header,
            miner: self.miner.clone(),
            votes: self.votes.clone(),
            ballot: None,
        }
    }
}

fn check_body(miner: &str, votes: &[Vote]) -> Result<(), BlockFormatError> {
    if votes.len() > MAX_VOTES_PER_BLOCK {
        return Err(BlockFormatError::TooManyVotes(votes.len()));
    }
    if miner.len() > MAX_MINER_NAME_BYTES || !is_printable(miner) {
        return Err(BlockFormatError::MinerName);
    }
    Ok(())
}

/// The JSON form of a block (PROTOCOL.md, "Block"). Derived header fields (payload root, miner
/// commitment, vote count) are not sent; the receiver recomputes them and checks `hash`.
#[derive(Serialize, Deserialize)]
struct BlockWire {
    version: u32,
    height: u64,
    prev: Hash,
    timestamp: u64,
    difficulty: u32,
    nonce: u64,
    miner: String,
    votes: Vec<Vote>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ballot: Option<Ballot>,
    hash: Hash,
}

impl From<Block> for BlockWire {
    fn from(b: Block) -> BlockWire {
        BlockWire {
            version: b.header.version,
            height: b.header.height,
            prev: b.header.prev,
            timestamp: b.header.timestamp_ms,
            difficulty: b.header.difficulty,
            nonce: b.header.nonce,
            miner: b.miner,
            votes: b.votes,
            ballot: b.ballot,
            hash: b.hash,
        }
    }
}

impl TryFrom<BlockWire> for Block {
    type Error = BlockFormatError;

    fn try_from(w: BlockWire) -> Result<Block, BlockFormatError> {
        if w.version != HEADER_VERSION {
            return Err(BlockFormatError::Version(w.version));
        }
        let block = match (w.height, w.ballot) {
            (0, Some(ballot)) => {
                let genesis = Block::genesis(&ballot)?;
                let claimed = (w.prev, w.timestamp, w.difficulty, w.nonce, w.miner.as_str());
                if claimed != (Hash::ZERO, 0, ballot.difficulty, 0, "") || !w.votes.is_empty() {
                    return Err(BlockFormatError::GenesisMismatch);
                }
                genesis
            }
            (0, None) | (1.., Some(_)) => return Err(BlockFormatError::BallotPlacement),
            (height, None) => BlockTemplate::new(
                w.prev,
                height - 1,
                w.difficulty,
                w.timestamp,
                &w.miner,
                w.votes,
            )?
            .seal(w.nonce),
        };
        if block.hash != w.hash {
            return Err(BlockFormatError::HashMismatch {
                claimed: w.hash,
                actual: block.hash,
            });
        }
        Ok(block)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::VoterKey;
    use crate::limits::*;

    fn ballot() -> Ballot {
        Ballot::open("Lunch", &["Pizza", "Soup"], 4)
    }

    fn child(votes: Vec<Vote>) -> Block {
        let g = Block::genesis(&ballot()).unwrap();
        BlockTemplate::new(g.hash(), 0, 4, 1_700_000_000_000, "alice", votes)
            .unwrap()
            .seal(42)
    }

    #[test]
    fn json_round_trip_preserves_block_and_hash() {
        let g = Block::genesis(&ballot()).unwrap();
        let vote = Vote::sign(
            VoterKey::from_seed([1; 32]).signing_key(),
            g.hash(),
            "Pizza",
        );
        for b in [g.clone(), child(vec![vote])] {
            let json = serde_json::to_string(&b).unwrap();
            let back: Block = serde_json::from_str(&json).unwrap();
            assert_eq!(back, b);
            assert_eq!(back.hash(), back.header().hash());
        }
    }

    #[test]
    fn tampered_contents_are_rejected() {
        let b = child(vec![]);
        let mut v = serde_json::to_value(&b).unwrap();
        v["miner"] = "mallory".into();
        let err = serde_json::from_value::<Block>(v).unwrap_err().to_string();
        assert!(err.contains("does not match"), "{err}");

        let mut v = serde_json::to_value(&b).unwrap();
        v["ballot"] = serde_json::to_value(ballot()).unwrap();
        assert!(serde_json::from_value::<Block>(v).is_err());

        let mut v = serde_json::to_value(Block::genesis(&ballot()).unwrap()).unwrap();
        v["timestamp"] = 5.into();
        let err = serde_json::from_value::<Block>(v).unwrap_err().to_string();
        assert!(err.contains("canonical genesis"), "{err}");
    }

    #[test]
    fn body_limits_are_enforced() {
        let g = Block::genesis(&ballot()).unwrap();
        let long = "x".repeat(MAX_MINER_NAME_BYTES + 1);
        assert_eq!(
            BlockTemplate::new(g.hash(), 0, 4, 0, &long, vec![]).unwrap_err(),
            BlockFormatError::MinerName
        );
        let vote = Vote::sign(
            VoterKey::from_seed([1; 32]).signing_key(),
            g.hash(),
            "Pizza",
        );
        let votes = vec![vote; MAX_VOTES_PER_BLOCK + 1];
        assert_eq!(
            BlockTemplate::new(g.hash(), 0, 4, 0, "m", votes).unwrap_err(),
            BlockFormatError::TooManyVotes(MAX_VOTES_PER_BLOCK + 1)
        );
    }

    /// Room left in a datagram for the message envelope around the largest block.
    const ENVELOPE: usize = 512;

    #[test]
    fn largest_blocks_fit_one_datagram() {
        let quote_option = |i: usize| format!("{i:02}{}", "\"".repeat(MAX_OPTION_BYTES - 2));
        let ballot = Ballot {
            title: "\\".repeat(MAX_TITLE_BYTES),
            options: (0..MAX_OPTIONS).map(quote_option).collect(),
            voters: Some(
                (0..MAX_VOTERS as u16)
                    .map(|i| {
                        let mut seed = [0u8; 32];
                        seed[..2].copy_from_slice(&i.to_be_bytes());
                        VoterKey::from_seed(seed).public()
                    })
                    .collect(),
            ),
            difficulty: MAX_DIFFICULTY,
            closing_height: Some(u64::MAX),
        };
        let g = Block::genesis(&ballot).unwrap();
        let g_len = serde_json::to_vec(&g).unwrap().len();
        assert!(g_len + ENVELOPE <= 65_507, "genesis JSON is {g_len} bytes");

        let choice = quote_option(0);
        let votes: Vec<Vote> = (0..MAX_VOTES_PER_BLOCK)
            .map(|i| {
                Vote::sign(
                    VoterKey::from_seed([i as u8; 32]).signing_key(),
                    g.hash(),
                    &choice,
                )
            })
            .collect();
        let miner = "\"".repeat(MAX_MINER_NAME_BYTES);
        let b = BlockTemplate::new(g.hash(), u64::MAX - 1, 64, u64::MAX, &miner, votes)
            .unwrap()
            .seal(u64::MAX);
        let b_len = serde_json::to_vec(&b).unwrap().len();
        assert!(b_len + ENVELOPE <= 65_507, "block JSON is {b_len} bytes");
    }
}
