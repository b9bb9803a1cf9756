//! The miner in-process against a real TCP mining port (`support::TestPool`): shares accepted
//! for both hash rules, a clean job taking over at once, reconnecting after the pool closes the
//! connection or floods it, and a refused token stopping the miner.

mod support;

use std::num::NonZeroUsize;
use support::{config, course_job, native_job, until, TestPool, DEADLINE};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use votechain_miner::{Miner, MinerConfig, MinerError, Progress, Summary};

/// A running in-process miner.
struct Running {
    progress: Progress,
    stop: CancellationToken,
    task: JoinHandle<Result<Summary, MinerError>>,
}

fn start_miner(pool: &TestPool, token: Option<&str>) -> Running {
    let mut config = MinerConfig::new(pool.addr.to_string(), "rig");
    config.threads = NonZeroUsize::new(2).unwrap();
    config.token = token.map(str::to_owned);
    let miner = Miner::new(config);
    let progress = miner.progress();
    let stop = CancellationToken::new();
    let task = tokio::spawn(miner.run(stop.clone().cancelled_owned()));
    Running {
        progress,
        stop,
        task,
    }
}

impl Running {
    async fn finish(self) -> Result<Summary, MinerError> {
        self.stop.cancel();
        tokio::time::timeout(DEADLINE, self.task)
            .await
            .expect("the miner stopped in time")
            .expect("the miner did not panic")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shares_are_accepted_for_both_hash_rules() {
    for job in [native_job(1), course_job(1)] {
        let pool = TestPool::start(config(12, Some("secret"))).await;
        let job_id = pool.publish(job, true);
        let miner = start_miner(&pool, Some("secret"));
        until("three shares are accepted", || {
            pool.accepted_for(&job_id) >= 3 && miner.progress.shares().accepted >= 3
        })
        .await;
        let summary = miner.finish().await.unwrap();
        let submits = pool.submits();
        assert!(
            submits
                .iter()
                .all(|s| s.code.is_none() && s.job_id == job_id),
            "{submits:?}"
        );
        assert!(summary.shares.accepted >= 3, "{summary}");
        assert_eq!((summary.shares.stale, summary.shares.rejected), (0, 0));
        // A share at 12 bits takes 4,096 hashes on average.
        assert!(summary.hashes >= 3 * 4_096 / 4, "{summary}");
        assert_eq!(pool.connections(), 1);
        pool.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_job_takes_over_at_once() {
    // Shares every 65,536 hashes: tens a second, so the submits on their way when the tip
    // changes (the only ones that can be stale) are few. At an easy target the miner's submit
    // burst (80) can all be on the wire at that moment.
    let pool = TestPool::start(config(16, None)).await;
    let first = pool.publish(native_job(1), true);
    let miner = start_miner(&pool, None);
    until("shares of the first job", || pool.accepted_for(&first) >= 2).await;
    // A new tip: the clean job replaces the first at once.
    let second = pool.publish(course_job(2), true);
    until("shares of the clean job", || {
        pool.accepted_for(&second) >= 2
    })
    .await;
    // A plain job moves the threads too (the second stays valid for shares in flight).
    let third = pool.publish(native_job(3), false);
    until("shares of the plain job", || pool.accepted_for(&third) >= 2).await;
    let summary = miner.finish().await.unwrap();
    let submits = pool.submits();
    let index = |job: &str| submits.iter().position(|s| s.job_id == job).unwrap();
    // Once the miner read the clean job it sent nothing for the first; only submits already
    // on their way can be stale.
    assert!(
        submits[index(&second)..].iter().all(|s| s.job_id != first),
        "{submits:?}"
    );
    let stale = submits.iter().filter(|s| s.code == Some(21)).count();
    assert!(stale <= 20, "{stale} stale shares: {submits:?}");
    assert!(
        submits
            .iter()
            .all(|s| s.code.is_none() || s.code == Some(21)),
        "{submits:?}"
    );
    // The miner counts answers it has read; the last ones may have been on their way.
    assert!(summary.shares.stale <= stale as u64, "{summary}");
    assert_eq!(summary.shares.rejected, 0);
    pool.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_miner_reconnects_when_the_pool_closes_or_floods_the_connection() {
    let pool = TestPool::start(config(12, None)).await;
    let job_id = pool.publish(native_job(1), true);
    let miner = start_miner(&pool, None);
    until("a share on the first connection", || {
        pool.accepted_on(1) >= 1
    })
    .await;
    pool.close_all();
    until("a share on the second connection", || {
        pool.accepted_on(2) >= 1
    })
    .await;
    // Garbage is skipped: shares keep coming on the same connection.
    pool.send_raw(b"not json\n\xff\xfe\n");
    let before = pool.accepted_on(2);
    until("more shares after the garbage", || {
        pool.accepted_on(2) >= before + 2
    })
    .await;
    assert_eq!(pool.connections(), 2);
    // A line over the limit closes the connection; the miner comes back again.
    pool.send_raw(&vec![b'x'; votechain_pool::wire::MAX_LINE + 100]);
    until("a share on the third connection", || {
        pool.accepted_on(3) >= 1
    })
    .await;
    assert!(miner.progress.sessions() >= 3);
    let summary = miner.finish().await.unwrap();
    assert_eq!(summary.shares.rejected, 0, "{summary}");
    assert!(pool.submits().iter().all(|s| s.job_id == job_id));
    pool.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_stops_the_miner() {
    let pool = TestPool::start(config(12, Some("secret"))).await;
    pool.publish(native_job(1), true);
    for token in [Some("wrong"), None] {
        let miner = start_miner(&pool, token);
        let outcome = tokio::time::timeout(DEADLINE, miner.task)
            .await
            .expect("the miner stopped by itself")
            .expect("the miner did not panic");
        let Err(MinerError::Unauthorized { pool: addr, reason }) = outcome else {
            panic!("{outcome:?}");
        };
        assert_eq!(addr, pool.addr.to_string());
        assert_eq!(reason, "The connection is not authorized.");
    }
    assert_eq!(pool.connections(), 2, "no retry after a refused token");
    pool.stop().await;
}
