//! The tokio shell around [`W4119Node`]: the socket, one timer, the miner, the console, the
//! store and the HTTP bridge ([`super::http`]), the way [`crate::shell`] drives the native node.
//! A `Persist` is appended and synced before any datagram after it is sent, so a NEW_BLOCK never
//! names a block we could lose and a vote is on disk before it is acknowledged. On the way out
//! it tells the tracker LEAVE_PEER.

use super::console::{self, W4119Line};
use super::event::W4119Event;
use super::http::{self as web, W4119Bridge, W4119Snapshot};
use super::node::{W4119Command, W4119Node, W4119Record};
use crate::shell::{instant_at, now_ms, send, ConsoleInput, ConsoleLines, RunError};
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use tokio::net::UdpSocket;
use tokio::sync::{broadcast, mpsc};
use votechain_runtime::net::BurstReader;
use votechain_runtime::{print_answer, USER};
use votechain_sansio::output::{Output, Transmit};
use votechain_w4119::wire::{self, W4119Message};
use votechain_w4119::{BlockTemplate, Transaction, W4119Block, W4119Store};

/// The console's prompt at a terminal.
pub const PROMPT: &str = "w4119> ";

/// What the shell needs besides the node.
#[derive(Debug)]
pub struct W4119ShellConfig {
    /// The data directory (console history).
    pub data_dir: PathBuf,
    /// Where console commands come from.
    pub console: ConsoleInput,
    /// Every event with its time (tests, benchmarks); `None`: events are logged.
    pub events: Option<mpsc::UnboundedSender<(u64, W4119Event)>>,
    /// The HTTP server's side (`None`: no server).
    pub http: Option<W4119Bridge>,
}

/// Runs the node until `shutdown` resolves or the console says `quit`.
pub async fn run(
    socket: UdpSocket,
    mut node: W4119Node,
    mut store: W4119Store,
    config: W4119ShellConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RunError> {
    let (mined_tx, mut mined_rx) = mpsc::unbounded_channel::<W4119Block>();
    let mut miner = Miner::new(node.config().difficulty, mined_tx);
    let ConsoleLines {
        mut lines,
        quit_at_end,
        handled,
        mut open,
    } = ConsoleLines::new(config.console, PROMPT, &config.data_dir);
    let (mut votes_rx, mut blocks_rx, snapshot, sentences) = match config.http {
        Some(b) => (b.votes, b.blocks, Some(b.snapshot), Some(b.events)),
        None => (mpsc::channel(1).1, mpsc::channel(1).1, None, None),
    };
    let reports = Reports {
        events: config.events,
        sentences,
    };
    let mut reader = BurstReader::default();
    let mut next_snapshot_ms = 0;
    node.handle_timeout(now_ms());
    tokio::pin!(shutdown);
    loop {
        carry_out(&mut node, &socket, &mut store, &mut miner, &reports).await?;
        if let Some(tx) = &snapshot {
            let now = now_ms();
            if now >= next_snapshot_ms {
                next_snapshot_ms = now + web::SNAPSHOT_EVERY_MS;
                let hashes = miner.hashes.load(Ordering::Relaxed);
                let next = W4119Snapshot::of(&node, now, hashes, &tx.borrow());
                tx.send_replace(next);
            }
        }
        let wake = instant_at(node.poll_timeout().unwrap_or(u64::MAX));
        let snapshot_wake = instant_at(next_snapshot_ms);
        tokio::select! {
            _ = &mut shutdown => break,
            received = reader.recv_burst(&socket, |from, bytes| node.handle_datagram(now_ms(), from, bytes)) => {
                received.map_err(RunError::Socket)?;
            }
            _ = tokio::time::sleep_until(wake.into()) => node.handle_timeout(now_ms()),
            _ = tokio::time::sleep_until(snapshot_wake.into()), if snapshot.is_some() => {}
            Some(block) = mined_rx.recv() => node.handle_mined(block),
            Some(request) = votes_rx.recv() => {
                let answer = web::vote(&mut node, now_ms(), request.voter, request.choice);
                let _ = request.reply.send(answer);
            }
            Some(request) = blocks_rx.recv() => {
                let block = node.chain().get(request.index).map(W4119Block::to_json_string);
                let _ = request.reply.send(block);
            }
            line = lines.recv(), if open => match line {
                Some(line) if !run_line(&mut node, &line) => break,
                Some(_) => handled.done(),
                None if quit_at_end => break,
                None => {
                    open = false;
                    tracing::info!(
                        target: USER,
                        "the console's input ended; the peer keeps running (Ctrl-C or SIGTERM \
                         stops it)"
                    );
                }
            },
        }
    }
    miner.stop();
    if node.registered() {
        tracing::info!(target: USER, "leaving the tracker");
        send(
            &socket,
            node.config().tracker,
            &wire::encode(&W4119Message::LeavePeer),
        )
        .await;
    }
    Ok(())
}

/// Runs one console line; false on `quit`.
fn run_line(node: &mut W4119Node, line: &str) -> bool {
    let now = now_ms();
    let answer = match console::parse(line) {
        Ok(None) => return true,
        Err(message) => message,
        Ok(Some(W4119Line::Quit)) => return false,
        Ok(Some(W4119Line::Help)) => console::HELP.to_owned(),
        Ok(Some(W4119Line::Vote { voter, choice })) => {
            match node.handle_command(now, W4119Command::Vote { voter, choice }) {
                // The event says it was accepted, and another when it is mined.
                Ok(()) => return true,
                Err(why) => why,
            }
        }
        Ok(Some(W4119Line::Tally)) => console::tally(node),
        Ok(Some(W4119Line::Chain(n))) => console::chain(node, n),
        Ok(Some(W4119Line::Peers)) => console::peers(node),
        Ok(Some(W4119Line::Status)) => console::status(node),
        Ok(Some(W4119Line::Sync)) => match node.handle_command(now, W4119Command::Sync) {
            Ok(()) => "asked every peer for its chain; a longer one is adopted when whole".into(),
            Err(why) => why,
        },
    };
    print_answer(&answer);
    true
}

/// Performs the node's outputs in order, persisting each drain's blocks with one group commit
/// before the datagrams that follow them.
async fn carry_out(
    node: &mut W4119Node,
    socket: &UdpSocket,
    store: &mut W4119Store,
    miner: &mut Miner,
    reports: &Reports,
) -> Result<(), RunError> {
    let mut batch: Vec<W4119Block> = Vec::new();
    let mut votes: Vec<Transaction> = Vec::new();
    let mut held: Vec<(SocketAddr, Vec<u8>)> = Vec::new();
    let mut mine: Option<Option<BlockTemplate>> = None;
    while let Some(output) = node.poll_output() {
        match output {
            Output::Persist(W4119Record::Blocks(blocks)) => batch.extend(blocks),
            Output::Persist(W4119Record::OwnVote(vote)) => votes.push(vote),
            Output::Send(Transmit { to, bytes }) if batch.is_empty() && votes.is_empty() => {
                send(socket, to, &bytes).await
            }
            Output::Send(Transmit { to, bytes }) => held.push((to, bytes)),
            Output::Mine(job) => mine = Some(job),
            Output::Event(e) => reports.report(e),
        }
    }
    if !votes.is_empty() {
        store.append_own(&votes).map_err(RunError::Store)?;
    }
    if !batch.is_empty() {
        store.append(&batch).map_err(RunError::Store)?;
    }
    for (to, bytes) in held {
        send(socket, to, &bytes).await;
    }
    if let Some(job) = mine {
        miner.start(job);
    }
    Ok(())
}

/// Where the node's events go.
struct Reports {
    /// The launcher's channel (tests, benchmarks); `None`: events are logged.
    events: Option<mpsc::UnboundedSender<(u64, W4119Event)>>,
    /// The web page's event streams, which get every event as a sentence.
    sentences: Option<broadcast::Sender<String>>,
}

impl Reports {
    /// Hands an event to the launcher, or logs it as a sentence; and to the event streams.
    fn report(&self, event: W4119Event) {
        if let Some(tx) = &self.sentences {
            // No open stream is not an error.
            let _ = tx.send(event.to_string());
        }
        match &self.events {
            Some(tx) => {
                let _ = tx.send((now_ms(), event));
            }
            None => tracing::info!(target: USER, "{event}"),
        }
    }
}

/// The W4119 miner: one blocking task per template, trying nonces from 0 as W4119 does (its
/// two-hex-zero proof of work takes about 256 attempts); a new template cancels the last.
struct Miner {
    difficulty: u32,
    found: mpsc::UnboundedSender<W4119Block>,
    cancel: Arc<AtomicBool>,
    hashes: Arc<AtomicU64>,
}

impl Miner {
    fn new(difficulty: u32, found: mpsc::UnboundedSender<W4119Block>) -> Miner {
        Miner {
            difficulty,
            found,
            cancel: Arc::new(AtomicBool::new(false)),
            hashes: Arc::new(AtomicU64::new(0)),
        }
    }

    fn start(&mut self, job: Option<BlockTemplate>) {
        self.stop();
        let Some(template) = job else {
            return;
        };
        let cancel = Arc::new(AtomicBool::new(false));
        self.cancel = cancel.clone();
        let (hashes, found, difficulty) =
            (self.hashes.clone(), self.found.clone(), self.difficulty);
        tokio::task::spawn_blocking(move || {
            if let Some(block) = votechain_w4119::mine(&template, difficulty, &cancel, &hashes) {
                let _ = found.send(block);
            }
        });
    }

    fn stop(&mut self) {
        self.cancel.store(true, Ordering::Relaxed);
    }
}
