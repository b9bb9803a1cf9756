//! Fixed, deterministic values shared by the proto integration tests: one ballot, its genesis
//! block, one voter key, one signed vote and one block at height 1 carrying it. These are the
//! values of PROTOCOL.md's test vector and of the message snapshots, so a change to any of them
//! shows in review as a change to both.

#![allow(dead_code)]

use std::net::SocketAddr;
use votechain_chain::{Ballot, Block, BlockTemplate, Hash, Vote, VoterKey};
use votechain_sansio::TokenMinter;

/// The test vector's election: seed A's candidates, 8 bits of proof of work.
pub fn ballot() -> Ballot {
    Ballot::open("Class president", &["Adam", "Bob", "Catherine"], 8)
}

/// The genesis block of [`ballot`]; its hash is the election id.
pub fn genesis() -> Block {
    // The fixed ballot satisfies every ballot rule.
    Block::genesis(&ballot()).expect("the fixed ballot is valid")
}

/// The voter's 32-byte Ed25519 seed: bytes 0x01 repeated.
pub const VOTER_SEED: [u8; 32] = [1; 32];

/// The test vector's voter.
pub fn voter() -> VoterKey {
    VoterKey::from_seed(VOTER_SEED)
}

/// The voter's vote for "Adam" in the election of [`genesis`].
pub fn vote() -> Vote {
    Vote::sign(voter().signing_key(), genesis().hash(), "Adam")
}

/// 2026-01-01T00:00:00Z in Unix milliseconds.
pub const BLOCK1_TIMESTAMP_MS: u64 = 1_767_225_600_000;
/// The miner name of block 1.
pub const BLOCK1_MINER: &str = "alice";
/// The smallest nonce that gives block 1 at least 8 leading zero bits.
pub const BLOCK1_NONCE: u64 = 133;

/// Block 1: [`vote`] on top of [`genesis`], mined by "alice".
pub fn block1() -> Block {
    let g = genesis();
    // The fixed miner name and one vote are within every body bound.
    BlockTemplate::new(
        g.hash(),
        0,
        ballot().difficulty,
        BLOCK1_TIMESTAMP_MS,
        BLOCK1_MINER,
        vec![vote()],
    )
    .expect("the fixed body is valid")
    .seal(BLOCK1_NONCE)
}

/// A fixed address, the node a challenge is sent to.
pub fn peer_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 6001))
}

/// The token secret of the test vector: bytes 0x2a repeated.
pub const TOKEN_SECRET: [u8; 32] = [0x2a; 32];

/// The token a node keyed with [`TOKEN_SECRET`] sends [`peer_addr`] at [`BLOCK1_TIMESTAMP_MS`].
pub fn token() -> String {
    TokenMinter::new(TOKEN_SECRET).token(&peer_addr(), BLOCK1_TIMESTAMP_MS)
}

/// A hash that is the SHA-256 of `label`, for fields whose value does not matter.
pub fn label_hash(label: &str) -> Hash {
    votechain_chain::sha256(&[label.as_bytes()])
}

/// The GOSSIP of the examples, with seed B's field values.
pub fn gossip() -> votechain_proto::Gossip {
    votechain_proto::Gossip {
        host: "127.0.0.1".into(),
        port: 6001,
        id: "5b29f4c7-40ac-4522-b217-e90e9587c1e5".into(),
        name: "alice".into(),
    }
}
