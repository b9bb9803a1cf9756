//! `bench tracker`: how much the tracker can take, in three measurements of one run.
//!
//! 1. Core: the sans-IO registry driven directly on a fake clock, one thread, with 10,000
//!    registered peers answering every POKE with a pre-encoded POKE_ACK (the steady-state
//!    load); also a hostile mix (garbage and unverified registrations from many sources).
//! 2. Shell over loopback: the real tokio shell on its own thread, flooded with POKE_ACKs from
//!    registered sockets; datagrams handled per second of the tracker thread's CPU time (one
//!    core) and per second of wall time.
//! 3. 10,000 peers: the shell on its own thread and 10,000 real UDP sockets in this process
//!    (tokio tasks that register with the CHALLENGE/VERIFY dance and answer every POKE),
//!    heartbeated at 1 Hz for 30 s; the tracker thread's CPU share and the evictions, all of
//!    which are false since every peer answers.
//!
//! CPU time of the tracker thread comes from `/proc/self/task/<tid>/schedstat` (nanoseconds),
//! falling back to `stat` (clock ticks), so the simulated peers' own cost is not counted.
//!
//! This file holds the options and the report; each measurement has its file (`registry.rs`,
//! `flood.rs`, `heartbeat.rs`), and `shell.rs` runs the tracker shell on its own thread for the
//! last two.

use anyhow::ensure;

mod flood;
mod heartbeat;
mod registry;
mod shell;

/// Options of `bench tracker`.
#[derive(clap::Args)]
pub struct Args {
    /// Simulated peers (core measurement and the heartbeat run).
    #[arg(long, default_value_t = 10_000)]
    peers: usize,
    /// Seconds of the heartbeat run, counted after every peer has registered.
    #[arg(long, default_value_t = 30)]
    secs: u64,
    /// Heartbeat rounds of the core measurement (each: one POKE and one POKE_ACK per peer).
    #[arg(long, default_value_t = 20)]
    rounds: u64,
    /// Seconds of the loopback flood.
    #[arg(long, default_value_t = 3.0)]
    flood_secs: f64,
}

/// Runs the benchmark.
pub fn run(args: Args) -> anyhow::Result<()> {
    ensure!(args.peers > 0 && args.secs > 0 && args.rounds > 0 && args.flood_secs > 0.0);
    println!(
        "bench tracker — {} CPUs, load average {}",
        cpus(),
        loadavg()
    );
    println!();
    let core = registry::core_throughput(&args)?;
    let flood = flood::shell_flood(&args)?;
    let run = heartbeat::heartbeat_run(&args)?;
    println!();
    println!("| measurement | figure |");
    println!("|---|---|");
    println!(
        "| registry, fake clock, 1 thread: POKE_ACKs from {} members | {:.0} datagrams/s |",
        args.peers, core.acks_per_s
    );
    println!(
        "| registry: heartbeat tick (POKE encode + schedule) | {:.2} µs per member |",
        core.tick_us_per_peer
    );
    println!(
        "| registry: hostile mix (garbage + unverified REGISTER_PEER) | {:.0} datagrams/s |",
        core.hostile_per_s
    );
    println!(
        "| shell over loopback: flood of POKE_ACKs | {:.0} datagrams per tracker CPU-second ({:.0}/s wall, tracker thread at {:.0} % CPU) |",
        flood.per_cpu_s, flood.per_wall_s, flood.cpu_pct
    );
    println!(
        "| {} real sockets at 1 Hz for {} s | tracker thread {:.1} % of a core, {} false evictions, {:.2} POKEs/peer/s |",
        run.peers, args.secs, run.cpu_pct, run.false_evictions, run.pokes_per_peer_s
    );
    println!();
    println!(
        "targets: ≥ 50,000 datagrams/s on one core ({}), 0 false evictions ({}), CPU ≤ 25 % ({})",
        verdict(flood.per_cpu_s.min(core.acks_per_s) >= 50_000.0),
        verdict(run.false_evictions == 0),
        verdict(run.cpu_pct <= 25.0)
    );
    println!("dgrams_per_s below is the shell's loopback figure per tracker CPU-second (the lower of shell and core).");
    println!(
        "RESULT tracker dgrams_per_s={:.0} peers={} false_evictions={} cpu_pct={:.1}",
        flood.per_cpu_s.min(core.acks_per_s),
        run.peers,
        run.false_evictions,
        run.cpu_pct
    );
    Ok(())
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "MISSED"
    }
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}
