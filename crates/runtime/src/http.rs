//! Serving an axum router over HTTP/1.1 with limits a hostile client cannot get around: every
//! HTTP server votechain runs (the peer's API and page, the tracker's `/metrics`) goes through
//! [`serve`]. `axum::serve` reads request headers for as long as a client cares to send them and
//! accepts every connection offered; here, with [`HttpLimits`]:
//!
//! - a request's head (request line and headers) must arrive within `header_read_timeout`, and
//!   the same timer closes a keep-alive connection that sends no next request within it, so a
//!   slowloris client trickling header bytes, or one that connects and says nothing, is closed;
//! - a head larger than `max_header_bytes` is answered 431 (and more than hyper's 100 header
//!   fields too), a malformed one 400, both followed by a close;
//! - at most `max_connections` connections are open at once. Beyond that, new connections wait
//!   in the kernel's accept queue until one closes (at the latest after the header-read timeout
//!   for a client that sends nothing), rather than being refused: a burst of honest clients is
//!   served late, not failed, and a flood cannot take more than the cap of file descriptors and
//!   buffers;
//! - when `shutdown` completes, the listener closes, every connection finishes the request it is
//!   on and closes, and after `shutdown_grace` whatever is left is dropped.
//!
//! Request bodies and per-request time are limited by the router's own layers (its body limit
//! and request timeout), which know the routes.

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The limits [`serve`] holds every connection to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Longest a client may take to send a request's head, and longest a keep-alive connection
    /// may sit idle between requests.
    pub header_read_timeout: Duration,
    /// Connections open at once; more wait to be accepted.
    pub max_connections: usize,
    /// Largest request head (request line and headers) in bytes; larger ones are answered 431.
    pub max_header_bytes: usize,
    /// Largest read or write buffer of one connection, in bytes (at least 8192): bounds the
    /// memory a connection holds while it streams a body.
    pub max_buffer_bytes: usize,
    /// How long open connections may take to finish once `shutdown` completes.
    pub shutdown_grace: Duration,
}

impl Default for HttpLimits {
    /// 5 s for a head, 256 connections, 8 KiB heads, 64 KiB buffers, 2 s to finish.
    fn default() -> Self {
        HttpLimits {
            header_read_timeout: Duration::from_secs(5),
            max_connections: 256,
            max_header_bytes: 8 * 1024,
            max_buffer_bytes: 64 * 1024,
            shutdown_grace: Duration::from_secs(2),
        }
    }
}

/// Serves `app` on `listener` within `limits` until `shutdown` completes, then lets open
/// connections finish (for at most `limits.shutdown_grace`). Errors of single connections are
/// logged at debug level and never end the server; an error accepting connections (such as
/// running out of file descriptors) is logged and retried after a pause.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_header_size(limits.max_header_bytes)
        .max_buf_size(limits.max_buffer_bytes.max(8192))
        .keep_alive(true);
    let builder = Arc::new(builder);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let connections = TaskTracker::new();
    let stop = CancellationToken::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let mut cap_reported = false;
    loop {
        if slots.available_permits() == 0 && !cap_reported {
            tracing::info!(
                "{} HTTP connections are open, the most allowed: new ones wait until one closes",
                limits.max_connections
            );
        }
        cap_reported = slots.available_permits() == 0;
        let slot = tokio::select! {
            () = &mut shutdown => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break, // never closed; ending is the safe answer all the same
            },
        };
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    tracing::warn!("the HTTP server could not accept a connection: {e}");
                    tokio::select! {
                        () = &mut shutdown => break,
                        () = tokio::time::sleep(Duration::from_millis(100)) => continue,
                    }
                }
            },
        };
        // Small answers go out at once rather than waiting for more to send.
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let builder = builder.clone();
        let stop = stop.clone();
        let grace = limits.shutdown_grace;
        connections.spawn(async move {
            let _slot = slot;
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                ended = connection.as_mut() => return log_connection_end(ended),
                () = stop.cancelled() => {}
            }
            connection.as_mut().graceful_shutdown();
            if let Ok(ended) = tokio::time::timeout(grace, connection).await {
                log_connection_end(ended);
            }
        });
    }
    drop(listener);
    stop.cancel();
    connections.close();
    // Every connection task ends within the grace period once stopped; the margin covers a
    // scheduler busy with the last of them.
    let _ = tokio::time::timeout(limits.shutdown_grace * 2, connections.wait()).await;
    Ok(())
}

fn log_connection_end(ended: Result<(), hyper::Error>) {
    if let Err(e) = ended {
        tracing::debug!("an HTTP connection ended with an error: {e}");
    }
}

/// Errors of one connection that was offered and went away before it was accepted: nothing to
/// pause for (the HTTP servers' and the mining port's accept loops).
pub fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    fn limits() -> HttpLimits {
        HttpLimits {
            header_read_timeout: Duration::from_millis(300),
            max_connections: 2,
            ..HttpLimits::default()
        }
    }

    async fn start(limits: HttpLimits) -> (std::net::SocketAddr, CancellationToken) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().route("/", get(|| async { "hello" }));
        let stop = CancellationToken::new();
        tokio::spawn(serve(listener, app, limits, stop.clone().cancelled_owned()));
        (addr, stop)
    }

    /// Everything the server sends until it closes, or `None` if it has not closed in 10 s.
    async fn until_closed(stream: &mut TcpStream) -> Option<String> {
        let mut got = Vec::new();
        let read = stream.read_to_end(&mut got);
        match tokio::time::timeout(Duration::from_secs(10), read).await {
            Ok(_) => Some(String::from_utf8_lossy(&got).into_owned()),
            Err(_) => None,
        }
    }

    #[tokio::test]
    async fn a_client_that_never_finishes_its_head_is_closed() {
        let (addr, _stop) = start(limits()).await;
        let mut slow = TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        assert_eq!(until_closed(&mut slow).await.as_deref(), Some(""));
    }

    #[tokio::test]
    async fn an_idle_keep_alive_connection_is_closed_after_the_header_read_timeout() {
        let (addr, _stop) = start(limits()).await;
        let mut idle = TcpStream::connect(addr).await.unwrap();
        idle.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        // Answered and kept alive; then closed, since no next request comes.
        let rest = until_closed(&mut idle).await.expect("closed in time");
        assert!(rest.starts_with("HTTP/1.1 200"), "{rest:?}");
        assert!(rest.ends_with("hello"), "{rest:?}");
    }

    #[tokio::test]
    async fn connections_beyond_the_cap_wait_for_a_slot_and_are_then_served() {
        let (addr, _stop) = start(limits()).await;
        // Two silent clients take both slots; the third is served once they are timed out.
        let _a = TcpStream::connect(addr).await.unwrap();
        let _b = TcpStream::connect(addr).await.unwrap();
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let answer = until_closed(&mut c).await.expect("served in time");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
        assert!(answer.ends_with("hello"), "{answer:?}");
    }

    #[tokio::test]
    async fn an_oversized_head_is_answered_431() {
        let (addr, _stop) = start(limits()).await;
        let mut big = TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
            "a".repeat(9000)
        );
        big.write_all(head.as_bytes()).await.unwrap();
        let answer = until_closed(&mut big).await.expect("closed in time");
        assert!(answer.starts_with("HTTP/1.1 431"), "{answer:?}");
    }

    #[tokio::test]
    async fn shutdown_closes_idle_connections_and_the_listener() {
        let limits = HttpLimits {
            header_read_timeout: Duration::from_secs(60),
            ..limits()
        };
        let (addr, stop) = start(limits).await;
        let mut idle = TcpStream::connect(addr).await.unwrap();
        idle.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut first = [0u8; 12];
        idle.read_exact(&mut first).await.unwrap();
        assert_eq!(&first, b"HTTP/1.1 200");
        stop.cancel();
        assert!(
            until_closed(&mut idle).await.is_some(),
            "closed on shutdown"
        );
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(addr).await.is_ok() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "listener still open"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
