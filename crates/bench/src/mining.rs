//! `bench mining`: how close the miner comes to the hardware. In one run it measures the raw
//! SHA-256 compression rate of one core (a tight loop over `sha2::compress256` on a padded block,
//! each output fed into the next call so nothing can be skipped), then the miner's hash rate on 1
//! and 2 threads at a difficulty no nonce meets. The ratio miner/raw shows the per-nonce overhead
//! of the mining loop; 2 threads/1 thread shows how it scales. It also times how long workers take
//! to stop after a cancel, the latency a tip change sees.

use sha2::digest::generic_array::GenericArray;
use std::time::{Duration, Instant};
use votechain_chain::{sha256, BlockTemplate, MineOutcome, MinerControl, MiningJob};

/// Options of `bench mining`.
#[derive(clap::Args)]
pub struct Args {
    /// Seconds each measurement runs (raw, 1 thread, 2 threads).
    #[arg(long, default_value_t = 3.0)]
    secs: f64,
    /// Seconds of mining before each miner measurement starts, so thread start-up and CPU
    /// frequency ramp-up are not counted.
    #[arg(long, default_value_t = 0.3)]
    warmup_secs: f64,
}

/// Runs the benchmark.
pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.secs > 0.0 && args.warmup_secs >= 0.0,
        "durations must be positive"
    );
    let window = Duration::from_secs_f64(args.secs);
    let warmup = Duration::from_secs_f64(args.warmup_secs);

    let raw = raw_compressions_per_sec(1, warmup, window);
    let raw2 = raw_compressions_per_sec(2, warmup, window);
    let t1 = miner_hashes_per_sec(1, warmup, window)?;
    let t2 = miner_hashes_per_sec(2, warmup, window)?;
    let stop = stop_latency(2, 20)?;

    let mhs = |x: f64| x / 1e6;
    let cpus = available_cpus();
    println!("bench mining: {:.1} s per figure, {cpus} CPUs", args.secs);
    println!("{:<40} {:>9} {:>9}", "measurement", "Mhash/s", "ratio");
    let row = |name: &str, rate: f64, ratio: f64| {
        println!("{name:<40} {:>9.2} {ratio:>9.3}", mhs(rate));
    };
    row("raw compress256, 1 core (serial chain)", raw, 1.0);
    row("raw compress256, 2 interleaved chains", raw2, raw2 / raw);
    row("miner, 1 thread", t1, t1 / raw);
    row("miner, 2 threads", t2, t2 / raw);
    println!(
        "{:<40} {:>9} {:>9.3}",
        "miner 1 thread / interleaved raw",
        "",
        t1 / raw2
    );
    println!(
        "{:<40} {:>9} {:>9.3}",
        "scaling, 2 threads / 1 thread",
        "",
        t2 / t1
    );
    println!(
        "cancel -> every worker returned: median {:.3} ms, max {:.3} ms over {} trials (budget 10 ms)",
        ms(stop.median),
        ms(stop.max),
        stop.trials
    );
    println!(
        "RESULT mining raw_mhs={:.2} t1_mhs={:.2} t2_mhs={:.2} ratio={:.3} scaling={:.3}",
        mhs(raw),
        mhs(t1),
        mhs(t2),
        t1 / raw,
        t2 / t1
    );
    Ok(())
}

/// Compressions per second on one core of `compress256` on a 64-byte block padded as a miner's
/// final block is. With `chains == 1` every call takes the previous call's output state, the
/// issue's definition of the raw rate; that serial chain pays SHA-NI's full latency per call.
/// With `chains == 2`, two independent chains interleave so the core can overlap them: the
/// throughput ceiling, reported alongside because the miner's nonces are independent too.
fn raw_compressions_per_sec(chains: usize, warmup: Duration, window: Duration) -> f64 {
    let block = [GenericArray::from(final_block_like())];
    let mut states = [[0x6a09e667u32; 8]; 2];
    // Batches long enough that reading the clock costs nothing measurable.
    const BATCH: u64 = 1 << 16;
    let mut spin = |until: Duration| {
        let start = Instant::now();
        let mut done = 0u64;
        while start.elapsed() < until {
            if chains == 1 {
                for _ in 0..BATCH {
                    sha2::compress256(&mut states[0], &block);
                }
                done += BATCH;
            } else {
                for _ in 0..BATCH / 2 {
                    let [a, b] = &mut states;
                    sha2::compress256(a, &block);
                    sha2::compress256(b, &block);
                }
                done += BATCH;
            }
        }
        (done, start.elapsed())
    };
    spin(warmup);
    let (done, elapsed) = spin(window);
    // The states are the running results of every call; black_box keeps every call needed.
    std::hint::black_box(states);
    done as f64 / elapsed.as_secs_f64()
}

/// A padded final block of a 136-byte message, as [`votechain_chain::Midstate::final_block`].
fn final_block_like() -> [u8; 64] {
    votechain_chain::Midstate::final_block(0x0123_4567_89ab_cdef)
}

/// A template no nonce can win: 256 leading zero bits (also `comp3010`'s native side).
pub(crate) fn impossible_template() -> anyhow::Result<BlockTemplate> {
    Ok(BlockTemplate::new(
        sha256(&[b"bench"]),
        41,
        256,
        1_700_000_000_000,
        "bench",
        vec![],
    )?)
}

/// Hashes per second of the real miner on `n_threads` threads, measured by the control's hash
/// counter over `window` after `warmup`.
pub(crate) fn miner_hashes_per_sec(
    n_threads: usize,
    warmup: Duration,
    window: Duration,
) -> anyhow::Result<f64> {
    let control = MinerControl::new();
    let job = MiningJob::new(impossible_template()?, &control);
    let handles: Vec<_> = (0..n_threads)
        .map(|i| {
            let worker = job.worker(i, n_threads);
            std::thread::spawn(move || worker.run())
        })
        .collect();
    let rate = measure_and_cancel(&control, warmup, window);
    for h in handles {
        let outcome = h
            .join()
            .map_err(|_| anyhow::anyhow!("miner thread panicked"))?;
        anyhow::ensure!(
            outcome == MineOutcome::Stopped,
            "unexpected outcome {outcome:?}"
        );
    }
    Ok(rate)
}

/// Hashes per second counted by `control` over `window` after `warmup`; then cancels its job.
pub(crate) fn measure_and_cancel(
    control: &MinerControl,
    warmup: Duration,
    window: Duration,
) -> f64 {
    std::thread::sleep(warmup);
    let (h0, t0) = (control.hashes(), Instant::now());
    std::thread::sleep(window);
    let (h1, elapsed) = (control.hashes(), t0.elapsed());
    control.cancel();
    (h1 - h0) as f64 / elapsed.as_secs_f64()
}

struct StopLatency {
    median: Duration,
    max: Duration,
    trials: usize,
}

/// Time from [`MinerControl::cancel`] until every one of `n_threads` busy workers has returned.
fn stop_latency(n_threads: usize, trials: usize) -> anyhow::Result<StopLatency> {
    let mut samples = Vec::with_capacity(trials);
    for _ in 0..trials {
        let control = MinerControl::new();
        let job = MiningJob::new(impossible_template()?, &control);
        let (tx, rx) = std::sync::mpsc::channel();
        for i in 0..n_threads {
            let (worker, tx) = (job.worker(i, n_threads), tx.clone());
            std::thread::spawn(move || tx.send(worker.run()));
        }
        // Cancel only once every worker is hashing, as it would be when a block arrives.
        let started = Instant::now();
        while control.hashes() < (n_threads as u64) * 4 * votechain_chain::miner::CHECK_INTERVAL {
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(10),
                "miner did not start"
            );
            std::thread::yield_now();
        }
        std::thread::sleep(Duration::from_millis(5));
        let t0 = Instant::now();
        control.cancel();
        for _ in 0..n_threads {
            rx.recv()?;
        }
        samples.push(t0.elapsed());
    }
    samples.sort();
    Ok(StopLatency {
        median: samples[trials / 2],
        max: samples[trials - 1],
        trials,
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn available_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
