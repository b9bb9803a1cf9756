//! Attack 1, a split through the time rule: a proof-of-work-valid block on the honest tip,
//! stamped just past the future-time limit of one peer's clock, is sent to that peer alone; once
//! the others' clocks make it valid, it is sent to them, and they build on it. A peer that
//! remembered the early copy as seen (rather than as "not yet valid") can never connect the
//! branch everyone else is on.

use super::{mine, template_on, Attack, Ctx};
use crate::world::PeerId;
use std::net::SocketAddr;
use votechain_chain::limits::MAX_FUTURE_DRIFT_MS;
use votechain_chain::Block;
use votechain_proto::NewBlock;

/// See the module docs.
#[derive(Debug)]
pub struct FutureBlock {
    addr: SocketAddr,
    early: PeerId,
    start_ms: u64,
    margin_ms: u64,
    block: Option<Block>,
    /// When the early copy went out.
    pub sent_early_ms: Option<u64>,
    /// When the other copies went out (the last fault).
    pub sent_late_ms: Option<u64>,
}

impl FutureBlock {
    /// Sends from `addr` at `start_ms` to peer `early` a block stamped `margin_ms` past that
    /// peer's future-time limit.
    pub fn new(addr: SocketAddr, early: PeerId, start_ms: u64, margin_ms: u64) -> FutureBlock {
        FutureBlock {
            addr,
            early,
            start_ms,
            margin_ms,
            block: None,
            sent_early_ms: None,
            sent_late_ms: None,
        }
    }
}

impl Attack for FutureBlock {
    fn name(&self) -> &'static str {
        "future-block"
    }

    fn listen(&self) -> Vec<SocketAddr> {
        vec![self.addr]
    }

    fn on_tick(&mut self, ctx: &mut Ctx<'_>) -> Option<u64> {
        if ctx.now() < self.start_ms {
            return Some(self.start_ms - ctx.now());
        }
        let sim = ctx.sim();
        let Some(block) = self.block.clone() else {
            let early = sim.node(self.early).and_then(|n| n.chain())?;
            let tip = early.tip();
            let stamp = sim.peer_clock_ms(self.early) + MAX_FUTURE_DRIFT_MS + self.margin_ms;
            let t = template_on(
                tip.hash(),
                tip.height(),
                early.ballot().difficulty,
                stamp,
                Vec::new(),
            );
            let block = mine(&t, ctx.rng);
            let to = sim.peer_addr(self.early);
            ctx.send(
                self.addr,
                to,
                &NewBlock {
                    block: block.clone(),
                }
                .into(),
            );
            self.block = Some(block);
            self.sent_early_ms = Some(ctx.now());
            return Some(100);
        };
        // Valid for every other running peer once its clock is within the limit of the stamp.
        let stamp = block.header().timestamp_ms;
        let others: Vec<PeerId> = sim
            .running()
            .into_iter()
            .filter(|id| *id != self.early)
            .collect();
        if others
            .iter()
            .any(|id| stamp > sim.peer_clock_ms(*id) + MAX_FUTURE_DRIFT_MS)
        {
            return Some(100);
        }
        let message = NewBlock { block }.into();
        for id in others {
            let to = sim.peer_addr(id);
            ctx.send(self.addr, to, &message);
        }
        self.sent_late_ms = Some(ctx.now());
        None
    }
}
