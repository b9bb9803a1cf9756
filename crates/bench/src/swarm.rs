//! In-process peers for the network benchmarks (`sync`, `propagation`, `votes`): starting a real
//! peer ([`PeerHandle`]) on a loopback socket, asking its console with a deadline, stopping it
//! with a grace period, starting an in-process tracker, building a signed chain into a store,
//! temp dirs and the machine load. Every peer shares this process's clock, so arrival times of
//! events at different peers compare directly.

use anyhow::{ensure, Context as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::oneshot;
use votechain_chain::{Ballot, Block, BlockTemplate, Store, Vote, VoterKey};
use votechain_peer::config::NodeConfig;
use votechain_peer::handle::{HandleConfig, PeerHandle};
use votechain_runtime::{bind_udp, init_logging, tokio_runtime, Flavor, LogArgs};

/// Binds a loopback socket on a free port, for a peer or the tracker.
pub fn bind_loopback() -> anyhow::Result<tokio::net::UdpSocket> {
    Ok(bind_udp(SocketAddr::from(([127, 0, 0, 1], 0)))?)
}

/// Node configuration for a peer at `addr`: the defaults a user gets, with mining `mining`.
pub fn node_config(addr: SocketAddr, mining: votechain_peer::config::MiningMode) -> NodeConfig {
    let mut cfg = NodeConfig::new(addr);
    cfg.mining = mining;
    cfg
}

/// Starts an in-process peer on `socket` (whose address `cfg.me` must be) with its store in
/// `data_dir` and RNG seed `seed`, reporting its events.
pub fn start_peer(
    socket: tokio::net::UdpSocket,
    cfg: NodeConfig,
    data_dir: &Path,
    seed: u64,
) -> anyhow::Result<PeerHandle> {
    Ok(PeerHandle::start(
        socket,
        cfg,
        HandleConfig::new(data_dir, seed),
    )?)
}

/// Runs one console command and returns its answer (None if the peer stopped or took more
/// than two seconds).
pub async fn ask(peer: &mut PeerHandle, line: &str) -> Option<String> {
    tokio::time::timeout(Duration::from_secs(2), peer.ask(line))
        .await
        .ok()
        .flatten()
}

/// Stops a peer and waits for it (at most two seconds, then its task is aborted).
pub async fn stop(mut peer: PeerHandle) {
    peer.shutdown();
    match tokio::time::timeout(Duration::from_secs(2), peer.join()).await {
        Ok(Err(e)) => eprintln!(
            "peer {} ended with an error: {:#}",
            peer.addr(),
            anyhow::Error::from(e)
        ),
        Ok(Ok(())) => {}
        Err(_) => peer.abort(),
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
        Tracker::start_with(votechain_tracker::Config::new(ballot))
    }

    /// Starts a tracker with `config`.
    pub fn start_with(config: votechain_tracker::Config) -> anyhow::Result<Tracker> {
        let socket = bind_loopback()?;
        let addr = socket.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
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
pub async fn wait_full_tables(
    peers: &mut [PeerHandle],
    option: &str,
    end: tokio::time::Instant,
) -> bool {
    let n = peers.len();
    let addrs: Vec<String> = peers.iter().map(|p| p.addr().to_string()).collect();
    while tokio::time::Instant::now() < end {
        let mut full = 0;
        for (i, p) in peers.iter_mut().enumerate() {
            let listing = ask(p, "peers").await.unwrap_or_default();
            let known = addrs
                .iter()
                .enumerate()
                .filter(|(j, a)| *j != i && listing.contains(&format!("{a} ")))
                .count();
            let tally = ask(p, "tally").await.unwrap_or_default();
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
    init_logging(&LogArgs::default(), "warn", None);
    let dir = temp_dir(root, name)?;
    let runtime = tokio_runtime(Flavor::MultiThread)?;
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
