//! Attack 3, amplification by forging a verified address. A victim address first takes part
//! for real: it asks every peer for a block (or registers with the tracker) and answers their
//! CHALLENGE, so each records it as verified. Then it goes silent, and the attacker forges
//! small requests in its name — REQUEST_CHAIN to the peers (also in an honest peer's name), or
//! REQUEST_BALLOT to a tracker whose ballot carries a voter roll — whose answers all land on the
//! victim.

use super::{Attack, Cookies, Ctx};
use crate::world::TRACKER_ADDR;
use std::net::SocketAddr;
use votechain_proto::{
    decode, Message, PokeAck, RegisterPeer, RequestBallot, RequestChain, Verify,
};

/// The timeline shared by both amplifiers: take part until `silent_ms`, then forge `rounds`
/// requests every `period_ms`.
#[derive(Debug, Clone, Copy)]
pub struct Timeline {
    /// The victim stops answering at this virtual time.
    pub silent_ms: u64,
    /// Forged rounds.
    pub rounds: u32,
    /// Between forged rounds.
    pub period_ms: u64,
}

/// Forged REQUEST_CHAINs in the name of a victim that verified with every peer, and, when
/// `also_honest`, in the name of honest peers (peer `k + 1` to peer `k`).
#[derive(Debug)]
pub struct ChainAmplifier {
    victim: SocketAddr,
    timeline: Timeline,
    also_honest: bool,
    cookies: Cookies,
    /// Forged datagrams sent.
    pub forged: u64,
}

impl ChainAmplifier {
    /// The victim lives at `victim` until `timeline.silent_ms`.
    pub fn new(victim: SocketAddr, timeline: Timeline, also_honest: bool) -> ChainAmplifier {
        ChainAmplifier {
            victim,
            timeline,
            also_honest,
            cookies: Cookies::default(),
            forged: 0,
        }
    }

    fn ask(&self, ctx: &mut Ctx<'_>, to: SocketAddr) {
        let ask: Message = RequestChain { start: 0, count: 1 }.into();
        if let Some(bytes) = self.cookies.stamp(to, &ask) {
            ctx.send_raw(self.victim, to, bytes);
        }
    }
}

impl Attack for ChainAmplifier {
    fn name(&self) -> &'static str {
        "chain-amplifier"
    }

    fn listen(&self) -> Vec<SocketAddr> {
        vec![self.victim]
    }

    fn on_tick(&mut self, ctx: &mut Ctx<'_>) -> Option<u64> {
        let sim = ctx.sim();
        let peers: Vec<SocketAddr> = sim
            .running()
            .into_iter()
            .map(|i| sim.peer_addr(i))
            .collect();
        if ctx.now() < self.timeline.silent_ms {
            // Taking part: one small request to every peer now and then (late booters too).
            for to in &peers {
                self.ask(ctx, *to);
            }
            return Some(1_000.min(self.timeline.silent_ms - ctx.now()).max(1));
        }
        if self.timeline.rounds == 0 {
            return None;
        }
        self.timeline.rounds -= 1;
        let all: Message = RequestChain {
            start: 0,
            count: votechain_proto::limits::MAX_CHAIN_BATCH,
        }
        .into();
        for (k, to) in peers.iter().enumerate() {
            ctx.forge(self.victim, *to, &all);
            self.forged += 1;
            if self.also_honest && peers.len() > 1 {
                ctx.forge(peers[(k + 1) % peers.len()], *to, &all);
                self.forged += 1;
            }
        }
        Some(self.timeline.period_ms)
    }

    fn on_datagram(&mut self, ctx: &mut Ctx<'_>, _: SocketAddr, from: SocketAddr, bytes: &[u8]) {
        if ctx.now() >= self.timeline.silent_ms {
            return;
        }
        self.cookies.remember(from, bytes);
        if let Ok(Message::Challenge(c)) = decode(bytes) {
            ctx.send(self.victim, from, &Verify { token: c.token }.into());
            self.ask(ctx, from);
        }
    }
}

/// Forged REQUEST_BALLOTs to the tracker in the name of a victim that registered for real.
#[derive(Debug)]
pub struct BallotAmplifier {
    victim: SocketAddr,
    timeline: Timeline,
    registered: bool,
    /// Forged datagrams sent.
    pub forged: u64,
}

impl BallotAmplifier {
    /// The victim lives (registered with the tracker) at `victim` until `timeline.silent_ms`.
    pub fn new(victim: SocketAddr, timeline: Timeline) -> BallotAmplifier {
        BallotAmplifier {
            victim,
            timeline,
            registered: false,
            forged: 0,
        }
    }
}

impl Attack for BallotAmplifier {
    fn name(&self) -> &'static str {
        "ballot-amplifier"
    }

    fn listen(&self) -> Vec<SocketAddr> {
        vec![self.victim]
    }

    fn on_tick(&mut self, ctx: &mut Ctx<'_>) -> Option<u64> {
        if ctx.now() < self.timeline.silent_ms {
            if !self.registered {
                ctx.send(self.victim, TRACKER_ADDR, &RegisterPeer::default().into());
            }
            return Some(500.min(self.timeline.silent_ms - ctx.now()).max(1));
        }
        if self.timeline.rounds == 0 {
            return None;
        }
        self.timeline.rounds -= 1;
        ctx.forge(self.victim, TRACKER_ADDR, &RequestBallot {}.into());
        self.forged += 1;
        Some(self.timeline.period_ms)
    }

    fn on_datagram(&mut self, ctx: &mut Ctx<'_>, _: SocketAddr, from: SocketAddr, bytes: &[u8]) {
        if ctx.now() >= self.timeline.silent_ms || from != TRACKER_ADDR {
            return;
        }
        match decode(bytes) {
            Ok(Message::Challenge(c)) => {
                ctx.send(self.victim, from, &Verify { token: c.token }.into());
                ctx.send(self.victim, from, &RegisterPeer::default().into());
            }
            Ok(Message::RegisterAck(_)) => self.registered = true,
            Ok(Message::Poke(p)) => ctx.send(self.victim, from, &PokeAck { nonce: p.nonce }.into()),
            _ => {}
        }
    }
}
