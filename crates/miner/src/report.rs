//! What the miner tells people: share counts, hash rates in H/s to GH/s, the periodic report
//! line and the final line. The shapes are fixed (the benchmark parses the final line):
//!
//! - `hash rate 12.34 MH/s over the last 10 s on 4 threads; shares: 12 accepted, 1 stale, 0 rejected`
//! - `stopped after 123456789 hashes in 12.3 s (10.03 MH/s); shares: 12 accepted, 1 stale, 0 rejected`

use std::fmt;
use std::time::Duration;

/// Shares counted by the pool's answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shares {
    /// Accepted.
    pub accepted: u64,
    /// Refused as stale (code 21): their job had been replaced when they arrived.
    pub stale: u64,
    /// Refused for any other reason.
    pub rejected: u64,
}

impl fmt::Display for Shares {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "shares: {} accepted, {} stale, {} rejected",
            self.accepted, self.stale, self.rejected
        )
    }
}

/// What a run did; its `Display` is the final line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Nonces tried.
    pub hashes: u64,
    /// From the start of the run to its end.
    pub elapsed: Duration,
    /// The pool's answers to the shares sent.
    pub shares: Shares,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "stopped after {} hashes in {:.1} s ({}); {}",
            self.hashes,
            self.elapsed.as_secs_f64(),
            Rate::of(self.hashes, self.elapsed),
            self.shares
        )
    }
}

/// A hash rate, shown with two decimals in the largest unit of H/s, kH/s, MH/s and GH/s that
/// keeps it at least 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate(pub f64);

impl Rate {
    /// `hashes` over `elapsed` (0 over no time).
    pub fn of(hashes: u64, elapsed: Duration) -> Rate {
        let secs = elapsed.as_secs_f64();
        Rate(if secs > 0.0 {
            hashes as f64 / secs
        } else {
            0.0
        })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (value, unit) = match self.0 {
            r if r >= 1e9 => (r / 1e9, "GH/s"),
            r if r >= 1e6 => (r / 1e6, "MH/s"),
            r if r >= 1e3 => (r / 1e3, "kH/s"),
            r => (r, "H/s"),
        };
        write!(f, "{value:.2} {unit}")
    }
}

/// The periodic line: the rate over the last `period`.
pub fn report_line(rate: Rate, period: Duration, threads: usize, shares: Shares) -> String {
    let plural = if threads == 1 { "" } else { "s" };
    format!(
        "hash rate {rate} over the last {} on {threads} thread{plural}; {shares}",
        Seconds(period)
    )
}

/// A duration as whole seconds when it is one (`10 s`), else with one decimal (`2.5 s`).
struct Seconds(Duration);

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.subsec_nanos() == 0 {
            write!(f, "{} s", self.0.as_secs())
        } else {
            write!(f, "{:.1} s", self.0.as_secs_f64())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_pick_their_unit() {
        let cases = [
            (0.0, "0.00 H/s"),
            (999.0, "999.00 H/s"),
            (1_000.0, "1.00 kH/s"),
            (12_345_678.0, "12.35 MH/s"),
            (2.5e9, "2.50 GH/s"),
            (4.2e12, "4200.00 GH/s"),
        ];
        for (rate, text) in cases {
            assert_eq!(Rate(rate).to_string(), text);
        }
        assert_eq!(Rate::of(100, Duration::ZERO), Rate(0.0));
    }

    #[test]
    fn the_lines_keep_their_shape() {
        let shares = Shares {
            accepted: 12,
            stale: 1,
            rejected: 0,
        };
        assert_eq!(
            report_line(Rate(12.34e6), Duration::from_secs(10), 4, shares),
            "hash rate 12.34 MH/s over the last 10 s on 4 threads; shares: 12 accepted, 1 stale, 0 rejected"
        );
        assert_eq!(
            report_line(Rate(5.0), Duration::from_millis(2_500), 1, shares),
            "hash rate 5.00 H/s over the last 2.5 s on 1 thread; shares: 12 accepted, 1 stale, 0 rejected"
        );
        let summary = Summary {
            hashes: 123_456_789,
            elapsed: Duration::from_millis(12_300),
            shares,
        };
        assert_eq!(
            summary.to_string(),
            "stopped after 123456789 hashes in 12.3 s (10.04 MH/s); shares: 12 accepted, 1 stale, 0 rejected"
        );
    }
}
