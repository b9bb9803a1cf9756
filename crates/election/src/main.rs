//! `election`: a whole local election from one command, for a first look. It runs a tracker and
//! several peers in this one process (each on its own loopback port, exactly as the `tracker`
//! and `peer` binaries would run them), multiplexes this terminal's console over the peers, and
//! stops everything cleanly — every peer leaves the tracker — on Ctrl-C, SIGTERM or Ctrl-D at a
//! terminal (the end of a piped stdin only ends the console: a script can watch the results).
//! Each peer serves its web page, JSON API and metrics as the `peer` binary does (on loopback,
//! port 1000 above its UDP port), and the page addresses are the first lines printed; `--open`
//! shows the first in a browser ([`browser`]).

mod browser;

use anyhow::Context;
use clap::Parser;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::task::Poll;
use tokio_util::sync::CancellationToken;
use votechain_chain::{roll, Ballot, Hash, PublicKey};
use votechain_peer::config::NodeConfig;
use votechain_peer::handle::{HandleConfig, PeerHandle};
use votechain_peer::http::serving::{HttpAddr, HttpListener};
use votechain_peer::keys::{self, KeysCommand};
use votechain_peer::node::Event;
use votechain_peer::shell::log_event;
use votechain_runtime::{
    bind_udp, exit_code, init_logging, print_answer, shutdown_on_signals, stdin_lines,
    tokio_runtime, ConsoleOptions, Flavor, LogArgs, LogFile, StdinLines, AFTER_HELP,
};
use votechain_tracker::ballot::parse_options;
use votechain_tracker::config::{DEMO_OPTIONS, DEMO_TITLE};

/// Peers started when `--peers` is not given.
const DEFAULT_PEERS: u16 = 3;

/// The names `--voters N` gives its voters, in order; beyond them, `voter-<n>`.
const VOTER_NAMES: [&str; 12] = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "kate",
    "liam",
];

/// Proof of work of the local election, in leading zero bits: about 10 ms of mining on one
/// core, so blocks come quickly but visibly.
const DEFAULT_DIFFICULTY: u32 = 18;

/// Starts a tracker and several peers on free loopback ports and gives you one console for all
/// of them. Each peer serves its web page and API (API.md) on its UDP port + 1000 (a free port
/// if that one is taken); their addresses are the first lines printed. Type a peer command (help lists them) to send it to peer 1, or prefix it with a peer
/// number ("2 vote alice Adam") or "all" ("all tally"); "2 quit" stops peer 2, "quit" stops
/// everything. Ctrl-C, SIGTERM or Ctrl-D stop it; the end of a piped stdin only ends the
/// console. The terminal shows warnings and what happens; the full log is in
/// DATA_DIR/election.log.
#[derive(Parser, Debug)]
#[command(name = "election", version, after_help = AFTER_HELP)]
struct Cli {
    /// Number of peers.
    #[arg(long, default_value_t = DEFAULT_PEERS,
          value_parser = clap::value_parser!(u16).range(1..=32))]
    peers: u16,
    /// The ballot's options, comma-separated.
    #[arg(long, default_value = DEMO_OPTIONS)]
    ballot: String,
    /// The ballot's title.
    #[arg(long, default_value = DEMO_TITLE)]
    title: String,
    /// Proof of work per block, in leading zero bits (18 ≈ 10 ms of mining on one core).
    #[arg(long, default_value_t = DEFAULT_DIFFICULTY)]
    difficulty: u32,
    /// Closes the election to N named voters (alice, bob, carol, … then voter-13, …): their keys
    /// are made once, copied into every peer's keys/, and their roll goes to the tracker, so
    /// "vote alice …" is the same voter on every peer and votes once [default: an open
    /// election, where any name typed makes a new voter].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
    voters: Option<u16>,
    /// Where the peers keep their chains and keys [default: a fresh temporary folder, removed
    /// on exit].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Open peer 1's web page in the default browser ($BROWSER, else the system's opener); where
    /// there is none (no display, a CI run), say so and go on.
    #[arg(long, conflicts_with = "no_http")]
    open: bool,
    /// Serve no web page or API.
    #[arg(long)]
    no_http: bool,
    #[command(flatten)]
    log: LogArgs,
}

/// The log file's name in the data directory.
const LOG_FILE: &str = "election.log";

/// The console's prompt at a terminal.
const PROMPT: &str = "election> ";

/// What `help` says before the peer commands.
const HELP_PREFIXES: &str = "\
a command goes to peer 1; prefix it to choose the peers:
  2 <command>             to peer 2, e.g. 2 vote bob Bob
  all <command>           to every peer, e.g. all tally
  2 quit                  stop peer 2 only; quit (no prefix) stops everything";

/// A failure with the exit status it deserves.
type Failure = votechain_runtime::Failure<anyhow::Error>;

fn main() -> ExitCode {
    let outcome = Cli::try_parse().map_err(Failure::Cli).and_then(|cli| {
        let log_file = LogFile::default();
        init_logging(&cli.log, "info", Some(&log_file));
        let ballot = Ballot {
            title: cli.title.clone(),
            options: parse_options(&cli.ballot),
            voters: None,
            difficulty: cli.difficulty,
            closing_height: None,
        };
        // The ballot rule's own sentence, as the tracker prints it for the same input.
        ballot.check().map_err(|e| Failure::Usage(e.into()))?;
        tokio_runtime(Flavor::MultiThread)
            .context("starting the tokio runtime")
            .map_err(Failure::Runtime)?
            .block_on(run(cli, ballot, log_file))
            .map_err(Failure::Runtime)
    });
    exit_code("election", outcome)
}

/// Prints one console line: above the prompt at a terminal, else on stdout.
fn say(text: &str) {
    print_answer(text);
}

/// A loopback address on a free port.
fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

async fn run(cli: Cli, mut ballot: Ballot, log_file: LogFile) -> anyhow::Result<()> {
    // Signal handlers go in before anything is printed, so Ctrl-C at any point is a clean stop.
    let shutdown = shutdown_on_signals().context("installing signal handlers")?;
    let (data_dir, temporary) = match &cli.data_dir {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(format!("votechain-election-{}", std::process::id())),
            true,
        ),
    };

    let voters = match cli.voters {
        Some(n) => make_voters(&data_dir, n, cli.peers)?,
        None => Vec::new(),
    };
    if !voters.is_empty() {
        ballot.voters = Some(voters.iter().map(|(_, key)| *key).collect());
    }
    let log_path = data_dir.join(LOG_FILE);
    let log_note = match log_file.open(&log_path) {
        Ok(()) if temporary => format!(
            "the full log is in {} (removed with the data on exit; --data-dir keeps both)",
            log_path.display()
        ),
        Ok(()) => format!("the full log is in {}", log_path.display()),
        Err(e) => format!("no log file ({}: {e})", log_path.display()),
    };

    let tracker_socket = bind_udp(loopback()).context("binding the tracker")?;
    let tracker_addr = tracker_socket.local_addr()?;
    // The tracker stops after the peers, so it hears every LEAVE_PEER.
    let tracker_stop = CancellationToken::new();
    let tracker = tokio::spawn(votechain_tracker::run(
        tracker_socket,
        votechain_tracker::Config::new(ballot.clone()),
        tracker_stop.clone().cancelled_owned(),
    ));

    let mut peers = Vec::new();
    // Each page's address, and why it is not on the UDP port + 1000 when it is not.
    let mut pages: Vec<(String, Option<String>)> = Vec::new();
    for n in 1..=cli.peers {
        let socket = bind_udp(loopback())?;
        let local = socket.local_addr()?;
        let mut cfg = NodeConfig::new(local);
        cfg.tracker = Some(tracker_addr);
        cfg.name = format!("peer-{n}");
        let mut config = HandleConfig::new(data_dir.join(format!("peer-{n}")), rand::random());
        // Events come here, so a block every peer takes is shown once, not once per peer.
        config.report_events = true;
        if !cli.no_http {
            let at = HttpAddr::Beside {
                ip: local.ip(),
                port: local.port(),
            };
            let listener = HttpListener::bind(at)
                .await
                .with_context(|| format!("starting peer {n}'s web page"))?;
            pages.push((listener.url(), listener.note().map(str::to_owned)));
            config.http = Some(listener);
        }
        peers.push(PeerHandle::start(socket, cfg, config)?);
    }
    // The pages first, before any other news.
    for (i, (url, note)) in pages.iter().enumerate() {
        say(&format!("peer {}: web page on {url}", i + 1));
        if let Some(note) = note {
            say(&format!("peer {}: {note}", i + 1));
        }
    }
    introduce(&ballot, tracker_addr, &data_dir, &peers, &voters);
    say(&log_note);
    // Opening a browser may take a while (or, for a browser in the foreground, as long as it
    // runs): it goes on beside the console and ends with the election.
    let opener = match (cli.open, pages.first()) {
        (true, Some((url, _))) => {
            let url = url.clone();
            Some(tokio::spawn(async move { say(&browser::open(&url).await) }))
        }
        _ => None,
    };

    let StdinLines {
        lines: mut stdin,
        terminal,
        handled,
    } = stdin_lines(ConsoleOptions {
        prompt: PROMPT.to_owned(),
        history: Some(data_dir.join("history")),
    });
    let mut stdin_open = true;
    let mut running = vec![true; peers.len()];
    let mut shown = ShownTips::default();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            news = next_news(&mut peers, &mut running) => match news {
                Some(News::Event(i, event)) => show_event(&mut shown, i, &event),
                Some(News::Answer(i, answer)) => {
                    for l in answer.lines() {
                        say(&format!("[peer {}] {l}", i + 1));
                    }
                }
                None => {
                    if running.iter().all(|r| !r) {
                        break;
                    }
                }
            },
            line = stdin.recv(), if stdin_open => match line {
                Some(line) => {
                    if !route(&line, &peers, &running).await {
                        break;
                    }
                    handled.done();
                }
                // Ctrl-D on a terminal stops the election.
                None if terminal => break,
                // The end of a pipe: keep running until Ctrl-C, so a script can watch results.
                None => stdin_open = false,
            },
        }
    }
    if let Some(opener) = opener {
        opener.abort();
    }
    say("stopping: peers leave the tracker");
    for peer in &peers {
        peer.shutdown();
    }
    for peer in &mut peers {
        if let Err(e) = peer.join().await {
            say(&format!("a peer stopped: {:#}", anyhow::Error::from(e)));
        }
    }
    tracker_stop.cancel();
    let _ = tracker.await;
    if temporary {
        let _ = std::fs::remove_dir_all(&data_dir);
    }
    Ok(())
}

/// Tip hashes already shown, the most recent last: every peer takes every block, and the
/// terminal says so once.
#[derive(Debug, Default)]
struct ShownTips(std::collections::VecDeque<Hash>);

impl ShownTips {
    /// Tips remembered: far more than blocks arrive between two peers taking the same one.
    const CAP: usize = 256;

    /// True the first time `hash` is offered.
    fn first(&mut self, hash: Hash) -> bool {
        if self.0.contains(&hash) {
            return false;
        }
        if self.0.len() == Self::CAP {
            self.0.pop_front();
        }
        self.0.push_back(hash);
        true
    }
}

/// Shows peer `i`'s event as the `peer` binary would, once for the whole election where it is
/// news of the network (a new tip, the first peer to take it), named by peer otherwise; repeats go
/// to the log file only.
fn show_event(shown: &mut ShownTips, i: usize, event: &Event) {
    let label = format!("peer {}", i + 1);
    match event {
        Event::TipChanged {
            hash,
            reorg_depth: 0,
            ..
        } if shown.first(*hash) => log_event(event, false, None),
        Event::ElectionKnown { election, .. } if shown.first(*election) => {
            log_event(event, false, None)
        }
        // Said already (by the first peer), or by the election's own lines.
        Event::TipChanged { reorg_depth: 0, .. }
        | Event::ElectionKnown { .. }
        | Event::Registered { .. } => tracing::debug!("{label}: {event}"),
        _ => log_event(event, false, Some(&label)),
    }
}

/// The name of the `n`th voter (from 1).
fn voter_name(n: u16) -> String {
    match VOTER_NAMES.get(usize::from(n) - 1) {
        Some(name) => (*name).to_owned(),
        None => format!("voter-{n}"),
    }
}

/// Makes (or, in a data directory used before, finds) the keys of `n` named voters in
/// `<data_dir>/voters/keys/`, copies them into the keys/ of each of `n_peers` peers, and writes
/// their roll to `<data_dir>/voters/roll.txt`; the voters' names and public keys.
fn make_voters(data_dir: &Path, n: u16, n_peers: u16) -> anyhow::Result<Vec<(String, PublicKey)>> {
    let master = data_dir.join("voters");
    let mut voters = Vec::new();
    for i in 1..=n {
        let name = voter_name(i);
        let file = keys::voter_key(&master, &name)?;
        let key = file.key().public();
        if let keys::VoterKeyFile::New(new) = file {
            new.keep()?;
        }
        for peer in 1..=n_peers {
            let import = KeysCommand::Import {
                file: keys::key_path(&master, &name),
                voter: Some(name.clone()),
            };
            keys::run(&data_dir.join(format!("peer-{peer}")), &import).map_err(|e| {
                anyhow::anyhow!("giving peer {peer} the key of {name}: {}", e.with_causes())
            })?;
        }
        voters.push((name, key));
    }
    let roll_file = master.join("roll.txt");
    let text = roll::format_roll(voters.iter().map(|(name, key)| (name.as_str(), key)));
    std::fs::write(&roll_file, text).with_context(|| format!("writing {}", roll_file.display()))?;
    Ok(voters)
}

/// Prints what runs where and how to use the console.
fn introduce(
    ballot: &Ballot,
    tracker_addr: SocketAddr,
    data_dir: &Path,
    peers: &[PeerHandle],
    voters: &[(String, PublicKey)],
) {
    let options = &ballot.options;
    say(&format!(
        "local election \"{}\" — options: {}",
        ballot.title,
        options.join(", ")
    ));
    say(&ballot.roll_summary());
    if !voters.is_empty() {
        let names: Vec<&str> = voters.iter().map(|(name, _)| name.as_str()).collect();
        say(&format!(
            "voters: {} — each peer holds their keys, so \"vote {} …\" is the same voter on \
             every peer, and votes once (roll in {})",
            names.join(", "),
            names[0],
            data_dir.join("voters").join("roll.txt").display()
        ));
    }
    say(&format!(
        "tracker on {tracker_addr}; data in {}",
        data_dir.display()
    ));
    for (i, peer) in peers.iter().enumerate() {
        say(&format!("  peer {} on {}", i + 1, peer.addr()));
    }
    say(&format!(
        "type a command for peer 1, or prefix a peer number or 'all':\n  vote alice {}\n  2 vote bob {}\n  all tally\n  help\n\
         join from another terminal with: target/release/peer {} 0\nquit, Ctrl-D or Ctrl-C stops everything.",
        options[0],
        options.get(1).unwrap_or(&options[0]),
        tracker_addr.port()
    ));
}

/// What a peer had to say.
enum News {
    /// An answer to a console command.
    Answer(usize, String),
    /// A node event.
    Event(usize, Event),
}

/// The next answer or event of any running peer, with the peer's index; `None` when a peer
/// stopped (said here, and marked in `running`). A stopped peer's closed event channel is
/// skipped.
async fn next_news(peers: &mut [PeerHandle], running: &mut [bool]) -> Option<News> {
    let stopped = std::future::poll_fn(|cx| {
        for (i, peer) in peers.iter_mut().enumerate() {
            if let Poll::Ready(Some((_, event))) = peer.events().poll_recv(cx) {
                return Poll::Ready(Ok(News::Event(i, event)));
            }
            if !running[i] {
                continue;
            }
            match peer.poll_answer(cx) {
                Poll::Ready(Some(answer)) => return Poll::Ready(Ok(News::Answer(i, answer))),
                Poll::Ready(None) => return Poll::Ready(Err(i)),
                Poll::Pending => {}
            }
        }
        Poll::Pending
    })
    .await;
    let i = match stopped {
        Ok(news) => return Some(news),
        Err(i) => i,
    };
    running[i] = false;
    match peers[i].join().await {
        Ok(()) => say(&format!("peer {} stopped", i + 1)),
        Err(e) => say(&format!(
            "peer {} stopped: {:#}",
            i + 1,
            anyhow::Error::from(e)
        )),
    }
    None
}

/// Sends a console line to the peer it names (`2 tally`), to every peer (`all tally`), or to
/// peer 1; answers `help` itself (the prefixes, then the peer commands). False when the line
/// stops the whole election (`quit` without a prefix).
async fn route(line: &str, peers: &[PeerHandle], running: &[bool]) -> bool {
    let trimmed = line.trim();
    let (first, rest) = trimmed
        .split_once(char::is_whitespace)
        .unwrap_or((trimmed, ""));
    let (targets, command): (Vec<usize>, &str) = if first == "all" {
        ((0..peers.len()).collect(), rest.trim())
    } else {
        match first.parse::<usize>() {
            Ok(n) if (1..=peers.len()).contains(&n) => (vec![n - 1], rest.trim()),
            Ok(n) => {
                say(&format!(
                    "there is no peer {n} (peers are 1 to {})",
                    peers.len()
                ));
                return true;
            }
            Err(_) if trimmed == "quit" => return false,
            Err(_) => (vec![0], trimmed),
        }
    };
    if command == "help" {
        say(&format!(
            "{HELP_PREFIXES}\n{}",
            votechain_peer::console::HELP
        ));
        return true;
    }
    for i in targets {
        // A peer that stopped (`2 quit`) takes no more lines: say so rather than nothing.
        if !running[i] || peers[i].send_line(command).await.is_err() {
            say(&format!("peer {} has stopped", i + 1));
        }
    }
    true
}
