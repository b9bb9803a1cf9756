//! The codec against the exact datagrams of the reference (PROTOCOL.md's seed A table), every
//! message's round trip, tolerance (order, whitespace, extra keys, `POKE_ACK`), every typed
//! error, peer addresses, and arbitrary or mutated bytes (proptest).

use super::*;
use crate::block::tests::mined;
use crate::block::{genesis, Transaction};
use crate::limits::{CHAIN_BLOCK_OVERHEAD, MAX_BLOCK_JSON_BYTES};
use proptest::prelude::*;

fn one_vote() -> W4119Block {
    mined(&genesis(), &[("alice", "Adam")])
}

fn all_messages() -> Vec<W4119Message> {
    let peers = vec!["127.0.0.1:8071".to_string(), "127.0.0.1:8081".to_string()];
    vec![
        W4119Message::RegisterPeer,
        W4119Message::RegisterAck {
            peer_list: peers.clone(),
        },
        W4119Message::UpdatePeers { peer_list: peers },
        W4119Message::UpdatePeers {
            peer_list: Vec::new(),
        },
        W4119Message::RequestBallot,
        W4119Message::BallotOptions {
            voting_options: ["Adam", "Bob", "Catherine", "Zoë \"Z\""]
                .map(String::from)
                .to_vec(),
        },
        W4119Message::NewBlock { block: one_vote() },
        W4119Message::RequestChain,
        W4119Message::ChainBlock {
            index: 0,
            block: genesis(),
            total_blocks: 9,
        },
        W4119Message::ChainBlock {
            index: u64::MAX,
            block: one_vote(),
            total_blocks: u64::MAX,
        },
        W4119Message::Poke,
        W4119Message::PokeAck,
        W4119Message::LeavePeer,
    ]
}

#[test]
fn every_message_round_trips() {
    for message in all_messages() {
        let bytes = encode(&message);
        assert_eq!(
            decode(&bytes),
            Ok(message.clone()),
            "{}",
            String::from_utf8_lossy(&bytes)
        );
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(value["type"], message.type_name());
    }
}

#[test]
fn encode_writes_the_python_datagrams_exactly() {
    let g = genesis().to_json_string();
    let cases = [
        (
            W4119Message::RegisterPeer,
            r#"{"type": "REGISTER_PEER"}"#.to_string(),
        ),
        (
            W4119Message::RegisterAck {
                peer_list: vec!["127.0.0.1:8071".into(), "127.0.0.1:8081".into()],
            },
            r#"{"type": "REGISTER_ACK", "peer_list": ["127.0.0.1:8071", "127.0.0.1:8081"]}"#.into(),
        ),
        (
            W4119Message::UpdatePeers {
                peer_list: vec!["127.0.0.1:8071".into()],
            },
            r#"{"type": "UPDATE_PEERS", "peer_list": ["127.0.0.1:8071"]}"#.into(),
        ),
        (
            W4119Message::RequestBallot,
            r#"{"type": "REQUEST_BALLOT"}"#.into(),
        ),
        (
            W4119Message::BallotOptions {
                voting_options: ["Adam", "Bob", "Catherine"].map(String::from).to_vec(),
            },
            r#"{"type": "BALLOT_OPTIONS", "voting_options": ["Adam", "Bob", "Catherine"]}"#.into(),
        ),
        (
            W4119Message::NewBlock { block: genesis() },
            format!(r#"{{"type": "NEW_BLOCK", "block": {g}}}"#),
        ),
        (
            W4119Message::RequestChain,
            r#"{"type": "REQUEST_CHAIN"}"#.into(),
        ),
        (
            W4119Message::ChainBlock {
                index: 3,
                block: genesis(),
                total_blocks: 9,
            },
            format!(r#"{{"type": "CHAIN_BLOCK", "index": 3, "block": {g}, "total_blocks": 9}}"#),
        ),
        (W4119Message::Poke, r#"{"type": "POKE"}"#.into()),
        (W4119Message::PokeAck, r#"{"type": "POKE-ACK"}"#.into()),
        (W4119Message::LeavePeer, r#"{"type": "LEAVE_PEER"}"#.into()),
    ];
    for (message, expected) in cases {
        assert_eq!(String::from_utf8(encode(&message)).unwrap(), expected);
    }
    // The genesis block inside is Python's json.dumps of it (tests/fixtures/blocks.json).
    assert_eq!(
        g,
        r#"{"index": 0, "transactions": [], "timestamp": "2000-01-01 00:00:00", "previous_hash": "0", "nonce": 0, "hash": "11ebe954fb06a6608d28849a2f9b440ab3665ae74d3bd03bf72230b40eeaae3c"}"#
    );
}

#[test]
fn the_largest_block_fits_one_chain_block_datagram() {
    let g = genesis();
    let message = W4119Message::ChainBlock {
        index: u64::MAX,
        block: g.clone(),
        total_blocks: u64::MAX,
    };
    let overhead = encode(&message).len() - g.to_json_string().len();
    assert!(overhead <= CHAIN_BLOCK_OVERHEAD, "{overhead}");
    assert!(MAX_BLOCK_JSON_BYTES + overhead <= MAX_DATAGRAM);
}

#[test]
fn decode_tolerates_what_python_tolerates() {
    let cases: [(&str, W4119Message); 6] = [
        (" {\"type\" :\"POKE_ACK\"}\n", W4119Message::PokeAck),
        (
            r#"{"type": "REQUEST_CHAIN", "from": "10.0.0.1:9", "n": 2.5}"#,
            W4119Message::RequestChain,
        ),
        (
            r#"{"voting_options": ["A"], "x": {"y": [1.5]}, "type": "BALLOT_OPTIONS"}"#,
            W4119Message::BallotOptions {
                voting_options: vec!["A".into()],
            },
        ),
        (
            r#"{"peer_list": [], "type": "UPDATE_PEERS", "type": "REGISTER_ACK"}"#,
            W4119Message::RegisterAck {
                peer_list: Vec::new(),
            },
        ),
        (
            r#"{"type":"LEAVE_PEER","reason":null}"#,
            W4119Message::LeavePeer,
        ),
        (r#"{"type":"POKE","seq":1}"#, W4119Message::Poke),
    ];
    for (datagram, expected) in cases {
        assert_eq!(decode(datagram.as_bytes()), Ok(expected), "{datagram}");
    }
    // A NEW_BLOCK whose block has extra keys and its fields out of order.
    let block = one_vote();
    let datagram = format!(
        r#"{{"block": {{"extra": 1.25, "hash": "{}", "nonce": {}, "index": 1, "timestamp": "{}",
            "previous_hash": "{}", "transactions": [{{"voter_id": "alice",
            "candidate_id": "Adam", "timestamp": "2025-01-01 12:00:00"}}]}}, "type": "NEW_BLOCK"}}"#,
        block.hash, block.nonce, block.timestamp, block.previous_hash
    );
    assert_eq!(
        decode(datagram.as_bytes()),
        Ok(W4119Message::NewBlock { block })
    );
}

#[test]
fn decode_refuses_with_typed_errors() {
    let too_many: Vec<String> = (0..=MAX_PEERS).map(|i| format!("10.0.0.1:{i}")).collect();
    let too_many = serde_json::json!({"type": "UPDATE_PEERS", "peer_list": too_many}).to_string();
    let long_option = format!(
        r#"{{"type": "BALLOT_OPTIONS", "voting_options": ["{}"]}}"#,
        "o".repeat(MAX_OPTION_BYTES + 1)
    );
    let cases: Vec<(Vec<u8>, WireError)> = vec![
        (
            vec![b' '; MAX_DATAGRAM + 1],
            WireError::TooLarge {
                len: MAX_DATAGRAM + 1,
            },
        ),
        (b"[]".to_vec(), WireError::NotObject),
        (b"{}".to_vec(), WireError::NoType),
        (br#"{"type": 5}"#.to_vec(), WireError::NoType),
        (
            br#"{"type": "CHALLENGE"}"#.to_vec(),
            WireError::UnknownType("CHALLENGE".into()),
        ),
        (
            br#"{"type": "REGISTER_ACK"}"#.to_vec(),
            WireError::MissingField("peer_list"),
        ),
        (
            br#"{"type": "NEW_BLOCK"}"#.to_vec(),
            WireError::MissingField("block"),
        ),
        (
            br#"{"type": "BALLOT_OPTIONS"}"#.to_vec(),
            WireError::MissingField("voting_options"),
        ),
        (
            br#"{"type": "NEW_BLOCK", "block": {"index": 1}}"#.to_vec(),
            WireError::Block(W4119Error::MissingField("transactions")),
        ),
        (
            br#"{"type": "NEW_BLOCK", "block": "block"}"#.to_vec(),
            WireError::Block(W4119Error::NotAnObject),
        ),
    ];
    for (datagram, expected) in cases {
        assert_eq!(
            decode(&datagram),
            Err(expected),
            "{}",
            String::from_utf8_lossy(&datagram)
        );
    }
    let bad_field = |datagram: &[u8]| match decode(datagram) {
        Err(WireError::BadField { field, .. }) => field,
        other => panic!("{other:?}"),
    };
    assert_eq!(bad_field(too_many.as_bytes()), "peer_list");
    assert_eq!(bad_field(long_option.as_bytes()), "voting_options");
    assert_eq!(
        bad_field(br#"{"type": "UPDATE_PEERS", "peer_list": "a"}"#),
        "peer_list"
    );
    assert_eq!(
        bad_field(br#"{"type": "UPDATE_PEERS", "peer_list": [1]}"#),
        "peer_list"
    );
    let block = genesis().to_json_string();
    for (index, total) in [
        ("-1", "1"),
        ("1", "1.0"),
        ("\"3\"", "9"),
        ("3", "18446744073709551616"),
    ] {
        let datagram = format!(
            r#"{{"type": "CHAIN_BLOCK", "index": {index}, "block": {block}, "total_blocks": {total}}}"#
        );
        assert!(
            matches!(decode(datagram.as_bytes()), Err(WireError::BadField { .. })),
            "{datagram}"
        );
    }
    assert!(matches!(decode(b"{\"type\""), Err(WireError::NotJson(_))));
    assert!(matches!(decode(b"\xff"), Err(WireError::NotJson(_))));
    // A float where the block is read cannot be hashed exactly.
    let float = br#"{"type": "NEW_BLOCK", "block": {"index": 1, "transactions": [{"w": 1e5}],
        "timestamp": "t", "previous_hash": "p", "nonce": 0, "hash": "h"}}"#;
    assert!(matches!(
        decode(float),
        Err(WireError::Block(W4119Error::Json(_)))
    ));
    // An unknown type is quoted back short.
    let long_type = format!(r#"{{"type": "{}"}}"#, "X".repeat(1000));
    assert_eq!(
        decode(long_type.as_bytes()),
        Err(WireError::UnknownType("X".repeat(32)))
    );
}

#[test]
fn peer_addresses_read_as_socket_addresses() {
    assert_eq!(
        peer_addr("127.0.0.1:8071").unwrap(),
        "127.0.0.1:8071".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(
        peer_addr("::1:8071").unwrap(),
        "[::1]:8071".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(
        peer_addr("[::1]:8071").unwrap(),
        "[::1]:8071".parse::<SocketAddr>().unwrap()
    );
    for bad in [
        "",
        "127.0.0.1",
        "127.0.0.1:",
        "127.0.0.1:70000",
        "host:80",
        ":80",
        "1.2.3.4:-1",
    ] {
        assert!(
            matches!(peer_addr(bad), Err(WireError::BadPeerAddress(_))),
            "{bad}"
        );
    }
    assert_eq!(
        WireError::BadPeerAddress("a\nb".into()).to_string(),
        "the peer address \"a\\nb\" is not an IP address and port"
    );
}

#[test]
fn a_transaction_keeps_its_key_order_through_the_wire() {
    let mut block = one_vote();
    let mut fields = crate::pyjson::PyDict::new();
    fields.insert("timestamp", "t".into());
    fields.insert("candidate_id", "Bob".into());
    fields.insert("voter_id", "zed".into());
    block.transactions.push(Transaction::from_fields(fields));
    let bytes = encode(&W4119Message::NewBlock {
        block: block.clone(),
    });
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(
        text.contains(r#"{"timestamp": "t", "candidate_id": "Bob", "voter_id": "zed"}"#),
        "{text}"
    );
    assert_eq!(decode(&bytes), Ok(W4119Message::NewBlock { block }));
}

proptest! {
    #[test]
    fn decode_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode(&bytes);
    }

    #[test]
    fn decode_never_panics_on_mutated_datagrams(
        which in 0usize..13,
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8),
    ) {
        let mut bytes = encode(&all_messages()[which]);
        for (at, byte, op) in edits {
            match op {
                0 if !bytes.is_empty() => { let i = at.index(bytes.len()); bytes[i] = byte; }
                1 => { let i = at.index(bytes.len() + 1); bytes.insert(i, byte); }
                _ if !bytes.is_empty() => { let i = at.index(bytes.len()); bytes.remove(i); }
                _ => {}
            }
        }
        if let Ok(message) = decode(&bytes) {
            // Whatever we accept, we can say again, and it means the same.
            prop_assert_eq!(decode(&encode(&message)), Ok(message));
        }
    }

    #[test]
    fn any_strings_round_trip(
        peers in prop::collection::vec(text(16), 0..8),
        voter in text(40),
        choice in text(40),
    ) {
        let message = W4119Message::RegisterAck { peer_list: peers };
        prop_assert_eq!(decode(&encode(&message)), Ok(message));
        let mut block = one_vote();
        block.transactions.push(Transaction::vote(&voter, &choice, "t"));
        let message = W4119Message::NewBlock { block };
        let bytes = encode(&message);
        prop_assert!(bytes.iter().all(|b| (b' '..=b'~').contains(b)), "ensure_ascii");
        prop_assert_eq!(decode(&bytes), Ok(message));
    }
}

/// Any string of at most `max` characters, escapes and non-ASCII included.
fn text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..=max).prop_map(|chars| chars.into_iter().collect())
}
