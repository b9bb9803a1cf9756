//! What the pool counts: shares by result, blocks found, and per-miner accepted shares and
//! hash rate, for `stats`, the web page and `/metrics` to show.

use crate::code::ErrorCode;

/// Submits counted by result.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShareCounts {
    /// Shares that met the share target.
    pub accepted: u64,
    /// Shares for an unknown or stale job.
    pub stale: u64,
    /// Shares submitted twice.
    pub duplicate: u64,
    /// Shares below the share target.
    pub low: u64,
    /// Shares whose nonce lacked the session's prefix.
    pub bad_prefix: u64,
    /// Submits before a successful authorize.
    pub unauthorized: u64,
    /// Submits before subscribe.
    pub not_subscribed: u64,
    /// Submits over the rate limit.
    pub rate_limited: u64,
}

impl ShareCounts {
    /// Counts a rejected share under its error code (codes that are not about shares are not
    /// counted here).
    pub(crate) fn reject(&mut self, code: ErrorCode) {
        let counter = match code {
            ErrorCode::StaleJob => &mut self.stale,
            ErrorCode::DuplicateShare => &mut self.duplicate,
            ErrorCode::LowDifficulty => &mut self.low,
            ErrorCode::WrongNoncePrefix => &mut self.bad_prefix,
            ErrorCode::Unauthorized => &mut self.unauthorized,
            ErrorCode::NotSubscribed => &mut self.not_subscribed,
            ErrorCode::TooManySubmits => &mut self.rate_limited,
            ErrorCode::Other => return,
        };
        *counter += 1;
    }

    /// `(label, count)` pairs, the `result` label of `votechain_pool_shares_total`.
    pub fn by_result(&self) -> [(&'static str, u64); 8] {
        [
            ("accepted", self.accepted),
            ("stale", self.stale),
            ("duplicate", self.duplicate),
            ("low", self.low),
            ("bad_prefix", self.bad_prefix),
            ("unauthorized", self.unauthorized),
            ("not_subscribed", self.not_subscribed),
            ("rate_limited", self.rate_limited),
        ]
    }
}

/// The pool's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections that are authorized now.
    pub miners: usize,
    /// Submits by result, since the pool started.
    pub shares: ShareCounts,
    /// Malformed lines answered with an error.
    pub malformed_lines: u64,
    /// Shares that met their job's block target.
    pub blocks_found: u64,
}

/// One authorized miner's numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct MinerStats {
    /// The connection.
    pub conn: u64,
    /// The name it authorized with.
    pub name: String,
    /// Its accepted shares.
    pub accepted: u64,
    /// Its share target now, in zero bits.
    pub share_bits: u32,
    /// Hashes per second estimated from accepted shares: the sum of `2^share_bits` over its
    /// accepted shares of the last 20 to 40 s, divided by that time.
    pub hashrate: f64,
}
