//! The console's votes: `vote <voter> <choice>` signs with the voter's key file ([`crate::keys`])
//! and submits the vote to the node; a refused vote is explained in the voter's own name
//! ("alice has already voted (vote … in block 3)"), not by public key. A vote typed before the
//! node knows its election waits here — at most [`MAX_WAITING_VOTES`], one per voter, unsigned
//! and with no key made for it — and is signed and submitted as soon as the election is known,
//! each answered then; votes still waiting when the peer stops are named in a warning.
//!
//! Waiting is sound because nothing is signed for an election the user has not seen: the vote
//! is signed only once the ballot is known, for that election, and a choice that is not on its
//! ballot is rejected then like any other.

use crate::keys::{self, VoterKeyFile};
use crate::node::{Command as NodeCommand, Node, Reply, SubmitReply};
use crate::view;
use std::path::PathBuf;
use votechain_chain::{Receipt, Vote};

/// Most votes that wait for the election: enough for a few people at one console, small enough
/// that a script typing into a peer that never reaches its tracker does not pile them up.
pub const MAX_WAITING_VOTES: usize = 16;

/// The console's voting: where the voter keys are, and the votes waiting for the election.
#[derive(Debug)]
pub struct Voting {
    /// The data directory whose `keys/` hold the voters' keys.
    data_dir: PathBuf,
    /// (voter name in lower case, choice), in the order typed.
    waiting: Vec<(String, String)>,
}

impl Voting {
    /// Voting with the keys of `data_dir`.
    pub fn new(data_dir: PathBuf) -> Voting {
        Voting {
            data_dir,
            waiting: Vec::new(),
        }
    }

    /// `vote <voter> <choice>`: submitted now, or kept until the election is known. The answer
    /// to print.
    pub fn vote(&mut self, node: &mut Node, now_ms: u64, voter: &str, choice: &str) -> String {
        let voter = voter.to_ascii_lowercase();
        if node.chain().is_some() {
            return self.submit(node, now_ms, &voter, choice);
        }
        if self.waiting.iter().any(|(v, _)| *v == voter) {
            return format!(
                "{voter} already has a vote waiting for the election; one vote per voter"
            );
        }
        if self.waiting.len() >= MAX_WAITING_VOTES {
            return format!(
                "{}; {MAX_WAITING_VOTES} votes are waiting for it already, so this one is not \
                 kept: type it again once the election is known",
                view::NO_ELECTION
            );
        }
        self.waiting.push((voter.clone(), choice.to_owned()));
        format!(
            "{}; {voter}'s vote for {choice} waits and will be signed and submitted when it is \
             known",
            view::NO_ELECTION
        )
    }

    /// True while votes wait for the election.
    pub fn has_waiting(&self) -> bool {
        !self.waiting.is_empty()
    }

    /// Once the node knows the election, signs and submits every waiting vote; one answer each
    /// (none while the election is still unknown).
    pub fn submit_waiting(&mut self, node: &mut Node, now_ms: u64) -> Vec<String> {
        if node.chain().is_none() {
            return Vec::new();
        }
        std::mem::take(&mut self.waiting)
            .into_iter()
            .map(|(voter, choice)| {
                let answer = self.submit(node, now_ms, &voter, &choice);
                format!("the election is known: {voter}'s waiting vote for {choice}: {answer}")
            })
            .collect()
    }

    /// What to say when the peer stops with votes still waiting: they were never submitted.
    pub fn warning_at_stop(&self) -> Option<String> {
        if self.waiting.is_empty() {
            return None;
        }
        let voters: Vec<&str> = self.waiting.iter().map(|(v, _)| v.as_str()).collect();
        let (n, were) = match voters.len() {
            1 => ("1 vote".to_owned(), "was"),
            n => (format!("{n} votes"), "were"),
        };
        Some(format!(
            "{n} typed before the election was known {were} never submitted ({}): the election \
             did not become known; vote again once the peer reaches its tracker",
            voters.join(", ")
        ))
    }

    /// Signs `choice` with `voter`'s key (a new key is kept only if the vote is accepted) and
    /// submits it.
    fn submit(&self, node: &mut Node, now_ms: u64, voter: &str, choice: &str) -> String {
        self.submit_named(node, now_ms, voter, choice).answer
    }

    /// Signs `choice` with the key of `voter` (a name, any case) and submits it now, as the
    /// console's `vote` does once the election is known (the web API's votes by name).
    pub fn submit_named(
        &self,
        node: &mut Node,
        now_ms: u64,
        voter: &str,
        choice: &str,
    ) -> NamedVote {
        let voter = voter.to_ascii_lowercase();
        let refused = |answer: String| NamedVote {
            answer,
            outcome: None,
        };
        let Some(election) = node.chain().map(|c| c.election()) else {
            return refused(view::NO_ELECTION.into());
        };
        let file = match keys::voter_key(&self.data_dir, &voter) {
            Ok(file) => file,
            Err(e) => return refused(format!("voter key {voter}: {}", e.with_causes())),
        };
        let vote = Vote::sign(file.key().signing_key(), election, choice);
        let Reply::Vote(reply) = node.handle_command(now_ms, NodeCommand::SubmitVote(vote.clone()))
        else {
            return refused(view::NO_ELECTION.into());
        };
        let mut answer = explain(node, &voter, &vote, &reply);
        // A new key becomes the voter's only with an accepted vote.
        if let (VoterKeyFile::New(new), SubmitReply::Pending(_)) = (file, &reply) {
            if let Err(e) = new.keep() {
                answer.push_str(&format!(
                    "\nvoter key {voter} could not be kept: {}",
                    e.with_causes()
                ));
            }
        }
        NamedVote {
            answer,
            outcome: Some(reply),
        }
    }
}

/// What became of a vote by name ([`Voting::submit_named`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedVote {
    /// The answer in a sentence, naming the voter when the vote was refused because of who
    /// cast it.
    pub answer: String,
    /// The node's reply; `None` when nothing was submitted (no election, no usable key).
    pub outcome: Option<SubmitReply>,
}

/// The answer to a vote, naming the voter when the vote was refused because of who cast it.
fn explain(node: &Node, voter: &str, vote: &Vote, reply: &SubmitReply) -> String {
    let Some(chain) = node.chain() else {
        return view::submit(reply);
    };
    let earlier = chain.vote_of(&vote.voter).map(|earlier| {
        let place = match chain.receipt(&earlier) {
            Receipt::InBlock { height, .. } => format!(" in block {height}"),
            Receipt::Pending => ", pending".to_owned(),
            _ => String::new(),
        };
        (earlier, place)
    });
    match (reply, earlier) {
        (SubmitReply::Rejected(id, _), Some((earlier, place))) if earlier != *id => {
            format!("vote {id} rejected: {voter} has already voted (vote {earlier}{place})")
        }
        (SubmitReply::Duplicate(id), Some((_, place))) => {
            format!("{voter} has already voted: this is the same vote, {id}{place}")
        }
        (SubmitReply::Rejected(id, _), None) if !chain.ballot().admits(&vote.voter) => format!(
            "vote {id} rejected: {voter} is not on this closed election's roll of {} (keys \
             import <file> takes in a voter key from the roll)",
            chain.ballot().voters.as_ref().map_or(0, Vec::len)
        ),
        _ => view::submit(reply),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::NodeConfig;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use votechain_chain::{Ballot, ChainConfig, ChainState, VoterKey};

    const NOW: u64 = 1_800_000_000_000;

    /// A node that knows the election of `ballot`, or none.
    fn node(ballot: Option<&Ballot>) -> Node {
        let chain = ballot.map(|b| ChainState::new(b, ChainConfig::default()).unwrap());
        let cfg = NodeConfig::new("127.0.0.1:6001".parse().unwrap());
        Node::new(cfg, ChaCha8Rng::seed_from_u64(1), chain)
    }

    fn data_dir(tag: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("votechain-voting-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn votes_wait_for_the_election_then_go_in_and_a_second_vote_names_the_voter() {
        let dir = data_dir("wait");
        let mut voting = Voting::new(dir.clone());
        let mut unknown = node(None);
        let said = voting.vote(&mut unknown, NOW, "Alice", "Adam");
        assert!(said.starts_with(view::NO_ELECTION), "{said}");
        assert!(said.contains("alice's vote for Adam waits"), "{said}");
        assert!(voting
            .vote(&mut unknown, NOW, "alice", "Bob")
            .contains("alice already has a vote waiting"));
        // Nothing is signed, no key made, while the election is unknown.
        assert!(!dir.join("keys").exists());
        assert_eq!(
            voting.submit_waiting(&mut unknown, NOW),
            Vec::<String>::new()
        );
        let warning = voting.warning_at_stop().unwrap();
        assert!(warning.starts_with("1 vote typed before"), "{warning}");
        assert!(warning.contains("(alice)"), "{warning}");

        let ballot = Ballot::open("T", &["Adam", "Bob"], 0);
        let mut known = node(Some(&ballot));
        let answers = voting.submit_waiting(&mut known, NOW);
        assert_eq!(answers.len(), 1, "{answers:?}");
        assert!(
            answers[0].starts_with("the election is known: alice's waiting vote for Adam: vote ")
                && answers[0].ends_with(" pending"),
            "{answers:?}"
        );
        assert!(!voting.has_waiting() && voting.warning_at_stop().is_none());
        assert!(keys::key_path(&dir, "alice").exists());

        // The same voter again, another choice: refused in alice's name.
        let again = voting.vote(&mut known, NOW, "ALICE", "Bob");
        assert!(
            again.contains(" rejected: alice has already voted (vote ")
                && again.ends_with(", pending)"),
            "{again}"
        );
        // The same vote again: the same signature, the same vote.
        let same = voting.vote(&mut known, NOW, "alice", "Adam");
        assert!(
            same.starts_with("alice has already voted: this is the same vote"),
            "{same}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_queue_is_bounded_and_a_voter_off_the_roll_is_told_so() {
        let dir = data_dir("bound");
        let mut voting = Voting::new(dir.clone());
        let mut unknown = node(None);
        for i in 0..MAX_WAITING_VOTES {
            voting.vote(&mut unknown, NOW, &format!("v{i}"), "Adam");
        }
        let refused = voting.vote(&mut unknown, NOW, "late", "Adam");
        assert!(refused.contains("so this one is not kept"), "{refused}");
        assert!(voting
            .warning_at_stop()
            .unwrap()
            .starts_with(&format!("{MAX_WAITING_VOTES} votes typed")));

        let mut closed = Ballot::open("T", &["Adam", "Bob"], 0);
        closed.voters = Some(vec![VoterKey::from_seed([1; 32]).public()]);
        let mut voting = Voting::new(dir.clone());
        let said = voting.vote(&mut node(Some(&closed)), NOW, "mallory", "Adam");
        assert!(
            said.contains("rejected: mallory is not on this closed election's roll of 1"),
            "{said}"
        );
        assert!(!keys::key_path(&dir, "mallory").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
