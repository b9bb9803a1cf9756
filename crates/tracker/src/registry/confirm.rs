//! Membership without address cookies (the `w4119` profile, SECURITY.md "Profile w4119"): W4119
//! peers cannot echo a cookie or a nonce, so nothing they send proves their address. What
//! replaces the proof is the one thing their peers do: answer a POKE with `POKE-ACK`.
//!
//! - REGISTER_PEER from an address that is not a member gets one POKE (16 bytes, less than the
//!   request) and nothing else: no peer list, no ballot beyond the budget. The address waits in
//!   a bounded table of candidates for a few heartbeat intervals. A W4119 peer resends
//!   REGISTER_PEER every 0.5 s until acknowledged, so a lost POKE or POKE-ACK costs it one
//!   resend, not its membership.
//! - POKE-ACK from a candidate confirms it: it becomes a member, gets its REGISTER_ACK, and
//!   every member hears of it in the next UPDATE_PEERS round. A forged REGISTER_PEER naming an
//!   address that runs no W4119 peer therefore never makes it a member and draws one POKE.
//! - POKE-ACK from a member answers the current POKE (it carries no nonce to check).
//! - A member's repeated REGISTER_PEER gets a peer list at most once per heartbeat interval.
//! - LEAVE_PEER from a member does not remove it at once: it is sent a POKE and goes at the next
//!   heartbeat unless it answers. A peer that really left does not; one whose LEAVE_PEER was
//!   forged does, and stays.
//!
//! What stays possible, and how it is bounded, is in SECURITY.md: a forger who sends both
//! REGISTER_PEER and POKE-ACK for an address makes it a member for as long as it keeps
//! forging one POKE-ACK per heartbeat, which costs that address one POKE per heartbeat and an
//! UPDATE_PEERS per membership round.

use super::{rate_of, Event, Output, Registry};
use rand::RngCore;
use std::net::SocketAddr;
use votechain_proto::{Message, Poke};
use votechain_sansio::ratelimit::Bucket;

/// Heartbeat intervals a candidate waits for its POKE-ACK before it is forgotten.
const PENDING_HEARTBEATS: u64 = 3;

impl<R: RngCore> Registry<R> {
    /// REGISTER_PEER without address cookies: a member's repeat gets its list again (at most
    /// once per heartbeat interval); anyone else becomes a candidate and is sent a POKE.
    pub(super) fn register_unproven(&mut self, now_ms: u64, from: SocketAddr) {
        let heartbeat = self.config.heartbeat_ms;
        if let Some(peer) = self.peers.get_mut(&from) {
            if peer.last_list_ms.is_some_and(|t| now_ms < t + heartbeat) {
                self.stats.lists_withheld += 1;
            } else {
                self.send_peer_list_ack(now_ms, from);
            }
            return;
        }
        if !self.pending.contains_key(&from) && self.pending.len() >= self.config.max_pending {
            self.expire_pending(now_ms);
            if self.pending.len() >= self.config.max_pending {
                self.stats.pending_full += 1;
                return;
            }
        }
        self.pending.insert(from, now_ms);
        self.stats.confirm_pokes_sent += 1;
        self.send_message(now_ms, from, &Message::Poke(Poke { nonce: None }));
    }

    /// POKE-ACK without address cookies: it answers a member's current POKE, or confirms a
    /// candidate. From anyone else it is counted and dropped.
    pub(super) fn poke_ack_unproven(&mut self, now_ms: u64, from: SocketAddr) {
        if let Some(peer) = self.peers.get_mut(&from) {
            if peer.leaving {
                peer.leaving = false;
                self.stats.leaves_contradicted += 1;
            }
            peer.acked = true;
            peer.missed = 0;
            self.stats.poke_acks_ok += 1;
            return;
        }
        let Some(since) = self.pending.remove(&from) else {
            self.stats.poke_acks_unknown += 1;
            return;
        };
        if now_ms >= since + PENDING_HEARTBEATS * self.config.heartbeat_ms {
            self.stats.poke_acks_unknown += 1;
            return;
        }
        self.stats.poke_acks_ok += 1;
        self.admit(now_ms, from, None);
    }

    /// LEAVE_PEER without address cookies: the member goes at its next heartbeat unless it
    /// answers the POKE sent now.
    pub(super) fn leave_unproven(&mut self, now_ms: u64, from: SocketAddr) {
        let max_missed = self.config.max_missed;
        let Some(peer) = self.peers.get_mut(&from) else {
            self.stats.leave_ignored += 1;
            return;
        };
        peer.leaving = true;
        peer.acked = false;
        peer.missed = max_missed.saturating_sub(1);
        self.stats.pokes_sent += 1;
        self.send_message(now_ms, from, &Message::Poke(Poke { nonce: None }));
    }

    /// Makes `from` a member: the event, its REGISTER_ACK and an UPDATE_PEERS round for all.
    /// The caller has checked that `from` may join; a full registry refuses it.
    pub(super) fn admit(&mut self, now_ms: u64, from: SocketAddr, name: Option<String>) {
        if self.peers.len() >= self.config.max_peers {
            self.stats.refused_full += 1;
            self.out.push_back(Output::Event(Event::Refused {
                addr: from,
                max_peers: self.config.max_peers,
            }));
            return;
        }
        let bucket = Bucket::full(rate_of(&self.config), now_ms);
        self.peers.insert(
            from,
            name.clone(),
            now_ms + self.config.heartbeat_ms,
            bucket,
        );
        self.sources.remove(&from);
        self.stats.joined += 1;
        self.out.push_back(Output::Event(Event::Joined {
            addr: from,
            name,
            n_peers: self.peers.len(),
        }));
        self.send_peer_list_ack(now_ms, from);
        self.announce_pending = true;
    }

    /// Forgets candidates that did not answer their POKE in time.
    pub(super) fn expire_pending(&mut self, now_ms: u64) {
        let wait = PENDING_HEARTBEATS * self.config.heartbeat_ms;
        self.pending.retain(|_, since| now_ms < *since + wait);
    }
}
