//! A capped "seen it already" set, so each block, vote and gossip id is relayed once and floods
//! die out. When full, the oldest entry is forgotten: at worst an old item is relayed once more,
//! which the next hop's own cache stops.

use std::collections::{HashSet, VecDeque};
use std::hash::Hash;

/// Remembers up to `cap` keys in insertion order.
#[derive(Debug, Clone)]
pub struct DedupCache<K> {
    set: HashSet<K>,
    order: VecDeque<K>,
    cap: usize,
}

impl<K: Hash + Eq + Clone> DedupCache<K> {
    /// An empty cache of at most `cap` keys.
    pub fn new(cap: usize) -> DedupCache<K> {
        DedupCache {
            set: HashSet::new(),
            order: VecDeque::new(),
            cap: cap.max(1),
        }
    }

    /// Records `key`; true when it was not seen before (so the caller should act on it).
    pub fn insert(&mut self, key: K) -> bool {
        if self.set.contains(&key) {
            return false;
        }
        if self.order.len() >= self.cap {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        self.set.insert(key.clone());
        self.order.push_back(key);
        true
    }

    /// True when `key` was seen and not yet forgotten.
    pub fn contains(&self, key: &K) -> bool {
        self.set.contains(key)
    }

    /// Number of keys remembered.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// True when nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserts_once_and_forgets_oldest_when_full() {
        let mut c = DedupCache::new(2);
        assert!(c.insert(1));
        assert!(!c.insert(1));
        assert!(c.insert(2));
        assert!(c.insert(3));
        assert_eq!(c.len(), 2);
        assert!(!c.contains(&1) && c.contains(&2) && c.contains(&3));
    }
}
