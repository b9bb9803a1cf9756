//! The coalesced Server-Sent Events: `tally` (the JSON of `GET /api/tally`) and `peers` (the
//! JSON of `GET /api/peers`). A sync moves the tip thousands of times a second and a busy peer
//! hears hundreds of datagrams, so these are not sent per change: each is throttled, sent at once
//! for the first change after a quiet spell (no added latency for a single block or vote) and
//! then at most once per interval, the last change of a burst always following at its end. This
//! is sans-IO — times come in as arguments — and the shell loop asks [`Feeds::deadline`] when to
//! wake next and [`Feeds::publish`] what to send.
//!
//! The peer table changes inside the node (gossip, expiry, bans) without a node event, so the
//! shell reports every loop iteration that handled input as possible [`Feeds::activity`]; the
//! table is then looked at (at most once per interval) and a `peers` event goes out when a peer
//! joined, left or changed its name, source or state, and, when only its details moved (when a
//! peer was last heard, the blocks it reports), at most once per [`PEERS_REFRESH_MS`].
//!
//! [`StatusFeed`] keeps the published `GET /api/status` body (which handlers serve without
//! asking the loop) the same way: on activity, at most once per [`STATUS_INTERVAL_MS`], at once
//! for a new tip, and at least every [`STATUS_REFRESH_MS`] for what moves with time alone (the
//! hash rate, how long the tracker has been silent).

use super::api;
use super::{ApiEvent, STATUS_INTERVAL_MS};
use crate::node::Node;
use axum::body::Bytes;
use serde_json::Value;
use tokio::sync::watch;

/// Longest time between two publications of the status while nothing happens.
pub const STATUS_REFRESH_MS: u64 = 1_000;

/// Shortest time between two `tally` events.
pub const TALLY_INTERVAL_MS: u64 = 200;

/// Shortest time between two looks at the peer table.
pub const PEERS_INTERVAL_MS: u64 = 200;

/// Shortest time between two `peers` events that only refresh details (last heard, blocks).
pub const PEERS_REFRESH_MS: u64 = 5_000;

/// A leading-and-trailing throttle: [`Throttle::mark`] a change; [`Throttle::take`] says whether
/// to act now, which it does for the first change after `interval_ms` of quiet and otherwise once
/// the interval since the last action has passed ([`Throttle::deadline`]).
#[derive(Debug, Clone)]
pub struct Throttle {
    /// Shortest time between two actions.
    interval_ms: u64,
    /// When it last acted.
    last_ms: Option<u64>,
    /// A change not yet acted on.
    dirty: bool,
}

impl Throttle {
    /// A throttle acting at most once per `interval_ms`.
    pub fn new(interval_ms: u64) -> Throttle {
        Throttle {
            interval_ms,
            last_ms: None,
            dirty: false,
        }
    }

    /// Something changed.
    pub fn mark(&mut self) {
        self.dirty = true;
    }

    /// True when a change is waiting and may be acted on at `now_ms`.
    pub fn ready(&self, now_ms: u64) -> bool {
        // A clock stepped back does not hold the events up until it catches up.
        self.dirty
            && self
                .last_ms
                .is_none_or(|last| now_ms < last || now_ms - last >= self.interval_ms)
    }

    /// True when the change is to be acted on now; it counts as acted on.
    pub fn take(&mut self, now_ms: u64) -> bool {
        if !self.ready(now_ms) {
            return false;
        }
        self.dirty = false;
        self.last_ms = Some(now_ms);
        true
    }

    /// When a waiting change may be acted on; `None` with none waiting.
    pub fn deadline(&self) -> Option<u64> {
        self.dirty
            .then(|| self.last_ms.map_or(0, |last| last + self.interval_ms))
    }

    /// Acts at `now_ms` whether or not a change was waiting (it was looked at anyway).
    fn acted(&mut self, now_ms: u64) {
        self.dirty = false;
        self.last_ms = Some(now_ms);
    }

    /// Forgets a waiting change (nobody is listening).
    pub fn clear(&mut self) {
        self.dirty = false;
    }
}

/// What the last `peers` event said.
#[derive(Debug, Clone)]
struct SentPeers {
    /// Each peer's address, name, source and state: what a change must be sent for at once.
    shape: Vec<[Value; 4]>,
    /// The whole table as sent.
    table: Value,
    /// When it was sent.
    at_ms: u64,
}

/// Decides when the peer table is worth a `peers` event.
#[derive(Debug, Clone)]
pub struct PeersFeed {
    /// Looks at the table after activity, at most once per [`PEERS_INTERVAL_MS`].
    check: Throttle,
    /// The last event; `None` before the first (or since nobody listened).
    sent: Option<SentPeers>,
    /// When a table whose details moved is due to be sent, if it is waiting.
    refresh_at: Option<u64>,
}

impl Default for PeersFeed {
    fn default() -> PeersFeed {
        PeersFeed {
            check: Throttle::new(PEERS_INTERVAL_MS),
            sent: None,
            refresh_at: None,
        }
    }
}

impl PeersFeed {
    /// The table may have changed (the node handled some input).
    pub fn activity(&mut self) {
        self.check.mark();
    }

    /// True when the table is to be looked at ([`PeersFeed::offer`]) at `now_ms`.
    pub fn due(&self, now_ms: u64) -> bool {
        self.check.ready(now_ms) || self.refresh_at.is_some_and(|at| now_ms >= at)
    }

    /// The table (`GET /api/peers`'s JSON) as it is at `now_ms`: what to send, if anything.
    pub fn offer(&mut self, now_ms: u64, table: Value) -> Option<Value> {
        self.check.acted(now_ms);
        self.refresh_at = None;
        let shape = shape_of(&table);
        let send = match &self.sent {
            None => true,
            Some(sent) if sent.shape != shape => true,
            Some(sent) if sent.table == table => false,
            Some(sent) => {
                let due = sent.at_ms.saturating_add(PEERS_REFRESH_MS);
                if now_ms < due && now_ms >= sent.at_ms {
                    self.refresh_at = Some(due);
                    false
                } else {
                    true
                }
            }
        };
        if !send {
            return None;
        }
        self.sent = Some(SentPeers {
            shape,
            table: table.clone(),
            at_ms: now_ms,
        });
        Some(table)
    }

    /// When the table is next to be looked at; `None` when nothing is waiting.
    pub fn deadline(&self) -> Option<u64> {
        match (self.check.deadline(), self.refresh_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Nobody listens: forget what was sent and what was waiting, so the next listener hears
    /// the table at the first activity.
    pub fn reset(&mut self) {
        self.check.clear();
        self.sent = None;
        self.refresh_at = None;
    }
}

/// Each row's address, name, source and state.
fn shape_of(table: &Value) -> Vec<[Value; 4]> {
    let rows = table["peers"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    rows.iter()
        .map(|p| ["address", "name", "source", "state"].map(|k| p[k].clone()))
        .collect()
}

/// Both coalesced events of one peer.
#[derive(Debug, Clone)]
pub struct Feeds {
    /// The tally changed: a vote entered the pool, the tip moved, the election became known.
    tally: Throttle,
    /// The peer table.
    peers: PeersFeed,
}

impl Default for Feeds {
    fn default() -> Feeds {
        Feeds {
            tally: Throttle::new(TALLY_INTERVAL_MS),
            peers: PeersFeed::default(),
        }
    }
}

impl Feeds {
    /// The tally may have changed.
    pub fn tally_changed(&mut self) {
        self.tally.mark();
    }

    /// The node handled input: the peer table may have changed.
    pub fn activity(&mut self) {
        self.peers.activity();
    }

    /// The events due at `now_ms`, built from `node` only when `listening` (someone subscribes)
    /// and only when due; without listeners whatever waited is dropped.
    pub fn publish(&mut self, node: &Node, now_ms: u64, listening: bool) -> Vec<ApiEvent> {
        if !listening {
            self.tally.clear();
            self.peers.reset();
            return Vec::new();
        }
        let mut out = Vec::new();
        if self.tally.take(now_ms) {
            // Without an election there is no tally yet; its `election` event says when.
            if let Some(chain) = node.chain() {
                out.push(ApiEvent {
                    kind: "tally",
                    data: api::tally(chain),
                });
            }
        }
        if self.peers.due(now_ms) {
            if let Some(table) = self.peers.offer(now_ms, api::peers(node, now_ms)) {
                out.push(ApiEvent {
                    kind: "peers",
                    data: table,
                });
            }
        }
        out
    }

    /// When [`Feeds::publish`] next has something to do; `None`: not before new changes.
    pub fn deadline(&self) -> Option<u64> {
        match (self.tally.deadline(), self.peers.deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// The miner's hashes per second, measured over windows of at least [`HashRate::WINDOW_MS`].
#[derive(Debug, Clone, Default)]
pub struct HashRate {
    /// When the current window began and the miner's count then.
    start: Option<(u64, u64)>,
    /// The rate of the last whole window.
    rate: u64,
}

impl HashRate {
    /// The shortest window a rate is measured over.
    pub const WINDOW_MS: u64 = 1_000;

    /// Takes the miner's running count `hashes` at `now_ms`; returns the rate of the last
    /// whole window (0 until one has passed).
    pub fn sample(&mut self, now_ms: u64, hashes: u64) -> u64 {
        match self.start {
            // A count that went back (a new miner) or a clock stepped back: start again.
            Some((at, before)) if now_ms < at || hashes < before => {
                self.start = Some((now_ms, hashes))
            }
            Some((at, before)) if now_ms >= at.saturating_add(Self::WINDOW_MS) => {
                self.rate = (hashes - before).saturating_mul(1_000) / (now_ms - at);
                self.start = Some((now_ms, hashes));
            }
            Some(_) => {}
            None => self.start = Some((now_ms, hashes)),
        }
        self.rate
    }
}

/// The published `GET /api/status` body: when it is due again, and the hash rate it reports.
#[derive(Debug)]
pub struct StatusFeed {
    /// Where the handlers read it.
    tx: watch::Sender<Option<Bytes>>,
    /// Changes since the last publication.
    changes: Throttle,
    /// When it was published last.
    last_ms: Option<u64>,
    /// The miner's rate.
    rate: HashRate,
    /// The miner's count when last told.
    hashes: u64,
    /// The mining port's numbers when last told (`null`: no mining port).
    pool: serde_json::Value,
}

impl StatusFeed {
    /// A feed publishing on `tx`.
    pub fn new(tx: watch::Sender<Option<Bytes>>) -> StatusFeed {
        StatusFeed {
            tx,
            changes: Throttle::new(STATUS_INTERVAL_MS),
            last_ms: None,
            rate: HashRate::default(),
            hashes: 0,
            pool: serde_json::Value::Null,
        }
    }

    /// The mining port's numbers, as `pool` in the status from the next publication on; true
    /// when they changed.
    pub fn set_pool(&mut self, pool: serde_json::Value) -> bool {
        let changed = self.pool != pool;
        self.pool = pool;
        changed
    }

    /// Something the status shows may have changed.
    pub fn activity(&mut self) {
        self.changes.mark();
    }

    /// Publishes the status if a change is due or it has not been refreshed for
    /// [`STATUS_REFRESH_MS`]; `hashes`: the miner's running count.
    pub fn publish_due(&mut self, node: &Node, now_ms: u64, hashes: u64) {
        self.hashes = hashes;
        let stale = self
            .last_ms
            .is_none_or(|last| now_ms < last || now_ms - last >= STATUS_REFRESH_MS);
        if self.changes.ready(now_ms) || stale {
            self.publish_now(node, now_ms);
        }
    }

    /// Publishes the status at once: before the events of a new tip go out (a client that
    /// hears of a block and then asks for the status sees the block), and before a submitted
    /// vote is answered (the client then sees its vote pending).
    pub fn publish_now(&mut self, node: &Node, now_ms: u64) {
        self.changes.acted(now_ms);
        self.last_ms = Some(now_ms);
        let rate = self.rate.sample(now_ms, self.hashes);
        let rate = if node.mining_on() { rate } else { 0 };
        let body = api::status(node, now_ms, rate, &self.pool);
        // A `Value` always serialises.
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        self.tx.send_replace(Some(Bytes::from(bytes)));
    }

    /// When [`StatusFeed::publish_due`] should next be called.
    pub fn deadline(&self) -> u64 {
        let refresh = self
            .last_ms
            .map_or(0, |last| last.saturating_add(STATUS_REFRESH_MS));
        self.changes.deadline().map_or(refresh, |d| d.min(refresh))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_lone_change_goes_at_once_and_a_burst_becomes_its_first_and_last() {
        let mut t = Throttle::new(200);
        assert!(!t.take(1_000), "nothing changed");
        assert_eq!(t.deadline(), None);
        t.mark();
        assert!(
            t.take(1_000),
            "the first change after a quiet spell goes at once"
        );
        // A sync: a thousand changes within 150 ms.
        let mut sent = 0;
        for i in 1..=1_000 {
            t.mark();
            sent += u32::from(t.take(1_000 + i * 150 / 1_000));
        }
        assert_eq!(sent, 0, "coalesced within the interval");
        assert_eq!(
            t.deadline(),
            Some(1_200),
            "the final state follows at its end"
        );
        assert!(!t.take(1_199));
        assert!(t.take(1_200));
        assert_eq!(t.deadline(), None, "and nothing after it");
        t.mark();
        assert!(t.take(5_000), "quiet again: at once");
        t.mark();
        assert!(t.take(10), "a clock stepped back does not hold changes up");
        t.mark();
        t.clear();
        assert_eq!(t.deadline(), None);
    }

    #[test]
    fn a_throttle_over_a_long_burst_acts_once_per_interval() {
        let mut t = Throttle::new(200);
        let mut sent = Vec::new();
        for now in 0..2_000 {
            t.mark();
            if t.take(now) {
                sent.push(now);
            }
        }
        assert_eq!(sent, (0..10).map(|i| i * 200).collect::<Vec<_>>());
    }

    fn node(known: bool) -> Node {
        use rand::SeedableRng;
        use votechain_chain::{Ballot, ChainConfig, ChainState};
        let ballot = Ballot::open("T", &["Adam", "Bob"], 0);
        let chain = known.then(|| ChainState::new(&ballot, ChainConfig::default()).unwrap());
        let cfg = crate::config::NodeConfig::new("127.0.0.1:6001".parse().unwrap());
        Node::new(cfg, rand_chacha::ChaCha8Rng::seed_from_u64(1), chain)
    }

    #[test]
    fn events_carry_the_api_bodies_and_are_built_only_for_a_listener() {
        let known = node(true);
        let mut feeds = Feeds::default();
        feeds.tally_changed();
        feeds.activity();
        assert!(feeds.publish(&known, 1_000, false).is_empty());
        assert_eq!(feeds.deadline(), None, "nobody listens: nothing waits");

        feeds.tally_changed();
        feeds.activity();
        let sent = feeds.publish(&known, 2_000, true);
        let kinds: Vec<&str> = sent.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, ["tally", "peers"]);
        assert_eq!(sent[0].data, api::tally(known.chain().unwrap()));
        assert_eq!(sent[1].data, api::peers(&known, 2_000));
        assert_eq!(feeds.deadline(), None);

        // Without an election there is no tally to send, and nothing is left waiting.
        let unknown = node(false);
        let mut feeds = Feeds::default();
        feeds.tally_changed();
        let sent = feeds.publish(&unknown, 1_000, true);
        assert!(sent.iter().all(|e| e.kind != "tally"), "{sent:?}");
        assert_eq!(feeds.deadline(), None);
    }

    fn row(addr: &str, state: &str, heard: u64) -> Value {
        json!({ "address": addr, "name": "p", "source": "gossip", "state": state,
                "last_heard_ms": heard, "blocks": 1 })
    }

    fn table(rows: &[Value]) -> Value {
        json!({ "peers": rows })
    }

    #[test]
    fn a_joining_or_changing_peer_is_sent_and_details_only_every_few_seconds() {
        let mut feed = PeersFeed::default();
        assert!(!feed.due(0), "no activity, nothing to look at");
        feed.activity();
        assert!(feed.due(0));
        let one = table(&[row("127.0.0.1:1", "ok", 10)]);
        assert_eq!(
            feed.offer(0, one.clone()),
            Some(one.clone()),
            "the first look"
        );
        assert_eq!(feed.deadline(), None);

        // Another peer joins within the interval: looked at when it has passed.
        feed.activity();
        assert!(!feed.due(100));
        assert_eq!(feed.deadline(), Some(PEERS_INTERVAL_MS));
        let two = table(&[row("127.0.0.1:1", "ok", 10), row("127.0.0.1:2", "ok", 20)]);
        assert!(feed.due(PEERS_INTERVAL_MS));
        assert_eq!(
            feed.offer(PEERS_INTERVAL_MS, two.clone()),
            Some(two.clone())
        );

        // Only when they were last heard moved: not sent until the refresh is due…
        feed.activity();
        let heard = table(&[row("127.0.0.1:1", "ok", 900), row("127.0.0.1:2", "ok", 20)]);
        assert_eq!(feed.offer(1_000, heard.clone()), None);
        let refresh = PEERS_INTERVAL_MS + PEERS_REFRESH_MS;
        assert_eq!(feed.deadline(), Some(refresh), "a refresh is waiting");
        assert!(!feed.due(refresh - 1));
        assert!(feed.due(refresh));
        assert_eq!(feed.offer(refresh, heard.clone()), Some(heard.clone()));
        // …and an unchanged table is never sent again.
        feed.activity();
        assert_eq!(feed.offer(refresh + 10_000, heard.clone()), None);
        assert_eq!(feed.deadline(), None);

        // A ban is a change of state: sent at once.
        feed.activity();
        let banned = table(&[
            row("127.0.0.1:1", "banned", 900),
            row("127.0.0.1:2", "ok", 20),
        ]);
        let at = refresh + 20_000;
        assert_eq!(feed.offer(at, banned.clone()), Some(banned));
        // A peer leaves: sent at once too.
        feed.activity();
        let left = table(&[row("127.0.0.1:2", "ok", 20)]);
        let at = at + PEERS_INTERVAL_MS;
        assert_eq!(feed.offer(at, left.clone()), Some(left.clone()));

        // Nobody listening: forgotten, and the next listener hears the table at once.
        feed.activity();
        feed.reset();
        assert_eq!(feed.deadline(), None);
        feed.activity();
        assert_eq!(feed.offer(at + 1, left.clone()), Some(left));
    }

    #[test]
    fn the_hash_rate_is_measured_over_whole_windows() {
        let mut r = HashRate::default();
        assert_eq!(r.sample(1_000, 0), 0);
        assert_eq!(r.sample(1_500, 500), 0, "no whole window yet");
        assert_eq!(r.sample(2_000, 2_000), 2_000);
        assert_eq!(
            r.sample(2_500, 9_000),
            2_000,
            "kept until the next window ends"
        );
        assert_eq!(
            r.sample(4_000, 1_000),
            2_000,
            "a count that went back starts anew"
        );
        assert_eq!(r.sample(5_000, 1_000), 0, "a miner that stopped");
    }

    #[test]
    fn the_status_is_published_on_change_throttled_at_once_when_asked_and_refreshed() {
        let node = node(true);
        let (tx, rx) = watch::channel(None);
        let mut feed = StatusFeed::new(tx);
        let body = |rx: &watch::Receiver<Option<Bytes>>| -> Value {
            serde_json::from_slice(rx.borrow().as_ref().expect("published")).unwrap()
        };
        feed.publish_due(&node, 1_000, 0);
        assert_eq!(
            body(&rx),
            api::status(&node, 1_000, 0, &serde_json::Value::Null),
            "the first at once"
        );
        assert_eq!(feed.deadline(), 1_000 + STATUS_REFRESH_MS);
        feed.activity();
        assert_eq!(
            feed.deadline(),
            1_000 + STATUS_INTERVAL_MS,
            "a change within the interval"
        );
        let before = rx.borrow().clone();
        feed.publish_due(&node, 1_005, 0);
        assert_eq!(*rx.borrow(), before, "throttled");
        feed.publish_now(&node, 1_006);
        assert_eq!(
            body(&rx)["tracker"],
            api::status(&node, 1_006, 0, &serde_json::Value::Null)["tracker"]
        );
        assert_eq!(
            feed.deadline(),
            1_006 + STATUS_REFRESH_MS,
            "the change went out"
        );
        // Nothing happens: still refreshed, for what moves with time alone.
        feed.publish_due(&node, 1_006 + STATUS_REFRESH_MS, 0);
        assert_eq!(
            body(&rx),
            api::status(
                &node,
                1_006 + STATUS_REFRESH_MS,
                0,
                &serde_json::Value::Null
            )
        );
    }
}
