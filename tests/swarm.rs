//! The tracker and peers of a test election: start them on free ports, talk to their consoles,
//! kill and restart them, and wait — with a deadline, never a fixed sleep — until they agree.

use crate::binaries::bin;
use crate::probe::{ChainSummary, Probe};
use crate::process::Process;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use votechain_chain::{Ballot, Block, Hash};

/// How long a process may take to print its readiness line.
pub const START_DEADLINE: Duration = Duration::from_secs(30);

/// The default deadline for the network to reach a state: generous, since a loaded 2-core
/// machine runs several swarms at once, while a healthy run takes a few seconds.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// Pause between two looks at the network while waiting.
const POLL: Duration = Duration::from_millis(100);

/// Calls `check` until it returns `Some`, at most until `timeout`; panics naming `what` and the
/// last state seen (`check`'s `Err`) otherwise.
pub fn wait_until<T>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Result<T, String>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        let last = match check() {
            Ok(value) => return value,
            Err(state) => state,
        };
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}; last state: {last}");
        }
        std::thread::sleep(POLL);
    }
}

/// A directory under the system temp dir, removed when dropped.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// A new, empty, uniquely named directory; `tag` goes into its name.
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = std::env::temp_dir().join(format!(
            "votechain-test-{}-{}-{nanos}-{tag}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
        TempDir { path }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// How a tracker is started.
#[derive(Debug, Clone)]
pub struct TrackerConfig {
    /// UDP port; 0 for a free one.
    pub port: u16,
    /// The ballot's title.
    pub title: String,
    /// The ballot's options.
    pub options: Vec<String>,
    /// Proof of work per block in leading zero bits: low, so blocks take microseconds.
    pub difficulty: u32,
    /// Further command-line arguments.
    pub extra: Vec<String>,
    /// A voter-roll file (`--voters`): the election is closed to the keys on it.
    pub roll: Option<PathBuf>,
    /// The network namespace to run in (see [`crate::netns`]); `None`: this machine's network.
    pub netns: Option<String>,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig {
            port: 0,
            title: "Swarm test".into(),
            options: vec!["Adam".into(), "Bob".into(), "Catherine".into()],
            difficulty: 10,
            extra: Vec::new(),
            roll: None,
            netns: None,
        }
    }
}

impl TrackerConfig {
    /// The ballot this tracker serves (with the keys of its roll file, when it has one).
    pub fn ballot(&self) -> Ballot {
        let options: Vec<&str> = self.options.iter().map(String::as_str).collect();
        let mut ballot = Ballot::open(&self.title, &options, self.difficulty);
        if let Some(path) = &self.roll {
            let text = std::fs::read_to_string(path)
                .unwrap_or_else(|e| panic!("reading the roll {}: {e}", path.display()));
            let roll = votechain_chain::roll::parse_voter_roll(&text)
                .unwrap_or_else(|e| panic!("the roll {}: {e}", path.display()));
            ballot.voters = Some(roll);
        }
        ballot
    }
}

/// A running tracker.
pub struct Tracker {
    process: Process,
    config: TrackerConfig,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The election id it printed (the genesis hash).
    pub election: Hash,
}

impl Tracker {
    /// Starts a tracker and waits for its readiness line.
    pub fn start(config: TrackerConfig) -> Tracker {
        let mut args = vec![
            config.port.to_string(),
            "--title".into(),
            config.title.clone(),
            "--ballot".into(),
            config.options.join(","),
            "--difficulty".into(),
            config.difficulty.to_string(),
        ];
        if let Some(roll) = &config.roll {
            args.extend(["--voters".into(), roll.display().to_string()]);
        }
        args.extend(config.extra.iter().cloned());
        // Tests read the tracker's info lines ("joined"), so a RUST_LOG meant for the peers
        // must not silence it; VOTECHAIN_TRACKER_LOG sets its level instead.
        let level = std::env::var("VOTECHAIN_TRACKER_LOG").unwrap_or_else(|_| "info".into());
        let mut process = Process::spawn(
            "tracker",
            config.netns.as_deref(),
            &bin("tracker"),
            &args,
            &[("RUST_LOG", level)],
        );
        let ready = process.wait_log_from(0, "its readiness line", START_DEADLINE, |l| {
            l.starts_with("tracker listening on ")
        });
        let words: Vec<&str> = ready.split_whitespace().collect();
        let (addr, election) = match words.as_slice() {
            ["tracker", "listening", "on", addr, "election", hash] => (
                addr.parse()
                    .unwrap_or_else(|e| panic!("address in {ready:?}: {e}")),
                Hash::from_hex(hash).unwrap_or_else(|e| panic!("hash in {ready:?}: {e}")),
            ),
            _ => panic!("unexpected readiness line {ready:?}"),
        };
        let genesis = Block::genesis(&config.ballot()).expect("the test ballot is valid");
        assert_eq!(
            genesis.hash(),
            election,
            "the tracker's election id is the genesis hash of the ballot it was given"
        );
        Tracker {
            process,
            config,
            addr,
            election,
        }
    }

    /// The UDP port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The ballot it serves.
    pub fn ballot(&self) -> Ballot {
        self.config.ballot()
    }

    /// The running process (its log).
    pub fn process(&mut self) -> &mut Process {
        &mut self.process
    }

    /// Kills it with SIGKILL.
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// Starts a new tracker on the same port with the same ballot (a restart), replacing this
    /// one's process.
    pub fn restart(&mut self) {
        self.process.kill();
        let config = TrackerConfig {
            port: self.port(),
            ..self.config.clone()
        };
        *self = Tracker::start(config);
    }
}

/// When a peer mines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mining {
    /// The default: whenever votes are pending.
    #[default]
    WhenPending,
    /// Continuously (`--mine`).
    Always,
    /// Never (`--no-mine`).
    Off,
}

/// How a peer is started.
#[derive(Debug, Clone)]
pub struct PeerConfig {
    /// The tracker's port; 0 for none.
    pub tracker_port: u16,
    /// `--seed` peers.
    pub seeds: Vec<SocketAddr>,
    /// When to mine.
    pub mining: Mining,
    /// `--consensus-interval` in seconds: short, so periodic catch-up is quick.
    pub consensus_interval_s: u64,
    /// `--gossip-interval` in seconds.
    pub gossip_interval_s: u64,
    /// The UDP port to listen on; 0 (the default) for a free one. A peer in a network
    /// namespace of its own can use a fixed port, for `--advertise`.
    pub port: u16,
    /// Further command-line arguments.
    pub extra: Vec<String>,
    /// The network namespace to run in (see [`crate::netns`]); `None`: this machine's network.
    /// A [`Probe`] on loopback cannot reach a peer in a namespace, so [`Peer::stats`] and what
    /// uses it do not work there: talk to such a peer through its console.
    pub netns: Option<String>,
}

impl PeerConfig {
    /// A peer of the election served by the tracker on `tracker_port`.
    pub fn with_tracker(tracker_port: u16) -> PeerConfig {
        PeerConfig {
            tracker_port,
            seeds: Vec::new(),
            mining: Mining::WhenPending,
            consensus_interval_s: 2,
            gossip_interval_s: 30,
            port: 0,
            extra: Vec::new(),
            netns: None,
        }
    }

    /// Sets when the peer mines.
    pub fn mining(mut self, mining: Mining) -> PeerConfig {
        self.mining = mining;
        self
    }
}

/// A running (or killed, to be restarted) peer with its own data directory.
pub struct Peer {
    name: String,
    process: Process,
    config: PeerConfig,
    data: TempDir,
    /// Where it listens.
    pub addr: SocketAddr,
    probe: Probe,
}

impl Drop for Peer {
    /// A failing test shows the tail of the peer's log file too: its terminal (stderr, shown by
    /// [`Process`]) carries only warnings and events, the full log is in `peer.log`.
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let text = std::fs::read_to_string(self.data.path().join("peer.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let skip = lines.len().saturating_sub(40);
        eprintln!(
            "---- {}: last {} lines of peer.log ----",
            self.name,
            lines.len() - skip
        );
        for line in &lines[skip..] {
            eprintln!("{}: {line}", self.name);
        }
    }
}

impl Peer {
    /// Starts a peer with a fresh data directory and waits for its readiness line. `name` is
    /// its display and miner name, and labels its log.
    pub fn start(name: &str, config: PeerConfig) -> Peer {
        let data = TempDir::new(name);
        let (process, addr) = spawn_peer(name, &config, data.path(), config.port);
        Peer {
            name: name.to_owned(),
            process,
            config,
            data,
            addr,
            probe: Probe::new(),
        }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its data directory.
    pub fn data_dir(&self) -> &Path {
        self.data.path()
    }

    /// The running process.
    pub fn process(&mut self) -> &mut Process {
        &mut self.process
    }

    /// The address of its web page and API, from the line it prints after its readiness line
    /// (`web page and API on http://ADDR/`); waits for that line.
    pub fn http_addr(&mut self) -> SocketAddr {
        peer_web_addr(&mut self.process)
    }

    /// Kills it with SIGKILL: no LEAVE_PEER, no flushing, as in a crash or power loss.
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// Starts it again on the same port and data directory (after [`Peer::kill`]).
    pub fn restart(&mut self) {
        self.process.kill();
        let (process, addr) =
            spawn_peer(&self.name, &self.config, self.data.path(), self.addr.port());
        self.process = process;
        self.addr = addr;
    }

    /// Its chain in brief over UDP (STATS), or `None` when it does not answer.
    pub fn stats(&self) -> Option<ChainSummary> {
        self.probe.stats(self.addr)
    }

    /// Waits until it answers STATS, that is until it knows the election.
    pub fn wait_ready(&self) -> ChainSummary {
        wait_until(&format!("{} to answer STATS", self.name), DEADLINE, || {
            self.stats().ok_or_else(|| "no answer".to_owned())
        })
    }

    /// One console command; the lines printed in answer.
    pub fn console(&mut self, line: &str) -> Vec<String> {
        self.process.console(line)
    }

    /// `vote <voter> <choice>`, once the peer knows the election; returns the vote id. Panics
    /// unless the vote is accepted as pending.
    pub fn vote(&mut self, voter: &str, choice: &str) -> Hash {
        self.wait_ready();
        let answer = self.console(&format!("vote {voter} {choice}"));
        let line = answer.join("\n");
        match line.split_whitespace().collect::<Vec<_>>().as_slice() {
            ["vote", id, "pending"] => Hash::from_hex(id)
                .unwrap_or_else(|e| panic!("{}: vote id in {line:?}: {e}", self.name)),
            _ => panic!("{}: vote {voter} {choice} answered {line:?}", self.name),
        }
    }

    /// `tally`: votes per option.
    pub fn tally(&mut self) -> BTreeMap<String, u64> {
        let answer = self.console("tally");
        answer
            .iter()
            .map(|line| {
                let parsed = line
                    .rsplit_once(' ')
                    .and_then(|(option, n)| Some((option.to_owned(), n.parse().ok()?)));
                parsed.unwrap_or_else(|| panic!("{}: tally line {line:?}", self.name))
            })
            .collect()
    }

    /// The first line of `stats`: (tip height, tip hash).
    pub fn console_stats(&mut self) -> (u64, Hash) {
        let answer = self.console("stats");
        let first = answer.first().cloned().unwrap_or_default();
        match first.split_whitespace().collect::<Vec<_>>().as_slice() {
            ["height", h, "(blocks", _, "tip", hash] => (
                h.parse()
                    .unwrap_or_else(|e| panic!("{}: height in {first:?}: {e}", self.name)),
                Hash::from_hex(hash)
                    .unwrap_or_else(|e| panic!("{}: hash in {first:?}: {e}", self.name)),
            ),
            _ => panic!("{}: stats answered {answer:?}", self.name),
        }
    }

    /// `stats`, every line of it (chain summary and counters).
    pub fn console_stats_text(&mut self) -> String {
        self.console("stats").join("\n")
    }

    /// `receipt <id>`: the status line.
    pub fn receipt(&mut self, id: &Hash) -> String {
        self.console(&format!("receipt {id}")).join("\n")
    }

    /// `peers`: one line per known peer (the table's rows, without its header; none when it
    /// knows no peer).
    pub fn peers(&mut self) -> Vec<String> {
        let answer = self.console("peers");
        match answer.first().map(String::as_str) {
            Some(header) if header.starts_with("address ") => answer[1..].to_vec(),
            _ => Vec::new(),
        }
    }
}

fn spawn_peer(name: &str, config: &PeerConfig, data: &Path, port: u16) -> (Process, SocketAddr) {
    let mut args = vec![
        config.tracker_port.to_string(),
        port.to_string(),
        "--name".into(),
        name.into(),
        "--data-dir".into(),
        data.display().to_string(),
        "--consensus-interval".into(),
        config.consensus_interval_s.to_string(),
        "--gossip-interval".into(),
        config.gossip_interval_s.to_string(),
    ];
    for seed in &config.seeds {
        args.push("--seed".into());
        args.push(seed.to_string());
    }
    match config.mining {
        Mining::WhenPending => {}
        Mining::Always => args.push("--mine".into()),
        Mining::Off => args.push("--no-mine".into()),
    }
    args.extend(config.extra.iter().cloned());
    let mut process = Process::spawn(name, config.netns.as_deref(), &bin("peer"), &args, &[]);
    let addr = peer_udp_addr(&mut process);
    (process, addr)
}

/// A peer process's UDP address, from its readiness line (`peer listening on ADDR data DIR`);
/// waits for that line.
pub fn peer_udp_addr(process: &mut Process) -> SocketAddr {
    let ready = process.wait_log_from(0, "its readiness line", START_DEADLINE, |l| {
        l.starts_with("peer listening on ")
    });
    ready
        .split_whitespace()
        .nth(3)
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("unexpected readiness line {ready:?}"))
}

/// A peer process's web page and API address, from the line it prints after its readiness line
/// (`web page and API on http://ADDR/`); waits for that line.
pub fn peer_web_addr(process: &mut Process) -> SocketAddr {
    const PREFIX: &str = "web page and API on http://";
    let line = process.wait_log_from(0, "the web line", DEADLINE, |l| l.starts_with(PREFIX));
    line[PREFIX.len()..]
        .trim_end_matches('/')
        .parse()
        .unwrap_or_else(|e| panic!("the web line {line:?} names no address: {e}"))
}

/// The common chain summary of `peers`, once they all answer STATS with the same one.
pub fn agreement(peers: &[&Peer]) -> Result<ChainSummary, String> {
    let all: Vec<Option<ChainSummary>> = peers.iter().map(|p| p.stats()).collect();
    match all.first() {
        Some(Some(first)) if all.iter().all(|s| s.as_ref() == Some(first)) => Ok(*first),
        _ => Err(describe(peers, &all)),
    }
}

/// Waits until every peer answers STATS with the same (height, hash), of at least
/// `min_blocks` blocks; returns it.
pub fn wait_converged(peers: &[&Peer], min_blocks: u64, timeout: Duration) -> ChainSummary {
    wait_until(
        &format!(
            "{} peers to agree on a chain of >= {min_blocks} blocks",
            peers.len()
        ),
        timeout,
        || {
            let summary = agreement(peers)?;
            if summary.blocks >= min_blocks {
                Ok(summary)
            } else {
                Err(format!("all at {} blocks", summary.blocks))
            }
        },
    )
}

fn describe(peers: &[&Peer], all: &[Option<ChainSummary>]) -> String {
    peers
        .iter()
        .zip(all)
        .map(|(p, s)| match s {
            Some(s) => format!("{}: {} blocks tip {}", p.name, s.blocks, s.tip),
            None => format!("{}: no answer", p.name),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// A `tracker 0 --profile w4119` process serving the ballot `options` (comma-separated) and
/// poking every `heartbeat_ms` (W4119's is 1,000; 200 lets peers learn of each other quickly);
/// and its UDP address, from its readiness line (`tracker listening on ADDR profile w4119`).
pub fn spawn_w4119_tracker(options: &str, heartbeat_ms: u64) -> (Process, SocketAddr) {
    let args: Vec<String> = vec![
        "0".into(),
        "--profile".into(),
        "w4119".into(),
        "--heartbeat-ms".into(),
        heartbeat_ms.to_string(),
        "--ballot".into(),
        options.to_owned(),
    ];
    let mut process = Process::spawn("w4119 tracker", None, &bin("tracker"), &args, &[]);
    let ready = process.wait_log_from(0, "its readiness line", START_DEADLINE, |l| {
        l.starts_with("tracker listening on ") && l.ends_with(" profile w4119")
    });
    let addr = ready
        .split_whitespace()
        .nth(3)
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("unexpected readiness line {ready:?}"));
    (process, addr)
}

/// A `peer TRACKER_PORT 0 --profile w4119` process without a console, its data in `dir`/`name`
/// and its web page on a free port; and that page's address.
pub fn spawn_w4119_peer(name: &str, tracker: SocketAddr, dir: &Path) -> (Process, SocketAddr) {
    let args: Vec<String> = [
        tracker.port().to_string(),
        "0".into(),
        "--profile".into(),
        "w4119".into(),
        "--no-console".into(),
        "--http".into(),
        "127.0.0.1:0".into(),
        "--data-dir".into(),
        dir.join(name).display().to_string(),
    ]
    .to_vec();
    let mut process = Process::spawn(name, None, &bin("peer"), &args, &[]);
    let addr = peer_web_addr(&mut process);
    (process, addr)
}

/// A peer process's mining port, from the line it prints after its readiness line
/// (`mining port on ADDR (miner --connect ADDR)`); waits for that line.
pub fn mining_port_addr(process: &mut Process) -> SocketAddr {
    const PREFIX: &str = "mining port on ";
    let line = process.wait_log_from(0, "the mining port line", DEADLINE, |l| {
        l.starts_with(PREFIX)
    });
    line[PREFIX.len()..]
        .split_whitespace()
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("the mining port line {line:?} names no address"))
}

/// A `miner --connect port --threads 1 --name name --report-every 1` process.
pub fn spawn_miner(name: &str, port: SocketAddr, extra: &[&str]) -> Process {
    let mut args: Vec<String> = vec![
        "--connect".into(),
        port.to_string(),
        "--threads".into(),
        "1".into(),
        "--name".into(),
        name.into(),
        "--report-every".into(),
        "1".into(),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    Process::spawn(name, None, &bin("miner"), &args, &[])
}

/// A `peer 0 0 --profile comp3010 --difficulty 2 --no-console --http 127.0.0.1:0` process named
/// `name` with its data in `dir`/`name` and `extra` flags; and its web address, from the line
/// that names it.
pub fn spawn_course_peer(name: &str, dir: &TempDir, extra: &[&str]) -> (Process, SocketAddr) {
    let mut args: Vec<String> = [
        "0",
        "0",
        "--profile",
        "comp3010",
        "--difficulty",
        "2",
        "--no-console",
        "--http",
        "127.0.0.1:0",
        "--name",
        name,
        "--data-dir",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(dir.path().join(name).display().to_string());
    args.extend(extra.iter().map(|s| s.to_string()));
    let mut process = Process::spawn(name, None, &bin("peer"), &args, &[]);
    let addr = peer_web_addr(&mut process);
    (process, addr)
}
