//! A course-style sync client, the baseline of the sync benchmark: it fetches a chain the way the
//! course implementations do, one GET_BLOCK in flight at a time, resending after a timeout.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::block::{block_from_json, Block};
use crate::socket::{any_loopback_port, bind_udp, is_timeout, MAX_DATAGRAM};
use crate::wire::python_dumps;

/// Tries per height before the client gives up (the course's retry limit).
pub const CLIENT_TRIES_PER_HEIGHT: u32 = 20;

/// Fetches heights `0..blocks` from `from`, one GET_BLOCK at a time from one fresh loopback
/// socket, resending a height after `timeout_per_try` without an answer. Only replies from `from`
/// count. Returns the blocks (not validated: the difficulty is the caller's business) and the
/// time taken. Fails with `TimedOut` after [`CLIENT_TRIES_PER_HEIGHT`] unanswered tries of a
/// height, with `NotFound` when `from` answers a height with the null form, or on a socket error.
pub fn sync_stop_and_wait(
    from: SocketAddr,
    blocks: u64,
    timeout_per_try: Duration,
) -> io::Result<(Vec<Block>, Duration)> {
    let socket = bind_udp(any_loopback_port())?;
    let started = Instant::now();
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut chain = Vec::new();
    for height in 0..blocks {
        let request = python_dumps(&json!({"type": "GET_BLOCK", "height": height}));
        let mut found = None;
        for _ in 0..CLIENT_TRIES_PER_HEIGHT {
            socket.send_to(request.as_bytes(), from)?;
            let deadline = Instant::now() + timeout_per_try;
            while let Some(left) = deadline.checked_duration_since(Instant::now()) {
                socket.set_read_timeout(Some(left.max(Duration::from_micros(100))))?;
                let (len, source) = match socket.recv_from(&mut buf) {
                    Ok(received) => received,
                    Err(error) if is_timeout(&error) => continue,
                    Err(error) => return Err(error),
                };
                if source != from {
                    continue;
                }
                let Ok(reply) = serde_json::from_slice::<Value>(&buf[..len]) else {
                    continue;
                };
                if reply.get("type").and_then(Value::as_str) != Some("GET_BLOCK_REPLY") {
                    continue;
                }
                match block_from_json(&reply) {
                    Some(block) if block.height == height => {
                        found = Some(block);
                        break;
                    }
                    // A late answer to an earlier height.
                    Some(_) => {}
                    None => {
                        return Err(io::Error::new(
                            io::ErrorKind::NotFound,
                            format!("{from} has no block at height {height}."),
                        ))
                    }
                }
            }
            if found.is_some() {
                break;
            }
        }
        match found {
            Some(block) => chain.push(block),
            None => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "{from} did not answer GET_BLOCK for height {height} in \
                         {CLIENT_TRIES_PER_HEIGHT} tries."
                    ),
                ))
            }
        }
    }
    Ok((chain, started.elapsed()))
}
