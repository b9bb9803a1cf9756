//! Issue 5, test (f): hostile datagrams — one for each way a seed peer was broken (the "What
//! went wrong" list of seed-protocols.md) — neither stop a peer nor change its chain, and a
//! request from an address that has not proved itself gets a small CHALLENGE, never blocks.

use std::time::{Duration, SystemTime, UNIX_EPOCH};
use votechain_chain::{Block, BlockTemplate, Hash, Vote, VoterKey};
use votechain_proto::{
    ChainBlock, GetBlockReply, Gossip, Message, NewBlock, NewVote, RequestChain, Verify,
};
use votechain_tests::{
    wait_converged, wait_until, ChainSummary, Mining, Peer, PeerConfig, Probe, Tracker,
    TrackerConfig, DEADLINE,
};

/// How long a peer may take to answer the STATS that follows a batch of hostile datagrams.
const ANSWER: Duration = Duration::from_secs(10);

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Searches nonces until the block meets its own claimed difficulty (a few thousand tries at
/// the test difficulty).
fn mine(template: &BlockTemplate) -> Block {
    (0..)
        .map(|nonce| template.seal(nonce))
        .find(|b| b.header().meets_difficulty())
        .expect("some nonce meets a low difficulty")
}

/// Undecodable datagrams: each decoding failure of PROTOCOL.md's table, and the datagrams that
/// killed seed peers.
fn undecodable() -> Vec<(&'static str, Vec<u8>)> {
    let mut deep = br#"{"type":"STATS","x":"#.to_vec();
    deep.extend(std::iter::repeat_n(b'[', 60_000));
    let mut long_number = br#"{"type":"GET_BLOCK","height":"#.to_vec();
    long_number.extend(std::iter::repeat_n(b'9', 1_000));
    long_number.push(b'}');
    let mut padded_stats = br#"{"type":"STATS","pad":""#.to_vec();
    padded_stats.extend(std::iter::repeat_n(b'x', 65_507 - padded_stats.len() - 2));
    padded_stats.extend(b"\"}");
    vec![
        ("empty", Vec::new()),
        ("missing field", br#"{"type":"GET_BLOCK"}"#.to_vec()),
        (
            "GOSSIP without id",
            br#"{"type":"GOSSIP","host":"127.0.0.1","port":9,"name":"x"}"#.to_vec(),
        ),
        (
            "unknown type",
            br#"{"type":"NEW_WORD","word":"test"}"#.to_vec(),
        ),
        (
            "mistyped field",
            br#"{"type":"GET_BLOCK","height":"0"}"#.to_vec(),
        ),
        (
            "invalid UTF-8",
            b"{\"type\":\"STATS\",\"x\":\"\xff\"}".to_vec(),
        ),
        ("deep nesting", deep),
        (
            "u64 overflow",
            br#"{"type":"GET_BLOCK","height":18446744073709551616}"#.to_vec(),
        ),
        ("1e400", br#"{"type":"GET_BLOCK","height":1e400}"#.to_vec()),
        ("negative", br#"{"type":"GET_BLOCK","height":-1}"#.to_vec()),
        ("1000 digits", long_number),
        (
            "port out of range",
            br#"{"type":"GOSSIP","host":"127.0.0.1","port":70000,"id":"a","name":"x"}"#.to_vec(),
        ),
        ("not JSON", b"hello".to_vec()),
        ("trailing garbage", br#"{"type":"STATS"} x"#.to_vec()),
        ("not an object", br#"["STATS"]"#.to_vec()),
        ("null", b"null".to_vec()),
        ("no type", br#"{"height":0}"#.to_vec()),
        ("type not a string", br#"{"type":5}"#.to_vec()),
        ("65,507-byte STATS", padded_stats),
        (
            "REQUEST_CHAIN count 0",
            br#"{"type":"REQUEST_CHAIN","count":0}"#.to_vec(),
        ),
    ]
}

/// Blocks that decode but must not be accepted, each as the datagrams that carry it.
fn forged_blocks(
    genesis: &Block,
    tip: ChainSummary,
    difficulty: u32,
) -> Vec<(&'static str, Vec<u8>)> {
    let election = genesis.hash();
    let mallory = VoterKey::from_seed([7; 32]);
    let sign = |choice: &str| Vote::sign(mallory.signing_key(), election, choice);
    let now = now_ms();
    let parent_height = tip.blocks - 1;
    let mut out = Vec::new();
    let encode = |m: Message| votechain_proto::encode(&m).expect("forged messages fit");

    // A valid-looking block whose claimed hash is not its contents' hash.
    let honest_looking =
        mine(&BlockTemplate::new(tip.tip, parent_height, difficulty, now, "m", vec![]).unwrap());
    let mut json = serde_json::to_value(Message::from(NewBlock {
        block: honest_looking.clone(),
    }))
    .unwrap();
    json["block"]["hash"] = serde_json::Value::String(Hash([0; 32]).to_string());
    out.push((
        "NEW_BLOCK with a wrong hash",
        serde_json::to_vec(&json).unwrap(),
    ));
    json["block"]["hash"] = serde_json::Value::String(honest_looking.hash().to_string());
    json["block"]["nonce"] = serde_json::json!(honest_looking.header().nonce + 1);
    out.push((
        "NEW_BLOCK with a changed nonce",
        serde_json::to_vec(&json).unwrap(),
    ));

    // A chain mined in no time at difficulty 0, longer than the honest one, in which one voter
    // votes seven times, also for a candidate not on the ballot (what a seed adopted).
    let choices = [
        "Mallory",
        "Adam",
        "Bob",
        "Catherine",
        "Mallory2",
        "Adam ",
        "bob",
    ];
    let mut parent = genesis.clone();
    let mut forged_chain = Vec::new();
    for i in 0..(tip.blocks + 8) {
        let votes = if i == 0 {
            choices.iter().map(|c| sign(c)).collect()
        } else {
            vec![]
        };
        let template =
            BlockTemplate::new(parent.hash(), parent.height(), 0, now + i, "m", votes).unwrap();
        parent = template.seal(0);
        forged_chain.push(parent.clone());
    }
    let total = forged_chain.len() as u64 + 1;
    for block in &forged_chain {
        out.push((
            "forged chain as NEW_BLOCK",
            encode(
                NewBlock {
                    block: block.clone(),
                }
                .into(),
            ),
        ));
    }
    for block in &forged_chain {
        let index = block.height();
        out.push((
            "forged chain as CHAIN_BLOCK",
            encode(
                ChainBlock {
                    index,
                    total_blocks: total,
                    block: block.clone(),
                }
                .into(),
            ),
        ));
        out.push((
            "forged chain as GET_BLOCK_REPLY",
            encode(
                GetBlockReply {
                    height: index,
                    block: Some(block.clone()),
                }
                .into(),
            ),
        ));
    }

    // Blocks on the honest tip with the election's difficulty claimed but not met, with real
    // proof of work but invalid votes, and with a timestamp far in the future.
    let no_work = BlockTemplate::new(tip.tip, parent_height, difficulty, now, "m", vec![]).unwrap();
    let unworked = (0..)
        .map(|nonce| no_work.seal(nonce))
        .find(|b| !b.header().meets_difficulty())
        .unwrap();
    out.push((
        "difficulty claimed, not met",
        encode(NewBlock { block: unworked }.into()),
    ));
    let mut bad_signature = sign("Adam");
    bad_signature.signature.0[0] ^= 1;
    for (what, votes) in [
        ("choice not on the ballot", vec![sign("Mallory")]),
        ("double vote", vec![sign("Adam"), sign("Bob")]),
        ("bad signature", vec![bad_signature.clone()]),
    ] {
        let template =
            BlockTemplate::new(tip.tip, parent_height, difficulty, now, "m", votes).unwrap();
        out.push((
            what,
            encode(
                NewBlock {
                    block: mine(&template),
                }
                .into(),
            ),
        ));
    }
    let future = now + 3 * 3_600_000;
    let template =
        BlockTemplate::new(tip.tip, parent_height, difficulty, future, "m", vec![]).unwrap();
    out.push((
        "timestamp 3 h ahead",
        encode(
            NewBlock {
                block: mine(&template),
            }
            .into(),
        ),
    ));
    // Invalid votes on their own.
    out.push((
        "vote not on the ballot",
        encode(
            NewVote {
                vote: sign("Mallory"),
            }
            .into(),
        ),
    ));
    out.push((
        "vote with a bad signature",
        encode(
            NewVote {
                vote: bad_signature,
            }
            .into(),
        ),
    ));
    out
}

/// Every datagram `probe` received must be a CHALLENGE within the unverified budget.
fn assert_only_challenges(
    what: &str,
    request_len: usize,
    received: &[votechain_tests::probe::Received],
) {
    let budget = (3 * request_len).max(256);
    for r in received {
        assert!(
            matches!(r.message(), Some(Message::Challenge(_))) && r.bytes.len() <= budget,
            "{what}: an unverified address got {} bytes: {}",
            r.bytes.len(),
            String::from_utf8_lossy(&r.bytes[..r.bytes.len().min(200)])
        );
    }
}

#[test]
fn hostile_datagrams_neither_stop_a_peer_nor_change_its_chain() {
    let tracker = Tracker::start(TrackerConfig::default());
    let mut target = Peer::start("f-target", PeerConfig::with_tracker(tracker.port()));
    let mut watcher = Peer::start(
        "f-watcher",
        PeerConfig::with_tracker(tracker.port()).mining(Mining::Off),
    );
    target.vote("honest", "Adam");
    let before = wait_converged(&[&target, &watcher], 2, DEADLINE);
    let tally_before = target.tally();
    let genesis = Block::genesis(&tracker.ballot()).unwrap();
    // The target relays to the watcher, so a forged block it accepted would show there too.
    let watcher_addr = watcher.addr.to_string();
    wait_until("the target to know the watcher", DEADLINE, || {
        let peers = target.peers();
        peers
            .iter()
            .any(|l| l.starts_with(&watcher_addr))
            .then_some(())
            .ok_or(format!("{peers:?}"))
    });

    // 1. Undecodable datagrams from a stranger: counted and dropped, never answered.
    let evil = Probe::new();
    // IPv4 cannot carry a datagram over 65,507 bytes: the kernel refuses the 70 KB one, which
    // is why the 65,507-byte STATS stands in for "too large".
    let _ = std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.send_to(&vec![b'{'; 70_000], target.addr));
    for (what, bytes) in undecodable() {
        evil.send_raw(target.addr, &bytes);
        let replies = evil.drain_until_stats(target.addr, ANSWER);
        assert!(
            replies.is_empty(),
            "{what}: an undecodable datagram got a reply: {:?}",
            replies
                .first()
                .map(|r| String::from_utf8_lossy(&r.bytes).into_owned())
        );
    }

    // 2. Forged blocks and votes, from a stranger and from a verified address.
    let forged = forged_blocks(&genesis, before, tracker.ballot().difficulty);
    for (what, bytes) in &forged {
        evil.send_raw(target.addr, bytes);
        evil.drain_until_stats(target.addr, ANSWER);
        assert_eq!(target.stats(), Some(before), "after {what}");
    }
    let verified = Probe::new();
    prove_address(&verified, target.addr);
    for (what, bytes) in &forged {
        verified.send_raw(target.addr, bytes);
        verified.drain_until_stats(target.addr, ANSWER);
        assert_eq!(
            target.stats(),
            Some(before),
            "after {what} from a verified address"
        );
    }

    // 3. Requests for blocks from an address that has not proved itself: a CHALLENGE at most.
    for request in [
        br#"{"type":"REQUEST_CHAIN"}"#.to_vec(),
        br#"{"type":"REQUEST_CHAIN","start":0,"count":64}"#.to_vec(),
        br#"{"type":"GET_BLOCK","height":1}"#.to_vec(),
        br#"{"type":"GOSSIP","host":"127.0.0.1","port":9,"id":"x1","name":"x"}"#.to_vec(),
    ] {
        let stranger = Probe::new();
        stranger.send_raw(target.addr, &request);
        let got = stranger.drain_until_stats(target.addr, ANSWER);
        assert_only_challenges(&String::from_utf8_lossy(&request), request.len(), &got);
    }

    // 4. A GOSSIP naming a victim as its originator is not reflected to the victim: one small
    //    GOSSIP_REPLY (a request carrying the peer's cookie) at most, however many such GOSSIPs.
    let victim = Probe::new();
    let gossip = Gossip {
        host: "127.0.0.1".into(),
        port: victim.addr().port(),
        id: "spoofed-1".into(),
        name: "victim".into(),
    };
    for i in 0..20 {
        let mut gossip = gossip.clone();
        gossip.id = format!("spoofed-{i}");
        verified.send(target.addr, &gossip.into());
    }
    verified.drain_until_stats(target.addr, ANSWER);
    let got = victim.drain_until_stats(target.addr, ANSWER);
    // The GOSSIPs are forwarded, so every peer they reach may contact the victim: once each.
    let mut senders: Vec<_> = got.iter().map(|r| r.from).collect();
    senders.sort();
    senders.dedup();
    assert!(
        senders.len() == got.len() && got.iter().all(|r| r.bytes.len() <= 256),
        "the named victim got more than one small datagram from a peer: {got:?}"
    );

    // The peer runs, has not moved, and still works: a vote is mined and reaches the watcher.
    assert!(target.process().is_running(), "the target exited");
    assert_eq!(target.stats(), Some(before));
    assert_eq!(watcher.stats(), Some(before));
    assert_eq!(target.tally(), tally_before);
    let stats = target.console_stats_text();
    eprintln!("target after the attack: {}", stats.replace('\n', " | "));
    assert!(
        stats.contains("undecodable"),
        "no undecodable datagram counted: {stats}"
    );
    target.vote("after", "Bob");
    wait_until("the vote after the attack to be counted", DEADLINE, || {
        let tally = watcher.tally();
        (tally.get("Bob") == Some(&1))
            .then_some(())
            .ok_or(format!("{tally:?}"))
    });
    wait_converged(&[&target, &watcher], 3, DEADLINE);
}

/// Makes `probe` hold `peer`'s cookie: ask for blocks, answer the CHALLENGE with VERIFY and the
/// request again (echoing the token), and check it is then answered in full.
fn prove_address(probe: &Probe, peer: std::net::SocketAddr) {
    let request: Message = RequestChain { start: 0, count: 1 }.into();
    probe.send(peer, &request);
    let got = probe.drain_until_stats(peer, ANSWER);
    let token = got
        .iter()
        .find_map(|r| match r.message() {
            Some(Message::Challenge(c)) => Some(c.token),
            _ => None,
        })
        .expect("an unverified REQUEST_CHAIN is answered with a CHALLENGE");
    probe.send(peer, &Verify { token }.into());
    probe.send(peer, &request);
    let got = probe.drain_until_stats(peer, ANSWER);
    assert!(
        got.iter()
            .any(|r| matches!(r.message(), Some(Message::ChainBlock(_)))),
        "a request echoing the cookie gets its CHAIN_BLOCK"
    );
}
