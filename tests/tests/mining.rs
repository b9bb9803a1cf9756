//! Issue 15, external miners, against real processes: a peer with a mining port and no mining
//! of its own (`--no-mine --mining-listen`), `miner` processes that mine the votes of a small
//! network (every peer counts them), a miner killed mid-job and restarted resumes; and, with a
//! hand-driven client (`votechain_tests::stratum`), every share check answering its code:
//! accepted, duplicate (22), wrong prefix (26), low (23), stale after the tip moved (21), not
//! subscribed (25), a wrong token (24). The hostile-client test is `mining_hostile.rs`.

use serde_json::json;
use votechain_tests::stratum::{find_nonce, StratumClient};
use votechain_tests::web::{http, http_json};
use votechain_tests::{
    mining_port_addr, spawn_miner, wait_converged, wait_until, Mining, Peer, PeerConfig, Tracker,
    TrackerConfig, DEADLINE,
};

/// A peer of `tracker` that only hands work to external miners, on a free loopback port.
fn pool_peer(name: &str, tracker: &Tracker, extra: &[&str]) -> Peer {
    let mut config = PeerConfig::with_tracker(tracker.port()).mining(Mining::Off);
    config.extra = ["--mining-listen", "127.0.0.1:0"]
        .iter()
        .chain(extra)
        .map(|s| s.to_string())
        .collect();
    Peer::start(name, config)
}

/// Waits until every peer counts `n` votes for "Adam".
fn wait_counted(peers: &mut [&mut Peer], n: u64) {
    wait_until(&format!("every peer to count {n} votes"), DEADLINE, || {
        for peer in peers.iter_mut() {
            let counted = peer.tally().get("Adam").copied().unwrap_or(0);
            if counted != n {
                return Err(format!("{} counts {counted}", peer.name()));
            }
        }
        Ok(())
    });
}

#[test]
fn miners_mine_the_votes_of_a_network_and_a_restarted_miner_resumes() {
    let tracker = Tracker::start(TrackerConfig::default());
    let mut pool = pool_peer("pool", &tracker, &[]);
    let port = mining_port_addr(pool.process());
    // The other peers mine nothing either: a vote cast at them is relayed to the pool peer.
    let mut b = Peer::start(
        "b",
        PeerConfig::with_tracker(tracker.port()).mining(Mining::Off),
    );
    let mut c = Peer::start(
        "c",
        PeerConfig::with_tracker(tracker.port()).mining(Mining::Off),
    );
    let mut m1 = spawn_miner("m1", port, &[]);
    let mut m2 = spawn_miner("m2", port, &[]);
    for m in [&mut m1, &mut m2] {
        m.wait_stdout("the miner to connect", DEADLINE, |l| {
            l.contains("connected to")
        });
    }
    pool.vote("v0", "Adam");
    b.vote("v1", "Adam");
    c.vote("v2", "Adam");
    wait_counted(&mut [&mut pool, &mut b, &mut c], 3);
    wait_converged(&[&pool, &b, &c], 2, DEADLINE);
    let stats = pool.console_stats_text();
    assert!(
        stats.contains("miner m1") && stats.contains("miner m2"),
        "both miners are listed: {stats}"
    );
    let found: u64 = stats
        .split(" blocks found")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no blocks-found count in {stats}"));
    assert!(found >= 1, "the miners found the blocks: {stats}");
    // The page's status and /metrics show them too (both refreshed twice a second).
    let web = pool.http_addr();
    let status = wait_until(
        "the status and metrics to show both miners",
        DEADLINE,
        || {
            let (_, status) = http_json(web, "GET", "/api/status", "");
            let names: Vec<&str> = status["pool"]["miners"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| m["name"].as_str())
                .collect();
            let (_, _, metrics) = http(web, "GET", "/metrics", "");
            let miners = metrics
                .lines()
                .any(|l| l.starts_with("votechain_pool_miners{") && l.ends_with(" 2"));
            let accepted = metrics
                .lines()
                .any(|l| l.starts_with("votechain_pool_shares_total{") && l.contains("accepted"));
            match names.len() == 2 && miners && accepted {
                true => Ok(status),
                false => Err(format!("status pool {} metrics {metrics}", status["pool"])),
            }
        },
    );
    // Miners that found a block stop until the next job: nobody floods the port.
    let pool_status = &status["pool"];
    assert_eq!(
        pool_status["shares"]["rate_limited"],
        json!(0),
        "{pool_status}"
    );
    assert_eq!(
        pool_status["closed"]["slow_readers"],
        json!(0),
        "{pool_status}"
    );

    // A miner killed mid-job; the other mines on.
    m1.kill();
    pool.vote("v3", "Adam");
    wait_counted(&mut [&mut pool, &mut b, &mut c], 4);
    // Restarted, it resumes: with the other gone, only it can mine the next vote.
    let mut m1 = spawn_miner("m1", port, &[]);
    m1.wait_stdout("the restarted miner to connect", DEADLINE, |l| {
        l.contains("connected to")
    });
    m2.kill();
    pool.vote("v4", "Adam");
    wait_counted(&mut [&mut pool, &mut b, &mut c], 5);
    // Ctrl-C stops the miner cleanly with its totals.
    m1.interrupt();
    let status = m1.wait_exit(DEADLINE);
    assert!(status.success(), "the miner exits 0 on Ctrl-C: {status:?}");
    m1.wait_stdout("the miner's totals", DEADLINE, |l| {
        l.contains("stopped after")
    });
}

#[test]
fn every_share_check_answers_its_code() {
    // 20 bits: a share at the session's 16 bits is rarely a block, and the test can still
    // mine the block itself in a second or two.
    let tracker = Tracker::start(TrackerConfig {
        difficulty: 20,
        ..TrackerConfig::default()
    });
    let mut pool = pool_peer("pool", &tracker, &["--mining-token", "s3cret"]);
    let port = mining_port_addr(pool.process());

    // Before subscribing, and with a wrong token.
    let mut stranger = StratumClient::connect(port);
    assert_eq!(stranger.submit("1", 0), Err(25), "not subscribed");
    assert_eq!(stranger.login("x", Some("guess")), Err(24), "a wrong token");
    assert_eq!(stranger.submit("1", 0), Err(24), "not authorized");

    let mut client = StratumClient::connect(port);
    client
        .login("probe", Some("s3cret"))
        .expect("the right token");
    pool.vote("v0", "Adam");
    let first = client.wait_job(DEADLINE, |_| true);
    let job = first.job.clone();
    let share_bits = client.share_bits;
    assert!(share_bits < job.block_bits(), "share {share_bits} bits");

    let share = find_nonce(&job, client.prefix, 0, share_bits, Some(job.block_bits()));
    assert_eq!(client.submit(&first.job_id, share), Ok(json!(true)));
    assert_eq!(client.submit(&first.job_id, share), Err(22), "a duplicate");
    let foreign = find_nonce(&job, client.prefix ^ 1, 0, share_bits, None);
    assert_eq!(
        client.submit(&first.job_id, foreign),
        Err(26),
        "another prefix"
    );
    let low = (0..)
        .map(|c| (u64::from(client.prefix) << 48) | c)
        .find(|&n| !job.meets(&job.state_for(n), share_bits))
        .expect("a low share");
    assert_eq!(client.submit(&first.job_id, low), Err(23), "too low");

    // The block: the peer builds it from its template and counts the vote.
    let block = find_nonce(&job, client.prefix, 0, job.block_bits(), None);
    assert_eq!(client.submit(&first.job_id, block), Ok(json!(true)));
    wait_counted(&mut [&mut pool], 1);

    // The tip moved: the next vote's job is clean, and a share of the old job is stale.
    pool.vote("v1", "Adam");
    let next = client.wait_job(DEADLINE, |j| j.job_id != first.job_id && j.clean);
    assert_ne!(next.job.height(), job.height());
    let after = (share & ((1 << (64 - votechain_pool::PREFIX_BITS)) - 1)) + 1;
    let late = find_nonce(&job, client.prefix, after, share_bits, None);
    assert_eq!(client.submit(&first.job_id, late), Err(21), "stale");

    let stats = pool.console_stats_text();
    assert!(
        stats.contains("1 blocks found") && stats.contains("miner probe"),
        "{stats}"
    );
}
