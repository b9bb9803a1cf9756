//! Issue 5, test (b): a peer killed with SIGKILL and restarted on the same data directory has
//! its chain at once — its first `stats` shows at least the height it had before the kill — and
//! then catches up with the blocks mined while it was down.

use votechain_tests::{
    wait_converged, wait_until, Mining, Peer, PeerConfig, Tracker, TrackerConfig, DEADLINE,
};

#[test]
fn killed_peer_restarts_from_disk_and_catches_up() {
    let tracker = Tracker::start(TrackerConfig::default());
    let mut miner = Peer::start("b-miner", PeerConfig::with_tracker(tracker.port()));
    let other = Peer::start("b-other", PeerConfig::with_tracker(tracker.port()));
    // The victim never mines, so every block it holds came from the network.
    let mut victim = Peer::start(
        "b-victim",
        PeerConfig::with_tracker(tracker.port()).mining(Mining::Off),
    );
    miner.wait_ready();

    // A few blocks, one vote each, that the victim syncs and stores.
    for voter in ["v1", "v2", "v3"] {
        let before = miner.wait_ready().blocks;
        miner.vote(voter, "Adam");
        wait_until("the miner to mine the vote", DEADLINE, || {
            let now = miner.stats().map_or(0, |s| s.blocks);
            (now > before).then_some(()).ok_or(format!("{now} blocks"))
        });
    }
    let before_kill = wait_converged(&[&miner, &other, &victim], 4, DEADLINE);
    let (height_before, tip_before) = victim.console_stats();
    assert_eq!(
        (height_before + 1, tip_before),
        (before_kill.blocks, before_kill.tip)
    );

    victim.kill();

    // Blocks mined while the victim is down.
    for voter in ["w1", "w2"] {
        miner.vote(voter, "Bob");
    }
    let while_down = wait_until("the two votes to be mined and relayed", DEADLINE, || {
        let summary = votechain_tests::agreement(&[&miner, &other])?;
        if summary.blocks > before_kill.blocks && miner.tally().get("Bob") == Some(&2) {
            Ok(summary)
        } else {
            Err(format!("at {} blocks", summary.blocks))
        }
    });

    victim.restart();
    // The first thing asked after the restart: the chain is there, read from disk.
    let (height_after, _) = victim.console_stats();
    assert!(
        height_after >= height_before,
        "after restart the victim is at height {height_after}, before the kill {height_before}"
    );
    assert!(victim.process().is_running());

    // It catches up with what was mined meanwhile, and counts every vote.
    let caught_up = wait_converged(&[&miner, &other, &victim], while_down.blocks, DEADLINE);
    assert!(caught_up.blocks >= while_down.blocks);
    let tally = victim.tally();
    assert_eq!(tally.get("Adam"), Some(&3), "victim's tally {tally:?}");
    assert_eq!(tally.get("Bob"), Some(&2), "victim's tally {tally:?}");
}
