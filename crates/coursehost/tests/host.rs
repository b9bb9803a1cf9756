//! The course host on loopback, driven with raw sockets and with other hosts: the exact flat
//! replies and their null forms, robustness to garbage, gossip, announce, consensus (also from
//! throw-away ports and against a liar), and the stop-and-wait client through the delay relay.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use votechain_coursehost::{
    block_to_json, mine_chain, mine_on, sync_stop_and_wait, Block, Host, HostConfig, Relay,
};

const DIFFICULTY: usize = 2;

fn client() -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a client socket");
    socket
        .set_read_timeout(Some(Duration::from_secs(3)))
        .expect("set a read timeout");
    socket
}

fn send(socket: &UdpSocket, to: SocketAddr, msg: &Value) {
    socket
        .send_to(msg.to_string().as_bytes(), to)
        .expect("send a datagram");
}

/// The next datagram on `socket`, as JSON, with its source.
fn recv(socket: &UdpSocket) -> (Value, SocketAddr) {
    let mut buf = vec![0u8; 65_536];
    let (len, from) = socket.recv_from(&mut buf).expect("a reply within 3 s");
    let value = serde_json::from_slice(&buf[..len]).expect("the reply is JSON");
    (value, from)
}

fn ask(socket: &UdpSocket, to: SocketAddr, msg: &Value) -> Value {
    send(socket, to, msg);
    let (reply, from) = recv(socket);
    assert_eq!(from, to, "the answer leaves from the listening port");
    reply
}

/// Polls `condition` every 5 ms until it holds; panics with `what` after 10 s.
fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn host_with(chain: Vec<Block>) -> Host {
    Host::start(HostConfig {
        chain,
        ..HostConfig::new("course host", DIFFICULTY)
    })
    .expect("start a host")
}

#[test]
fn stats_and_get_block_answer_in_the_flat_course_format() {
    let chain = mine_chain(3, DIFFICULTY, "Prof!", 1);
    let host = host_with(chain.clone());
    let socket = client();
    assert_eq!(
        ask(&socket, host.addr(), &json!({"type": "STATS"})),
        json!({"type": "STATS_REPLY", "height": 3, "hash": chain[2].hash})
    );
    let block = &chain[1];
    assert_eq!(
        ask(
            &socket,
            host.addr(),
            &json!({"type": "GET_BLOCK", "height": 1})
        ),
        json!({
            "type": "GET_BLOCK_REPLY",
            "height": 1,
            "minedBy": "Prof!",
            "messages": block.messages,
            "nonce": block.nonce,
            "hash": block.hash,
            "timestamp": block.timestamp,
        })
    );
    let null_form = json!({
        "type": "GET_BLOCK_REPLY", "height": null, "minedBy": null, "messages": null,
        "nonce": null, "hash": null, "timestamp": null,
    });
    assert_eq!(
        ask(
            &socket,
            host.addr(),
            &json!({"type": "GET_BLOCK", "height": 3})
        ),
        null_form
    );
    assert_eq!(
        ask(
            &socket,
            host.addr(),
            &json!({"type": "GET_BLOCK", "height": u64::MAX})
        ),
        null_form
    );
    assert_eq!(host.received("STATS"), 1);
    assert_eq!(host.received("GET_BLOCK"), 3);
}

#[test]
fn an_empty_host_answers_stats_with_nulls_written_as_python_writes_them() {
    let host = host_with(Vec::new());
    let socket = client();
    send(&socket, host.addr(), &json!({"type": "STATS"}));
    let mut buf = [0u8; 1024];
    let (len, from) = socket.recv_from(&mut buf).expect("a reply within 3 s");
    assert_eq!(from, host.addr());
    assert_eq!(
        std::str::from_utf8(&buf[..len]).expect("UTF-8"),
        r#"{"type": "STATS_REPLY", "hash": null, "height": null}"#
    );
}

#[test]
fn garbage_is_counted_unanswered_and_survived() {
    let host = host_with(mine_chain(2, DIFFICULTY, "m", 2));
    let socket = client();
    let garbage: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"not json".to_vec(),
        vec![0xff, 0xfe, 0x00],
        b"[1, 2, 3]".to_vec(),
        b"{\"type\": 5}".to_vec(),
        b"{\"type\": \"GET_BLOCK\"}".to_vec(),
        b"{\"type\": \"GET_BLOCK\", \"height\": -1}".to_vec(),
        b"{\"type\": \"GET_BLOCK\", \"height\": \"0\"}".to_vec(),
        b"{\"type\": \"GET_BLOCK\", \"height\": 1e300}".to_vec(),
        b"{\"type\": \"GOSSIP\", \"host\": \"127.0.0.1\", \"port\": 9}".to_vec(),
        b"{\"type\": \"GOSSIP\", \"id\": \"x\", \"host\": \"nowhere\", \"port\": 70000}".to_vec(),
        b"{\"type\": \"GOSSIP_REPLY\"}".to_vec(),
        b"{\"type\": \"ANNOUNCE\", \"height\": null}".to_vec(),
        b"{\"type\": \"NEW_WORD\"}".to_vec(),
        b"{\"type\": \"STATS_REPLY\", \"height\": 1e9}".to_vec(),
        b"{\"type\": \"CHALLENGE\", \"nonce\": \"abc\"}".to_vec(),
        vec![b'{'; 60_000],
    ];
    for datagram in &garbage {
        socket.send_to(datagram, host.addr()).expect("send garbage");
    }
    // Datagrams on loopback are handled in order: the first answer must be the STATS_REPLY, so
    // none of the garbage was answered.
    let reply = ask(&socket, host.addr(), &json!({"type": "STATS"}));
    assert_eq!(reply["type"], "STATS_REPLY");
    assert_eq!(reply["height"], 2);
    assert_eq!(host.unknown_types(), 1, "CHALLENGE");
    assert_eq!(host.malformed(), 15);
    assert_eq!(host.received("GET_BLOCK"), 4);
    assert_eq!(host.height(), 2);
    assert!(host.peers().is_empty());
}

#[test]
fn gossip_is_answered_at_the_address_inside_it_and_forwarded_once() {
    let host = host_with(Vec::new());
    let originator = client();
    let sender = client();
    let known: Vec<UdpSocket> = (0..4).map(|_| client()).collect();
    for peer in &known {
        host.add_peer(peer.local_addr().expect("address"));
    }
    let origin = originator.local_addr().expect("address");
    let gossip = json!({
        "type": "GOSSIP", "host": "127.0.0.1", "port": origin.port(),
        "id": "5b29f4c7-40ac-4522-b217-e90e9587c1e5", "name": "Some name here!",
    });
    send(&sender, host.addr(), &gossip);
    let (reply, from) = recv(&originator);
    assert_eq!(from, host.addr());
    assert_eq!(
        reply,
        json!({
            "type": "GOSSIP_REPLY", "host": "127.0.0.1", "port": host.addr().port(),
            "name": "course host",
        })
    );
    assert!(host.peers().contains(&origin));
    // Forwarded unchanged to 3 of the 4 known peers.
    let mut forwarded = 0;
    for peer in &known {
        peer.set_read_timeout(Some(Duration::from_millis(300)))
            .expect("set a read timeout");
        let mut buf = [0u8; 4096];
        if let Ok((len, _)) = peer.recv_from(&mut buf) {
            let copy: Value = serde_json::from_slice(&buf[..len]).expect("JSON");
            assert_eq!(copy, gossip);
            forwarded += 1;
        }
    }
    assert_eq!(forwarded, 3);
    // The same id again: no second answer (the next datagram at the originator is a STATS_REPLY).
    send(&sender, host.addr(), &gossip);
    send(&originator, host.addr(), &json!({"type": "STATS"}));
    assert_eq!(recv(&originator).0["type"], "STATS_REPLY");
    assert_eq!(host.received("GOSSIP"), 2);
    // A GOSSIP_REPLY naming `localhost` is a loopback peer.
    send(
        &sender,
        host.addr(),
        &json!({"type": "GOSSIP_REPLY", "host": "localhost", "port": 9, "name": "n"}),
    );
    let named: SocketAddr = "127.0.0.1:9".parse().expect("an address");
    wait_until("the replier is known", || host.peers().contains(&named));
}

#[test]
fn hosts_learn_each_other_by_gossip_at_start() {
    let first = host_with(Vec::new());
    let second = Host::start(HostConfig {
        peers: vec![first.addr()],
        ..HostConfig::new("second", DIFFICULTY)
    })
    .expect("start a host");
    wait_until("the first host knows the second", || {
        first.peers() == vec![second.addr()]
    });
    wait_until("the second host knows the first", || {
        second.peers() == vec![first.addr()]
    });
    assert_eq!(first.received("GOSSIP"), 1);
    assert_eq!(second.received("GOSSIP_REPLY"), 1);
}

#[test]
fn announce_appends_only_valid_next_blocks() {
    let chain = mine_chain(2, DIFFICULTY, "m", 3);
    let host = host_with(chain.clone());
    let socket = client();
    let next = mine_on(chain.last(), vec!["hello".into()], DIFFICULTY, "a");
    let mut forged = next.clone();
    forged.messages = vec!["forged".into()];
    let too_easy = loop {
        // A block whose hash shows less work than the host demands.
        let candidate = mine_on(chain.last(), vec!["easy".into()], 0, "a");
        if !candidate.hash.ends_with('0') {
            break candidate;
        }
    };
    let after_next = mine_on(Some(&next), vec!["later".into()], DIFFICULTY, "a");
    for block in [&forged, &too_easy, &after_next, &chain[1]] {
        send(&socket, host.addr(), &block_to_json(block, "ANNOUNCE"));
    }
    send(&socket, host.addr(), &block_to_json(&next, "ANNOUNCE"));
    send(
        &socket,
        host.addr(),
        &json!({"type": "NEW_WORD", "word": "test"}),
    );
    wait_until("the valid block is appended", || host.height() == 3);
    wait_until("the word is kept", || host.words() == vec!["test"]);
    assert_eq!(host.accepted_announces(), 1);
    assert_eq!(host.chain()[2], next);
    assert_eq!(host.received("ANNOUNCE"), 5);
}

/// Starts an empty host that learns `peers` by gossip, and waits until it knows them all.
fn joiner(peers: &[SocketAddr], throwaway_ports: bool) -> Host {
    let host = Host::start(HostConfig {
        peers: peers.to_vec(),
        throwaway_ports,
        ..HostConfig::new("joiner", DIFFICULTY)
    })
    .expect("start a host");
    wait_until("the joiner knows its peers", || {
        peers.iter().all(|peer| host.peers().contains(peer))
    });
    host
}

#[test]
fn consensus_syncs_an_empty_host() {
    let chain = mine_chain(25, DIFFICULTY, "m", 4);
    let full = host_with(chain.clone());
    let empty = joiner(&[full.addr()], false);
    let outcome = empty.consensus_now();
    assert_eq!(outcome.adopted, Some(25), "{outcome:?}");
    assert_eq!(outcome.get_block_requests, 25);
    assert_eq!(empty.chain(), chain);
    assert_eq!(empty.synced_from_consensus(), 1);
    assert_eq!(full.received("GET_BLOCK"), 25);
    // A second run finds nothing longer.
    assert_eq!(empty.consensus_now().adopted, None);
}

#[test]
fn consensus_from_throwaway_ports_syncs_too() {
    let chain = mine_chain(10, DIFFICULTY, "m", 5);
    let full = host_with(chain.clone());
    let empty = joiner(&[full.addr()], true);
    assert_eq!(empty.consensus_now().adopted, Some(10));
    assert_eq!(empty.chain(), chain);
}

#[test]
fn throwaway_requests_leave_from_fresh_ports_and_answers_from_the_listening_port() {
    let host = Host::start(HostConfig {
        throwaway_ports: true,
        ..HostConfig::new("throwaway", DIFFICULTY)
    })
    .expect("start a host");
    let peer = client();
    host.add_peer(peer.local_addr().expect("address"));
    std::thread::scope(|scope| {
        let run = scope.spawn(|| host.consensus_now());
        let (stats, from) = recv(&peer);
        assert_eq!(stats, json!({"type": "STATS"}));
        assert_ne!(from, host.addr(), "a request from a throw-away port");
        // Answered at once, on the port it came from, with a chain never served afterwards.
        send(
            &peer,
            from,
            &json!({"type": "STATS_REPLY", "height": 1, "hash": "ab"}),
        );
        let (get_block, get_block_from) = recv(&peer);
        assert_eq!(get_block, json!({"type": "GET_BLOCK", "height": 0}));
        assert_ne!(get_block_from, from, "each request from its own port");
        assert_ne!(get_block_from, host.addr());
        let outcome = run.join().expect("the consensus returns");
        assert_eq!(outcome.peers_asked, 1);
        assert_eq!(
            outcome.stats_replies, 1,
            "the reply was read on the throw-away port"
        );
        assert_eq!(outcome.candidates_tried, vec![(1, "ab".to_owned())]);
        assert_eq!(outcome.get_block_requests, 20, "the retry limit");
        assert_eq!(outcome.adopted, None);
    });
    // Its answers still leave from the listening port.
    assert_eq!(
        ask(&client(), host.addr(), &json!({"type": "STATS"}))["type"],
        "STATS_REPLY"
    );
}

#[test]
fn a_consensus_datagram_starts_a_consensus() {
    let chain = mine_chain(5, DIFFICULTY, "m", 6);
    let full = host_with(chain.clone());
    let empty = joiner(&[full.addr()], false);
    send(&client(), empty.addr(), &json!({"type": "CONSENSUS"}));
    wait_until("the empty host syncs", || empty.height() == 5);
    assert_eq!(empty.chain(), chain);
}

#[test]
fn consensus_falls_back_from_a_liar_to_the_honest_chain() {
    let chain = mine_chain(6, DIFFICULTY, "m", 7);
    let honest = host_with(chain.clone());
    let liar = Host::start(HostConfig {
        chain: chain[..3].to_vec(),
        lie: Some((60, "f".repeat(56) + "00000000")),
        ..HostConfig::new("liar", DIFFICULTY)
    })
    .expect("start the liar");
    let empty = joiner(&[honest.addr(), liar.addr()], false);
    let started = Instant::now();
    let outcome = empty.consensus_now();
    assert_eq!(outcome.stats_replies, 2);
    // One vote each: the taller claim is tried first and abandoned at height 3.
    assert_eq!(outcome.candidates_tried.len(), 2, "{outcome:?}");
    assert_eq!(outcome.candidates_tried[0].0, 60);
    assert_eq!(outcome.adopted, Some(6));
    assert_eq!(empty.chain(), chain);
    assert_eq!(liar.received("GET_BLOCK"), 3 + 20);
    assert!(started.elapsed() < Duration::from_secs(8));
}

#[test]
fn consensus_rejects_a_chain_that_does_not_validate() {
    let mut chain = mine_chain(4, DIFFICULTY, "m", 8);
    chain[2].messages.push("tampered".into());
    let top = chain[3].hash.clone();
    let bad = host_with(chain);
    let empty = joiner(&[bad.addr()], false);
    let outcome = empty.consensus_now();
    assert_eq!(outcome.candidates_tried, vec![(4, top)]);
    assert_eq!(outcome.adopted, None);
    assert_eq!(empty.height(), 0);
}

#[test]
fn the_stop_and_wait_client_pays_one_round_trip_per_block_through_the_relay() {
    let chain = mine_chain(10, DIFFICULTY, "m", 9);
    let host = host_with(chain.clone());
    let (direct, _) =
        sync_stop_and_wait(host.addr(), 10, Duration::from_millis(200)).expect("sync directly");
    assert_eq!(direct, chain);
    let delay = Duration::from_millis(10);
    let relay = Relay::start(host.addr(), delay).expect("start the relay");
    let (relayed, took) =
        sync_stop_and_wait(relay.addr(), 10, Duration::from_millis(500)).expect("sync via relay");
    assert_eq!(relayed, chain);
    assert!(took >= 10 * 2 * delay, "{took:?}");
    let missing = sync_stop_and_wait(host.addr(), 11, Duration::from_millis(200));
    assert_eq!(
        missing.map(|_| ()).map_err(|e| e.kind()),
        Err(std::io::ErrorKind::NotFound)
    );
}

#[test]
fn dropping_a_host_stops_it_promptly() {
    let host = host_with(mine_chain(1, DIFFICULTY, "m", 10));
    let addr = host.addr();
    let started = Instant::now();
    host.stop();
    assert!(started.elapsed() < Duration::from_secs(1));
    // The port is free again once the threads are gone.
    UdpSocket::bind(addr).expect("the host's port is released");
}
