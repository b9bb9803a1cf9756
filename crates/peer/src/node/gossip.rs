//! Finding peers: the tracker's lists, and gossip as on the course network — a GOSSIP is
//! forwarded once per id to a few peers and answered with GOSSIP_REPLY to its originator.
//!
//! Only a GOSSIP that proves its origin (it echoes our cookie) is forwarded or answered; others
//! get a small CHALLENGE. Its originator is named in the message, not proven by it, so a GOSSIP
//! naming a victim must not make every peer write to the victim: an originator we do not know
//! gets one small GOSSIP_REPLY (a request, carrying our cookie) at most once per half gossip
//! interval (so every honest re-announcement can reach us once, even after a loss), and only
//! while our table has room. It enters the table once it proves its address (its CHALLENGE or
//! GOSSIP_REPLY echoes our cookie).

use super::{Event, Inbound, Node, Output};
use crate::peers::Source;
use rand::RngCore;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use votechain_proto::{Gossip, GossipReply, Message};
use votechain_sansio::DedupCache;

/// Gossip's own state: what was seen, whom we contacted, when we announce next.
#[derive(Debug)]
pub(super) struct GossipState {
    /// GOSSIP ids seen: each is forwarded once.
    seen: DedupCache<String>,
    /// Unknown gossip originators we contacted, and when: each at most once per cooldown, and
    /// it joins the table when its CHALLENGE proves its address.
    pub(super) contacted: HashMap<SocketAddr, u64>,
    /// When our own next announcement is due.
    pub(super) next_ms: u64,
}

impl GossipState {
    /// Remembers up to `cap` gossip ids.
    pub(super) fn new(cap: usize) -> GossipState {
        GossipState {
            seen: DedupCache::new(cap),
            contacted: HashMap::new(),
            next_ms: 0,
        }
    }

    /// True when an unknown originator may be contacted now (and notes that it was): not
    /// within `cooldown_ms` of the last time, and the record of contacts (at most `cap`) has
    /// room — it fails closed when full.
    fn may_contact(
        &mut self,
        now_ms: u64,
        origin: SocketAddr,
        cooldown_ms: u64,
        cap: usize,
    ) -> bool {
        self.contacted
            .retain(|_, t| now_ms.saturating_sub(*t) < cooldown_ms);
        if self.contacted.contains_key(&origin) || self.contacted.len() >= cap {
            return false;
        }
        self.contacted.insert(origin, now_ms);
        true
    }
}

impl<R: RngCore> Node<R> {
    /// REGISTER_ACK / UPDATE_PEERS (proven to come from the tracker): the tracker verified every
    /// address it lists. UPDATE_PEERS (`replace`) is the whole current list, so tracker-listed
    /// peers missing from it left or were evicted and leave our table too (unless we also know
    /// them otherwise).
    pub(super) fn on_peer_list(&mut self, now_ms: u64, list: &[SocketAddr], replace: bool) {
        let before = self.peers.len();
        if replace {
            for gone in self.peers.retain_listed(list) {
                self.catchup.downloader.forget_peer(&gone);
                self.mining.touch();
            }
        }
        for addr in list {
            self.peers.add(*addr, Source::Tracker, now_ms);
        }
        if self.peers.len() > before {
            tracing::info!(peers = self.peers.len(), "peer list from the tracker");
            // New peers may hold a better chain: ask them soon, not at the next periodic round.
            self.rounds.hurry(now_ms + self.cfg.stats_wait_ms);
        }
    }

    /// REGISTER_ACK's `observed`: the address the tracker saw us at, and lists us under. It is
    /// ours, so it never enters our table; and when we are bound to an unspecified address
    /// without `--advertise` (`learn_address`), it is what we tell peers from now on. Only the
    /// tracker's proven REGISTER_ACK gets here, so a forger cannot choose our address.
    pub(super) fn on_observed_address(&mut self, now_ms: u64, observed: SocketAddr) {
        let ip = observed.ip();
        if observed.port() == 0 || ip.is_unspecified() || ip.is_multicast() {
            return;
        }
        self.peers.add_own_address(observed);
        if self.cfg.learn_address && observed != self.cfg.me {
            self.cfg.me = observed;
            self.out
                .push_back(Output::Event(Event::AddressLearned { address: observed }));
            // Peers heard the stand-in address: announce the right one now.
            self.gossip.next_ms = now_ms;
        }
    }

    /// Our own announcement, to a few peers and every seed.
    pub(super) fn announce(&mut self, now_ms: u64) {
        let id: [u8; 16] = self.rng.gen_array();
        let gossip: Message = Gossip {
            host: self.cfg.me.ip().to_string(),
            port: self.cfg.me.port(),
            id: hex::encode(id),
            name: self.cfg.name.clone(),
        }
        .into();
        self.gossip.seen.insert(match &gossip {
            Message::Gossip(g) => g.id.clone(),
            _ => unreachable!("built as GOSSIP above"),
        });
        let mut targets = self
            .peers
            .sample(&mut self.rng, self.cfg.gossip_fanout, now_ms, None);
        for seed in &self.cfg.seeds {
            if !targets.contains(seed) {
                targets.push(*seed);
            }
        }
        for to in targets {
            self.send_request(now_ms, to, &gossip);
        }
    }

    pub(super) fn on_gossip(&mut self, now_ms: u64, input: Inbound, g: Gossip) {
        let from = input.from;
        if !input.proven {
            // The sender resends the GOSSIP right after answering.
            self.challenge(now_ms, from);
            return;
        }
        if !self.gossip.seen.insert(g.id.clone()) {
            return;
        }
        let Ok(ip) = g.host.parse::<IpAddr>() else {
            // Host names would need a resolver; the core does no IO. Forward, but do not reply.
            tracing::debug!(host = g.host, "gossip with a host name: not contacted");
            self.forward_gossip(now_ms, from, None, g);
            return;
        };
        let origin = SocketAddr::new(ip, g.port);
        if origin == from || self.peers.get(&origin).is_some() {
            // The originator itself, proven by this datagram, or a peer we already know.
            self.peers.add(origin, Source::Gossip, now_ms);
            self.peers.set_name(&origin, &g.name);
            self.send_gossip_reply(now_ms, origin);
        } else if origin != self.cfg.me && self.may_contact(now_ms, origin) {
            // An unknown originator: named, not proven. One small request, at most once per
            // cooldown; it joins the table when it proves its address (`on_challenge`).
            self.send_gossip_reply(now_ms, origin);
        }
        self.forward_gossip(now_ms, from, Some(origin), g);
    }

    /// True when an unknown gossip originator may be contacted now (and notes that it was):
    /// our table has room, and we have not contacted it within half a gossip interval.
    fn may_contact(&mut self, now_ms: u64, origin: SocketAddr) -> bool {
        let (cap, cooldown_ms) = (self.cfg.max_peers, self.cfg.gossip_interval_ms / 2);
        self.peers.len() < cap && self.gossip.may_contact(now_ms, origin, cooldown_ms, cap)
    }

    fn forward_gossip(
        &mut self,
        now_ms: u64,
        from: SocketAddr,
        origin: Option<SocketAddr>,
        g: Gossip,
    ) {
        let message: Message = g.into();
        let targets = self.peers.sample(
            &mut self.rng,
            self.cfg.gossip_fanout + 2,
            now_ms,
            Some(from),
        );
        for to in targets
            .into_iter()
            .filter(|t| Some(*t) != origin)
            .take(self.cfg.gossip_fanout)
        {
            self.send_request(now_ms, to, &message);
        }
    }

    /// Sent as a request: the originator may challenge us before accepting it.
    pub(super) fn send_gossip_reply(&mut self, now_ms: u64, to: SocketAddr) {
        let reply = GossipReply {
            host: self.cfg.me.ip().to_string(),
            port: self.cfg.me.port(),
            name: self.cfg.name.clone(),
        };
        self.send_request(now_ms, to, &reply.into());
    }

    /// GOSSIP_REPLY: the replier is its source address (the host/port fields are informative).
    pub(super) fn on_gossip_reply(&mut self, now_ms: u64, input: Inbound, g: GossipReply) {
        let from = input.from;
        if !input.proven {
            self.challenge(now_ms, from);
            return;
        }
        let new = self.peers.get(&from).is_none();
        if self.peers.add(from, Source::Gossip, now_ms) {
            self.peers.set_name(&from, &g.name);
            self.peers.heard(&from, now_ms);
            if new {
                self.rounds.hurry(now_ms + self.cfg.stats_wait_ms);
            }
        }
    }
}

/// Random fixed-size arrays from any RNG.
trait GenArray {
    fn gen_array<const N: usize>(&mut self) -> [u8; N];
}

impl<R: rand::RngCore> GenArray for R {
    fn gen_array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        self.fill_bytes(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_originator_is_contacted_once_per_cooldown_and_never_past_the_cap() {
        let addr = |port| SocketAddr::from(([127, 0, 0, 1], port));
        let mut g = GossipState::new(8);
        assert!(g.may_contact(0, addr(1), 100, 2));
        assert!(!g.may_contact(99, addr(1), 100, 2));
        assert!(g.may_contact(99, addr(2), 100, 2));
        assert!(
            !g.may_contact(99, addr(3), 100, 2),
            "the record is full: fail closed"
        );
        assert!(g.may_contact(100, addr(1), 100, 2), "the cooldown is over");
    }
}
