//! The W4119 peer's state and rules (`python peer.py 5000 6001`), with no IO: datagrams, resend
//! ticks and votes come in, datagrams to send go out. [`crate::W4119Peer`] runs it on a socket.
//!
//! Faithful to the W4119 peer, flaws included: a vote is never checked against the ballot or
//! against the voter's earlier votes; REQUEST_CHAIN is answered with the whole chain to whoever
//! asked; any longer valid chain is adopted, from anyone; a NEW_BLOCK is not relayed (the seed
//! README and the reference describe broadcasts by the miner only). Unlike it, a datagram that
//! would raise in the Python handler (a block without `index`, say) is counted and dropped.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;

use serde_json::Value;

use crate::block::{chain_defect, mine, Block, Transaction};
use crate::datagram::{self, Counters};
use crate::tracker::Outgoing;

/// The most senders whose CHAIN_BLOCK streams are collected at once; more are dropped.
const MAX_COLLECTIONS: usize = 64;

/// Where the peer is in joining.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Not joining at all (registration switched off).
    Idle,
    /// Sending REGISTER_PEER until REGISTER_ACK.
    Registering,
    /// Sending REQUEST_BALLOT until BALLOT_OPTIONS.
    RequestingBallot,
    /// Joined, ballot in hand.
    Ready,
    /// Left with LEAVE_PEER; it still answers what it receives, as the Python peer does.
    Closed,
}

/// A CHAIN_BLOCK stream from one sender, collected until it is complete.
#[derive(Debug, Clone)]
struct Collection {
    /// The `total_blocks` its datagrams announce.
    total: u64,
    /// The blocks so far, by the `index` of their CHAIN_BLOCK.
    blocks: BTreeMap<u64, Block>,
}

/// The peer's state.
#[derive(Debug, Clone)]
pub struct Node {
    /// Its own address as `"ip:port"`, left out of its peer list.
    own: String,
    /// The tracker it registers with and answers POKEs to.
    tracker: SocketAddr,
    /// Leading hex zeros demanded of blocks (and mined).
    difficulty: usize,
    /// Whether it answers POKE (off to test eviction).
    answer_pokes: bool,
    /// Where it is in joining.
    phase: Phase,
    /// Whether a REGISTER_ACK has arrived.
    registered: bool,
    /// The ballot from BALLOT_OPTIONS.
    ballot: Option<Vec<String>>,
    /// The peer list from the last REGISTER_ACK or UPDATE_PEERS, itself left out.
    peers: Vec<String>,
    /// Its chain, starting with the genesis block.
    chain: Vec<Block>,
    /// CHAIN_BLOCK streams being collected, by sender.
    collections: HashMap<SocketAddr, Collection>,
    /// What arrived.
    counters: Counters,
    /// POKE-ACKs sent.
    pokes_answered: u64,
    /// Datagrams that would have raised in the Python peer's handler (a block without `index`,
    /// a CHAIN_BLOCK without `total_blocks`, …), dropped here instead.
    crashes_avoided: u64,
    /// Well-formed blocks dropped for a bad hash or too little work.
    invalid_blocks: u64,
    /// Complete CHAIN_BLOCK streams adopted as the new chain.
    chains_adopted: u64,
    /// Complete CHAIN_BLOCK streams not adopted (invalid, or not longer).
    chains_rejected: u64,
}

impl Node {
    /// A peer at `own` for `tracker`, holding only the genesis block; `register` decides whether
    /// it starts in [`Phase::Registering`] or stays [`Phase::Idle`].
    pub fn new(
        own: SocketAddr,
        tracker: SocketAddr,
        difficulty: usize,
        register: bool,
        answer_pokes: bool,
    ) -> Node {
        Node {
            own: own.to_string(),
            tracker,
            difficulty,
            answer_pokes,
            phase: if register {
                Phase::Registering
            } else {
                Phase::Idle
            },
            registered: false,
            ballot: None,
            peers: Vec::new(),
            chain: vec![Block::genesis()],
            collections: HashMap::new(),
            counters: Counters::default(),
            pokes_answered: 0,
            crashes_avoided: 0,
            invalid_blocks: 0,
            chains_adopted: 0,
            chains_rejected: 0,
        }
    }

    /// The resend timer fired: REGISTER_PEER or REQUEST_BALLOT again, depending on the phase.
    pub fn handle_resend(&mut self) -> Vec<Outgoing> {
        match self.phase {
            Phase::Registering => vec![(self.tracker, datagram::bare("REGISTER_PEER"))],
            Phase::RequestingBallot => vec![(self.tracker, datagram::bare("REQUEST_BALLOT"))],
            Phase::Idle | Phase::Ready | Phase::Closed => Vec::new(),
        }
    }

    /// Handles one datagram from `from` and returns what to send.
    pub fn handle_datagram(&mut self, from: SocketAddr, bytes: &[u8]) -> Vec<Outgoing> {
        let (kind, body) = match datagram::decode(bytes) {
            Ok(decoded) => decoded,
            Err(_) => {
                self.counters.count_undecodable();
                return Vec::new();
            }
        };
        self.counters.count(&kind);
        match kind.as_str() {
            "REGISTER_ACK" => {
                self.replace_peers(&body);
                if self.phase == Phase::Registering {
                    self.registered = true;
                    self.phase = Phase::RequestingBallot;
                    return self.handle_resend();
                }
                Vec::new()
            }
            "UPDATE_PEERS" => {
                self.replace_peers(&body);
                Vec::new()
            }
            "BALLOT_OPTIONS" if self.phase == Phase::RequestingBallot => {
                self.ballot = Some(read_options(&body));
                self.phase = Phase::Ready;
                self.request_chain()
            }
            "POKE" if self.answer_pokes => {
                self.pokes_answered += 1;
                vec![(self.tracker, datagram::bare("POKE-ACK"))]
            }
            "REQUEST_CHAIN" => self.send_chain(from),
            "NEW_BLOCK" => self.handle_new_block(&body),
            "CHAIN_BLOCK" => self.handle_chain_block(from, &body),
            // Unknown types (CHALLENGE, …) and messages out of phase are ignored.
            _ => Vec::new(),
        }
    }

    /// Casts a vote: mines a block with one transaction on the tip, appends it and sends
    /// NEW_BLOCK to every listed peer. Nothing is checked, as in the W4119 peer.
    pub fn vote(
        &mut self,
        voter: &str,
        candidate: &str,
        timestamp: &str,
    ) -> (Block, Vec<Outgoing>) {
        let tip = self.tip();
        let block = mine(
            &tip,
            vec![Transaction::new(voter, candidate, timestamp)],
            timestamp,
            self.difficulty,
        );
        self.chain.push(block.clone());
        let message = datagram::new_block(&block);
        let out = self
            .peer_addrs()
            .into_iter()
            .map(|peer| (peer, message.clone()))
            .collect();
        (block, out)
    }

    /// Leaves: LEAVE_PEER to the tracker, and no more resends.
    pub fn leave(&mut self) -> Vec<Outgoing> {
        self.phase = Phase::Closed;
        vec![(self.tracker, datagram::bare("LEAVE_PEER"))]
    }

    /// Replaces the peer list with the `peer_list` of a REGISTER_ACK or UPDATE_PEERS, leaving out
    /// this peer's own address and anything that is not a string.
    fn replace_peers(&mut self, body: &Value) {
        let listed = body.get("peer_list").and_then(Value::as_array);
        self.peers = listed
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter(|peer| *peer != self.own)
            .map(str::to_owned)
            .collect();
    }

    /// REQUEST_CHAIN to every listed peer.
    fn request_chain(&self) -> Vec<Outgoing> {
        let message = datagram::bare("REQUEST_CHAIN");
        self.peer_addrs()
            .into_iter()
            .map(|peer| (peer, message.clone()))
            .collect()
    }

    /// The whole chain, one CHAIN_BLOCK per block, to `to`.
    fn send_chain(&self, to: SocketAddr) -> Vec<Outgoing> {
        let total = self.chain.len();
        self.chain
            .iter()
            .enumerate()
            .map(|(index, block)| (to, datagram::chain_block(index, block, total)))
            .collect()
    }

    /// NEW_BLOCK: append a valid block that extends the tip; drop one with a bad hash or too
    /// little work; ignore a copy of a block held; ask everyone for their chain when the block
    /// is from a fork or from further ahead.
    fn handle_new_block(&mut self, body: &Value) -> Vec<Outgoing> {
        let block = match body.get("block").map(Block::from_json) {
            Some(Ok(block)) => block,
            Some(Err(_)) | None => {
                self.crashes_avoided += 1;
                return Vec::new();
            }
        };
        if block.work_defect(self.difficulty).is_some() {
            self.invalid_blocks += 1;
            return Vec::new();
        }
        let tip = self.tip();
        let next = tip.index.saturating_add(1);
        if block.index == next && block.previous_hash == tip.hash {
            self.chain.push(block);
            return Vec::new();
        }
        let held = usize::try_from(block.index)
            .ok()
            .and_then(|index| self.chain.get(index));
        match held {
            Some(ours) if ours.hash == block.hash => Vec::new(),
            _ => self.request_chain(),
        }
    }

    /// CHAIN_BLOCK: collect the sender's stream; once it holds `total_blocks` blocks, validate
    /// the chain from genesis and adopt it if it is longer than ours.
    fn handle_chain_block(&mut self, from: SocketAddr, body: &Value) -> Vec<Outgoing> {
        let index = body.get("index").and_then(Value::as_u64);
        let total = body.get("total_blocks").and_then(Value::as_u64);
        let block = body.get("block").map(Block::from_json);
        let (Some(index), Some(total), Some(Ok(block))) = (index, total, block) else {
            self.crashes_avoided += 1;
            return Vec::new();
        };
        if index >= total {
            self.crashes_avoided += 1;
            return Vec::new();
        }
        if !self.collections.contains_key(&from) && self.collections.len() >= MAX_COLLECTIONS {
            return Vec::new();
        }
        let collection = self.collections.entry(from).or_insert(Collection {
            total,
            blocks: BTreeMap::new(),
        });
        if collection.total != total {
            // A new stream from the same sender: start over.
            collection.total = total;
            collection.blocks.clear();
        }
        collection.blocks.insert(index, block);
        if (collection.blocks.len() as u64) < total {
            return Vec::new();
        }
        let chain: Vec<Block> = self
            .collections
            .remove(&from)
            .map(|complete| complete.blocks.into_values().collect())
            .unwrap_or_default();
        if chain.len() > self.chain.len() && chain_defect(&chain, self.difficulty).is_none() {
            self.chain = chain;
            self.chains_adopted += 1;
        } else {
            self.chains_rejected += 1;
        }
        Vec::new()
    }

    /// The listed peers that parse as socket addresses (others are skipped, as the Python
    /// peer's `sendto` fails for them).
    fn peer_addrs(&self) -> Vec<SocketAddr> {
        self.peers
            .iter()
            .filter_map(|peer| peer.parse().ok())
            .collect()
    }

    /// The last block of the chain.
    fn tip(&self) -> Block {
        // The chain starts with the genesis block and is only ever replaced by a validated,
        // longer (so non-empty) chain; the fallback is never taken.
        self.chain.last().cloned().unwrap_or_else(Block::genesis)
    }

    /// Where it is in joining.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Whether a REGISTER_ACK has arrived.
    pub fn registered(&self) -> bool {
        self.registered
    }

    /// The ballot, once BALLOT_OPTIONS arrived.
    pub fn ballot(&self) -> Option<Vec<String>> {
        self.ballot.clone()
    }

    /// The listed peers that parse as socket addresses.
    pub fn peer_list(&self) -> Vec<SocketAddr> {
        self.peer_addrs()
    }

    /// The chain, genesis first.
    pub fn chain(&self) -> Vec<Block> {
        self.chain.clone()
    }

    /// The index of the tip: 0 with only the genesis block.
    pub fn height(&self) -> u64 {
        self.tip().index
    }

    /// Datagrams of type `kind` received so far.
    pub fn received(&self, kind: &str) -> u64 {
        self.counters.received(kind)
    }

    /// Datagrams dropped so far because they were not UTF-8 JSON objects with a string `type`.
    pub fn undecodable(&self) -> u64 {
        self.counters.undecodable()
    }

    /// POKE-ACKs sent so far.
    pub fn pokes_answered(&self) -> u64 {
        self.pokes_answered
    }

    /// NEW_BLOCK and CHAIN_BLOCK datagrams dropped because a field was missing or mistyped,
    /// where the Python handler would have raised.
    pub fn crashes_avoided(&self) -> u64 {
        self.crashes_avoided
    }

    /// Well-formed blocks dropped for a bad hash or too little work.
    pub fn invalid_blocks(&self) -> u64 {
        self.invalid_blocks
    }

    /// Complete CHAIN_BLOCK streams adopted as the new chain.
    pub fn chains_adopted(&self) -> u64 {
        self.chains_adopted
    }

    /// Complete CHAIN_BLOCK streams not adopted (invalid, or not longer than the chain held).
    pub fn chains_rejected(&self) -> u64 {
        self.chains_rejected
    }
}

/// The ballot from BALLOT_OPTIONS: the strings of `voting_options` (an absent or mistyped field
/// reads as an empty ballot, like Python's `message.get("voting_options", [])`).
fn read_options(body: &Value) -> Vec<String> {
    body.get("voting_options")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}
