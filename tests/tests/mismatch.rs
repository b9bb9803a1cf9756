//! Issue 11, mismatched elections explained: a peer whose data directory holds another election
//! than the one its tracker serves says so in one line naming both, instead of staying silent.

use votechain_tests::{Peer, PeerConfig, Tracker, TrackerConfig, DEADLINE};

#[test]
fn a_data_dir_of_another_election_is_named_with_both_titles() {
    let lunch = TrackerConfig {
        title: "Lunch".into(),
        ..TrackerConfig::default()
    };
    let mut tracker = Tracker::start(lunch);
    let mut peer = Peer::start("mismatch", PeerConfig::with_tracker(tracker.port()));
    peer.wait_ready();

    // The tracker comes back on the same port with another ballot; the peer restarts on its
    // data directory, which holds the first election.
    let port = tracker.port();
    tracker.kill();
    let _dinner = Tracker::start(TrackerConfig {
        port,
        title: "Dinner".into(),
        ..TrackerConfig::default()
    });
    peer.restart();
    peer.process()
        .wait_log("the election-mismatch line", DEADLINE, |l| {
            l.contains("the tracker runs election \"Dinner\"")
                && l.contains("this data directory holds election \"Lunch\"")
                && l.contains("--data-dir")
        });
}

#[test]
fn a_tracker_of_another_election_refuses_the_peer_and_the_peer_says_why() {
    let mut lunch = Tracker::start(TrackerConfig {
        title: "Lunch".into(),
        ..TrackerConfig::default()
    });
    let mut peer = Peer::start("refused", PeerConfig::with_tracker(lunch.port()));
    peer.wait_ready();
    let port = lunch.port();
    lunch.kill();
    let mut dinner = Tracker::start(TrackerConfig {
        port,
        title: "Dinner".into(),
        ..TrackerConfig::default()
    });
    let mut guest = Peer::start("guest", PeerConfig::with_tracker(port));
    guest.wait_ready();
    peer.restart();
    let refused = peer.addr;
    dinner
        .process()
        .wait_log("the tracker's refusal", DEADLINE, |l| {
            l.contains(&format!("peer {refused}")) && l.contains("holds another election")
        });
    peer.process()
        .wait_log("the refusal, with the tracker's reason", DEADLINE, |l| {
            l.contains("the tracker runs election \"Dinner\"")
                && l.contains("this data directory holds election \"Lunch\"")
                && l.contains("the tracker refused us, saying: this tracker serves election")
        });
    // Refused, so never listed: the tracker's member never hears of it.
    assert!(
        !dinner
            .process()
            .log()
            .lines()
            .iter()
            .any(|l| l.contains(&format!("peer {refused}")) && l.contains("joined")),
        "the refused peer was registered"
    );
    assert!(
        !guest
            .peers()
            .iter()
            .any(|row| row.starts_with(&refused.to_string())),
        "the refused peer was listed to a member"
    );
}
