//! Attack 7, evicting acknowledged votes: in an open election anyone may vote, so a flooder
//! holding many voter keys sends every honest peer more valid votes, in one instant, than its
//! pending pool holds. A pool that makes room by evicting its oldest votes drops votes it has
//! already acknowledged to their voters.

use super::{Attack, Ctx};
use crate::election::vote_of;
use std::net::SocketAddr;
use votechain_proto::NewVote;

/// See the module docs.
#[derive(Debug)]
pub struct PoolFlood {
    addr: SocketAddr,
    at_ms: u64,
    first_voter: u64,
    count: u64,
    /// Votes sent (per peer).
    pub sent: u64,
}

impl PoolFlood {
    /// At `at_ms`, from `addr`, the votes of voters `first_voter..first_voter + count` to every
    /// running peer.
    pub fn new(addr: SocketAddr, at_ms: u64, first_voter: u64, count: u64) -> PoolFlood {
        PoolFlood {
            addr,
            at_ms,
            first_voter,
            count,
            sent: 0,
        }
    }
}

impl Attack for PoolFlood {
    fn name(&self) -> &'static str {
        "pool-flood"
    }

    fn listen(&self) -> Vec<SocketAddr> {
        vec![self.addr]
    }

    fn on_tick(&mut self, ctx: &mut Ctx<'_>) -> Option<u64> {
        if ctx.now() < self.at_ms {
            return Some(self.at_ms - ctx.now());
        }
        let sim = ctx.sim();
        let targets: Vec<SocketAddr> = sim
            .running()
            .into_iter()
            .map(|i| sim.peer_addr(i))
            .collect();
        for i in self.first_voter..self.first_voter + self.count {
            let vote = vote_of(sim.ballot(), sim.election(), i);
            let message = NewVote { vote }.into();
            for to in &targets {
                ctx.send(self.addr, *to, &message);
            }
            self.sent += 1;
        }
        None
    }
}
