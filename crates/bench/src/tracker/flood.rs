//! Measurement 2: the shell over loopback, flooded with POKE_ACKs from registered sockets;
//! datagrams handled per second of the tracker thread's CPU time (one core) and per second of
//! wall time.

use super::shell::TrackerThread;
use super::Args;
use anyhow::bail;
use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use votechain_proto::{decode, encode, with_envelope, Envelope, Message, PokeAck, RegisterPeer};
use votechain_tracker::Config;

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

/// What measurement 2 found.
pub(super) struct Flood {
    pub(super) per_cpu_s: f64,
    pub(super) per_wall_s: f64,
    pub(super) cpu_pct: f64,
}

/// Runs measurement 2, printing its figures as it goes.
pub(super) fn shell_flood(args: &Args) -> anyhow::Result<Flood> {
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
