//! The axum router and its handlers: each parses its input, asks the shell loop through the
//! [`ServerBridge`] (503 when the loop's queue is full) and turns the [`ApiAnswer`] into a
//! response. Limits: request bodies of [`MAX_BODY`], [`MAX_CONCURRENT`] requests in flight,
//! [`REQUEST_TIMEOUT`] per request; event streams end with the server. Connections are held to
//! [`HttpLimits::default`] by `votechain_runtime::http` (SECURITY.md), and the whole server runs
//! on a thread of its own ([`spawn`]).

use super::{ApiAnswer, ApiRequest, BlockRef, Query, ServerBridge, Submission};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::Request;
use axum::extract::{DefaultBodyLimit, Path, Query as UrlQuery, State};
use axum::http::header::CONTENT_LENGTH;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures_util::stream::{self, Stream, StreamExt as _};
use serde::Deserialize;
use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, oneshot};
use tokio_util::sync::CancellationToken;
use votechain_chain::{Hash, Vote};
use votechain_runtime::HttpLimits;

/// Largest request body accepted (a signed vote is a few hundred bytes).
pub const MAX_BODY: usize = 16 * 1024;

/// Requests handled at once; more wait for a slot.
pub const MAX_CONCURRENT: usize = 64;

/// Longest a request may take before it is answered 408.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Most blocks one `GET /api/blocks` returns.
pub const MAX_BLOCKS_PAGE: usize = 100;

/// Most vote ids one `GET /api/ballots` or `GET /api/pending` returns.
pub const MAX_VOTES_PAGE: usize = 1000;

/// The OpenAPI document of these routes, served at `/api/openapi.json`.
pub const OPENAPI: &str = include_str!("openapi.json");

/// Every route as (method, path): the router serves exactly these, and the OpenAPI document
/// describes exactly these (both checked by tests).
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/api/status"),
    ("get", "/api/tally"),
    ("get", "/api/blocks"),
    ("get", "/api/blocks/{at}"),
    ("get", "/api/pending"),
    ("get", "/api/peers"),
    ("post", "/api/votes"),
    ("get", "/api/votes/{id}"),
    ("get", "/api/ballots"),
    ("get", "/api/events"),
    ("get", "/api/openapi.json"),
    ("get", "/metrics"),
];

/// Serves the API on `listener` until `shutdown` is cancelled, within [`HttpLimits::default`]
/// (votechain_runtime::http: header-read timeout, connection cap, header size); open event
/// streams end on `shutdown`, and open connections get a moment to finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    votechain_runtime::http::serve(
        listener,
        app,
        HttpLimits::default(),
        shutdown.cancelled_owned(),
    )
    .await
}

/// The routes with their limits. `shutdown` ends open event streams.
pub fn router(bridge: ServerBridge, shutdown: CancellationToken) -> Router {
    let api = Router::new()
        .route("/api/status", get(status))
        .route("/api/tally", get(|s| ask(s, Query::Tally)))
        .route("/api/blocks", get(blocks))
        .route("/api/blocks/{at}", get(block))
        .route("/api/pending", get(pending))
        .route("/api/peers", get(|s| ask(s, Query::Peers)))
        .route("/api/votes", axum::routing::post(post_vote))
        .route("/api/votes/{id}", get(vote_receipt))
        .route("/api/ballots", get(ballots))
        .route(
            "/api/openapi.json",
            get(|| async { ([("content-type", "application/json")], OPENAPI) }),
        )
        .route(
            "/metrics",
            get(|| async {
                (
                    [("content-type", "text/plain; version=0.0.4")],
                    crate::metrics::render(),
                )
            }),
        )
        // The web page: not API routes, so not in ROUTES nor the OpenAPI document.
        .route("/", get(super::web::index))
        .route("/assets/{*name}", get(super::web::asset))
        .fallback(|| async {
            answer(ApiAnswer::error(
                404,
                "There is no such page or API endpoint.",
            ))
        })
        .with_state(bridge.clone())
        .layer(
            tower::ServiceBuilder::new()
                .layer(axum::error_handling::HandleErrorLayer::new(
                    |_: tower::BoxError| async {
                        answer(ApiAnswer::error(408, "The request took too long."))
                    },
                ))
                .timeout(REQUEST_TIMEOUT)
                .concurrency_limit(MAX_CONCURRENT),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY));
    // Event streams outlive any request timeout, so they sit outside that layer.
    let events = Router::new().route(
        "/api/events",
        get(move |State(b): State<ServerBridge>| async move {
            events(b.events.subscribe(), shutdown.clone())
        }),
    );
    api.merge(events.with_state(bridge))
        .layer(axum::middleware::from_fn(refuse_declared_oversize))
}

/// Answers 413 at once to a request that declares a body larger than [`MAX_BODY`], on any
/// route: the body limit alone would wait for a body that a lying `Content-Length` never sends
/// (until the request timeout).
async fn refuse_declared_oversize(request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return too_large();
    }
    next.run(request).await
}

fn too_large() -> Response {
    answer(ApiAnswer::error(
        413,
        format!("The request body is larger than {MAX_BODY} bytes."),
    ))
}

fn answer(a: ApiAnswer) -> Response {
    let status = StatusCode::from_u16(a.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(a.body)).into_response()
}

/// Sends `query` to the shell loop and answers with its reply.
async fn ask(State(bridge): State<ServerBridge>, query: Query) -> Response {
    let (reply, answered) = oneshot::channel();
    if bridge
        .requests
        .try_send(ApiRequest { query, reply })
        .is_err()
    {
        return answer(ApiAnswer::error(
            503,
            "The peer is busy or stopping; try again shortly.",
        ));
    }
    match answered.await {
        Ok(a) => answer(a),
        Err(_) => answer(ApiAnswer::error(503, "The peer is stopping.")),
    }
}

/// `GET /api/status`: the body the shell published last, without waiting for the loop (only,
/// in the moment the peer starts, for its first publication).
async fn status(State(mut bridge): State<ServerBridge>) -> Response {
    let body = bridge
        .status
        .wait_for(Option::is_some)
        .await
        .ok()
        .and_then(|body| body.clone());
    match body {
        Some(body) => ([("content-type", "application/json")], body).into_response(),
        None => answer(ApiAnswer::error(503, "The peer is stopping.")),
    }
}

/// `?before=&limit=`.
#[derive(Debug, Deserialize)]
struct Page {
    before: Option<u64>,
    from: Option<u64>,
    limit: Option<usize>,
}

impl Page {
    /// How many votes a page of votes lists: `limit`, within 1 to [`MAX_VOTES_PAGE`].
    fn votes(&self) -> usize {
        self.limit
            .unwrap_or(MAX_VOTES_PAGE)
            .clamp(1, MAX_VOTES_PAGE)
    }
}

async fn blocks(
    state: State<ServerBridge>,
    page: Result<UrlQuery<Page>, QueryRejection>,
) -> Response {
    let Ok(UrlQuery(page)) = page else {
        return bad_query();
    };
    let limit = page.limit.unwrap_or(20).clamp(1, MAX_BLOCKS_PAGE);
    ask(
        state,
        Query::Blocks {
            before: page.before,
            limit,
        },
    )
    .await
}

async fn pending(
    state: State<ServerBridge>,
    page: Result<UrlQuery<Page>, QueryRejection>,
) -> Response {
    let Ok(UrlQuery(page)) = page else {
        return bad_query();
    };
    ask(
        state,
        Query::Pending {
            limit: page.votes(),
        },
    )
    .await
}

async fn ballots(
    state: State<ServerBridge>,
    page: Result<UrlQuery<Page>, QueryRejection>,
) -> Response {
    let Ok(UrlQuery(page)) = page else {
        return bad_query();
    };
    let from = page.from.unwrap_or(1);
    ask(
        state,
        Query::Ballots {
            from,
            limit: page.votes(),
        },
    )
    .await
}

fn bad_query() -> Response {
    answer(ApiAnswer::error(
        400,
        "The query string is not valid: before and from are heights, limit a count.",
    ))
}

async fn block(state: State<ServerBridge>, Path(at): Path<String>) -> Response {
    let at = match (at.parse::<u64>(), Hash::from_hex(&at)) {
        (Ok(h), _) => BlockRef::Height(h),
        (_, Ok(hash)) => BlockRef::Hash(hash),
        _ => {
            return answer(ApiAnswer::error(
                400,
                "A block is named by its height or its 64-digit hex hash.",
            ))
        }
    };
    ask(state, Query::Block(at)).await
}

async fn vote_receipt(state: State<ServerBridge>, Path(id): Path<String>) -> Response {
    match Hash::from_hex(&id) {
        Ok(id) => ask(state, Query::Receipt(id)).await,
        Err(_) => answer(ApiAnswer::error(400, "A vote id is a 64-digit hex hash.")),
    }
}

/// A vote by name: signed here with a key this peer holds.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ByName {
    voter: String,
    choice: String,
}

async fn post_vote(state: State<ServerBridge>, body: Result<Bytes, BytesRejection>) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return too_large(),
        Err(_) => return answer(ApiAnswer::error(400, "The request body could not be read.")),
    };
    let value: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return answer(ApiAnswer::error(
                400,
                format!("The body is not valid JSON ({e})."),
            ))
        }
    };
    let submission = if value.get("signature").is_some() {
        match serde_json::from_value::<Vote>(value) {
            Ok(vote) => Submission::Signed(Box::new(vote)),
            Err(e) => {
                return answer(ApiAnswer::error(
                    400,
                    format!("The body is not a signed vote ({e})."),
                ))
            }
        }
    } else {
        match serde_json::from_value::<ByName>(value) {
            Ok(ByName { voter, choice }) => Submission::Named { voter, choice },
            Err(e) => {
                return answer(ApiAnswer::error(
                    400,
                    format!(
                        "The body is neither a signed vote nor {{\"voter\", \"choice\"}} ({e})."
                    ),
                ))
            }
        }
    };
    ask(state, Query::Submit(submission)).await
}

/// The event stream of one subscriber: a subscriber that falls [`super::EVENT_BUFFER`] events
/// behind loses the oldest and goes on; the stream ends when the server stops.
fn events(
    rx: broadcast::Receiver<super::ApiEvent>,
    shutdown: CancellationToken,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let stream = stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(e) => {
                    let event = SseEvent::default().event(e.kind).data(e.data.to_string());
                    return Some((Ok(event), rx));
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
    .take_until(shutdown.cancelled_owned());
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// Binds `wanted`, or a free port on the same address if it cannot be had; the listener and a
/// sentence saying why another port was taken, if one was.
pub async fn bind(wanted: std::net::SocketAddr) -> std::io::Result<(TcpListener, Option<String>)> {
    match TcpListener::bind(wanted).await {
        Ok(l) => Ok((l, None)),
        Err(e) if wanted.port() != 0 => {
            let l = TcpListener::bind(std::net::SocketAddr::new(wanted.ip(), 0)).await?;
            let note = format!(
                "HTTP port {} could not be used ({e}), so the API listens on a free port instead.",
                wanted.port()
            );
            Ok((l, Some(note)))
        }
        Err(e) => Err(e),
    }
}

/// Runs `serve` on a thread of its own with a one-thread runtime, logging how it ended; the
/// handle completes when the server has stopped. So all HTTP work, however heavy, takes at most
/// one core, and the shell loop (on the caller's runtime) never shares a thread with it.
pub fn spawn(
    listener: TcpListener,
    app: Router,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    // The listener is registered with the caller's runtime; it moves to the server's own.
    let listener = listener.into_std();
    tokio::task::spawn_blocking(move || {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("the HTTP server could not start its runtime: {e}");
                return;
            }
        };
        runtime.block_on(async move {
            let listener = listener.and_then(TcpListener::from_std);
            match listener {
                Ok(l) => log_end(serve(l, app, shutdown)).await,
                Err(e) => tracing::warn!("the HTTP server could not take its listener: {e}"),
            }
        })
    })
}

async fn log_end(server: impl Future<Output = std::io::Result<()>>) {
    if let Err(e) = server.await {
        tracing::warn!("the HTTP server stopped: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt as _;

    async fn status_of(app: Router, method: &str, path: &str, body: &'static str) -> u16 {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .body(Body::from(body))
            .unwrap();
        app.oneshot(request).await.unwrap().status().as_u16()
    }

    #[tokio::test]
    async fn a_full_queue_is_answered_503_at_once_and_input_is_checked_before_queueing() {
        let (_shell, server) = super::super::bridge();
        // Fill the loop's queue as a loop that does not read would leave it.
        for _ in 0..super::super::REQUEST_QUEUE {
            let (reply, _) = oneshot::channel();
            let request = ApiRequest {
                query: Query::Peers,
                reply,
            };
            server.requests.try_send(request).unwrap();
        }
        let app = router(server, CancellationToken::new());
        assert_eq!(status_of(app.clone(), "GET", "/api/peers", "").await, 503);
        // Refused by the handler alone, the loop never asked.
        assert_eq!(
            status_of(app.clone(), "GET", "/api/votes/zz", "").await,
            400
        );
        assert_eq!(
            status_of(app.clone(), "GET", "/api/blocks/x", "").await,
            400
        );
        let bad = "/api/blocks?limit=-1";
        assert_eq!(status_of(app.clone(), "GET", bad, "").await, 400);
        assert_eq!(
            status_of(app.clone(), "POST", "/api/votes", "[1").await,
            400
        );
        assert_eq!(status_of(app.clone(), "GET", "/api/nowhere", "").await, 404);
    }

    #[tokio::test]
    async fn a_declared_oversized_body_is_refused_before_it_is_read() {
        let (_shell, server) = super::super::bridge();
        let app = router(server, CancellationToken::new());
        // Claims a megabyte and sends a few bytes: answered at once, not after a timeout.
        let request = Request::builder()
            .method("POST")
            .uri("/api/votes")
            .header("content-length", "1000000")
            .body(Body::from("{"))
            .unwrap();
        let response = tokio::time::timeout(Duration::from_secs(5), app.oneshot(request))
            .await
            .expect("answered at once")
            .unwrap();
        assert_eq!(response.status().as_u16(), 413);
    }

    #[test]
    fn the_openapi_document_describes_exactly_the_routes() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).expect("valid JSON");
        let mut documented: Vec<(String, String)> = Vec::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for method in item.as_object().expect("methods").keys() {
                documented.push((method.clone(), path.clone()));
            }
        }
        let mut routes: Vec<(String, String)> = ROUTES
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        documented.sort();
        routes.sort();
        assert_eq!(documented, routes);
    }

    #[tokio::test]
    async fn the_router_serves_every_listed_route() {
        let (shell, server) = super::super::bridge();
        // No loop: a routed request is answered 503 at once, an unrouted one 404 or 405.
        drop(shell);
        let app = router(server, CancellationToken::new());
        for (method, path) in ROUTES {
            if *path == "/api/events" {
                continue; // a stream that does not end: served, as the process test shows
            }
            let concrete = path.replace("{at}", "0").replace("{id}", &"ab".repeat(32));
            let request = Request::builder()
                .method(method.to_uppercase().as_str())
                .uri(&concrete)
                .body(Body::from("{}"))
                .unwrap();
            let response = app.clone().oneshot(request).await.unwrap();
            let status = response.status().as_u16();
            assert!(
                ![404, 405].contains(&status),
                "{method} {concrete}: {status}"
            );
        }
    }
}
