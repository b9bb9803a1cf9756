//! The tracker and peers on real loopback sockets: joining, votes reaching the other peer,
//! eviction of a peer that stops answering POKEs, LEAVE_PEER, whole-chain requests, and bad
//! datagrams that must not stop any thread. Every wait polls against a deadline.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use votechain_w4119host::{whole_chain_request, Block, W4119Peer, W4119PeerConfig, W4119Tracker};

/// Polls `condition` every 10 ms until it holds or `within` passes; returns whether it held.
fn eventually(within: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

const SOON: Duration = Duration::from_secs(3);

fn start_pair(tracker: &W4119Tracker) -> (W4119Peer, W4119Peer) {
    let alice = W4119Peer::start(tracker.addr(), W4119PeerConfig::default()).expect("alice");
    let bob_cfg = W4119PeerConfig {
        ip: Ipv4Addr::new(127, 0, 0, 2),
        ..W4119PeerConfig::default()
    };
    let bob = W4119Peer::start(tracker.addr(), bob_cfg).expect("bob");
    (alice, bob)
}

#[test]
fn two_peers_join_and_a_vote_at_one_reaches_the_other() {
    let tracker = W4119Tracker::start(&["Adam", "Bob", "Catherine"]).expect("tracker");
    let (alice, bob) = start_pair(&tracker);
    assert!(eventually(SOON, || alice.peer_list() == vec![bob.addr()]
        && bob.peer_list() == vec![alice.addr()]));
    assert!(alice.registered() && bob.registered());
    let mut registered = tracker.peers();
    registered.sort();
    let mut expected = vec![alice.addr(), bob.addr()];
    expected.sort();
    assert_eq!(registered, expected);
    let ballot = Some(vec![
        "Adam".to_owned(),
        "Bob".to_owned(),
        "Catherine".to_owned(),
    ]);
    assert!(eventually(SOON, || alice.ballot() == ballot && bob.ballot() == ballot));
    assert_eq!(bob.addr().ip(), Ipv4Addr::new(127, 0, 0, 2));

    let block = alice.vote("alice", "Adam");
    assert_eq!(block.index, 1);
    assert!(eventually(SOON, || bob.height() == 1));
    assert_eq!(bob.chain(), vec![Block::genesis(), block]);
    assert_eq!(bob.received("NEW_BLOCK"), 1);
}

#[test]
fn a_peer_that_stops_answering_pokes_is_evicted() {
    let tracker = W4119Tracker::start(&["Adam"]).expect("tracker");
    let alive = W4119Peer::start(tracker.addr(), W4119PeerConfig::default()).expect("alive");
    let silent_cfg = W4119PeerConfig {
        answer_pokes: false,
        ..W4119PeerConfig::default()
    };
    let silent = W4119Peer::start(tracker.addr(), silent_cfg).expect("silent");
    assert!(eventually(SOON, || tracker.peers().len() == 2));
    // Three POKEs a second apart: evicted within about 3 s of the tracker's start.
    assert!(eventually(Duration::from_secs(4), || tracker.evictions() == 1));
    assert_eq!(tracker.peers(), vec![alive.addr()]);
    assert!(silent.received("POKE") >= 3);
    assert_eq!(silent.pokes_answered(), 0);
    assert!(alive.pokes_answered() >= 3);
    assert!(tracker.received("POKE-ACK") >= 3);
    // The remaining peer is told.
    assert!(eventually(SOON, || alive.peer_list().is_empty()));
}

#[test]
fn leave_removes_the_peer_and_registration_can_be_switched_off() {
    let tracker = W4119Tracker::start(&["Adam"]).expect("tracker");
    let peer = W4119Peer::start(tracker.addr(), W4119PeerConfig::default()).expect("peer");
    let off_cfg = W4119PeerConfig {
        register: false,
        ..W4119PeerConfig::default()
    };
    let outsider = W4119Peer::start(tracker.addr(), off_cfg).expect("outsider");
    assert!(eventually(SOON, || tracker.peers() == vec![peer.addr()]));
    peer.leave();
    assert!(eventually(SOON, || tracker.peers().is_empty()));
    assert_eq!(tracker.received("LEAVE_PEER"), 1);
    assert!(!outsider.registered());
    assert_eq!(tracker.received("REGISTER_PEER"), 1);
}

#[test]
fn request_chain_returns_total_blocks_blocks() {
    let tracker = W4119Tracker::start(&["Adam"]).expect("tracker");
    let peer = W4119Peer::start(tracker.addr(), W4119PeerConfig::default()).expect("peer");
    for voter in ["a", "b", "c"] {
        peer.vote(voter, "Adam");
    }
    let (blocks, total) = whole_chain_request(peer.addr(), SOON).expect("request");
    assert_eq!(total, 4);
    assert_eq!(blocks.len(), 4);
    let read: Vec<Block> = blocks
        .iter()
        .map(|value| Block::from_json(value).expect("block"))
        .collect();
    assert_eq!(read, peer.chain());
    assert_eq!(peer.received("REQUEST_CHAIN"), 1);
}

#[test]
fn bad_datagrams_do_not_stop_the_tracker_or_the_peer() {
    let tracker = W4119Tracker::start(&["Adam"]).expect("tracker");
    let peer = W4119Peer::start(tracker.addr(), W4119PeerConfig::default()).expect("peer");
    assert!(eventually(SOON, || peer.ballot().is_some()));
    let attacker = UdpSocket::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).expect("bind");
    let huge = format!(
        r#"{{"type": "REQUEST_BALLOT", "pad": "{}"}}"#,
        "x".repeat(60_000)
    );
    let garbage: Vec<&[u8]> = vec![
        br#"{"type": "NEW_BLOCK", "block": {"transactions": [], "hash": "00"}}"#,
        br#"{"type": "CHAIN_BLOCK", "index": 0}"#,
        b"not json at all",
        br#"{"no_type": true}"#,
        b"\xff\xfe\xfd",
        b"[]",
        huge.as_bytes(),
    ];
    for target in [peer.addr(), tracker.addr()] {
        for bytes in &garbage {
            attacker.send_to(bytes, target).expect("send");
        }
    }
    assert!(eventually(SOON, || peer.crashes_avoided() == 2));
    assert!(eventually(SOON, || peer.undecodable() == 4));
    // The tracker reads 4096 bytes of the huge one: cut JSON, undecodable too.
    assert!(eventually(SOON, || tracker.undecodable() == 5));
    assert!(eventually(SOON, || peer.received("REQUEST_BALLOT") == 1));

    // Both still answer.
    let (blocks, total) = whole_chain_request(peer.addr(), SOON).expect("request");
    assert_eq!((blocks.len(), total), (1, 1));
    attacker
        .send_to(br#"{"type": "REQUEST_BALLOT"}"#, tracker.addr())
        .expect("send");
    attacker
        .set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    let mut buffer = [0u8; 4096];
    let (length, from) = attacker.recv_from(&mut buffer).expect("ballot");
    assert_eq!(from, tracker.addr());
    assert_eq!(
        &buffer[..length],
        br#"{"type": "BALLOT_OPTIONS", "voting_options": ["Adam"]}"#
    );
    let block = peer.vote("v", "Adam");
    assert_eq!(block.index, 1);
}

#[test]
fn whole_chain_request_to_nobody_returns_nothing_after_its_timeout() {
    // A port that was just free: nothing answers (Linux may report ICMP "port unreachable").
    let vacant = UdpSocket::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .and_then(|socket| socket.local_addr())
        .expect("free port");
    let started = Instant::now();
    let (blocks, total) = whole_chain_request(vacant, Duration::from_millis(200)).expect("request");
    assert!(blocks.is_empty());
    assert_eq!(total, 0);
    assert!(started.elapsed() >= Duration::from_millis(200));
}
