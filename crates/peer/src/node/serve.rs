//! Serving the chain: REQUEST_CHAIN and GET_BLOCK. Answers are large, so they go only to
//! requests that prove their origin, and each source gets at most [`SERVE_PER_BURST`] blocks per
//! burst of datagrams ([`ServingBudget`]): a flood of requests costs a bounded amount of memory
//! and bandwidth per burst, and the rest of it is dropped (an honest requester asks again).

use super::{Inbound, Node};
use rand::RngCore;
use std::collections::HashMap;
use std::net::SocketAddr;
use votechain_chain::Block;
use votechain_proto::{ChainBlock, GetBlock, GetBlockReply, RequestChain, StatsReply};

/// Most blocks served to one source per burst of datagrams. Four full batches: what an honest
/// downloader (`sync_per_peer` = 4 requests in flight to one peer) can ask of us at once, so
/// honest pipelining never loses a request to the cap.
pub(super) const SERVE_PER_BURST: u64 = 4 * votechain_proto::limits::MAX_CHAIN_BATCH as u64;

/// Blocks served to each source since the last burst ended or the timer last fired.
#[derive(Debug, Default)]
pub(super) struct ServingBudget {
    /// Blocks sent to each source since the last refill.
    served: HashMap<SocketAddr, u64>,
}

impl ServingBudget {
    /// Takes up to `wanted` blocks from `from`'s budget; returns how many it may be sent.
    fn take(&mut self, from: SocketAddr, wanted: u64) -> u64 {
        let served = self.served.entry(from).or_insert(0);
        let granted = wanted.min(SERVE_PER_BURST.saturating_sub(*served));
        *served += granted;
        granted
    }

    /// A burst ended (or the timer fired): every source's budget is full again.
    pub(super) fn refill(&mut self) {
        self.served.clear();
    }
}

impl<R: RngCore> Node<R> {
    /// REQUEST_CHAIN: up to a batch of blocks from `start`, within the serving budget; a start
    /// beyond our tip is answered with our height (STATS_REPLY).
    pub(super) fn on_request_chain(&mut self, now_ms: u64, input: Inbound, r: RequestChain) {
        let from = input.from;
        if !input.proven {
            return self.challenge(now_ms, from);
        }
        let Some((total, tip_hash)) = self.chain.as_ref().map(|c| (c.height() + 1, c.tip_hash()))
        else {
            return;
        };
        if r.start >= total {
            let stats = StatsReply {
                height: total,
                hash: tip_hash,
            };
            self.send(now_ms, from, &stats.into());
            return;
        }
        let count = self
            .serving
            .take(from, u64::from(r.count).min(total - r.start));
        if count == 0 {
            return self.ignore(from, "REQUEST_CHAIN over the per-burst serving budget");
        }
        let Some(chain) = self.chain.as_ref() else {
            return;
        };
        let blocks: Vec<Block> = (r.start..r.start + count)
            .filter_map(|h| chain.block_at(h).cloned())
            .collect();
        for block in blocks {
            let index = block.height();
            let message = ChainBlock {
                index,
                total_blocks: total,
                block,
            };
            self.send(now_ms, from, &message.into());
        }
    }

    /// GET_BLOCK: one block, by hash or height, within the same serving budget.
    pub(super) fn on_get_block(&mut self, now_ms: u64, input: Inbound, g: GetBlock) {
        let from = input.from;
        if !input.proven {
            return self.challenge(now_ms, from);
        }
        if self.serving.take(from, 1) == 0 {
            return self.ignore(from, "GET_BLOCK over the per-burst serving budget");
        }
        let block = self.chain.as_ref().and_then(|c| match g.hash {
            Some(h) => c.block(&h).cloned(),
            None => c.block_at(g.height).cloned(),
        });
        let reply = GetBlockReply {
            height: g.height,
            block,
        };
        self.send(now_ms, from, &reply.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_source_gets_its_own_budget_until_the_refill() {
        let (a, b) = (
            SocketAddr::from(([127, 0, 0, 1], 1)),
            SocketAddr::from(([127, 0, 0, 1], 2)),
        );
        let mut budget = ServingBudget::default();
        assert_eq!(budget.take(a, SERVE_PER_BURST - 1), SERVE_PER_BURST - 1);
        assert_eq!(budget.take(a, 5), 1);
        assert_eq!(budget.take(a, 1), 0);
        assert_eq!(budget.take(b, 3), 3);
        budget.refill();
        assert_eq!(budget.take(a, 2), 2);
    }
}
