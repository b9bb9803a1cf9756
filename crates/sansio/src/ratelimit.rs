//! Per-source rate limiting: a token bucket per source address, and a capped table of buckets
//! for sources that are not registered (a registered peer carries its bucket in its own entry,
//! so a flood of spoofed sources can never push a member's bucket out).
//!
//! Buckets count thousandths of a datagram, so refilling is integer arithmetic on the
//! caller's clock: `rate_per_s` datagrams per second is `rate_per_s` thousandths per
//! millisecond.

use std::collections::HashMap;
use std::net::SocketAddr;

/// How fast a bucket refills and how much it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Sustained datagrams per second.
    pub per_s: u32,
    /// Largest burst, in datagrams.
    pub burst: u32,
}

impl Rate {
    fn capacity_milli(self) -> u64 {
        u64::from(self.burst) * 1_000
    }
}

/// One source's token bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    /// Tokens available, in thousandths of a datagram.
    milli: u64,
    /// When `milli` was last brought up to date.
    updated_ms: u64,
}

impl Bucket {
    /// A full bucket at `now_ms`.
    pub fn full(rate: Rate, now_ms: u64) -> Bucket {
        Bucket {
            milli: rate.capacity_milli(),
            updated_ms: now_ms,
        }
    }

    fn refill(&mut self, rate: Rate, now_ms: u64) {
        let elapsed = now_ms.saturating_sub(self.updated_ms);
        let added = elapsed.saturating_mul(u64::from(rate.per_s));
        self.milli = self.milli.saturating_add(added).min(rate.capacity_milli());
        self.updated_ms = self.updated_ms.max(now_ms);
    }

    /// Takes one datagram's token; false when the bucket is empty.
    pub fn take(&mut self, rate: Rate, now_ms: u64) -> bool {
        self.refill(rate, now_ms);
        if self.milli >= 1_000 {
            self.milli -= 1_000;
            true
        } else {
            false
        }
    }

    /// True when the bucket would be full at `now_ms`: it then holds no information and can be
    /// forgotten.
    fn is_full(&self, rate: Rate, now_ms: u64) -> bool {
        let mut b = *self;
        b.refill(rate, now_ms);
        b.milli >= rate.capacity_milli()
    }
}

/// What the limiter says about one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Within the source's rate.
    Allowed,
    /// The source's bucket is empty.
    Limited,
    /// The table is full of sources that sent recently; a new source cannot be tracked.
    TableFull,
}

/// Least time between two sweeps of a full table: a sweep is O(table), so a flood of new
/// sources must not trigger one per datagram.
const SWEEP_EVERY_MS: u64 = 100;

/// Buckets of unregistered sources, at most `cap` of them. The last `reserve` slots are kept
/// for sources the caller vouches for (its tracker, its known peers), so a flood from many
/// strangers that fills the table cannot lock them out.
#[derive(Debug, Clone)]
pub struct SourceLimiter {
    buckets: HashMap<SocketAddr, Bucket>,
    rate: Rate,
    cap: usize,
    reserve: usize,
    last_sweep_ms: Option<u64>,
}

impl SourceLimiter {
    /// An empty table of at most `cap` sources limited to `rate`.
    pub fn new(rate: Rate, cap: usize) -> SourceLimiter {
        SourceLimiter {
            buckets: HashMap::new(),
            rate,
            cap: cap.max(1),
            reserve: 0,
            last_sweep_ms: None,
        }
    }

    /// The same table with its last `reserve` slots kept for vouched-for sources
    /// ([`SourceLimiter::check_vouched`]).
    pub fn with_reserve(mut self, reserve: usize) -> SourceLimiter {
        self.reserve = reserve.min(self.cap - 1);
        self
    }

    /// Charges one datagram from `source` at `now_ms`.
    pub fn check(&mut self, source: SocketAddr, now_ms: u64) -> Verdict {
        self.charge(source, now_ms, self.cap - self.reserve)
    }

    /// [`SourceLimiter::check`] for a source the caller vouches for: it may take a reserved slot.
    pub fn check_vouched(&mut self, source: SocketAddr, now_ms: u64) -> Verdict {
        self.charge(source, now_ms, self.cap)
    }

    fn charge(&mut self, source: SocketAddr, now_ms: u64, cap: usize) -> Verdict {
        if let Some(bucket) = self.buckets.get_mut(&source) {
            return match bucket.take(self.rate, now_ms) {
                true => Verdict::Allowed,
                false => Verdict::Limited,
            };
        }
        if self.buckets.len() >= cap {
            let may_sweep = self
                .last_sweep_ms
                .is_none_or(|t| now_ms >= t + SWEEP_EVERY_MS);
            if may_sweep {
                self.sweep(now_ms);
            }
            if self.buckets.len() >= cap {
                return Verdict::TableFull;
            }
        }
        let mut bucket = Bucket::full(self.rate, now_ms);
        bucket.take(self.rate, now_ms);
        self.buckets.insert(source, bucket);
        Verdict::Allowed
    }

    /// Forgets every source whose bucket has refilled: it has been quiet long enough that
    /// forgetting it changes nothing.
    pub fn sweep(&mut self, now_ms: u64) {
        let rate = self.rate;
        self.buckets.retain(|_, b| !b.is_full(rate, now_ms));
        self.last_sweep_ms = Some(now_ms);
    }

    /// Forgets `source` (it registered and now has a bucket of its own).
    pub fn remove(&mut self, source: &SocketAddr) {
        self.buckets.remove(source);
    }

    /// Number of sources tracked.
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    /// True when no source is tracked.
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: Rate = Rate {
        per_s: 10,
        burst: 3,
    };

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([192, 0, 2, 1], port))
    }

    #[test]
    fn bucket_allows_a_burst_then_the_sustained_rate() {
        let mut b = Bucket::full(RATE, 0);
        assert!((0..3).all(|_| b.take(RATE, 0)));
        assert!(!b.take(RATE, 0), "burst exhausted");
        assert!(!b.take(RATE, 99), "0.99 of a token after 99 ms at 10/s");
        assert!(b.take(RATE, 100));
        assert!(
            (0..3).all(|_| b.take(RATE, 10_000)),
            "refill stops at the burst"
        );
        assert!(!b.take(RATE, 10_000));
    }

    #[test]
    fn table_is_capped_and_sweeps_quiet_sources() {
        let mut t = SourceLimiter::new(RATE, 2);
        assert_eq!(t.check(addr(1), 0), Verdict::Allowed);
        assert_eq!(t.check(addr(2), 0), Verdict::Allowed);
        assert_eq!(t.check(addr(3), 0), Verdict::TableFull);
        assert_eq!(t.len(), 2);
        // 50 ms later nothing has refilled and the sweep is rate-limited anyway.
        assert_eq!(t.check(addr(3), 50), Verdict::TableFull);
        // By 200 ms both buckets are full again: a sweep frees them.
        assert_eq!(t.check(addr(3), 200), Verdict::Allowed);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn a_flooding_source_is_limited_alone() {
        let mut t = SourceLimiter::new(RATE, 16);
        let allowed = (0..100)
            .filter(|_| t.check(addr(1), 0) == Verdict::Allowed)
            .count();
        assert_eq!(allowed, 3);
        assert_eq!(t.check(addr(2), 0), Verdict::Allowed);
    }

    #[test]
    fn reserved_slots_go_to_vouched_sources_only() {
        let rate = Rate { per_s: 1, burst: 1 };
        let mut t = SourceLimiter::new(rate, 3).with_reserve(1);
        assert_eq!(t.check(addr(1), 0), Verdict::Allowed);
        assert_eq!(t.check(addr(2), 0), Verdict::Allowed);
        assert_eq!(
            t.check(addr(3), 0),
            Verdict::TableFull,
            "strangers stop short"
        );
        assert_eq!(t.check_vouched(addr(4), 0), Verdict::Allowed);
        assert_eq!(
            t.check_vouched(addr(4), 0),
            Verdict::Limited,
            "and are still limited"
        );
    }
}
