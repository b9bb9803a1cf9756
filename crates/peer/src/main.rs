//! `peer <tracker_port> <local_port>`: a full votechain node. The command line is final; the
//! node itself is issue 5's work, and until it lands this binary says so and exits non-zero
//! rather than pretending to run.

use clap::Parser;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// A full votechain node: registers with the tracker, finds peers by gossip, syncs and validates
/// the chain, accepts signed votes, mines them into blocks and relays blocks and votes.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    /// UDP port of the election's tracker.
    tracker_port: u16,
    /// UDP port this peer listens on.
    local_port: u16,
    /// Host of the tracker.
    #[arg(long, default_value = "127.0.0.1")]
    tracker_host: String,
    /// Address to bind the peer's socket to.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Miner name written into the blocks this peer mines.
    #[arg(long)]
    name: Option<String>,
    /// Where the chain and voter keys are kept [default: ./votechain-data/<local_port>].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// A peer to gossip with at start-up (host:port); works without any tracker. Repeatable.
    #[arg(long = "seed")]
    seeds: Vec<String>,
    /// Mine continuously, even with no votes pending.
    #[arg(long, conflicts_with = "no_mine")]
    mine: bool,
    /// Never mine.
    #[arg(long)]
    no_mine: bool,
    /// Mining threads.
    #[arg(long, default_value_t = 1)]
    miner_threads: usize,
    /// More log output (-v debug, -vv trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    eprintln!(
        "peer: the full node is not implemented yet (issue 5); parsed {:?}",
        (cli.tracker_port, cli.local_port)
    );
    ExitCode::FAILURE
}
