//! The `w4119` profile of the real `tracker` and `peer` binaries against the independent W4119
//! tracker and peer of `votechain-w4119host` (written from the W4119 specification, sharing no
//! code with us), all on loopback: their peers register with our tracker, stay registered over
//! ten seconds of nonce-less heartbeats and exchange votes; our peer registers with their
//! tracker, stays, takes their ballot, and trades votes with their peer both ways, with our tally
//! showing their off-ballot vote as not counted; a bare REQUEST_CHAIN from a registered address
//! gets the whole chain as CHAIN_BLOCKs with `total_blocks`, byte for byte, and from a stranger
//! nothing; an address that asks to register and never answers a POKE gets one POKE per
//! request, less than it sent, and is listed to nobody; malformed datagrams that crash the
//! Python peer leave ours answering; and the chain survives SIGKILL.
//!
//! Every wait polls with a deadline; nothing sleeps for correctness.

use serde_json::Value;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};
use votechain_tests::binaries::bin;
use votechain_tests::process::Process;
use votechain_tests::{peer_udp_addr, spawn_w4119_tracker, wait_until, TempDir, DEADLINE};
use votechain_w4119host::{W4119Peer, W4119PeerConfig, W4119Tracker};

/// The ballot every tracker here serves.
const BALLOT: [&str; 3] = ["Adam", "Bob", "Catherine"];

/// Our `tracker 0 --profile w4119` at W4119's pace (a POKE a second), with its address.
struct OurTracker {
    process: Process,
    addr: SocketAddr,
}

impl OurTracker {
    fn start() -> OurTracker {
        let (process, addr) = spawn_w4119_tracker(&BALLOT.join(","), 1_000);
        OurTracker { process, addr }
    }
}

/// Our `peer PORT 0 --profile w4119`.
struct OurPeer {
    process: Process,
    addr: SocketAddr,
}

impl OurPeer {
    fn start(name: &str, tracker: SocketAddr, data: &Path) -> OurPeer {
        let args: Vec<String> = vec![
            tracker.port().to_string(),
            "0".into(),
            "--profile".into(),
            "w4119".into(),
            "--no-http".into(),
            "--data-dir".into(),
            data.display().to_string(),
        ];
        let mut process = Process::spawn(name, None, &bin("peer"), &args, &[]);
        let addr = peer_udp_addr(&mut process);
        OurPeer { process, addr }
    }

    /// The console's answer to `line`, one string.
    fn console(&mut self, line: &str) -> String {
        self.process.console(line).join("\n")
    }

    /// Waits until the console's answer to `line` satisfies `ok`.
    fn wait_console(&mut self, what: &str, line: &str, ok: impl Fn(&str) -> bool) -> String {
        wait_until(what, DEADLINE, || {
            let answer = self.console(line);
            match ok(&answer) {
                true => Ok(answer),
                false => Err(answer),
            }
        })
    }
}

/// A W4119-style peer on `127.0.0.<last>`.
fn their_peer(tracker: SocketAddr, last: u8) -> W4119Peer {
    let cfg = W4119PeerConfig {
        ip: Ipv4Addr::new(127, 0, 0, last),
        ..W4119PeerConfig::default()
    };
    W4119Peer::start(tracker, cfg).expect("start a W4119 peer")
}

/// Whether `peer`'s chain holds a vote of `voter` for `choice`.
fn holds_vote(peer: &W4119Peer, voter: &str, choice: &str) -> bool {
    peer.chain().iter().any(|b| {
        b.transactions
            .iter()
            .any(|t| t.voter_id == voter && t.candidate_id == choice)
    })
}

/// A UDP socket on a fresh port of `127.0.0.<last>`.
fn udp(last: u8) -> UdpSocket {
    let socket = UdpSocket::bind((Ipv4Addr::new(127, 0, 0, last), 0)).expect("bind a socket");
    socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .expect("set a read timeout");
    socket
}

/// Every datagram `socket` receives within `wait`, as text with its source.
fn drain(socket: &UdpSocket, wait: Duration) -> Vec<(SocketAddr, String)> {
    let deadline = Instant::now() + wait;
    let mut buf = vec![0u8; 65_536];
    let mut got = Vec::new();
    while Instant::now() < deadline {
        if let Ok((len, from)) = socket.recv_from(&mut buf) {
            got.push((from, String::from_utf8_lossy(&buf[..len]).into_owned()));
        }
    }
    got
}

#[test]
fn their_peers_join_our_tracker_stay_over_heartbeats_and_trade_votes() {
    let tracker = OurTracker::start();
    let a = their_peer(tracker.addr, 21);
    let b = their_peer(tracker.addr, 22);
    // Each lists the other (a W4119 peer leaves itself out of the tracker's list).
    for (peer, other) in [(&a, &b), (&b, &a)] {
        wait_until("their peers to list each other", DEADLINE, || {
            let list = peer.peer_list();
            match list.contains(&other.addr()) && peer.ballot().is_some() {
                true => Ok(()),
                false => Err(format!("{} lists {list:?}", peer.addr())),
            }
        });
    }
    assert_eq!(a.ballot(), Some(BALLOT.map(String::from).to_vec()));
    // Ten seconds of POKE / POKE-ACK: nobody is evicted.
    let pokes = a.pokes_answered();
    wait_until("ten POKEs answered", Duration::from_secs(30), || {
        match a.pokes_answered() >= pokes + 10 {
            true => Ok(()),
            false => Err(format!("{} answered", a.pokes_answered())),
        }
    });
    let log = tracker.process.log().lines().join("\n");
    assert!(
        !log.contains("evicted"),
        "a live W4119 peer was evicted:\n{log}"
    );
    assert!(a.peer_list().contains(&b.addr()) && b.peer_list().contains(&a.addr()));
    a.vote("alice", "Adam");
    wait_until(
        "the vote at one to reach the other",
        DEADLINE,
        || match holds_vote(&b, "alice", "Adam") {
            true => Ok(()),
            false => Err(format!("b holds {} blocks", b.chain().len())),
        },
    );
}

#[test]
fn our_peer_joins_their_tracker_stays_and_trades_votes_with_their_peer() {
    let tracker = W4119Tracker::start(&BALLOT).expect("start a W4119 tracker");
    let theirs = their_peer(tracker.addr(), 31);
    let dir = TempDir::new("w4119-ours");
    let mut ours = OurPeer::start("ours", tracker.addr(), dir.path());
    wait_until("their tracker to list our peer", DEADLINE, || match tracker
        .peers()
        .contains(&ours.addr)
    {
        true => Ok(()),
        false => Err(format!("it lists {:?}", tracker.peers())),
    });
    ours.wait_console("our peer to hold their ballot", "status", |s| {
        s.contains("ballot  Adam, Bob, Catherine") && s.contains("(registered)")
    });
    // Their vote, and one for a name not on the ballot (their peer checks nothing).
    theirs.vote("alice", "Adam");
    theirs.vote("mallory", "Zed");
    let tally = ours.wait_console("their votes to reach our peer", "tally", |s| {
        s.contains("block 2: mallory for Zed")
    });
    assert!(
        tally
            .lines()
            .any(|l| l.starts_with("Adam") && l.ends_with(" 1")),
        "{tally}"
    );
    assert!(tally.contains("not on the ballot"), "{tally}");
    // Ours: checked first, then mined and sent to their peer, which validates it.
    let refused = ours.console("vote bob Zed");
    assert!(refused.contains("not on the ballot"), "{refused}");
    let twice = ours.console("vote alice Bob");
    assert!(twice.contains("already voted"), "{twice}");
    assert_eq!(ours.console("vote bob Catherine"), "");
    wait_until(
        "our vote to reach their peer",
        DEADLINE,
        || match holds_vote(&theirs, "bob", "Catherine") {
            true => Ok(()),
            false => Err(format!("they hold {} blocks", theirs.chain().len())),
        },
    );
    // Ten seconds of their heartbeats answered as they expect: no eviction.
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        assert!(
            tracker.peers().contains(&ours.addr),
            "their tracker dropped ours"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(tracker.evictions(), 0);
    assert!(tracker.received("POKE-ACK") >= 10);
}

#[test]
fn a_bare_request_chain_gets_the_whole_chain_only_from_a_registered_address() {
    let tracker = OurTracker::start();
    let dir = TempDir::new("w4119-serve");
    let mut ours = OurPeer::start("ours", tracker.addr, dir.path());
    ours.wait_console("the ballot", "status", |s| s.contains("ballot  Adam"));
    for (voter, choice) in [("v1", "Adam"), ("v2", "Bob"), ("v3", "Adam")] {
        assert_eq!(ours.console(&format!("vote {voter} {choice}")), "");
    }
    ours.wait_console("three votes mined", "status", |s| {
        s.contains("chain   4 blocks")
    });
    // A stranger asks: nothing comes back.
    let stranger = udp(41);
    for _ in 0..5 {
        stranger
            .send_to(br#"{"type": "REQUEST_CHAIN"}"#, ours.addr)
            .expect("send");
    }
    let got = drain(&stranger, Duration::from_millis(800));
    assert!(got.is_empty(), "a stranger got {got:?}");
    // A W4119-style registration from a raw socket: REGISTER_PEER, answer the POKE.
    let member = udp(42);
    wait_until("the raw socket to be listed to our peer", DEADLINE, || {
        member
            .send_to(br#"{"type": "REGISTER_PEER"}"#, tracker.addr)
            .expect("send");
        for (from, text) in drain(&member, Duration::from_millis(200)) {
            if from == tracker.addr && text == r#"{"type": "POKE"}"# {
                member
                    .send_to(br#"{"type": "POKE-ACK"}"#, from)
                    .expect("send");
            }
        }
        let peers = ours.console("peers");
        match peers.contains(&member.local_addr().expect("addr").to_string()) {
            true => Ok(()),
            false => Err(peers),
        }
    });
    member
        .send_to(br#"{"type": "REQUEST_CHAIN"}"#, ours.addr)
        .expect("send");
    let chain: Vec<Value> = drain(&member, Duration::from_millis(1_500))
        .into_iter()
        .filter(|(from, text)| {
            *from == ours.addr && text.starts_with(r#"{"type": "CHAIN_BLOCK", "index": "#)
        })
        .map(|(_, text)| serde_json::from_str(&text).expect("CHAIN_BLOCK is JSON"))
        .collect();
    assert_eq!(chain.len(), 4, "{chain:?}");
    for (i, reply) in chain.iter().enumerate() {
        assert_eq!(reply["index"], i as u64);
        assert_eq!(reply["total_blocks"], 4);
        assert_eq!(reply["block"]["index"], i as u64);
    }
    assert_eq!(
        chain[0]["block"]["hash"],
        "11ebe954fb06a6608d28849a2f9b440ab3665ae74d3bd03bf72230b40eeaae3c"
    );
    // Asked again at once: the whole chain goes once per two seconds per peer.
    member
        .send_to(br#"{"type": "REQUEST_CHAIN"}"#, ours.addr)
        .expect("send");
    let again = drain(&member, Duration::from_millis(500));
    assert!(
        again.iter().all(|(from, _)| *from != ours.addr),
        "a repeat within two seconds was answered: {again:?}"
    );
}

#[test]
fn an_address_that_never_answers_a_poke_gets_less_than_it_sends_and_is_listed_to_nobody() {
    let tracker = OurTracker::start();
    let member = their_peer(tracker.addr, 51);
    wait_until("their peer to join", DEADLINE, || {
        match member.registered() {
            true => Ok(()),
            false => Err("not yet".to_owned()),
        }
    });
    // The "victim" asks 200 times and answers nothing, as a forged source never does.
    let victim = udp(52);
    let request = br#"{"type": "REGISTER_PEER"}"#;
    let mut sent = 0usize;
    let mut received = Vec::new();
    for _ in 0..200 {
        victim.send_to(request, tracker.addr).expect("send");
        sent += request.len();
        received.extend(drain(&victim, Duration::from_millis(5)));
    }
    received.extend(drain(&victim, Duration::from_millis(3_500)));
    let bytes: usize = received.iter().map(|(_, t)| t.len()).sum();
    assert!(
        received.iter().all(|(_, t)| t == r#"{"type": "POKE"}"#),
        "the victim got more than POKEs: {received:?}"
    );
    assert!(bytes <= sent, "{bytes} bytes for {sent} sent");
    let victim_addr = victim.local_addr().expect("addr");
    assert!(
        !member.peer_list().contains(&victim_addr),
        "the victim was advertised"
    );
    let log = tracker.process.log().lines().join("\n");
    assert!(!log.contains(&victim_addr.to_string()), "{log}");
}

#[test]
fn datagrams_that_crash_their_peer_leave_ours_serving_and_the_chain_survives_sigkill() {
    let tracker = OurTracker::start();
    let dir = TempDir::new("w4119-hostile");
    let mut ours = OurPeer::start("ours", tracker.addr, dir.path());
    let theirs = their_peer(tracker.addr, 61);
    ours.wait_console("their peer listed", "peers", |s| {
        s.contains(&theirs.addr().to_string())
    });
    let hostile = udp(62);
    let long = format!(
        r#"{{"type": "NEW_BLOCK", "block": "{}"}}"#,
        "x".repeat(60_000)
    );
    let datagrams: Vec<&[u8]> = vec![
        br#"{"type": "NEW_BLOCK", "block": {"transactions": [], "timestamp": "t", "previous_hash": "0", "nonce": 1, "hash": "00"}}"#,
        br#"{"type": "NEW_BLOCK"}"#,
        br#"{"type": "CHAIN_BLOCK", "index": 99999999999, "block": {}, "total_blocks": 18446744073709551615}"#,
        br#"{"type": "CHAIN_BLOCK", "index": -1}"#,
        br#"{"type": "NEW_BLOCK", "block": {"index": 1e400}}"#,
        b"not json",
        b"\xff\xfe",
        br#"[1, 2, 3]"#,
        br#"{"type": null}"#,
        long.as_bytes(),
    ];
    for datagram in &datagrams {
        hostile.send_to(datagram, ours.addr).expect("send");
    }
    let status = ours.wait_console("every bad datagram counted", "status", |s| {
        s.contains(&format!("{} malformed", datagrams.len()))
    });
    assert!(status.contains("(registered)"), "{status}");
    // Still voting and relaying.
    assert_eq!(ours.console("vote carol Bob"), "");
    wait_until(
        "our vote to reach their peer",
        DEADLINE,
        || match holds_vote(&theirs, "carol", "Bob") {
            true => Ok(()),
            false => Err(format!("they hold {} blocks", theirs.chain().len())),
        },
    );
    // SIGKILL after the vote was announced: it is on disk.
    ours.process.kill();
    let mut again = OurPeer::start("again", tracker.addr, dir.path());
    let chain = again.console("chain");
    assert!(chain.contains("carol → Bob"), "{chain}");
}
