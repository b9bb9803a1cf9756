//! Finding peers: the tracker's lists, and gossip as on the course network — a GOSSIP is
//! forwarded once per id to a few peers and answered with GOSSIP_REPLY to its originator, who is
//! challenged first when it has not proved its address, so a spoofed GOSSIP is neither reflected
//! nor forwarded. Peers learned by gossip enter the table only once verified.

use super::Node;
use crate::peers::Source;
use std::net::{IpAddr, SocketAddr};
use votechain_proto::{Gossip, GossipReply, Message};

impl Node {
    /// REGISTER_ACK / UPDATE_PEERS: the tracker verified every address it lists.
    pub(super) fn on_peer_list(&mut self, now_ms: u64, list: &[SocketAddr]) {
        let before = self.peers.len();
        for addr in list {
            self.peers.add(*addr, Source::Tracker, now_ms);
        }
        if self.peers.len() > before {
            tracing::info!(peers = self.peers.len(), "peer list from the tracker");
            // New peers may hold a better chain: ask them soon, not at the next periodic round.
            self.next_consensus_ms = self.next_consensus_ms.min(now_ms + self.cfg.stats_wait_ms);
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
        self.seen_gossip.insert(match &gossip {
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
        self.last_announce_ms = Some(now_ms);
    }

    pub(super) fn on_gossip(&mut self, now_ms: u64, from: SocketAddr, g: Gossip) {
        if !self.is_verified(&from, now_ms) {
            // The sender resends the GOSSIP right after answering.
            self.challenge(now_ms, from);
            return;
        }
        if !self.seen_gossip.insert(g.id.clone()) {
            return;
        }
        let Ok(ip) = g.host.parse::<IpAddr>() else {
            // Host names would need a resolver; the core does no IO. Forward, but do not reply.
            tracing::debug!(host = g.host, "gossip with a host name: not contacted");
            self.forward_gossip(now_ms, from, None, g);
            return;
        };
        let origin = SocketAddr::new(ip, g.port);
        if origin != self.cfg.me {
            if self.is_verified(&origin, now_ms) {
                self.peers.add(origin, Source::Gossip, now_ms);
                if let Some(p) = self.peers.get_mut(&origin) {
                    p.name = Some(g.name.clone());
                    p.last_heard_ms = now_ms;
                }
                self.send_gossip_reply(now_ms, origin);
            } else {
                // Only a small CHALLENGE may go to an address that has not proved itself: the
                // GOSSIP may be forged to make us send to a victim. The originator answers it
                // (see `on_challenge`), and the reply follows its VERIFY.
                self.owed_reply.insert(origin);
                self.challenge(now_ms, origin);
            }
        }
        self.forward_gossip(now_ms, from, Some(origin), g);
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
    pub(super) fn on_gossip_reply(&mut self, now_ms: u64, from: SocketAddr, g: GossipReply) {
        if !self.is_verified(&from, now_ms) {
            self.challenge(now_ms, from);
            return;
        }
        let new = self.peers.get(&from).is_none();
        if self.peers.add(from, Source::Gossip, now_ms) {
            if let Some(p) = self.peers.get_mut(&from) {
                p.name = Some(g.name);
                p.last_heard_ms = now_ms;
            }
            if new {
                self.next_consensus_ms =
                    self.next_consensus_ms.min(now_ms + self.cfg.stats_wait_ms);
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
