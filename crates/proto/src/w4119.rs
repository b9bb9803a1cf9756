//! The W4119 voting chain's tracker conversation as a [`Dialect`] (PROTOCOL.md, "Profile w4119"):
//! what our tracker core reads from and writes to W4119 peers, byte for byte as their Python
//! writes it (`json.dumps` with its default `", "` and `": "` separators and ASCII escapes).
//!
//! W4119 datagrams carry no address cookies and their peers cannot echo any, so the dialect has
//! none ([`Dialect::address_cookies`] is false): POKE goes out without a nonce and POKE-ACK comes
//! back as exactly `{"type": "POKE-ACK"}`; REGISTER_PEER carries no name or election; the ballot
//! is only `voting_options`. What the tracker may then send to whom is its own rule
//! (SECURITY.md, "Profile w4119").
//!
//! W4119 blocks share nothing with ours (their own hash rule, unsigned votes), so NEW_BLOCK,
//! CHAIN_BLOCK and BALLOT_OPTIONS, which carry native blocks or the native ballot in the core's
//! vocabulary, are [`DecodeError::NotInDialect`] here: the W4119 peer has a codec of its own
//! (`votechain-w4119`).

use crate::codec::{parse_object, DecodeError, EncodeError, Message};
use crate::dialect::Dialect;
use crate::envelope::Envelope;
use crate::limits::{MAX_CHAIN_BATCH, MAX_SMALL};
use crate::message::*;
use serde_json::Value;
use std::fmt::Write as _;
use std::net::SocketAddr;

/// The W4119 wire format of the tracker's messages.
#[derive(Debug, Clone, Copy, Default)]
pub struct W4119;

impl Dialect for W4119 {
    fn name(&self) -> &'static str {
        "w4119"
    }

    fn address_cookies(&self) -> bool {
        false
    }

    fn decode(&self, datagram: &[u8]) -> Result<(Message, Envelope), DecodeError> {
        let (ty, object) = parse_object(datagram)?;
        let message: Message = match ty.as_str() {
            "REGISTER_PEER" => RegisterPeer::default().into(),
            "REQUEST_BALLOT" => RequestBallot {}.into(),
            "POKE" => Poke::default().into(),
            // Their design document spells it with an underscore; the wire has a hyphen.
            "POKE-ACK" | "POKE_ACK" => PokeAck::default().into(),
            "LEAVE_PEER" => LeavePeer {}.into(),
            "REQUEST_CHAIN" => RequestChain {
                start: 0,
                count: MAX_CHAIN_BATCH,
            }
            .into(),
            "REGISTER_ACK" => RegisterAck {
                peer_list: peer_list("REGISTER_ACK", &object)?,
                observed: None,
            }
            .into(),
            "UPDATE_PEERS" => UpdatePeers {
                peer_list: peer_list("UPDATE_PEERS", &object)?,
            }
            .into(),
            "BALLOT_OPTIONS" | "NEW_BLOCK" | "CHAIN_BLOCK" => {
                return Err(DecodeError::NotInDialect {
                    found: ty,
                    dialect: "w4119",
                })
            }
            _ => {
                return Err(DecodeError::UnknownType {
                    found: ty.chars().take(32).collect(),
                })
            }
        };
        // Every message this dialect reads is small: no peer of theirs sends a bigger one.
        if datagram.len() > MAX_SMALL {
            return Err(DecodeError::Oversized {
                msg_type: message.type_name(),
                len: datagram.len(),
                limit: MAX_SMALL,
            });
        }
        Ok((message, Envelope::default()))
    }

    fn encode(&self, message: &Message) -> Result<Vec<u8>, EncodeError> {
        let mut out = String::from("{\"type\": ");
        let (wire, list): (&str, Option<(&str, Vec<String>)>) = match message {
            Message::RegisterPeer(_) => ("REGISTER_PEER", None),
            Message::RegisterAck(m) => ("REGISTER_ACK", Some(("peer_list", addrs(&m.peer_list)))),
            Message::UpdatePeers(m) => ("UPDATE_PEERS", Some(("peer_list", addrs(&m.peer_list)))),
            Message::RequestBallot(_) => ("REQUEST_BALLOT", None),
            Message::BallotOptions(m) => (
                "BALLOT_OPTIONS",
                Some(("voting_options", m.voting_options.clone())),
            ),
            Message::Poke(_) => ("POKE", None),
            Message::PokeAck(_) => ("POKE-ACK", None),
            Message::LeavePeer(_) => ("LEAVE_PEER", None),
            Message::RequestChain(_) => ("REQUEST_CHAIN", None),
            other => {
                return Err(EncodeError::NotInDialect {
                    msg_type: other.type_name(),
                    dialect: "w4119",
                })
            }
        };
        push_py_str(&mut out, wire);
        if let Some((key, items)) = list {
            out.push_str(", ");
            push_py_str(&mut out, key);
            out.push_str(": [");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                push_py_str(&mut out, item);
            }
            out.push(']');
        }
        out.push('}');
        let limit = message.size_class().limit();
        if out.len() > limit {
            return Err(EncodeError::TooLarge {
                msg_type: message.type_name(),
                len: out.len(),
                limit,
            });
        }
        Ok(out.into_bytes())
    }

    fn seal(&self, body: &[u8], _envelope: &Envelope) -> Vec<u8> {
        body.to_vec()
    }
}

/// Peer addresses as W4119 writes them, `"ip:port"`.
fn addrs(list: &[SocketAddr]) -> Vec<String> {
    list.iter().map(SocketAddr::to_string).collect()
}

/// The `peer_list` of a REGISTER_ACK or UPDATE_PEERS: strings, each an `ip:port`.
fn peer_list(
    msg_type: &'static str,
    object: &serde_json::Map<String, Value>,
) -> Result<Vec<SocketAddr>, DecodeError> {
    let field = || "peer_list".to_owned();
    let Some(value) = object.get("peer_list") else {
        return Err(DecodeError::MissingField {
            msg_type,
            field: field(),
        });
    };
    let Value::Array(items) = value else {
        return Err(DecodeError::WrongType {
            msg_type,
            field: field(),
            detail: "expected a list of \"ip:port\" strings".into(),
        });
    };
    items
        .iter()
        .map(|item| {
            item.as_str()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| DecodeError::InvalidValue {
                    msg_type,
                    field: field(),
                    detail: "an entry is not an \"ip:port\" string".into(),
                })
        })
        .collect()
}

/// Appends `s` as Python's `json.dumps` writes a string by default (`ensure_ascii`): `"` and
/// `\` escaped, `\n \r \t \b \f` short, other control characters and every non-ASCII character
/// (DEL included: Python keeps only `' '..='~'`) as `\uXXXX` in lower-case hex (UTF-16, so
/// beyond the BMP as a surrogate pair).
pub fn push_py_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(message: Message) -> String {
        String::from_utf8(W4119.encode(&message).unwrap()).unwrap()
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn encodes_exactly_as_their_python_does() {
        assert_eq!(
            enc(RegisterPeer::default().into()),
            r#"{"type": "REGISTER_PEER"}"#
        );
        assert_eq!(
            enc(RegisterAck {
                peer_list: vec![addr("127.0.0.1:8071"), addr("127.0.0.1:8081")],
                observed: Some(addr("127.0.0.1:8081")),
            }
            .into()),
            r#"{"type": "REGISTER_ACK", "peer_list": ["127.0.0.1:8071", "127.0.0.1:8081"]}"#
        );
        assert_eq!(
            enc(UpdatePeers { peer_list: vec![] }.into()),
            r#"{"type": "UPDATE_PEERS", "peer_list": []}"#
        );
        assert_eq!(enc(Poke { nonce: Some(7) }.into()), r#"{"type": "POKE"}"#);
        assert_eq!(enc(PokeAck::default().into()), r#"{"type": "POKE-ACK"}"#);
        assert_eq!(enc(LeavePeer {}.into()), r#"{"type": "LEAVE_PEER"}"#);
        assert_eq!(
            enc(RequestBallot {}.into()),
            r#"{"type": "REQUEST_BALLOT"}"#
        );
        let ballot = votechain_chain::Ballot::open("T", &["Adam", "Bob", "Catherine"], 8);
        assert_eq!(
            enc(BallotOptions::new(&ballot, votechain_chain::Hash::ZERO).into()),
            r#"{"type": "BALLOT_OPTIONS", "voting_options": ["Adam", "Bob", "Catherine"]}"#
        );
        assert!(matches!(
            W4119.encode(&Stats {}.into()),
            Err(EncodeError::NotInDialect { .. })
        ));
    }

    #[test]
    fn strings_are_escaped_as_json_dumps_does() {
        // python3 -c 'import json; print(json.dumps("é中😀\x01\"\\\x7f\n\t\x08\x0c"))'
        let mut out = String::new();
        push_py_str(&mut out, "é中😀\u{1}\"\\\u{7f}\n\t\u{8}\u{c}");
        assert_eq!(out, r#""\u00e9\u4e2d\ud83d\ude00\u0001\"\\\u007f\n\t\b\f""#);
    }

    #[test]
    fn decodes_their_datagrams_and_ignores_extra_keys() {
        let cases: [(&str, Message); 6] = [
            (
                r#"{"type": "REGISTER_PEER"}"#,
                RegisterPeer::default().into(),
            ),
            (
                r#"{"type":"REGISTER_PEER","name":"x","election":"00"}"#,
                RegisterPeer::default().into(),
            ),
            (r#"{"type": "POKE-ACK"}"#, PokeAck::default().into()),
            (
                r#"{"type": "POKE_ACK", "nonce": 5}"#,
                PokeAck::default().into(),
            ),
            (r#"{"type": "LEAVE_PEER"}"#, LeavePeer {}.into()),
            (
                r#"{"type": "UPDATE_PEERS", "peer_list": ["127.0.0.1:1"]}"#,
                UpdatePeers {
                    peer_list: vec![addr("127.0.0.1:1")],
                }
                .into(),
            ),
        ];
        for (text, want) in cases {
            let (got, envelope) = W4119.decode(text.as_bytes()).unwrap();
            assert_eq!(got, want, "{text}");
            assert_eq!(envelope, Envelope::default());
        }
    }

    #[test]
    fn refuses_what_it_cannot_map_with_typed_errors() {
        let refused = |text: &str| W4119.decode(text.as_bytes()).unwrap_err().kind();
        assert_eq!(
            refused(r#"{"type": "NEW_BLOCK", "block": {}}"#),
            "not_in_dialect"
        );
        assert_eq!(refused(r#"{"type": "GOSSIP"}"#), "unknown_type");
        assert_eq!(refused(r#"{"type": 3}"#), "type_not_string");
        assert_eq!(refused("[]"), "not_object");
        assert_eq!(refused(""), "empty");
        assert_eq!(
            refused(r#"{"type": "UPDATE_PEERS", "peer_list": ["nowhere"]}"#),
            "invalid_value"
        );
        assert_eq!(refused(r#"{"type": "UPDATE_PEERS"}"#), "missing_field");
        let padded = format!(r#"{{"type": "POKE", "pad": "{}"}}"#, "x".repeat(2_000));
        assert_eq!(refused(&padded), "oversized");
    }
}
