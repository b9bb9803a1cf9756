//! `bench`: whole-system benchmarks, one subcommand per figure. Each prints a readable table and
//! ends with exactly one line `RESULT <name> key=value …`. Speeds are reported as ratios against
//! a baseline measured in the same run, so the figures mean the same on any machine. Exit codes
//! follow the policy shared by every binary (`votechain_runtime::exit`).

use clap::{Parser, Subcommand};
use std::process::ExitCode;
use votechain_runtime::{exit_code, Failure, AFTER_HELP};

mod comp3010;
mod mining;
mod pool;
mod propagation;
mod relay;
mod scale;
mod sideblocks;
mod swarm;
mod sync;
mod tracker;
mod validate;
mod votes;
mod w4119;
mod web;

/// votechain benchmarks.
#[derive(Parser)]
#[command(name = "bench", version, about, after_help = AFTER_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Raw SHA-256 compression rate vs. the miner's hash rate on 1 and 2 threads.
    Mining(mining::Args),
    /// Blocks per second validated from a store, with signature checks.
    Validate(validate::Args),
    /// Datagrams/s the tracker handles on one core; 10,000 peers heartbeated at 1 Hz.
    Tracker(tracker::Args),
    /// A fresh peer syncing 10,000 blocks: pipelined vs. stop-and-wait, relay and loopback.
    Sync(sync::Args),
    /// Block propagation to 32 in-process peers on loopback.
    Propagation(propagation::Args),
    /// Signed votes accepted and committed on every peer of a 3-peer network.
    Votes(votes::Args),
    /// 1,000 simulated peers (real cores, virtual time): a vote burst until every peer has it.
    Scale(scale::Args),
    /// Side blocks and empty blocks of a 3-peer election with 100 votes (simulated, counts).
    SideBlocks(sideblocks::Args),
    /// The peer's HTTP side: block-to-SSE-event latency, page weight, and `/api/status`
    /// requests/s on one core against the UDP loop's vote throughput.
    Web(web::Args),
    /// The COMP 3010 course profile: the course miner's hash rate against the native miner's,
    /// and our course peer syncing 10,000 blocks from course-style hosts against stop-and-wait.
    Comp3010(comp3010::Args),
    /// The W4119 profile: how fast W4119 peers join our tracker (confirmed by an answered
    /// POKE) against W4119's own tracker.
    W4119(w4119::Args),
    /// The mining port: a `miner` process's hash rate through it against the in-process
    /// miner, new tip to every connected miner notified, shares validated per second.
    Pool(pool::Args),
}

fn main() -> ExitCode {
    let outcome = Cli::try_parse()
        .map_err(Failure::Cli)
        .and_then(|cli| run(cli.command).map_err(Failure::Runtime));
    exit_code("bench", outcome)
}

fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Mining(args) => mining::run(args),
        Command::Validate(args) => validate::run(args),
        Command::Tracker(args) => tracker::run(args),
        Command::Sync(args) => sync::run(args),
        Command::Propagation(args) => propagation::run(args),
        Command::Votes(args) => votes::run(args),
        Command::Scale(args) => scale::run(args),
        Command::SideBlocks(args) => sideblocks::run(args),
        Command::Web(args) => web::run(args),
        Command::Comp3010(args) => comp3010::run(args),
        Command::W4119(args) => w4119::run(args),
        Command::Pool(args) => pool::run(args),
    }
}
