//! `bench propagation`: how fast a new block reaches every peer of a loopback network.
//!
//! `--peers` peers run in this process with an in-process tracker, so each learns every other
//! from REGISTER_ACK / UPDATE_PEERS; the bench waits until every peer's table (its console's
//! `peers`) lists all the others and it knows the election. Then, for each of `--rounds` rounds, the bench builds the next
//! block on the common tip at the ballot's low difficulty and sends it as NEW_BLOCK from its own
//! socket to one peer (a different one each round) — what a peer does with a block it has just
//! mined, without waiting for a miner. The delay of a (round, peer) pair runs from just before
//! that send until the peer's `TipChanged` to the block, both read from this process's clock in
//! whole milliseconds; the origin peer counts too.

use crate::swarm::{self, Tracker};
use anyhow::{ensure, Context as _};
use std::path::Path;
use std::time::Duration;
use tokio::time::Instant;
use votechain_chain::{Ballot, Block, BlockTemplate};
use votechain_peer::config::MiningMode;
use votechain_peer::handle::PeerHandle;
use votechain_peer::node::Event;
use votechain_peer::shell::now_ms;
use votechain_proto::{encode, NewBlock};

/// Options of `bench propagation`.
#[derive(clap::Args)]
pub struct Args {
    /// Peers in the network.
    #[arg(long, default_value_t = 32)]
    peers: usize,
    /// Blocks sent, one per round.
    #[arg(long, default_value_t = 20)]
    rounds: u64,
    /// Proof of work per block, leading zero bits.
    #[arg(long, default_value_t = 4)]
    difficulty: u32,
    /// Hard deadline of the whole run, in seconds.
    #[arg(long, default_value_t = 120)]
    deadline_s: u64,
}

/// Runs the benchmark.
pub fn run(args: Args) -> anyhow::Result<()> {
    ensure!(args.peers > 1 && args.rounds > 0);
    let args = &args;
    swarm::run_in_temp_dir(None, "propagation", |dir| async move {
        measure(args, &dir).await
    })
}

async fn measure(args: &Args, dir: &Path) -> anyhow::Result<()> {
    let load_before = swarm::loadavg();
    let end = Instant::now() + Duration::from_secs(args.deadline_s);
    let ballot = Ballot::open("bench propagation", &["yes", "no"], args.difficulty);
    let tracker = Tracker::start(ballot.clone())?;
    let mut peers = Vec::new();
    for i in 0..args.peers {
        let socket = swarm::bind_loopback()?;
        let mut cfg = swarm::node_config(socket.local_addr()?, MiningMode::Off);
        cfg.tracker = Some(tracker.addr);
        peers.push(swarm::start_peer(
            socket,
            cfg,
            &dir.join(format!("peer-{i}")),
            i as u64,
        )?);
    }
    let joined = Instant::now();
    let full = swarm::wait_full_tables(&mut peers, "yes", end).await;
    println!(
        "bench propagation — {} peers + tracker in process on loopback; every table full: {} after {:.1} s",
        args.peers,
        if full { "yes" } else { "NO" },
        joined.elapsed().as_secs_f64()
    );
    for p in &mut peers {
        while p.events().try_recv().is_ok() {}
    }

    let sender = swarm::bind_loopback()?;
    let mut parent = Block::genesis(&ballot).context("bench ballot")?;
    let mut delays: Vec<u64> = Vec::new();
    let mut missed = 0usize;
    println!();
    println!("| round | sent to | height | reached | first ms | median ms | last ms |");
    println!("|---|---|---|---|---|---|---|");
    for round in 0..args.rounds {
        if Instant::now() >= end {
            println!("deadline reached before round {round}");
            break;
        }
        let template = BlockTemplate::new(
            parent.hash(),
            parent.height(),
            args.difficulty,
            now_ms(),
            "bench",
            Vec::new(),
        )?;
        let block = swarm::seal(&template, args.difficulty)?;
        let bytes = encode(
            &NewBlock {
                block: block.clone(),
            }
            .into(),
        )?;
        let origin = round as usize % peers.len();
        let sent_ms = now_ms();
        sender.send_to(&bytes, peers[origin].addr()).await?;
        let round_end = (Instant::now() + Duration::from_secs(2)).min(end);
        let mut round_delays = Vec::new();
        for p in &mut peers {
            if let Some(at) = wait_tip(p, block.hash(), round_end).await {
                round_delays.push(at.saturating_sub(sent_ms));
            }
        }
        missed += peers.len() - round_delays.len();
        round_delays.sort_unstable();
        println!(
            "| {round} | peer {origin} | {} | {}/{} | {} | {} | {} |",
            block.height(),
            round_delays.len(),
            peers.len(),
            round_delays.first().copied().unwrap_or(0),
            percentile(&round_delays, 0.5),
            round_delays.last().copied().unwrap_or(0)
        );
        delays.extend(round_delays);
        parent = block;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for p in peers {
        swarm::stop(p).await;
    }
    drop(tracker);

    delays.sort_unstable();
    let median = percentile(&delays, 0.5);
    let p99 = percentile(&delays, 0.99);
    println!();
    println!(
        "{} arrivals, {missed} missing after 2 s; max {} ms; load average before {load_before}, after {}",
        delays.len(),
        delays.last().copied().unwrap_or(0),
        swarm::loadavg()
    );
    println!(
        "targets: median ≤ 20 ms ({}), p99 ≤ 100 ms ({})",
        swarm::verdict(median <= 20 && missed == 0),
        swarm::verdict(p99 <= 100 && missed == 0)
    );
    println!(
        "RESULT propagation peers={} median_ms={median} p99_ms={p99}",
        args.peers
    );
    Ok(())
}

/// The `q` quantile (nearest rank) of sorted `values`; 0 when empty.
fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Waits until `peer` reports a tip of `hash`; returns the event's time (Unix ms).
async fn wait_tip(peer: &mut PeerHandle, hash: votechain_chain::Hash, end: Instant) -> Option<u64> {
    loop {
        match tokio::time::timeout_at(end, peer.events().recv()).await {
            Ok(Some((at, Event::TipChanged { hash: h, .. }))) if h == hash => return Some(at),
            Ok(Some(_)) => {}
            _ => return None,
        }
    }
}
