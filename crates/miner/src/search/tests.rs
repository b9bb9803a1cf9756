//! The loops find exactly the nonces that `Job::state_for` and `Job::meets` say meet the target,
//! for both kinds, across batch edges, digit carries and the top of the nonce space.

use super::*;
use std::cell::{Cell, RefCell};
use votechain_chain::hash::sha256;
use votechain_chain::header::BlockHeader;
use votechain_course::CourseJob;

/// A steer that records what the scan reports, and stops after `batches` batches.
struct Record {
    share_bits: u32,
    batches: Cell<u64>,
    stop_after: u64,
    hashed: Cell<u64>,
    found: RefCell<Vec<(u64, bool)>>,
}

impl Record {
    fn new(share_bits: u32) -> Record {
        Record {
            share_bits,
            batches: Cell::new(0),
            stop_after: u64::MAX,
            hashed: Cell::new(0),
            found: RefCell::new(Vec::new()),
        }
    }
}

impl Steer for Record {
    fn keep_going(&self) -> bool {
        self.batches.set(self.batches.get() + 1);
        self.batches.get() <= self.stop_after
    }
    fn share_bits(&self) -> u32 {
        self.share_bits
    }
    fn hashed(&self, n: u64) {
        self.hashed.set(self.hashed.get() + n);
    }
    fn found(&self, nonce: u64, block: bool) {
        self.found.borrow_mut().push((nonce, block));
    }
}

pub(crate) fn native_job(block_bits: u32) -> Job {
    Job::native(&BlockHeader {
        version: 1,
        difficulty: block_bits,
        vote_count: 1,
        height: 7,
        timestamp_ms: 1_700_000_000_000,
        prev: sha256(&[b"prev"]),
        payload_root: sha256(&[b"root"]),
        miner_hash: sha256(&[b"pool"]),
        nonce: 0,
    })
}

pub(crate) fn course_job(messages: usize, difficulty_digits: u32) -> Job {
    Job::comp3010(&CourseJob {
        prev: Some(sha256(&[b"parent"])),
        height: 3,
        mined_by: "pool".into(),
        messages: (0..messages).map(|i| format!("message {i}")).collect(),
        timestamp: 1_700_000_000,
        difficulty: difficulty_digits,
    })
}

/// Scans `first..=last` at `share_bits` and checks the result against the job itself.
fn check(job: &Job, first: u64, last: u64, share_bits: u32) {
    let steer = Record::new(share_bits);
    assert_eq!(scan(job, first, last, &steer), Scan::Done);
    assert_eq!(steer.hashed.get(), last - first + 1);
    let bits = share_bits.min(job.block_bits());
    let expected: Vec<(u64, bool)> = (first..=last)
        .filter_map(|n| {
            let state = job.state_for(n);
            job.meets(&state, bits)
                .then(|| (n, job.meets(&state, job.block_bits())))
        })
        .collect();
    assert!(!expected.is_empty(), "the range is too short to test");
    assert_eq!(
        *steer.found.borrow(),
        expected,
        "{:?} {first}..={last}",
        job.kind()
    );
}

#[test]
fn native_scan_finds_exactly_the_shares() {
    let job = native_job(8);
    check(&job, 0, 9_000, 5);
    // Blocks (8 bits) are found among the shares (5 bits) and flagged.
    check(&job, 12_345, 12_345 + 3 * CHECK_INTERVAL, 6);
    // The top of the space, where the nonce after the last wraps.
    check(&job, u64::MAX - 5_000, u64::MAX, 4);
    // A share target above the block target: the block target rules.
    check(&job, 1 << 48, (1 << 48) + 5_000, 30);
}

#[test]
fn course_scan_finds_exactly_the_shares() {
    // Both layouts of the final block (with and without filler).
    for messages in [0, 3, 5] {
        let job = course_job(messages, 2);
        check(&job, 0, 6_000, 4);
        // Nonces across a carry through several digits (…99_999 to …100_000).
        check(&job, 99_990 - 3_000, 99_990 + 3_000, 4);
        // The top of the 49-bit space.
        check(&job, (1 << 49) - 5_000, (1 << 49) - 1, 5);
    }
}

#[test]
fn a_scan_stops_between_batches() {
    let job = native_job(256);
    let mut steer = Record::new(256);
    steer.stop_after = 2;
    assert_eq!(scan(&job, 0, u64::MAX, &steer), Scan::Stopped);
    assert_eq!(steer.hashed.get(), 2 * CHECK_INTERVAL);
    let mut steer = Record::new(256);
    steer.stop_after = 0;
    assert_eq!(scan(&course_job(1, 2), 0, 1 << 40, &steer), Scan::Stopped);
    assert_eq!(steer.hashed.get(), 0);
}

#[test]
fn add_two_carries_through_digits() {
    let mut d = *b"0998";
    add_two(&mut d);
    assert_eq!(&d, b"1000");
    let mut d = *b"1999";
    add_two(&mut d);
    assert_eq!(&d, b"2001");
}
