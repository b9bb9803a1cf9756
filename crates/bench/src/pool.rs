//! `bench pool`: the mining port of issue 15, three figures in one run.
//!
//! 1. **Hash rate through the port.** One `miner` process with `--threads N` connected to a
//!    mining port in this process, against the in-process miner (the peer's own `MiningJob`
//!    workers, or the course miner's with `--kind comp3010`) on N threads, alternating over
//!    `--rounds` rounds on a job no nonce can win. The
//!    miner's rate is read from its own report lines (`--report-every 1`, the first
//!    `--warmup` reports skipped), so connecting and starting threads are not counted. Target:
//!    ≥ 0.95×.
//! 2. **New tip to every miner.** `--miners` clients logged in to the port (each reading on a
//!    thread of its own, as a miner's connection task does); a clean job is published and the
//!    time until the last client has read its `mining.notify` is taken, `--publishes` times.
//!    Target: median ≤ 5 ms with 100 miners. A `miner` then needs at most one check interval of
//!    its threads (a few thousand nonces, well under a millisecond) to be hashing the new job.
//! 3. **Shares validated per second on one core.** The sans-IO `Pool` fed `--shares` distinct
//!    accepted `mining.submit` lines (JSON decoding, the checks, one SHA-256 compression and the
//!    duplicate set each) on this thread. Target: ≥ 100,000/s.

use crate::mining::{impossible_template, measure_and_cancel, miner_hashes_per_sec};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use votechain_chain::MinerControl;
use votechain_course::miner::{CourseJob, CourseMiningJob};
use votechain_peer::miningport::{MiningPort, MiningPortConfig};
use votechain_pool::wire::{decode_server_line, nonce_hex, ServerLine};
use votechain_pool::{Job, Pool, PoolConfig, PoolOutput, VardiffConfig, PREFIX_BITS};
use votechain_sansio::ratelimit::Rate;

/// Options of `bench pool`.
#[derive(clap::Args)]
pub struct Args {
    /// Hash threads of the `miner` process and of the in-process miner.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// The hash rule of the hash-rate comparison: `native` (against the native miner) or
    /// `comp3010` (against the course miner).
    #[arg(long, value_enum, default_value_t = Kind::Native)]
    kind: Kind,
    /// Rounds of the hash-rate comparison, each measuring both once in alternating order.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Seconds each hash-rate measurement runs.
    #[arg(long, default_value_t = 5)]
    secs: u64,
    /// Report lines of the `miner` skipped before its rate is read.
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    /// Connected clients for the new-tip latency.
    #[arg(long, default_value_t = 100)]
    miners: usize,
    /// Clean jobs published for the new-tip latency.
    #[arg(long, default_value_t = 50)]
    publishes: usize,
    /// Shares validated for the shares-per-second figure.
    #[arg(long, default_value_t = 300_000)]
    shares: usize,
    /// The `miner` binary [default: `miner` next to this one; build it with `cargo build
    /// --release -p votechain-miner`].
    #[arg(long)]
    miner: Option<PathBuf>,
}

/// The hash rules a job can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Kind {
    /// Leading zero bits of the native header.
    Native,
    /// Trailing zero bits of the course's nonce string.
    Comp3010,
}

impl Kind {
    /// Its name on the command line and in the RESULT line.
    fn name(self) -> &'static str {
        match self {
            Kind::Native => "native",
            Kind::Comp3010 => "comp3010",
        }
    }

    /// A job of this kind no nonce can win.
    fn impossible_job(self) -> anyhow::Result<Job> {
        Ok(match self {
            Kind::Native => Job::native(impossible_template()?.header()),
            Kind::Comp3010 => Job::comp3010(&impossible_course_job()),
        })
    }
}

/// A course job no nonce can win (64 hex digits of zeros).
fn impossible_course_job() -> CourseJob {
    CourseJob {
        prev: Some(votechain_chain::sha256(&[b"bench"])),
        height: 41,
        mined_by: "bench".into(),
        messages: vec!["bench".into()],
        timestamp: 1_700_000_000,
        difficulty: 64,
    }
}

/// Hashes per second of the course miner on `n_threads` threads, measured by the control's
/// hash counter over `window` after `warmup`.
fn course_hashes_per_sec(n_threads: usize, warmup: Duration, window: Duration) -> f64 {
    let control = MinerControl::new();
    let job = CourseMiningJob::new(&impossible_course_job(), &control);
    let handles: Vec<_> = (0..n_threads)
        .map(|i| {
            let job = job.clone();
            std::thread::spawn(move || job.run_worker(i, n_threads))
        })
        .collect();
    let rate = measure_and_cancel(&control, warmup, window);
    for h in handles {
        let _ = h.join();
    }
    rate
}

/// Runs the benchmark.
pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.threads > 0 && args.secs > 0,
        "threads and secs must be positive"
    );
    let miner_bin = match &args.miner {
        Some(path) => path.clone(),
        None => std::env::current_exe()?.with_file_name("miner"),
    };
    anyhow::ensure!(
        miner_bin.is_file(),
        "{} does not exist: build it with `cargo build --release -p votechain-miner`",
        miner_bin.display()
    );
    let runtime = tokio::runtime::Runtime::new()?;

    let (mut external, mut internal) = (Vec::new(), Vec::new());
    for round in 0..args.rounds {
        for which in [round % 2, 1 - round % 2] {
            match which {
                0 => external.push(miner_process_rate(&runtime, &miner_bin, &args)?),
                _ => {
                    let (warmup, window) =
                        (Duration::from_millis(500), Duration::from_secs(args.secs));
                    internal.push(match args.kind {
                        Kind::Native => miner_hashes_per_sec(args.threads, warmup, window)?,
                        Kind::Comp3010 => course_hashes_per_sec(args.threads, warmup, window),
                    })
                }
            }
        }
    }
    let latencies = new_tip_latency(&runtime, args.miners, args.publishes)?;
    let shares_per_s = shares_per_second(args.shares)?;

    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (ext, int) = (mean(&external), mean(&internal));
    let ratio = ext / int;
    let (median, max) = (
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1],
    );
    println!(
        "bench pool: {} threads, {} jobs, {} rounds of {} s; {} miners, {} publishes; {} shares",
        args.threads,
        args.kind.name(),
        args.rounds,
        args.secs,
        args.miners,
        args.publishes,
        args.shares
    );
    println!("{:<52} {:>12}", "measurement", "figure");
    let mhs = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{:.2}", x / 1e6))
            .collect::<Vec<_>>()
            .join(" ")
    };
    println!(
        "{:<52} {:>12.2}  (rounds: {})",
        "miner process through the port, Mhash/s",
        ext / 1e6,
        mhs(&external)
    );
    println!(
        "{:<52} {:>12.2}  (rounds: {})",
        "in-process miner, Mhash/s",
        int / 1e6,
        mhs(&internal)
    );
    println!(
        "{:<52} {:>12.3}  (target >= 0.95)",
        "ratio port / in-process", ratio
    );
    println!(
        "{:<52} {:>12.3}  (max {:.3} ms; target median <= 5 ms)",
        format!("new tip -> all {} miners notified, median ms", args.miners),
        ms(median),
        ms(max)
    );
    println!(
        "{:<52} {:>12.0}  (target >= 100,000)",
        "shares validated per second, one core", shares_per_s
    );
    println!(
        "RESULT pool kind={} threads={} port_mhs={:.2} inproc_mhs={:.2} ratio={:.3} miners={} \
         clean_job_median_ms={:.3} clean_job_max_ms={:.3} shares_per_s={:.0}",
        args.kind.name(),
        args.threads,
        ext / 1e6,
        int / 1e6,
        ratio,
        args.miners,
        ms(median),
        ms(max),
        shares_per_s
    );
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// A mining port in `runtime` whose shares are rare (so submitting costs the miner nothing) and
/// unlimited in rate.
fn quiet_port(runtime: &tokio::runtime::Runtime) -> anyhow::Result<MiningPort> {
    let mut config = MiningPortConfig::default();
    config.pool.vardiff = VardiffConfig {
        initial_bits: 30,
        min_bits: 30,
        max_bits: 64,
        ..VardiffConfig::default()
    };
    let (port, _found) = runtime.block_on(MiningPort::bind(config))?;
    Ok(port)
}

/// Kills the miner process when dropped, however the measurement ends.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Hashes per second of one `miner` process through a port, from its report lines.
fn miner_process_rate(
    runtime: &tokio::runtime::Runtime,
    miner: &PathBuf,
    args: &Args,
) -> anyhow::Result<f64> {
    let port = quiet_port(runtime)?;
    port.publish(1, args.kind.impossible_job()?, true);
    let mut child = Reaped(
        Command::new(miner)
            .args(["--connect", &port.local_addr().to_string()])
            .args(["--threads", &args.threads.to_string()])
            .args(["--report-every", "1", "--name", "bench"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?,
    );
    // The reports may go to stdout or stderr: read both.
    let (tx, rx) = mpsc::channel::<String>();
    for pipe in [
        child
            .0
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
        child
            .0
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    let wanted = args.warmup + args.secs as usize;
    let deadline = Instant::now() + Duration::from_secs(args.secs + 30);
    let mut rates = Vec::new();
    while rates.len() < wanted {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .map_err(|_| anyhow::anyhow!("the miner reported {} rates in time", rates.len()))?;
        if let Some(rate) = report_rate(&line) {
            rates.push(rate);
        }
    }
    drop(child);
    runtime.block_on(port.shutdown());
    let measured = &rates[args.warmup..];
    Ok(measured.iter().sum::<f64>() / measured.len() as f64)
}

/// The hashes per second of a miner's report line (`hash rate 12.34 MH/s over the last …`).
fn report_rate(line: &str) -> Option<f64> {
    let rest = &line[line.find("hash rate ")? + "hash rate ".len()..];
    let mut words = rest.split_whitespace();
    let value: f64 = words.next()?.parse().ok()?;
    let scale = match words.next()? {
        "H/s" => 1.0,
        "kH/s" => 1e3,
        "MH/s" => 1e6,
        "GH/s" => 1e9,
        _ => return None,
    };
    Some(value * scale)
}

/// For each of `publishes` clean jobs, the time from publishing it until the last of `miners`
/// logged-in clients has read its `mining.notify`; sorted.
fn new_tip_latency(
    runtime: &tokio::runtime::Runtime,
    miners: usize,
    publishes: usize,
) -> anyhow::Result<Vec<Duration>> {
    let config = MiningPortConfig {
        max_connections: miners + 16,
        ..MiningPortConfig::default()
    };
    let (port, _found) = runtime.block_on(MiningPort::bind(config))?;
    let addr = port.local_addr();
    // Each client thread reports (job id, when read) for every notify.
    let (tx, rx) = mpsc::channel::<(String, Instant)>();
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let mut streams = Vec::new();
    for i in 0..miners {
        let stream = login(addr, &format!("m{i}"))?;
        streams.push(stream.try_clone()?);
        let (tx, ready_tx) = (tx.clone(), ready_tx.clone());
        std::thread::spawn(move || {
            let _ = ready_tx.send(());
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if let Ok(ServerLine::Notify { job_id, .. }) = decode_server_line(&line) {
                    if tx.send((job_id, Instant::now())).is_err() {
                        break;
                    }
                }
            }
        });
    }
    for _ in 0..miners {
        ready_rx.recv_timeout(Duration::from_secs(10))?;
    }
    let template = impossible_template()?;
    let mut samples = Vec::with_capacity(publishes);
    for n in 0..publishes {
        // Distinct jobs: the timestamp differs.
        let job = Job::native(
            &votechain_chain::BlockTemplate::new(
                template.header().prev,
                template.header().height,
                256,
                1_700_000_000_000 + n as u64,
                "bench",
                vec![],
            )?
            .header()
            .clone(),
        );
        let start = Instant::now();
        port.publish(n as u64, job, true);
        // The pool names its jobs in order; wait until every client has read the newest.
        let mut last: Option<Instant> = None;
        let mut seen = 0;
        let mut newest: Option<String> = None;
        while seen < miners {
            let (job_id, at) = rx.recv_timeout(Duration::from_secs(10))?;
            let id = u64::from_str_radix(&job_id, 16).unwrap_or(0);
            let newest_id = newest
                .as_deref()
                .map_or(0, |n| u64::from_str_radix(n, 16).unwrap_or(0));
            if id < newest_id {
                continue;
            }
            if id > newest_id {
                newest = Some(job_id);
                seen = 0;
            }
            seen += 1;
            last = Some(last.map_or(at, |l: Instant| l.max(at)));
        }
        samples.push(last.map_or(Duration::ZERO, |l| l.duration_since(start)));
    }
    for s in &streams {
        let _ = s.shutdown(std::net::Shutdown::Both);
    }
    runtime.block_on(port.shutdown());
    samples.sort();
    Ok(samples)
}

/// A connection to `addr` subscribed and authorized as `name`, answers read.
fn login(addr: SocketAddr, name: &str) -> anyhow::Result<TcpStream> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    stream.write_all(b"{\"id\":1,\"method\":\"mining.subscribe\",\"params\":[]}\n")?;
    stream.write_all(
        format!("{{\"id\":2,\"method\":\"mining.authorize\",\"params\":[\"{name}\"]}}\n")
            .as_bytes(),
    )?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut answered = 0;
    let mut line = String::new();
    while answered < 2 {
        line.clear();
        anyhow::ensure!(
            reader.read_line(&mut line)? > 0,
            "the port closed on {name}"
        );
        if let Ok(ServerLine::Response { result, .. }) = decode_server_line(line.trim_end()) {
            result.map_err(|(code, text)| anyhow::anyhow!("{name}: {code} {text}"))?;
            answered += 1;
        }
    }
    Ok(stream)
}

/// Accepted shares per second the pool validates on this thread.
fn shares_per_second(shares: usize) -> anyhow::Result<f64> {
    let mut pool = Pool::new(PoolConfig {
        submit_rate: Rate {
            per_s: u32::MAX,
            burst: u32::MAX,
        },
        vardiff: VardiffConfig {
            initial_bits: 1,
            min_bits: 1,
            max_bits: 1,
            ..VardiffConfig::default()
        },
        dedup_per_job: shares,
        ..PoolConfig::default()
    });
    pool.connect(0, 1);
    let mut prefix = None;
    for out in pool.handle_line(0, 1, br#"{"id":1,"method":"mining.subscribe","params":[]}"#) {
        if let PoolOutput::Send { line, .. } = out {
            if let Ok(ServerLine::Response { result: Ok(r), .. }) = decode_server_line(&line) {
                prefix = r[1].as_str().and_then(|p| u16::from_str_radix(p, 16).ok());
            }
        }
    }
    let prefix = prefix.ok_or_else(|| anyhow::anyhow!("no prefix"))?;
    pool.handle_line(
        0,
        1,
        br#"{"id":2,"method":"mining.authorize","params":["bench"]}"#,
    );
    let job = Job::native(impossible_template()?.header());
    let (job_id, _) = pool.new_job(job.clone(), true);
    // Distinct nonces of the session's space whose hash has a leading zero bit: every one an
    // accepted share.
    let base = u64::from(prefix) << (64 - PREFIX_BITS);
    let lines: Vec<Vec<u8>> = (0u64..)
        .map(|c| base | c)
        .filter(|&n| job.meets(&job.state_for(n), 1))
        .take(shares)
        .enumerate()
        .map(|(i, n)| {
            format!(
                "{{\"id\":{},\"method\":\"mining.submit\",\"params\":[\"bench\",\"{job_id}\",\"{}\"]}}",
                i + 3,
                nonce_hex(n)
            )
            .into_bytes()
        })
        .collect();
    let accepted_before = pool.stats().shares.accepted;
    let start = Instant::now();
    for line in &lines {
        std::hint::black_box(pool.handle_line(1, 1, line));
    }
    let elapsed = start.elapsed();
    let accepted = pool.stats().shares.accepted - accepted_before;
    anyhow::ensure!(
        accepted == shares as u64,
        "{accepted} of {shares} shares accepted"
    );
    Ok(shares as f64 / elapsed.as_secs_f64())
}
