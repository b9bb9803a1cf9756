//! The course target: one `--profile comp3010` peer's [`CourseNode`] driven by a sequence of
//! operations read from the input — raw datagrams and well-formed course messages (GOSSIP naming
//! anyone, STATS and claims, GET_BLOCK, replies with real, forged and foreign blocks, ANNOUNCE,
//! NEW_WORD, CONSENSUS) from five sources, time passing, timer expiries, mined blocks and local
//! commands — with its outputs checked after each.
//!
//! Invariants: every datagram sent decodes as a course message and is at most the profile's
//! largest reply; an input causes a bounded number of outputs; a GOSSIP_REPLY never goes to an
//! address other than the datagram's source unless that address sent us a datagram before; the
//! chain stays valid block by block; the peer table stays within its cap; and the timer does not
//! stay due after the node handled it.

use crate::cursor::Cursor;
use std::collections::HashSet;
use std::net::SocketAddr;
use votechain_course::block::CourseBlock;
use votechain_course::chain::CourseChain;
use votechain_course::miner::{CourseJob, CourseSearch};
use votechain_course::wire::{decode, encode, CourseMessage};
use votechain_course::Hash;
use votechain_peer::course::guard::MAX_REPLY_BYTES;
use votechain_peer::course::peers::MAX_PEERS;
use votechain_peer::course::{CourseCommand, CourseConfig, CourseNode};
use votechain_sansio::output::{Output, Transmit};

/// The run starts in 2027, as the other targets do.
const START_MS: u64 = 1_800_000_000_000;
/// Outputs one input may cause at most: a consensus round sends one STATS per peer.
const MAX_OUTPUTS_PER_INPUT: usize = 4 * MAX_PEERS + 64;
/// The difficulty of the fuzzed network: one trailing zero, so blocks are cheap to make.
const DIFFICULTY: u32 = 1;

fn v4(ip: [u8; 4], port: u16) -> SocketAddr {
    SocketAddr::from((ip, port))
}

fn me() -> SocketAddr {
    v4([127, 0, 0, 1], 8999)
}

/// Two seeds, two strangers on loopback, one elsewhere.
fn sources() -> Vec<SocketAddr> {
    vec![
        v4([127, 0, 0, 1], 9001),
        v4([127, 0, 0, 1], 9002),
        v4([127, 0, 0, 1], 9003),
        v4([127, 0, 0, 2], 9004),
        v4([10, 0, 0, 1], 9005),
    ]
}

/// Mines a block on `prev` at [`DIFFICULTY`] (a few dozen hashes).
fn mine(prev: Option<&CourseBlock>, word: &str) -> Option<CourseBlock> {
    let job = CourseJob {
        prev: prev.map(|p| p.hash),
        height: prev.map_or(0, |p| p.height + 1),
        mined_by: "fuzz".to_owned(),
        messages: vec![word.to_owned()],
        timestamp: START_MS / 1_000,
        difficulty: DIFFICULTY,
    };
    CourseSearch::new(&job).search(0, 1 << 16)
}

/// Runs the operations encoded in `data` against one course node and checks its outputs.
pub fn course(data: &[u8]) {
    let mut c = Cursor::new(data);
    let mut h = Harness::new(c.byte());
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
                let command = match c.below(3) {
                    0 => CourseCommand::Consensus,
                    1 => CourseCommand::SetMining(c.flag()),
                    _ => CourseCommand::Word(c.string(24)),
                };
                let _ = h.node.handle_command(h.now_ms, command);
                h.drain(None);
            }
        }
    }
}

struct Harness {
    node: CourseNode,
    now_ms: u64,
    /// Blocks of a network chain the node may be offered, longer than its own.
    network: Vec<CourseBlock>,
    /// The last job the node asked to mine.
    job: Option<CourseJob>,
    /// Addresses that sent the node a datagram (the GOSSIP_REPLY rule).
    talked: HashSet<SocketAddr>,
}

impl Harness {
    /// A node with a chain of 0 to 3 blocks, and a network chain of 0 to 7 blocks that shares
    /// a prefix with it, both from the `setup` byte.
    fn new(setup: u8) -> Harness {
        let ours = usize::from(setup % 4);
        let common = usize::from((setup >> 2) % 4).min(ours);
        let theirs = usize::from((setup >> 4) % 8);
        let mut network: Vec<CourseBlock> = Vec::new();
        let mut blocks: Vec<CourseBlock> = Vec::new();
        for i in 0..ours.max(common + theirs) {
            if i < common {
                let b = mine(blocks.last(), &format!("c{i}")).expect("difficulty 1");
                blocks.push(b.clone());
                network.push(b);
                continue;
            }
            if i < ours {
                let b = mine(blocks.last(), &format!("o{i}")).expect("difficulty 1");
                blocks.push(b);
            }
            if i < common + theirs {
                let b = mine(network.last(), &format!("t{i}")).expect("difficulty 1");
                network.push(b);
            }
        }
        let mut config =
            CourseConfig::new("fuzzed".to_owned(), me(), vec![sources()[0], sources()[1]]);
        config.difficulty = DIFFICULTY;
        config.mine = setup & 0x80 != 0;
        config.rng_seed = u64::from(setup);
        let chain = CourseChain::from_blocks(blocks, DIFFICULTY).expect("mined blocks are valid");
        Harness {
            node: CourseNode::new(config, chain),
            now_ms: START_MS,
            network,
            job: None,
            talked: HashSet::new(),
        }
    }

    /// A well-formed course message built from the input.
    fn message(&self, c: &mut Cursor<'_>) -> CourseMessage {
        let block = |c: &mut Cursor<'_>| -> Option<CourseBlock> {
            let mut b = self.network.get(c.below(self.network.len() + 1))?.clone();
            match c.below(4) {
                0 => b.messages = vec![c.string(24)],
                1 => b.hash = Hash(c.array()),
                2 => b.height = c.interesting_u64(self.network.len() as u64),
                _ => {}
            }
            Some(b)
        };
        match c.below(9) {
            0 => {
                let who = sources()[c.below(5)];
                CourseMessage::Gossip {
                    host: who.ip().to_string(),
                    port: if c.flag() { who.port() } else { c.u16().max(1) },
                    id: c.string(40),
                    name: c.string(40),
                }
            }
            1 => CourseMessage::GossipReply {
                host: "127.0.0.1".to_owned(),
                port: c.u16().max(1),
                name: c.string(40),
            },
            2 => CourseMessage::Stats,
            3 => CourseMessage::StatsReply(match c.below(3) {
                0 => None,
                1 => self
                    .network
                    .last()
                    .map(|t| (self.network.len() as u64, t.hash)),
                _ => Some((c.interesting_u64(1_000), Hash(c.array()))),
            }),
            4 => CourseMessage::GetBlock {
                height: c.interesting_u64(4),
            },
            5 => CourseMessage::GetBlockReply(block(c)),
            6 => match block(c) {
                Some(b) => CourseMessage::Announce(b),
                None => CourseMessage::Consensus,
            },
            7 => CourseMessage::NewWord { word: c.string(24) },
            _ => CourseMessage::Consensus,
        }
    }

    fn datagram(&mut self, from: SocketAddr, bytes: &[u8]) {
        self.node.handle_datagram(self.now_ms, from, bytes);
        self.drain(Some(from));
        self.talked.insert(from);
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
        if let Some(block) = CourseSearch::new(&job).search(0, 1 << 16) {
            self.node.handle_mined(self.now_ms, block);
            self.drain(None);
        }
    }

    /// Checks every output of one input; `from`: the datagram being handled.
    fn drain(&mut self, from: Option<SocketAddr>) {
        let mut n = 0;
        while let Some(output) = self.node.poll_output() {
            n += 1;
            assert!(
                n <= MAX_OUTPUTS_PER_INPUT,
                "an input caused over {n} outputs"
            );
            match output {
                Output::Send(Transmit { to, bytes }) => {
                    assert!(bytes.len() <= MAX_REPLY_BYTES, "{} bytes sent", bytes.len());
                    let message = decode(&bytes).expect("we send only what we decode");
                    if matches!(message, CourseMessage::GossipReply { .. }) {
                        assert!(
                            Some(to) == from || self.talked.contains(&to),
                            "a GOSSIP_REPLY went to {to}, which never sent us a datagram"
                        );
                    }
                }
                Output::Mine(job) => self.job = job,
                Output::Persist(_) | Output::Event(_) => {}
            }
        }
        let chain = self.node.chain().blocks().to_vec();
        assert!(
            CourseChain::from_blocks(chain, DIFFICULTY).is_ok(),
            "the chain stopped validating"
        );
        assert!(self.node.peers().len() <= MAX_PEERS);
    }
}
