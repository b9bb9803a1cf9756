//! The spec's three test vectors, a one-character change to each, the limits, the difficulty
//! test on nibbles and the malleability of the hash rule.

use super::*;
use crate::limits::DEFAULT_DIFFICULTY;

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn hash(hex: &str) -> Hash {
    Hash::from_hex(hex).unwrap()
}

/// Fall 2024 genesis (height 0).
pub(crate) fn fall2024_genesis() -> CourseBlock {
    CourseBlock {
        height: 0,
        mined_by: "Prof!".into(),
        messages: strings(&["Keep it", "simple.", "Veni", "vidi", "vici"]),
        nonce: "663135608617883".into(),
        timestamp: 1730910874,
        hash: hash("75977fa09516d028befa0695e16c93be20271b66630236d38718e35700000000"),
    }
}

/// Fall 2024 height 1.
pub(crate) fn fall2024_one() -> CourseBlock {
    CourseBlock {
        height: 1,
        mined_by: "Prof!".into(),
        messages: strings(&["test"]),
        nonce: "4776171179467".into(),
        timestamp: 1730974785,
        hash: hash("5c25ae996e712fc8e93c10a1b9fd3b42dd408aaa65f4c3e4dfe8982800000000"),
    }
}

/// Fall 2023 genesis (height 0).
pub(crate) fn fall2023_genesis() -> CourseBlock {
    CourseBlock {
        height: 0,
        mined_by: "Prof!".into(),
        messages: strings(&[
            "3010 rocks",
            "Warning:",
            "Procrastinators",
            "will be sent back",
            "in time to start",
            "early.",
        ]),
        nonce: "7965175207940".into(),
        timestamp: 1699293749,
        hash: hash("2483cc5c0d2fdbeeba3c942bde825270f345b2e9cd28f22d12ba347300000000"),
    }
}

#[test]
fn the_spec_vectors_validate_at_difficulty_8() {
    let g24 = fall2024_genesis();
    let one = fall2024_one();
    let g23 = fall2023_genesis();
    assert_eq!(g24.verify_after(None, DEFAULT_DIFFICULTY), Ok(()));
    assert_eq!(one.verify_after(Some(&g24), DEFAULT_DIFFICULTY), Ok(()));
    assert_eq!(g23.verify_after(None, DEFAULT_DIFFICULTY), Ok(()));
    // Exactly eight zeros: difficulty 9 (the competition network's) refuses them.
    assert_eq!(
        g24.check_alone(None, 9),
        Err(CourseError::NotEnoughWork { difficulty: 9 })
    );
}

/// Every one-character change of every field breaks the block.
#[test]
fn a_one_character_change_breaks_each_vector() {
    let cases = [
        (fall2024_genesis(), None),
        (fall2024_one(), Some(fall2024_genesis())),
        (fall2023_genesis(), None),
    ];
    for (block, parent) in cases {
        let prev = parent.as_ref().map(|p| &p.hash);
        let mut variants = Vec::new();
        let mut b = block.clone();
        b.mined_by.push('?');
        variants.push(b);
        let mut b = block.clone();
        b.nonce.replace_range(0..1, "9");
        variants.push(b);
        let mut b = block.clone();
        b.timestamp += 1;
        variants.push(b);
        for i in 0..block.messages.len() {
            let mut b = block.clone();
            b.messages[i].replace_range(0..1, "X");
            variants.push(b);
        }
        for variant in variants {
            assert!(
                matches!(
                    variant.check_alone(prev, DEFAULT_DIFFICULTY),
                    Err(CourseError::HashMismatch { .. })
                ),
                "{variant:?}"
            );
        }
        // The claimed hash changed by one hex digit no longer matches either.
        let mut b = block.clone();
        b.hash.0[0] ^= 0x10;
        assert!(matches!(
            b.check_alone(prev, DEFAULT_DIFFICULTY),
            Err(CourseError::HashMismatch { .. })
        ));
    }
    // Height 1 after the wrong parent, and at the wrong height.
    let one = fall2024_one();
    assert_eq!(
        one.verify_after(Some(&fall2023_genesis()), DEFAULT_DIFFICULTY),
        Err(CourseError::BadLink {
            parent: fall2023_genesis().hash
        })
    );
    assert_eq!(
        one.verify_after(None, DEFAULT_DIFFICULTY),
        Err(CourseError::WrongHeight {
            expected: 0,
            got: 1
        })
    );
}

#[test]
fn the_hash_rule_is_malleable_across_message_boundaries() {
    let a = course_hash(None, "m", &strings(&["ab", "c"]), 7, "n");
    let b = course_hash(None, "m", &strings(&["a", "bc"]), 7, "n");
    assert_eq!(a, b);
    // And across minedBy and the first message, and the last message and the timestamp? The
    // timestamp has a fixed width, so only string boundaries move.
    let c = course_hash(None, "ma", &strings(&["bc"]), 7, "n");
    assert_eq!(a, c);
    // Both bodies are valid blocks with the same hash: the course rule accepts either.
    let mut x = fall2024_genesis();
    x.messages = strings(&["Keep itsimple.", "Veni", "vidi", "vici"]);
    assert_eq!(x.check_alone(None, DEFAULT_DIFFICULTY), Ok(()));
    assert_ne!(x, fall2024_genesis());
}

#[test]
fn the_limits_are_enforced() {
    let mut b = fall2024_genesis();
    b.messages.clear();
    assert_eq!(b.check_format(), Err(CourseError::NoMessages));
    b.messages = vec!["x".into(); 11];
    assert_eq!(
        b.check_format(),
        Err(CourseError::TooManyMessages { count: 11 })
    );
    b.messages = vec!["x".into(); 10];
    assert_eq!(b.check_format(), Ok(()));
    // Characters, not bytes: twenty 'é' are 40 bytes and allowed.
    b.messages = vec!["é".repeat(20), "é".repeat(21)];
    assert_eq!(
        b.check_format(),
        Err(CourseError::MessageTooLong {
            index: 1,
            chars: 21
        })
    );
    b.messages = vec!["ok".into()];
    b.nonce = "1".repeat(39);
    assert_eq!(b.check_format(), Ok(()));
    b.nonce.push('1');
    assert_eq!(
        b.check_format(),
        Err(CourseError::NonceTooLong { chars: 40 })
    );
    b.nonce = "1".into();
    b.mined_by = "m".repeat(257);
    assert_eq!(
        b.check_format(),
        Err(CourseError::MinedByTooLong { chars: 257 })
    );
}

#[test]
fn difficulty_counts_trailing_hex_zeros() {
    let mut h = Hash([0xff; 32]);
    assert!(meets_difficulty(&h, 0));
    assert!(!meets_difficulty(&h, 1));
    h.0[31] = 0xf0;
    assert!(meets_difficulty(&h, 1));
    assert!(!meets_difficulty(&h, 2));
    h.0[31] = 0x00;
    h.0[30] = 0x01;
    assert!(meets_difficulty(&h, 2));
    assert!(!meets_difficulty(&h, 3));
    for d in 0..=66u32 {
        let hex = h.to_hex();
        let zeros = hex.len() - hex.trim_end_matches('0').len();
        assert_eq!(meets_difficulty(&h, d), zeros as u32 >= d, "{d}");
    }
    assert!(meets_difficulty(&Hash::ZERO, 64));
    assert!(!meets_difficulty(&Hash::ZERO, 65));
}
