//! Issue 11, voters are people: a voter's name is a label that ignores case (`alice` and
//! `Alice` are one voter, who votes once), and a rejected vote leaves no key file behind.

use votechain_tests::{Peer, PeerConfig, Tracker, TrackerConfig};

#[test]
fn names_ignore_case_and_a_rejected_vote_creates_no_key() {
    let tracker = Tracker::start(TrackerConfig::default());
    let mut peer = Peer::start("voters", PeerConfig::with_tracker(tracker.port()));
    peer.wait_ready();

    let answer = peer.console("vote bob Nobody").join("\n");
    assert!(
        answer.contains("rejected"),
        "a choice not on the ballot: {answer}"
    );
    let bob = peer.data_dir().join("keys").join("bob.key");
    assert!(!bob.exists(), "the rejected vote left {}", bob.display());

    peer.vote("alice", "Adam");
    assert!(peer.data_dir().join("keys").join("alice.key").exists());
    let again = peer.console("vote Alice Bob").join("\n");
    assert!(
        again.contains("rejected"),
        "Alice is alice, who voted: {again}"
    );
    let keys = peer.console("keys");
    assert_eq!(keys.len(), 1, "one voter key: {keys:?}");
    assert!(keys[0].starts_with("alice "), "{keys:?}");
}
