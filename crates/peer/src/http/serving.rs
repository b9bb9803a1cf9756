//! A peer's HTTP server from its address to its stop, shared by the `peer` binary and the peers
//! a process runs inside itself ([`crate::handle`], the one-command election): [`HttpListener`]
//! binds the address asked for — by default the peer's UDP port + 1000 on loopback, giving way
//! to a free port with a sentence saying why — and [`HttpListener::serve`] starts the server
//! ([`super::server`]) as a task with the shell's end of the bridge for [`crate::shell`];
//! [`HttpServer::stop`] ends it once the shell has ended.

use super::{bridge, server, ShellBridge};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long open connections get to finish once the server is told to stop.
pub const STOP_GRACE: Duration = Duration::from_secs(2);

/// Where a peer's HTTP server is to listen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpAddr {
    /// Exactly here: failing to bind it is an error.
    Exactly(SocketAddr),
    /// Beside a peer asked to bind UDP `port` on `ip`: port `port` + 1000 on `ip` if it is a
    /// loopback address, else on 127.0.0.1 (the API casts votes with the keys the peer holds,
    /// which a peer bound to every interface for its UDP must not offer the LAN). Port 0, a
    /// port past the last, or one already taken give way to a free port.
    Beside {
        /// The peer's UDP bind address.
        ip: IpAddr,
        /// The peer's UDP port (0: a free one, so the HTTP port is free too).
        port: u16,
    },
}

/// The HTTP server could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("cannot bind the HTTP server to {addr}")]
pub struct HttpBindError {
    /// The address asked for.
    pub addr: SocketAddr,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

/// A bound HTTP listener, not serving yet.
#[derive(Debug)]
pub struct HttpListener {
    listener: TcpListener,
    /// Where it is bound.
    addr: SocketAddr,
    /// Why it is not on the port asked for, in a sentence, when it is not.
    note: Option<String>,
}

impl HttpListener {
    /// Binds `at`.
    pub async fn bind(at: HttpAddr) -> Result<HttpListener, HttpBindError> {
        let (listener, note) = match at {
            HttpAddr::Exactly(addr) => {
                let listener = TcpListener::bind(addr)
                    .await
                    .map_err(|source| HttpBindError { addr, source })?;
                (listener, None)
            }
            HttpAddr::Beside { ip, port } => {
                let host = if ip.is_loopback() {
                    ip
                } else {
                    IpAddr::from([127, 0, 0, 1])
                };
                let wanted = match port {
                    0 => Some(0),
                    p => p.checked_add(1000),
                };
                let addr = SocketAddr::new(host, wanted.unwrap_or(0));
                let (listener, note) = server::bind(addr)
                    .await
                    .map_err(|source| HttpBindError { addr, source })?;
                let note = note.or_else(|| {
                    wanted.is_none().then(|| {
                        format!(
                            "HTTP port {port} + 1000 is past the last port, so the API listens \
                             on a free port instead."
                        )
                    })
                });
                (listener, note)
            }
        };
        let addr = listener.local_addr().map_err(|source| HttpBindError {
            addr: SocketAddr::new(IpAddr::from([0, 0, 0, 0]), 0),
            source,
        })?;
        Ok(HttpListener {
            listener,
            addr,
            note,
        })
    }

    /// Where it is bound.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The web page's URL: `http://ADDR/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Why it is not on the port asked for, in a sentence, when it is not.
    pub fn note(&self) -> Option<&str> {
        self.note.as_deref()
    }

    /// Starts serving on the current tokio runtime: the shell's end of the bridge (for
    /// [`crate::shell::ShellConfig::http`]) and the running server.
    pub fn serve(self) -> (ShellBridge, HttpServer) {
        let (shell_end, server_end) = bridge();
        let server = self.serve_router(|stop| server::router(server_end, stop));
        (shell_end, server)
    }

    /// Serves the routes `app` builds (given the token that ends its event streams) on a thread
    /// of its own, with the limits every votechain server has: the native API's routes, or a
    /// profile's.
    pub fn serve_router(self, app: impl FnOnce(CancellationToken) -> axum::Router) -> HttpServer {
        let stop = CancellationToken::new();
        let task = server::spawn(self.listener, app(stop.clone()), stop.clone());
        HttpServer { stop, task }
    }

    /// [`HttpListener::serve_router`] for a profile's `router`, which builds its routes together
    /// with the bridge its shell answers them through; returns that bridge and the server.
    pub fn serve_with_bridge<B>(
        self,
        router: impl FnOnce(CancellationToken) -> (axum::Router, B),
    ) -> (B, HttpServer) {
        let stop = CancellationToken::new();
        let (app, bridge) = router(stop.clone());
        let task = server::spawn(self.listener, app, stop.clone());
        (bridge, HttpServer { stop, task })
    }
}

/// A running HTTP server; dropping it stops it too, without waiting.
#[derive(Debug)]
pub struct HttpServer {
    /// Cancelling it stops the server and ends its event streams.
    stop: CancellationToken,
    /// The server task.
    task: JoinHandle<()>,
}

impl HttpServer {
    /// Stops the server: open connections get [`STOP_GRACE`] to finish, then it is ended.
    pub async fn stop(mut self) {
        self.stop.cancel();
        if tokio::time::timeout(STOP_GRACE, &mut self.task)
            .await
            .is_err()
        {
            self.task.abort();
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_default_port_is_the_udp_port_plus_1000_or_a_free_one_with_a_sentence() {
        let loopback = IpAddr::from([127, 0, 0, 1]);
        let free = HttpListener::bind(HttpAddr::Beside {
            ip: loopback,
            port: 0,
        })
        .await
        .unwrap();
        assert_ne!(free.addr().port(), 0);
        assert_eq!(free.note(), None, "port 0 asks for a free port");
        assert_eq!(free.url(), format!("http://{}/", free.addr()));

        let past = HttpListener::bind(HttpAddr::Beside {
            ip: IpAddr::from([0, 0, 0, 0]),
            port: 65_000,
        })
        .await
        .unwrap();
        assert!(past.addr().ip().is_loopback(), "loopback unless told");
        assert!(
            past.note()
                .is_some_and(|n| n.contains("past the last port")),
            "{:?}",
            past.note()
        );

        // The port 1000 above a UDP port, held by someone else: a free one and a sentence.
        let held = TcpListener::bind((loopback, 0)).await.unwrap();
        let taken = held.local_addr().unwrap().port();
        if let Some(udp) = taken.checked_sub(1000).filter(|p| *p > 0) {
            let beside = HttpListener::bind(HttpAddr::Beside {
                ip: loopback,
                port: udp,
            })
            .await
            .unwrap();
            assert_ne!(beside.addr().port(), taken);
            assert!(
                beside
                    .note()
                    .is_some_and(|n| n.starts_with(&format!("HTTP port {taken} "))),
                "{:?}",
                beside.note()
            );
        }
        let exact = HttpListener::bind(HttpAddr::Exactly(held.local_addr().unwrap())).await;
        assert!(exact.is_err(), "an address given must be had");
    }

    #[tokio::test]
    async fn a_server_serves_until_stopped() {
        let listener = HttpListener::bind(HttpAddr::Exactly(SocketAddr::from(([127, 0, 0, 1], 0))))
            .await
            .unwrap();
        let addr = listener.addr();
        let (_shell, server) = listener.serve();
        tokio::net::TcpStream::connect(addr).await.expect("serving");
        server.stop().await;
        assert!(
            tokio::net::TcpStream::connect(addr).await.is_err(),
            "no longer listening"
        );
    }
}
