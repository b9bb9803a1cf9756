//! `bench sync`: how fast a fresh peer catches up with a long chain.
//!
//! The bench builds a chain of `--blocks` blocks (one signed vote per block, distinct voters, a
//! ballot without a roll, a low difficulty), writes it to a store and copies that store into the
//! data dirs of three server peers, which start already holding it. Then, in one run:
//!
//! 1. **stop-and-wait**: a GET_BLOCK client (the seeds' method: one request in flight, the next
//!    when the reply arrives, each block validated as it comes) answers the server's CHALLENGE
//!    with VERIFY, then fetches the first `--stopwait-blocks` blocks through the relay;
//! 2. **pipelined, relay**: a fresh peer whose seeds are three relays, one per server, each adding
//!    `--rtt-ms / 2` in each direction ([`crate::relay`]), so it never talks to a server directly;
//! 3. **pipelined, loopback**: a fresh peer whose seeds are the servers themselves.
//!
//! A fresh peer's time runs from its start until it reports the chain's tip (its `Synced` event
//! or a `TipChanged` to the full height), so it includes fetching genesis, the address
//! handshake and the consensus round that picks the chain; the table also shows those phases.

use crate::relay::Relay;
use crate::swarm;
use anyhow::{bail, ensure, Context as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::time::Instant;
use votechain_chain::{AddOutcome, Ballot, Block, ChainConfig, ChainState};
use votechain_peer::config::MiningMode;
use votechain_peer::node::Event;
use votechain_peer::shell::now_ms;
use votechain_proto::{decode, encode, with_envelope, Cookie, Envelope, GetBlock, Message};

/// Options of `bench sync`.
#[derive(clap::Args)]
pub struct Args {
    /// Blocks in the served chain (above genesis), one signed vote each.
    #[arg(long, default_value_t = 10_000)]
    blocks: u64,
    /// Round-trip time the relay adds (half each way).
    #[arg(long, default_value_t = 20)]
    rtt_ms: u64,
    /// Blocks the stop-and-wait client fetches (its rate is steady, so a prefix suffices).
    #[arg(long, default_value_t = 300)]
    stopwait_blocks: u64,
    /// Proof of work per block, leading zero bits (low, so building is quick).
    #[arg(long, default_value_t = 2)]
    difficulty: u32,
    /// Hard deadline of each measured run, in seconds.
    #[arg(long, default_value_t = 120)]
    deadline_s: u64,
    /// Where the temp data dirs go (default: the system temp dir). Every block a peer receives
    /// is synced to disk, so `/dev/shm` measures the node without the disk.
    #[arg(long)]
    data_root: Option<PathBuf>,
}

/// What one fresh peer did, in ms from its start.
struct FreshRun {
    election_ms: Option<u64>,
    first_block_ms: Option<u64>,
    done_ms: Option<u64>,
    height: u64,
}

impl FreshRun {
    fn blocks_per_s(&self, blocks: u64) -> f64 {
        self.done_ms
            .map_or(0.0, |ms| blocks as f64 / (ms.max(1) as f64 / 1e3))
    }
}

/// Runs the benchmark.
pub fn run(args: Args) -> anyhow::Result<()> {
    ensure!(args.blocks > 0 && args.stopwait_blocks > 0 && args.deadline_s > 0);
    let args = &args;
    swarm::run_in_temp_dir(args.data_root.as_deref(), "sync", |dir| async move {
        measure(args, &dir).await
    })
}

async fn measure(args: &Args, dir: &Path) -> anyhow::Result<()> {
    let load_before = swarm::loadavg();
    let ballot = Ballot::open("bench sync", &["yes", "no", "abstain"], args.difficulty);
    let built = std::time::Instant::now();
    // Timestamps end a little before now, so the newest block is valid on every clock here.
    let start_ms = now_ms().saturating_sub(args.blocks + 60_000);
    let blocks = swarm::build_chain(&ballot, args.blocks, start_ms)?;
    swarm::write_store(&dir.join("server-0"), &blocks)?;
    for i in 1..3 {
        let to = dir.join(format!("server-{i}"));
        std::fs::create_dir_all(&to)?;
        std::fs::copy(dir.join("server-0/chain.log"), to.join("chain.log"))
            .context("copying the store")?;
    }
    let tip = blocks.last().context("chain built above")?.hash();
    println!(
        "bench sync — chain of {} blocks (1 signed vote each, difficulty {}) built and stored in {:.1} s; data in {}",
        args.blocks,
        args.difficulty,
        built.elapsed().as_secs_f64(),
        dir.display()
    );

    let mut servers = Vec::new();
    for i in 0..3u64 {
        let socket = swarm::bind_loopback()?;
        let cfg = swarm::node_config(socket.local_addr()?, MiningMode::Off);
        servers.push(swarm::start_peer(
            socket,
            cfg,
            &dir.join(format!("server-{i}")),
            i,
        )?);
    }
    let delay = Duration::from_millis(args.rtt_ms / 2);
    let relays: Vec<Relay> = servers
        .iter()
        .map(|s| Relay::start(s.addr(), delay))
        .collect::<anyhow::Result<_>>()?;
    let deadline = Duration::from_secs(args.deadline_s);

    let stopwait = stop_and_wait(relays[0].addr, args.stopwait_blocks, deadline).await;
    let relay_addrs: Vec<SocketAddr> = relays.iter().map(|r| r.addr).collect();
    let relayed = fresh_peer(
        &relay_addrs,
        &dir.join("fresh-relay"),
        args.blocks,
        deadline,
    )
    .await?;
    let server_addrs: Vec<SocketAddr> = servers.iter().map(|s| s.addr()).collect();
    let loopback = fresh_peer(
        &server_addrs,
        &dir.join("fresh-loopback"),
        args.blocks,
        deadline,
    )
    .await?;
    let forwarded: u64 = relays
        .iter()
        .map(|r| r.forwarded.load(std::sync::atomic::Ordering::Relaxed))
        .sum();
    drop(relays);
    for s in servers {
        swarm::stop(s).await;
    }

    let (sw_blocks, sw_secs) = match &stopwait {
        Ok(x) => *x,
        Err(e) => {
            println!("stop-and-wait client failed: {e:#}");
            (0, 0.0)
        }
    };
    let stopwait_bps = if sw_secs > 0.0 {
        sw_blocks as f64 / sw_secs
    } else {
        0.0
    };
    let pipelined_bps = relayed.blocks_per_s(args.blocks);
    let loopback_bps = loopback.blocks_per_s(args.blocks);
    let speedup = if stopwait_bps > 0.0 {
        pipelined_bps / stopwait_bps
    } else {
        0.0
    };
    let ms = |x: Option<u64>| x.map_or("-".to_owned(), |v| v.to_string());
    println!();
    println!("| run | path | blocks | genesis known ms | first block ms | done ms | blocks/s | blocks/s after first block |");
    println!("|---|---|---|---|---|---|---|---|");
    println!(
        "| stop-and-wait GET_BLOCK | relay, {} ms RTT | {} | - | - | {:.0} | {:.1} | - |",
        args.rtt_ms,
        sw_blocks,
        sw_secs * 1e3,
        stopwait_bps
    );
    for (name, path, r) in [
        (
            "fresh peer (pipelined)",
            format!("relay, {} ms RTT", args.rtt_ms),
            &relayed,
        ),
        ("fresh peer (pipelined)", "loopback".to_owned(), &loopback),
    ] {
        let after_first = match (r.first_block_ms, r.done_ms) {
            (Some(a), Some(b)) if b > a => {
                format!("{:.0}", args.blocks as f64 / ((b - a) as f64 / 1e3))
            }
            _ => "-".into(),
        };
        println!(
            "| {name} | {path} | {} | {} | {} | {} | {:.0} | {after_first} |",
            r.height,
            ms(r.election_ms),
            ms(r.first_block_ms),
            ms(r.done_ms),
            r.blocks_per_s(args.blocks),
        );
    }
    println!();
    println!(
        "relay forwarded {forwarded} datagrams; tip {tip}; load average before {load_before}, after {}",
        swarm::loadavg()
    );
    println!(
        "targets: speedup ≥ 30 ({}), pipelined ≥ 5,000 blocks/s ({}), loopback ≥ 20,000 blocks/s ({})",
        swarm::verdict(speedup >= 30.0),
        swarm::verdict(pipelined_bps >= 5_000.0),
        swarm::verdict(loopback_bps >= 20_000.0)
    );
    println!(
        "RESULT sync blocks={} rtt_ms={} pipelined_bps={:.0} stopwait_bps={:.1} speedup={:.1} loopback_bps={:.0}",
        args.blocks, args.rtt_ms, pipelined_bps, stopwait_bps, speedup, loopback_bps
    );
    Ok(())
}

/// Starts a fresh peer with `seeds` and waits until it holds `blocks` blocks above genesis.
async fn fresh_peer(
    seeds: &[SocketAddr],
    data_dir: &Path,
    blocks: u64,
    deadline: Duration,
) -> anyhow::Result<FreshRun> {
    let socket = swarm::bind_loopback()?;
    let mut cfg = swarm::node_config(socket.local_addr()?, MiningMode::Off);
    cfg.seeds = seeds.to_vec();
    let started = now_ms();
    let mut peer = swarm::start_peer(socket, cfg, data_dir, 7)?;
    let mut run = FreshRun {
        election_ms: None,
        first_block_ms: None,
        done_ms: None,
        height: 0,
    };
    let end = Instant::now() + deadline;
    while run.done_ms.is_none() {
        let event = match tokio::time::timeout_at(end, peer.events().recv()).await {
            Ok(Some(e)) => e,
            Ok(None) => break,
            Err(_) => {
                println!("fresh peer: deadline reached at height {}", run.height);
                break;
            }
        };
        let (at, event) = event;
        let since = at.saturating_sub(started);
        match event {
            Event::ElectionKnown { .. } => run.election_ms = Some(since),
            Event::TipChanged { height, .. } => {
                run.first_block_ms.get_or_insert(since);
                run.height = run.height.max(height);
                if height >= blocks {
                    run.done_ms = Some(since);
                }
            }
            Event::Synced { height } if height >= blocks => {
                run.height = height;
                run.done_ms = Some(since);
            }
            _ => {}
        }
    }
    swarm::stop(peer).await;
    Ok(run)
}

/// The seeds' method over `server`: one GET_BLOCK in flight. Fetches genesis (answering the
/// CHALLENGE), then times heights 1..=n, validating each block. Returns (blocks, seconds).
async fn stop_and_wait(
    server: SocketAddr,
    n: u64,
    deadline: Duration,
) -> anyhow::Result<(u64, f64)> {
    let socket = swarm::bind_loopback()?;
    let end = Instant::now() + deadline;
    let mut cookie = None;
    let genesis = get_block(&socket, server, 0, end, &mut cookie).await?;
    let ballot = genesis.ballot().context("block 0 is not a genesis block")?;
    let mut chain = ChainState::new(ballot, ChainConfig::default())?;
    let start = Instant::now();
    for height in 1..=n {
        let block = match get_block(&socket, server, height, end, &mut cookie).await {
            Ok(b) => b,
            Err(e) => {
                println!("stop-and-wait: stopped at height {height}: {e:#}");
                return Ok((height - 1, start.elapsed().as_secs_f64()));
            }
        };
        match chain.add_block(block, now_ms())? {
            AddOutcome::Added(_) => {}
            other => bail!("block {height} not added: {other:?}"),
        }
    }
    Ok((n, start.elapsed().as_secs_f64()))
}

/// One GET_BLOCK round trip, resent after 1 s of silence. The request echoes the server's
/// address cookie (`cookie`, kept across calls); a CHALLENGE gives a fresh one, and the
/// request is sent again echoing it.
async fn get_block(
    socket: &tokio::net::UdpSocket,
    server: SocketAddr,
    height: u64,
    end: Instant,
    cookie: &mut Option<Cookie>,
) -> anyhow::Result<Block> {
    let body = encode(&GetBlock { height, hash: None }.into())?;
    let stamp = |cookie: Option<Cookie>| {
        let envelope = Envelope {
            cookie: None,
            echo: cookie,
        };
        with_envelope(&body, &envelope)
    };
    let mut request = stamp(*cookie);
    let mut buf = vec![0u8; 65_536];
    socket.send_to(&request, server).await?;
    loop {
        let wait = (Instant::now() + Duration::from_secs(1)).min(end);
        match tokio::time::timeout_at(wait, socket.recv_from(&mut buf)).await {
            Err(_) if Instant::now() >= end => bail!("deadline reached"),
            Err(_) => {
                socket.send_to(&request, server).await?;
            }
            Ok(received) => {
                let (len, from) = received?;
                if from != server {
                    continue;
                }
                match decode(&buf[..len]) {
                    Ok(Message::Challenge(c)) => {
                        *cookie = Cookie::parse(&c.token);
                        request = stamp(*cookie);
                        socket.send_to(&request, server).await?;
                    }
                    Ok(Message::GetBlockReply(r)) if r.height == height => {
                        return r
                            .block
                            .with_context(|| format!("server has no block {height}"))
                    }
                    _ => {}
                }
            }
        }
    }
}
