//! `bench comp3010`: our peer on the COMP 3010 course network's terms, two figures in one run.
//!
//! 1. **Mining the course's hash rule**: hashes per second of our course miner (one SHA-256
//!    compression per attempt after a midstate) against our native miner, one thread each,
//!    alternating rounds, medians; the ratio course/native, and the course miner against the
//!    ≈1 MH/s per core the course's Python peers manage ([`mining`]).
//! 2. **Sync**: a chain mined by the independent course host's miner, served by course-style
//!    hosts each behind a delay relay; the course's stop-and-wait client over one relay (a
//!    prefix, extrapolated per block) against our course peer, run in this process with the
//!    relays as seeds, timed from its start until it holds the chain ([`sync`]).
//!
//! With `--stall-ms`, part 2 becomes an experiment: a [`gate`] in front of each relay holds every
//! datagram of some or all hosts for that long once our peer holds `--stall-at` blocks, to show
//! what a stall of the serving side does to the sync. [`noise`] says how busy the rest of the
//! machine was during each part.
//!
//! Each target gets a met/MISSED verdict; like every bench, a missed target is a figure, not an
//! error, and the exit code reports only whether the measurement ran.

mod gate;
mod mining;
mod noise;
mod sync;

use crate::swarm;
use std::path::PathBuf;
use std::time::Duration;

/// Course miner hash rate against the native miner's, at least.
const TARGET_MINING_RATIO: f64 = 0.8;
/// The course's Python peers, hashes per second per core.
const PYTHON_HASHES_PER_S: f64 = 1e6;
/// Our sync rate against stop-and-wait, at least.
const TARGET_SPEEDUP: f64 = 30.0;
/// Our sync rate, blocks per second, at least.
const TARGET_BLOCKS_PER_S: f64 = 5_000.0;

/// Options of `bench comp3010`.
#[derive(clap::Args)]
pub struct Args {
    /// Mining rounds; each measures the native and the course miner once, in alternating order.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Seconds of each mining measurement.
    #[arg(long, default_value_t = 1.0)]
    round_secs: f64,
    /// Seconds each miner runs before its measurement starts.
    #[arg(long, default_value_t = 0.2)]
    warmup_secs: f64,
    /// Blocks in the served course chain (genesis included).
    #[arg(long, default_value_t = 10_000)]
    blocks: u64,
    /// Trailing '0' hex characters of a valid block hash.
    #[arg(long, default_value_t = 2)]
    difficulty: u32,
    /// Course hosts serving the chain, each behind its own relay.
    #[arg(long, default_value_t = 3)]
    hosts: usize,
    /// Round-trip time each relay adds (half each way).
    #[arg(long, default_value_t = 20)]
    rtt_ms: u64,
    /// Blocks the stop-and-wait client fetches (a prefix; its per-block time is steady).
    #[arg(long, default_value_t = 500)]
    stopwait_blocks: u64,
    /// Fresh runs of our peer against the same hosts (the figure is their median).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Our peer's sync window (GET_BLOCKs in flight over all peers); default: the peer's.
    #[arg(long)]
    window: Option<usize>,
    /// Our peer's GET_BLOCKs in flight to one peer; default: the peer's.
    #[arg(long)]
    per_peer: Option<usize>,
    /// Hard deadline of each run of our peer, in seconds.
    #[arg(long, default_value_t = 60)]
    deadline_s: u64,
    /// The stall experiment: put a gate in front of each relay and, once our peer holds
    /// `--stall-at` blocks, hold every datagram of every host for this long (0: no gates).
    #[arg(long, default_value_t = 0)]
    stall_ms: u64,
    /// Blocks our peer holds when the gates close (with `--stall-ms`).
    #[arg(long, default_value_t = 5_000)]
    stall_at: u64,
    /// How many hosts' gates close (with `--stall-ms`; the first ones; default: all).
    #[arg(long, default_value_t = usize::MAX)]
    stall_hosts: usize,
    /// Where our peer's temp data dirs go (default: the system temp dir).
    #[arg(long)]
    data_root: Option<PathBuf>,
}

/// Runs the benchmark.
pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.rounds > 0 && args.round_secs > 0.0 && args.warmup_secs >= 0.0,
        "mining needs at least one round of a positive duration"
    );
    anyhow::ensure!(
        args.blocks > 1 && args.stopwait_blocks > 0 && args.runs > 0 && args.hosts > 0,
        "sync needs a chain of 2 blocks or more, a stop-and-wait prefix, a run and a host"
    );
    anyhow::ensure!(
        args.stopwait_blocks <= args.blocks,
        "the stop-and-wait prefix cannot be longer than the chain"
    );
    let load_before = swarm::loadavg();
    let m = mining_part(&args)?;
    let s = sync_part(&args)?;
    println!(
        "load average before {load_before}, after {}",
        swarm::loadavg()
    );
    println!(
        "targets: course miner ≥ {TARGET_MINING_RATIO}× native ({} by wall-clock medians, {} per CPU-second), sync ≥ {TARGET_SPEEDUP}× stop-and-wait ({}), sync ≥ {TARGET_BLOCKS_PER_S:.0} blocks/s ({})",
        swarm::verdict(m.ratio >= TARGET_MINING_RATIO),
        m.cpu_ratio.map_or("unknown", |r| swarm::verdict(r >= TARGET_MINING_RATIO)),
        swarm::verdict(s.speedup >= TARGET_SPEEDUP),
        swarm::verdict(s.sync_bps >= TARGET_BLOCKS_PER_S)
    );
    println!(
        "RESULT comp3010 course_mhs={:.2} native_mhs={:.2} mining_ratio={:.3} mining_ratio_cpu={} vs_python={:.1} blocks={} rtt_ms={} sync_bps={:.0} stopwait_bps={:.1} speedup={:.1} consensus_ms={} window={} per_peer={}",
        m.course / 1e6,
        m.native / 1e6,
        m.ratio,
        m.cpu_ratio.map_or("-".to_owned(), |r| format!("{r:.3}")),
        m.vs_python,
        s.blocks,
        args.rtt_ms,
        s.sync_bps,
        s.stopwait_bps,
        s.speedup,
        s.consensus_ms.map_or("-".to_owned(), |x| format!("{x:.0}")),
        s.limits.window,
        s.limits.per_peer
    );
    Ok(())
}

/// What part 1 found.
struct MiningSummary {
    /// Median course rate, hashes per wall-clock second.
    course: f64,
    /// Median native rate, hashes per wall-clock second.
    native: f64,
    /// `course / native`.
    ratio: f64,
    /// The same per CPU-second, where the kernel says.
    cpu_ratio: Option<f64>,
    /// `course` against the course's Python peers.
    vs_python: f64,
}

/// Part 1: measures and prints the miners' rates.
fn mining_part(args: &Args) -> anyhow::Result<MiningSummary> {
    let meter = noise::CpuMeter::start();
    let mined = mining::measure(
        args.rounds,
        Duration::from_secs_f64(args.warmup_secs),
        Duration::from_secs_f64(args.round_secs),
    )?;
    let walls = |rates: &[mining::Rate]| rates.iter().map(|r| r.wall).collect::<Vec<f64>>();
    let cpus = |rates: &[mining::Rate]| rates.iter().map(|r| r.cpu).collect::<Option<Vec<f64>>>();
    let (native_wall, course_wall) = (walls(&mined.native), walls(&mined.course));
    let native = median(&native_wall);
    let course = median(&course_wall);
    let ratios = mined.ratios();
    let mining_ratio = course / native;
    let vs_python = course / PYTHON_HASHES_PER_S;
    let cpu = match (cpus(&mined.native), cpus(&mined.course), mined.cpu_ratios()) {
        (Some(n), Some(c), Some(r)) => Some((n, c, r)),
        _ => None,
    };
    let cpu_ratio = cpu.as_ref().map(|(n, c, _)| median(c) / median(n));
    println!(
        "bench comp3010 — 1. mining the course's hash rule: 1 thread each, {} alternating rounds of {:.1} s after {:.1} s of warm-up; Mhash per second of wall-clock time, and per second the mining thread ran on a CPU",
        args.rounds, args.round_secs, args.warmup_secs
    );
    println!();
    println!("| round | native Mhash/s | course Mhash/s | course/native | native Mhash/CPU-s | course Mhash/CPU-s | course/native per CPU-s |");
    println!("|---|---|---|---|---|---|---|");
    let mhs = |x: Option<f64>, digits: usize| x.map_or("-".to_owned(), |v| format!("{v:.digits$}"));
    for (i, ((n, c), r)) in mined
        .native
        .iter()
        .zip(&mined.course)
        .zip(&ratios)
        .enumerate()
    {
        let cpu_ratio = n.cpu.zip(c.cpu).map(|(n, c)| c / n);
        println!(
            "| {} | {:.2} | {:.2} | {r:.3} | {} | {} | {} |",
            i + 1,
            n.wall / 1e6,
            c.wall / 1e6,
            mhs(n.cpu.map(|x| x / 1e6), 2),
            mhs(c.cpu.map(|x| x / 1e6), 2),
            mhs(cpu_ratio, 3)
        );
    }
    let cpu_medians = match &cpu {
        Some((n, c, r)) => format!(
            "{:.2} ({}) | {:.2} ({}) | {:.3} (rounds {})",
            median(n) / 1e6,
            spread(n, 1e6),
            median(c) / 1e6,
            spread(c, 1e6),
            median(c) / median(n),
            spread(r, 1.0)
        ),
        None => "- | - | -".to_owned(),
    };
    println!(
        "| median (min–max) | {:.2} ({}) | {:.2} ({}) | {:.3} (rounds {}) | {cpu_medians} |",
        native / 1e6,
        spread(&native_wall, 1e6),
        course / 1e6,
        spread(&course_wall, 1e6),
        mining_ratio,
        spread(&ratios, 1.0)
    );
    println!();
    println!(
        "course miner / native miner (medians): {mining_ratio:.3} per wall-clock second, {} per CPU-second; course miner / 1 MH/s (the course's Python peers per core): {vs_python:.1}× per wall-clock second",
        mhs(cpu_ratio, 3)
    );
    println!("while mining: {}", meter.others());
    println!();

    Ok(MiningSummary {
        course,
        native,
        ratio: mining_ratio,
        cpu_ratio,
        vs_python,
    })
}

/// What part 2 found.
struct SyncSummary {
    /// Blocks in the chain.
    blocks: u64,
    /// Our peer's median rate from its start, blocks per second.
    sync_bps: f64,
    /// The stop-and-wait client's rate (0 when it failed).
    stopwait_bps: f64,
    /// `sync_bps / stopwait_bps` (0 when the baseline failed).
    speedup: f64,
    /// Median time until the consensus round chose the chain.
    consensus_ms: Option<f64>,
    /// The download limits our peer ran with.
    limits: votechain_peer::downloader::DownloadLimits,
}

/// Part 2: starts the hosts, measures and prints the stop-and-wait baseline and our peer.
fn sync_part(args: &Args) -> anyhow::Result<SyncSummary> {
    let meter = noise::CpuMeter::start();
    let net = sync::Network::start(args)?;
    println!(
        "2. sync: a course chain of {} blocks (difficulty {}, mined by the course host's miner in {:.1} s, not measured) on {} course hosts, each behind a relay adding {} ms each way ({} ms RTT)",
        net.chain.len(),
        args.difficulty,
        net.mined_secs,
        args.hosts,
        args.rtt_ms / 2,
        args.rtt_ms
    );
    let stopwait = match net.stop_and_wait(args.stopwait_blocks) {
        Ok(s) => Some(s),
        Err(e) => {
            println!("stop-and-wait client failed: {e:#}");
            None
        }
    };
    let limits = sync::peer_config(args, ([127, 0, 0, 1], 0).into(), Vec::new()).download;
    let args_ref = args;
    let net_ref = &net;
    let mut runs = Vec::with_capacity(args.runs);
    swarm::run_in_temp_dir(args.data_root.as_deref(), "comp3010", |dir| {
        let runs = &mut runs;
        async move {
            for i in 0..args_ref.runs {
                let data = dir.join(format!("peer-{i}"));
                runs.push(sync::our_peer(args_ref, net_ref, &data, i as u64).await?);
            }
            anyhow::Ok(())
        }
    })?;
    let blocks = net.chain.len() as u64;
    let rates: Vec<f64> = runs.iter().map(|r| r.blocks_per_s(blocks)).collect();
    let sync_bps = median(&rates);
    let stopwait_bps = stopwait.as_ref().map_or(0.0, sync::StopWait::blocks_per_s);
    let speedup = if stopwait_bps > 0.0 {
        sync_bps / stopwait_bps
    } else {
        0.0
    };
    let consensus: Vec<f64> = runs
        .iter()
        .filter_map(|r| r.consensus_ms.map(|ms| ms as f64))
        .collect();
    let consensus_ms = (!consensus.is_empty()).then(|| median(&consensus));
    let after_first: Vec<f64> = runs
        .iter()
        .filter_map(|r| r.blocks_per_s_after_first(blocks))
        .collect();
    let after_first_bps = (!after_first.is_empty()).then(|| median(&after_first));

    let ms = |x: Option<u64>| x.map_or("-".to_owned(), |v| v.to_string());
    println!();
    println!("| run | blocks | consensus chose ms | first block ms | done ms | blocks/s | blocks/s after first block | GET_BLOCK sent (resent) | STATS sent | relay drops | UDP receive-buffer drops | longest gap between tips ms (at block) |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    if let Some(s) = &stopwait {
        println!(
            "| course stop-and-wait client, 1 relay | {} | - | - | {:.0} | {:.1} | - | {} (0) | - | - | - | - |",
            s.blocks,
            s.secs * 1e3,
            s.blocks_per_s(),
            s.blocks
        );
    }
    for (i, r) in runs.iter().enumerate() {
        let tip = if r.done_ms.is_some() && !r.same_tip {
            " (other tip!)"
        } else {
            ""
        };
        println!(
            "| our peer, run {}, {} relays | {}{tip} | {} | {} | {} | {:.0} | {} | {} ({}) | {} | {} | {} | {} |",
            i + 1,
            args.hosts,
            r.blocks,
            ms(r.consensus_ms),
            ms(r.first_block_ms),
            ms(r.done_ms),
            r.blocks_per_s(blocks),
            r.blocks_per_s_after_first(blocks)
                .map_or("-".to_owned(), |x| format!("{x:.0}")),
            r.get_blocks,
            r.get_blocks.saturating_sub(blocks),
            r.stats,
            r.relay_dropped,
            r.rcvbuf_errors,
            r.longest_gap
                .map_or("-".to_owned(), |(gap, at)| format!("{gap} ({at})"))
        );
    }
    println!();
    for (i, r) in runs.iter().enumerate() {
        for failure in &r.failures {
            println!("run {}: {failure}", i + 1);
        }
        if let Some((at_ms, blocks)) = r.stalled_at {
            println!(
                "run {}: the gates of {} of {} hosts closed for {} ms at {at_ms} ms, holding {blocks} blocks",
                i + 1,
                args.stall_hosts.min(args.hosts),
                args.hosts,
                args.stall_ms
            );
        }
        if r.answered < args.hosts {
            println!(
                "run {}: the first consensus round had {} of {} answers",
                i + 1,
                r.answered,
                args.hosts
            );
        }
    }
    if let Some(s) = &stopwait {
        let per_block_ms = s.secs * 1e3 / s.blocks as f64;
        println!(
            "stop-and-wait measured on its first {} blocks (heights 0–{}) and extrapolated: {:.2} ms per block, so {} blocks would take ≈{:.0} s",
            s.blocks,
            s.blocks - 1,
            per_block_ms,
            blocks,
            per_block_ms * blocks as f64 / 1e3
        );
    }
    println!(
        "our peer: median of {} runs {sync_bps:.0} blocks/s (runs {}), from start (consensus included); {} from its first block; download window {}, per peer {}, first timeout {} ms{}",
        runs.len(),
        spread(&rates, 1.0),
        after_first_bps.map_or("-".to_owned(), |x| format!("{x:.0} blocks/s")),
        limits.window,
        limits.per_peer,
        limits.timeout_ms,
        if args.window.is_some() || args.per_peer.is_some() {
            " (set by the bench)"
        } else {
            " (the peer's defaults)"
        }
    );
    println!("while syncing (chain mining included): {}", meter.others());
    println!(
        "GET_BLOCK received per host over the whole bench: {:?}; relays delivered {} datagrams, dropped {}",
        net.get_blocks(),
        net.relayed(),
        net.relay_dropped()
    );
    Ok(SyncSummary {
        blocks,
        sync_bps,
        stopwait_bps,
        speedup,
        consensus_ms,
        limits,
    })
}

/// The median of `xs` (the mean of the middle two for an even count); 0 for none.
fn median(xs: &[f64]) -> f64 {
    let mut sorted = xs.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => sorted[n / 2],
        _ => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// `min–max` of `xs` divided by `unit`, for the spread beside a median.
fn spread(xs: &[f64], unit: f64) -> String {
    let min = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if unit == 1.0 && min > 100.0 {
        format!("{min:.0}–{max:.0}")
    } else if unit == 1.0 {
        format!("{min:.3}–{max:.3}")
    } else {
        format!("{:.2}–{:.2}", min / unit, max / unit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_takes_the_middle_or_the_mean_of_the_middle_two() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&[7.0]), 7.0);
        assert_eq!(median(&[]), 0.0);
    }

    #[test]
    fn spread_names_the_smallest_and_the_largest() {
        assert_eq!(spread(&[2e6, 3.5e6, 1e6], 1e6), "1.00–3.50");
        assert_eq!(spread(&[0.9, 1.1], 1.0), "0.900–1.100");
        assert_eq!(spread(&[9_000.0, 11_000.4], 1.0), "9000–11000");
    }

    #[test]
    fn the_cpu_meter_reads_this_machine() {
        // On Linux both /proc files exist, so the figure is known.
        let meter = noise::CpuMeter::start();
        assert!(meter.others().starts_with("other processes used "));
    }
}
