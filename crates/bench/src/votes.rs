//! `bench votes`: signed votes accepted and committed per second on every peer of a small
//! network.
//!
//! `--peers` peers (default 3) run in this process with an in-process tracker; the first
//! `--miners` of them mine with `MiningMode::WhenPending` (the default mode), the others never.
//! The ballot's difficulty is low, so a block is mined in well under a millisecond and the
//! figure measures the node, not the proof of work. The bench signs `--votes` votes from
//! distinct voters before the clock starts, then sends them as SUBMIT_VOTE datagrams, spread
//! round-robin over the peers, keeping at most `--window` without a RECEIPT (flow control: a
//! new vote goes out when a receipt comes back; one unanswered for 500 ms is sent again). Every
//! 10 ms it asks each peer's console for its `tally`, the votes in its best chain. A peer's time
//! runs from the first submission until its tally counts every vote; the figure is the slowest
//! peer's. `lost` counts votes acknowledged with a RECEIPT but missing from some peer's best
//! chain at the deadline.

use crate::swarm::{self, Tracker};
use anyhow::{ensure, Context as _};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::time::Instant;
use votechain_chain::{Ballot, Block, Hash};
use votechain_peer::config::MiningMode;
use votechain_peer::handle::PeerHandle;
use votechain_peer::node::Event;
use votechain_proto::{decode, encode, Message, ReceiptStatus, SubmitVote};

/// Options of `bench votes`.
#[derive(clap::Args)]
pub struct Args {
    /// Votes submitted, one per distinct voter.
    #[arg(long, default_value_t = 5_000)]
    votes: u64,
    /// Peers in the network.
    #[arg(long, default_value_t = 3)]
    peers: usize,
    /// Peers that mine (while votes are pending), counted from the first.
    #[arg(long, default_value_t = 1)]
    miners: usize,
    /// Submissions in flight without a RECEIPT.
    #[arg(long, default_value_t = 256)]
    window: usize,
    /// Proof of work per block, leading zero bits.
    #[arg(long, default_value_t = 8)]
    difficulty: u32,
    /// Hard deadline of the measured run, in seconds.
    #[arg(long, default_value_t = 120)]
    deadline_s: u64,
    /// Where the temp data dirs go (default: the system temp dir). Every vote a peer accepts is
    /// synced to disk, so `/dev/shm` measures the node without the disk.
    #[arg(long)]
    data_root: Option<PathBuf>,
}

/// What the submitter saw.
#[derive(Debug, Default)]
pub(crate) struct Submitted {
    /// Votes acknowledged with a pending or confirmed RECEIPT.
    acked: u64,
    /// Votes refused (a RECEIPT `rejected`).
    pub(crate) rejected: u64,
    /// Submissions sent again after 500 ms without a receipt.
    resent: u64,
    /// From the first submission to the last acknowledgement.
    secs: f64,
}

/// Runs the benchmark.
pub fn run(args: Args) -> anyhow::Result<()> {
    ensure!(args.votes > 0 && args.peers > 0 && args.window > 0);
    ensure!(args.miners <= args.peers, "--miners is at most --peers");
    let args = &args;
    swarm::run_in_temp_dir(args.data_root.as_deref(), "votes", |dir| async move {
        measure(args, &dir).await
    })
}

async fn measure(args: &Args, dir: &Path) -> anyhow::Result<()> {
    let load_before = swarm::loadavg();
    let end = Instant::now() + Duration::from_secs(args.deadline_s);
    let ballot = Ballot::open("bench votes", &["yes", "no", "abstain"], args.difficulty);
    let election = Block::genesis(&ballot).context("bench ballot")?.hash();
    let tracker = Tracker::start(ballot.clone())?;
    let mut peers = Vec::new();
    for i in 0..args.peers {
        let socket = swarm::bind_loopback()?;
        let mining = if i < args.miners {
            MiningMode::WhenPending
        } else {
            MiningMode::Off
        };
        let mut cfg = swarm::node_config(socket.local_addr()?, mining);
        cfg.tracker = Some(tracker.addr);
        peers.push(swarm::start_peer(
            socket,
            cfg,
            &dir.join(format!("peer-{i}")),
            i as u64,
        )?);
    }
    let full = swarm::wait_full_tables(&mut peers, "yes", end).await;
    ensure!(
        full,
        "the peers did not all learn the election and each other"
    );

    let submissions: Vec<(Hash, Vec<u8>)> = (0..args.votes)
        .map(|n| {
            let vote = swarm::vote(&ballot, election, n);
            let id = vote.id();
            Ok((id, encode(&SubmitVote { vote }.into())?))
        })
        .collect::<anyhow::Result<_>>()?;
    println!(
        "bench votes — {} votes to {} peers ({} mining, difficulty {}), window {}, data in {}",
        args.votes,
        args.peers,
        args.miners,
        args.difficulty,
        args.window,
        dir.display()
    );

    let addrs: Vec<SocketAddr> = peers.iter().map(|p| p.addr()).collect();
    let socket = swarm::bind_loopback()?;
    let drops_before = swarm::udp_rcvbuf_errors();
    let start = Instant::now();
    let window = args.window;
    let mut submitter =
        tokio::spawn(async move { submit(socket, addrs, submissions, window, end).await });

    // Commit times per peer: when its tally first counted every vote.
    let mut committed: Vec<Option<f64>> = vec![None; peers.len()];
    let mut counts = vec![0u64; peers.len()];
    let mut bans: Vec<String> = Vec::new();
    let mut submitted: Option<Submitted> = None;
    let mut ticker = tokio::time::interval(Duration::from_millis(10));
    loop {
        ticker.tick().await;
        for (i, p) in peers.iter_mut().enumerate() {
            while let Ok((_, event)) = p.events().try_recv() {
                if let Event::PeerBanned { peer, reason } = event {
                    bans.push(format!("peer {i} banned {peer}: {reason}"));
                }
            }
            if committed[i].is_some() {
                continue;
            }
            counts[i] = tally_total(p).await.unwrap_or(counts[i]);
            if counts[i] >= args.votes {
                committed[i] = Some(start.elapsed().as_secs_f64());
            }
        }
        if submitted.is_none() && submitter.is_finished() {
            submitted = Some((&mut submitter).await.context("submitter task")??);
        }
        let done = committed.iter().all(Option::is_some) && submitted.is_some();
        if done || Instant::now() >= end {
            break;
        }
    }
    let drops = swarm::udp_rcvbuf_errors().saturating_sub(drops_before);
    let submitted = match submitted {
        Some(s) => s,
        None => {
            println!("deadline reached while submitting");
            Submitted::default()
        }
    };
    for p in peers {
        swarm::stop(p).await;
    }
    drop(tracker);

    println!();
    println!("| peer | mining | votes in best chain | all committed after s | committed votes/s |");
    println!("|---|---|---|---|---|");
    for (i, (c, t)) in counts.iter().zip(&committed).enumerate() {
        println!(
            "| {i} | {} | {c} | {} | {} |",
            if i < args.miners { "yes" } else { "no" },
            t.map_or("-".to_owned(), |t| format!("{t:.2}")),
            t.map_or("-".to_owned(), |t| format!("{:.0}", args.votes as f64 / t)),
        );
    }
    let slowest = committed
        .iter()
        .map(|t| t.unwrap_or(f64::INFINITY))
        .fold(0.0, f64::max);
    let votes_per_s = if slowest.is_finite() {
        args.votes as f64 / slowest
    } else {
        0.0
    };
    println!(
        "UDP datagrams dropped on full receive buffers during the run (machine-wide): {drops}"
    );
    for ban in &bans {
        println!("{ban}");
    }
    let fewest = counts.iter().copied().min().unwrap_or(0);
    let lost = submitted.acked.saturating_sub(fewest);
    println!();
    println!(
        "submitter: {} acknowledged in {:.2} s ({:.0}/s), {} rejected, {} resent; load average before {load_before}, after {}",
        submitted.acked,
        submitted.secs,
        submitted.acked as f64 / submitted.secs.max(1e-9),
        submitted.rejected,
        submitted.resent,
        swarm::loadavg()
    );
    println!(
        "targets: ≥ 2,000 committed votes/s on every peer ({}), lost = 0 ({})",
        swarm::verdict(votes_per_s >= 2_000.0),
        swarm::verdict(lost == 0 && submitted.acked == args.votes)
    );
    println!(
        "RESULT votes votes={} votes_per_s={votes_per_s:.0} lost={lost}",
        submitted.acked
    );
    Ok(())
}

/// The sum of a peer's tally lines (`<option> <count>`).
async fn tally_total(peer: &mut PeerHandle) -> Option<u64> {
    let text = swarm::ask(peer, "tally").await?;
    text.lines()
        .map(|l| l.rsplit_once(' ').and_then(|(_, n)| n.parse::<u64>().ok()))
        .sum()
}

/// Sends every submission with at most `window` unacknowledged, round-robin over `peers`
/// (`bench web` submits its votes this way too).
pub(crate) async fn submit(
    socket: tokio::net::UdpSocket,
    peers: Vec<SocketAddr>,
    submissions: Vec<(Hash, Vec<u8>)>,
    window: usize,
    end: Instant,
) -> anyhow::Result<Submitted> {
    let start = Instant::now();
    let resend_after = Duration::from_millis(500);
    let mut out = Submitted::default();
    // Vote id → (index, last sent).
    let mut in_flight: HashMap<Hash, (usize, Instant)> = HashMap::new();
    let mut next = 0usize;
    let mut last_scan = start;
    let mut buf = vec![0u8; 65_536];
    let to = |i: usize| peers[i % peers.len()];
    while (next < submissions.len() || !in_flight.is_empty()) && Instant::now() < end {
        while in_flight.len() < window && next < submissions.len() {
            let (id, bytes) = &submissions[next];
            socket.send_to(bytes, to(next)).await?;
            in_flight.insert(*id, (next, Instant::now()));
            next += 1;
        }
        if let Ok(received) =
            tokio::time::timeout(Duration::from_millis(50), socket.recv_from(&mut buf)).await
        {
            let (len, _) = received?;
            if let Ok(Message::Receipt(r)) = decode(&buf[..len]) {
                match r.status {
                    // Not stored: it stays in flight and is sent again when stale.
                    ReceiptStatus::Unknown => {}
                    ReceiptStatus::Rejected { reason } => {
                        if in_flight.remove(&r.vote_id).is_some() {
                            out.rejected += 1;
                            eprintln!("vote {} rejected: {reason}", r.vote_id);
                        }
                    }
                    _ => {
                        if in_flight.remove(&r.vote_id).is_some() {
                            out.acked += 1;
                        }
                    }
                }
            }
        }
        let now = Instant::now();
        if now.duration_since(last_scan) >= Duration::from_millis(50) {
            last_scan = now;
            let stale: Vec<(Hash, usize)> = in_flight
                .iter()
                .filter(|(_, (_, sent))| now.duration_since(*sent) >= resend_after)
                .map(|(id, (i, _))| (*id, *i))
                .collect();
            for (id, i) in stale {
                socket.send_to(&submissions[i].1, to(i)).await?;
                in_flight.insert(id, (i, now));
                out.resent += 1;
            }
        }
        out.secs = start.elapsed().as_secs_f64();
    }
    Ok(out)
}
