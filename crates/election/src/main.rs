//! `election`: a whole local election from one command, for a first look. It runs a tracker and
//! several peers in this one process (each on its own loopback port, exactly as the `tracker`
//! and `peer` binaries would run them), multiplexes this terminal's console over the peers, and
//! stops everything cleanly — every peer leaves the tracker — on Ctrl-C or end of input.

use anyhow::Context;
use clap::Parser;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use tokio::io::AsyncBufReadExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use votechain_chain::Ballot;
use votechain_peer::config::NodeConfig;
use votechain_peer::node::Event;
use votechain_peer::shell::{self, ConsoleInput, ShellConfig};
use votechain_peer::start;

/// Starts a tracker and several peers on free loopback ports and gives you one console for all
/// of them. Type a peer command (help lists them) to send it to peer 1, or prefix it with a peer
/// number ("2 vote alice Adam") or "all" ("all tally").
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    /// Number of peers.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=32))]
    peers: u16,
    /// The ballot's options, comma-separated.
    #[arg(long, default_value = "Adam,Bob,Catherine")]
    ballot: String,
    /// The ballot's title.
    #[arg(long, default_value = "Demo election")]
    title: String,
    /// Proof of work per block, in leading zero bits (18 ≈ 10 ms of mining on one core).
    #[arg(long, default_value_t = 18)]
    difficulty: u32,
    /// Where the peers keep their chains and keys [default: a fresh temporary folder, removed
    /// on exit].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// More log output on stderr (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    start::init_logging(cli.verbose, &["warn", "info", "debug"]);
    start::run_main("election", run(cli))
}

fn say(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let options: Vec<&str> = cli
        .ballot
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let ballot = Ballot::open(&cli.title, &options, cli.difficulty);
    ballot.check().context("the ballot")?;
    let (data_dir, temporary) = match &cli.data_dir {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(format!("votechain-election-{}", std::process::id())),
            true,
        ),
    };
    let stop = CancellationToken::new();
    let mut tasks = tokio::task::JoinSet::new();

    let tracker_socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .context("binding the tracker")?;
    let tracker_addr = tracker_socket.local_addr()?;
    let tracker_stop = stop.clone();
    let tracker = tokio::spawn(votechain_tracker::run(
        tracker_socket,
        votechain_tracker::Config::new(ballot.clone()),
        async move { tracker_stop.cancelled().await },
    ));

    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<(u16, String)>();
    let (event_tx, mut event_rx) = mpsc::unbounded_channel::<(u64, Event)>();
    let mut consoles = Vec::new();
    let mut addrs: Vec<SocketAddr> = Vec::new();
    for n in 1..=cli.peers {
        let socket = start::bind_udp(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let addr = socket.local_addr()?;
        let mut cfg = NodeConfig::new(addr);
        cfg.tracker = Some(tracker_addr);
        cfg.name = format!("peer-{n}");
        let dir = data_dir.join(format!("peer-{n}"));
        let (node, store) = start::open_node(cfg, &dir, rand::random(), shell::now_ms())?;
        let (line_tx, line_rx) = mpsc::channel::<String>(64);
        let (peer_out_tx, mut peer_out_rx) = mpsc::unbounded_channel::<String>();
        let tagged = out_tx.clone();
        tokio::spawn(async move {
            while let Some(line) = peer_out_rx.recv().await {
                let _ = tagged.send((n, line));
            }
        });
        let config = ShellConfig {
            data_dir: dir,
            miner_threads: 1,
            console: ConsoleInput::Channel(line_rx),
            console_out: Some(peer_out_tx),
            events: Some(event_tx.clone()),
        };
        let peer_stop = stop.clone();
        tasks.spawn(shell::run(socket, node, store, config, async move {
            peer_stop.cancelled().await
        }));
        consoles.push(line_tx);
        addrs.push(addr);
    }

    say(&format!(
        "local election \"{}\" — options: {}",
        cli.title,
        options.join(", ")
    ));
    say(&format!(
        "tracker on {tracker_addr}; data in {}",
        data_dir.display()
    ));
    for (i, a) in addrs.iter().enumerate() {
        say(&format!("  peer {} on {a}", i + 1));
    }
    say(&format!(
        "type a command for peer 1, or prefix a peer number or 'all':\n  vote alice {}\n  2 vote bob {}\n  all tally\n  help\n\
         join from another terminal with: target/release/peer {} 0\nCtrl-C stops everything.",
        options[0],
        options.get(1).unwrap_or(&options[0]),
        tracker_addr.port()
    ));

    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut stdin_open = true;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            // Events are not shown here (logs are, with -v), but the channel must not grow.
            Some(_) = event_rx.recv() => {}
            Some((n, line)) = out_rx.recv() => {
                for l in line.lines() {
                    say(&format!("[peer {n}] {l}"));
                }
            }
            line = stdin.next_line(), if stdin_open => match line {
                Ok(Some(line)) => route(&line, &consoles).await,
                // End of input: keep running until Ctrl-C, so a piped script can watch results.
                _ => stdin_open = false,
            },
            Some(done) = tasks.join_next() => {
                if let Ok(Err(e)) = done {
                    say(&format!("a peer stopped: {e:#}"));
                }
                if tasks.is_empty() {
                    break;
                }
            }
        }
    }
    say("stopping: peers leave the tracker");
    stop.cancel();
    while tasks.join_next().await.is_some() {}
    let _ = tracker.await;
    if temporary {
        let _ = std::fs::remove_dir_all(&data_dir);
    }
    Ok(())
}

/// Sends a console line to the peer it names (`2 tally`), to every peer (`all tally`), or to
/// peer 1.
async fn route(line: &str, consoles: &[mpsc::Sender<String>]) {
    let trimmed = line.trim();
    let (first, rest) = trimmed
        .split_once(char::is_whitespace)
        .unwrap_or((trimmed, ""));
    if first == "all" {
        for c in consoles {
            let _ = c.send(rest.to_owned()).await;
        }
        return;
    }
    match first.parse::<usize>() {
        Ok(n) if (1..=consoles.len()).contains(&n) => {
            let _ = consoles[n - 1].send(rest.to_owned()).await;
        }
        Ok(n) => say(&format!(
            "there is no peer {n} (peers are 1 to {})",
            consoles.len()
        )),
        Err(_) => {
            if let Some(c) = consoles.first() {
                let _ = c.send(trimmed.to_owned()).await;
            }
        }
    }
}
