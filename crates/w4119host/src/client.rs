//! [`whole_chain_request`]: a bare REQUEST_CHAIN from a fresh loopback socket, and the
//! CHAIN_BLOCKs that come back, for tests of another implementation's peer.

use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::datagram;
use crate::peer::PEER_READ_BYTES;
use crate::socket::{bind_udp, is_transient};

/// Sends `{"type": "REQUEST_CHAIN"}` to `peer` from a fresh `127.0.0.1` socket and collects the
/// CHAIN_BLOCKs `peer` sends back until it holds `total_blocks` of them or `timeout` passes.
/// Returns the `block` values ordered by their CHAIN_BLOCK `index`, and the `total_blocks`
/// announced (0 if none arrived). Datagrams from other addresses and anything that is not a
/// well-formed CHAIN_BLOCK are ignored; a shortfall means lost or missing blocks.
pub fn whole_chain_request(peer: SocketAddr, timeout: Duration) -> io::Result<(Vec<Value>, u64)> {
    let socket = bind_udp(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
    socket.send_to(datagram::bare("REQUEST_CHAIN").as_bytes(), peer)?;
    let deadline = Instant::now() + timeout;
    let mut blocks: BTreeMap<u64, Value> = BTreeMap::new();
    let mut total: u64 = 0;
    let mut buffer = vec![0u8; PEER_READ_BYTES];
    while Instant::now() < deadline && (total == 0 || (blocks.len() as u64) < total) {
        let (length, from) = match socket.recv_from(&mut buffer) {
            Ok(received) => received,
            Err(error) if is_transient(&error) => continue,
            Err(error) => return Err(error),
        };
        if from != peer {
            continue;
        }
        let Ok((kind, mut body)) = datagram::decode(&buffer[..length]) else {
            continue;
        };
        let index = body.get("index").and_then(Value::as_u64);
        let announced = body.get("total_blocks").and_then(Value::as_u64);
        let block = body.get_mut("block").map(Value::take);
        if let ("CHAIN_BLOCK", Some(index), Some(announced), Some(block)) =
            (kind.as_str(), index, announced, block)
        {
            total = announced;
            blocks.insert(index, block);
        }
    }
    Ok((blocks.into_values().collect(), total))
}
