//! The W4119 peer's web page and JSON API (API.md, "Profile w4119"): `GET /` and
//! `/assets/w4119.js`, `GET /api/status`, `GET /api/tally` (the honest tally: the count per
//! option and every vote not counted, with the reason), `GET /api/blocks?limit=`,
//! `GET /api/blocks/{index}` (the block's W4119 JSON as on the wire), `GET /api/peers`,
//! `POST /api/votes` (`{"voter": "…", "choice": "…"}`), `GET /api/events` (Server-Sent Events:
//! a `status` event per published snapshot and an `event` per thing the peer reports, as a
//! sentence) and `GET /metrics` (Prometheus text).
//!
//! Built like the comp3010 profile's ([`crate::course::http`], whose general pieces it shares):
//! the shell publishes a [`W4119Snapshot`] at most every [`SNAPSHOT_EVERY_MS`] on a watch
//! channel, which the server reads without waiting on the node; a vote or a block by index is a
//! request over a channel, answered by the shell between two inputs. The server runs with the
//! limits of every votechain server ([`crate::http::serving::HttpListener::serve_router`]).

use super::event::W4119Event;
use super::node::{W4119Command, W4119Node, MAX_OWN_VOTES};
use crate::course::http::{embedded, error, prometheus_metric, prometheus_text, Limit};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::StreamExt as _;
use serde_json::{json, Value};
use std::convert::Infallible;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use votechain_w4119::{Tally, W4119Block};

/// Shortest gap between two snapshots.
pub const SNAPSHOT_EVERY_MS: u64 = 250;

/// Blocks kept in a snapshot (the newest).
pub const SNAPSHOT_BLOCKS: usize = 50;

/// Uncounted votes listed in a snapshot (the first ones by block); the tally says how many there
/// are in all, so a chain stuffed with bad votes cannot make every snapshot huge.
pub const SNAPSHOT_UNCOUNTED: usize = 500;

/// Largest request body (a voter and a choice are at most a few hundred bytes).
pub const MAX_BODY_BYTES: usize = 2_048;

/// Event sentences an event stream may fall behind by before it skips some.
pub const EVENTS_BUFFERED: usize = 64;

/// What the page and the API show, as JSON values built by the shell.
#[derive(Debug, Clone, Default)]
pub struct W4119Snapshot {
    /// `GET /api/status`.
    pub status: Value,
    /// `GET /api/tally`.
    pub tally: Value,
    /// The newest blocks, newest first.
    pub blocks: Vec<Value>,
    /// `GET /api/peers`.
    pub peers: Value,
    /// The tip's hash and the ballot the tally and blocks were built for, so an unchanged
    /// chain is not counted again every snapshot.
    built_for: Option<(String, Option<Vec<String>>)>,
}

/// A block as the block list shows it: its fields, and its transactions as votes (`voter` and
/// `choice` are `null` where a transaction lacks that string).
pub fn block_json(b: &W4119Block) -> Value {
    let votes: Vec<Value> = b
        .transactions
        .iter()
        .map(|t| json!({ "voter": t.voter_id(), "choice": t.candidate_id() }))
        .collect();
    json!({
        "index": b.index,
        "hash": b.hash,
        "previous_hash": b.previous_hash,
        "timestamp": b.timestamp,
        "nonce": b.nonce,
        "votes": votes,
    })
}

/// The honest tally as `GET /api/tally` shows it: the count per option in ballot order, the
/// total counted, and the votes not counted with the reason as a sentence.
pub fn tally_json(tally: &Tally, ballot_received: bool) -> Value {
    let counts: Vec<Value> = tally
        .counts()
        .iter()
        .map(|(option, votes)| json!({ "option": option, "votes": votes }))
        .collect();
    let uncounted: Vec<Value> = tally
        .uncounted()
        .iter()
        .take(SNAPSHOT_UNCOUNTED)
        .map(|u| {
            json!({
                "index": u.index,
                "voter": u.voter,
                "choice": u.choice,
                "reason": u.reason.to_string(),
            })
        })
        .collect();
    json!({
        "ballot_received": ballot_received,
        "counts": counts,
        "total": tally.total(),
        "uncounted": uncounted,
        "uncounted_total": tally.uncounted().len(),
    })
}

impl W4119Snapshot {
    /// The node as the API shows it; `hashes`: the miner's running count; `previous`: the last
    /// snapshot, whose tally and blocks are kept when the tip and the ballot are the same.
    pub fn of(node: &W4119Node, now_ms: u64, hashes: u64, previous: &W4119Snapshot) -> Self {
        let chain = node.chain();
        let c = node.counters();
        let ballot = node.ballot().map(<[String]>::to_vec);
        let built_for = Some((chain.tip().hash.clone(), ballot.clone()));
        // Counting walks the whole chain: done again only when the tip or the ballot moved.
        let (tally, blocks) = match previous.built_for == built_for {
            true => (previous.tally.clone(), previous.blocks.clone()),
            false => (
                tally_json(&node.tally(), node.ballot().is_some()),
                chain
                    .blocks()
                    .iter()
                    .rev()
                    .take(SNAPSHOT_BLOCKS)
                    .map(block_json)
                    .collect(),
            ),
        };
        let pending: Vec<Value> = node
            .own_pending()
            .map(|t| json!({ "voter": t.voter_id(), "choice": t.candidate_id() }))
            .collect();
        let status = json!({
            "profile": "w4119",
            "registered": node.registered(),
            "tracker": node.config().tracker.to_string(),
            "address": node.config().me.to_string(),
            "difficulty": node.config().difficulty,
            "ballot": ballot,
            "blocks": chain.len(),
            "height": chain.height(),
            "tip": chain.tip().hash,
            "peers": node.peers().len(),
            "pending": pending,
            "counted": tally["total"],
            "uncounted": tally["uncounted_total"],
            "hashes": hashes,
            "counters": {
                "received": c.received,
                "malformed": c.malformed,
                "not_from_tracker": c.not_from_tracker,
                "invalid_blocks": c.invalid_blocks,
                "chains_served": c.chains_served,
                "chain_requests_refused": c.chain_requests_refused,
                "chain_requests_too_soon": c.chain_requests_too_soon,
                "unsolicited": c.unsolicited,
                "invalid_chains": c.invalid_chains,
                "switches": c.switches,
            },
            "time_ms": now_ms,
        });
        let peers = node
            .peers()
            .iter()
            .map(|addr| json!({ "address": addr.to_string() }))
            .collect();
        W4119Snapshot {
            status,
            tally,
            blocks,
            peers: Value::Array(peers),
            built_for,
        }
    }
}

/// Why a vote from the API was refused, which decides its HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoteRefusal {
    /// The vote itself is wrong: a choice not on the ballot, a bad voter name (400).
    Invalid,
    /// The voter already voted, or their vote is being mined (409).
    Conflict,
    /// The peer cannot take votes now: no ballot yet, or its queue is full (503).
    NotReady,
}

/// A refused vote: why, and the sentence for the user.
pub type VoteRefused = (VoteRefusal, String);

/// Casts a vote as the console's `vote` does; `Ok` is the sentence saying it was accepted.
pub fn vote(
    node: &mut W4119Node,
    now_ms: u64,
    voter: String,
    choice: String,
) -> Result<String, VoteRefused> {
    let accepted = W4119Event::VoteQueued {
        voter: voter.clone(),
        choice: choice.clone(),
    }
    .to_string();
    let command = W4119Command::Vote {
        voter: voter.clone(),
        choice: choice.clone(),
    };
    let Err(why) = node.handle_command(now_ms, command) else {
        return Ok(accepted);
    };
    let kind = if node.ballot().is_none() || node.own_pending().count() >= MAX_OWN_VOTES {
        VoteRefusal::NotReady
    } else if node.tally().voted(&voter).is_some()
        || node
            .own_pending()
            .any(|t| t.voter_id() == Some(voter.as_str()))
    {
        VoteRefusal::Conflict
    } else {
        VoteRefusal::Invalid
    };
    Err((kind, why))
}

/// A vote from `POST /api/votes`, answered by the shell.
#[derive(Debug)]
pub struct VoteRequest {
    /// Who votes.
    pub voter: String,
    /// For which option.
    pub choice: String,
    /// The sentence saying it was accepted, or why not.
    pub reply: oneshot::Sender<Result<String, VoteRefused>>,
}

/// `GET /api/blocks/{index}`, answered by the shell.
#[derive(Debug)]
pub struct BlockRequest {
    /// The index.
    pub index: u64,
    /// The block's W4119 JSON text, if the chain has one there.
    pub reply: oneshot::Sender<Option<String>>,
}

/// The shell's side.
#[derive(Debug)]
pub struct W4119Bridge {
    /// Votes to cast.
    pub votes: mpsc::Receiver<VoteRequest>,
    /// Block lookups by index.
    pub blocks: mpsc::Receiver<BlockRequest>,
    /// Where the snapshot is published.
    pub snapshot: watch::Sender<W4119Snapshot>,
    /// Where the peer's events go, as sentences (nobody listening is fine).
    pub events: broadcast::Sender<String>,
}

/// The server's side.
#[derive(Debug, Clone)]
struct ServerSide {
    votes: mpsc::Sender<VoteRequest>,
    blocks: mpsc::Sender<BlockRequest>,
    snapshot: watch::Receiver<W4119Snapshot>,
    events: broadcast::Sender<String>,
}

/// The routes, and the shell's end of the channels; `stop` ends the event streams.
pub fn router(stop: CancellationToken) -> (Router, W4119Bridge) {
    let (votes_tx, votes) = mpsc::channel(64);
    let (blocks_tx, blocks) = mpsc::channel(64);
    let (snapshot, snapshot_rx) = watch::channel(W4119Snapshot::default());
    let (events, _) = broadcast::channel(EVENTS_BUFFERED);
    let side = ServerSide {
        votes: votes_tx,
        blocks: blocks_tx,
        snapshot: snapshot_rx,
        events: events.clone(),
    };
    let app =
        Router::new()
            .route("/", get(page))
            .route("/assets/w4119.js", get(script))
            .route("/assets/{*name}", get(crate::http::web::asset))
            .route(
                "/api/status",
                get(|State(s): State<ServerSide>| async move {
                    Json(s.snapshot.borrow().status.clone())
                }),
            )
            .route(
                "/api/tally",
                get(|State(s): State<ServerSide>| async move {
                    Json(s.snapshot.borrow().tally.clone())
                }),
            )
            .route(
                "/api/peers",
                get(|State(s): State<ServerSide>| async move {
                    Json(s.snapshot.borrow().peers.clone())
                }),
            )
            .route("/api/blocks", get(recent_blocks))
            .route("/api/blocks/{index}", get(one_block))
            .route("/api/votes", post(post_vote))
            .route("/metrics", get(metrics))
            .route(
                "/api/events",
                get(move |State(s): State<ServerSide>| events_stream(s, stop.clone())),
            )
            .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
            .with_state(side);
    (
        app,
        W4119Bridge {
            votes,
            blocks,
            snapshot,
            events,
        },
    )
}

async fn page() -> Response {
    embedded(
        "text/html; charset=utf-8",
        include_str!("../course/web/w4119.html"),
    )
}

async fn script() -> Response {
    embedded(
        "text/javascript; charset=utf-8",
        include_str!("../course/web/w4119.js"),
    )
}

async fn recent_blocks(State(s): State<ServerSide>, Query(q): Query<Limit>) -> Json<Value> {
    let n = q.limit.unwrap_or(20).min(SNAPSHOT_BLOCKS);
    let blocks: Vec<Value> = s.snapshot.borrow().blocks.iter().take(n).cloned().collect();
    Json(Value::Array(blocks))
}

async fn one_block(State(s): State<ServerSide>, Path(index): Path<String>) -> Response {
    let Ok(index) = index.parse::<u64>() else {
        return error(
            StatusCode::BAD_REQUEST,
            "the block index must be a whole number",
        );
    };
    let (reply, answer) = oneshot::channel();
    if s.blocks.send(BlockRequest { index, reply }).await.is_err() {
        return error(StatusCode::SERVICE_UNAVAILABLE, "the peer is stopping");
    }
    match answer.await {
        Ok(Some(text)) => (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            text,
        )
            .into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, "no block at that index"),
        Err(_) => error(StatusCode::SERVICE_UNAVAILABLE, "the peer is stopping"),
    }
}

#[derive(serde::Deserialize)]
struct VoteBody {
    voter: String,
    choice: String,
}

async fn post_vote(State(s): State<ServerSide>, body: axum::body::Bytes) -> Response {
    let Ok(VoteBody { voter, choice }) = serde_json::from_slice::<VoteBody>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "the body must be a JSON object with strings \"voter\" and \"choice\"",
        );
    };
    let (reply, answer) = oneshot::channel();
    let request = VoteRequest {
        voter,
        choice,
        reply,
    };
    if s.votes.send(request).await.is_err() {
        return error(StatusCode::SERVICE_UNAVAILABLE, "the peer is stopping");
    }
    match answer.await {
        Ok(Ok(sentence)) => (
            StatusCode::ACCEPTED,
            Json(json!({ "accepted": true, "message": sentence })),
        )
            .into_response(),
        Ok(Err((kind, why))) => {
            let status = match kind {
                VoteRefusal::Invalid => StatusCode::BAD_REQUEST,
                VoteRefusal::Conflict => StatusCode::CONFLICT,
                VoteRefusal::NotReady => StatusCode::SERVICE_UNAVAILABLE,
            };
            error(status, &why)
        }
        Err(_) => error(StatusCode::SERVICE_UNAVAILABLE, "the peer is stopping"),
    }
}

/// One line of SSE data: a sentence's line breaks become spaces.
fn one_line(sentence: &str) -> String {
    sentence.replace(['\r', '\n'], " ")
}

/// The event stream: the status first and at every snapshot, and every reported event.
async fn events_stream(
    s: ServerSide,
    stop: CancellationToken,
) -> Sse<impl futures_util::Stream<Item = Result<Event, Infallible>>> {
    let mut rx = s.snapshot.clone();
    rx.mark_unchanged();
    let statuses = futures_util::stream::unfold((rx, true), |(mut rx, first)| async move {
        if !first && rx.changed().await.is_err() {
            return None;
        }
        let data = rx.borrow_and_update().status.to_string();
        Some((Event::default().event("status").data(data), (rx, false)))
    });
    let sentences = futures_util::stream::unfold(s.events.subscribe(), |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(sentence) => {
                    let event = Event::default().event("event").data(one_line(&sentence));
                    return Some((event, rx));
                }
                // A slow reader skips what it missed; the status carries the state anyway.
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    let merged = futures_util::stream::select(statuses.boxed(), sentences.boxed())
        .map(Ok::<Event, Infallible>);
    Sse::new(merged.take_until(stop.cancelled_owned())).keep_alive(KeepAlive::default())
}

/// Escapes a label value for the Prometheus text format.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// `GET /metrics`: the snapshot's figures in the Prometheus text format (API.md, "Profile
/// w4119").
async fn metrics(State(s): State<ServerSide>) -> Response {
    let (status, tally) = {
        let snapshot = s.snapshot.borrow();
        (snapshot.status.clone(), snapshot.tally.clone())
    };
    let n = |path: &[&str]| -> u64 {
        let mut v = &status;
        for key in path {
            v = &v[*key];
        }
        match v {
            Value::Array(a) => a.len() as u64,
            Value::Bool(b) => u64::from(*b),
            other => other.as_u64().unwrap_or(0),
        }
    };
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, samples: &[(&str, u64)]| {
        prometheus_metric(&mut out, name, kind, help, samples)
    };
    metric(
        "votechain_w4119_registered",
        "gauge",
        "1 when the tracker acknowledged this peer.",
        &[("", n(&["registered"]))],
    );
    metric(
        "votechain_w4119_blocks",
        "gauge",
        "Blocks in the W4119 chain, the genesis block included.",
        &[("", n(&["blocks"]))],
    );
    metric(
        "votechain_w4119_peers",
        "gauge",
        "Other peers the tracker lists.",
        &[("", n(&["peers"]))],
    );
    metric(
        "votechain_w4119_votes_pending",
        "gauge",
        "Votes of this peer waiting to be mined.",
        &[("", n(&["pending"]))],
    );
    metric(
        "votechain_w4119_votes_counted",
        "gauge",
        "Votes the honest tally counts.",
        &[("", n(&["counted"]))],
    );
    metric(
        "votechain_w4119_votes_uncounted",
        "gauge",
        "Transactions in the chain the honest tally does not count.",
        &[("", n(&["uncounted"]))],
    );
    let per_option: Vec<(String, u64)> = tally["counts"]
        .as_array()
        .map(|counts| {
            counts
                .iter()
                .map(|c| {
                    let option = c["option"].as_str().unwrap_or_default();
                    let votes = c["votes"].as_u64().unwrap_or(0);
                    (format!("{{option=\"{}\"}}", label(option)), votes)
                })
                .collect()
        })
        .unwrap_or_default();
    let per_option: Vec<(&str, u64)> = per_option.iter().map(|(l, v)| (l.as_str(), *v)).collect();
    metric(
        "votechain_w4119_tally_votes",
        "gauge",
        "Votes counted for each ballot option.",
        &per_option,
    );
    metric(
        "votechain_w4119_hashes_total",
        "counter",
        "Hashes the miner tried.",
        &[("", n(&["hashes"]))],
    );
    metric(
        "votechain_w4119_datagrams_total",
        "counter",
        "Datagrams received, and those of them dropped, by reason.",
        &[
            ("{result=\"received\"}", n(&["counters", "received"])),
            ("{result=\"malformed\"}", n(&["counters", "malformed"])),
            (
                "{result=\"not_from_tracker\"}",
                n(&["counters", "not_from_tracker"]),
            ),
            ("{result=\"unsolicited\"}", n(&["counters", "unsolicited"])),
        ],
    );
    metric(
        "votechain_w4119_blocks_invalid_total",
        "counter",
        "Blocks that failed validation.",
        &[("", n(&["counters", "invalid_blocks"]))],
    );
    metric(
        "votechain_w4119_chains_invalid_total",
        "counter",
        "Chains received whole but invalid.",
        &[("", n(&["counters", "invalid_chains"]))],
    );
    metric(
        "votechain_w4119_chain_switches_total",
        "counter",
        "Times a longer chain replaced ours.",
        &[("", n(&["counters", "switches"]))],
    );
    metric(
        "votechain_w4119_chains_served_total",
        "counter",
        "Whole chains sent to peers.",
        &[("", n(&["counters", "chains_served"]))],
    );
    metric(
        "votechain_w4119_chain_requests_refused_total",
        "counter",
        "REQUEST_CHAINs not answered, by reason.",
        &[
            (
                "{reason=\"unlisted\"}",
                n(&["counters", "chain_requests_refused"]),
            ),
            (
                "{reason=\"too_soon\"}",
                n(&["counters", "chain_requests_too_soon"]),
            ),
        ],
    );
    prometheus_text(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use votechain_w4119::{Transaction, W4119Chain};

    /// A block at `index` holding `votes` (voter, choice); the tally reads no hash.
    fn block(index: u64, votes: &[(&str, &str)]) -> W4119Block {
        W4119Block {
            index,
            transactions: votes
                .iter()
                .map(|(v, c)| Transaction::vote(v, c, "2026-01-01 00:00:00"))
                .collect(),
            timestamp: "2026-01-01 00:00:00".into(),
            previous_hash: "0".into(),
            nonce: 0,
            hash: format!("{index:064x}"),
        }
    }

    #[test]
    fn the_tally_lists_every_vote_not_counted_with_its_reason() {
        let ballot = vec!["Alice".to_owned(), "Bob".to_owned()];
        let blocks = [
            block(0, &[]),
            block(1, &[("v1", "Bob")]),
            block(2, &[("v2", "Mallory"), ("v1", "Alice")]),
        ];
        let tally = tally_json(&Tally::of(&blocks, &ballot), true);
        assert_eq!(
            tally["counts"],
            json!([{"option": "Alice", "votes": 0}, {"option": "Bob", "votes": 1}])
        );
        assert_eq!(tally["total"], 1);
        assert_eq!(tally["uncounted_total"], 2);
        assert_eq!(
            tally["uncounted"],
            json!([
                {"index": 2, "voter": "v2", "choice": "Mallory",
                 "reason": "the choice is not on the ballot"},
                {"index": 2, "voter": "v1", "choice": "Alice",
                 "reason": "the voter already voted, and their vote in block 1 is the one counted"},
            ])
        );
    }

    #[test]
    fn a_block_lists_its_votes_and_a_transaction_without_strings_as_nulls() {
        let mut b = block(3, &[("v1", "Bob")]);
        b.transactions
            .push(Transaction::from_fields(votechain_w4119::PyDict::new()));
        let shown = block_json(&b);
        assert_eq!(shown["index"], 3);
        assert_eq!(
            shown["votes"],
            json!([{"voter": "v1", "choice": "Bob"}, {"voter": null, "choice": null}])
        );
    }

    #[test]
    fn a_refused_vote_says_why_with_the_status_it_deserves() {
        use crate::w4119::{W4119Config, W4119Node};
        use votechain_w4119::wire::{self, W4119Message};
        let tracker: std::net::SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let me = "127.0.0.1:6001".parse().unwrap();
        let mut node = W4119Node::new(W4119Config::new(tracker, me), W4119Chain::new(2), &[]);
        let cast = |node: &mut W4119Node, voter: &str, choice: &str| {
            vote(node, 1, voter.to_owned(), choice.to_owned())
        };
        let (kind, why) = cast(&mut node, "v1", "Bob").unwrap_err();
        assert_eq!(kind, VoteRefusal::NotReady);
        assert!(why.contains("ballot has not arrived"), "{why}");
        let ballot = W4119Message::BallotOptions {
            voting_options: vec!["Alice".into(), "Bob".into()],
        };
        node.handle_datagram(1, tracker, &wire::encode(&ballot));
        assert_eq!(node.ballot().map(<[String]>::len), Some(2));
        let (kind, why) = cast(&mut node, "v1", "Mallory").unwrap_err();
        assert_eq!(kind, VoteRefusal::Invalid);
        assert!(why.contains("\"Mallory\" is not on the ballot"), "{why}");
        let (kind, _) = cast(&mut node, "", "Bob").unwrap_err();
        assert_eq!(kind, VoteRefusal::Invalid);
        let (kind, _) = cast(&mut node, "v\u{1b}[2J", "Bob").unwrap_err();
        assert_eq!(kind, VoteRefusal::Invalid);
        assert_eq!(
            cast(&mut node, "v1", "Bob"),
            Ok("vote of v1 for Bob accepted; mining it".to_owned())
        );
        let (kind, why) = cast(&mut node, "v1", "Alice").unwrap_err();
        assert_eq!(kind, VoteRefusal::Conflict);
        assert!(why.contains("already being mined"), "{why}");
    }

    #[test]
    fn label_values_are_escaped_for_prometheus() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn an_event_is_one_line_of_stream_data() {
        assert_eq!(one_line("a\r\nb\nc"), "a  b c");
    }
}
