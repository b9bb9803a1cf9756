//! The course consensus, as the specification describes it: ask every known peer for STATS,
//! rank the (height, hash) pairs by how many peers agree (ties: the greater height), fetch the
//! best candidate's blocks with GET_BLOCK one at a time (stop-and-wait, spread over the agreeing
//! peers, resent after a timeout, given up after 20 tries per height), validate the whole chain
//! and adopt it if it is longer than our own; otherwise fall back to the next candidate.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::block::{block_from_json, chain_valid, Block};
use crate::host::{lock, Reply, Shared};
use crate::socket::{any_loopback_port, bind_udp, is_timeout, MAX_DATAGRAM, POLL};
use crate::wire::python_dumps;

/// How long STATS replies are collected on the listening socket.
const STATS_WINDOW: Duration = Duration::from_millis(500);
/// How long a GET_BLOCK waits for its reply on the listening socket before it is resent.
const RESEND_AFTER: Duration = Duration::from_millis(200);
/// How long a throw-away socket is read for its reply (the course implementation's 50 ms).
const THROWAWAY_WAIT: Duration = Duration::from_millis(50);
/// Tries per height before a candidate is given up ("Retry limit reached").
const TRIES_PER_HEIGHT: u32 = 20;

/// What one consensus run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsensusOutcome {
    /// Known peers sent STATS.
    pub peers_asked: usize,
    /// Peers whose STATS_REPLY named a non-empty chain.
    pub stats_replies: usize,
    /// Candidates (height, hash) whose blocks were fetched, in the order tried.
    pub candidates_tried: Vec<(u64, String)>,
    /// GET_BLOCK requests sent, resends included.
    pub get_block_requests: u64,
    /// The number of blocks of the chain adopted, if one was.
    pub adopted: Option<u64>,
}

/// A chain some peers claim: its height (number of blocks), top hash, and who claims it.
struct Candidate {
    height: u64,
    hash: String,
    peers: Vec<SocketAddr>,
}

/// What a reply to one GET_BLOCK try says.
enum Answer {
    /// The block at the height asked.
    Block(Block),
    /// The asked peer answered without a block (the null form, or fields missing).
    NoBlock,
}

/// Runs one consensus on `shared`'s known peers; `replies` delivers STATS_REPLY and
/// GET_BLOCK_REPLY datagrams that reach the listening socket.
pub(crate) fn run(shared: &Shared, replies: &Receiver<Reply>) -> ConsensusOutcome {
    // Replies left over from an earlier run answer nothing asked now.
    while replies.try_recv().is_ok() {}
    let peers = lock(&shared.peers).clone();
    let mut outcome = ConsensusOutcome {
        peers_asked: peers.len(),
        ..ConsensusOutcome::default()
    };
    let claims = collect_stats(shared, replies, &peers);
    outcome.stats_replies = claims.len();
    for candidate in rank(claims) {
        if shared.shutdown.load(Ordering::SeqCst) {
            break;
        }
        if candidate.height <= lock(&shared.chain).len() as u64 {
            continue;
        }
        outcome
            .candidates_tried
            .push((candidate.height, candidate.hash.clone()));
        let Some(chain) = fetch(shared, replies, &candidate, &mut outcome) else {
            continue;
        };
        let matches_claim = chain.len() as u64 == candidate.height
            && chain.last().is_some_and(|top| top.hash == candidate.hash);
        if !matches_claim || !chain_valid(&chain, shared.difficulty) {
            continue;
        }
        let mut ours = lock(&shared.chain);
        if chain.len() > ours.len() {
            *ours = chain;
            shared.adoptions.fetch_add(1, Ordering::Relaxed);
            outcome.adopted = Some(candidate.height);
            break;
        }
    }
    outcome
}

/// Sends STATS to every peer and returns each answering peer's claim (height ≥ 1 and a hash);
/// replies from addresses not asked are ignored.
fn collect_stats(
    shared: &Shared,
    replies: &Receiver<Reply>,
    peers: &[SocketAddr],
) -> BTreeMap<SocketAddr, (u64, String)> {
    let stats = json!({"type": "STATS"});
    let mut claims = BTreeMap::new();
    let mut record = |reply: &Reply| {
        if !peers.contains(&reply.from) {
            return false;
        }
        match parse_stats_reply(&reply.body) {
            Some(claim) => {
                claims.insert(reply.from, claim);
                true
            }
            None => false,
        }
    };
    if shared.throwaway_ports {
        for peer in peers {
            ask_on_throwaway(shared, *peer, &stats, THROWAWAY_WAIT, |reply| {
                record(reply).then_some(())
            });
        }
    } else {
        for peer in peers {
            shared.send(*peer, &stats);
        }
        let deadline = Instant::now() + STATS_WINDOW;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            if shared.shutdown.load(Ordering::SeqCst) {
                break;
            }
            match replies.recv_timeout(left.min(POLL)) {
                Ok(reply) => {
                    record(&reply);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
    }
    claims
}

/// The (height, hash) of a STATS_REPLY naming a non-empty chain.
fn parse_stats_reply(body: &Value) -> Option<(u64, String)> {
    if body.get("type")?.as_str()? != "STATS_REPLY" {
        return None;
    }
    let height = body.get("height")?.as_u64()?;
    let hash = body.get("hash")?.as_str()?;
    (height >= 1).then(|| (height, hash.to_owned()))
}

/// The claims grouped by (height, hash), most agreed first, then the greater height.
fn rank(claims: BTreeMap<SocketAddr, (u64, String)>) -> Vec<Candidate> {
    let mut groups: HashMap<(u64, String), Vec<SocketAddr>> = HashMap::new();
    for (peer, claim) in claims {
        groups.entry(claim).or_default().push(peer);
    }
    let mut candidates: Vec<Candidate> = groups
        .into_iter()
        .map(|((height, hash), peers)| Candidate {
            height,
            hash,
            peers,
        })
        .collect();
    candidates.sort_by(|a, b| {
        b.peers
            .len()
            .cmp(&a.peers.len())
            .then(b.height.cmp(&a.height))
            .then(a.hash.cmp(&b.hash))
    });
    candidates
}

/// Fetches blocks 0..height of `candidate`, one GET_BLOCK at a time; `None` once a height fails
/// [`TRIES_PER_HEIGHT`] times (or on shutdown).
fn fetch(
    shared: &Shared,
    replies: &Receiver<Reply>,
    candidate: &Candidate,
    outcome: &mut ConsensusOutcome,
) -> Option<Vec<Block>> {
    // The claimed height is untrusted: memory grows only with blocks actually received.
    let mut chain = Vec::new();
    for height in 0..candidate.height {
        let mut block = None;
        for attempt in 0..TRIES_PER_HEIGHT {
            if shared.shutdown.load(Ordering::SeqCst) {
                return None;
            }
            let spread = (height as usize).wrapping_add(attempt as usize);
            let peer = candidate.peers[spread % candidate.peers.len()];
            outcome.get_block_requests += 1;
            if let Some(Answer::Block(found)) = get_block(shared, replies, candidate, peer, height)
            {
                block = Some(found);
                break;
            }
        }
        chain.push(block?);
    }
    Some(chain)
}

/// One GET_BLOCK try for `height` to `peer`: a block at that height from any of the candidate's
/// peers (a late answer to an earlier try is as good), or `NoBlock` when `peer` answers without
/// one, or `None` when the wait passes.
fn get_block(
    shared: &Shared,
    replies: &Receiver<Reply>,
    candidate: &Candidate,
    peer: SocketAddr,
    height: u64,
) -> Option<Answer> {
    let request = json!({"type": "GET_BLOCK", "height": height});
    let read = |reply: &Reply| -> Option<Answer> {
        if reply.body.get("type").and_then(Value::as_str) != Some("GET_BLOCK_REPLY") {
            return None;
        }
        match block_from_json(&reply.body) {
            Some(block) if block.height == height && candidate.peers.contains(&reply.from) => {
                Some(Answer::Block(block))
            }
            Some(_) => None,
            None if reply.from == peer => Some(Answer::NoBlock),
            None => None,
        }
    };
    if shared.throwaway_ports {
        return ask_on_throwaway(shared, peer, &request, THROWAWAY_WAIT, read);
    }
    shared.send(peer, &request);
    let deadline = Instant::now() + RESEND_AFTER;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        if shared.shutdown.load(Ordering::SeqCst) {
            return None;
        }
        match replies.recv_timeout(left.min(POLL)) {
            Ok(reply) => {
                if let Some(answer) = read(&reply) {
                    return Some(answer);
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return None,
        }
    }
    None
}

/// Sends `request` to `to` from a fresh socket and reads that socket for `wait`, returning the
/// first reply `read` accepts. The socket is dropped afterwards, like the course implementation
/// that sends every request from a throw-away port.
fn ask_on_throwaway<T>(
    shared: &Shared,
    to: SocketAddr,
    request: &Value,
    wait: Duration,
    mut read: impl FnMut(&Reply) -> Option<T>,
) -> Option<T> {
    let socket = bind_udp(any_loopback_port()).ok()?;
    socket.send_to(python_dumps(request).as_bytes(), to).ok()?;
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let deadline = Instant::now() + wait;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        if shared.shutdown.load(Ordering::SeqCst) {
            return None;
        }
        let timeout = left.clamp(Duration::from_millis(1), POLL);
        if socket.set_read_timeout(Some(timeout)).is_err() {
            return None;
        }
        match socket.recv_from(&mut buf) {
            Ok((len, from)) => {
                let Ok(body) = serde_json::from_slice::<Value>(&buf[..len]) else {
                    continue;
                };
                if let Some(answer) = read(&Reply { from, body }) {
                    return Some(answer);
                }
            }
            Err(error) if is_timeout(&error) => {}
            Err(_) => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn the_most_agreed_claim_ranks_first_and_ties_go_to_the_taller() {
        let claims = BTreeMap::from([
            (addr(1), (5, "a".to_owned())),
            (addr(2), (5, "a".to_owned())),
            (addr(3), (50, "liar".to_owned())),
            (addr(4), (7, "b".to_owned())),
        ]);
        let ranked: Vec<(u64, String, usize)> = rank(claims)
            .into_iter()
            .map(|c| (c.height, c.hash, c.peers.len()))
            .collect();
        assert_eq!(
            ranked,
            vec![
                (5, "a".to_owned(), 2),
                (50, "liar".to_owned(), 1),
                (7, "b".to_owned(), 1)
            ]
        );
    }

    #[test]
    fn stats_replies_for_empty_or_malformed_chains_are_not_claims() {
        assert_eq!(
            parse_stats_reply(&json!({"type": "STATS_REPLY", "height": 2, "hash": "ab"})),
            Some((2, "ab".to_owned()))
        );
        for body in [
            json!({"type": "STATS_REPLY", "height": null, "hash": null}),
            json!({"type": "STATS_REPLY", "height": 0, "hash": "ab"}),
            json!({"type": "STATS_REPLY", "height": "2", "hash": "ab"}),
            json!({"type": "STATS_REPLY", "height": 2}),
            json!({"type": "STATS", "height": 2, "hash": "ab"}),
        ] {
            assert_eq!(parse_stats_reply(&body), None, "{body}");
        }
    }
}
