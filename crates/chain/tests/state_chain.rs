//! Chain state behaviour, example by example: fork choice by work with first-seen ties,
//! reorganisations and the votes they return, orphans, duplicates, the pool's rules, receipts,
//! the tally and the caps.

mod state_support;

use state_support::*;
use votechain_chain::limits::MAX_VOTES_PER_BLOCK;
use votechain_chain::{
    merkle, AddOutcome, Block, ChainConfig, ChainState, Connected, Receipt, RejectReason,
    SubmitOutcome, TipChange, ValidationError, VoteError,
};

fn added(outcome: Result<AddOutcome, ValidationError>) -> Connected {
    match outcome {
        Ok(AddOutcome::Added(c)) => c,
        other => panic!("expected Added, got {other:?}"),
    }
}

fn hashes(blocks: &[Block]) -> Vec<votechain_chain::Hash> {
    blocks.iter().map(Block::hash).collect()
}

#[test]
fn extension_tally_and_receipts() {
    let mut s = state();
    let e = s.election();
    let v1 = vote(e, 1, "Bob");
    let v2 = vote(e, 2, "Bob");
    assert_eq!(s.receipt(&v1.id()), Receipt::Unknown);
    assert_eq!(
        s.submit_vote(v1.clone()),
        Ok(SubmitOutcome::Accepted { id: v1.id() })
    );
    assert_eq!(s.receipt(&v1.id()), Receipt::Pending);
    let b1 = seal(&s.template(NOW, "me").unwrap());
    assert_eq!(b1.votes(), std::slice::from_ref(&v1));
    let c = added(s.add_block(b1.clone(), NOW));
    assert_eq!(
        c.tip_change,
        Some(TipChange {
            left: vec![],
            joined: vec![b1.hash()],
            returned_votes: 0
        })
    );
    assert!(s.pool().is_empty(), "the block's vote left the pool");
    let b2 = mine(&b1, vec![v2.clone()]);
    added(s.add_block(b2.clone(), NOW));

    let tally = s.tally();
    let counts: Vec<(&str, u64)> = tally
        .lines
        .iter()
        .map(|l| (l.option.as_str(), l.votes))
        .collect();
    assert_eq!(counts, vec![("Alice", 0), ("Bob", 2), ("Carol", 0)]);
    assert_eq!((tally.tip, tally.height, tally.total()), (b2.hash(), 2, 2));

    let Receipt::InBlock {
        height,
        block,
        confirmations,
        index,
        proof,
    } = s.receipt(&v1.id())
    else {
        panic!("v1 should be in a block");
    };
    assert_eq!((height, block, confirmations, index), (1, b1.hash(), 2, 0));
    assert!(merkle::verify(
        &v1.id(),
        index,
        1,
        &proof,
        &b1.header().payload_root
    ));
    assert!(matches!(
        s.receipt(&v2.id()),
        Receipt::InBlock {
            confirmations: 1,
            ..
        }
    ));
    assert_eq!(
        s.submit_vote(v1.clone()),
        Ok(SubmitOutcome::Duplicate { id: v1.id() })
    );
}

#[test]
fn first_seen_wins_a_tie_and_more_work_reorganises() {
    let mut s = state();
    let g = s.tip().clone();
    let a = mine_chain(&g, 2, "a");
    let b = mine_chain(&g, 3, "b");
    for blk in &a {
        added(s.add_block(blk.clone(), NOW));
    }
    assert!(!s.contested());
    added(s.add_block(b[0].clone(), NOW));
    assert!(
        !s.contested(),
        "a side branch with less work does not contest the tip"
    );
    let c = added(s.add_block(b[1].clone(), NOW));
    assert_eq!(c.tip_change, None, "equal work: the first seen stays best");
    assert_eq!(s.tip_hash(), a[1].hash());
    assert!(s.contested(), "an equal-work side tip contests the tip");
    assert_eq!(s.stats().side_blocks, 2);
    let c = added(s.add_block(b[2].clone(), NOW));
    assert_eq!(
        c.tip_change,
        Some(TipChange {
            left: vec![a[1].hash(), a[0].hash()],
            joined: hashes(&b),
            returned_votes: 0
        })
    );
    assert_eq!(s.tip_hash(), b[2].hash());
    assert!(!s.contested(), "one more block settles the tie");
    assert_eq!(s.cumulative_work(), 3 * votechain_chain::work(DIFFICULTY));
    assert!(s.on_best_chain(&b[0].hash()) && !s.on_best_chain(&a[0].hash()));
    assert_eq!(s.stats().side_blocks, 2);
}

#[test]
fn reorg_returns_votes_unless_the_new_branch_holds_them() {
    let mut s = state();
    let g = s.tip().clone();
    let e = s.election();
    let (shared, lost, conflicted) = (vote(e, 1, "Alice"), vote(e, 2, "Bob"), vote(e, 3, "Carol"));
    let pending = vote(e, 4, "Alice");
    let old = mine(&g, vec![shared.clone(), lost.clone(), conflicted.clone()]);
    added(s.add_block(old.clone(), NOW));
    assert_eq!(s.submit_vote(pending.clone()).map(|_| ()), Ok(()));

    // The new branch holds `shared`, a different vote of voter 3, and voter 4's pending vote.
    let other3 = vote(e, 3, "Alice");
    let n1 = mine(&g, vec![shared.clone(), other3.clone()]);
    let n2 = mine(&n1, vec![pending.clone()]);
    added(s.add_block(n1.clone(), NOW));
    let c = added(s.add_block(n2.clone(), NOW));
    assert_eq!(
        c.tip_change,
        Some(TipChange {
            left: vec![old.hash()],
            joined: vec![n1.hash(), n2.hash()],
            returned_votes: 1
        })
    );
    assert_eq!(s.pool().ids().copied().collect::<Vec<_>>(), vec![lost.id()]);
    assert_eq!(s.receipt(&lost.id()), Receipt::Pending);
    assert!(matches!(
        s.receipt(&shared.id()),
        Receipt::InBlock { height: 1, .. }
    ));
    assert!(matches!(
        s.receipt(&pending.id()),
        Receipt::InBlock { height: 2, .. }
    ));
    let why = VoteError::AlreadyVoted {
        voter: key(3).public(),
        earlier: other3.id(),
    };
    assert_eq!(
        s.receipt(&conflicted.id()),
        Receipt::Rejected { reason: why.into() }
    );
    let lines: Vec<u64> = s.tally().lines.iter().map(|l| l.votes).collect();
    assert_eq!(lines, vec![3, 0, 0]);

    // Back again: the old branch grows past the new one.
    let old2 = mine_chain(&old, 2, "old");
    added(s.add_block(old2[0].clone(), NOW));
    let c = added(s.add_block(old2[1].clone(), NOW));
    assert_eq!(c.tip_change.unwrap().left, vec![n2.hash(), n1.hash()]);
    assert_eq!(
        s.pool().ids().copied().collect::<Vec<_>>(),
        vec![pending.id()]
    );
    let why = VoteError::AlreadyVoted {
        voter: key(3).public(),
        earlier: conflicted.id(),
    };
    assert_eq!(
        s.receipt(&other3.id()),
        Receipt::Rejected { reason: why.into() }
    );
    assert_eq!(
        s.receipt(&lost.id()),
        Receipt::InBlock {
            height: 1,
            block: old.hash(),
            confirmations: 3,
            index: 1,
            proof: merkle::proof(&old.vote_ids(), 1).unwrap()
        }
    );
}

#[test]
fn deep_reorg_reports_net_change() {
    let mut s = state();
    let g = s.tip().clone();
    let a = mine_chain(&g, 5, "a");
    let b = mine_chain(&g, 8, "b");
    for blk in &a {
        added(s.add_block(blk.clone(), NOW));
    }
    // Deliver b's tip first: the rest wait as orphans and connect when b[0] arrives.
    for blk in b[1..].iter().rev() {
        let outcome = s.add_block(blk.clone(), NOW);
        assert_eq!(
            outcome,
            Ok(AddOutcome::Orphan {
                missing: blk.prev(),
                evicted: None
            })
        );
    }
    assert_eq!(s.stats().orphans, 7);
    let c = added(s.add_block(b[0].clone(), NOW));
    assert_eq!(c.added, hashes(&b));
    let mut left = hashes(&a);
    left.reverse();
    assert_eq!(
        c.tip_change,
        Some(TipChange {
            left,
            joined: hashes(&b),
            returned_votes: 0
        })
    );
    assert_eq!((s.height(), s.stats().orphans), (8, 0));
}

#[test]
fn duplicates_and_orphan_cases() {
    let config = ChainConfig {
        max_orphans: 2,
        ..ChainConfig::default()
    };
    let mut s = ChainState::new(&ballot(), config).unwrap();
    let g = s.tip().clone();
    let chain = mine_chain(&g, 5, "x");
    let first = s.add_block(chain[2].clone(), NOW);
    assert_eq!(
        first,
        Ok(AddOutcome::Orphan {
            missing: chain[1].hash(),
            evicted: None
        })
    );
    assert_eq!(
        s.add_block(chain[2].clone(), NOW),
        Ok(AddOutcome::Duplicate { orphan: true })
    );
    assert_eq!(
        s.add_block(chain[3].clone(), NOW),
        Ok(AddOutcome::Orphan {
            missing: chain[1].hash(),
            evicted: None
        }),
        "the missing block is the first ancestor held nowhere"
    );
    assert_eq!(
        s.add_block(chain[4].clone(), NOW),
        Ok(AddOutcome::Orphan {
            missing: chain[2].hash(),
            evicted: Some(chain[2].hash())
        }),
        "evicting the oldest orphan made it the missing one"
    );
    assert_eq!(s.stats().orphans_evicted, 1);
    added(s.add_block(chain[0].clone(), NOW));
    assert_eq!(
        s.add_block(chain[0].clone(), NOW),
        Ok(AddOutcome::Duplicate { orphan: false })
    );
    // chain[2] was evicted, so chain[3..] still wait; it arriving again connects everything.
    added(s.add_block(chain[1].clone(), NOW));
    let c = added(s.add_block(chain[2].clone(), NOW));
    assert_eq!(c.added, hashes(&chain[2..]));
    assert_eq!(s.tip_hash(), chain[4].hash());

    // An orphan rejected on connection takes its waiting descendants with it.
    let mut s = state();
    let e = s.election();
    let b1 = mine(&g, vec![]);
    let bad = mine(&b1, vec![vote(e, 1, "Nobody")]);
    let after = mine(&bad, vec![]);
    s.add_block(after.clone(), NOW).unwrap();
    s.add_block(bad.clone(), NOW).unwrap();
    let c = added(s.add_block(b1.clone(), NOW));
    assert_eq!(c.added, vec![b1.hash()]);
    assert_eq!(
        c.rejected_orphans,
        vec![
            (
                bad.hash(),
                ValidationError::Vote {
                    index: 0,
                    error: VoteError::UnknownChoice("Nobody".into())
                }
            ),
            (after.hash(), ValidationError::InvalidParent(bad.hash())),
        ]
    );
    assert_eq!(s.stats().orphans, 0);
}

#[test]
fn pool_rules() {
    let config = ChainConfig {
        max_pending_votes: 3,
        ..ChainConfig::default()
    };
    let mut s = ChainState::new(&ballot(), config).unwrap();
    let e = s.election();
    let v = |i, c| vote(e, i, c);
    assert!(s.submit_vote(v(1, "Alice")).is_ok());
    let again = s.submit_vote(v(1, "Bob")).unwrap_err();
    assert_eq!(
        again.reason,
        RejectReason::VoterPending {
            pending: v(1, "Alice").id()
        }
    );
    assert_eq!(
        s.receipt(&v(1, "Bob").id()),
        Receipt::Rejected {
            reason: again.reason
        }
    );
    let bad = s.submit_vote(v(2, "Dave")).unwrap_err();
    assert_eq!(bad.reason, VoteError::UnknownChoice("Dave".into()).into());
    let mut forged = v(2, "Alice");
    forged.signature.0[9] ^= 4;
    assert!(matches!(
        s.submit_vote(forged).unwrap_err().reason,
        RejectReason::Invalid(VoteError::Signature(_))
    ));

    for i in 2..=3 {
        s.submit_vote(v(i, "Carol")).unwrap();
    }
    // Full: the next vote is refused with a reason the voter can act on; nothing is evicted.
    let full = s.submit_vote(v(4, "Carol")).unwrap_err();
    assert_eq!(full.reason, RejectReason::PoolFull { capacity: 3 });
    assert_eq!(
        full.reason.to_string(),
        "the pending pool is full (3 votes); try again later"
    );
    assert_eq!(s.stats().pending_refused, 1);
    assert_eq!(
        s.receipt(&v(4, "Carol").id()),
        Receipt::Rejected {
            reason: full.reason.clone()
        }
    );
    assert_eq!(s.receipt(&v(1, "Alice").id()), Receipt::Pending);
    let ids: Vec<_> = s.pool().ids().copied().collect();
    assert_eq!(
        ids,
        vec![v(1, "Alice").id(), v(2, "Carol").id(), v(3, "Carol").id()]
    );

    // A block with a different vote of a pending voter drops the pending one.
    let b = mine(s.tip(), vec![v(3, "Alice"), v(2, "Carol")]);
    added(s.add_block(b, NOW));
    assert_eq!(
        s.pool().ids().copied().collect::<Vec<_>>(),
        vec![v(1, "Alice").id()]
    );
    // With room again, the refused vote is accepted when the voter retries.
    assert!(s.submit_vote(v(4, "Carol")).is_ok());
    assert_eq!(s.receipt(&v(4, "Carol").id()), Receipt::Pending);
    let why = VoteError::AlreadyVoted {
        voter: key(3).public(),
        earlier: v(3, "Alice").id(),
    };
    assert_eq!(
        s.receipt(&v(3, "Carol").id()),
        Receipt::Rejected {
            reason: why.clone().into()
        }
    );
    assert_eq!(
        s.submit_vote(v(3, "Bob")).unwrap_err().reason,
        VoteError::AlreadyVoted {
            voter: key(3).public(),
            earlier: v(3, "Alice").id()
        }
        .into()
    );
}

#[test]
fn template_takes_oldest_votes_up_to_the_limit() {
    let mut s = state();
    let e = s.election();
    let n = MAX_VOTES_PER_BLOCK as u32 + 5;
    let votes: Vec<_> = (0..n)
        .map(|i| vote(e, i, OPTIONS[i as usize % 3]))
        .collect();
    for v in &votes {
        s.submit_vote(v.clone()).unwrap();
    }
    let t = s.template(NOW, "me").unwrap();
    assert_eq!(t.votes(), &votes[..MAX_VOTES_PER_BLOCK]);
    added(s.add_block(seal(&t), NOW));
    assert_eq!(s.pool().len(), 5);
    assert_eq!(
        s.template(NOW, "me").unwrap().votes(),
        &votes[MAX_VOTES_PER_BLOCK..]
    );
    assert_eq!(s.tally().total(), MAX_VOTES_PER_BLOCK as u64);
}

#[test]
fn closing_rejects_pending_votes() {
    let mut closing = ballot();
    closing.closing_height = Some(1);
    let mut s = ChainState::new(&closing, ChainConfig::default()).unwrap();
    let e = s.election();
    s.submit_vote(vote(e, 1, "Alice")).unwrap();
    s.submit_vote(vote(e, 2, "Bob")).unwrap();
    let b1 = mine(s.tip(), vec![vote(e, 1, "Alice")]);
    added(s.add_block(b1, NOW));
    let closed = VoteError::BallotClosed {
        closing_height: 1,
        height: 2,
    };
    assert_eq!(
        s.receipt(&vote(e, 2, "Bob").id()),
        Receipt::Rejected {
            reason: closed.clone().into()
        }
    );
    assert_eq!(
        s.submit_vote(vote(e, 3, "Bob")).unwrap_err().reason,
        closed.into()
    );
    assert!(s.template(NOW, "me").unwrap().votes().is_empty());
}

#[test]
fn side_branches_are_capped_by_work() {
    let config = ChainConfig {
        max_side_blocks: 2,
        ..ChainConfig::default()
    };
    let mut s = ChainState::new(&ballot(), config).unwrap();
    let g = s.tip().clone();
    let main = mine_chain(&g, 3, "main");
    for b in &main {
        added(s.add_block(b.clone(), NOW));
    }
    let deep = mine_chain(&main[0], 1, "deep");
    let shallow = mine_chain(&g, 2, "shallow");
    added(s.add_block(deep[0].clone(), NOW));
    added(s.add_block(shallow[0].clone(), NOW));
    // Three side blocks: the least-work tip (the newest of equal work) goes.
    let c = added(s.add_block(shallow[1].clone(), NOW));
    assert_eq!(c.evicted, vec![shallow[1].hash()]);
    let stats = s.stats();
    assert_eq!((stats.side_blocks, stats.side_evicted), (2, 1));
    assert!(s.contains(&deep[0].hash()) && s.contains(&shallow[0].hash()));
    let other = mine_chain(&main[1], 1, "other");
    let c = added(s.add_block(other[0].clone(), NOW));
    assert_eq!(c.evicted, vec![shallow[0].hash()], "more work stays");
}

#[test]
fn side_branch_in_order_sees_its_own_voters_only() {
    let mut s = state();
    let g = s.tip().clone();
    let e = s.election();
    let a1 = mine(&g, vec![vote(e, 1, "Alice")]);
    let a2 = mine(&a1, vec![]);
    added(s.add_block(a1.clone(), NOW));
    added(s.add_block(a2.clone(), NOW));
    // A competing branch from genesis, added in order as a sync would.
    let s1 = mine(&g, vec![vote(e, 2, "Bob")]);
    added(s.add_block(s1.clone(), NOW));
    let s2 = mine(&s1, vec![vote(e, 3, "Bob")]);
    added(s.add_block(s2.clone(), NOW));
    let repeat = mine(&s2, vec![vote(e, 2, "Carol")]);
    let why = VoteError::AlreadyVoted {
        voter: key(2).public(),
        earlier: s1.votes()[0].id(),
    };
    assert_eq!(
        s.add_block(repeat, NOW),
        Err(ValidationError::Vote {
            index: 0,
            error: why
        })
    );
    // Voter 1 voted on the best chain above the fork, not on this branch.
    let s3 = mine(&s2, vec![vote(e, 1, "Bob")]);
    let c = added(s.add_block(s3.clone(), NOW));
    assert_eq!(c.tip_change.unwrap().left, vec![a2.hash(), a1.hash()]);
    assert_eq!(
        s.receipt(&a1.votes()[0].id()),
        Receipt::Rejected {
            reason: VoteError::AlreadyVoted {
                voter: key(1).public(),
                earlier: s3.votes()[0].id()
            }
            .into()
        }
    );
    let lines: Vec<u64> = s.tally().lines.iter().map(|l| l.votes).collect();
    assert_eq!(lines, vec![0, 3, 0]);
}
