//! Liveness: how members stay and go. Each member gets a POKE with a fresh nonce every
//! heartbeat interval; a POKE_ACK echoing the current or previous nonce answers it, and after
//! `max_missed` consecutive unanswered POKEs the member is evicted. A proven LEAVE_PEER removes
//! a member at once. Every departure schedules an UPDATE_PEERS round.

use super::{Event, Output, Registry};
use rand::RngCore;
use std::net::SocketAddr;
use votechain_proto::{Cookie, Poke, PokeAck};

impl<R: RngCore> Registry<R> {
    /// POKE_ACK: its nonce, which only the member's real address received, proves it alive;
    /// the cookie it carries is then the one our next datagrams to it echo.
    pub(super) fn on_poke_ack(&mut self, from: SocketAddr, ack: PokeAck, cookie: Option<Cookie>) {
        let Some(peer) = self.peers.get_mut(&from) else {
            self.stats.poke_acks_unknown += 1;
            return;
        };
        let answered = match ack.nonce {
            None => {
                self.stats.poke_acks_no_nonce += 1;
                false
            }
            Some(n) if peer.nonce == Some(n) => {
                peer.acked = true;
                peer.missed = 0;
                true
            }
            Some(n) if peer.prev_nonce == Some(n) => {
                // The answer to the previous POKE, late: the peer was alive then, so the
                // streak of misses is broken; the current POKE is still unanswered.
                peer.prev_nonce = None;
                peer.missed = 0;
                true
            }
            Some(_) => {
                self.stats.poke_acks_wrong_nonce += 1;
                false
            }
        };
        if answered {
            self.stats.poke_acks_ok += 1;
            if cookie.is_some() {
                peer.cookie = cookie;
            }
        }
    }

    /// LEAVE_PEER, proven: the member goes at once.
    pub(super) fn on_leave(&mut self, from: SocketAddr) {
        if let Some(peer) = self.peers.remove(&from) {
            self.stats.left += 1;
            self.out.push_back(Output::Event(Event::Left {
                addr: from,
                name: peer.name,
                n_peers: self.peers.len(),
            }));
            self.announce_pending = true;
        } else {
            self.stats.leave_ignored += 1;
        }
    }

    /// One member's heartbeat, due at `due_ms`: count the last POKE if unanswered, evict after
    /// `max_missed`, otherwise send a fresh POKE and schedule the next.
    pub(super) fn heartbeat(&mut self, now_ms: u64, addr: SocketAddr, due_ms: u64) {
        let interval = self.config.heartbeat_ms;
        let max_missed = self.config.max_missed;
        let nonce = self.rng.next_u64();
        let Some(peer) = self.peers.get_mut(&addr) else {
            return;
        };
        if !peer.acked {
            peer.missed += 1;
        }
        if peer.missed >= max_missed {
            let missed = peer.missed;
            let Some(gone) = self.peers.remove(&addr) else {
                return;
            };
            let n_peers = self.peers.len();
            // Without address cookies a LEAVE_PEER takes effect here, once the POKE that
            // followed it went unanswered (confirm.rs).
            let event = if gone.leaving {
                self.stats.left += 1;
                Event::Left {
                    addr,
                    name: gone.name,
                    n_peers,
                }
            } else {
                self.stats.evicted += 1;
                Event::Evicted {
                    addr,
                    name: gone.name,
                    missed,
                    n_peers,
                }
            };
            self.out.push_back(Output::Event(event));
            self.announce_pending = true;
            return;
        }
        peer.prev_nonce = peer.nonce;
        peer.nonce = Some(nonce);
        peer.acked = false;
        // After a stall (the process was stopped), skip the missed slots rather than poking
        // in a burst to catch up.
        let mut next = due_ms + interval;
        if next <= now_ms {
            next = now_ms + interval;
        }
        self.peers.reschedule(addr, next);
        self.stats.pokes_sent += 1;
        self.send_message(now_ms, addr, &Poke { nonce: Some(nonce) }.into());
    }
}
