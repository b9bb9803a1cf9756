//! Orphans: blocks whose parent is not in the block tree yet. They wait here, indexed by the
//! parent they need, until it arrives; the pool is capped and evicts the oldest orphan first,
//! counting evictions, so a peer cannot fill memory with blocks that never connect.

use crate::block::Block;
use crate::hash::Hash;
use std::collections::{BTreeMap, HashMap};

/// A waiting block and whether its signatures were already verified.
#[derive(Debug, Clone)]
struct Orphan {
    block: Block,
    verified: bool,
    seq: u64,
}

/// Blocks waiting for their parent.
#[derive(Debug, Clone)]
pub(crate) struct Orphans {
    blocks: HashMap<Hash, Orphan>,
    by_parent: HashMap<Hash, Vec<Hash>>,
    /// Arrival order → hash, for evicting the oldest.
    order: BTreeMap<u64, Hash>,
    next: u64,
    capacity: usize,
    evicted: u64,
}

impl Orphans {
    pub(crate) fn new(capacity: usize) -> Orphans {
        Orphans {
            blocks: HashMap::new(),
            by_parent: HashMap::new(),
            order: BTreeMap::new(),
            next: 0,
            capacity: capacity.max(1),
            evicted: 0,
        }
    }

    pub(crate) fn contains(&self, hash: &Hash) -> bool {
        self.blocks.contains_key(hash)
    }

    /// Parks `block`; returns the hash of the oldest orphan evicted to make room, if any.
    pub(crate) fn insert(&mut self, block: Block, verified: bool) -> Option<Hash> {
        let hash = block.hash();
        if self.blocks.contains_key(&hash) {
            return None;
        }
        let mut evicted = None;
        if self.blocks.len() >= self.capacity {
            if let Some((_, oldest)) = self.order.first_key_value() {
                let oldest = *oldest;
                self.remove(&oldest);
                self.evicted += 1;
                evicted = Some(oldest);
            }
        }
        self.by_parent.entry(block.prev()).or_default().push(hash);
        self.order.insert(self.next, hash);
        self.blocks.insert(
            hash,
            Orphan {
                block,
                verified,
                seq: self.next,
            },
        );
        self.next += 1;
        evicted
    }

    fn remove(&mut self, hash: &Hash) -> Option<Orphan> {
        let orphan = self.blocks.remove(hash)?;
        self.order.remove(&orphan.seq);
        let prev = orphan.block.prev();
        if let Some(siblings) = self.by_parent.get_mut(&prev) {
            siblings.retain(|h| h != hash);
            if siblings.is_empty() {
                self.by_parent.remove(&prev);
            }
        }
        Some(orphan)
    }

    /// Removes and returns the orphans whose parent is `parent`, oldest first, each with its
    /// signatures-verified flag.
    pub(crate) fn take_children(&mut self, parent: &Hash) -> Vec<(Block, bool)> {
        let Some(children) = self.by_parent.remove(parent) else {
            return Vec::new();
        };
        children
            .iter()
            .filter_map(|h| self.remove(h))
            .map(|o| (o.block, o.verified))
            .collect()
    }

    /// The block to ask the network for so that `hash` can connect: the parent of the oldest
    /// ancestor of `hash` that is itself waiting here.
    pub(crate) fn missing_ancestor(&self, hash: &Hash) -> Hash {
        let mut at = *hash;
        // Bounded by the pool's size: every step moves to a distinct waiting block, since a hash
        // chain cannot loop.
        for _ in 0..=self.blocks.len() {
            match self.blocks.get(&at) {
                Some(o) => at = o.block.prev(),
                None => break,
            }
        }
        at
    }

    pub(crate) fn len(&self) -> usize {
        self.blocks.len()
    }

    pub(crate) fn evicted(&self) -> u64 {
        self.evicted
    }
}
