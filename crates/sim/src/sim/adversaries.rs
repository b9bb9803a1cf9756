//! Scripted hostile peers ([`crate::adversary`]) hosted at their own addresses: they tick on
//! their own clock, receive what is sent to them, and echo the address cookies they received
//! like any peer, so their misbehaviour is provably their own.

use super::clock::Clock;
use super::delivery::Endpoint;
use super::events::Event;
use super::Sim;
use crate::adversary::{Adversary, Outbox};
use crate::attacks::Cookies;
use std::net::SocketAddr;
use votechain_chain::Block;

/// One hostile peer and what it learnt of cookies.
pub(super) struct AdversarySlot {
    /// The script.
    actor: Box<dyn Adversary>,
    /// A tick event is in the heap (the first is scheduled when it is added).
    tick_scheduled: bool,
    /// A hostile peer at its own address receives what is sent there, so it echoes cookies like
    /// any peer: its misbehaviour is then provably its own.
    cookies: Cookies,
}

impl Sim {
    /// Adds a hostile peer; its first tick comes at once.
    pub fn add_adversary(&mut self, actor: Box<dyn Adversary>) -> SocketAddr {
        let addr = actor.addr();
        let index = self.adversaries.len();
        self.adversaries.push(AdversarySlot {
            actor,
            tick_scheduled: true,
            cookies: Cookies::default(),
        });
        self.endpoints.insert(addr, Endpoint::Adversary(index));
        self.schedule(self.now, Event::AdversaryTick { index });
        addr
    }

    /// Hands `blocks` to every hostile peer (e.g. an honest chain to replay).
    pub fn feed_adversaries(&mut self, blocks: &[Block]) {
        for a in &mut self.adversaries {
            a.actor.feed_chain(blocks);
        }
    }

    /// Hostile peer `index`'s clock ticked.
    pub(super) fn adversary_tick(&mut self, index: usize) {
        let mut out = Outbox::default();
        let now = self.now;
        let unix_ms = Clock::EXACT.local(now);
        let slot = &mut self.adversaries[index];
        slot.tick_scheduled = false;
        let next = slot.actor.on_tick(unix_ms, &mut self.rng, &mut out);
        if let Some(delay) = next {
            self.adversaries[index].tick_scheduled = true;
            self.schedule(now + delay.max(1), Event::AdversaryTick { index });
        }
        self.send_from_adversary(index, out);
    }

    /// A datagram from `from` arrived at hostile peer `index`.
    pub(super) fn deliver_to_adversary(&mut self, index: usize, from: SocketAddr, bytes: &[u8]) {
        self.stats.delivered += 1;
        let mut out = Outbox::default();
        let unix_ms = Clock::EXACT.local(self.now);
        let slot = &mut self.adversaries[index];
        slot.cookies.remember(from, bytes);
        slot.actor.on_datagram(unix_ms, from, bytes, &mut out);
        self.send_from_adversary(index, out);
    }

    /// Sends what hostile peer `index` queued, with the cookies it learnt stamped on.
    fn send_from_adversary(&mut self, index: usize, out: Outbox) {
        let slot = &self.adversaries[index];
        let from = slot.actor.addr();
        let out = out
            .0
            .into_iter()
            .map(|(to, bytes)| (to, slot.cookies.stamp_bytes(to, &bytes)))
            .collect();
        self.send_all(from, out);
    }
}
