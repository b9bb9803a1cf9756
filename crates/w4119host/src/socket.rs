//! Loopback UDP sockets for the tracker, the peer and the chain client: bound to loopback only,
//! with large kernel buffers (so a burst of CHAIN_BLOCKs is not lost to a small default) and a
//! short read timeout (so every reading thread notices its stop flag promptly).

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

/// How long a blocking read waits before its thread looks at its stop flag and timers again.
pub(crate) const POLL: Duration = Duration::from_millis(20);

/// The kernel buffer size asked for; Linux caps it at `net.core.rmem_max` / `wmem_max`.
const BUFFER_BYTES: usize = 8 << 20;

/// Binds a UDP socket at `addr`, which must be a loopback address, with large buffers (best
/// effort) and a read timeout of [`POLL`].
pub(crate) fn bind_udp(addr: SocketAddr) -> io::Result<UdpSocket> {
    if !addr.ip().is_loopback() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("The W4119 host binds loopback addresses only, not {addr}."),
        ));
    }
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    // Larger buffers only make loss less likely; the defaults still work, so failure is fine.
    let _ = socket.set_recv_buffer_size(BUFFER_BYTES);
    let _ = socket.set_send_buffer_size(BUFFER_BYTES);
    socket.bind(&addr.into())?;
    let socket: UdpSocket = socket.into();
    socket.set_read_timeout(Some(POLL))?;
    Ok(socket)
}

/// Whether a `recv` error only means that the read timeout passed (or that a previous send
/// drew an ICMP "port unreachable", which Linux reports on the next read).
pub(crate) fn is_transient(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock
            | io::ErrorKind::TimedOut
            | io::ErrorKind::Interrupted
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn only_loopback_binds() {
        assert!(bind_udp(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).is_ok());
        assert!(bind_udp(SocketAddr::from((Ipv4Addr::new(127, 0, 0, 7), 0))).is_ok());
        let public = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0));
        assert_eq!(
            bind_udp(public).map(|_| ()).map_err(|e| e.kind()),
            Err(io::ErrorKind::InvalidInput)
        );
    }
}
