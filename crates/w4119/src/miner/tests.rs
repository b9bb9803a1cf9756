//! The miner finds what Python's loop finds (the first nonce from 0), counts its attempts,
//! stops when told, and the timestamp formatter agrees with the calendar.

use super::*;
use crate::block::{genesis, w4119_hash};

fn template() -> BlockTemplate {
    BlockTemplate::after(
        &genesis(),
        vec![Transaction::vote("alice", "Adam", "2025-01-01 12:00:00")],
        "2025-01-01 12:00:05".into(),
    )
}

#[test]
fn mining_finds_pythons_nonce_for_the_fixture_block() {
    // tests/fixtures/blocks.json: Python's loop stopped at 299 for this block.
    let hashes = AtomicU64::new(0);
    let block = mine(&template(), 2, &AtomicBool::new(false), &hashes).unwrap();
    assert_eq!(block.nonce, 299);
    assert_eq!(
        block.hash,
        "00602860dff163d16bf98a5db1c0e501b08bff23332c724fbd6127028918e1a5"
    );
    assert_eq!(w4119_hash(&block), block.hash);
    assert_eq!(hashes.load(Ordering::Relaxed), 300);
    assert_eq!(block.verify_after(&genesis(), 2), Ok(()));
}

#[test]
fn every_nonce_below_the_winner_fails() {
    let block = mine(&template(), 3, &AtomicBool::new(false), &AtomicU64::new(0)).unwrap();
    assert!(block.hash.starts_with("000"));
    for nonce in 0..block.nonce {
        let mut earlier = block.clone();
        earlier.nonce = nonce;
        assert!(!w4119_hash(&earlier).starts_with("000"), "nonce {nonce}");
    }
    // Difficulty 0: the first nonce.
    let easy = mine(&template(), 0, &AtomicBool::new(false), &AtomicU64::new(0)).unwrap();
    assert_eq!(easy.nonce, 0);
}

#[test]
fn a_cancelled_or_impossible_search_returns_none() {
    let hashes = AtomicU64::new(0);
    assert_eq!(mine(&template(), 64, &AtomicBool::new(true), &hashes), None);
    assert_eq!(hashes.load(Ordering::Relaxed), 0);
    assert_eq!(
        mine(&template(), 65, &AtomicBool::new(false), &hashes),
        None
    );
}

#[test]
fn itoa_writes_decimal() {
    for n in [0, 7, 10, 299, 1 << 40, u64::MAX] {
        assert_eq!(itoa(n, &mut [0u8; 20]), n.to_string());
    }
}

#[test]
fn timestamps_are_utc_civil_dates() {
    assert_eq!(now_timestamp(0), "1970-01-01 00:00:00");
    // date -u -d @946684800 '+%F %T' (the genesis block's timestamp)
    assert_eq!(now_timestamp(946_684_800), "2000-01-01 00:00:00");
    // date -u -d @951782400: a leap day in a year divisible by 400.
    assert_eq!(now_timestamp(951_782_400), "2000-02-29 00:00:00");
    // date -u -d @1735732805
    assert_eq!(now_timestamp(1_735_732_805), "2025-01-01 12:00:05");
    // date -u -d @4107542399 and @4107542400: 2100 is not a leap year.
    assert_eq!(now_timestamp(4_107_542_399), "2100-02-28 23:59:59");
    assert_eq!(now_timestamp(4_107_542_400), "2100-03-01 00:00:00");
    assert!(!now_timestamp(u64::MAX).is_empty());
}
