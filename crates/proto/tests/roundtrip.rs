//! Property tests: every message type, with arbitrary field values within the protocol's bounds,
//! survives `decode(encode(m)) == m`; blocks are real blocks built with the chain's API (a
//! genesis of an arbitrary ballot, or an arbitrary sealed child carrying signed and unsigned
//! votes). Then `encode`'s refusals: a message over its size limit and a field over its bound.

use proptest::prelude::*;
use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use votechain_chain::limits::{
    MAX_DIFFICULTY, MAX_MINER_NAME_BYTES, MAX_OPTIONS, MAX_OPTION_BYTES, MAX_TITLE_BYTES,
};
use votechain_chain::{Ballot, Block, BlockTemplate, Hash, PublicKey, Signature, Vote, VoterKey};
use votechain_proto::limits::{
    ENVELOPE_RESERVE, MAX_CHAIN_BATCH, MAX_PROOF, MAX_REASON, MAX_SMALL, TOKEN_HEX_LEN,
};
use votechain_proto::*;

/// Any string of at most `max_chars` characters, control characters and quotes included
/// (each escapes to at most 6 bytes of JSON).
fn text(max_chars: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..=max_chars).prop_map(String::from_iter)
}

/// A non-empty string of printable characters that fits `max_bytes`.
fn printable(max_chars: usize, max_bytes: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(
        any::<char>().prop_filter("printable", |c| !c.is_control()),
        1..=max_chars,
    )
    .prop_map(move |chars| {
        let mut s = String::new();
        for c in chars {
            if s.len() + c.len_utf8() > max_bytes {
                break;
            }
            s.push(c);
        }
        s
    })
}

fn hash() -> impl Strategy<Value = Hash> {
    any::<[u8; 32]>().prop_map(Hash)
}

fn socket_addr() -> impl Strategy<Value = SocketAddr> {
    (any::<IpAddr>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::new(ip, port))
}

/// At most 16 addresses: the longest IPv6 form is 47 bytes quoted, so any list fits 1,200.
fn peer_list() -> impl Strategy<Value = Vec<SocketAddr>> {
    prop::collection::vec(socket_addr(), 0..=16)
}

fn token() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(b"0123456789abcdefABCDEF".to_vec()),
        TOKEN_HEX_LEN,
    )
    .prop_map(|b| String::from_utf8(b).unwrap())
}

/// A vote as the wire carries it: either properly signed, or arbitrary bytes (decoding does not
/// verify signatures; validation does).
fn vote() -> impl Strategy<Value = Vote> {
    // Choices of at most 16 characters: at most 64 bytes.
    prop_oneof![
        (any::<[u8; 32]>(), hash(), text(16)).prop_map(|(seed, election, choice)| {
            Vote::sign(VoterKey::from_seed(seed).signing_key(), election, &choice)
        }),
        (
            hash(),
            any::<[u8; 32]>(),
            text(16),
            prop::collection::vec(any::<u8>(), 64)
        )
            .prop_map(|(election, voter, choice, sig)| Vote {
                election,
                voter: PublicKey(voter),
                choice,
                signature: Signature(sig.try_into().unwrap()),
            }),
    ]
}

/// A ballot that passes `Ballot::check`, with or without roll and closing height.
fn ballot() -> impl Strategy<Value = Ballot> {
    let options = prop::collection::btree_set(printable(12, MAX_OPTION_BYTES), 2..=MAX_OPTIONS)
        .prop_map(|set: BTreeSet<String>| set.into_iter().collect::<Vec<_>>())
        .prop_shuffle();
    let roll = prop::option::of(
        prop::collection::btree_set(any::<[u8; 32]>(), 0..6)
            .prop_map(|keys| keys.into_iter().map(PublicKey).collect::<Vec<_>>()),
    );
    (
        printable(40, MAX_TITLE_BYTES),
        options,
        roll,
        0..=MAX_DIFFICULTY,
        prop::option::of(1..=u64::MAX),
    )
        .prop_map(
            |(title, options, voters, difficulty, closing_height)| Ballot {
                title,
                options,
                voters,
                difficulty,
                closing_height,
            },
        )
}

/// A real block: the genesis of an arbitrary ballot, or an arbitrary sealed child.
fn block() -> impl Strategy<Value = Block> {
    let genesis = ballot().prop_map(|b| Block::genesis(&b).expect("strategy ballots are valid"));
    let child = (
        hash(),
        0..u64::MAX,
        0..=MAX_DIFFICULTY,
        any::<u64>(),
        prop_oneof![Just(String::new()), printable(8, MAX_MINER_NAME_BYTES)],
        prop::collection::vec(vote(), 0..4),
        any::<u64>(),
    )
        .prop_map(
            |(parent, parent_height, difficulty, timestamp, miner, votes, nonce)| {
                BlockTemplate::new(parent, parent_height, difficulty, timestamp, &miner, votes)
                    .expect("strategy bodies are within bounds")
                    .seal(nonce)
            },
        );
    prop_oneof![1 => genesis, 3 => child]
}

fn receipt_status() -> impl Strategy<Value = ReceiptStatus> {
    prop_oneof![
        Just(ReceiptStatus::Pending),
        Just(ReceiptStatus::Unknown),
        text(50).prop_map(|reason| ReceiptStatus::Rejected { reason }),
        (
            any::<u64>(),
            hash(),
            any::<u64>(),
            any::<u32>(),
            any::<u32>(),
            prop::collection::vec(hash(), 0..=MAX_PROOF),
        )
            .prop_map(|(height, block, confirmations, index, vote_count, proof)| {
                ReceiptStatus::Confirmed {
                    height,
                    block,
                    confirmations,
                    index,
                    vote_count,
                    proof,
                }
            }),
    ]
}

/// Every message type, one arm each; `every_type_is_generated` checks none is missing.
fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        (prop::option::of(text(16)), prop::option::of(hash()))
            .prop_map(|(name, election)| RegisterPeer { name, election }.into()),
        (peer_list(), peer_list()).prop_map(|(peer_list, seen)| RegisterAck {
            peer_list,
            observed: seen.first().copied()
        }
        .into()),
        (hash(), text(32), text(50)).prop_map(|(election, title, reason)| RegisterRefused {
            election,
            title,
            reason
        }
        .into()),
        peer_list().prop_map(|peer_list| UpdatePeers { peer_list }.into()),
        Just(RequestBallot {}.into()),
        (ballot(), hash()).prop_map(|(b, election)| BallotOptions::new(&b, election).into()),
        prop::option::of(any::<u64>()).prop_map(|nonce| Poke { nonce }.into()),
        prop::option::of(any::<u64>()).prop_map(|nonce| PokeAck { nonce }.into()),
        Just(LeavePeer {}.into()),
        token().prop_map(|token| Challenge { token }.into()),
        token().prop_map(|token| Verify { token }.into()),
        (text(40), any::<u16>(), text(16), text(16)).prop_map(|(host, port, id, name)| Gossip {
            host,
            port,
            id,
            name
        }
        .into()),
        (text(40), any::<u16>(), text(16)).prop_map(|(host, port, name)| GossipReply {
            host,
            port,
            name
        }
        .into()),
        block().prop_map(|block| NewBlock { block }.into()),
        (any::<u64>(), 1..=MAX_CHAIN_BATCH).prop_map(|(start, count)| RequestChain {
            start,
            count
        }
        .into()),
        (any::<u64>(), any::<u64>(), block()).prop_map(|(index, total_blocks, block)| {
            ChainBlock {
                index,
                total_blocks,
                block,
            }
            .into()
        }),
        (any::<u64>(), prop::option::of(hash())).prop_map(|(height, hash)| GetBlock {
            height,
            hash
        }
        .into()),
        (any::<u64>(), prop::option::of(block())).prop_map(|(height, block)| GetBlockReply {
            height,
            block
        }
        .into()),
        Just(Stats {}.into()),
        (any::<u64>(), hash()).prop_map(|(height, hash)| StatsReply { height, hash }.into()),
        Just(Consensus {}.into()),
        vote().prop_map(|vote| SubmitVote { vote }.into()),
        vote().prop_map(|vote| NewVote { vote }.into()),
        hash().prop_map(|vote_id| GetReceipt { vote_id }.into()),
        (hash(), receipt_status()).prop_map(|(vote_id, status)| Receipt { vote_id, status }.into()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn every_message_round_trips(m in message()) {
        let datagram = encode(&m).unwrap_or_else(|e| panic!("{e}: {m:?}"));
        prop_assert!(datagram.len() <= m.size_class().limit());
        prop_assert_eq!(decode(&datagram), Ok(m));
    }

    #[test]
    fn blocks_round_trip_with_their_hash(b in block()) {
        let datagram = encode(&NewBlock { block: b.clone() }.into()).unwrap();
        let Ok(Message::NewBlock(NewBlock { block })) = decode(&datagram) else {
            panic!("NEW_BLOCK decodes as NEW_BLOCK");
        };
        prop_assert_eq!(block.hash(), b.hash());
        prop_assert_eq!(block.hash(), block.header().hash());
        prop_assert_eq!(block, b);
    }
}

#[test]
fn every_type_is_generated() {
    // 24 arms with equal weight: a few hundred draws meet each with near certainty, and the
    // runner is seeded deterministically so the check is stable.
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    let strategy = message();
    let mut seen = BTreeSet::new();
    for _ in 0..2_000 {
        seen.insert(
            strategy
                .new_tree(&mut runner)
                .unwrap()
                .current()
                .type_name(),
        );
        if seen.len() == MESSAGE_TYPES.len() {
            break;
        }
    }
    let all: BTreeSet<&str> = MESSAGE_TYPES.iter().copied().collect();
    assert_eq!(seen, all);
}

#[test]
fn seed_a_spelling_decodes_as_poke_ack() {
    assert_eq!(
        decode(br#"{"type":"POKE-ACK"}"#),
        Ok(PokeAck { nonce: None }.into())
    );
    assert_eq!(
        encode(&PokeAck { nonce: None }.into()).unwrap(),
        br#"{"type":"POKE_ACK"}"#,
        "we always send the underscore spelling"
    );
}

#[test]
fn largest_bounded_small_messages_fit() {
    // Every string field at its byte bound, in characters JSON escapes to two bytes.
    let gossip = Gossip {
        host: "\"".repeat(253),
        port: u16::MAX,
        id: "\\".repeat(64),
        name: "\"".repeat(64),
    };
    assert!(encode(&gossip.into()).is_ok());
    let receipt = Receipt {
        vote_id: Hash([0xff; 32]),
        status: ReceiptStatus::Confirmed {
            height: u64::MAX,
            block: Hash([0xff; 32]),
            confirmations: u64::MAX,
            index: u32::MAX,
            vote_count: u32::MAX,
            proof: vec![Hash([0xff; 32]); MAX_PROOF],
        },
    };
    assert!(encode(&receipt.into()).is_ok());
    let vote = Vote::sign(
        VoterKey::from_seed([3; 32]).signing_key(),
        Hash([0xff; 32]),
        &"\"".repeat(MAX_OPTION_BYTES),
    );
    assert!(encode(&SubmitVote { vote }.into()).is_ok());
}

#[test]
fn encode_refuses_a_message_over_its_size_limit() {
    // 60 of the longest IPv6 socket addresses are about 2,900 bytes: over 1,200.
    let addr: SocketAddr = "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"
        .parse()
        .unwrap();
    let ack = RegisterAck {
        peer_list: vec![addr; 60],
        observed: None,
    };
    match encode(&ack.into()) {
        // The encoder keeps room for the envelope of address cookies.
        Err(EncodeError::TooLarge {
            msg_type: "REGISTER_ACK",
            len,
            limit,
        }) => assert!(limit == MAX_SMALL - ENVELOPE_RESERVE && len > limit),
        other => panic!("expected TooLarge, got {other:?}"),
    }
    // Control characters escape to six bytes each: a GOSSIP within every field bound can
    // still be too large to send, and encode says so instead of sending it.
    let gossip = Gossip {
        host: "\u{1}".repeat(253),
        port: 1,
        id: String::new(),
        name: String::new(),
    };
    assert!(matches!(
        encode(&gossip.into()),
        Err(EncodeError::TooLarge {
            msg_type: "GOSSIP",
            ..
        })
    ));
}

#[test]
fn encode_refuses_a_field_over_its_bound() {
    let cases: Vec<(Message, &str)> = vec![
        (RequestChain { start: 0, count: 0 }.into(), "count"),
        (
            RequestChain {
                start: 0,
                count: MAX_CHAIN_BATCH + 1,
            }
            .into(),
            "count",
        ),
        (
            Challenge {
                token: "abc".into(),
            }
            .into(),
            "token",
        ),
        (
            RegisterPeer {
                name: Some("n".repeat(65)),
                election: None,
            }
            .into(),
            "name",
        ),
        (
            RegisterRefused {
                election: Hash::ZERO,
                title: "t".into(),
                reason: "r".repeat(MAX_REASON + 1),
            }
            .into(),
            "reason",
        ),
        (
            SubmitVote {
                vote: Vote::sign(
                    VoterKey::from_seed([3; 32]).signing_key(),
                    Hash::ZERO,
                    &"x".repeat(MAX_OPTION_BYTES + 1),
                ),
            }
            .into(),
            "vote.choice",
        ),
        (
            Receipt {
                vote_id: Hash::ZERO,
                status: ReceiptStatus::Rejected {
                    reason: "r".repeat(201),
                },
            }
            .into(),
            "reason",
        ),
    ];
    for (message, field) in cases {
        let msg_type = message.type_name();
        match encode(&message) {
            Err(EncodeError::OutOfRange {
                msg_type: t,
                field: f,
                ..
            }) => assert_eq!((t, f.as_str()), (msg_type, field)),
            other => panic!("{msg_type}: expected OutOfRange on {field}, got {other:?}"),
        }
    }
}
