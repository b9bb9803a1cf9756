//! The real `miner` binary: it gets a share accepted, prints its report lines on stdout and,
//! on SIGINT, its final line before exiting 0; a refused token exits 1 with a sentence.

mod support;

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Instant;
use support::{config, native_job, until, TestPool, DEADLINE};

/// The child, killed if the test fails before it exits.
struct Miner {
    child: Child,
    stdout: mpsc::Receiver<String>,
}

impl Miner {
    fn spawn(args: &[&str]) -> Miner {
        let mut child = Command::new(env!("CARGO_BIN_EXE_miner"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting the miner");
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Miner { child, stdout: rx }
    }

    /// Lines on stdout until one starts with `prefix`, which is returned.
    async fn line_starting(&self, prefix: &str) -> String {
        self.line_where(prefix, |l| l.starts_with(prefix)).await
    }

    /// Lines on stdout until one satisfies `wanted` (described by `what`), which is returned.
    async fn line_where(&self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            match self.stdout.try_recv() {
                Ok(line) if wanted(&line) => return line,
                Ok(_) => {}
                Err(mpsc::TryRecvError::Empty) => {
                    assert!(start.elapsed() < DEADLINE, "no line {what:?}");
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
                Err(mpsc::TryRecvError::Disconnected) => panic!("stdout closed before {what:?}"),
            }
        }
    }

    fn signal(&self, which: &str) {
        let status = Command::new("kill")
            .args([which, &self.child.id().to_string()])
            .status()
            .expect("running kill");
        assert!(status.success(), "kill {which}: {status}");
    }

    /// The exit code, waiting until the deadline.
    async fn exit_code(&mut self) -> Option<i32> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(start.elapsed() < DEADLINE, "the miner did not exit");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }
}

impl Drop for Miner {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The numbers of a final line, `stopped after N hashes in T s (R UNIT); shares: A accepted,
/// S stale, J rejected`, checked for shape.
fn parse_final(line: &str) -> (u64, f64, u64, u64, u64) {
    let rest = line.strip_prefix("stopped after ").expect(line);
    let (hashes, rest) = rest.split_once(" hashes in ").expect(line);
    let (secs, rest) = rest.split_once(" s (").expect(line);
    let (rate, rest) = rest.split_once("); shares: ").expect(line);
    let (value, unit) = rate.split_once(' ').expect(line);
    assert!(["H/s", "kH/s", "MH/s", "GH/s"].contains(&unit), "{line}");
    assert_eq!(
        value.split_once('.').map(|(_, d)| d.len()),
        Some(2),
        "{line}"
    );
    let counts: Vec<u64> = rest
        .split(", ")
        .zip(["accepted", "stale", "rejected"])
        .map(|(part, label)| {
            let (n, l) = part.split_once(' ').expect(line);
            assert_eq!(l, label, "{line}");
            n.parse().expect(line)
        })
        .collect();
    assert_eq!(counts.len(), 3, "{line}");
    (
        hashes.parse().expect(line),
        secs.parse().expect(line),
        counts[0],
        counts[1],
        counts[2],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_mines_reports_and_stops_cleanly_on_sigint() {
    let pool = TestPool::start(config(12, Some("secret"))).await;
    let job_id = pool.publish(native_job(1), true);
    let addr = pool.addr.to_string();
    let mut miner = Miner::spawn(&[
        "--connect",
        &addr,
        "--threads",
        "1",
        "--name",
        "rig-7",
        "--token",
        "secret",
        "--report-every",
        "0.2",
    ]);
    let connected = miner.line_starting("connected to ").await;
    assert!(
        connected.starts_with(&format!("connected to {addr} as rig-7 (session ")),
        "{connected}"
    );
    until("a share is accepted", || pool.accepted_for(&job_id) >= 1).await;
    // Report lines until one counts the answer.
    let report = miner
        .line_where("a report with an accepted share", |l| {
            l.starts_with("hash rate ") && !l.contains("shares: 0 accepted")
        })
        .await;
    assert!(
        report.contains(" over the last 0.2 s on 1 thread; shares: "),
        "{report}"
    );
    miner.signal("-INT");
    let last = miner.line_starting("stopped after ").await;
    assert_eq!(miner.exit_code().await, Some(0));
    let (hashes, secs, accepted, _, rejected) = parse_final(&last);
    assert!(hashes > 0 && secs > 0.0, "{last}");
    assert!(accepted >= 1, "{last}");
    assert_eq!(rejected, 0, "{last}");
    pool.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_exits_1_when_the_token_is_refused() {
    let pool = TestPool::start(config(12, Some("secret"))).await;
    let addr = pool.addr.to_string();
    let mut miner = Miner::spawn(&["--connect", &addr, "--threads", "1", "--token", "nope"]);
    assert_eq!(miner.exit_code().await, Some(1));
    let mut stderr = String::new();
    std::io::Read::read_to_string(miner.child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(
        stderr.contains(&format!(
            "miner: the pool at {addr} refused the authorization: The connection is not authorized."
        )),
        "{stderr}"
    );
    pool.stop().await;
}

#[test]
fn the_final_line_parses() {
    let line = "stopped after 123456789 hashes in 12.3 s (10.04 MH/s); shares: 12 accepted, 1 stale, 0 rejected";
    assert_eq!(parse_final(line), (123_456_789, 12.3, 12, 1, 0));
}
