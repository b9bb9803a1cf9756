//! The ballot of one election: title, options, optional voter roll, difficulty, optional closing
//! height. It is the genesis block's payload, so it has one canonical byte encoding whose hash the
//! genesis header commits to; the same ballot gives the same genesis block everywhere.
//!
//! A [`Ballot`]'s JSON is the wire format (PROTOCOL.md, "Ballot": inside the genesis block; the
//! tracker's BALLOT_OPTIONS has fields of its own) and the disk format (inside the stored genesis
//! block), so changing it is a protocol change (see the crate docs). The canonical bytes are fixed
//! apart from serde: they are hashed into the election id.

use crate::hash::{sha256, Hash, PublicKey};
use crate::limits::*;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// The question put to the voters. Construct freely; call [`Ballot::check`] before trusting it
/// (the genesis constructor does).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ballot {
    /// Human-readable question, e.g. "Class president 2026".
    pub title: String,
    /// The choices, in display order; at least two, distinct.
    pub options: Vec<String>,
    /// When present, only these keys may vote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voters: Option<Vec<PublicKey>>,
    /// Proof of work required of every block after genesis, in leading zero bits.
    pub difficulty: u32,
    /// When present, blocks above this height may carry no votes: the election is over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closing_height: Option<u64>,
}

/// Why a ballot cannot start an election.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BallotError {
    /// Title empty, too long or with control characters.
    #[error("title must be 1..={MAX_TITLE_BYTES} printable bytes")]
    BadTitle,
    /// Fewer than two or more than the maximum options.
    #[error("a ballot needs 2..={MAX_OPTIONS} options, found {0}")]
    OptionCount(usize),
    /// An option empty, too long or with control characters.
    #[error("option {0:?} must be 1..={MAX_OPTION_BYTES} printable bytes")]
    BadOption(String),
    /// The same option twice.
    #[error("option {0:?} appears twice")]
    DuplicateOption(String),
    /// Voter roll too long.
    #[error("a voter roll holds at most {MAX_VOTERS} keys, found {0}")]
    TooManyVoters(usize),
    /// The same key twice on the roll.
    #[error("voter {0} appears twice on the roll")]
    DuplicateVoter(PublicKey),
    /// Difficulty above the maximum.
    #[error("difficulty {0} is above {MAX_DIFFICULTY} bits")]
    Difficulty(u32),
    /// A closing height of 0 would close the election before it opens.
    #[error("closing height must be at least 1")]
    ClosingHeight,
}

impl Ballot {
    /// Who may vote, in one sentence for people: an open election (no roll) lets anyone create
    /// voter keys, so it counts keys, not people; a roll names who may vote.
    pub fn roll_summary(&self) -> String {
        match &self.voters {
            None => "This election is open: anyone can create a voter key and vote once with it; \
                     for one vote per person, give the tracker a voter roll (--voters <file>)."
                .to_owned(),
            Some(roll) => {
                let voters = if roll.len() == 1 { "voter" } else { "voters" };
                format!(
                    "This election is closed: only the {} {voters} on its roll can vote, once each.",
                    roll.len()
                )
            }
        }
    }

    /// A demo ballot with no roll and the given options.
    pub fn open(title: &str, options: &[&str], difficulty: u32) -> Ballot {
        Ballot {
            title: title.to_owned(),
            options: options.iter().map(|s| (*s).to_owned()).collect(),
            voters: None,
            difficulty,
            closing_height: None,
        }
    }

    /// Checks every rule a ballot must satisfy.
    pub fn check(&self) -> Result<(), BallotError> {
        let printable = |s: &str, max| !s.is_empty() && s.len() <= max && is_printable(s);
        if !printable(&self.title, MAX_TITLE_BYTES) {
            return Err(BallotError::BadTitle);
        }
        if !(2..=MAX_OPTIONS).contains(&self.options.len()) {
            return Err(BallotError::OptionCount(self.options.len()));
        }
        let mut seen = HashSet::new();
        for o in &self.options {
            if !printable(o, MAX_OPTION_BYTES) {
                return Err(BallotError::BadOption(o.clone()));
            }
            if !seen.insert(o.as_str()) {
                return Err(BallotError::DuplicateOption(o.clone()));
            }
        }
        if let Some(voters) = &self.voters {
            if voters.len() > MAX_VOTERS {
                return Err(BallotError::TooManyVoters(voters.len()));
            }
            let mut seen = HashSet::new();
            for v in voters {
                if !seen.insert(v) {
                    return Err(BallotError::DuplicateVoter(*v));
                }
            }
        }
        if self.difficulty > MAX_DIFFICULTY {
            return Err(BallotError::Difficulty(self.difficulty));
        }
        if self.closing_height == Some(0) {
            return Err(BallotError::ClosingHeight);
        }
        Ok(())
    }

    /// True when `choice` is one of the options.
    pub fn has_option(&self, choice: &str) -> bool {
        self.options.iter().any(|o| o == choice)
    }

    /// True when `voter` may vote: there is no roll, or the key is on it.
    pub fn admits(&self, voter: &PublicKey) -> bool {
        self.voters.as_ref().is_none_or(|roll| roll.contains(voter))
    }

    /// The canonical encoding hashed into the genesis header (layout in PROTOCOL.md):
    /// domain prefix, then length-prefixed fields in declaration order, integers big-endian.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.title.len() + 65 * self.options.len());
        out.extend_from_slice(b"votechain/ballot/v1\0");
        out.extend_from_slice(&(self.title.len() as u16).to_be_bytes());
        out.extend_from_slice(self.title.as_bytes());
        out.push(self.options.len() as u8);
        for o in &self.options {
            out.push(o.len() as u8);
            out.extend_from_slice(o.as_bytes());
        }
        out.extend_from_slice(&self.difficulty.to_be_bytes());
        match self.closing_height {
            Some(h) => {
                out.push(1);
                out.extend_from_slice(&h.to_be_bytes());
            }
            None => out.push(0),
        }
        match &self.voters {
            Some(roll) => {
                out.push(1);
                out.extend_from_slice(&(roll.len() as u32).to_be_bytes());
                for v in roll {
                    out.extend_from_slice(&v.0);
                }
            }
            None => out.push(0),
        }
        out
    }

    /// SHA-256 of [`Ballot::canonical_bytes`]: the genesis header's payload root.
    pub fn hash(&self) -> Hash {
        sha256(&[&self.canonical_bytes()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> Ballot {
        Ballot::open("Lunch", &["Pizza", "Soup"], 8)
    }

    #[test]
    fn valid_ballot_passes() {
        assert_eq!(demo().check(), Ok(()));
    }

    #[test]
    fn the_roll_summary_says_whether_keys_or_people_vote() {
        let mut b = demo();
        assert!(b
            .roll_summary()
            .starts_with("This election is open: anyone can create"));
        b.voters = Some(vec![PublicKey([1; 32])]);
        assert_eq!(
            b.roll_summary(),
            "This election is closed: only the 1 voter on its roll can vote, once each."
        );
        b.voters = Some(vec![PublicKey([1; 32]), PublicKey([2; 32])]);
        assert!(b.roll_summary().contains("only the 2 voters on its roll"));
    }

    /// A way to break a ballot, and the error it must cause.
    type Case = (Box<dyn Fn(&mut Ballot)>, BallotError);

    #[test]
    fn each_rule_is_enforced() {
        let cases: Vec<Case> = vec![
            (Box::new(|b| b.title.clear()), BallotError::BadTitle),
            (Box::new(|b| b.title = "a\nb".into()), BallotError::BadTitle),
            (
                Box::new(|b| b.options.truncate(1)),
                BallotError::OptionCount(1),
            ),
            (
                Box::new(|b| b.options = (0..33).map(|i| i.to_string()).collect()),
                BallotError::OptionCount(33),
            ),
            (
                Box::new(|b| b.options[1] = "".into()),
                BallotError::BadOption("".into()),
            ),
            (
                Box::new(|b| b.options[1] = "x".repeat(65)),
                BallotError::BadOption("x".repeat(65)),
            ),
            (
                Box::new(|b| b.options[1] = "Pizza".into()),
                BallotError::DuplicateOption("Pizza".into()),
            ),
            (
                Box::new(|b| b.voters = Some(vec![PublicKey([1; 32]); 769])),
                BallotError::TooManyVoters(769),
            ),
            (
                Box::new(|b| b.voters = Some(vec![PublicKey([1; 32]); 2])),
                BallotError::DuplicateVoter(PublicKey([1; 32])),
            ),
            (Box::new(|b| b.difficulty = 65), BallotError::Difficulty(65)),
            (
                Box::new(|b| b.closing_height = Some(0)),
                BallotError::ClosingHeight,
            ),
        ];
        for (break_it, expected) in cases {
            let mut b = demo();
            break_it(&mut b);
            assert_eq!(b.check(), Err(expected));
        }
    }

    #[test]
    fn hash_depends_on_every_field() {
        let base = demo().hash();
        let mut b = demo();
        b.closing_height = Some(10);
        assert_ne!(b.hash(), base);
        let mut b = demo();
        b.voters = Some(vec![]);
        assert_ne!(b.hash(), base, "an empty roll differs from no roll");
        let mut b = demo();
        b.options.swap(0, 1);
        assert_ne!(b.hash(), base);
    }
}
