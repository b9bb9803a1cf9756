//! Attacks: scripted, seeded attackers that may forge source addresses, one small struct per
//! attack of issue 9 ("Hardening"), each implementing [`Attack`]. An attack is added with
//! [`crate::Sim::add_attack`]; it ticks on its own clock, receives the datagrams sent to the
//! addresses it [`Attack::listen`]s on, reads (never changes) the honest nodes' state through
//! [`Ctx::sim`], and sends through [`Ctx`]: genuinely from its own addresses, or forged from any
//! address at all (an honest peer's, the tracker's, or a victim's where nothing lives). Forged
//! datagrams go through the normal network model and are accounted in the [`crate::Ledger`].
//! [`Ctx::sim`] is a narrow read-only [`SimView`], so attacks do not depend on the simulator
//! that hosts them.
//!
//! Every datagram is built from the real protocol types with [`votechain_proto::encode`], so
//! the wire format stays the protocol's own as it grows. A forger cannot know the address
//! cookies a peer hands out, so forged datagrams carry none; an attacker that receives
//! datagrams at a real address echoes what it received, as an honest client would
//! ([`Cookies`]).
//!
//! To add an attack: a struct holding its script and counters, `impl Attack`, a scenario in
//! `tests/scenarios/attacks.rs` with the property that catches it ([`crate::promises`]).

pub mod amplify;
mod ban_forger;
mod chain_burst;
mod far_orphan;
mod future_block;
mod gossip_victim;
mod pool_flood;
mod tracker_forger;

pub use amplify::{BallotAmplifier, ChainAmplifier};
pub use ban_forger::BanForger;
pub use chain_burst::ChainBurst;
pub use far_orphan::FarOrphan;
pub use future_block::FutureBlock;
pub use gossip_victim::GossipVictim;
pub use pool_flood::PoolFlood;
pub use tracker_forger::TrackerForger;

use crate::world::PeerId;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use votechain_chain::{Ballot, Block, BlockTemplate, Hash, Vote};
use votechain_peer::node::Node;
use votechain_proto::{decode_envelope, encode, with_envelope, Cookie, Envelope, Message};

/// A scripted attacker. See the module docs.
pub trait Attack {
    /// A short name for traces and failure messages.
    fn name(&self) -> &'static str;

    /// Addresses where it receives datagrams (none: it only sends).
    fn listen(&self) -> Vec<SocketAddr> {
        Vec::new()
    }

    /// Its clock ticked (the first tick comes when it is added); returns the delay to the next
    /// tick, or `None` when it has nothing more to do on its own.
    fn on_tick(&mut self, ctx: &mut Ctx<'_>) -> Option<u64>;

    /// A datagram from `from` arrived at `to`, one of its [`Attack::listen`] addresses.
    fn on_datagram(&mut self, ctx: &mut Ctx<'_>, to: SocketAddr, from: SocketAddr, bytes: &[u8]) {
        let _ = (ctx, to, from, bytes);
    }
}

/// One datagram an attack wants sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    /// Source address, forged or its own.
    pub from: SocketAddr,
    /// Destination.
    pub to: SocketAddr,
    /// The bytes.
    pub bytes: Vec<u8>,
    /// `from` did not send it.
    pub forged: bool,
    /// Another address the datagram is sent in the name of (a victim it names).
    pub naming: Option<SocketAddr>,
}

/// What an attack may read of the simulation: the honest nodes, their addresses and clocks, the
/// election. Narrow and read-only, so that attacks depend on this view rather than on the
/// simulator (which depends on them); [`crate::Sim`] implements it.
pub trait SimView {
    /// Virtual time, in milliseconds since the start.
    fn now(&self) -> u64;
    /// The election id.
    fn election(&self) -> Hash;
    /// The ballot.
    fn ballot(&self) -> &Ballot;
    /// Number of peers ever added.
    fn n_peers(&self) -> usize;
    /// The address of peer `id`.
    fn peer_addr(&self, id: PeerId) -> SocketAddr;
    /// Peer `id`'s core, while it runs.
    fn node(&self, id: PeerId) -> Option<&Node>;
    /// Peers currently running, in id order.
    fn running(&self) -> Vec<PeerId>;
    /// Peer `id`'s local clock now (virtual time plus its skew, as Unix milliseconds).
    fn peer_clock_ms(&self, id: PeerId) -> u64;
}

/// What an attack sees and does during one callback.
pub struct Ctx<'a> {
    sim: &'a dyn SimView,
    /// The attack's own randomness, seeded from the simulation's RNG when it was added.
    pub rng: &'a mut ChaCha8Rng,
    out: Vec<Datagram>,
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(sim: &'a dyn SimView, rng: &'a mut ChaCha8Rng) -> Ctx<'a> {
        Ctx {
            sim,
            rng,
            out: Vec::new(),
        }
    }

    pub(crate) fn into_datagrams(self) -> Vec<Datagram> {
        self.out
    }

    /// The simulation, read-only: honest nodes, addresses, clocks.
    pub fn sim(&self) -> &'a dyn SimView {
        self.sim
    }

    /// Virtual time.
    pub fn now(&self) -> u64 {
        self.sim.now()
    }

    /// Sends `message` genuinely from `from`, one of the attack's own addresses.
    pub fn send(&mut self, from: SocketAddr, to: SocketAddr, message: &Message) {
        if let Ok(bytes) = encode(message) {
            self.send_raw(from, to, bytes);
        }
    }

    /// Sends `bytes` genuinely from `from`, one of the attack's own addresses.
    pub fn send_raw(&mut self, from: SocketAddr, to: SocketAddr, bytes: Vec<u8>) {
        self.out.push(Datagram {
            from,
            to,
            bytes,
            forged: false,
            naming: None,
        });
    }

    /// Sends `message` to `to` with the forged source address `from`.
    pub fn forge(&mut self, from: SocketAddr, to: SocketAddr, message: &Message) {
        if let Ok(bytes) = encode(message) {
            self.forge_raw(from, to, bytes, None);
        }
    }

    /// Sends `bytes` (anything, even undecodable) to `to` with the forged source `from`, also in
    /// the name of `naming` when the datagram names a victim.
    pub fn forge_raw(
        &mut self,
        from: SocketAddr,
        to: SocketAddr,
        bytes: Vec<u8>,
        naming: Option<SocketAddr>,
    ) {
        self.out.push(Datagram {
            from,
            to,
            bytes,
            forged: true,
            naming,
        });
    }

    /// The highest tip among running honest peers: (height, hash), or `None` before any peer
    /// knows the election.
    pub fn best_honest_tip(&self) -> Option<(u64, Hash)> {
        self.sim
            .running()
            .into_iter()
            .filter_map(|id| self.sim.node(id).and_then(|n| n.chain()))
            .map(|c| (c.height(), c.tip_hash()))
            .max()
    }
}

/// Seals `template` with a nonce that meets its difficulty (tiny in simulations).
pub fn mine(template: &BlockTemplate, rng: &mut ChaCha8Rng) -> Block {
    let mid = template.midstate();
    let difficulty = template.header().difficulty;
    let mut nonce: u64 = rng.gen();
    while mid.hash(nonce).leading_zero_bits() < difficulty {
        nonce = nonce.wrapping_add(1);
    }
    template.seal(nonce)
}

/// Seals `template` with a nonce that misses its difficulty (which must be at least 1): a block
/// whose hash is honest but whose proof of work is absent.
pub fn unworked(template: &BlockTemplate, rng: &mut ChaCha8Rng) -> Block {
    let mid = template.midstate();
    let difficulty = template.header().difficulty.max(1);
    let mut nonce: u64 = rng.gen();
    while mid.hash(nonce).leading_zero_bits() >= difficulty {
        nonce = nonce.wrapping_add(1);
    }
    template.seal(nonce)
}

/// A template on `parent` (hash and height) stamped `timestamp_ms`, carrying `votes`.
pub fn template_on(
    parent: Hash,
    parent_height: u64,
    difficulty: u32,
    timestamp_ms: u64,
    votes: Vec<Vote>,
) -> BlockTemplate {
    BlockTemplate::new(
        parent,
        parent_height,
        difficulty,
        timestamp_ms,
        "attacker",
        votes,
    )
    .expect("an attacker's template is small")
}

/// Address cookies an endpoint received at its own address, echoed back as an honest sender
/// would: the `cookie` of a datagram from a peer becomes the `echo` of the next datagram to it.
/// Forged datagrams never carry one: a forger cannot read what is sent to the address it forges.
#[derive(Debug, Default)]
pub struct Cookies {
    latest: BTreeMap<SocketAddr, Cookie>,
}

impl Cookies {
    /// Remembers the cookie `bytes` from `from` carries, if any.
    pub fn remember(&mut self, from: SocketAddr, bytes: &[u8]) {
        if let Ok((
            _,
            Envelope {
                cookie: Some(c), ..
            },
        )) = decode_envelope(bytes)
        {
            self.latest.insert(from, c);
        }
    }

    /// `message` encoded for `to`, echoing `to`'s latest cookie when there is one.
    pub fn stamp(&self, to: SocketAddr, message: &Message) -> Option<Vec<u8>> {
        encode(message)
            .ok()
            .map(|bytes| self.stamp_bytes(to, &bytes))
    }

    /// An encoded message (without envelope) for `to`, echoing `to`'s latest cookie when there
    /// is one; bytes that are not a message go as they are.
    pub fn stamp_bytes(&self, to: SocketAddr, bytes: &[u8]) -> Vec<u8> {
        match self.latest.get(&to) {
            Some(c) if decode_envelope(bytes).is_ok() => {
                let envelope = Envelope {
                    cookie: None,
                    echo: Some(*c),
                };
                with_envelope(bytes, &envelope)
            }
            _ => bytes.to_vec(),
        }
    }
}
