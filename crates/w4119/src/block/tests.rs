//! Block checks: each refusal, the exact-string hash comparison, the limits, and reading the JSON
//! form with its missing and mistyped fields. (The byte-exact hash fixtures are in
//! `tests/fixtures.rs`.) Also the helpers other modules' tests mine blocks with.

use super::*;
use crate::miner::{mine, BlockTemplate};
use crate::pyjson::PyJsonError;
use std::sync::atomic::{AtomicBool, AtomicU64};

/// The difficulty the tests mine at: W4119's own, a few hundred attempts a block.
pub(crate) const DIFFICULTY: u32 = 2;

/// A block after `parent` holding one vote per `(voter, choice)`, mined at [`DIFFICULTY`].
pub(crate) fn mined(parent: &W4119Block, votes: &[(&str, &str)]) -> W4119Block {
    let transactions = votes
        .iter()
        .map(|(voter, choice)| Transaction::vote(voter, choice, "2025-01-01 12:00:00"))
        .collect();
    mine_template(&BlockTemplate::after(
        parent,
        transactions,
        format!("2025-01-01 12:{:02}:00", parent.index % 60),
    ))
}

/// Mines `template` at [`DIFFICULTY`].
pub(crate) fn mine_template(template: &BlockTemplate) -> W4119Block {
    mine(
        template,
        DIFFICULTY,
        &AtomicBool::new(false),
        &AtomicU64::new(0),
    )
    .expect("difficulty 2 is always reached")
}

#[test]
fn genesis_is_fixed_and_needs_no_work() {
    let g = genesis();
    assert!(g.is_genesis());
    assert_eq!(g.compute_hash(), GENESIS_HASH);
    assert_eq!(g.check_alone(0), Ok(()));
    assert_eq!(
        g.check_alone(DIFFICULTY),
        Err(W4119Error::NotEnoughWork { difficulty: 2 })
    );
    let mut other = genesis();
    other.timestamp = "2000-01-01 00:00:01".into();
    assert!(!other.is_genesis());
}

#[test]
fn meets_difficulty_is_pythons_startswith() {
    assert!(meets_difficulty("00ab", 2));
    assert!(meets_difficulty("00ab", 0));
    assert!(!meets_difficulty("0ab", 2));
    assert!(!meets_difficulty("0", 2));
    assert!(meets_difficulty("00", 2));
    assert!(!meets_difficulty("00", u32::MAX));
    let mut digest = [0u8; 32];
    digest[1] = 0x0f;
    assert!(digest_meets_difficulty(&digest, 3));
    assert!(!digest_meets_difficulty(&digest, 4));
    digest[1] = 0x10;
    assert!(!digest_meets_difficulty(&digest, 3));
    assert!(digest_meets_difficulty(&[0u8; 32], 64));
    assert!(!digest_meets_difficulty(&[0u8; 32], 65));
}

#[test]
fn each_refusal_after_a_parent() {
    let g = genesis();
    let one = mined(&g, &[("alice", "Adam")]);
    assert_eq!(one.verify_after(&g, DIFFICULTY), Ok(()));

    let mut wrong_index = one.clone();
    wrong_index.index = 2;
    assert_eq!(
        wrong_index.verify_after(&g, DIFFICULTY),
        Err(W4119Error::WrongIndex {
            expected: 1,
            got: 2
        })
    );

    let mut bad_link = one.clone();
    bad_link.previous_hash = "0".into();
    assert!(matches!(
        bad_link.verify_after(&g, DIFFICULTY),
        Err(W4119Error::BadLink { .. })
    ));

    let mut altered = one.clone();
    altered.transactions[0] = Transaction::vote("alice", "Bob", "2025-01-01 12:00:00");
    let Err(W4119Error::HashMismatch { claimed, actual }) = altered.verify_after(&g, DIFFICULTY)
    else {
        panic!("an altered vote must not keep its hash");
    };
    assert_eq!(
        (claimed, actual),
        (one.hash.clone(), altered.compute_hash())
    );

    // Enough work for 2 zeros is not enough for 64.
    assert_eq!(
        one.verify_after(&g, 64),
        Err(W4119Error::NotEnoughWork { difficulty: 64 })
    );
}

#[test]
fn an_upper_case_hash_is_refused_as_python_compares_strings() {
    let one = mined(&genesis(), &[("alice", "Adam")]);
    let mut upper = one.clone();
    upper.hash = one.hash.to_uppercase();
    assert!(upper.hash != one.hash, "the hash has letters");
    assert!(matches!(
        upper.check_alone(DIFFICULTY),
        Err(W4119Error::HashMismatch { .. })
    ));
}

#[test]
fn a_transaction_w4119_would_refuse_is_refused_and_extra_keys_are_not_hashed() {
    let g = genesis();
    let plain = mined(&g, &[("alice", "Adam")]);
    let mut extra = plain.clone();
    let mut fields = extra.transactions[0].fields().clone();
    fields.insert("note", "not hashed".into());
    extra.transactions[0] = Transaction::from_fields(fields);
    assert_eq!(extra.compute_hash(), plain.compute_hash());
    assert_eq!(extra.check_alone(DIFFICULTY), Ok(()));
    for key in Transaction::HASHED {
        let mut fields = PyDict::new();
        for (k, v) in plain.transactions[0].fields().iter() {
            if k != key {
                fields.insert(k, v.clone());
            }
        }
        let mut missing = plain.clone();
        missing.transactions[0] = Transaction::from_fields(fields);
        assert!(matches!(
            missing.check_alone(DIFFICULTY),
            Err(W4119Error::Transaction { position: 0, .. })
        ));
    }
    for empty in [
        PyValue::Null,
        PyValue::from(""),
        PyValue::Int(0),
        PyValue::Bool(false),
    ] {
        let mut fields = plain.transactions[0].fields().clone();
        fields.insert("timestamp", empty);
        let mut stamped = plain.clone();
        stamped.transactions[0] = Transaction::from_fields(fields);
        assert!(matches!(
            stamped.check_alone(DIFFICULTY),
            Err(W4119Error::Transaction { position: 0, .. })
        ));
    }
}

#[test]
fn the_limits_hold_before_anything_is_hashed() {
    let g = genesis();
    let mut many = mined(&g, &[]);
    many.transactions = vec![Transaction::vote("v", "c", "t"); crate::limits::MAX_TRANSACTIONS + 1];
    assert_eq!(
        many.check_limits(),
        Err(W4119Error::TooManyTransactions { count: 1025 })
    );

    let mut long = mined(&g, &[]);
    long.timestamp = "x".repeat(MAX_STRING_BYTES + 1);
    assert_eq!(
        long.check_limits(),
        Err(W4119Error::StringTooLong {
            field: "timestamp",
            bytes: 257
        })
    );
    let mut long_key = Transaction::vote("v", "c", "t").fields().clone();
    long_key.insert("k".repeat(MAX_STRING_BYTES + 1), PyValue::Null);
    let mut long = mined(&g, &[]);
    long.transactions = vec![Transaction::from_fields(long_key)];
    assert!(matches!(
        long.check_limits(),
        Err(W4119Error::StringTooLong {
            field: "transactions",
            ..
        })
    ));
    // A link check must not quote a huge previous_hash: the limits come first.
    long.transactions.clear();
    long.previous_hash = "p".repeat(10_000);
    assert!(matches!(
        long.verify_after(&g, DIFFICULTY),
        Err(W4119Error::StringTooLong { .. })
    ));

    let mut deep = PyValue::Null;
    for _ in 0..MAX_TRANSACTION_DEPTH {
        deep = PyValue::List(vec![deep]);
    }
    let mut fields = Transaction::vote("v", "c", "t").fields().clone();
    fields.insert("deep", deep);
    let mut nested = mined(&g, &[]);
    nested.transactions = vec![Transaction::from_fields(fields)];
    assert_eq!(
        nested.check_limits(),
        Err(W4119Error::TooDeep {
            position: 0,
            depth: MAX_TRANSACTION_DEPTH + 1
        })
    );

    // Within every per-field limit, but too big for one datagram.
    let mut big = mined(&g, &[]);
    big.transactions = vec![Transaction::vote(&"v".repeat(200), &"c".repeat(50), "t"); 300];
    assert!(matches!(
        big.check_limits(),
        Err(W4119Error::TooLarge { bytes }) if bytes > MAX_BLOCK_JSON_BYTES
    ));
}

#[test]
fn from_json_tolerates_key_order_and_extra_keys() {
    let one = mined(&genesis(), &[("alice", "Adam")]);
    let shuffled = format!(
        r#"{{ "hash": "{}", "nonce": {}, "extra": [1.5, {{"x": 2}}], "previous_hash": "{}",
             "timestamp": "{}", "transactions": [{{"voter_id": "alice", "candidate_id": "Adam",
             "timestamp": "2025-01-01 12:00:00"}}], "index": 1 }}"#,
        one.hash, one.nonce, one.previous_hash, one.timestamp
    );
    let read = W4119Block::from_json_bytes(shuffled.as_bytes()).unwrap();
    assert_eq!(read, one);
    assert_eq!(W4119Block::from_json(&one.to_json()), Ok(one.clone()));
    // The extra key is neither kept nor sent on.
    assert_eq!(read.to_json_string(), one.to_json_string());
}

#[test]
fn from_json_refuses_missing_and_mistyped_fields() {
    let good = genesis().to_json_string();
    let with = |key: &str, value: &str| {
        let mut v: serde_json::Value = serde_json::from_str(&good).unwrap();
        v[key] = serde_json::from_str(value).unwrap();
        serde_json::to_vec(&v).unwrap()
    };
    let without = |key: &str| {
        let mut v: serde_json::Value = serde_json::from_str(&good).unwrap();
        v.as_object_mut().unwrap().remove(key);
        serde_json::to_vec(&v).unwrap()
    };
    for key in [
        "index",
        "transactions",
        "timestamp",
        "previous_hash",
        "nonce",
        "hash",
    ] {
        assert_eq!(
            W4119Block::from_json_bytes(&without(key)),
            Err(W4119Error::MissingField(key))
        );
    }
    let bad_field = |bytes: &[u8]| match W4119Block::from_json_bytes(bytes) {
        Err(W4119Error::BadField { field, .. }) => field,
        other => panic!("{other:?}"),
    };
    assert_eq!(bad_field(&with("index", "-1")), "index");
    assert_eq!(bad_field(&with("index", "true")), "index");
    assert_eq!(bad_field(&with("index", "\"1\"")), "index");
    assert_eq!(bad_field(&with("nonce", "18446744073709551616")), "nonce");
    assert_eq!(bad_field(&with("nonce", "1.0")), "nonce");
    assert_eq!(bad_field(&with("timestamp", "0")), "timestamp");
    assert_eq!(bad_field(&with("hash", "null")), "hash");
    assert_eq!(bad_field(&with("previous_hash", "[]")), "previous_hash");
    assert_eq!(bad_field(&with("transactions", "{}")), "transactions");
    assert_eq!(
        bad_field(&with("transactions", "[\"vote\"]")),
        "transactions"
    );
    assert_eq!(
        W4119Block::from_json_bytes(&with("transactions", r#"[{"w": 0.5}]"#)),
        Err(W4119Error::Json(PyJsonError::Float))
    );
    assert_eq!(
        W4119Block::from_json_bytes(b"[]"),
        Err(W4119Error::NotAnObject)
    );
    assert!(matches!(
        W4119Block::from_json_bytes(b"{"),
        Err(W4119Error::Json(PyJsonError::NotJson(_)))
    ));
}

#[test]
fn errors_are_sentences_that_quote_what_came_from_the_network() {
    let e = W4119Error::BadLink {
        expected: GENESIS_HASH.into(),
        got: "\u{1b}[31mred".into(),
    };
    let text = e.to_string();
    assert!(!text.contains('\u{1b}'), "{text}");
    assert!(
        text.starts_with("the block's previous_hash \"\\u{1b}[31mred\""),
        "{text}"
    );
}
