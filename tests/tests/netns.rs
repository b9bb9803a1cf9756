//! Real binaries on real addresses: the tracker and each peer in a network namespace of its own,
//! with its own address on a private bridge (10.77.x.0/24, created and removed by the test, with
//! no route off the bridge, so nothing leaves the machine), 20 % of incoming UDP datagrams dropped
//! at random by nftables in every namespace. The peers are started as README's "Several machines"
//! says: bound to 0.0.0.0, half of them learning the address to advertise from the tracker
//! (which the test checks they log), half told it with `--advertise`. Each peer casts a vote on
//! its console; the test waits until every peer reports the same tally with every vote counted.
//!
//! It needs root, `ip` with netns support and `nft`. Where one is missing it prints why and
//! returns (a pass, not an `#[ignore]`): `.ci/run` installs nftables when it runs as root.
//! Processes are killed when their handles drop and namespaces and bridge are removed when the
//! [`Lab`] drops, so also on a panic.

use std::time::Duration;
use votechain_tests::netns::{self, Lab};
use votechain_tests::{wait_until, Peer, PeerConfig, Tracker, TrackerConfig};

const N_PEERS: usize = 4;

/// Share of incoming UDP datagrams every namespace drops.
const LOSS_PERCENT: u8 = 20;

/// The port every peer listens on, inside its own namespace.
const PEER_PORT: u16 = 6001;

/// How long the peers may take to agree: registration and sync retry through the loss.
const CONVERGENCE_DEADLINE: Duration = Duration::from_secs(90);

/// The counts of a `tally` answer, in the order of `options`; an option the answer does not
/// list (the election is not known yet) counts 0.
fn counts(answer: &[String], options: &[String]) -> Vec<u64> {
    let mut counts = vec![0; options.len()];
    for line in answer {
        let mut words = line.split_whitespace();
        if let (Some(option), Some(n), None) = (words.next(), words.next(), words.next()) {
            if let (Some(o), Ok(n)) = (options.iter().position(|x| x == option), n.parse()) {
                counts[o] = n;
            }
        }
    }
    counts
}

#[test]
fn namespaces_with_nftables_loss_converge() {
    if let Some(reason) = netns::unsupported() {
        eprintln!("netns test skipped: {reason}");
        return;
    }
    // Declared before the processes, so it is dropped after they are killed.
    let mut lab = Lab::create();

    let tracker_ns = lab.add_namespace(LOSS_PERCENT);
    let tracker = Tracker::start(TrackerConfig {
        extra: vec!["--bind".into(), tracker_ns.ip.to_string()],
        netns: Some(tracker_ns.name),
        ..TrackerConfig::default()
    });
    let options = tracker.ballot().options;

    let mut peers: Vec<(Peer, std::net::Ipv4Addr)> = (0..N_PEERS)
        .map(|i| {
            let ns = lab.add_namespace(LOSS_PERCENT);
            let mut config = PeerConfig::with_tracker(tracker.port());
            config.gossip_interval_s = 5;
            config.port = PEER_PORT;
            config.extra = vec![
                "--tracker-host".into(),
                tracker.addr.ip().to_string(),
                "--bind".into(),
                "0.0.0.0".into(),
            ];
            if i % 2 == 1 {
                config.extra.push("--advertise".into());
                config.extra.push(format!("{}:{PEER_PORT}", ns.ip));
            }
            config.netns = Some(ns.name);
            (Peer::start(&format!("ns-peer{i}"), config), ns.ip)
        })
        .collect();
    // Bound to 0.0.0.0 without --advertise, a peer takes the address the tracker saw.
    for (i, (peer, ip)) in peers.iter_mut().enumerate() {
        let expected = format!("the tracker sees this peer at {ip}:{PEER_PORT}");
        if i % 2 == 0 {
            peer.process()
                .wait_log("the learned address", CONVERGENCE_DEADLINE, |l| {
                    l.contains(&expected)
                });
        }
    }
    let mut peers: Vec<Peer> = peers.into_iter().map(|(peer, _)| peer).collect();

    // Every peer votes once it knows the election (20 % loss: registration retries).
    let expected: Vec<u64> = (0..options.len())
        .map(|o| (0..N_PEERS).filter(|i| i % options.len() == o).count() as u64)
        .collect();
    let mut voted = [false; N_PEERS];
    wait_until(
        "every peer to count every vote",
        CONVERGENCE_DEADLINE,
        || {
            for (i, peer) in peers.iter_mut().enumerate() {
                if !voted[i] {
                    let vote = format!("vote voter{i} {}", options[i % options.len()]);
                    // A vote already made (an answer missed under loss): "the same vote".
                    voted[i] = peer.console(&vote).iter().any(|l| {
                        l.contains(" pending")
                            || l.contains("already known")
                            || l.contains("has already voted: this is the same vote")
                    });
                }
            }
            let tallies: Vec<Vec<u64>> = peers
                .iter_mut()
                .map(|p| counts(&p.console("tally"), &options))
                .collect();
            if voted.iter().all(|v| *v) && tallies.iter().all(|t| *t == expected) {
                Ok(())
            } else {
                Err(format!(
                    "voted {voted:?}, tallies {tallies:?}, expected {expected:?}"
                ))
            }
        },
    );
    eprintln!("netns: {N_PEERS} peers in namespaces agree on the tally {expected:?}");
}
