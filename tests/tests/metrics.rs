//! `tracker --http 127.0.0.1:0` and `peer --http 127.0.0.1:0`: the real tracker and peer serve
//! `GET /metrics` in the Prometheus text format, and their counters move when a real peer
//! registers or a vote is mined. The page is fetched with a raw HTTP/1.1 GET over a loopback TCP
//! socket and parsed with `prometheus-parse`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;
use votechain_tests::{wait_until, Mining, Peer, PeerConfig, Tracker, TrackerConfig, DEADLINE};

/// `GET path` at `addr`: the status line and the body.
fn fetch(addr: SocketAddr, path: &str) -> Result<(String, String), String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("cannot send the request: {e}"))?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|e| format!("cannot read the response: {e}"))?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no header end in {response:?}"))?;
    let status = head.lines().next().unwrap_or_default().to_owned();
    Ok((status, body.to_owned()))
}

/// `/metrics` at `addr`, parsed.
fn scrape(addr: SocketAddr) -> Result<prometheus_parse::Scrape, String> {
    let (status, body) = fetch(addr, "/metrics")?;
    if status != "HTTP/1.1 200 OK" {
        return Err(format!("status {status:?}, body {body:?}"));
    }
    prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_owned())))
        .map_err(|e| format!("not Prometheus text ({e}): {body}"))
}

/// The value of the sample `name` whose labels include `labels`.
fn value(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .find(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => f64::NAN,
        })
}

#[test]
fn tracker_metrics_count_a_peer_that_registers() {
    let mut tracker = Tracker::start(TrackerConfig {
        extra: vec!["--http".into(), "127.0.0.1:0".into()],
        ..TrackerConfig::default()
    });
    let line = tracker
        .process()
        .wait_log_from(0, "the metrics URL", DEADLINE, |l| {
            l.starts_with("metrics on http://")
        });
    let http: SocketAddr = line
        .trim_start_matches("metrics on http://")
        .trim_end_matches("/metrics")
        .parse()
        .unwrap_or_else(|e| panic!("address in {line:?}: {e}"));

    let before = wait_until("a first scrape", DEADLINE, || scrape(http));
    assert_eq!(value(&before, "votechain_tracker_members", &[]), Some(0.0));
    assert_eq!(
        value(&before, "votechain_tracker_joins_total", &[]),
        Some(0.0)
    );
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        value(&before, "votechain_build_info", &[("version", version)]),
        Some(1.0)
    );

    let _peer = Peer::start(
        "alice",
        PeerConfig::with_tracker(tracker.port()).mining(Mining::Off),
    );
    let after = wait_until("the peer's registration in the metrics", DEADLINE, || {
        let s = scrape(http)?;
        match value(&s, "votechain_tracker_members", &[]) {
            Some(n) if n >= 1.0 => Ok(s),
            other => Err(format!("members {other:?}")),
        }
    });
    assert_eq!(
        value(&after, "votechain_tracker_joins_total", &[]),
        Some(1.0)
    );
    let registers = value(
        &after,
        "votechain_datagrams_total",
        &[("type", "REGISTER_PEER"), ("dir", "in")],
    );
    assert!(
        registers.unwrap_or(0.0) >= 1.0,
        "REGISTER_PEER counted: {registers:?}"
    );
    let acks = value(
        &after,
        "votechain_datagrams_total",
        &[("type", "REGISTER_ACK"), ("dir", "out")],
    );
    assert!(acks.unwrap_or(0.0) >= 1.0, "REGISTER_ACK counted: {acks:?}");
    let bytes_in = value(&after, "votechain_udp_bytes_total", &[("dir", "in")]);
    assert!(bytes_in.unwrap_or(0.0) > 0.0, "bytes counted: {bytes_in:?}");

    let (status, _) = fetch(http, "/nothing").expect("the metrics server answers");
    assert!(status.contains(" 404 "), "an unknown path is 404: {status}");
}

#[test]
fn peer_metrics_at_its_http_address_count_a_vote_and_its_block() {
    let tracker = Tracker::start(TrackerConfig::default());
    let mut config = PeerConfig::with_tracker(tracker.port());
    config.extra = vec!["--http".into(), "127.0.0.1:0".into()];
    let mut peer = Peer::start("metrics", config);
    let http = peer.http_addr();
    peer.wait_ready();

    let before = wait_until("a first scrape", DEADLINE, || scrape(http));
    let accepted = |s: &prometheus_parse::Scrape| {
        value(s, "votechain_votes_total", &[("result", "accepted")]).unwrap_or(0.0)
    };
    assert_eq!(accepted(&before), 0.0);
    peer.vote("alice", "Adam");
    wait_until("the vote and its block in the metrics", DEADLINE, || {
        let s = scrape(http)?;
        let height = value(&s, "votechain_chain_height", &[]).unwrap_or(0.0);
        match (accepted(&s), height) {
            (v, h) if v >= 1.0 && h >= 1.0 => Ok(()),
            (v, h) => Err(format!("accepted votes {v}, height {h}")),
        }
    });
}
