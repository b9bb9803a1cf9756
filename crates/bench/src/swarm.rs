//! In-process peers for the network benchmarks (`sync`, `propagation`, `votes`): starting a real
//! peer shell on a loopback socket with its event and console channels, stopping it, asking its
//! console, starting an in-process tracker, building a signed chain into a store, temp dirs and
//! the machine load. Every peer shares this process's clock, so arrival times of events at
//! different peers compare directly.

use anyhow::{ensure, Context as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use votechain_chain::{Ballot, Block, BlockTemplate, Store, Vote, VoterKey};
use votechain_peer::config::NodeConfig;
use votechain_peer::node::Event;
use votechain_peer::shell::{self, ConsoleInput, ShellConfig};
use votechain_peer::start;

/// A peer running in this process.
pub struct Peer {
    /// Its UDP address on loopback.
    pub addr: SocketAddr,
    /// Every node event, stamped with the node's clock (Unix ms) when it was emitted.
    pub events: mpsc::UnboundedReceiver<(u64, Event)>,
    /// Console lines into the peer.
    console_in: mpsc::Sender<String>,
    /// The console's answers.
    console_out: mpsc::UnboundedReceiver<String>,
    /// Resolving it stops the shell.
    shutdown: Option<oneshot::Sender<()>>,
    /// The shell task.
    task: JoinHandle<anyhow::Result<()>>,
}

/// Binds a loopback socket on a free port, for a peer or the tracker.
pub fn bind_loopback() -> anyhow::Result<tokio::net::UdpSocket> {
    start::bind_udp(SocketAddr::from(([127, 0, 0, 1], 0)))
}

/// Node configuration for a peer at `addr`: the defaults a user gets, with mining `mining`.
pub fn node_config(addr: SocketAddr, mining: votechain_peer::config::MiningMode) -> NodeConfig {
    let mut cfg = NodeConfig::new(addr);
    cfg.mining = mining;
    cfg
}

impl Peer {
    /// Starts a peer shell on `socket` (whose address `cfg.me` must be) with its store in
    /// `data_dir`. The node's RNG seed is `seed`.
    pub fn start(
        socket: tokio::net::UdpSocket,
        cfg: NodeConfig,
        data_dir: &Path,
        seed: u64,
        miner_threads: usize,
    ) -> anyhow::Result<Peer> {
        let addr = socket.local_addr()?;
        let (node, store) = start::open_node(cfg, data_dir, seed, shell::now_ms())?;
        let (events_tx, events) = mpsc::unbounded_channel();
        let (console_in, console_rx) = mpsc::channel(16);
        let (out_tx, console_out) = mpsc::unbounded_channel();
        let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
        let config = ShellConfig {
            data_dir: data_dir.to_path_buf(),
            miner_threads,
            console: ConsoleInput::Channel(console_rx),
            console_out: Some(out_tx),
            events: Some(events_tx),
        };
        let task = tokio::spawn(shell::run(socket, node, store, config, async move {
            let _ = shutdown_rx.await;
        }));
        Ok(Peer {
            addr,
            events,
            console_in,
            console_out,
            shutdown: Some(shutdown_tx),
            task,
        })
    }

    /// Runs one console command and returns its answer (None if the peer stopped or took more
    /// than two seconds).
    pub async fn console(&mut self, line: &str) -> Option<String> {
        while self.console_out.try_recv().is_ok() {}
        self.console_in.send(line.to_owned()).await.ok()?;
        tokio::time::timeout(Duration::from_secs(2), self.console_out.recv())
            .await
            .ok()
            .flatten()
    }

    /// Stops the shell and waits for it (at most two seconds).
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match tokio::time::timeout(Duration::from_secs(2), &mut self.task).await {
            Ok(Ok(Err(e))) => eprintln!("peer {} ended with an error: {e:#}", self.addr),
            Ok(_) => {}
            Err(_) => self.task.abort(),
        }
    }
}

/// An in-process tracker serving `ballot` on a loopback port; dropping the sender stops it.
pub struct Tracker {
    /// Its address.
    pub addr: SocketAddr,
    /// Resolving (or dropping) it stops the tracker.
    _shutdown: oneshot::Sender<()>,
}

impl Tracker {
    /// Starts a tracker with default settings for `ballot`.
    pub fn start(ballot: Ballot) -> anyhow::Result<Tracker> {
        let socket = bind_loopback()?;
        let addr = socket.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        let config = votechain_tracker::Config::new(ballot);
        tokio::spawn(async move {
            if let Err(e) = votechain_tracker::run(socket, config, rx).await {
                eprintln!("tracker stopped: {e}");
            }
        });
        Ok(Tracker {
            addr,
            _shutdown: tx,
        })
    }
}

/// Polls every peer's console until each knows the election (its tally lists `option`) and
/// lists all the others in its peer table (or `end`). True when they all do.
pub async fn wait_full_tables(peers: &mut [Peer], option: &str, end: tokio::time::Instant) -> bool {
    let n = peers.len();
    let addrs: Vec<String> = peers.iter().map(|p| p.addr.to_string()).collect();
    while tokio::time::Instant::now() < end {
        let mut full = 0;
        for (i, p) in peers.iter_mut().enumerate() {
            let listing = p.console("peers").await.unwrap_or_default();
            let known = addrs
                .iter()
                .enumerate()
                .filter(|(j, a)| *j != i && listing.contains(&format!("{a} ")))
                .count();
            let tally = p.console("tally").await.unwrap_or_default();
            if known == n - 1 && tally.starts_with(&format!("{option} ")) {
                full += 1;
            }
        }
        if full == n {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

/// The signing key of benchmark voter `n` (distinct `n`, distinct voters).
pub fn voter_key(n: u64) -> VoterKey {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&n.to_be_bytes());
    seed[8] = 0xb5;
    VoterKey::from_seed(seed)
}

/// A vote of voter `n` in `election`, for an option picked by `n`.
pub fn vote(ballot: &Ballot, election: votechain_chain::Hash, n: u64) -> Vote {
    let choice = &ballot.options[n as usize % ballot.options.len()];
    Vote::sign(voter_key(n).signing_key(), election, choice)
}

/// Seals `template` with the first nonce meeting `difficulty`.
pub fn seal(template: &BlockTemplate, difficulty: u32) -> anyhow::Result<Block> {
    (0u64..)
        .map(|nonce| template.seal(nonce))
        .find(|b| b.hash().leading_zero_bits() >= difficulty)
        .context("nonce space exhausted")
}

/// Builds the chain of `ballot`: genesis, then `n` blocks with one vote each from distinct
/// voters, timestamps 1 ms apart starting at `start_ms`.
pub fn build_chain(ballot: &Ballot, n: u64, start_ms: u64) -> anyhow::Result<Vec<Block>> {
    let genesis = Block::genesis(ballot).context("bench ballot")?;
    let election = genesis.hash();
    let mut blocks = Vec::with_capacity(n as usize + 1);
    blocks.push(genesis);
    for height in 1..=n {
        let parent = blocks.last().expect("genesis pushed above");
        let template = BlockTemplate::new(
            parent.hash(),
            parent.height(),
            ballot.difficulty,
            start_ms + height,
            "bench",
            vec![vote(ballot, election, height)],
        )?;
        blocks.push(seal(&template, ballot.difficulty)?);
    }
    Ok(blocks)
}

/// Writes `blocks` (genesis first) to a new store `chain.log` in `dir`, as a peer's data dir.
pub fn write_store(dir: &Path, blocks: &[Block]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("chain.log");
    let (mut store, recovered) =
        Store::open(&path).with_context(|| format!("creating {}", path.display()))?;
    ensure!(
        recovered.blocks.is_empty(),
        "{} is not fresh",
        path.display()
    );
    for block in blocks {
        store.append_block(block)?;
    }
    Ok(())
}

/// A fresh directory for one run under `root` (the system temp dir when `None`).
fn temp_dir(root: Option<&Path>, name: &str) -> anyhow::Result<PathBuf> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let root = root.map_or_else(std::env::temp_dir, Path::to_path_buf);
    let dir = root.join(format!(
        "votechain-bench-{name}-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// The 1-, 5- and 15-minute load averages, as `/proc/loadavg` writes them.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// The machine-wide count of UDP datagrams dropped on a full receive buffer (`RcvbufErrors` in
/// `/proc/net/snmp`); 0 when unreadable. Other processes count too, so it is a hint.
pub fn udp_rcvbuf_errors() -> u64 {
    let text = std::fs::read_to_string("/proc/net/snmp").unwrap_or_default();
    let mut udp = text.lines().filter(|l| l.starts_with("Udp:"));
    let (Some(names), Some(values)) = (udp.next(), udp.next()) else {
        return 0;
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == "RcvbufErrors")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

/// Runs one network benchmark: installs a log subscriber reading `RUST_LOG` (default: warnings,
/// so a run can be profiled with `RUST_LOG=votechain_peer=debug`), makes a fresh data directory
/// under `root` (the system temp dir when `None`), runs `measure` on it in a multi-threaded tokio
/// runtime (as the `peer` binary uses), and removes the directory afterwards.
pub fn run_in_temp_dir<F, Fut>(root: Option<&Path>, name: &str, measure: F) -> anyhow::Result<()>
where
    F: FnOnce(PathBuf) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    votechain_peer::start::init_logging(0, &["warn"]);
    let dir = temp_dir(root, name)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(measure(dir.clone()));
    // Best effort: a leftover temp dir is not worth failing a finished measurement for.
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// "met" or "MISSED", for the verdict lines.
pub fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "MISSED"
    }
}
