//! Attack 6, one forged datagram bans an honest peer: in the name of honest peer `k + 1`, the
//! attacker sends honest peer `k` either a NEW_BLOCK without proof of work (even `k`) or as many
//! undecodable datagrams as the strike limit (odd `k`). Strikes that follow the source address
//! alone ban the impersonated peer.

use super::{template_on, unworked, Attack, Ctx};
use std::net::SocketAddr;
use votechain_proto::NewBlock;

/// See the module docs.
#[derive(Debug)]
pub struct BanForger {
    at_ms: u64,
    /// (target, impersonated) pairs attacked.
    pub framed: Vec<(SocketAddr, SocketAddr)>,
}

impl BanForger {
    /// Strikes once, at `at_ms`.
    pub fn new(at_ms: u64) -> BanForger {
        BanForger {
            at_ms,
            framed: Vec::new(),
        }
    }
}

impl Attack for BanForger {
    fn name(&self) -> &'static str {
        "ban-forger"
    }

    fn on_tick(&mut self, ctx: &mut Ctx<'_>) -> Option<u64> {
        if ctx.now() < self.at_ms {
            return Some(self.at_ms - ctx.now());
        }
        let sim = ctx.sim();
        let running = sim.running();
        if running.len() < 2 {
            return None;
        }
        for (k, &target) in running.iter().enumerate() {
            let Some(node) = sim.node(target) else {
                continue;
            };
            let to = sim.peer_addr(target);
            let framed = sim.peer_addr(running[(k + 1) % running.len()]);
            if k % 2 == 0 {
                let Some(chain) = node.chain() else { continue };
                let tip = chain.tip();
                let t = template_on(
                    tip.hash(),
                    tip.height(),
                    chain.ballot().difficulty.max(1),
                    sim.peer_clock_ms(target),
                    Vec::new(),
                );
                let block = unworked(&t, ctx.rng);
                ctx.forge(framed, to, &NewBlock { block }.into());
            } else {
                for _ in 0..node.config().strike_limit {
                    ctx.forge_raw(framed, to, b"{\"type\":\"NEW_BLOCK\",".to_vec(), None);
                }
            }
            self.framed.push((to, framed));
        }
        None
    }
}
