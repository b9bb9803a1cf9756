//! Local commands: what the console (and later the web API) asks of the node, through the one
//! entry point [`Node::handle_command`]. Queries (tally, chain, peers, receipts) are read-only
//! accessors on `&Node`; only what changes the node is a [`Command`].

use super::votes::Arrival;
use super::{Node, Output, SubmitReply};
use rand::RngCore;
use votechain_chain::Vote;
use votechain_proto::LeavePeer;

/// A local request that changes the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Submit a vote signed by a key this peer holds (not limited by [`crate::admission`]).
    SubmitVote(Vote),
    /// Mining on or off (the console's `mine`).
    SetMining(bool),
    /// A consensus round now (the console's `consensus`).
    Consensus,
    /// Leave: tell the tracker and stop mining (on quit, Ctrl-C and SIGTERM).
    Leave,
}

/// The node's answer to a [`Command`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// What became of a submitted vote.
    Vote(SubmitReply),
    /// Done; the command has no other answer.
    Done,
}

impl<R: RngCore> Node<R> {
    /// Carries out one local command; its effects come out of [`Node::poll_output`] like any
    /// input's.
    pub fn handle_command(&mut self, now_ms: u64, command: Command) -> Reply {
        match command {
            Command::SubmitVote(vote) => {
                let reply = self.accept_vote(now_ms, vote, Arrival::Here(None));
                self.after_input(now_ms);
                self.update_mining(now_ms);
                Reply::Vote(reply)
            }
            Command::SetMining(on) => {
                self.mining.set_on(on);
                self.update_mining(now_ms);
                Reply::Done
            }
            Command::Consensus => {
                self.rounds.request();
                self.start_round(now_ms);
                self.after_input(now_ms);
                Reply::Done
            }
            Command::Leave => {
                if let Some(tracker) = self.tracker.tracker() {
                    self.send(now_ms, tracker, &LeavePeer {}.into());
                }
                self.out.push_back(Output::Mine(None));
                Reply::Done
            }
        }
    }
}
