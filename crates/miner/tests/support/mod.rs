//! A small mining port for the tests: `votechain_pool::Pool` behind real TCP on 127.0.0.1:0,
//! one task per connection. It records every submit with the pool's answer, and can publish
//! jobs, close every connection, or write raw bytes to them.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use votechain_chain::hash::sha256;
use votechain_chain::header::BlockHeader;
use votechain_course::CourseJob;
use votechain_pool::wire::{decode_request, decode_server_line, Request, ServerLine};
use votechain_pool::{ConnId, Job, Pool, PoolConfig, PoolOutput, VardiffConfig};
use votechain_sansio::ratelimit::Rate;

/// Long enough for a slow CI machine; tests poll until then, never sleep for a fixed time.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// One submit as the pool saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submit {
    /// The connection it came on (1, 2, … in connection order).
    pub conn: ConnId,
    /// The job id it quoted.
    pub job_id: String,
    /// The nonce.
    pub nonce: u64,
    /// The pool's error code, `None` when accepted.
    pub code: Option<u32>,
}

enum Command {
    Line(String),
    Raw(Vec<u8>),
    Close,
}

struct Inner {
    pool: Pool,
    start: Instant,
    conns: HashMap<ConnId, mpsc::UnboundedSender<Command>>,
    connections: u64,
    submits: Vec<Submit>,
}

/// The test's mining port.
pub struct TestPool {
    /// Where it listens.
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    stop: CancellationToken,
    tasks: TaskTracker,
}

/// A pool config with a fixed share target of `share_bits` and room for every submit.
pub fn config(share_bits: u32, token: Option<&str>) -> PoolConfig {
    PoolConfig {
        token: token.map(str::to_owned),
        submit_rate: Rate {
            per_s: 10_000,
            burst: 10_000,
        },
        vardiff: VardiffConfig {
            initial_bits: share_bits,
            min_bits: share_bits,
            max_bits: share_bits,
            ..VardiffConfig::default()
        },
        ..PoolConfig::default()
    }
}

/// A native job (its block target out of reach), distinct per `seed`.
pub fn native_job(seed: u64) -> Job {
    Job::native(&BlockHeader {
        version: 1,
        difficulty: 60,
        vote_count: 1,
        height: 10 + seed,
        timestamp_ms: 1_700_000_000_000 + seed,
        prev: sha256(&[b"prev", &seed.to_be_bytes()]),
        payload_root: sha256(&[b"root"]),
        miner_hash: sha256(&[b"pool"]),
        nonce: 0,
    })
}

/// A course job (its block target out of reach), distinct per `seed`.
pub fn course_job(seed: u64) -> Job {
    Job::comp3010(&CourseJob {
        prev: Some(sha256(&[b"parent", &seed.to_be_bytes()])),
        height: 20 + seed,
        mined_by: "pool".into(),
        messages: vec!["a vote".into()],
        timestamp: 1_700_000_000 + seed,
        difficulty: 15,
    })
}

impl TestPool {
    /// Starts listening on 127.0.0.1:0.
    pub async fn start(config: PoolConfig) -> TestPool {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let inner = Arc::new(Mutex::new(Inner {
            pool: Pool::new(config),
            start: Instant::now(),
            conns: HashMap::new(),
            connections: 0,
            submits: Vec::new(),
        }));
        let stop = CancellationToken::new();
        let tasks = TaskTracker::new();
        let (i, s, t) = (Arc::clone(&inner), stop.clone(), tasks.clone());
        tasks.spawn(async move {
            loop {
                let stream = tokio::select! {
                    _ = s.cancelled() => return,
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => stream,
                        Err(_) => continue,
                    },
                };
                let (tx, rx) = mpsc::unbounded_channel();
                let conn = {
                    let mut inner = lock(&i);
                    inner.connections += 1;
                    let conn = inner.connections;
                    let now = inner.now_ms();
                    inner.pool.connect(now, conn);
                    inner.conns.insert(conn, tx);
                    conn
                };
                t.spawn(serve(Arc::clone(&i), conn, stream, rx, s.clone()));
            }
        });
        TestPool {
            addr,
            inner,
            stop,
            tasks,
        }
    }

    /// Publishes `job` to every authorized miner; its id.
    pub fn publish(&self, job: Job, clean: bool) -> String {
        let mut inner = lock(&self.inner);
        let (job_id, out) = inner.pool.new_job(job, clean);
        inner.dispatch(out);
        job_id
    }

    /// Every submit so far, in arrival order.
    pub fn submits(&self) -> Vec<Submit> {
        lock(&self.inner).submits.clone()
    }

    /// Accepted submits quoting `job_id` on any connection.
    pub fn accepted_for(&self, job_id: &str) -> usize {
        let inner = lock(&self.inner);
        inner
            .submits
            .iter()
            .filter(|s| s.job_id == job_id && s.code.is_none())
            .count()
    }

    /// Accepted submits that came on connection `conn`.
    pub fn accepted_on(&self, conn: ConnId) -> usize {
        let inner = lock(&self.inner);
        inner
            .submits
            .iter()
            .filter(|s| s.conn == conn && s.code.is_none())
            .count()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        lock(&self.inner).connections
    }

    /// Closes every open connection.
    pub fn close_all(&self) {
        for tx in lock(&self.inner).conns.values() {
            let _ = tx.send(Command::Close);
        }
    }

    /// Writes `bytes` as they are to every open connection.
    pub fn send_raw(&self, bytes: &[u8]) {
        for tx in lock(&self.inner).conns.values() {
            let _ = tx.send(Command::Raw(bytes.to_vec()));
        }
    }

    /// Stops listening and closes every connection, waiting for the tasks.
    pub async fn stop(self) {
        self.stop.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }
}

impl Inner {
    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn dispatch(&mut self, out: Vec<PoolOutput>) {
        for o in out {
            if let PoolOutput::Send { conn, line } = o {
                if let Some(tx) = self.conns.get(&conn) {
                    let _ = tx.send(Command::Line(line));
                }
            }
        }
    }

    fn handle_line(&mut self, conn: ConnId, line: &[u8]) {
        let now = self.now_ms();
        let out = self.pool.handle_line(now, conn, line);
        if let Ok(Request::Submit { job_id, nonce, .. }) = decode_request(line) {
            let code = out.iter().find_map(|o| match o {
                PoolOutput::Send { line, .. } => match decode_server_line(line) {
                    Ok(ServerLine::Response { result, .. }) => Some(result.err().map(|e| e.0)),
                    _ => None,
                },
                PoolOutput::Found { .. } => None,
            });
            self.submits.push(Submit {
                conn,
                job_id,
                nonce,
                code: code.flatten(),
            });
        }
        self.dispatch(out);
    }
}

fn lock(inner: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    inner.lock().unwrap_or_else(|e| e.into_inner())
}

async fn serve(
    inner: Arc<Mutex<Inner>>,
    conn: ConnId,
    stream: TcpStream,
    mut commands: mpsc::UnboundedReceiver<Command>,
    stop: CancellationToken,
) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut buf = Vec::new();
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            command = commands.recv() => {
                let bytes = match command {
                    Some(Command::Line(line)) => format!("{line}\n").into_bytes(),
                    Some(Command::Raw(bytes)) => bytes,
                    Some(Command::Close) | None => break,
                };
                if write.write_all(&bytes).await.is_err() {
                    break;
                }
            }
            // Cancel-safe: a partial line stays in `buf` for the next call.
            read = reader.read_until(b'\n', &mut buf) => {
                if !matches!(read, Ok(n) if n > 0) {
                    break;
                }
                let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
                lock(&inner).handle_line(conn, line);
                buf.clear();
            }
        }
    }
    let mut inner = lock(&inner);
    inner.pool.disconnect(conn);
    inner.conns.remove(&conn);
}

/// Polls `done` every few milliseconds until it holds, panicking with `what` at the deadline.
pub async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
