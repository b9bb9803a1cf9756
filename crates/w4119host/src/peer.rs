//! [`W4119Peer`]: the W4119 peer's [`Node`] on one background thread over a loopback socket. The
//! thread reads datagrams and resends REGISTER_PEER or REQUEST_BALLOT every half second while
//! joining; [`W4119Peer::vote`] and [`W4119Peer::leave`] act from the caller's thread and send
//! from the same listening socket. Dropping the handle stops and joins the thread.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::block::{Block, DEFAULT_DIFFICULTY};
use crate::clock::now_timestamp;
use crate::node::{Node, Phase};
use crate::socket::{bind_udp, is_transient, POLL};
use crate::tracker::{lock, send_all};

/// The largest datagram the peer reads, as Python's `recvfrom(65535)`.
pub const PEER_READ_BYTES: usize = 65_535;

/// How a W4119 peer is set up.
#[derive(Debug, Clone)]
pub struct W4119PeerConfig {
    /// The loopback address it binds (port 0); `127.0.0.x` lets tests give peers distinct IPs.
    pub ip: Ipv4Addr,
    /// Leading hex zeros it mines and demands (2 in the running W4119 peer).
    pub difficulty: usize,
    /// Whether it registers with the tracker at all (off for negative tests).
    pub register: bool,
    /// Whether it answers POKE (off to see the tracker evict it).
    pub answer_pokes: bool,
    /// The time between two REGISTER_PEER or REQUEST_BALLOT resends.
    pub resend_interval: Duration,
}

impl Default for W4119PeerConfig {
    /// The running W4119 peer: `127.0.0.1`, difficulty 2, registering and answering POKEs,
    /// resending every 0.5 s.
    fn default() -> W4119PeerConfig {
        W4119PeerConfig {
            ip: Ipv4Addr::LOCALHOST,
            difficulty: DEFAULT_DIFFICULTY,
            register: true,
            answer_pokes: true,
            resend_interval: Duration::from_millis(500),
        }
    }
}

/// A W4119 peer on a background thread that stops when this handle drops.
#[derive(Debug)]
pub struct W4119Peer {
    /// Where it listens (and sends from).
    addr: SocketAddr,
    /// The listening socket, for sends from the caller's thread.
    socket: UdpSocket,
    /// Its state, shared with its thread.
    node: Arc<Mutex<Node>>,
    /// Set on drop; the thread sees it within one read timeout.
    stop: Arc<AtomicBool>,
    /// The thread, joined on drop.
    thread: Option<JoinHandle<()>>,
}

impl W4119Peer {
    /// Starts a peer on a fresh port of `cfg.ip` that joins the tracker at `tracker` (unless
    /// `cfg.register` is off).
    pub fn start(tracker: SocketAddr, cfg: W4119PeerConfig) -> io::Result<W4119Peer> {
        let socket = bind_udp(SocketAddr::from((cfg.ip, 0)))?;
        let addr = socket.local_addr()?;
        let node = Arc::new(Mutex::new(Node::new(
            addr,
            tracker,
            cfg.difficulty,
            cfg.register,
            cfg.answer_pokes,
        )));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = thread::Builder::new()
            .name("w4119-peer".to_owned())
            .spawn({
                let socket = socket.try_clone()?;
                let node = Arc::clone(&node);
                let stop = Arc::clone(&stop);
                move || run(&socket, &node, &stop, cfg.resend_interval)
            })?;
        Ok(W4119Peer {
            addr,
            socket,
            node,
            stop,
            thread: Some(thread),
        })
    }

    /// Casts a vote now: mines a block with one transaction, appends it and sends NEW_BLOCK to
    /// every listed peer. Returns the block. Nothing is checked, as in the W4119 peer.
    pub fn vote(&self, voter: &str, candidate: &str) -> Block {
        let (block, out) = self.node().vote(voter, candidate, &now_timestamp());
        send_all(&self.socket, &out);
        block
    }

    /// Sends LEAVE_PEER to the tracker and stops resending; the peer still answers datagrams.
    pub fn leave(&self) {
        let out = self.node().leave();
        send_all(&self.socket, &out);
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether a REGISTER_ACK has arrived.
    pub fn registered(&self) -> bool {
        self.node().registered()
    }

    /// Where it is in joining.
    pub fn phase(&self) -> Phase {
        self.node().phase()
    }

    /// The ballot, once BALLOT_OPTIONS arrived.
    pub fn ballot(&self) -> Option<Vec<String>> {
        self.node().ballot()
    }

    /// The peer list from the last REGISTER_ACK or UPDATE_PEERS, itself left out.
    pub fn peer_list(&self) -> Vec<SocketAddr> {
        self.node().peer_list()
    }

    /// The chain, genesis first.
    pub fn chain(&self) -> Vec<Block> {
        self.node().chain()
    }

    /// The index of the tip: 0 with only the genesis block.
    pub fn height(&self) -> u64 {
        self.node().height()
    }

    /// Datagrams of type `kind` received so far (`"POKE"`, `"NEW_BLOCK"`, …).
    pub fn received(&self, kind: &str) -> u64 {
        self.node().received(kind)
    }

    /// Datagrams dropped so far because they were not UTF-8 JSON objects with a string `type`.
    pub fn undecodable(&self) -> u64 {
        self.node().undecodable()
    }

    /// POKE-ACKs sent so far.
    pub fn pokes_answered(&self) -> u64 {
        self.node().pokes_answered()
    }

    /// NEW_BLOCK and CHAIN_BLOCK datagrams with a missing or mistyped field, which would have
    /// raised in the Python peer's handler, dropped so far.
    pub fn crashes_avoided(&self) -> u64 {
        self.node().crashes_avoided()
    }

    /// Well-formed blocks dropped for a bad hash or too little work.
    pub fn invalid_blocks(&self) -> u64 {
        self.node().invalid_blocks()
    }

    /// Complete CHAIN_BLOCK streams adopted as the new chain.
    pub fn chains_adopted(&self) -> u64 {
        self.node().chains_adopted()
    }

    /// Complete CHAIN_BLOCK streams not adopted (invalid, or not longer).
    pub fn chains_rejected(&self) -> u64 {
        self.node().chains_rejected()
    }

    fn node(&self) -> MutexGuard<'_, Node> {
        lock(&self.node)
    }
}

impl Drop for W4119Peer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The peer's thread: a resend at once and every `resend_interval`, and every datagram handled.
fn run(socket: &UdpSocket, node: &Mutex<Node>, stop: &AtomicBool, resend_interval: Duration) {
    let mut buffer = vec![0u8; PEER_READ_BYTES];
    let mut next_resend = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if Instant::now() >= next_resend {
            next_resend = Instant::now() + resend_interval;
            let out = lock(node).handle_resend();
            send_all(socket, &out);
        }
        let out = match socket.recv_from(&mut buffer) {
            Ok((length, from)) => lock(node).handle_datagram(from, &buffer[..length]),
            Err(error) if is_transient(&error) => Vec::new(),
            // Any other read error is not the sender's to cause; wait a moment and go on.
            Err(_) => {
                thread::sleep(POLL);
                Vec::new()
            }
        };
        send_all(socket, &out);
    }
}
