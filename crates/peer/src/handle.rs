//! A peer inside this process: [`PeerHandle::start`] does what the `peer` binary does — opens
//! the store, rebuilds the chain, builds the node and runs the shell, here as a tokio task — on
//! a socket the caller bound, and the handle gives the caller what a terminal gives a `peer`
//! process: a console to send lines to and read answers from, the node's events, the bound
//! address, and a way to stop the peer and wait for it. The one-command election and the
//! benchmarks start their peers this way. Given a bound [`HttpListener`] (as the election gives
//! each peer), the peer serves its web page, API and metrics there as the `peer` binary does,
//! and the server stops when the peer does.
//!
//! The handle owns the shell task: dropping it asks the peer to stop (it leaves the network in
//! the background), [`PeerHandle::shutdown`] + [`PeerHandle::join`] stop it and wait.

use crate::config::NodeConfig;
use crate::external::ExternalMiners;
use crate::http::serving::HttpListener;
use crate::node::Event;
use crate::shell::{self, ConsoleInput, RunError, ShellConfig, DEFAULT_MINER_THREADS};
use crate::start::{self, StartError};
use std::future::Future as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::task::{Context, Poll};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use votechain_chain::BlockTemplate;

/// Console lines that may wait for the shell before [`PeerHandle::send_line`] waits too.
const CONSOLE_QUEUE: usize = 64;

/// How to run an in-process peer, besides its node's configuration.
#[derive(Debug)]
pub struct HandleConfig {
    /// Where the chain and voter keys are kept.
    pub data_dir: PathBuf,
    /// The node's RNG seed (the core seeds nothing itself).
    pub seed: u64,
    /// Mining threads.
    pub miner_threads: usize,
    /// Node events go to [`PeerHandle::events`] when true (benchmarks time them); when false
    /// they are logged, as the `peer` binary logs them, and the events channel stays empty.
    pub report_events: bool,
    /// Where to serve the web page, API and metrics (`None`: no HTTP server).
    pub http: Option<HttpListener>,
    /// The mining port external miners connect to (`None`: none).
    pub mining_port: Option<ExternalMiners<BlockTemplate>>,
}

impl HandleConfig {
    /// Data in `data_dir`, RNG seed `seed`, the default mining threads, events reported.
    pub fn new(data_dir: impl Into<PathBuf>, seed: u64) -> HandleConfig {
        HandleConfig {
            data_dir: data_dir.into(),
            seed,
            miner_threads: DEFAULT_MINER_THREADS,
            report_events: true,
            http: None,
            mining_port: None,
        }
    }
}

/// The peer stopped: its console takes no more lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the peer has stopped")]
pub struct PeerStopped;

/// A peer running as a task of this process.
#[derive(Debug)]
pub struct PeerHandle {
    /// The address its socket is bound to.
    addr: SocketAddr,
    /// Where its HTTP server listens, if it has one.
    http_addr: Option<SocketAddr>,
    /// Console lines into the shell.
    console_in: mpsc::Sender<String>,
    /// The console's answers, one message per command (several lines for some). Closed when
    /// the shell ends, which is how [`PeerHandle::poll_answer`] tells the peer stopped.
    console_out: mpsc::UnboundedReceiver<String>,
    /// Every node event with the node's clock (Unix ms) when it was emitted.
    events: mpsc::UnboundedReceiver<(u64, Event)>,
    /// Cancelling it stops the shell.
    stop: CancellationToken,
    /// The shell task; `None` once joined.
    task: Option<JoinHandle<Result<(), RunError>>>,
}

impl PeerHandle {
    /// Starts a peer on `socket`, whose address `node.me` should be (peers are told `node.me`):
    /// opens the store in `config.data_dir`, rebuilds its chain, and spawns the shell on the
    /// current tokio runtime. Fails as the `peer` binary would before its readiness line.
    pub fn start(
        socket: UdpSocket,
        node: NodeConfig,
        config: HandleConfig,
    ) -> Result<PeerHandle, StartError> {
        let addr = socket.local_addr().map_err(StartError::LocalAddr)?;
        let (node, store) = start::open_node(node, &config.data_dir, config.seed, shell::now_ms())?;
        let (console_in, console_rx) = mpsc::channel(CONSOLE_QUEUE);
        let (answers_tx, console_out) = mpsc::unbounded_channel();
        let (events_tx, events) = mpsc::unbounded_channel();
        let stop = CancellationToken::new();
        let http_addr = config.http.as_ref().map(HttpListener::addr);
        let (http, server) = match config.http.map(HttpListener::serve) {
            Some((shell_end, server)) => (Some(shell_end), Some(server)),
            None => (None, None),
        };
        let shell_config = ShellConfig {
            data_dir: config.data_dir,
            miner_threads: config.miner_threads,
            mining_port: config.mining_port,
            console: ConsoleInput::Channel(console_rx),
            console_out: Some(answers_tx),
            events: config.report_events.then_some(events_tx),
            http,
        };
        let shell = shell::run(
            socket,
            node,
            store,
            shell_config,
            stop.clone().cancelled_owned(),
        );
        let task = tokio::spawn(async move {
            let outcome = shell.await;
            // However the shell ended (shutdown, `quit`, a failure), its server ends with it.
            if let Some(server) = server {
                server.stop().await;
            }
            outcome
        });
        Ok(PeerHandle {
            addr,
            http_addr,
            console_in,
            console_out,
            events,
            stop,
            task: Some(task),
        })
    }

    /// The address the peer's socket is bound to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where its HTTP server listens (the web page is at `http://ADDR/`); `None` without one.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// Sends one console line (a command, as typed at a `peer`'s terminal).
    pub async fn send_line(&self, line: &str) -> Result<(), PeerStopped> {
        self.console_in
            .send(line.to_owned())
            .await
            .map_err(|_| PeerStopped)
    }

    /// The next console answer; `None` once the peer has stopped.
    pub async fn answer(&mut self) -> Option<String> {
        self.console_out.recv().await
    }

    /// Polls for the next console answer: `Ready(None)` once the peer has stopped. For callers
    /// that wait on several peers at once.
    pub fn poll_answer(&mut self, cx: &mut Context<'_>) -> Poll<Option<String>> {
        self.console_out.poll_recv(cx)
    }

    /// Runs one command and returns its answer: answers left unread from earlier commands are
    /// dropped first. `None` when the peer stopped. Commands that answer nothing (a blank
    /// line) wait for the next command's answer, so callers put a deadline around it.
    pub async fn ask(&mut self, line: &str) -> Option<String> {
        while self.console_out.try_recv().is_ok() {}
        self.send_line(line).await.ok()?;
        self.answer().await
    }

    /// The node's events, each with the node's clock (Unix ms) when it was emitted. Empty, and
    /// closed, unless [`HandleConfig::report_events`] was set.
    pub fn events(&mut self) -> &mut mpsc::UnboundedReceiver<(u64, Event)> {
        &mut self.events
    }

    /// Asks the peer to stop: it leaves the network and its task ends; [`PeerHandle::join`]
    /// waits for that.
    pub fn shutdown(&self) {
        self.stop.cancel();
    }

    /// Ends the task at once, without leaving the network: for a peer that did not stop in
    /// the time a caller allows.
    pub fn abort(&self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }

    /// Waits until the peer's task has ended (after [`PeerHandle::shutdown`], a console `quit`
    /// or a failure) and returns how it ended; `Ok(())` after an abort, and at once when it was
    /// already joined. Cancel-safe: a deadline around it loses nothing. A panic in the shell is
    /// resumed here.
    pub async fn join(&mut self) -> Result<(), RunError> {
        std::future::poll_fn(|cx| self.poll_join(cx)).await
    }

    /// Polls for the end of the peer's task, as [`PeerHandle::join`] waits for it.
    pub fn poll_join(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), RunError>> {
        let Some(task) = self.task.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        let ended = std::task::ready!(std::pin::Pin::new(task).poll(cx));
        self.task = None;
        Poll::Ready(match ended {
            Ok(outcome) => outcome,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Ok(()),
        })
    }
}

impl Drop for PeerHandle {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view;
    use votechain_runtime::bind_udp;

    /// A fresh data directory for one test.
    fn data_dir(test: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("votechain-handle-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn loopback() -> UdpSocket {
        bind_udp(SocketAddr::from(([127, 0, 0, 1], 0))).expect("bind loopback")
    }

    #[tokio::test]
    async fn a_peer_answers_its_console_and_stops_when_asked() {
        let dir = data_dir("console");
        let socket = loopback();
        // A seed nobody answers: enough to start, and the election stays unknown.
        let seed = loopback().local_addr().unwrap();
        let mut node = NodeConfig::new(socket.local_addr().unwrap());
        node.seeds = vec![seed];
        let mut peer = PeerHandle::start(socket, node, HandleConfig::new(&dir, 1)).unwrap();
        assert_eq!(peer.ask("tally").await.as_deref(), Some(view::NO_ELECTION));
        assert_eq!(
            peer.ask("mine off").await.as_deref(),
            Some("mining off"),
            "a second command gets its own answer"
        );
        peer.shutdown();
        peer.join().await.expect("a clean stop");
        assert_eq!(peer.answer().await, None, "no answers after the stop");
        assert_eq!(peer.send_line("tally").await, Err(PeerStopped));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// `GET path` over a fresh connection: the raw response.
    async fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<String> {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        let head = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(head.as_bytes()).await?;
        let mut raw = String::new();
        stream.read_to_string(&mut raw).await?;
        Ok(raw)
    }

    #[tokio::test]
    async fn a_peer_given_a_listener_serves_its_api_until_it_stops() {
        use crate::http::serving::HttpAddr;
        let dir = data_dir("http");
        let socket = loopback();
        let mut node = NodeConfig::new(socket.local_addr().unwrap());
        node.seeds = vec![loopback().local_addr().unwrap()];
        let mut config = HandleConfig::new(&dir, 4);
        let at = HttpAddr::Exactly(SocketAddr::from(([127, 0, 0, 1], 0)));
        config.http = Some(HttpListener::bind(at).await.unwrap());
        let mut peer = PeerHandle::start(socket, node, config).unwrap();
        let http = peer.http_addr().expect("an HTTP address");
        let status = http_get(http, "/api/status").await.unwrap();
        assert!(status.starts_with("HTTP/1.1 200"), "{status}");
        assert!(status.contains("\"election\":null"), "{status}");
        peer.shutdown();
        peer.join().await.expect("a clean stop");
        assert!(
            http_get(http, "/api/status").await.is_err(),
            "the server stopped with the peer"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn quit_on_the_console_ends_the_peer() {
        let dir = data_dir("quit");
        let socket = loopback();
        let mut node = NodeConfig::new(socket.local_addr().unwrap());
        node.seeds = vec![loopback().local_addr().unwrap()];
        let mut peer = PeerHandle::start(socket, node, HandleConfig::new(&dir, 2)).unwrap();
        peer.send_line("quit").await.unwrap();
        assert_eq!(peer.answer().await, None, "the answers end with the peer");
        peer.join().await.expect("quit is a clean stop");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_peer_with_nothing_to_join_does_not_start() {
        let dir = data_dir("nothing");
        let socket = loopback();
        let node = NodeConfig::new(socket.local_addr().unwrap());
        let started = PeerHandle::start(socket, node, HandleConfig::new(&dir, 3));
        assert!(
            matches!(started, Err(StartError::NothingToJoin)),
            "{:?}",
            started.err()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
