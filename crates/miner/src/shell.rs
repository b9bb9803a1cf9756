//! The tokio side of the miner: it connects, reads the pool's lines (bounded, cancel-safe),
//! feeds them and the threads' shares to a [`Session`], performs what the session asks
//! (writes, jobs for the threads, counters, logs), and reconnects with backoff when the
//! connection fails. A second future prints the report line every period. Nothing here decides
//! protocol questions; those are the session's.

use crate::backoff::Backoff;
use crate::hasher::Hasher;
use crate::lines::{LineError, LineReader};
use crate::report::{report_line, Rate, Summary};
use crate::session::{Answer, FoundShare, IdleReason, Output, Session, SessionConfig};
use crate::{MinerConfig, MinerError, Progress};
use std::convert::Infallible;
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt as _;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{debug, info, warn};
use votechain_runtime::print_answer;
use votechain_sansio::loglimit::LogLimiter;

/// Shares the threads may queue for the shell; more are dropped (and counted) rather than
/// queued without bound.
const FOUND_QUEUE: usize = 1024;
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the pool may leave one of our lines unread before the connection counts as lost.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs a miner: see [`crate::Miner::run`].
pub(crate) async fn run(
    config: MinerConfig,
    progress: Progress,
    shutdown: impl Future<Output = ()>,
) -> Result<Summary, MinerError> {
    let start = Instant::now();
    let (found_tx, mut found_rx) = mpsc::channel(FOUND_QUEUE);
    let hasher = Hasher::start(
        config.threads.get(),
        Arc::clone(&progress.inner.hashes),
        found_tx,
    )
    .map_err(MinerError::Threads)?;
    let mut shutdown = pin!(shutdown);
    let mut shell = Shell {
        config: &config,
        progress: &progress,
        hasher: &hasher,
        found: &mut found_rx,
        start,
        logs: LogLimiter::default(),
        backoff: Backoff::default(),
    };
    let outcome = tokio::select! {
        outcome = shell.mine(&mut shutdown) => outcome,
        never = report(&config, &progress) => match never {},
    };
    let dropped = hasher.dropped();
    if dropped > 0 {
        debug!("{dropped} shares found while the queue to the connection was full were dropped");
    }
    // Joined before counting, so the summary includes every nonce tried.
    hasher.stop();
    outcome?;
    Ok(Summary {
        hashes: progress.hashes(),
        elapsed: start.elapsed(),
        shares: progress.shares(),
    })
}

/// How one connection ended.
enum Served {
    /// The shutdown future completed.
    Shutdown,
    /// The pool refused the token: stop with this sentence.
    Fatal(String),
    /// Anything else: reconnect. The reason, as a sentence.
    Lost(String),
}

/// What woke a connection's loop.
enum Event {
    Line(Result<Option<Vec<u8>>, LineError>),
    Share(FoundShare),
    Timeout,
}

/// The state that outlives connections.
struct Shell<'a> {
    config: &'a MinerConfig,
    progress: &'a Progress,
    hasher: &'a Hasher,
    /// The threads' shares.
    found: &'a mut mpsc::Receiver<FoundShare>,
    /// The run's start: the session's clock counts milliseconds from it.
    start: Instant,
    /// Limits the lines a pool can make us write.
    logs: LogLimiter,
    /// The delay before the next attempt.
    backoff: Backoff,
}

impl Shell<'_> {
    /// Milliseconds since the start, the session's clock.
    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    /// Connects, serves, and reconnects with backoff, until the shutdown or a refused token.
    async fn mine<S: Future<Output = ()>>(
        &mut self,
        shutdown: &mut Pin<&mut S>,
    ) -> Result<(), MinerError> {
        let pool = self.config.connect.clone();
        loop {
            let connect = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(pool.as_str()));
            let attempt = tokio::select! {
                biased;
                () = shutdown.as_mut() => return Ok(()),
                attempt = connect => attempt,
            };
            let failure = match attempt {
                Err(_) => format!("cannot connect to {pool}: no answer within 10 s"),
                Ok(Err(e)) => format!("cannot connect to {pool}: {e}"),
                Ok(Ok(stream)) => match self.serve(stream, shutdown).await {
                    Served::Shutdown => return Ok(()),
                    Served::Fatal(reason) => return Err(MinerError::Unauthorized { pool, reason }),
                    Served::Lost(reason) => format!("lost the connection to {pool}: {reason}"),
                },
            };
            // The jobs were this connection's, and the prefix too: nothing left to hash.
            self.hasher.set_work(None);
            let delay = self.backoff.next_delay(rand::random());
            warn!("{failure}; retrying in {:.1} s", delay.as_secs_f64());
            tokio::select! {
                biased;
                () = shutdown.as_mut() => return Ok(()),
                () = tokio::time::sleep(delay) => {}
            }
        }
    }

    /// One connection, from subscribe to its end.
    async fn serve<S: Future<Output = ()>>(
        &mut self,
        stream: TcpStream,
        shutdown: &mut Pin<&mut S>,
    ) -> Served {
        // Submits are small and latency matters more than packet count.
        let _ = stream.set_nodelay(true);
        let peer = stream
            .peer_addr()
            .map_or_else(|_| self.config.connect.clone(), |a| a.to_string());
        let (read, mut write) = stream.into_split();
        let mut lines = LineReader::new(read);
        // Shares still queued were found for the last connection's jobs and prefix.
        while self.found.try_recv().is_ok() {}
        let mut session = Session::new(self.session_config(), self.now_ms());
        let served = self
            .session(&mut session, &peer, &mut lines, &mut write, shutdown)
            .await;
        if session.held_back() > 0 {
            debug!(
                "{} shares of this connection were not sent (stale job, over the submit rate)",
                session.held_back()
            );
        }
        served
    }

    /// The loop of one connection's session.
    async fn session<S: Future<Output = ()>>(
        &mut self,
        session: &mut Session,
        peer: &str,
        lines: &mut LineReader<OwnedReadHalf>,
        write: &mut OwnedWriteHalf,
        shutdown: &mut Pin<&mut S>,
    ) -> Served {
        loop {
            while let Some(output) = session.poll_output() {
                if let Some(end) = self.perform(output, peer, write, shutdown).await {
                    return end;
                }
            }
            let deadline = session
                .poll_timeout()
                .map(|ms| self.start + Duration::from_millis(ms));
            let event = tokio::select! {
                biased;
                () = shutdown.as_mut() => return Served::Shutdown,
                line = lines.next_line() => Event::Line(line),
                Some(share) = self.found.recv() => Event::Share(share),
                () = tokio::time::sleep_until(deadline.unwrap_or(self.start)), if deadline.is_some() => {
                    Event::Timeout
                }
            };
            match event {
                Event::Line(Ok(Some(line))) => session.handle_line(&line),
                Event::Line(Ok(None)) => return Served::Lost("the pool closed it".into()),
                Event::Line(Err(e)) => return Served::Lost(e.to_string()),
                Event::Share(share) => session.handle_share(self.now_ms(), share),
                Event::Timeout => session.handle_timeout(self.now_ms()),
            }
        }
    }

    fn session_config(&self) -> SessionConfig {
        SessionConfig {
            name: self.config.name.clone(),
            token: self.config.token.clone(),
            agent: format!("votechain-miner/{}", env!("CARGO_PKG_VERSION")),
            submit_rate: self.config.submit_rate,
        }
    }

    /// Does what the session asked; `Some` when the connection is over.
    async fn perform<S: Future<Output = ()>>(
        &mut self,
        output: Output,
        peer: &str,
        write: &mut OwnedWriteHalf,
        shutdown: &mut Pin<&mut S>,
    ) -> Option<Served> {
        let counters = &self.progress.inner;
        match output {
            Output::Send(line) => {
                let mut bytes = line.into_bytes();
                bytes.push(b'\n');
                let written = tokio::time::timeout(WRITE_TIMEOUT, write.write_all(&bytes));
                return tokio::select! {
                    biased;
                    () = shutdown.as_mut() => Some(Served::Shutdown),
                    written = written => match written {
                        Ok(Ok(())) => None,
                        Ok(Err(e)) => Some(Served::Lost(e.to_string())),
                        Err(_) => Some(Served::Lost("the pool left our lines unread for 10 s".into())),
                    },
                };
            }
            Output::Authorized { session_id, prefix } => {
                self.backoff.reset();
                counters.sessions.fetch_add(1, Ordering::Relaxed);
                let line = format!(
                    "connected to {peer} as {} (session {session_id}, prefix {prefix:04x})",
                    self.config.name
                );
                if self.config.report_every.is_some() {
                    print_answer(&line);
                } else {
                    info!("{line}");
                }
            }
            Output::Work { work, clean } => {
                let clean = if clean { " (clean)" } else { "" };
                debug!(
                    "new job {} at height {}{clean}",
                    work.job_id,
                    work.job.height()
                );
                self.hasher.set_work(Some(work));
                counters.working.store(true, Ordering::Relaxed);
            }
            Output::Idle(reason) => {
                self.hasher.set_work(None);
                counters.working.store(false, Ordering::Relaxed);
                match reason {
                    IdleReason::BlockFound { height } => {
                        let at = height
                            .map(|h| format!(" at height {h}"))
                            .unwrap_or_default();
                        let line =
                            format!("sent a block{at} to the peer; waiting for the next job");
                        if self.config.report_every.is_some() {
                            print_answer(&line);
                        } else {
                            info!("{line}");
                        }
                    }
                    IdleReason::Dropped => {
                        debug!("the pool has nothing to mine now; waiting for the next job")
                    }
                }
            }
            Output::ShareTarget(bits) => {
                debug!("share target {bits} bits");
                self.hasher.set_share_bits(bits);
            }
            Output::Answer(Answer::Accepted) => {
                counters.accepted.fetch_add(1, Ordering::Relaxed);
            }
            Output::Answer(Answer::Stale) => {
                counters.stale.fetch_add(1, Ordering::Relaxed);
            }
            Output::Answer(Answer::Rejected { code, message }) => {
                counters.rejected.fetch_add(1, Ordering::Relaxed);
                if let Some(held) = self.logs.allow("rejected", self.now_ms()) {
                    let code = code.map_or_else(|| "no code".into(), |c| format!("code {c}"));
                    warn!(
                        "the pool rejected a share: {message} ({code}){}",
                        more(held)
                    );
                }
            }
            Output::Skipped(skipped) => {
                if let Some(held) = self.logs.allow("skipped", self.now_ms()) {
                    warn!("skipped a line from the pool: {skipped}{}", more(held));
                }
            }
            Output::End(ended) if ended.is_fatal() => {
                let reason = match ended {
                    crate::session::Ended::Unauthorized(reason) => reason,
                    other => other.to_string(),
                };
                return Some(Served::Fatal(reason));
            }
            Output::End(ended) => return Some(Served::Lost(ended.to_string())),
        }
        None
    }
}

/// The tail of a rate-limited line: how many like it were held back.
fn more(held: u64) -> String {
    match held {
        0 => String::new(),
        n => format!(" ({n} more like it not shown)"),
    }
}

/// Prints the report line every period, forever (nothing without a period).
async fn report(config: &MinerConfig, progress: &Progress) -> Infallible {
    let Some(every) = config.report_every.filter(|d| !d.is_zero()) else {
        return std::future::pending().await;
    };
    let mut ticks = tokio::time::interval_at(Instant::now() + every, every);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last = (Instant::now(), progress.hashes());
    loop {
        ticks.tick().await;
        let now = (Instant::now(), progress.hashes());
        let hashed = now.1.saturating_sub(last.1);
        let line = match hashed == 0 && !progress.working() {
            true => format!("waiting for work from the peer; {}", progress.shares()),
            false => {
                let rate = Rate::of(hashed, now.0 - last.0);
                report_line(rate, every, config.threads.get(), progress.shares())
            }
        };
        print_answer(&line);
        last = now;
    }
}
