//! One mining connection: a reader task that frames lines, hands them to the pool and enforces
//! the handshake, line and idle timeouts, and a writer task that writes the connection's queue
//! of lines in batches. The connection's close token ends both at once (slow reader, timeout,
//! write error, shutdown); a connection that ends gracefully (the miner closed, or an oversized
//! line was answered) first lets the writer send what is queued, for at most `line_timeout`.

use super::framing::LineFramer;
use super::shared::Shared;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use votechain_pool::{wire, ConnId};

/// Bytes asked of the socket per read: a few lines, and never more than the cap in one piece.
const READ_CHUNK: usize = 8 * 1024;

/// Bytes of queued lines written with one call, so a burst of notifies is one segment.
const WRITE_BATCH: usize = 64 * 1024;

/// Bytes of input read and thrown away after an oversized line, while its error is written.
const DRAIN_LIMIT: usize = 64 * 1024;

/// Why reading ended.
enum End {
    /// Closed by its token (slow reader, shutdown, write error) or a read error: at once.
    Closed,
    /// A timeout fired: at once.
    TimedOut,
    /// The miner closed its side: what is queued is still written.
    Eof,
    /// A line over the cap was answered: the error is written, the rest of the input dropped.
    Oversized,
}

/// Serves connection `conn` until it closes: spawns its writer, reads, then cleans up.
pub(super) async fn serve(
    shared: Arc<Shared>,
    tasks: TaskTracker,
    stream: TcpStream,
    conn: ConnId,
    lines: mpsc::Receiver<String>,
    close: CancellationToken,
) {
    let (mut read, write) = stream.into_split();
    let writer = tasks.spawn(write_lines(
        shared.clone(),
        conn,
        write,
        lines,
        close.clone(),
    ));
    let end = read_lines(&shared, conn, &mut read, &close).await;
    if matches!(end, End::Eof | End::Oversized) {
        // Dropping the queue's last sender lets the writer finish what is queued and close its
        // side; wait for that, throwing away input so the close is not a reset.
        shared.lock().close(conn);
        let grace = shared.config.line_timeout;
        tokio::select! {
            _ = writer => {}
            () = drain(&mut read, matches!(end, End::Oversized)) => {}
            () = tokio::time::sleep(grace) => {}
            () = close.cancelled() => {}
        }
    }
    close.cancel();
    shared.lock().close(conn);
}

/// Reads and throws away input until end of stream or [`DRAIN_LIMIT`] bytes; without
/// `discard` (the miner already closed its side), waits forever.
async fn drain(read: &mut OwnedReadHalf, discard: bool) {
    if !discard {
        return std::future::pending().await;
    }
    let mut sink = vec![0u8; READ_CHUNK];
    let mut total = 0;
    while total < DRAIN_LIMIT {
        match read.read(&mut sink).await {
            Ok(0) | Err(_) => break,
            Ok(n) => total += n,
        }
    }
    // Past the limit, stop reading and let the grace period end it.
    std::future::pending().await
}

/// Reads lines and hands them to the pool until the connection ends.
async fn read_lines(
    shared: &Shared,
    conn: ConnId,
    read: &mut OwnedReadHalf,
    close: &CancellationToken,
) -> End {
    let config = &shared.config;
    let opened = Instant::now();
    let mut authorized = false;
    let mut last_line = opened;
    let mut line_started: Option<Instant> = None;
    let mut framer = LineFramer::new(wire::MAX_LINE);
    let mut chunk = vec![0u8; READ_CHUNK];
    loop {
        let session_deadline = if authorized {
            last_line + config.idle_timeout
        } else {
            opened + config.handshake_timeout
        };
        let line_deadline = line_started.map(|t| t + config.line_timeout);
        let deadline = line_deadline.map_or(session_deadline, |l| l.min(session_deadline));
        let read_result = tokio::select! {
            biased;
            () = close.cancelled() => return End::Closed,
            () = tokio::time::sleep_until(deadline) => {
                let line_late = line_deadline.is_some_and(|l| l <= session_deadline);
                // A miner without a job has nothing to say: silence counts only while the
                // pool has work (no votes pending can last hours).
                if authorized && !line_late && !shared.lock().has_work() {
                    last_line = Instant::now();
                    continue;
                }
                let what = if line_late {
                    format!("a line did not end within {}", seconds(config.line_timeout))
                } else if authorized {
                    format!("it sent nothing for {}", seconds(config.idle_timeout))
                } else {
                    format!(
                        "it did not subscribe and authorize within {}",
                        seconds(config.handshake_timeout)
                    )
                };
                shared.lock().timed_out(shared.now_ms(), conn, &what);
                return End::TimedOut;
            }
            read_result = read.read(&mut chunk) => read_result,
        };
        let n = match read_result {
            Ok(0) => return End::Eof,
            Ok(n) => n,
            Err(e) => {
                shared.debug_limited(
                    "mining read failed",
                    &format!("Reading from mining connection {conn} failed: {e}."),
                );
                return End::Closed;
            }
        };
        let now = Instant::now();
        let fed = handle_bytes(shared, conn, &mut framer, &chunk[..n], &mut authorized);
        let Some(got_lines) = fed else {
            shared.lock().oversized(shared.now_ms(), conn);
            return End::Oversized;
        };
        if got_lines {
            last_line = now;
        }
        line_started = match (framer.is_mid_line(), got_lines) {
            (false, _) => None,
            // A line ended in this read, so the unfinished one started in it too.
            (true, true) => Some(now),
            (true, false) => line_started.or(Some(now)),
        };
    }
}

/// Frames `bytes` and hands every finished line to the pool, under one lock for the read.
/// `Some(any line finished)`, or `None` for an oversized line. Sets `authorized` (and logs it)
/// when the connection's miner authorized.
fn handle_bytes(
    shared: &Shared,
    conn: ConnId,
    framer: &mut LineFramer,
    bytes: &[u8],
    authorized: &mut bool,
) -> Option<bool> {
    let now_ms = shared.now_ms();
    let mut core = None;
    let fed = framer.feed(bytes, |line| {
        let core = core.get_or_insert_with(|| shared.lock());
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        core.handle_line(now_ms, conn, line);
    });
    let got_lines = core.is_some();
    if let Some(core) = &core {
        if !*authorized {
            if let Some(name) = core.authorized_name(conn) {
                *authorized = true;
                tracing::debug!("Miner {name} authorized on mining connection {conn}.");
            }
        }
    }
    fed.ok().map(|()| got_lines)
}

/// Writes the queued lines, in batches, until the queue's senders are gone (then closes its
/// side) or the close token fires. A write that makes no progress for `line_timeout` marks a
/// slow reader; a failed write closes the connection.
async fn write_lines(
    shared: Arc<Shared>,
    conn: ConnId,
    mut write: OwnedWriteHalf,
    mut lines: mpsc::Receiver<String>,
    close: CancellationToken,
) {
    let timeout = shared.config.line_timeout;
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    loop {
        let first = tokio::select! {
            biased;
            () = close.cancelled() => return,
            line = lines.recv() => line,
        };
        let Some(first) = first else {
            let _ = tokio::time::timeout(timeout, write.shutdown()).await;
            return;
        };
        batch.clear();
        batch.extend_from_slice(first.as_bytes());
        batch.push(b'\n');
        while batch.len() < WRITE_BATCH {
            let Ok(line) = lines.try_recv() else { break };
            batch.extend_from_slice(line.as_bytes());
            batch.push(b'\n');
        }
        let written = tokio::select! {
            biased;
            () = close.cancelled() => return,
            written = tokio::time::timeout(timeout, write.write_all(&batch)) => written,
        };
        match written {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                shared.debug_limited(
                    "mining write failed",
                    &format!("Writing to mining connection {conn} failed: {e}."),
                );
                close.cancel();
                return;
            }
            Err(_) => {
                shared.lock().drop_slow(shared.now_ms(), conn);
                close.cancel();
                return;
            }
        }
    }
}

/// A duration for a log sentence: "10 s", "200 ms".
fn seconds(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}
