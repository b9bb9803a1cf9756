//! Issue 11, a calm console, tried as a person would: the real `peer` and `election` binaries
//! run in a pseudo-terminal the test creates (so this works in CI, which has no terminal), and
//! the test types keys and reads the screen. At a terminal the peer shows a prompt and a hint
//! to type `help`; `help` answers; arrow-up recalls an earlier line; Ctrl-D or Ctrl-C at the
//! prompt make it leave the network and exit 0; the election's console does the same and
//! explains its `2 …` / `all …` prefixes, and says when a peer it routes to has stopped.
//!
//! Every wait has a deadline (rexpect's timeout, then polling the exit status); the child is
//! killed when its session drops.

#![cfg(unix)]

use rexpect::process::wait::WaitStatus;
use rexpect::session::PtySession;
use std::process::Command;
use std::time::{Duration, Instant};
use votechain_tests::binaries::bin;
use votechain_tests::{TempDir, Tracker, TrackerConfig};

/// Generous: each answer takes milliseconds; the deadline only bounds a hang.
const DEADLINE_MS: u64 = 30_000;

/// Arrow-up as a terminal sends it.
const ARROW_UP: &str = "\u{1b}[A";

/// A `peer` of `tracker`'s election in a fresh pseudo-terminal, its data in `data`.
fn peer_at_a_terminal(tracker: &Tracker, data: &TempDir) -> PtySession {
    let mut command = Command::new(bin("peer"));
    command
        .arg(tracker.port().to_string())
        .arg("0")
        .arg("--data-dir")
        .arg(data.path())
        .env("TERM", "xterm");
    rexpect::session::spawn_command(command, Some(DEADLINE_MS)).expect("spawning the peer")
}

/// The `election` with two peers in a fresh pseudo-terminal, its data in `data`.
fn election_at_a_terminal(data: &TempDir) -> PtySession {
    let mut command = Command::new(bin("election"));
    command
        .args(["--peers", "2", "--data-dir"])
        .arg(data.path())
        .env("TERM", "xterm");
    rexpect::session::spawn_command(command, Some(DEADLINE_MS)).expect("spawning the election")
}

/// Waits for `text` on the screen; panics naming `what` with what was read.
fn expect(session: &mut PtySession, what: &str, text: &str) {
    if let Err(e) = session.exp_string(text) {
        panic!("no {what} ({text:?}) on the terminal: {e}");
    }
}

/// Waits until the process exits; returns its exit code (`None`: killed by a signal).
fn exit_code(session: &PtySession) -> Option<i32> {
    let deadline = Instant::now() + Duration::from_millis(DEADLINE_MS);
    loop {
        match session.process().status() {
            Some(WaitStatus::Exited(_, code)) => return Some(code),
            Some(WaitStatus::Signaled(..)) => return None,
            _ if Instant::now() >= deadline => panic!("still running after {DEADLINE_MS} ms"),
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

#[test]
fn a_peer_at_a_terminal_prompts_helps_and_recalls_history() {
    let tracker = Tracker::start(TrackerConfig::default());
    let data = TempDir::new("pty-peer");
    let mut peer = peer_at_a_terminal(&tracker, &data);
    expect(&mut peer, "the readiness line", "peer listening on");
    let log = data.path().join("peer.log");
    expect(&mut peer, "the help hint", "type help for commands");
    expect(
        &mut peer,
        "where the log is",
        &format!("the full log is in {}", log.display()),
    );
    expect(&mut peer, "the prompt", "peer> ");

    peer.send_line("help").expect("typing help");
    expect(&mut peer, "help's answer", "leave the network and stop");
    expect(&mut peer, "the prompt after help", "peer> ");
    peer.send_line("stats").expect("typing stats");
    expect(&mut peer, "stats' answer", "pending votes");
    expect(&mut peer, "the prompt after stats", "peer> ");

    // Two lines back is `help`: a console without history would run the escape codes as a
    // command and answer "unknown command".
    peer.send(ARROW_UP).expect("typing arrow-up");
    peer.send(ARROW_UP).expect("typing arrow-up");
    peer.send_line("").expect("typing Enter");
    expect(&mut peer, "help's answer to the recalled line", "commands:");
    expect(&mut peer, "the prompt after the recalled line", "peer> ");

    // Ctrl-D at an empty prompt: leave the network and exit 0.
    peer.send_control('d').expect("typing Ctrl-D");
    expect(&mut peer, "the peer leaving", "leaving the network");
    assert_eq!(exit_code(&peer), Some(0));
    let history = std::fs::read_to_string(data.path().join("history")).unwrap_or_default();
    assert!(history.contains("stats"), "history file: {history:?}");
}

#[test]
fn ctrl_c_at_a_peers_prompt_stops_it_cleanly() {
    let tracker = Tracker::start(TrackerConfig::default());
    let data = TempDir::new("pty-ctrl-c");
    let mut peer = peer_at_a_terminal(&tracker, &data);
    expect(&mut peer, "the prompt", "peer> ");
    peer.send("hal").expect("typing half a line");
    // In raw mode Ctrl-C is a key, not a signal: the peer must still treat it as SIGINT.
    peer.send_control('c').expect("typing Ctrl-C");
    expect(&mut peer, "the shutdown", "interrupted: shutting down");
    expect(&mut peer, "the peer leaving", "leaving the network");
    assert_eq!(exit_code(&peer), Some(0));
}

#[test]
fn the_elections_console_explains_prefixes_and_stopped_peers() {
    let data = TempDir::new("pty-election");
    let mut election = election_at_a_terminal(&data);
    expect(&mut election, "the introduction", "local election");
    expect(&mut election, "where the log is", "election.log");
    expect(&mut election, "the prompt", "election> ");

    election.send_line("help").expect("typing help");
    expect(&mut election, "the peer-number prefix", "2 <command>");
    expect(&mut election, "the all prefix", "all <command>");
    expect(
        &mut election,
        "the peer commands",
        "leave the network and stop",
    );

    election.send_line("2 quit").expect("typing 2 quit");
    expect(&mut election, "peer 2 stopping", "peer 2 stopped");
    election.send_line("2 tally").expect("typing 2 tally");
    expect(
        &mut election,
        "the stopped peer named",
        "peer 2 has stopped",
    );
    // Peer 1 still answers.
    election.send_line("1 stats").expect("typing 1 stats");
    expect(&mut election, "peer 1's stats", "[peer 1] height");

    election.send_control('d').expect("typing Ctrl-D");
    expect(
        &mut election,
        "the election stopping",
        "stopping: peers leave the tracker",
    );
    assert_eq!(exit_code(&election), Some(0));
}

#[test]
fn ctrl_c_at_the_elections_prompt_stops_it_cleanly() {
    let data = TempDir::new("pty-election-ctrl-c");
    let mut election = election_at_a_terminal(&data);
    expect(&mut election, "the prompt", "election> ");
    election.send_control('c').expect("typing Ctrl-C");
    expect(
        &mut election,
        "the election stopping",
        "stopping: peers leave the tracker",
    );
    assert_eq!(exit_code(&election), Some(0));
}
