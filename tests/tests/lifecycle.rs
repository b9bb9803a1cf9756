//! Issue 11, lifecycle: the real binaries stop cleanly and promptly on Ctrl-C (SIGINT), SIGTERM
//! and `quit` while their stdin is an open pipe — a console blocked in a read must not hold up
//! the shutdown — and the end of a piped stdin ends only the console, not the peer.
//!
//! "Promptly" is checked as liveness, not timing: each process must have exited, with status 0
//! and having left the network, within a generous deadline.

use std::time::Duration;
use votechain_tests::binaries::bin;
use votechain_tests::process::Process;
use votechain_tests::{wait_until, Peer, PeerConfig, Tracker, TrackerConfig, DEADLINE};

/// Generous: a clean stop takes milliseconds; the deadline only bounds a hang.
const STOP_DEADLINE: Duration = Duration::from_secs(20);

/// A tracker and one peer that knows the election, its stdin an open pipe.
fn running_peer(name: &str) -> (Tracker, Peer) {
    let tracker = Tracker::start(TrackerConfig::default());
    let peer = Peer::start(name, PeerConfig::with_tracker(tracker.port()));
    peer.wait_ready();
    (tracker, peer)
}

/// Waits for `peer` to exit and checks it exited 0 after leaving the network.
fn assert_clean_stop(peer: &mut Peer) {
    let status = peer.process().wait_exit(STOP_DEADLINE);
    assert!(status.success(), "{}: exited with {status}", peer.name());
    let left = peer
        .process()
        .log()
        .lines()
        .iter()
        .any(|l| l.contains("leaving the network"));
    assert!(left, "{}: stopped without leaving the network", peer.name());
}

#[test]
fn sigterm_stops_a_peer_whose_stdin_is_an_open_pipe() {
    let (_tracker, mut peer) = running_peer("term");
    peer.process().terminate();
    assert_clean_stop(&mut peer);
}

#[test]
fn ctrl_c_stops_a_peer_whose_stdin_is_an_open_pipe() {
    let (_tracker, mut peer) = running_peer("int");
    peer.process().interrupt();
    assert_clean_stop(&mut peer);
}

#[test]
fn quit_stops_a_peer_whose_stdin_stays_open() {
    let (_tracker, mut peer) = running_peer("quit");
    peer.process().type_line("quit");
    assert_clean_stop(&mut peer);
}

#[test]
fn the_end_of_a_piped_stdin_ends_the_console_not_the_peer() {
    let (_tracker, mut peer) = running_peer("eof");
    peer.process().close_stdin();
    peer.process()
        .wait_log("the end of the console", DEADLINE, |l| {
            l.contains("console's input ended")
        });
    // Still serving the network after its console ended...
    wait_until(
        "the peer to answer STATS after its stdin ended",
        DEADLINE,
        || peer.stats().ok_or_else(|| "no answer".to_owned()),
    );
    assert!(
        peer.process().is_running(),
        "the peer stopped at the end of its stdin"
    );
    // ...and still stopped cleanly by a signal.
    peer.process().terminate();
    assert_clean_stop(&mut peer);
}

#[test]
fn ctrl_c_stops_the_election_whose_stdin_is_an_open_pipe() {
    let args = ["--peers".to_owned(), "2".to_owned()];
    let mut election = Process::spawn("election", None, &bin("election"), &args, &[]);
    election.wait_stdout("the console's introduction", DEADLINE, |l| {
        l.contains("Ctrl-C stops everything")
    });
    election.interrupt();
    let status = election.wait_exit(STOP_DEADLINE);
    assert!(status.success(), "election exited with {status}");
}
