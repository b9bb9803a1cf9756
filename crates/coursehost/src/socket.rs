//! Loopback UDP sockets for the host, the client and the relay: bound to loopback only, with
//! large kernel buffers (so bursts in benchmarks are not lost to a 208 KiB default) and a short
//! read timeout (so every reading thread notices its shutdown flag promptly).

use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

/// How long a blocking read waits before its thread looks at its shutdown flag again.
pub(crate) const POLL: Duration = Duration::from_millis(20);

/// The kernel buffer size asked for; Linux caps it at `net.core.rmem_max` / `wmem_max`.
const BUFFER_BYTES: usize = 8 << 20;

/// The largest datagram any socket here reads.
pub(crate) const MAX_DATAGRAM: usize = 65_536;

/// `127.0.0.1:0`: a fresh loopback port.
pub(crate) fn any_loopback_port() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
}

/// Binds a UDP socket at `addr`, which must be a loopback address, with large buffers (best
/// effort) and a read timeout of [`POLL`].
pub(crate) fn bind_udp(addr: SocketAddr) -> io::Result<UdpSocket> {
    if !addr.ip().is_loopback() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("The course host binds loopback addresses only, not {addr}."),
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

/// Whether a `recv` error only means that the read timeout passed.
pub(crate) fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_binds() {
        assert!(bind_udp(any_loopback_port()).is_ok());
        let public = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0));
        assert_eq!(
            bind_udp(public).map(|_| ()).map_err(|e| e.kind()),
            Err(io::ErrorKind::InvalidInput)
        );
    }
}
