//! Rate-limited log lines for what the network can repeat at will: an attacker who sends the
//! same junk 10,000 times must not write 10,000 lines. Each kind of line is written at most once
//! per interval; the next one written says how many were held back. Pure logic: the caller
//! passes the time.

use std::collections::BTreeMap;

/// At most one line per kind per this many milliseconds.
pub const LOG_INTERVAL_MS: u64 = 5_000;

/// Per kind of line: when it was last written, and how many were held back since.
#[derive(Debug, Default)]
pub struct LogLimiter {
    kinds: BTreeMap<&'static str, (u64, u64)>,
}

impl LogLimiter {
    /// `Some(held_back)` when a line of `kind` may be written at `now_ms` (with the number of
    /// lines of that kind held back since the last one), `None` when it must be held back.
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
        assert_eq!(l.allow("invalid block", 0), Some(0));
        for t in 1..=9_999 {
            assert_eq!(l.allow("invalid block", t % LOG_INTERVAL_MS), None);
        }
        assert_eq!(l.allow("other", 10), Some(0), "kinds are limited apart");
        assert_eq!(l.allow("invalid block", LOG_INTERVAL_MS), Some(9_999));
    }
}
