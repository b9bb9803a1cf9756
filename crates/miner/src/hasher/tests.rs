//! Threads search without overlap, report real shares with the session's prefix, and switch
//! jobs.

use super::*;
use crate::search::tests::{course_job, native_job};
use std::collections::HashSet;
use std::time::{Duration, Instant};
use votechain_pool::{Job, PrefixTable};

const DEADLINE: Duration = Duration::from_secs(60);

fn work(job: &Job, job_id: &str, prefix: u16) -> Work {
    Work {
        job_id: job_id.into(),
        job: job.clone(),
        prefix,
    }
}

/// Receives shares until `enough` of them satisfy `done`, or panics at the deadline.
fn collect(
    rx: &mut mpsc::Receiver<FoundShare>,
    mut done: impl FnMut(&[FoundShare]) -> bool,
) -> Vec<FoundShare> {
    let start = Instant::now();
    let mut shares = Vec::new();
    while !done(&shares) {
        match rx.try_recv() {
            Ok(share) => shares.push(share),
            Err(_) => {
                assert!(start.elapsed() < DEADLINE, "only {} shares", shares.len());
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
    shares
}

#[test]
fn shares_meet_the_target_and_carry_the_prefix() {
    for (job, prefix) in [(native_job(256), 0xabcd), (course_job(2, 64), 0x0123)] {
        let (tx, mut rx) = mpsc::channel(1024);
        let hashes = Arc::new(CacheLine::default());
        let hasher = Hasher::start(2, Arc::clone(&hashes), tx).unwrap();
        hasher.set_share_bits(7);
        hasher.set_work(Some(work(&job, "j1", prefix)));
        let shares = collect(&mut rx, |s| s.len() >= 200);
        hasher.stop();
        let mut seen = HashSet::new();
        for share in &shares {
            assert_eq!(&*share.job_id, "j1");
            assert!(job.meets(&job.state_for(share.nonce), 7), "{share:?}");
            assert!(!share.block);
            assert!(
                PrefixTable::carries(share.nonce, job.kind().nonce_bits(), prefix),
                "{:x}",
                share.nonce
            );
            assert!(seen.insert(share.nonce), "tried twice: {share:?}");
        }
        assert!(hashes.0.load(Ordering::Relaxed) >= 200);
    }
}

#[test]
fn chunks_partition_the_counter_space() {
    for (job, bits) in [(native_job(8), 48), (course_job(1, 2), 33)] {
        let unit = Unit::new(1, work(&job, "j", 7));
        assert_eq!(unit.base, 7 << bits);
        assert_eq!(unit.counters, 1 << bits);
        let n_chunks = (1u64 << bits).div_ceil(CHUNK);
        assert_eq!(unit.chunk(0), Some((0, CHUNK - 1)));
        assert_eq!(unit.chunk(1), Some((CHUNK, 2 * CHUNK - 1)));
        assert_eq!(unit.chunk(n_chunks - 1).map(|c| c.1), Some((1 << bits) - 1));
        assert_eq!(unit.chunk(n_chunks), None);
        assert_eq!(unit.chunk(u64::MAX), None);
    }
}

#[test]
fn threads_share_out_a_space_once_then_idle() {
    let job = course_job(3, 64);
    let prefix = 0x0042;
    let mut unit = Unit::new(1, work(&job, "j", prefix));
    // A space of one and a half chunks, so two threads claim both, then find it exhausted.
    unit.counters = CHUNK + CHUNK / 2;
    let unit = Arc::new(unit);
    let shared = Arc::new(Shared {
        generation: CacheLine(AtomicU64::new(1)),
        hashes: Arc::new(CacheLine::default()),
        share_bits: AtomicU32::new(3),
        dropped: AtomicU64::new(0),
        slot: Mutex::new(Slot::default()),
        wake: Condvar::new(),
    });
    let (tx, mut rx) = mpsc::channel(1 << 20);
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (shared, unit, tx) = (Arc::clone(&shared), Arc::clone(&unit), tx.clone());
            std::thread::spawn(move || search(&shared, &unit, &tx))
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert!(unit.exhausted.load(Ordering::Relaxed));
    assert_eq!(shared.hashes.0.load(Ordering::Relaxed), unit.counters);
    assert_eq!(shared.dropped.load(Ordering::Relaxed), 0);
    let mut found = Vec::new();
    while let Ok(share) = rx.try_recv() {
        found.push(share.nonce);
    }
    found.sort_unstable();
    let base = u64::from(prefix) << 33;
    let expected: Vec<u64> = (base..base + unit.counters)
        .filter(|n| job.meets(&job.state_for(*n), 3))
        .collect();
    assert_eq!(found, expected);
}

#[test]
fn new_work_replaces_the_old_and_none_idles() {
    let job_a = native_job(256);
    let job_b = course_job(1, 64);
    let (tx, mut rx) = mpsc::channel(1024);
    let hashes = Arc::new(CacheLine::default());
    let hasher = Hasher::start(2, Arc::clone(&hashes), tx).unwrap();
    hasher.set_share_bits(6);
    hasher.set_work(Some(work(&job_a, "a", 1)));
    collect(&mut rx, |s| s.iter().any(|s| &*s.job_id == "a"));
    hasher.set_work(Some(work(&job_b, "b", 1)));
    // Each thread finishes at most the batch it was in, then only finds shares of `b`.
    let shares = collect(&mut rx, |s| {
        s.iter()
            .rev()
            .take(20)
            .filter(|s| &*s.job_id == "b")
            .count()
            == 20
    });
    // Shares of `a` queued before the switch come first; after the first share of `b`, only a
    // thread still in its last batch of `a` can add one.
    let first_b = shares.iter().position(|s| &*s.job_id == "b").unwrap_or(0);
    let late_a = shares[first_b..]
        .iter()
        .filter(|s| &*s.job_id == "a")
        .count() as u64;
    assert!(
        late_a <= 2 * CHECK_BATCH_SHARES,
        "{late_a} shares of the old job"
    );
    for share in shares.iter().filter(|s| &*s.job_id == "b") {
        assert!(job_b.meets(&job_b.state_for(share.nonce), 6));
    }
    hasher.set_work(None);
    // Idle threads count no hashes: the counter settles once every thread left its batch.
    let start = Instant::now();
    loop {
        let before = hashes.0.load(Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(50));
        if hashes.0.load(Ordering::Relaxed) == before {
            break;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "threads kept hashing without work"
        );
    }
    hasher.stop();
}

/// At share target 6 a batch of 4,096 nonces holds 64 shares on average; bounded generously.
const CHECK_BATCH_SHARES: u64 = 200;
