//! Property tests of the chain state: for any sequence of mined blocks on random parents (forks,
//! reorganisations of any depth), delivered in order or held back and released newest first (so
//! they wait as orphans), interleaved with vote submissions:
//! - the running tally equals a recount from scratch over the best chain;
//! - every vote ever accepted (by the pool, or by being on the best chain once) is now on the best
//!   chain or pending — reorganisations lose nothing;
//! - the tip has the most work of all blocks in the tree, the first seen among equals;
//! - no voter appears twice in the best chain, and no pending voter is in it;
//! - once everything is delivered, no orphan is left and every block is in the tree.
//!
//! In the first property each voter has exactly one signed vote, so no vote can be legitimately
//! displaced. In the second each voter signed two different votes and both travel: then a vote may
//! be displaced by its voter's other vote, and the property is that no voter is lost — everyone
//! who ever had a vote accepted still has exactly one on the best chain or pending.

mod state_support;

use proptest::prelude::*;
use proptest::sample::Index;
use state_support::*;
use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;
use votechain_chain::tally::recount;
use votechain_chain::{
    merkle, AddOutcome, Block, ChainState, Hash, PublicKey, Receipt, SubmitOutcome, Vote,
};
use votechain_chain::{RejectReason, VoteError, VoteRejected};

const VOTERS: u32 = 40;

/// Every voter's vote, then (for the second property) every voter's alternative vote.
fn all_votes() -> &'static [Vote] {
    static VOTES: OnceLock<Vec<Vote>> = OnceLock::new();
    VOTES.get_or_init(|| {
        let election = Block::genesis(&ballot()).unwrap().hash();
        let choice = |i: u32, alt: u32| OPTIONS[(i + alt) as usize % OPTIONS.len()];
        (0..2)
            .flat_map(|alt| (0..VOTERS).map(move |i| (alt, i)))
            .map(|(alt, i)| vote(election, i, choice(i, alt)))
            .collect()
    })
}

#[derive(Debug, Clone)]
enum Op {
    /// Mine a block on a random known block with up to `n_votes` votes whose voters have not
    /// voted on that branch, starting the search at a random voter; hold it back if `hold`.
    Mine {
        parent: Index,
        n_votes: usize,
        first_voter: Index,
        hold: bool,
    },
    /// Submit a random voter's vote.
    Submit(Index),
    /// Deliver every held block, newest first.
    Release,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (any::<Index>(), 0..4usize, any::<Index>(), prop::bool::weighted(0.3)).prop_map(
            |(parent, n_votes, first_voter, hold)| Op::Mine { parent, n_votes, first_voter, hold }
        ),
        2 => any::<Index>().prop_map(Op::Submit),
        1 => Just(Op::Release),
    ]
}

struct World {
    s: ChainState,
    /// The votes in play: one per voter, or two.
    votes: &'static [Vote],
    made: Vec<Block>,
    index: HashMap<Hash, usize>,
    held: Vec<Block>,
    /// Votes the pool accepted or the best chain held at some point.
    accepted: HashSet<Hash>,
    /// Blocks in the order they entered the tree.
    add_order: Vec<Hash>,
}

impl World {
    fn new(alternatives: bool) -> World {
        let all = all_votes();
        let votes = if alternatives {
            all
        } else {
            &all[..VOTERS as usize]
        };
        let s = state();
        let g = s.tip().clone();
        World {
            index: HashMap::from([(g.hash(), 0)]),
            add_order: vec![g.hash()],
            made: vec![g],
            s,
            votes,
            held: Vec::new(),
            accepted: HashSet::new(),
        }
    }

    fn branch_voters(&self, mut at: usize) -> HashSet<PublicKey> {
        let mut voters = HashSet::new();
        loop {
            let b = &self.made[at];
            voters.extend(b.votes().iter().map(|v| v.voter));
            if b.height() == 0 {
                return voters;
            }
            at = self.index[&b.prev()];
        }
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::Mine {
                parent,
                n_votes,
                first_voter,
                hold,
            } => {
                let p = parent.index(self.made.len());
                let taken = self.branch_voters(p);
                let all = self.votes;
                let start = first_voter.index(all.len());
                let chosen: Vec<Vote> = (0..all.len())
                    .map(|k| &all[(start + k) % all.len()])
                    .filter(|v| !taken.contains(&v.voter))
                    .take(n_votes)
                    .cloned()
                    .collect();
                let b = mine(&self.made[p], chosen);
                self.index.insert(b.hash(), self.made.len());
                self.made.push(b.clone());
                if hold {
                    self.held.push(b);
                } else {
                    self.deliver(b);
                }
            }
            Op::Submit(i) => {
                let v = self.votes[i.index(self.votes.len())].clone();
                match self.s.submit_vote(v) {
                    Ok(SubmitOutcome::Accepted { id }) => {
                        self.accepted.insert(id);
                    }
                    Ok(SubmitOutcome::Duplicate { .. }) => {}
                    // Only the voter's other vote, on the chain or pending, may stand in the way.
                    Err(VoteRejected {
                        reason:
                            RejectReason::VoterPending { .. }
                            | RejectReason::Invalid(VoteError::AlreadyVoted { .. }),
                        ..
                    }) if self.votes.len() > VOTERS as usize => {}
                    other => panic!("unexpected refusal: {other:?}"),
                }
            }
            Op::Release => {
                while let Some(b) = self.held.pop() {
                    self.deliver(b);
                }
            }
        }
    }

    fn deliver(&mut self, b: Block) {
        match self.s.add_block(b, NOW) {
            Ok(AddOutcome::Added(c)) => {
                assert!(
                    c.rejected_orphans.is_empty() && c.evicted.is_empty(),
                    "{c:?}"
                );
                self.add_order.extend(c.added);
            }
            Ok(AddOutcome::Orphan { evicted: None, .. }) | Ok(AddOutcome::Duplicate { .. }) => {}
            other => panic!("every mined block is valid: {other:?}"),
        }
    }

    fn check(&mut self) {
        let s = &self.s;
        assert_eq!(s.tally().lines, recount(s.ballot(), s.best_chain()));

        let mut chain_voters = HashSet::new();
        for b in s.best_chain() {
            for v in b.votes() {
                assert!(
                    chain_voters.insert(v.voter),
                    "voter twice in the best chain"
                );
                self.accepted.insert(v.id());
            }
        }
        let mut pending_voters = HashSet::new();
        for id in s.pool().ids() {
            let voter = s.pool().get(id).unwrap().voter;
            assert!(!chain_voters.contains(&voter) && pending_voters.insert(voter));
        }
        let voter_of: HashMap<Hash, PublicKey> =
            self.votes.iter().map(|v| (v.id(), v.voter)).collect();
        for id in &self.accepted {
            let r = s.receipt(id);
            let kept = matches!(r, Receipt::Pending | Receipt::InBlock { .. });
            if self.votes.len() == VOTERS as usize {
                assert!(kept, "vote {id} lost: {r:?}");
            } else {
                let voter = voter_of[id];
                let stands = chain_voters.contains(&voter) || pending_voters.contains(&voter);
                assert!(kept || stands, "voter of {id} lost: {r:?}");
            }
        }

        let best = self
            .add_order
            .iter()
            .map(|h| s.work_of(h).unwrap())
            .max()
            .unwrap();
        let first = self
            .add_order
            .iter()
            .find(|h| s.work_of(h) == Some(best))
            .unwrap();
        assert_eq!((s.cumulative_work(), s.tip_hash()), (best, *first));
    }

    fn check_final(&mut self) {
        self.apply(Op::Release);
        self.check();
        assert_eq!(self.s.stats().orphans, 0);
        assert!(self.made.iter().all(|b| self.s.contains(&b.hash())));
        for b in self.s.best_chain() {
            let ids = b.vote_ids();
            for (i, id) in ids.iter().enumerate() {
                let Receipt::InBlock { index, proof, .. } = self.s.receipt(id) else {
                    panic!()
                };
                assert!(
                    index == i
                        && merkle::verify(id, i, ids.len(), &proof, &b.header().payload_root)
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn tally_recount_and_no_vote_lost(ops in prop::collection::vec(op(), 1..40)) {
        let mut w = World::new(false);
        for op in ops {
            w.apply(op);
            w.check();
        }
        w.check_final();
    }

    #[test]
    fn with_competing_votes_no_voter_is_lost(ops in prop::collection::vec(op(), 1..40)) {
        let mut w = World::new(true);
        for op in ops {
            w.apply(op);
            w.check();
        }
        w.check_final();
    }
}
