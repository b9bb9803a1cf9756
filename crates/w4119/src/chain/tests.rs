//! Chain growth, every refusal at the tip, whole-chain validation, and fork choice: the longer
//! chain wins with the blocks it drops reported, an equal one wins only with a lower tip hash.

use super::*;
use crate::block::tests::{mined, DIFFICULTY};
use crate::block::GENESIS_HASH;

/// Genesis and `n` blocks of one vote each on it, the voters named `prefix0`, `prefix1`, ...
fn grown(n: usize, prefix: &str) -> W4119Chain {
    let mut chain = W4119Chain::new(DIFFICULTY);
    for i in 0..n {
        let block = mined(chain.tip(), &[(&format!("{prefix}{i}"), "Adam")]);
        chain.try_append(block).unwrap();
    }
    chain
}

#[test]
fn a_new_chain_is_the_genesis_block() {
    let chain = W4119Chain::new(DIFFICULTY);
    assert_eq!((chain.len(), chain.height()), (1, 0));
    assert!(!chain.is_empty());
    assert_eq!(chain.tip().hash, GENESIS_HASH);
    assert_eq!(chain.get(0), Some(chain.tip()));
    assert_eq!(chain.get(1), None);
    assert_eq!(chain.get(u64::MAX), None);
}

#[test]
fn append_takes_valid_blocks_and_refuses_the_rest() {
    let mut chain = grown(2, "v");
    assert_eq!((chain.len(), chain.height()), (3, 2));
    let next = mined(chain.tip(), &[("w", "Bob")]);

    let mut wrong_index = next.clone();
    wrong_index.index = 7;
    assert!(matches!(
        chain.try_append(wrong_index),
        Err(W4119Error::WrongIndex {
            expected: 3,
            got: 7
        })
    ));
    let mut bad_link = next.clone();
    bad_link.previous_hash = GENESIS_HASH.into();
    assert!(matches!(
        chain.try_append(bad_link),
        Err(W4119Error::BadLink { .. })
    ));
    let mut bad_hash = next.clone();
    bad_hash.nonce += 1;
    assert!(matches!(
        chain.try_append(bad_hash),
        Err(W4119Error::HashMismatch { .. })
    ));
    let mut strict = chain.clone();
    strict.difficulty = 64;
    assert_eq!(
        strict.try_append(next.clone()),
        Err(W4119Error::NotEnoughWork { difficulty: 64 })
    );
    assert_eq!(chain.len(), 3, "refused blocks leave the chain alone");

    chain.try_append(next.clone()).unwrap();
    assert_eq!(chain.tip(), &next);
    // The same block twice is a wrong index the second time.
    assert!(chain.try_append(next).is_err());
}

#[test]
fn validate_chain_names_the_first_bad_block() {
    let chain = grown(3, "v");
    let blocks = chain.blocks().to_vec();
    assert_eq!(
        W4119Chain::validate_chain(blocks.clone(), DIFFICULTY),
        Ok(chain.clone())
    );
    assert_eq!(
        W4119Chain::validate_chain(blocks[1..].to_vec(), DIFFICULTY),
        Err((0, W4119Error::NotGenesis))
    );
    assert_eq!(
        W4119Chain::validate_chain(Vec::new(), DIFFICULTY),
        Err((0, W4119Error::NotGenesis))
    );
    let mut forged = blocks.clone();
    forged[2].transactions.clear();
    let (position, why) = W4119Chain::validate_chain(forged, DIFFICULTY).unwrap_err();
    assert_eq!(position, 2);
    assert!(matches!(why, W4119Error::HashMismatch { .. }));
    let mut swapped = blocks;
    swapped.swap(2, 3);
    assert_eq!(
        W4119Chain::validate_chain(swapped, DIFFICULTY)
            .unwrap_err()
            .0,
        2
    );
}

#[test]
fn a_longer_fork_wins_and_says_what_it_drops() {
    let mut ours = grown(3, "ours");
    // A fork from block 1: ours[0..2] then three blocks of theirs.
    let mut theirs = ours.clone();
    theirs.truncate(2);
    for i in 0..3 {
        let block = mined(theirs.tip(), &[(&format!("theirs{i}"), "Bob")]);
        theirs.try_append(block).unwrap();
    }
    assert_eq!(theirs.len(), 5);
    assert_eq!(ours.fork_point(&theirs), 2);
    assert_eq!(theirs.fork_point(&ours), 2);
    assert_eq!(ours.fork_point(&ours), 4);
    assert_eq!(ours.replaced_from(2), &ours.blocks()[2..]);
    assert_eq!(
        ours.replaced_from(0),
        &ours.blocks()[1..],
        "never the genesis block"
    );
    assert!(ours.replaced_from(4).is_empty());
    assert!(ours.replaced_from(u64::MAX).is_empty());

    assert!(ours.prefers(&theirs));
    assert!(!theirs.prefers(&ours));
    let dropped_expected = ours.blocks()[2..].to_vec();
    assert_eq!(ours.adopt(theirs.clone()), Some(dropped_expected));
    assert_eq!(ours, theirs);
}

#[test]
fn an_equal_fork_wins_by_its_lower_tip_hash_and_an_extension_drops_nothing() {
    let (a, b) = (grown(2, "a"), grown(2, "b"));
    assert_eq!(a.fork_point(&b), 1);
    let (low, high) = match a.tip().hash < b.tip().hash {
        true => (a, b),
        false => (b, a),
    };
    // Both sides pick the same branch.
    assert!(high.prefers(&low));
    assert!(!low.prefers(&high));
    assert!(!low.prefers(&low.clone()));
    let mut ours = high.clone();
    let dropped = high.blocks()[1..].to_vec();
    assert_eq!(ours.adopt(low.clone()), Some(dropped));
    assert_eq!(ours, low);

    let mut longer = ours.clone();
    let block = mined(longer.tip(), &[("c", "Adam")]);
    longer.try_append(block).unwrap();
    assert_eq!(ours.adopt(longer.clone()), Some(Vec::new()));
    assert_eq!(ours, longer);

    // A longer chain at another difficulty is not comparable.
    let mut easy = grown(5, "e");
    easy.difficulty = 0;
    assert!(!ours.prefers(&easy));
}

#[test]
fn truncate_keeps_the_genesis_block() {
    let mut chain = grown(2, "v");
    chain.truncate(0);
    assert_eq!(chain.len(), 1);
    assert!(chain.tip().is_genesis());
    chain.truncate(9);
    assert_eq!(chain.len(), 1);
}
