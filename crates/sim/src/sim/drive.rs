//! Driving a peer core the way its shell does: every input (a timer, a datagram, a mined block)
//! is followed at once by draining `poll_output`. `Send` goes to the network, `Persist` records
//! to the peer's store, `Mine(Some(template))` schedules a "found" event after an exponential
//! delay (a newer `Mine` cancels it), and the core's one timer is re-armed from `poll_timeout`.
//! After every drain the peer's tables must be within their caps, and one datagram's outputs
//! bounded.

use super::events::Event;
use super::{PeerId, Sim};
use crate::net::exponential;
use rand::Rng;
use std::net::SocketAddr;
use votechain_chain::ChainConfig;
use votechain_peer::node::{Event as NodeEvent, Output, Record, Transmit};
use votechain_proto::limits::MAX_CHAIN_BATCH;

impl Sim {
    /// Peer `peer`'s timer event of `generation` fired.
    pub(super) fn peer_timer(&mut self, peer: PeerId, generation: u64) {
        let slot = &mut self.peers[peer];
        if slot.node.is_none() || !slot.timer.fire(generation) {
            return;
        }
        let local = self.peer_clock_ms(peer);
        self.trace("timer", peer, &[]);
        if let Some(node) = self.peers[peer].node.as_mut() {
            node.handle_timeout(local);
        }
        self.drain_peer(peer, false);
    }

    /// A datagram from `from` arrived at peer `id`'s address.
    pub(super) fn deliver_to_peer(&mut self, id: PeerId, from: SocketAddr, bytes: &[u8]) {
        let local = self.peer_clock_ms(id);
        let to = self.peers[id].addr;
        let slot = &mut self.peers[id];
        let Some(node) = slot.node.as_mut() else {
            self.stats.to_down += 1;
            return;
        };
        slot.datagrams_in += 1;
        self.stats.delivered += 1;
        node.handle_datagram(local, from, bytes);
        self.print(id, || {
            format!(
                "<- {from} {}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(160)])
            )
        });
        self.trace("deliver", to, bytes);
        self.burst.insert(id);
        self.drain_peer(id, true);
    }

    /// Drains peer `id`'s outputs; `from_datagram` when they answer one `handle_datagram`, whose
    /// work is then bounded.
    pub(super) fn drain_peer(&mut self, id: PeerId, from_datagram: bool) {
        let from = self.peers[id].addr;
        let mut n_outputs = 0usize;
        let mut blocks_joined = 0usize;
        loop {
            let Some(node) = self.peers[id].node.as_mut() else {
                return;
            };
            let Some(output) = node.poll_output() else {
                break;
            };
            n_outputs += 1;
            match output {
                Output::Send(Transmit { to, bytes }) => {
                    self.print(id, || {
                        format!(
                            "-> {to} {}",
                            String::from_utf8_lossy(&bytes[..bytes.len().min(160)])
                        )
                    });
                    self.peers[id].datagrams_out += 1;
                    self.trace("send", (id, to), &bytes.len().to_be_bytes());
                    self.send(from, to, bytes.into());
                }
                Output::Persist(Record::Block(block)) => {
                    blocks_joined += 1;
                    self.trace("persist-block", id, &block.hash().0);
                    self.peers[id].store_blocks.push(block);
                }
                Output::Persist(Record::Vote(vote)) => {
                    self.trace("persist-vote", id, &vote.id().0);
                    self.peers[id].store_votes.push(vote);
                }
                Output::Mine(job) => {
                    self.print(id, || {
                        format!(
                            "mine {:?}",
                            job.as_ref().map(|t| (t.header().height, t.votes().len()))
                        )
                    });
                    let slot = &mut self.peers[id];
                    slot.mine_generation += 1;
                    let generation = slot.mine_generation;
                    let mining = job.is_some();
                    slot.job = job;
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
                Output::Event(event) => {
                    self.print(id, || format!("event {event:?}"));
                    if let NodeEvent::PeerBanned { peer, reason } = &event {
                        self.ledger.on_ban(self.now, id, *peer, reason);
                    }
                    self.trace("event", id, format!("{event:?}").as_bytes());
                }
            }
        }
        if from_datagram {
            self.stats.max_outputs_per_datagram =
                self.stats.max_outputs_per_datagram.max(n_outputs);
        }
        if self.cfg.check_invariants {
            self.check_peer_invariants(id, from_datagram, n_outputs, blocks_joined);
        }
        self.rearm_peer(id);
    }

    /// Tables within their caps; one datagram's outputs bounded by a constant per block that
    /// joined the tree (a block is relayed to every peer once).
    fn check_peer_invariants(
        &self,
        id: PeerId,
        from_datagram: bool,
        n_outputs: usize,
        blocks_joined: usize,
    ) {
        let Some(node) = self.peers[id].node.as_ref() else {
            return;
        };
        let cfg = node.config();
        assert!(
            node.peers().len() <= cfg.max_peers,
            "peer {id}: {} peers over the cap {} at t={}",
            node.peers().len(),
            cfg.max_peers,
            self.now
        );
        if let Some(chain) = node.chain() {
            let s = chain.stats();
            let caps = ChainConfig::default();
            assert!(
                s.orphans <= caps.max_orphans
                    && s.pending <= caps.max_pending_votes
                    && s.side_blocks <= caps.max_side_blocks
                    && s.rejections <= caps.max_rejections,
                "peer {id}: chain table over its cap at t={}: {s:?}",
                self.now
            );
        }
        if from_datagram {
            let per_block = cfg.max_peers + 2;
            let bound = MAX_CHAIN_BATCH as usize + 16 + per_block * (1 + blocks_joined);
            assert!(
                n_outputs <= bound,
                "peer {id}: one datagram produced {n_outputs} outputs (bound {bound}) at t={}",
                self.now
            );
        }
    }

    /// Arms peer `id`'s timer from its core's `poll_timeout`.
    fn rearm_peer(&mut self, id: PeerId) {
        let Some(node) = self.peers[id].node.as_ref() else {
            return;
        };
        let Some(local) = node.poll_timeout() else {
            return;
        };
        let at = self.peers[id].clock.to_virtual(local).max(self.now);
        self.arm_peer_at(id, at);
    }

    /// A simulated miner finished: search a nonce for real (the ballot's difficulty is tiny in
    /// simulations) and hand the block to the node.
    pub(super) fn found(&mut self, id: PeerId, generation: u64) {
        let slot = &mut self.peers[id];
        if slot.mine_generation != generation || slot.node.is_none() {
            return;
        }
        let Some(template) = slot.job.take() else {
            return;
        };
        let midstate = template.midstate();
        let difficulty = template.header().difficulty;
        let mut nonce: u64 = self.rng.gen();
        while midstate.hash(nonce).leading_zero_bits() < difficulty {
            nonce = nonce.wrapping_add(1);
        }
        let block = template.seal(nonce);
        self.stats.found += 1;
        self.stats.found_empty += u64::from(block.votes().is_empty());
        self.print(id, || {
            format!("found {} at height {}", block.hash(), block.height())
        });
        self.trace("found", id, &block.hash().0);
        let local = self.peer_clock_ms(id);
        if let Some(node) = self.peers[id].node.as_mut() {
            node.handle_mined(local, block);
        }
        self.drain_peer(id, false);
    }
}
