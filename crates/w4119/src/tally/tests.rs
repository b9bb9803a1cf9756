//! The honest tally: ballot order, every reason a transaction is not counted, the first vote in
//! chain order counting, and the sentences the reasons render as.

use super::*;
use crate::block::tests::{mine_template, DIFFICULTY};
use crate::block::Transaction;
use crate::chain::W4119Chain;
use crate::miner::BlockTemplate;
use crate::pyjson::{PyDict, PyValue};

fn ballot() -> Vec<String> {
    ["Catherine", "Adam", "Bob", "Adam"]
        .map(String::from)
        .to_vec()
}

/// A chain whose blocks hold the given transactions (one block per entry).
fn chain_of(blocks: Vec<Vec<Transaction>>) -> W4119Chain {
    let mut chain = W4119Chain::new(DIFFICULTY);
    for transactions in blocks {
        let template =
            BlockTemplate::after(chain.tip(), transactions, "2025-01-01 12:00:05".into());
        chain.try_append(mine_template(&template)).unwrap();
    }
    chain
}

fn vote(voter: &str, choice: &str) -> Transaction {
    Transaction::vote(voter, choice, "2025-01-01 12:00:00")
}

#[test]
fn counts_follow_the_ballot_and_list_what_is_not_counted() {
    let mut no_choice = PyDict::new();
    no_choice.insert("voter_id", "dora".into());
    no_choice.insert("candidate_id", PyValue::Null);
    no_choice.insert("timestamp", "2025-01-01 12:00:00".into());
    let mut number_voter = PyDict::new();
    number_voter.insert("voter_id", PyValue::Int(7));
    number_voter.insert("candidate_id", "Bob".into());
    number_voter.insert("timestamp", "2025-01-01 12:00:00".into());
    let chain = chain_of(vec![
        vec![vote("alice", "Adam")],
        vec![vote("bob", "Bob"), vote("carol", "Zed")],
        vec![vote("alice", "Bob"), vote("carol", "Catherine")],
        vec![
            Transaction::from_fields(no_choice),
            Transaction::from_fields(number_voter),
        ],
        vec![vote("alice", "Adam"), vote("bob", "Nobody")],
    ]);
    let tally = Tally::of(chain.blocks(), &ballot());
    assert_eq!(
        tally.counts(),
        [
            ("Catherine".to_string(), 1),
            ("Adam".to_string(), 1),
            ("Bob".to_string(), 1)
        ]
    );
    assert_eq!(tally.total(), 3);
    assert_eq!(tally.count("Adam"), Some(1));
    assert_eq!(tally.count("Zed"), None);

    let uncounted = |index, voter: Option<&str>, choice: Option<&str>, reason| Uncounted {
        index,
        voter: voter.map(String::from),
        choice: choice.map(String::from),
        reason,
    };
    assert_eq!(
        tally.uncounted(),
        [
            uncounted(2, Some("carol"), Some("Zed"), UncountedReason::NotOnBallot),
            uncounted(
                3,
                Some("alice"),
                Some("Bob"),
                UncountedReason::SecondVote { counted_at: 1 }
            ),
            uncounted(4, Some("dora"), None, UncountedReason::NoChoice),
            uncounted(4, None, Some("Bob"), UncountedReason::NoVoter),
            uncounted(
                5,
                Some("alice"),
                Some("Adam"),
                UncountedReason::SecondVote { counted_at: 1 }
            ),
            uncounted(5, Some("bob"), Some("Nobody"), UncountedReason::NotOnBallot),
        ]
    );
    // carol's off-ballot vote did not use up her vote: her next one counted.
    assert_eq!(tally.voted("carol"), Some((3, "Catherine")));
    assert_eq!(tally.voted("alice"), Some((1, "Adam")));
    assert_eq!(tally.voted("dora"), None);
    assert_eq!(tally.voted("erin"), None);
}

#[test]
fn an_empty_chain_counts_zero_for_every_option() {
    let tally = Tally::of(W4119Chain::new(DIFFICULTY).blocks(), &ballot());
    assert_eq!(tally.total(), 0);
    assert_eq!(tally.counts().len(), 3);
    assert!(tally.uncounted().is_empty());
    let no_ballot = Tally::of(chain_of(vec![vec![vote("a", "Adam")]]).blocks(), &[]);
    assert_eq!(
        no_ballot.uncounted()[0].reason,
        UncountedReason::NotOnBallot
    );
}

#[test]
fn reasons_render_as_sentences() {
    assert_eq!(
        UncountedReason::SecondVote { counted_at: 3 }.to_string(),
        "the voter already voted, and their vote in block 3 is the one counted"
    );
    assert_eq!(
        UncountedReason::NotOnBallot.to_string(),
        "the choice is not on the ballot"
    );
    assert_eq!(
        UncountedReason::NoVoter.to_string(),
        "the transaction has no voter_id string"
    );
    assert_eq!(
        UncountedReason::NoChoice.to_string(),
        "the transaction has no candidate_id string"
    );
    let line = Uncounted {
        index: 4,
        voter: Some("eve\u{1b}[2J".into()),
        choice: Some("Zed".into()),
        reason: UncountedReason::NotOnBallot,
    }
    .to_string();
    assert_eq!(
        line,
        "a transaction in block 4 by \"eve\\u{1b}[2J\" for \"Zed\" is not counted: the choice is \
         not on the ballot"
    );
}
