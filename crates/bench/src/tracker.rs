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

use anyhow::{bail, ensure, Context as _};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use votechain_proto::{decode, encode, with_envelope, Envelope, Message, PokeAck, RegisterPeer};
use votechain_tracker::{Config, Registry, Stats};

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
    let core = core_throughput(&args)?;
    let flood = shell_flood(&args)?;
    let run = heartbeat_run(&args)?;
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

fn peer_addr(i: usize) -> SocketAddr {
    let i = i as u32;
    SocketAddr::from(([10, (i >> 16) as u8, (i >> 8) as u8, i as u8], 9_000))
}

struct Core {
    acks_per_s: f64,
    tick_us_per_peer: f64,
    hostile_per_s: f64,
}

/// Registers `addr` through the dance, on the registry's clock `now`.
fn register_direct(reg: &mut Registry, now: u64, addr: SocketAddr) -> anyhow::Result<()> {
    let register = encode(&RegisterPeer::default().into())?;
    reg.handle_datagram(now, addr, &register);
    let mut token = None;
    while let Some(output) = reg.poll_output() {
        let Some(t) = output.into_transmit() else {
            continue;
        };
        if let Ok(Message::Challenge(c)) = decode(&t.bytes) {
            token = Some(c.token);
        }
    }
    let token = token.context("no CHALLENGE")?;
    reg.handle_datagram(
        now,
        addr,
        &with_envelope(&register, &Envelope::echoing(&token)),
    );
    while reg.poll_output().is_some() {}
    ensure!(reg.is_registered(&addr), "{addr} did not register");
    Ok(())
}

fn core_throughput(args: &Args) -> anyhow::Result<Core> {
    println!("1. registry driven directly (fake clock, this thread)");
    let mut config = Config::demo();
    config.max_peers = args.peers;
    let mut reg = Registry::new(config, StdRng::seed_from_u64(1))?;
    for i in 0..args.peers {
        register_direct(&mut reg, 0, peer_addr(i))?;
    }
    let (mut ack_time, mut tick_time, mut acks) = (Duration::ZERO, Duration::ZERO, 0u64);
    let mut batch: Vec<(SocketAddr, Vec<u8>)> = Vec::with_capacity(args.peers);
    for round in 1..=args.rounds {
        let now = round * 1_000;
        let t0 = Instant::now();
        reg.handle_timeout(now);
        let mut pokes = Vec::with_capacity(args.peers);
        while let Some(output) = reg.poll_output() {
            let Some(t) = output.into_transmit() else {
                continue;
            };
            pokes.push(t);
        }
        tick_time += t0.elapsed();
        // Answers are prepared outside the timed part: only handling them is measured.
        batch.clear();
        for t in pokes {
            if let Ok(Message::Poke(p)) = decode(&t.bytes) {
                batch.push((t.to, encode(&PokeAck { nonce: p.nonce }.into())?));
            }
        }
        let t0 = Instant::now();
        for (from, ack) in &batch {
            reg.handle_datagram(now + 5, *from, ack);
        }
        while reg.poll_output().is_some() {}
        ack_time += t0.elapsed();
        acks += batch.len() as u64;
    }
    let s = reg.stats();
    ensure!(s.evicted == 0, "the core evicted {} live peers", s.evicted);
    ensure!(
        s.poke_acks_ok == acks,
        "{} of {acks} acks accepted",
        s.poke_acks_ok
    );
    let acks_per_s = acks as f64 / ack_time.as_secs_f64();
    let tick_us_per_peer = tick_time.as_secs_f64() * 1e6 / (args.rounds as f64 * args.peers as f64);
    println!("   {acks} POKE_ACKs in {ack_time:.2?}: {acks_per_s:.0}/s; ticks {tick_us_per_peer:.2} µs per member");

    // Hostile mix from 4,096 rotating unregistered sources.
    let mut rng = StdRng::seed_from_u64(2);
    let garbage: Vec<Vec<u8>> = vec![
        br#"{"type":"REGISTER_PEER"}"#.to_vec(),
        br#"{"type":"REQUEST_BALLOT"}"#.to_vec(),
        br#"{"type":"GET_BLOCK"}"#.to_vec(),
        br#"{"type":"HELLO"}"#.to_vec(),
        br#"{"type":"POKE_ACK","nonce":"x"}"#.to_vec(),
        b"not json at all".to_vec(),
        vec![0xff; 64],
        format!("{}{}", "[".repeat(500), "]".repeat(500)).into_bytes(),
    ];
    let n = 200_000u64;
    let inputs: Vec<(SocketAddr, &[u8])> = (0..n)
        .map(|_| {
            let from = SocketAddr::from(([192, 0, 2, 1], 1_024 + rng.gen_range(0..4_096u16)));
            (from, garbage[rng.gen_range(0..garbage.len())].as_slice())
        })
        .collect();
    let now = args.rounds * 1_000 + 100;
    let t0 = Instant::now();
    for (i, (from, d)) in inputs.iter().enumerate() {
        reg.handle_datagram(now + i as u64 / 1_000, *from, d);
        while reg.poll_output().is_some() {}
    }
    let hostile_per_s = n as f64 / t0.elapsed().as_secs_f64();
    println!("   {n} hostile datagrams: {hostile_per_s:.0}/s");
    Ok(Core {
        acks_per_s,
        tick_us_per_peer,
        hostile_per_s,
    })
}

/// The tracker shell on a thread of its own, with a current-thread runtime like the binary.
struct TrackerThread {
    addr: SocketAddr,
    tid: u32,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<JoinHandle<anyhow::Result<Stats>>>,
}

impl TrackerThread {
    fn spawn(config: Config) -> anyhow::Result<TrackerThread> {
        let socket = StdUdpSocket::bind("127.0.0.1:0").context("binding the tracker")?;
        socket.set_nonblocking(true)?;
        let addr = socket.local_addr()?;
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let handle = std::thread::Builder::new().name("tracker".into()).spawn(
            move || -> anyhow::Result<Stats> {
                let _ = tid_tx.send(thread_id());
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                rt.block_on(async move {
                    let socket = tokio::net::UdpSocket::from_std(socket)?;
                    let shutdown = async move {
                        let _ = stopped.await;
                    };
                    Ok(votechain_tracker::run(socket, config, shutdown).await?)
                })
            },
        )?;
        let tid = tid_rx
            .recv()
            .context("tracker thread died")?
            .context("no /proc/thread-self: CPU time needs Linux")?;
        Ok(TrackerThread {
            addr,
            tid,
            stop: Some(stop),
            handle: Some(handle),
        })
    }

    /// CPU time the tracker thread has used, in nanoseconds.
    fn cpu_ns(&self) -> anyhow::Result<u64> {
        let dir = format!("/proc/self/task/{}", self.tid);
        if let Ok(s) = std::fs::read_to_string(format!("{dir}/schedstat")) {
            if let Some(ns) = s.split_whitespace().next().and_then(|f| f.parse().ok()) {
                return Ok(ns);
            }
        }
        let stat = std::fs::read_to_string(format!("{dir}/stat"))?;
        let rest = &stat[stat.rfind(')').context("stat format")? + 2..];
        let f: Vec<u64> = rest
            .split_whitespace()
            .skip(11)
            .take(2)
            .map(|x| x.parse().unwrap_or(0))
            .collect();
        // /proc reports in USER_HZ, 100 on Linux.
        Ok(f.iter().sum::<u64>() * 10_000_000)
    }

    fn stop(mut self) -> anyhow::Result<Stats> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.handle.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            _ => bail!("tracker thread panicked"),
        }
    }
}

impl Drop for TrackerThread {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// This thread's kernel id, from the `/proc/thread-self` link (`<pid>/task/<tid>`).
fn thread_id() -> Option<u32> {
    let link = std::fs::read_link("/proc/thread-self").ok()?;
    link.file_name()?.to_str()?.parse().ok()
}

/// Registers a blocking std socket with the tracker (the dance, with retries).
fn register_blocking(socket: &StdUdpSocket, tracker: SocketAddr) -> anyhow::Result<()> {
    socket.set_read_timeout(Some(Duration::from_millis(300)))?;
    let register = encode(&RegisterPeer::default().into())?;
    let mut buf = vec![0u8; 65_536];
    for _ in 0..30 {
        socket.send_to(&register, tracker)?;
        while let Ok((len, _)) = socket.recv_from(&mut buf) {
            match decode(&buf[..len]) {
                Ok(Message::Challenge(c)) => {
                    let answer = with_envelope(&register, &Envelope::echoing(&c.token));
                    socket.send_to(&answer, tracker)?;
                }
                Ok(Message::RegisterAck(_)) => return Ok(()),
                _ => {}
            }
        }
    }
    bail!("could not register a flood socket")
}

struct Flood {
    per_cpu_s: f64,
    per_wall_s: f64,
    cpu_pct: f64,
}

fn shell_flood(args: &Args) -> anyhow::Result<Flood> {
    println!("2. shell over loopback, flooded with POKE_ACKs from 8 registered sockets");
    println!(
        "   (rate limit raised to 10^9/s for this part: the flood is the load, not an attack)"
    );
    let mut config = Config::demo();
    config.rate_per_s = 1_000_000_000;
    config.rate_burst = 1_000_000_000;
    let tracker = TrackerThread::spawn(config)?;
    let sockets: Vec<StdUdpSocket> = (0..8)
        .map(|_| StdUdpSocket::bind("127.0.0.1:0"))
        .collect::<Result<_, _>>()?;
    for s in &sockets {
        register_blocking(s, tracker.addr)?;
    }
    // Stale nonces: each costs a full decode and a member lookup, and gets no reply.
    let ack = encode(&PokeAck { nonce: Some(7) }.into())?;
    let sent = Arc::new(AtomicU64::new(0));
    let target = tracker.addr;
    let window = Duration::from_secs_f64(args.flood_secs);
    let cpu0 = tracker.cpu_ns()?;
    let t0 = Instant::now();
    std::thread::scope(|scope| {
        for pair in sockets.chunks(4) {
            let (sent, ack) = (sent.clone(), &ack);
            scope.spawn(move || {
                let mut n = 0u64;
                while t0.elapsed() < window {
                    for s in pair {
                        for _ in 0..64 {
                            if s.send_to(ack, target).is_ok() {
                                n += 1;
                            }
                        }
                    }
                }
                sent.fetch_add(n, Ordering::Relaxed);
            });
        }
    });
    // Let the tracker drain its receive buffer before reading the counters.
    std::thread::sleep(Duration::from_millis(300));
    let wall = t0.elapsed().as_secs_f64();
    let cpu_s = (tracker.cpu_ns()? - cpu0) as f64 / 1e9;
    let stats = tracker.stop()?;
    let handled = stats.poke_acks_wrong_nonce;
    let sent = sent.load(Ordering::Relaxed);
    let per_cpu_s = handled as f64 / cpu_s;
    let per_wall_s = handled as f64 / wall;
    let cpu_pct = 100.0 * cpu_s / wall;
    println!(
        "   sent {sent}, handled {handled} ({:.1} % lost in the kernel), tracker CPU {cpu_s:.2} s of {wall:.2} s",
        100.0 * (sent.saturating_sub(handled)) as f64 / sent.max(1) as f64
    );
    println!("   {per_cpu_s:.0} datagrams per tracker CPU-second, {per_wall_s:.0}/s wall");
    Ok(Flood {
        per_cpu_s,
        per_wall_s,
        cpu_pct,
    })
}

struct HeartbeatRun {
    peers: usize,
    cpu_pct: f64,
    false_evictions: u64,
    pokes_per_peer_s: f64,
}

/// Counters shared by the simulated peers.
#[derive(Default)]
struct PeerCounters {
    registered: AtomicUsize,
    pokes: AtomicU64,
    updates: AtomicU64,
}

fn heartbeat_run(args: &Args) -> anyhow::Result<HeartbeatRun> {
    println!(
        "3. {} simulated peers, one real UDP socket each (tokio tasks in this process), 1 Hz heartbeats for {} s",
        args.peers, args.secs
    );
    let mut config = Config::demo();
    config.max_peers = config.max_peers.max(args.peers);
    let tracker = TrackerThread::spawn(config)?;
    let tracker_addr = tracker.addr;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let counters = Arc::new(PeerCounters::default());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let start = Instant::now();
    let tasks = rt.block_on(async {
        // Registrations are paced: at most 512 in flight.
        let gate = Arc::new(tokio::sync::Semaphore::new(512));
        let mut tasks = Vec::with_capacity(args.peers);
        for _ in 0..args.peers {
            let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
                .await
                .context("binding a simulated peer (raise `ulimit -n` above the peer count)")?;
            let permit = gate.clone().acquire_owned().await?;
            tasks.push(tokio::spawn(simulated_peer(
                socket,
                tracker_addr,
                permit,
                counters.clone(),
                stop_rx.clone(),
            )));
        }
        anyhow::Ok(tasks)
    })?;
    let all_in = wait_until(Duration::from_secs(120), || {
        counters.registered.load(Ordering::Relaxed) >= args.peers
    });
    ensure!(
        all_in,
        "only {} of {} peers registered",
        counters.registered.load(Ordering::Relaxed),
        args.peers
    );
    println!("   all registered in {:.1?}", start.elapsed());
    // Let the registration's UPDATE_PEERS rounds pass, then measure.
    std::thread::sleep(Duration::from_secs(2));
    let (cpu0, pokes0, t0) = (
        tracker.cpu_ns()?,
        counters.pokes.load(Ordering::Relaxed),
        Instant::now(),
    );
    std::thread::sleep(Duration::from_secs(args.secs));
    let wall = t0.elapsed().as_secs_f64();
    let cpu_s = (tracker.cpu_ns()? - cpu0) as f64 / 1e9;
    let pokes = counters.pokes.load(Ordering::Relaxed) - pokes0;
    let stats = tracker.stop()?;
    let _ = stop_tx.send(true);
    rt.block_on(async {
        for t in tasks {
            let _ = t.await;
        }
    });
    let cpu_pct = 100.0 * cpu_s / wall;
    let pokes_per_peer_s = pokes as f64 / args.peers as f64 / wall;
    println!(
        "   tracker CPU {cpu_s:.2} s in {wall:.1} s = {cpu_pct:.1} % of a core; {pokes_per_peer_s:.2} POKEs per peer per second"
    );
    println!(
        "   joined {}, evicted {}, POKE_ACKs ok {}, wrong nonce {}, rate-limited {}, UPDATE_PEERS rounds {} ({} datagrams, {} received)",
        stats.joined,
        stats.evicted,
        stats.poke_acks_ok,
        stats.poke_acks_wrong_nonce,
        stats.rate_limited,
        stats.update_rounds,
        stats.updates_sent,
        counters.updates.load(Ordering::Relaxed)
    );
    Ok(HeartbeatRun {
        peers: args.peers,
        cpu_pct,
        false_evictions: stats.evicted,
        pokes_per_peer_s,
    })
}

fn wait_until(deadline: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while !done() {
        if start.elapsed() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

/// One simulated peer: registers (resending every second until acknowledged), then answers
/// every POKE with its nonce until stopped.
async fn simulated_peer(
    socket: tokio::net::UdpSocket,
    tracker: SocketAddr,
    permit: tokio::sync::OwnedSemaphorePermit,
    counters: Arc<PeerCounters>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let Ok(register) = encode(&RegisterPeer::default().into()) else {
        return;
    };
    let mut buf = vec![0u8; 2_048];
    let mut permit = Some(permit);
    let mut retry = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = retry.tick(), if permit.is_some() => {
                let _ = socket.send_to(&register, tracker).await;
            }
            received = socket.recv_from(&mut buf) => {
                let Ok((len, _)) = received else { continue };
                match decode(&buf[..len]) {
                    Ok(Message::Challenge(c)) => {
                        let answer = with_envelope(&register, &Envelope::echoing(&c.token));
                        let _ = socket.send_to(&answer, tracker).await;
                    }
                    // The first REGISTER_ACK releases the registration slot; repeats change nothing.
                    Ok(Message::RegisterAck(_)) if permit.take().is_some() => {
                        counters.registered.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Message::Poke(p)) => {
                        counters.pokes.fetch_add(1, Ordering::Relaxed);
                        if let Ok(ack) = encode(&PokeAck { nonce: p.nonce }.into()) {
                            let _ = socket.send_to(&ack, tracker).await;
                        }
                    }
                    Ok(Message::UpdatePeers(_)) => {
                        counters.updates.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {}
                }
            }
        }
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
