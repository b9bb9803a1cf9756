//! Issue 11, a consistent command line: every binary names itself and the workspace version the
//! same way, and output that goes nowhere (a closed pipe, as in `peer … 2>&1 | head -2`) is not
//! a reason for a peer to stop.

use std::process::Command;
use std::time::Duration;
use votechain_tests::binaries::bin;
use votechain_tests::process::Process;
use votechain_tests::{Peer, PeerConfig, TempDir, Tracker, TrackerConfig, DEADLINE};

#[test]
fn every_binary_prints_its_own_name_and_the_workspace_version() {
    for name in ["tracker", "peer", "election", "miner"] {
        let out = Command::new(bin(name))
            .arg("--version")
            .output()
            .unwrap_or_else(|e| panic!("cannot run {name}: {e}"));
        assert!(out.status.success(), "{name} --version: {}", out.status);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            text.trim_end(),
            format!("{name} {}", env!("CARGO_PKG_VERSION"))
        );
    }
}

#[test]
fn a_peer_whose_stderr_is_a_closed_pipe_runs_and_stops_cleanly() {
    let tracker = Tracker::start(TrackerConfig::default());
    let data = TempDir::new("closed-stderr");
    let args = [
        tracker.port().to_string(),
        "0".to_owned(),
        "--data-dir".to_owned(),
        data.path().display().to_string(),
    ];
    let mut peer = Process::spawn_stderr_closed("closed-stderr", &bin("peer"), &args);
    // Its readiness line and logs all hit the broken pipe; the console still answers.
    let help = peer.console("help");
    assert!(
        help.iter().any(|l| l.contains("vote")),
        "help printed {help:?}"
    );
    peer.terminate();
    let status = peer.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "the peer exited with {status}");
}

#[test]
fn a_bad_ballot_is_one_sentence_and_status_2_from_tracker_and_election_alike() {
    let cases: [(&[&str], &str); 2] = [
        (
            &["--ballot", "Adam"],
            "a ballot needs 2..=32 options, found 1",
        ),
        (&["--difficulty", "300"], "difficulty 300 is above 64 bits"),
    ];
    for (flags, sentence) in cases {
        for (name, args) in [("tracker", vec!["0"]), ("election", vec![])] {
            let out = Command::new(bin(name))
                .args(args.iter().chain(flags))
                .stdin(std::process::Stdio::null())
                .output()
                .unwrap_or_else(|e| panic!("cannot run {name}: {e}"));
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{name} {flags:?}: {stderr}");
            assert_eq!(
                stderr.trim_end(),
                format!("{name}: {sentence}"),
                "{name} {flags:?}"
            );
        }
    }
}

#[test]
fn an_open_election_is_announced_as_open_by_tracker_peer_and_election() {
    let open = "This election is open: anyone can create a voter key";
    let mut tracker = Tracker::start(TrackerConfig::default());
    tracker
        .process()
        .wait_log("the tracker's open-election line", DEADLINE, |l| {
            l.contains(open)
        });
    let mut peer = Peer::start("open", PeerConfig::with_tracker(tracker.port()));
    peer.process()
        .wait_log("the peer's open-election line", DEADLINE, |l| {
            l.contains(open)
        });
    let args = ["--peers".to_owned(), "1".to_owned()];
    let mut election = Process::spawn("election", None, &bin("election"), &args, &[]);
    election.wait_stdout("the election's open-election line", DEADLINE, |l| {
        l.contains(open)
    });
}

/// Issue 15: the mining port's mistakes are one sentence and status 2 (usage), or 1 (a port that
/// cannot be had) before the readiness line: the w4119 profile has no mining port, and a taken
/// port is named.
#[test]
fn mining_port_mistakes_are_one_sentence_each() {
    let data = TempDir::new("mining-cli");
    let dir = data.path().display().to_string();
    let out = Command::new(bin("peer"))
        .args(["5000", "0", "--profile", "w4119", "--mining-listen", "0"])
        .args(["--no-console", "--no-http", "--data-dir", &dir])
        .output()
        .expect("run peer");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("the w4119 profile has no mining port"),
        "{err}"
    );

    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port to take");
    let port = taken.local_addr().expect("its address").port().to_string();
    let out = Command::new(bin("peer"))
        .args([
            "5000",
            "0",
            "--mining-listen",
            &port,
            "--no-console",
            "--no-http",
        ])
        .args(["--data-dir", &dir])
        .output()
        .expect("run peer");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("opening the mining port at 127.0.0.1:{port}")),
        "{err}"
    );
    assert!(
        !err.contains("peer listening on"),
        "no readiness line: {err}"
    );
}
