//! Issue 13, the web page and API of a `--profile comp3010` peer: the page and its script are
//! served with the strict Content-Security-Policy, a word posted to `/api/words` is mined into a
//! block that `/api/blocks` and `/api/blocks/{height}` show with the course's fields, the status
//! says so, `/metrics` counts the block, `/api/peers` lists a peer that joined, the event stream opens with a `status` event,
//! and refusals are sentences.

use votechain_tests::web::{first_status_event, http, http_json};
use votechain_tests::{peer_udp_addr, spawn_course_peer, wait_until, TempDir, DEADLINE};

#[test]
fn the_course_page_and_api_show_the_chain_peers_and_take_words() {
    let dir = TempDir::new("comp3010-web");
    let (mut miner, http_addr) = spawn_course_peer("miner", &dir, &["--mine"]);
    let miner_udp = peer_udp_addr(&mut miner);

    // The page and its script, under the policy of every votechain page.
    let (status, head, page) = http(http_addr, "GET", "/", "");
    assert_eq!(status, 200);
    assert!(
        head.contains("content-security-policy: default-src 'self'"),
        "{head}"
    );
    assert!(page.contains("id=\"word-form\"") && page.contains("/assets/course.js"));
    let (status, head, _) = http(http_addr, "GET", "/assets/course.js", "");
    assert_eq!(status, 200);
    assert!(head.contains("text/javascript"), "{head}");
    let (status, _, _) = http(http_addr, "GET", "/assets/style.css", "");
    assert_eq!(status, 200, "the shared stylesheet");

    // An empty chain first.
    let (_, s) = http_json(http_addr, "GET", "/api/status", "");
    assert_eq!(s["profile"], "comp3010");
    assert_eq!(s["blocks"], 0);
    assert!(s["top"].is_null());

    // A word is mined into a block with the course's fields.
    let (status, answer) = http_json(http_addr, "POST", "/api/words", r#"{"word":"hello web"}"#);
    assert_eq!((status, answer["queued"].as_bool()), (202, Some(true)));
    let blocks = wait_until("the word in a block", DEADLINE, || {
        let (_, b) = http_json(http_addr, "GET", "/api/blocks?limit=5", "");
        match b.as_array().is_some_and(|a| !a.is_empty()) {
            true => Ok(b),
            false => Err(b.to_string()),
        }
    });
    let top = &blocks[0];
    assert_eq!(top["height"], 0);
    assert_eq!(top["minedBy"], "miner");
    assert_eq!(top["messages"], serde_json::json!(["hello web"]));
    assert!(top["nonce"].is_string() && top["timestamp"].is_u64());
    let hash = top["hash"].as_str().unwrap().to_owned();
    assert!(hash.ends_with("00"), "difficulty 2: {hash}");
    let (status, one) = http_json(http_addr, "GET", "/api/blocks/0", "");
    assert_eq!((status, &one), (200, top));
    let (status, missing) = http_json(http_addr, "GET", "/api/blocks/7", "");
    assert_eq!(status, 404);
    assert_eq!(missing["error"], "no block at that height");
    let status = wait_until("the status to show the block", DEADLINE, || {
        let (_, s) = http_json(http_addr, "GET", "/api/status", "");
        match s["blocks"] == 1 {
            true => Ok(s),
            false => Err(s.to_string()),
        }
    });
    assert_eq!(status["top"], hash.as_str());
    let (code, head, text) = http(http_addr, "GET", "/metrics", "");
    assert_eq!(code, 200);
    assert!(head.contains("text/plain"), "{head}");
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .expect("Prometheus text");
    let blocks = scrape
        .samples
        .iter()
        .find(|s| s.metric == "votechain_course_blocks")
        .expect("the blocks gauge");
    assert!(matches!(blocks.value, prometheus_parse::Value::Gauge(v) if v == 1.0));

    // Refusals are sentences.
    let (status, e) = http_json(
        http_addr,
        "POST",
        "/api/words",
        r#"{"word":"twenty-one characters"}"#,
    );
    assert_eq!(status, 400);
    assert!(
        e["error"].as_str().unwrap().contains("1 to 20 characters"),
        "{e}"
    );
    let (status, e) = http_json(http_addr, "POST", "/api/words", "not json");
    assert_eq!(status, 400);
    assert!(e["error"].as_str().unwrap().contains("JSON object"), "{e}");

    // A second peer joins through the first: the first lists it.
    let seed = miner_udp.to_string();
    let (mut joiner, joiner_http) = spawn_course_peer("joiner", &dir, &["--seed", &seed]);
    let joiner_udp = peer_udp_addr(&mut joiner);
    wait_until("the joiner in the peer list", DEADLINE, || {
        let (_, peers) = http_json(http_addr, "GET", "/api/peers", "");
        let listed = peers
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["address"] == joiner_udp.to_string().as_str() && p["name"] == "joiner");
        listed.then_some(()).ok_or_else(|| peers.to_string())
    });
    // And the joiner has synced the block.
    wait_until("the joiner to sync", DEADLINE, || {
        let (_, s) = http_json(joiner_http, "GET", "/api/status", "");
        (s["top"] == hash.as_str())
            .then_some(())
            .ok_or_else(|| s.to_string())
    });

    // The event stream opens with the status.
    let seen = first_status_event(http_addr);
    assert!(seen.contains("\"profile\":\"comp3010\""), "{seen}");
}
