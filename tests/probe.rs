//! A UDP socket on 127.0.0.1 through which a test talks to the binaries directly: asks a peer
//! for STATS, and sends it hand-made (also hostile) datagrams. Like a real peer it keeps the
//! address cookie each node gives it and echoes it in what [`Probe::send`] sends, so its
//! messages prove their origin once the node has answered it once; [`Probe::send_raw`] sends
//! bytes exactly as given. It talks to trackers as well as peers: a test can play a tracker's
//! member with it (`tests/tracker_process.rs`).

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};
use votechain_chain::Hash;
use votechain_proto::{decode, decode_envelope, encode_with, Cookie, Envelope, Message, Stats};

/// How long one STATS question waits for its answer before it counts as unanswered.
const STATS_WAIT: Duration = Duration::from_millis(500);

/// A peer's chain in brief, as STATS_REPLY gives it: the number of blocks and the tip's hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainSummary {
    /// Blocks in the best chain (tip height + 1).
    pub blocks: u64,
    /// Hash of the tip.
    pub tip: Hash,
}

/// A datagram received by a [`Probe`].
#[derive(Debug, Clone)]
pub struct Received {
    /// Who sent it.
    pub from: SocketAddr,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

impl Received {
    /// The message, when it decodes.
    pub fn message(&self) -> Option<Message> {
        decode(&self.bytes).ok()
    }
}

/// A UDP socket bound to a free port on 127.0.0.1.
pub struct Probe {
    socket: UdpSocket,
    /// The latest cookie each node gave us, echoed by [`Probe::send`].
    cookies: RefCell<HashMap<SocketAddr, Cookie>>,
}

impl Default for Probe {
    fn default() -> Self {
        Probe::new()
    }
}

impl Probe {
    /// Binds 127.0.0.1:0.
    pub fn new() -> Probe {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a probe socket on 127.0.0.1");
        Probe {
            socket,
            cookies: RefCell::new(HashMap::new()),
        }
    }

    /// This socket's address.
    pub fn addr(&self) -> SocketAddr {
        self.socket
            .local_addr()
            .expect("a bound socket has an address")
    }

    /// Sends raw bytes to `to`.
    pub fn send_raw(&self, to: SocketAddr, bytes: &[u8]) {
        assert!(to.ip().is_loopback(), "tests send only to loopback");
        self.socket
            .send_to(bytes, to)
            .unwrap_or_else(|e| panic!("sending {} bytes to {to}: {e}", bytes.len()));
    }

    /// Encodes and sends `message` to `to`, echoing the cookie `to` last gave us.
    pub fn send(&self, to: SocketAddr, message: &Message) {
        let envelope = Envelope {
            cookie: None,
            echo: self.cookies.borrow().get(&to).copied(),
        };
        let bytes = encode_with(message, &envelope).expect("test messages are within their bounds");
        self.send_raw(to, &bytes);
    }

    /// The next datagram, or `None` after `timeout`.
    pub fn recv(&self, timeout: Duration) -> Option<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            if left.is_zero() {
                return None;
            }
            self.socket
                .set_read_timeout(Some(left))
                .expect("a non-zero read timeout is valid");
            match self.receive() {
                Ok(got) => return Some(got),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return None
                }
                // An ICMP "port unreachable" from an earlier send to a dead process; go on.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => continue,
                Err(e) => panic!("probe recv: {e}"),
            }
        }
    }

    /// A datagram that has already arrived, or `None` at once: for a test that pumps several
    /// sockets in turn and must not block on one of them.
    pub fn try_recv(&self) -> Option<Received> {
        self.socket
            .set_nonblocking(true)
            .expect("a UDP socket can be made non-blocking");
        let got = loop {
            match self.receive() {
                Ok(got) => break Some(got),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break None,
                // As in `recv`: an ICMP error from an earlier send, not a datagram.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => continue,
                Err(e) => panic!("probe try_recv: {e}"),
            }
        };
        self.socket
            .set_nonblocking(false)
            .expect("a UDP socket can be made blocking again");
        got
    }

    /// One `recv_from`, keeping the cookie the datagram carries for its sender.
    fn receive(&self) -> std::io::Result<Received> {
        let mut buf = vec![0u8; 65_536];
        let (n, from) = self.socket.recv_from(&mut buf)?;
        buf.truncate(n);
        if let Ok((
            _,
            Envelope {
                cookie: Some(c), ..
            },
        )) = decode_envelope(&buf)
        {
            self.cookies.borrow_mut().insert(from, c);
        }
        Ok(Received { from, bytes: buf })
    }

    /// Asks `peer` for STATS and returns its answer, or `None` when it does not answer in
    /// time (not started yet, election not known yet, dead). Other datagrams are skipped.
    pub fn stats(&self, peer: SocketAddr) -> Option<ChainSummary> {
        self.send(peer, &Stats {}.into());
        let deadline = Instant::now() + STATS_WAIT;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let got = self.recv(left)?;
            if got.from != peer {
                continue;
            }
            if let Some(Message::StatsReply(s)) = got.message() {
                return Some(ChainSummary {
                    blocks: s.height,
                    tip: s.hash,
                });
            }
        }
    }

    /// Everything `from` sends until it answers a STATS sent now. The peer handles datagrams
    /// in order and loopback keeps their order, so this is exactly what it sent in answer to
    /// the datagrams this probe sent it before (plus anything it sent on its own meanwhile).
    pub fn drain_until_stats(&self, from: SocketAddr, timeout: Duration) -> Vec<Received> {
        self.send(from, &Stats {}.into());
        let deadline = Instant::now() + timeout;
        let mut got = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(r) = self.recv(left) else {
                panic!("{from} did not answer STATS within {timeout:?}; received {got:?}");
            };
            if r.from == from && matches!(r.message(), Some(Message::StatsReply(_))) {
                return got;
            }
            got.push(r);
        }
    }
}
