//! The properties every scenario must end with, checked on the real cores' state:
//!
//! - every running honest peer is on the same tip;
//! - every vote an honest peer acknowledged is in that chain exactly once (and no vote is in it
//!   twice);
//! - every peer's tally is identical and equal to a recount of the chain from scratch.
//!
//! Invariants at every step (caps, bounded work per datagram) are checked inside
//! [`crate::Sim`] after each input.

use crate::sim::{PeerId, Sim};
use std::collections::BTreeMap;
use votechain_chain::tally::recount;
use votechain_chain::{Hash, Receipt};

/// What a successful settle found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Virtual time at which the properties held.
    pub at_ms: u64,
    /// Height of the common tip.
    pub height: u64,
    /// The common tip.
    pub tip: Hash,
    /// Votes in the chain.
    pub votes: usize,
    /// Running honest peers checked.
    pub peers: usize,
}

impl Sim {
    /// True when every running peer holds the same tip and every acknowledged vote is in it
    /// (a cheap test, run often while settling).
    pub fn converged(&self) -> bool {
        let running = self.running();
        let mut tips = running
            .iter()
            .map(|id| self.node(*id).and_then(|n| n.chain()).map(|c| c.tip_hash()));
        let Some(Some(first)) = tips.next() else {
            return false;
        };
        if !tips.all(|t| t == Some(first)) {
            return false;
        }
        let Some(chain) = self.node(running[0]).and_then(|n| n.chain()) else {
            return false;
        };
        self.acked()
            .keys()
            .all(|id| matches!(chain.receipt(id), Receipt::InBlock { .. }))
    }

    /// Runs until [`Sim::converged`] holds (checked every `step_ms`) or `max_ms` pass, then checks
    /// every property. The error says what differs, peer by peer.
    pub fn settle(&mut self, max_ms: u64) -> Result<Summary, String> {
        let deadline = self.now() + max_ms;
        let step_ms = 100;
        while !self.converged() {
            if self.now() >= deadline {
                return Err(format!(
                    "no convergence within {max_ms} ms (t={} ms):\n{}",
                    self.now(),
                    self.describe()
                ));
            }
            self.run_for(step_ms);
        }
        self.check_properties()
    }

    /// Checks the end-of-scenario properties now.
    pub fn check_properties(&self) -> Result<Summary, String> {
        let running = self.running();
        let Some(&first) = running.first() else {
            return Err("no honest peer is running".into());
        };
        let chain = self
            .node(first)
            .and_then(|n| n.chain())
            .ok_or_else(|| format!("peer {first} does not know the election"))?;
        let tip = chain.tip_hash();
        let mut count: BTreeMap<Hash, u32> = BTreeMap::new();
        for block in chain.best_chain() {
            for vote in block.votes() {
                *count.entry(vote.id()).or_default() += 1;
            }
        }
        if let Some((id, n)) = count.iter().find(|(_, n)| **n > 1) {
            return Err(format!("vote {id} is in the chain {n} times"));
        }
        let missing: Vec<&Hash> = self
            .acked()
            .keys()
            .filter(|id| !count.contains_key(id))
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "{} acknowledged votes are not in the chain, e.g. {}\n{}",
                missing.len(),
                missing[0],
                self.describe()
            ));
        }
        let tally = chain.tally();
        let recounted = recount(chain.ballot(), chain.best_chain());
        if tally.lines != recounted {
            return Err(format!(
                "peer {first}: tally {:?} differs from a recount {recounted:?}",
                tally.lines
            ));
        }
        if tally.total() != count.len() as u64 {
            return Err(format!(
                "tally counts {} votes, the chain holds {}",
                tally.total(),
                count.len()
            ));
        }
        for &id in &running[1..] {
            let other = self
                .node(id)
                .and_then(|n| n.chain())
                .ok_or_else(|| format!("peer {id} does not know the election"))?;
            if other.tip_hash() != tip {
                return Err(format!("peer {id} is on another tip\n{}", self.describe()));
            }
            if other.tally() != tally {
                return Err(format!("peer {id}: tally differs from peer {first}'s"));
            }
        }
        Ok(Summary {
            at_ms: self.now(),
            height: chain.height(),
            tip,
            votes: count.len(),
            peers: running.len(),
        })
    }

    /// One line per peer: height, tip, pool, peers known, syncing — for failure messages.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for id in 0..self.n_peers() {
            out.push_str(&self.describe_peer(id));
            out.push('\n');
        }
        out.push_str(&format!(
            "tracker up: {}; acked votes: {}; network: {:?}",
            self.tracker_up(),
            self.acked().len(),
            self.net().stats
        ));
        out
    }

    fn describe_peer(&self, id: PeerId) -> String {
        let Some(node) = self.node(id) else {
            let state = if self.is_gone(id) { "left" } else { "down" };
            return format!("  peer {id:>3} {}: {state}", self.peer_addr(id));
        };
        let (height, tip, pending) = node.chain().map_or((0, String::from("-"), 0), |c| {
            let tip = c.tip_hash().to_hex();
            (c.height(), tip[..12].to_owned(), c.pool().len())
        });
        let missing = node.chain().map_or(self.acked().len(), |c| {
            self.acked()
                .keys()
                .filter(|v| !matches!(c.receipt(v), Receipt::InBlock { .. }))
                .count()
        });
        format!(
            "  peer {id:>3} {}: height {height} tip {tip} pending {pending} acked-missing {missing} peers {} syncing {} invalid-blocks {}",
            self.peer_addr(id),
            node.peers().len(),
            node.syncing(),
            node.stats().invalid_blocks,
        )
    }
}
