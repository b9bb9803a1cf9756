//! A UDP relay adding a fixed one-way delay, so a loopback benchmark sees a wide-area round
//! trip. One relay socket stands for one server: datagrams from anyone else (the client) are
//! forwarded to the server after `delay`, datagrams from the server go back to the client that
//! last sent through the relay, after `delay` too. Each direction is FIFO: a datagram never
//! overtakes one received before it, and none is dropped by the relay (the kernel may still
//! drop on a full socket buffer, as on any path).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::oneshot;
use tokio::time::Instant;

/// A running relay.
pub struct Relay {
    /// The address clients send to in place of the server's.
    pub addr: SocketAddr,
    /// Datagrams forwarded, both directions.
    pub forwarded: Arc<AtomicU64>,
    /// Dropping it stops the relay.
    _shutdown: oneshot::Sender<()>,
}

impl Relay {
    /// Starts a relay on a loopback port in front of `server`, delaying each direction by
    /// `delay` (half the added round-trip time).
    pub fn start(server: SocketAddr, delay: Duration) -> anyhow::Result<Relay> {
        let socket = crate::swarm::bind_loopback()?;
        let addr = socket.local_addr()?;
        let forwarded = Arc::new(AtomicU64::new(0));
        let (tx, rx) = oneshot::channel();
        tokio::spawn(forward(socket, server, delay, forwarded.clone(), rx));
        Ok(Relay {
            addr,
            forwarded,
            _shutdown: tx,
        })
    }
}

/// The relay loop: receive into a queue of (due time, destination, bytes), send what is due.
async fn forward(
    socket: UdpSocket,
    server: SocketAddr,
    delay: Duration,
    forwarded: Arc<AtomicU64>,
    mut shutdown: oneshot::Receiver<()>,
) {
    let mut queue: VecDeque<(Instant, SocketAddr, Vec<u8>)> = VecDeque::new();
    let mut client: Option<SocketAddr> = None;
    let mut buf = vec![0u8; 65_536];
    loop {
        // One queue for both directions keeps each direction FIFO, since every datagram waits
        // the same delay.
        let due = queue.front().map(|(t, _, _)| *t);
        tokio::select! {
            _ = &mut shutdown => return,
            received = socket.recv_from(&mut buf) => {
                let Ok((n, from)) = received else { continue };
                let to = if from == server {
                    match client {
                        Some(c) => c,
                        None => continue,
                    }
                } else {
                    client = Some(from);
                    server
                };
                queue.push_back((Instant::now() + delay, to, buf[..n].to_vec()));
            }
            _ = tokio::time::sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                let now = Instant::now();
                while queue.front().is_some_and(|(t, _, _)| *t <= now) {
                    let (_, to, bytes) = queue.pop_front().expect("front checked above");
                    // A send error (a peer that went away) is the path's loss, not ours.
                    let _ = socket.send_to(&bytes, to).await;
                    forwarded.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}
