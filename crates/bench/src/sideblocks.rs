//! `bench side-blocks`: how many competing (side) blocks and empty blocks a small election mines
//! at the default settings (issue 11). A tracker and 3 peers in the deterministic simulator
//! (`votechain-sim`: the real cores on virtual time, LAN links), 100 votes about a second apart,
//! each submitted at one peer in turn; for each mean block time, the median over several seeds
//! of the blocks mined, the side blocks (mined but not on the best chain), and the empty blocks.
//! Each row is measured twice in the same run: with the mining stagger off (`relay_grace_ms`
//! 0: every peer mines every vote at once, the behaviour before issue 11) and at the defaults.
//! Counts, not timings: the figures do not depend on the machine or its load.

use anyhow::ensure;
use votechain_peer::config::DEFAULT_RELAY_GRACE_MS;
use votechain_sim::sideblocks::{self, Counts, Setup};

/// Options of `bench side-blocks`.
#[derive(clap::Args)]
pub struct Args {
    /// Seeds per row (the table shows medians).
    #[arg(long, default_value_t = 9)]
    seeds: u64,
    /// Peers in the election.
    #[arg(long, default_value_t = 3)]
    peers: usize,
    /// Votes submitted, each at one peer in turn.
    #[arg(long, default_value_t = 100)]
    votes: u64,
    /// Mean virtual time between two votes, in milliseconds.
    #[arg(long, default_value_t = 1_000)]
    vote_gap_ms: u64,
    /// Mean block times to measure, in milliseconds (a default-difficulty block takes a few
    /// milliseconds on one core; the simulator's scenarios use 500).
    #[arg(long, value_delimiter = ',', default_values_t = [5, 50, 500])]
    block_ms: Vec<u64>,
}

/// Runs the benchmark.
pub fn run(args: Args) -> anyhow::Result<()> {
    ensure!(args.seeds > 0 && args.peers >= 2 && args.votes > 0);
    println!(
        "bench side-blocks — {} peers, {} votes about {} ms apart, LAN links, medians over {} seeds",
        args.peers, args.votes, args.vote_gap_ms, args.seeds
    );
    println!();
    println!("| mean block time | relayed votes mined | mined | on the chain | side blocks | side / mined | empty mined | empty per vote | empty on the chain |");
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut result = String::new();
    for &block_ms in &args.block_ms {
        let setup = Setup {
            peers: args.peers,
            votes: args.votes,
            mean_vote_gap_ms: args.vote_gap_ms,
            mean_block_ms: block_ms.max(1),
            ..Setup::default()
        };
        let rows = [
            ("before", "at once (stagger off)", 0),
            ("after", "after the grace (default)", DEFAULT_RELAY_GRACE_MS),
        ];
        for (key, label, grace) in rows {
            let mut runs = Vec::new();
            for seed in 1..=args.seeds {
                let counts = sideblocks::run(seed, &setup, |c| c.relay_grace_ms = grace)
                    .map_err(|e| anyhow::anyhow!("seed {seed} did not settle: {e}"))?;
                runs.push(counts);
            }
            let median = |f: &dyn Fn(&Counts) -> f64| {
                let mut v: Vec<f64> = runs.iter().map(f).collect();
                v.sort_by(f64::total_cmp);
                v[v.len() / 2]
            };
            let side_rate = median(&|c| c.side_rate());
            let empty_per_vote = median(&|c| c.empty_per_vote());
            println!(
                "| {block_ms} ms | {label} | {} | {} | {} | {side_rate:.2} | {} | {empty_per_vote:.2} | {} |",
                median(&|c| c.mined as f64),
                median(&|c| c.on_chain as f64),
                median(&|c| c.side as f64),
                median(&|c| c.empty_mined as f64),
                median(&|c| c.empty_on_chain as f64),
            );
            result.push_str(&format!(
                " side_rate_{block_ms}ms_{key}={side_rate:.2} empty_per_vote_{block_ms}ms_{key}={empty_per_vote:.2}"
            ));
        }
    }
    println!();
    println!(
        "RESULT side-blocks peers={} votes={}{result}",
        args.peers, args.votes
    );
    Ok(())
}
