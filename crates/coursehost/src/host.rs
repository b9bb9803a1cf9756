//! The course host: a course peer running on background threads. One thread reads the listening
//! socket and answers (see `serve`); one worker runs consensus when asked (see `consensus`). The
//! [`Host`] handle reads its state, sends on its behalf, and stops and joins both threads when
//! dropped.

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::block::{block_to_json, block_valid, Block};
use crate::consensus::{self, ConsensusOutcome};
use crate::mine::mine_on;
use crate::socket::{any_loopback_port, bind_udp, POLL};
use crate::wire::python_dumps;

/// The most peers a host tracks; gossip from further peers is answered but not remembered.
const MAX_PEERS: usize = 1024;
/// The most distinct `type` strings counted separately; further types are counted as
/// [`OTHER_TYPES`].
const MAX_COUNTED_TYPES: usize = 256;
/// The key under which types past [`MAX_COUNTED_TYPES`] are counted.
pub(crate) const OTHER_TYPES: &str = "";
/// The most words a host keeps from NEW_WORD.
const MAX_WORDS: usize = 10_000;
/// Replies waiting for the consensus worker; more are dropped.
const REPLY_QUEUE: usize = 1024;

/// How a course host is set up.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Where it listens; a loopback address (`127.0.0.1:0` in tests).
    pub bind: SocketAddr,
    /// Its name, sent in GOSSIP and GOSSIP_REPLY.
    pub name: String,
    /// The trailing zeros it demands of every block it accepts.
    pub difficulty: usize,
    /// The chain it starts with, trusted as given (not validated).
    pub chain: Vec<Block>,
    /// If set, STATS_REPLY claims this (height, hash) while GET_BLOCK serves only the real chain:
    /// a liar about its height.
    pub lie: Option<(u64, String)>,
    /// Send each of its own requests (GOSSIP, STATS, GET_BLOCK) from a fresh socket and read the
    /// reply there for 50 ms, like one of the course implementations.
    pub throwaway_ports: bool,
    /// Well-known peers it GOSSIPs to at start; they become known peers when they answer.
    pub peers: Vec<SocketAddr>,
}

impl HostConfig {
    /// An honest host on a fresh loopback port with an empty chain, no peers and replies from its
    /// listening port.
    pub fn new(name: impl Into<String>, difficulty: usize) -> HostConfig {
        HostConfig {
            bind: any_loopback_port(),
            name: name.into(),
            difficulty,
            chain: Vec::new(),
            lie: None,
            throwaway_ports: false,
            peers: Vec::new(),
        }
    }
}

/// What a request to the consensus worker carries: where to report the outcome, if anywhere.
pub(crate) type Trigger = Option<mpsc::Sender<ConsensusOutcome>>;

/// A reply the listening thread hands to the consensus worker.
pub(crate) struct Reply {
    /// Its source address.
    pub(crate) from: SocketAddr,
    /// Its JSON body.
    pub(crate) body: Value,
}

/// The state both threads and the handle share.
pub(crate) struct Shared {
    /// The listening socket; every answer leaves from it.
    pub(crate) socket: UdpSocket,
    /// The listening socket's address, which GOSSIP and GOSSIP_REPLY advertise.
    pub(crate) addr: SocketAddr,
    /// Sent in GOSSIP and GOSSIP_REPLY.
    pub(crate) name: String,
    /// Demanded of every block accepted by ANNOUNCE or consensus.
    pub(crate) difficulty: usize,
    /// What STATS_REPLY claims instead of the truth, if set.
    pub(crate) lie: Option<(u64, String)>,
    /// Whether its own requests leave from throw-away sockets.
    pub(crate) throwaway_ports: bool,
    /// The chain, genesis first.
    pub(crate) chain: Mutex<Vec<Block>>,
    /// Known peers, in the order learned.
    pub(crate) peers: Mutex<Vec<SocketAddr>>,
    /// GOSSIP ids already handled, so that each is answered and forwarded once.
    pub(crate) seen_gossip: Mutex<HashSet<String>>,
    /// Datagrams received, by `type`.
    pub(crate) received: Mutex<HashMap<String, u64>>,
    /// Words received in NEW_WORD.
    pub(crate) words: Mutex<Vec<String>>,
    /// ANNOUNCEd blocks appended.
    pub(crate) accepted_announces: AtomicU64,
    /// Datagrams with a `type` it does not know.
    pub(crate) unknown_types: AtomicU64,
    /// Datagrams that are not a JSON object with a string `type`, or that lack a needed field.
    pub(crate) malformed: AtomicU64,
    /// Chains adopted by consensus.
    pub(crate) adoptions: AtomicU64,
    /// Rotates the peers GOSSIP is forwarded to.
    pub(crate) forward_cursor: AtomicUsize,
    /// STATS_REPLY and GET_BLOCK_REPLY datagrams, for the consensus worker.
    pub(crate) replies: SyncSender<Reply>,
    /// Requests to run consensus.
    pub(crate) triggers: SyncSender<Trigger>,
    /// Set once, when the handle is dropped.
    pub(crate) shutdown: AtomicBool,
}

/// Locks `mutex`, also after another thread panicked while holding it (the data stay usable).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// Adds a known peer unless it is this host, already known, or the table is full.
    pub(crate) fn add_peer(&self, peer: SocketAddr) {
        if peer == self.addr {
            return;
        }
        let mut peers = lock(&self.peers);
        if !peers.contains(&peer) && peers.len() < MAX_PEERS {
            peers.push(peer);
        }
    }

    /// Counts one datagram of type `ty`.
    pub(crate) fn count(&self, ty: &str) {
        let mut received = lock(&self.received);
        let key = if received.contains_key(ty) || received.len() < MAX_COUNTED_TYPES {
            ty
        } else {
            OTHER_TYPES
        };
        *received.entry(key.to_owned()).or_insert(0) += 1;
    }

    /// Keeps a NEW_WORD word, up to [`MAX_WORDS`].
    pub(crate) fn add_word(&self, word: &str) {
        let mut words = lock(&self.words);
        if words.len() < MAX_WORDS {
            words.push(word.to_owned());
        }
    }

    /// Sends `msg`, written as Python writes JSON, from the listening socket. Send errors are
    /// ignored, as UDP loses datagrams anyway.
    pub(crate) fn send(&self, to: SocketAddr, msg: &Value) {
        let _ = self.socket.send_to(python_dumps(msg).as_bytes(), to);
    }

    /// Sends a request: from a fresh socket that is then dropped if `throwaway_ports` is set
    /// (used for GOSSIP, whose answer goes to the address inside it), else from the listening
    /// socket.
    pub(crate) fn send_request(&self, to: SocketAddr, msg: &Value) {
        if !self.throwaway_ports {
            self.send(to, msg);
            return;
        }
        if let Ok(socket) = bind_udp(any_loopback_port()) {
            let _ = socket.send_to(python_dumps(msg).as_bytes(), to);
        }
    }

    /// Appends `block` if it validly extends the chain; returns whether it did.
    pub(crate) fn append_if_valid(&self, block: &Block) -> bool {
        let mut chain = lock(&self.chain);
        let extends =
            block.height == chain.len() as u64 && block_valid(chain.last(), block, self.difficulty);
        if extends {
            chain.push(block.clone());
        }
        extends
    }

    /// A GOSSIP from this host with a fresh id, which it marks seen so that it ignores the echo.
    fn own_gossip(&self) -> Value {
        let id = fresh_id(self.addr);
        lock(&self.seen_gossip).insert(id.clone());
        json!({
            "type": "GOSSIP",
            "host": self.addr.ip().to_string(),
            "port": self.addr.port(),
            "id": id,
            "name": self.name,
        })
    }
}

/// A UUID-shaped id, unique per call: a hash of the clock, the address and a counter.
fn fresh_id(addr: SocketAddr) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    let digest = Sha256::new()
        .chain_update(nanos.to_be_bytes())
        .chain_update(addr.to_string().as_bytes())
        .chain_update(COUNTER.fetch_add(1, Ordering::Relaxed).to_be_bytes())
        .finalize();
    let hex = hex::encode(&digest[..16]);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// A running course host. Dropping it stops its threads and waits for them.
pub struct Host {
    /// Shared with the threads.
    shared: Arc<Shared>,
    /// The listening thread and the consensus worker, joined on drop.
    threads: Vec<JoinHandle<()>>,
}

impl Host {
    /// Binds `cfg.bind`, starts the listening thread and the consensus worker, and GOSSIPs to
    /// `cfg.peers`. Fails if the address is not loopback or cannot be bound.
    pub fn start(cfg: HostConfig) -> io::Result<Host> {
        let socket = bind_udp(cfg.bind)?;
        let addr = socket.local_addr()?;
        let (replies_tx, replies_rx) = mpsc::sync_channel(REPLY_QUEUE);
        // One queued run at most: a flood of CONSENSUS must not queue a flood of runs.
        let (triggers_tx, triggers_rx) = mpsc::sync_channel(1);
        let shared = Arc::new(Shared {
            socket,
            addr,
            name: cfg.name,
            difficulty: cfg.difficulty,
            lie: cfg.lie,
            throwaway_ports: cfg.throwaway_ports,
            chain: Mutex::new(cfg.chain),
            peers: Mutex::new(Vec::new()),
            seen_gossip: Mutex::new(HashSet::new()),
            received: Mutex::new(HashMap::new()),
            words: Mutex::new(Vec::new()),
            accepted_announces: AtomicU64::new(0),
            unknown_types: AtomicU64::new(0),
            malformed: AtomicU64::new(0),
            adoptions: AtomicU64::new(0),
            forward_cursor: AtomicUsize::new(0),
            replies: replies_tx,
            triggers: triggers_tx,
            shutdown: AtomicBool::new(false),
        });
        let mut host = Host {
            shared: Arc::clone(&shared),
            threads: Vec::new(),
        };
        let listener = Arc::clone(&shared);
        host.threads.push(
            thread::Builder::new()
                .name(format!("coursehost-listen-{}", addr.port()))
                .spawn(move || crate::serve::listen(&listener))?,
        );
        let worker = Arc::clone(&shared);
        host.threads.push(
            thread::Builder::new()
                .name(format!("coursehost-consensus-{}", addr.port()))
                .spawn(move || consensus_worker(&worker, &triggers_rx, &replies_rx))?,
        );
        for peer in cfg.peers {
            let gossip = shared.own_gossip();
            shared.send_request(peer, &gossip);
        }
        Ok(host)
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// A copy of the chain, genesis first.
    pub fn chain(&self) -> Vec<Block> {
        lock(&self.shared.chain).clone()
    }

    /// The number of blocks in the chain (the course's "height").
    pub fn height(&self) -> u64 {
        lock(&self.shared.chain).len() as u64
    }

    /// The known peers, learned from GOSSIP, GOSSIP_REPLY or [`Host::add_peer`].
    pub fn peers(&self) -> Vec<SocketAddr> {
        lock(&self.shared.peers).clone()
    }

    /// Adds a known peer directly, as if it had gossiped.
    pub fn add_peer(&self, peer: SocketAddr) {
        self.shared.add_peer(peer);
    }

    /// How many datagrams of type `ty` arrived (counted before any check of their other fields).
    /// After 256 distinct types, new types are counted under `""`.
    pub fn received(&self, ty: &str) -> u64 {
        lock(&self.shared.received).get(ty).copied().unwrap_or(0)
    }

    /// How many datagrams had a `type` the course protocol does not have (not answered).
    pub fn unknown_types(&self) -> u64 {
        self.shared.unknown_types.load(Ordering::Relaxed)
    }

    /// How many datagrams were dropped as malformed: not JSON, no string `type`, or a needed
    /// field missing or of the wrong kind.
    pub fn malformed(&self) -> u64 {
        self.shared.malformed.load(Ordering::Relaxed)
    }

    /// How many ANNOUNCEd blocks were appended.
    pub fn accepted_announces(&self) -> u64 {
        self.shared.accepted_announces.load(Ordering::Relaxed)
    }

    /// The words received in NEW_WORD, in order.
    pub fn words(&self) -> Vec<String> {
        lock(&self.shared.words).clone()
    }

    /// How many times consensus adopted a fetched chain.
    pub fn synced_from_consensus(&self) -> u64 {
        self.shared.adoptions.load(Ordering::Relaxed)
    }

    /// Sends `msg` to `to` from the listening socket, written as Python writes JSON.
    pub fn send(&self, to: SocketAddr, msg: &Value) {
        self.shared.send(to, msg);
    }

    /// Runs the course consensus now and waits for it to finish (about 0.5 s plus the fetch):
    /// STATS to every known peer, then the most agreed (height, hash) fetched block by block
    /// and adopted if valid and longer, else the next candidate. A run already in progress (from
    /// a CONSENSUS datagram) finishes first.
    pub fn consensus_now(&self) -> ConsensusOutcome {
        let (done_tx, done_rx) = mpsc::channel();
        if self.shared.triggers.send(Some(done_tx)).is_err() {
            return ConsensusOutcome::default();
        }
        done_rx.recv().unwrap_or_default()
    }

    /// ANNOUNCEs `block` (mined elsewhere) to every known peer from the listening socket and
    /// appends it locally if it validly extends the chain; returns whether it was appended. The
    /// ANNOUNCE is sent either way, so that invalid blocks can be offered to a peer under test.
    pub fn announce(&self, block: &Block) -> bool {
        let message = block_to_json(block, "ANNOUNCE");
        for peer in self.peers() {
            self.shared.send(peer, &message);
        }
        self.shared.append_if_valid(block)
    }

    /// Mines a block with `messages` on top of the chain at the host's difficulty, announces it
    /// (see [`Host::announce`]) and returns it.
    pub fn mine_and_announce(&self, messages: Vec<String>) -> Block {
        let top = lock(&self.shared.chain).last().cloned();
        let block = mine_on(
            top.as_ref(),
            messages,
            self.shared.difficulty,
            &self.shared.name,
        );
        self.announce(&block);
        block
    }

    /// Stops the threads and waits for them (the same as dropping the handle).
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        for thread in self.threads.drain(..) {
            // A panicked thread has nothing left to clean up; its panic was already reported.
            let _ = thread.join();
        }
    }
}

/// The consensus worker: runs consensus for each trigger until shutdown.
fn consensus_worker(shared: &Shared, triggers: &Receiver<Trigger>, replies: &Receiver<Reply>) {
    while !shared.shutdown.load(Ordering::SeqCst) {
        match triggers.recv_timeout(POLL) {
            Ok(done) => {
                let outcome = consensus::run(shared, replies);
                if let Some(done) = done {
                    let _ = done.send(outcome);
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_ids_look_like_uuids_and_differ() {
        let addr = any_loopback_port();
        let (a, b) = (fresh_id(addr), fresh_id(addr));
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(a.matches('-').count(), 4);
    }
}
