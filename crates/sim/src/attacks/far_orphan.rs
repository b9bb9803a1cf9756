//! Attack 2, one datagram halting vote inclusion: a proof-of-work-valid block far above the
//! honest tip, whose parent nobody has, sent to every honest peer from an address no peer table
//! holds. The sender never answers anything, so a peer that makes it its only sync source (and
//! stops mining while syncing) waits on a stranger that will never deliver.

use super::{mine, template_on, Attack, Ctx};
use rand::Rng;
use std::net::SocketAddr;
use votechain_chain::Hash;
use votechain_proto::NewBlock;

/// See the module docs.
#[derive(Debug)]
pub struct FarOrphan {
    addr: SocketAddr,
    at_ms: u64,
    ahead: u64,
    /// Datagrams it received (and never answered).
    pub ignored: u64,
    /// When the blocks went out.
    pub sent_ms: Option<u64>,
}

impl FarOrphan {
    /// At `at_ms`, from `addr`, a block `ahead` heights above the best honest tip.
    pub fn new(addr: SocketAddr, at_ms: u64, ahead: u64) -> FarOrphan {
        FarOrphan {
            addr,
            at_ms,
            ahead,
            ignored: 0,
            sent_ms: None,
        }
    }
}

impl Attack for FarOrphan {
    fn name(&self) -> &'static str {
        "far-orphan"
    }

    fn listen(&self) -> Vec<SocketAddr> {
        vec![self.addr]
    }

    fn on_tick(&mut self, ctx: &mut Ctx<'_>) -> Option<u64> {
        if ctx.now() < self.at_ms {
            return Some(self.at_ms - ctx.now());
        }
        let (height, _) = ctx.best_honest_tip()?;
        let sim = ctx.sim();
        let difficulty = sim.ballot().difficulty;
        let clock = sim.peer_clock_ms(0);
        let parent = Hash(ctx.rng.gen());
        let t = template_on(parent, height + self.ahead, difficulty, clock, Vec::new());
        let block = mine(&t, ctx.rng);
        let message = NewBlock { block }.into();
        let targets: Vec<SocketAddr> = sim
            .running()
            .into_iter()
            .map(|i| sim.peer_addr(i))
            .collect();
        for to in targets {
            ctx.send(self.addr, to, &message);
        }
        self.sent_ms = Some(ctx.now());
        None
    }

    fn on_datagram(&mut self, _: &mut Ctx<'_>, _: SocketAddr, _: SocketAddr, _: &[u8]) {
        self.ignored += 1;
    }
}
