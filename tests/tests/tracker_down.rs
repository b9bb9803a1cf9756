//! Issue 5, test (e): with the tracker killed, peers that already know each other keep voting
//! and agreeing through gossip and relay, and a peer that joins through a `--seed` alone is
//! found by gossip; when the tracker comes back on the same port, the peers register again.

use votechain_tests::{
    wait_converged, wait_until, Peer, PeerConfig, Tracker, TrackerConfig, DEADLINE,
};

/// True when `peer`'s `peers` list names `addr`.
fn knows(peer: &mut Peer, addr: std::net::SocketAddr) -> bool {
    let addr = addr.to_string();
    peer.peers()
        .iter()
        .any(|l| l.split_whitespace().next() == Some(&addr))
}

#[test]
fn votes_spread_without_the_tracker_and_peers_register_again() {
    let mut tracker = Tracker::start(TrackerConfig::default());
    let mut peers: Vec<Peer> = (0..3)
        .map(|i| Peer::start(&format!("e{i}"), PeerConfig::with_tracker(tracker.port())))
        .collect();
    for peer in &peers {
        peer.wait_ready();
    }
    let addrs: Vec<_> = peers.iter().map(|p| p.addr).collect();
    wait_until("every peer to know the other two", DEADLINE, || {
        for peer in peers.iter_mut() {
            for addr in &addrs {
                if *addr != peer.addr && !knows(peer, *addr) {
                    return Err(format!("{} does not know {addr}", peer.name()));
                }
            }
        }
        Ok(())
    });

    tracker.kill();

    // A vote still reaches everyone.
    peers[0].vote("first", "Adam");
    let refs: Vec<&Peer> = peers.iter().collect();
    wait_converged(&refs, 2, DEADLINE);

    // A newcomer that knows one peer only, and no tracker, is found by gossip, and its vote
    // reaches everyone.
    let mut seeded = PeerConfig::with_tracker(0);
    seeded.seeds.push(peers[0].addr);
    let mut newcomer = Peer::start("e-new", seeded);
    newcomer.wait_ready();
    let newcomer_addr = newcomer.addr;
    wait_until("the first peer to know the newcomer", DEADLINE, || {
        knows(&mut peers[0], newcomer_addr)
            .then_some(())
            .ok_or_else(|| format!("{:?}", peers[0].peers()))
    });
    newcomer.vote("second", "Bob");
    wait_until("both votes to be counted everywhere", DEADLINE, || {
        for peer in peers.iter_mut().chain(std::iter::once(&mut newcomer)) {
            let tally = peer.tally();
            if tally.get("Adam") != Some(&1) || tally.get("Bob") != Some(&1) {
                return Err(format!("{} counts {tally:?}", peer.name()));
            }
        }
        Ok(())
    });
    let mut everyone: Vec<&Peer> = peers.iter().collect();
    everyone.push(&newcomer);
    wait_converged(&everyone, 3, DEADLINE);

    // The tracker restarts on its port, knowing nobody: every peer that had registered comes
    // back by itself.
    tracker.restart();
    for addr in &addrs {
        let joined = format!("peer {addr} ");
        tracker.process().wait_log_from(
            0,
            &format!("{addr} to register again"),
            DEADLINE,
            |line| line.contains(&joined) && line.contains(" joined"),
        );
    }
}
