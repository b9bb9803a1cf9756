//! The W4119 tracker (`python tracker_server.py 5000`): it registers any sender, answers
//! REQUEST_BALLOT with its options, POKEs every peer each second and removes a peer that missed
//! three POKEs in a row. [`Registry`] is its state and rules, with no IO; [`W4119Tracker`] runs
//! it on one thread over a loopback socket and stops when dropped.
//!
//! Faithful to the Python tracker: peers are their UDP source `ip:port`; registration is open to
//! anyone; LEAVE_PEER removes the sender without telling the others; only a datagram of type
//! exactly `POKE-ACK` from a registered peer counts as an answer; at most 4096 bytes of a datagram
//! are read.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::datagram::{self, Counters};
use crate::socket::{bind_udp, is_transient};

/// The time between two rounds of POKEs.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);

/// POKEs in a row a peer may leave unanswered; at this many it is removed.
pub const MISSES_ALLOWED: u32 = 3;

/// The most bytes the tracker reads of one datagram; the rest is cut off, as Python's
/// `recvfrom(4096)` does.
pub const TRACKER_READ_BYTES: usize = 4096;

/// A datagram to send: where, and the text.
pub type Outgoing = (SocketAddr, String);

/// The tracker's state and rules, with no IO: datagrams and heartbeat ticks in, datagrams out.
#[derive(Debug, Clone)]
pub struct Registry {
    /// The ballot options, as given on the command line.
    options: Vec<String>,
    /// The registered peers in registration order, with the POKEs each left unanswered in a row.
    peers: Vec<(SocketAddr, u32)>,
    /// Peers removed for missing POKEs.
    evictions: u64,
    /// What arrived.
    counters: Counters,
}

impl Registry {
    /// A tracker offering `options` on its ballot, with no peers.
    pub fn new(options: &[&str]) -> Registry {
        Registry {
            options: options.iter().map(|option| (*option).to_owned()).collect(),
            peers: Vec::new(),
            evictions: 0,
            counters: Counters::default(),
        }
    }

    /// Handles one datagram from `from` and returns what to send.
    pub fn handle_datagram(&mut self, from: SocketAddr, bytes: &[u8]) -> Vec<Outgoing> {
        let (kind, _) = match datagram::decode(bytes) {
            Ok(decoded) => decoded,
            Err(_) => {
                self.counters.count_undecodable();
                return Vec::new();
            }
        };
        self.counters.count(&kind);
        match kind.as_str() {
            "REGISTER_PEER" => {
                if !self.peers.iter().any(|(peer, _)| *peer == from) {
                    self.peers.push((from, 0));
                }
                let listed = self.peer_strings();
                let mut out = vec![(from, datagram::peer_list("REGISTER_ACK", &listed))];
                out.extend(self.update_peers());
                out
            }
            "LEAVE_PEER" => {
                self.peers.retain(|(peer, _)| *peer != from);
                Vec::new()
            }
            "REQUEST_BALLOT" => vec![(from, datagram::ballot_options(&self.options))],
            "POKE-ACK" => {
                if let Some((_, misses)) = self.peers.iter_mut().find(|(peer, _)| *peer == from) {
                    *misses = 0;
                }
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// One heartbeat round: a POKE to every peer, then the removal of every peer that has now
    /// missed [`MISSES_ALLOWED`] POKEs, and UPDATE_PEERS to the rest if any was removed.
    pub fn handle_heartbeat(&mut self) -> Vec<Outgoing> {
        let poke = datagram::bare("POKE");
        let mut out: Vec<Outgoing> = Vec::with_capacity(self.peers.len());
        for (peer, misses) in &mut self.peers {
            out.push((*peer, poke.clone()));
            *misses = misses.saturating_add(1);
        }
        let before = self.peers.len();
        self.peers.retain(|(_, misses)| *misses < MISSES_ALLOWED);
        let removed = before - self.peers.len();
        if removed > 0 {
            self.evictions += removed as u64;
            out.extend(self.update_peers());
        }
        out
    }

    /// UPDATE_PEERS with the current list, to every peer.
    fn update_peers(&self) -> Vec<Outgoing> {
        let message = datagram::peer_list("UPDATE_PEERS", &self.peer_strings());
        self.peers
            .iter()
            .map(|(peer, _)| (*peer, message.clone()))
            .collect()
    }

    /// The peers as the `"ip:port"` strings the tracker sends.
    fn peer_strings(&self) -> Vec<String> {
        self.peers
            .iter()
            .map(|(peer, _)| peer.to_string())
            .collect()
    }

    /// The registered peers, in registration order.
    pub fn peers(&self) -> Vec<SocketAddr> {
        self.peers.iter().map(|(peer, _)| *peer).collect()
    }

    /// Peers removed for missing POKEs so far.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    /// Datagrams of type `kind` received so far.
    pub fn received(&self, kind: &str) -> u64 {
        self.counters.received(kind)
    }

    /// Datagrams dropped so far because they were not UTF-8 JSON objects with a string `type`.
    pub fn undecodable(&self) -> u64 {
        self.counters.undecodable()
    }
}

/// A W4119 tracker on `127.0.0.1`, on a background thread that stops when this handle drops.
#[derive(Debug)]
pub struct W4119Tracker {
    /// Where it listens.
    addr: SocketAddr,
    /// Its state, shared with its thread.
    registry: Arc<Mutex<Registry>>,
    /// Set on drop; the thread sees it within one read timeout.
    stop: Arc<AtomicBool>,
    /// The thread, joined on drop.
    thread: Option<JoinHandle<()>>,
}

impl W4119Tracker {
    /// Starts a tracker on a fresh `127.0.0.1` port offering `options` on its ballot.
    pub fn start(options: &[&str]) -> io::Result<W4119Tracker> {
        let socket = bind_udp(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
        let addr = socket.local_addr()?;
        let registry = Arc::new(Mutex::new(Registry::new(options)));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = thread::Builder::new()
            .name("w4119-tracker".to_owned())
            .spawn({
                let registry = Arc::clone(&registry);
                let stop = Arc::clone(&stop);
                move || run(&socket, &registry, &stop)
            })?;
        Ok(W4119Tracker {
            addr,
            registry,
            stop,
            thread: Some(thread),
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The registered peers, in registration order.
    pub fn peers(&self) -> Vec<SocketAddr> {
        self.registry().peers()
    }

    /// Peers removed for missing POKEs so far.
    pub fn evictions(&self) -> u64 {
        self.registry().evictions()
    }

    /// Datagrams of type `kind` received so far (`"REGISTER_PEER"`, `"POKE-ACK"`, …).
    pub fn received(&self, kind: &str) -> u64 {
        self.registry().received(kind)
    }

    /// Datagrams dropped so far because they were not UTF-8 JSON objects with a string `type`.
    pub fn undecodable(&self) -> u64 {
        self.registry().undecodable()
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        lock(&self.registry)
    }
}

impl Drop for W4119Tracker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Locks a mutex, taking the state over from a thread that panicked while holding it.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The tracker's thread: reads datagrams, and every [`HEARTBEAT_INTERVAL`] runs a heartbeat.
fn run(socket: &UdpSocket, registry: &Mutex<Registry>, stop: &AtomicBool) {
    let mut buffer = [0u8; TRACKER_READ_BYTES];
    let mut next_heartbeat = Instant::now() + HEARTBEAT_INTERVAL;
    while !stop.load(Ordering::Relaxed) {
        let out = match socket.recv_from(&mut buffer) {
            Ok((length, from)) => lock(registry).handle_datagram(from, &buffer[..length]),
            Err(error) if is_transient(&error) => Vec::new(),
            // Any other read error is not the sender's to cause; wait a moment and go on.
            Err(_) => {
                thread::sleep(crate::socket::POLL);
                Vec::new()
            }
        };
        send_all(socket, &out);
        if Instant::now() >= next_heartbeat {
            next_heartbeat += HEARTBEAT_INTERVAL;
            let out = lock(registry).handle_heartbeat();
            send_all(socket, &out);
        }
    }
}

/// Sends each datagram, ignoring failures as the Python code does (UDP is best effort).
pub(crate) fn send_all(socket: &UdpSocket, out: &[Outgoing]) {
    for (to, text) in out {
        let _ = socket.send_to(text.as_bytes(), to);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, port))
    }

    #[test]
    fn registration_acks_and_updates_everyone() {
        let mut registry = Registry::new(&["Adam", "Bob"]);
        assert_eq!(
            registry.handle_datagram(addr(8071), br#"{"type": "REGISTER_PEER"}"#),
            vec![
                (
                    addr(8071),
                    r#"{"type": "REGISTER_ACK", "peer_list": ["127.0.0.1:8071"]}"#.to_owned()
                ),
                (
                    addr(8071),
                    r#"{"type": "UPDATE_PEERS", "peer_list": ["127.0.0.1:8071"]}"#.to_owned()
                ),
            ]
        );
        let out = registry.handle_datagram(addr(8081), br#"{"type":"REGISTER_PEER"}"#);
        let both = r#"["127.0.0.1:8071", "127.0.0.1:8081"]"#;
        assert_eq!(
            out,
            vec![
                (
                    addr(8081),
                    format!(r#"{{"type": "REGISTER_ACK", "peer_list": {both}}}"#)
                ),
                (
                    addr(8071),
                    format!(r#"{{"type": "UPDATE_PEERS", "peer_list": {both}}}"#)
                ),
                (
                    addr(8081),
                    format!(r#"{{"type": "UPDATE_PEERS", "peer_list": {both}}}"#)
                ),
            ]
        );
        assert_eq!(
            registry.handle_datagram(addr(9999), br#"{"type": "REQUEST_BALLOT"}"#),
            vec![(
                addr(9999),
                r#"{"type": "BALLOT_OPTIONS", "voting_options": ["Adam", "Bob"]}"#.to_owned()
            )]
        );
        assert!(registry
            .handle_datagram(addr(8071), br#"{"type": "LEAVE_PEER"}"#)
            .is_empty());
        assert_eq!(registry.peers(), vec![addr(8081)]);
        assert_eq!(registry.received("REGISTER_PEER"), 2);
    }

    #[test]
    fn three_missed_pokes_evict_and_only_poke_ack_counts() {
        let mut registry = Registry::new(&[]);
        registry.handle_datagram(addr(1), br#"{"type": "REGISTER_PEER"}"#);
        registry.handle_datagram(addr(2), br#"{"type": "REGISTER_PEER"}"#);
        for _ in 0..2 {
            let out = registry.handle_heartbeat();
            assert_eq!(out.len(), 2);
            assert!(out.iter().all(|(_, text)| text == r#"{"type": "POKE"}"#));
            registry.handle_datagram(addr(1), br#"{"type": "POKE-ACK"}"#);
            registry.handle_datagram(addr(2), br#"{"type": "POKE_ACK"}"#);
        }
        let out = registry.handle_heartbeat();
        assert_eq!(registry.peers(), vec![addr(1)]);
        assert_eq!(registry.evictions(), 1);
        assert_eq!(
            out.last(),
            Some(&(
                addr(1),
                r#"{"type": "UPDATE_PEERS", "peer_list": ["127.0.0.1:1"]}"#.to_owned()
            ))
        );
    }

    #[test]
    fn garbage_is_counted_and_dropped() {
        let mut registry = Registry::new(&[]);
        for bytes in [
            &b"not json"[..],
            b"{}",
            b"[]",
            b"\xff\xfe",
            br#"{"type": null}"#,
        ] {
            assert!(registry.handle_datagram(addr(1), bytes).is_empty());
        }
        assert_eq!(registry.undecodable(), 5);
        assert!(registry
            .handle_datagram(addr(1), br#"{"type": "CHALLENGE"}"#)
            .is_empty());
        assert_eq!(registry.received("CHALLENGE"), 1);
    }
}
