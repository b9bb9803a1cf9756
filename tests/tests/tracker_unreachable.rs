//! Issue 11, tracker reachability: a peer whose tracker does not answer says so within seconds,
//! in a sentence naming the address, instead of waiting silently.

use std::net::UdpSocket;
use votechain_tests::{Peer, PeerConfig, DEADLINE};

#[test]
fn a_peer_warns_when_its_tracker_does_not_answer() {
    // A port on loopback that nobody answers on: bound by this test, never read.
    let silent = UdpSocket::bind("127.0.0.1:0").expect("a loopback port");
    let port = silent.local_addr().expect("its address").port();
    let mut peer = Peer::start("lonely", PeerConfig::with_tracker(port));
    peer.process()
        .wait_log("the unreachable-tracker warning", DEADLINE, |l| {
            l.contains(&format!("no answer from the tracker at 127.0.0.1:{port}"))
        });
    assert!(peer.process().is_running());
}
