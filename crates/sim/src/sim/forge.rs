//! The simulator's side of attacks: adding them, ticking them, handing them the datagrams sent
//! to their addresses, and putting what they send on the network — forged datagrams included,
//! which arrive exactly like genuine ones (same links, losses and partitions, keyed by the
//! forged source address) but are marked so the [`Ledger`] can tell who paid for what.
//!
//! An attack is taken out of its slot while it runs, so it can read the whole simulation
//! through its [`Ctx`] without aliasing; what it sends is dispatched afterwards.

use super::delivery::Endpoint;
use super::events::Event;
use super::PeerId;
use super::Sim;
use crate::attacks::{Attack, Ctx, Datagram, SimView};
use crate::ledger::Ledger;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::net::SocketAddr;
use votechain_chain::{Ballot, Hash};
use votechain_peer::node::Node;

/// One attack and its own RNG.
pub(super) struct AttackSlot {
    attack: Option<Box<dyn Attack>>,
    rng: ChaCha8Rng,
}

impl Sim {
    /// Adds an attack; it listens on its addresses at once and its first tick comes now.
    /// Returns its index.
    pub fn add_attack(&mut self, attack: Box<dyn Attack>) -> usize {
        let index = self.attacks.len();
        for addr in attack.listen() {
            self.endpoints.insert(addr, Endpoint::Attack(index));
        }
        let seed: u64 = self.rng.gen();
        self.trace("add-attack", index, attack.name().as_bytes());
        self.attacks.push(AttackSlot {
            attack: Some(attack),
            rng: ChaCha8Rng::seed_from_u64(seed),
        });
        self.schedule(self.now, Event::AttackTick { index });
        index
    }

    /// The ledger: bytes per watched address, bans, acknowledgements.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Starts counting, from zero, what `addr` receives and what is sent in its name.
    pub fn watch(&mut self, addr: SocketAddr) {
        self.ledger.watch(addr);
    }

    /// The simulation's settings.
    pub fn config(&self) -> &super::SimConfig {
        &self.cfg
    }

    pub(super) fn attack_tick(&mut self, index: usize) {
        let next = self.with_attack(index, |attack, ctx| attack.on_tick(ctx));
        if let Some(delay) = next.flatten() {
            self.schedule(self.now + delay.max(1), Event::AttackTick { index });
        }
    }

    pub(super) fn attack_datagram(
        &mut self,
        index: usize,
        to: SocketAddr,
        from: SocketAddr,
        bytes: &[u8],
    ) {
        self.with_attack(index, |attack, ctx| {
            attack.on_datagram(ctx, to, from, bytes)
        });
    }

    /// Runs `f` on attack `index` with a context, then sends what it queued.
    fn with_attack<R>(
        &mut self,
        index: usize,
        f: impl FnOnce(&mut dyn Attack, &mut Ctx<'_>) -> R,
    ) -> Option<R> {
        let slot = self.attacks.get_mut(index)?;
        let mut attack = slot.attack.take()?;
        let mut rng = std::mem::replace(&mut slot.rng, ChaCha8Rng::seed_from_u64(0));
        let (result, out) = {
            let mut ctx = Ctx::new(self, &mut rng);
            let result = f(attack.as_mut(), &mut ctx);
            (result, ctx.into_datagrams())
        };
        let slot = &mut self.attacks[index];
        slot.attack = Some(attack);
        slot.rng = rng;
        for d in out {
            self.dispatch(d);
        }
        Some(result)
    }

    fn dispatch(&mut self, d: Datagram) {
        let Datagram {
            from,
            to,
            bytes,
            forged,
            naming,
        } = d;
        let len = bytes.len();
        if forged {
            self.trace("forge", (from, to), &bytes);
            let names: Vec<SocketAddr> = std::iter::once(from).chain(naming).collect();
            self.ledger.on_forged(self.now, &names, len);
        } else {
            self.trace("attack-send", (from, to), &bytes);
            self.ledger.on_attack_send(self.now);
            self.ledger.on_send(self.now, from, to, len, false);
        }
        self.transmit(from, to, bytes.into(), forged);
    }
}

/// Attacks read the simulation through this view only; each method is `Sim`'s own.
impl SimView for Sim {
    fn now(&self) -> u64 {
        Sim::now(self)
    }

    fn election(&self) -> Hash {
        Sim::election(self)
    }

    fn ballot(&self) -> &Ballot {
        Sim::ballot(self)
    }

    fn n_peers(&self) -> usize {
        Sim::n_peers(self)
    }

    fn peer_addr(&self, id: PeerId) -> SocketAddr {
        Sim::peer_addr(self, id)
    }

    fn node(&self, id: PeerId) -> Option<&Node> {
        Sim::node(self, id)
    }

    fn running(&self) -> Vec<PeerId> {
        Sim::running(self)
    }

    fn peer_clock_ms(&self, id: PeerId) -> u64 {
        Sim::peer_clock_ms(self, id)
    }
}
