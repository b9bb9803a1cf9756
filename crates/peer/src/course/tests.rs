//! The course node driven by hand, datagram by datagram: gossip and its reply rule, serving,
//! back-off, consensus with pipelined sync, a liar, a fork, ANNOUNCE and mining.

use super::event::CourseEvent;
use super::node::{CourseCommand, CourseConfig, CourseNode, CourseOutput};
use std::collections::HashMap;
use std::net::SocketAddr;
use votechain_course::block::CourseBlock;
use votechain_course::chain::CourseChain;
use votechain_course::miner::{CourseJob, CourseSearch};
use votechain_course::wire::{decode, encode, CourseMessage};
use votechain_sansio::output::{Output, Transmit};

const D: u32 = 1;

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn me() -> SocketAddr {
    addr(9000)
}

/// Mines a block on `prev` (tests use difficulty 1: a few dozen hashes).
fn mine(prev: Option<&CourseBlock>, words: &[&str], by: &str) -> CourseBlock {
    let job = CourseJob {
        prev: prev.map(|p| p.hash),
        height: prev.map_or(0, |p| p.height + 1),
        mined_by: by.to_owned(),
        messages: words.iter().map(|w| w.to_string()).collect(),
        timestamp: 1_730_000_000,
        difficulty: D,
    };
    CourseSearch::new(&job)
        .search(0, 1 << 20)
        .expect("difficulty 1 is found within a million tries")
}

/// A chain of `n` blocks, extending `base` when given.
fn chain_of(base: &[CourseBlock], n: usize, by: &str) -> Vec<CourseBlock> {
    let mut blocks = base.to_vec();
    for i in 0..n {
        let word = format!("{by}{i}");
        let b = mine(blocks.last(), &[word.as_str()], by);
        blocks.push(b);
    }
    blocks
}

fn node_with(chain: &[CourseBlock], seeds: Vec<SocketAddr>) -> CourseNode {
    let mut cfg = CourseConfig::new("us".to_owned(), me(), seeds);
    cfg.difficulty = D;
    let chain = CourseChain::from_blocks(chain.to_vec(), D).expect("a valid chain");
    CourseNode::new(cfg, chain)
}

/// Drains the outputs: datagrams decoded, events and the rest kept.
#[derive(Default)]
struct Drained {
    sent: Vec<(SocketAddr, CourseMessage)>,
    events: Vec<CourseEvent>,
    persisted: Vec<CourseBlock>,
    jobs: Vec<Option<CourseJob>>,
    /// Order of kinds, to check a Persist comes before the datagrams after it.
    order: Vec<&'static str>,
}

fn drain(node: &mut CourseNode) -> Drained {
    let mut d = Drained::default();
    while let Some(o) = node.poll_output() {
        let o: CourseOutput = o;
        match o {
            Output::Send(Transmit { to, bytes }) => {
                d.order.push("send");
                d.sent
                    .push((to, decode(&bytes).expect("we send what we decode")));
            }
            Output::Event(e) => d.events.push(e),
            Output::Persist(b) => {
                d.order.push("persist");
                d.persisted.extend(b)
            }
            Output::Mine(j) => d.jobs.push(j),
        }
    }
    d
}

fn datagram(node: &mut CourseNode, now: u64, from: SocketAddr, m: &CourseMessage) -> Drained {
    node.handle_datagram(now, from, &encode(m));
    drain(node)
}

/// Each server's chain, and what it claims in STATS instead when it lies.
type Servers = HashMap<SocketAddr, (Vec<CourseBlock>, Option<(u64, votechain_course::Hash)>)>;

/// Course-style servers in the test: answer every STATS and GET_BLOCK the node sent them from
/// their chains (a liar claims `lie` in STATS), until the node sends nothing more or `now`
/// passes `until`. Returns the node's last time.
fn serve(
    node: &mut CourseNode,
    mut now: u64,
    servers: &Servers,
    first: Vec<(SocketAddr, CourseMessage)>,
    until: u64,
) -> u64 {
    let mut pending = first;
    while now < until {
        if pending.is_empty() {
            now = node.poll_timeout().unwrap_or(now + 100).max(now + 1);
            node.handle_timeout(now);
            pending = drain(node).sent;
            continue;
        }
        for (to, m) in std::mem::take(&mut pending) {
            let Some((chain, lie)) = servers.get(&to) else {
                continue;
            };
            let reply = match m {
                CourseMessage::Stats => CourseMessage::StatsReply(
                    lie.or(chain.last().map(|t| (chain.len() as u64, t.hash))),
                ),
                CourseMessage::GetBlock { height } => {
                    CourseMessage::GetBlockReply(chain.get(height as usize).cloned())
                }
                _ => continue,
            };
            node.handle_datagram(now, to, &encode(&reply));
            pending.extend(drain(node).sent);
        }
    }
    now
}

#[test]
fn gossip_is_answered_at_its_source_unless_the_originator_has_talked_to_us() {
    let mut node = node_with(&[], vec![]);
    node.handle_timeout(0);
    drain(&mut node);
    // A GOSSIP naming a third party, from somewhere else: the reply goes to the source.
    let victim = SocketAddr::from(([127, 0, 0, 77], 7777));
    let gossip = |id: &str, who: SocketAddr| CourseMessage::Gossip {
        host: who.ip().to_string(),
        port: who.port(),
        id: id.to_owned(),
        name: "x".to_owned(),
    };
    let d = datagram(&mut node, 1, addr(5000), &gossip("a", victim));
    let replies: Vec<_> = d
        .sent
        .iter()
        .filter(|(_, m)| matches!(m, CourseMessage::GossipReply { .. }))
        .collect();
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].0, addr(5000), "never to the named victim");
    assert!(d.sent.iter().all(|(to, _)| *to != victim));
    // Once the named address has talked to us itself, the reply goes there (the course rule).
    datagram(&mut node, 2, victim, &CourseMessage::Stats);
    let d = datagram(&mut node, 3, addr(5001), &gossip("b", victim));
    assert!(d
        .sent
        .iter()
        .any(|(to, m)| *to == victim && matches!(m, CourseMessage::GossipReply { .. })));
    // A seen id is forwarded no more.
    let d = datagram(&mut node, 4, addr(5002), &gossip("b", victim));
    assert!(d.sent.is_empty());
}

#[test]
fn an_unseen_gossip_is_forwarded_to_three_peers() {
    let mut node = node_with(&[], vec![]);
    for p in 1..=6 {
        datagram(
            &mut node,
            0,
            addr(6000 + p),
            &CourseMessage::GossipReply {
                host: "127.0.0.1".into(),
                port: 6000 + p,
                name: format!("p{p}"),
            },
        );
    }
    let d = datagram(
        &mut node,
        1,
        addr(6001),
        &CourseMessage::Gossip {
            host: "127.0.0.1".into(),
            port: 6001,
            id: "id-1".into(),
            name: "p1".into(),
        },
    );
    let forwarded: Vec<_> = d
        .sent
        .iter()
        .filter(|(_, m)| matches!(m, CourseMessage::Gossip { id, .. } if id == "id-1"))
        .collect();
    assert_eq!(forwarded.len(), 3);
    assert!(forwarded.iter().all(|(to, _)| *to != addr(6001)));
    // A GOSSIP naming an address that never talked to us, from elsewhere, is not passed on:
    // every peer it reached would answer the named victim.
    let victim = SocketAddr::from(([127, 0, 0, 77], 7777));
    let d = datagram(
        &mut node,
        2,
        addr(6002),
        &CourseMessage::Gossip {
            host: victim.ip().to_string(),
            port: victim.port(),
            id: "id-2".into(),
            name: "forged".into(),
        },
    );
    assert!(
        d.sent
            .iter()
            .all(|(_, m)| !matches!(m, CourseMessage::Gossip { .. })),
        "{:?}",
        d.sent
    );
}

#[test]
fn stats_and_get_block_are_answered_in_the_course_forms() {
    let mut node = node_with(&[], vec![]);
    let d = datagram(&mut node, 0, addr(5000), &CourseMessage::Stats);
    assert_eq!(d.sent, vec![(addr(5000), CourseMessage::StatsReply(None))]);
    let d = datagram(
        &mut node,
        0,
        addr(5000),
        &CourseMessage::GetBlock { height: 0 },
    );
    assert_eq!(
        d.sent,
        vec![(addr(5000), CourseMessage::GetBlockReply(None))]
    );

    let chain = chain_of(&[], 3, "a");
    let mut node = node_with(&chain, vec![]);
    let d = datagram(&mut node, 0, addr(5000), &CourseMessage::Stats);
    assert_eq!(
        d.sent,
        vec![(
            addr(5000),
            CourseMessage::StatsReply(Some((3, chain[2].hash)))
        )]
    );
    let d = datagram(
        &mut node,
        0,
        addr(5000),
        &CourseMessage::GetBlock { height: 1 },
    );
    assert_eq!(
        d.sent,
        vec![(
            addr(5000),
            CourseMessage::GetBlockReply(Some(chain[1].clone()))
        )]
    );
}

#[test]
fn a_height_asked_from_fresh_ports_over_and_over_is_backed_off() {
    let chain = chain_of(&[], 1, "a");
    let mut node = node_with(&chain, vec![]);
    let mut answered = 0;
    for port in 0..10_000u16 {
        let d = datagram(
            &mut node,
            0,
            addr(10_000 + port),
            &CourseMessage::GetBlock { height: 0 },
        );
        answered += d.sent.len();
    }
    assert_eq!(answered, super::guard::REASK_FREE as usize);
    assert_eq!(node.counters().backed_off, 10_000 - answered as u64);
}

#[test]
fn consensus_fetches_the_majority_chain_over_every_agreeing_peer() {
    let honest = chain_of(&[], 40, "h");
    let other = chain_of(&[], 20, "o");
    let peers = [addr(7001), addr(7002), addr(7003)];
    let mut node = node_with(&[], peers.to_vec());
    let mut servers = HashMap::new();
    servers.insert(peers[0], (honest.clone(), None));
    servers.insert(peers[1], (honest.clone(), None));
    servers.insert(peers[2], (other, None));
    node.handle_timeout(0);
    let first = drain(&mut node).sent;
    assert_eq!(
        first
            .iter()
            .filter(|(_, m)| *m == CourseMessage::Stats)
            .count(),
        3
    );
    serve(&mut node, 0, &servers, first, 5_000);
    assert_eq!(node.chain().blocks(), honest.as_slice());
}

#[test]
fn a_liar_with_a_taller_chain_costs_bounded_work_and_the_honest_chain_wins() {
    let honest = chain_of(&[], 30, "h");
    let liar = addr(7009);
    let peers = [addr(7001), liar];
    let mut node = node_with(&[], peers.to_vec());
    let mut servers = HashMap::new();
    servers.insert(peers[0], (honest.clone(), None));
    // Claims a million blocks, serves the honest thirty.
    servers.insert(liar, (honest.clone(), Some((1_000_000, honest[0].hash))));
    node.handle_timeout(0);
    let first = drain(&mut node).sent;
    serve(&mut node, 0, &servers, first, 60_000);
    assert_eq!(node.chain().blocks(), honest.as_slice());
    assert!(
        node.sync_progress().is_none(),
        "the liar's chain was given up"
    );
}

#[test]
fn a_longer_fork_is_found_by_stepping_back_and_switched_to() {
    let common = chain_of(&[], 10, "c");
    let ours = chain_of(&common, 5, "us");
    let theirs = chain_of(&common, 9, "them");
    let peer = addr(7001);
    let mut node = node_with(&ours, vec![peer]);
    let mut servers = HashMap::new();
    servers.insert(peer, (theirs.clone(), None));
    node.handle_timeout(0);
    let first = drain(&mut node).sent;
    serve(&mut node, 0, &servers, first, 10_000);
    assert_eq!(node.chain().blocks(), theirs.as_slice());
}

#[test]
fn an_announced_block_on_our_tip_is_verified_kept_and_passed_on() {
    let chain = chain_of(&[], 3, "a");
    let mut node = node_with(&chain, vec![addr(7001), addr(7002)]);
    let next = mine(chain.last(), &["news"], "b");
    let mut forged = next.clone();
    forged.messages = vec!["forged".into()];
    let d = datagram(&mut node, 0, addr(7001), &CourseMessage::Announce(forged));
    assert!(d.persisted.is_empty(), "a forged body is not kept");
    assert!(
        d.sent
            .iter()
            .all(|(_, m)| !matches!(m, CourseMessage::Announce(_))),
        "nor passed on (it may start a consensus round: it looks like a fork)"
    );
    assert_eq!(node.chain().len(), 3);
    let d = datagram(
        &mut node,
        0,
        addr(7001),
        &CourseMessage::Announce(next.clone()),
    );
    assert_eq!(d.persisted, vec![next.clone()]);
    assert_eq!(
        d.order.first(),
        Some(&"persist"),
        "stored before it is passed on"
    );
    assert_eq!(
        d.sent,
        vec![(addr(7002), CourseMessage::Announce(next))],
        "passed on to every peer but its sender"
    );
}

#[test]
fn a_new_word_is_mined_persisted_and_announced() {
    let chain = chain_of(&[], 2, "a");
    let mut node = node_with(&chain, vec![addr(7001)]);
    node.handle_command(0, CourseCommand::SetMining(true))
        .unwrap();
    let d = datagram(
        &mut node,
        0,
        addr(7001),
        &CourseMessage::NewWord {
            word: "hello".into(),
        },
    );
    let job = d
        .jobs
        .last()
        .cloned()
        .flatten()
        .expect("a job for the word");
    assert_eq!(job.messages, vec!["hello".to_owned()]);
    assert_eq!(job.prev, Some(chain[1].hash));
    let block = CourseSearch::new(&job).search(0, 1 << 20).unwrap();
    node.handle_mined(1, block.clone());
    let d = drain(&mut node);
    assert_eq!(d.persisted, vec![block.clone()]);
    assert_eq!(d.sent, vec![(addr(7001), CourseMessage::Announce(block))]);
    assert!(d.jobs.iter().all(Option::is_none), "nothing left to mine");
    assert_eq!(node.words().count(), 0);
    // Words longer than a block message allows are refused.
    assert!(node
        .handle_command(2, CourseCommand::Word("x".repeat(21)))
        .is_err());
}

#[test]
fn the_largest_reply_is_one_bounded_datagram() {
    use votechain_course::limits::{
        MAX_MESSAGES, MAX_MESSAGE_CHARS, MAX_MINED_BY_CHARS, MAX_NONCE_CHARS,
    };
    // Control characters take six bytes each in JSON (`\u0001`): the worst case of every field.
    let worst = |n: usize| "\u{1}".repeat(n);
    let block = CourseBlock {
        height: u64::MAX,
        mined_by: worst(MAX_MINED_BY_CHARS),
        messages: vec![worst(MAX_MESSAGE_CHARS); MAX_MESSAGES],
        nonce: worst(MAX_NONCE_CHARS),
        timestamp: u64::MAX,
        hash: votechain_course::Hash([0xff; 32]),
    };
    let reply = encode(&CourseMessage::GetBlockReply(Some(block)));
    assert!(block_fits(&reply), "{} bytes", reply.len());
    let request = encode(&CourseMessage::GetBlock { height: 0 });
    assert_eq!(request.len(), super::guard::SMALLEST_REQUEST_BYTES);
    assert!(reply.len() <= super::guard::MAX_REPLY_BYTES);
    // The figures SECURITY.md quotes.
    assert_eq!(
        reply.len(),
        3_200,
        "update SECURITY.md, \"Profile comp3010\""
    );
}

fn block_fits(datagram: &[u8]) -> bool {
    datagram.len() <= votechain_course::wire::MAX_DATAGRAM
}

#[test]
fn the_longest_chain_wins_then_the_most_agreed_and_a_shorter_one_never_replaces_ours() {
    let a = chain_of(&[], 10, "a");
    let b = chain_of(&[], 10, "b");
    let peers = [addr(7001), addr(7002), addr(7003)];
    let mut servers = HashMap::new();
    servers.insert(peers[0], (a.clone(), None));
    servers.insert(peers[1], (a.clone(), None));
    servers.insert(peers[2], (b.clone(), None));
    // As long: the chain two peers agree on beats the chain one has.
    let mut node = node_with(&[], peers.to_vec());
    node.handle_timeout(0);
    let first = drain(&mut node).sent;
    let now = serve(&mut node, 0, &servers, first, 5_000);
    assert_eq!(node.chain().blocks(), a.as_slice());
    // The next round agrees again: A, with us, still has the most voices.
    node.handle_command(now, CourseCommand::Consensus).unwrap();
    let first = drain(&mut node).sent;
    let now = serve(&mut node, now, &servers, first, now + 5_000);
    assert_eq!(node.chain().blocks(), a.as_slice());
    // A longer chain wins even when one peer alone has it (its miner's ANNOUNCE was lost).
    let longer = chain_of(&a, 2, "c");
    servers.insert(peers[2], (longer.clone(), None));
    node.handle_command(now, CourseCommand::Consensus).unwrap();
    let first = drain(&mut node).sent;
    serve(&mut node, now, &servers, first, now + 5_000);
    assert_eq!(node.chain().blocks(), longer.as_slice());
    // Three peers agreeing on a prefix of our chain do not roll it back.
    let mut prefix = HashMap::new();
    for p in peers {
        prefix.insert(p, (b[..5].to_vec(), None));
    }
    let mut node = node_with(&b, peers.to_vec());
    node.handle_timeout(0);
    let first = drain(&mut node).sent;
    serve(&mut node, 0, &prefix, first, 5_000);
    assert_eq!(node.chain().blocks(), b.as_slice());
}

#[test]
fn a_round_falling_due_during_a_fetch_does_not_make_the_timer_spin() {
    // Found by the `course` fuzz target: the periodic round's time passed while a chain was
    // being fetched, and poll_timeout kept returning it.
    let chain = chain_of(&[], 3, "h");
    let peer = addr(7001);
    let mut node = node_with(&[], vec![peer]);
    node.handle_timeout(0);
    drain(&mut node);
    let reply = CourseMessage::StatsReply(Some((3, chain[2].hash)));
    datagram(&mut node, 1, peer, &reply);
    assert!(node.sync_progress().is_some(), "fetching");
    // The peer never answers; the early rounds' time comes and goes.
    for now in [10_000, 20_000, 30_000, 200_000] {
        node.handle_timeout(now);
        drain(&mut node);
        let next = node.poll_timeout().unwrap();
        assert!(
            next > now,
            "poll_timeout() = {next} after handle_timeout({now})"
        );
    }
}

#[test]
fn what_blocks_and_peers_carry_reaches_the_terminal_without_control_characters() {
    let hostile = "\u{1b}[2J\u{7}";
    let block = mine(None, &[hostile], hostile);
    let mut node = node_with(std::slice::from_ref(&block), vec![]);
    let event = CourseEvent::TipChanged {
        height: 0,
        hash: block.hash,
        mined_by: block.mined_by.clone(),
        messages: block.messages.clone(),
        ours: false,
    }
    .to_string();
    let shown = [
        event,
        super::console::chain(&node, 5),
        super::console::block(&node, 0),
    ];
    datagram(
        &mut node,
        0,
        addr(5000),
        &CourseMessage::GossipReply {
            host: "127.0.0.1".into(),
            port: 5000,
            name: hostile.into(),
        },
    );
    let peers = super::console::peers(&node, 0);
    for text in shown.iter().chain([&peers]) {
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
    }
}
