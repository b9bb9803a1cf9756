//! The state every task of the mining port shares, behind one `std::sync::Mutex` that is never
//! held across an `.await`: the pool, the tags of its valid jobs, each open connection's
//! outgoing queue and close token, the server's counters and the log limiter. Delivering the
//! pool's outputs happens here, under the same lock, so a publish is one lock, one
//! `Pool::new_job` and one `try_send` per miner.

use super::{FoundShare, MiningPortConfig, PoolSnapshot};
use crate::loglimit::LogLimiter;
use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;
use tokio::sync::mpsc::{self, error::TrySendError};
use tokio_util::sync::CancellationToken;
use votechain_pool::{wire, ConnId, ErrorCode, Job, Pool, PoolOutput};

/// What the tasks share.
#[derive(Debug)]
pub(super) struct Shared {
    /// The server's settings, read by every task.
    pub(super) config: MiningPortConfig,
    /// The pool's clock starts here: `now_ms` is the time since.
    epoch: Instant,
    /// Everything that changes.
    core: Mutex<Core>,
}

impl Shared {
    /// The state of a new server whose found shares go to `found`.
    pub(super) fn new(
        config: MiningPortConfig,
        found: mpsc::UnboundedSender<FoundShare>,
    ) -> Shared {
        let core = Core {
            pool: Pool::new(config.pool.clone()),
            tags: VecDeque::new(),
            conns: HashMap::new(),
            next_conn: 1,
            found,
            counters: Counters::default(),
            log: LogLimiter::default(),
        };
        Shared {
            config,
            epoch: Instant::now(),
            core: Mutex::new(core),
        }
    }

    /// Milliseconds since the server started, the pool's clock.
    pub(super) fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The state, locked. A task that panicked while holding the lock left the pool in a state
    /// that is still memory-safe and whose worst case is a wrong counter, so serving goes on.
    pub(super) fn lock(&self) -> MutexGuard<'_, Core> {
        self.core.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A warning that the network can repeat, at most once per interval per `kind`.
    pub(super) fn warn_limited(&self, kind: &'static str, sentence: &str) {
        let now_ms = self.now_ms();
        if let Some(held) = self.lock().log.allow(kind, now_ms) {
            tracing::warn!("{sentence}{}", held_note(held));
        }
    }

    /// A debug line that the network can repeat, at most once per interval per `kind`.
    pub(super) fn debug_limited(&self, kind: &'static str, sentence: &str) {
        let now_ms = self.now_ms();
        if let Some(held) = self.lock().log.allow(kind, now_ms) {
            tracing::debug!("{sentence}{}", held_note(held));
        }
    }
}

/// How many lines of a kind were held back, as the end of the next one.
fn held_note(held: u64) -> String {
    if held == 0 {
        String::new()
    } else {
        format!(" ({held} more since the last such line)")
    }
}

/// The counters the server keeps beside the pool's.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Counters {
    /// Connections refused over `max_connections`.
    pub(super) refused_connections: u64,
    /// Connections closed as slow readers.
    pub(super) dropped_slow: u64,
    /// Connections closed by a timeout.
    pub(super) timed_out: u64,
    /// Connections closed for an oversized line.
    pub(super) oversized_lines: u64,
}

/// One open connection, as the other tasks reach it.
#[derive(Debug)]
struct Conn {
    /// Its writer task's queue of lines.
    lines: mpsc::Sender<String>,
    /// Cancelled to close it at once.
    close: CancellationToken,
}

/// Everything that changes, under the lock.
#[derive(Debug)]
pub(super) struct Core {
    /// The protocol.
    pool: Pool,
    /// The caller's tag of each valid job, by wire job id; never more than the pool's jobs.
    tags: VecDeque<(String, u64)>,
    /// Open connections.
    conns: HashMap<ConnId, Conn>,
    /// The next connection's id; ids are never reused.
    next_conn: ConnId,
    /// Where found shares go.
    found: mpsc::UnboundedSender<FoundShare>,
    /// The server's counters.
    pub(super) counters: Counters,
    /// Holds back repeated log lines caused by remote input.
    log: LogLimiter,
}

impl Core {
    /// Registers a new connection, closed by `close`, with its queue of outgoing lines; `None`
    /// (counted and logged) when `max_connections` are open.
    pub(super) fn open(
        &mut self,
        now_ms: u64,
        close: CancellationToken,
        config: &MiningPortConfig,
    ) -> Option<(ConnId, mpsc::Receiver<String>)> {
        if self.conns.len() >= config.max_connections {
            self.counters.refused_connections += 1;
            if let Some(held) = self.log.allow("mining connection refused", now_ms) {
                tracing::warn!(
                    "A mining connection was refused: {} are open, the most allowed{}.",
                    self.conns.len(),
                    held_note(held)
                );
            }
            return None;
        }
        let conn = self.next_conn;
        self.next_conn += 1;
        let (tx, rx) = mpsc::channel(config.write_queue.max(1));
        self.conns.insert(conn, Conn { lines: tx, close });
        self.pool.connect(now_ms, conn);
        Some((conn, rx))
    }

    /// Forgets connection `conn`: no more lines are queued for it (its writer ends once the
    /// queue is written) and its nonce prefix is free. Closing twice is harmless.
    pub(super) fn close(&mut self, conn: ConnId) {
        self.conns.remove(&conn);
        self.pool.disconnect(conn);
    }

    /// One line from `conn`, answered through the queues.
    pub(super) fn handle_line(&mut self, now_ms: u64, conn: ConnId, line: &[u8]) {
        let out = self.pool.handle_line(now_ms, conn, line);
        self.deliver(now_ms, out);
    }

    /// The name `conn` authorized with, once it has.
    pub(super) fn authorized_name(&self, conn: ConnId) -> Option<&str> {
        self.pool.authorized_name(conn)
    }

    /// Answers an oversized line from `conn` with one error line and counts it; the caller
    /// closes the connection.
    pub(super) fn oversized(&mut self, now_ms: u64, conn: ConnId) {
        self.counters.oversized_lines += 1;
        let line = wire::encode_error(None, ErrorCode::Other);
        self.deliver(now_ms, vec![PoolOutput::Send { conn, line }]);
        if let Some(held) = self.log.allow("mining oversized line", now_ms) {
            tracing::debug!(
                "Mining connection {conn} sent a line over {} bytes and is closed{}.",
                wire::MAX_LINE,
                held_note(held)
            );
        }
    }

    /// Counts `conn` as a slow reader and closes it at once.
    pub(super) fn drop_slow(&mut self, now_ms: u64, conn: ConnId) {
        self.counters.dropped_slow += 1;
        if let Some(c) = self.conns.get(&conn) {
            c.close.cancel();
        }
        self.close(conn);
        if let Some(held) = self.log.allow("mining slow reader", now_ms) {
            tracing::info!(
                "Mining connection {conn} does not read what it is sent and is closed{}.",
                held_note(held)
            );
        }
    }

    /// Counts a timed-out connection; the caller closes it.
    pub(super) fn timed_out(&mut self, now_ms: u64, conn: ConnId, what: &str) {
        self.counters.timed_out += 1;
        if let Some(held) = self.log.allow("mining timeout", now_ms) {
            tracing::debug!(
                "Mining connection {conn} is closed: {what}{}.",
                held_note(held)
            );
        }
    }

    /// Publishes `job` under `tag` to every authorized miner.
    pub(super) fn publish(&mut self, now_ms: u64, tag: u64, job: Job, clean: bool) {
        let (job_id, out) = self.pool.new_job(job, clean);
        self.tags.push_back((job_id, tag));
        // The pool keeps a bounded number of jobs; keep the tags of exactly those.
        let pool = &self.pool;
        self.tags.retain(|(id, _)| pool.job(id).is_some());
        self.deliver(now_ms, out);
    }

    /// Every job is stale from now on.
    pub(super) fn withdraw(&mut self) {
        self.pool.withdraw();
        self.tags.clear();
    }

    /// True while a job is valid: a miner then has work and nothing to be silent about.
    pub(super) fn has_work(&self) -> bool {
        !self.tags.is_empty()
    }

    /// The pool's periodic tick.
    pub(super) fn handle_timeout(&mut self, now_ms: u64) {
        let out = self.pool.handle_timeout(now_ms);
        self.deliver(now_ms, out);
    }

    /// What the server shows now.
    pub(super) fn snapshot(&self, now_ms: u64) -> PoolSnapshot {
        PoolSnapshot {
            stats: self.pool.stats().clone(),
            miners: self.pool.miners(now_ms),
            connections: self.conns.len(),
            refused_connections: self.counters.refused_connections,
            dropped_slow: self.counters.dropped_slow,
            timed_out: self.counters.timed_out,
            oversized_lines: self.counters.oversized_lines,
        }
    }

    /// Performs the pool's outputs: lines into the queues (a full queue closes its connection
    /// as a slow reader), found shares to the peer with their job's tag.
    fn deliver(&mut self, now_ms: u64, out: Vec<PoolOutput>) {
        for output in out {
            match output {
                PoolOutput::Send { conn, line } => {
                    let Some(c) = self.conns.get(&conn) else {
                        continue; // closing: nobody to tell
                    };
                    match c.lines.try_send(line) {
                        Ok(()) | Err(TrySendError::Closed(_)) => {}
                        Err(TrySendError::Full(_)) => self.drop_slow(now_ms, conn),
                    }
                }
                PoolOutput::Found {
                    conn,
                    job_id,
                    nonce,
                } => self.found(conn, &job_id, nonce),
            }
        }
    }

    /// A share that meets its job's block target: to the peer, and a sentence in the log.
    fn found(&mut self, conn: ConnId, job_id: &str, nonce: u64) {
        let miner = self.pool.authorized_name(conn).unwrap_or("").to_owned();
        // The pool found the job valid a moment ago under this lock, so its tag is here.
        let Some(tag) = self
            .tags
            .iter()
            .find_map(|(id, tag)| (id == job_id).then_some(*tag))
        else {
            tracing::warn!("A block found by miner {miner} was for job {job_id}, which has no tag; it is dropped.");
            return;
        };
        let height = self.pool.job(job_id).map_or(0, Job::height);
        tracing::debug!("Miner {miner} found a block at height {height} with nonce {nonce:016x}.");
        // The peer may have stopped listening while shutting down; nothing to do then.
        let _ = self.found.send(FoundShare { tag, nonce, miner });
    }
}
