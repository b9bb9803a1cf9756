//! Driving the W4119 cores: the event queue and run loop, datagrams handed to the network and
//! delivered, our node's and the tracker's one timer each, the hosts' 0.5 s resend tick, our
//! node's outputs, and mining for real at the simulation's low difficulty.
//!
//! A timer is re-armed whenever `poll_timeout` names another instant than the one armed (the
//! old event is left in the queue and ignored by its generation); a deadline already due fires
//! in the next millisecond, so a core that keeps asking for "now" cannot stall virtual time.

use super::{Core, Endpoint, PeerId, W4119Sim, HOST_RESEND_MS};
use crate::net::exponential;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64};
use votechain_peer::w4119::node::{W4119Output, W4119Record};
use votechain_tracker::{Output as TrackerOutput, Transmit};
use votechain_w4119::{BlockTemplate, W4119Block};
use votechain_w4119host::tracker::Outgoing;

/// What is scheduled.
#[derive(Debug)]
pub(super) enum Event {
    /// A datagram arrives at `to`.
    Deliver {
        to: SocketAddr,
        from: SocketAddr,
        bytes: Vec<u8>,
    },
    /// Our node's timer, valid while `generation` matches.
    Timer { peer: PeerId, generation: u64 },
    /// The tracker's timer, valid while `generation` matches.
    TrackerTimer { generation: u64 },
    /// A host's resend tick, valid while the peer's timer `generation` matches.
    Resend { peer: PeerId, generation: u64 },
    /// Our node's miner finds a block for the job of `generation`.
    Found { peer: PeerId, generation: u64 },
}

impl W4119Sim {
    /// Runs every event up to and including virtual time `until`.
    pub fn run_until(&mut self, until: u64) {
        while let Some(entry) = self.queue.first_entry() {
            let (at, _) = *entry.key();
            if at > until {
                break;
            }
            let event = entry.remove();
            self.now = at;
            self.stats.events += 1;
            self.handle(event);
        }
        self.now = self.now.max(until);
    }

    /// Runs for `ms` more virtual milliseconds.
    pub fn run_for(&mut self, ms: u64) {
        self.run_until(self.now + ms);
    }

    /// Schedules `event` at virtual time `at`, after every event already scheduled then.
    fn schedule(&mut self, at: u64, event: Event) {
        self.queue.insert((at, self.next_seq), event);
        self.next_seq += 1;
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Deliver { to, from, bytes } => self.deliver(to, from, &bytes),
            Event::Timer { peer, generation } => {
                if self.peers[peer].timer_generation == generation {
                    self.peers[peer].timer_at = None;
                    let now = self.now;
                    if let Some(Core::Ours(node)) = self.peers[peer].core.as_mut() {
                        node.handle_timeout(now);
                    }
                    self.drain_ours(peer);
                }
            }
            Event::TrackerTimer { generation } => {
                if self.tracker_generation == generation {
                    self.tracker_at = None;
                    self.tracker.handle_timeout(self.now);
                    self.drain_tracker();
                }
            }
            Event::Resend { peer, generation } => {
                if self.peers[peer].timer_generation == generation {
                    if let Some(Core::Host(node)) = self.peers[peer].core.as_mut() {
                        let out = node.handle_resend();
                        self.send_host(peer, out);
                    }
                    self.schedule(
                        self.now + HOST_RESEND_MS,
                        Event::Resend { peer, generation },
                    );
                }
            }
            Event::Found { peer, generation } => self.found(peer, generation),
        }
    }

    /// Prints `what` when `SIM_TRACE` is set.
    fn print(&self, what: impl FnOnce() -> String) {
        if self.printing {
            eprintln!("[t={:>7}] {}", self.now, what());
        }
    }

    /// Starts peer `id`'s clock: our node's first timeout now, a host's resend tick now.
    pub(super) fn start_peer(&mut self, id: PeerId) {
        let generation = self.peers[id].timer_generation;
        match self.peers[id].core {
            Some(Core::Ours(_)) => self.drain_ours(id),
            Some(Core::Host(_)) => self.schedule(
                self.now,
                Event::Resend {
                    peer: id,
                    generation,
                },
            ),
            None => {}
        }
    }

    /// Hands a datagram to the network, which decides when (and whether) it arrives.
    pub(super) fn transmit(&mut self, from: SocketAddr, to: SocketAddr, bytes: Vec<u8>) {
        let delays = self.net.fate(&mut self.rng, from, to, bytes.len());
        for delay in delays {
            self.schedule(
                self.now + delay,
                Event::Deliver {
                    to,
                    from,
                    bytes: bytes.clone(),
                },
            );
        }
    }

    fn deliver(&mut self, to: SocketAddr, from: SocketAddr, bytes: &[u8]) {
        // Bytes reach an address whether or not anything listens there: a forged source's
        // victim pays for them all the same.
        *self.delivered_bytes.entry((to, from)).or_default() += bytes.len() as u64;
        let Some(endpoint) = self.endpoints.get(&to).copied() else {
            return;
        };
        self.stats.delivered += 1;
        self.print(|| format!("{from} → {to}: {}", String::from_utf8_lossy(bytes)));
        let now = self.now;
        match endpoint {
            Endpoint::Tracker => {
                self.tracker.handle_datagram(now, from, bytes);
                self.drain_tracker();
            }
            Endpoint::Peer(id) => match self.peers[id].core.as_mut() {
                Some(Core::Ours(node)) => {
                    node.handle_datagram(now, from, bytes);
                    self.drain_ours(id);
                }
                Some(Core::Host(node)) => {
                    let out = node.handle_datagram(from, bytes);
                    self.send_host(id, out);
                }
                None => {}
            },
        }
    }

    /// Sends what a host returned, from its address.
    pub(super) fn send_host(&mut self, id: PeerId, out: Vec<Outgoing>) {
        let from = self.peers[id].addr;
        for (to, text) in out {
            self.transmit(from, to, text.into_bytes());
        }
    }

    /// Drains the tracker's outputs and re-arms its timer.
    pub(super) fn drain_tracker(&mut self) {
        while let Some(output) = self.tracker.poll_output() {
            match output {
                TrackerOutput::Send(Transmit { to, bytes }) => {
                    self.transmit(super::TRACKER_ADDR, to, bytes)
                }
                TrackerOutput::Event(event) => self.print(|| format!("tracker: {event:?}")),
                TrackerOutput::Persist(never) | TrackerOutput::Mine(Some(never)) => match never {},
                TrackerOutput::Mine(None) => {}
            }
        }
        let due = self.tracker.poll_timeout().map(|at| at.max(self.now + 1));
        if due != self.tracker_at {
            self.tracker_generation += 1;
            self.tracker_at = due;
            if let Some(at) = due {
                let generation = self.tracker_generation;
                self.schedule(at, Event::TrackerTimer { generation });
            }
        }
    }

    /// Drains our node `id`'s outputs and re-arms its timer; nothing for a host or a crashed
    /// peer.
    pub(super) fn drain_ours(&mut self, id: PeerId) {
        loop {
            let Some(Core::Ours(node)) = self.peers[id].core.as_mut() else {
                return;
            };
            let Some(output) = node.poll_output() else {
                break;
            };
            match output {
                W4119Output::Send(Transmit { to, bytes }) => {
                    let from = self.peers[id].addr;
                    self.transmit(from, to, bytes);
                }
                W4119Output::Persist(W4119Record::Blocks(blocks)) => self.persist(id, blocks),
                W4119Output::Persist(W4119Record::OwnVote(vote)) => {
                    self.peers[id].own_votes.push(vote)
                }
                W4119Output::Mine(job) => self.mine(id, job),
                W4119Output::Event(event) => {
                    self.print(|| format!("peer {id}: {event}"));
                    self.peers[id].log.push((self.now, event));
                }
            }
        }
        let due = match self.peers[id].core.as_ref() {
            Some(Core::Ours(node)) => node.poll_timeout().map(|at| at.max(self.now + 1)),
            _ => None,
        };
        if due != self.peers[id].timer_at {
            let peer = &mut self.peers[id];
            peer.timer_generation += 1;
            peer.timer_at = due;
            if let Some(at) = due {
                let generation = peer.timer_generation;
                self.schedule(
                    at,
                    Event::Timer {
                        peer: id,
                        generation,
                    },
                );
            }
        }
    }

    /// Replays a `Persist` record into the simulated store as `W4119Store` does: the first
    /// block's index replaces everything from there on.
    fn persist(&mut self, id: PeerId, blocks: Vec<W4119Block>) {
        self.stats.persisted += blocks.len() as u64;
        let store = &mut self.peers[id].store;
        if let Some(first) = blocks.first() {
            let from = usize::try_from(first.index.max(1)).unwrap_or(usize::MAX);
            store.truncate(from);
        }
        store.extend(blocks);
    }

    /// A `Mine`: a new template cancels the old and is found after a random delay.
    fn mine(&mut self, id: PeerId, job: Option<BlockTemplate>) {
        let peer = &mut self.peers[id];
        peer.mine_generation += 1;
        peer.job = job;
        if peer.job.is_some() {
            let generation = peer.mine_generation;
            let delay = 1 + exponential(&mut self.rng, self.cfg.mean_mine_ms);
            self.schedule(
                self.now + delay,
                Event::Found {
                    peer: id,
                    generation,
                },
            );
        }
    }

    /// The miner of our node `id` finishes: the template is mined for real and handed back.
    fn found(&mut self, id: PeerId, generation: u64) {
        if self.peers[id].mine_generation != generation {
            return;
        }
        let Some(job) = self.peers[id].job.take() else {
            return;
        };
        let cancel = AtomicBool::new(false);
        let hashes = AtomicU64::new(0);
        let Some(block) = votechain_w4119::mine(&job, self.cfg.difficulty, &cancel, &hashes) else {
            return;
        };
        self.stats.found += 1;
        if let Some(Core::Ours(node)) = self.peers[id].core.as_mut() {
            node.handle_mined(block);
        }
        self.drain_ours(id);
    }
}
