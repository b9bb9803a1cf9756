//! Datagrams between endpoints: who lives at an address, handing what is sent to the
//! [`Network`](crate::net::Network) (which decides, with the simulation's RNG, when and whether
//! it arrives), and delivering what arrives to the host at its destination. Every byte is
//! booked in the [`Ledger`](crate::ledger::Ledger) on the way.

use super::events::Event;
use super::{PeerId, Sim};
use std::net::SocketAddr;
use std::rc::Rc;

/// Who lives at an address. Looked up by address only, never iterated.
#[derive(Debug, Clone, Copy)]
pub(super) enum Endpoint {
    /// An honest peer.
    Peer(PeerId),
    /// The tracker.
    Tracker,
    /// A scripted hostile peer, by index.
    Adversary(usize),
    /// An attack listening there, by index.
    Attack(usize),
}

impl Sim {
    /// A datagram arrives at `to`; `forged` when an attack sent it in `from`'s name.
    pub(super) fn arrive(&mut self, to: SocketAddr, from: SocketAddr, bytes: &[u8], forged: bool) {
        self.ledger.on_deliver(to, bytes.len());
        self.answering_forged = forged.then_some(from);
        self.deliver(to, from, bytes);
        self.answering_forged = None;
    }

    /// Hands a datagram to whoever lives at `to`, if anyone is up there.
    fn deliver(&mut self, to: SocketAddr, from: SocketAddr, bytes: &[u8]) {
        let endpoint = self.endpoints.get(&to).copied();
        match endpoint {
            Some(Endpoint::Peer(id)) => self.deliver_to_peer(id, from, bytes),
            Some(Endpoint::Tracker) => self.deliver_to_tracker(from, bytes),
            Some(Endpoint::Adversary(index)) => self.deliver_to_adversary(index, from, bytes),
            Some(Endpoint::Attack(index)) => {
                self.stats.delivered += 1;
                self.trace("deliver-attack", to, bytes);
                self.attack_datagram(index, to, from, bytes);
            }
            None => {
                self.stats.to_down += 1;
                self.ledger.on_sink(to, bytes.len());
            }
        }
    }

    /// Sends every datagram of `out`, genuinely from `from`.
    pub(super) fn send_all(&mut self, from: SocketAddr, out: Vec<(SocketAddr, Vec<u8>)>) {
        for (to, bytes) in out {
            self.send(from, to, bytes.into());
        }
    }

    /// A genuine datagram: `from` really sent it.
    pub(super) fn send(&mut self, from: SocketAddr, to: SocketAddr, bytes: Rc<[u8]>) {
        let answer = self.answering_forged == Some(to);
        self.ledger.on_send(self.now, from, to, bytes.len(), answer);
        self.transmit(from, to, bytes, false);
    }

    /// Hands a datagram to the network, which decides when (and whether) it arrives.
    pub(super) fn transmit(
        &mut self,
        from: SocketAddr,
        to: SocketAddr,
        bytes: Rc<[u8]>,
        forged: bool,
    ) {
        for delay in self.net.fate(&mut self.rng, from, to, bytes.len()) {
            self.schedule(
                self.now + delay,
                Event::Deliver {
                    to,
                    from,
                    bytes: bytes.clone(),
                    forged,
                },
            );
        }
    }
}
