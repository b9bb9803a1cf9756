//! The miner against the plain hash rule: every prefix length modulo 64, the per-attempt path
//! across digit carries, the nonce's form, and workers under a control.

use super::*;
use crate::block::course_hash;
use std::sync::mpsc;
use std::time::Duration;

fn job(mined_by_len: usize, prev: Option<Hash>, difficulty: u32) -> CourseJob {
    CourseJob {
        prev,
        height: u64::from(prev.is_some()),
        mined_by: "m".repeat(mined_by_len),
        messages: vec!["hello".into(), "wörld".into()],
        timestamp: 1_730_910_874,
        difficulty,
    }
}

fn plain_hash(job: &CourseJob, nonce: &str) -> Hash {
    course_hash(
        job.prev.as_ref(),
        &job.mined_by,
        &job.messages,
        job.timestamp,
        nonce,
    )
}

/// A fixed-seed generator for counters (no RNG crate needed).
fn counters(seed: u64, n: usize) -> Vec<u64> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 11) % COUNTER_SPACE
        })
        .collect()
}

#[test]
fn mines_valid_blocks_for_every_prefix_length_mod_64() {
    let parent = crate::block::course_hash(None, "p", &["x".into()], 1, "1");
    let mut remainders = std::collections::BTreeSet::new();
    for len in 0..=70usize {
        for prev in [None, Some(parent)] {
            let difficulty = 2 + (len % 3) as u32;
            let job = job(len, prev, difficulty);
            let search = CourseSearch::new(&job);
            let block = search
                .search(0, 1 << 24)
                .unwrap_or_else(|| panic!("nothing found for minedBy of {len}"));
            assert!(block.nonce.chars().count() < 40, "{}", block.nonce);
            assert!(!block.nonce.starts_with('0'));
            assert_eq!(block.check_alone(prev.as_ref(), difficulty), Ok(()));
            assert_eq!(block.hash, plain_hash(&job, &block.nonce));
            assert_eq!(
                (
                    &block.mined_by,
                    &block.messages,
                    block.timestamp,
                    block.height
                ),
                (&job.mined_by, &job.messages, job.timestamp, job.height)
            );
            let prefix_len = prev.map_or(0, |_| 64) + len + 5 + 6 + 8;
            remainders.insert(prefix_len % 64);
        }
    }
    assert_eq!(remainders.len(), 64, "every remainder modulo 64 was mined");
}

#[test]
fn the_per_attempt_path_equals_the_plain_hash() {
    for len in [0usize, 20, 21, 40, 44, 45, 63] {
        let job = job(len, None, 8);
        let search = CourseSearch::new(&job);
        let mut starts = counters(len as u64 + 1, 20);
        // Carries through many digits, and the very end of the counter space.
        starts.extend([0, 99_990, 899_999_999_990, COUNTER_SPACE - 25]);
        for start in starts {
            let end = (start + 25).min(COUNTER_SPACE);
            let mut seen = Vec::new();
            search.scan(start, end, |counter, state| {
                seen.push((counter, state_to_hash(state)));
                false
            });
            assert_eq!(seen.len() as u64, end - start);
            for (counter, hash) in seen {
                let nonce = search.nonce_for(counter);
                assert_eq!(hash, plain_hash(&job, &nonce), "counter {counter}");
                assert_eq!(hash, search.hash_for(counter));
                assert_eq!(
                    nonce.parse::<u128>().ok().map(|n| n.to_string()),
                    Some(nonce)
                );
            }
        }
    }
}

#[test]
fn search_clips_to_the_counter_space_and_finds_the_first_at_difficulty_zero() {
    let search = CourseSearch::new(&job(3, None, 0));
    let block = search.search(7, 10).unwrap();
    assert_eq!(block.nonce, search.nonce_for(7));
    assert_eq!(search.search(COUNTER_SPACE, 10), None);
    assert!(search.search(COUNTER_SPACE - 1, u64::MAX).is_some());
    let impossible = CourseSearch::new(&job(3, None, 65));
    assert_eq!(impossible.search(0, 1000), None);
}

#[test]
fn trailing_state_test_agrees_with_meets_difficulty() {
    let search = CourseSearch::new(&job(9, None, 8));
    search.scan(0, 5000, |_, state| {
        let hash = state_to_hash(state);
        for d in [0u32, 1, 2, 3, 8, 9, 64] {
            assert_eq!(
                state_meets_trailing(state, d * 4),
                crate::block::meets_difficulty(&hash, d)
            );
        }
        false
    });
    assert!(state_meets_trailing(&[0; 8], 256));
    assert!(!state_meets_trailing(&[0; 8], 260));
}

#[test]
fn slices_partition_the_counters() {
    for n in 1..=7 {
        let slices: Vec<_> = (0..n).map(|i| counter_slice(i, n)).collect();
        assert_eq!(slices[0].0, 0);
        assert_eq!(slices[n - 1].1, COUNTER_SPACE);
        for pair in slices.windows(2) {
            assert_eq!(pair[0].1, pair[1].0);
        }
    }
}

const DEADLINE: Duration = Duration::from_secs(20);

#[test]
fn workers_find_one_block_and_stop_on_a_new_job() {
    let control = MinerControl::new();
    let mining = CourseMiningJob::new(&job(10, None, 4), &control);
    let (tx, rx) = mpsc::channel();
    for i in 0..3 {
        let (tx, mining) = (tx.clone(), mining.clone());
        std::thread::spawn(move || tx.send(mining.run_worker(i, 3)));
    }
    let outcomes: Vec<_> = (0..3).map(|_| rx.recv_timeout(DEADLINE).unwrap()).collect();
    let found: Vec<_> = outcomes.iter().flatten().collect();
    assert_eq!(found.len(), 1, "{outcomes:?}");
    assert_eq!(found[0].check_alone(None, 4), Ok(()));
    assert!(!mining.is_current());
    assert!(control.hashes() > 0);

    // A job no counter can satisfy stops when a newer job starts.
    let hopeless = CourseMiningJob::new(&job(10, None, 65), &control);
    let worker = hopeless.clone();
    let handle = std::thread::spawn(move || worker.run_worker(0, 1));
    let before = control.hashes();
    let start = std::time::Instant::now();
    while control.hashes() == before {
        assert!(start.elapsed() < DEADLINE, "the worker never started");
        std::thread::yield_now();
    }
    let newer = CourseMiningJob::new(&job(1, None, 1), &control);
    assert!(newer.is_current() && !hopeless.is_current());
    assert_eq!(handle.join().unwrap(), None);
}
