//! Issue 15, hostile TCP input at a peer's mining port: 1,000 idle connections, an oversized
//! line, binary garbage, and a client that sends without ever reading its answers. The peer
//! keeps answering STATS over UDP at once (the median within 50 ms), answers every garbage line
//! with code 20, closes the oversized line's connection and the client that does not read, and
//! an honest miner still logs in. Alone in its file, so no other test's miners share the CPU
//! while it times STATS.

use serde_json::json;
use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};
use votechain_tests::stratum::StratumClient;
use votechain_tests::{
    mining_port_addr, Mining, Peer, PeerConfig, Tracker, TrackerConfig, DEADLINE,
};

/// Idle connections held open while STATS is timed.
const IDLE: usize = 1_000;
/// STATS round trips timed.
const SAMPLES: usize = 40;
/// Lines the client that never reads sends (2 bytes each), at most.
const UNREAD_LINES: usize = 2_000_000;

/// Raises this process's open-file limit (inherited by the peer it starts) to hold the idle
/// connections.
fn raise_fd_limit(wanted: u64) {
    if let Err(e) = rlimit::increase_nofile_limit(wanted) {
        eprintln!("cannot raise the open-file limit: {e}");
    }
}

/// `stats`'s number before `label` on its mining-port lines.
fn counter(stats: &str, label: &str) -> u64 {
    stats
        .split(label)
        .next()
        .and_then(|s| s.rsplit(' ').nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {label:?} in {stats}"))
}

#[test]
fn hostile_clients_never_slow_the_peer() {
    raise_fd_limit(4_096);
    let tracker = Tracker::start(TrackerConfig::default());
    let mut config = PeerConfig::with_tracker(tracker.port()).mining(Mining::Off);
    config.extra = vec!["--mining-listen".into(), "127.0.0.1:0".into()];
    let mut pool = Peer::start("pool", config);
    let port = mining_port_addr(pool.process());
    pool.wait_ready();

    let idle: Vec<TcpStream> = (0..IDLE)
        .map(|i| TcpStream::connect(port).unwrap_or_else(|e| panic!("idle connection {i}: {e}")))
        .collect();

    // An oversized line: one error, then the connection is closed.
    let mut oversized = StratumClient::connect(port);
    oversized
        .send_line(&vec![b'a'; 5_000])
        .expect("write the oversized line");
    let answer = oversized.next_line(DEADLINE).expect("an answer");
    assert!(answer.contains("20"), "code 20: {answer}");
    assert!(oversized.closed_within(DEADLINE), "closed after it");

    // Garbage lines, each answered with code 20; the connection stays usable.
    let mut garbage = StratumClient::connect(port);
    let lines: [&[u8]; 4] = [b"\xff\xfe\x00\x01", b"{\"id\":", b"[1,2,3]", b"\x1b[2J"];
    for line in lines {
        garbage.send_line(line).expect("write garbage");
        let answer = garbage.next_line(DEADLINE).expect("an answer to garbage");
        let value: serde_json::Value = serde_json::from_str(&answer).expect("a JSON answer");
        assert_eq!(value["error"][0], json!(20), "{answer}");
    }
    garbage.login("after-garbage", None).expect("still usable");

    // A client that never reads: it floods lines whose answers pile up on the peer's side.
    let unread = TcpStream::connect(port).expect("connect the unread client");
    let flood = std::thread::spawn(move || {
        let mut unread = unread;
        let mut sent = 0;
        while sent < UNREAD_LINES && unread.write_all(b"x\n").is_ok() {
            sent += 1;
        }
        sent
    });

    // Meanwhile STATS is answered at once.
    let mut times: Vec<Duration> = (0..SAMPLES)
        .map(|i| {
            let at = Instant::now();
            pool.stats()
                .unwrap_or_else(|| panic!("STATS {i} unanswered under hostile TCP"));
            at.elapsed()
        })
        .collect();
    times.sort();
    let median = times[SAMPLES / 2];
    eprintln!(
        "STATS under hostile TCP: median {median:?}, max {:?}",
        times[SAMPLES - 1]
    );
    assert!(
        median < Duration::from_millis(50),
        "STATS median {median:?} (all: {times:?})"
    );

    let sent = flood.join().expect("the flood thread");
    assert!(
        sent < UNREAD_LINES,
        "the client that never reads was cut off (it sent all {sent} lines)"
    );
    let mut honest = StratumClient::connect(port);
    honest
        .login("honest", None)
        .expect("an honest miner logs in");
    let stats = pool.console_stats_text();
    assert!(counter(&stats, "slow readers dropped") >= 1, "{stats}");
    assert!(counter(&stats, "oversized lines") >= 1, "{stats}");
    assert!(counter(&stats, "malformed lines") >= 4, "{stats}");
    drop(idle);
}
