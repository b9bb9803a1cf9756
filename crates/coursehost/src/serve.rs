//! The listening thread of a course host: reads each datagram, counts it, and answers it the way
//! the course specification says, from the listening port. Nothing a datagram holds can panic
//! it: every field is read with a check, and a datagram missing one is counted and dropped.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;

use serde_json::{json, Value};

use crate::block::{block_from_json, block_to_json, null_block_reply};
use crate::host::{lock, Reply, Shared};
use crate::socket::{is_timeout, MAX_DATAGRAM};

/// How many peers an unseen GOSSIP is forwarded to.
const GOSSIP_FANOUT: usize = 3;
/// Past this many remembered GOSSIP ids the memory is cleared (an old id may then be answered
/// again, which the protocol tolerates).
const MAX_SEEN_GOSSIP: usize = 100_000;

/// Reads and handles datagrams until shutdown.
pub(crate) fn listen(shared: &Shared) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    while !shared.shutdown.load(Ordering::SeqCst) {
        match shared.socket.recv_from(&mut buf) {
            Ok((len, from)) => handle_datagram(shared, &buf[..len], from),
            Err(error) if is_timeout(&error) => {}
            // Other errors concern one datagram (for example an ICMP report); keep listening.
            Err(_) => {}
        }
    }
}

/// Handles one datagram from `from`.
pub(crate) fn handle_datagram(shared: &Shared, bytes: &[u8], from: SocketAddr) {
    let Ok(message) = serde_json::from_slice::<Value>(bytes) else {
        shared.malformed.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let Some(ty) = message.get("type").and_then(Value::as_str) else {
        shared.malformed.fetch_add(1, Ordering::Relaxed);
        return;
    };
    shared.count(ty);
    let handled = match ty {
        "GOSSIP" => handle_gossip(shared, &message, from),
        "GOSSIP_REPLY" => handle_gossip_reply(shared, &message),
        "STATS" => {
            handle_stats(shared, from);
            true
        }
        "GET_BLOCK" => handle_get_block(shared, &message, from),
        "ANNOUNCE" => handle_announce(shared, &message),
        "NEW_WORD" => handle_new_word(shared, &message),
        "CONSENSUS" => {
            // Already running or queued: this request is covered by that run.
            let _ = shared.triggers.try_send(None);
            true
        }
        "STATS_REPLY" | "GET_BLOCK_REPLY" => {
            // For the consensus worker; dropped if nobody is collecting and the queue is full.
            let _ = shared.replies.try_send(Reply {
                from,
                body: message,
            });
            true
        }
        _ => {
            shared.unknown_types.fetch_add(1, Ordering::Relaxed);
            true
        }
    };
    if !handled {
        shared.malformed.fetch_add(1, Ordering::Relaxed);
    }
}

/// The address `host`/`port` fields of a message name, if they are an IP literal (or
/// `localhost`) and a port. Other host names are not resolved: a datagram must not make the host
/// wait for DNS.
fn named_address(message: &Value) -> Option<SocketAddr> {
    let ip: IpAddr = match message.get("host")?.as_str()? {
        "localhost" => IpAddr::from([127, 0, 0, 1]),
        literal => literal.parse().ok()?,
    };
    let port = u16::try_from(message.get("port")?.as_u64()?).ok()?;
    Some(SocketAddr::new(ip, port))
}

/// GOSSIP: an unseen id makes its originator (the host/port inside it, not the datagram's
/// source) a known peer, gets a GOSSIP_REPLY sent there, and is forwarded to up to 3 other known
/// peers. Returns false when a field is missing.
fn handle_gossip(shared: &Shared, message: &Value, from: SocketAddr) -> bool {
    let Some(id) = message.get("id").and_then(Value::as_str) else {
        return false;
    };
    let Some(originator) = named_address(message) else {
        return false;
    };
    {
        let mut seen = lock(&shared.seen_gossip);
        if seen.contains(id) {
            return true;
        }
        if seen.len() >= MAX_SEEN_GOSSIP {
            seen.clear();
        }
        seen.insert(id.to_owned());
    }
    if originator == shared.addr {
        return true;
    }
    shared.add_peer(originator);
    let reply = json!({
        "type": "GOSSIP_REPLY",
        "host": shared.addr.ip().to_string(),
        "port": shared.addr.port(),
        "name": shared.name,
    });
    shared.send(originator, &reply);
    let others: Vec<SocketAddr> = lock(&shared.peers)
        .iter()
        .copied()
        .filter(|peer| *peer != originator && *peer != from)
        .collect();
    if !others.is_empty() {
        let start = shared.forward_cursor.fetch_add(1, Ordering::Relaxed);
        for offset in 0..GOSSIP_FANOUT.min(others.len()) {
            let peer = others[(start + offset) % others.len()];
            shared.send_request(peer, message);
        }
    }
    true
}

/// GOSSIP_REPLY: the host/port inside it becomes a known peer.
fn handle_gossip_reply(shared: &Shared, message: &Value) -> bool {
    match named_address(message) {
        Some(peer) => {
            shared.add_peer(peer);
            true
        }
        None => false,
    }
}

/// STATS: STATS_REPLY with the number of blocks and the top hash (both null for an empty chain),
/// or the configured lie.
fn handle_stats(shared: &Shared, from: SocketAddr) {
    let reply = match &shared.lie {
        Some((height, hash)) => json!({"type": "STATS_REPLY", "height": height, "hash": hash}),
        None => {
            let chain = lock(&shared.chain);
            match chain.last() {
                Some(top) => json!({
                    "type": "STATS_REPLY",
                    "height": chain.len(),
                    "hash": top.hash,
                }),
                None => json!({"type": "STATS_REPLY", "height": null, "hash": null}),
            }
        }
    };
    shared.send(from, &reply);
}

/// GET_BLOCK: the flat GET_BLOCK_REPLY for the block at `height`, or the all-null form for a
/// height it does not have. Returns false (no reply) when `height` is missing or not a
/// non-negative integer.
fn handle_get_block(shared: &Shared, message: &Value, from: SocketAddr) -> bool {
    let Some(height) = message.get("height").and_then(Value::as_u64) else {
        return false;
    };
    let reply = {
        let chain = lock(&shared.chain);
        usize::try_from(height)
            .ok()
            .and_then(|index| chain.get(index))
            .map_or_else(null_block_reply, |block| {
                block_to_json(block, "GET_BLOCK_REPLY")
            })
    };
    shared.send(from, &reply);
    true
}

/// ANNOUNCE: appended if it is the next block and valid by this host's rules, else ignored.
fn handle_announce(shared: &Shared, message: &Value) -> bool {
    let Some(block) = block_from_json(message) else {
        return false;
    };
    if shared.append_if_valid(&block) {
        shared.accepted_announces.fetch_add(1, Ordering::Relaxed);
    }
    true
}

/// NEW_WORD: the word is kept (this host does not mine).
fn handle_new_word(shared: &Shared, message: &Value) -> bool {
    match message.get("word").and_then(Value::as_str) {
        Some(word) => {
            shared.add_word(word);
            true
        }
        None => false,
    }
}
