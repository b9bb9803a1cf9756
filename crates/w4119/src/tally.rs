//! The honest tally: what the W4119 seed never did. It counts a vote only for an option on the
//! ballot and only a voter's first counted vote in chain order, and lists every transaction it
//! did not count with the reason, so that a reader can see the chain's whole contents.
//!
//! A vote that was not counted (off the ballot, or malformed) does not use up the voter's vote:
//! their first *countable* vote counts. A console should refuse a second vote before it is mined
//! ([`Tally::voted`]); this tally is the rule for what other peers put in the chain anyway.

use crate::block::W4119Block;
use std::collections::HashMap;
use std::fmt;

/// The count of a chain's votes over a ballot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    /// Each ballot option with its count, in ballot order (a repeated option appears once).
    counts: Vec<(String, u64)>,
    /// Every transaction not counted, in chain order.
    uncounted: Vec<Uncounted>,
    /// Each voter whose vote counted: the block it is in and the choice.
    voted: HashMap<String, (u64, String)>,
}

/// A transaction the tally did not count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uncounted {
    /// Index of the block that holds it.
    pub index: u64,
    /// Its `voter_id`, when that is a string.
    pub voter: Option<String>,
    /// Its `candidate_id`, when that is a string.
    pub choice: Option<String>,
    /// Why it was not counted.
    pub reason: UncountedReason,
}

/// Why a transaction was not counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UncountedReason {
    /// The transaction has no `voter_id`, or it is not a string.
    NoVoter,
    /// The transaction has no `candidate_id`, or it is not a string.
    NoChoice,
    /// The choice is not one of the ballot's options.
    NotOnBallot,
    /// The voter's vote was already counted.
    SecondVote {
        /// Index of the block holding the vote that counted.
        counted_at: u64,
    },
}

impl fmt::Display for UncountedReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UncountedReason::NoVoter => f.write_str("the transaction has no voter_id string"),
            UncountedReason::NoChoice => f.write_str("the transaction has no candidate_id string"),
            UncountedReason::NotOnBallot => f.write_str("the choice is not on the ballot"),
            UncountedReason::SecondVote { counted_at } => write!(
                f,
                "the voter already voted, and their vote in block {counted_at} is the one counted"
            ),
        }
    }
}

impl fmt::Display for Uncounted {
    /// One sentence, strings quoted with `{:?}` so no control character reaches a terminal.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a transaction in block {}", self.index)?;
        if let Some(voter) = &self.voter {
            write!(f, " by {voter:?}")?;
        }
        if let Some(choice) = &self.choice {
            write!(f, " for {choice:?}")?;
        }
        write!(f, " is not counted: {}", self.reason)
    }
}

impl Tally {
    /// Counts the votes in `blocks` (a chain, in order) over `ballot_options`.
    pub fn of(blocks: &[W4119Block], ballot_options: &[String]) -> Tally {
        let mut counts: Vec<(String, u64)> = Vec::with_capacity(ballot_options.len());
        for option in ballot_options {
            if !counts.iter().any(|(o, _)| o == option) {
                counts.push((option.clone(), 0));
            }
        }
        let position: HashMap<String, usize> = counts
            .iter()
            .enumerate()
            .map(|(i, (o, _))| (o.clone(), i))
            .collect();
        let mut uncounted = Vec::new();
        let mut voted: HashMap<String, (u64, String)> = HashMap::new();
        for block in blocks {
            for transaction in &block.transactions {
                let voter = transaction.voter_id();
                let choice = transaction.candidate_id();
                let verdict = match (voter, choice) {
                    (None, _) => Err(UncountedReason::NoVoter),
                    (_, None) => Err(UncountedReason::NoChoice),
                    (Some(voter), Some(choice)) => match (voted.get(voter), position.get(choice)) {
                        (_, None) => Err(UncountedReason::NotOnBallot),
                        (Some(&(counted_at, _)), _) => {
                            Err(UncountedReason::SecondVote { counted_at })
                        }
                        (None, Some(&at)) => Ok((voter, choice, at)),
                    },
                };
                match verdict {
                    Ok((voter, choice, at)) => {
                        counts[at].1 += 1;
                        voted.insert(voter.to_owned(), (block.index, choice.to_owned()));
                    }
                    Err(reason) => uncounted.push(Uncounted {
                        index: block.index,
                        voter: voter.map(str::to_owned),
                        choice: choice.map(str::to_owned),
                        reason,
                    }),
                }
            }
        }
        Tally {
            counts,
            uncounted,
            voted,
        }
    }

    /// Each ballot option with its count, in ballot order.
    pub fn counts(&self) -> &[(String, u64)] {
        &self.counts
    }

    /// The count for `option` (`None` when it is not on the ballot).
    pub fn count(&self, option: &str) -> Option<u64> {
        self.counts
            .iter()
            .find_map(|(o, n)| (o == option).then_some(*n))
    }

    /// Votes counted, over all options.
    pub fn total(&self) -> u64 {
        self.counts.iter().map(|(_, n)| n).sum()
    }

    /// Every transaction not counted, in chain order.
    pub fn uncounted(&self) -> &[Uncounted] {
        &self.uncounted
    }

    /// Where `voter`'s counted vote is and its choice, `None` when they have not voted (a
    /// console refuses a second vote with this).
    pub fn voted(&self, voter: &str) -> Option<(u64, &str)> {
        self.voted
            .get(voter)
            .map(|(index, choice)| (*index, choice.as_str()))
    }
}

#[cfg(test)]
mod tests;
