//! Peer lists and announcements: the random sample of members that REGISTER_ACK and UPDATE_PEERS
//! carry, sized to fit one small datagram, and the UPDATE_PEERS rounds that tell every member of
//! a membership change, at most one round per heartbeat interval however many changes it covers.

use super::Registry;
use rand::{Rng, RngCore};
use std::net::SocketAddr;
use votechain_proto::{Message, RegisterAck, UpdatePeers};

/// How many distinct random peer lists one UPDATE_PEERS round draws when the membership does
/// not fit one list; each member gets one of them at random. Bounds the round's cost while
/// still giving different members different neighbours.
const UPDATE_SAMPLES: usize = 32;

impl<R: RngCore> Registry<R> {
    /// When the next UPDATE_PEERS round may go out.
    pub(super) fn next_announce_ms(&self) -> u64 {
        self.last_announce_ms
            .map_or(0, |t| t + self.config.heartbeat_ms)
    }

    /// When the list is next repeated without a membership change (`Config::list_refresh_ms`).
    pub(super) fn next_refresh_ms(&self) -> Option<u64> {
        let every = self.config.list_refresh_ms?;
        (self.peers.len() > 0).then(|| self.last_announce_ms.map_or(0, |t| t + every))
    }

    /// Sends the pending UPDATE_PEERS round, if there is one and it is due at `now_ms`, or the
    /// periodic one when its time has come.
    pub(super) fn maybe_announce(&mut self, now_ms: u64) {
        if self.next_refresh_ms().is_some_and(|t| now_ms >= t) {
            self.announce_pending = true;
        }
        if !self.announce_pending || now_ms < self.next_announce_ms() {
            return;
        }
        self.announce_pending = false;
        self.last_announce_ms = Some(now_ms);
        let n = self.peers.len();
        if n == 0 {
            return;
        }
        self.stats.update_rounds += 1;
        let first = self.encode_list(None, false);
        let mut pool = vec![first.0];
        if !first.1 {
            // The membership does not fit one list: draw several samples and hand them out at
            // random, so members learn different neighbours.
            while pool.len() < UPDATE_SAMPLES.min(n) {
                pool.push(self.encode_list(None, false).0);
            }
        }
        for i in 0..n {
            let addr = self.peers.members()[i];
            let payload = pool[self.rng.gen_range(0..pool.len())].clone();
            self.stats.updates_sent += 1;
            self.send(now_ms, addr, "UPDATE_PEERS", payload);
        }
    }

    /// Encodes a REGISTER_ACK (`ack`) or UPDATE_PEERS with a random sample of members, `first`
    /// leading. Also says whether the sample holds every member.
    fn encode_list(&mut self, first: Option<SocketAddr>, ack: bool) -> (Vec<u8>, bool) {
        let mut list =
            self.peers
                .sample(&mut self.rng, first, self.config.max_list, self.list_budget);
        let complete = list.len() == self.peers.len();
        // A socket bound to `::` sees IPv4 peers as `::ffff:a.b.c.d`; advertise the IPv4 form,
        // which every peer can use (it is never longer, so the sample still fits).
        for addr in &mut list {
            addr.set_ip(addr.ip().to_canonical());
        }
        loop {
            let message: Message = match ack {
                // The newcomer (`first`) learns the address we list it under.
                true => RegisterAck {
                    peer_list: list.clone(),
                    observed: first.map(|a| SocketAddr::new(a.ip().to_canonical(), a.port())),
                }
                .into(),
                false => UpdatePeers {
                    peer_list: list.clone(),
                }
                .into(),
            };
            match self.config.dialect.encode(&message) {
                Ok(bytes) => return (bytes, complete && list.len() == self.peers.len()),
                // The sample is sized to fit, so this only runs if the size arithmetic and
                // the encoder ever disagree; an empty list always fits.
                Err(_) => {
                    list.pop();
                }
            }
        }
    }

    /// Sends `to` a REGISTER_ACK listing a sample of members, `to` itself first.
    pub(super) fn send_peer_list_ack(&mut self, now_ms: u64, to: SocketAddr) {
        let (payload, _) = self.encode_list(Some(to), true);
        if let Some(peer) = self.peers.get_mut(&to) {
            peer.last_list_ms = Some(now_ms);
        }
        self.stats.acks_sent += 1;
        self.send(now_ms, to, "REGISTER_ACK", payload);
    }
}
