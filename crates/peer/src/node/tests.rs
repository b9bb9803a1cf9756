//! Unit tests of the node's decisions against the failures seen in the seed implementations,
//! driving the sans-IO core directly: datagrams in, outputs inspected, no sockets, no clock.

use super::*;
use crate::config::MiningMode;
use crate::profile::{self, BatchVerdict, Handshakes, Profile};
use rand::SeedableRng;
use votechain_chain::{Ballot, Block, BlockTemplate, ChainConfig, Hash, Vote, VoterKey};
use votechain_proto::limits::unverified_reply_budget;
use votechain_proto::{
    decode, decode_envelope, encode, with_envelope, Challenge, Envelope, GetBlock, GetBlockReply,
    Gossip, NewBlock, RequestChain, Stats, StatsReply, SubmitVote,
};

/// The seeded RNG every test node draws from.
fn rng() -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(7)
}

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
    let mut node = Node::new(cfg, rng(), Some(chain));
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
            Output::Send(Transmit { to, bytes }) => Some((*to, decode(bytes).unwrap())),
            _ => None,
        })
        .collect()
}

fn datagram(m: impl Into<Message>) -> Vec<u8> {
    encode(&m.into()).unwrap()
}

/// `m` as `from` sends it after receiving our cookie: it proves its origin.
fn proven(node: &Node, from: SocketAddr, m: impl Into<Message>) -> Vec<u8> {
    let envelope = Envelope {
        cookie: Some(Cookie([0x5a; 16])),
        echo: Some(node.origin.cookie(&from, NOW)),
    };
    with_envelope(&datagram(m), &envelope)
}

/// Bytes of every datagram in `outputs`.
fn bytes_sent(outputs: &[Output]) -> usize {
    outputs
        .iter()
        .map(|o| match o {
            Output::Send(Transmit { bytes, .. }) => bytes.len(),
            _ => 0,
        })
        .sum()
}

#[test]
fn request_chain_gets_blocks_only_when_it_proves_its_origin() {
    let mut node = node_with_chain(100);
    let victim = addr(9999);
    let request = datagram(RequestChain {
        start: 0,
        count: 64,
    });
    node.handle_datagram(NOW, victim, &request);
    let outputs = drain(&mut node);
    let out = sent(&outputs);
    assert_eq!(out.len(), 1);
    assert!(matches!(out[0], (to, Message::Challenge(_)) if to == victim));
    assert!(bytes_sent(&outputs) <= unverified_reply_budget(request.len()));

    // Attack 3: the address proved itself a moment ago, so under the old "verified address"
    // rule a forged request "from" it got the whole batch. The proof now travels with each
    // request, so a forged one (no echo) still gets only a CHALLENGE.
    node.handle_datagram(NOW, victim, &proven(&node, victim, Stats {}));
    drain(&mut node);
    node.handle_datagram(NOW, victim, &request);
    let outputs = drain(&mut node);
    assert!(matches!(sent(&outputs)[..], [(_, Message::Challenge(_))]));
    assert!(bytes_sent(&outputs) <= unverified_reply_budget(request.len()));

    let request = proven(
        &node,
        victim,
        RequestChain {
            start: 0,
            count: 64,
        },
    );
    node.handle_datagram(NOW, victim, &request);
    let out = sent(&drain(&mut node));
    assert_eq!(
        out.len(),
        64,
        "a proven request gets the batch it asked for"
    );
}

#[test]
fn a_flood_of_chain_requests_is_served_a_bounded_amount_per_burst() {
    // Attack 8: 256 REQUEST_CHAINs in one burst each queued 64 blocks (662 MB peak).
    let mut node = node_with_chain(100);
    let stranger = addr(9999);
    let request = proven(
        &node,
        stranger,
        RequestChain {
            start: 0,
            count: 64,
        },
    );
    let mut blocks = 0;
    for _ in 0..256 {
        node.handle_datagram(NOW, stranger, &request);
        blocks += sent(&drain(&mut node)).len();
    }
    assert_eq!(blocks as u64, serve::SERVE_PER_BURST);
    node.end_of_burst(NOW);
    node.handle_datagram(NOW, stranger, &request);
    assert_eq!(
        sent(&drain(&mut node)).len(),
        64,
        "served again after the burst"
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
    let Output::Send(Transmit { bytes, .. }) = &outputs[0] else {
        panic!("a send")
    };
    assert!(bytes.len() <= unverified_reply_budget(request.len()));
}

#[test]
fn a_forged_gossip_naming_a_victim_costs_the_victim_one_small_datagram_per_cooldown() {
    // Attack 5: every peer used to CHALLENGE the originator named in each forwarded GOSSIP.
    let mut node = node_with_chain(1);
    let victim = addr(9999);
    let mut to_victim = 0;
    for i in 0..50 {
        let gossip = Gossip {
            host: "127.0.0.1".into(),
            port: 9999,
            id: format!("forged-{i}"),
            name: "victim".into(),
        };
        // Forwarded by a real peer, so the datagram proves its sender, not its originator.
        node.handle_datagram(NOW + i, addr(6002), &proven(&node, addr(6002), gossip));
        to_victim += drain(&mut node)
            .iter()
            .filter(
                |o| matches!(o, Output::Send(Transmit { to, bytes }) if *to == victim && bytes.len() <= 256),
            )
            .count();
    }
    assert_eq!(to_victim, 1, "one small GOSSIP_REPLY per cooldown");
    assert!(node.peers.get(&victim).is_none(), "named is not proven");
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
    // A CHALLENGE that does not echo our cookie gets nothing, even from a peer we asked.
    node.send_request(
        NOW,
        addr(6002),
        &GetBlock {
            height: 1,
            hash: None,
        }
        .into(),
    );
    drain(&mut node);
    node.handle_datagram(NOW, addr(6002), &datagram(challenge.clone()));
    assert!(sent(&drain(&mut node)).is_empty());
    node.handle_datagram(NOW, addr(9999), &datagram(challenge.clone()));
    assert!(sent(&drain(&mut node)).is_empty());
    // The real CHALLENGE echoes the cookie of our request: VERIFY, and the request resent
    // echoing the challenger's token.
    node.handle_datagram(NOW, addr(6002), &proven(&node, addr(6002), challenge));
    let outputs = drain(&mut node);
    let out = sent(&outputs);
    assert!(matches!(out[0], (_, Message::Verify(_))), "{out:?}");
    let resent = outputs.iter().find_map(|o| match o {
        Output::Send(Transmit { to, bytes }) if *to == addr(6002) => {
            match decode_envelope(bytes).unwrap() {
                (Message::GetBlock(_), envelope) => Some(envelope),
                _ => None,
            }
        }
        _ => None,
    });
    assert_eq!(resent.unwrap().echo, Cookie::parse(&"ab".repeat(16)));
}

#[test]
fn forged_garbage_and_forged_bad_blocks_cost_the_impersonated_peer_nothing() {
    // Attack 6: undecodable datagrams or a bad NEW_BLOCK forged "from" a peer got it banned.
    let mut node = node_with_chain(2);
    let honest = addr(6002);
    for _ in 0..1_000 {
        node.handle_datagram(NOW, honest, b"\xff garbage");
    }
    node.handle_datagram(
        NOW,
        honest,
        &datagram(NewBlock {
            block: bad_block(&node),
        }),
    );
    let outputs = drain(&mut node);
    assert!(!outputs
        .iter()
        .any(|o| matches!(o, Output::Event(Event::PeerBanned { .. }))));
    assert_eq!(node.peers.get(&honest).unwrap().strikes, 0);
    assert!(!node.peers.is_banned(&honest, NOW));
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
fn a_forged_height_claim_starts_no_sync() {
    let mut node = node_with_chain(1);
    node.start_round(NOW);
    drain(&mut node);
    let lie = StatsReply {
        height: 1_000_000,
        hash: votechain_chain::Hash([7; 32]),
    };
    node.handle_datagram(NOW, addr(6002), &datagram(lie));
    assert!(!node.syncing(), "a claim must echo the cookie of our STATS");
}

#[test]
fn a_lying_height_costs_bounded_requests_then_a_ban() {
    let mut node = node_with_chain(1);
    let liar = addr(6002);
    node.start_round(NOW);
    drain(&mut node);
    let lie = StatsReply {
        height: 1_000_000,
        hash: votechain_chain::Hash([7; 32]),
    };
    node.handle_datagram(NOW, liar, &proven(&node, liar, lie));
    let mut now = NOW;
    let mut requests = 0;
    let mut banned = false;
    // The liar answers nothing; walk the clock through its deadlines.
    for _ in 0..200 {
        now += 250;
        node.handle_timeout(now);
        for o in drain(&mut node) {
            match o {
                Output::Send(Transmit { to, bytes }) if to == liar => {
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

/// A block on our tip with a vote for a choice not on the ballot: invalid forever.
fn bad_block(node: &Node) -> Block {
    let tip = node.chain().unwrap().tip();
    let election = node.chain().unwrap().election();
    let voter = VoterKey::from_seed([3; 32]);
    let bad_vote = Vote::sign(voter.signing_key(), election, "Nobody");
    BlockTemplate::new(tip.hash(), tip.height(), 0, NOW, "m", vec![bad_vote])
        .unwrap()
        .seal(0)
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
    node.handle_datagram(
        NOW,
        addr(6003),
        &proven(&node, addr(6003), NewBlock { block: bad }),
    );
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
        Output::Send(Transmit { to, bytes }) => {
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
    node.handle_datagram(NOW, peer, &proven(&node, peer, reply));
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
        Output::Send(Transmit { to, bytes }) => {
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

#[test]
fn a_block_from_the_future_is_reconsidered_when_it_arrives_again() {
    // Attack 1: the block was remembered as seen when refused, so it could never connect.
    let mut node = node_with_chain(1);
    let tip = node.chain().unwrap().tip().clone();
    let limit = votechain_chain::limits::MAX_FUTURE_DRIFT_MS;
    let early = BlockTemplate::new(
        tip.hash(),
        tip.height(),
        0,
        NOW + limit + 1_000,
        "m",
        vec![],
    )
    .unwrap()
    .seal(0);
    let message = proven(
        &node,
        addr(6002),
        NewBlock {
            block: early.clone(),
        },
    );
    node.handle_datagram(NOW, addr(6002), &message);
    drain(&mut node);
    assert_eq!(node.chain().unwrap().tip_hash(), tip.hash());
    assert_eq!(
        node.peers.get(&addr(6002)).unwrap().strikes,
        0,
        "early is not invalid"
    );
    node.handle_datagram(NOW + 2_000, addr(6002), &message);
    drain(&mut node);
    assert_eq!(node.chain().unwrap().tip_hash(), early.hash());
}

#[test]
fn a_far_ahead_block_from_a_stranger_neither_takes_the_sync_nor_stops_mining() {
    // Attack 2: one PoW-valid block far above our tip, from an address we do not know.
    let mut node = node_with_chain(1);
    node.handle_command(NOW, Command::SetMining(true));
    drain(&mut node);
    let far = BlockTemplate::new(votechain_chain::Hash([9; 32]), 500, 0, NOW, "m", vec![])
        .unwrap()
        .seal(0);
    let later = NOW + 5_000;
    node.handle_datagram(
        later,
        addr(9999),
        &proven(&node, addr(9999), NewBlock { block: far }),
    );
    node.end_of_burst(later);
    let outputs = drain(&mut node);
    assert!(!node.syncing());
    assert!(!outputs.iter().any(|o| matches!(o, Output::Mine(None))));
    // It makes us ask the peers we know instead.
    assert!(sent(&outputs)
        .iter()
        .any(|(to, m)| *to == addr(6002) && matches!(m, Message::Stats(_))));
}

#[test]
fn a_sync_that_delivers_nothing_is_abandoned_and_mining_resumes() {
    let mut node = node_with_chain(1);
    node.handle_command(NOW, Command::SetMining(true));
    node.start_round(NOW);
    drain(&mut node);
    // A proven peer of our table claims a far longer chain and then serves nothing. Its
    // stalls strike it; whatever the strike settings, the sync ends within the idle limit.
    node.cfg.strike_limit = u32::MAX;
    let lie = StatsReply {
        height: 1_000_000,
        hash: votechain_chain::Hash([7; 32]),
    };
    node.handle_datagram(NOW, addr(6002), &proven(&node, addr(6002), lie));
    node.finish_round(NOW);
    assert!(node.syncing());
    let mut now = NOW;
    let mut outputs = Vec::new();
    while node.syncing() && now < NOW + 10 * node.cfg.sync_idle_limit_ms {
        now = node
            .poll_timeout()
            .expect("housekeeping is always due")
            .max(now + 1);
        node.handle_timeout(now);
        outputs = drain(&mut node);
    }
    assert!(!node.syncing());
    assert!(
        now <= NOW + node.cfg.sync_idle_limit_ms + 1_000,
        "ended at {}",
        now - NOW
    );
    assert!(outputs.iter().any(|o| matches!(o, Output::Mine(Some(_)))));
}

#[test]
fn tracker_datagrams_count_only_when_they_echo_our_cookie() {
    // Attack 9: a forged UPDATE_PEERS planted addresses; a forged BALLOT_OPTIONS was adopted.
    let tracker = addr(5000);
    let mut cfg = NodeConfig::new(addr(6001));
    cfg.tracker = Some(tracker);
    let mut node = Node::new(cfg, rng(), None);
    node.handle_timeout(NOW);
    drain(&mut node);
    let planted = votechain_proto::UpdatePeers {
        peer_list: vec![addr(7777), addr(7778)],
    };
    node.handle_datagram(NOW, tracker, &datagram(planted.clone()));
    let ballot = ballot();
    let election = Block::genesis(&ballot).unwrap().hash();
    let options = votechain_proto::BallotOptions::new(&ballot, election);
    node.handle_datagram(NOW, tracker, &datagram(options.clone()));
    assert!(node.peers.get(&addr(7777)).is_none());
    assert!(node.chain().is_none());
    // The same, echoing our cookie, is the tracker speaking: the list replaces the last one.
    node.handle_datagram(NOW, tracker, &proven(&node, tracker, planted));
    node.handle_datagram(NOW, tracker, &proven(&node, tracker, options));
    assert!(node.peers.get(&addr(7777)).is_some());
    assert!(node.chain().is_some());
    let next = votechain_proto::UpdatePeers {
        peer_list: vec![addr(7778)],
    };
    node.handle_datagram(NOW, tracker, &proven(&node, tracker, next));
    assert!(
        node.peers.get(&addr(7777)).is_none(),
        "evicted members leave"
    );
}

#[test]
fn under_pressure_the_pool_admits_only_proven_senders_up_to_their_share() {
    // Attack 7's other half: in an open election one sender must not fill the pool alone.
    let config = ChainConfig {
        max_pending_votes: 64,
        ..ChainConfig::default()
    };
    let chain = ChainState::new(&ballot(), config).unwrap();
    let election = chain.election();
    let mut cfg = NodeConfig::new(addr(6001));
    cfg.mining = MiningMode::Off;
    let mut node = Node::new(cfg, rng(), Some(chain));
    node.handle_timeout(NOW);
    drain(&mut node);
    let vote = |i: u32| {
        let mut seed = [0u8; 32];
        seed[..4].copy_from_slice(&i.to_be_bytes());
        Vote::sign(VoterKey::from_seed(seed).signing_key(), election, "Adam")
    };
    let flooder = addr(9999);
    let mut i = 0;
    // Below half full, anyone's votes are taken, proven or not.
    while node.chain().unwrap().pool().len() < 32 {
        node.handle_datagram(NOW, flooder, &datagram(SubmitVote { vote: vote(i) }));
        drain(&mut node);
        i += 1;
    }
    assert_eq!(i, 32);
    // Past half: an unproven sender is refused, and told why.
    node.handle_datagram(NOW, flooder, &datagram(SubmitVote { vote: vote(i) }));
    let out = sent(&drain(&mut node));
    assert!(
        matches!(&out[..], [(_, Message::Receipt(r))] if matches!(&r.status, votechain_proto::ReceiptStatus::Rejected { reason } if reason.contains("busy"))),
        "{out:?}"
    );
    assert_eq!(node.chain().unwrap().pool().len(), 32);
    // A proven sender that brought in 32 votes is over its share (64 / 8 = 8) too...
    node.handle_datagram(
        NOW,
        flooder,
        &proven(&node, flooder, SubmitVote { vote: vote(i) }),
    );
    drain(&mut node);
    assert_eq!(node.chain().unwrap().pool().len(), 32);
    // ...while another proven sender still gets its share in, and a console vote always does.
    let voter = addr(9000);
    for k in 0..20 {
        node.handle_datagram(
            NOW,
            voter,
            &proven(
                &node,
                voter,
                SubmitVote {
                    vote: vote(1_000 + k),
                },
            ),
        );
    }
    drain(&mut node);
    assert_eq!(node.chain().unwrap().pool().len(), 40);
    assert!(matches!(
        node.handle_command(NOW, Command::SubmitVote(vote(5_000))),
        Reply::Vote(SubmitReply::Pending(_))
    ));
    assert_eq!(node.stats().votes_refused, 1 + 1 + 12);
}

#[test]
fn a_side_block_far_below_the_tip_is_stored_but_not_relayed() {
    // Attack 13: cheap blocks off old ancestors were relayed by every peer.
    let mut node = node_with_chain(5);
    let genesis = node.chain().unwrap().block_at(0).unwrap().clone();
    let side = BlockTemplate::new(genesis.hash(), 0, 0, NOW + 1, "spam", vec![])
        .unwrap()
        .seal(0);
    node.handle_datagram(
        NOW,
        addr(6002),
        &proven(
            &node,
            addr(6002),
            NewBlock {
                block: side.clone(),
            },
        ),
    );
    let outputs = drain(&mut node);
    assert!(
        node.chain().unwrap().contains(&side.hash()),
        "kept as a side block"
    );
    assert!(
        !sent(&outputs)
            .iter()
            .any(|(_, m)| matches!(m, Message::NewBlock(_))),
        "not relayed"
    );
}

/// The native profile without address cookies: what a profile whose peers cannot echo a cookie
/// (the course network's) gets from the seam.
#[derive(Debug)]
struct NoCookies;

impl Profile for NoCookies {
    fn dialect(&self) -> &dyn votechain_proto::Dialect {
        profile::Native.dialect()
    }
    fn handshakes(&self) -> Handshakes {
        Handshakes {
            address_cookies: false,
        }
    }
    fn unverified_reply_budget(&self, request_len: usize) -> usize {
        profile::Native.unverified_reply_budget(request_len)
    }
    fn new_chain(&self, ballot: &Ballot) -> Result<ChainState, votechain_chain::BallotError> {
        profile::Native.new_chain(ballot)
    }
    fn verify_blocks(&self, blocks: Vec<Block>, difficulty: u32) -> Vec<BatchVerdict> {
        profile::Native.verify_blocks(blocks, difficulty)
    }
}

#[test]
fn a_profile_without_address_cookies_sends_no_envelope_no_challenge_and_proves_nothing() {
    let mut cfg = NodeConfig::new(addr(6001));
    cfg.mining = MiningMode::Off;
    cfg.profile = std::sync::Arc::new(NoCookies);
    let chain = ChainState::new(&ballot(), ChainConfig::default()).unwrap();
    let mut node = Node::new(cfg, rng(), Some(chain));
    node.peers.add(addr(6002), Source::Tracker, NOW);
    node.handle_timeout(NOW);
    let outputs = drain(&mut node);
    assert!(
        !sent(&outputs).is_empty(),
        "the first round asks the peer for STATS"
    );
    for o in &outputs {
        if let Output::Send(t) = o {
            let (_, envelope) = decode_envelope(&t.bytes).unwrap();
            assert_eq!(envelope, Envelope::default(), "no cookies on the wire");
        }
    }
    // A request that needs proof gets nothing (no CHALLENGE: there is nothing to prove with),
    // even when it echoes what would have been our cookie.
    let request = RequestChain { start: 0, count: 8 };
    node.handle_datagram(NOW, addr(6002), &proven(&node, addr(6002), request));
    assert!(sent(&drain(&mut node)).is_empty());
    assert_eq!((node.stats().proven, node.stats().challenges_sent), (0, 0));
    // What fits the anti-amplification budget is still answered.
    node.handle_datagram(NOW, addr(6002), &datagram(Stats {}));
    assert!(matches!(
        sent(&drain(&mut node))[..],
        [(_, Message::StatsReply(_))]
    ));
}

/// The `ConsensusDone` events in `outputs`.
fn consensus_reports(outputs: &[Output]) -> Vec<Event> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Event(e @ Event::ConsensusDone { .. }) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_consensus_round_asked_for_reports_its_outcome_and_a_periodic_one_does_not() {
    let mut node = node_with_chain(3);
    let tip = node.chain().unwrap().tip_hash();
    let answer = |node: &mut Node, from| {
        let reply = StatsReply {
            height: 4,
            hash: tip,
        };
        let datagram = proven(node, from, reply);
        node.handle_datagram(NOW, from, &datagram);
        drain(node)
    };
    // A periodic round: nothing reported.
    node.start_round(NOW);
    drain(&mut node);
    answer(&mut node, addr(6002));
    assert!(consensus_reports(&answer(&mut node, addr(6003))).is_empty());
    // The console's `consensus`: reported once both peers answered.
    node.handle_command(NOW, Command::Consensus);
    drain(&mut node);
    assert!(consensus_reports(&answer(&mut node, addr(6002))).is_empty());
    let done = consensus_reports(&answer(&mut node, addr(6003)));
    assert_eq!(
        done,
        [Event::ConsensusDone {
            asked: 2,
            replied: 2,
            fetching: None,
            ours: 4,
        }]
    );
}

/// A node with `tracker` as its tracker and, when `chain`, the test election; its first timer
/// has fired.
fn node_with_tracker(tracker: SocketAddr, chain: bool, learn_address: bool) -> Node {
    let mut cfg = NodeConfig::new(addr(6001));
    cfg.tracker = Some(tracker);
    cfg.learn_address = learn_address;
    cfg.mining = MiningMode::Off;
    let chain = chain.then(|| ChainState::new(&ballot(), ChainConfig::default()).unwrap());
    let mut node = Node::new(cfg, rng(), chain);
    node.handle_timeout(NOW);
    drain(&mut node);
    node
}

#[test]
fn a_peer_bound_to_any_address_advertises_what_the_tracker_observed_and_nothing_forged() {
    let tracker = addr(5000);
    let seen_at = SocketAddr::from(([10, 0, 0, 9], 6001));
    let ack = |observed| votechain_proto::RegisterAck {
        peer_list: vec![observed, addr(6002)],
        observed: Some(observed),
    };
    let mut node = node_with_tracker(tracker, true, true);
    // A forged REGISTER_ACK (no echo of our cookie) chooses nothing.
    let forged = SocketAddr::from(([192, 0, 2, 1], 9));
    node.handle_datagram(NOW, tracker, &datagram(ack(forged)));
    assert_eq!(node.config().me, addr(6001));
    // The tracker's own answer: we announce that address at once, and never list ourselves.
    node.handle_datagram(NOW, tracker, &proven(&node, tracker, ack(seen_at)));
    assert_eq!(node.config().me, seen_at);
    assert!(
        node.peers.get(&seen_at).is_none(),
        "we are not our own peer"
    );
    node.handle_timeout(NOW + 1);
    let gossip: Vec<Gossip> = sent(&drain(&mut node))
        .into_iter()
        .filter_map(|(_, m)| match m {
            Message::Gossip(g) => Some(g),
            _ => None,
        })
        .collect();
    assert!(!gossip.is_empty(), "the new address is announced at once");
    assert!(gossip
        .iter()
        .all(|g| (g.host.as_str(), g.port) == ("10.0.0.9", 6001)));

    // With an address of our own (--advertise, or a bound one), the observed address only
    // stays out of our table.
    let mut fixed = node_with_tracker(tracker, true, false);
    fixed.handle_datagram(NOW, tracker, &proven(&fixed, tracker, ack(seen_at)));
    assert_eq!(fixed.config().me, addr(6001));
    assert!(fixed.peers.get(&seen_at).is_none());
    assert!(fixed.peers.get(&addr(6002)).is_some());
}

#[test]
fn a_refusal_counts_only_from_the_tracker_and_is_said_once() {
    let tracker = addr(5000);
    let mut node = node_with_tracker(tracker, true, false);
    let ours = node.chain().unwrap().election();
    let refusal = votechain_proto::RegisterRefused {
        election: Hash([9; 32]),
        title: "Dinner\u{1b}[2J".into(),
        reason: "not yours".into(),
    };
    let mismatches = |outputs: &[Output]| -> Vec<Event> {
        outputs
            .iter()
            .filter_map(|o| match o {
                Output::Event(e @ Event::ElectionMismatch { .. }) => Some(e.clone()),
                _ => None,
            })
            .collect()
    };
    node.handle_datagram(NOW, tracker, &datagram(refusal.clone()));
    assert!(
        mismatches(&drain(&mut node)).is_empty(),
        "a forged refusal is ignored"
    );
    node.handle_datagram(NOW, tracker, &proven(&node, tracker, refusal.clone()));
    let said = mismatches(&drain(&mut node));
    assert_eq!(
        said,
        [Event::ElectionMismatch {
            ours: (ours, "Test".into()),
            tracker: (Hash([9; 32]), "Dinner\u{fffd}[2J".into()),
            reason: Some("not yours".into()),
        }]
    );
    node.handle_datagram(NOW, tracker, &proven(&node, tracker, refusal));
    assert!(mismatches(&drain(&mut node)).is_empty(), "said once");
    // Registration goes on: a tracker restarted with our election takes us back.
    node.handle_timeout(NOW + 10_000);
    let out = sent(&drain(&mut node));
    assert!(
        out.iter().any(|(to, m)| *to == tracker
            && matches!(m, Message::RegisterPeer(r) if r.election == Some(ours))),
        "{out:?}"
    );
}

#[test]
fn a_peer_of_another_election_is_set_aside_without_strikes() {
    let mut node = node_with_chain(2);
    let mut other = ChainState::new(
        &Ballot::open("Other", &["A", "B"], 0),
        ChainConfig::default(),
    )
    .unwrap();
    let t = BlockTemplate::new(other.tip_hash(), 0, 0, NOW, "o", vec![]).unwrap();
    let theirs_1 = t.seal(0);
    other.add_block(theirs_1.clone(), NOW).unwrap();
    let theirs_0 = other.block_at(0).unwrap().clone();
    let foreign = addr(6003);

    // Its block 1 (parent: its genesis) arrives as news, proven: set aside, said once.
    node.handle_datagram(
        NOW,
        foreign,
        &proven(&node, foreign, NewBlock { block: theirs_1 }),
    );
    let outputs = drain(&mut node);
    let said: Vec<&Event> = outputs
        .iter()
        .filter_map(|o| match o {
            Output::Event(e) => Some(e),
            _ => None,
        })
        .collect();
    assert_eq!(
        said,
        [&Event::OtherElection {
            peer: foreign,
            election: other.election()
        }]
    );
    assert!(
        sent(&outputs).is_empty(),
        "nothing fetched, nothing relayed"
    );
    // Its genesis as a sync answer: no strike, no ban, no second line.
    let reply = GetBlockReply {
        height: 0,
        block: Some(theirs_0),
    };
    node.handle_datagram(NOW, foreign, &proven(&node, foreign, reply));
    let outputs = drain(&mut node);
    assert!(
        !outputs.iter().any(|o| matches!(o, Output::Event(_))),
        "{outputs:?}"
    );
    let info = node.peers.get(&foreign).unwrap();
    assert_eq!((info.strikes, info.banned_until_ms), (0, 0));
    // Set aside: not asked in rounds, not relayed to, its claims not taken.
    assert!(!node.peers.active(NOW).contains(&foreign));
    let claim = StatsReply {
        height: 50,
        hash: other.tip_hash(),
    };
    node.handle_datagram(NOW, foreign, &proven(&node, foreign, claim));
    drain(&mut node);
    assert!(node.peers.get(&foreign).unwrap().reported.is_none());
    assert!(!node.syncing());
    // An honest peer of our election is untouched.
    assert!(node.peers.active(NOW).contains(&addr(6002)));
}

#[test]
fn a_peer_that_does_not_mine_hands_its_votes_over_again_each_round_until_mined() {
    // A vote typed here while no peer is known yet: its one relay goes to no one.
    let mut node = node_with_chain(0);
    let later = addr(6004);
    node.peers.remove(&addr(6002));
    node.peers.remove(&addr(6003));
    let election = node.chain().unwrap().election();
    let vote = Vote::sign(VoterKey::from_seed([8; 32]).signing_key(), election, "Adam");
    node.handle_command(NOW, Command::SubmitVote(vote.clone()));
    assert!(sent(&drain(&mut node)).is_empty(), "no peer to relay to");
    // A peer joins; the next consensus round hands the vote to it as SUBMIT_VOTE.
    node.peers.add(later, Source::Tracker, NOW);
    let round = NOW + node.config().consensus_interval_ms;
    node.handle_timeout(round);
    let resubmitted = |outputs: &[Output]| {
        sent(outputs)
            .iter()
            .any(|(to, m)| *to == later && matches!(m, Message::SubmitVote(s) if s.vote == vote))
    };
    assert!(resubmitted(&drain(&mut node)), "handed over at the round");
    // Once a block holds it, it is not handed over again.
    let chain = node.chain.as_mut().unwrap();
    let t = BlockTemplate::new(
        chain.tip_hash(),
        chain.height(),
        0,
        NOW,
        "m",
        vec![vote.clone()],
    )
    .unwrap();
    chain.add_block(t.seal(0), NOW).unwrap();
    node.handle_timeout(round + node.config().consensus_interval_ms);
    assert!(!resubmitted(&drain(&mut node)), "mined: no more hand-overs");
}
