//! `miner --connect HOST:PORT`: votechain's external miner. Parses flags, sets up logging and
//! the signal handlers, runs [`votechain_miner::Miner`] until Ctrl-C or SIGTERM and prints its
//! final line. Exit codes follow the policy shared by every binary (`votechain_runtime::exit`):
//! 0 after a clean shutdown, 1 when the pool refuses the token, 2 on bad usage.

use anyhow::Context as _;
use clap::Parser;
use std::num::NonZeroUsize;
use std::process::ExitCode;
use std::time::Duration;
use votechain_miner::{Miner, MinerConfig};
use votechain_runtime::{
    exit_code, init_logging, print_answer, shutdown_on_signals, tokio_runtime, Flavor, LogArgs,
    AFTER_HELP,
};

/// External miner for a votechain peer's mining port (`peer --mining-listen ADDR`): hashes the
/// jobs the peer hands out on N threads and submits the shares it finds.
///
/// Once authorized it prints `connected to ADDR as NAME (session S, prefix P)` on stdout, then a
/// hash-rate line every report period, and after Ctrl-C or SIGTERM a final line `stopped after
/// N hashes in T s (RATE); shares: A accepted, S stale, R rejected`. A lost connection is
/// retried with backoff (0.5 s doubling to 30 s); a refused token ends the miner with status 1.
#[derive(Parser, Debug)]
#[command(name = "miner", version, after_help = AFTER_HELP)]
struct Cli {
    /// The peer's mining port.
    #[arg(long, value_name = "HOST:PORT")]
    connect: String,

    /// Hashing threads [default: the machine's cores].
    #[arg(long, value_name = "N")]
    threads: Option<NonZeroUsize>,

    /// The worker name the peer shows [default: miner-PID, with this process id].
    #[arg(long)]
    name: Option<String>,

    /// The peer's mining token (`--mining-token`), when it has one; better given in the
    /// environment, where other users of the machine cannot read it from the process list.
    #[arg(long, env = "VOTECHAIN_MINING_TOKEN", hide_env_values = true)]
    token: Option<String>,

    /// Seconds between two hash-rate lines (fractions allowed).
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_period)]
    report_every: Duration,

    #[command(flatten)]
    log: LogArgs,
}

/// A report period: a positive number of seconds.
fn parse_period(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if !(0.001..=86_400.0).contains(&secs) {
        return Err("the period must be between 0.001 and 86400 seconds".into());
    }
    Ok(Duration::from_secs_f64(secs))
}

/// A failure with the exit status it deserves.
type Failure = votechain_runtime::Failure<anyhow::Error>;

fn main() -> ExitCode {
    let outcome = Cli::try_parse().map_err(Failure::Cli).and_then(|cli| {
        // No data directory: the log goes to the terminal (stderr), at info unless -v, -q or
        // RUST_LOG say otherwise; stdout carries the miner's report lines.
        init_logging(&cli.log, "info", None);
        run(cli)
    });
    exit_code("miner", outcome)
}

fn run(cli: Cli) -> Result<(), Failure> {
    let mut config = MinerConfig::new(
        cli.connect,
        cli.name
            .unwrap_or_else(|| format!("miner-{}", std::process::id())),
    );
    if let Some(threads) = cli.threads {
        config.threads = threads;
    }
    config.token = cli.token;
    config.report_every = Some(cli.report_every);
    // The hashing runs on the miner's own threads; one thread serves the connection.
    let runtime = tokio_runtime(Flavor::CurrentThread)
        .context("starting the runtime")
        .map_err(Failure::Runtime)?;
    runtime.block_on(async {
        let shutdown = shutdown_on_signals()
            .context("installing the signal handlers")
            .map_err(Failure::Runtime)?;
        let summary = Miner::new(config)
            .run(shutdown.cancelled_owned())
            .await
            .map_err(|e| Failure::Runtime(e.into()))?;
        print_answer(&summary.to_string());
        Ok(())
    })
}
