//! `tracker --http ADDR`: a tiny axum server whose one route, `GET /metrics`, answers with the
//! registry's counters in the Prometheus text format. The registry stays free of HTTP and of
//! the metrics crates: for each scrape the server asks the shell for a [`Snapshot`] over a
//! channel, and renders it with a recorder of its own (not the process's global one, so a
//! tracker run inside another process, as in the benchmarks, mixes with nothing). The server
//! itself is `votechain_runtime::http`'s, with its limits on slow and numerous clients.

use crate::stats::Stats;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use metrics::{counter, gauge, with_local_recorder};
use metrics_exporter_prometheus::PrometheusBuilder;
use std::future::Future;
use std::io;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use votechain_runtime::HttpLimits;

/// What the shell hands over for one scrape.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Registered peers now.
    pub members: usize,
    /// The registry's counters.
    pub stats: Stats,
}

/// One scrape's request to the shell: where to send the [`Snapshot`].
pub type SnapshotRequest = oneshot::Sender<Snapshot>;

/// The Prometheus text format's content type.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Serves `GET /metrics` on `listener` until `shutdown` completes, asking the shell (through
/// `requests`) for the counters of each scrape. Connections are held to the same limits as the
/// peer's API ([`HttpLimits::default`]: header-read timeout, connection cap, header size).
pub async fn serve(
    listener: TcpListener,
    requests: mpsc::Sender<SnapshotRequest>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(scrape))
        .with_state(requests);
    votechain_runtime::http::serve(listener, app, HttpLimits::default(), shutdown).await
}

async fn scrape(State(requests): State<mpsc::Sender<SnapshotRequest>>) -> Response {
    let (tx, rx) = oneshot::channel();
    let snapshot = match requests.send(tx).await {
        Ok(()) => rx.await.ok(),
        Err(_) => None,
    };
    match snapshot {
        Some(snapshot) => {
            ([(header::CONTENT_TYPE, CONTENT_TYPE)], render(&snapshot)).into_response()
        }
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "The tracker is shutting down.\n",
        )
            .into_response(),
    }
}

/// `snapshot` in the Prometheus text format. Series: `votechain_tracker_members`,
/// `votechain_tracker_joins_total`, `votechain_tracker_leaves_total`,
/// `votechain_tracker_evictions_total`, `votechain_tracker_refusals_total{reason}`,
/// `votechain_datagrams_total{type,dir}` (by wire type, received and sent),
/// `votechain_datagrams_dropped_total{reason}`, `votechain_udp_bytes_total{dir}`
/// and `votechain_build_info{version}`.
pub fn render(snapshot: &Snapshot) -> String {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let s = &snapshot.stats;
    with_local_recorder(&recorder, || {
        gauge!("votechain_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
        gauge!("votechain_tracker_members").set(snapshot.members as f64);
        counter!("votechain_tracker_joins_total").absolute(s.joined);
        counter!("votechain_tracker_leaves_total").absolute(s.left);
        counter!("votechain_tracker_evictions_total").absolute(s.evicted);
        let refusals = [("full", s.refused_full), ("election", s.refused_election)];
        for (reason, n) in refusals {
            counter!("votechain_tracker_refusals_total", "reason" => reason).absolute(n);
        }
        for (dir, map) in [("in", &s.messages_in), ("out", &s.messages_out)] {
            for (&ty, &n) in map {
                counter!("votechain_datagrams_total", "type" => ty, "dir" => dir).absolute(n);
            }
        }
        let dropped = [
            ("bad_source", s.bad_source),
            ("rate_limited", s.rate_limited),
            ("source_table_full", s.source_table_full),
            ("unhandled", s.unhandled_total()),
            ("over_budget", s.over_budget),
            ("pending_full", s.pending_full),
        ];
        let reason = |reason: &'static str, n: u64| {
            counter!("votechain_datagrams_dropped_total", "reason" => reason).absolute(n)
        };
        for (name, n) in dropped {
            reason(name, n);
        }
        for (&kind, &n) in &s.decode_errors {
            reason(kind, n);
        }
        counter!("votechain_udp_bytes_total", "dir" => "in").absolute(s.bytes_in);
        counter!("votechain_udp_bytes_total", "dir" => "out").absolute(s.bytes_out);
    });
    handle.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_names_members_joins_and_drops() {
        let mut stats = Stats {
            joined: 3,
            evicted: 1,
            rate_limited: 7,
            ..Stats::default()
        };
        stats.messages_in.insert("REGISTER_PEER", 4);
        stats.messages_out.insert("POKE", 9);
        stats.decode_errors.insert("not_json", 2);
        let text = render(&Snapshot { members: 2, stats });
        for line in [
            "votechain_tracker_members 2",
            "votechain_tracker_joins_total 3",
            "votechain_tracker_evictions_total 1",
            "votechain_datagrams_total{type=\"REGISTER_PEER\",dir=\"in\"} 4",
            "votechain_datagrams_total{type=\"POKE\",dir=\"out\"} 9",
            "votechain_datagrams_dropped_total{reason=\"rate_limited\"} 7",
            "votechain_datagrams_dropped_total{reason=\"not_json\"} 2",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line:?} missing from:\n{text}"
            );
        }
    }
}
