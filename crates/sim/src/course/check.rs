//! The end-of-run properties of a course simulation: every peer on one tip, every chain valid
//! from its genesis block, every word a miner accepted or mined in that chain exactly once, no
//! word twice, and no node that asked its shell to spin.

use super::{CourseSim, PeerId};
use std::collections::BTreeMap;
use votechain_course::chain::CourseChain;
use votechain_course::Hash;

/// What a converged run looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CourseSummary {
    /// Virtual time of the check.
    pub at_ms: u64,
    /// Peers checked.
    pub peers: usize,
    /// Blocks in the common chain.
    pub blocks: u64,
    /// Its top hash.
    pub tip: Hash,
    /// Words (messages) in the common chain.
    pub words: usize,
    /// Of them, words the run's miners mined or were sent while mining.
    pub tracked_words: usize,
}

impl CourseSim {
    /// True when every peer of `ids` holds a non-empty chain with the same tip.
    pub fn agree(&self, ids: &[PeerId]) -> bool {
        let mut tips = ids
            .iter()
            .map(|id| self.node(*id).chain().tip().map(|t| t.hash));
        let Some(Some(first)) = tips.next() else {
            return false;
        };
        tips.all(|t| t == Some(first))
    }

    /// Runs until every peer of `ids` holds the same tip, at most `max_ms`, checking every
    /// second; returns the virtual time it took, or `None`.
    pub fn converge(&mut self, ids: &[PeerId], max_ms: u64) -> Option<u64> {
        let start = self.now;
        let deadline = start + max_ms;
        loop {
            if self.agree(ids) {
                return Some(self.now - start);
            }
            if self.now >= deadline {
                return None;
            }
            self.run_for(1_000);
        }
    }

    /// Checks the end-of-run properties over peers `ids` (module docs).
    pub fn check(&self, ids: &[PeerId]) -> Result<CourseSummary, String> {
        let difficulty = self.cfg.difficulty;
        for &id in ids {
            let blocks = self.node(id).chain().blocks().to_vec();
            if let Err((prefix, why)) = CourseChain::from_blocks(blocks, difficulty) {
                return Err(format!(
                    "peer {id}'s chain is invalid at height {}: {why}\n{}",
                    prefix.len(),
                    self.describe(ids)
                ));
            }
        }
        if !self.agree(ids) {
            return Err(format!(
                "the peers hold different tips at t={}\n{}",
                self.now,
                self.describe(ids)
            ));
        }
        let first = ids.first().ok_or("no peer to check")?;
        let chain = self.node(*first).chain();
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for block in chain.blocks() {
            for message in &block.messages {
                *counts.entry(message.as_str()).or_default() += 1;
            }
        }
        if let Some((word, n)) = counts.iter().find(|(_, n)| **n > 1) {
            return Err(format!(
                "word {word:?} is in the chain {n} times\n{}",
                self.describe(ids)
            ));
        }
        let tracked: Vec<&String> = self
            .words
            .mined
            .iter()
            .chain(self.words.at_miner.iter())
            .collect();
        let missing: Vec<&String> = tracked
            .iter()
            .copied()
            .filter(|w| !counts.contains_key(w.as_str()))
            .collect();
        if !missing.is_empty() {
            let mined = missing
                .iter()
                .filter(|w| self.words.mined.contains(**w))
                .count();
            return Err(format!(
                "{} tracked words are not in the common chain ({mined} of them were mined \
                 once), e.g. {:?}\n{}",
                missing.len(),
                &missing[..missing.len().min(5)],
                self.describe(ids)
            ));
        }
        if self.stats.busy_wakeups > 0 {
            let who: Vec<String> = (0..self.n_peers())
                .filter_map(|id| match self.busy_wakeups_of(id) {
                    (n, Some(first)) => Some(format!("peer {id} {n} times from t={first}")),
                    _ => None,
                })
                .collect();
            return Err(format!(
                "nodes asked to be woken again at the instant they were woken {} times (a \
                 shell would spin): {}\n{}",
                self.stats.busy_wakeups,
                who.join(", "),
                self.describe(ids)
            ));
        }
        let tip = chain.tip().ok_or("the common chain is empty")?;
        let tracked_words = counts
            .keys()
            .filter(|w| self.words.mined.contains(**w) || self.words.at_miner.contains(**w))
            .count();
        Ok(CourseSummary {
            at_ms: self.now,
            peers: ids.len(),
            blocks: chain.len(),
            tip: tip.hash,
            words: counts.len(),
            tracked_words,
        })
    }

    /// One line per peer of `ids`: chain length, tip, sync progress, words waiting, the last
    /// events; for failure messages.
    pub fn describe(&self, ids: &[PeerId]) -> String {
        let mut out = String::new();
        for &id in ids {
            let node = self.node(id);
            let tip = node
                .chain()
                .tip()
                .map_or_else(|| "-".to_owned(), |t| t.hash.to_hex()[..12].to_owned());
            let last: Vec<String> = self
                .events_of(id)
                .iter()
                .rev()
                .filter(|(_, e)| {
                    !matches!(
                        e,
                        votechain_peer::course::CourseEvent::PeerJoined { .. }
                            | votechain_peer::course::CourseEvent::WordQueued { .. }
                    )
                })
                .take(3)
                .map(|(t, e)| format!("t={t} {e}"))
                .collect();
            out.push_str(&format!(
                "  peer {id} ({}): {} blocks, tip {tip}, syncing {:?}, {} words wait, mining {}, \
                 {} peers; last: {}\n",
                self.peer_addr(id),
                node.chain().len(),
                node.sync_progress(),
                node.words().count(),
                node.mining(),
                node.peers().len(),
                last.join(" / ")
            ));
        }
        out
    }
}
