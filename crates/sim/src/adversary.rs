//! Hostile peers: scripted endpoints that speak the wire protocol badly on purpose. They are not
//! state machines worth testing themselves; they exist so scenarios can check that honest peers
//! ignore or ban them and still converge.
//!
//! - [`Liar`] answers STATS with a huge height and never serves a block.
//! - [`Replayer`] sends old blocks, blocks whose hash does not match, blocks without the proof of
//!   work, and well-mined blocks carrying a forged vote.
//! - [`Flooder`] floods NEW_VOTE and SUBMIT_VOTE with forged signatures, off-ballot choices and
//!   endless duplicates.
//! - [`MixedOrderServer`] serves a longer chain holding a vote with a small-order component in
//!   its nonce point (attack 4 of issue 9).

mod mixed_order;

pub use mixed_order::MixedOrderServer;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::net::SocketAddr;
use votechain_chain::{Ballot, Block, BlockTemplate, Hash, Vote, VoterKey};
use votechain_proto::{decode, encode, Message, NewBlock, NewVote, StatsReply, SubmitVote};

/// Datagrams an adversary wants sent: `(destination, bytes)`.
#[derive(Debug, Default)]
pub struct Outbox(pub Vec<(SocketAddr, Vec<u8>)>);

impl Outbox {
    /// Queues `message` to `to`.
    pub fn push(&mut self, to: SocketAddr, message: &Message) {
        if let Ok(bytes) = encode(message) {
            self.0.push((to, bytes));
        }
    }
}

/// A scripted hostile endpoint. `now_ms` is the simulated Unix time in milliseconds (what an
/// unskewed clock reads), so an adversary needs nothing from the simulator's internals.
pub trait Adversary {
    /// Where it listens.
    fn addr(&self) -> SocketAddr;
    /// A datagram arrived.
    fn on_datagram(&mut self, now_ms: u64, from: SocketAddr, bytes: &[u8], out: &mut Outbox);
    /// Its own clock ticked; returns the delay to the next tick, or `None` to stop ticking.
    fn on_tick(&mut self, now_ms: u64, rng: &mut ChaCha8Rng, out: &mut Outbox) -> Option<u64>;
    /// The scenario hands it a chain (e.g. an honest one to replay).
    fn feed_chain(&mut self, _blocks: &[Block]) {}
}

/// Claims a chain of `claimed_height` blocks in every STATS_REPLY and serves nothing.
#[derive(Debug)]
pub struct Liar {
    addr: SocketAddr,
    claimed_height: u64,
    claimed_hash: Hash,
    /// STATS it answered.
    pub lies: u64,
}

impl Liar {
    /// A liar at `addr`.
    pub fn new(addr: SocketAddr, claimed_height: u64) -> Liar {
        Liar {
            addr,
            claimed_height,
            claimed_hash: Hash([0xee; 32]),
            lies: 0,
        }
    }
}

impl Adversary for Liar {
    fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn on_datagram(&mut self, _now_ms: u64, from: SocketAddr, bytes: &[u8], out: &mut Outbox) {
        if let Ok(Message::Stats(_)) = decode(bytes) {
            self.lies += 1;
            let reply = StatsReply {
                height: self.claimed_height,
                hash: self.claimed_hash,
            };
            out.push(from, &reply.into());
        }
    }

    fn on_tick(&mut self, _now_ms: u64, _rng: &mut ChaCha8Rng, _out: &mut Outbox) -> Option<u64> {
        None
    }
}

/// Sends every target, every `period_ms`, one of: an old honest block (once fed), a block whose
/// claimed hash is wrong, a block without its proof of work, a mined block with a forged vote.
#[derive(Debug)]
pub struct Replayer {
    addr: SocketAddr,
    targets: Vec<SocketAddr>,
    ballot: Ballot,
    genesis: Block,
    period_ms: u64,
    old: Vec<Block>,
    /// Datagrams sent.
    pub sent: u64,
}

impl Replayer {
    /// A replayer at `addr` attacking `targets` in the election of `ballot`.
    pub fn new(
        addr: SocketAddr,
        targets: Vec<SocketAddr>,
        ballot: &Ballot,
        period_ms: u64,
    ) -> Replayer {
        Replayer {
            addr,
            targets,
            genesis: Block::genesis(ballot).expect("a valid ballot"),
            ballot: ballot.clone(),
            period_ms,
            old: Vec::new(),
            sent: 0,
        }
    }

    fn template(&self, now_ms: u64, votes: Vec<Vote>) -> BlockTemplate {
        BlockTemplate::new(
            self.genesis.hash(),
            0,
            self.ballot.difficulty,
            now_ms,
            "replayer",
            votes,
        )
        .expect("a small template")
    }

    /// A block with valid work on genesis, carrying `votes`.
    fn mined(&self, rng: &mut ChaCha8Rng, now_ms: u64, votes: Vec<Vote>) -> Block {
        let t = self.template(now_ms, votes);
        let mid = t.midstate();
        let mut nonce: u64 = rng.gen();
        while mid.hash(nonce).leading_zero_bits() < self.ballot.difficulty {
            nonce = nonce.wrapping_add(1);
        }
        t.seal(nonce)
    }

    /// A block on genesis whose hash misses the difficulty (needs difficulty ≥ 1).
    fn unworked(&self, rng: &mut ChaCha8Rng, now_ms: u64) -> Option<Block> {
        if self.ballot.difficulty == 0 {
            return None;
        }
        let t = self.template(now_ms, Vec::new());
        let mid = t.midstate();
        let mut nonce: u64 = rng.gen();
        while mid.hash(nonce).leading_zero_bits() >= self.ballot.difficulty {
            nonce = nonce.wrapping_add(1);
        }
        Some(t.seal(nonce))
    }

    fn forged_vote(&self, rng: &mut ChaCha8Rng) -> Vote {
        let key = VoterKey::from_seed(rng.gen());
        let mut vote = Vote::sign(
            key.signing_key(),
            self.genesis.hash(),
            &self.ballot.options[0],
        );
        vote.signature.0[7] ^= 0x40;
        vote
    }
}

impl Adversary for Replayer {
    fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn on_datagram(&mut self, _: u64, _: SocketAddr, _: &[u8], _: &mut Outbox) {}

    fn on_tick(&mut self, now_ms: u64, rng: &mut ChaCha8Rng, out: &mut Outbox) -> Option<u64> {
        for to in self.targets.clone() {
            self.sent += 1;
            match rng.gen_range(0..4) {
                0 if !self.old.is_empty() => {
                    let block = self.old[rng.gen_range(0..self.old.len())].clone();
                    out.push(to, &NewBlock { block }.into());
                }
                1 => {
                    // A well-formed datagram whose block hash field lies about the contents.
                    let block = self.mined(rng, now_ms, Vec::new());
                    let Ok(bytes) = encode(&NewBlock { block }.into()) else {
                        continue;
                    };
                    let Ok(mut json) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
                        continue;
                    };
                    json["block"]["hash"] = Hash([0x11; 32]).to_hex().into();
                    out.0.push((to, json.to_string().into_bytes()));
                }
                2 => {
                    if let Some(block) = self.unworked(rng, now_ms) {
                        out.push(to, &NewBlock { block }.into());
                    }
                }
                _ => {
                    let vote = self.forged_vote(rng);
                    let block = self.mined(rng, now_ms, vec![vote]);
                    out.push(to, &NewBlock { block }.into());
                }
            }
        }
        Some(self.period_ms)
    }

    fn feed_chain(&mut self, blocks: &[Block]) {
        self.old = blocks.to_vec();
    }
}

/// Floods every target with `per_tick` bad votes every `period_ms`.
#[derive(Debug)]
pub struct Flooder {
    addr: SocketAddr,
    targets: Vec<SocketAddr>,
    ballot: Ballot,
    election: Hash,
    per_tick: usize,
    period_ms: u64,
    /// One validly signed vote, sent over and over (accepted once at most).
    duplicate: Vote,
    /// Datagrams sent.
    pub sent: u64,
}

impl Flooder {
    /// A flooder at `addr` attacking `targets` in the election of `ballot`.
    pub fn new(
        addr: SocketAddr,
        targets: Vec<SocketAddr>,
        ballot: &Ballot,
        per_tick: usize,
        period_ms: u64,
    ) -> Flooder {
        let election = Block::genesis(ballot).expect("a valid ballot").hash();
        let key = VoterKey::from_seed([0xf1; 32]);
        Flooder {
            addr,
            targets,
            duplicate: Vote::sign(key.signing_key(), election, &ballot.options[1]),
            ballot: ballot.clone(),
            election,
            per_tick,
            period_ms,
            sent: 0,
        }
    }
}

impl Adversary for Flooder {
    fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn on_datagram(&mut self, _: u64, _: SocketAddr, _: &[u8], _: &mut Outbox) {}

    fn on_tick(&mut self, _now_ms: u64, rng: &mut ChaCha8Rng, out: &mut Outbox) -> Option<u64> {
        for to in self.targets.clone() {
            for _ in 0..self.per_tick {
                self.sent += 1;
                let vote = match rng.gen_range(0..3) {
                    0 => self.duplicate.clone(),
                    1 => {
                        let key = VoterKey::from_seed(rng.gen());
                        Vote::sign(key.signing_key(), self.election, "not on the ballot")
                    }
                    _ => {
                        let key = VoterKey::from_seed(rng.gen());
                        let choice = &self.ballot.options[0];
                        let mut v = Vote::sign(key.signing_key(), self.election, choice);
                        v.signature.0[3] ^= 0x01;
                        v
                    }
                };
                if rng.gen_bool(0.5) {
                    out.push(to, &NewVote { vote }.into());
                } else {
                    out.push(to, &SubmitVote { vote }.into());
                }
            }
        }
        Some(self.period_ms)
    }
}
