//! The miner's side of the mining-port protocol as a state machine, with no IO, no clock and no
//! threads: the shell feeds it the pool's lines ([`Session::handle_line`]), the shares its
//! threads find ([`Session::handle_share`]) and its one timer ([`Session::handle_timeout`]),
//! each with the time, and drains what to do with [`Session::poll_output`] right after.
//!
//! One session is one connection: `mining.subscribe` at the start (the prefix every nonce must
//! carry), `mining.authorize` once subscribed, then jobs and share targets from the pool and
//! submits from the miner. Request ids say what each response answers. The session decides
//! which shares to send: only for jobs still valid (a `clean` notify drops every older job at
//! once), only nonces carrying this session's prefix, and at most a configured rate apart from
//! blocks, which always go; everything else is held back and counted.

use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use votechain_pool::wire::{self, decode_server_line, ServerLine, ServerLineError};
use votechain_pool::{ErrorCode, Job, JobKind, PrefixTable, PREFIX_BITS};
use votechain_sansio::ratelimit::{Bucket, Rate};

/// How long the pool may take to answer subscribe and authorize, in milliseconds.
pub const HANDSHAKE_MS: u64 = 10_000;
/// Most submits awaiting an answer; further shares are held back until answers come.
pub const MAX_PENDING: usize = 1024;
/// Most job ids remembered as valid (the pool keeps fewer).
pub const MAX_JOBS: usize = 16;

/// Who the miner is and how fast it may submit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// The worker name sent in `mining.authorize` and every submit.
    pub name: String,
    /// The pool's secret, when it wants one.
    pub token: Option<String>,
    /// The software's name sent in `mining.subscribe` (`votechain-miner/<version>`).
    pub agent: String,
    /// Shares per second sent, sustained and in a burst; shares beyond it are held back (the
    /// pool would refuse them with code 27 and count them against the miner). Blocks always go.
    pub submit_rate: Rate,
}

/// A job for the hashing threads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Work {
    /// The job's id, quoted in submits.
    pub job_id: Arc<str>,
    /// The job.
    pub job: Job,
    /// The session's nonce prefix.
    pub prefix: u16,
}

/// A nonce a thread found that meets the share target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundShare {
    /// The job it was found for.
    pub job_id: Arc<str>,
    /// The nonce, prefix included.
    pub nonce: u64,
    /// True when it also meets the job's block target.
    pub block: bool,
}

/// What the pool said about one submitted share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Accepted.
    Accepted,
    /// Code 21: the job is unknown or stale.
    Stale,
    /// Any other refusal: the code (`None` when the pool answered `false`) and its sentence.
    Rejected {
        /// The error code.
        code: Option<u32>,
        /// The pool's sentence.
        message: String,
    },
}

/// A line of the pool's that the session skipped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Skipped {
    /// Not UTF-8.
    #[error("The line is not UTF-8.")]
    NotUtf8,
    /// Not one of the pool's lines.
    #[error(transparent)]
    Malformed(#[from] ServerLineError),
    /// A response to no request of ours.
    #[error("The pool answered request {0}, which is not pending.")]
    UnknownResponse(u64),
    /// An error about a line of ours the pool could not read.
    #[error("The pool could not read one of our lines: {1} (code {0})")]
    Unreadable(u32, String),
}

/// Why a session cannot go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Ended {
    /// The pool refused the authorization (code 24, or `false`): the token is wrong, and
    /// trying again will not help.
    #[error("the pool refused the authorization: {0}")]
    Unauthorized(String),
    /// The pool refused `mining.subscribe` (no free prefix, for instance).
    #[error("the pool refused to subscribe us: {message} (code {code})")]
    SubscribeRefused {
        /// The error code.
        code: u32,
        /// The pool's sentence.
        message: String,
    },
    /// The answer to `mining.subscribe` is not `[session_id, prefix, 16]`.
    #[error("the pool's answer to subscribe is malformed")]
    BadSubscribe,
    /// The pool refused `mining.authorize` with a code other than 24.
    #[error("the pool refused the authorization: {message} (code {code})")]
    AuthorizeRefused {
        /// The error code.
        code: u32,
        /// The pool's sentence.
        message: String,
    },
    /// No answer to subscribe and authorize within [`HANDSHAKE_MS`].
    #[error("the pool did not answer subscribe and authorize within 10 s")]
    HandshakeTimeout,
}

impl Ended {
    /// True when reconnecting cannot help: the miner must stop.
    pub fn is_fatal(&self) -> bool {
        matches!(self, Ended::Unauthorized(_))
    }
}

/// Why the threads stop until the next job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdleReason {
    /// The pool answered stale for the job being hashed: it dropped it (it has nothing to
    /// mine now).
    Dropped,
    /// We submitted a block: the work on its parent is over.
    BlockFound {
        /// The block's height, when the job is known.
        height: Option<u64>,
    },
}

/// Something the shell must do or report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Write this line and a newline to the pool.
    Send(String),
    /// Subscribed and authorized: print the connected line, reset the reconnect backoff.
    Authorized {
        /// The session id, as the pool wrote it.
        session_id: String,
        /// The nonce prefix.
        prefix: u16,
    },
    /// Hash this job from now on, dropping the previous one.
    Work {
        /// The job.
        work: Work,
        /// True when the pool marked it clean (older jobs are stale).
        clean: bool,
    },
    /// Stop hashing until the next job.
    Idle(IdleReason),
    /// The share target from now on, in zero bits.
    ShareTarget(u32),
    /// The pool answered a submit.
    Answer(Answer),
    /// A line was skipped; log it (rate-limited).
    Skipped(Skipped),
    /// The session is over: close the connection (and stop if [`Ended::is_fatal`]).
    End(Ended),
}

/// What a pending request was.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pending {
    Subscribe,
    Authorize,
    Submit { job_id: Arc<str> },
}

/// One connection's protocol state.
#[derive(Debug)]
pub struct Session {
    /// Who we are.
    config: SessionConfig,
    /// The id of the next request.
    next_id: u64,
    /// Requests awaiting an answer, by id; at most [`MAX_PENDING`] submits.
    pending: HashMap<u64, Pending>,
    /// The session id and prefix, once subscribed.
    subscription: Option<(String, u16)>,
    /// True once `mining.authorize` succeeded.
    authorized: bool,
    /// When the handshake must be over.
    handshake_deadline_ms: u64,
    /// True once an [`Output::End`] went out; every later input is ignored.
    ended: bool,
    /// Valid job ids and their kinds, oldest first.
    jobs: VecDeque<(Arc<str>, JobKind)>,
    /// The newest job, which the threads hash.
    current: Option<(Arc<str>, Job)>,
    /// True while the threads hash `current`.
    working: bool,
    /// The submit rate limit.
    bucket: Bucket,
    /// Shares found but not sent (stale job, other prefix, over the rate, too many pending).
    held_back: u64,
    /// What the shell has yet to do.
    outputs: VecDeque<Output>,
}

impl Session {
    /// A session on a connection opened at `now_ms`; its first output subscribes.
    pub fn new(config: SessionConfig, now_ms: u64) -> Session {
        let bucket = Bucket::full(config.submit_rate, now_ms);
        let mut session = Session {
            config,
            next_id: 1,
            pending: HashMap::new(),
            subscription: None,
            authorized: false,
            handshake_deadline_ms: now_ms.saturating_add(HANDSHAKE_MS),
            ended: false,
            jobs: VecDeque::new(),
            current: None,
            working: false,
            bucket,
            held_back: 0,
            outputs: VecDeque::new(),
        };
        let id = session.request(Pending::Subscribe);
        let line = wire::encode_subscribe(id, &session.config.agent);
        session.outputs.push_back(Output::Send(line));
        session
    }

    /// The next thing to do, if any; drain after every input.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When [`Session::handle_timeout`] must be called: the handshake's deadline, until it is
    /// over.
    pub fn poll_timeout(&self) -> Option<u64> {
        (!self.authorized && !self.ended).then_some(self.handshake_deadline_ms)
    }

    /// Shares found but not sent so far.
    pub fn held_back(&self) -> u64 {
        self.held_back
    }

    /// The timer fired at `now_ms`.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        if !self.authorized && !self.ended && now_ms >= self.handshake_deadline_ms {
            self.end(Ended::HandshakeTimeout);
        }
    }

    /// One line from the pool, without its newline.
    pub fn handle_line(&mut self, line: &[u8]) {
        if self.ended {
            return;
        }
        let Ok(text) = std::str::from_utf8(line) else {
            self.outputs.push_back(Output::Skipped(Skipped::NotUtf8));
            return;
        };
        match decode_server_line(text.strip_suffix('\r').unwrap_or(text)) {
            Err(e) => self.outputs.push_back(Output::Skipped(e.into())),
            Ok(ServerLine::SetTarget { share_bits }) => {
                self.outputs.push_back(Output::ShareTarget(share_bits));
            }
            Ok(ServerLine::Notify { job_id, job, clean }) => self.notify(job_id.into(), job, clean),
            Ok(ServerLine::Response { id, result }) => self.response(id, result),
        }
    }

    /// A share the threads found at `now_ms`: sent when its job is still valid, its nonce
    /// carries our prefix and the rate allows (blocks always go, and end the work until the
    /// next job).
    pub fn handle_share(&mut self, now_ms: u64, share: FoundShare) {
        if self.ended {
            return;
        }
        let kind = self
            .jobs
            .iter()
            .find(|(id, _)| *id == share.job_id)
            .map(|(_, kind)| *kind);
        let ours = match (kind, &self.subscription) {
            (Some(kind), Some((_, prefix))) => {
                PrefixTable::carries(share.nonce, kind.nonce_bits(), *prefix)
            }
            _ => false,
        };
        let submits = self.pending.len();
        let send = self.authorized
            && ours
            && submits < MAX_PENDING
            && (share.block || self.bucket.take(self.config.submit_rate, now_ms));
        if !send {
            self.held_back += 1;
            return;
        }
        let id = self.request(Pending::Submit {
            job_id: Arc::clone(&share.job_id),
        });
        let line = wire::encode_submit(id, &self.config.name, &share.job_id, share.nonce);
        self.outputs.push_back(Output::Send(line));
        // A block ends the work on this parent: every job we hold builds on it, and the pool
        // answers the block with a clean job (or withdraws when it has nothing more to mine).
        // Hashing on would only find sibling blocks the pool drops, at a block target's rate.
        if share.block {
            let height = match &self.current {
                Some((id, job)) if *id == share.job_id => Some(job.height()),
                _ => None,
            };
            self.jobs.clear();
            if self.working {
                self.working = false;
                self.outputs
                    .push_back(Output::Idle(IdleReason::BlockFound { height }));
            }
        }
    }

    /// Registers a request and returns its id.
    fn request(&mut self, what: Pending) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.pending.insert(id, what);
        id
    }

    fn end(&mut self, why: Ended) {
        self.ended = true;
        self.outputs.push_back(Output::End(why));
    }

    fn notify(&mut self, job_id: Arc<str>, job: Job, clean: bool) {
        if clean {
            self.jobs.clear();
        }
        if let Some(existing) = self.jobs.iter().position(|(id, _)| *id == job_id) {
            self.jobs.remove(existing);
        }
        while self.jobs.len() >= MAX_JOBS {
            self.jobs.pop_front();
        }
        self.jobs.push_back((Arc::clone(&job_id), job.kind()));
        // The same job again (a re-sent notify) keeps the threads where they are: starting it
        // over would only find the shares already submitted.
        let same = matches!(&self.current, Some((id, j)) if *id == job_id && *j == job);
        self.current = Some((job_id, job));
        if !(same && self.working) {
            self.start_work(clean);
        }
    }

    /// Hands the current job to the threads, once there is a prefix to search under.
    fn start_work(&mut self, clean: bool) {
        let (Some((job_id, job)), Some((_, prefix)), true) =
            (&self.current, &self.subscription, self.authorized)
        else {
            return;
        };
        let work = Work {
            job_id: Arc::clone(job_id),
            job: job.clone(),
            prefix: *prefix,
        };
        self.working = true;
        self.outputs.push_back(Output::Work { work, clean });
    }

    fn response(&mut self, id: Option<u64>, result: Result<Value, (u32, String)>) {
        let Some(id) = id else {
            let (code, message) = result.err().unwrap_or((0, String::new()));
            self.outputs
                .push_back(Output::Skipped(Skipped::Unreadable(code, message)));
            return;
        };
        let Some(what) = self.pending.remove(&id) else {
            self.outputs
                .push_back(Output::Skipped(Skipped::UnknownResponse(id)));
            return;
        };
        match what {
            Pending::Subscribe => self.subscribed(result),
            Pending::Authorize => self.authorize_answered(result),
            Pending::Submit { job_id } => self.submit_answered(&job_id, result),
        }
    }

    fn subscribed(&mut self, result: Result<Value, (u32, String)>) {
        let value = match result {
            Ok(value) => value,
            Err((code, message)) => return self.end(Ended::SubscribeRefused { code, message }),
        };
        let session_id = value.get(0).and_then(Value::as_str);
        let prefix = value
            .get(1)
            .and_then(Value::as_str)
            .and_then(|p| u16::from_str_radix(p, 16).ok());
        let bits = value.get(2).and_then(Value::as_u64);
        let (Some(session_id), Some(prefix), Some(bits)) = (session_id, prefix, bits) else {
            return self.end(Ended::BadSubscribe);
        };
        if bits != u64::from(PREFIX_BITS) {
            return self.end(Ended::BadSubscribe);
        }
        self.subscription = Some((session_id.to_owned(), prefix));
        let id = self.request(Pending::Authorize);
        let line = wire::encode_authorize(id, &self.config.name, self.config.token.as_deref());
        self.outputs.push_back(Output::Send(line));
    }

    fn authorize_answered(&mut self, result: Result<Value, (u32, String)>) {
        match result {
            Ok(Value::Bool(true)) => {}
            Ok(_) => return self.end(Ended::Unauthorized("the pool answered false.".into())),
            Err((code, message)) if code == ErrorCode::Unauthorized.code() => {
                return self.end(Ended::Unauthorized(message));
            }
            Err((code, message)) => return self.end(Ended::AuthorizeRefused { code, message }),
        }
        self.authorized = true;
        if let Some((session_id, prefix)) = &self.subscription {
            self.outputs.push_back(Output::Authorized {
                session_id: session_id.clone(),
                prefix: *prefix,
            });
        }
        self.start_work(false);
    }

    fn submit_answered(&mut self, job_id: &Arc<str>, result: Result<Value, (u32, String)>) {
        let answer = match result {
            Ok(Value::Bool(true)) => Answer::Accepted,
            Ok(_) => Answer::Rejected {
                code: None,
                message: "The pool answered false.".into(),
            },
            Err((code, _)) if code == ErrorCode::StaleJob.code() => Answer::Stale,
            Err((code, message)) => Answer::Rejected {
                code: Some(code),
                message,
            },
        };
        // A stale answer for the job being hashed: the pool dropped it (it has nothing to
        // mine); hashing on would only find more stale shares.
        let current = matches!(&self.current, Some((id, _)) if id == job_id);
        if answer == Answer::Stale && current && self.working {
            self.working = false;
            self.jobs.retain(|(id, _)| id != job_id);
            self.outputs.push_back(Output::Idle(IdleReason::Dropped));
        }
        self.outputs.push_back(Output::Answer(answer));
    }
}

#[cfg(test)]
mod tests;
