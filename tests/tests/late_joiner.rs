//! Issue 5, test (c): a peer that joins late syncs a chain of more than 500 blocks and ends on
//! the same tip as the peers that were there.

use std::time::Duration;
use votechain_tests::{
    wait_converged, wait_until, Mining, Peer, PeerConfig, Tracker, TrackerConfig,
};

/// Blocks the chain has (genesis included) before the late joiner starts.
const CHAIN_BLOCKS: u64 = 500;

#[test]
fn late_joiner_syncs_a_long_chain() {
    // Difficulty 8: a block takes a few hundred hashes, so the chain grows as fast as the
    // miner can store blocks.
    let tracker = Tracker::start(TrackerConfig {
        difficulty: 8,
        ..TrackerConfig::default()
    });
    let mut miner = Peer::start(
        "c-miner",
        PeerConfig::with_tracker(tracker.port()).mining(Mining::Always),
    );
    let follower = Peer::start(
        "c-follower",
        PeerConfig::with_tracker(tracker.port()).mining(Mining::Off),
    );
    wait_until(
        "the miner to build a long chain",
        Duration::from_secs(90),
        || {
            let blocks = miner.stats().map_or(0, |s| s.blocks);
            (blocks >= CHAIN_BLOCKS)
                .then_some(())
                .ok_or(format!("{blocks} blocks"))
        },
    );
    assert_eq!(miner.console("mine off"), ["mining off"]);
    // The chain stops growing once the block being mined, if any, is in.
    let chain = wait_converged(&[&miner, &follower], CHAIN_BLOCKS, Duration::from_secs(60));

    let started = std::time::Instant::now();
    let joiner = Peer::start(
        "c-joiner",
        PeerConfig::with_tracker(tracker.port()).mining(Mining::Off),
    );
    let synced = wait_converged(
        &[&miner, &follower, &joiner],
        chain.blocks,
        Duration::from_secs(60),
    );
    assert_eq!(
        synced, chain,
        "the chain did not change while the joiner synced"
    );
    eprintln!(
        "late joiner synced {} blocks in {:?}",
        synced.blocks,
        started.elapsed()
    );
}
