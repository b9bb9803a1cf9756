//! Shared helpers of the `state_*` and `validate_*` tests: a low-difficulty ballot, deterministic
//! voter keys, and a nonce loop that mines (or deliberately fails to mine) a block in a few tries.

#![allow(dead_code)]

use votechain_chain::{
    Ballot, Block, BlockTemplate, ChainConfig, ChainState, Hash, Vote, VoterKey,
};

/// The tests' clock: every block timestamp is at or after this.
pub const NOW: u64 = 1_700_000_000_000;
/// Two bits: a block takes four hashes on average, and a failing nonce is easy to find too.
pub const DIFFICULTY: u32 = 2;
/// The test ballot's options.
pub const OPTIONS: [&str; 3] = ["Alice", "Bob", "Carol"];

pub fn ballot() -> Ballot {
    Ballot::open("Test election", &OPTIONS, DIFFICULTY)
}

pub fn state() -> ChainState {
    ChainState::new(&ballot(), ChainConfig::default()).unwrap()
}

pub fn key(i: u32) -> VoterKey {
    let mut seed = [0u8; 32];
    seed[..4].copy_from_slice(&i.to_be_bytes());
    VoterKey::from_seed(seed)
}

/// Voter `i`'s vote for `choice` in `election`.
pub fn vote(election: Hash, i: u32, choice: &str) -> Vote {
    Vote::sign(key(i).signing_key(), election, choice)
}

/// A template on `parent` one millisecond after it (never before `NOW`).
pub fn template(parent: &Block, difficulty: u32, votes: Vec<Vote>) -> BlockTemplate {
    let ts = (parent.header().timestamp_ms + 1).max(NOW);
    BlockTemplate::new(
        parent.hash(),
        parent.height(),
        difficulty,
        ts,
        "test",
        votes,
    )
    .unwrap()
}

/// Seals `t` with the first nonce meeting its difficulty.
pub fn seal(t: &BlockTemplate) -> Block {
    let difficulty = t.header().difficulty;
    (0u64..)
        .map(|n| t.seal(n))
        .find(|b| b.hash().leading_zero_bits() >= difficulty)
        .unwrap()
}

/// Seals `t` with the first nonce that does NOT meet its difficulty.
pub fn seal_weak(t: &BlockTemplate) -> Block {
    let difficulty = t.header().difficulty;
    (0u64..)
        .map(|n| t.seal(n))
        .find(|b| b.hash().leading_zero_bits() < difficulty)
        .unwrap()
}

/// A valid child of `parent` carrying `votes`.
pub fn mine(parent: &Block, votes: Vec<Vote>) -> Block {
    seal(&template(parent, DIFFICULTY, votes))
}

/// `n` empty blocks on `parent`, lowest first; `salt` makes branches from the same parent differ.
pub fn mine_chain(parent: &Block, n: usize, salt: &str) -> Vec<Block> {
    let mut out: Vec<Block> = Vec::new();
    for _ in 0..n {
        let p = out.last().unwrap_or(parent);
        let ts = (p.header().timestamp_ms + 1).max(NOW);
        let t = BlockTemplate::new(p.hash(), p.height(), DIFFICULTY, ts, salt, vec![]).unwrap();
        out.push(seal(&t));
    }
    out
}
