//! Nonce prefixes: each subscribed session holds a distinct 16-bit prefix, the top bits of
//! every nonce it may submit, so no two miners search the same nonces. Prefixes are handed out
//! round-robin, so a prefix freed by a closed connection is the last to be reused.

use std::collections::HashSet;

/// Bits of every nonce's top that carry the session's prefix.
pub const PREFIX_BITS: u32 = 16;

/// The prefixes in use.
#[derive(Debug, Clone, Default)]
pub struct PrefixTable {
    /// Prefixes held by live sessions.
    in_use: HashSet<u16>,
    /// Where the search for a free prefix starts.
    next: u16,
}

impl PrefixTable {
    /// Takes a prefix no session holds; `None` when all 65,536 are taken.
    pub fn take(&mut self) -> Option<u16> {
        if self.in_use.len() > usize::from(u16::MAX) {
            return None;
        }
        // A free prefix exists, so this loop ends within 65,536 steps.
        loop {
            let candidate = self.next;
            self.next = self.next.wrapping_add(1);
            if self.in_use.insert(candidate) {
                return Some(candidate);
            }
        }
    }

    /// Gives `prefix` back.
    pub fn release(&mut self, prefix: u16) {
        self.in_use.remove(&prefix);
    }

    /// True when a nonce of a space of `nonce_bits` bits carries `prefix` in its top
    /// [`PREFIX_BITS`] bits and nothing above the space.
    pub fn carries(nonce: u64, nonce_bits: u32, prefix: u16) -> bool {
        let shift = nonce_bits.clamp(PREFIX_BITS, 64) - PREFIX_BITS;
        nonce.checked_shr(shift).unwrap_or(0) == u64::from(prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_distinct_until_released() {
        let mut table = PrefixTable::default();
        let taken: HashSet<u16> = (0..65_536).filter_map(|_| table.take()).collect();
        assert_eq!(taken.len(), 65_536);
        assert_eq!(table.take(), None);
        table.release(77);
        assert_eq!(table.take(), Some(77));
        assert_eq!(table.take(), None);
    }

    #[test]
    fn carries_checks_the_top_bits_of_the_space() {
        assert!(PrefixTable::carries(0xabcd << 48 | 5, 64, 0xabcd));
        assert!(!PrefixTable::carries(0xabce << 48, 64, 0xabcd));
        assert!(PrefixTable::carries(3 << 33 | 9, 49, 3));
        // A bit above the 49-bit space makes the top bits differ.
        assert!(!PrefixTable::carries(1 << 50 | 3 << 33, 49, 3));
    }
}
