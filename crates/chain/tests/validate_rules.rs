//! One test per validity rule: a valid case, then each way to break the rule, asserting the exact
//! `ValidationError` (or `VoteError`) variant that names it.

mod state_support;

use state_support::*;
use votechain_chain::limits::MAX_FUTURE_DRIFT_MS;
use votechain_chain::validate::{
    check_header, check_vote, check_votes_root, verify_blocks, ValidationError, VoteError,
};
use votechain_chain::{
    AddOutcome, Ballot, Block, BlockTemplate, ChainConfig, ChainState, Hash, PublicKey,
    SignatureError, Vote,
};

fn vote_err(index: usize, error: VoteError) -> Result<(), ValidationError> {
    Err(ValidationError::Vote { index, error })
}

fn genesis(s: &ChainState) -> Block {
    s.tip().clone()
}

#[test]
fn a_valid_block_passes_and_is_added() {
    let mut s = state();
    let b = mine(&genesis(&s), vec![vote(s.election(), 1, "Alice")]);
    assert_eq!(s.check_block(&b, NOW), Ok(()));
    assert!(matches!(
        s.add_block(b.clone(), NOW),
        Ok(AddOutcome::Added(_))
    ));
    assert_eq!(s.tip_hash(), b.hash());
}

#[test]
fn proof_of_work_rules() {
    let s = state();
    let g = genesis(&s);
    let other_difficulty = seal(&template(&g, DIFFICULTY + 1, vec![]));
    assert_eq!(
        s.check_block(&other_difficulty, NOW),
        Err(ValidationError::Difficulty {
            expected: DIFFICULTY,
            found: DIFFICULTY + 1
        })
    );
    let weak = seal_weak(&template(&g, DIFFICULTY, vec![]));
    let zeros = weak.hash().leading_zero_bits();
    assert_eq!(
        s.check_block(&weak, NOW),
        Err(ValidationError::ProofOfWork {
            required: DIFFICULTY,
            zeros
        })
    );
}

#[test]
fn link_and_height_rules() {
    let s = state();
    let g = genesis(&s);
    let unknown = Hash([7; 32]);
    let t = BlockTemplate::new(unknown, 0, DIFFICULTY, NOW, "m", vec![]).unwrap();
    assert_eq!(
        s.check_block(&seal(&t), NOW),
        Err(ValidationError::UnknownParent(unknown))
    );

    let t = BlockTemplate::new(g.hash(), 4, DIFFICULTY, NOW, "m", vec![]).unwrap();
    assert_eq!(
        s.check_block(&seal(&t), NOW),
        Err(ValidationError::Height {
            expected: 1,
            found: 5
        })
    );

    // The free function also checks that the header names the parent it is checked against.
    let b = mine(&g, vec![]);
    let c = mine(&b, vec![]);
    let (h, p) = (c.header(), g.header());
    assert_eq!(
        check_header(h, &c.hash(), p, &g.hash(), DIFFICULTY, NOW),
        Err(ValidationError::PrevMismatch {
            expected: g.hash(),
            found: b.hash()
        })
    );
    assert_eq!(
        check_header(h, &c.hash(), b.header(), &b.hash(), DIFFICULTY, NOW),
        Ok(())
    );
}

#[test]
fn timestamp_rules() {
    let s = state();
    let g = genesis(&s);
    let at = |ts: u64| seal(&BlockTemplate::new(g.hash(), 0, DIFFICULTY, ts, "m", vec![]).unwrap());
    assert_eq!(s.check_block(&at(NOW + MAX_FUTURE_DRIFT_MS), NOW), Ok(()));
    assert_eq!(
        s.check_block(&at(NOW + MAX_FUTURE_DRIFT_MS + 1), NOW),
        Err(ValidationError::FutureTimestamp {
            timestamp_ms: NOW + MAX_FUTURE_DRIFT_MS + 1,
            now_ms: NOW
        })
    );

    let mut s = state();
    let parent = at(NOW);
    s.add_block(parent.clone(), NOW).unwrap();
    let same = seal(&BlockTemplate::new(parent.hash(), 1, DIFFICULTY, NOW, "m", vec![]).unwrap());
    assert_eq!(
        s.check_block(&same, NOW),
        Ok(()),
        "equal to the parent's is fine"
    );
    let early =
        seal(&BlockTemplate::new(parent.hash(), 1, DIFFICULTY, NOW - 1, "m", vec![]).unwrap());
    assert_eq!(
        s.check_block(&early, NOW),
        Err(ValidationError::TimestampBeforeParent {
            timestamp_ms: NOW - 1,
            parent_ms: NOW
        })
    );
}

#[test]
fn votes_root_rule() {
    let e = Hash([1; 32]);
    let g = Block::genesis(&ballot()).unwrap();
    let b = mine(&g, vec![vote(e, 1, "Alice"), vote(e, 2, "Bob")]);
    assert_eq!(check_votes_root(b.header(), b.votes()), Ok(()));
    assert_eq!(
        check_votes_root(b.header(), &b.votes()[..1]),
        Err(ValidationError::VoteCount { header: 2, body: 1 })
    );
    let swapped = vec![b.votes()[1].clone(), b.votes()[0].clone()];
    assert!(matches!(
        check_votes_root(b.header(), &swapped),
        Err(ValidationError::VotesRoot { found, .. }) if found == b.header().payload_root
    ));
}

#[test]
fn foreign_genesis_is_rejected() {
    let mut s = state();
    let other = Block::genesis(&Ballot::open("Other", &["x", "y"], DIFFICULTY)).unwrap();
    assert_eq!(
        s.add_block(other.clone(), NOW),
        Err(ValidationError::ForeignGenesis(other.hash()))
    );
    let own = genesis(&s);
    assert_eq!(
        s.add_block(own, NOW),
        Ok(AddOutcome::Duplicate { orphan: false })
    );
}

#[test]
fn signature_rule() {
    let s = state();
    let g = genesis(&s);
    let mut forged = vote(s.election(), 1, "Alice");
    forged.signature.0[5] ^= 0x10;
    let b = mine(&g, vec![vote(s.election(), 2, "Bob"), forged]);
    assert_eq!(
        s.check_block(&b, NOW),
        vote_err(1, SignatureError::BadSignature.into())
    );

    // A voter key that is not a curve point.
    let not_a_point = (0u8..=255)
        .map(|i| PublicKey([i; 32]))
        .find(|k| ed25519_dalek::VerifyingKey::from_bytes(&k.0).is_err())
        .unwrap();
    let mut bad_key = vote(s.election(), 3, "Alice");
    bad_key.voter = not_a_point;
    let b = mine(&g, vec![bad_key]);
    assert_eq!(
        s.check_block(&b, NOW),
        vote_err(0, SignatureError::BadKey.into())
    );
}

#[test]
fn election_choice_and_roll_rules() {
    let s = state();
    let g = genesis(&s);
    let other = Hash([3; 32]);
    let b = mine(&g, vec![vote(other, 1, "Alice")]);
    assert_eq!(
        s.check_block(&b, NOW),
        vote_err(
            0,
            VoteError::WrongElection {
                expected: s.election(),
                found: other
            }
        )
    );
    let b = mine(&g, vec![vote(s.election(), 1, "Dave")]);
    assert_eq!(
        s.check_block(&b, NOW),
        vote_err(0, VoteError::UnknownChoice("Dave".into()))
    );

    let mut rolled = ballot();
    rolled.voters = Some(vec![key(1).public(), key(2).public()]);
    let s = ChainState::new(&rolled, ChainConfig::default()).unwrap();
    let g = genesis(&s);
    let ok = mine(
        &g,
        vec![vote(s.election(), 1, "Alice"), vote(s.election(), 2, "Bob")],
    );
    assert_eq!(s.check_block(&ok, NOW), Ok(()));
    let b = mine(
        &g,
        vec![vote(s.election(), 1, "Alice"), vote(s.election(), 9, "Bob")],
    );
    assert_eq!(
        s.check_block(&b, NOW),
        vote_err(1, VoteError::NotOnRoll(key(9).public()))
    );
}

#[test]
fn one_vote_per_voter_per_block_and_per_branch() {
    let mut s = state();
    let g = genesis(&s);
    let e = s.election();
    let twice = mine(&g, vec![vote(e, 1, "Alice"), vote(e, 1, "Bob")]);
    assert_eq!(
        s.check_block(&twice, NOW),
        vote_err(1, VoteError::DuplicateVoter(key(1).public()))
    );

    let first = vote(e, 1, "Alice");
    let b1 = mine(&g, vec![first.clone()]);
    s.add_block(b1.clone(), NOW).unwrap();
    for again in [vote(e, 1, "Bob"), first.clone()] {
        let b2 = mine(&b1, vec![vote(e, 2, "Bob"), again]);
        assert_eq!(
            s.check_block(&b2, NOW),
            vote_err(
                1,
                VoteError::AlreadyVoted {
                    voter: key(1).public(),
                    earlier: first.id()
                }
            )
        );
    }
    // On a side branch forking below b1, voter 1 has not voted yet.
    let side = mine_chain(&g, 1, "side").remove(0);
    s.add_block(side.clone(), NOW).unwrap();
    assert_eq!(
        s.check_block(&mine(&side, vec![vote(e, 1, "Bob")]), NOW),
        Ok(())
    );
    // A side branch's own votes count on that branch.
    let side2 = mine(&side, vec![vote(e, 5, "Carol")]);
    s.add_block(side2.clone(), NOW).unwrap();
    assert_eq!(
        s.check_block(&mine(&side2, vec![vote(e, 5, "Alice")]), NOW),
        vote_err(
            0,
            VoteError::AlreadyVoted {
                voter: key(5).public(),
                earlier: side2.votes()[0].id()
            }
        )
    );
}

#[test]
fn ballot_closed_rule() {
    let mut closing = ballot();
    closing.closing_height = Some(1);
    let mut s = ChainState::new(&closing, ChainConfig::default()).unwrap();
    let e = s.election();
    let b1 = mine(&genesis(&s), vec![vote(e, 1, "Alice")]);
    assert_eq!(
        s.check_block(&b1, NOW),
        Ok(()),
        "votes at the closing height still count"
    );
    s.add_block(b1.clone(), NOW).unwrap();
    assert_eq!(
        s.check_block(&mine(&b1, vec![]), NOW),
        Ok(()),
        "empty blocks go on"
    );
    assert_eq!(
        s.check_block(&mine(&b1, vec![vote(e, 2, "Bob")]), NOW),
        vote_err(
            0,
            VoteError::BallotClosed {
                closing_height: 1,
                height: 2
            }
        )
    );
}

#[test]
fn stateless_check_vote() {
    let b = ballot();
    let e = Block::genesis(&b).unwrap().hash();
    assert_eq!(check_vote(&vote(e, 1, "Bob"), &b, &e), Ok(()));
    let other = Hash([2; 32]);
    assert_eq!(
        check_vote(&vote(other, 1, "Bob"), &b, &e),
        Err(VoteError::WrongElection {
            expected: e,
            found: other
        })
    );
    assert_eq!(
        check_vote(&vote(e, 1, "Zed"), &b, &e),
        Err(VoteError::UnknownChoice("Zed".into()))
    );
    let mut forged = vote(e, 1, "Bob");
    forged.choice = "Alice".into();
    assert_eq!(
        check_vote(&forged, &b, &e),
        Err(SignatureError::BadSignature.into())
    );
    let mut rolled = b.clone();
    rolled.voters = Some(vec![key(2).public()]);
    assert_eq!(
        check_vote(&vote(e, 1, "Bob"), &rolled, &e),
        Err(VoteError::NotOnRoll(key(1).public()))
    );
}

#[test]
fn batch_verification_pins_the_bad_vote_of_the_bad_block() {
    let mut s = state();
    let e = s.election();
    let mut blocks = Vec::new();
    let mut parent = genesis(&s);
    for i in 0..40u32 {
        let mut votes: Vec<Vote> = (0..3)
            .map(|j| vote(e, i * 3 + j, OPTIONS[j as usize]))
            .collect();
        if i == 17 {
            votes[2].signature.0[0] ^= 1;
        }
        let b = mine(&parent, votes);
        parent = b.clone();
        blocks.push(b);
    }
    let results = verify_blocks(blocks.clone(), s.ballot().difficulty);
    for (i, r) in results.into_iter().enumerate() {
        match r {
            Ok(verified) => {
                assert_ne!(i, 17);
                assert_eq!(verified.block(), &blocks[i]);
                if i < 17 {
                    assert!(matches!(
                        s.add_verified(verified, NOW),
                        Ok(AddOutcome::Added(_))
                    ));
                }
            }
            Err((block, e)) => {
                assert_eq!(i, 17);
                assert_eq!(block, blocks[17]);
                assert_eq!(
                    e,
                    ValidationError::Vote {
                        index: 2,
                        error: SignatureError::BadSignature.into()
                    }
                );
            }
        }
    }
    assert_eq!(s.height(), 17);
    // Without the batch proof, the state finds the same error itself.
    assert_eq!(
        s.add_block(blocks[17].clone(), NOW),
        Err(ValidationError::Vote {
            index: 2,
            error: SignatureError::BadSignature.into()
        })
    );
}
