//! The peer's HTTP server and JSON API (API.md). The sans-IO node knows nothing of HTTP: the
//! shell owns the node, and HTTP handlers ([`server`]) send it an [`ApiRequest`] over a bounded
//! channel, each with a oneshot for the answer, which the shell loop computes from `&Node` with
//! bounded work ([`api`]). A full channel is answered 503 at once, so no HTTP client can stall
//! the UDP loop. `GET /api/status`, the most asked, does not wait for the loop at all: the shell
//! publishes the status as a finished JSON body on a watch channel ([`ShellBridge::status`]) as
//! it changes, at most every [`STATUS_INTERVAL_MS`], and before the events of a new tip. Node
//! events reach Server-Sent Events subscribers through a broadcast channel, on which a lagging
//! subscriber loses events instead of holding up the loop; the `tally` and `peers` events are
//! coalesced ([`feeds`]), so a sync or a busy network sends a few a second. The web page
//! ([`web`]) is static files compiled in, which use the API like any other client.

pub mod api;
pub mod feeds;
pub mod server;
pub mod serving;
pub mod web;

use axum::body::Bytes;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use votechain_chain::{Hash, Vote};

/// Requests that may wait for the shell loop before handlers answer 503.
pub const REQUEST_QUEUE: usize = 64;

/// Events kept for a slow Server-Sent Events subscriber before it starts losing them.
pub const EVENT_BUFFER: usize = 256;

/// The longest the published status lags the node while it changes (a vote run changes it
/// thousands of times a second). A new tip is published at once, before its events.
pub const STATUS_INTERVAL_MS: u64 = 20;

/// What an HTTP handler asks of the node.
#[derive(Debug)]
pub enum Query {
    /// `GET /api/tally`.
    Tally,
    /// `GET /api/blocks?before=&limit=`: best-chain blocks below `before`, newest first.
    Blocks {
        /// Blocks strictly below this height; `None`: from the tip down.
        before: Option<u64>,
        /// At most this many (already capped by the server).
        limit: usize,
    },
    /// `GET /api/blocks/{height-or-hash}`.
    Block(BlockRef),
    /// `GET /api/pending`.
    Pending {
        /// At most this many votes.
        limit: usize,
    },
    /// `GET /api/peers`.
    Peers,
    /// `GET /api/votes/{vote_id}`.
    Receipt(Hash),
    /// `GET /api/ballots?from=&limit=`: counted votes from block `from` upwards.
    Ballots {
        /// The first block height to list.
        from: u64,
        /// At most this many vote ids (a block is never split across pages).
        limit: usize,
    },
    /// `POST /api/votes`.
    Submit(Submission),
}

/// A block named by height or by hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockRef {
    /// On the best chain at this height.
    Height(u64),
    /// Anywhere in the block tree.
    Hash(Hash),
}

/// A vote submitted over HTTP.
#[derive(Debug)]
pub enum Submission {
    /// Signed already (by the browser or another client): the wire JSON.
    Signed(Box<Vote>),
    /// To be signed with the key of a voter this peer holds.
    Named {
        /// The voter's name (any case).
        voter: String,
        /// The option chosen.
        choice: String,
    },
}

/// An answer computed in the shell loop: an HTTP status and a JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiAnswer {
    /// The HTTP status code.
    pub status: u16,
    /// The JSON body (`{"error": "<sentence>"}` for a refusal).
    pub body: serde_json::Value,
}

impl ApiAnswer {
    /// 200 with `body`.
    pub fn ok(body: serde_json::Value) -> ApiAnswer {
        ApiAnswer { status: 200, body }
    }

    /// A refusal: `status` with `{"error": message}`.
    pub fn error(status: u16, message: impl Into<String>) -> ApiAnswer {
        ApiAnswer {
            status,
            body: serde_json::json!({ "error": message.into() }),
        }
    }
}

/// One request to the shell loop with the way back.
#[derive(Debug)]
pub struct ApiRequest {
    /// What is asked.
    pub query: Query,
    /// Where the answer goes (the handler may have gone: then it is dropped).
    pub reply: oneshot::Sender<ApiAnswer>,
}

/// An event for Server-Sent Events subscribers: its name and its JSON data.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiEvent {
    /// The SSE event name: `tip`, `block`, `reorg`, `vote`, `tally`, `peers`, `election`,
    /// `synced`, `pool`.
    pub kind: &'static str,
    /// The event's JSON data.
    pub data: serde_json::Value,
}

/// The shell's end of the HTTP bridge: requests to answer and where to publish events.
#[derive(Debug)]
pub struct ShellBridge {
    /// Requests from the handlers.
    pub requests: mpsc::Receiver<ApiRequest>,
    /// Events for subscribers; sending never blocks and fails only with no subscriber.
    pub events: broadcast::Sender<ApiEvent>,
    /// The `GET /api/status` body, replaced as the node changes.
    pub status: watch::Sender<Option<Bytes>>,
}

/// The server's end of the HTTP bridge.
#[derive(Debug, Clone)]
pub struct ServerBridge {
    /// Requests to the shell loop.
    pub requests: mpsc::Sender<ApiRequest>,
    /// Subscribes to events.
    pub events: broadcast::Sender<ApiEvent>,
    /// The latest `GET /api/status` body; `None` until the shell has published one.
    pub status: watch::Receiver<Option<Bytes>>,
}

/// A connected pair of bridge ends.
pub fn bridge() -> (ShellBridge, ServerBridge) {
    let (req_tx, req_rx) = mpsc::channel(REQUEST_QUEUE);
    let (events, _) = broadcast::channel(EVENT_BUFFER);
    let (status_tx, status_rx) = watch::channel(None);
    (
        ShellBridge {
            requests: req_rx,
            events: events.clone(),
            status: status_tx,
        },
        ServerBridge {
            requests: req_tx,
            events,
            status: status_rx,
        },
    )
}
