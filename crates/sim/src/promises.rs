//! The promises of the threat model (issue 9, SECURITY.md) as checks on a running simulation,
//! one function each, so an attack scenario states which promise its attack threatens:
//!
//! - [`Sim::tips_equal_within`]: all honest tips equal within `T` after the last fault;
//! - [`Sim::vote_confirmed_within`]: a vote submitted after the attack is confirmed within `T`
//!   on every honest peer;
//! - [`Sim::check_amplification`]: an address receives unasked at most 3 × the bytes forged in
//!   its name plus the protocol's 256-byte floor per forged datagram;
//! - [`Sim::check_acked_kept`]: no acknowledged vote leaves its peer's pool ∪ best chain;
//! - [`Sim::check_no_honest_bans`]: no honest peer bans another honest peer or the tracker;
//! - [`Sim::check_tables_exclude`] and [`Sim::check_one_election`]: a forged tracker datagram
//!   changes no peer table and no election;
//! - [`Sim::check_burst_bounded`]: what one sender sends one address per burst is bounded.
//!
//! Each returns `Err` with a message precise enough to start debugging from.

use crate::sim::{PeerId, Sim};
use std::net::SocketAddr;
use votechain_chain::{Hash, Receipt};

impl Sim {
    /// Runs until every running honest peer has the same tip (checked every 100 ms), at most
    /// `max_ms`; returns how long it took.
    pub fn tips_equal_within(&mut self, max_ms: u64) -> Result<u64, String> {
        let start = self.now();
        loop {
            let tips: Vec<Option<Hash>> = self
                .running()
                .into_iter()
                .map(|id| self.node(id).and_then(|n| n.chain()).map(|c| c.tip_hash()))
                .collect();
            if tips.first().is_some_and(|t| t.is_some()) && tips.iter().all(|t| *t == tips[0]) {
                return Ok(self.now() - start);
            }
            if self.now() >= start + max_ms {
                return Err(format!(
                    "honest tips still differ {max_ms} ms after the last fault (t={} ms):\n{}",
                    self.now(),
                    self.describe()
                ));
            }
            self.run_for(100);
        }
    }

    /// Runs until the vote `id` is in the best chain of every running honest peer, at most
    /// `max_ms`; returns how long it took.
    pub fn vote_confirmed_within(&mut self, id: Hash, max_ms: u64) -> Result<u64, String> {
        let start = self.now();
        loop {
            let missing: Vec<PeerId> = self
                .running()
                .into_iter()
                .filter(|p| {
                    !self
                        .node(*p)
                        .and_then(|n| n.chain())
                        .is_some_and(|c| matches!(c.receipt(&id), Receipt::InBlock { .. }))
                })
                .collect();
            if missing.is_empty() {
                return Ok(self.now() - start);
            }
            if self.now() >= start + max_ms {
                return Err(format!(
                    "vote {id} not confirmed on peers {missing:?} within {max_ms} ms (t={} ms):\n{}",
                    self.now(),
                    self.describe()
                ));
            }
            self.run_for(100);
        }
    }

    /// The anti-amplification promise for the watched address `addr`.
    pub fn check_amplification(&self, addr: SocketAddr) -> Result<String, String> {
        let e = self
            .ledger()
            .exposure(&addr)
            .ok_or_else(|| format!("{addr} is not watched"))?;
        let line = format!(
            "{addr}: {} B unasked ({} B delivered, {} B answers to forgeries, sent {} B itself) for {} B in {} forged datagrams: allowed {} B",
            e.unasked_bytes(),
            e.delivered_bytes,
            e.answer_bytes,
            e.sent_bytes,
            e.forged_bytes,
            e.forged_datagrams,
            e.allowed_bytes()
        );
        if e.unasked_bytes() > e.allowed_bytes() {
            return Err(format!("amplification: {line}"));
        }
        Ok(line)
    }

    /// Every acknowledged vote is still in the pool or the best chain of the peer that
    /// acknowledged it (while that peer runs).
    pub fn check_acked_kept(&self) -> Result<(), String> {
        for (id, peer) in self.ledger().acked() {
            let Some(chain) = self.node(*peer).and_then(|n| n.chain()) else {
                continue;
            };
            let kept =
                chain.pool().contains(id) || matches!(chain.receipt(id), Receipt::InBlock { .. });
            if !kept {
                return Err(format!(
                    "vote {id}, acknowledged by peer {peer}, left its pool and is not in its best chain (t={} ms, pool {} of {})",
                    self.now(),
                    chain.pool().len(),
                    chain.pool().capacity()
                ));
            }
        }
        Ok(())
    }

    /// No honest peer ever banned an honest peer's address or the tracker's.
    pub fn check_no_honest_bans(&self) -> Result<(), String> {
        let honest = |a: &SocketAddr| {
            *a == crate::TRACKER_ADDR || (0..self.n_peers()).any(|i| self.peer_addr(i) == *a)
        };
        let bad: Vec<String> = self
            .ledger()
            .bans()
            .iter()
            .filter(|b| honest(&b.banned))
            .map(|b| {
                format!(
                    "t={} peer {} banned {} ({})",
                    b.at_ms, b.by, b.banned, b.reason
                )
            })
            .collect();
        if bad.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{} bans of honest peers, e.g. {}",
                bad.len(),
                bad[..bad.len().min(4)].join("; ")
            ))
        }
    }

    /// No running honest peer's table holds any of `planted`.
    pub fn check_tables_exclude(&self, planted: &[SocketAddr]) -> Result<(), String> {
        for id in self.running() {
            let Some(node) = self.node(id) else { continue };
            let held: Vec<&SocketAddr> = planted
                .iter()
                .filter(|a| node.peers().get(a).is_some())
                .collect();
            if !held.is_empty() {
                return Err(format!(
                    "peer {id} holds {} planted addresses in its table of {}, e.g. {} (t={} ms)",
                    held.len(),
                    node.peers().len(),
                    held[0],
                    self.now()
                ));
            }
        }
        Ok(())
    }

    /// Every running honest peer that knows an election knows the simulation's.
    pub fn check_one_election(&self) -> Result<(), String> {
        for id in self.running() {
            if let Some(chain) = self.node(id).and_then(|n| n.chain()) {
                if chain.election() != self.election() {
                    return Err(format!(
                        "peer {id} adopted election {} ({:?}), not {}",
                        chain.election(),
                        chain.ballot().title,
                        self.election()
                    ));
                }
            }
        }
        Ok(())
    }

    /// Within one virtual millisecond, no single sender sent the watched address `addr` more than
    /// `max_datagrams` datagrams or `max_bytes` bytes.
    pub fn check_burst_bounded(
        &self,
        addr: SocketAddr,
        max_datagrams: u64,
        max_bytes: u64,
    ) -> Result<String, String> {
        let b = self.ledger().max_burst(&addr);
        let line = format!(
            "largest burst to {addr}: {} datagrams, {} B (bounds {max_datagrams}, {max_bytes} B)",
            b.datagrams, b.bytes
        );
        if b.datagrams > max_datagrams || b.bytes > max_bytes {
            return Err(line);
        }
        Ok(line)
    }
}
