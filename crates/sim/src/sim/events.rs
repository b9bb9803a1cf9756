//! The event heap and the run loop: everything that happens in a simulation is an [`Event`]
//! scheduled for a virtual time, and events run in `(time, sequence number)` order — the
//! sequence number being the order in which they were scheduled, so ties are broken the same
//! way on every run. Before virtual time moves on, every peer that received datagrams at the
//! current instant gets `end_of_burst`.

use super::{PeerId, Sim};
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::rc::Rc;

/// What is scheduled.
#[derive(Debug)]
pub(super) enum Event {
    /// A datagram arrives at `to`.
    Deliver {
        to: SocketAddr,
        from: SocketAddr,
        bytes: Rc<[u8]>,
        /// Sent by an attack in `from`'s name.
        forged: bool,
    },
    /// A peer's timer, valid while `generation` matches.
    PeerTimer { peer: PeerId, generation: u64 },
    /// A peer's miner finds a block for the job of `generation`.
    Found { peer: PeerId, generation: u64 },
    /// The tracker's timer.
    TrackerTimer { generation: u64 },
    /// A hostile peer's own clock.
    AdversaryTick { index: usize },
    /// An attack's own clock.
    AttackTick { index: usize },
}

/// An event and when it happens.
#[derive(Debug)]
struct Scheduled {
    at: u64,
    seq: u64,
    event: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    /// Reversed, so the max-heap pops the earliest `(at, seq)` first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// Events still to happen, earliest `(at, seq)` first.
#[derive(Debug, Default)]
pub(super) struct EventQueue {
    /// The sequence number of the next event scheduled.
    next_seq: u64,
    /// The events, as a max-heap of reversed order.
    heap: BinaryHeap<Scheduled>,
}

impl EventQueue {
    /// Schedules `event` at virtual time `at`, after every event already scheduled at `at`.
    fn push(&mut self, at: u64, event: Event) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Scheduled { at, seq, event });
    }

    /// When the next event happens.
    fn next_at(&self) -> Option<u64> {
        self.heap.peek().map(|s| s.at)
    }

    /// The next event and its time.
    fn pop(&mut self) -> Option<(u64, Event)> {
        self.heap.pop().map(|s| (s.at, s.event))
    }
}

impl Sim {
    /// Runs every event up to and including virtual time `until`.
    pub fn run_until(&mut self, until: u64) {
        loop {
            let next_at = self.events.next_at();
            match next_at {
                Some(at) if at <= until => {
                    if at > self.now && !self.burst.is_empty() {
                        self.flush_bursts();
                        continue;
                    }
                    let Some((at, event)) = self.events.pop() else {
                        break;
                    };
                    self.now = at;
                    self.stats.events += 1;
                    self.handle(event);
                }
                _ => {
                    if !self.burst.is_empty() {
                        self.flush_bursts();
                        continue;
                    }
                    self.now = self.now.max(until);
                    return;
                }
            }
        }
    }

    /// Runs for `ms` more virtual milliseconds.
    pub fn run_for(&mut self, ms: u64) {
        self.run_until(self.now + ms);
    }

    /// Schedules `event` at virtual time `at`.
    pub(super) fn schedule(&mut self, at: u64, event: Event) {
        self.events.push(at, event);
    }

    /// Gives `end_of_burst` to every peer that received datagrams at this instant.
    fn flush_bursts(&mut self) {
        for id in std::mem::take(&mut self.burst) {
            let local = self.peer_clock_ms(id);
            if let Some(node) = self.peers[id].node.as_mut() {
                node.end_of_burst(local);
                self.drain_peer(id, false);
            }
        }
    }

    /// Handles one event at the current instant.
    fn handle(&mut self, event: Event) {
        match event {
            Event::Deliver {
                to,
                from,
                bytes,
                forged,
            } => self.arrive(to, from, &bytes, forged),
            Event::PeerTimer { peer, generation } => self.peer_timer(peer, generation),
            Event::Found { peer, generation } => self.found(peer, generation),
            Event::TrackerTimer { generation } => self.tracker_timer(generation),
            Event::AdversaryTick { index } => self.adversary_tick(index),
            Event::AttackTick { index } => self.attack_tick(index),
        }
    }
}
