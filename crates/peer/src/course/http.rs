//! The course peer's web page and JSON API (API.md, "Profile comp3010"): `GET /` and
//! `/assets/course.js`, `GET /api/status`, `GET /api/blocks?limit=`, `GET /api/blocks/{height}`,
//! `GET /api/peers`, `POST /api/words` (`{"word": "…"}`), `GET /api/events` (Server-Sent
//! Events: one `status` event per published snapshot) and `GET /metrics` (Prometheus text). The shell publishes a [`CourseSnapshot`]
//! at most every [`SNAPSHOT_EVERY_MS`] on a watch channel, which the server reads without
//! waiting on the node; a word or a block by height is a request over a channel, one at a time.
//! The server runs on its own thread with the limits of every votechain server
//! ([`crate::http::serving::HttpListener::serve_router`]).

use super::node::CourseNode;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::convert::Infallible;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use votechain_course::block::CourseBlock;

/// Shortest gap between two snapshots.
pub const SNAPSHOT_EVERY_MS: u64 = 250;

/// Blocks kept in a snapshot (the newest).
pub const SNAPSHOT_BLOCKS: usize = 50;

/// Largest request body (a word is at most 20 characters).
pub const MAX_BODY_BYTES: usize = 1_024;

/// What the page and the API show, as JSON values built by the shell.
#[derive(Debug, Clone, Default)]
pub struct CourseSnapshot {
    /// `GET /api/status`.
    pub status: Value,
    /// The newest blocks, newest first.
    pub blocks: Vec<Value>,
    /// `GET /api/peers`.
    pub peers: Value,
}

/// A block as the API shows it: the course's fields.
pub fn block_json(b: &CourseBlock) -> Value {
    json!({
        "height": b.height,
        "minedBy": b.mined_by,
        "nonce": b.nonce,
        "messages": b.messages,
        "hash": b.hash.to_hex(),
        "timestamp": b.timestamp,
    })
}

impl CourseSnapshot {
    /// The node as the API shows it; `hashes`: the miner's running count; `pool`: the mining
    /// port's numbers ([`crate::external::pool_json`]), if there is one.
    pub fn of(node: &CourseNode, now_ms: u64, hashes: u64, pool: Option<Value>) -> CourseSnapshot {
        let chain = node.chain();
        let c = node.counters();
        let status = json!({
            "profile": "comp3010",
            "name": node.config().name,
            "address": node.config().advertise.to_string(),
            "difficulty": node.config().difficulty,
            "blocks": chain.len(),
            "top": chain.tip().map(|t| t.hash.to_hex()),
            "mining": node.mining(),
            "hashes": hashes,
            "pool": pool,
            "words_waiting": node.words().cloned().collect::<Vec<_>>(),
            "peers": node.peers().len(),
            "sync": node.sync_progress().map(|(have, want)| json!({"have": have, "want": want})),
            "counters": {
                "received": c.received, "malformed": c.malformed, "flooded": c.flooded,
                "over_budget": c.over_budget, "backed_off": c.backed_off,
                "invalid_blocks": c.invalid_blocks, "unsolicited": c.unsolicited,
                "served": c.served,
            },
            "time_ms": now_ms,
        });
        let blocks = chain
            .blocks()
            .iter()
            .rev()
            .take(SNAPSHOT_BLOCKS)
            .map(block_json)
            .collect();
        let peers = node
            .peers()
            .entries()
            .into_iter()
            .map(|(addr, p)| {
                json!({
                    "address": addr.to_string(),
                    "name": p.name,
                    "seed": p.seed,
                    "talked": p.direct_ms.is_some(),
                    "heard_ms_ago": now_ms.saturating_sub(p.last_heard_ms),
                })
            })
            .collect();
        CourseSnapshot {
            status,
            blocks,
            peers: Value::Array(peers),
        }
    }
}

/// A word from `POST /api/words`, answered by the shell.
#[derive(Debug)]
pub struct WordRequest {
    /// The word.
    pub word: String,
    /// `Ok` when queued, else why not.
    pub reply: oneshot::Sender<Result<(), String>>,
}

/// The shell's side.
#[derive(Debug)]
pub struct CourseBridge {
    /// Words to queue.
    pub words: mpsc::Receiver<WordRequest>,
    /// Where the snapshot is published.
    pub snapshot: watch::Sender<CourseSnapshot>,
    /// Block lookups by height.
    pub blocks: mpsc::Receiver<BlockRequest>,
}

/// `GET /api/blocks/{height}`, answered by the shell.
#[derive(Debug)]
pub struct BlockRequest {
    /// The height.
    pub height: u64,
    /// The block as JSON, if the chain has one there.
    pub reply: oneshot::Sender<Option<Value>>,
}

/// The server's side.
#[derive(Debug, Clone)]
struct ServerSide {
    words: mpsc::Sender<WordRequest>,
    blocks: mpsc::Sender<BlockRequest>,
    snapshot: watch::Receiver<CourseSnapshot>,
}

/// The routes, and the shell's end of the channels; `stop` ends the event streams.
pub fn router(stop: CancellationToken) -> (Router, CourseBridge) {
    let (words_tx, words) = mpsc::channel(64);
    let (blocks_tx, blocks) = mpsc::channel(64);
    let (snapshot, snapshot_rx) = watch::channel(CourseSnapshot::default());
    let side = ServerSide {
        words: words_tx,
        blocks: blocks_tx,
        snapshot: snapshot_rx,
    };
    let app =
        Router::new()
            .route("/", get(page))
            .route("/assets/course.js", get(script))
            .route("/assets/{*name}", get(crate::http::web::asset))
            .route(
                "/api/status",
                get(|State(s): State<ServerSide>| async move {
                    Json(s.snapshot.borrow().status.clone())
                }),
            )
            .route(
                "/api/peers",
                get(|State(s): State<ServerSide>| async move {
                    Json(s.snapshot.borrow().peers.clone())
                }),
            )
            .route("/api/blocks", get(recent_blocks))
            .route("/api/blocks/{height}", get(one_block))
            .route("/api/words", post(post_word))
            .route("/metrics", get(metrics))
            .route(
                "/api/events",
                get(move |State(s): State<ServerSide>| events(s, stop.clone())),
            )
            .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
            .with_state(side);
    (
        app,
        CourseBridge {
            words,
            snapshot,
            blocks,
        },
    )
}

const CSP: &str = crate::http::web::CONTENT_SECURITY_POLICY;

async fn page() -> Response {
    embedded("text/html; charset=utf-8", include_str!("web/course.html"))
}

async fn script() -> Response {
    embedded(
        "text/javascript; charset=utf-8",
        include_str!("web/course.js"),
    )
}

/// A page or script compiled into the binary, under the policy of every votechain page (shared
/// with the w4119 profile's page).
pub(crate) fn embedded(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CSP),
        ],
        body,
    )
        .into_response()
}

/// `?limit=` of a block list (shared with the w4119 profile).
#[derive(serde::Deserialize)]
pub(crate) struct Limit {
    /// How many blocks, at most.
    pub(crate) limit: Option<usize>,
}

async fn recent_blocks(State(s): State<ServerSide>, Query(q): Query<Limit>) -> Json<Value> {
    let n = q.limit.unwrap_or(20).min(SNAPSHOT_BLOCKS);
    let blocks: Vec<Value> = s.snapshot.borrow().blocks.iter().take(n).cloned().collect();
    Json(Value::Array(blocks))
}

/// An API refusal: `{"error": sentence}` with its status (shared with the w4119 profile).
pub(crate) fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

async fn one_block(State(s): State<ServerSide>, Path(height): Path<String>) -> Response {
    let Ok(height) = height.parse::<u64>() else {
        return error(StatusCode::BAD_REQUEST, "the height must be a whole number");
    };
    let (reply, answer) = oneshot::channel();
    if s.blocks.send(BlockRequest { height, reply }).await.is_err() {
        return error(StatusCode::SERVICE_UNAVAILABLE, "the peer is stopping");
    }
    match answer.await {
        Ok(Some(block)) => Json(block).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, "no block at that height"),
        Err(_) => error(StatusCode::SERVICE_UNAVAILABLE, "the peer is stopping"),
    }
}

#[derive(serde::Deserialize)]
struct WordBody {
    word: String,
}

async fn post_word(State(s): State<ServerSide>, body: axum::body::Bytes) -> Response {
    let Ok(WordBody { word }) = serde_json::from_slice::<WordBody>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "the body must be a JSON object with a string \"word\"",
        );
    };
    let (reply, answer) = oneshot::channel();
    if s.words.send(WordRequest { word, reply }).await.is_err() {
        return error(StatusCode::SERVICE_UNAVAILABLE, "the peer is stopping");
    }
    let mining = s.snapshot.borrow().status["mining"]
        .as_bool()
        .unwrap_or(false);
    match answer.await {
        Ok(Ok(())) => (
            StatusCode::ACCEPTED,
            Json(json!({ "queued": true, "mining": mining })),
        )
            .into_response(),
        Ok(Err(why)) => error(StatusCode::BAD_REQUEST, &why),
        Err(_) => error(StatusCode::SERVICE_UNAVAILABLE, "the peer is stopping"),
    }
}

async fn events(
    s: ServerSide,
    stop: CancellationToken,
) -> Sse<impl futures_util::Stream<Item = Result<Event, Infallible>>> {
    let mut rx = s.snapshot.clone();
    let stream = futures_util::stream::unfold((rx.clone(), true), |(mut rx, first)| async move {
        if !first && rx.changed().await.is_err() {
            return None;
        }
        let data = rx.borrow_and_update().status.to_string();
        Some((Ok(Event::default().event("status").data(data)), (rx, false)))
    });
    rx.mark_unchanged();
    Sse::new(futures_util::StreamExt::take_until(
        stream,
        stop.cancelled_owned(),
    ))
    .keep_alive(KeepAlive::default())
}

/// `GET /metrics`: the snapshot's figures in the Prometheus text format (API.md, "Profile
/// comp3010").
async fn metrics(State(s): State<ServerSide>) -> Response {
    let status = s.snapshot.borrow().status.clone();
    let n = |path: &[&str]| -> u64 {
        let mut v = &status;
        for key in path {
            v = &v[*key];
        }
        match v {
            Value::Array(a) => a.len() as u64,
            other => other.as_u64().unwrap_or(0),
        }
    };
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, samples: &[(&str, u64)]| {
        prometheus_metric(&mut out, name, kind, help, samples)
    };
    metric(
        "votechain_course_blocks",
        "gauge",
        "Blocks in the course chain.",
        &[("", n(&["blocks"]))],
    );
    metric(
        "votechain_course_peers",
        "gauge",
        "Peers in the table.",
        &[("", n(&["peers"]))],
    );
    metric(
        "votechain_course_words_waiting",
        "gauge",
        "Words waiting to be mined.",
        &[("", n(&["words_waiting"]))],
    );
    metric(
        "votechain_course_hashes_total",
        "counter",
        "Hashes the miner tried.",
        &[("", n(&["hashes"]))],
    );
    metric(
        "votechain_course_datagrams_total",
        "counter",
        "Datagrams received, by what became of them.",
        &[
            ("{result=\"received\"}", n(&["counters", "received"])),
            ("{result=\"malformed\"}", n(&["counters", "malformed"])),
            ("{result=\"flooded\"}", n(&["counters", "flooded"])),
            ("{result=\"unsolicited\"}", n(&["counters", "unsolicited"])),
        ],
    );
    metric(
        "votechain_course_replies_withheld_total",
        "counter",
        "Replies not sent, by reason.",
        &[
            ("{reason=\"over_budget\"}", n(&["counters", "over_budget"])),
            ("{reason=\"backed_off\"}", n(&["counters", "backed_off"])),
        ],
    );
    metric(
        "votechain_course_blocks_invalid_total",
        "counter",
        "Blocks that failed validation.",
        &[("", n(&["counters", "invalid_blocks"]))],
    );
    metric(
        "votechain_course_blocks_served_total",
        "counter",
        "Blocks served in GET_BLOCK_REPLY.",
        &[("", n(&["counters", "served"]))],
    );
    if status["pool"].is_object() {
        metric(
            "votechain_pool_miners",
            "gauge",
            "Miners authorized on the mining port.",
            &[("", n(&["pool", "miners"]))],
        );
        metric(
            "votechain_pool_connections",
            "gauge",
            "Open connections to the mining port.",
            &[("", n(&["pool", "connections"]))],
        );
        metric(
            "votechain_pool_hashrate",
            "gauge",
            "The external miners' hashes per second, estimated from their shares.",
            &[("", n(&["pool", "hash_rate"]))],
        );
        let results: Vec<(String, u64)> = status["pool"]["shares"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(result, v)| (format!("{{result=\"{result}\"}}"), v.as_u64().unwrap_or(0)))
            .collect();
        let samples: Vec<(&str, u64)> = results.iter().map(|(l, v)| (l.as_str(), *v)).collect();
        metric(
            "votechain_pool_shares_total",
            "counter",
            "Shares submitted to the mining port, by result.",
            &samples,
        );
        metric(
            "votechain_pool_blocks_total",
            "counter",
            "Shares that met the block target.",
            &[("", n(&["pool", "blocks_found"]))],
        );
    }
    prometheus_text(out)
}

/// Appends one metric in the Prometheus text format: its help, its type and its samples
/// (`labels` is empty or `{name="value",…}`, already escaped). Shared with the w4119 profile.
pub(crate) fn prometheus_metric(
    out: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    samples: &[(&str, u64)],
) {
    out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
    for (labels, value) in samples {
        out.push_str(&format!("{name}{labels} {value}\n"));
    }
}

/// A `/metrics` answer (shared with the w4119 profile).
pub(crate) fn prometheus_text(out: String) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response()
}
