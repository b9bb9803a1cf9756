//! Jobs hash exactly as the chains they come from.

use super::*;
use votechain_chain::hash::sha256;
use votechain_course::miner::CourseSearch;

/// A native header at `difficulty`.
pub(crate) fn header(difficulty: u32) -> BlockHeader {
    BlockHeader {
        version: 1,
        difficulty,
        vote_count: 1,
        height: 5,
        timestamp_ms: 1_700_000_000_000,
        prev: sha256(&[b"prev"]),
        payload_root: sha256(&[b"root"]),
        miner_hash: sha256(&[b"pool"]),
        nonce: 0,
    }
}

/// A course job with `messages` messages at `difficulty` hex digits.
pub(crate) fn course_job(messages: usize, difficulty: u32) -> CourseJob {
    CourseJob {
        prev: Some(sha256(&[b"parent"])),
        height: 3,
        mined_by: "pool".into(),
        messages: (0..messages).map(|i| format!("message {i}")).collect(),
        timestamp: 1_700_000_000,
        difficulty,
    }
}

#[test]
fn native_job_hashes_as_the_header() {
    let job = Job::native(&header(8));
    for nonce in [0, 1, 0xdead_beef, u64::MAX] {
        let h = BlockHeader { nonce, ..header(8) };
        assert_eq!(job.hash(nonce), h.hash());
        let state = job.state_for(nonce);
        assert_eq!(job.meets(&state, 8), h.meets_difficulty());
    }
    assert_eq!(job.block_bits(), 8);
    assert!(job.nonce_in_range(u64::MAX));
}

#[test]
fn course_job_hashes_as_course_search_for_every_layout() {
    // Message counts move the prefix's length through both layouts (with and without filler).
    for messages in 0..8 {
        let cj = course_job(messages, 2);
        let search = CourseSearch::new(&cj);
        let job = Job::comp3010(&cj);
        for n in [0, 7, 123_456, (1 << 49) - 1] {
            assert_eq!(job.hash(n), search.hash_for(n));
        }
        assert_eq!(job.block_bits(), 8);
        assert!(!job.nonce_in_range(1 << 49));
    }
}

#[test]
fn course_meets_counts_trailing_bits() {
    let job = Job::comp3010(&course_job(1, 1));
    let mut found = 0;
    for n in 0..4000 {
        let state = job.state_for(n);
        let hex = job.hash(n).to_hex();
        assert_eq!(job.meets(&state, 4), hex.ends_with('0'));
        assert_eq!(job.meets(&state, 8), hex.ends_with("00"));
        found += usize::from(job.meets(&state, 4));
    }
    assert!(found > 0);
}

#[test]
fn from_parts_rejects_out_of_tail_nonces() {
    let job = Job::native(&header(1));
    let ok = Job::from_parts(JobKind::Native, job.midstate(), job.tail(), 0, 1, 5);
    assert_eq!(ok.as_ref(), Ok(&job));
    assert_eq!(
        Job::from_parts(JobKind::Native, job.midstate(), job.tail(), 49, 1, 5),
        Err(JobError::NonceOutOfTail(49))
    );
    assert_eq!(
        Job::from_parts(JobKind::Comp3010, job.midstate(), job.tail(), 42, 1, 5),
        Err(JobError::NonceOutOfTail(42))
    );
    assert_eq!(
        Job::from_parts(
            JobKind::Native,
            job.midstate(),
            job.tail(),
            usize::MAX,
            1,
            5
        ),
        Err(JobError::NonceOutOfTail(usize::MAX))
    );
    assert_eq!(
        Job::from_parts(JobKind::Native, job.midstate(), job.tail(), 0, 257, 5),
        Err(JobError::TargetTooHigh(257))
    );
    assert_eq!(JobKind::parse("comp3010"), Some(JobKind::Comp3010));
    assert_eq!(
        JobKind::parse(JobKind::Native.as_str()),
        Some(JobKind::Native)
    );
    assert_eq!(JobKind::parse("x"), None);
}
