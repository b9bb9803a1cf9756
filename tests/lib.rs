//! The process-test harness, the one place where tests spawn the real `tracker` and `peer`
//! binaries: on 127.0.0.1 with free ports and temporary data directories (or in network
//! namespaces), driven through their consoles (stdin/stdout) and over UDP, and observed through
//! their logs (stderr).
//!
//! - [`binaries`]: builds and finds the binaries (why and how: see there).
//! - [`process`]: one child process: log capture, console lines with answers, exit status,
//!   kill on drop.
//! - [`probe`]: a UDP socket that echoes address cookies, to ask peers for STATS, play a
//!   tracker's member, and send hand-made datagrams.
//! - [`swarm`]: [`swarm::Tracker`] and [`swarm::Peer`] with their configs, temporary
//!   directories, and waiting with deadlines until the network agrees.
//! - [`netns`]: network namespaces on a private bridge with nftables packet loss.
//! - [`web`]: plain HTTP exchanges with a peer's web server.
//! - [`stratum`]: a hand-driven mining-port client with brute-force share search.
//!
//! The scenarios are in `tests/*.rs`, issue 5's "Tests" (a)–(f): `election.rs` (a),
//! `restart.rs` (b), `late_joiner.rs` (c), `fork.rs` (d), `tracker_down.rs` (e), `hostile.rs`
//! (f); two found while writing them: `out_of_order.rs` (an honest sender of out-of-order
//! blocks is not banned) and `mining_storm.rs` (a vote makes a few blocks, not hundreds);
//! `data_dir_lock.rs` (one process per data directory); `tracker_process.rs` (the tracker
//! alone, driven by hand-made members: registration, eviction, leaving, hostile datagrams,
//! signals and exit codes); `netns.rs` (tracker and peers in namespaces with 20 % loss);
//! `terminal.rs` (the peer's and the election's console in a pseudo-terminal: prompt, help,
//! history, Ctrl-D, Ctrl-C); and `logging.rs` (a calm terminal, the full log in `peer.log`,
//! `-q`, `--log-format json`); `api.rs` (the peer's HTTP API and its events), `metrics.rs`
//! (`/metrics`) and `election_pages.rs` (the election's web pages, `--open`, `--no-http`);
//! `comp3010.rs` (the peer's `--profile comp3010` against the independent course host of
//! `votechain-coursehost`). A peer's stderr carries only warnings and events for people; a
//! failing test also prints the tail of each peer's `peer.log`.
//!
//! Every wait polls with a generous deadline and never sleeps for correctness (STYLE.md rule
//! 6); every process is killed when its handle drops, including while a failing test unwinds,
//! and then prints the tail of its log (`VOTECHAIN_TEST_LOGS=all` prints all of it, `always`
//! also for passing tests). `RUST_LOG` reaches the peers; the trackers log at info (tests read
//! their "joined" lines) unless `VOTECHAIN_TRACKER_LOG` says otherwise.

pub mod binaries;
pub mod netns;
pub mod probe;
pub mod process;
pub mod stratum;
pub mod swarm;
pub mod web;

pub use probe::{ChainSummary, Probe};
pub use swarm::{
    agreement, mining_port_addr, peer_udp_addr, peer_web_addr, spawn_course_peer, spawn_miner,
    spawn_w4119_peer, spawn_w4119_tracker, wait_converged, wait_until, Mining, Peer, PeerConfig,
    TempDir, Tracker, TrackerConfig, DEADLINE,
};
