//! Incoming datagrams and outgoing messages. A datagram is decoded into its `type` and its JSON
//! body or a [`DatagramError`]; every message sent is built here as a [`Json`] tree in the key
//! order the W4119 Python code writes, and encoded with [`python_dumps`]. `Counters` records
//! what arrived, per type, and what was dropped.

use std::collections::HashMap;

use serde_json::Value;
use thiserror::Error;

use crate::block::Block;
use crate::wire::{python_dumps, Json};

/// Why a datagram was dropped before its type was known.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DatagramError {
    /// The bytes are not UTF-8.
    #[error("The datagram is not UTF-8.")]
    NotUtf8,
    /// The text is not JSON (a datagram cut at the read limit ends up here too).
    #[error("The datagram is not JSON: {0}.")]
    NotJson(String),
    /// The JSON is not an object.
    #[error("The datagram is not a JSON object.")]
    NotAnObject,
    /// The object has no string `type`.
    #[error("The datagram has no string `type` field.")]
    NoType,
}

/// Decodes a datagram into its `type` and its body.
pub fn decode(bytes: &[u8]) -> Result<(String, Value), DatagramError> {
    let text = std::str::from_utf8(bytes).map_err(|_| DatagramError::NotUtf8)?;
    let value: Value =
        serde_json::from_str(text).map_err(|error| DatagramError::NotJson(error.to_string()))?;
    if !value.is_object() {
        return Err(DatagramError::NotAnObject);
    }
    let kind = value
        .get("type")
        .and_then(Value::as_str)
        .ok_or(DatagramError::NoType)?
        .to_owned();
    Ok((kind, value))
}

/// The most distinct `type` strings counted separately; later ones count under [`OTHER_TYPES`].
const MAX_COUNTED_TYPES: usize = 128;

/// The key under which types are counted once 128 distinct ones have been seen.
pub const OTHER_TYPES: &str = "";

/// What a tracker or a peer received and dropped.
#[derive(Debug, Default, Clone)]
pub(crate) struct Counters {
    /// Datagrams per `type`, known or not.
    received: HashMap<String, u64>,
    /// Datagrams dropped before their type was known.
    undecodable: u64,
}

impl Counters {
    /// Counts one datagram of type `kind`.
    pub(crate) fn count(&mut self, kind: &str) {
        if let Some(count) = self.received.get_mut(kind) {
            *count += 1;
        } else if self.received.len() < MAX_COUNTED_TYPES {
            self.received.insert(kind.to_owned(), 1);
        } else {
            *self.received.entry(OTHER_TYPES.to_owned()).or_default() += 1;
        }
    }

    /// Counts one datagram that could not be decoded.
    pub(crate) fn count_undecodable(&mut self) {
        self.undecodable += 1;
    }

    /// Datagrams of type `kind` received so far.
    pub(crate) fn received(&self, kind: &str) -> u64 {
        self.received.get(kind).copied().unwrap_or(0)
    }

    /// Datagrams dropped as undecodable so far.
    pub(crate) fn undecodable(&self) -> u64 {
        self.undecodable
    }
}

/// A message with only a `type`: REGISTER_PEER, REQUEST_BALLOT, REQUEST_CHAIN, POKE, POKE-ACK,
/// LEAVE_PEER.
pub fn bare(kind: &str) -> String {
    python_dumps(&Json::object([("type", Json::string(kind))]), false)
}

/// REGISTER_ACK or UPDATE_PEERS carrying `peers` as `"ip:port"` strings.
pub fn peer_list(kind: &str, peers: &[String]) -> String {
    let listed = Json::Array(
        peers
            .iter()
            .map(|peer| Json::string(peer.clone()))
            .collect(),
    );
    python_dumps(
        &Json::object([("type", Json::string(kind)), ("peer_list", listed)]),
        false,
    )
}

/// BALLOT_OPTIONS carrying the tracker's options.
pub fn ballot_options(options: &[String]) -> String {
    let listed = Json::Array(
        options
            .iter()
            .map(|option| Json::string(option.clone()))
            .collect(),
    );
    python_dumps(
        &Json::object([
            ("type", Json::string("BALLOT_OPTIONS")),
            ("voting_options", listed),
        ]),
        false,
    )
}

/// NEW_BLOCK carrying `block`.
pub fn new_block(block: &Block) -> String {
    python_dumps(
        &Json::object([
            ("type", Json::string("NEW_BLOCK")),
            ("block", block.to_json()),
        ]),
        false,
    )
}

/// CHAIN_BLOCK carrying the block at `index` of a chain of `total_blocks`.
pub fn chain_block(index: usize, block: &Block, total_blocks: usize) -> String {
    python_dumps(
        &Json::object([
            ("type", Json::string("CHAIN_BLOCK")),
            ("index", Json::int(index as u64)),
            ("block", block.to_json()),
            ("total_blocks", Json::int(total_blocks as u64)),
        ]),
        false,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_byte_exact() {
        assert_eq!(bare("REGISTER_PEER"), r#"{"type": "REGISTER_PEER"}"#);
        assert_eq!(bare("POKE-ACK"), r#"{"type": "POKE-ACK"}"#);
        assert_eq!(
            peer_list(
                "REGISTER_ACK",
                &["127.0.0.1:8071".to_owned(), "127.0.0.1:8081".to_owned()]
            ),
            r#"{"type": "REGISTER_ACK", "peer_list": ["127.0.0.1:8071", "127.0.0.1:8081"]}"#
        );
        assert_eq!(
            ballot_options(&["Adam".to_owned(), "Bob".to_owned(), "Catherine".to_owned()]),
            r#"{"type": "BALLOT_OPTIONS", "voting_options": ["Adam", "Bob", "Catherine"]}"#
        );
        let genesis = Block::genesis();
        assert_eq!(
            chain_block(0, &genesis, 9),
            format!(
                r#"{{"type": "CHAIN_BLOCK", "index": 0, "block": {{"index": 0, "transactions": [], "timestamp": "2000-01-01 00:00:00", "previous_hash": "0", "nonce": 0, "hash": "{}"}}, "total_blocks": 9}}"#,
                genesis.hash
            )
        );
        assert!(new_block(&genesis).starts_with(r#"{"type": "NEW_BLOCK", "block": {"index": 0, "#));
    }

    #[test]
    fn bad_datagrams_are_typed_errors() {
        assert_eq!(decode(b"\xff"), Err(DatagramError::NotUtf8));
        assert!(matches!(
            decode(b"{\"type\": "),
            Err(DatagramError::NotJson(_))
        ));
        assert_eq!(decode(b"[1]"), Err(DatagramError::NotAnObject));
        assert_eq!(decode(b"{}"), Err(DatagramError::NoType));
        assert_eq!(decode(br#"{"type": 5}"#), Err(DatagramError::NoType));
        let (kind, body) = decode(br#"{"type": "POKE", "extra": 1}"#).expect("decodes");
        assert_eq!(kind, "POKE");
        assert_eq!(body["extra"], 1);
    }

    #[test]
    fn counters_are_bounded() {
        let mut counters = Counters::default();
        for n in 0..(MAX_COUNTED_TYPES + 10) {
            counters.count(&format!("T{n}"));
        }
        counters.count("T0");
        assert_eq!(counters.received("T0"), 2);
        assert_eq!(counters.received(OTHER_TYPES), 10);
        counters.count_undecodable();
        assert_eq!(counters.undecodable(), 1);
    }
}
