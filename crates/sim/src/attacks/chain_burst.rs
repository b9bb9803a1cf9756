//! Attack 8, work per burst: a stranger verifies its (real) address with one honest peer, then
//! sends it 256 REQUEST_CHAINs for a full batch each, all arriving within one millisecond (the
//! scenario gives its link no jitter). A peer that answers each in full queues 256 batches of
//! blocks for one source in one burst.

use super::{Attack, Cookies, Ctx};
use std::net::SocketAddr;
use votechain_proto::limits::MAX_CHAIN_BATCH;
use votechain_proto::{decode, Message, RequestChain, Verify};

/// See the module docs.
#[derive(Debug)]
pub struct ChainBurst {
    addr: SocketAddr,
    target: SocketAddr,
    at_ms: u64,
    count: u32,
    verified: bool,
    cookies: Cookies,
    /// Datagrams received back.
    pub received: u64,
}

impl ChainBurst {
    /// From `addr`, verify with `target`, then at `at_ms` send it `count` REQUEST_CHAINs.
    pub fn new(addr: SocketAddr, target: SocketAddr, at_ms: u64, count: u32) -> ChainBurst {
        ChainBurst {
            addr,
            target,
            at_ms,
            count,
            verified: false,
            cookies: Cookies::default(),
            received: 0,
        }
    }

    fn request(&self, ctx: &mut Ctx<'_>, count: u32) {
        let ask: Message = RequestChain { start: 0, count }.into();
        if let Some(bytes) = self.cookies.stamp(self.target, &ask) {
            ctx.send_raw(self.addr, self.target, bytes);
        }
    }
}

impl Attack for ChainBurst {
    fn name(&self) -> &'static str {
        "chain-burst"
    }

    fn listen(&self) -> Vec<SocketAddr> {
        vec![self.addr]
    }

    fn on_tick(&mut self, ctx: &mut Ctx<'_>) -> Option<u64> {
        if ctx.now() < self.at_ms {
            if !self.verified {
                self.request(ctx, 1);
            }
            return Some(500.min(self.at_ms - ctx.now()));
        }
        for _ in 0..self.count {
            self.request(ctx, MAX_CHAIN_BATCH);
        }
        None
    }

    fn on_datagram(&mut self, ctx: &mut Ctx<'_>, _: SocketAddr, from: SocketAddr, bytes: &[u8]) {
        self.received += 1;
        self.cookies.remember(from, bytes);
        match decode(bytes) {
            Ok(Message::Challenge(c)) if from == self.target => {
                ctx.send(self.addr, from, &Verify { token: c.token }.into());
                self.request(ctx, 1);
            }
            Ok(Message::ChainBlock(_)) => self.verified = true,
            _ => {}
        }
    }
}
