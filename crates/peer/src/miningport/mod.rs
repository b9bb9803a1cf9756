//! The mining port's TCP server (issue 15): the tokio shell around the sans-IO pool core
//! (`votechain_pool::Pool`), which speaks the protocol documented in `votechain_pool`. The peer
//! binds a [`MiningPort`], [`publishes`](MiningPort::publish) a job for every new tip, reads the
//! block-worthy shares ([`FoundShare`]) from the channel [`MiningPort::bind`] returns, and shows
//! [`MiningPort::snapshot`] in `stats`, the web page and `/metrics`.
//!
//! **Architecture Invariant:** the share checks (hashing) never run on the peer's UDP loop. The
//! server runs in its own tasks: an accept loop, a once-a-second ticker for vardiff, and per
//! connection a reader task and a writer task. They share one `std::sync::Mutex` around the
//! pool (`shared`), never held across an `.await`. The pool's lines for a connection go
//! through that connection's bounded queue; a connection whose queue is full, or whose socket
//! accepts nothing for `line_timeout`, is a slow reader and is closed, never buffered without
//! bound.
//!
//! - `framing`: splitting a byte stream into lines under a hard length cap (pure).
//! - `shared`: the state the tasks share, and delivering the pool's outputs.
//! - `connection`: one connection's reader and writer tasks, with the timeouts.

mod connection;
mod framing;
mod shared;

use shared::Shared;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use votechain_pool::{wire, ErrorCode, Job, MinerStats, PoolConfig, PoolStats};
use votechain_runtime::http::is_connection_error;

/// How the mining port behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MiningPortConfig {
    /// Where to listen; the peer defaults it to loopback, so only local miners reach it unless
    /// the operator says otherwise.
    pub listen: SocketAddr,
    /// The protocol's knobs: token, submit rate, vardiff, jobs kept.
    pub pool: PoolConfig,
    /// Connections open at once. One more is answered with one error line (code 20), closed at
    /// once and counted, so a flood cannot take every file descriptor.
    pub max_connections: usize,
    /// Time from accepting a connection until `mining.subscribe` and `mining.authorize` must
    /// have succeeded: connections that never become miners do not hold a slot for long.
    pub handshake_timeout: Duration,
    /// Time within which a started line must end (a slowloris client trickling bytes is
    /// closed), and the longest the socket may refuse our writes before the connection is
    /// treated as a slow reader.
    pub line_timeout: Duration,
    /// Time an authorized miner may go without sending any line before it is closed.
    pub idle_timeout: Duration,
    /// Lines queued per connection. A connection whose queue is full is a slow reader and is
    /// closed, so memory per connection stays bounded.
    pub write_queue: usize,
}

impl Default for MiningPortConfig {
    /// Loopback on a free port, the pool's defaults, 2048 connections, 10 s for the handshake
    /// and for a line, 10 min idle, 256 queued lines.
    fn default() -> MiningPortConfig {
        MiningPortConfig {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            pool: PoolConfig::default(),
            max_connections: 2048,
            handshake_timeout: Duration::from_secs(10),
            line_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(600),
            write_queue: 256,
        }
    }
}

/// A block-worthy share, for the peer to build, validate and announce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundShare {
    /// The tag the job was published under ([`MiningPort::publish`]).
    pub tag: u64,
    /// The winning nonce (for `comp3010`, the course counter; see `votechain_pool::Job`).
    pub nonce: u64,
    /// The name the miner authorized with, for the log and the block's credit.
    pub miner: String,
}

/// What the server shows: `stats`, the web page and `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct PoolSnapshot {
    /// The pool's counters: miners, shares by result, malformed lines, blocks found.
    pub stats: PoolStats,
    /// Every authorized miner's numbers, by connection.
    pub miners: Vec<MinerStats>,
    /// Connections open now, authorized or not.
    pub connections: usize,
    /// Connections refused because `max_connections` were open.
    pub refused_connections: u64,
    /// Connections closed as slow readers (queue full, or writes stalled).
    pub dropped_slow: u64,
    /// Connections closed by the handshake, line or idle timeout.
    pub timed_out: u64,
    /// Connections closed for a line over `votechain_pool::wire::MAX_LINE` bytes.
    pub oversized_lines: u64,
}

impl PoolSnapshot {
    /// The estimated hash rate of every miner together, in hashes per second.
    pub fn hashrate(&self) -> f64 {
        self.miners.iter().map(|m| m.hashrate).sum()
    }
}

/// A running mining port. Dropping it (or [`MiningPort::shutdown`]) stops the server and
/// closes every connection.
#[derive(Debug)]
pub struct MiningPort {
    /// The bound address (the actual port when the config asked for port 0).
    local_addr: SocketAddr,
    /// The pool and the connections, shared with the server's tasks.
    shared: Arc<Shared>,
    /// Cancelled to stop every task; each connection's token is a child of it.
    stop: CancellationToken,
    /// Every task of the server, to wait for them at shutdown.
    tasks: TaskTracker,
}

impl MiningPort {
    /// Binds `config.listen` and spawns the server on the current tokio runtime. The receiver
    /// yields the shares that meet their job's block target.
    pub async fn bind(
        config: MiningPortConfig,
    ) -> io::Result<(MiningPort, mpsc::UnboundedReceiver<FoundShare>)> {
        let listener = TcpListener::bind(config.listen).await?;
        let local_addr = listener.local_addr()?;
        let (found_tx, found_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared::new(config, found_tx));
        let stop = CancellationToken::new();
        let tasks = TaskTracker::new();
        tasks.spawn(accept_loop(
            listener,
            shared.clone(),
            tasks.clone(),
            stop.clone(),
        ));
        tasks.spawn(tick(shared.clone(), stop.clone()));
        tracing::info!("The mining port listens on {local_addr}.");
        let port = MiningPort {
            local_addr,
            shared,
            stop,
            tasks,
        };
        Ok((port, found_rx))
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Publishes `job` under the caller's `tag` (returned in [`FoundShare::tag`]); `clean`
    /// makes every older job stale. Every authorized miner gets the `mining.notify` queued at
    /// once; nothing here waits on a socket.
    pub fn publish(&self, tag: u64, job: Job, clean: bool) {
        let now_ms = self.shared.now_ms();
        self.shared.lock().publish(now_ms, tag, job, clean);
    }

    /// No job any more (the peer has nothing to mine): every job is stale and shares for them
    /// are answered with code 21; miners keep their connections and get the next published job.
    pub fn withdraw(&self) {
        self.shared.lock().withdraw();
    }

    /// The counters and miners now (one short lock).
    pub fn snapshot(&self) -> PoolSnapshot {
        let now_ms = self.shared.now_ms();
        self.shared.lock().snapshot(now_ms)
    }

    /// Stops the server, closes every connection and waits until every task has ended.
    pub async fn shutdown(self) {
        self.stop.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }
}

impl Drop for MiningPort {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Accepts connections until `stop`: each within the cap gets its reader and writer tasks,
/// each beyond it one error line and a close.
async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    tasks: TaskTracker,
    stop: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            biased;
            () = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, from) = match accepted {
            Ok(accepted) => accepted,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                // Out of file descriptors, typically: pause rather than spin.
                shared.warn_limited(
                    "mining accept failed",
                    &format!("The mining port could not accept a connection: {e}."),
                );
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = tokio::time::sleep(Duration::from_millis(100)) => continue,
                }
            }
        };
        // Notifies are small and must reach the miner at once.
        let _ = stream.set_nodelay(true);
        let close = stop.child_token();
        let now_ms = shared.now_ms();
        let opened = shared.lock().open(now_ms, close.clone(), &shared.config);
        match opened {
            Some((conn, lines)) => {
                tracing::debug!("Mining connection {conn} from {from} was accepted.");
                tasks.spawn(connection::serve(
                    shared.clone(),
                    tasks.clone(),
                    stream,
                    conn,
                    lines,
                    close,
                ));
            }
            None => refuse(stream),
        }
    }
}

/// Writes one error line to a connection over the cap and closes it, without waiting: a
/// fresh socket's send buffer is empty, so the line fits, and a flood of refused connections
/// spawns nothing.
fn refuse(stream: TcpStream) {
    let line = wire::encode_error(None, ErrorCode::Other) + "\n";
    if let Ok(stream) = stream.into_std() {
        let _ = io::Write::write(&mut &stream, line.as_bytes());
    }
}

/// Drives the pool's timer about once a second (vardiff retargets) until `stop`.
async fn tick(shared: Arc<Shared>, stop: CancellationToken) {
    let mut interval = tokio::time::interval(Duration::from_secs(1));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = interval.tick() => {
                let now_ms = shared.now_ms();
                shared.lock().handle_timeout(now_ms);
            }
        }
    }
}

#[cfg(test)]
mod tests;
