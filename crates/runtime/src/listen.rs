//! What a server binary (`tracker`, `peer`) does before its readiness line, in the order that
//! makes a signal sent the moment the line appears a clean shutdown: install the signal
//! handlers, then bind. A [`Listening`] is the proof both happened; the readiness line needs its
//! bound address.

use crate::net::{bind_udp, BindError};
use crate::signals::shutdown_on_signals;
use std::io;
use std::net::SocketAddr;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

/// A server ready to print its readiness line: signal handlers installed, socket bound.
#[derive(Debug)]
pub struct Listening {
    /// The socket, bound with enlarged buffers.
    pub socket: UdpSocket,
    /// Its bound address (the port chosen when 0 was asked), for the readiness line.
    pub local: SocketAddr,
    /// Cancelled on Ctrl-C or SIGTERM: the shell's shutdown.
    pub shutdown: CancellationToken,
}

/// Why a server could not start listening.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// The signal handlers could not be installed.
    #[error("cannot install the signal handlers")]
    Signals(#[source] io::Error),
    /// The socket could not be bound.
    #[error(transparent)]
    Bind(#[from] BindError),
    /// The bound address could not be read.
    #[error("cannot read the bound address")]
    LocalAddr(#[source] io::Error),
}

/// Installs the Ctrl-C and SIGTERM handlers ([`shutdown_on_signals`]), then binds `addr`
/// ([`bind_udp`]). Must be called inside a tokio runtime.
pub fn listen(addr: SocketAddr) -> Result<Listening, ListenError> {
    let shutdown = shutdown_on_signals().map_err(ListenError::Signals)?;
    let socket = bind_udp(addr)?;
    let local = socket.local_addr().map_err(ListenError::LocalAddr)?;
    Ok(Listening {
        socket,
        local,
        shutdown,
    })
}
