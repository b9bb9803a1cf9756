//! Hostile datagrams: each must be refused with the exact [`DecodeError`] variant, message type
//! and field path, never a panic. The table covers every decoding failure seed-protocols.md
//! records from the seed implementations (missing fields, wrong types, huge numbers, a block
//! whose hash does not match its contents) plus each stage of the strict decoder. A property
//! test then feeds `decode` arbitrary bytes and mutations of valid datagrams.

mod common;

use common::*;
use proptest::prelude::*;
use serde_json::{json, Value};
use votechain_proto::limits::{MAX_DATAGRAM, MAX_SMALL};
use votechain_proto::*;

/// The error with its free-text `detail` blanked: the variant, message type and field are what
/// a table row asserts; serde's wording is not part of the protocol.
fn shape(e: DecodeError) -> DecodeError {
    use DecodeError::*;
    match e {
        NotJson { .. } => NotJson {
            detail: String::new(),
        },
        WrongType {
            msg_type, field, ..
        } => WrongType {
            msg_type,
            field,
            detail: String::new(),
        },
        OutOfRange {
            msg_type, field, ..
        } => OutOfRange {
            msg_type,
            field,
            detail: String::new(),
        },
        InvalidValue {
            msg_type, field, ..
        } => InvalidValue {
            msg_type,
            field,
            detail: String::new(),
        },
        other => other,
    }
}

fn missing(msg_type: &'static str, field: &str) -> DecodeError {
    DecodeError::MissingField {
        msg_type,
        field: field.into(),
    }
}
fn wrong_type(msg_type: &'static str, field: &str) -> DecodeError {
    DecodeError::WrongType {
        msg_type,
        field: field.into(),
        detail: String::new(),
    }
}
fn out_of_range(msg_type: &'static str, field: &str) -> DecodeError {
    DecodeError::OutOfRange {
        msg_type,
        field: field.into(),
        detail: String::new(),
    }
}
fn invalid(msg_type: &'static str, field: &str) -> DecodeError {
    DecodeError::InvalidValue {
        msg_type,
        field: field.into(),
        detail: String::new(),
    }
}
fn not_json() -> DecodeError {
    DecodeError::NotJson {
        detail: String::new(),
    }
}

/// Decodes `input`; `None` when it fails exactly as `expected` (detail text aside), otherwise a
/// line describing the difference.
fn check(name: &str, input: &[u8], expected: &DecodeError) -> Option<String> {
    match decode(input) {
        Err(e) if shape(e.clone()) == *expected => None,
        Err(e) => Some(format!("{name}: got {e:?}\n    expected {expected:?}")),
        Ok(m) => Some(format!(
            "{name}: decoded as {m:?}\n    expected {expected:?}"
        )),
    }
}

fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

fn vote_json() -> Value {
    serde_json::to_value(vote()).unwrap()
}

fn block_json() -> Value {
    serde_json::to_value(block1()).unwrap()
}

/// A small message padded with an unknown key (ignored by the decoder) to exactly `len` bytes.
fn padded(message: &str, len: usize) -> Vec<u8> {
    let head = format!("{{\"type\":\"{message}\",\"pad\":\"");
    let fill = len - head.len() - 2;
    format!("{head}{}\"}}", "x".repeat(fill)).into_bytes()
}

fn nested(depth: usize) -> Vec<u8> {
    let mut s = String::from("{\"type\":\"STATS\",\"x\":");
    s += &"[".repeat(depth - 1);
    s += &"]".repeat(depth - 1);
    s += "}";
    s.into_bytes()
}

#[test]
fn hostile_datagrams_fail_with_the_exact_error() {
    use DecodeError::*;
    let hash = "ab".repeat(32);
    let mut ballot_at_height_1 = block_json();
    ballot_at_height_1["ballot"] = serde_json::to_value(ballot()).unwrap();
    let mut tampered = block_json();
    tampered["miner"] = "mallory".into();
    let mut forged_hash = block_json();
    forged_hash["hash"] = hash.clone().into();
    let mut long_choice = vote_json();
    long_choice["choice"] = "x".repeat(65).into();
    let mut genesis_with_nonce = serde_json::to_value(genesis()).unwrap();
    genesis_with_nonce["nonce"] = 1.into();
    let mut bad_version = block_json();
    bad_version["version"] = 2.into();
    let mut block_no_votes = block_json();
    block_no_votes.as_object_mut().unwrap().remove("votes");
    let mut vote_bad_sig_hex = vote_json();
    vote_bad_sig_hex["signature"] = "00".into();

    let table: Vec<(&str, Vec<u8>, DecodeError)> = vec![
        // Framing: size, encoding, nesting, syntax, shape, type.
        ("empty datagram", vec![], Empty),
        (
            "70 KB datagram",
            padded("NEW_BLOCK", 70_000),
            TooLarge { len: 70_000 },
        ),
        (
            "one byte over any datagram",
            padded("NEW_BLOCK", MAX_DATAGRAM + 1),
            TooLarge {
                len: MAX_DATAGRAM + 1,
            },
        ),
        (
            "1,300-byte GET_BLOCK",
            padded("GET_BLOCK", 1_300),
            Oversized {
                msg_type: "GET_BLOCK",
                len: 1_300,
                limit: MAX_SMALL,
            },
        ),
        (
            "1,201-byte STATS",
            padded("STATS", MAX_SMALL + 1),
            Oversized {
                msg_type: "STATS",
                len: MAX_SMALL + 1,
                limit: MAX_SMALL,
            },
        ),
        (
            "small message in a large datagram, alias spelling",
            padded("POKE-ACK", 2_000),
            Oversized {
                msg_type: "POKE_ACK",
                len: 2_000,
                limit: MAX_SMALL,
            },
        ),
        (
            "invalid UTF-8",
            b"{\"type\":\"STATS\",\"x\":\"\xff\xfe\"}".to_vec(),
            NotUtf8,
        ),
        ("lone continuation byte", vec![0x80], NotUtf8),
        ("deeply nested JSON", nested(10_000), TooDeep),
        ("nesting one past the limit", nested(9), TooDeep),
        ("not JSON", b"hello".to_vec(), not_json()),
        ("truncated JSON", br#"{"type":"STATS""#.to_vec(), not_json()),
        ("trailing garbage", br#"{"type":"STATS"} x"#.to_vec(), not_json()),
        (
            "number JSON cannot hold (1e400)",
            br#"{"type":"GET_BLOCK","height":1e400}"#.to_vec(),
            not_json(),
        ),
        ("not an object: array", br#"["STATS"]"#.to_vec(), NotObject),
        ("not an object: string", br#""STATS""#.to_vec(), NotObject),
        ("not an object: null", b"null".to_vec(), NotObject),
        ("missing type", br#"{"height":0}"#.to_vec(), MissingType),
        ("type not a string", br#"{"type":5}"#.to_vec(), TypeNotString),
        ("type null", br#"{"type":null}"#.to_vec(), TypeNotString),
        (
            "unknown type",
            br#"{"type":"NEW_WORD","word":"test"}"#.to_vec(),
            UnknownType {
                found: "NEW_WORD".into(),
            },
        ),
        (
            "type names are case-sensitive",
            br#"{"type":"stats"}"#.to_vec(),
            UnknownType {
                found: "stats".into(),
            },
        ),
        (
            "unknown type is cut to 32 characters",
            format!(r#"{{"type":"{}"}}"#, "Z".repeat(500)).into_bytes(),
            UnknownType {
                found: "Z".repeat(32),
            },
        ),
        // Missing fields: the datagrams that killed seed peers.
        (
            "GET_BLOCK without height",
            br#"{"type":"GET_BLOCK"}"#.to_vec(),
            missing("GET_BLOCK", "height"),
        ),
        (
            "GOSSIP without id",
            br#"{"type":"GOSSIP","host":"192.168.0.27","port":8999,"name":"x"}"#.to_vec(),
            missing("GOSSIP", "id"),
        ),
        (
            "GOSSIP_REPLY without port",
            br#"{"type":"GOSSIP_REPLY","host":"h","name":"n"}"#.to_vec(),
            missing("GOSSIP_REPLY", "port"),
        ),
        (
            "REGISTER_ACK without peer_list",
            br#"{"type":"REGISTER_ACK"}"#.to_vec(),
            missing("REGISTER_ACK", "peer_list"),
        ),
        (
            "STATS_REPLY without hash",
            br#"{"type":"STATS_REPLY","height":2}"#.to_vec(),
            missing("STATS_REPLY", "hash"),
        ),
        (
            "NEW_BLOCK without block",
            br#"{"type":"NEW_BLOCK"}"#.to_vec(),
            missing("NEW_BLOCK", "block"),
        ),
        (
            "CHALLENGE without token",
            br#"{"type":"CHALLENGE"}"#.to_vec(),
            missing("CHALLENGE", "token"),
        ),
        (
            "block without votes",
            bytes(&json!({"type":"NEW_BLOCK","block":block_no_votes})),
            missing("NEW_BLOCK", "block.votes"),
        ),
        (
            "RECEIPT without status",
            format!(r#"{{"type":"RECEIPT","vote_id":"{hash}"}}"#).into_bytes(),
            missing("RECEIPT", "status"),
        ),
        // Wrong JSON types.
        (
            "height as a string",
            br#"{"type":"GET_BLOCK","height":"0"}"#.to_vec(),
            wrong_type("GET_BLOCK", "height"),
        ),
        (
            "height null",
            br#"{"type":"GET_BLOCK","height":null}"#.to_vec(),
            wrong_type("GET_BLOCK", "height"),
        ),
        (
            "port as a string",
            br#"{"type":"GOSSIP","host":"h","port":"8999","id":"i","name":"n"}"#.to_vec(),
            wrong_type("GOSSIP", "port"),
        ),
        (
            "peer_list not a list",
            br#"{"type":"UPDATE_PEERS","peer_list":"127.0.0.1:1"}"#.to_vec(),
            wrong_type("UPDATE_PEERS", "peer_list"),
        ),
        (
            "address as a number",
            br#"{"type":"UPDATE_PEERS","peer_list":[5]}"#.to_vec(),
            wrong_type("UPDATE_PEERS", "peer_list[0]"),
        ),
        (
            "hash as a number",
            br#"{"type":"STATS_REPLY","height":2,"hash":5}"#.to_vec(),
            wrong_type("STATS_REPLY", "hash"),
        ),
        (
            "vote as a string",
            br#"{"type":"NEW_VOTE","vote":"yes"}"#.to_vec(),
            wrong_type("NEW_VOTE", "vote"),
        ),
        (
            "nonce as seed B's string",
            br#"{"type":"POKE","nonce":"663135608617883"}"#.to_vec(),
            wrong_type("POKE", "nonce"),
        ),
        // Numbers: integers are u64 (or narrower) and parsed exactly.
        (
            "2^64",
            br#"{"type":"GET_BLOCK","height":18446744073709551616}"#.to_vec(),
            out_of_range("GET_BLOCK", "height"),
        ),
        (
            "30-digit integer",
            br#"{"type":"GET_BLOCK","height":123456789012345678901234567890}"#.to_vec(),
            out_of_range("GET_BLOCK", "height"),
        ),
        (
            "negative height",
            br#"{"type":"GET_BLOCK","height":-1}"#.to_vec(),
            out_of_range("GET_BLOCK", "height"),
        ),
        (
            "fractional height",
            br#"{"type":"GET_BLOCK","height":1.5}"#.to_vec(),
            out_of_range("GET_BLOCK", "height"),
        ),
        (
            "port 70000",
            br#"{"type":"GOSSIP","host":"h","port":70000,"id":"i","name":"n"}"#.to_vec(),
            out_of_range("GOSSIP", "port"),
        ),
        (
            "difficulty over u32",
            br#"{"type":"BALLOT_OPTIONS","voting_options":[],"title":"t","difficulty":4294967296,"election":"00"}"#.to_vec(),
            out_of_range("BALLOT_OPTIONS", "difficulty"),
        ),
        (
            "nonce 2^64 in a block",
            {
                let text = bytes(&json!({"type":"NEW_BLOCK","block":block_json()}));
                String::from_utf8(text)
                    .unwrap()
                    .replace("\"nonce\":133", "\"nonce\":18446744073709551616")
                    .into_bytes()
            },
            out_of_range("NEW_BLOCK", "block.nonce"),
        ),
        // Bounds beyond the Rust type.
        (
            "REQUEST_CHAIN count 0",
            br#"{"type":"REQUEST_CHAIN","start":0,"count":0}"#.to_vec(),
            out_of_range("REQUEST_CHAIN", "count"),
        ),
        (
            "REQUEST_CHAIN count 65",
            br#"{"type":"REQUEST_CHAIN","start":0,"count":65}"#.to_vec(),
            out_of_range("REQUEST_CHAIN", "count"),
        ),
        (
            "vote choice over 64 bytes (SUBMIT_VOTE)",
            bytes(&json!({"type":"SUBMIT_VOTE","vote":long_choice.clone()})),
            out_of_range("SUBMIT_VOTE", "vote.choice"),
        ),
        (
            "vote choice over 64 bytes (NEW_VOTE)",
            bytes(&json!({"type":"NEW_VOTE","vote":long_choice})),
            out_of_range("NEW_VOTE", "vote.choice"),
        ),
        (
            "GOSSIP name over 64 bytes",
            bytes(&json!({"type":"GOSSIP","host":"h","port":1,"id":"i","name":"n".repeat(65)})),
            out_of_range("GOSSIP", "name"),
        ),
        (
            "GOSSIP id over 64 bytes",
            bytes(&json!({"type":"GOSSIP","host":"h","port":1,"id":"i".repeat(65),"name":"n"})),
            out_of_range("GOSSIP", "id"),
        ),
        (
            "GOSSIP host over 253 bytes",
            bytes(&json!({"type":"GOSSIP","host":"h".repeat(254),"port":1,"id":"i","name":"n"})),
            out_of_range("GOSSIP", "host"),
        ),
        (
            "REGISTER_PEER name over 64 bytes",
            bytes(&json!({"type":"REGISTER_PEER","name":"n".repeat(65)})),
            out_of_range("REGISTER_PEER", "name"),
        ),
        (
            "token too short",
            br#"{"type":"VERIFY","token":"abcd"}"#.to_vec(),
            out_of_range("VERIFY", "token"),
        ),
        (
            "token of 32 non-hex characters",
            bytes(&json!({"type":"CHALLENGE","token":"g".repeat(32)})),
            out_of_range("CHALLENGE", "token"),
        ),
        (
            "token as a number",
            br#"{"type":"VERIFY","token":1234}"#.to_vec(),
            wrong_type("VERIFY", "token"),
        ),
        (
            "receipt reason over 200 bytes",
            bytes(&json!({"type":"RECEIPT","vote_id":hash,"status":"rejected","reason":"r".repeat(201)})),
            out_of_range("RECEIPT", "reason"),
        ),
        (
            "receipt proof over 8 hashes",
            bytes(&json!({"type":"RECEIPT","vote_id":hash,"status":"confirmed","height":1,
                "block":hash,"confirmations":1,"index":0,"vote_count":1,"proof":vec![hash.clone(); 9]})),
            out_of_range("RECEIPT", "proof"),
        ),
        // Values of the right JSON type that are not valid.
        (
            "hash of 63 hex characters",
            format!(r#"{{"type":"STATS_REPLY","height":2,"hash":"{}"}}"#, &hash[1..]).into_bytes(),
            invalid("STATS_REPLY", "hash"),
        ),
        (
            "hash not hex",
            format!(r#"{{"type":"GET_RECEIPT","vote_id":"{}"}}"#, "zz".repeat(32)).into_bytes(),
            invalid("GET_RECEIPT", "vote_id"),
        ),
        (
            "signature of the wrong length",
            bytes(&json!({"type":"NEW_VOTE","vote":vote_bad_sig_hex})),
            invalid("NEW_VOTE", "vote.signature"),
        ),
        (
            "bad socket address",
            br#"{"type":"REGISTER_ACK","peer_list":["127.0.0.1"]}"#.to_vec(),
            invalid("REGISTER_ACK", "peer_list[0]"),
        ),
        (
            "socket address with port 70000",
            br#"{"type":"REGISTER_ACK","peer_list":["127.0.0.1:70000"]}"#.to_vec(),
            invalid("REGISTER_ACK", "peer_list[0]"),
        ),
        // RECEIPT's status fields are flattened into the message, and serde loses the field
        // path through `#[serde(flatten)]`: errors inside them name the whole message.
        (
            "unknown receipt status",
            format!(r#"{{"type":"RECEIPT","vote_id":"{hash}","status":"lost"}}"#).into_bytes(),
            invalid("RECEIPT", "(message)"),
        ),
        (
            "receipt index over u32",
            bytes(&json!({"type":"RECEIPT","vote_id":hash,"status":"confirmed","height":1,
                "block":hash,"confirmations":1,"index":1u64 << 32,"vote_count":1,"proof":[]})),
            out_of_range("RECEIPT", "(message)"),
        ),
        (
            "receipt height as a string",
            bytes(&json!({"type":"RECEIPT","vote_id":hash,"status":"confirmed","height":"1",
                "block":hash,"confirmations":1,"index":0,"vote_count":1,"proof":[]})),
            wrong_type("RECEIPT", "(message)"),
        ),
        (
            "block whose hash does not match its contents",
            bytes(&json!({"type":"NEW_BLOCK","block":tampered})),
            invalid("NEW_BLOCK", "block"),
        ),
        (
            "block claiming a hash it does not have",
            bytes(&json!({"type":"GET_BLOCK_REPLY","height":1,"block":forged_hash})),
            invalid("GET_BLOCK_REPLY", "block"),
        ),
        (
            "block with a ballot at height 1",
            bytes(&json!({"type":"NEW_BLOCK","block":ballot_at_height_1})),
            invalid("NEW_BLOCK", "block"),
        ),
        (
            "genesis that is not canonical for its ballot",
            bytes(&json!({"type":"CHAIN_BLOCK","index":0,"total_blocks":1,"block":genesis_with_nonce})),
            invalid("CHAIN_BLOCK", "block"),
        ),
        (
            "block of an unknown version",
            bytes(&json!({"type":"NEW_BLOCK","block":bad_version})),
            invalid("NEW_BLOCK", "block"),
        ),
    ];
    let failures: Vec<String> = table
        .iter()
        .filter_map(|(name, input, expected)| check(name, input, expected))
        .collect();
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn lenient_where_the_protocol_says_so() {
    // Unknown keys are ignored; seed A's spelling and bare REQUEST_CHAIN are accepted; a
    // datagram of exactly the limit is accepted.
    let cases: Vec<(&[u8], Message)> = vec![
        (
            br#"{"type":"STATS","extra":[1,{"a":null}]}"#,
            Stats {}.into(),
        ),
        (br#"{"type":"POKE-ACK"}"#, PokeAck { nonce: None }.into()),
        (br#"{"type":"POKE"}"#, Poke { nonce: None }.into()),
        (
            br#"{"type":"REQUEST_CHAIN"}"#,
            RequestChain {
                start: 0,
                count: 64,
            }
            .into(),
        ),
        (
            br#"{"type":"GET_BLOCK_REPLY","height":3}"#,
            GetBlockReply {
                height: 3,
                block: None,
            }
            .into(),
        ),
        (
            br#"{"type":"GET_BLOCK","height":18446744073709551615}"#,
            GetBlock {
                height: u64::MAX,
                hash: None,
            }
            .into(),
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(
            decode(input),
            Ok(expected),
            "{}",
            String::from_utf8_lossy(input)
        );
    }
    assert_eq!(
        decode(&padded("STATS", MAX_SMALL)),
        Ok(Stats {}.into()),
        "exactly 1,200 bytes"
    );
    assert_eq!(
        decode(&nested(8)),
        Ok(Stats {}.into()),
        "exactly the nesting limit"
    );
    let big = padded("NEW_BLOCK", MAX_DATAGRAM);
    assert!(
        matches!(decode(&big), Err(DecodeError::MissingField { .. })),
        "a 65,507-byte NEW_BLOCK passes the size stages"
    );
}

/// Valid datagrams of several kinds, for the mutation property.
fn seeds() -> Vec<Vec<u8>> {
    let token = token();
    [
        Message::from(NewBlock { block: block1() }),
        ChainBlock {
            index: 0,
            total_blocks: 2,
            block: genesis(),
        }
        .into(),
        SubmitVote { vote: vote() }.into(),
        gossip().into(),
        RegisterAck {
            peer_list: vec![peer_addr(), "[::1]:9".parse().unwrap()],
            observed: Some(peer_addr()),
        }
        .into(),
        Verify { token }.into(),
        RequestChain {
            start: 5,
            count: 10,
        }
        .into(),
        Receipt {
            vote_id: vote().id(),
            status: ReceiptStatus::Confirmed {
                height: 1,
                block: block1().hash(),
                confirmations: 3,
                index: 0,
                vote_count: 1,
                proof: vec![label_hash("sibling")],
            },
        }
        .into(),
    ]
    .iter()
    .map(|m| encode(m).unwrap())
    .collect()
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    // Inserted bytes favour JSON's structural characters, which reach deeper stages.
    let byte = prop_oneof![
        any::<u8>(),
        prop::sample::select(b"{}[]\":,0123456789-.eE\\ nul".to_vec()),
    ];
    prop_oneof![
        (any::<usize>(), 1..=255u8).prop_map(|(i, x)| Mutation::Flip(i, x)),
        (any::<usize>(), byte).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Delete),
    ]
}

fn apply(datagram: &mut Vec<u8>, m: &Mutation) {
    match *m {
        Mutation::Flip(i, x) if !datagram.is_empty() => {
            let i = i % datagram.len();
            datagram[i] ^= x;
        }
        Mutation::Insert(i, b) => {
            let i = i % (datagram.len() + 1);
            datagram.insert(i, b);
        }
        Mutation::Delete(i) if !datagram.is_empty() => {
            let i = i % datagram.len();
            datagram.remove(i);
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decode_never_panics_on_arbitrary_bytes(input in prop::collection::vec(any::<u8>(), 0..2_048)) {
        let _ = decode(&input);
    }

    #[test]
    fn decode_never_panics_on_mutated_datagrams(
        which in any::<prop::sample::Index>(),
        mutations in prop::collection::vec(mutation(), 1..8),
    ) {
        let seeds = seeds();
        let mut datagram = seeds[which.index(seeds.len())].clone();
        for m in &mutations {
            apply(&mut datagram, m);
        }
        // Whatever decodes must re-encode to a datagram that decodes to the same message.
        if let Ok(message) = decode(&datagram) {
            let again = encode(&message).expect("a decoded message is within its limits");
            prop_assert_eq!(decode(&again), Ok(message));
        }
    }
}
