//! The pool driven through its lines: sessions, every share check in order, stale jobs, found
//! blocks, vardiff, and a miner that really hashes.

use super::*;
use crate::job::tests::{course_job, header};
use crate::wire::{decode_server_line, nonce_hex, ServerLine};
use proptest::prelude::*;

fn config() -> PoolConfig {
    PoolConfig {
        token: Some("secret".into()),
        submit_rate: Rate {
            per_s: 1_000,
            burst: 1_000,
        },
        vardiff: VardiffConfig {
            initial_bits: 4,
            min_bits: 1,
            max_bits: 12,
            goal_per_min: 60,
            window_ms: 1_000,
        },
        dedup_per_job: 1_000,
        max_jobs: 4,
    }
}

/// The lines sent to `conn`, read back.
fn lines_to(out: &[PoolOutput], to: ConnId) -> Vec<ServerLine> {
    out.iter()
        .filter_map(|o| match o {
            PoolOutput::Send { conn, line } if *conn == to => decode_server_line(line).ok(),
            _ => None,
        })
        .collect()
}

/// The error code of the single response in `out`, or `None` for a success.
fn code_of(out: &[PoolOutput]) -> Option<u32> {
    out.iter().find_map(|o| match o {
        PoolOutput::Send { conn, line } => match decode_server_line(line) {
            Ok(ServerLine::Response { result, .. }) => Some(result.err().map(|e| e.0)),
            _ => {
                let _ = conn;
                None
            }
        },
        PoolOutput::Found { .. } => None,
    })?
}

fn line(pool: &mut Pool, now: u64, conn: ConnId, text: &str) -> Vec<PoolOutput> {
    pool.handle_line(now, conn, text.as_bytes())
}

/// Connects, subscribes and authorizes `conn`; returns its prefix.
fn join(pool: &mut Pool, conn: ConnId) -> u16 {
    pool.connect(0, conn);
    let out = line(pool, 0, conn, r#"{"id":1,"method":"mining.subscribe"}"#);
    let prefix = match &lines_to(&out, conn)[..] {
        [ServerLine::Response {
            result: Ok(value), ..
        }] => u16::from_str_radix(value[1].as_str().unwrap_or(""), 16).unwrap_or(0),
        other => panic!("{other:?}"),
    };
    let auth = r#"{"id":2,"method":"mining.authorize","params":["w","secret"]}"#;
    assert_eq!(code_of(&line(pool, 0, conn, auth)), None);
    prefix
}

fn submit(pool: &mut Pool, now: u64, conn: ConnId, job_id: &str, nonce: u64) -> Vec<PoolOutput> {
    let text = format!(
        r#"{{"id":9,"method":"mining.submit","params":["w","{job_id}","{}"]}}"#,
        nonce_hex(nonce)
    );
    line(pool, now, conn, &text)
}

/// The first nonce from `counter` on with `prefix` whose hash meets `bits` (and, with `miss`,
/// fails `miss`), for `job`.
fn mine(job: &Job, prefix: u16, bits: u32, miss: Option<u32>, mut counter: u64) -> u64 {
    let shift = job.kind().nonce_bits() - PREFIX_BITS;
    loop {
        let nonce = (u64::from(prefix) << shift) | counter;
        let state = job.state_for(nonce);
        if job.meets(&state, bits) && miss.is_none_or(|m| !job.meets(&state, m)) {
            return nonce;
        }
        counter += 1;
    }
}

#[test]
fn two_sessions_never_share_a_prefix() {
    let mut pool = Pool::new(config());
    let a = join(&mut pool, 1);
    let b = join(&mut pool, 2);
    assert_ne!(a, b);
    pool.disconnect(1);
    let c = join(&mut pool, 3);
    assert_ne!(c, b);
    assert_eq!(pool.stats().miners, 2);
}

#[test]
fn prefixes_run_out_with_an_error_not_a_clash() {
    let mut pool = Pool::new(PoolConfig::default());
    let subscribe = r#"{"id":1,"method":"mining.subscribe"}"#;
    for conn in 0..65_536 {
        pool.connect(0, conn);
        assert_eq!(code_of(&line(&mut pool, 0, conn, subscribe)), None);
    }
    pool.connect(0, 70_000);
    assert_eq!(code_of(&line(&mut pool, 0, 70_000, subscribe)), Some(20));
    pool.disconnect(5);
    assert_eq!(code_of(&line(&mut pool, 0, 70_000, subscribe)), None);
}

#[test]
fn authorize_needs_subscribe_and_the_token() {
    let mut pool = Pool::new(config());
    pool.connect(0, 1);
    let auth = r#"{"id":2,"method":"mining.authorize","params":["w","secret"]}"#;
    assert_eq!(code_of(&line(&mut pool, 0, 1, auth)), Some(25));
    line(&mut pool, 0, 1, r#"{"id":1,"method":"mining.subscribe"}"#);
    let wrong = r#"{"id":2,"method":"mining.authorize","params":["w","nope"]}"#;
    assert_eq!(code_of(&line(&mut pool, 0, 1, wrong)), Some(24));
    let none = r#"{"id":2,"method":"mining.authorize","params":["w"]}"#;
    assert_eq!(code_of(&line(&mut pool, 0, 1, none)), Some(24));
    assert_eq!(pool.stats().miners, 0);
    let (job_id, _) = pool.new_job(Job::native(&header(30)), true);
    let out = line(&mut pool, 0, 1, auth);
    let lines = lines_to(&out, 1);
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[1], ServerLine::SetTarget { share_bits: 4 });
    assert!(matches!(&lines[2], ServerLine::Notify { job_id: j, clean: true, .. } if *j == job_id));
    // A line from a connection the pool never saw is refused, not a panic.
    assert_eq!(code_of(&line(&mut pool, 0, 99, auth)), Some(25));
}

#[test]
fn every_submit_check_in_order() {
    let mut pool = Pool::new(PoolConfig {
        submit_rate: Rate {
            per_s: 1,
            burst: 100,
        },
        ..config()
    });
    let job = Job::native(&header(30));
    let (job_id, _) = pool.new_job(job.clone(), true);
    // Not subscribed, then subscribed but not authorized.
    pool.connect(0, 1);
    assert_eq!(code_of(&submit(&mut pool, 0, 1, &job_id, 0)), Some(25));
    line(&mut pool, 0, 1, r#"{"id":1,"method":"mining.subscribe"}"#);
    assert_eq!(code_of(&submit(&mut pool, 0, 1, &job_id, 0)), Some(24));
    let prefix = join(&mut pool, 2);
    let other = prefix.wrapping_add(1);
    let good = mine(&job, prefix, 4, None, 0);
    let low = mine(&job, prefix, 0, Some(4), 0);
    let foreign = mine(&job, other, 4, None, 0);
    // Unknown job beats a wrong prefix; a wrong prefix beats a duplicate.
    assert_eq!(code_of(&submit(&mut pool, 0, 2, "ffff", foreign)), Some(21));
    assert_eq!(code_of(&submit(&mut pool, 0, 2, "zz", good)), Some(21));
    assert_eq!(
        code_of(&submit(&mut pool, 0, 2, &job_id, foreign)),
        Some(26)
    );
    assert_eq!(
        code_of(&submit(&mut pool, 0, 2, &job_id, foreign)),
        Some(26)
    );
    // A low share is counted as seen: submitting it again is a duplicate, not low.
    assert_eq!(code_of(&submit(&mut pool, 0, 2, &job_id, low)), Some(23));
    assert_eq!(code_of(&submit(&mut pool, 0, 2, &job_id, low)), Some(22));
    assert_eq!(code_of(&submit(&mut pool, 0, 2, &job_id, good)), None);
    assert_eq!(code_of(&submit(&mut pool, 0, 2, &job_id, good)), Some(22));
    let shares = &pool.stats().shares;
    assert_eq!(
        shares.by_result(),
        [
            ("accepted", 1),
            ("stale", 2),
            ("duplicate", 2),
            ("low", 1),
            ("bad_prefix", 2),
            ("unauthorized", 1),
            ("not_subscribed", 1),
            ("rate_limited", 0),
        ]
    );
    // The rate limit comes first of all: drain the bucket, then even a good share is refused.
    let mut codes = Vec::new();
    for n in 0..200 {
        codes.push(code_of(&submit(&mut pool, 0, 2, &job_id, n)));
    }
    assert_eq!(codes.last(), Some(&Some(27)));
    assert!(pool.stats().shares.rate_limited > 0);
}

#[test]
fn a_clean_job_makes_old_shares_stale() {
    let mut pool = Pool::new(config());
    let prefix = join(&mut pool, 1);
    let first = Job::native(&header(30));
    let (first_id, notify) = pool.new_job(first.clone(), true);
    assert_eq!(lines_to(&notify, 1).len(), 1);
    // A non-clean job keeps the first valid.
    let second = Job::comp3010(&course_job(2, 7));
    let (second_id, _) = pool.new_job(second.clone(), false);
    let a = mine(&first, prefix, 4, None, 0);
    assert_eq!(code_of(&submit(&mut pool, 0, 1, &first_id, a)), None);
    let (_, out) = pool.new_job(Job::native(&header(29)), true);
    assert!(matches!(
        &lines_to(&out, 1)[..],
        [ServerLine::Notify { clean: true, .. }]
    ));
    let b = mine(&first, prefix, 4, None, a + 1);
    let c = mine(&second, prefix, 4, None, 0);
    assert_eq!(code_of(&submit(&mut pool, 0, 1, &first_id, b)), Some(21));
    assert_eq!(code_of(&submit(&mut pool, 0, 1, &second_id, c)), Some(21));
    assert!(pool.job(&first_id).is_none());
}

#[test]
fn old_jobs_beyond_max_jobs_are_stale() {
    let mut pool = Pool::new(config());
    let (first, _) = pool.new_job(Job::native(&header(30)), true);
    for _ in 0..4 {
        pool.new_job(Job::native(&header(30)), false);
    }
    assert!(pool.job(&first).is_none());
}

#[test]
fn a_share_meeting_the_block_target_is_found() {
    let mut pool = Pool::new(config());
    let prefix = join(&mut pool, 1);
    let job = Job::native(&header(9));
    let (job_id, _) = pool.new_job(job.clone(), true);
    let share_only = mine(&job, prefix, 4, Some(9), 0);
    let out = submit(&mut pool, 0, 1, &job_id, share_only);
    assert!(!out.iter().any(|o| matches!(o, PoolOutput::Found { .. })));
    let block = mine(&job, prefix, 9, None, 0);
    let out = submit(&mut pool, 0, 1, &job_id, block);
    assert_eq!(
        out[0],
        PoolOutput::Found {
            conn: 1,
            job_id: job_id.clone(),
            nonce: block
        }
    );
    assert_eq!(code_of(&out), None);
    assert_eq!(pool.stats().blocks_found, 1);
    let h = votechain_chain::header::BlockHeader {
        nonce: block,
        ..header(9)
    };
    assert!(h.meets_difficulty());
}

#[test]
fn the_share_target_never_exceeds_the_block_target() {
    // A job easier than the session's share target: a block-meeting hash is a share.
    let mut pool = Pool::new(config());
    let prefix = join(&mut pool, 1);
    let job = Job::native(&header(2));
    let (job_id, _) = pool.new_job(job.clone(), true);
    let nonce = mine(&job, prefix, 2, Some(4), 0);
    let out = submit(&mut pool, 0, 1, &job_id, nonce);
    assert!(matches!(out[0], PoolOutput::Found { .. }));
}

#[test]
fn vardiff_through_the_pool_moves_toward_the_goal_within_bounds() {
    let mut pool = Pool::new(config());
    let prefix = join(&mut pool, 1);
    let job = Job::native(&header(40));
    let (job_id, _) = pool.new_job(job.clone(), true);
    // 20 shares in the first second against a goal of one a second.
    let mut counter = 0;
    let mut targets = Vec::new();
    for i in 0..=20u64 {
        let bits = pool.miners(0)[0].share_bits;
        let nonce = mine(&job, prefix, bits, None, counter);
        counter = (nonce & 0xffff_ffff_ffff) + 1;
        let out = submit(&mut pool, i * 50, 1, &job_id, nonce);
        assert_eq!(code_of(&out), None);
        targets.extend(lines_to(&out, 1).into_iter().filter_map(|l| match l {
            ServerLine::SetTarget { share_bits } => Some(share_bits),
            _ => None,
        }));
    }
    // Every 8 shares (four windows' worth at the goal) end the window early: 20/s is up by
    // MAX_STEP each time.
    assert_eq!(targets, vec![8, 12]);
    // Silence: the tick lowers the target again, never below the minimum.
    let mut now = 1_000;
    let mut lowered = Vec::new();
    for _ in 0..5 {
        now += 1_000;
        for o in pool.handle_timeout(now) {
            if let PoolOutput::Send { line, .. } = o {
                lowered.push(line);
            }
        }
    }
    // 12, 8, 4, then the minimum.
    assert_eq!(lowered.len(), 3, "{lowered:?}");
    assert_eq!(pool.miners(now)[0].share_bits, 1);
}

/// A miner that reads the pool's lines, hashes with the notified job and its prefix, and
/// submits what meets its share target: every share is accepted, for both hash rules.
fn miner_loop(job: Job) {
    let mut pool = Pool::new(config());
    pool.connect(0, 7);
    let out = line(&mut pool, 0, 7, r#"{"id":1,"method":"mining.subscribe"}"#);
    let Some(ServerLine::Response {
        result: Ok(sub), ..
    }) = lines_to(&out, 7).pop()
    else {
        panic!("no subscription");
    };
    let prefix = u64::from_str_radix(sub[1].as_str().unwrap_or(""), 16).unwrap_or(u64::MAX);
    let prefix_bits = sub[2].as_u64().unwrap_or(0) as u32;
    pool.new_job(job, true);
    let auth = r#"{"id":2,"method":"mining.authorize","params":["loop","secret"]}"#;
    let mut inbox = lines_to(&line(&mut pool, 0, 7, auth), 7);
    let (mut share_bits, mut current) = (0, None);
    let mut accepted = 0;
    let mut counter = 0u64;
    let mut now = 0;
    loop {
        for l in inbox.drain(..) {
            match l {
                ServerLine::SetTarget { share_bits: b } => share_bits = b,
                ServerLine::Notify { job_id, job, .. } => current = Some((job_id, job)),
                ServerLine::Response { id, result } => {
                    assert!(result.is_ok(), "{result:?}");
                    // Submits carry id 9; the authorize response (id 2) is not a share.
                    accepted += usize::from(id == Some(9));
                }
            }
        }
        if accepted == 30 {
            break;
        }
        let Some((job_id, job)) = &current else {
            panic!("no job");
        };
        let shift = job.kind().nonce_bits() - prefix_bits;
        let nonce = (prefix << shift) | counter;
        counter += 1;
        now += 1;
        if job.meets(&job.state_for(nonce), share_bits.min(job.block_bits())) {
            inbox = lines_to(&submit(&mut pool, now, 7, job_id, nonce), 7);
        }
    }
    let miners = pool.miners(now);
    assert_eq!(miners[0].accepted, 30);
    assert!(miners[0].hashrate > 0.0);
    assert_eq!(pool.stats().shares.accepted, 30);
}

#[test]
fn a_hashing_miner_gets_its_native_shares_accepted() {
    miner_loop(Job::native(&header(40)));
}

#[test]
fn a_hashing_miner_gets_its_course_shares_accepted() {
    miner_loop(Job::comp3010(&course_job(5, 10)));
}

#[test]
fn malformed_lines_are_answered_and_counted() {
    let mut pool = Pool::new(config());
    pool.connect(0, 1);
    assert_eq!(code_of(&line(&mut pool, 0, 1, "{")), Some(20));
    let out = line(&mut pool, 0, 1, r#"{"id":5,"method":"nope"}"#);
    assert_eq!(
        lines_to(&out, 1),
        vec![ServerLine::Response {
            id: Some(5),
            result: Err((20, ErrorCode::Other.to_string()))
        }]
    );
    assert_eq!(pool.stats().malformed_lines, 2);
}

proptest! {
    #[test]
    fn arbitrary_lines_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut pool = Pool::new(config());
        join(&mut pool, 1);
        pool.new_job(Job::native(&header(20)), true);
        let out = pool.handle_line(5, 1, &bytes);
        prop_assert_eq!(out.len(), 1);
    }

    #[test]
    fn arbitrary_requests_never_panic(
        id in any::<u64>(),
        method in prop_oneof![
            Just("mining.subscribe".to_owned()),
            Just("mining.authorize".to_owned()),
            Just("mining.submit".to_owned()),
            ".{0,12}",
        ],
        params in proptest::collection::vec(
            prop_oneof![
                any::<u64>().prop_map(|n| json!(n)),
                "[0-9a-f]{0,18}".prop_map(|s| json!(s)),
                Just(json!(null)),
                Just(json!([1, 2])),
            ],
            0..5,
        ),
    ) {
        let mut pool = Pool::new(config());
        join(&mut pool, 1);
        pool.new_job(Job::comp3010(&course_job(1, 3)), true);
        let text = json!({"id": id, "method": method, "params": params}).to_string();
        let out = pool.handle_line(5, 1, text.as_bytes());
        prop_assert!(!out.is_empty());
    }
}

#[test]
fn a_found_course_share_builds_a_valid_course_block() {
    let mut pool = Pool::new(config());
    let prefix = join(&mut pool, 1);
    let course = course_job(2, 2);
    let job = Job::comp3010(&course);
    let (job_id, _) = pool.new_job(job.clone(), true);
    let nonce = mine(&job, prefix, 8, None, 0);
    let out = submit(&mut pool, 0, 1, &job_id, nonce);
    assert_eq!(
        out[0],
        PoolOutput::Found {
            conn: 1,
            job_id,
            nonce
        }
    );
    // What the peer does with Found: the nonce string from CourseSearch, the course's own hash.
    let search = votechain_course::CourseSearch::new(&course);
    let nonce_string = search.nonce_for(nonce);
    let hash = votechain_course::course_hash(
        course.prev.as_ref(),
        &course.mined_by,
        &course.messages,
        course.timestamp,
        &nonce_string,
    );
    assert_eq!(hash, job.hash(nonce));
    assert!(votechain_course::meets_difficulty(&hash, course.difficulty));
}

#[test]
fn dedup_is_bounded_per_job_and_forgets_the_oldest() {
    let mut pool = Pool::new(PoolConfig {
        dedup_per_job: 2,
        ..config()
    });
    let prefix = join(&mut pool, 1);
    let job = Job::native(&header(40));
    let (job_id, _) = pool.new_job(job.clone(), true);
    let a = mine(&job, prefix, 0, Some(40), 0);
    let b = mine(&job, prefix, 0, Some(40), (a & 0xffff) + 1);
    let c = mine(&job, prefix, 0, Some(40), (b & 0xffff) + 1);
    for nonce in [a, b, c] {
        submit(&mut pool, 0, 1, &job_id, nonce);
    }
    // c and b are remembered; a was forgotten, so it is judged again (and is low, not a dup).
    assert_eq!(code_of(&submit(&mut pool, 0, 1, &job_id, c)), Some(22));
    assert_ne!(code_of(&submit(&mut pool, 0, 1, &job_id, a)), Some(22));
}

#[test]
fn withdraw_makes_every_job_stale_and_keeps_the_sessions() {
    let mut pool = Pool::new(config());
    let prefix = join(&mut pool, 1);
    let job = Job::native(&header(30));
    let (first, _) = pool.new_job(job.clone(), true);
    let (second, _) = pool.new_job(job.clone(), false);
    pool.withdraw();
    assert!(pool.job(&first).is_none() && pool.job(&second).is_none());
    let nonce = mine(&job, prefix, 4, None, 0);
    assert_eq!(code_of(&submit(&mut pool, 0, 1, &second, nonce)), Some(21));
    // The session is still authorized and gets the next job.
    assert_eq!(pool.stats().miners, 1);
    assert_eq!(pool.authorized_name(1), Some("w"));
    let (third, out) = pool.new_job(job.clone(), true);
    assert_eq!(lines_to(&out, 1).len(), 1);
    assert_eq!(code_of(&submit(&mut pool, 0, 1, &third, nonce)), None);
}

#[test]
fn authorized_name_only_after_a_successful_authorize() {
    let mut pool = Pool::new(config());
    assert_eq!(pool.authorized_name(1), None);
    pool.connect(0, 1);
    line(&mut pool, 0, 1, r#"{"id":1,"method":"mining.subscribe"}"#);
    let wrong = r#"{"id":2,"method":"mining.authorize","params":["w","nope"]}"#;
    line(&mut pool, 0, 1, wrong);
    assert_eq!(pool.authorized_name(1), None);
    let auth = r#"{"id":2,"method":"mining.authorize","params":["miner one","secret"]}"#;
    line(&mut pool, 0, 1, auth);
    assert_eq!(pool.authorized_name(1), Some("miner one"));
    pool.disconnect(1);
    assert_eq!(pool.authorized_name(1), None);
}

#[test]
fn a_hash_rate_covers_the_last_20_to_40_seconds() {
    let mut m = RateMeter::new(0);
    // 1,000 hashes a second for a minute, at 100 shares of 10,000 hashes each.
    for t in 1..=60u64 {
        m.add(t * 1_000, 1_000);
    }
    assert!(
        (m.per_s(60_000) - 1_000.0).abs() < 60.0,
        "{}",
        m.per_s(60_000)
    );
    // Then ten times faster: within 40 s the old rate is forgotten.
    for t in 61..=100u64 {
        m.add(t * 1_000, 10_000);
    }
    assert!(
        (m.per_s(100_000) - 10_000.0).abs() < 600.0,
        "{}",
        m.per_s(100_000)
    );
    // Silence: the rate falls to nothing once both buckets are over.
    m.roll(200_000);
    assert_eq!(m.per_s(200_000), 0.0);
}
