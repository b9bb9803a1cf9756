//! `tracker <port>`: the rendezvous point of one election. Parses flags, builds the ballot,
//! sets up logging, binds, prints one readiness line and runs the registry until Ctrl-C or
//! SIGTERM. Exit codes follow the policy shared by every binary (`votechain_runtime::exit`): 0
//! after a clean shutdown, 1 on a runtime failure (cannot bind, cannot read a file), 2 on bad
//! usage (clap's own errors included).

use anyhow::Context as _;
use clap::Parser;
use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use tracing::info;
use votechain_chain::{Ballot, Block};
use votechain_runtime::{
    exit_code, init_logging, listen, tokio_runtime, Flavor, Listening, LogArgs, AFTER_HELP,
};
use votechain_tracker::ballot::{parse_options, parse_voter_roll};
use votechain_tracker::config::*;
use votechain_tracker::metrics;

/// Rendezvous point of one votechain election: peers register here (after proving their
/// address), receive the peer list and the ballot, and are heartbeated every interval; a peer
/// that misses too many heartbeats is evicted and every change is announced to all peers.
///
/// Once bound it prints one line on stderr, `tracker listening on ADDR election HASH` (HASH is
/// the election id, the genesis block's hash; `profile w4119` instead of `election HASH` under
/// --profile w4119), then logs joins, leaves and evictions. Ctrl-C or SIGTERM stops it cleanly.
#[derive(Parser, Debug)]
#[command(name = "tracker", version, after_help = AFTER_HELP)]
struct Cli {
    /// UDP port to listen on; 0 picks a free port (the readiness line shows which).
    port: u16,

    /// Address to bind. The default keeps a demo on this machine; use 0.0.0.0 (or ::) to accept
    /// peers from other machines.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,

    /// The ballot's options, comma-separated.
    #[arg(long, default_value = DEMO_OPTIONS)]
    ballot: String,

    /// The ballot's title.
    #[arg(long, default_value = DEMO_TITLE)]
    title: String,

    /// Voter roll: only these keys may vote. One voter per line, either a public key as 64 hex
    /// characters or a voter key file's JSON (only "public" is read); blank lines and lines
    /// starting with # are ignored (`votechain-keys roll` writes one). Without it anyone may
    /// vote.
    #[arg(long, value_name = "FILE")]
    voters: Option<PathBuf>,

    /// Proof of work per block, in leading zero bits (16 ≈ 65,536 hashes: milliseconds).
    #[arg(long, value_name = "BITS", default_value_t = DEFAULT_DIFFICULTY)]
    difficulty: u32,

    /// Milliseconds between two POKEs to a peer (and between two UPDATE_PEERS rounds).
    #[arg(long, value_name = "MS", default_value_t = DEFAULT_HEARTBEAT_MS)]
    heartbeat_ms: u64,

    /// Consecutive unanswered POKEs after which a peer is evicted.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_MISSED)]
    max_missed: u32,

    /// Most registered peers; further registrations are refused (and logged).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_PEERS)]
    max_peers: usize,

    /// Most addresses in one peer list (lists also stop at 1,200 bytes; beyond either, each
    /// list is a random sample).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_LIST)]
    max_list: usize,

    /// Datagrams per second accepted from one source address, sustained.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_RATE_PER_S)]
    rate: u32,

    /// Datagrams one source address may send in a burst.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_RATE_BURST)]
    burst: u32,

    /// The protocol its peers speak: `native` (votechain's own, PROTOCOL.md) or `w4119` (the W4119
    /// voting chain's peers, byte for byte: bare REGISTER_PEER, nonce-less POKE-ACK, a ballot of
    /// `voting_options` only; a peer joins once it answers a POKE). --voters, --title and
    /// --difficulty are native only.
    #[arg(long, value_enum, default_value_t = ProfileName::Native)]
    profile: ProfileName,

    /// Serve Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9100; port 0 picks a
    /// free one). Off by default. The URL is printed on stderr after the readiness line.
    #[arg(long, value_name = "ADDR")]
    http: Option<SocketAddr>,

    #[command(flatten)]
    log: LogArgs,
}

/// The protocol profiles of `--profile`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ProfileName {
    /// votechain's own protocol.
    Native,
    /// The W4119 voting chain's (PROTOCOL.md, "Profile w4119").
    W4119,
}

/// A failure with the exit status it deserves.
type Failure = votechain_runtime::Failure<anyhow::Error>;

fn main() -> ExitCode {
    let outcome = Cli::try_parse().map_err(Failure::Cli).and_then(|cli| {
        // The tracker has no data directory: it logs to the terminal only (redirect stderr to
        // keep a file), at info unless -v, -q or RUST_LOG say otherwise.
        init_logging(&cli.log, "info", None);
        run(cli)
    });
    exit_code("tracker", outcome)
}

fn run(cli: Cli) -> Result<(), Failure> {
    let config = build_config(&cli)?;
    let election = Block::genesis(&config.ballot)
        .map_err(|e| Failure::Usage(e.into()))?
        .hash();
    let runtime = tokio_runtime(Flavor::CurrentThread)
        .context("starting the runtime")
        .map_err(Failure::Runtime)?;
    runtime.block_on(async {
        // Signal handlers go in before the readiness line, so a signal sent right after it
        // is a clean shutdown.
        let Listening {
            socket,
            local,
            shutdown,
        } = listen(SocketAddr::new(cli.bind, cli.port)).map_err(|e| Failure::Runtime(e.into()))?;
        // Bound before the readiness line, so a taken port fails the start, not a scrape.
        let http = match cli.http {
            Some(addr) => Some(
                tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding the metrics server to {addr}"))
                    .map_err(Failure::Runtime)?,
            ),
            None => None,
        };
        // W4119 peers know no election id; the native readiness line names it.
        let _ = match cli.profile {
            ProfileName::Native => writeln!(
                std::io::stderr(),
                "tracker listening on {local} election {election}"
            ),
            ProfileName::W4119 => {
                writeln!(
                    std::io::stderr(),
                    "tracker listening on {local} profile w4119"
                )
            }
        };
        let (requests_tx, requests_rx) = tokio::sync::mpsc::channel(16);
        if let Some(listener) = http {
            let url = listener
                .local_addr()
                .context("reading the metrics server's address")
                .map_err(Failure::Runtime)?;
            let _ = writeln!(std::io::stderr(), "metrics on http://{url}/metrics");
            let stop = shutdown.clone().cancelled_owned();
            tokio::spawn(async move {
                if let Err(e) = metrics::serve(listener, requests_tx, stop).await {
                    tracing::warn!("the metrics server stopped: {e}");
                }
            });
        }
        let ballot = &config.ballot;
        match cli.profile {
            ProfileName::Native => {
                info!(
                    "serving election \"{}\": options {}; proof of work {} bits",
                    ballot.title,
                    ballot.options.join(", "),
                    ballot.difficulty
                );
                info!("{}", config.ballot.roll_summary());
            }
            ProfileName::W4119 => info!(
                "serving W4119 peers the options {}; a peer joins once it answers a POKE",
                ballot.options.join(", ")
            ),
        }
        votechain_tracker::run_with_metrics(socket, config, shutdown.cancelled_owned(), requests_rx)
            .await
            .map(drop)
            .map_err(|e| match e {
                votechain_tracker::RunError::Config(e) => Failure::Usage(e.into()),
                e => Failure::Runtime(e.into()),
            })
    })
}

fn build_config(cli: &Cli) -> Result<Config, Failure> {
    let voters = match &cli.voters {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading voter roll {}", path.display()))
                .map_err(Failure::Runtime)?;
            let roll = parse_voter_roll(&text)
                .with_context(|| format!("in {}", path.display()))
                .map_err(Failure::Usage)?;
            Some(roll)
        }
    };
    let ballot = Ballot {
        title: cli.title.clone(),
        options: parse_options(&cli.ballot),
        voters,
        difficulty: cli.difficulty,
        closing_height: None,
    };
    let mut config = Config::new(ballot);
    if cli.profile == ProfileName::W4119 {
        if cli.voters.is_some() {
            return Err(Failure::Usage(anyhow::anyhow!(
                "--voters needs signed votes, which W4119 peers do not make: leave it out with --profile w4119"
            )));
        }
        config.dialect = std::sync::Arc::new(votechain_proto::dialect::W4119);
        config.list_refresh_ms = Some(W4119_LIST_REFRESH_MS);
    }
    config.heartbeat_ms = cli.heartbeat_ms;
    config.max_missed = cli.max_missed;
    config.max_peers = cli.max_peers;
    config.max_list = cli.max_list;
    config.rate_per_s = cli.rate;
    config.rate_burst = cli.burst;
    config
        .check()
        .map_err(|e| Failure::Usage(anyhow::Error::new(e)))?;
    Ok(config)
}
