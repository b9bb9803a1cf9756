//! A gate for the stall experiment (`--stall-ms`): a UDP forwarder in front of one relay that
//! passes datagrams straight through until it is closed, then holds every datagram, both ways,
//! until it opens again and sends them on in order. Closing the gates of every host at once
//! for a while is what a scheduler stall of the hosts (or of the network) looks like to our
//! peer: nothing lost, everything late. One socket stands for the relay: datagrams from the
//! relay go to the client that last sent, all others go to the relay.

use std::net::SocketAddr;
use tokio::net::UdpSocket;
use tokio::sync::{oneshot, watch};

/// A running gate; dropping it stops it.
pub struct Gate {
    /// Where the client sends in place of the relay.
    pub addr: SocketAddr,
    /// Dropping it stops the gate.
    _shutdown: oneshot::Sender<()>,
}

impl Gate {
    /// Starts a gate on a loopback port in front of `relay`, held while `closed` says true.
    pub fn start(relay: SocketAddr, closed: watch::Receiver<bool>) -> anyhow::Result<Gate> {
        let socket = crate::swarm::bind_loopback()?;
        let addr = socket.local_addr()?;
        let (tx, rx) = oneshot::channel();
        tokio::spawn(forward(socket, relay, closed, rx));
        Ok(Gate {
            addr,
            _shutdown: tx,
        })
    }
}

/// The gate loop.
async fn forward(
    socket: UdpSocket,
    relay: SocketAddr,
    mut closed: watch::Receiver<bool>,
    mut shutdown: oneshot::Receiver<()>,
) {
    let mut held: Vec<(SocketAddr, Vec<u8>)> = Vec::new();
    let mut client: Option<SocketAddr> = None;
    let mut buf = vec![0u8; 65_536];
    // Once the sender is gone the gate stays as it was last set.
    let mut watching = true;
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            changed = closed.changed(), if watching => {
                if changed.is_err() {
                    watching = false;
                }
                if !*closed.borrow_and_update() {
                    for (to, bytes) in held.drain(..) {
                        // A send error is the path's loss, as on any network.
                        let _ = socket.send_to(&bytes, to).await;
                    }
                }
            }
            received = socket.recv_from(&mut buf) => {
                let Ok((n, from)) = received else { continue };
                let to = if from == relay {
                    match client {
                        Some(c) => c,
                        None => continue,
                    }
                } else {
                    client = Some(from);
                    relay
                };
                if *closed.borrow() {
                    held.push((to, buf[..n].to_vec()));
                } else {
                    let _ = socket.send_to(&buf[..n], to).await;
                }
            }
        }
    }
}
