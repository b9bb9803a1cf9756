//! Issue 5, test (d): peers that mine at the same time fork, and converge on one chain that
//! holds every vote — a vote mined on the losing branch goes back to the pool and is mined
//! again (a seed dropped it).
//!
//! Two tests: one builds a fork for certain, with two peers mining apart (each registered with
//! its own tracker of the same election) until a third peer bridges them; the other lets two
//! connected peers race for the same blocks while votes arrive at both.

use std::collections::BTreeMap;
use votechain_chain::Hash;
use votechain_tests::{
    agreement, wait_converged, wait_until, Peer, PeerConfig, Tracker, TrackerConfig, DEADLINE,
};

/// Submits one vote and waits until `peer` has mined it (its chain grew).
fn vote_and_mine(peer: &mut Peer, voter: &str, choice: &str) -> Hash {
    let before = peer.wait_ready().blocks;
    let id = peer.vote(voter, choice);
    wait_until(
        &format!("{} to mine {voter}'s vote", peer.name()),
        DEADLINE,
        || {
            let now = peer.stats().map_or(0, |s| s.blocks);
            (now > before).then_some(()).ok_or(format!("{now} blocks"))
        },
    );
    id
}

/// The block hashes `chain <n>` lists, newest first (not its pointer to older blocks).
fn chain_hashes(peer: &mut Peer, n: usize) -> Vec<Hash> {
    peer.console(&format!("chain {n}"))
        .iter()
        .filter(|line| !line.starts_with('…'))
        .map(|line| {
            let hash = line.split_whitespace().nth(1).unwrap_or_default();
            Hash::from_hex(hash).unwrap_or_else(|e| panic!("chain line {line:?}: {e}"))
        })
        .collect()
}

/// Waits until every peer reports every vote in a block and the same tally, with the same
/// chain; returns the tally.
fn wait_all_counted(peers: &mut [&mut Peer], ids: &[Hash]) -> BTreeMap<String, u64> {
    wait_until(
        "every vote to be in a block at every peer",
        DEADLINE,
        || {
            let refs: Vec<&Peer> = peers.iter().map(|p| &**p).collect();
            agreement(&refs)?;
            let mut tallies = Vec::new();
            for peer in peers.iter_mut() {
                for id in ids {
                    let receipt = peer.receipt(id);
                    if !receipt.starts_with("in block ") {
                        return Err(format!("{}: vote {id} is {receipt:?}", peer.name()));
                    }
                }
                tallies.push(peer.tally());
            }
            if tallies.windows(2).all(|w| w[0] == w[1]) {
                Ok(tallies.remove(0))
            } else {
                Err(format!("tallies differ: {tallies:?}"))
            }
        },
    )
}

#[test]
fn separated_miners_fork_and_converge_without_losing_a_vote() {
    // Two trackers of the same election (same ballot, so the same genesis): their peers do not
    // know each other, so each mines its own branch.
    let tracker_a = Tracker::start(TrackerConfig::default());
    let tracker_b = Tracker::start(TrackerConfig::default());
    assert_eq!(tracker_a.election, tracker_b.election);
    let mut short = Peer::start("d-short", PeerConfig::with_tracker(tracker_a.port()));
    let mut long = Peer::start("d-long", PeerConfig::with_tracker(tracker_b.port()));

    // Two blocks on one branch, three on the other: the longer branch wins for certain.
    let mut ids = vec![
        vote_and_mine(&mut short, "s1", "Adam"),
        vote_and_mine(&mut short, "s2", "Bob"),
    ];
    let short_tip = short.wait_ready();
    for (voter, choice) in [("l1", "Catherine"), ("l2", "Catherine"), ("l3", "Adam")] {
        ids.push(vote_and_mine(&mut long, voter, choice));
    }
    let long_tip = long.wait_ready();
    assert_eq!((short_tip.blocks, long_tip.blocks), (3, 4));

    // A bridge: registered with the first tracker, seeded with the second branch's peer.
    let mut bridge_config = PeerConfig::with_tracker(tracker_a.port());
    bridge_config.seeds.push(long.addr);
    let mut bridge = Peer::start("d-bridge", bridge_config);

    let tally = wait_all_counted(&mut [&mut short, &mut long, &mut bridge], &ids);
    let expected: BTreeMap<String, u64> = [
        ("Adam".into(), 2),
        ("Bob".into(), 1),
        ("Catherine".into(), 2),
    ]
    .into();
    assert_eq!(tally, expected);
    let chain = wait_converged(&[&short, &long, &bridge], 5, DEADLINE);
    // The short branch left the best chain: its votes were mined again on the long one.
    let hashes = chain_hashes(&mut short, chain.blocks as usize);
    assert_eq!(hashes.len() as u64, chain.blocks);
    assert!(
        !hashes.contains(&short_tip.tip),
        "the short branch's tip {} is still in the best chain",
        short_tip.tip
    );
    assert!(hashes.contains(&long_tip.tip));
}

#[test]
fn equal_length_branches_resolve_with_every_vote() {
    // As above, but both branches have the same length: first seen wins the tie at each peer,
    // so the branches' votes are only all counted once someone mines the losing side's votes
    // again on top of the winner (a seed network stayed split forever).
    let tracker_a = Tracker::start(TrackerConfig::default());
    let tracker_b = Tracker::start(TrackerConfig::default());
    let mut left = Peer::start("d-tie-left", PeerConfig::with_tracker(tracker_a.port()));
    let mut right = Peer::start("d-tie-right", PeerConfig::with_tracker(tracker_b.port()));
    let ids = vec![
        vote_and_mine(&mut left, "tl1", "Adam"),
        vote_and_mine(&mut right, "tr1", "Bob"),
        vote_and_mine(&mut left, "tl2", "Adam"),
        vote_and_mine(&mut right, "tr2", "Catherine"),
    ];
    assert_eq!(
        (left.wait_ready().blocks, right.wait_ready().blocks),
        (3, 3)
    );

    let mut bridge_config = PeerConfig::with_tracker(tracker_a.port());
    bridge_config.seeds.push(right.addr);
    let mut bridge = Peer::start("d-tie-bridge", bridge_config);

    let tally = wait_all_counted(&mut [&mut left, &mut right, &mut bridge], &ids);
    let expected: BTreeMap<String, u64> = [
        ("Adam".into(), 2),
        ("Bob".into(), 1),
        ("Catherine".into(), 1),
    ]
    .into();
    assert_eq!(tally, expected);
}

#[test]
fn racing_miners_converge_with_every_vote() {
    // Higher difficulty than elsewhere, so both peers are often mining the same height at once.
    let tracker = Tracker::start(TrackerConfig {
        difficulty: 14,
        ..TrackerConfig::default()
    });
    let mut left = Peer::start("d-left", PeerConfig::with_tracker(tracker.port()));
    let mut right = Peer::start("d-right", PeerConfig::with_tracker(tracker.port()));
    left.wait_ready();
    right.wait_ready();
    wait_until("the two peers to know each other", DEADLINE, || {
        let (l, r) = (left.peers().len(), right.peers().len());
        (l >= 1 && r >= 1)
            .then_some(())
            .ok_or(format!("{l} and {r} peers"))
    });

    let choices = ["Adam", "Bob", "Catherine"];
    let mut ids = Vec::new();
    for i in 0..8 {
        ids.push(left.vote(&format!("left{i}"), choices[i % 3]));
        ids.push(right.vote(&format!("right{i}"), choices[(i + 1) % 3]));
    }
    let tally = wait_all_counted(&mut [&mut left, &mut right], &ids);
    assert_eq!(tally.values().sum::<u64>(), 16, "{tally:?}");
    for peer in [&mut left, &mut right] {
        let stats = peer.console_stats_text().replace('\n', " | ");
        eprintln!("{}: {stats}", peer.name());
    }
}
