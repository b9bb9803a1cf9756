//! `peer <tracker_port> <local_port>`: a full votechain node. This file only parses arguments,
//! sets up logging and signal handling, binds the socket, opens the store, prints the readiness
//! line and hands over to [`shell::run`]; the exit code follows the policy shared by every
//! binary (`votechain_runtime::exit`: 0 clean stop, 1 runtime error, 2 usage error).

use anyhow::Context;
use clap::Parser;
use std::io::Write as _;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use votechain_peer::config::*;
use votechain_peer::external::{ExternalMiners, PortTemplate};
use votechain_peer::http::serving::{HttpAddr, HttpListener};
use votechain_peer::miningport::{MiningPort, MiningPortConfig};
use votechain_peer::shell::{self, DEFAULT_MINER_THREADS};
use votechain_peer::start::{self, StartError};
use votechain_runtime::{
    exit_code, init_logging, listen, tokio_runtime, Flavor, Listening, LogArgs, LogFile,
    AFTER_HELP, USER,
};

/// The log file's name in the data directory.
const LOG_FILE: &str = "peer.log";

/// A full votechain node: registers with the tracker, finds peers by gossip, syncs and validates
/// the chain, accepts signed votes, mines them into blocks and relays blocks and votes. Type
/// `help` on its console (stdin) for the commands.
///
/// Once ready it prints one line on stderr, `peer listening on ADDR data DIR`, then one saying
/// how to get help and where the full log is (DIR/peer.log, rotated at 10 MiB, three old files
/// kept), then `web page and API on http://ADDR/` unless --no-http (the API is in API.md).
/// The terminal shows warnings and what happens (blocks, votes, peers) as sentences; everything
/// else goes to the log file. At a terminal the console has a prompt, line editing
/// and history. Ctrl-C, SIGTERM, `quit` or Ctrl-D at a terminal make it leave the network and
/// stop; the end of a piped stdin only ends the console, and the peer runs on.
#[derive(Parser, Debug)]
#[command(name = "peer", version, after_help = AFTER_HELP)]
struct Cli {
    /// UDP port of the election's tracker (0: no tracker, use --seed peers only).
    tracker_port: u16,
    /// UDP port this peer listens on (0 picks a free one; the readiness line shows which).
    local_port: u16,
    /// Host of the tracker.
    #[arg(long, default_value = "127.0.0.1")]
    tracker_host: String,
    /// Address to bind the peer's socket to (0.0.0.0: every interface, for other machines).
    /// Peers are told this address, unless --advertise says otherwise; bound to 0.0.0.0, a
    /// peer tells them the address its tracker sees it at (127.0.0.1 until the tracker answers).
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// The address other peers reach this one at (host:port), told to peers in GOSSIP: for a
    /// peer behind port forwarding, or bound to 0.0.0.0 without a tracker.
    #[arg(long, value_name = "HOST:PORT")]
    advertise: Option<String>,
    /// Miner and display name [default: peer-<local_port>].
    #[arg(long)]
    name: Option<String>,
    /// Where the chain and voter keys are kept [default: ./votechain-data/<local_port>].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// A peer to gossip with and fetch the election from (host:port); works without any
    /// tracker. Repeatable.
    #[arg(long = "seed")]
    seeds: Vec<String>,
    /// Mine continuously, empty blocks included, as miners on the course networks do: hash
    /// power that makes rewriting the chain costly for an attacker, at the price of a CPU
    /// core per miner thread and competing blocks. By default a peer mines only while votes
    /// are pending: at once the votes submitted to it, after --relay-grace-ms those other
    /// peers relayed, and no empty block after them.
    #[arg(long, conflicts_with = "no_mine")]
    mine: bool,
    /// Never mine (votes submitted here are relayed for the other peers to mine).
    #[arg(long)]
    no_mine: bool,
    /// Shortest wait, in milliseconds, before mining a vote another peer relayed: its
    /// submitter mines it first, so peers do not all mine it and tie. The wait is random up
    /// to twice this, plus three block times measured here, at most 10 s in all. 0 mines
    /// every vote at once.
    #[arg(long, default_value_t = DEFAULT_RELAY_GRACE_MS)]
    relay_grace_ms: u64,
    /// Mining threads.
    #[arg(long, default_value_t = DEFAULT_MINER_THREADS)]
    miner_threads: usize,
    /// Open a mining port for external miners (`miner --connect ADDR`) at ADDR: HOST:PORT, or
    /// a PORT on 127.0.0.1 (README "External miners", PROTOCOL.md "Mining port"). Every job
    /// this peer would mine goes to them too; with --no-mine only they mine. Not with
    /// --profile w4119.
    #[arg(long, value_name = "ADDR")]
    mining_listen: Option<String>,
    /// The secret external miners must give in `mining.authorize`; better given in the
    /// environment, where other users of the machine cannot read it from the process list.
    #[arg(
        long,
        value_name = "SECRET",
        env = "VOTECHAIN_MINING_TOKEN",
        hide_env_values = true
    )]
    mining_token: Option<String>,
    /// Seconds between our GOSSIP announcements.
    #[arg(long, default_value_t = DEFAULT_GOSSIP_INTERVAL_MS / 1000)]
    gossip_interval: u64,
    /// Seconds of silence after which a gossip-learned peer is dropped.
    #[arg(long, default_value_t = DEFAULT_PEER_SILENCE_MS / 1000)]
    peer_silence: u64,
    /// Seconds between periodic consensus rounds (STATS to peers, catch up).
    #[arg(long, default_value_t = DEFAULT_CONSENSUS_INTERVAL_MS / 1000)]
    consensus_interval: u64,
    /// Blocks per sync request (1-64).
    #[arg(long, default_value_t = DEFAULT_SYNC_BATCH,
          value_parser = clap::value_parser!(u32).range(1..=64))]
    sync_batch: u32,
    /// Sync requests in flight at once [default: 8 (of --sync-batch blocks each); with
    /// --profile comp3010, 256 one-block GET_BLOCKs, half of them per peer at most].
    #[arg(long)]
    sync_window: Option<usize>,
    /// Address of the HTTP server (JSON API, API.md) [default: the --bind address if it is a
    /// loopback address, else 127.0.0.1, port LOCAL_PORT + 1000; a free port when LOCAL_PORT is
    /// 0 or that one is taken]. Port 0 picks a free one; stderr shows the URL once ready.
    /// Anyone who reaches it can vote with the voter keys this peer holds.
    #[arg(long, value_name = "ADDR", conflicts_with = "no_http")]
    http: Option<SocketAddr>,
    /// Serve no HTTP.
    #[arg(long)]
    no_http: bool,
    /// Do not read console commands from stdin.
    #[arg(long)]
    no_console: bool,
    /// The protocol: `native` (votechain's own, PROTOCOL.md), `comp3010` (a COMP 3010 course
    /// network, byte for byte: no tracker, so TRACKER_PORT is 0; join through --seed
    /// HOST:PORT, e.g. --seed silicon.cs.umanitoba.ca:8999) or `w4119` (a W4119 voting chain,
    /// byte for byte: its tracker at TRACKER_PORT, our own or theirs).
    #[arg(long, value_enum, default_value_t = ProfileName::Native)]
    profile: ProfileName,
    /// comp3010: trailing '0' hex characters of a valid block hash [default: 8; the competition
    /// network uses 9]. w4119: leading '0' hex characters [default: 2, W4119's "00"].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=64))]
    difficulty: Option<u32>,
    #[command(flatten)]
    log: LogArgs,
}

/// The protocol profiles of `--profile`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ProfileName {
    /// votechain's own protocol.
    Native,
    /// The COMP 3010 course network's.
    Comp3010,
    /// The W4119 voting chain's.
    W4119,
}

/// A failure with the exit status it deserves.
type Failure = votechain_runtime::Failure<anyhow::Error>;

fn main() -> ExitCode {
    let outcome = Cli::try_parse().map_err(Failure::Cli).and_then(|cli| {
        // The data directory is named after the port, known once bound: lines logged until
        // then wait in memory for the file.
        let log_file = LogFile::default();
        init_logging(&cli.log, "info", Some(&log_file));
        tokio_runtime(Flavor::MultiThread)
            .context("starting the tokio runtime")
            .map_err(Failure::Runtime)?
            .block_on(run(cli, log_file))
    });
    exit_code("peer", outcome)
}

async fn run(cli: Cli, log_file: LogFile) -> Result<(), Failure> {
    match cli.profile {
        ProfileName::Comp3010 => return run_course(cli, log_file).await,
        ProfileName::W4119 => return run_w4119(cli, log_file).await,
        ProfileName::Native => {}
    }
    // Signal handlers go in before the readiness line, so a signal sent right after it is a
    // clean shutdown.
    let (
        Listening {
            socket,
            local,
            shutdown,
        },
        data_dir,
    ) = listen_in_data_dir(&cli)?;
    let cfg = node_config(&cli, local).map_err(Failure::Runtime)?;
    let (node, store) =
        start::open_node(cfg, &data_dir, rand::random(), shell::now_ms()).map_err(|e| match e {
            StartError::NothingToJoin => Failure::Usage(e.into()),
            e => Failure::Runtime(e.into()),
        })?;
    // Opened once the store is ours: a second peer on the same directory has failed by now.
    let log_note = open_log(&log_file, &data_dir);
    let http = bind_http(&cli).await?;
    let mining_port = bind_mining_port(&cli).await?;
    let port_note = mining_port_note(mining_port.as_ref());
    let web_note = match &http {
        Some(listener) => {
            let note = listener
                .note()
                .map(|n| format!("\n{n}"))
                .unwrap_or_default();
            format!("\nweb page and API on {}{note}", listener.url())
        }
        None => String::new(),
    };
    let help_note = help_note(&cli);
    // Written, not `eprintln!`ed: a closed stderr (`peer … 2>&1 | head -2`) is no reason to stop.
    // The first line is parsed by scripts and tests: keep it as it is.
    let _ = writeln!(
        std::io::stderr(),
        "peer listening on {local} data {}\n{help_note}{log_note}{web_note}{port_note}",
        data_dir.display()
    );
    let (http, server) = match http.map(HttpListener::serve) {
        Some((shell_end, server)) => (Some(shell_end), Some(server)),
        None => (None, None),
    };
    let shell_cfg = shell::ShellConfig {
        data_dir,
        miner_threads: own_threads(&cli, mining_port.is_some()),
        mining_port,
        console: console_input(&cli),
        console_out: None,
        events: None,
        http,
    };
    let outcome = shell::run(socket, node, store, shell_cfg, shutdown.cancelled_owned())
        .await
        .map_err(|e| Failure::Runtime(e.into()));
    // A `quit` ends the server too; open connections get a moment to finish.
    if let Some(server) = server {
        server.stop().await;
    }
    outcome
}

/// Binds the socket and installs the signal handlers, and names the data directory (after the
/// port, known once bound, unless --data-dir says).
fn listen_in_data_dir(cli: &Cli) -> Result<(Listening, PathBuf), Failure> {
    let listening = listen(SocketAddr::new(cli.bind, cli.local_port))
        .map_err(|e| Failure::Runtime(e.into()))?;
    let data_dir = cli.data_dir.clone().unwrap_or_else(|| {
        PathBuf::from("votechain-data").join(listening.local.port().to_string())
    });
    Ok((listening, data_dir))
}

/// Opens the log file in the data directory; the sentence saying where the full log is.
fn open_log(log_file: &LogFile, data_dir: &std::path::Path) -> String {
    let log_path = data_dir.join(LOG_FILE);
    match log_file.open(&log_path) {
        Ok(()) => format!("the full log is in {}", log_path.display()),
        Err(e) => format!("no log file ({}: {e})", log_path.display()),
    }
}

/// Binds the HTTP server's listener, unless `--no-http`.
async fn bind_http(cli: &Cli) -> Result<Option<HttpListener>, Failure> {
    match http_addr(cli) {
        Some(at) => HttpListener::bind(at)
            .await
            .map(Some)
            .map_err(|e| Failure::Runtime(e.into())),
        None => Ok(None),
    }
}

/// How to get help, for the readiness lines (nothing without a console).
fn help_note(cli: &Cli) -> &'static str {
    if cli.no_console {
        ""
    } else {
        "type help for commands; "
    }
}

/// Where the HTTP server listens; `None` with `--no-http`. An address given with `--http` must
/// be had; the default port (LOCAL_PORT + 1000) gives way to a free one.
fn http_addr(cli: &Cli) -> Option<HttpAddr> {
    match (cli.no_http, cli.http) {
        (true, _) => None,
        (false, Some(wanted)) => Some(HttpAddr::Exactly(wanted)),
        (false, None) => Some(HttpAddr::Beside {
            ip: cli.bind,
            port: cli.local_port,
        }),
    }
}

/// The node's configuration from the flags, for a peer bound at `local`.
fn node_config(cli: &Cli, local: SocketAddr) -> anyhow::Result<NodeConfig> {
    let advertise = cli.advertise.as_deref().map(resolve).transpose()?;
    let unspecified = local.ip().is_unspecified();
    let advertised = match advertise {
        Some(addr) => addr,
        // A stand-in until the tracker says at which address it sees us.
        None if unspecified => SocketAddr::from(([127, 0, 0, 1], local.port())),
        None => local,
    };
    let mut cfg = NodeConfig::new(advertised);
    cfg.learn_address = unspecified && advertise.is_none();
    match (advertise, unspecified, cli.tracker_port) {
        (Some(addr), _, _) => {
            tracing::info!(target: USER, "advertising {addr} to peers (--advertise)")
        }
        (None, true, 0) => tracing::warn!(
            "bound to {local} without a tracker or --advertise: peers are told {advertised}, \
             which only this machine can reach; pass --advertise HOST:PORT"
        ),
        (None, true, _) => tracing::info!(
            target: USER,
            "bound to {local}: advertising the address the tracker sees this peer at, once it \
             answers"
        ),
        (None, false, _) => tracing::info!("advertising {advertised} to peers"),
    }
    if cli.tracker_port != 0 {
        cfg.tracker = Some(resolve(&format!(
            "{}:{}",
            cli.tracker_host, cli.tracker_port
        ))?);
    }
    cfg.seeds = cli
        .seeds
        .iter()
        .map(|s| resolve(s))
        .collect::<anyhow::Result<_>>()?;
    if let Some(name) = cli.name.clone() {
        cfg.name = name;
    }
    // With a mining port, --no-mine idles this peer's threads, not its external miners.
    cfg.mining = match (cli.mine, cli.no_mine && cli.mining_listen.is_none()) {
        (true, _) => MiningMode::Always,
        (_, true) => MiningMode::Off,
        _ => MiningMode::WhenPending,
    };
    cfg.relay_grace_ms = cli.relay_grace_ms;
    cfg.gossip_interval_ms = cli.gossip_interval.max(1) * 1000;
    cfg.peer_silence_ms = cli.peer_silence.max(1) * 1000;
    cfg.consensus_interval_ms = cli.consensus_interval.max(1) * 1000;
    cfg.sync_batch = cli.sync_batch;
    cfg.sync_window = cli.sync_window.unwrap_or(DEFAULT_SYNC_WINDOW).max(1);
    Ok(cfg)
}

fn resolve(host_port: &str) -> anyhow::Result<SocketAddr> {
    host_port
        .to_socket_addrs()
        .with_context(|| format!("resolving {host_port}"))?
        .find(SocketAddr::is_ipv4)
        .with_context(|| format!("{host_port} has no IPv4 address"))
}

/// Binds the mining port of `--mining-listen`, if asked for.
async fn bind_mining_port<T: PortTemplate>(
    cli: &Cli,
) -> Result<Option<ExternalMiners<T>>, Failure> {
    let Some(wanted) = cli.mining_listen.as_deref() else {
        return Ok(None);
    };
    let listen = match wanted.parse::<u16>() {
        Ok(port) => SocketAddr::from(([127, 0, 0, 1], port)),
        Err(_) => resolve(wanted).map_err(Failure::Usage)?,
    };
    if !listen.ip().is_loopback() && cli.mining_token.is_none() {
        tracing::warn!(
            "the mining port at {listen} can be reached from other machines and has no \
             --mining-token: anyone who reaches it can mine for this peer"
        );
    }
    let mut config = MiningPortConfig {
        listen,
        ..MiningPortConfig::default()
    };
    config.pool.token = cli.mining_token.clone();
    let (port, found) = MiningPort::bind(config)
        .await
        .with_context(|| format!("opening the mining port at {listen}"))
        .map_err(Failure::Runtime)?;
    Ok(Some(ExternalMiners::new(port, found)))
}

/// The readiness output's line naming the mining port, when there is one.
fn mining_port_note<T: PortTemplate>(port: Option<&ExternalMiners<T>>) -> String {
    port.map(|p| format!("\nmining port on {} (miner --connect {0})", p.local_addr()))
        .unwrap_or_default()
}

/// This process's mining threads: none when --no-mine leaves the work to a mining port's
/// miners (or, in the comp3010 profile, without --mine).
fn own_threads(cli: &Cli, mining_port: bool) -> usize {
    let mines = match cli.profile {
        ProfileName::Comp3010 => cli.mine,
        _ => !cli.no_mine,
    };
    match (mining_port, mines) {
        (true, false) => 0,
        _ => cli.miner_threads.max(1),
    }
}

/// The readiness output's line naming a profile's web page, when it serves one.
fn profile_web_note(http: Option<&HttpListener>) -> String {
    http.map(|l| format!("\nweb page and API on {}", l.url()))
        .unwrap_or_default()
}

/// Where console commands come from: stdin, unless `--no-console`.
fn console_input(cli: &Cli) -> shell::ConsoleInput {
    match cli.no_console {
        true => shell::ConsoleInput::None,
        false => shell::ConsoleInput::Stdin,
    }
}

/// `--profile comp3010`: a peer of a COMP 3010 course network ([`votechain_peer::course`]).
async fn run_course(cli: Cli, log_file: LogFile) -> Result<(), Failure> {
    use votechain_peer::course::{
        http as course_http, shell as course_shell, start as course_start,
    };
    if cli.tracker_port != 0 {
        return Err(Failure::Usage(anyhow::anyhow!(
            "the comp3010 profile has no tracker: give TRACKER_PORT 0 and join with --seed HOST:PORT"
        )));
    }
    let (
        Listening {
            socket,
            local,
            shutdown,
        },
        data_dir,
    ) = listen_in_data_dir(&cli)?;
    let advertise = match cli.advertise.as_deref().map(resolve).transpose() {
        Ok(Some(addr)) => addr,
        Ok(None) if local.ip().is_unspecified() => {
            tracing::warn!(
                "bound to {local} without --advertise: course peers are told 127.0.0.1, which \
                 only this machine can reach; pass --advertise HOST:PORT"
            );
            SocketAddr::from(([127, 0, 0, 1], local.port()))
        }
        Ok(None) => local,
        Err(e) => return Err(Failure::Usage(e)),
    };
    let seeds = cli
        .seeds
        .iter()
        .map(|s| resolve(s))
        .collect::<anyhow::Result<Vec<_>>>()
        .map_err(Failure::Usage)?;
    let name = cli
        .name
        .clone()
        .unwrap_or_else(|| format!("votechain-{}", local.port()));
    let mut cfg = votechain_peer::course::CourseConfig::new(name, advertise, seeds);
    cfg.difficulty = cli
        .difficulty
        .unwrap_or(votechain_course::limits::DEFAULT_DIFFICULTY);
    // External miners mine whenever there is a mining port.
    cfg.mine = cli.mine || cli.mining_listen.is_some();
    cfg.gossip_interval_ms = cli.gossip_interval.max(1) * 1000;
    cfg.peer_silence_ms = cli.peer_silence.max(1) * 1000;
    cfg.consensus_interval_ms = cli.consensus_interval.max(1) * 1000;
    if let Some(window) = cli.sync_window {
        cfg.download.window = window.max(1);
        cfg.download.per_peer = (window / 2).max(1);
    }
    cfg.rng_seed = rand::random();
    let cfg_difficulty = cfg.difficulty;
    let (node, store) =
        course_start::open_course_node(cfg, &data_dir).map_err(|e| Failure::Runtime(e.into()))?;
    let log_note = open_log(&log_file, &data_dir);
    let http = bind_http(&cli).await?;
    let mining_port = bind_mining_port(&cli).await?;
    let port_note = mining_port_note(mining_port.as_ref());
    let web_note = profile_web_note(http.as_ref());
    let help_note = help_note(&cli);
    let _ = writeln!(
        std::io::stderr(),
        "peer listening on {local} data {}\nprofile comp3010, difficulty {}, mining {}; \
         {help_note}{log_note}{web_note}{port_note}",
        data_dir.display(),
        cfg_difficulty,
        match (cli.mine, mining_port.is_some()) {
            (true, _) => "on",
            (false, true) => "by external miners only",
            (false, false) => "off (word commands wait for `mine on`)",
        },
    );
    let (bridge, server) = http
        .map(|listener| listener.serve_with_bridge(course_http::router))
        .unzip();
    let shell_cfg = course_shell::CourseShellConfig {
        data_dir,
        miner_threads: own_threads(&cli, mining_port.is_some()),
        mining_port,
        console: console_input(&cli),
        events: None,
        http: bridge,
    };
    let outcome = course_shell::run(socket, node, store, shell_cfg, shutdown.cancelled_owned())
        .await
        .map_err(|e| Failure::Runtime(e.into()));
    if let Some(server) = server {
        server.stop().await;
    }
    outcome
}

/// `--profile w4119`: a peer of a W4119 voting chain ([`votechain_peer::w4119`]), registered
/// with the tracker at TRACKER_PORT (W4119's own or ours with `--profile w4119`).
async fn run_w4119(cli: Cli, log_file: LogFile) -> Result<(), Failure> {
    use votechain_peer::w4119::{
        http as w4119_http, shell as w4119_shell, start as w4119_start, W4119Config,
    };
    if cli.mining_listen.is_some() {
        return Err(Failure::Usage(anyhow::anyhow!(
            "the w4119 profile has no mining port: its proof of work hashes a block's JSON, \
             which no midstate job can carry"
        )));
    }
    if cli.tracker_port == 0 {
        return Err(Failure::Usage(anyhow::anyhow!(
            "the w4119 profile joins through a tracker: give its TRACKER_PORT (and \
             --tracker-host when it runs elsewhere)"
        )));
    }
    let tracker =
        resolve(&format!("{}:{}", cli.tracker_host, cli.tracker_port)).map_err(Failure::Usage)?;
    let (
        Listening {
            socket,
            local,
            shutdown,
        },
        data_dir,
    ) = listen_in_data_dir(&cli)?;
    // W4119 peers know each other by the address the tracker sees; on this machine that is
    // the bound one (127.0.0.1 when bound to every interface).
    let me = match local.ip().is_unspecified() {
        true => SocketAddr::from(([127, 0, 0, 1], local.port())),
        false => local,
    };
    let mut cfg = W4119Config::new(tracker, me);
    cfg.difficulty = cli
        .difficulty
        .unwrap_or(votechain_w4119::limits::DEFAULT_DIFFICULTY);
    cfg.rng_seed = rand::random();
    let difficulty = cfg.difficulty;
    let (node, store) =
        w4119_start::open_w4119_node(cfg, &data_dir).map_err(|e| Failure::Runtime(e.into()))?;
    let log_note = open_log(&log_file, &data_dir);
    let http = bind_http(&cli).await?;
    let web_note = profile_web_note(http.as_ref());
    let help_note = help_note(&cli);
    let _ = writeln!(
        std::io::stderr(),
        "peer listening on {local} data {}\nprofile w4119, tracker {tracker}, proof of work {} \
         leading zeros; {help_note}{log_note}{web_note}",
        data_dir.display(),
        difficulty,
    );
    let (bridge, server) = http
        .map(|listener| listener.serve_with_bridge(w4119_http::router))
        .unzip();
    let shell_cfg = w4119_shell::W4119ShellConfig {
        data_dir,
        console: console_input(&cli),
        events: None,
        http: bridge,
    };
    let outcome = w4119_shell::run(socket, node, store, shell_cfg, shutdown.cancelled_owned())
        .await
        .map_err(|e| Failure::Runtime(e.into()));
    if let Some(server) = server {
        server.stop().await;
    }
    outcome
}
