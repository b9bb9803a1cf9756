//! The election every simulation runs: a three-option ballot at a tiny difficulty (so a
//! simulated miner's real nonce search is instant), and voters whose keys derive from their
//! number, so a seed fixes every signature.

use votechain_chain::{Ballot, Hash, Vote, VoterKey};

/// The ballot of simulations, `difficulty` leading zero bits (keep it at 0–6).
pub fn sim_ballot(difficulty: u32) -> Ballot {
    Ballot::open("Simulated election", &["Ada", "Brian", "Cleo"], difficulty)
}

/// Voter number `i`'s key.
pub fn voter_key(i: u64) -> VoterKey {
    let mut seed = [0x5a; 32];
    seed[..8].copy_from_slice(&i.to_be_bytes());
    VoterKey::from_seed(seed)
}

/// Voter `i`'s vote in `election`, for option `i mod 3` of `ballot`.
pub fn vote_of(ballot: &Ballot, election: Hash, i: u64) -> Vote {
    let choice = &ballot.options[(i % ballot.options.len() as u64) as usize];
    Vote::sign(voter_key(i).signing_key(), election, choice)
}
