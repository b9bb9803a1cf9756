//! The tokio shell around [`Node`]: one loop over the UDP socket, one timer armed from
//! `poll_timeout`, mined blocks from the miner threads, console lines from stdin, and shutdown.
//! It carries out the node's outputs in order — a `Persist` is appended and synced before any
//! datagram that follows it is sent — and is the only place that touches the socket, the store,
//! key files (through [`keys`]), threads and the clock. Datagrams are read in bursts
//! (`votechain_runtime::net::BurstReader`), each burst closed with `end_of_burst`.

use crate::console::{self, Command};
use crate::external::{self, ExternalMiners};
use crate::http::feeds::{Feeds, StatusFeed};
use crate::http::{api, ShellBridge};
use crate::keys;
use crate::metrics::PeerMetrics;
use crate::node::{Command as NodeCommand, Event, Node, Output, Record, Transmit};
use crate::view;
use crate::voting::Voting;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use votechain_chain::{
    Block, BlockTemplate, Entry, MineOutcome, MinerControl, MiningJob, Store, Vote, Worker,
};
use votechain_runtime::net::BurstReader;
use votechain_runtime::{print_answer, stdin_lines, ConsoleOptions, Handled, USER};

/// The console's prompt at a terminal.
pub const PROMPT: &str = "peer> ";

/// The console's history, in the data directory.
pub const HISTORY_FILE: &str = "history";

/// Mining threads when the launcher does not say (`peer --miner-threads`).
pub const DEFAULT_MINER_THREADS: usize = 1;

/// Why a peer stopped other than by its shutdown future or `quit`.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A record could not be made durable: nothing more may be acknowledged.
    #[error("cannot write to the store")]
    Store(#[source] io::Error),
    /// The socket failed in a way that will not pass (not a per-datagram error).
    #[error("the socket failed")]
    Socket(#[source] io::Error),
}

/// Where console commands come from.
#[derive(Debug)]
pub enum ConsoleInput {
    /// No console.
    None,
    /// Lines from stdin, with a prompt, line editing and history (kept in `history` in the
    /// data directory) when stdin is a terminal. The end of a terminal's input (Ctrl-D) is
    /// `quit`; the end of a pipe's (or /dev/null's) ends the console, not the peer, so scripts
    /// can leave a peer running.
    Stdin,
    /// Lines from another task (the one-command election multiplexes one terminal this way).
    Channel(mpsc::Receiver<String>),
}

/// A shell's console input: its lines, whether their end means `quit` (a terminal's Ctrl-D),
/// how to bring the prompt back, and whether there is input at all (without a console there is
/// no input to end, and nothing to say about its end).
pub(crate) struct ConsoleLines {
    pub(crate) lines: mpsc::Receiver<String>,
    pub(crate) quit_at_end: bool,
    pub(crate) handled: Handled,
    pub(crate) open: bool,
}

impl ConsoleLines {
    /// Starts reading `console` (stdin with `prompt` and the history file in `data_dir`).
    pub(crate) fn new(console: ConsoleInput, prompt: &str, data_dir: &std::path::Path) -> Self {
        let open = !matches!(console, ConsoleInput::None);
        let (lines, quit_at_end, handled) = match console {
            ConsoleInput::None => (mpsc::channel::<String>(1).1, false, Handled::default()),
            ConsoleInput::Stdin => {
                let stdin = stdin_lines(ConsoleOptions {
                    prompt: prompt.to_owned(),
                    history: Some(data_dir.join(HISTORY_FILE)),
                });
                (stdin.lines, stdin.terminal, stdin.handled)
            }
            ConsoleInput::Channel(rx) => (rx, false, Handled::default()),
        };
        ConsoleLines {
            lines,
            quit_at_end,
            handled,
            open,
        }
    }
}

/// What the shell needs besides the node.
#[derive(Debug)]
pub struct ShellConfig {
    /// Data directory (voter keys live in `keys/` below it).
    pub data_dir: PathBuf,
    /// Mining threads (0: none of its own, for a peer whose external miners mine).
    pub miner_threads: usize,
    /// The mining port, when external miners may connect.
    pub mining_port: Option<ExternalMiners<BlockTemplate>>,
    /// Where console commands come from.
    pub console: ConsoleInput,
    /// Where console answers go; stdout when `None`.
    pub console_out: Option<mpsc::UnboundedSender<String>>,
    /// Receives every node event with its time (benchmarks and tests measure with it).
    pub events: Option<mpsc::UnboundedSender<(u64, Event)>>,
    /// The HTTP API's requests and event subscribers (`None`: no HTTP server).
    pub http: Option<ShellBridge>,
}

/// Wall-clock Unix milliseconds: the node's `now_ms`.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Runs the node until `shutdown` resolves or the console says `quit`; then leaves the network.
pub async fn run(
    socket: UdpSocket,
    mut node: Node,
    mut store: Store,
    config: ShellConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RunError> {
    let (mined_tx, mut mined_rx) = mpsc::unbounded_channel::<Block>();
    let mut miner = Miner::new(config.miner_threads, mined_tx, config.mining_port);
    // The console's lines, whether their end means `quit`, and how to bring the prompt back.
    let ConsoleLines {
        mut lines,
        quit_at_end,
        handled,
        mut open,
    } = ConsoleLines::new(config.console, PROMPT, &config.data_dir);
    let mut console = Console {
        data_dir: config.data_dir.clone(),
        out: config.console_out.clone(),
        voting: Voting::new(config.data_dir.clone()),
    };
    let events = config.events.clone();
    // Without a server the request channel is one nobody sends on, and the arm never fires.
    let (mut api_rx, api_events, status) = match config.http {
        Some(bridge) => (
            bridge.requests,
            Some(bridge.events),
            Some(StatusFeed::new(bridge.status)),
        ),
        None => (mpsc::channel(1).1, None, None),
    };
    let mut reporter = Reporter {
        events,
        api: api_events,
        feeds: Feeds::default(),
        status,
    };
    tokio::pin!(shutdown);
    let mut reader = BurstReader::default();
    let mut metrics = PeerMetrics::new();
    node.handle_timeout(now_ms());
    // False when the loop woke only to publish coalesced events, which is no news of the peers.
    let mut handled_input = true;
    loop {
        // Votes typed before the election was known go in as soon as it is.
        if console.voting.has_waiting() {
            for answer in console.voting.submit_waiting(&mut node, now_ms()) {
                console.say(&answer);
            }
        }
        carry_out(&mut node, &socket, &mut store, &mut miner, &mut reporter).await?;
        metrics.record(&node, now_ms(), miner.threads.control.hashes());
        if let Some(pool) = miner.port.as_mut().and_then(|p| p.refresh(now_ms())) {
            metrics.record_pool(pool);
            reporter.set_pool(pool);
        }
        if std::mem::take(&mut handled_input) {
            reporter.activity();
        }
        reporter.publish(&node, miner.threads.control.hashes());
        // No deadline: wake within the hour anyway (`instant_at` caps the wait).
        let wake = instant_at(node.poll_timeout().unwrap_or(u64::MAX));
        let publish_at = reporter.deadline();
        let publish_wake = instant_at(publish_at.unwrap_or(u64::MAX));
        let pool_at = miner.port.as_ref().map(ExternalMiners::refresh_at);
        let pool_wake = instant_at(pool_at.unwrap_or(u64::MAX));
        handled_input = true;
        tokio::select! {
            _ = &mut shutdown => break,
            received = reader.recv_burst(&socket, |from, bytes| {
                metrics.timed(&mut node, |node| node.handle_datagram(now_ms(), from, bytes))
            }) => {
                received.map_err(RunError::Socket)?;
                metrics.timed(&mut node, |node| node.end_of_burst(now_ms()));
            }
            _ = tokio::time::sleep_until(wake.into()) => node.handle_timeout(now_ms()),
            // Coalesced events (`tally`, `peers`) and the status whose time has come: at the top.
            _ = tokio::time::sleep_until(publish_wake.into()), if publish_at.is_some() => {
                handled_input = false;
            }
            // The mining port's numbers are due for the status and the metrics.
            _ = tokio::time::sleep_until(pool_wake.into()), if pool_at.is_some() => {
                handled_input = false;
            }
            Some(block) = mined_rx.recv() => node.handle_mined(now_ms(), block),
            share = external::next_found(&mut miner.port) => {
                let tip = node.chain().map(|c| c.tip_hash());
                if let Some(block) = miner.port.as_mut().and_then(|p| p.block(&share, tip)) {
                    node.handle_mined(now_ms(), block);
                }
            }
            // One request, bounded work: the HTTP server cannot hold the loop up.
            Some(request) = api_rx.recv() => {
                let submit = matches!(request.query, crate::http::Query::Submit(_));
                let answer = api::answer(&mut node, &console.voting, now_ms(), request.query);
                if submit {
                    // Whoever submitted sees their vote pending in the status they ask next.
                    reporter.status_now(&node);
                }
                let _ = request.reply.send(answer);
            }
            line = lines.recv(), if open => match line {
                Some(line) if !console.line(&mut node, miner.port.as_mut(), &line) => break,
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
    if let Some(warning) = console.voting.warning_at_stop() {
        // Said on the console (the terminal); the log file keeps it too.
        tracing::info!("{warning}");
        console.say(&warning);
    }
    tracing::info!(target: USER, "leaving the network");
    node.handle_command(now_ms(), NodeCommand::Leave);
    carry_out(&mut node, &socket, &mut store, &mut miner, &mut reporter).await?;
    miner.stop().await;
    Ok(())
}

/// Performs the node's outputs in order, with one group commit per drain: every `Persist` of the
/// drain is written as one batch with one `sync_data`, and every datagram that follows a
/// `Persist` is held until that commit has completed, so nothing is acknowledged or relayed
/// before it is on disk. Datagrams before the first `Persist` go out at once. Events are reports,
/// not acknowledgements, so they need not wait. Mining starts last, on the drain's final template.
async fn carry_out(
    node: &mut Node,
    socket: &UdpSocket,
    store: &mut Store,
    miner: &mut Miner,
    reporter: &mut Reporter,
) -> Result<(), RunError> {
    let mut batch: Vec<Record> = Vec::new();
    let mut held: Vec<(SocketAddr, Vec<u8>)> = Vec::new();
    // Only the last mining instruction of a drain matters: an earlier one is already stale.
    let mut mine: Option<Option<BlockTemplate>> = None;
    while let Some(output) = node.poll_output() {
        match output {
            Output::Persist(record) => {
                if let Record::Vote(vote) = &record {
                    reporter.vote_accepted(vote);
                }
                batch.push(record)
            }
            Output::Event(e) => reporter.report(node, e),
            Output::Send(Transmit { to, bytes }) if batch.is_empty() => {
                send(socket, to, &bytes).await
            }
            Output::Send(Transmit { to, bytes }) => held.push((to, bytes)),
            Output::Mine(job) => mine = Some(job),
        }
    }
    commit(store, &mut batch)?;
    for (to, bytes) in held {
        send(socket, to, &bytes).await;
    }
    if let Some(job) = mine {
        miner.start(job);
    }
    Ok(())
}

/// Sends one datagram; a failure (e.g. a full buffer) is the network's loss, not ours to die of.
/// Every profile's shell sends through it.
pub(crate) async fn send(socket: &UdpSocket, to: SocketAddr, bytes: &[u8]) {
    if let Err(e) = socket.send_to(bytes, to).await {
        tracing::debug!(%to, error = %e, "send failed");
    }
}

/// Appends `batch` to the store durably and empties it.
fn commit(store: &mut Store, batch: &mut Vec<Record>) -> Result<(), RunError> {
    let entries: Vec<Entry<'_>> = batch
        .iter()
        .map(|r| match r {
            Record::Block(b) => Entry::Block(b),
            Record::Vote(v) => Entry::Vote(v),
        })
        .collect();
    store.append_all(&entries).map_err(RunError::Store)?;
    batch.clear();
    Ok(())
}

/// Where node events go: the launcher's channel or the log, and the HTTP event subscribers.
struct Reporter {
    /// The launcher's events channel; `None`: events are logged.
    events: Option<mpsc::UnboundedSender<(u64, Event)>>,
    /// Server-Sent Events subscribers (a send never waits; it fails only with none listening).
    api: Option<tokio::sync::broadcast::Sender<crate::http::ApiEvent>>,
    /// When the coalesced `tally` and `peers` events are due.
    feeds: Feeds,
    /// The published `GET /api/status` body; `None` without a server.
    status: Option<StatusFeed>,
}

impl Reporter {
    /// Whether anyone subscribes to the events.
    fn listening(&self) -> bool {
        self.api
            .as_ref()
            .is_some_and(|api| api.receiver_count() > 0)
    }

    /// The loop handled input: the status and the peer table may have changed.
    fn activity(&mut self) {
        self.feeds.activity();
        if let Some(status) = &mut self.status {
            status.activity();
        }
    }

    /// When [`Reporter::publish`] has something to do next.
    fn deadline(&self) -> Option<u64> {
        let status = self.status.as_ref().map(StatusFeed::deadline);
        match (self.feeds.deadline(), status) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The mining port's numbers, read afresh: the status shows them from now on, and a
    /// `pool` event tells the pages when they changed.
    fn set_pool(&mut self, pool: &crate::miningport::PoolSnapshot) {
        let Some(status) = &mut self.status else {
            return;
        };
        let data = external::pool_json(pool);
        if status.set_pool(data.clone()) {
            if let Some(api) = self.api.as_ref().filter(|api| api.receiver_count() > 0) {
                let _ = api.send(crate::http::ApiEvent { kind: "pool", data });
            }
        }
    }

    /// Publishes the status now (a new tip, a submitted vote).
    fn status_now(&mut self, node: &Node) {
        if let Some(status) = &mut self.status {
            status.publish_now(node, now_ms());
        }
    }

    /// Publishes the status when due, and sends the coalesced events that are due, built only
    /// for someone listening; `hashes`: the miner's running count. Without a server nothing is
    /// built and nothing waits.
    fn publish(&mut self, node: &Node, hashes: u64) {
        if let Some(status) = &mut self.status {
            status.publish_due(node, now_ms(), hashes);
        }
        let due = self.feeds.publish(node, now_ms(), self.listening());
        if let Some(api) = &self.api {
            for e in due {
                let _ = api.send(e);
            }
        }
    }

    /// A vote entered the pending pool: a `vote` event for whoever listens, and a new tally.
    fn vote_accepted(&mut self, vote: &Vote) {
        if let Some(api) = self.api.as_ref().filter(|api| api.receiver_count() > 0) {
            let _ = api.send(api::vote_event(vote));
        }
        self.feeds.tally_changed();
    }

    fn report(&mut self, node: &Node, event: Event) {
        if matches!(
            event,
            Event::TipChanged { .. } | Event::ElectionKnown { .. }
        ) {
            self.feeds.tally_changed();
            // Before the events: whoever hears of the tip and asks for the status sees it.
            // Nobody listening, nobody to race: the next publication is soon enough.
            if self.listening() {
                self.status_now(node);
            }
        }
        // Built only for someone listening: a sync moves the tip thousands of times a second.
        if let Some(api) = self.api.as_ref().filter(|api| api.receiver_count() > 0) {
            for e in api::events_of(&event) {
                let _ = api.send(e);
            }
        }
        match &self.events {
            Some(tx) => {
                let _ = tx.send((now_ms(), event));
            }
            None => log_event(&event, node.syncing(), None),
        }
    }
}

/// Logs a node event as a peer shows it: a sentence on the terminal for what people follow
/// (blocks, reorganisations, consensus outcomes), a warning for what they must act on (bans,
/// another election), and only the log file for detail. `syncing`: the node is fetching a chain,
/// whose tip moves thousands of times a second, so tip changes are debug detail then. `label`
/// names the peer in a process that runs several (the one-command election: "peer 2").
pub fn log_event(event: &Event, syncing: bool, label: Option<&str>) {
    let prefix = label.map(|l| format!("{l}: ")).unwrap_or_default();
    match event {
        Event::TipChanged { .. } if syncing => tracing::debug!("{prefix}{event}"),
        // Said already: the tip line names the miner.
        Event::Mined { .. } => tracing::debug!("{prefix}{event}"),
        // Sentences, never Debug output: people read these.
        Event::PeerBanned { .. } | Event::ElectionMismatch { .. } => {
            tracing::warn!("{prefix}{event}")
        }
        _ => tracing::info!(target: USER, "{prefix}{event}"),
    }
}

/// The instant of a core's deadline in `now_ms` milliseconds (at most an hour ahead), for a
/// tokio timer; shared by every profile's shell.
pub(crate) fn instant_at(deadline_ms: u64) -> Instant {
    Instant::now() + Duration::from_millis(deadline_ms.saturating_sub(now_ms()).min(3_600_000))
}

/// Miner threads, started once: each waits for its share of the current job on a channel, so
/// a new job costs a channel send per thread, not a thread spawn. `J` is what one thread is
/// handed (the native miner's `Worker`, the course miner's job), `work` runs it on thread
/// `index` and what it finds goes to `found`. Creating a job supersedes the previous one (the
/// miner control's generation), whose workers stop within a few thousand nonces and pick up
/// the new share.
pub(crate) struct MinerThreads<J> {
    pub(crate) control: MinerControl,
    shares: Vec<std::sync::mpsc::Sender<J>>,
}

impl<J: Send + 'static> MinerThreads<J> {
    /// Starts `threads` threads named `name-<i>` (none: every job is left to the mining port).
    pub(crate) fn new<B: Send + 'static>(
        threads: usize,
        name: &str,
        found: mpsc::UnboundedSender<B>,
        work: impl Fn(usize, J) -> Option<B> + Clone + Send + 'static,
    ) -> MinerThreads<J> {
        let shares = (0..threads)
            .map(|i| {
                let (tx, rx) = std::sync::mpsc::channel::<J>();
                let found = found.clone();
                let work = work.clone();
                let spawned = std::thread::Builder::new()
                    .name(format!("{name}-{i}"))
                    .spawn(move || {
                        // Ends when the shell drops its sender.
                        for job in rx {
                            if let Some(block) = work(i, job) {
                                // The receiver is gone only when the shell is shutting down.
                                let _ = found.send(block);
                            }
                        }
                    });
                if let Err(e) = spawned {
                    tracing::error!("could not start a miner thread: {e}");
                }
                tx
            })
            .collect();
        MinerThreads {
            control: MinerControl::new(),
            shares,
        }
    }

    /// Hands thread `i` of `n` the share `share(i, n)`.
    pub(crate) fn hand_out(&self, share: impl Fn(usize, usize) -> J) {
        let n = self.shares.len();
        for (i, tx) in self.shares.iter().enumerate() {
            let _ = tx.send(share(i, n));
        }
    }
}

/// The native miner: its threads run `Worker`s of the current template, and the mining port,
/// if any, hands the same template to external miners.
struct Miner {
    /// This process's threads.
    threads: MinerThreads<Worker>,
    /// The mining port.
    port: Option<ExternalMiners<BlockTemplate>>,
}

impl Miner {
    fn new(
        threads: usize,
        found: mpsc::UnboundedSender<Block>,
        port: Option<ExternalMiners<BlockTemplate>>,
    ) -> Miner {
        let threads = MinerThreads::new(threads, "miner", found, |_, worker: Worker| match worker
            .run()
        {
            MineOutcome::Found(block) => Some(*block),
            _ => None,
        });
        Miner { threads, port }
    }

    fn start(&mut self, template: Option<BlockTemplate>) {
        if let Some(port) = &mut self.port {
            port.start(template.as_ref());
        }
        let Some(template) = template else {
            self.threads.control.cancel();
            return;
        };
        let job = MiningJob::new(template, &self.threads.control);
        self.threads.hand_out(|i, n| job.worker(i, n));
    }

    /// Stops the threads' job and closes the mining port.
    async fn stop(&mut self) {
        self.threads.control.cancel();
        if let Some(port) = self.port.take() {
            port.shutdown().await;
        }
    }
}

/// The console: runs command lines against the node and writes the answers.
struct Console {
    data_dir: PathBuf,
    out: Option<mpsc::UnboundedSender<String>>,
    /// Signing and submitting votes, and the votes typed before the election was known.
    voting: Voting,
}

impl Console {
    /// Writes one answer: above the prompt at a terminal, else on stdout (a closed stdout is
    /// not an error worth dying of).
    fn say(&self, text: &str) {
        match &self.out {
            Some(tx) => {
                let _ = tx.send(text.to_owned());
            }
            None => print_answer(text),
        }
    }

    /// Runs one console line (`port`: the mining port, whose numbers `stats` shows); false on
    /// `quit`.
    fn line(
        &mut self,
        node: &mut Node,
        port: Option<&mut ExternalMiners<BlockTemplate>>,
        line: &str,
    ) -> bool {
        let command = match console::parse(line) {
            Ok(Some(c)) => c,
            Ok(None) => return true,
            Err(message) => {
                self.say(&message);
                return true;
            }
        };
        let now = now_ms();
        match command {
            Command::Vote { voter, choice } => {
                let answer = self.voting.vote(node, now, &voter, &choice);
                self.say(&answer);
            }
            Command::Tally => self.say(&view::tally(node)),
            Command::Receipt(id) => self.say(&view::receipt(&node.receipt_status(&id, false))),
            Command::Chain { n, top } => self.say(&view::chain(node, n, top)),
            Command::Block(h) => self.say(&view::block(node, h)),
            Command::Peers => self.say(&view::peers(node, now)),
            Command::Stats => {
                let mut text = view::stats(node, now);
                if let Some(port) = port {
                    text.push('\n');
                    text.push_str(&external::pool_lines(port.snapshot()));
                }
                self.say(&text);
            }
            Command::Keys(command) => match keys::run(&self.data_dir, &command) {
                Ok(answer) => self.say(&answer),
                Err(e) => self.say(&e.with_causes()),
            },
            Command::Mine(on) => {
                node.handle_command(now, NodeCommand::SetMining(on));
                self.say(if on { "mining on" } else { "mining off" });
            }
            Command::Consensus => {
                node.handle_command(now, NodeCommand::Consensus);
                self.say("consensus round started; its outcome follows in the log");
            }
            Command::Help => self.say(console::HELP),
            Command::Quit => return false,
        }
        true
    }
}
