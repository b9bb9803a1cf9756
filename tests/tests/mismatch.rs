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
