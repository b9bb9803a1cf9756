//! Votes: accepting them (from a client's SUBMIT_VOTE, a peer's NEW_VOTE or the console),
//! persisting each before acknowledging it, relaying it once per id, and answering receipts.

use super::{Inbound, Node, Output, Record};
use rand::RngCore;
use votechain_chain::{Hash, Receipt as ChainReceipt, RejectReason, SubmitOutcome, Vote};
use votechain_proto::{Message, NewVote, Receipt, ReceiptStatus, SubmitVote};

/// Pending votes a peer that does not mine hands over again per consensus round.
const RESUBMIT_PER_ROUND: usize = 64;

/// What happened to a vote submitted locally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmitReply {
    /// Accepted and stored; pending until mined.
    Pending(Hash),
    /// Already pending or in the chain.
    Duplicate(Hash),
    /// Refused, with the reason.
    Rejected(Hash, String),
    /// The election is not known yet (no ballot).
    NoElection,
}

/// How a vote reached this peer, which decides who mines it first (`mining/stagger.rs`).
#[derive(Debug, Clone, Copy)]
pub(super) enum Arrival {
    /// Submitted here: by the console (`None`, never limited by [`crate::admission`]) or by a
    /// client's SUBMIT_VOTE. This peer mines it at once; when it does not mine, it hands the
    /// vote to its peers as SUBMIT_VOTE, which makes each of them a submitter.
    Here(Option<Inbound>),
    /// Relayed by a peer (NEW_VOTE): its submitter mines it; this peer waits its grace.
    Relayed(Inbound),
}

impl Arrival {
    /// The datagram the vote came in, if any.
    fn input(self) -> Option<Inbound> {
        match self {
            Arrival::Here(input) => input,
            Arrival::Relayed(input) => Some(input),
        }
    }
}

impl<R: RngCore> Node<R> {
    /// Validates, stores and relays a vote. The sender of the datagram it came in is not
    /// relayed to.
    pub(super) fn accept_vote(&mut self, now_ms: u64, vote: Vote, arrival: Arrival) -> SubmitReply {
        let from = arrival.input();
        let Some(chain) = self.chain.as_mut() else {
            return SubmitReply::NoElection;
        };
        let open = chain.ballot().voters.is_none();
        if let (Some(input), true) = (from, open) {
            let pool = chain.pool();
            let admitted =
                self.admission
                    .check(input.from, input.proven, pool.len(), pool.capacity());
            if let Err(refusal) = admitted {
                let id = vote.id();
                // A vote we already hold is not a new burden: answer with where it stands.
                if chain.receipt(&id) != ChainReceipt::Unknown {
                    return SubmitReply::Duplicate(id);
                }
                self.stats.votes_refused += 1;
                return SubmitReply::Rejected(id, refusal.to_string());
            }
        }
        match chain.submit_vote(vote.clone()) {
            Ok(SubmitOutcome::Accepted { id, .. }) => {
                self.stats.votes_accepted += 1;
                if let Some(input) = from {
                    self.admission.admitted(id, input.from);
                }
                self.seen.votes.insert(id);
                // Stored before anything acknowledges or relays it.
                self.out
                    .push_back(Output::Persist(Record::Vote(vote.clone())));
                let here = matches!(arrival, Arrival::Here(_));
                if here {
                    self.mining.own_vote(id);
                }
                let relay: Message = if here && !self.mining.is_on() {
                    SubmitVote { vote }.into()
                } else {
                    NewVote { vote }.into()
                };
                self.broadcast(now_ms, &relay, from.map(|i| i.from));
                self.mining.touch();
                SubmitReply::Pending(id)
            }
            Ok(SubmitOutcome::Duplicate { id }) => {
                self.stats.votes_duplicate += 1;
                SubmitReply::Duplicate(id)
            }
            Err(rejected) => {
                self.stats.votes_rejected += 1;
                // Remembered as seen unless only the pool's room was missing: that changes.
                if !matches!(rejected.reason, RejectReason::PoolFull { .. }) {
                    self.seen.votes.insert(rejected.id);
                }
                SubmitReply::Rejected(rejected.id, rejected.reason.to_string())
            }
        }
    }

    /// A peer that does not mine hands the votes submitted to it to its peers as SUBMIT_VOTE,
    /// once, when it accepts them: a datagram that can be lost, or go to no one while the peer
    /// table is still empty. So at every consensus round it hands them over again, those still
    /// pending (at most [`RESUBMIT_PER_ROUND`]), until a block takes them: a vote it
    /// acknowledged is never left unmined.
    pub(super) fn resubmit_own_votes(&mut self, now_ms: u64) {
        if self.mining.is_on() {
            return;
        }
        let Some(chain) = self.chain.as_ref() else {
            return;
        };
        let votes: Vec<Vote> = self
            .mining
            .own_pending(chain.pool(), RESUBMIT_PER_ROUND)
            .iter()
            .filter_map(|id| chain.pool().get(id).cloned())
            .collect();
        for vote in votes {
            self.broadcast(now_ms, &SubmitVote { vote }.into(), None);
        }
    }

    /// SUBMIT_VOTE from a client: answered with a RECEIPT after the vote is stored.
    pub(super) fn on_submit_vote(&mut self, now_ms: u64, input: Inbound, vote: Vote) {
        let status = match self.accept_vote(now_ms, vote.clone(), Arrival::Here(Some(input))) {
            SubmitReply::Pending(_) => ReceiptStatus::Pending,
            SubmitReply::Duplicate(id) => self.receipt_status(&id, true),
            SubmitReply::Rejected(_, reason) => ReceiptStatus::Rejected {
                reason: clip(reason),
            },
            SubmitReply::NoElection => ReceiptStatus::Rejected {
                reason: "this peer does not know the election yet".into(),
            },
        };
        let receipt = Receipt {
            vote_id: vote.id(),
            status,
        };
        self.reply(now_ms, input, &receipt.into());
    }

    /// NEW_VOTE from a peer: accepted silently, relayed once. A vote refused only because the
    /// pool was busy is not remembered as seen: it is taken when it comes again.
    pub(super) fn on_new_vote(&mut self, now_ms: u64, input: Inbound, vote: Vote) {
        if !self.seen.votes.contains(&vote.id()) {
            self.accept_vote(now_ms, vote, Arrival::Relayed(input));
        }
    }

    /// GET_RECEIPT: the Merkle proof only goes to a request that proves its origin (it makes
    /// the reply large).
    pub(super) fn on_get_receipt(&mut self, now_ms: u64, input: Inbound, id: Hash) {
        let receipt = Receipt {
            vote_id: id,
            status: self.receipt_status(&id, input.proven),
        };
        self.reply(now_ms, input, &receipt.into());
    }

    /// The wire form of a vote's receipt.
    pub fn receipt_status(&self, id: &Hash, with_proof: bool) -> ReceiptStatus {
        let Some(chain) = self.chain.as_ref() else {
            return ReceiptStatus::Unknown;
        };
        match chain.receipt(id) {
            ChainReceipt::Pending => ReceiptStatus::Pending,
            ChainReceipt::Unknown => ReceiptStatus::Unknown,
            ChainReceipt::Rejected { reason } => ReceiptStatus::Rejected {
                reason: clip(reason.to_string()),
            },
            ChainReceipt::InBlock {
                height,
                block,
                confirmations,
                index,
                proof,
            } => ReceiptStatus::Confirmed {
                height,
                block,
                confirmations,
                index: index as u32,
                vote_count: chain.block(&block).map_or(0, |b| b.votes().len() as u32),
                proof: if with_proof { proof } else { Vec::new() },
            },
        }
    }
}

/// Cuts a reason to the protocol's bound, on a character boundary.
fn clip(mut reason: String) -> String {
    let max = votechain_proto::limits::MAX_REASON;
    if reason.len() > max {
        let mut cut = max;
        while !reason.is_char_boundary(cut) {
            cut -= 1;
        }
        reason.truncate(cut);
    }
    reason
}
