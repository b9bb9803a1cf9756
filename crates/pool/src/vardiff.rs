//! Per-session share targets moved toward a goal rate of accepted shares. A share target is a
//! count of zero bits, so one step doubles or halves the work per share. Every `window_ms` the
//! session's rate over the window is compared with the goal: at more than twice the goal the
//! target rises by `floor(log2(rate / goal))` bits, at less than half it falls by
//! `floor(log2(goal / rate))` bits (all the way when no share came), by at most
//! [`MAX_STEP`] bits at once and always within `[min_bits, max_bits]`. A window that already
//! holds [`EARLY_FACTOR`] times its goal's shares ends early, so a fast miner climbs to its
//! target in seconds rather than a window per step.

/// Largest change of a share target at one retarget, in bits.
pub const MAX_STEP: u32 = 4;

/// A window holding this many times its goal's shares (at least twice, for low goals) ends
/// early.
pub const EARLY_FACTOR: u64 = 4;

/// How share targets are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VardiffConfig {
    /// Share target of a new session, in zero bits.
    pub initial_bits: u32,
    /// Lowest share target.
    pub min_bits: u32,
    /// Highest share target.
    pub max_bits: u32,
    /// Accepted shares per minute the targets aim at (180: three a second).
    pub goal_per_min: u32,
    /// How long a window the rate is measured over, in milliseconds.
    pub window_ms: u64,
}

impl Default for VardiffConfig {
    fn default() -> VardiffConfig {
        VardiffConfig {
            initial_bits: 16,
            min_bits: 1,
            max_bits: 64,
            goal_per_min: 180,
            window_ms: 10_000,
        }
    }
}

/// One session's share target and its measuring window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vardiff {
    /// The current share target.
    bits: u32,
    /// When the current window started.
    window_start_ms: u64,
    /// Accepted shares in the current window.
    shares: u64,
}

impl Vardiff {
    /// A session's vardiff starting at `now_ms`, at the configured initial target.
    pub fn new(config: &VardiffConfig, now_ms: u64) -> Vardiff {
        Vardiff {
            bits: config
                .initial_bits
                .clamp(config.min_bits, config.max_bits.max(config.min_bits)),
            window_start_ms: now_ms,
            shares: 0,
        }
    }

    /// The current share target in zero bits.
    pub fn bits(&self) -> u32 {
        self.bits
    }

    /// Counts an accepted share and retargets if the window is over; the new target when it
    /// changed.
    pub fn on_share(&mut self, config: &VardiffConfig, now_ms: u64) -> Option<u32> {
        self.shares += 1;
        self.retarget(config, now_ms)
    }

    /// Retargets if the window is over, or early once it holds [`EARLY_FACTOR`] times the
    /// shares a whole window should (a fast miner need not wait a window per step); the new
    /// target when it changed.
    pub fn retarget(&mut self, config: &VardiffConfig, now_ms: u64) -> Option<u32> {
        let elapsed = now_ms.saturating_sub(self.window_start_ms);
        let window = config.window_ms.max(1);
        let per_window = u64::from(config.goal_per_min).saturating_mul(window) / 60_000;
        let early = per_window.max(2).saturating_mul(EARLY_FACTOR);
        if elapsed < window && self.shares < early {
            return None;
        }
        let elapsed = elapsed.max(1);
        // Shares per minute scaled by 1024, to keep fractions in integer arithmetic.
        let rate = u128::from(self.shares) * 60_000 * 1024 / u128::from(elapsed);
        let goal = u128::from(config.goal_per_min.max(1)) * 1024;
        let old = self.bits;
        let max = config.max_bits.max(config.min_bits);
        if rate > goal * 2 {
            let step = (rate / goal).max(1).ilog2().min(MAX_STEP);
            self.bits = old.saturating_add(step).clamp(config.min_bits, max);
        } else if rate * 2 < goal {
            // The quotient is at least 2 here, so its log is defined; no share at all is the
            // largest step.
            let step = goal
                .checked_div(rate)
                .map_or(MAX_STEP, |q| q.max(1).ilog2().min(MAX_STEP));
            self.bits = old.saturating_sub(step).clamp(config.min_bits, max);
        }
        self.window_start_ms = now_ms;
        self.shares = 0;
        (self.bits != old).then_some(self.bits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> VardiffConfig {
        VardiffConfig {
            initial_bits: 10,
            min_bits: 6,
            max_bits: 14,
            goal_per_min: 60,
            window_ms: 1_000,
        }
    }

    /// Runs `windows` windows of `shares` evenly spread shares; returns the targets seen.
    fn run(v: &mut Vardiff, start: u64, windows: u64, shares: u64) -> Vec<u32> {
        let c = config();
        let mut seen = Vec::new();
        for w in 0..windows {
            for s in 1..=shares {
                v.on_share(&c, start + w * 1_000 + s * 1_000 / (shares + 1));
            }
            v.retarget(&c, start + (w + 1) * 1_000);
            seen.push(v.bits());
        }
        seen
    }

    #[test]
    fn fast_miners_get_harder_targets_within_bounds() {
        let mut v = Vardiff::new(&config(), 0);
        let seen = run(&mut v, 0, 5, 40);
        // 40/s against a goal of 1/s: up by at most MAX_STEP, then pinned at max_bits.
        assert_eq!(seen[0], 14);
        assert!(seen.iter().all(|&b| b <= 14));
    }

    #[test]
    fn slow_miners_get_easier_targets_within_bounds() {
        let mut v = Vardiff::new(&config(), 0);
        let seen = run(&mut v, 0, 3, 0);
        assert_eq!(seen, vec![6, 6, 6]);
    }

    #[test]
    fn a_miner_at_the_goal_keeps_its_target() {
        let mut v = Vardiff::new(&config(), 0);
        assert_eq!(run(&mut v, 0, 5, 1), vec![10; 5]);
        // A moderately fast miner moves by the rate's log2: 8/s is 3 bits.
        assert_eq!(run(&mut v, 5_000, 1, 8), vec![13]);
    }

    #[test]
    fn a_flood_of_shares_retargets_before_the_window_ends() {
        let c = VardiffConfig {
            window_ms: 10_000,
            ..config()
        };
        let mut v = Vardiff::new(&c, 0);
        // A goal of 1/s holds 10 shares a window: the 40th ends it early, 1 s in.
        let changed: Vec<(u64, u32)> = (1..=40u64)
            .filter_map(|i| v.on_share(&c, i * 25).map(|b| (i, b)))
            .collect();
        assert_eq!(
            changed,
            vec![(40, 14)],
            "40/s against 1/s: up by MAX_STEP at once"
        );
    }

    #[test]
    fn nothing_changes_inside_a_window() {
        let c = config();
        let mut v = Vardiff::new(&c, 100);
        // Up to the early limit (8 shares: four windows' worth of a goal of 1/s, at least 2).
        for t in 0..7 {
            assert_eq!(v.on_share(&c, 100 + t * 100), None);
        }
        assert_eq!(v.retarget(&c, 1_099), None);
        assert_eq!(v.bits(), 10);
        let bad = VardiffConfig {
            initial_bits: 99,
            ..c
        };
        assert_eq!(Vardiff::new(&bad, 0).bits(), 14);
    }
}
