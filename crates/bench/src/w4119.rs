//! `bench w4119`: how fast W4119 peers join a tracker. Our tracker under `--profile w4119`
//! confirms a registration only once the address has answered a POKE (SECURITY.md, "Profile
//! w4119"); W4119's own tracker registers whoever sends REGISTER_PEER. The cost of that
//! confirmation is the figure: `--peers` W4119-style peers (the independent implementation of
//! `votechain-w4119host`, each on its own loopback address) start at once against our tracker
//! (in this process) and against the independent W4119 tracker, in alternating order over
//! `--rounds` rounds; each peer's join time runs from its start until its REGISTER_ACK. The
//! issue's target: every W4119 peer joins within 2 s.

use crate::swarm::Tracker;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use votechain_chain::Ballot;
use votechain_w4119host::{W4119Peer, W4119PeerConfig, W4119Tracker};

/// The slowest join, at most.
const TARGET_JOIN: Duration = Duration::from_secs(2);
/// A round gives up on a peer after this.
const GIVE_UP: Duration = Duration::from_secs(30);

/// Options of `bench w4119`.
#[derive(clap::Args)]
pub struct Args {
    /// Rounds; each measures both trackers once, in alternating order.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// W4119 peers joining at once, per round and tracker.
    #[arg(long, default_value_t = 20)]
    peers: u8,
}

/// Runs the benchmark.
pub fn run(args: Args) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    let mut ours: Vec<Duration> = Vec::new();
    let mut theirs: Vec<Duration> = Vec::new();
    for round in 0..args.rounds {
        for which in [round % 2, 1 - round % 2] {
            match which {
                0 => {
                    let _guard = runtime.enter();
                    let mut config = votechain_tracker::Config::new(Ballot::open(
                        "bench",
                        &["Adam", "Bob", "Catherine"],
                        16,
                    ));
                    config.dialect = Arc::new(votechain_proto::dialect::W4119);
                    let tracker = Tracker::start_with(config)?;
                    ours.extend(join_all(tracker.addr, args.peers)?);
                }
                _ => {
                    let tracker = W4119Tracker::start(&["Adam", "Bob", "Catherine"])?;
                    theirs.extend(join_all(tracker.addr(), args.peers)?);
                }
            }
        }
    }
    let (ours_med, ours_max) = (median(&mut ours), max(&ours));
    let (theirs_med, theirs_max) = (median(&mut theirs), max(&theirs));
    println!(
        "W4119 peers joining a tracker, {} per round, {} rounds:",
        args.peers, args.rounds
    );
    println!("  tracker              median join    slowest join");
    println!(
        "  ours (--profile w4119) {:>9.1} ms  {:>11.1} ms",
        ms(ours_med),
        ms(ours_max)
    );
    println!(
        "  W4119's               {:>9.1} ms  {:>11.1} ms",
        ms(theirs_med),
        ms(theirs_max)
    );
    let verdict = if ours_max <= TARGET_JOIN {
        "met"
    } else {
        "MISSED"
    };
    println!("  every join within {} s: {verdict}", TARGET_JOIN.as_secs());
    println!(
        "RESULT w4119 peers={} rounds={} ours_median_ms={:.1} ours_max_ms={:.1} theirs_median_ms={:.1} theirs_max_ms={:.1} target_max_ms={} verdict={verdict}",
        args.peers,
        args.rounds,
        ms(ours_med),
        ms(ours_max),
        ms(theirs_med),
        ms(theirs_max),
        TARGET_JOIN.as_millis()
    );
    Ok(())
}

/// Starts `n` W4119 peers against `tracker` at once; each one's time to its REGISTER_ACK.
fn join_all(tracker: SocketAddr, n: u8) -> anyhow::Result<Vec<Duration>> {
    let start = Instant::now();
    let mut peers = Vec::new();
    for i in 0..n {
        let cfg = W4119PeerConfig {
            ip: Ipv4Addr::new(127, 0, 1, i.wrapping_add(1)),
            ..W4119PeerConfig::default()
        };
        peers.push((Instant::now(), W4119Peer::start(tracker, cfg)?));
    }
    let mut joined: Vec<Option<Duration>> = vec![None; peers.len()];
    while joined.iter().any(Option::is_none) && start.elapsed() < GIVE_UP {
        for (slot, (began, peer)) in joined.iter_mut().zip(&peers) {
            if slot.is_none() && peer.registered() {
                *slot = Some(began.elapsed());
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(joined.into_iter().map(|j| j.unwrap_or(GIVE_UP)).collect())
}

fn median(values: &mut [Duration]) -> Duration {
    values.sort();
    values.get(values.len() / 2).copied().unwrap_or_default()
}

fn max(values: &[Duration]) -> Duration {
    values.iter().copied().max().unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
