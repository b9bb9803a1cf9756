//! The W4119 peer's rules without sockets: joining, POKE, votes, every NEW_BLOCK case, chain
//! requests and CHAIN_BLOCK adoption, driven through [`Node`] with made-up addresses.

use std::net::{Ipv4Addr, SocketAddr};

use serde_json::{json, Value};
use votechain_w4119host::block::mine;
use votechain_w4119host::datagram;
use votechain_w4119host::{python_dumps, Block, Node, Phase, Transaction};

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

const TRACKER: u16 = 5000;

/// A node at `port` that has joined, with `others` as its peers.
fn joined(port: u16, others: &[u16]) -> Node {
    let mut node = Node::new(addr(port), addr(TRACKER), 2, true, true);
    let mut listed: Vec<String> = others.iter().map(|p| addr(*p).to_string()).collect();
    listed.push(addr(port).to_string());
    node.handle_datagram(
        addr(TRACKER),
        datagram::peer_list("REGISTER_ACK", &listed).as_bytes(),
    );
    node.handle_datagram(
        addr(TRACKER),
        br#"{"type": "BALLOT_OPTIONS", "voting_options": ["Adam", "Bob"]}"#,
    );
    assert_eq!(node.phase(), Phase::Ready);
    node
}

fn texts(out: &[(SocketAddr, String)]) -> Vec<(u16, &str)> {
    out.iter()
        .map(|(to, text)| (to.port(), text.as_str()))
        .collect()
}

#[test]
fn joins_registering_then_asking_ballot_then_chains() {
    let mut node = Node::new(addr(6001), addr(TRACKER), 2, true, true);
    assert_eq!(
        texts(&node.handle_resend()),
        vec![(TRACKER, r#"{"type": "REGISTER_PEER"}"#)]
    );
    // A tracker demanding a CHALLENGE is ignored: the peer keeps registering.
    assert!(node
        .handle_datagram(addr(TRACKER), br#"{"type": "CHALLENGE", "nonce": "x"}"#)
        .is_empty());
    assert_eq!(node.received("CHALLENGE"), 1);
    assert_eq!(node.phase(), Phase::Registering);
    assert!(!node.registered());

    let out = node.handle_datagram(
        addr(TRACKER),
        br#"{"type": "REGISTER_ACK", "peer_list": ["127.0.0.1:6002", "127.0.0.1:6001", 7]}"#,
    );
    assert!(node.registered());
    assert_eq!(node.peer_list(), vec![addr(6002)]);
    assert_eq!(
        texts(&out),
        vec![(TRACKER, r#"{"type": "REQUEST_BALLOT"}"#)]
    );
    assert_eq!(
        texts(&node.handle_resend()),
        vec![(TRACKER, r#"{"type": "REQUEST_BALLOT"}"#)]
    );

    let out = node.handle_datagram(
        addr(TRACKER),
        br#"{"type": "BALLOT_OPTIONS", "voting_options": ["Adam", "Bob", "Catherine"], "extra": 1}"#,
    );
    assert_eq!(
        node.ballot(),
        Some(vec![
            "Adam".to_owned(),
            "Bob".to_owned(),
            "Catherine".to_owned()
        ])
    );
    assert_eq!(texts(&out), vec![(6002, r#"{"type": "REQUEST_CHAIN"}"#)]);
    assert!(node.handle_resend().is_empty());

    node.handle_datagram(
        addr(TRACKER),
        br#"{"type": "UPDATE_PEERS", "peer_list": ["127.0.0.1:6003"]}"#,
    );
    assert_eq!(node.peer_list(), vec![addr(6003)]);
    assert_eq!(
        texts(&node.leave()),
        vec![(TRACKER, r#"{"type": "LEAVE_PEER"}"#)]
    );
    assert_eq!(node.phase(), Phase::Closed);
}

#[test]
fn registration_can_be_switched_off() {
    let mut node = Node::new(addr(6001), addr(TRACKER), 2, false, true);
    assert_eq!(node.phase(), Phase::Idle);
    assert!(node.handle_resend().is_empty());
}

#[test]
fn poke_is_answered_with_exactly_poke_ack_unless_switched_off() {
    let mut node = joined(6001, &[]);
    let out = node.handle_datagram(addr(TRACKER), br#"{"type": "POKE"}"#);
    assert_eq!(texts(&out), vec![(TRACKER, r#"{"type": "POKE-ACK"}"#)]);
    assert_eq!(node.pokes_answered(), 1);

    let mut silent = Node::new(addr(6001), addr(TRACKER), 2, true, false);
    assert!(silent
        .handle_datagram(addr(TRACKER), br#"{"type": "POKE"}"#)
        .is_empty());
    assert_eq!(silent.received("POKE"), 1);
    assert_eq!(silent.pokes_answered(), 0);
}

#[test]
fn votes_are_broadcast_and_accepted_unchecked_and_not_relayed() {
    let mut alice = joined(6001, &[6002, 6003]);
    let mut bob = joined(6002, &[6001, 6003]);
    // Off the ballot and twice by the same voter: the W4119 peer checks neither.
    for candidate in ["Zed", "Zed"] {
        let (block, out) = alice.vote("mallory", candidate, "2025-01-01 12:00:00");
        assert!(block.hash.starts_with("00"));
        assert_eq!(
            out.iter().map(|(to, _)| to.port()).collect::<Vec<_>>(),
            vec![6002, 6003]
        );
        assert_eq!(out[0].1, datagram::new_block(&block));
        assert!(bob
            .handle_datagram(addr(6001), out[0].1.as_bytes())
            .is_empty());
    }
    assert_eq!(bob.height(), 2);
    assert_eq!(bob.chain(), alice.chain());
    // A copy of a block it holds is ignored.
    let copy = datagram::new_block(&alice.chain()[1]);
    assert!(bob.handle_datagram(addr(6001), copy.as_bytes()).is_empty());
    assert_eq!(bob.height(), 2);
}

#[test]
fn new_block_cases() {
    let mut node = joined(6001, &[6002]);
    let genesis = Block::genesis();
    let first = mine(&genesis, vec![Transaction::new("a", "Adam", "t")], "t", 2);
    let second = mine(&first, Vec::new(), "t", 2);
    let send = |node: &mut Node, block: Value| {
        let message = python_dumps(
            &votechain_w4119host::Json::from(&json!({"type": "NEW_BLOCK", "block": block})),
            false,
        );
        node.handle_datagram(addr(6002), message.as_bytes())
    };
    let as_value = |block: &Block| -> Value {
        serde_json::from_str(&python_dumps(&block.to_json(), false)).expect("JSON")
    };

    // Further ahead: ask every peer for its chain.
    let out = send(&mut node, as_value(&second));
    assert_eq!(texts(&out), vec![(6002, r#"{"type": "REQUEST_CHAIN"}"#)]);
    assert_eq!(node.height(), 0);

    // A tampered hash, or no work: dropped without a word.
    let mut tampered = as_value(&first);
    tampered["transactions"][0]["candidate_id"] = json!("Bob");
    assert!(send(&mut node, tampered).is_empty());
    let mut lazy = first.clone();
    while lazy.hash.starts_with("00") {
        lazy.nonce += 1;
        lazy.hash = lazy.compute_hash();
    }
    assert!(send(&mut node, as_value(&lazy)).is_empty());
    assert_eq!(node.invalid_blocks(), 2);

    // No index (the Python handler raises), no block, a block that is not an object.
    let mut no_index = as_value(&first);
    no_index
        .as_object_mut()
        .map(|fields| fields.remove("index"));
    assert!(send(&mut node, no_index).is_empty());
    assert!(node
        .handle_datagram(addr(6002), br#"{"type": "NEW_BLOCK"}"#)
        .is_empty());
    assert!(send(&mut node, json!("block")).is_empty());
    assert_eq!(node.crashes_avoided(), 3);

    // The next block: appended, not relayed.
    assert!(send(&mut node, as_value(&first)).is_empty());
    assert_eq!(node.height(), 1);

    // A valid block from a fork at a height held: ask for chains.
    let rival = mine(&genesis, vec![Transaction::new("b", "Bob", "t")], "t", 2);
    let out = send(&mut node, as_value(&rival));
    assert_eq!(texts(&out), vec![(6002, r#"{"type": "REQUEST_CHAIN"}"#)]);
    // The next index on another parent: ask for chains too.
    let orphan = mine(&rival, Vec::new(), "t", 2);
    let out = send(&mut node, as_value(&orphan));
    assert_eq!(texts(&out), vec![(6002, r#"{"type": "REQUEST_CHAIN"}"#)]);
    assert_eq!(node.chain(), vec![genesis, first]);
}

/// The CHAIN_BLOCK datagrams `node` sends in answer to a REQUEST_CHAIN from `to`.
fn chain_stream(node: &mut Node, to: u16) -> Vec<String> {
    let out = node.handle_datagram(addr(to), br#"{"type": "REQUEST_CHAIN"}"#);
    assert!(out.iter().all(|(dest, _)| *dest == addr(to)));
    out.into_iter().map(|(_, text)| text).collect()
}

#[test]
fn request_chain_from_anyone_gets_the_whole_chain() {
    let mut node = joined(6001, &[]);
    node.vote("a", "Adam", "t1");
    node.vote("b", "Bob", "t2");
    let stream = chain_stream(&mut node, 9999);
    assert_eq!(stream.len(), 3);
    for (index, text) in stream.iter().enumerate() {
        assert_eq!(*text, datagram::chain_block(index, &node.chain()[index], 3));
    }
    assert!(stream[0].starts_with(
        r#"{"type": "CHAIN_BLOCK", "index": 0, "block": {"index": 0, "transactions": [], "#
    ));
    assert!(stream[0].ends_with(r#", "total_blocks": 3}"#));
}

#[test]
fn a_longer_valid_chain_is_adopted_from_anyone_and_others_are_not() {
    let mut long = joined(6001, &[]);
    for n in 0..3 {
        long.vote(&format!("voter{n}"), "Adam", "t");
    }
    let mut short = joined(6002, &[]);
    short.vote("x", "Bob", "t");

    // Out of order, with a copy: adopted once complete.
    let mut stream = chain_stream(&mut long, 6002);
    stream.reverse();
    stream.insert(1, stream[0].clone());
    for text in &stream {
        assert!(short
            .handle_datagram(addr(7777), text.as_bytes())
            .is_empty());
    }
    assert_eq!(short.chains_adopted(), 1);
    assert_eq!(short.chain(), long.chain());

    // Equal length: kept.
    let mut rival = joined(6003, &[]);
    for n in 0..3 {
        rival.vote(&format!("other{n}"), "Bob", "t");
    }
    for text in chain_stream(&mut rival, 6002) {
        short.handle_datagram(addr(6003), text.as_bytes());
    }
    assert_eq!(short.chains_rejected(), 1);
    assert_eq!(short.chain(), long.chain());

    // Longer but tampered: rejected.
    rival.vote("other3", "Bob", "t");
    let mut forged = chain_stream(&mut rival, 6002);
    forged[2] = forged[2].replace("other1", "forged");
    for text in &forged {
        short.handle_datagram(addr(6003), text.as_bytes());
    }
    assert_eq!(short.chains_rejected(), 2);
    assert_eq!(short.chain(), long.chain());

    // Missing fields and an index past the total: counted, dropped.
    for text in [
        r#"{"type": "CHAIN_BLOCK", "index": 0, "block": {}}"#,
        r#"{"type": "CHAIN_BLOCK", "total_blocks": 2}"#,
        r#"{"type": "CHAIN_BLOCK", "index": 5, "total_blocks": 2, "block": null}"#,
    ] {
        assert!(short
            .handle_datagram(addr(6003), text.as_bytes())
            .is_empty());
    }
    let genesis = datagram::chain_block(3, &Block::genesis(), 2);
    assert!(short
        .handle_datagram(addr(6003), genesis.as_bytes())
        .is_empty());
    assert_eq!(short.crashes_avoided(), 4);
}

#[test]
fn garbage_is_counted_never_fatal() {
    let mut node = joined(6001, &[6002]);
    for bytes in [
        &b"\xff"[..],
        b"null",
        b"{",
        b"{\"no\": \"type\"}",
        &[b'x'; 70_000],
    ] {
        assert!(node.handle_datagram(addr(6002), bytes).is_empty());
    }
    assert_eq!(node.undecodable(), 5);
    assert!(node
        .handle_datagram(
            addr(6002),
            br#"{"type": "UPDATE_PEERS", "peer_list": "nope"}"#
        )
        .is_empty());
    assert!(node.peer_list().is_empty());
}

/// A small deterministic generator (xorshift64) so the mutation test needs no RNG crate and
/// fails the same way every run.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound.max(1) as u64) as usize
    }
}

#[test]
fn mutated_messages_never_panic_the_peer_or_the_tracker() {
    let mut source = joined(6001, &[]);
    source.vote("a", "Adam", "2025-01-01 12:00:00");
    source.vote("b", "Bob", "2025-01-01 12:00:01");
    let mut seeds: Vec<String> = chain_stream(&mut source, 6002);
    seeds.push(datagram::new_block(&source.chain()[2]));
    seeds.push(datagram::peer_list(
        "UPDATE_PEERS",
        &["127.0.0.1:6003".to_owned()],
    ));
    seeds.push(datagram::peer_list(
        "REGISTER_ACK",
        &["127.0.0.1:6001".to_owned()],
    ));
    seeds.push(r#"{"type": "BALLOT_OPTIONS", "voting_options": ["Adam"]}"#.to_owned());
    for kind in [
        "POKE",
        "POKE-ACK",
        "REQUEST_CHAIN",
        "REGISTER_PEER",
        "LEAVE_PEER",
    ] {
        seeds.push(datagram::bare(kind));
    }
    let alphabet = b"{}[]\":,0123456789-.eE nulltruefalse\\u00\xff";
    let mut random = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut peer = Node::new(addr(6002), addr(TRACKER), 2, true, true);
    let mut tracker = votechain_w4119host::Registry::new(&["Adam"]);
    for _ in 0..4_000 {
        let seed = &seeds[random.below(seeds.len())];
        let mut bytes = seed.as_bytes().to_vec();
        for _ in 0..=random.below(4) {
            let at = random.below(bytes.len());
            match random.below(3) {
                0 if at < bytes.len() => bytes[at] = alphabet[random.below(alphabet.len())],
                0 => bytes.push(alphabet[random.below(alphabet.len())]),
                1 => bytes.truncate(at),
                _ => bytes.insert(at, alphabet[random.below(alphabet.len())]),
            }
        }
        let from = addr(6000 + random.below(80) as u16);
        peer.handle_datagram(from, &bytes);
        tracker.handle_datagram(from, &bytes);
    }
    // Both are still consistent: the peer's chain is valid and the tracker still answers.
    assert_eq!(
        votechain_w4119host::block::chain_defect(&peer.chain(), 2),
        None
    );
    // The mutations reach past decoding into the block handlers.
    assert!(peer.crashes_avoided() > 0 && peer.invalid_blocks() > 0);
    assert!(peer.undecodable() > 0 && tracker.undecodable() > 0);
    let out = tracker.handle_datagram(addr(1), br#"{"type": "REQUEST_BALLOT"}"#);
    assert_eq!(out.len(), 1);
}
