//! The node target: one peer's [`Node`] driven by a sequence of operations read from the
//! input — datagrams (raw bytes, or valid messages from [`World`]) from six sources (two
//! seeds in the peer table, the tracker, three strangers), time passing, timer expiries, ends
//! of bursts, mined blocks and console commands — with its outputs checked after each.
//!
//! Invariants: every datagram sent decodes and fits a UDP payload; an input causes a bounded
//! number of outputs; the peer table stays within its cap; a datagram from a stranger that
//! does not prove its origin gets at most the anti-amplification budget in reply; and the
//! timer does not stay due after the node handled it (that would spin the shell).

use crate::cursor::Cursor;
use crate::messages::World;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::net::SocketAddr;
use votechain_chain::{Ballot, BlockTemplate, ChainConfig, ChainState};
use votechain_peer::config::{MiningMode, NodeConfig};
use votechain_peer::node::{Command, Node, Output, Transmit};
use votechain_proto::decode_envelope;
use votechain_proto::limits::{unverified_reply_budget, MAX_DATAGRAM};

/// The time the run starts at (2027), as in the node's unit tests.
const START_MS: u64 = 1_800_000_000_000;
/// Outputs one input may cause at most; far above what any input should, far below a loop.
const MAX_OUTPUTS_PER_INPUT: usize = 1_000;
/// Cap of the peer table: small, so the fuzzer can fill it.
const MAX_PEERS: usize = 8;

fn v4(ip: [u8; 4], port: u16) -> SocketAddr {
    SocketAddr::from((ip, port))
}

/// The node's own address.
fn me() -> SocketAddr {
    v4([127, 0, 0, 1], 6001)
}

/// The tracker's address.
fn tracker() -> SocketAddr {
    v4([127, 0, 0, 1], 7000)
}

/// Where datagrams come from: two seeds (in the peer table from the start), the tracker, and
/// three strangers (one IPv6).
fn sources() -> Vec<SocketAddr> {
    vec![
        v4([127, 0, 0, 1], 6002),
        v4([127, 0, 0, 1], 6003),
        tracker(),
        v4([127, 0, 0, 1], 9001),
        "[::1]:9002".parse().expect("literal address"),
        v4([10, 0, 0, 1], 9003),
    ]
}

/// Runs the operations encoded in `data` against one node and checks its outputs.
pub fn node(data: &[u8]) {
    let mut c = Cursor::new(data);
    let mut h = Harness::new(c.byte());
    let sources = sources();
    while !c.is_empty() {
        match c.below(10) {
            0 => {
                let from = sources[c.below(sources.len())];
                let bytes = c.chunk().to_vec();
                h.datagram(from, &bytes);
            }
            1..=3 => {
                let from = sources[c.below(sources.len())];
                if let Some(bytes) = h.world.datagram(&mut c, from) {
                    h.datagram(from, &bytes);
                }
            }
            4 => h.advance(&mut c),
            5 => h.timeout(),
            6 => {
                h.node.end_of_burst(h.now_ms);
                h.drain(None);
            }
            7 => h.mined(),
            8 => {
                let command = match c.below(4) {
                    0 => Command::Consensus,
                    1 => Command::Leave,
                    _ => Command::SetMining(c.flag()),
                };
                h.node.handle_command(h.now_ms, command);
                h.drain(None);
            }
            _ => {
                h.advance(&mut c);
                h.timeout();
            }
        }
    }
}

/// The datagram being handled, for the anti-amplification check.
struct Request {
    from: SocketAddr,
    len: usize,
}

struct Harness {
    node: Node,
    world: World,
    now_ms: u64,
    /// The template of the last `Mine` output, which `mined` seals.
    template: Option<BlockTemplate>,
}

impl Harness {
    /// A node configured from the `setup` byte: with or without a chain (of 0 to 7 blocks
    /// after genesis), and a mining mode.
    fn new(setup: u8) -> Harness {
        let ballot = Ballot::open("Fuzz", &["Adam", "Bob"], 0);
        let mut chain = ChainState::new(&ballot, ChainConfig::default()).expect("valid ballot");
        let mut blocks = vec![(chain.tip_hash(), 0)];
        for _ in 0..(setup >> 3) % 8 {
            let t = BlockTemplate::new(chain.tip_hash(), chain.height(), 0, START_MS, "m", vec![])
                .expect("an empty block is well-formed");
            let block = t.seal(0);
            blocks.push((block.hash(), block.height()));
            chain.add_block(block, START_MS).expect("extends the tip");
        }
        let mut cfg = NodeConfig::new(me());
        cfg.tracker = Some(tracker());
        cfg.seeds = sources()[..2].to_vec();
        cfg.mining = match setup & 3 {
            0 | 1 => MiningMode::Off,
            2 => MiningMode::WhenPending,
            _ => MiningMode::Always,
        };
        cfg.max_peers = MAX_PEERS;
        cfg.max_verified = 16;
        cfg.dedup_cap = 64;
        let chain = (setup & 4 == 0).then_some(chain);
        if chain.is_none() {
            // Only what the tracker's ballot and the peers' blocks tell it.
            blocks.clear();
        }
        let mut addresses = sources();
        addresses.push(me());
        let mut h = Harness {
            node: Node::new(cfg, ChaCha8Rng::seed_from_u64(7), chain),
            world: World::new(ballot, blocks, addresses, START_MS),
            now_ms: START_MS,
            template: None,
        };
        h.node.handle_timeout(START_MS);
        h.drain(None);
        h
    }

    /// One datagram, with the anti-amplification check when it comes from a stranger and
    /// cannot have proved its origin.
    fn datagram(&mut self, from: SocketAddr, bytes: &[u8]) {
        let stranger = self.node.peers().get(&from).is_none() && from != tracker();
        let request = (stranger && !self.world.may_prove(from, bytes)).then_some(Request {
            from,
            len: bytes.len(),
        });
        self.node.handle_datagram(self.now_ms, from, bytes);
        self.drain(request);
    }

    fn advance(&mut self, c: &mut Cursor) {
        self.now_ms += c.time_step(1_200_000, self.node.poll_timeout(), self.now_ms);
        self.world.now_ms = self.now_ms;
    }

    /// The timer fires; it must then be set in the future within a few calls.
    fn timeout(&mut self) {
        let now_ms = self.now_ms;
        crate::fire_timer(now_ms, || {
            self.node.handle_timeout(now_ms);
            self.drain(None);
            self.node.poll_timeout()
        });
    }

    /// The miner found the block of the last template (nonce 0 meets difficulty 0).
    fn mined(&mut self) {
        if let Some(template) = self.template.take() {
            self.node.handle_mined(self.now_ms, template.seal(0));
            self.drain(None);
        }
    }

    /// Drains and checks the outputs of one input.
    fn drain(&mut self, request: Option<Request>) {
        let mut n_outputs = 0;
        let mut to_requester = 0;
        while let Some(output) = self.node.poll_output() {
            n_outputs += 1;
            assert!(
                n_outputs <= MAX_OUTPUTS_PER_INPUT,
                "more than {MAX_OUTPUTS_PER_INPUT} outputs for one input"
            );
            match output {
                Output::Send(Transmit { to, bytes }) => {
                    assert!(
                        bytes.len() <= MAX_DATAGRAM,
                        "datagram of {} bytes",
                        bytes.len()
                    );
                    if let Err(e) = decode_envelope(&bytes) {
                        panic!(
                            "the node sent an undecodable datagram to {to}: {e}\n{}",
                            String::from_utf8_lossy(&bytes)
                        );
                    }
                    self.world.observe(to, &bytes);
                    if request.as_ref().is_some_and(|r| r.from == to) {
                        to_requester += bytes.len();
                    }
                }
                Output::Mine(template) => self.template = template,
                Output::Persist(_) | Output::Event(_) => {}
            }
        }
        if let Some(r) = request {
            assert!(
                to_requester <= unverified_reply_budget(r.len),
                "{to_requester} bytes sent to {} in answer to an unproven {}-byte datagram",
                r.from,
                r.len
            );
        }
        assert!(
            self.node.peers().len() <= MAX_PEERS,
            "peer table over its cap"
        );
        // Must not panic; its value is checked after timeouts only.
        let _ = self.node.poll_timeout();
    }
}
