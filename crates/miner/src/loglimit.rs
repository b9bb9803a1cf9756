//! Rate-limited log lines for what a pool can repeat at will (malformed lines, rejected shares):
//! each kind is written at most once per [`LOG_INTERVAL_MS`], and the next one written says how
//! many were held back. Pure: the caller passes the time.

use std::collections::BTreeMap;

/// At most one line per kind per this many milliseconds.
pub const LOG_INTERVAL_MS: u64 = 5_000;

/// Per kind of line: when it was last written, and how many were held back since.
#[derive(Debug, Default)]
pub struct LogLimiter {
    kinds: BTreeMap<&'static str, (u64, u64)>,
}

impl LogLimiter {
    /// `Some(held_back)` when a line of `kind` may be written at `now_ms`, `None` when it must
    /// be held back.
    pub fn allow(&mut self, kind: &'static str, now_ms: u64) -> Option<u64> {
        match self.kinds.get_mut(kind) {
            Some((last, held)) if now_ms.saturating_sub(*last) < LOG_INTERVAL_MS => {
                *held += 1;
                None
            }
            Some((last, held)) => {
                *last = now_ms;
                Some(std::mem::take(held))
            }
            None => {
                self.kinds.insert(kind, (now_ms, 0));
                Some(0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_then_the_count_held_back() {
        let mut l = LogLimiter::default();
        assert_eq!(l.allow("rejected", 0), Some(0));
        for t in 1..LOG_INTERVAL_MS {
            assert_eq!(l.allow("rejected", t), None);
        }
        assert_eq!(l.allow("malformed", 10), Some(0), "kinds are limited apart");
        assert_eq!(
            l.allow("rejected", LOG_INTERVAL_MS),
            Some(LOG_INTERVAL_MS - 1)
        );
    }
}
