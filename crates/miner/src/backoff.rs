//! The reconnect delay: 0.5 s doubling to 30 s, each delay scaled by a random factor between
//! 0.75 and 1.25 (so miners that lost the same peer do not all come back at the same instant),
//! and back to 0.5 s once a connection is authorized. Pure: the caller passes the randomness.

use std::time::Duration;

/// The first delay.
pub const FIRST: Duration = Duration::from_millis(500);
/// The longest delay, jitter included.
pub const MAX: Duration = Duration::from_secs(30);

/// The delays of consecutive failed attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    /// The next delay before jitter.
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff { next: FIRST }
    }
}

impl Backoff {
    /// The delay before the next attempt; `unit` is a random number in `[0, 1)` (clamped).
    pub fn next_delay(&mut self, unit: f64) -> Duration {
        let base = self.next;
        self.next = (base * 2).min(MAX);
        base.mul_f64(0.75 + 0.5 * unit.clamp(0.0, 1.0)).min(MAX)
    }

    /// A connection was authorized: the next failure waits [`FIRST`] again.
    pub fn reset(&mut self) {
        self.next = FIRST;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_to_the_cap_with_jitter_and_reset() {
        let mut b = Backoff::default();
        let middle: Vec<u64> = (0..9)
            .map(|_| b.next_delay(0.5).as_millis() as u64)
            .collect();
        assert_eq!(
            middle,
            [500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]
        );
        b.reset();
        assert_eq!(b.next_delay(0.0), Duration::from_millis(375));
        assert_eq!(b.next_delay(1.0), Duration::from_millis(1_250));
        for _ in 0..10 {
            assert!(b.next_delay(1.0) <= MAX);
        }
    }
}
