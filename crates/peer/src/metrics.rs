//! Prometheus metrics for the peer: one `metrics-exporter-prometheus` recorder per process,
//! installed by [`install`] without the exporter's own HTTP listener, rendered as Prometheus
//! text by [`render`] (for the peer's HTTP server to serve at `/metrics`, issue 12). The sans-IO node knows
//! nothing of this crate: [`PeerMetrics::record`] copies the node's counters ([`NodeStats`]),
//! its chain and peer table into the recorder after each drain of the shell's loop, through
//! metric handles registered once, so recording costs a few dozen atomic stores and no
//! allocation.
//!
//! Several peers can run in one process (the one-command election, the benchmarks) and the
//! recorder is global, so every series carries a `peer` label: a small index given to each
//! shell in the order it started (`"0"` for the only peer of a `peer` process), never an
//! address or a key.

use crate::node::{Node, NodeStats};
use metrics::{counter, gauge, histogram, Counter, Gauge, Histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

/// The process's recorder, once installed (`None` when another recorder was installed first).
static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The next `peer` label.
static NEXT_PEER: AtomicUsize = AtomicUsize::new(0);

/// Bucket bounds of `votechain_block_validation_seconds`: 10 µs to 2.5 s.
const VALIDATION_BUCKETS: &[f64] = &[
    0.000_01, 0.000_05, 0.000_1, 0.000_5, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 2.5,
];

/// Installs the Prometheus recorder as this process's global recorder, once; later calls do
/// nothing. True when this crate's recorder is the one in place (false when something else in
/// the process installed a recorder first: metrics then go there and [`render`] is empty).
pub fn install() -> bool {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Full(
                        "votechain_block_validation_seconds".to_owned(),
                    ),
                    VALIDATION_BUCKETS,
                )
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            Some(handle)
        })
        .is_some()
}

/// Every metric of the process in the Prometheus text format (version 0.0.4); installs the
/// recorder first if needed.
pub fn render() -> String {
    install();
    match HANDLE.get() {
        Some(Some(handle)) => handle.render(),
        _ => String::new(),
    }
}

/// One peer's metric handles, registered once by its shell, and what it last recorded.
#[derive(Debug)]
pub struct PeerMetrics {
    /// The `peer` label of every series (see the module's doc).
    label: String,
    chain_height: Gauge,
    best_known_height: Gauge,
    peers: Gauge,
    pending_votes: Gauge,
    blocks_mined: Counter,
    /// accepted, orphan, duplicate, invalid.
    blocks_received: [Counter; 4],
    reorgs: Counter,
    /// accepted, duplicate, rejected, refused.
    votes: [Counter; 4],
    /// rate_limited, banned, ignored.
    dropped: [Counter; 3],
    /// By decode error kind, registered when a kind is first seen.
    dropped_undecodable: BTreeMap<&'static str, Counter>,
    /// By (type, dir), registered when a type is first seen in that direction.
    datagrams: BTreeMap<(&'static str, &'static str), Counter>,
    /// in, out.
    bytes: [Counter; 2],
    hashes: Counter,
    validation: Histogram,
    /// The mining port's, registered when it first reports.
    pool: Option<PoolMetrics>,
}

/// The mining port's metrics (API.md, "Metrics").
#[derive(Debug)]
struct PoolMetrics {
    /// `votechain_pool_miners`: authorized miners now.
    miners: Gauge,
    /// `votechain_pool_connections`: open connections now.
    connections: Gauge,
    /// `votechain_pool_hashrate`: the miners' estimated hashes per second.
    hashrate: Gauge,
    /// `votechain_pool_shares_total{result}`, in `ShareCounts::by_result` order.
    shares: Vec<Counter>,
    /// `votechain_pool_blocks_total`: shares that met the block target.
    blocks: Counter,
}

impl Default for PeerMetrics {
    fn default() -> Self {
        PeerMetrics::new()
    }
}

impl PeerMetrics {
    /// Installs the recorder if needed and registers this peer's metrics under the next `peer`
    /// label; `votechain_build_info{version}` is set to 1.
    pub fn new() -> PeerMetrics {
        install();
        let label = NEXT_PEER.fetch_add(1, Ordering::Relaxed).to_string();
        let peer = label.clone();
        let result = |name: &'static str, result: &'static str| counter!(name, "peer" => peer.clone(), "result" => result);
        let reason = |reason: &'static str| counter!("votechain_datagrams_dropped_total", "peer" => peer.clone(), "reason" => reason);
        let dir = |dir: &'static str| counter!("votechain_udp_bytes_total", "peer" => peer.clone(), "dir" => dir);
        gauge!("votechain_build_info", "peer" => peer.clone(), "version" => env!("CARGO_PKG_VERSION"))
            .set(1.0);
        let blocks = "votechain_blocks_received_total";
        let votes = "votechain_votes_total";
        PeerMetrics {
            chain_height: gauge!("votechain_chain_height", "peer" => peer.clone()),
            best_known_height: gauge!("votechain_best_known_height", "peer" => peer.clone()),
            peers: gauge!("votechain_peers", "peer" => peer.clone()),
            pending_votes: gauge!("votechain_pending_votes", "peer" => peer.clone()),
            blocks_mined: counter!("votechain_blocks_mined_total", "peer" => peer.clone()),
            blocks_received: [
                result(blocks, "accepted"),
                result(blocks, "orphan"),
                result(blocks, "duplicate"),
                result(blocks, "invalid"),
            ],
            reorgs: counter!("votechain_reorgs_total", "peer" => peer.clone()),
            votes: [
                result(votes, "accepted"),
                result(votes, "duplicate"),
                result(votes, "rejected"),
                result(votes, "refused"),
            ],
            dropped: [reason("rate_limited"), reason("banned"), reason("ignored")],
            dropped_undecodable: BTreeMap::new(),
            datagrams: BTreeMap::new(),
            bytes: [dir("in"), dir("out")],
            hashes: counter!("votechain_hashes_total", "peer" => peer.clone()),
            validation: histogram!("votechain_block_validation_seconds", "peer" => peer),
            pool: None,
            label,
        }
    }

    /// This peer's `peer` label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Copies `node`'s state into the metrics at `now_ms`; `hashes` is the miner's count of
    /// nonces tried. Cheap enough for every turn of the shell's loop: atomic stores, a walk of
    /// the peer table, and a map lookup per message type seen.
    pub fn record(&mut self, node: &Node, now_ms: u64, hashes: u64) {
        let stats = node.stats();
        let height = node.chain().map(|c| c.height());
        self.chain_height.set(height.map_or(0.0, |h| h as f64));
        let reported = node
            .peers()
            .iter()
            .filter_map(|(_, p)| p.reported.map(|(blocks, _)| blocks.saturating_sub(1)))
            .max();
        let best = height.into_iter().chain(reported).max().unwrap_or(0);
        self.best_known_height.set(best as f64);
        self.peers.set(node.active_peers(now_ms) as f64);
        let pending = node.chain().map_or(0, |c| c.pool().len());
        self.pending_votes.set(pending as f64);
        self.blocks_mined.absolute(stats.mined);
        let blocks = [
            stats.blocks_accepted,
            stats.blocks_orphaned,
            stats.blocks_duplicate,
            stats.invalid_blocks,
        ];
        for (counter, value) in self.blocks_received.iter().zip(blocks) {
            counter.absolute(value);
        }
        self.reorgs.absolute(stats.reorgs);
        let votes = [
            stats.votes_accepted,
            stats.votes_duplicate,
            stats.votes_rejected,
            stats.votes_refused,
        ];
        for (counter, value) in self.votes.iter().zip(votes) {
            counter.absolute(value);
        }
        let dropped = [stats.rate_limited, stats.from_banned, stats.ignored];
        for (counter, value) in self.dropped.iter().zip(dropped) {
            counter.absolute(value);
        }
        self.record_maps(stats);
        self.bytes[0].absolute(stats.bytes_in);
        self.bytes[1].absolute(stats.bytes_out);
        self.hashes.absolute(hashes);
    }

    /// Copies the mining port's numbers into the metrics (the shell calls it when it reads
    /// them, twice a second).
    pub fn record_pool(&mut self, pool: &crate::miningport::PoolSnapshot) {
        let peer = &self.label;
        let metrics = self.pool.get_or_insert_with(|| PoolMetrics {
            miners: gauge!("votechain_pool_miners", "peer" => peer.clone()),
            connections: gauge!("votechain_pool_connections", "peer" => peer.clone()),
            hashrate: gauge!("votechain_pool_hashrate", "peer" => peer.clone()),
            shares: pool
                .stats
                .shares
                .by_result()
                .iter()
                .map(|(result, _)| counter!("votechain_pool_shares_total", "peer" => peer.clone(), "result" => *result))
                .collect(),
            blocks: counter!("votechain_pool_blocks_total", "peer" => peer.clone()),
        });
        metrics.miners.set(pool.miners.len() as f64);
        metrics.connections.set(pool.connections as f64);
        metrics.hashrate.set(pool.hashrate());
        for (counter, (_, n)) in metrics.shares.iter().zip(pool.stats.shares.by_result()) {
            counter.absolute(n);
        }
        metrics.blocks.absolute(pool.stats.blocks_found);
    }

    /// The counters kept by kind or type: a handle is registered when a key is first seen.
    fn record_maps(&mut self, stats: &NodeStats) {
        for (&kind, &n) in &stats.decode_errors {
            let peer = &self.label;
            self.dropped_undecodable
                .entry(kind)
                .or_insert_with(|| {
                    counter!("votechain_datagrams_dropped_total", "peer" => peer.clone(), "reason" => kind)
                })
                .absolute(n);
        }
        let directions = [("in", &stats.messages_in), ("out", &stats.messages_out)];
        for (dir, map) in directions {
            for (&ty, &n) in map {
                let peer = &self.label;
                self.datagrams
                    .entry((ty, dir))
                    .or_insert_with(|| {
                        counter!("votechain_datagrams_total", "peer" => peer.clone(), "type" => ty, "dir" => dir)
                    })
                    .absolute(n);
            }
        }
    }

    /// Runs one input `f` on `node`; when it validated blocks, its time divided by their number
    /// goes into `votechain_block_validation_seconds` once per block. The validation itself is
    /// most of such an input's time; an input that validated nothing costs one clock read.
    pub fn timed<T>(&self, node: &mut Node, f: impl FnOnce(&mut Node) -> T) -> T {
        let before = node.stats().blocks_validated;
        let start = Instant::now();
        let out = f(node);
        let validated = node.stats().blocks_validated.saturating_sub(before);
        if validated > 0 {
            let each = start.elapsed().as_secs_f64() / validated as f64;
            for _ in 0..validated {
                self.validation.record(each);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{MiningMode, NodeConfig};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use std::net::SocketAddr;
    use votechain_chain::{Ballot, BlockTemplate, ChainConfig, ChainState, Vote, VoterKey};
    use votechain_proto::{encode, Message, NewBlock, SubmitVote};

    const NOW: u64 = 1_800_000_000_000;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    /// The value of `name` with `labels` (and this peer's label) in a fresh scrape, which must
    /// parse as Prometheus text.
    fn value(metrics: &PeerMetrics, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let text = render();
        let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
            .expect("the rendering parses as Prometheus text");
        scrape
            .samples
            .iter()
            .filter(|s| s.metric == name && s.labels.get("peer") == Some(metrics.label()))
            .find(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                prometheus_parse::Value::Histogram(ref buckets) => {
                    buckets.last().map_or(0.0, |b| b.count)
                }
                prometheus_parse::Value::Summary(_) => f64::NAN,
            })
    }

    #[test]
    fn counters_move_as_the_node_takes_votes_blocks_and_garbage() {
        let ballot = Ballot::open("Metrics", &["Adam", "Bob"], 0);
        let chain = ChainState::new(&ballot, ChainConfig::default()).unwrap();
        let election = chain.election();
        let mut cfg = NodeConfig::new(addr(6001));
        cfg.mining = MiningMode::Off;
        let mut node = Node::new(cfg, ChaCha8Rng::seed_from_u64(1), Some(chain));
        let mut metrics = PeerMetrics::new();
        node.handle_timeout(NOW);
        metrics.record(&node, NOW, 0);
        assert_eq!(value(&metrics, "votechain_chain_height", &[]), Some(0.0));
        assert_eq!(
            value(
                &metrics,
                "votechain_build_info",
                &[("version", env!("CARGO_PKG_VERSION"))]
            ),
            Some(1.0)
        );

        let client = addr(7000);
        let vote = Vote::sign(VoterKey::from_seed([5; 32]).signing_key(), election, "Adam");
        let submit = encode(&Message::from(SubmitVote { vote: vote.clone() })).unwrap();
        metrics.timed(&mut node, |n| n.handle_datagram(NOW, client, &submit));
        metrics.timed(&mut node, |n| n.handle_datagram(NOW, client, &submit));
        metrics.timed(&mut node, |n| n.handle_datagram(NOW, client, b"not json"));
        let tip = node.chain().unwrap().tip_hash();
        let block = BlockTemplate::new(tip, 0, 0, NOW, "m", vec![vote])
            .unwrap()
            .seal(0);
        let news = encode(&Message::from(NewBlock { block })).unwrap();
        metrics.timed(&mut node, |n| n.handle_datagram(NOW, addr(7001), &news));
        while node.poll_output().is_some() {}
        metrics.record(&node, NOW, 42);

        let votes = |result| value(&metrics, "votechain_votes_total", &[("result", result)]);
        assert_eq!(votes("accepted"), Some(1.0));
        assert_eq!(votes("duplicate"), Some(1.0));
        let datagrams = |ty, dir| {
            value(
                &metrics,
                "votechain_datagrams_total",
                &[("type", ty), ("dir", dir)],
            )
        };
        assert_eq!(datagrams("SUBMIT_VOTE", "in"), Some(2.0));
        assert_eq!(datagrams("NEW_BLOCK", "in"), Some(1.0));
        assert!(datagrams("RECEIPT", "out").unwrap_or(0.0) >= 1.0);
        let dropped = value(
            &metrics,
            "votechain_datagrams_dropped_total",
            &[("reason", "not_json")],
        );
        assert_eq!(dropped, Some(1.0));
        let accepted = value(
            &metrics,
            "votechain_blocks_received_total",
            &[("result", "accepted")],
        );
        assert_eq!(accepted, Some(1.0));
        assert_eq!(value(&metrics, "votechain_chain_height", &[]), Some(1.0));
        assert_eq!(value(&metrics, "votechain_pending_votes", &[]), Some(0.0));
        assert_eq!(value(&metrics, "votechain_hashes_total", &[]), Some(42.0));
        let expected_in = (2 * submit.len() + b"not json".len() + news.len()) as f64;
        let bytes_in = value(&metrics, "votechain_udp_bytes_total", &[("dir", "in")]);
        assert_eq!(bytes_in, Some(expected_in));
        let validations = value(&metrics, "votechain_block_validation_seconds", &[]);
        assert_eq!(validations, Some(1.0));
    }

    #[test]
    fn install_is_idempotent_and_peers_get_distinct_labels() {
        assert!(install());
        assert!(install());
        let (a, b) = (PeerMetrics::new(), PeerMetrics::new());
        assert_ne!(a.label(), b.label());
        assert!(render().contains(&format!("votechain_build_info{{peer=\"{}\"", a.label())));
    }
}
