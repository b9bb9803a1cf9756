//! `bench web`: the peer's HTTP side (issue 12) in three figures, against one in-process peer
//! with its HTTP server, started as the election starts them ([`PeerHandle`] with a listener:
//! the shell on this process's runtime, the server on a thread of its own with a one-thread
//! runtime).
//!
//! 1. Event latency: `--blocks` empty blocks, mined before the clock starts, are sent one at a
//!    time as NEW_BLOCK datagrams; each is timed from just before its send until its `block`
//!    event arrives on an open `GET /api/events` stream. This includes decoding and validating
//!    the block, so it bounds from above the time from "accepted" to "event at the client".
//! 2. Page weight: every byte of `GET /` and of the assets it references, recursively
//!    ([`page`]), uncompressed; "missing" when the peer serves no page.
//! 3. API load against vote throughput: `--votes` signed votes are submitted over UDP as in
//!    `bench votes` (flow-controlled SUBMIT_VOTE, the time until the peer's tally counts them
//!    all, polled every 10 ms), once alone and once while `--clients` keep-alive connections
//!    send `GET /api/status` back to back. The same load also runs for `--api-seconds` with no
//!    votes, so the API's own rate shows apart from what the vote run leaves it. The load generator runs on one thread of its own
//!    (a one-thread runtime), as does the server, so "requests per second on one core" is the
//!    server thread's rate; the shell and the miner share what is left of the machine.

mod client;
mod page;

use crate::swarm::{self, Tracker};
use anyhow::{ensure, Context as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use votechain_chain::{Ballot, Block, BlockTemplate, Hash};
use votechain_peer::config::MiningMode;
use votechain_peer::handle::{HandleConfig, PeerHandle};
use votechain_peer::http::serving::{HttpAddr, HttpListener};
use votechain_proto::{encode, NewBlock, SubmitVote};

/// Options of `bench web`.
#[derive(clap::Args)]
pub struct Args {
    /// Blocks sent for the event latency, one at a time.
    #[arg(long, default_value_t = 300)]
    blocks: u64,
    /// Votes submitted in each of the two vote runs (alone, and under the API load): enough
    /// for a run of a second or more, so the two rates compare.
    #[arg(long, default_value_t = 20_000)]
    votes: u64,
    /// Keep-alive connections of the API load.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// `GET /api/status` per second offered during the vote run, spread over the clients
    /// (0: as fast as they can): a little above the 20,000/s target, as paced clients that
    /// start late fall a little short of what they offer. The idle measurement is always as
    /// fast as they can.
    #[arg(long, default_value_t = 20_500)]
    api_rate: u64,
    /// Seconds of API load alone, with the UDP loop idle.
    #[arg(long, default_value_t = 5)]
    api_seconds: u64,
    /// Submissions in flight without a RECEIPT.
    #[arg(long, default_value_t = 256)]
    window: usize,
    /// Proof of work per block, leading zero bits.
    #[arg(long, default_value_t = 8)]
    difficulty: u32,
    /// Hard deadline of the whole run, in seconds.
    #[arg(long, default_value_t = 180)]
    deadline_s: u64,
    /// Where the temp data dir goes (default: the system temp dir).
    #[arg(long)]
    data_root: Option<PathBuf>,
}

/// Runs the benchmark.
pub fn run(args: Args) -> anyhow::Result<()> {
    ensure!(args.blocks > 0 && args.votes > 0 && args.clients > 0 && args.window > 0);
    let args = &args;
    swarm::run_in_temp_dir(args.data_root.as_deref(), "web", |dir| async move {
        measure(args, &dir).await
    })
}

/// A peer with its HTTP server, as the election runs one.
struct WebPeer {
    udp: SocketAddr,
    http: SocketAddr,
    handle: PeerHandle,
}

impl WebPeer {
    async fn start(ballot_tracker: SocketAddr, dir: &Path) -> anyhow::Result<WebPeer> {
        let socket = swarm::bind_loopback()?;
        let udp = socket.local_addr()?;
        let mut cfg = swarm::node_config(udp, MiningMode::WhenPending);
        cfg.tracker = Some(ballot_tracker);
        let listener =
            HttpListener::bind(HttpAddr::Exactly(SocketAddr::from(([127, 0, 0, 1], 0)))).await?;
        let http = listener.addr();
        let mut config = HandleConfig::new(dir, 1);
        config.report_events = false;
        config.http = Some(listener);
        let handle = PeerHandle::start(socket, cfg, config)?;
        Ok(WebPeer { udp, http, handle })
    }

    /// The votes in its best chain: the sum of its tally lines (`<option> <count>`).
    async fn tally_total(&mut self) -> Option<u64> {
        let text = self.ask("tally").await?;
        text.lines()
            .map(|l| l.rsplit_once(' ').and_then(|(_, n)| n.parse::<u64>().ok()))
            .sum()
    }

    /// One console command's answer; `None` after two seconds or once the peer stopped.
    async fn ask(&mut self, line: &str) -> Option<String> {
        let asked = tokio::time::timeout(Duration::from_secs(2), self.handle.ask(line));
        asked.await.ok().flatten()
    }

    async fn stop(mut self) {
        self.handle.shutdown();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.handle.join()).await;
    }
}

async fn measure(args: &Args, dir: &Path) -> anyhow::Result<()> {
    let load_before = swarm::loadavg();
    let end = Instant::now() + Duration::from_secs(args.deadline_s);
    let ballot = Ballot::open("bench web", &["yes", "no", "abstain"], args.difficulty);
    let genesis = Block::genesis(&ballot).context("bench ballot")?;
    let election = genesis.hash();
    let tracker = Tracker::start(ballot.clone())?;
    let mut peer = WebPeer::start(tracker.addr, &dir.join("peer")).await?;
    while !peer
        .ask("tally")
        .await
        .is_some_and(|t| t.starts_with("yes "))
    {
        ensure!(Instant::now() < end, "the peer did not learn the election");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "bench web — one in-process peer, HTTP on http://{} (its own thread); {} blocks, \
         {} votes per run, {} API clients, difficulty {}",
        peer.http, args.blocks, args.votes, args.clients, args.difficulty
    );

    let latencies = event_latency(&peer, &genesis, args.blocks, args.difficulty, end).await?;
    let weight = page::weigh(peer.http).await?;

    let votes: Vec<(Hash, Vec<u8>)> = (0..2 * args.votes)
        .map(|n| {
            let vote = swarm::vote(&ballot, election, n);
            Ok((vote.id(), encode(&SubmitVote { vote }.into())?))
        })
        .collect::<anyhow::Result<_>>()?;
    let (first, second) = votes.split_at(args.votes as usize);
    let idle_load = Load::start(peer.http, args.clients, 0)?;
    tokio::time::sleep(Duration::from_secs(args.api_seconds)).await;
    let idle_load = idle_load.stop()?;
    let alone = vote_run(&mut peer, first.to_vec(), args.votes, args.window, end).await?;
    let load = Load::start(peer.http, args.clients, args.api_rate)?;
    let loaded = vote_run(&mut peer, second.to_vec(), 2 * args.votes, args.window, end).await?;
    let load = load.stop()?;
    peer.stop().await;
    drop(tracker);

    report(
        args,
        &latencies,
        weight.as_ref(),
        alone,
        loaded,
        &idle_load,
        &load,
    );
    println!(
        "load average before {load_before}, after {}",
        swarm::loadavg()
    );
    Ok(())
}

/// Sends `n` pre-mined empty blocks on `genesis` one at a time; each one's time from its send
/// to its `block` event, in milliseconds.
async fn event_latency(
    peer: &WebPeer,
    genesis: &Block,
    n: u64,
    difficulty: u32,
    end: Instant,
) -> anyhow::Result<Vec<f64>> {
    let start_ms = votechain_peer::shell::now_ms();
    let mut blocks: Vec<Block> = Vec::new();
    for i in 0..n {
        let parent = blocks.last().unwrap_or(genesis);
        let template = BlockTemplate::new(
            parent.hash(),
            parent.height(),
            difficulty,
            start_ms + i,
            "bench",
            Vec::new(),
        )?;
        blocks.push(swarm::seal(&template, difficulty)?);
    }
    let mut events = client::Events::open(peer.http).await?;
    let sender = swarm::bind_loopback()?;
    let mut latencies = Vec::new();
    for block in &blocks {
        let bytes = encode(
            &NewBlock {
                block: block.clone(),
            }
            .into(),
        )?;
        let hash = block.hash().to_string();
        let sent = Instant::now();
        sender.send_to(&bytes, peer.udp).await?;
        loop {
            let left = end
                .saturating_duration_since(Instant::now())
                .min(Duration::from_secs(5));
            let event = tokio::time::timeout(left, events.next())
                .await
                .with_context(|| format!("no block event for height {}", block.height()))??;
            if event.contains("event: block") && event.contains(&hash) {
                break;
            }
        }
        latencies.push(sent.elapsed().as_secs_f64() * 1e3);
    }
    Ok(latencies)
}

/// Submits `votes` over UDP and waits until the peer's best chain holds `total` votes; the
/// committed votes per second.
async fn vote_run(
    peer: &mut WebPeer,
    votes: Vec<(Hash, Vec<u8>)>,
    total: u64,
    window: usize,
    end: Instant,
) -> anyhow::Result<f64> {
    let n = votes.len() as f64;
    let socket = swarm::bind_loopback()?;
    let start = Instant::now();
    let submitter = tokio::spawn(crate::votes::submit(
        socket,
        vec![peer.udp],
        votes,
        window,
        end,
    ));
    let mut ticker = tokio::time::interval(Duration::from_millis(10));
    let secs = loop {
        ticker.tick().await;
        if peer.tally_total().await.is_some_and(|t| t >= total) {
            break start.elapsed().as_secs_f64();
        }
        ensure!(
            Instant::now() < end,
            "the deadline passed before the votes were committed"
        );
    };
    let submitted = submitter.await.context("the submitter task")??;
    ensure!(
        submitted.rejected == 0,
        "{} votes were rejected",
        submitted.rejected
    );
    Ok(n / secs)
}

/// The API load: keep-alive clients on a thread of their own.
struct Load {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<anyhow::Result<LoadCount>>,
}

/// What the API load did.
#[derive(Debug, Default)]
struct LoadCount {
    /// Answers 200.
    ok: u64,
    /// Other answers (503 when the shell loop's queue was full).
    refused: u64,
    /// From the first request to the stop.
    secs: f64,
}

impl Load {
    /// `rate`: requests per second offered in all (0: as fast as the clients can).
    fn start(addr: SocketAddr, clients: usize, rate: u64) -> anyhow::Result<Load> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("api-load".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                runtime.block_on(load(addr, clients, rate, flag))
            })?;
        Ok(Load { stop, thread })
    }

    fn stop(self) -> anyhow::Result<LoadCount> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .join()
            .map_err(|_| anyhow::anyhow!("the load thread panicked"))?
    }
}

async fn load(
    addr: SocketAddr,
    clients: usize,
    rate: u64,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<LoadCount> {
    // Each client's share of the offered rate; a late client catches up (bursts).
    let period = (rate > 0).then(|| Duration::from_secs_f64(clients as f64 / rate as f64));
    let ok = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (ok, refused, stop) = (ok.clone(), refused.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut connection = client::Connection::open(addr).await?;
            let mut pace = period.map(tokio::time::interval);
            while !stop.load(Ordering::Relaxed) {
                if let Some(pace) = &mut pace {
                    pace.tick().await;
                }
                let response = connection.get("/api/status").await?;
                let counter = if response.status == 200 {
                    &ok
                } else {
                    &refused
                };
                counter.fetch_add(1, Ordering::Relaxed);
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(LoadCount {
        ok: ok.load(Ordering::Relaxed),
        refused: refused.load(Ordering::Relaxed),
        secs: start.elapsed().as_secs_f64(),
    })
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn report(
    args: &Args,
    latencies: &[f64],
    weight: Option<&page::Weight>,
    alone: f64,
    loaded: f64,
    idle_load: &LoadCount,
    load: &LoadCount,
) {
    let mut sorted = latencies.to_vec();
    sorted.sort_by(f64::total_cmp);
    let (median, p99) = (percentile(&sorted, 0.5), percentile(&sorted, 0.99));
    println!();
    println!("| figure | value | target |");
    println!("|---|---|---|");
    println!(
        "| block → SSE event, median (of {}) | {median:.2} ms | ≤ 5 ms ({}) |",
        sorted.len(),
        swarm::verdict(median <= 5.0)
    );
    println!(
        "| block → SSE event, p99 | {p99:.2} ms | ≤ 50 ms ({}) |",
        swarm::verdict(p99 <= 50.0)
    );
    let page_bytes = match weight {
        Some(w) => {
            println!(
                "| page weight ({} files) | {} bytes | ≤ 150 KB ({}) |",
                w.assets.len(),
                w.total(),
                swarm::verdict(w.total() <= 150_000)
            );
            w.total().to_string()
        }
        None => {
            println!("| page weight | missing: GET / is not served | ≤ 150 KB (MISSED) |");
            "missing".to_owned()
        }
    };
    let idle_rps = idle_load.ok as f64 / idle_load.secs.max(1e-9);
    println!(
        "| GET /api/status, {} keep-alive clients, UDP loop idle | {idle_rps:.0} /s ({} refused) | ≥ 20,000/s ({}) |",
        args.clients,
        idle_load.refused,
        swarm::verdict(idle_rps >= 20_000.0)
    );
    let rps = load.ok as f64 / load.secs.max(1e-9);
    println!(
        "| GET /api/status, during the vote run, {} offered | {rps:.0} /s ({} refused) | ≥ 20,000/s ({}) |",
        match args.api_rate {
            0 => "as fast as possible".to_owned(),
            r => format!("{r}/s"),
        },
        load.refused,
        swarm::verdict(rps >= 20_000.0)
    );
    let drop_pct = (1.0 - loaded / alone) * 100.0;
    println!("| committed votes/s, alone | {alone:.0} | |");
    println!(
        "| committed votes/s, under the API load | {loaded:.0} ({drop_pct:+.1} % fall) | fall ≤ 10 % ({}) |",
        swarm::verdict(drop_pct <= 10.0)
    );
    if let Some(w) = weight {
        for (path, bytes) in &w.assets {
            println!("asset {path}: {bytes} bytes");
        }
        for (path, status) in &w.missing {
            println!("asset {path}: answered {status}, not counted");
        }
    }
    println!(
        "RESULT web event_median_ms={median:.2} event_p99_ms={p99:.2} page_bytes={page_bytes} \
         api_rps_idle={idle_rps:.0} api_rps={rps:.0} votes_per_s_alone={alone:.0} votes_per_s_loaded={loaded:.0} \
         vote_fall_pct={drop_pct:.1}"
    );
}
