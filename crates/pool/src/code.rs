//! The JSON-RPC error codes of the mining port: one enum, its numbers on the wire and the
//! sentence sent with each. The numbers follow the Stratum v1 convention (20–25) and add ours.

/// Why the pool refused a request, as sent in `"error": [code, "sentence"]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 20: anything else (malformed line, bad parameters, no free nonce prefix).
    Other,
    /// 21: the job is unknown or was replaced by a clean job.
    StaleJob,
    /// 22: this nonce was already submitted for this job.
    DuplicateShare,
    /// 23: the hash does not meet the session's share target.
    LowDifficulty,
    /// 24: `mining.authorize` has not succeeded on this connection (or the token was wrong).
    Unauthorized,
    /// 25: `mining.subscribe` has not been sent on this connection.
    NotSubscribed,
    /// 26: the nonce does not start with the session's nonce prefix.
    WrongNoncePrefix,
    /// 27: the connection submits faster than its rate limit allows.
    TooManySubmits,
}

impl ErrorCode {
    /// Every code, in numeric order.
    pub const ALL: [ErrorCode; 8] = [
        ErrorCode::Other,
        ErrorCode::StaleJob,
        ErrorCode::DuplicateShare,
        ErrorCode::LowDifficulty,
        ErrorCode::Unauthorized,
        ErrorCode::NotSubscribed,
        ErrorCode::WrongNoncePrefix,
        ErrorCode::TooManySubmits,
    ];

    /// The number on the wire.
    pub fn code(self) -> u32 {
        match self {
            ErrorCode::Other => 20,
            ErrorCode::StaleJob => 21,
            ErrorCode::DuplicateShare => 22,
            ErrorCode::LowDifficulty => 23,
            ErrorCode::Unauthorized => 24,
            ErrorCode::NotSubscribed => 25,
            ErrorCode::WrongNoncePrefix => 26,
            ErrorCode::TooManySubmits => 27,
        }
    }

    /// The code with number `code`, if it is one of ours.
    pub fn from_code(code: u32) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.code() == code)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ErrorCode::Other => "The request could not be served.",
            ErrorCode::StaleJob => "The job is unknown or stale.",
            ErrorCode::DuplicateShare => "This share was already submitted.",
            ErrorCode::LowDifficulty => "The share does not meet the share target.",
            ErrorCode::Unauthorized => "The connection is not authorized.",
            ErrorCode::NotSubscribed => "The connection is not subscribed.",
            ErrorCode::WrongNoncePrefix => "The nonce does not carry the session's prefix.",
            ErrorCode::TooManySubmits => "Too many submits; slow down.",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_distinct_sentences() {
        for (i, c) in ErrorCode::ALL.into_iter().enumerate() {
            assert_eq!(c.code(), 20 + i as u32);
            assert_eq!(ErrorCode::from_code(c.code()), Some(c));
            assert!(c.to_string().ends_with('.'));
        }
        assert_eq!(ErrorCode::from_code(19), None);
        assert_eq!(ErrorCode::from_code(28), None);
    }
}
