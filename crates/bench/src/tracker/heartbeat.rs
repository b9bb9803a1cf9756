//! Measurement 3: the shell on its own thread and one real UDP socket per simulated peer in
//! this process (tokio tasks that register with the CHALLENGE/VERIFY dance and answer every
//! POKE), heartbeated at 1 Hz; the tracker thread's CPU share and the evictions, all of which
//! are false since every peer answers.

use super::shell::TrackerThread;
use super::Args;
use anyhow::{ensure, Context as _};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use votechain_proto::{decode, encode, with_envelope, Envelope, Message, PokeAck, RegisterPeer};
use votechain_tracker::Config;

/// What measurement 3 found.
pub(super) struct HeartbeatRun {
    pub(super) peers: usize,
    pub(super) cpu_pct: f64,
    pub(super) false_evictions: u64,
    pub(super) pokes_per_peer_s: f64,
}

/// Counters shared by the simulated peers.
#[derive(Default)]
struct PeerCounters {
    registered: AtomicUsize,
    pokes: AtomicU64,
    updates: AtomicU64,
}

/// Runs measurement 3, printing its figures as it goes.
pub(super) fn heartbeat_run(args: &Args) -> anyhow::Result<HeartbeatRun> {
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
