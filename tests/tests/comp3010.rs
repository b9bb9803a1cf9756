//! The `comp3010` profile of the real `peer` binary against the independent course-style peer of
//! `votechain-coursehost` (written from the course's specification, sharing no code with us), all
//! on loopback at difficulty 2: our peer syncs a course host's chain and serves it back in the
//! course's flat form (nulls for unknown heights, null/null STATS for no chain); a course host
//! syncs from ours by its own consensus and its own validation, also one that asks from
//! throw-away ports; NEW_WORD and the console's `word` end up in a block ANNOUNCEd to a course
//! host that validates it; a course peer's ANNOUNCE is checked, added and passed on; our GOSSIP
//! spreads through a course network by its forwarding; the STATS majority wins over a minority
//! chain, unless the majority serves a forged block; a liar about its height costs a bounded
//! number of GET_BLOCK and the honest chain wins; hostile datagrams, floods of CONSENSUS and of
//! GET_BLOCK from fresh ports, and a spoofed GOSSIP leave the peer answering and send nothing to
//! a third address; and the chain survives SIGKILL, SIGTERM and a torn write.
//!
//! Each test owns its peer process and hosts. Tests and hosts use distinct loopback addresses
//! (127.0.0.x) so that the peer's per-IP limits count each party apart. Every wait polls with a
//! deadline; nothing sleeps for correctness.

use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};
use votechain_coursehost::{
    block_to_json, block_valid, chain_valid, mine_chain, mine_on, null_block_reply, Block,
    ConsensusOutcome, Host, HostConfig,
};
use votechain_tests::binaries::bin;
use votechain_tests::process::Process;
use votechain_tests::{
    mining_port_addr, peer_udp_addr, peer_web_addr, spawn_miner, wait_until, TempDir, DEADLINE,
};

/// Trailing zeros of every block here: mining takes microseconds.
const DIFFICULTY: usize = 2;

/// How long one UDP question waits for its answer, resending it now and then.
const ANSWER_DEADLINE: Duration = Duration::from_secs(10);

/// How often an unanswered UDP question is sent again.
const RESEND_EVERY: Duration = Duration::from_millis(300);

/// How long one HTTP exchange may take.
const HTTP_DEADLINE: Duration = Duration::from_secs(20);

/// `127.0.0.<last>:0`, a fresh port on its own loopback address.
fn loopback(last: u8) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::new(127, 0, 0, last), 0))
}

/// A UDP socket on a fresh port of `127.0.0.<last>`.
fn udp(last: u8) -> UdpSocket {
    UdpSocket::bind(loopback(last)).unwrap_or_else(|e| panic!("bind 127.0.0.{last}: {e}"))
}

/// Sends `bytes` to `to`, panicking on a local error.
fn send_bytes(socket: &UdpSocket, to: SocketAddr, bytes: &[u8]) {
    socket
        .send_to(bytes, to)
        .unwrap_or_else(|e| panic!("sending {} bytes to {to}: {e}", bytes.len()));
}

/// Every datagram `socket` receives within `wait`, parsed (or `Value::Null` when not JSON),
/// with its source.
fn drain(socket: &UdpSocket, wait: Duration) -> Vec<(SocketAddr, Value)> {
    let deadline = Instant::now() + wait;
    let mut buf = vec![0u8; 65_536];
    let mut got = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        socket
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .expect("set a read timeout");
        if let Ok((len, from)) = socket.recv_from(&mut buf) {
            got.push((
                from,
                serde_json::from_slice(&buf[..len]).unwrap_or(Value::Null),
            ));
        }
    }
    got
}

/// Asks questions from fresh ports of one loopback address: a late answer to an earlier
/// question then never passes for the answer to a later one, while the peer's per-IP limits see
/// one asker.
#[derive(Debug, Clone, Copy)]
struct Asker(u8);

/// Sends `msg` to `to` from a fresh port of `asker`'s address, again every [`RESEND_EVERY`],
/// and returns the first datagram of type `reply_type` that comes back from `to` itself (the
/// listening port), or `None` after [`ANSWER_DEADLINE`]. Only for idempotent questions.
fn ask(asker: &Asker, to: SocketAddr, msg: &Value, reply_type: &str) -> Option<Value> {
    let socket = udp(asker.0);
    let bytes = msg.to_string();
    let deadline = Instant::now() + ANSWER_DEADLINE;
    let mut buf = vec![0u8; 65_536];
    let mut resend = Instant::now();
    while Instant::now() < deadline {
        if Instant::now() >= resend {
            send_bytes(&socket, to, bytes.as_bytes());
            resend = Instant::now() + RESEND_EVERY;
        }
        let left = resend
            .min(deadline)
            .saturating_duration_since(Instant::now());
        socket
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .expect("set a read timeout");
        let Ok((len, from)) = socket.recv_from(&mut buf) else {
            continue;
        };
        let Ok(reply) = serde_json::from_slice::<Value>(&buf[..len]) else {
            continue;
        };
        if from == to && reply["type"] == reply_type {
            return Some(reply);
        }
    }
    None
}

/// The STATS_REPLY of `to`, or `None` when it does not answer in time.
fn stats(asker: &Asker, to: SocketAddr) -> Option<Value> {
    ask(asker, to, &json!({"type": "STATS"}), "STATS_REPLY")
}

/// The STATS_REPLY a course peer holding `chain` sends.
fn stats_of(chain: &[Block]) -> Value {
    match chain.last() {
        Some(top) => json!({"type": "STATS_REPLY", "height": chain.len(), "hash": top.hash}),
        None => json!({"type": "STATS_REPLY", "height": null, "hash": null}),
    }
}

/// Waits until `peer` answers STATS with the top of `chain`.
fn wait_stats(asker: &Asker, peer: SocketAddr, chain: &[Block], timeout: Duration) {
    let want = stats_of(chain);
    wait_until(
        &format!("{peer} to hold a chain of {} blocks", chain.len()),
        timeout,
        || match stats(asker, peer) {
            Some(got) if got == want => Ok(()),
            got => Err(format!("STATS answered {got:?}, want {want}")),
        },
    );
}

/// `GET path` over HTTP/1.1 (`Connection: close`): the JSON body of a 200 answer.
fn http_get(addr: SocketAddr, path: &str) -> Value {
    let mut stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    stream
        .set_read_timeout(Some(HTTP_DEADLINE))
        .expect("set a read timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("GET {path}: no HTTP response: {text:?}"));
    assert!(
        head.starts_with("HTTP/1.1 200"),
        "GET {path}: {head:?} {body}"
    );
    serde_json::from_str(body).unwrap_or_else(|e| panic!("GET {path}: {body:?} is not JSON: {e}"))
}

/// A course host on its own loopback address holding `chain`.
fn host(name: &str, ip: u8, chain: Vec<Block>) -> Host {
    Host::start(HostConfig {
        bind: loopback(ip),
        chain,
        ..HostConfig::new(name, DIFFICULTY)
    })
    .unwrap_or_else(|e| panic!("starting the course host {name}: {e}"))
}

/// Runs `host`'s course consensus until it adopts a chain, five times at most, and returns the
/// last outcome: a course peer runs it again every few minutes, and one run can miss an answer
/// that a loaded machine delays past the course's short waits (500 ms for STATS, 50 ms on a
/// throw-away port).
fn consensus_until_adopted(host: &Host) -> ConsensusOutcome {
    let mut outcome = host.consensus_now();
    for _ in 1..5 {
        if outcome.adopted.is_some() {
            break;
        }
        outcome = host.consensus_now();
    }
    outcome
}

/// Our `peer` binary under `--profile comp3010`, with its web API on a free port.
struct Ours {
    name: String,
    process: Process,
    data: std::path::PathBuf,
    /// Where it listens (UDP).
    addr: SocketAddr,
}

impl Ours {
    /// Starts `peer 0 0 --profile comp3010 --difficulty 2` named `name` with `data` as its data
    /// directory, `seeds` as `--seed`s and `extra` flags; waits for its readiness line.
    fn start(name: &str, data: &Path, seeds: &[SocketAddr], extra: &[&str]) -> Ours {
        let mut args: Vec<String> = [
            "0",
            "0",
            "--profile",
            "comp3010",
            "--name",
            name,
            "--difficulty",
            &DIFFICULTY.to_string(),
            "--http",
            "127.0.0.1:0",
            "--data-dir",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        args.push(data.display().to_string());
        for seed in seeds {
            args.push("--seed".into());
            args.push(seed.to_string());
        }
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let mut process = Process::spawn(name, None, &bin("peer"), &args, &[]);
        let addr = peer_udp_addr(&mut process);
        Ours {
            name: name.to_owned(),
            process,
            data: data.to_path_buf(),
            addr,
        }
    }

    /// The address of its web API, from the line `web page and API on http://ADDR/`.
    fn http(&mut self) -> SocketAddr {
        peer_web_addr(&mut self.process)
    }

    /// `GET /api/status`.
    fn status(&mut self) -> Value {
        let http = self.http();
        http_get(http, "/api/status")
    }
}

impl Drop for Ours {
    /// A failing test shows the tail of `peer.log` too (stderr carries only events).
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let text = std::fs::read_to_string(self.data.join("peer.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        for line in &lines[lines.len().saturating_sub(40)..] {
            eprintln!("{} peer.log: {line}", self.name);
        }
    }
}

/// Test 1: a course host's chain is synced, and served back in the course's flat form.
#[test]
fn a_course_chain_is_synced_and_served_back_in_the_flat_course_form() {
    let chain = mine_chain(200, DIFFICULTY, "Prof!", 1);
    let well_known = host("well-known", 11, chain.clone());
    let data = TempDir::new("comp3010-sync");
    let mut ours = Ours::start("ours", data.path(), &[well_known.addr()], &[]);
    let probe = Asker(12);
    wait_stats(&probe, ours.addr, &chain, DEADLINE);
    ours.process.wait_log("the in-sync line", DEADLINE, |l| {
        l.contains("in sync: 200 blocks")
    });
    let status = wait_until("the API to show the chain", DEADLINE, || {
        let status = ours.status();
        if status["blocks"] == 200 {
            Ok(status)
        } else {
            Err(status.to_string())
        }
    });
    assert_eq!(status["top"], chain[199].hash.as_str(), "{status}");
    assert_eq!(status["sync"], Value::Null, "{status}");
    assert_eq!(status["profile"], "comp3010", "{status}");
    wait_until(
        "the course host to learn us from our GOSSIP",
        DEADLINE,
        || {
            if well_known.peers().contains(&ours.addr) {
                Ok(())
            } else {
                Err(format!("it knows {:?}", well_known.peers()))
            }
        },
    );
    // Every block, field for field as the course host itself would send it.
    for (height, block) in chain.iter().enumerate() {
        let request = json!({"type": "GET_BLOCK", "height": height});
        let reply = ask(&probe, ours.addr, &request, "GET_BLOCK_REPLY")
            .unwrap_or_else(|| panic!("no GET_BLOCK_REPLY for height {height}"));
        assert_eq!(reply, block_to_json(block, "GET_BLOCK_REPLY"));
    }
    // The course host's own answer for a height is the same JSON as ours.
    let from_host = ask(
        &probe,
        well_known.addr(),
        &json!({"type": "GET_BLOCK", "height": 7}),
        "GET_BLOCK_REPLY",
    );
    assert_eq!(
        from_host,
        ask(
            &probe,
            ours.addr,
            &json!({"type": "GET_BLOCK", "height": 7}),
            "GET_BLOCK_REPLY"
        )
    );
    for height in [200, 201, 1 << 40, u64::MAX] {
        let request = json!({"type": "GET_BLOCK", "height": height});
        assert_eq!(
            ask(&probe, ours.addr, &request, "GET_BLOCK_REPLY"),
            Some(null_block_reply()),
            "height {height}"
        );
    }
}

/// Test 2: a course host with no chain adopts ours through its own consensus and validation.
#[test]
fn a_course_host_syncs_our_chain_by_its_own_rules() {
    let chain = mine_chain(80, DIFFICULTY, "Prof!", 2);
    let source = host("source", 21, chain.clone());
    let data = TempDir::new("comp3010-serve");
    let ours = Ours::start("ours", data.path(), &[source.addr()], &[]);
    let probe = Asker(22);
    wait_stats(&probe, ours.addr, &chain, DEADLINE);
    // Gone: from now on the chain is to be had from our peer only.
    drop(source);
    let learner = Host::start(HostConfig {
        bind: loopback(23),
        peers: vec![ours.addr],
        ..HostConfig::new("learner", DIFFICULTY)
    })
    .expect("start the learner");
    wait_until("the learner to hear our GOSSIP_REPLY", DEADLINE, || {
        if learner.peers().contains(&ours.addr) {
            Ok(())
        } else {
            Err(format!("it knows {:?}", learner.peers()))
        }
    });
    let outcome = consensus_until_adopted(&learner);
    assert_eq!(outcome.adopted, Some(80), "{outcome:?}");
    assert_eq!(learner.chain(), chain);
    assert!(chain_valid(&learner.chain(), DIFFICULTY));
}

/// Test 3: NEW_WORD (and the console's `word`) end up in a block ANNOUNCEd to a course host,
/// which validates it by its own rules; before that a fresh peer answers with the null forms.
#[test]
fn a_new_word_is_mined_into_a_block_a_course_host_accepts() {
    let sink = host("sink", 31, Vec::new());
    let data = TempDir::new("comp3010-word");
    let mut ours = Ours::start("miner", data.path(), &[sink.addr()], &["--mine"]);
    let probe = Asker(32);
    // A fresh peer: no chain, said the course's way.
    let fresh = wait_until("a fresh peer to answer STATS", DEADLINE, || {
        stats(&probe, ours.addr).ok_or_else(|| "no answer".to_owned())
    });
    assert_eq!(
        fresh,
        json!({"type": "STATS_REPLY", "height": null, "hash": null})
    );
    assert_eq!(
        ask(
            &probe,
            ours.addr,
            &json!({"type": "GET_BLOCK", "height": 0}),
            "GET_BLOCK_REPLY"
        ),
        Some(null_block_reply())
    );

    send_bytes(
        &udp(33),
        ours.addr,
        json!({"type": "NEW_WORD", "word": "hello"})
            .to_string()
            .as_bytes(),
    );
    wait_until(
        "the host to accept a block with \"hello\"",
        DEADLINE,
        || {
            let chain = sink.chain();
            match chain.last() {
                Some(top) if top.messages.contains(&"hello".to_owned()) => Ok(()),
                _ => Err(format!("its chain: {chain:?}")),
            }
        },
    );
    let chain = sink.chain();
    assert_eq!(sink.accepted_announces(), 1);
    assert_eq!(chain.len(), 1);
    assert_eq!(chain[0].mined_by, "miner");
    assert!(block_valid(None, &chain[0], DIFFICULTY));
    wait_stats(&probe, ours.addr, &chain, DEADLINE);

    let answer = ours.process.console("word wörld 2");
    assert!(
        answer.iter().any(|l| l.contains("will be mined")),
        "{answer:?}"
    );
    wait_until(
        "the host to accept a block with \"wörld 2\"",
        DEADLINE,
        || {
            let chain = sink.chain();
            match chain.last() {
                Some(top) if top.messages.contains(&"wörld 2".to_owned()) => Ok(()),
                _ => Err(format!("its chain: {chain:?}")),
            }
        },
    );
    let chain = sink.chain();
    assert_eq!(sink.accepted_announces(), 2);
    assert!(chain_valid(&chain, DIFFICULTY));
    wait_stats(&probe, ours.addr, &chain, DEADLINE);
}

/// Issue 15 in the comp3010 profile: a peer with a mining port and no mining of its own hands a
/// word's block to a `miner` process, whose winning nonce becomes a block the course host
/// accepts by its own rules.
#[test]
fn an_external_miner_mines_a_course_word() {
    let sink = host("sink", 34, Vec::new());
    let data = TempDir::new("comp3010-port");
    let mut ours = Ours::start(
        "pool",
        data.path(),
        &[sink.addr()],
        &["--mining-listen", "127.0.0.1:0"],
    );
    let port = mining_port_addr(&mut ours.process);
    let mut miner = spawn_miner("rig", port, &[]);
    miner.wait_stdout("the miner to connect", DEADLINE, |l| {
        l.contains("connected to")
    });
    let answer = ours.process.console("word external");
    assert!(
        answer.iter().any(|l| l.contains("will be mined")),
        "{answer:?}"
    );
    wait_until(
        "the host to accept a block with \"external\"",
        DEADLINE,
        || {
            let chain = sink.chain();
            match chain.last() {
                Some(top) if top.messages.contains(&"external".to_owned()) => Ok(()),
                _ => Err(format!("its chain: {chain:?}")),
            }
        },
    );
    let chain = sink.chain();
    assert!(chain_valid(&chain, DIFFICULTY));
    assert_eq!(
        chain[0].mined_by, "pool",
        "the peer's block, mined by its miner"
    );
    // The status shows the miner and its block (it is published every 250 ms).
    wait_until("the status to show the miner's block", DEADLINE, || {
        let status = ours.status();
        let pool = &status["pool"];
        match (&pool["blocks_found"], &pool["miners"][0]["name"]) {
            (found, name) if *found == json!(1) && *name == json!("rig") => Ok(()),
            _ => Err(format!("{status}")),
        }
    });
}

/// Our GOSSIP to one well-known course host reaches the others through its forwarding: every
/// host learns us, and we learn every host from its GOSSIP_REPLY.
#[test]
fn our_gossip_spreads_through_a_course_network() {
    let hosts: Vec<Host> = (0..4u8)
        .map(|i| host(&format!("course {i}"), 131 + i, Vec::new()))
        .collect();
    for a in &hosts {
        for b in &hosts {
            a.add_peer(b.addr());
        }
    }
    let data = TempDir::new("comp3010-gossip");
    let mut ours = Ours::start("ours", data.path(), &[hosts[0].addr()], &[]);
    let http = ours.http();
    wait_until(
        "every course host and our peer to know each other",
        DEADLINE,
        || {
            let unaware: Vec<SocketAddr> = hosts
                .iter()
                .filter(|h| !h.peers().contains(&ours.addr))
                .map(Host::addr)
                .collect();
            let peers = http_get(http, "/api/peers");
            let ours_knows = |addr: SocketAddr| {
                peers.as_array().is_some_and(|list| {
                    list.iter()
                        .any(|p| p["address"] == addr.to_string().as_str() && p["talked"] == true)
                })
            };
            let unknown: Vec<SocketAddr> = hosts
                .iter()
                .map(Host::addr)
                .filter(|addr| !ours_knows(*addr))
                .collect();
            if unaware.is_empty() && unknown.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "hosts that do not know us: {unaware:?}; hosts we do not know: {unknown:?}"
                ))
            }
        },
    );
}

/// Test 4: the chain most peers report wins over a different one of the same length.
#[test]
fn consensus_takes_the_chain_most_peers_report() {
    let a = mine_chain(30, DIFFICULTY, "majority", 41);
    let b = mine_chain(30, DIFFICULTY, "minority", 42);
    let b1 = host("b1", 41, b);
    let a1 = host("a1", 42, a.clone());
    let a2 = host("a2", 43, a.clone());
    let data = TempDir::new("comp3010-majority");
    let mut ours = Ours::start("ours", data.path(), &[b1.addr(), a1.addr(), a2.addr()], &[]);
    let probe = Asker(44);
    wait_stats(&probe, ours.addr, &a, DEADLINE);
    ours.process.wait_log("the consensus line", DEADLINE, |l| {
        l.contains("consensus: 2 of 3 peers agree on a chain of 30 blocks")
    });
    assert_eq!(
        b1.received("GET_BLOCK"),
        0,
        "the minority chain is not fetched"
    );
}

/// A course peer's ANNOUNCE extends our chain and is passed on to the other course peers, who
/// accept it; a forged body under the real block's hash is refused, not passed on, and does not
/// keep the real block out.
#[test]
fn an_announced_block_is_checked_added_and_passed_on() {
    let chain = mine_chain(10, DIFFICULTY, "Prof!", 10);
    let source = host("source", 101, chain.clone());
    let data = TempDir::new("comp3010-announce");
    let ours = Ours::start("ours", data.path(), &[source.addr()], &[]);
    let probe = Asker(102);
    wait_stats(&probe, ours.addr, &chain, DEADLINE);
    let listener = Host::start(HostConfig {
        bind: loopback(103),
        chain: chain.clone(),
        peers: vec![ours.addr],
        ..HostConfig::new("listener", DIFFICULTY)
    })
    .expect("start the listener");
    wait_until("the listener to hear our GOSSIP_REPLY", DEADLINE, || {
        if listener.peers().contains(&ours.addr) {
            Ok(())
        } else {
            Err(format!("it knows {:?}", listener.peers()))
        }
    });

    let next = mine_on(chain.last(), vec!["fresh".into()], DIFFICULTY, "announcer");
    let forged = Block {
        messages: vec!["forged".into()],
        ..next.clone()
    };
    let announcer = udp(104);
    send_bytes(
        &announcer,
        ours.addr,
        block_to_json(&forged, "ANNOUNCE").to_string().as_bytes(),
    );
    // Read in order: once STATS is answered the forgery has been judged.
    assert_eq!(stats(&probe, ours.addr), Some(stats_of(&chain)));
    send_bytes(
        &announcer,
        ours.addr,
        block_to_json(&next, "ANNOUNCE").to_string().as_bytes(),
    );
    let mut extended = chain.clone();
    extended.push(next);
    wait_stats(&probe, ours.addr, &extended, DEADLINE);
    wait_until(
        "the listener to accept the block we passed on",
        DEADLINE,
        || {
            if listener.accepted_announces() == 1 {
                Ok(())
            } else {
                Err(format!("{} accepted", listener.accepted_announces()))
            }
        },
    );
    assert_eq!(listener.chain(), extended);
    assert_eq!(
        listener.received("ANNOUNCE"),
        1,
        "only the real block was passed on"
    );
    assert!(
        drain(&announcer, Duration::from_millis(200)).is_empty(),
        "nothing goes back to the announcer"
    );
}

/// Test 5: a host claiming a million blocks costs a bounded number of GET_BLOCK, and the honest
/// chain wins.
#[test]
fn a_liar_about_its_height_costs_little_and_the_honest_chain_wins() {
    let honest_chain = mine_chain(40, DIFFICULTY, "honest", 51);
    let fake = format!("{}{}", "e".repeat(56), "0".repeat(8));
    let liar = Host::start(HostConfig {
        bind: loopback(51),
        // Five real blocks of another chain, served; the claim is a million.
        chain: mine_chain(5, DIFFICULTY, "liar", 52),
        lie: Some((1_000_000, fake)),
        ..HostConfig::new("liar", DIFFICULTY)
    })
    .expect("start the liar");
    let honest = host("honest", 52, honest_chain.clone());
    let data = TempDir::new("comp3010-liar");
    let mut ours = Ours::start("ours", data.path(), &[liar.addr(), honest.addr()], &[]);
    let probe = Asker(53);
    wait_stats(&probe, ours.addr, &honest_chain, DEADLINE);
    // It took the liar's five real blocks first, then found where the honest chain forks off.
    ours.process
        .wait_log("the switch to the honest branch", DEADLINE, |l| {
            l.contains("switched to a longer branch from height 0")
        });
    let asked = liar.received("GET_BLOCK");
    assert!(asked < 2_000, "the liar was sent {asked} GET_BLOCK");
    assert!(asked > 0, "the liar's claim was tried");
}

/// Two course hosts agree on a chain one of whose blocks does not match its hash (the course
/// hosts trust their chain as given): the majority's chain is refused at that block, and the
/// honest minority's chain wins; the forged block is never served on.
#[test]
fn a_majority_serving_a_forged_block_loses_to_the_honest_chain() {
    let forged_chain = {
        let mut chain = mine_chain(30, DIFFICULTY, "majority", 111);
        chain[10].messages = vec!["rewritten".into()];
        chain
    };
    assert!(!block_valid(
        Some(&forged_chain[9]),
        &forged_chain[10],
        DIFFICULTY
    ));
    let honest_chain = mine_chain(30, DIFFICULTY, "minority", 112);
    let bad1 = host("bad1", 111, forged_chain.clone());
    let bad2 = host("bad2", 112, forged_chain.clone());
    let honest = host("honest", 113, honest_chain.clone());
    let data = TempDir::new("comp3010-forged");
    let mut ours = Ours::start(
        "ours",
        data.path(),
        &[bad1.addr(), bad2.addr(), honest.addr()],
        &[],
    );
    let probe = Asker(114);
    wait_stats(&probe, ours.addr, &honest_chain, DEADLINE);
    ours.process
        .wait_log("the majority's chain to fail", DEADLINE, |l| {
            l.contains("the chain of 30 blocks could not be fetched")
        });
    assert!(bad1.received("GET_BLOCK") + bad2.received("GET_BLOCK") > 0);
    let request = json!({"type": "GET_BLOCK", "height": 10});
    assert_eq!(
        ask(&probe, ours.addr, &request, "GET_BLOCK_REPLY"),
        Some(block_to_json(&honest_chain[10], "GET_BLOCK_REPLY"))
    );
}

/// Test 6: a course host that sends each request from a fresh port and waits 50 ms there gets
/// our answers, and syncs our chain.
#[test]
fn a_course_host_asking_from_throw_away_ports_syncs_from_us() {
    let chain = mine_chain(60, DIFFICULTY, "Prof!", 6);
    let source = host("source", 61, chain.clone());
    let data = TempDir::new("comp3010-throwaway");
    // Gossip every second, so that the throw-away host hears our GOSSIP soon.
    let mut ours = Ours::start(
        "ours",
        data.path(),
        &[source.addr()],
        &["--gossip-interval", "1"],
    );
    let probe = Asker(62);
    wait_stats(&probe, ours.addr, &chain, DEADLINE);
    let throwaway = Host::start(HostConfig {
        bind: loopback(63),
        throwaway_ports: true,
        peers: vec![ours.addr],
        ..HostConfig::new("throwaway", DIFFICULTY)
    })
    .expect("start the throw-away-port host");
    // Its GOSSIP came from a fresh port, but names its listening address: we learn that.
    let http = ours.http();
    let listening = throwaway.addr().to_string();
    wait_until("our peer to learn the throw-away host", DEADLINE, || {
        let peers = http_get(http, "/api/peers");
        let known = peers
            .as_array()
            .or_else(|| peers["peers"].as_array())
            .is_some_and(|list| list.iter().any(|p| p["address"] == listening.as_str()));
        if known {
            Ok(())
        } else {
            Err(format!("peers: {peers}"))
        }
    });
    // Our answer to its GOSSIP went to the fresh port it came from, which is gone; it learns
    // us from our own GOSSIP, answered from its listening port.
    wait_until("the throw-away host to learn our peer", DEADLINE, || {
        if throwaway.peers().contains(&ours.addr) {
            Ok(())
        } else {
            Err(format!("it knows {:?}", throwaway.peers()))
        }
    });
    let outcome = consensus_until_adopted(&throwaway);
    assert_eq!(outcome.adopted, Some(60), "{outcome:?}");
    assert_eq!(throwaway.chain(), chain);
    assert!(chain_valid(&throwaway.chain(), DIFFICULTY));
}

/// Test 7: malformed datagrams, unsolicited replies, a flood of CONSENSUS, a flood of GET_BLOCK
/// from fresh ports and a spoofed GOSSIP: the peer keeps answering, answers none of the
/// malformed ones, takes nothing from the unsolicited ones, runs no extra consensus, backs the
/// flood off, and sends no GOSSIP_REPLY to the address the spoof names.
#[test]
fn hostile_datagrams_leave_the_course_peer_answering_and_reflect_nothing() {
    let chain = mine_chain(20, DIFFICULTY, "Prof!", 7);
    let source = host("source", 71, chain.clone());
    let data = TempDir::new("comp3010-hostile");
    let mut ours = Ours::start("ours", data.path(), &[source.addr()], &[]);
    let probe = Asker(72);
    wait_stats(&probe, ours.addr, &chain, DEADLINE);
    let before = ours.status()["counters"].clone();

    // Malformed, unknown or unanswerable: none gets a reply.
    let hostile = udp(73);
    let long = "x".repeat(60_000);
    let deep = format!("{}{}", "[".repeat(20_000), "]".repeat(20_000));
    let malformed: Vec<Vec<u8>> = vec![
        b"\x00\xff\xfe garbage".to_vec(),
        b"".to_vec(),
        b"{".to_vec(),
        b"null".to_vec(),
        b"[1,2,3]".to_vec(),
        deep.into_bytes(),
        br#"{"type":"GET_BLOCK"}"#.to_vec(),
        br#"{"type":"GET_BLOCK","height":-1}"#.to_vec(),
        br#"{"type":"GET_BLOCK","height":1.5}"#.to_vec(),
        br#"{"type":"GET_BLOCK","height":"3"}"#.to_vec(),
        br#"{"type":"GOSSIP","host":"127.0.0.1","port":9,"name":"no id"}"#.to_vec(),
        br#"{"type":"GOSSIP","host":"127.0.0.1","port":0,"id":"a","name":"port 0"}"#.to_vec(),
        json!({"type": "GOSSIP", "host": "127.0.0.1", "port": 9, "id": "huge", "name": long})
            .to_string()
            .into_bytes(),
        json!({"type": "NEW_WORD", "word": long})
            .to_string()
            .into_bytes(),
        json!({"type": "UNKNOWN", "pad": "y".repeat(60_000)})
            .to_string()
            .into_bytes(),
        json!({"type": "y".repeat(10_000)}).to_string().into_bytes(),
        br#"{"type":"REQUEST_CHAIN"}"#.to_vec(),
        br#"{"type":"REQUEST_CHAIN","host":"127.0.0.1","port":9}"#.to_vec(),
        br#"{"type":"ANNOUNCE","height":20}"#.to_vec(),
        br#"{"type":7}"#.to_vec(),
        br#"{"no":"type"}"#.to_vec(),
    ];
    for datagram in &malformed {
        send_bytes(&hostile, ours.addr, datagram);
        // The peer reads its socket in order: once it answers STATS, the datagram before is
        // read too, so a small receive buffer (net.core.rmem_max) never drops one of these.
        assert!(
            stats(&probe, ours.addr).is_some(),
            "no STATS answer after {} bytes of hostile datagram",
            datagram.len()
        );
    }
    let replies = drain(&hostile, Duration::from_millis(500));
    assert!(
        replies.is_empty(),
        "malformed datagrams were answered: {replies:?}"
    );
    let after = wait_until("the malformed datagrams to be counted", DEADLINE, || {
        let counters = ours.status()["counters"].clone();
        let counted =
            counters["malformed"].as_u64().unwrap_or(0) - before["malformed"].as_u64().unwrap_or(0);
        if counted >= malformed.len() as u64 {
            Ok(counters)
        } else {
            Err(format!(
                "{counted} of {} counted: {counters}",
                malformed.len()
            ))
        }
    });

    // Replies nobody asked for, one of them a valid block of a longer chain: the chain stays.
    let other = mine_chain(1, DIFFICULTY, "unsolicited", 77);
    let fake_top = format!("{}{}", "d".repeat(56), "0".repeat(8));
    let unsolicited = [
        block_to_json(&other[0], "GET_BLOCK_REPLY"),
        null_block_reply(),
        json!({"type": "STATS_REPLY", "height": 1_000_000, "hash": fake_top}),
        json!({"type": "STATS_REPLY", "height": null, "hash": null}),
    ];
    for reply in &unsolicited {
        send_bytes(&hostile, ours.addr, reply.to_string().as_bytes());
    }
    assert_eq!(stats(&probe, ours.addr), Some(stats_of(&chain)));
    wait_until("the unsolicited replies to be counted", DEADLINE, || {
        let counters = ours.status()["counters"].clone();
        let counted = counters["unsolicited"].as_u64().unwrap_or(0)
            - after["unsolicited"].as_u64().unwrap_or(0);
        // The null GET_BLOCK_REPLY says nothing to count: the other three are counted.
        if counted >= 3 {
            Ok(())
        } else {
            Err(format!("{counted} counted: {counters}"))
        }
    });
    assert!(
        drain(&hostile, Duration::from_millis(200)).is_empty(),
        "unsolicited replies were answered"
    );

    // A thousand CONSENSUS: at most one round per 10 s, so the course host is asked for STATS
    // a few times (the round at start, perhaps an early one), not a thousand.
    let consensus = json!({"type": "CONSENSUS"}).to_string();
    for _ in 0..1_000 {
        send_bytes(&hostile, ours.addr, consensus.as_bytes());
    }
    assert_eq!(stats(&probe, ours.addr), Some(stats_of(&chain)));
    let asked = source.received("STATS");
    assert!(
        (1..=3).contains(&asked),
        "the course host was asked for STATS {asked} times"
    );

    // 20,000 GET_BLOCK for height 0, each from a fresh port.
    let flood = json!({"type": "GET_BLOCK", "height": 0}).to_string();
    let started = Instant::now();
    for _ in 0..20_000 {
        let socket = udp(74);
        // A full send buffer loses a datagram of the flood: no matter.
        let _ = socket.send_to(flood.as_bytes(), ours.addr);
    }
    assert!(ours.process.is_running(), "the peer died in the flood");
    wait_stats(&probe, ours.addr, &chain, DEADLINE);
    // The API's snapshot may lag a moment behind the node.
    let counters = wait_until("the flood to be backed off", DEADLINE, || {
        let counters = ours.status()["counters"].clone();
        if counters["backed_off"].as_u64().unwrap_or(0) > after["backed_off"].as_u64().unwrap_or(0)
        {
            Ok(counters)
        } else {
            Err(counters.to_string())
        }
    });
    let flood_took = started.elapsed();
    let served = counters["served"].as_u64().unwrap_or(0) - after["served"].as_u64().unwrap_or(0);
    // Eight answers per height per IP every 2 s, and a margin for a slow machine.
    let windows = flood_took.as_secs() / 2 + 2;
    assert!(
        served <= 8 * windows + 8,
        "{served} of the flood's GET_BLOCK were answered in {flood_took:?}: {counters}"
    );

    // A GOSSIP naming an address that never talked: our peer sends it no GOSSIP_REPLY (what
    // course peers would do with a forwarded GOSSIP is the next test's business).
    let (_, at_victim) = spoof_gossip(ours.addr, 75, 76, Duration::from_millis(200));
    assert!(
        !at_victim
            .iter()
            .any(|(from, msg)| *from == ours.addr && msg["type"] == "GOSSIP_REPLY"),
        "our peer sent a GOSSIP_REPLY to the spoofed address: {at_victim:?}"
    );
    assert!(ours.process.is_running(), "the peer died");
    wait_stats(&probe, ours.addr, &chain, DEADLINE);
}

/// Sends our peer at `ours` a GOSSIP from a socket on 127.0.0.`spoofer` naming a fresh socket on
/// 127.0.0.`victim` that never talked to anyone; checks the spoof was read (its GOSSIP_REPLY
/// went back to the datagram's source, which a forger cannot aim); returns the victim's address
/// and what it received from anyone within `wait`.
fn spoof_gossip(
    ours: SocketAddr,
    victim: u8,
    spoofer: u8,
    wait: Duration,
) -> (SocketAddr, Vec<(SocketAddr, Value)>) {
    let victim = udp(victim);
    let victim_addr = victim.local_addr().expect("the victim's address");
    let spoofer = udp(spoofer);
    let spoof = json!({
        "type": "GOSSIP",
        "host": victim_addr.ip().to_string(),
        "port": victim_addr.port(),
        "id": format!("spoof-{}", victim_addr),
        "name": "spoofed",
    });
    send_bytes(&spoofer, ours, spoof.to_string().as_bytes());
    let at_spoofer = drain(&spoofer, Duration::from_secs(1));
    assert!(
        at_spoofer
            .iter()
            .any(|(from, msg)| *from == ours && msg["type"] == "GOSSIP_REPLY"),
        "no GOSSIP_REPLY to the spoof's source: {at_spoofer:?}"
    );
    (victim_addr, drain(&victim, wait))
}

/// Test 7b: a spoofed GOSSIP naming a third address that never talked to anyone must not be
/// forwarded by our peer: each course peer it reached would, following the course's rule, send
/// a GOSSIP_REPLY to that address and forward it on, so one forged datagram to our peer would
/// become a GOSSIP_REPLY from every course peer toward the victim (it did, before our peer
/// forwarded only GOSSIP from an originator that sent it or had talked to us). The seed
/// protocols' failure list (shared/reference/seed-protocols.md) names "a spoofed GOSSIP was
/// reflected to any address and forwarded to 3 more peers", and the native profile forwards only
/// a proven GOSSIP (PROTOCOL.md).
/// The victim here must receive no GOSSIP_REPLY from anyone.
#[test]
fn a_spoofed_gossip_draws_no_gossip_reply_to_its_victim_from_anyone() {
    let chain = mine_chain(5, DIFFICULTY, "Prof!", 9);
    let course_peer = host("course peer", 91, chain.clone());
    let data = TempDir::new("comp3010-spoof");
    let ours = Ours::start("ours", data.path(), &[course_peer.addr()], &[]);
    let probe = Asker(92);
    wait_stats(&probe, ours.addr, &chain, DEADLINE);
    let (victim_addr, at_victim) = spoof_gossip(ours.addr, 93, 94, Duration::from_millis(500));
    let replies: Vec<&(SocketAddr, Value)> = at_victim
        .iter()
        .filter(|(_, msg)| msg["type"] == "GOSSIP_REPLY")
        .collect();
    assert!(
        replies.is_empty(),
        "one spoofed GOSSIP to our peer, forwarded to the course peer at {}, drew \
         GOSSIP_REPLY to the victim {victim_addr}: {replies:?}",
        course_peer.addr()
    );
}

/// Test 8: the chain survives SIGKILL, SIGTERM and a torn write at the end of its store, and is
/// answered from the store at once, with the well-known host gone.
#[test]
fn the_chain_survives_kill_terminate_and_a_torn_write() {
    let chain = mine_chain(30, DIFFICULTY, "Prof!", 8);
    let source = host("source", 81, chain.clone());
    let source_addr = source.addr();
    let data = TempDir::new("comp3010-persist");
    let mut ours = Ours::start("ours", data.path(), &[source_addr], &[]);
    let probe = Asker(82);
    wait_stats(&probe, ours.addr, &chain, DEADLINE);
    drop(source);

    // SIGKILL: no chance to flush anything.
    ours.process.kill();
    drop(ours);
    let mut ours = Ours::start("ours", data.path(), &[source_addr], &[]);
    let first = wait_until("the restarted peer to answer STATS", DEADLINE, || {
        stats(&probe, ours.addr).ok_or_else(|| "no answer".to_owned())
    });
    assert_eq!(first, stats_of(&chain), "the first answer after SIGKILL");
    ours.process.wait_log("the resumed line", DEADLINE, |l| {
        l.contains("resumed a chain of 30 blocks")
    });

    // SIGTERM: a clean stop.
    ours.process.terminate();
    let status = ours.process.wait_exit(DEADLINE);
    assert!(status.success(), "SIGTERM: {status}");
    drop(ours);
    let ours = Ours::start("ours", data.path(), &[source_addr], &[]);
    let first = wait_until("the restarted peer to answer STATS", DEADLINE, || {
        stats(&probe, ours.addr).ok_or_else(|| "no answer".to_owned())
    });
    assert_eq!(first, stats_of(&chain), "the first answer after SIGTERM");
    let request = json!({"type": "GET_BLOCK", "height": 29});
    assert_eq!(
        ask(&probe, ours.addr, &request, "GET_BLOCK_REPLY"),
        Some(block_to_json(&chain[29], "GET_BLOCK_REPLY"))
    );

    // A torn write after the last record (a crash in the middle of an append): cut, with a
    // warning, and the chain is whole.
    drop(ours);
    let store = data.path().join("course-chain.store");
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&store)
        .unwrap_or_else(|e| panic!("opening {}: {e}", store.display()));
    file.write_all(b"\x00\x00\x01\x00torn")
        .expect("append a torn record");
    drop(file);
    let mut ours = Ours::start("ours", data.path(), &[source_addr], &[]);
    let first = wait_until("the restarted peer to answer STATS", DEADLINE, || {
        stats(&probe, ours.addr).ok_or_else(|| "no answer".to_owned())
    });
    assert_eq!(
        first,
        stats_of(&chain),
        "the first answer after a torn write"
    );
    ours.process
        .wait_log("the warning about the cut", DEADLINE, |l| {
            l.contains("warning") && l.contains("cut")
        });
}
