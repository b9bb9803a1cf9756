//! Issue 12, the peer's JSON API (API.md) against a real `peer` process with a tracker: every
//! endpoint's shape, a vote posted by name followed from pending into a block through its
//! receipt and the ballot list, a `block` Server-Sent Event after the vote is mined, a `tally`
//! event counting a vote and a `peers` event naming a peer that joined, every
//! rejection's status and sentence, and hostile input (an oversized body, malformed JSON, a
//! client that never finishes its request) while the console keeps answering.
//!
//! The client is a few lines of HTTP/1.1 over a `TcpStream` (`Connection: close`), so the test
//! needs no HTTP library and sees exactly what the server sends.

use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};
use votechain_chain::{Vote, VoterKey};
use votechain_tests::{wait_until, Mining, Peer, PeerConfig, Tracker, TrackerConfig, DEADLINE};

/// How long one HTTP exchange may take.
const HTTP_DEADLINE: Duration = Duration::from_secs(20);

/// One request; the status and the JSON body.
fn http(addr: SocketAddr, method: &str, path: &str, body: Option<&[u8]>) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).expect("connect to the API");
    stream.set_read_timeout(Some(HTTP_DEADLINE)).unwrap();
    let body = body.unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    // The server may answer (413) before reading the whole body and close: not an error here.
    let _ = stream.write_all(body);
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("{method} {path}: no HTTP response: {text:?}"));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{method} {path}: no status in {head:?}"));
    let json = serde_json::from_str(body)
        .unwrap_or_else(|e| panic!("{method} {path}: body {body:?} is not JSON: {e}"));
    (status, json)
}

fn get(addr: SocketAddr, path: &str) -> Value {
    let (status, body) = http(addr, "GET", path, None);
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

/// Asserts a refusal: its status and a sentence containing `reason`.
fn refused(answer: (u16, Value), status: u16, reason: &str) {
    let (got, body) = answer;
    assert_eq!(got, status, "{body}");
    let error = body["error"].as_str().unwrap_or_else(|| panic!("{body}"));
    assert!(error.contains(reason), "{error:?} should say {reason:?}");
    assert!(
        error.ends_with('.') && error.starts_with(|c: char| c.is_uppercase()),
        "a sentence: {error:?}"
    );
}

/// An open `GET /api/events` stream.
struct Events {
    stream: TcpStream,
    seen: String,
}

impl Events {
    fn open(addr: SocketAddr) -> Events {
        let mut stream = TcpStream::connect(addr).expect("connect for events");
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        write!(
            stream,
            "GET /api/events HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
        )
        .unwrap();
        let mut events = Events {
            stream,
            seen: String::new(),
        };
        // Subscribed once the headers are out: the handler subscribes before answering.
        events.wait_for("the event stream's headers", "text/event-stream");
        events
    }

    /// Reads until `needle` has arrived (in anything read so far).
    fn wait_for(&mut self, what: &str, needle: &str) {
        let deadline = Instant::now() + DEADLINE;
        while !self.seen.contains(needle) {
            self.read_more(what, deadline);
        }
    }

    /// Reads until an event named `kind` whose JSON data satisfies `pred` has arrived (in
    /// anything read so far); its data.
    fn wait_event(&mut self, what: &str, kind: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(data) = self.events(kind).into_iter().find(|d| pred(d)) {
                return data;
            }
            self.read_more(what, deadline);
        }
    }

    /// The data of every complete event named `kind` read so far. Each event is one chunk of
    /// the chunked response, so its `event:` and `data:` lines are together.
    fn events(&self, kind: &str) -> Vec<Value> {
        let name = format!("event: {kind}");
        self.seen
            .split("\n\n")
            .filter(|block| block.lines().any(|l| l.trim_end() == name))
            .filter_map(|block| block.lines().find_map(|l| l.strip_prefix("data: ")))
            .filter_map(|data| serde_json::from_str(data.trim_end()).ok())
            .collect()
    }

    /// Reads what has arrived, waiting at most a read timeout; panics naming `what` once past
    /// `deadline`.
    fn read_more(&mut self, what: &str, deadline: Instant) {
        assert!(
            Instant::now() < deadline,
            "no {what} within {DEADLINE:?}; got {:?}",
            self.seen
        );
        let mut buf = [0u8; 4096];
        match self.stream.read(&mut buf) {
            Ok(0) => panic!("the event stream ended; got {:?}", self.seen),
            Ok(n) => self.seen.push_str(&String::from_utf8_lossy(&buf[..n])),
            Err(_) => {} // the read timeout: look at the deadline and read again
        }
    }
}

#[test]
fn every_endpoint_answers_and_a_vote_by_name_goes_from_pending_into_a_block() {
    let tracker = Tracker::start(TrackerConfig::default());
    let mut config = PeerConfig::with_tracker(tracker.port());
    config.extra = vec!["--http".into(), "127.0.0.1:0".into()];
    let mut peer = Peer::start("api", config);
    let addr = peer.http_addr();
    assert_ne!(addr.port(), 0, "the actual port is printed");
    peer.wait_ready();

    let status = get(addr, "/api/status");
    assert_eq!(status["election"]["id"], tracker.election.to_string());
    assert_eq!(
        status["election"]["options"],
        serde_json::json!(["Adam", "Bob", "Catherine"])
    );
    assert_eq!(status["election"]["open"], true);
    assert_eq!(status["height"], 0);
    assert_eq!(status["mining"], true);
    assert!(
        status["tip"].is_string() && status["tip_time_ms"].is_u64(),
        "{status}"
    );
    assert!(status["tracker"]["state"].is_string(), "{status}");
    let tally = get(addr, "/api/tally");
    assert_eq!(tally["options"][0]["option"], "Adam");
    assert_eq!(tally["options"][0]["confirmed"], 0);
    let peers = get(addr, "/api/peers");
    assert!(peers["peers"].is_array(), "{peers}");

    let mut events = Events::open(addr);
    let (code, receipt) = http(
        addr,
        "POST",
        "/api/votes",
        Some(br#"{"voter": "Alice", "choice": "Adam"}"#),
    );
    assert_eq!(code, 200, "{receipt}");
    let id = receipt["vote_id"].as_str().expect("a vote id").to_owned();
    assert!(
        ["pending", "confirmed"].contains(&receipt["status"].as_str().unwrap()),
        "{receipt}"
    );
    assert!(
        peer.data_dir().join("keys").join("alice.key").exists(),
        "the key made for an accepted vote is kept"
    );
    events.wait_for(
        "a vote event",
        &format!("event: vote\ndata: {{\"choice\":\"Adam\",\"id\":\"{id}\"}}"),
    );
    events.wait_for("a block event", "event: block\n");

    // A vote signed elsewhere (a browser's key) is posted as the wire JSON.
    let key = VoterKey::from_seed([7; 32]);
    let signed = Vote::sign(key.signing_key(), tracker.election, "Bob");
    let body = serde_json::to_vec(&signed).unwrap();
    let (code, receipt) = http(addr, "POST", "/api/votes", Some(&body));
    assert_eq!(code, 200, "{receipt}");
    assert_eq!(receipt["vote_id"], signed.id().to_string());

    let confirmed = wait_until("the vote in a block", DEADLINE, || {
        let r = get(addr, &format!("/api/votes/{id}"));
        match r["status"].as_str() {
            Some("confirmed") => Ok(r),
            _ => Err(r.to_string()),
        }
    });
    let height = confirmed["height"].as_u64().expect("a height");
    assert!(
        confirmed["confirmations"].as_u64() >= Some(1),
        "{confirmed}"
    );
    assert_eq!(
        confirmed["proof"].as_array().map(Vec::len),
        Some(0),
        "a block of one vote needs no siblings: {confirmed}"
    );

    let block = get(addr, &format!("/api/blocks/{height}"));
    assert_eq!(block["votes"][0]["id"], id.as_str());
    assert_eq!(block["votes"][0]["choice"], "Adam");
    assert_eq!(block["miner"], "api");
    let by_hash = get(
        addr,
        &format!("/api/blocks/{}", block["hash"].as_str().unwrap()),
    );
    assert_eq!(by_hash["height"], height);
    let blocks = get(addr, "/api/blocks?limit=1");
    assert_eq!(
        blocks["blocks"].as_array().map(Vec::len),
        Some(1),
        "{blocks}"
    );
    let below = get(addr, &format!("/api/blocks?before={height}&limit=100"));
    assert_eq!(
        below["blocks"].as_array().map(Vec::len),
        Some(height as usize),
        "every block below {height}, genesis included: {below}"
    );
    let ballots = get(addr, "/api/ballots");
    assert!(
        ballots["ballots"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["vote_id"] == id.as_str() && b["height"] == height),
        "{ballots}"
    );
    let tally = get(addr, "/api/tally");
    assert_eq!(tally["options"][0]["confirmed"], 1, "{tally}");
    let pending = get(addr, "/api/pending");
    assert_eq!(pending["count"], 0, "{pending}");
    let unknown = get(addr, &format!("/api/votes/{}", "ab".repeat(32)));
    assert_eq!(unknown["status"], "unknown");
}

#[test]
fn rejections_say_why_and_hostile_clients_do_not_stop_the_console() {
    let tracker = Tracker::start(TrackerConfig::default());
    // Not mining, so a vote stays pending.
    let config = PeerConfig::with_tracker(tracker.port()).mining(Mining::Off);
    let mut peer = Peer::start("api-refusals", config);
    let addr = peer.http_addr();
    peer.wait_ready();

    let vote = |body: &[u8]| http(addr, "POST", "/api/votes", Some(body));
    refused(
        vote(br#"{"voter": "bob", "choice": "Nobody"}"#),
        422,
        "Nobody",
    );
    peer.vote("alice", "Adam");
    refused(
        vote(br#"{"voter": "alice", "choice": "Bob"}"#),
        422,
        "alice has already voted",
    );
    refused(vote(b"{not json"), 400, "not valid JSON");
    refused(vote(br#"{"voter": "carol"}"#), 400, "neither a signed vote");
    refused(vote(&vec![b' '; 64 * 1024]), 413, "larger than 16384 bytes");
    refused(http(addr, "GET", "/api/votes/xyz", None), 400, "hex");
    refused(
        http(addr, "GET", "/api/blocks/999999", None),
        404,
        "tip is at",
    );
    refused(http(addr, "GET", "/api/nowhere", None), 404, "no such");

    // A client that starts a request and never finishes it holds one connection, nothing else.
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.write_all(b"POST /api/votes HTTP/1.1\r\nContent-Length: 100\r\n\r\n{")
        .unwrap();
    let tally = peer.console("tally");
    assert_eq!(
        tally[0], "Adam 0",
        "the console answers meanwhile: {tally:?}"
    );
    assert_eq!(get(addr, "/api/tally")["options"][0]["pending"], 1);
    drop(slow);

    // A peer that has not got its ballot says so.
    let mut lone = PeerConfig::with_tracker(0);
    lone.seeds = vec![tracker.addr];
    lone.extra = vec!["--http".into(), "127.0.0.1:0".into()];
    let mut waiting = Peer::start("api-waiting", lone);
    let waiting_addr = waiting.http_addr();
    refused(
        http(waiting_addr, "GET", "/api/tally", None),
        409,
        "does not know the election",
    );
}

#[test]
fn a_taken_default_port_gives_way_to_a_free_one_and_says_so() {
    // Hold a TCP port above 1000 and start the peer on the UDP port 1000 below it.
    let (held, taken) = wait_until("a TCP port above 1000", DEADLINE, || {
        let held = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let port = held.local_addr().map_err(|e| e.to_string())?.port();
        match port > 1000 && std::net::UdpSocket::bind(("127.0.0.1", port - 1000)).is_ok() {
            true => Ok((held, port)),
            false => Err(format!("port {port} will not do")),
        }
    });
    let tracker = Tracker::start(TrackerConfig::default());
    let mut config = PeerConfig::with_tracker(tracker.port());
    config.port = taken - 1000;
    let mut peer = Peer::start("api-taken", config);
    let addr = peer.http_addr();
    assert_ne!(addr.port(), taken);
    // The sentence may come just after the web line: wait for it.
    peer.process()
        .wait_log("the sentence about the taken port", DEADLINE, |l| {
            l.starts_with(&format!("HTTP port {taken} could not be used"))
                && l.ends_with("so the API listens on a free port instead.")
        });
    get(addr, "/api/status");
    drop(held);
}

#[test]
fn tally_and_peers_events_follow_a_vote_and_a_joining_peer() {
    let tracker = Tracker::start(TrackerConfig::default());
    // Not mining, so the vote stays pending and the tally stays as the event said.
    let mut config = PeerConfig::with_tracker(tracker.port()).mining(Mining::Off);
    config.extra = vec!["--http".into(), "127.0.0.1:0".into()];
    let mut first = Peer::start("sse-first", config);
    let addr = first.http_addr();
    first.wait_ready();
    let mut events = Events::open(addr);

    let (code, receipt) = http(
        addr,
        "POST",
        "/api/votes",
        Some(br#"{"voter": "dave", "choice": "Bob"}"#),
    );
    assert_eq!(code, 200, "{receipt}");
    let counts_the_vote = |t: &Value| {
        t["options"].as_array().is_some_and(|options| {
            options
                .iter()
                .any(|o| o["option"] == "Bob" && o["pending"] == 1 && o["confirmed"] == 0)
        })
    };
    let tally = events.wait_event("a tally event counting the vote", "tally", counts_the_vote);
    assert_eq!(
        tally,
        get(addr, "/api/tally"),
        "the event is the JSON of GET /api/tally"
    );

    let second = Peer::start("sse-second", PeerConfig::with_tracker(tracker.port()));
    let joined = second.addr.to_string();
    let peers = events.wait_event("a peers event naming the second peer", "peers", |p| {
        p["peers"]
            .as_array()
            .is_some_and(|rows| rows.iter().any(|r| r["address"] == joined.as_str()))
    });
    let row = peers["peers"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["address"] == joined.as_str()))
        .cloned()
        .unwrap_or_default();
    assert!(
        row["state"].is_string() && row["source"].is_string(),
        "{row}"
    );
}
