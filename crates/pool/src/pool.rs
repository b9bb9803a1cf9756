//! The pool state machine: sessions, jobs and the share checks. The shell feeds it lines
//! ([`Pool::handle_line`]), connections ([`Pool::connect`], [`Pool::disconnect`]), jobs
//! ([`Pool::new_job`], [`Pool::withdraw`]) and a periodic tick ([`Pool::handle_timeout`]) with
//! the time as an argument; each returns the [`PoolOutput`]s to perform, in order. No IO, no
//! clock, no threads.

use crate::code::ErrorCode;
use crate::job::Job;
use crate::prefix::{PrefixTable, PREFIX_BITS};
use crate::stats::{MinerStats, PoolStats};
use crate::vardiff::{Vardiff, VardiffConfig};
use crate::wire::{self, Request};
use serde_json::json;
use std::collections::{HashMap, VecDeque};
use votechain_sansio::ratelimit::{Bucket, Rate};
use votechain_sansio::DedupCache;

/// A connection's id, chosen by the shell.
pub type ConnId = u64;

/// How the pool behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConfig {
    /// The secret `mining.authorize` must carry, if any.
    pub token: Option<String>,
    /// Submits per second and burst allowed per connection.
    pub submit_rate: Rate,
    /// Share targets.
    pub vardiff: VardiffConfig,
    /// Nonces remembered per job for duplicate detection (the oldest are forgotten).
    pub dedup_per_job: usize,
    /// Jobs kept valid at once; older ones are stale.
    pub max_jobs: usize,
}

impl Default for PoolConfig {
    fn default() -> PoolConfig {
        PoolConfig {
            token: None,
            submit_rate: Rate {
                per_s: 50,
                burst: 100,
            },
            vardiff: VardiffConfig::default(),
            dedup_per_job: 65_536,
            max_jobs: 8,
        }
    }
}

/// Something the shell must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolOutput {
    /// Write `line` and a newline to connection `conn`.
    Send {
        /// The connection.
        conn: ConnId,
        /// The line, without its newline.
        line: String,
    },
    /// A share met its job's block target: build the block from the job with this nonce,
    /// validate, persist and announce it, then call [`Pool::new_job`] with a clean job.
    Found {
        /// The miner's connection.
        conn: ConnId,
        /// The job's id, as [`Pool::new_job`] returned it.
        job_id: String,
        /// The winning nonce (for `comp3010`, the course counter: its nonce string is
        /// `CourseSearch::nonce_for(nonce)`).
        nonce: u64,
    },
}

/// A subscribed session's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Subscription {
    /// Its id, unique over the pool's life.
    session_id: u64,
    /// The top [`PREFIX_BITS`] of every nonce it may submit.
    prefix: u16,
}

/// One connection's state.
#[derive(Debug, Clone)]
struct Session {
    /// Set by `mining.subscribe`.
    subscription: Option<Subscription>,
    /// The name given to a successful `mining.authorize`.
    name: Option<String>,
    /// Its hash rate, from the work behind its accepted shares.
    rate: RateMeter,
    /// Its submit rate limit.
    bucket: Bucket,
    /// Its share target.
    vardiff: Vardiff,
    /// Accepted shares.
    accepted: u64,
}

/// A job still valid for shares.
#[derive(Debug, Clone)]
struct JobEntry {
    /// Its number; the wire id is its lowercase hex.
    id: u64,
    /// The job.
    job: Job,
    /// Nonces already submitted for it.
    seen: DedupCache<u64>,
}

/// The mining port's core. See the crate docs for the protocol.
#[derive(Debug)]
pub struct Pool {
    /// Its behaviour.
    config: PoolConfig,
    /// Sessions by connection.
    sessions: HashMap<ConnId, Session>,
    /// Valid jobs, oldest first.
    jobs: VecDeque<JobEntry>,
    /// The next job's number.
    next_job: u64,
    /// The next session id.
    next_session: u64,
    /// The nonce prefixes held by subscribed sessions.
    prefixes: PrefixTable,
    /// The counters.
    stats: PoolStats,
}

impl Pool {
    /// An empty pool.
    pub fn new(config: PoolConfig) -> Pool {
        Pool {
            config,
            sessions: HashMap::new(),
            jobs: VecDeque::new(),
            next_job: 1,
            next_session: 1,
            prefixes: PrefixTable::default(),
            stats: PoolStats::default(),
        }
    }

    /// A new connection `conn` at `now_ms` (a known `conn` is reset).
    pub fn connect(&mut self, now_ms: u64, conn: ConnId) {
        self.disconnect(conn);
        self.sessions.insert(
            conn,
            Session {
                subscription: None,
                name: None,
                rate: RateMeter::new(now_ms),
                bucket: Bucket::full(self.config.submit_rate, now_ms),
                vardiff: Vardiff::new(&self.config.vardiff, now_ms),
                accepted: 0,
            },
        );
    }

    /// Connection `conn` closed: its prefix becomes free.
    pub fn disconnect(&mut self, conn: ConnId) {
        if let Some(session) = self.sessions.remove(&conn) {
            if let Some(sub) = session.subscription {
                self.prefixes.release(sub.prefix);
            }
            if session.name.is_some() {
                self.stats.miners -= 1;
            }
        }
    }

    /// Publishes `job`: every authorized session gets a `mining.notify`. With `clean`, every
    /// older job becomes stale; otherwise older jobs stay valid up to
    /// [`PoolConfig::max_jobs`]. Returns the job's wire id and the outputs.
    pub fn new_job(&mut self, job: Job, clean: bool) -> (String, Vec<PoolOutput>) {
        if clean {
            self.jobs.clear();
        }
        while self.jobs.len() >= self.config.max_jobs.max(1) {
            self.jobs.pop_front();
        }
        let id = self.next_job;
        self.next_job += 1;
        let job_id = format!("{id:x}");
        let line = wire::encode_notify(&job_id, &job, clean);
        self.jobs.push_back(JobEntry {
            id,
            job,
            seen: DedupCache::new(self.config.dedup_per_job),
        });
        let mut conns: Vec<ConnId> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.name.is_some())
            .map(|(c, _)| *c)
            .collect();
        conns.sort_unstable();
        let out = conns
            .into_iter()
            .map(|conn| PoolOutput::Send {
                conn,
                line: line.clone(),
            })
            .collect();
        (job_id, out)
    }

    /// Withdraws every job (the peer has nothing to mine): shares for any job issued so far
    /// are answered as stale (21). Sessions, their prefixes and share targets are kept, and a
    /// later [`Pool::new_job`] reaches them as usual.
    pub fn withdraw(&mut self) {
        self.jobs.clear();
    }

    /// The name connection `conn` authorized with, or `None` while it has not authorized.
    pub fn authorized_name(&self, conn: ConnId) -> Option<&str> {
        self.sessions.get(&conn)?.name.as_deref()
    }

    /// The valid job with wire id `job_id`.
    pub fn job(&self, job_id: &str) -> Option<&Job> {
        self.find_job(job_id).map(|i| &self.jobs[i].job)
    }

    /// The counters.
    pub fn stats(&self) -> &PoolStats {
        &self.stats
    }

    /// Every authorized miner's numbers at `now_ms`, by connection.
    pub fn miners(&self, now_ms: u64) -> Vec<MinerStats> {
        let mut miners: Vec<MinerStats> = self
            .sessions
            .iter()
            .filter_map(|(conn, s)| {
                let name = s.name.clone()?;
                Some(MinerStats {
                    conn: *conn,
                    name,
                    accepted: s.accepted,
                    share_bits: s.vardiff.bits(),
                    hashrate: s.rate.per_s(now_ms),
                })
            })
            .collect();
        miners.sort_by_key(|m| m.conn);
        miners
    }

    /// Periodic tick: retargets sessions whose vardiff window is over, sending them
    /// `mining.set_target` when their target changed. Call it about once a window.
    pub fn handle_timeout(&mut self, now_ms: u64) -> Vec<PoolOutput> {
        let config = self.config.vardiff;
        let mut out = Vec::new();
        let mut conns: Vec<ConnId> = self.sessions.keys().copied().collect();
        conns.sort_unstable();
        for conn in conns {
            if let Some(s) = self.sessions.get_mut(&conn) {
                s.rate.roll(now_ms);
                if s.name.is_some() {
                    if let Some(bits) = s.vardiff.retarget(&config, now_ms) {
                        out.push(set_target(conn, bits));
                    }
                }
            }
        }
        out
    }

    /// One line from connection `conn` (without its newline) at `now_ms`. Every line gets
    /// exactly one response; a malformed line is answered with code 20 and counted.
    pub fn handle_line(&mut self, now_ms: u64, conn: ConnId, line: &[u8]) -> Vec<PoolOutput> {
        let request = match wire::decode_request(line) {
            Ok(request) => request,
            Err(e) => {
                self.stats.malformed_lines += 1;
                return vec![error(conn, e.id(), ErrorCode::Other)];
            }
        };
        if !self.sessions.contains_key(&conn) {
            return vec![error(conn, Some(request.id()), ErrorCode::NotSubscribed)];
        }
        match request {
            Request::Subscribe { id, .. } => self.subscribe(conn, id),
            Request::Authorize { id, name, token } => self.authorize(now_ms, conn, id, name, token),
            Request::Submit {
                id, job_id, nonce, ..
            } => self.submit(now_ms, conn, id, &job_id, nonce),
        }
    }

    fn subscribe(&mut self, conn: ConnId, id: u64) -> Vec<PoolOutput> {
        let existing = self.sessions.get(&conn).and_then(|s| s.subscription);
        let sub = match existing {
            Some(sub) => sub,
            None => {
                let Some(prefix) = self.prefixes.take() else {
                    return vec![error(conn, Some(id), ErrorCode::Other)];
                };
                let sub = Subscription {
                    session_id: self.next_session,
                    prefix,
                };
                self.next_session += 1;
                if let Some(s) = self.sessions.get_mut(&conn) {
                    s.subscription = Some(sub);
                }
                sub
            }
        };
        let result = json!([
            format!("{:x}", sub.session_id),
            format!("{:04x}", sub.prefix),
            PREFIX_BITS
        ]);
        vec![send(conn, wire::encode_result(id, result))]
    }

    fn authorize(
        &mut self,
        now_ms: u64,
        conn: ConnId,
        id: u64,
        name: String,
        token: Option<String>,
    ) -> Vec<PoolOutput> {
        let Some(session) = self.sessions.get_mut(&conn) else {
            return vec![error(conn, Some(id), ErrorCode::NotSubscribed)];
        };
        if session.subscription.is_none() {
            return vec![error(conn, Some(id), ErrorCode::NotSubscribed)];
        }
        if self.config.token.is_some() && token != self.config.token {
            return vec![error(conn, Some(id), ErrorCode::Unauthorized)];
        }
        if session.name.is_none() {
            self.stats.miners += 1;
            session.rate = RateMeter::new(now_ms);
        }
        session.name = Some(name.chars().take(64).collect());
        let mut out = vec![
            send(conn, wire::encode_result(id, json!(true))),
            set_target(conn, session.vardiff.bits()),
        ];
        if let Some(entry) = self.jobs.back() {
            let line = wire::encode_notify(&format!("{:x}", entry.id), &entry.job, true);
            out.push(send(conn, line));
        }
        out
    }

    fn find_job(&self, job_id: &str) -> Option<usize> {
        let number = u64::from_str_radix(job_id, 16).ok()?;
        self.jobs.iter().position(|e| e.id == number)
    }

    /// The share checks, in the documented order.
    fn submit(
        &mut self,
        now_ms: u64,
        conn: ConnId,
        id: u64,
        job_id: &str,
        nonce: u64,
    ) -> Vec<PoolOutput> {
        match self.check_share(now_ms, conn, job_id, nonce) {
            Ok(found) => {
                let mut out = Vec::new();
                if found {
                    self.stats.blocks_found += 1;
                    out.push(PoolOutput::Found {
                        conn,
                        job_id: job_id.to_owned(),
                        nonce,
                    });
                }
                out.push(send(conn, wire::encode_result(id, json!(true))));
                let config = self.config.vardiff;
                if let Some(s) = self.sessions.get_mut(&conn) {
                    if let Some(bits) = s.vardiff.on_share(&config, now_ms) {
                        out.push(set_target(conn, bits));
                    }
                }
                out
            }
            Err(code) => {
                self.stats.shares.reject(code);
                vec![error(conn, Some(id), code)]
            }
        }
    }

    /// Checks a share; `Ok(true)` when it also meets the block target.
    fn check_share(
        &mut self,
        now_ms: u64,
        conn: ConnId,
        job_id: &str,
        nonce: u64,
    ) -> Result<bool, ErrorCode> {
        let rate = self.config.submit_rate;
        // Looked up before the session is borrowed; judged after the session's own checks.
        let job_index = self.find_job(job_id);
        let session = self
            .sessions
            .get_mut(&conn)
            .ok_or(ErrorCode::NotSubscribed)?;
        if !session.bucket.take(rate, now_ms) {
            return Err(ErrorCode::TooManySubmits);
        }
        let sub = session.subscription.ok_or(ErrorCode::NotSubscribed)?;
        if session.name.is_none() {
            return Err(ErrorCode::Unauthorized);
        }
        let index = job_index.ok_or(ErrorCode::StaleJob)?;
        let entry = &mut self.jobs[index];
        if !PrefixTable::carries(nonce, entry.job.kind().nonce_bits(), sub.prefix) {
            return Err(ErrorCode::WrongNoncePrefix);
        }
        if !entry.seen.insert(nonce) {
            return Err(ErrorCode::DuplicateShare);
        }
        let state = entry.job.state_for(nonce);
        let share_bits = session.vardiff.bits().min(entry.job.block_bits());
        if !entry.job.meets(&state, share_bits) {
            return Err(ErrorCode::LowDifficulty);
        }
        session.accepted += 1;
        session.rate.add(now_ms, 1u128 << share_bits.min(127));
        self.stats.shares.accepted += 1;
        Ok(entry.job.meets(&state, entry.job.block_bits()))
    }
}

/// Length of one of the two buckets a hash rate is measured over: the rate covers the last 20
/// to 40 s, so it follows a miner whose share target is still climbing (and which held shares
/// back meanwhile) within a minute, and one that stopped, too.
const RATE_BUCKET_MS: u64 = 20_000;

/// Work (expected hashes) over the current bucket and the one before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RateMeter {
    /// When the current bucket started.
    start_ms: u64,
    /// Work in the current bucket.
    work: u128,
    /// The previous bucket's start and work, once one ended.
    previous: Option<(u64, u128)>,
}

impl RateMeter {
    fn new(now_ms: u64) -> RateMeter {
        RateMeter {
            start_ms: now_ms,
            work: 0,
            previous: None,
        }
    }

    /// Ends the current bucket if it is over (one long silence empties both).
    fn roll(&mut self, now_ms: u64) {
        let age = now_ms.saturating_sub(self.start_ms);
        if age >= 2 * RATE_BUCKET_MS {
            *self = RateMeter {
                previous: Some((now_ms - RATE_BUCKET_MS, 0)),
                ..RateMeter::new(now_ms)
            };
        } else if age >= RATE_BUCKET_MS {
            self.previous = Some((self.start_ms, self.work));
            *self = RateMeter {
                previous: self.previous,
                ..RateMeter::new(now_ms)
            };
        }
    }

    /// `work` more at `now_ms`.
    fn add(&mut self, now_ms: u64, work: u128) {
        self.roll(now_ms);
        self.work += work;
    }

    /// Hashes per second over both buckets.
    fn per_s(&self, now_ms: u64) -> f64 {
        let (start, work) = match self.previous {
            Some((start, work)) => (start, work + self.work),
            None => (self.start_ms, self.work),
        };
        work as f64 * 1000.0 / now_ms.saturating_sub(start).max(1) as f64
    }
}

fn send(conn: ConnId, line: String) -> PoolOutput {
    PoolOutput::Send { conn, line }
}

fn error(conn: ConnId, id: Option<u64>, code: ErrorCode) -> PoolOutput {
    send(conn, wire::encode_error(id, code))
}

fn set_target(conn: ConnId, bits: u32) -> PoolOutput {
    send(conn, wire::encode_set_target(bits))
}

#[cfg(test)]
mod tests;
