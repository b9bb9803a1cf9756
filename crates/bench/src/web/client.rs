//! The few lines of HTTP/1.1 `bench web` speaks, over tokio's `TcpStream`: one-off `GET`s
//! (page weight), a keep-alive connection that sends one request after another (the API load),
//! and an event stream read event by event. Responses are read by their `Content-Length` or
//! their chunks; nothing else of HTTP is needed against our own server.

use anyhow::{bail, ensure, Context as _};
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One response: its status, its `Content-Type` (empty when none) and its body.
#[derive(Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The `Content-Type` header's value.
    pub content_type: String,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

/// A connection kept alive between requests.
pub struct Connection {
    stream: TcpStream,
    /// Bytes read and not yet used.
    buf: Vec<u8>,
}

impl Connection {
    /// Connects to `addr`.
    pub async fn open(addr: SocketAddr) -> anyhow::Result<Connection> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        Ok(Connection {
            stream,
            buf: Vec::with_capacity(8192),
        })
    }

    /// `GET path` on this connection, and its whole response.
    pub async fn get(&mut self, path: &str) -> anyhow::Result<Response> {
        self.send_get(path).await?;
        self.response().await
    }

    /// Sends `GET path` without waiting for the answer.
    pub async fn send_get(&mut self, path: &str) -> anyhow::Result<()> {
        let request = format!("GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n");
        self.stream.write_all(request.as_bytes()).await?;
        Ok(())
    }

    /// Reads more bytes into the buffer; an error at the end of the stream.
    async fn fill(&mut self) -> anyhow::Result<()> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk).await?;
        ensure!(n > 0, "the server closed the connection");
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    /// Reads until `needle` is in the buffer; the bytes up to and including it, removed.
    pub async fn read_through(&mut self, needle: &[u8]) -> anyhow::Result<Vec<u8>> {
        loop {
            if let Some(at) = find(&self.buf, needle) {
                let rest = self.buf.split_off(at + needle.len());
                return Ok(std::mem::replace(&mut self.buf, rest));
            }
            self.fill().await?;
        }
    }

    async fn read_exact(&mut self, n: usize) -> anyhow::Result<Vec<u8>> {
        while self.buf.len() < n {
            self.fill().await?;
        }
        let rest = self.buf.split_off(n);
        Ok(std::mem::replace(&mut self.buf, rest))
    }

    /// Reads a response's head; its status, content type and how its body is framed.
    pub async fn head(&mut self) -> anyhow::Result<(u16, String, Framing)> {
        let head = self.read_through(b"\r\n\r\n").await?;
        let head = String::from_utf8_lossy(&head);
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .context("a response without a status line")?;
        let mut content_type = String::new();
        let mut framing = Framing::UntilClose;
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match name.to_ascii_lowercase().as_str() {
                "content-length" => framing = Framing::Length(value.parse()?),
                "transfer-encoding" if value.eq_ignore_ascii_case("chunked") => {
                    framing = Framing::Chunked
                }
                "content-type" => content_type = value.to_owned(),
                _ => {}
            }
        }
        Ok((status, content_type, framing))
    }

    /// Reads one whole response.
    pub async fn response(&mut self) -> anyhow::Result<Response> {
        let (status, content_type, framing) = self.head().await?;
        let body = match framing {
            Framing::Length(n) => self.read_exact(n).await?,
            Framing::Chunked => {
                let mut body = Vec::new();
                loop {
                    let size = self.read_through(b"\r\n").await?;
                    let size = String::from_utf8_lossy(&size);
                    let size = size.trim().split(';').next().unwrap_or("");
                    let size = usize::from_str_radix(size, 16)
                        .with_context(|| format!("a bad chunk size {size:?}"))?;
                    let chunk = self.read_exact(size + 2).await?;
                    if size == 0 {
                        break;
                    }
                    body.extend_from_slice(&chunk[..size]);
                }
                body
            }
            Framing::UntilClose => {
                let mut body = std::mem::take(&mut self.buf);
                self.stream.read_to_end(&mut body).await?;
                body
            }
        };
        Ok(Response {
            status,
            content_type,
            body,
        })
    }
}

/// How a response's body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// After this many bytes.
    Length(usize),
    /// With a chunk of size 0.
    Chunked,
    /// When the server closes.
    UntilClose,
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `GET path` on a fresh connection.
pub async fn get(addr: SocketAddr, path: &str) -> anyhow::Result<Response> {
    Connection::open(addr).await?.get(path).await
}

/// An open `GET /api/events` stream.
pub struct Events {
    connection: Connection,
}

impl Events {
    /// Opens the stream and reads its head (the server subscribes before it answers).
    pub async fn open(addr: SocketAddr) -> anyhow::Result<Events> {
        let mut connection = Connection::open(addr).await?;
        connection.send_get("/api/events").await?;
        let (status, content_type, _) = connection.head().await?;
        if status != 200 || !content_type.starts_with("text/event-stream") {
            bail!("GET /api/events answered {status} with {content_type:?}");
        }
        Ok(Events { connection })
    }

    /// The next event's text (its lines, chunk framing included: only searched in).
    pub async fn next(&mut self) -> anyhow::Result<String> {
        let bytes = self.connection.read_through(b"\n\n").await?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}
