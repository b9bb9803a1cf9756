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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Receives one datagram on `socket` within `wait`, as text with its source.
    async fn recv(socket: &UdpSocket, wait: Duration) -> Option<(String, SocketAddr)> {
        let mut buf = [0u8; 64];
        let (n, from) = tokio::time::timeout(wait, socket.recv_from(&mut buf))
            .await
            .ok()?
            .ok()?;
        Some((String::from_utf8_lossy(&buf[..n]).into_owned(), from))
    }

    #[tokio::test]
    async fn the_gate_passes_holds_releases_in_order_and_outlives_its_sender() {
        let relay = crate::swarm::bind_loopback().expect("bind the relay");
        let client = crate::swarm::bind_loopback().expect("bind the client");
        let (close, closed) = watch::channel(false);
        let gate = Gate::start(relay.local_addr().expect("relay address"), closed)
            .expect("start the gate");
        let wait = Duration::from_secs(2);

        // Open: both ways, straight through.
        client.send_to(b"a", gate.addr).await.expect("send a");
        let (got, via) = recv(&relay, wait).await.expect("a reaches the relay");
        assert_eq!(got, "a");
        assert_eq!(via, gate.addr);
        relay.send_to(b"b", gate.addr).await.expect("send b");
        assert_eq!(recv(&client, wait).await.map(|x| x.0).as_deref(), Some("b"));

        // Closed: held both ways, nothing delivered.
        close.send(true).expect("close");
        client.send_to(b"c1", gate.addr).await.expect("send c1");
        client.send_to(b"c2", gate.addr).await.expect("send c2");
        relay.send_to(b"d", gate.addr).await.expect("send d");
        assert!(recv(&relay, Duration::from_millis(200)).await.is_none());
        assert!(recv(&client, Duration::from_millis(50)).await.is_none());

        // Opened: delivered in order.
        close.send(false).expect("open");
        assert_eq!(recv(&relay, wait).await.map(|x| x.0).as_deref(), Some("c1"));
        assert_eq!(recv(&relay, wait).await.map(|x| x.0).as_deref(), Some("c2"));
        assert_eq!(recv(&client, wait).await.map(|x| x.0).as_deref(), Some("d"));

        // Without its sender the gate stays open.
        drop(close);
        client.send_to(b"e", gate.addr).await.expect("send e");
        assert_eq!(recv(&relay, wait).await.map(|x| x.0).as_deref(), Some("e"));
    }
}
