//! One reviewed snapshot of the exact datagram of every message type, so any change to the wire
//! format shows in review as a changed file under `tests/snapshots/`. The values are fixed
//! (seeded keys, fixed timestamps; see `common`), so the datagrams are byte-for-byte stable, and
//! PROTOCOL.md's examples are copied from these files.
//!
//! A snapshot that differs fails the test. To accept a deliberate wire change, run
//! `UPDATE_SNAPSHOTS=1 cargo test -p votechain-proto --test snapshots`, review the diff, and
//! update PROTOCOL.md with it. Under `CI=true` nothing is ever written.

mod common;

use common::*;
use std::collections::BTreeSet;
use std::path::PathBuf;
use votechain_proto::*;

/// Every snapshot: its file name (the wire type, or `TYPE.variant` for an extra example) and
/// the message. At least one per entry of `MESSAGE_TYPES`.
fn cases() -> Vec<(&'static str, Message)> {
    let g = genesis();
    let b1 = block1();
    let vote = vote();
    let peers = vec![
        "127.0.0.1:6001".parse().unwrap(),
        "127.0.0.1:6002".parse().unwrap(),
        "[::1]:6003".parse().unwrap(),
    ];
    vec![
        (
            "REGISTER_PEER",
            RegisterPeer {
                name: Some("alice".into()),
                election: None,
            }
            .into(),
        ),
        (
            "REGISTER_PEER.election",
            RegisterPeer {
                name: Some("alice".into()),
                election: Some(g.hash()),
            }
            .into(),
        ),
        (
            "REGISTER_ACK",
            RegisterAck {
                peer_list: peers.clone(),
                observed: Some(peers[0]),
            }
            .into(),
        ),
        (
            "UPDATE_PEERS",
            UpdatePeers {
                peer_list: peers[..2].to_vec(),
            }
            .into(),
        ),
        ("REQUEST_BALLOT", RequestBallot {}.into()),
        (
            "BALLOT_OPTIONS",
            BallotOptions::new(&ballot(), g.hash()).into(),
        ),
        (
            "POKE",
            Poke {
                nonce: Some(7_405_692_351_121_017_357),
            }
            .into(),
        ),
        (
            "POKE_ACK",
            PokeAck {
                nonce: Some(7_405_692_351_121_017_357),
            }
            .into(),
        ),
        ("LEAVE_PEER", LeavePeer {}.into()),
        ("CHALLENGE", Challenge { token: token() }.into()),
        ("VERIFY", Verify { token: token() }.into()),
        ("GOSSIP", gossip().into()),
        (
            "GOSSIP_REPLY",
            GossipReply {
                host: "127.0.0.1".into(),
                port: 6002,
                name: "bob".into(),
            }
            .into(),
        ),
        ("NEW_BLOCK", NewBlock { block: b1.clone() }.into()),
        (
            "REQUEST_CHAIN",
            RequestChain {
                start: 0,
                count: 64,
            }
            .into(),
        ),
        (
            "CHAIN_BLOCK",
            ChainBlock {
                index: 0,
                total_blocks: 2,
                block: g.clone(),
            }
            .into(),
        ),
        (
            "GET_BLOCK",
            GetBlock {
                height: 1,
                hash: Some(b1.hash()),
            }
            .into(),
        ),
        (
            "GET_BLOCK_REPLY",
            GetBlockReply {
                height: 1,
                block: Some(b1.clone()),
            }
            .into(),
        ),
        (
            "GET_BLOCK_REPLY.null",
            GetBlockReply {
                height: 5,
                block: None,
            }
            .into(),
        ),
        ("STATS", Stats {}.into()),
        (
            "STATS_REPLY",
            StatsReply {
                height: 2,
                hash: b1.hash(),
            }
            .into(),
        ),
        ("CONSENSUS", Consensus {}.into()),
        ("SUBMIT_VOTE", SubmitVote { vote: vote.clone() }.into()),
        ("NEW_VOTE", NewVote { vote: vote.clone() }.into()),
        ("GET_RECEIPT", GetReceipt { vote_id: vote.id() }.into()),
        (
            "RECEIPT",
            Receipt {
                vote_id: vote.id(),
                status: ReceiptStatus::Confirmed {
                    height: 1,
                    block: b1.hash(),
                    confirmations: 1,
                    index: 0,
                    vote_count: 1,
                    proof: vec![],
                },
            }
            .into(),
        ),
        (
            "RECEIPT.pending",
            Receipt {
                vote_id: vote.id(),
                status: ReceiptStatus::Pending,
            }
            .into(),
        ),
        (
            "RECEIPT.unknown",
            Receipt {
                vote_id: vote.id(),
                status: ReceiptStatus::Unknown,
            }
            .into(),
        ),
        (
            "RECEIPT.rejected",
            Receipt {
                vote_id: vote.id(),
                status: ReceiptStatus::Rejected {
                    reason: "voter has already voted".into(),
                },
            }
            .into(),
        ),
        (
            "REGISTER_REFUSED",
            RegisterRefused {
                election: g.hash(),
                title: "Class president".into(),
                reason: "this tracker serves election 1ef8db214a64…, not the election \
                         00a02a7f1726… your peer holds"
                    .into(),
            }
            .into(),
        ),
    ]
}

fn snapshot_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots")
}

/// True when the run may rewrite snapshots: asked for, and not in CI.
fn updating() -> bool {
    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0");
    set("UPDATE_SNAPSHOTS") && !set("CI")
}

#[test]
fn every_message_type_has_a_snapshot() {
    let mut snapshotted: Vec<&str> = Vec::new();
    for (name, message) in cases() {
        let ty = message.type_name();
        assert!(
            name == ty || name.starts_with(&format!("{ty}.")),
            "snapshot {name} holds a {ty}"
        );
        if !snapshotted.contains(&ty) {
            snapshotted.push(ty);
        }
    }
    assert_eq!(
        snapshotted, MESSAGE_TYPES,
        "each message type needs a snapshot, in protocol order"
    );
}

#[test]
fn snapshot_files_are_exactly_the_cases() {
    let names: BTreeSet<String> = cases()
        .into_iter()
        .map(|(name, _)| format!("{name}.json"))
        .collect();
    let files: BTreeSet<String> = std::fs::read_dir(snapshot_dir())
        .expect("tests/snapshots exists")
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        files, names,
        "a snapshot file without a case, or a case without a file"
    );
}

#[test]
fn datagrams_match_their_snapshots() {
    let mut failures = Vec::new();
    for (name, message) in cases() {
        let datagram = encode(&message).unwrap_or_else(|e| panic!("{name}: {e}"));
        let actual = String::from_utf8(datagram).expect("JSON is UTF-8");
        assert_eq!(decode(actual.as_bytes()), Ok(message.clone()), "{name}");
        let path = snapshot_dir().join(format!("{name}.json"));
        let expected = std::fs::read_to_string(&path).ok();
        if expected.as_deref().map(|e| e.trim_end_matches('\n')) == Some(actual.as_str()) {
            continue;
        }
        if updating() {
            std::fs::create_dir_all(snapshot_dir()).unwrap();
            std::fs::write(&path, format!("{actual}\n")).unwrap();
            eprintln!("updated {}", path.display());
            continue;
        }
        failures.push(format!(
            "{name}:\n  snapshot: {}\n  encoder:  {actual}",
            expected.as_deref().unwrap_or("(no file)").trim_end()
        ));
    }
    assert!(
        failures.is_empty(),
        "datagrams differ from their snapshots (UPDATE_SNAPSHOTS=1 to accept, then review):\n{}",
        failures.join("\n")
    );
}

#[test]
fn protocol_md_quotes_every_snapshot() {
    // PROTOCOL.md's examples are these datagrams verbatim (STYLE.md rule 7: wire JSON changes
    // only together with its snapshot and PROTOCOL.md).
    let doc_path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../PROTOCOL.md");
    let doc = std::fs::read_to_string(&doc_path).expect("PROTOCOL.md at the repository root");
    let missing: Vec<&str> = cases()
        .iter()
        .filter(|(_, message)| {
            let datagram = String::from_utf8(encode(message).unwrap()).unwrap();
            !doc.contains(&format!("```json\n{datagram}\n```"))
        })
        .map(|(name, _)| *name)
        .collect();
    assert!(
        missing.is_empty(),
        "PROTOCOL.md lacks the example datagrams of {missing:?}"
    );
}
