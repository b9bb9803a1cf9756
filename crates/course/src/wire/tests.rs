//! The codec against the spec's example datagrams, the null forms, every message's round trip,
//! the missing and bad fields, and arbitrary bytes and JSON (proptest).

use super::*;
use crate::block::tests::{fall2024_genesis, fall2024_one};
use proptest::prelude::*;

fn round_trip(message: CourseMessage) {
    let bytes = encode(&message);
    assert_eq!(
        decode(&bytes),
        Ok(message.clone()),
        "{}",
        String::from_utf8_lossy(&bytes)
    );
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()["type"],
        message.type_name()
    );
}

fn all_messages() -> Vec<CourseMessage> {
    vec![
        CourseMessage::Gossip {
            host: "192.168.0.27".into(),
            port: 8999,
            id: "5b29f4c7-40ac-4522-b217-e90e9587c1e5".into(),
            name: "Some name here!".into(),
        },
        CourseMessage::GossipReply {
            host: "192.168.0.28".into(),
            port: 8001,
            name: "I have a name, too \"quoted\" ü".into(),
        },
        CourseMessage::GetBlock { height: 0 },
        CourseMessage::GetBlock { height: u64::MAX },
        CourseMessage::GetBlockReply(Some(fall2024_genesis())),
        CourseMessage::GetBlockReply(None),
        CourseMessage::Announce(fall2024_one()),
        CourseMessage::Stats,
        CourseMessage::StatsReply(Some((2, fall2024_one().hash))),
        CourseMessage::StatsReply(None),
        CourseMessage::Consensus,
        CourseMessage::NewWord {
            word: "test".into(),
        },
    ]
}

#[test]
fn every_message_round_trips() {
    for message in all_messages() {
        round_trip(message);
    }
}

#[test]
fn encode_writes_the_course_formats_exactly() {
    let cases: [(CourseMessage, &str); 8] = [
        (
            all_messages().remove(0),
            r#"{"type":"GOSSIP","host":"192.168.0.27","port":8999,"id":"5b29f4c7-40ac-4522-b217-e90e9587c1e5","name":"Some name here!"}"#,
        ),
        (
            CourseMessage::GetBlock { height: 0 },
            r#"{"type":"GET_BLOCK","height":0}"#,
        ),
        (
            CourseMessage::GetBlockReply(Some(fall2024_genesis())),
            r#"{"type":"GET_BLOCK_REPLY","height":0,"minedBy":"Prof!","nonce":"663135608617883","messages":["Keep it","simple.","Veni","vidi","vici"],"hash":"75977fa09516d028befa0695e16c93be20271b66630236d38718e35700000000","timestamp":1730910874}"#,
        ),
        (
            CourseMessage::GetBlockReply(None),
            r#"{"type":"GET_BLOCK_REPLY","height":null,"minedBy":null,"nonce":null,"messages":null,"hash":null,"timestamp":null}"#,
        ),
        (
            CourseMessage::StatsReply(Some((2, fall2024_one().hash))),
            r#"{"type":"STATS_REPLY","height":2,"hash":"5c25ae996e712fc8e93c10a1b9fd3b42dd408aaa65f4c3e4dfe8982800000000"}"#,
        ),
        (
            CourseMessage::StatsReply(None),
            r#"{"type":"STATS_REPLY","height":null,"hash":null}"#,
        ),
        (CourseMessage::Consensus, r#"{"type":"CONSENSUS"}"#),
        (
            CourseMessage::NewWord {
                word: "test".into(),
            },
            r#"{"type":"NEW_WORD","word":"test"}"#,
        ),
    ];
    for (message, expected) in cases {
        assert_eq!(String::from_utf8(encode(&message)).unwrap(), expected);
    }
    assert_eq!(encode(&CourseMessage::Stats), br#"{"type":"STATS"}"#);
    let announce = String::from_utf8(encode(&CourseMessage::Announce(fall2024_one()))).unwrap();
    assert!(announce.starts_with(r#"{"type":"ANNOUNCE","height":1,"minedBy":"Prof!""#));
}

#[test]
fn decodes_the_spec_examples_as_python_writes_them() {
    // Python's json.dumps puts a space after ':' and ','.
    let gossip = br#"{"type": "GOSSIP", "host": "192.168.0.27", "port": 8999, "id": "5b29f4c7-40ac-4522-b217-e90e9587c1e5", "name": "Some name here!"}"#;
    assert_eq!(decode(gossip), Ok(all_messages().remove(0)));
    assert_eq!(
        decode(br#"{"type":"GOSSIP_REPLY","host":"192.168.0.28","port":8001,"name":"I have a name, too"}"#),
        Ok(CourseMessage::GossipReply {
            host: "192.168.0.28".into(),
            port: 8001,
            name: "I have a name, too".into()
        })
    );
    let reply = br#"{"type": "GET_BLOCK_REPLY", "height": 0, "minedBy": "Prof!", "nonce": "663135608617883", "messages": ["Keep it", "simple.", "Veni", "vidi", "vici"], "hash": "75977fa09516d028befa0695e16c93be20271b66630236d38718e35700000000", "timestamp": 1730910874}"#;
    assert_eq!(
        decode(reply),
        Ok(CourseMessage::GetBlockReply(Some(fall2024_genesis())))
    );
    assert_eq!(decode(br#"{"type": "STATS"}"#), Ok(CourseMessage::Stats));
    assert_eq!(
        decode(br#"{"type": "CONSENSUS"}"#),
        Ok(CourseMessage::Consensus)
    );
    assert_eq!(
        decode(br#"{"type": "NEW_WORD", "word": "test"}"#),
        Ok(CourseMessage::NewWord {
            word: "test".into()
        })
    );
}

#[test]
fn null_forms_decode_to_none() {
    for reply in [
        &br#"{"type": "GET_BLOCK_REPLY", "height": null, "minedBy": null, "nonce": null, "messages": null, "hash": null, "timestamp": null}"#[..],
        // The course only promises these four are null.
        br#"{"type": "GET_BLOCK_REPLY", "height": null, "minedBy": null, "nonce": null, "messages": null}"#,
        br#"{"type": "GET_BLOCK_REPLY", "height": null, "minedBy": null, "nonce": null, "messages": null, "hash": "", "timestamp": 5}"#,
    ] {
        assert_eq!(decode(reply), Ok(CourseMessage::GetBlockReply(None)));
    }
    assert_eq!(
        decode(br#"{"type": "STATS_REPLY", "height": null, "hash": null}"#),
        Ok(CourseMessage::StatsReply(None))
    );
    // Half null is neither form.
    assert_eq!(
        decode(br#"{"type": "GET_BLOCK_REPLY", "height": 3, "minedBy": null, "nonce": null, "messages": null}"#),
        Err(WireError::MissingField("minedBy"))
    );
    assert_eq!(
        decode(br#"{"type": "STATS_REPLY", "height": 2, "hash": null}"#),
        Err(WireError::MissingField("hash"))
    );
    assert!(matches!(
        decode(br#"{"type": "STATS_REPLY", "height": 0, "hash": "75977fa09516d028befa0695e16c93be20271b66630236d38718e35700000000"}"#),
        Err(WireError::BadField { field: "height", .. })
    ));
    // ANNOUNCE has no null form.
    assert_eq!(
        decode(br#"{"type": "ANNOUNCE", "height": null, "minedBy": null, "nonce": null, "messages": null}"#),
        Err(WireError::MissingField("height"))
    );
}

#[test]
fn tolerated_variants() {
    let base =
        r#""type":"ANNOUNCE","height":1,"minedBy":"Prof!","messages":["test"],"extra":{"x":[1,2]}"#;
    let hash = "5c25ae996e712fc8e93c10a1b9fd3b42dd408aaa65f4c3e4dfe8982800000000";
    let datagram = format!(
        r#"{{{base},"nonce":4776171179467,"hash":"{}","timestamp":1730974785.0}}"#,
        hash.to_uppercase()
    );
    assert_eq!(
        decode(datagram.as_bytes()),
        Ok(CourseMessage::Announce(fall2024_one()))
    );
    let negative = format!(r#"{{{base},"nonce":-5,"hash":"{hash}","timestamp":1}}"#);
    match decode(negative.as_bytes()) {
        Ok(CourseMessage::Announce(b)) => assert_eq!(b.nonce, "-5"),
        other => panic!("{other:?}"),
    }
    for (nonce, timestamp, field) in [
        ("1.5", "1", "nonce"),
        ("[]", "1", "nonce"),
        ("\"1\"", "1.5", "timestamp"),
        ("\"1\"", "-1", "timestamp"),
        ("\"1\"", "\"1\"", "timestamp"),
    ] {
        let datagram =
            format!(r#"{{{base},"nonce":{nonce},"hash":"{hash}","timestamp":{timestamp}}}"#);
        assert!(
            matches!(decode(datagram.as_bytes()), Err(WireError::BadField { field: f, .. }) if f == field),
            "{datagram}"
        );
    }
}

#[test]
fn missing_and_bad_fields_are_typed_errors() {
    let cases: [(&[u8], WireError); 10] = [
        (
            br#"{"type":"GET_BLOCK"}"#,
            WireError::MissingField("height"),
        ),
        (
            br#"{"type":"GOSSIP","host":"h","port":1,"name":"n"}"#,
            WireError::MissingField("id"),
        ),
        (
            br#"{"type":"GOSSIP","host":"h","port":1,"id":null,"name":"n"}"#,
            WireError::MissingField("id"),
        ),
        (br#"{"type":"NEW_WORD"}"#, WireError::MissingField("word")),
        (
            br#"{"type":"STATS_REPLY","height":2}"#,
            WireError::MissingField("hash"),
        ),
        (br#"{"height":0}"#, WireError::NoType),
        (br#"{"type":5}"#, WireError::NoType),
        (br#"[1,2]"#, WireError::NotObject),
        (b"\"GET_BLOCK\"", WireError::NotObject),
        (
            br#"{"type":"REQUEST_CHAIN"}"#,
            WireError::UnknownType("REQUEST_CHAIN".into()),
        ),
    ];
    for (datagram, expected) in cases {
        assert_eq!(
            decode(datagram),
            Err(expected),
            "{}",
            String::from_utf8_lossy(datagram)
        );
    }
    let bad_field = |datagram: &str, field: &str| {
        assert!(
            matches!(decode(datagram.as_bytes()), Err(WireError::BadField { field: f, .. }) if f == field),
            "{datagram}"
        );
    };
    bad_field(
        r#"{"type":"GOSSIP_REPLY","host":"h","port":0,"name":"n"}"#,
        "port",
    );
    bad_field(
        r#"{"type":"GOSSIP_REPLY","host":"h","port":65536,"name":"n"}"#,
        "port",
    );
    bad_field(
        r#"{"type":"GOSSIP_REPLY","host":"h","port":"80","name":"n"}"#,
        "port",
    );
    bad_field(
        r#"{"type":"GOSSIP_REPLY","host":"","port":80,"name":"n"}"#,
        "host",
    );
    bad_field(
        r#"{"type":"GOSSIP_REPLY","host":7,"port":80,"name":"n"}"#,
        "host",
    );
    bad_field(r#"{"type":"GET_BLOCK","height":-1}"#, "height");
    bad_field(r#"{"type":"GET_BLOCK","height":1.0}"#, "height");
    bad_field(r#"{"type":"STATS_REPLY","height":2,"hash":"abc"}"#, "hash");
    let long = |n: usize| "é".repeat(n);
    bad_field(
        &format!(r#"{{"type":"NEW_WORD","word":"{}"}}"#, long(21)),
        "word",
    );
    assert!(decode(format!(r#"{{"type":"NEW_WORD","word":"{}"}}"#, long(20)).as_bytes()).is_ok());
    bad_field(
        &format!(
            r#"{{"type":"GOSSIP","host":"{}","port":1,"id":"i","name":"n"}}"#,
            "h".repeat(256)
        ),
        "host",
    );
    bad_field(
        &format!(
            r#"{{"type":"GOSSIP","host":"h","port":1,"id":"{}","name":"n"}}"#,
            "i".repeat(65)
        ),
        "id",
    );
    bad_field(
        &format!(
            r#"{{"type":"GOSSIP","host":"h","port":1,"id":"i","name":"{}"}}"#,
            "n".repeat(257)
        ),
        "name",
    );
    // Unknown types are quoted, truncated.
    let long_type = format!(r#"{{"type":"{}"}}"#, "X".repeat(1000));
    assert_eq!(
        decode(long_type.as_bytes()),
        Err(WireError::UnknownType("X".repeat(32)))
    );
    assert_eq!(
        decode(&vec![b' '; MAX_DATAGRAM + 1]),
        Err(WireError::TooLarge {
            len: MAX_DATAGRAM + 1
        })
    );
    assert!(matches!(
        decode(b"{\"type\":\xff}"),
        Err(WireError::NotJson(_))
    ));
    // Deep nesting is refused by the parser's recursion limit, not the stack.
    let deep = format!(
        r#"{{"type":"STATS","x":{}{}}}"#,
        "[".repeat(5000),
        "]".repeat(5000)
    );
    assert!(matches!(
        decode(deep.as_bytes()),
        Err(WireError::NotJson(_))
    ));
}

/// Arbitrary JSON values, nested a few levels.
fn json() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "[a-zA-Z_ ]{0,24}".prop_map(Value::from),
        prop_oneof![
            Just("GOSSIP"),
            Just("GOSSIP_REPLY"),
            Just("GET_BLOCK"),
            Just("GET_BLOCK_REPLY"),
            Just("ANNOUNCE"),
            Just("STATS"),
            Just("STATS_REPLY"),
            Just("CONSENSUS"),
            Just("NEW_WORD"),
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 32, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("type".to_string()),
                    Just("host".to_string()),
                    Just("port".to_string()),
                    Just("id".to_string()),
                    Just("name".to_string()),
                    Just("height".to_string()),
                    Just("minedBy".to_string()),
                    Just("nonce".to_string()),
                    Just("messages".to_string()),
                    Just("hash".to_string()),
                    Just("timestamp".to_string()),
                    Just("word".to_string()),
                    "[a-z]{1,4}",
                ],
                inner,
                0..8
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn decode_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode(&bytes);
    }

    #[test]
    fn decode_never_panics_on_json_and_what_decodes_re_encodes(value in json()) {
        let bytes = serde_json::to_vec(&value).unwrap();
        if let Ok(message) = decode(&bytes) {
            // Whatever we accept, we can say again, and it means the same.
            prop_assert_eq!(decode(&encode(&message)), Ok(message));
        }
    }
}

/// Any string of at most `max` characters, escapes and non-ASCII included.
fn text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..=max).prop_map(|chars| chars.into_iter().collect())
}

fn block() -> impl Strategy<Value = crate::block::CourseBlock> {
    (
        any::<u64>(),
        text(40),
        prop::collection::vec(text(20), 0..12),
        text(45),
        any::<u64>(),
        any::<[u8; 32]>(),
    )
        .prop_map(|(height, mined_by, messages, nonce, timestamp, hash)| {
            crate::block::CourseBlock {
                height,
                mined_by,
                messages,
                nonce,
                timestamp,
                hash: votechain_chain::Hash(hash),
            }
        })
}

fn message() -> impl Strategy<Value = CourseMessage> {
    prop_oneof![
        (
            text(MAX_HOST_CHARS).prop_filter("non-empty", |h| !h.is_empty()),
            1..=u16::MAX,
            text(MAX_ID_CHARS),
            text(MAX_NAME_CHARS)
        )
            .prop_map(|(host, port, id, name)| CourseMessage::Gossip {
                host,
                port,
                id,
                name
            }),
        (
            text(MAX_HOST_CHARS).prop_filter("non-empty", |h| !h.is_empty()),
            1..=u16::MAX,
            text(MAX_NAME_CHARS)
        )
            .prop_map(|(host, port, name)| CourseMessage::GossipReply { host, port, name }),
        any::<u64>().prop_map(|height| CourseMessage::GetBlock { height }),
        prop::option::of(block()).prop_map(CourseMessage::GetBlockReply),
        block().prop_map(CourseMessage::Announce),
        prop::option::of((1..=u64::MAX, any::<[u8; 32]>()))
            .prop_map(|s| CourseMessage::StatsReply(s.map(|(h, x)| (h, votechain_chain::Hash(x))))),
        text(MAX_WORD_CHARS).prop_map(|word| CourseMessage::NewWord { word }),
    ]
}

proptest! {
    #[test]
    fn arbitrary_messages_round_trip(message in message()) {
        let bytes = encode(&message);
        prop_assert!(bytes.len() <= MAX_DATAGRAM);
        prop_assert_eq!(decode(&bytes), Ok(message));
    }
}
