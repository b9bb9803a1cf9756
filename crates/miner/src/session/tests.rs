//! The session driven by the pool's own lines: the handshake, jobs, shares and their answers,
//! every way a session ends, skipped lines, and a session talking to a real `Pool` in memory.

use super::*;
use crate::search::tests::{course_job, native_job};
use serde_json::json;
use votechain_pool::wire::{
    decode_request, encode_error, encode_notify, encode_result, encode_set_target, Request,
};
use votechain_pool::{Pool, PoolConfig, PoolOutput, VardiffConfig};

fn config() -> SessionConfig {
    SessionConfig {
        name: "rig-1".into(),
        token: Some("secret".into()),
        agent: "votechain-miner/test".into(),
        submit_rate: Rate {
            per_s: 10,
            burst: 5,
        },
    }
}

fn drain(s: &mut Session) -> Vec<Output> {
    std::iter::from_fn(|| s.poll_output()).collect()
}

fn line(s: &mut Session, text: &str) -> Vec<Output> {
    s.handle_line(text.as_bytes());
    drain(s)
}

/// The requests in `outputs`, decoded as the pool would.
fn requests(outputs: &[Output]) -> Vec<Request> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send(l) => Some(decode_request(l.as_bytes()).unwrap()),
            _ => None,
        })
        .collect()
}

/// A session through the handshake with prefix 0x00ab, share target 10 and job "1".
fn working(job: &Job) -> Session {
    let mut s = Session::new(config(), 0);
    let out = drain(&mut s);
    assert_eq!(
        requests(&out),
        [Request::Subscribe {
            id: 1,
            agent: Some("votechain-miner/test".into())
        }]
    );
    let out = line(&mut s, &encode_result(1, json!(["5", "00ab", 16])));
    assert_eq!(
        requests(&out),
        [Request::Authorize {
            id: 2,
            name: "rig-1".into(),
            token: Some("secret".into())
        }]
    );
    let out = line(&mut s, &encode_result(2, json!(true)));
    assert_eq!(
        out,
        [Output::Authorized {
            session_id: "5".into(),
            prefix: 0xab
        }]
    );
    assert_eq!(
        line(&mut s, &encode_set_target(10)),
        [Output::ShareTarget(10)]
    );
    let out = line(&mut s, &encode_notify("1", job, true));
    assert_eq!(
        out,
        [Output::Work {
            work: work("1", job),
            clean: true
        }]
    );
    s
}

fn work(job_id: &str, job: &Job) -> Work {
    Work {
        job_id: job_id.into(),
        job: job.clone(),
        prefix: 0xab,
    }
}

fn share(job_id: &str, counter: u64, block: bool) -> FoundShare {
    FoundShare {
        job_id: job_id.into(),
        nonce: 0xab << 48 | counter,
        block,
    }
}

#[test]
fn a_job_before_authorize_is_hashed_once_authorized() {
    let job = native_job(20);
    let mut s = Session::new(config(), 0);
    drain(&mut s);
    line(&mut s, &encode_result(1, json!(["5", "00ab", 16])));
    assert_eq!(line(&mut s, &encode_notify("7", &job, true)), []);
    let out = line(&mut s, &encode_result(2, json!(true)));
    assert_eq!(
        out[1..],
        [Output::Work {
            work: work("7", &job),
            clean: false
        }]
    );
}

#[test]
fn shares_are_submitted_and_answers_counted() {
    let job = native_job(20);
    let mut s = working(&job);
    s.handle_share(0, share("1", 77, false));
    let out = drain(&mut s);
    assert_eq!(
        requests(&out),
        [Request::Submit {
            id: 3,
            worker: "rig-1".into(),
            job_id: "1".into(),
            nonce: 0xab << 48 | 77
        }]
    );
    assert_eq!(
        line(&mut s, &encode_result(3, json!(true))),
        [Output::Answer(Answer::Accepted)]
    );
    s.handle_share(0, share("1", 78, false));
    drain(&mut s);
    assert_eq!(
        line(&mut s, &encode_error(Some(4), ErrorCode::LowDifficulty)),
        [Output::Answer(Answer::Rejected {
            code: Some(23),
            message: ErrorCode::LowDifficulty.to_string()
        })]
    );
    // The same id again answers nothing of ours.
    assert_eq!(
        line(&mut s, &encode_result(4, json!(true))),
        [Output::Skipped(Skipped::UnknownResponse(4))]
    );
}

#[test]
fn a_stale_answer_for_the_current_job_idles_until_the_next_job() {
    let job = native_job(20);
    let mut s = working(&job);
    s.handle_share(0, share("1", 1, false));
    drain(&mut s);
    assert_eq!(
        line(&mut s, &encode_error(Some(3), ErrorCode::StaleJob)),
        [
            Output::Idle(IdleReason::Dropped),
            Output::Answer(Answer::Stale)
        ]
    );
    // Its shares are no longer sent; the next job starts the threads again.
    s.handle_share(0, share("1", 2, false));
    assert_eq!(drain(&mut s), []);
    let out = line(&mut s, &encode_notify("2", &job, false));
    assert_eq!(
        out,
        [Output::Work {
            work: work("2", &job),
            clean: false
        }]
    );
}

#[test]
fn a_stale_answer_for_an_older_job_only_counts() {
    let job = native_job(20);
    let mut s = working(&job);
    s.handle_share(0, share("1", 1, false));
    drain(&mut s);
    line(&mut s, &encode_notify("2", &job, true));
    assert_eq!(
        line(&mut s, &encode_error(Some(3), ErrorCode::StaleJob)),
        [Output::Answer(Answer::Stale)]
    );
}

#[test]
fn a_clean_job_drops_older_jobs_at_once_and_a_plain_one_keeps_them() {
    let job = native_job(20);
    let mut s = working(&job);
    line(&mut s, &encode_notify("2", &job, false));
    s.handle_share(0, share("1", 1, false));
    assert_eq!(requests(&drain(&mut s)).len(), 1, "job 1 is still valid");
    let out = line(&mut s, &encode_notify("3", &job, true));
    assert_eq!(
        out,
        [Output::Work {
            work: work("3", &job),
            clean: true
        }]
    );
    for old in ["1", "2"] {
        s.handle_share(0, share(old, 2, false));
    }
    assert_eq!(drain(&mut s), []);
    assert_eq!(s.held_back(), 2);
    s.handle_share(0, share("3", 2, false));
    assert_eq!(requests(&drain(&mut s)).len(), 1);
    // The same job sent again does not restart the threads.
    assert_eq!(line(&mut s, &encode_notify("3", &job, false)), []);
}

#[test]
fn shares_without_our_prefix_or_over_the_rate_are_held_back_but_blocks_go() {
    let job = course_job(1, 5);
    let mut s = working(&job);
    // A course nonce's prefix sits at bit 33, not 48.
    s.handle_share(0, share("1", 1, false));
    assert_eq!(drain(&mut s), []);
    let course_share = |counter: u64, block| FoundShare {
        job_id: "1".into(),
        nonce: 0xab << 33 | counter,
        block,
    };
    for counter in 0..5 {
        s.handle_share(0, course_share(counter, false));
    }
    assert_eq!(requests(&drain(&mut s)).len(), 5, "the burst");
    s.handle_share(0, course_share(10, false));
    assert_eq!(drain(&mut s), [], "over the rate");
    s.handle_share(100, course_share(12, false));
    assert_eq!(requests(&drain(&mut s)).len(), 1, "refilled after 100 ms");
    s.handle_share(100, course_share(13, false));
    assert_eq!(drain(&mut s), [], "over the rate again");
    s.handle_share(100, course_share(11, true));
    let out = drain(&mut s);
    assert_eq!(requests(&out).len(), 1, "a block always goes");
    assert_eq!(
        out.last(),
        Some(&Output::Idle(IdleReason::BlockFound { height: Some(3) })),
        "and ends the work on its parent"
    );
    s.handle_share(10_000, course_share(14, false));
    assert_eq!(drain(&mut s), [], "the job is over");
    assert_eq!(s.held_back(), 4);
}

#[test]
fn pending_submits_are_bounded() {
    let job = native_job(20);
    let mut s = working(&job);
    // A second apart: the rate always allows the next.
    for counter in 0..MAX_PENDING as u64 + 10 {
        s.handle_share(counter * 1_000, share("1", counter, false));
    }
    let sent = requests(&drain(&mut s)).len();
    // Subscribe and authorize were answered, so every pending request is a submit.
    assert_eq!(sent, MAX_PENDING);
    assert_eq!(s.held_back(), 10);
}

#[test]
fn the_handshake_has_a_deadline() {
    let mut s = Session::new(config(), 1_000);
    drain(&mut s);
    assert_eq!(s.poll_timeout(), Some(1_000 + HANDSHAKE_MS));
    s.handle_timeout(HANDSHAKE_MS);
    assert_eq!(drain(&mut s), []);
    s.handle_timeout(1_000 + HANDSHAKE_MS);
    assert_eq!(drain(&mut s), [Output::End(Ended::HandshakeTimeout)]);
    assert_eq!(s.poll_timeout(), None);
    // An ended session ignores everything.
    assert_eq!(
        line(&mut s, &encode_result(1, json!(["5", "00ab", 16]))),
        []
    );
    assert_eq!(working(&native_job(8)).poll_timeout(), None);
}

#[test]
fn every_way_the_handshake_fails() {
    let ends = |lines: &[String]| {
        let mut s = Session::new(config(), 0);
        drain(&mut s);
        let mut out = Vec::new();
        for l in lines {
            out.extend(line(&mut s, l));
        }
        out.into_iter()
            .find_map(|o| match o {
                Output::End(e) => Some(e),
                _ => None,
            })
            .unwrap()
    };
    let subscribed = encode_result(1, json!(["5", "00ab", 16]));
    let refused = ends(&[
        subscribed.clone(),
        encode_error(Some(2), ErrorCode::Unauthorized),
    ]);
    assert_eq!(
        refused,
        Ended::Unauthorized(ErrorCode::Unauthorized.to_string())
    );
    assert!(refused.is_fatal());
    let other = ends(&[subscribed.clone(), encode_error(Some(2), ErrorCode::Other)]);
    assert!(matches!(other, Ended::AuthorizeRefused { code: 20, .. }));
    assert!(!other.is_fatal());
    assert!(ends(&[subscribed, encode_result(2, json!(false))]).is_fatal());
    assert!(matches!(
        ends(&[encode_error(Some(1), ErrorCode::Other)]),
        Ended::SubscribeRefused { code: 20, .. }
    ));
    for bad in [
        json!(true),
        json!(["5", "xyz", 16]),
        json!(["5", "00ab", 8]),
    ] {
        assert_eq!(ends(&[encode_result(1, bad)]), Ended::BadSubscribe);
    }
}

#[test]
fn malformed_lines_are_skipped_and_the_session_goes_on() {
    let job = native_job(20);
    let mut s = working(&job);
    s.handle_line(&[0xff, 0xfe]);
    assert_eq!(drain(&mut s), [Output::Skipped(Skipped::NotUtf8)]);
    for junk in [
        "garbage",
        "[]",
        r#"{"method":"mining.notify","params":[1]}"#,
    ] {
        let out = line(&mut s, junk);
        assert!(
            matches!(out[..], [Output::Skipped(Skipped::Malformed(_))]),
            "{out:?}"
        );
    }
    assert_eq!(
        line(&mut s, &encode_error(None, ErrorCode::Other)),
        [Output::Skipped(Skipped::Unreadable(
            20,
            ErrorCode::Other.to_string()
        ))]
    );
    // A line ending in \r\n still reads.
    assert_eq!(
        line(&mut s, &format!("{}\r", encode_set_target(12))),
        [Output::ShareTarget(12)]
    );
    s.handle_share(0, share("1", 1, false));
    assert_eq!(requests(&drain(&mut s)).len(), 1);
}

/// A session and a real pool, connected in memory: every line one side writes is read by the
/// other.
struct Pair {
    pool: Pool,
    session: Session,
    now: u64,
}

impl Pair {
    /// Moves lines both ways until neither side has more; returns what the session output
    /// other than its lines.
    fn settle(&mut self, pool_out: Vec<PoolOutput>) -> Vec<Output> {
        let mut to_session: Vec<String> = pool_lines(pool_out);
        let mut events = Vec::new();
        loop {
            for l in to_session.drain(..) {
                self.session.handle_line(l.as_bytes());
            }
            let mut to_pool = Vec::new();
            while let Some(o) = self.session.poll_output() {
                match o {
                    Output::Send(l) => to_pool.push(l),
                    other => events.push(other),
                }
            }
            if to_pool.is_empty() {
                return events;
            }
            for l in to_pool {
                let out = self.pool.handle_line(self.now, 1, l.as_bytes());
                to_session.extend(pool_lines(out));
            }
        }
    }
}

fn pool_lines(out: Vec<PoolOutput>) -> Vec<String> {
    out.into_iter()
        .filter_map(|o| match o {
            PoolOutput::Send { line, .. } => Some(line),
            PoolOutput::Found { .. } => None,
        })
        .collect()
}

/// The first shares (at most `n`) of `work` at `bits`, found the slow way.
fn shares_of(work: &Work, bits: u32, n: usize) -> Vec<FoundShare> {
    let shift = work.job.kind().nonce_bits() - PREFIX_BITS;
    (0..)
        .map(|c| u64::from(work.prefix) << shift | c)
        .filter(|nonce| work.job.meets(&work.job.state_for(*nonce), bits))
        .take(n)
        .map(|nonce| FoundShare {
            job_id: Arc::clone(&work.job_id),
            nonce,
            block: work
                .job
                .meets(&work.job.state_for(nonce), work.job.block_bits()),
        })
        .collect()
}

#[test]
fn a_session_mines_with_a_real_pool() {
    for job in [native_job(30), course_job(2, 8)] {
        let mut pool = Pool::new(PoolConfig {
            token: Some("secret".into()),
            vardiff: VardiffConfig {
                initial_bits: 6,
                ..VardiffConfig::default()
            },
            ..PoolConfig::default()
        });
        pool.connect(0, 1);
        let (job_id, _) = pool.new_job(job.clone(), true);
        let mut pair = Pair {
            pool,
            session: Session::new(config(), 0),
            now: 0,
        };
        let events = pair.settle(Vec::new());
        let Some(Output::Work { work, clean: true }) = events.last().cloned() else {
            panic!("{events:?}");
        };
        assert_eq!(*work.job_id, *job_id);
        assert!(events.contains(&Output::ShareTarget(6)));
        for found in shares_of(&work, 6, 3) {
            pair.session.handle_share(0, found);
        }
        let answers = pair.settle(Vec::new());
        assert_eq!(answers, vec![Output::Answer(Answer::Accepted); 3]);
        assert_eq!(pair.pool.stats().shares.accepted, 3);
        // A new tip: the pool's clean job replaces the old one, whose late shares stay home.
        let (next_id, out) = pair.pool.new_job(job.clone(), true);
        let events = pair.settle(out);
        assert!(
            matches!(&events[..], [Output::Work { work, clean: true }] if *work.job_id == *next_id)
        );
        pair.session
            .handle_share(0, shares_of(&work, 6, 4)[3].clone());
        assert_eq!(pair.settle(Vec::new()), []);
        assert_eq!(pair.session.held_back(), 1);
        assert_eq!(pair.pool.stats().shares.stale, 0);
    }
}
