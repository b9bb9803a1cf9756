//! The tally: votes per ballot option on the best chain. [`crate::state::ChainState`] keeps a
//! running count as blocks join and leave the best chain; [`recount`] counts from scratch, which is
//! what anyone holding the chain can do to check a peer's figures.

use crate::ballot::Ballot;
use crate::block::Block;
use crate::hash::Hash;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The result of the election so far, as of one tip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// The best tip the counts are for.
    pub tip: Hash,
    /// Its height.
    pub height: u64,
    /// One line per ballot option, in ballot order, options with no votes included.
    pub lines: Vec<TallyLine>,
}

/// Votes for one option.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TallyLine {
    /// The option, as written on the ballot.
    pub option: String,
    /// Votes for it.
    pub votes: u64,
}

impl Tally {
    /// Total votes counted.
    pub fn total(&self) -> u64 {
        self.lines.iter().map(|l| l.votes).sum()
    }
}

/// Counts every vote in `blocks` (meant to be a valid chain, so one vote per voter) per option of
/// `ballot`. Choices not on the ballot are not counted; a valid chain has none.
pub fn recount<'a>(ballot: &Ballot, blocks: impl IntoIterator<Item = &'a Block>) -> Vec<TallyLine> {
    let mut counts = Counts::new(ballot);
    for block in blocks {
        for vote in block.votes() {
            counts.add(&vote.choice, 1);
        }
    }
    counts.lines(ballot)
}

/// Running counts per option, indexed for O(1) updates.
#[derive(Debug, Clone)]
pub(crate) struct Counts {
    index: HashMap<String, usize>,
    counts: Vec<u64>,
}

impl Counts {
    pub(crate) fn new(ballot: &Ballot) -> Counts {
        let index = ballot
            .options
            .iter()
            .enumerate()
            .map(|(i, o)| (o.clone(), i))
            .collect();
        Counts {
            index,
            counts: vec![0; ballot.options.len()],
        }
    }

    /// Adds `delta` (±1) to `choice`; unknown choices are ignored.
    pub(crate) fn add(&mut self, choice: &str, delta: i64) {
        if let Some(&i) = self.index.get(choice) {
            self.counts[i] = self.counts[i].saturating_add_signed(delta);
        }
    }

    pub(crate) fn lines(&self, ballot: &Ballot) -> Vec<TallyLine> {
        ballot
            .options
            .iter()
            .zip(&self.counts)
            .map(|(option, &votes)| TallyLine {
                option: option.clone(),
                votes,
            })
            .collect()
    }
}
