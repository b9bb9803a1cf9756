//! Issue 5, test (a): a tracker and five peers; votes typed into three different peers'
//! consoles reach every peer, which all end on the same chain and the same tally, with each
//! vote counted exactly once.

use std::collections::BTreeMap;
use votechain_tests::{
    agreement, wait_converged, wait_until, Peer, PeerConfig, Tracker, TrackerConfig, DEADLINE,
};

#[test]
fn votes_typed_into_three_consoles_reach_all_five_peers_once() {
    let tracker = Tracker::start(TrackerConfig::default());
    let mut peers: Vec<Peer> = (0..5)
        .map(|i| Peer::start(&format!("a{i}"), PeerConfig::with_tracker(tracker.port())))
        .collect();
    for peer in &peers {
        peer.wait_ready();
    }

    // Six distinct voters at three peers; the expected tally follows from the choices.
    let ballots = [
        (0, "alice", "Adam"),
        (0, "bob", "Bob"),
        (2, "carol", "Catherine"),
        (2, "dave", "Adam"),
        (4, "erin", "Bob"),
        (4, "frank", "Adam"),
    ];
    let mut expected: BTreeMap<String, u64> = tracker
        .ballot()
        .options
        .iter()
        .map(|o| (o.clone(), 0))
        .collect();
    let mut ids = Vec::new();
    for (at, voter, choice) in ballots {
        ids.push(peers[at].vote(voter, choice));
        *expected.get_mut(choice).expect("choice on the ballot") += 1;
    }

    wait_until("every peer to count the six votes", DEADLINE, || {
        let refs: Vec<&Peer> = peers.iter().collect();
        agreement(&refs)?;
        for peer in peers.iter_mut() {
            let tally = peer.tally();
            if tally != expected {
                return Err(format!("{} counts {tally:?}", peer.name()));
            }
        }
        Ok(())
    });
    let refs: Vec<&Peer> = peers.iter().collect();
    let summary = wait_converged(&refs, 2, DEADLINE);
    eprintln!("six votes, {} blocks", summary.blocks);
    assert_eq!(expected.values().sum::<u64>(), 6);

    // Every vote is in a block of the common chain, as every peer's receipt says.
    for peer in peers.iter_mut() {
        assert_eq!(peer.tally(), expected, "{}", peer.name());
        for id in &ids {
            let receipt = peer.receipt(id);
            assert!(
                receipt.starts_with("in block "),
                "{}: receipt {id}: {receipt:?}",
                peer.name()
            );
        }
        let (height, tip) = peer.console_stats();
        assert_eq!(
            (height + 1, tip),
            (summary.blocks, summary.tip),
            "{}",
            peer.name()
        );
    }
}
