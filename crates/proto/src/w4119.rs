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
//! vocabulary, are [`DecodeError::NotInDialect`] here; the W4119 peer core reads them. The
//! bytes are `votechain-w4119`'s codec's: one W4119 codec serves both cores.

use crate::codec::{DecodeError, EncodeError, Message};
use crate::dialect::Dialect;
use crate::envelope::Envelope;
use crate::limits::{MAX_CHAIN_BATCH, MAX_SMALL};
use crate::message::*;
use std::net::SocketAddr;
use votechain_w4119::wire::{self as w4119_wire, W4119Message, WireError};

/// The W4119 wire format of the tracker's messages: `votechain-w4119`'s codec, mapped onto the
/// core's vocabulary.
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
        let message: Message = match w4119_wire::decode(datagram).map_err(decode_error)? {
            W4119Message::RegisterPeer => RegisterPeer::default().into(),
            W4119Message::RequestBallot => RequestBallot {}.into(),
            W4119Message::Poke => Poke::default().into(),
            W4119Message::PokeAck => PokeAck::default().into(),
            W4119Message::LeavePeer => LeavePeer {}.into(),
            W4119Message::RequestChain => RequestChain {
                start: 0,
                count: MAX_CHAIN_BATCH,
            }
            .into(),
            W4119Message::RegisterAck { peer_list } => RegisterAck {
                peer_list: addrs("REGISTER_ACK", &peer_list)?,
                observed: None,
            }
            .into(),
            W4119Message::UpdatePeers { peer_list } => UpdatePeers {
                peer_list: addrs("UPDATE_PEERS", &peer_list)?,
            }
            .into(),
            // W4119's blocks and ballot are not the core's: its own peer core reads them.
            other @ (W4119Message::BallotOptions { .. }
            | W4119Message::NewBlock { .. }
            | W4119Message::ChainBlock { .. }) => {
                return Err(DecodeError::NotInDialect {
                    found: other.type_name().to_owned(),
                    dialect: "w4119",
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
        let strings = |list: &[SocketAddr]| list.iter().map(SocketAddr::to_string).collect();
        let w4119 = match message {
            Message::RegisterPeer(_) => W4119Message::RegisterPeer,
            Message::RegisterAck(m) => W4119Message::RegisterAck {
                peer_list: strings(&m.peer_list),
            },
            Message::UpdatePeers(m) => W4119Message::UpdatePeers {
                peer_list: strings(&m.peer_list),
            },
            Message::RequestBallot(_) => W4119Message::RequestBallot,
            Message::BallotOptions(m) => W4119Message::BallotOptions {
                voting_options: m.voting_options.clone(),
            },
            Message::Poke(_) => W4119Message::Poke,
            Message::PokeAck(_) => W4119Message::PokeAck,
            Message::LeavePeer(_) => W4119Message::LeavePeer,
            Message::RequestChain(_) => W4119Message::RequestChain,
            other => {
                return Err(EncodeError::NotInDialect {
                    msg_type: other.type_name(),
                    dialect: "w4119",
                })
            }
        };
        let bytes = w4119_wire::encode(&w4119);
        let limit = message.size_class().limit();
        if bytes.len() > limit {
            return Err(EncodeError::TooLarge {
                msg_type: message.type_name(),
                len: bytes.len(),
                limit,
            });
        }
        Ok(bytes)
    }

    fn seal(&self, body: &[u8], _envelope: &Envelope) -> Vec<u8> {
        body.to_vec()
    }
}

/// A W4119 peer list's `"ip:port"` strings as addresses.
fn addrs(msg_type: &'static str, list: &[String]) -> Result<Vec<SocketAddr>, DecodeError> {
    list.iter()
        .map(|s| {
            w4119_wire::peer_addr(s).map_err(|_| DecodeError::InvalidValue {
                msg_type,
                field: "peer_list".into(),
                detail: "an entry is not an \"ip:port\" string".into(),
            })
        })
        .collect()
}

/// The codec's error as the core's, by the same stage names.
fn decode_error(error: WireError) -> DecodeError {
    match error {
        WireError::TooLarge { len } => DecodeError::TooLarge { len },
        WireError::NotJson(detail) => DecodeError::NotJson { detail },
        WireError::NotObject => DecodeError::NotObject,
        WireError::NoType => DecodeError::MissingType,
        WireError::UnknownType(found) => DecodeError::UnknownType { found },
        WireError::MissingField(field) => DecodeError::MissingField {
            msg_type: "W4119",
            field: field.to_owned(),
        },
        other => DecodeError::InvalidValue {
            msg_type: "W4119",
            field: String::new(),
            detail: other.to_string(),
        },
    }
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
        let genesis = votechain_w4119::genesis().to_json_string();
        let new_block = format!(r#"{{"type": "NEW_BLOCK", "block": {genesis}}}"#);
        assert_eq!(refused(&new_block), "not_in_dialect");
        assert_eq!(
            refused(r#"{"type": "NEW_BLOCK", "block": {}}"#),
            "invalid_value"
        );
        assert_eq!(refused(r#"{"type": "GOSSIP"}"#), "unknown_type");
        assert_eq!(refused(r#"{"type": 3}"#), "missing_type");
        assert_eq!(refused("[]"), "not_object");
        assert_eq!(refused("{"), "not_json");
        assert_eq!(
            refused(r#"{"type": "UPDATE_PEERS", "peer_list": ["nowhere"]}"#),
            "invalid_value"
        );
        assert_eq!(refused(r#"{"type": "UPDATE_PEERS"}"#), "missing_field");
        let padded = format!(r#"{{"type": "POKE", "pad": "{}"}}"#, "x".repeat(2_000));
        assert_eq!(refused(&padded), "oversized");
    }
}
