//! Driving course nodes: the event queue and run loop, datagrams handed to the network and
//! delivered, each node's one timer, its outputs, and mining for real at a low difficulty.
//!
//! Timers follow the native simulator's rule: a node's timer is re-armed only for an earlier
//! deadline (a later one is armed when the earlier fires and the node finds nothing due), and a
//! deadline already due fires in the next millisecond, so a node that keeps asking for "now"
//! cannot stall virtual time; such a request right after a timeout is counted as a busy wake-up.

use super::{CourseSim, Endpoint, PeerId};
use crate::adversary::Outbox;
use crate::net::exponential;
use rand::Rng;
use std::hash::Hash;
use std::net::SocketAddr;
use std::rc::Rc;
use votechain_course::miner::{CourseSearch, COUNTER_SPACE};
use votechain_course::wire::{self, CourseMessage};
use votechain_peer::course::node::CourseOutput as Output;
use votechain_peer::course::CourseEvent;
use votechain_peer::node::Transmit;

/// Attempts one "found" event searches before giving up (at difficulty 2 a block takes 256 on
/// average; giving up reschedules the search).
const SEARCH_ATTEMPTS: u64 = 1 << 20;

/// What is scheduled.
#[derive(Debug)]
pub(super) enum Event {
    /// A datagram arrives at `to`.
    Deliver {
        to: SocketAddr,
        from: SocketAddr,
        bytes: Rc<[u8]>,
    },
    /// A peer's timer, valid while `generation` matches.
    Timer { peer: PeerId, generation: u64 },
    /// A peer's miner finds a block for the job of `generation`.
    Found { peer: PeerId, generation: u64 },
    /// A hostile peer's own clock.
    AdversaryTick { index: usize },
}

impl CourseSim {
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
    pub(super) fn schedule(&mut self, at: u64, event: Event) {
        self.queue.insert((at, self.next_seq), event);
        self.next_seq += 1;
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Deliver { to, from, bytes } => self.deliver(to, from, &bytes),
            Event::Timer { peer, generation } => self.timer(peer, generation),
            Event::Found { peer, generation } => self.found(peer, generation),
            Event::AdversaryTick { index } => self.adversary_tick(index),
        }
    }

    /// Adds one step to the digest.
    fn trace(&mut self, kind: &str, who: impl Hash, data: &[u8]) {
        self.now.hash(&mut self.digest);
        kind.hash(&mut self.digest);
        who.hash(&mut self.digest);
        data.hash(&mut self.digest);
    }

    /// Prints `what` for peer `id` when `SIM_TRACE` is set.
    fn print(&self, id: PeerId, what: impl FnOnce() -> String) {
        if self.printing {
            eprintln!("[t={:>7}] course peer {id}: {}", self.now, what());
        }
    }

    /// Hands a datagram to the network, which decides when (and whether) it arrives.
    pub(super) fn transmit(&mut self, from: SocketAddr, to: SocketAddr, bytes: Rc<[u8]>) {
        for delay in self.net.fate(&mut self.rng, from, to, bytes.len()) {
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
        let Some(endpoint) = self.endpoints.get(&to).copied() else {
            return;
        };
        self.stats.delivered += 1;
        self.trace("deliver", (to, from), bytes);
        match endpoint {
            Endpoint::Peer(id) => {
                if self.hosts[id].node.mining() {
                    if let Ok(CourseMessage::NewWord { word }) = wire::decode(bytes) {
                        self.words.at_miner.insert(word);
                    }
                }
                self.print(id, || {
                    format!(
                        "<- {from} {}",
                        String::from_utf8_lossy(&bytes[..bytes.len().min(160)])
                    )
                });
                let local = self.local_ms();
                self.hosts[id].node.handle_datagram(local, from, bytes);
                self.drain(id, true);
            }
            Endpoint::Adversary(index) => {
                let mut out = Outbox::default();
                let local = self.local_ms();
                self.adversaries[index].on_datagram(local, from, bytes, &mut out);
                self.send_all(to, out);
            }
            Endpoint::Client => {}
        }
    }

    fn adversary_tick(&mut self, index: usize) {
        let mut out = Outbox::default();
        let local = self.local_ms();
        let next = self.adversaries[index].on_tick(local, &mut self.rng, &mut out);
        let from = self.adversaries[index].addr();
        self.send_all(from, out);
        if let Some(delay) = next {
            self.schedule(self.now + delay.max(1), Event::AdversaryTick { index });
        }
    }

    fn send_all(&mut self, from: SocketAddr, out: Outbox) {
        for (to, bytes) in out.0 {
            self.transmit(from, to, bytes.into());
        }
    }

    fn timer(&mut self, id: PeerId, generation: u64) {
        let local = self.local_ms();
        let host = &mut self.hosts[id];
        if host.timer_generation != generation {
            return;
        }
        host.timer_at = None;
        host.node.handle_timeout(local);
        if host.node.poll_timeout().is_some_and(|t| t <= local) {
            self.stats.busy_wakeups += 1;
            host.busy.0 += 1;
            host.busy.1.get_or_insert(self.now);
        }
        self.drain(id, false);
    }

    /// Arms peer `id`'s timer for virtual time `at` unless it is armed no later already.
    pub(super) fn arm_timer(&mut self, id: PeerId, at: u64) {
        let host = &mut self.hosts[id];
        if host.timer_at.is_some_and(|armed| armed <= at) {
            return;
        }
        host.timer_generation += 1;
        host.timer_at = Some(at);
        let generation = host.timer_generation;
        self.schedule(
            at,
            Event::Timer {
                peer: id,
                generation,
            },
        );
    }

    /// Does everything peer `id` output, then arms its timer.
    pub(super) fn drain(&mut self, id: PeerId, from_datagram: bool) {
        let from = self.hosts[id].addr;
        let mut n_outputs = 0usize;
        while let Some(output) = self.hosts[id].node.poll_output() {
            n_outputs += 1;
            match output {
                Output::Send(Transmit { to, bytes }) => {
                    self.print(id, || {
                        format!(
                            "-> {to} {}",
                            String::from_utf8_lossy(&bytes[..bytes.len().min(160)])
                        )
                    });
                    *self.hosts[id]
                        .sent_to
                        .entry((to, kind_of(&bytes)))
                        .or_default() += 1;
                    self.trace("send", (id, to), &bytes);
                    self.transmit(from, to, bytes.into());
                }
                Output::Persist(blocks) => {
                    self.stats.persisted += blocks.len() as u64;
                    for block in &blocks {
                        self.trace("persist", id, &block.hash.0);
                    }
                }
                Output::Mine(job) => self.mine(id, job),
                Output::Event(event) => {
                    self.print(id, || format!("event {event}"));
                    self.trace("event", id, event.to_string().as_bytes());
                    if let CourseEvent::TipChanged {
                        ours: true,
                        messages,
                        ..
                    } = &event
                    {
                        self.words.mined.extend(messages.iter().cloned());
                    }
                    self.hosts[id].log.push((self.now, event));
                }
            }
        }
        if from_datagram {
            self.stats.max_outputs_per_datagram =
                self.stats.max_outputs_per_datagram.max(n_outputs);
        }
        if let Some(deadline) = self.hosts[id].node.poll_timeout() {
            let at = deadline.saturating_sub(super::EPOCH_MS).max(self.now + 1);
            self.arm_timer(id, at);
        }
    }

    /// A `Mine` output: a newer job (or none) cancels the one being mined.
    fn mine(&mut self, id: PeerId, job: Option<votechain_course::CourseJob>) {
        self.print(id, || format!("mine {:?}", job.as_ref().map(|j| j.height)));
        let host = &mut self.hosts[id];
        host.mine_generation += 1;
        let generation = host.mine_generation;
        let mining = job.is_some();
        host.job = job;
        self.trace("mine", id, &[u8::from(mining)]);
        if mining {
            let delay = exponential(&mut self.rng, self.cfg.mean_mine_ms).max(1);
            self.schedule(
                self.now + delay,
                Event::Found {
                    peer: id,
                    generation,
                },
            );
        }
    }

    /// A simulated miner finished: search a nonce for real and hand the block to the node.
    fn found(&mut self, id: PeerId, generation: u64) {
        let host = &self.hosts[id];
        if host.mine_generation != generation {
            return;
        }
        let Some(job) = host.job.clone() else {
            return;
        };
        let start = self.rng.gen_range(0..COUNTER_SPACE - SEARCH_ATTEMPTS);
        let Some(block) = CourseSearch::new(&job).search(start, SEARCH_ATTEMPTS) else {
            // Unlucky: search again a little later.
            self.schedule(
                self.now + 1,
                Event::Found {
                    peer: id,
                    generation,
                },
            );
            return;
        };
        self.stats.found += 1;
        self.hosts[id].job = None;
        self.print(id, || {
            format!("found {} at height {}", block.hash, block.height)
        });
        self.trace("found", id, &block.hash.0);
        let local = self.local_ms();
        self.hosts[id].node.handle_mined(local, block);
        self.drain(id, false);
    }
}

/// The course message types, as [`kind_of`] names them.
const KINDS: [&str; 9] = [
    "GOSSIP_REPLY",
    "GOSSIP",
    "GET_BLOCK_REPLY",
    "GET_BLOCK",
    "ANNOUNCE",
    "STATS_REPLY",
    "STATS",
    "CONSENSUS",
    "NEW_WORD",
];

/// The `type` of a datagram the node encoded (its key comes first), or `"?"`.
fn kind_of(bytes: &[u8]) -> &'static str {
    let Some(rest) = bytes.strip_prefix(b"{\"type\":\"") else {
        return "?";
    };
    KINDS
        .iter()
        .find(|k| rest.starts_with(k.as_bytes()) && rest.get(k.len()) == Some(&b'"'))
        .copied()
        .unwrap_or("?")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_read_from_the_encoded_type() {
        for message in [
            CourseMessage::Stats,
            CourseMessage::GetBlock { height: 3 },
            CourseMessage::GetBlockReply(None),
            CourseMessage::StatsReply(None),
            CourseMessage::NewWord { word: "w".into() },
        ] {
            assert_eq!(kind_of(&wire::encode(&message)), message.type_name());
        }
        assert_eq!(kind_of(b"{\"type\":\"STATSX\"}"), "?");
        assert_eq!(kind_of(b"not json"), "?");
    }
}
