//! votechain's external miner: it connects to a peer's mining port (the Stratum-style protocol
//! of `votechain-pool`, documented in that crate and in PROTOCOL.md, "Mining port"), hashes the
//! jobs it is given on N threads, and submits the shares it finds. The `miner` binary is a thin
//! `main` around [`Miner::run`]; tests and the benchmark run the same code in-process.
//!
//! # Usage
//!
//! ```text
//! peer … --mining-listen 127.0.0.1:3333 [--mining-token SECRET]
//! miner --connect 127.0.0.1:3333 [--threads N] [--name NAME] [--token SECRET] [--report-every SECS]
//! ```
//!
//! The token may come from `VOTECHAIN_MINING_TOKEN` in the environment instead (both `peer` and
//! `miner` read it), out of the process list.
//!
//! `--threads` defaults to the machine's cores, `--name` to `miner-<pid>`, `--report-every` to
//! 10 s. Once authorized the miner prints `connected to ADDR as NAME (session S, prefix P)` on
//! stdout, then every report period
//! `hash rate 12.34 MH/s over the last 10 s on 4 threads; shares: 12 accepted, 1 stale, 0 rejected`
//! (or `waiting for work from the peer; shares: …` while it has no job), `sent a block at height
//! H to the peer; waiting for the next job` when a share met the block target (the work on that
//! parent is over), and after Ctrl-C or SIGTERM a last line
//! `stopped after 123456789 hashes in 12.3 s (10.04 MH/s); shares: 12 accepted, 1 stale, 0 rejected`
//! before exiting 0 (a second Ctrl-C exits at once with 130). Diagnostics go to stderr: each
//! reconnect (`lost the connection to ADDR: REASON; retrying in 2.0 s`), rejected shares and
//! malformed lines (at most one line per kind every 5 s), and with `-v` every new job. When the
//! connection fails or closes the miner retries after 0.5 s, doubling to 30 s (with jitter),
//! and back to 0.5 s after a successful authorize. A refused token is fatal: exit status 1.
//!
//! # Inside
//!
//! - [`session`]: the protocol as a sans-IO state machine: the pool's lines and the threads'
//!   shares in, lines to send and commands for the threads out.
//! - `search`: the per-nonce loops for both hash rules, mirroring the in-process miners
//!   (`votechain_chain::miner`, `votechain_course::miner`) so an external miner hashes as fast.
//! - `hasher`: the threads; a generation counter they read every 4,096 nonces moves them to a new
//!   job (or idles them) within a fraction of a millisecond, and chunks claimed from one atomic
//!   counter split the nonce space without overlap.
//! - `shell`: the tokio side: connecting, reading lines of bounded length, the reconnect
//!   backoff, the report timer and rate-limited logs.
//! - [`report`]: the report and final lines.
//!
//! **Architecture invariant:** the wire format is `votechain_pool::wire`'s, never written here;
//! only the shell touches sockets, threads and the clock.

mod backoff;
mod hasher;
mod lines;
pub mod report;
mod search;
pub mod session;
mod shell;

pub use report::{Shares, Summary};

use hasher::CacheLine;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
pub use votechain_sansio::ratelimit::Rate;

/// How a miner runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinerConfig {
    /// The mining port, `host:port` (a name is resolved at every attempt).
    pub connect: String,
    /// Hashing threads.
    pub threads: NonZeroUsize,
    /// The worker name the pool shows.
    pub name: String,
    /// The pool's secret, when it wants one.
    pub token: Option<String>,
    /// How often to print the hash-rate line on stdout; `None` prints nothing on stdout (not
    /// even the connected line), for in-process use.
    pub report_every: Option<Duration>,
    /// Shares sent per second at most, sustained and in a burst, below the pool's own limit
    /// (50 a second by default), so the pool never refuses a share for the rate; shares over
    /// it are not sent (blocks always are). The pool raises the share target of a miner that
    /// finds too many.
    pub submit_rate: Rate,
}

impl MinerConfig {
    /// A silent miner of `connect` named `name`: one thread per core, no token.
    pub fn new(connect: impl Into<String>, name: impl Into<String>) -> MinerConfig {
        MinerConfig {
            connect: connect.into(),
            threads: std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN),
            name: name.into(),
            token: None,
            report_every: None,
            submit_rate: Rate {
                per_s: 40,
                burst: 80,
            },
        }
    }
}

/// Why a miner stopped other than by its shutdown.
#[derive(Debug, thiserror::Error)]
pub enum MinerError {
    /// The pool refused the token; trying again cannot help.
    #[error("the pool at {pool} refused the authorization: {reason}")]
    Unauthorized {
        /// The address connected to.
        pool: String,
        /// The pool's sentence.
        reason: String,
    },
    /// The hashing threads could not be started.
    #[error("cannot start the hashing threads")]
    Threads(#[source] std::io::Error),
}

/// Live counters of a running miner, for tests and dashboards; clones share them.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    inner: Arc<Counters>,
}

#[derive(Debug, Default)]
struct Counters {
    /// Nonces tried, bumped by the hashing threads (on its own cache line).
    hashes: Arc<CacheLine>,
    accepted: AtomicU64,
    stale: AtomicU64,
    rejected: AtomicU64,
    /// Connections that got as far as an authorized session.
    sessions: AtomicU64,
    /// True while the threads have a job.
    working: std::sync::atomic::AtomicBool,
}

impl Progress {
    /// Nonces tried so far (updated every 4,096 nonces per thread).
    pub fn hashes(&self) -> u64 {
        self.inner.hashes.0.load(Ordering::Relaxed)
    }

    /// True while the threads have a job to hash.
    pub fn working(&self) -> bool {
        self.inner.working.load(Ordering::Relaxed)
    }

    /// The pool's answers so far.
    pub fn shares(&self) -> Shares {
        Shares {
            accepted: self.inner.accepted.load(Ordering::Relaxed),
            stale: self.inner.stale.load(Ordering::Relaxed),
            rejected: self.inner.rejected.load(Ordering::Relaxed),
        }
    }

    /// Authorized sessions so far: 1 after the first connection, one more per reconnect.
    pub fn sessions(&self) -> u64 {
        self.inner.sessions.load(Ordering::Relaxed)
    }
}

/// A miner, ready to run.
#[derive(Debug)]
pub struct Miner {
    config: MinerConfig,
    progress: Progress,
}

impl Miner {
    /// A miner with `config`.
    pub fn new(config: MinerConfig) -> Miner {
        Miner {
            config,
            progress: Progress::default(),
        }
    }

    /// A handle on the live counters.
    pub fn progress(&self) -> Progress {
        self.progress.clone()
    }

    /// Mines until `shutdown` completes (then returns what it did) or the pool refuses the
    /// token. Connection failures are retried, never returned. Must run inside a tokio runtime;
    /// the hashing happens on threads of the miner's own, joined before this returns.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<Summary, MinerError> {
        shell::run(self.config, self.progress, shutdown).await
    }
}
