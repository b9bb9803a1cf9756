//! The tokio shell around [`CourseNode`]: the socket, one timer, the miner threads, the console,
//! the store and the HTTP bridge, the way [`crate::shell`] drives the native node. A `Persist`
//! is appended and synced before any datagram after it is sent, so an ANNOUNCE never names a
//! block we could lose.

use super::console::{self, CourseLine};
use super::event::CourseEvent;
use super::http::{CourseBridge, CourseSnapshot};
use super::node::{CourseCommand, CourseNode};
use crate::external::{self, ExternalMiners};
use crate::shell::{instant_at, now_ms, send, ConsoleInput, ConsoleLines, MinerThreads, RunError};
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use votechain_course::block::CourseBlock;
use votechain_course::miner::{CourseJob, CourseMiningJob};
use votechain_course::store::CourseStore;
use votechain_runtime::net::BurstReader;
use votechain_runtime::{print_answer, USER};
use votechain_sansio::output::{Output, Transmit};

/// The console's prompt at a terminal.
pub const PROMPT: &str = "course> ";

/// What the shell needs besides the node.
#[derive(Debug)]
pub struct CourseShellConfig {
    /// The data directory (console history).
    pub data_dir: PathBuf,
    /// Mining threads (0: none of its own, for a peer whose external miners mine).
    pub miner_threads: usize,
    /// The mining port, when external miners may connect.
    pub mining_port: Option<ExternalMiners<CourseJob>>,
    /// Where console commands come from.
    pub console: ConsoleInput,
    /// Every event with its time (tests, benchmarks); `None`: events are logged.
    pub events: Option<mpsc::UnboundedSender<(u64, CourseEvent)>>,
    /// The HTTP server's side (`None`: no server).
    pub http: Option<CourseBridge>,
}

/// Runs the node until `shutdown` resolves or the console says `quit`.
pub async fn run(
    socket: UdpSocket,
    mut node: CourseNode,
    mut store: CourseStore,
    config: CourseShellConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RunError> {
    let (mined_tx, mut mined_rx) = mpsc::unbounded_channel::<CourseBlock>();
    let mut miner = Miner::new(config.miner_threads, mined_tx, config.mining_port);
    let ConsoleLines {
        mut lines,
        quit_at_end,
        handled,
        mut open,
    } = ConsoleLines::new(config.console, PROMPT, &config.data_dir);
    let (mut words_rx, mut blocks_rx, snapshot) = match config.http {
        Some(bridge) => (bridge.words, bridge.blocks, Some(bridge.snapshot)),
        None => (mpsc::channel(1).1, mpsc::channel(1).1, None),
    };
    let events = config.events;
    let mut reader = BurstReader::default();
    let mut next_snapshot_ms = 0;
    node.handle_timeout(now_ms());
    tokio::pin!(shutdown);
    loop {
        carry_out(&mut node, &socket, &mut store, &mut miner, events.as_ref()).await?;
        if let Some(tx) = &snapshot {
            let now = now_ms();
            if now >= next_snapshot_ms {
                next_snapshot_ms = now + super::http::SNAPSHOT_EVERY_MS;
                let pool = miner
                    .port
                    .as_mut()
                    .map(|p| external::pool_json(p.snapshot()));
                tx.send_replace(CourseSnapshot::of(
                    &node,
                    now,
                    miner.threads.control.hashes(),
                    pool,
                ));
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
            Some(block) = mined_rx.recv() => node.handle_mined(now_ms(), block),
            share = external::next_found(&mut miner.port) => {
                let tip = node.chain().tip().map(|b| b.hash);
                if let Some(block) = miner.port.as_mut().and_then(|p| p.block(&share, tip)) {
                    node.handle_mined(now_ms(), block);
                }
            }
            Some(request) = words_rx.recv() => {
                let answer = node.handle_command(now_ms(), CourseCommand::Word(request.word));
                let _ = request.reply.send(answer);
            }
            Some(request) = blocks_rx.recv() => {
                let block = node.chain().get(request.height).map(super::http::block_json);
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
    tracing::info!(target: USER, "leaving the network");
    miner.stop().await;
    Ok(())
}

/// Runs one console line; false on `quit`.
fn run_line(node: &mut CourseNode, line: &str) -> bool {
    let now = now_ms();
    let answer = match console::parse(line) {
        Ok(None) => return true,
        Err(message) => message,
        Ok(Some(CourseLine::Quit)) => return false,
        Ok(Some(CourseLine::Help)) => console::HELP.to_owned(),
        Ok(Some(CourseLine::Word(word))) => {
            match node.handle_command(now, CourseCommand::Word(word.clone())) {
                Ok(()) if node.mining() => format!("{word:?} will be mined into the next block"),
                Ok(()) => format!("{word:?} waits: mining is off (type `mine on`)"),
                Err(why) => why,
            }
        }
        Ok(Some(CourseLine::Chain(n))) => console::chain(node, n),
        Ok(Some(CourseLine::Block(h))) => console::block(node, h),
        Ok(Some(CourseLine::Peers)) => console::peers(node, now),
        Ok(Some(CourseLine::Stats)) => console::stats(node),
        Ok(Some(CourseLine::Consensus)) => {
            let _ = node.handle_command(now, CourseCommand::Consensus);
            "consensus round started; its outcome follows in the log".to_owned()
        }
        Ok(Some(CourseLine::Mine(on))) => {
            let _ = node.handle_command(now, CourseCommand::SetMining(on));
            if on { "mining on" } else { "mining off" }.to_owned()
        }
    };
    print_answer(&answer);
    true
}

/// Performs the node's outputs in order, persisting each drain's blocks with one group commit
/// before the datagrams that follow them.
async fn carry_out(
    node: &mut CourseNode,
    socket: &UdpSocket,
    store: &mut CourseStore,
    miner: &mut Miner,
    events: Option<&mpsc::UnboundedSender<(u64, CourseEvent)>>,
) -> Result<(), RunError> {
    let mut batch: Vec<CourseBlock> = Vec::new();
    let mut held: Vec<(SocketAddr, Vec<u8>)> = Vec::new();
    let mut mine: Option<Option<CourseJob>> = None;
    let syncing = node.sync_progress().is_some();
    while let Some(output) = node.poll_output() {
        match output {
            Output::Persist(blocks) => batch.extend(blocks),
            Output::Send(Transmit { to, bytes }) if batch.is_empty() => {
                send(socket, to, &bytes).await
            }
            Output::Send(Transmit { to, bytes }) => held.push((to, bytes)),
            Output::Mine(job) => mine = Some(job),
            Output::Event(e) => report(events, e, syncing),
        }
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

/// Hands an event to the launcher, or logs it as a sentence (tip changes while syncing are
/// detail: they come thousands a second).
fn report(
    events: Option<&mpsc::UnboundedSender<(u64, CourseEvent)>>,
    event: CourseEvent,
    syncing: bool,
) {
    if let Some(tx) = events {
        let _ = tx.send((now_ms(), event));
        return;
    }
    match event {
        CourseEvent::TipChanged { ours: false, .. } if syncing => tracing::debug!("{event}"),
        CourseEvent::CandidateFailed { .. } => tracing::warn!("{event}"),
        _ => tracing::info!(target: USER, "{event}"),
    }
}

/// The course miner: every thread runs its slice of the current job's counters, and the mining
/// port, if any, hands the same job to external miners.
struct Miner {
    /// This process's threads.
    threads: MinerThreads<CourseMiningJob>,
    /// The mining port.
    port: Option<ExternalMiners<CourseJob>>,
}

impl Miner {
    fn new(
        threads: usize,
        found: mpsc::UnboundedSender<CourseBlock>,
        port: Option<ExternalMiners<CourseJob>>,
    ) -> Miner {
        let threads = MinerThreads::new(
            threads,
            "course-miner",
            found,
            move |i, job: CourseMiningJob| job.run_worker(i, threads),
        );
        Miner { threads, port }
    }

    fn start(&mut self, job: Option<CourseJob>) {
        if let Some(port) = &mut self.port {
            port.start(job.as_ref());
        }
        let Some(job) = job else {
            self.threads.control.cancel();
            return;
        };
        let job = CourseMiningJob::new(&job, &self.threads.control);
        self.threads.hand_out(|_, _| job.clone());
    }

    /// Stops the threads' job and closes the mining port.
    async fn stop(&mut self) {
        self.threads.control.cancel();
        if let Some(port) = self.port.take() {
            port.shutdown().await;
        }
    }
}
