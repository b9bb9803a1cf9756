//! The course's limits on a block, and ours where the course sets none. A block outside them is
//! refused by [`CourseBlock::check_format`](crate::block::CourseBlock::check_format) whatever its
//! proof of work.

/// Most messages in one block; a block also needs at least one.
pub const MAX_MESSAGES: usize = 10;
/// Longest message, in characters (Unicode scalar values, as Python's `len()` counts them).
pub const MAX_MESSAGE_CHARS: usize = 20;
/// Longest nonce, in characters: the course wants it "shorter than 40 characters".
pub const MAX_NONCE_CHARS: usize = 39;
/// Longest `minedBy`, in characters. The course sets no limit; ours keeps a block well inside one
/// datagram and a name printable in a log line.
pub const MAX_MINED_BY_CHARS: usize = 256;
/// Difficulty of the course's test and main networks: the hex digest ends with 8 `'0'`s.
pub const DEFAULT_DIFFICULTY: u32 = 8;
/// Highest difficulty that means anything: a digest has 64 hex characters.
pub const MAX_DIFFICULTY: u32 = 64;
