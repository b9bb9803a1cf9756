//! Side blocks in a small election at the default node settings (issue 11): a tracker and a few
//! honest peers on a LAN, a stream of votes each submitted at one peer (round robin), then a
//! settle. What is counted: every block the simulated miners found, how many of them ended on
//! the best chain, how many carry no vote, and how many of those empty blocks are on the best
//! chain. `bench side-blocks` prints these over several seeds; the sim's scenarios assert on
//! them.

use crate::election::{sim_ballot, vote_of};
use crate::net::exponential;
use crate::{LinkConfig, Sim, SimConfig};
use votechain_peer::config::NodeConfig;
use votechain_peer::node::SubmitReply;

/// One run's setting.
#[derive(Debug, Clone)]
pub struct Setup {
    /// Honest peers.
    pub peers: usize,
    /// Votes submitted, each at one peer in turn.
    pub votes: u64,
    /// Mean virtual time between two votes (exponentially distributed).
    pub mean_vote_gap_ms: u64,
    /// Mean virtual time for a peer to find a block once it has a template.
    pub mean_block_ms: u64,
    /// Every link's behaviour.
    pub link: LinkConfig,
}

impl Default for Setup {
    /// Three peers on a LAN, 100 votes about a second apart, blocks in about 500 ms.
    fn default() -> Setup {
        Setup {
            peers: 3,
            votes: 100,
            mean_vote_gap_ms: 1_000,
            mean_block_ms: 500,
            link: LinkConfig::lan(),
        }
    }
}

/// What one run counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Votes the peers acknowledged.
    pub votes: u64,
    /// Blocks every miner found, on the best chain or not.
    pub mined: u64,
    /// Blocks on the best chain (its height).
    pub on_chain: u64,
    /// Mined blocks that ended off the best chain: `mined - on_chain`.
    pub side: u64,
    /// Mined blocks that carry no vote.
    pub empty_mined: u64,
    /// Blocks on the best chain that carry no vote.
    pub empty_on_chain: u64,
}

impl Counts {
    /// Side blocks per mined block.
    pub fn side_rate(&self) -> f64 {
        ratio(self.side, self.mined)
    }

    /// Empty blocks mined per vote.
    pub fn empty_per_vote(&self) -> f64 {
        ratio(self.empty_mined, self.votes)
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Runs `setup` with `seed`, every peer's settings tweaked by `tweak`; fails when the network
/// does not settle with every property of [`crate::check`].
pub fn run(seed: u64, setup: &Setup, tweak: impl Fn(&mut NodeConfig)) -> Result<Counts, String> {
    let mut cfg = SimConfig::new(seed);
    cfg.link = setup.link;
    cfg.mean_mine_ms = setup.mean_block_ms;
    let mut sim = Sim::new(cfg, sim_ballot(4));
    sim.add_tracker();
    for _ in 0..setup.peers {
        sim.add_peer(&tweak);
    }
    sim.run_for(3_000);
    let mut acked = 0;
    for i in 0..setup.votes {
        let vote = vote_of(sim.ballot(), sim.election(), i);
        let peer = (i as usize) % setup.peers;
        if matches!(sim.submit_vote(peer, vote), SubmitReply::Pending(_)) {
            acked += 1;
        }
        let gap = exponential(sim.rng(), setup.mean_vote_gap_ms).max(1);
        sim.run_for(gap);
    }
    let summary = sim.settle(120_000)?;
    // Let any late tie-break finish before counting.
    sim.run_for(5_000);
    let summary = sim
        .check_properties()
        .map_err(|e| format!("settled at height {} but then: {e}", summary.height))?;
    let chain = sim
        .node(sim.running()[0])
        .and_then(|n| n.chain())
        .ok_or("the first peer does not know the election")?;
    let empty_on_chain = chain
        .best_chain()
        .skip(1)
        .filter(|b| b.votes().is_empty())
        .count() as u64;
    let stats = sim.stats();
    Ok(Counts {
        votes: acked,
        mined: stats.found,
        on_chain: summary.height,
        side: stats.found.saturating_sub(summary.height),
        empty_mined: stats.found_empty,
        empty_on_chain,
    })
}
