//! `bench`: whole-system benchmarks, one subcommand per figure. Each prints a readable table and
//! ends with exactly one line `RESULT <name> key=value …`. Speeds are reported as ratios against
//! a baseline measured in the same run, so the figures mean the same on any machine.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod mining;
mod tracker;
mod validate;

/// votechain benchmarks.
#[derive(Parser)]
#[command(version, about)]
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Mining(args) => mining::run(args),
        Command::Validate(args) => validate::run(args),
        Command::Tracker(args) => tracker::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
