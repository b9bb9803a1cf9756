//! Unit tests of the node's decisions against the failures seen in the seed implementations,
//! driving the sans-IO core directly: datagrams in, outputs inspected, no sockets, no clock.

use super::*;
use votechain_chain::{Ballot, BlockTemplate, ChainConfig, VoterKey};
use votechain_proto::limits::unverified_reply_budget;
use votechain_proto::{
    GetBlock, GetBlockReply, Gossip, NewBlock, RequestChain, Stats, StatsReply, SubmitVote,
};

const NOW: u64 = 1_800_000_000_000;

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn ballot() -> Ballot {
    Ballot::open("Test", &["Adam", "Bob"], 0)
}

/// A node at 127.0.0.1:6001 holding a chain of `blocks` blocks after genesis, with peers
/// 6002 and 6003 from the tracker.
fn node_with_chain(blocks: u64) -> Node {
    let mut chain = ChainState::new(&ballot(), ChainConfig::default()).unwrap();
    for _ in 0..blocks {
        let t = BlockTemplate::new(chain.tip_hash(), chain.height(), 0, NOW, "m", vec![]).unwrap();
        chain.add_block(t.seal(0), NOW).unwrap();
    }
    let mut cfg = NodeConfig::new(addr(6001));
    cfg.mining = MiningMode::Off;
    let mut node = Node::new(cfg, 7, Some(chain));
    node.peers.add(addr(6002), Source::Tracker, NOW);
    node.peers.add(addr(6003), Source::Tracker, NOW);
    node.handle_timeout(NOW);
    drain(&mut node);
    node
}

fn drain(node: &mut Node) -> Vec<Output> {
    std::iter::from_fn(|| node.poll_output()).collect()
}

fn sent(outputs: &[Output]) -> Vec<(SocketAddr, Message)> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send { to, bytes } => Some((*to, decode(bytes).unwrap())),
            _ => None,
        })
        .collect()
}

fn datagram(m: impl Into<Message>) -> Vec<u8> {
    encode(&m.into()).unwrap()
}

/// Verifies `from` with the node, as a well-behaved peer would after a CHALLENGE.
fn verify(node: &mut Node, from: SocketAddr) {
    let token = node.minter.token(&from, NOW);
    node.handle_datagram(NOW, from, &datagram(Verify { token }));
    drain(node);
}

#[test]
fn request_chain_from_an_unverified_address_gets_only_a_small_challenge() {
    let mut node = node_with_chain(100);
    let victim = addr(9999);
    let request = datagram(RequestChain {
        start: 0,
        count: 64,
    });
    node.handle_datagram(NOW, victim, &request);
    let out = sent(&drain(&mut node));
    assert_eq!(out.len(), 1);
    assert!(matches!(out[0], (to, Message::Challenge(_)) if to == victim));
    let challenge_len = encode(&out[0].1).unwrap().len();
    assert!(challenge_len <= unverified_reply_budget(request.len()));

    verify(&mut node, victim);
    node.handle_datagram(NOW, victim, &request);
    let out = sent(&drain(&mut node));
    assert_eq!(
        out.len(),
        64,
        "a verified address gets the batch it asked for"
    );
}

#[test]
fn stats_is_answered_within_the_budget_before_verification() {
    let mut node = node_with_chain(3);
    let request = datagram(Stats {});
    node.handle_datagram(NOW, addr(9999), &request);
    let outputs = drain(&mut node);
    let out = sent(&outputs);
    assert!(matches!(
        out[..],
        [(_, Message::StatsReply(StatsReply { height: 4, .. }))]
    ));
    let Output::Send { bytes, .. } = &outputs[0] else {
        panic!("a send")
    };
    assert!(bytes.len() <= unverified_reply_budget(request.len()));
}

#[test]
fn spoofed_gossip_is_neither_reflected_nor_forwarded() {
    let mut node = node_with_chain(1);
    let gossip = Gossip {
        host: "10.9.9.9".into(),
        port: 1,
        id: "x".into(),
        name: "spoof".into(),
    };
    node.handle_datagram(NOW, addr(9999), &datagram(gossip));
    let out = sent(&drain(&mut node));
    assert_eq!(out.len(), 1, "only a challenge to the claimed sender");
    assert!(matches!(out[0], (to, Message::Challenge(_)) if to == addr(9999)));
}

#[test]
fn spoofed_challenge_gains_nothing() {
    let mut node = node_with_chain(1);
    let challenge = Challenge {
        token: "ab".repeat(16),
    };
    let challenge_len = datagram(challenge.clone()).len();
    // Our GOSSIP went out at start: a stranger's CHALLENGE may be a peer it reached, and gets a
    // VERIFY no larger than the CHALLENGE, and nothing else.
    node.handle_datagram(NOW, addr(9999), &datagram(challenge.clone()));
    let out = drain(&mut node);
    assert!(matches!(sent(&out)[..], [(to, Message::Verify(_))] if to == addr(9999)));
    assert!(matches!(&out[0], Output::Send { bytes, .. } if bytes.len() <= challenge_len));
    // Once the announcement is old, a stranger's CHALLENGE gets nothing.
    let later = NOW + node.config().gossip_interval_ms + 1;
    node.handle_datagram(later, addr(9998), &datagram(challenge.clone()));
    assert!(sent(&drain(&mut node)).is_empty());
    // A challenge from a peer we just asked something is answered, and the request resent.
    node.send_request(
        later,
        addr(6002),
        &GetBlock {
            height: 1,
            hash: None,
        }
        .into(),
    );
    drain(&mut node);
    node.handle_datagram(later, addr(6002), &datagram(challenge));
    let out = sent(&drain(&mut node));
    assert!(matches!(out[0], (_, Message::Verify(_))), "{out:?}");
    assert!(out[1..]
        .iter()
        .any(|(to, m)| *to == addr(6002) && matches!(m, Message::GetBlock(_))));
}

#[test]
fn missing_field_datagram_is_counted_and_dropped() {
    let mut node = node_with_chain(1);
    node.handle_datagram(NOW, addr(6002), br#"{"type":"GET_BLOCK"}"#);
    node.handle_datagram(
        NOW,
        addr(6002),
        br#"{"type":"GOSSIP","host":"h","port":1,"name":"n"}"#,
    );
    assert!(sent(&drain(&mut node)).is_empty());
    assert_eq!(node.stats().decode_errors.get("missing_field"), Some(&2));
    assert_eq!(node.chain().unwrap().height(), 1);
}

#[test]
fn a_lying_height_costs_bounded_requests_then_a_ban() {
    let mut node = node_with_chain(1);
    let liar = addr(6002);
    verify(&mut node, liar);
    node.start_round(NOW);
    drain(&mut node);
    let lie = StatsReply {
        height: 1_000_000,
        hash: votechain_chain::Hash([7; 32]),
    };
    node.handle_datagram(NOW, liar, &datagram(lie));
    let mut now = NOW;
    let mut requests = 0;
    let mut banned = false;
    // The liar answers nothing; walk the clock through its deadlines.
    for _ in 0..200 {
        now += 250;
        node.handle_timeout(now);
        for o in drain(&mut node) {
            match o {
                Output::Send { to, bytes } if to == liar => {
                    if let Ok(Message::RequestChain(_)) = decode(&bytes) {
                        requests += 1;
                    }
                }
                Output::Event(Event::PeerBanned { peer, .. }) if peer == liar => banned = true,
                _ => {}
            }
        }
        if banned {
            break;
        }
    }
    assert!(banned, "the liar is banned");
    // Each timeout costs the liar 3 points; it is banned at the 4th (12 ≥ 10), having been sent
    // 4 rounds of `sync_per_peer` requests.
    let cfg = node.config();
    let bound = cfg.strike_limit.div_ceil(3) as usize * cfg.sync_per_peer;
    assert!(
        requests <= bound,
        "bounded work: {requests} requests, bound {bound}"
    );
    assert!(!node.syncing());
    // Its datagrams are now dropped.
    node.handle_datagram(now, liar, &datagram(Stats {}));
    assert!(sent(&drain(&mut node)).is_empty());
}

#[test]
fn invalid_block_bans_its_sender_and_keeps_the_chain() {
    let mut node = node_with_chain(2);
    let tip = node.chain().unwrap().tip_hash();
    let mut other = ChainState::new(
        &Ballot::open("Other", &["A", "B"], 0),
        ChainConfig::default(),
    )
    .unwrap();
    // A block of another election does not connect: an orphan, not a ban; a block with a vote
    // for a choice not on the ballot is invalid: a ban.
    let foreign = VoterKey::from_seed([3; 32]);
    let vote = Vote::sign(foreign.signing_key(), other.election(), "A");
    other.submit_vote(vote.clone()).unwrap();
    let election = node.chain().unwrap().election();
    let bad_vote = Vote::sign(foreign.signing_key(), election, "Nobody");
    let bad = BlockTemplate::new(tip, 2, 0, NOW, "m", vec![bad_vote])
        .unwrap()
        .seal(0);
    node.handle_datagram(NOW, addr(6003), &datagram(NewBlock { block: bad }));
    let outputs = drain(&mut node);
    assert!(outputs
        .iter()
        .any(|o| matches!(o, Output::Event(Event::PeerBanned { .. }))));
    assert_eq!(node.chain().unwrap().tip_hash(), tip);
    assert!(sent(&outputs).is_empty(), "an invalid block is not relayed");
}

#[test]
fn accepted_vote_is_persisted_before_its_receipt() {
    let mut node = node_with_chain(1);
    let election = node.chain().unwrap().election();
    let vote = Vote::sign(VoterKey::from_seed([5; 32]).signing_key(), election, "Adam");
    node.handle_datagram(
        NOW,
        addr(9999),
        &datagram(SubmitVote { vote: vote.clone() }),
    );
    let outputs = drain(&mut node);
    let persist = outputs
        .iter()
        .position(|o| *o == Output::Persist(Record::Vote(vote.clone())));
    let receipt = outputs.iter().position(|o| match o {
        Output::Send { to, bytes } => {
            *to == addr(9999) && matches!(decode(bytes), Ok(Message::Receipt(_)))
        }
        _ => false,
    });
    assert!(
        persist.is_some() && receipt.is_some() && persist < receipt,
        "{outputs:?}"
    );
}

#[test]
fn a_missing_ancestor_fetched_by_hash_connects_without_a_strike() {
    // Blocks 3, 4 and 5 arrive before 2: the missing ancestor is two below the height hint,
    // and the peer answering the GET_BLOCK by hash must not be taken for a liar.
    let mut node = node_with_chain(1);
    let peer = addr(6002);
    verify(&mut node, peer);
    let mut chain: Vec<Block> = vec![node.chain().unwrap().tip().clone()];
    for _ in 0..4 {
        let parent = chain.last().unwrap();
        let t = BlockTemplate::new(parent.hash(), parent.height(), 0, NOW, "m", vec![]).unwrap();
        chain.push(t.seal(0));
    }
    for i in [3, 2, 4] {
        node.handle_datagram(
            NOW,
            peer,
            &datagram(NewBlock {
                block: chain[i].clone(),
            }),
        );
    }
    let asked = sent(&drain(&mut node));
    let wanted = chain[1].hash();
    assert!(asked
        .iter()
        .any(|(_, m)| matches!(m, Message::GetBlock(g) if g.hash == Some(wanted))));
    let reply = GetBlockReply {
        height: 4,
        block: Some(chain[1].clone()),
    };
    node.handle_datagram(NOW, peer, &datagram(reply));
    node.end_of_burst(NOW);
    drain(&mut node);
    assert_eq!(node.chain().unwrap().tip_hash(), chain[4].hash());
    assert_eq!(node.peers.get(&peer).unwrap().strikes, 0);
}

#[test]
fn a_new_block_is_persisted_before_it_is_relayed() {
    let mut node = node_with_chain(1);
    let tip = node.chain().unwrap().tip().clone();
    let next = BlockTemplate::new(tip.hash(), tip.height(), 0, NOW, "m", vec![])
        .unwrap()
        .seal(0);
    node.handle_datagram(
        NOW,
        addr(6002),
        &datagram(NewBlock {
            block: next.clone(),
        }),
    );
    let outputs = drain(&mut node);
    let persist = outputs
        .iter()
        .position(|o| *o == Output::Persist(Record::Block(next.clone())));
    let relay = outputs.iter().position(|o| match o {
        Output::Send { to, bytes } => {
            *to == addr(6003) && matches!(decode(bytes), Ok(Message::NewBlock(_)))
        }
        _ => false,
    });
    assert!(
        persist.is_some() && relay.is_some() && persist < relay,
        "{outputs:?}"
    );
    assert!(
        !sent(&outputs)
            .iter()
            .any(|(to, m)| *to == addr(6002) && matches!(m, Message::NewBlock(_))),
        "not relayed back to its sender"
    );
}
