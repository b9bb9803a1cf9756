//! The mining stagger in whole networks (issue 11): a vote is mined by the peer it was
//! submitted to, so a vote relayed to every peer yields one block and no empty block follows it
//! even when blocks take a few milliseconds (the default difficulty), where every peer mining
//! every vote at once made them tie and break the tie with an empty block; a vote whose
//! submitter crashed is still mined, by the others once their grace is over; and a vote
//! submitted to a peer that does not mine is mined at once by the others, whom it hands the
//! vote to as SUBMIT_VOTE.

use super::{run, Voters, SETTLE_MS};
use votechain_sim::election::sim_ballot;
use votechain_sim::{LinkConfig, Sim, SimConfig};

/// Three peers and a tracker on a LAN, blocks found in `mean_block_ms` on average.
fn three_peers(seed: u64, mean_block_ms: u64) -> Sim {
    let mut cfg = SimConfig::new(seed);
    cfg.link = LinkConfig::lan();
    cfg.mean_mine_ms = mean_block_ms;
    let mut sim = Sim::new(cfg, sim_ballot(4));
    sim.add_tracker();
    for _ in 0..3 {
        sim.add_peer(|_| {});
    }
    sim.run_for(3_000);
    sim
}

/// Six votes, each at one peer in turn and 4 s after the last (longer than any grace): six
/// blocks in all, each with its vote, none empty and none beside the chain.
fn one_block_per_vote(seed: u64) -> Result<String, String> {
    let mut sim = three_peers(seed, 5);
    let mut voters = Voters::new();
    for i in 0..6 {
        if !voters.vote_at(&mut sim, i % 3) {
            return Err(format!("vote {i} was not acknowledged"));
        }
        sim.run_for(4_000);
    }
    let summary = sim.settle(SETTLE_MS)?;
    // Time for a tie-break, if anything were tied.
    sim.run_for(5_000);
    sim.check_properties()?;
    let stats = sim.stats();
    if stats.found != 6 || stats.found_empty != 0 || summary.height != 6 {
        return Err(format!(
            "{} blocks mined ({} empty), height {}: expected 6 blocks of one vote each\n{}",
            stats.found,
            stats.found_empty,
            summary.height,
            sim.describe()
        ));
    }
    Ok(format!("6 votes in 6 blocks, height {}", summary.height))
}

#[test]
fn stagger_one_block_per_relayed_vote_and_no_empty_block() {
    run(
        "stagger_one_block_per_relayed_vote_and_no_empty_block",
        one_block_per_vote,
    );
}

/// A vote submitted at a peer that crashes at once (before its block is found) is mined by the
/// two others after their grace, and only then (they did not race the submitter).
fn submitter_crashes(seed: u64) -> Result<String, String> {
    let mut sim = three_peers(seed, 5);
    let mut voters = Voters::new();
    if !voters.vote_at(&mut sim, 0) {
        return Err("the vote was not acknowledged".into());
    }
    sim.crash_peer(0);
    let id = *sim.acked().keys().next().ok_or("no vote acknowledged")?;
    let took = sim.vote_confirmed_within(id, 15_000)?;
    if took < 1_000 {
        return Err(format!(
            "mined {took} ms after it was relayed: before the shortest grace (1 s)"
        ));
    }
    sim.restart_peer(0);
    let summary = sim.settle(SETTLE_MS)?;
    Ok(format!(
        "confirmed by the others after {took} ms, height {}",
        summary.height
    ))
}

#[test]
fn stagger_a_crashed_submitters_vote_is_mined_by_the_others() {
    run(
        "stagger_a_crashed_submitters_vote_is_mined_by_the_others",
        submitter_crashes,
    );
}

/// A vote submitted at a peer that does not mine is mined by the others without waiting a
/// grace: the peer hands it to them as SUBMIT_VOTE, as a client would.
fn submitter_does_not_mine(seed: u64) -> Result<String, String> {
    let mut sim = three_peers(seed, 5);
    sim.set_mining(0, false);
    let mut voters = Voters::new();
    if !voters.vote_at(&mut sim, 0) {
        return Err("the vote was not acknowledged".into());
    }
    let id = *sim.acked().keys().next().ok_or("no vote acknowledged")?;
    let took = sim.vote_confirmed_within(id, 15_000)?;
    if took >= 1_000 {
        return Err(format!(
            "mined {took} ms after it was submitted: the miners waited their grace"
        ));
    }
    let summary = sim.settle(SETTLE_MS)?;
    Ok(format!(
        "confirmed after {took} ms, height {}",
        summary.height
    ))
}

#[test]
fn stagger_a_vote_at_a_peer_that_does_not_mine_is_mined_at_once() {
    run(
        "stagger_a_vote_at_a_peer_that_does_not_mine_is_mined_at_once",
        submitter_does_not_mine,
    );
}
