//! Syncing a course chain: the course's stop-and-wait client against our course peer, both
//! through course-style hosts behind delay relays.
//!
//! The hosts ([`votechain_coursehost::Host`], written from the course's specification, sharing
//! no code with us) start holding the chain. Each stands behind a [`votechain_coursehost::Relay`]
//! that delays every datagram by half the RTT in each direction, so a client reaches a host only
//! through its relay. The stop-and-wait baseline is [`votechain_coursehost::sync_stop_and_wait`]
//! (one GET_BLOCK in flight, the course implementations' method) over one relay. Our peer runs
//! in this process: [`open_course_node`] and the course shell on the bench's runtime, the three
//! relays as its seeds, its events on a channel stamped with this process's clock.

use super::gate::Gate;
use super::Args;
use crate::swarm;
use anyhow::Context as _;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use votechain_coursehost::{Block, Host, Relay};
use votechain_peer::course::shell::{self, CourseShellConfig};
use votechain_peer::course::start::open_course_node;
use votechain_peer::course::{CourseConfig, CourseEvent};
use votechain_peer::shell::{now_ms, ConsoleInput};

/// The stop-and-wait baseline: `blocks` fetched in `secs`.
pub struct StopWait {
    /// Blocks fetched (heights `0..blocks`).
    pub blocks: u64,
    /// Seconds taken.
    pub secs: f64,
}

impl StopWait {
    /// Blocks per second.
    pub fn blocks_per_s(&self) -> f64 {
        if self.secs > 0.0 {
            self.blocks as f64 / self.secs
        } else {
            0.0
        }
    }
}

/// What one run of our peer did, in ms from its start.
#[derive(Default)]
pub struct PeerRun {
    /// The first consensus round chose the chain.
    pub consensus_ms: Option<u64>,
    /// The first block was added.
    pub first_block_ms: Option<u64>,
    /// It held the whole chain.
    pub done_ms: Option<u64>,
    /// Blocks it held at the end.
    pub blocks: u64,
    /// Its top block is the hosts' top block.
    pub same_tip: bool,
    /// Peers that answered the first round.
    pub answered: usize,
    /// Candidates given up, with the reason.
    pub failures: Vec<String>,
    /// GET_BLOCK requests the hosts received during the run (the chain has `blocks` heights:
    /// the excess is resends).
    pub get_blocks: u64,
    /// STATS requests the hosts received during the run.
    pub stats: u64,
    /// Datagrams the relays dropped during the run.
    pub relay_dropped: u64,
    /// The longest time between two consecutive new tips while syncing, in ms, and the block
    /// count after it: a stall of the peer, a host or a relay shows here.
    pub longest_gap: Option<(u64, u64)>,
    /// When the gates closed for the stall experiment: ms from the start, blocks held.
    pub stalled_at: Option<(u64, u64)>,
    /// UDP datagrams the machine dropped on a full receive buffer during the run (every
    /// process counts, so it is a hint).
    pub rcvbuf_errors: u64,
}

impl PeerRun {
    /// Blocks per second over the whole run (`blocks` / time to done).
    pub fn blocks_per_s(&self, blocks: u64) -> f64 {
        self.done_ms
            .map_or(0.0, |ms| blocks as f64 / (ms.max(1) as f64 / 1e3))
    }

    /// Blocks per second from the first block to done.
    pub fn blocks_per_s_after_first(&self, blocks: u64) -> Option<f64> {
        match (self.first_block_ms, self.done_ms) {
            (Some(a), Some(b)) if b > a => Some(blocks as f64 / ((b - a) as f64 / 1e3)),
            _ => None,
        }
    }
}

/// The served chain with its hosts and relays.
pub struct Network {
    /// The chain, genesis first.
    pub chain: Vec<Block>,
    /// Seconds it took to mine.
    pub mined_secs: f64,
    hosts: Vec<Host>,
    relays: Vec<Relay>,
}

impl Network {
    /// Mines the chain and starts `hosts` hosts holding it, each behind a relay.
    pub fn start(args: &Args) -> anyhow::Result<Network> {
        let started = std::time::Instant::now();
        let chain = votechain_coursehost::mine_chain(
            usize::try_from(args.blocks)?,
            args.difficulty as usize,
            "coursehost",
            3010,
        );
        let mined_secs = started.elapsed().as_secs_f64();
        let delay = Duration::from_millis(args.rtt_ms / 2);
        let mut hosts = Vec::new();
        let mut relays = Vec::new();
        for i in 0..args.hosts {
            let mut cfg = votechain_coursehost::HostConfig::new(
                format!("course-host-{i}"),
                args.difficulty as usize,
            );
            cfg.chain = chain.clone();
            let host = Host::start(cfg).context("starting a course host")?;
            relays.push(Relay::start(host.addr(), delay).context("starting a relay")?);
            hosts.push(host);
        }
        Ok(Network {
            chain,
            mined_secs,
            hosts,
            relays,
        })
    }

    /// The relays' addresses, where clients send.
    pub fn relay_addrs(&self) -> Vec<SocketAddr> {
        self.relays.iter().map(Relay::addr).collect()
    }

    /// GET_BLOCK requests the hosts received, one figure per host.
    pub fn get_blocks(&self) -> Vec<u64> {
        self.hosts.iter().map(|h| h.received("GET_BLOCK")).collect()
    }

    fn stats(&self) -> u64 {
        self.hosts.iter().map(|h| h.received("STATS")).sum()
    }

    /// Datagrams the relays dropped so far.
    pub fn relay_dropped(&self) -> u64 {
        self.relays.iter().map(Relay::dropped).sum()
    }

    /// Datagrams the relays delivered so far.
    pub fn relayed(&self) -> u64 {
        self.relays.iter().map(Relay::relayed).sum()
    }

    /// The stop-and-wait client over the first relay: heights `0..blocks`, 1 s per try.
    pub fn stop_and_wait(&self, blocks: u64) -> anyhow::Result<StopWait> {
        let relay = self.relays.first().context("no relay")?;
        let (got, elapsed) =
            votechain_coursehost::sync_stop_and_wait(relay.addr(), blocks, Duration::from_secs(1))
                .context("the stop-and-wait client failed")?;
        anyhow::ensure!(
            got.as_slice() == &self.chain[..got.len()],
            "the stop-and-wait client fetched blocks other than the hosts' chain"
        );
        Ok(StopWait {
            blocks: got.len() as u64,
            secs: elapsed.as_secs_f64(),
        })
    }
}

/// The course configuration of our peer at `addr`: the defaults with the relays as seeds, the
/// bench's difficulty, and the window and per-peer limit if `args` sets them.
pub fn peer_config(args: &Args, addr: SocketAddr, seeds: Vec<SocketAddr>) -> CourseConfig {
    let mut cfg = CourseConfig::new("votechain-bench".to_owned(), addr, seeds);
    cfg.difficulty = args.difficulty;
    if let Some(window) = args.window {
        cfg.download.window = window;
    }
    if let Some(per_peer) = args.per_peer {
        cfg.download.per_peer = per_peer;
    }
    cfg
}

/// Runs our peer from an empty data dir until it holds the chain (or the deadline).
pub async fn our_peer(
    args: &Args,
    net: &Network,
    data_dir: &Path,
    seed: u64,
) -> anyhow::Result<PeerRun> {
    let want = net.chain.len() as u64;
    let top = net.chain.last().context("the chain is empty")?.hash.clone();
    let socket = swarm::bind_loopback()?;
    // `bind_loopback` enlarges the buffers before binding; asking again costs nothing and says
    // what the peer runs with whoever binds it.
    votechain_runtime::net::enlarge_buffers(&socket);
    // The stall experiment puts a gate in front of each relay and closes the first
    // `--stall-hosts` of them at once; the others get a channel whose sender is gone at once,
    // so they stay open.
    let (close, closed) = tokio::sync::watch::channel(false);
    let never_closed = tokio::sync::watch::channel(false).1;
    let gates: Vec<Gate> = if args.stall_ms > 0 {
        net.relay_addrs()
            .into_iter()
            .enumerate()
            .map(|(i, relay)| {
                let gate = if i < args.stall_hosts {
                    closed.clone()
                } else {
                    never_closed.clone()
                };
                Gate::start(relay, gate)
            })
            .collect::<anyhow::Result<_>>()?
    } else {
        Vec::new()
    };
    let seeds = if gates.is_empty() {
        net.relay_addrs()
    } else {
        gates.iter().map(|g| g.addr).collect()
    };
    let mut close = (args.stall_ms > 0).then_some(close);
    let mut cfg = peer_config(args, socket.local_addr()?, seeds);
    cfg.rng_seed = seed;
    let (node, store) = open_course_node(cfg, data_dir)?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let stop = CancellationToken::new();
    let shell_cfg = CourseShellConfig {
        data_dir: data_dir.to_path_buf(),
        miner_threads: 1,
        mining_port: None,
        console: ConsoleInput::None,
        events: Some(tx),
        http: None,
    };
    let (get_blocks0, stats0, dropped0, rcvbuf0) = (
        net.get_blocks().iter().sum::<u64>(),
        net.stats(),
        net.relay_dropped(),
        swarm::udp_rcvbuf_errors(),
    );
    let started = now_ms();
    let shell = shell::run(
        socket,
        node,
        store,
        shell_cfg,
        stop.clone().cancelled_owned(),
    );
    let end = Instant::now() + Duration::from_secs(args.deadline_s);
    let watch = async {
        let mut run = PeerRun::default();
        let mut last_tip_ms = None;
        while run.done_ms.is_none() {
            let (at, event) = match tokio::time::timeout_at(end, rx.recv()).await {
                Ok(Some(e)) => e,
                Ok(None) => break,
                Err(_) => {
                    println!(
                        "our peer: deadline of {} s reached at {} blocks",
                        args.deadline_s, run.blocks
                    );
                    break;
                }
            };
            let since = at.saturating_sub(started);
            match event {
                CourseEvent::ConsensusChose { answered, .. } => {
                    run.consensus_ms.get_or_insert(since);
                    run.answered = run.answered.max(answered);
                }
                CourseEvent::ConsensusKept { answered, .. } => {
                    run.answered = run.answered.max(answered);
                    run.failures
                        .push(format!("a consensus round kept our chain at {since} ms"));
                }
                CourseEvent::CandidateFailed { blocks, reason } => run.failures.push(format!(
                    "the chain of {blocks} failed at {since} ms: {reason}"
                )),
                CourseEvent::TipChanged { height, hash, .. } => {
                    if let Some(last) = last_tip_ms {
                        let gap = since.saturating_sub(last);
                        if run.longest_gap.is_none_or(|(g, _)| gap > g) {
                            run.longest_gap = Some((gap, height + 1));
                        }
                    }
                    last_tip_ms = Some(since);
                    run.first_block_ms.get_or_insert(since);
                    run.blocks = height + 1;
                    if run.blocks >= args.stall_at {
                        if let Some(close) = close.take() {
                            let _ = close.send(true);
                            run.stalled_at = Some((since, run.blocks));
                            let stall = Duration::from_millis(args.stall_ms);
                            tokio::spawn(async move {
                                tokio::time::sleep(stall).await;
                                let _ = close.send(false);
                            });
                        }
                    }
                    run.same_tip = hash.to_hex() == top;
                    if run.blocks >= want {
                        run.done_ms = Some(since);
                    }
                }
                CourseEvent::Synced { blocks } if blocks >= want => {
                    run.blocks = blocks;
                    run.done_ms = Some(since);
                }
                _ => {}
            }
        }
        stop.cancel();
        run
    };
    let (outcome, mut run) = tokio::join!(shell, watch);
    outcome.context("our course peer stopped with an error")?;
    run.get_blocks = net.get_blocks().iter().sum::<u64>() - get_blocks0;
    run.stats = net.stats() - stats0;
    run.relay_dropped = net.relay_dropped() - dropped0;
    run.rcvbuf_errors = swarm::udp_rcvbuf_errors().saturating_sub(rcvbuf0);
    drop(gates);
    Ok(run)
}
