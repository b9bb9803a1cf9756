//! The tracker's tokio shell: one task, one `select!` loop over the UDP socket, one timer armed
//! from [`Registry::poll_timeout`], and the caller's shutdown future. It owns the clock and the
//! RNG seed; everything the tracker decides is decided by the [`Registry`].
//!
//! Datagrams are read in bursts ([`BurstReader`]); replies go out from the listening socket.
//! When the registry has nothing scheduled (no members), no timer is armed and the task sleeps
//! in the socket: an idle tracker uses no CPU.

use crate::config::{Config, ConfigError};
use crate::metrics::{Snapshot, SnapshotRequest};
use crate::registry::{Event, Output, Registry};
use crate::stats::Stats;
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::future::Future;
use std::io;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, info, warn};
use votechain_runtime::net::{enlarge_buffers, BurstReader};

/// Why the tracker stopped other than by its shutdown future.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The configuration cannot drive a registry.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The socket failed in a way that will not pass (not a per-datagram error).
    #[error("socket error: {0}")]
    Io(#[from] io::Error),
}

/// Serves the election of `config` on `socket` until `shutdown` completes; returns the
/// registry's counters. Per-datagram errors (undecodable, unsendable) are logged and counted,
/// never returned.
pub async fn run(
    socket: UdpSocket,
    config: Config,
    shutdown: impl Future,
) -> Result<Stats, RunError> {
    run_with_metrics(socket, config, shutdown, mpsc::channel(1).1).await
}

/// [`run`], answering each request on `metrics` with a [`Snapshot`] of the registry's counters
/// (what [`crate::metrics::serve`] renders). Requests wait behind the timer and the socket's
/// current burst, never ahead of them.
pub async fn run_with_metrics(
    socket: UdpSocket,
    config: Config,
    shutdown: impl Future,
    mut metrics: mpsc::Receiver<SnapshotRequest>,
) -> Result<Stats, RunError> {
    let mut registry = Registry::new(config, StdRng::from_entropy())?;
    // Callers may bind their own socket (the tracker benchmark does), so the shell enlarges its
    // buffers itself; on a socket from `bind_udp` this asks again for the same.
    enlarge_buffers(&socket);
    let start = Instant::now();
    let now_ms = move || start.elapsed().as_millis() as u64;
    let mut reader = BurstReader::default();
    let mut refusals = RefusalLog::default();
    let timer = tokio::time::sleep_until(start);
    tokio::pin!(timer, shutdown);
    let mut armed: Option<u64> = None;
    loop {
        flush(&socket, &mut registry, &mut refusals).await;
        let next = registry.poll_timeout();
        if next != armed {
            if let Some(t) = next {
                timer.as_mut().reset(start + Duration::from_millis(t));
            }
            armed = next;
        }
        tokio::select! {
            // Shutdown first, then the timer: a flood of datagrams cannot starve heartbeats.
            biased;
            _ = &mut shutdown => break,
            _ = &mut timer, if armed.is_some() => {
                armed = None;
                registry.handle_timeout(now_ms());
            }
            received = reader.recv_burst(&socket, |from, bytes| {
                registry.handle_datagram(now_ms(), from, bytes)
            }) => {
                received?;
            }
            Some(reply) = metrics.recv() => {
                let _ = reply.send(Snapshot {
                    members: registry.n_peers(),
                    stats: registry.stats().clone(),
                });
            }
        }
    }
    flush(&socket, &mut registry, &mut refusals).await;
    let stats = registry.stats().clone();
    info!(
        peers = registry.n_peers(),
        joined = stats.joined,
        left = stats.left,
        evicted = stats.evicted,
        datagrams_in = stats.datagrams_in,
        decode_errors = stats.decode_errors_total(),
        rate_limited = stats.rate_limited,
        "tracker stopped"
    );
    Ok(stats)
}

/// Does the registry's outputs in order: sends every queued datagram from the listening socket
/// and logs every event. A datagram that cannot be sent is
/// logged and dropped: UDP promises nothing more, and heartbeats cover the loss.
async fn flush(socket: &UdpSocket, registry: &mut Registry, refusals: &mut RefusalLog) {
    while let Some(output) = registry.poll_output() {
        let t = match output {
            Output::Send(t) => t,
            Output::Event(event) => {
                log_event(&event, refusals);
                continue;
            }
            Output::Persist(never) | Output::Mine(Some(never)) => match never {},
            Output::Mine(None) => continue,
        };
        let sent = match socket.try_send_to(&t.bytes, t.to) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => socket.send_to(&t.bytes, t.to).await,
            other => other,
        };
        if let Err(e) = sent {
            debug!(to = %t.to, "send failed: {e}");
        }
    }
}

/// Refused registrations repeat every half second per peer while the registry is full: warn
/// once per minute with a count, the rest at debug. A peer of another election is warned about
/// once per address (at most 1,024 remembered).
#[derive(Default)]
struct RefusalLog {
    last_warned: Option<Instant>,
    since_warned: u64,
    other_election: std::collections::HashSet<std::net::SocketAddr>,
}

fn log_event(event: &Event, refusals: &mut RefusalLog) {
    // Names come from the network: `{:?}` escapes control characters.
    let named =
        |name: &Option<String>| name.as_ref().map(|n| format!(" {n:?}")).unwrap_or_default();
    match event {
        Event::Joined {
            addr,
            name,
            n_peers,
        } => info!("peer {addr}{} joined; {n_peers} registered", named(name)),
        Event::Left {
            addr,
            name,
            n_peers,
        } => info!(
            "peer {addr}{} left (LEAVE_PEER); {n_peers} registered",
            named(name)
        ),
        Event::Evicted {
            addr,
            name,
            missed,
            n_peers,
        } => info!(
            "peer {addr}{} evicted after {missed} missed heartbeats; {n_peers} registered",
            named(name)
        ),
        Event::OtherElection { addr, name, theirs } => {
            // Such a peer retries every few seconds: one warning per address is enough.
            if refusals.other_election.len() < 1_024 && refusals.other_election.insert(*addr) {
                warn!(
                    "peer {addr}{} holds another election ({theirs}): refused, and told why",
                    named(name)
                );
            } else {
                debug!("peer {addr} of another election refused again");
            }
        }
        Event::Refused { addr, max_peers } => {
            refusals.since_warned += 1;
            let due = refusals
                .last_warned
                .is_none_or(|t| t.elapsed() >= Duration::from_secs(60));
            if due {
                warn!(
                    "registry full ({max_peers} peers): refused {addr} and {} other \
                     registrations since the last warning",
                    refusals.since_warned - 1
                );
                refusals.last_warned = Some(Instant::now());
                refusals.since_warned = 0;
            } else {
                debug!("registry full ({max_peers} peers): refused {addr}");
            }
        }
    }
}
