//! Regression tests for the chain-level attacks of issue 9: acknowledged votes evicted from a full
//! pool (attack 7), side-block spam off old ancestors (attack 13) and arithmetic overflow on
//! hostile heights and timestamps (attack 14). Each failed (or panicked) before its fix.

mod state_support;

use state_support::*;
use votechain_chain::limits::MAX_FUTURE_DRIFT_MS;
use votechain_chain::validate::ValidationError;
use votechain_chain::{
    AddOutcome, Block, BlockFormatError, BlockTemplate, ChainConfig, ChainState, Hash, Receipt,
    RejectReason, SubmitOutcome, Vote,
};

fn added(r: Result<AddOutcome, ValidationError>) -> votechain_chain::Connected {
    match r {
        Ok(AddOutcome::Added(c)) => c,
        other => panic!("expected Added, got {other:?}"),
    }
}

#[test]
fn a_full_pool_refuses_new_votes_and_a_reorg_into_it_keeps_every_vote() {
    let config = ChainConfig {
        max_pending_votes: 3,
        ..ChainConfig::default()
    };
    let mut s = ChainState::new(&ballot(), config).unwrap();
    let e = s.election();
    let g = s.tip().clone();
    let v = |i: u32| vote(e, i, OPTIONS[i as usize % 3]);

    // Three votes go into a block on the best chain.
    for i in 4..=6 {
        s.submit_vote(v(i)).unwrap();
    }
    let a1 = seal(&s.template(NOW, "a").unwrap());
    assert_eq!(a1.votes().len(), 3);
    added(s.add_block(a1, NOW));
    assert!(s.pool().is_empty());

    // The pool fills; the next vote is refused and every accepted one stays.
    for i in 1..=3 {
        assert_eq!(
            s.submit_vote(v(i)),
            Ok(SubmitOutcome::Accepted { id: v(i).id() })
        );
    }
    let refused = s.submit_vote(v(7)).unwrap_err();
    assert_eq!(refused.reason, RejectReason::PoolFull { capacity: 3 });
    for i in 1..=3 {
        assert_eq!(s.receipt(&v(i).id()), Receipt::Pending);
    }

    // A heavier branch without a1 takes over: a1's three votes come back into the full pool,
    // past its cap, and nothing is evicted.
    let other = mine_chain(&g, 2, "b");
    added(s.add_block(other[0].clone(), NOW));
    let c = added(s.add_block(other[1].clone(), NOW));
    assert_eq!(c.tip_change.unwrap().returned_votes, 3);
    assert_eq!(s.pool().len(), 6);
    for i in 1..=6 {
        assert_eq!(s.receipt(&v(i).id()), Receipt::Pending, "vote {i}");
    }
    // New votes still wait for blocks to drain the pool.
    assert!(matches!(
        s.submit_vote(v(8)).unwrap_err().reason,
        RejectReason::PoolFull { .. }
    ));
}

#[test]
fn a_restart_restores_every_acknowledged_vote_past_the_cap() {
    let config = ChainConfig {
        max_pending_votes: 2,
        ..ChainConfig::default()
    };
    let mut s = ChainState::new(&ballot(), config).unwrap();
    let e = s.election();
    let votes: Vec<Vote> = (1..=4).map(|i| vote(e, i, "Alice")).collect();
    for v in &votes {
        assert!(matches!(
            s.restore_vote(v.clone()),
            Ok(SubmitOutcome::Accepted { .. })
        ));
    }
    assert_eq!(s.pool().len(), 4);
    // The rules other than the cap still apply to restored votes.
    let mut forged = vote(e, 9, "Alice");
    forged.signature.0[5] ^= 1;
    assert!(s.restore_vote(forged).is_err());
    assert!(matches!(
        s.submit_vote(vote(e, 10, "Bob")).unwrap_err().reason,
        RejectReason::PoolFull { capacity: 2 }
    ));
}

#[test]
fn side_block_spam_is_bounded_in_bytes_and_not_relayed() {
    let cap = 256 * 1024;
    let config = ChainConfig {
        max_side_bytes: cap,
        ..ChainConfig::default()
    };
    let mut s = ChainState::new(&ballot(), config).unwrap();
    let e = s.election();
    let g = s.tip().clone();
    let main = mine_chain(&g, 20, "main");
    for b in &main {
        added(s.add_block(b.clone(), NOW));
    }
    let tip = s.tip_hash();

    // 1,500 cheap blocks off genesis, all reusing the same votes (valid on that old branch).
    let votes: Vec<Vote> = (0..16).map(|i| vote(e, 100 + i, "Bob")).collect();
    let mut spam = Vec::new();
    for i in 0..1_500u64 {
        let t = BlockTemplate::new(g.hash(), 0, DIFFICULTY, NOW + i, "spam", votes.clone());
        let b = seal(&t.unwrap());
        added(s.add_block(b.clone(), NOW + 10_000));
        assert!(s.stats().side_bytes <= cap, "after {i} blocks");
        spam.push(b);
    }
    let stats = s.stats();
    assert!(
        stats.side_evicted > 0 && stats.side_blocks < 1_500,
        "{stats:?}"
    );
    let per_block = votechain_chain::state::side_block_bytes(&spam[0]);
    assert!(stats.side_blocks * per_block <= cap);
    assert_eq!(
        (s.tip_hash(), s.height()),
        (tip, 20),
        "best chain unaffected"
    );
    assert!(
        !spam.iter().any(|b| s.within_relay_distance(&b.hash())),
        "spam is not relayed"
    );
    assert!(s.within_relay_distance(&tip));

    // Blocks near the tip are relayed: a competing tip and its parent (two blocks' work back).
    let rival = mine_chain(&main[17], 2, "rival");
    for b in &rival {
        added(s.add_block(b.clone(), NOW + 10_000));
    }
    assert!(s.within_relay_distance(&rival[1].hash()));
    assert!(s.within_relay_distance(&rival[0].hash()));
    // Three blocks' work below the tip is too deep, even on the best chain.
    assert!(!s.within_relay_distance(&main[16].hash()));
    assert!(
        !s.within_relay_distance(&Hash([7; 32])),
        "unknown blocks are not relayed"
    );

    // An honest deep reorganisation still works under the byte cap: a heavier branch forking at
    // height 5, synced in order, outweighs the spam at every step and becomes the best chain.
    let heavy = mine_chain(&main[4], 20, "heavy");
    for b in &heavy {
        s.add_block(b.clone(), NOW + 10_000).unwrap();
    }
    assert_eq!(s.tip_hash(), heavy[19].hash());
    assert_eq!(s.height(), 25);
    assert!(s.stats().side_bytes <= cap);
}

#[test]
fn hostile_heights_and_timestamps_do_not_overflow() {
    let mut s = state();
    let g = s.tip().clone();
    // No child of a block at u64::MAX: an error, not an overflow panic.
    assert_eq!(
        BlockTemplate::new(g.hash(), u64::MAX, DIFFICULTY, NOW, "m", vec![]).unwrap_err(),
        BlockFormatError::HeightOverflow(u64::MAX)
    );
    // A block claiming height u64::MAX with an unknown parent waits as an orphan; on a known
    // parent it breaks the height rule; either way nothing panics.
    let t = BlockTemplate::new(Hash([3; 32]), u64::MAX - 1, DIFFICULTY, NOW, "m", vec![]);
    let high = seal(&t.unwrap());
    assert_eq!(high.height(), u64::MAX);
    let wire = serde_json::to_string(&high).unwrap();
    assert_eq!(serde_json::from_str::<Block>(&wire).unwrap(), high);
    assert_eq!(
        s.check_block(&high, NOW),
        Err(ValidationError::UnknownParent(Hash([3; 32])))
    );
    assert!(matches!(
        s.add_block(high, NOW),
        Ok(AddOutcome::Orphan { .. })
    ));
    let t = BlockTemplate::new(g.hash(), u64::MAX - 1, DIFFICULTY, NOW, "m", vec![]);
    let high_on_genesis = seal(&t.unwrap());
    assert_eq!(
        s.add_block(high_on_genesis, NOW),
        Err(ValidationError::Height {
            expected: 1,
            found: u64::MAX
        })
    );
    // A timestamp of u64::MAX is too far ahead of any clock short of the end of time, where the
    // drift bound saturates instead of wrapping.
    let t = BlockTemplate::new(g.hash(), 0, DIFFICULTY, u64::MAX, "m", vec![]);
    let late = seal(&t.unwrap());
    for now in [NOW, u64::MAX - MAX_FUTURE_DRIFT_MS - 1] {
        assert!(matches!(
            s.add_block(late.clone(), now),
            Err(ValidationError::FutureTimestamp { .. })
        ));
    }
    let t = BlockTemplate::new(g.hash(), 0, DIFFICULTY, u64::MAX, "m", vec![]);
    assert!(s.add_block(seal(&t.unwrap()), u64::MAX).is_ok());
    // A template on that tip, at the end of time, still works.
    assert!(s.template(u64::MAX, "m").is_ok());
    assert_eq!(s.height(), 1);
}
