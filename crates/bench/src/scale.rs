//! `bench scale`: 1,000 peers and a tracker in one deterministic simulation (`votechain-sim`,
//! the real cores on virtual time), a burst of signed votes submitted at random peers, run until
//! every peer holds every vote in its best chain on one common tip, or a virtual deadline.
//!
//! Figures: whether it converged, the virtual time it took, the real time the simulation took
//! (one thread, so one core), the ratio of the two, and datagrams sent per peer. The target is
//! to simulate at least as fast as real time (60 virtual seconds in ≤ 60 real seconds).

use anyhow::ensure;
use rand::Rng;
use std::time::Instant;
use votechain_peer::node::SubmitReply;
use votechain_sim::election::{sim_ballot, vote_of};
use votechain_sim::{LinkConfig, Sim, SimConfig};

/// Options of `bench scale`.
#[derive(clap::Args)]
pub struct Args {
    /// Peers in the simulation.
    #[arg(long, default_value_t = 1_000)]
    peers: usize,
    /// Votes in the burst.
    #[arg(long, default_value_t = 100)]
    votes: u64,
    /// Virtual seconds after the burst before giving up.
    #[arg(long, default_value_t = 120)]
    deadline_s: u64,
    /// Most peers each node keeps (its relay fan-out).
    #[arg(long, default_value_t = 16)]
    max_peers: usize,
    /// Seed of the simulation.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Virtual seconds to simulate at least, converged or not: the target is stated for 60.
    #[arg(long, default_value_t = 60)]
    virtual_s: u64,
}

/// Runs the benchmark.
pub fn run(args: Args) -> anyhow::Result<()> {
    ensure!(args.peers >= 2 && args.votes > 0 && args.max_peers > 0);
    let started = Instant::now();
    let mut cfg = SimConfig::new(args.seed);
    cfg.link = LinkConfig {
        min_latency_ms: 10,
        jitter_ms: 20,
        loss: 0.01,
        duplicate: 0.0,
    };
    // One block per second over the whole network on average, whatever its size.
    cfg.mean_mine_ms = 1_000 * args.peers as u64;
    let mut sim = Sim::new(cfg, sim_ballot(4));
    sim.add_tracker();
    for _ in 0..args.peers {
        let max_peers = args.max_peers;
        sim.add_peer(|c| {
            c.max_peers = max_peers;
            // The user-facing gossip timings: every GOSSIP id floods the whole network (each
            // peer forwards it once to 3), so the simulations' 5 s interval would cost every
            // peer 3 × peers / 5 datagrams per second.
            c.gossip_interval_ms = 30_000;
            c.peer_silence_ms = 60_000;
        });
    }
    println!(
        "bench scale — {} peers (each keeps {} neighbours), {} votes, seed {}",
        args.peers, args.max_peers, args.votes, args.seed
    );
    sim.run_for(5_000);
    let joined = sim
        .running()
        .iter()
        .filter(|id| sim.node(**id).is_some_and(|n| n.chain().is_some()))
        .count();
    println!(
        "  t=5 s virtual: {joined}/{} peers know the election ({:.1} s real)",
        args.peers,
        started.elapsed().as_secs_f64()
    );
    let burst_at = sim.now();
    let mut acked = 0;
    for i in 0..args.votes {
        let peer = sim.rng().gen_range(0..args.peers);
        let vote = vote_of(sim.ballot(), sim.election(), i);
        if matches!(sim.submit_vote(peer, vote), SubmitReply::Pending(_)) {
            acked += 1;
        }
    }
    let deadline = burst_at + args.deadline_s * 1_000;
    let mut converged_at = None;
    while sim.now() < deadline {
        sim.run_for(500);
        if converged_at.is_none() && sim.converged() && sim.check_properties().is_ok() {
            converged_at = Some(sim.now());
        }
        if converged_at.is_some() && sim.now() >= args.virtual_s * 1_000 {
            break;
        }
    }
    // Still converged at the end, after the network ran on: nothing diverged afterwards.
    let converged = converged_at.is_some() && sim.converged() && sim.check_properties().is_ok();
    let real_s = started.elapsed().as_secs_f64();
    let virtual_s = sim.now() as f64 / 1_000.0;
    let sent: u64 = (0..sim.n_peers()).map(|id| sim.peer_traffic(id).1).sum();
    let msgs_per_peer = sent as f64 / args.peers as f64;
    let height = sim
        .node(0)
        .and_then(|n| n.chain())
        .map_or(0, |c| c.height());
    println!();
    println!("| figure | value |");
    println!("|---|---|");
    println!("| votes acknowledged | {acked} / {} |", args.votes);
    println!(
        "| converged (every vote on every peer, one tip) | {converged}, first after {:.1} virtual s from the burst |",
        converged_at.map_or(f64::NAN, |t| (t - burst_at) as f64 / 1_000.0)
    );
    println!("| chain height | {height} |");
    println!("| virtual time simulated | {virtual_s:.1} s |");
    println!("| real time | {real_s:.1} s |");
    println!(
        "| virtual s per real s (target ≥ 1) | {:.2} |",
        virtual_s / real_s
    );
    println!("| datagrams sent per peer | {msgs_per_peer:.0} |");
    println!(
        "| datagrams on the network | {} ({} lost) |",
        sim.net().stats.sent,
        sim.net().stats.lost
    );
    println!(
        "| most outputs from one datagram | {} |",
        sim.stats().max_outputs_per_datagram
    );
    println!();
    println!(
        "RESULT scale peers={} converged={converged} virtual_s={virtual_s:.1} real_s={real_s:.1} msgs_per_peer={msgs_per_peer:.0}",
        args.peers
    );
    Ok(())
}
