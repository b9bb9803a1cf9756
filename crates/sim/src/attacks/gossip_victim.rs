//! Attack 5, a GOSSIP naming a victim: GOSSIPs announcing a victim address (where nothing
//! lives) are forged to each honest peer in the name of a peer it has heard from recently, so
//! they pass as relays from a verified neighbour. Spread network-wide, each could make every
//! peer send the victim something.

use super::SimView;
use super::{Attack, Ctx};
use rand::Rng;
use std::net::SocketAddr;
use votechain_proto::Gossip;

/// See the module docs.
#[derive(Debug)]
pub struct GossipVictim {
    victim: SocketAddr,
    start_ms: u64,
    rounds: u32,
    period_ms: u64,
    /// Forged GOSSIPs sent.
    pub forged: u64,
}

impl GossipVictim {
    /// From `start_ms`, `rounds` rounds `period_ms` apart, one forged GOSSIP per honest peer.
    pub fn new(victim: SocketAddr, start_ms: u64, rounds: u32, period_ms: u64) -> GossipVictim {
        GossipVictim {
            victim,
            start_ms,
            rounds,
            period_ms,
            forged: 0,
        }
    }
}

/// The honest peer that `target` heard from last (ties broken by address), if any.
fn freshest_neighbour(sim: &dyn SimView, target: usize) -> Option<SocketAddr> {
    let node = sim.node(target)?;
    let honest: Vec<SocketAddr> = (0..sim.n_peers()).map(|i| sim.peer_addr(i)).collect();
    node.peers()
        .iter()
        .filter(|(a, _)| honest.contains(a))
        .max_by_key(|(a, p)| (p.last_heard_ms, std::cmp::Reverse(**a)))
        .map(|(a, _)| *a)
}

impl Attack for GossipVictim {
    fn name(&self) -> &'static str {
        "gossip-victim"
    }

    fn on_tick(&mut self, ctx: &mut Ctx<'_>) -> Option<u64> {
        if ctx.now() < self.start_ms {
            return Some(self.start_ms - ctx.now());
        }
        if self.rounds == 0 {
            return None;
        }
        self.rounds -= 1;
        let sim = ctx.sim();
        for target in sim.running() {
            let Some(from) = freshest_neighbour(sim, target) else {
                continue;
            };
            let id: u32 = ctx.rng.gen();
            let gossip = Gossip {
                host: self.victim.ip().to_string(),
                port: self.victim.port(),
                id: format!("{id:08x}"),
                name: "v".into(),
            };
            if let Ok(bytes) = votechain_proto::encode(&gossip.into()) {
                ctx.forge_raw(from, sim.peer_addr(target), bytes, Some(self.victim));
                self.forged += 1;
            }
        }
        Some(self.period_ms)
    }
}
