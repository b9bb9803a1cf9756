//! The w4119 target: the `--profile w4119` cores driven by a sequence of operations read from
//! the input. The first byte picks the core:
//! - even: one W4119 peer's [`W4119Node`], fed raw datagrams and well-formed W4119 messages
//!   (POKE, peer lists and ballots from the tracker's address and from strangers, NEW_BLOCKs
//!   and CHAIN_BLOCK streams with real, forged and misplaced blocks of a network chain that
//!   forks from the node's, REQUEST_CHAIN) from five sources, time, timeouts, mined blocks and
//!   votes;
//! - odd: the tracker's [`Registry`] in the W4119 dialect, fed W4119's REGISTER_PEER, POKE-ACK,
//!   LEAVE_PEER and REQUEST_BALLOT and raw bytes from six sources, time and timeouts.
//!
//! Invariants, peer: every datagram sent decodes as a W4119 message; POKE-ACK goes only to the
//! tracker; CHAIN_BLOCK only to a peer the tracker lists; an input causes a bounded number of
//! outputs; the chain stays valid from the genesis block; the timer does not stay due.
//! Tracker: every datagram sent is one of W4119's; an address that is not a member is sent at
//! most one datagram per request, never more bytes than the request (a POKE, or the ballot when
//! it fits 3×), and never a peer list; members stay within the cap; the timer does not stay due.

use crate::cursor::Cursor;
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;
use votechain_peer::w4119::{W4119Command, W4119Config, W4119Node};
use votechain_proto::dialect::W4119;
use votechain_proto::limits::unverified_reply_budget;
use votechain_sansio::output::{Output, Transmit};
use votechain_tracker::{Config, Registry};
use votechain_w4119::wire::{decode, encode, W4119Message};
use votechain_w4119::{mine, BlockTemplate, Transaction, W4119Block, W4119Chain};

/// The run starts in 2027, as the other targets do.
const START_MS: u64 = 1_800_000_000_000;
/// Leading zeros of the fuzzed network: one, so blocks take a few dozen hashes.
const DIFFICULTY: u32 = 1;

fn v4(ip: [u8; 4], port: u16) -> SocketAddr {
    SocketAddr::from((ip, port))
}

fn tracker() -> SocketAddr {
    v4([127, 0, 0, 1], 5000)
}

fn me() -> SocketAddr {
    v4([127, 0, 0, 1], 6000)
}

/// The tracker, two peers it may list, two strangers.
fn sources() -> Vec<SocketAddr> {
    vec![
        tracker(),
        v4([127, 0, 0, 1], 6001),
        v4([127, 0, 0, 2], 6002),
        v4([127, 0, 0, 3], 6003),
        v4([10, 0, 0, 1], 6004),
    ]
}

/// A block with one vote on `parent`, or `None` when the input made mining impossible.
fn block_on(parent: &W4119Block, voter: &str, choice: &str) -> Option<W4119Block> {
    let stamp = "2027-01-15 08:00:00".to_owned();
    let template = BlockTemplate::after(
        parent,
        vec![Transaction::vote(voter, choice, &stamp)],
        stamp,
    );
    mine(
        &template,
        DIFFICULTY,
        &AtomicBool::new(false),
        &AtomicU64::new(0),
    )
}

/// Runs the operations encoded in `data` against one W4119 core and checks its outputs.
pub fn w4119(data: &[u8]) {
    let mut c = Cursor::new(data);
    let setup = c.byte();
    if setup & 1 == 1 {
        tracker_run(&mut c);
        return;
    }
    let mut h = Peer::new(setup);
    let sources = sources();
    while !c.is_empty() {
        let from = sources[c.below(sources.len())];
        match c.below(8) {
            0 => {
                let bytes = c.chunk().to_vec();
                h.datagram(from, &bytes);
            }
            1..=3 => {
                let message = h.message(&mut c);
                h.datagram(from, &encode(&message));
            }
            4 => {
                let step = c.time_step(600_000, h.node.poll_timeout(), h.now_ms);
                h.now_ms += step;
            }
            5 => h.timeout(),
            6 => h.mined(),
            _ => {
                let command = match c.flag() {
                    true => W4119Command::Sync,
                    false => W4119Command::Vote {
                        voter: c.string(12),
                        choice: ["Adam", "Bob", "Zed"][c.below(3)].to_owned(),
                    },
                };
                let _ = h.node.handle_command(h.now_ms, command);
                h.drain(None);
            }
        }
    }
}

struct Peer {
    node: W4119Node,
    now_ms: u64,
    /// Blocks of a network chain the node may be offered.
    network: Vec<W4119Block>,
    /// The last job the node asked to mine.
    job: Option<BlockTemplate>,
}

impl Peer {
    /// A node with a chain of 1 to 4 blocks, and a network chain of 1 to 8 that shares a prefix
    /// with it, both from the `setup` byte.
    fn new(setup: u8) -> Peer {
        let ours = usize::from((setup >> 1) % 4);
        let common = usize::from((setup >> 3) % 4).min(ours);
        let theirs = usize::from((setup >> 5) % 8);
        let mut chain = W4119Chain::new(DIFFICULTY);
        let mut network = W4119Chain::new(DIFFICULTY);
        for i in 0..ours.max(common + theirs) {
            if i < common {
                let b = block_on(chain.tip(), &format!("c{i}"), "Adam").expect("difficulty 1");
                chain.try_append(b.clone()).expect("mined on the tip");
                network.try_append(b).expect("mined on the tip");
                continue;
            }
            if i < ours {
                let b = block_on(chain.tip(), &format!("o{i}"), "Bob").expect("difficulty 1");
                chain.try_append(b).expect("mined on the tip");
            }
            if i < common + theirs {
                let b = block_on(network.tip(), &format!("t{i}"), "Zed").expect("difficulty 1");
                network.try_append(b).expect("mined on the tip");
            }
        }
        let mut config = W4119Config::new(tracker(), me());
        config.difficulty = DIFFICULTY;
        config.rng_seed = u64::from(setup);
        config.epoch_unix_ms = 0;
        Peer {
            node: W4119Node::new(config, chain, &[]),
            now_ms: START_MS,
            network: network.blocks().to_vec(),
            job: None,
        }
    }

    /// A well-formed W4119 message built from the input.
    fn message(&self, c: &mut Cursor<'_>) -> W4119Message {
        let block = |c: &mut Cursor<'_>| -> W4119Block {
            let mut b = self.network[c.below(self.network.len())].clone();
            match c.below(5) {
                0 => b.transactions = vec![Transaction::vote(&c.string(12), "Adam", "t")],
                1 => b.hash = c.string(64),
                2 => b.index = c.interesting_u64(self.network.len() as u64),
                3 => b.previous_hash = c.string(64),
                _ => {}
            }
            b
        };
        let list = |c: &mut Cursor<'_>| -> Vec<String> {
            let all = sources();
            (0..c.below(5))
                .map(|_| match c.below(4) {
                    0 => c.string(24),
                    1 => me().to_string(),
                    _ => all[c.below(all.len())].to_string(),
                })
                .collect()
        };
        match c.below(9) {
            0 => W4119Message::Poke,
            1 => W4119Message::RegisterAck { peer_list: list(c) },
            2 => W4119Message::UpdatePeers { peer_list: list(c) },
            3 => W4119Message::BallotOptions {
                voting_options: vec!["Adam".into(), c.string(8)],
            },
            4 | 5 => W4119Message::NewBlock { block: block(c) },
            6 => W4119Message::RequestChain,
            _ => {
                let b = block(c);
                let total = match c.below(3) {
                    0 => c.interesting_u64(self.network.len() as u64),
                    _ => self.network.len() as u64,
                };
                W4119Message::ChainBlock {
                    index: b.index,
                    block: b,
                    total_blocks: total,
                }
            }
        }
    }

    fn datagram(&mut self, from: SocketAddr, bytes: &[u8]) {
        self.node.handle_datagram(self.now_ms, from, bytes);
        self.drain(Some(from));
    }

    fn timeout(&mut self) {
        let now = self.now_ms;
        crate::fire_timer(now, || {
            self.node.handle_timeout(now);
            self.drain(None);
            self.node.poll_timeout()
        });
    }

    /// The miner finds the current job's block (or a stale one, when the tip moved since).
    fn mined(&mut self) {
        let Some(job) = self.job.clone() else {
            return;
        };
        if let Some(block) = mine(
            &job,
            DIFFICULTY,
            &AtomicBool::new(false),
            &AtomicU64::new(0),
        ) {
            self.node.handle_mined(block);
            self.drain(None);
        }
    }

    /// Checks every output of one input.
    fn drain(&mut self, _from: Option<SocketAddr>) {
        let limit = self.node.chain().len() + self.node.peers().len() + 64;
        let mut n = 0;
        while let Some(output) = self.node.poll_output() {
            n += 1;
            assert!(n <= limit, "an input caused over {limit} outputs");
            match output {
                Output::Send(Transmit { to, bytes }) => {
                    let message = decode(&bytes).expect("we send only what we decode");
                    match message {
                        W4119Message::PokeAck => {
                            assert_eq!(to, tracker(), "a POKE-ACK went to {to}")
                        }
                        W4119Message::ChainBlock { .. } => assert!(
                            self.node.peers().contains(&to),
                            "a CHAIN_BLOCK went to {to}, which the tracker does not list"
                        ),
                        _ => {}
                    }
                }
                Output::Mine(job) => self.job = job,
                Output::Persist(_) | Output::Event(_) => {}
            }
        }
        let chain = self.node.chain().blocks().to_vec();
        assert!(
            W4119Chain::validate_chain(chain, DIFFICULTY).is_ok(),
            "the chain stopped validating"
        );
    }
}

/// The tracker's registry in the W4119 dialect.
fn tracker_run(c: &mut Cursor<'_>) {
    let mut config = Config::demo();
    config.dialect = Arc::new(W4119);
    config.max_peers = 4;
    config.max_pending = 3;
    let mut reg =
        Registry::new(config, StdRng::seed_from_u64(u64::from(c.byte()))).expect("valid config");
    let sources: Vec<SocketAddr> = (1..=6).map(|i| v4([127, 0, 0, i], 7000)).collect();
    let mut now_ms = START_MS;
    while !c.is_empty() {
        let from = sources[c.below(sources.len())];
        match c.below(8) {
            0..=4 => {
                let bytes: Vec<u8> = match c.below(6) {
                    0 => br#"{"type": "REGISTER_PEER"}"#.to_vec(),
                    1 => br#"{"type": "POKE-ACK"}"#.to_vec(),
                    2 => br#"{"type": "LEAVE_PEER"}"#.to_vec(),
                    3 => br#"{"type": "REQUEST_BALLOT"}"#.to_vec(),
                    4 => br#"{"type": "POKE_ACK", "nonce": 1}"#.to_vec(),
                    _ => c.chunk().to_vec(),
                };
                let member = reg.is_registered(&from);
                reg.handle_datagram(now_ms, from, &bytes);
                let mut to_source = 0;
                while let Some(output) = reg.poll_output() {
                    let Output::Send(Transmit { to, bytes: out }) = output else {
                        continue;
                    };
                    check_w4119(&out);
                    if to == from && !member && !reg.is_registered(&from) {
                        to_source += 1;
                        assert!(
                            out.len() <= unverified_reply_budget(bytes.len()),
                            "{} bytes to a non-member for {}",
                            out.len(),
                            bytes.len()
                        );
                        assert!(
                            !out.windows(9).any(|w| w == b"peer_list"),
                            "a peer list went to a non-member"
                        );
                    }
                }
                assert!(to_source <= 1, "{to_source} datagrams to a non-member");
            }
            5 | 6 => {
                let step = c.time_step(10_000, reg.poll_timeout(), now_ms);
                now_ms += step;
            }
            _ => crate::fire_timer(now_ms, || {
                reg.handle_timeout(now_ms);
                while let Some(output) = reg.poll_output() {
                    if let Output::Send(Transmit { bytes, .. }) = output {
                        check_w4119(&bytes);
                    }
                }
                reg.poll_timeout()
            }),
        }
        assert!(reg.n_peers() <= 4);
    }
}

/// The tracker speaks only W4119 to W4119 peers.
fn check_w4119(bytes: &[u8]) {
    let message = decode(bytes).expect("the tracker sends W4119 datagrams");
    assert!(
        matches!(
            message,
            W4119Message::RegisterAck { .. }
                | W4119Message::UpdatePeers { .. }
                | W4119Message::BallotOptions { .. }
                | W4119Message::Poke
        ),
        "the tracker sent {}",
        message.type_name()
    );
}
