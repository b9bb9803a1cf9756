//! The web page and API of a `--profile w4119` peer: a tracker of our own in the w4119 profile
//! and two peers. The page and its script are served under the strict Content-Security-Policy;
//! a vote posted to one peer is mined and shows in the other peer's honest tally; a vote for an
//! option not on the ballot is refused with 400 and the sentence, a voter's second vote with 409
//! (whether the first is still being mined or already counted); a block from the network with a
//! vote off the ballot and a second vote is added, and both tallies list those votes as not
//! counted, with the reason; the block list, a block as W4119 JSON, the peers, the event stream
//! and `/metrics` answer as API.md says.

use serde_json::Value;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64};
use votechain_tests::web::{first_status_event, http, http_json};
use votechain_tests::{
    peer_udp_addr, spawn_w4119_peer, spawn_w4119_tracker, wait_until, TempDir, DEADLINE,
};
use votechain_w4119::wire::{self, W4119Message};
use votechain_w4119::{BlockTemplate, Transaction, W4119Block};

/// Waits until the peer is registered, has the ballot and lists `peers` other peers.
fn wait_joined(addr: SocketAddr, peers: u64) -> Value {
    wait_until("the peer to register and get the ballot", DEADLINE, || {
        let (_, s) = http_json(addr, "GET", "/api/status", "");
        let ready = s["registered"] == true && s["ballot"].is_array() && s["peers"] == peers;
        ready.then(|| s.clone()).ok_or_else(|| s.to_string())
    })
}

/// The votes `/api/tally` counts for `option`.
fn counted(addr: SocketAddr, option: &str) -> Result<(), String> {
    let (_, t) = http_json(addr, "GET", "/api/tally", "");
    let found = t["counts"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["option"] == option))
        .and_then(|c| c["votes"].as_u64());
    (found == Some(1))
        .then_some(())
        .ok_or_else(|| t.to_string())
}

#[test]
fn a_vote_posted_at_one_peer_is_counted_at_the_other_and_refusals_are_sentences() {
    let dir = TempDir::new("w4119-web");
    let (_tracker, tracker) = spawn_w4119_tracker("Alice,Bob,Carol", 200);
    let (mut first, one) = spawn_w4119_peer("one", tracker, dir.path());
    let (mut second, two) = spawn_w4119_peer("two", tracker, dir.path());
    let two_udp = peer_udp_addr(&mut second);

    // The page and its script, under the policy of every votechain page.
    let (status, head, page) = http(one, "GET", "/", "");
    assert_eq!(status, 200);
    assert!(
        head.contains("content-security-policy: default-src 'self'"),
        "{head}"
    );
    assert!(page.contains("id=\"vote-form\"") && page.contains("/assets/w4119.js"));
    let (status, head, script) = http(one, "GET", "/assets/w4119.js", "");
    assert_eq!(status, 200);
    assert!(head.contains("text/javascript"), "{head}");
    assert!(
        !script.contains("innerHTML"),
        "text goes in with textContent"
    );

    let status = wait_joined(one, 1);
    wait_joined(two, 1);
    assert_eq!(status["profile"], "w4119");
    assert_eq!(
        status["ballot"],
        serde_json::json!(["Alice", "Bob", "Carol"])
    );
    assert_eq!(status["blocks"], 1, "the genesis block only");
    assert_eq!(status["tracker"], tracker.to_string().as_str());
    let (_, tally) = http_json(two, "GET", "/api/tally", "");
    assert_eq!(tally["total"], 0);
    assert_eq!(
        tally["counts"][0],
        serde_json::json!({"option": "Alice", "votes": 0})
    );

    // A vote at one peer is mined and counted at the other.
    let (code, answer) = http_json(
        one,
        "POST",
        "/api/votes",
        r#"{"voter":"v1","choice":"Bob"}"#,
    );
    assert_eq!(code, 202, "{answer}");
    assert!(
        answer["message"].as_str().unwrap().contains("accepted"),
        "{answer}"
    );
    // A second vote by the same voter while the first is mined: refused.
    let (code, e) = http_json(
        one,
        "POST",
        "/api/votes",
        r#"{"voter":"v1","choice":"Alice"}"#,
    );
    assert!(code == 409, "{code} {e}");
    wait_until("the vote in the other peer's tally", DEADLINE, || {
        counted(two, "Bob")
    });
    let (_, tally) = http_json(two, "GET", "/api/tally", "");
    assert_eq!(tally["total"], 1);
    assert_eq!(tally["uncounted"], serde_json::json!([]));

    // Refusals are sentences with their status.
    let (code, e) = http_json(
        two,
        "POST",
        "/api/votes",
        r#"{"voter":"v1","choice":"Carol"}"#,
    );
    assert_eq!(code, 409, "{e}");
    let why = e["error"].as_str().unwrap();
    assert!(why.contains("v1 already voted, for Bob"), "{why}");
    let (code, e) = http_json(
        two,
        "POST",
        "/api/votes",
        r#"{"voter":"v2","choice":"Nobody"}"#,
    );
    assert_eq!(code, 400, "{e}");
    let why = e["error"].as_str().unwrap();
    assert!(why.contains("\"Nobody\" is not on the ballot"), "{why}");
    let (code, e) = http_json(two, "POST", "/api/votes", "not json");
    assert_eq!(code, 400);
    assert!(e["error"].as_str().unwrap().contains("JSON object"), "{e}");

    // The blocks, newest first, and one as W4119 JSON.
    let (_, blocks) = http_json(two, "GET", "/api/blocks?limit=5", "");
    assert_eq!(blocks[0]["index"], 1);
    assert_eq!(
        blocks[0]["votes"],
        serde_json::json!([{"voter": "v1", "choice": "Bob"}])
    );
    assert_eq!(blocks[1]["index"], 0);
    let (code, block) = http_json(two, "GET", "/api/blocks/1", "");
    assert_eq!(code, 200);
    assert_eq!(block["hash"], blocks[0]["hash"]);
    assert_eq!(block["transactions"][0]["voter_id"], "v1");
    assert_eq!(block["transactions"][0]["candidate_id"], "Bob");
    let (code, e) = http_json(two, "GET", "/api/blocks/9", "");
    assert_eq!(
        (code, &e["error"]),
        (404, &Value::from("no block at that index"))
    );
    let (code, _) = http_json(two, "GET", "/api/blocks/x", "");
    assert_eq!(code, 400);
    let (_, peers) = http_json(two, "GET", "/api/peers", "");
    assert_eq!(peers.as_array().map(Vec::len), Some(1), "{peers}");

    // The metrics parse and count the vote.
    let scrape = wait_until("the metrics to count the vote", DEADLINE, || {
        let (code, head, text) = http(one, "GET", "/metrics", "");
        assert_eq!(code, 200);
        assert!(head.contains("text/plain"), "{head}");
        let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
            .expect("Prometheus text");
        let blocks = scrape
            .samples
            .iter()
            .find(|s| s.metric == "votechain_w4119_blocks")
            .map(|s| s.value.clone());
        match matches!(blocks, Some(prometheus_parse::Value::Gauge(v)) if v == 2.0) {
            true => Ok(scrape),
            false => Err(text),
        }
    });
    let bob = scrape
        .samples
        .iter()
        .find(|s| {
            s.metric == "votechain_w4119_tally_votes" && s.labels.get("option") == Some("Bob")
        })
        .expect("Bob's count");
    assert!(matches!(bob.value, prometheus_parse::Value::Gauge(v) if v == 1.0));

    // A block from the network with a vote for an option not on the ballot and a second vote
    // by v1: both peers add it and their tallies list both as not counted, with the reason.
    let parent = W4119Block::from_json_bytes(http(two, "GET", "/api/blocks/1", "").2.as_bytes())
        .expect("block 1 as W4119 JSON");
    let votes = vec![
        Transaction::vote("v2", "Nobody", "2026-01-01 00:00:00"),
        Transaction::vote("v1", "Carol", "2026-01-01 00:00:00"),
    ];
    let template = BlockTemplate::after(&parent, votes, "2026-01-01 00:00:00".into());
    let block = votechain_w4119::mine(&template, 2, &AtomicBool::new(false), &AtomicU64::new(0))
        .expect("a block at difficulty 2");
    // Sent to both, as a W4119 miner sends its block to every peer (peers do not relay).
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    let one_udp = peer_udp_addr(&mut first);
    for to in [two_udp, one_udp] {
        sender
            .send_to(
                &wire::encode(&W4119Message::NewBlock {
                    block: block.clone(),
                }),
                to,
            )
            .unwrap();
    }
    for peer in [two, one] {
        let tally = wait_until("the block's votes listed as not counted", DEADLINE, || {
            let (_, t) = http_json(peer, "GET", "/api/tally", "");
            (t["uncounted_total"] == 2)
                .then(|| t.clone())
                .ok_or_else(|| t.to_string())
        });
        assert_eq!(tally["total"], 1, "{tally}");
        assert_eq!(
            tally["uncounted"],
            serde_json::json!([
                {"index": 2, "voter": "v2", "choice": "Nobody",
                 "reason": "the choice is not on the ballot"},
                {"index": 2, "voter": "v1", "choice": "Carol",
                 "reason": "the voter already voted, and their vote in block 1 is the one counted"},
            ])
        );
    }
    let (_, s) = http_json(one, "GET", "/api/status", "");
    assert_eq!(
        (&s["counted"], &s["uncounted"]),
        (&Value::from(1), &Value::from(2))
    );

    // The event stream opens with the status.
    let seen = first_status_event(one);
    assert!(seen.contains("\"profile\":\"w4119\""), "{seen}");
}
