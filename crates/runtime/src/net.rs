//! UDP for the shells: binding a socket with enlarged kernel buffers, and reading datagrams in
//! bursts. Both shells read the same way — wait for one datagram, then take what is already
//! queued without waiting, up to a bound — and both decide the same way which socket errors
//! concern one datagram (logged, skipped) and which end the shell.

use socket2::{Domain, Protocol, SockRef, Socket, Type};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::net::UdpSocket;
use tracing::{debug, info, warn};

/// Receive and send buffer asked of the kernel. The default receive buffer (~200 KiB) drops
/// bursts: 10,000 members answering a tracker's POKEs, or a sync's blocks arriving at a peer.
pub const SOCKET_BUFFER_BYTES: usize = 8 << 20;

/// Datagrams a [`BurstReader`] takes after the first before the shell carries out the core's
/// outputs and re-arms its timer: amortises the `select!` under load, yet a flood can neither
/// grow the output queue without bound nor starve the timer.
pub const MAX_BURST: usize = 256;

/// Largest datagram read: above the protocol's 65,507-byte limit (and any IPv6 UDP payload
/// without jumbograms), so an oversized datagram is seen whole and refused as oversized, never
/// truncated into something that decodes.
pub const RECV_BUF_LEN: usize = 65_536;

/// Whether the kernel's cap on buffers has been reported: it is a machine setting, said once.
static CAP_REPORTED: AtomicBool = AtomicBool::new(false);

/// A socket that could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("cannot bind UDP {addr}")]
pub struct BindError {
    /// The address asked for.
    pub addr: SocketAddr,
    /// Why the operating system refused (address in use, not a local address…).
    #[source]
    pub source: io::Error,
}

/// Binds a non-blocking UDP socket at `addr` (port 0 picks a free one) with buffers enlarged
/// before the bind, so no datagram ever waits in a small buffer. Must be called inside a tokio
/// runtime.
pub fn bind_udp(addr: SocketAddr) -> Result<UdpSocket, BindError> {
    let bind = || -> io::Result<UdpSocket> {
        let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
        enlarge(&socket);
        socket.set_nonblocking(true)?;
        socket.bind(&addr.into())?;
        UdpSocket::from_std(socket.into())
    };
    bind().map_err(|source| BindError { addr, source })
}

/// Asks the kernel for [`SOCKET_BUFFER_BYTES`] of receive and send buffer on a socket bound
/// elsewhere (a caller of a shell's `run` may bind its own). The kernel may grant less (capped
/// by `net.core.rmem_max`): that is logged once per process, not an error.
pub fn enlarge_buffers(socket: &UdpSocket) {
    enlarge(&SockRef::from(socket));
}

fn enlarge(socket: &Socket) {
    if let Err(e) = socket.set_recv_buffer_size(SOCKET_BUFFER_BYTES) {
        warn!("could not enlarge the receive buffer: {e}");
    }
    if let Err(e) = socket.set_send_buffer_size(SOCKET_BUFFER_BYTES) {
        debug!("could not enlarge the send buffer: {e}");
    }
    match socket.recv_buffer_size() {
        // Linux reports twice the usable size it granted, capped by net.core.rmem_max.
        Ok(got) if got < SOCKET_BUFFER_BYTES && !CAP_REPORTED.swap(true, Ordering::Relaxed) => {
            info!(
                "receive buffer is {got} bytes, less than the {SOCKET_BUFFER_BYTES} asked for; \
                 raise net.core.rmem_max for bursts of 10,000 peers"
            )
        }
        Ok(got) => debug!("receive buffer is {got} bytes"),
        Err(e) => debug!("could not read the receive buffer size: {e}"),
    }
}

/// True for the errors a receive or send can give that concern one datagram or one remote
/// (mostly ICMP errors from earlier sends, surfacing on this socket), after which the socket
/// still works. Any other error ends the shell.
pub fn is_transient(e: &io::Error) -> bool {
    use io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionReset
            | ConnectionRefused
            | HostUnreachable
            | NetworkUnreachable
            | Interrupted
            | WouldBlock
            | InvalidData
    )
}

/// Reads datagrams in bursts into one buffer of [`RECV_BUF_LEN`] bytes.
#[derive(Debug)]
pub struct BurstReader {
    /// Holds one datagram at a time; allocated once, since a shell reads for its whole life.
    buf: Box<[u8]>,
    /// Datagrams taken after the first without waiting.
    max_burst: usize,
}

impl Default for BurstReader {
    fn default() -> BurstReader {
        BurstReader::new(MAX_BURST)
    }
}

impl BurstReader {
    /// A reader taking up to `max_burst` queued datagrams after the first.
    pub fn new(max_burst: usize) -> BurstReader {
        BurstReader {
            buf: vec![0u8; RECV_BUF_LEN].into_boxed_slice(),
            max_burst,
        }
    }

    /// Waits for one datagram, then takes up to `max_burst` more that are already queued,
    /// handing each to `handle(from, bytes)` in arrival order; returns how many it handled.
    /// Transient errors ([`is_transient`]) are logged at debug and skipped; any other error is
    /// returned and the socket should be given up.
    ///
    /// Cancel-safe, so it can be a `select!` branch: its only await is the wait for the first
    /// datagram, and nothing is received before that completes.
    pub async fn recv_burst(
        &mut self,
        socket: &UdpSocket,
        mut handle: impl FnMut(SocketAddr, &[u8]),
    ) -> io::Result<usize> {
        let mut handled = 0;
        match socket.recv_from(&mut self.buf).await {
            Ok((len, from)) => {
                handle(from, &self.buf[..len]);
                handled += 1;
            }
            Err(e) if is_transient(&e) => debug!("recv: {e}"),
            Err(e) => return Err(e),
        }
        for _ in 0..self.max_burst {
            match socket.try_recv_from(&mut self.buf) {
                Ok((len, from)) => {
                    handle(from, &self.buf[..len]);
                    handled += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if is_transient(&e) => debug!("recv: {e}"),
                Err(e) => return Err(e),
            }
        }
        Ok(handled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_burst_takes_what_is_queued_up_to_its_bound() {
        let socket = bind_udp(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
        let to = socket.local_addr().unwrap();
        let sender = bind_udp(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
        for i in 0..5u8 {
            sender.send_to(&[i], to).await.unwrap();
        }
        let from = sender.local_addr().unwrap();
        let mut reader = BurstReader::new(2);
        let mut seen = Vec::new();
        // Loopback datagrams are queued by the time `send_to` returns: the first burst is the
        // first one plus two queued ones, the next burst the remaining two.
        let n = reader
            .recv_burst(&socket, |f, b| seen.push((f, b.to_vec())))
            .await
            .unwrap();
        assert_eq!(n, 3);
        let n = reader
            .recv_burst(&socket, |f, b| seen.push((f, b.to_vec())))
            .await
            .unwrap();
        assert_eq!(n, 2);
        let expected: Vec<_> = (0..5u8).map(|i| (from, vec![i])).collect();
        assert_eq!(seen, expected);
    }

    #[tokio::test]
    async fn binding_a_taken_port_says_which() {
        let taken = bind_udp(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
        let addr = taken.local_addr().unwrap();
        let e = bind_udp(addr).unwrap_err();
        assert_eq!(e.addr, addr);
        assert_eq!(e.to_string(), format!("cannot bind UDP {addr}"));
    }
}
