//! Peers that mine only for pending votes (the default) make a few blocks per vote, not a
//! storm of empty ones: every peer receives each vote and races to mine it, and the ties that
//! race makes are broken by one more block, not by hundreds.

use votechain_tests::{
    wait_converged, wait_until, Peer, PeerConfig, Tracker, TrackerConfig, DEADLINE,
};

/// Votes cast, one at a time.
const VOTES: u64 = 5;

#[test]
fn a_vote_makes_a_few_blocks_not_a_storm() {
    let tracker = Tracker::start(TrackerConfig::default());
    let mut peers: Vec<Peer> = (0..3)
        .map(|i| Peer::start(&format!("s{i}"), PeerConfig::with_tracker(tracker.port())))
        .collect();
    let addrs: Vec<String> = peers.iter().map(|p| p.addr.to_string()).collect();
    wait_until("the peers to know each other", DEADLINE, || {
        for peer in peers.iter_mut() {
            let known = peer.peers();
            let n = addrs
                .iter()
                .filter(|a| known.iter().any(|l| l.starts_with(*a)))
                .count();
            if n < 2 {
                return Err(format!("{} knows {known:?}", peer.name()));
            }
        }
        Ok(())
    });
    for i in 0..VOTES {
        let at = (i % 3) as usize;
        peers[at].vote(&format!("voter{i}"), "Adam");
        wait_until("the vote to be counted everywhere", DEADLINE, || {
            let refs: Vec<&Peer> = peers.iter().collect();
            votechain_tests::agreement(&refs)?;
            for peer in peers.iter_mut() {
                let n = peer.tally().get("Adam").copied().unwrap_or(0);
                if n != i + 1 {
                    return Err(format!("{} counts {n}", peer.name()));
                }
            }
            Ok(())
        });
    }
    let refs: Vec<&Peer> = peers.iter().collect();
    let chain = wait_converged(&refs, VOTES + 1, DEADLINE);
    eprintln!("{VOTES} votes made a chain of {} blocks", chain.blocks);
    assert!(
        chain.blocks <= 1 + 3 * VOTES,
        "{VOTES} votes made a chain of {} blocks",
        chain.blocks
    );
}
