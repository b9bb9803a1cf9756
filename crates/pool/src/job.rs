//! A mining job independent of the chain type: the SHA-256 state after every nonce-independent
//! 64-byte block (the midstate), the final 64-byte block with its padding and a placeholder
//! nonce (the tail), where the nonce goes in the tail, and the hash rule. One attempt is one
//! SHA-256 compression of the tail, with the nonce written in, from the midstate.
//!
//! Two hash rules ([`JobKind`]):
//!
//! - **`native`**: votechain's header (`votechain_chain::header`). The nonce is 8 bytes
//!   big-endian at `nonce_at` (always 0) of the tail; a hash is judged by its **leading** zero
//!   bits. Every 64-bit nonce is valid.
//! - **`comp3010`**: the COMP 3010 course rule (`votechain_course::miner`). The nonce `n` is
//!   written at `nonce_at` as the 15 ASCII decimal digits of `100000000000000 + n`; a hash is
//!   judged by its **trailing** zero bits (the course's trailing zero hex digits × 4). Valid
//!   nonces are `0..2^49` (below the course's counter space).
//!
//! Targets are counts of zero bits, never 256-bit numbers: a target of `b` bits means a hash
//! with at least `b` zero bits at the rule's end, and a share at target `b` is worth `2^b`
//! expected hashes. The native chain's difficulty is already leading zero bits; a course
//! difficulty of `d` hex digits is `4 × d` bits.

use votechain_chain::header::{state_meets, state_to_hash, BlockHeader};
use votechain_chain::Hash;
use votechain_course::miner::{
    state_meets_trailing, write_digits, CourseSearch, COUNTER_BASE, COUNTER_DIGITS,
};
use votechain_course::CourseJob;

/// Which hash rule a job follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobKind {
    /// votechain's binary header: 8-byte big-endian nonce, leading zero bits.
    Native,
    /// The COMP 3010 course rule: 15 decimal digits, trailing zero bits.
    Comp3010,
}

impl JobKind {
    /// The name on the wire: `"native"` or `"comp3010"`.
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Native => "native",
            JobKind::Comp3010 => "comp3010",
        }
    }

    /// The kind named `name` on the wire.
    pub fn parse(name: &str) -> Option<JobKind> {
        match name {
            "native" => Some(JobKind::Native),
            "comp3010" => Some(JobKind::Comp3010),
            _ => None,
        }
    }

    /// How many low bits of a `u64` a nonce of this kind may use: 64, or 49 for the course.
    pub fn nonce_bits(self) -> u32 {
        match self {
            JobKind::Native => 64,
            JobKind::Comp3010 => 49,
        }
    }

    /// Bytes the nonce takes in the tail.
    fn nonce_len(self) -> usize {
        match self {
            JobKind::Native => 8,
            JobKind::Comp3010 => COUNTER_DIGITS,
        }
    }
}

/// Why a job's parts do not make a job.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// The nonce would overlap the padding's length field or run past the tail.
    #[error("The nonce position {0} does not fit in the final block.")]
    NonceOutOfTail(usize),
    /// A target beyond 256 bits can never be met.
    #[error("The target of {0} zero bits is above 256.")]
    TargetTooHigh(u32),
}

/// What a miner needs to try a nonce with one compression. Built from a native header
/// ([`Job::native`]), a course job ([`Job::comp3010`]) or a notify's parts ([`Job::from_parts`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// The hash rule.
    kind: JobKind,
    /// SHA-256 state after every block before the tail.
    midstate: [u32; 8],
    /// The final block, padding included; the nonce bytes are overwritten per attempt.
    tail: [u8; 64],
    /// Where the nonce starts in `tail`; the nonce fits before byte 56 (the bit length).
    nonce_at: usize,
    /// Zero bits a block needs.
    block_bits: u32,
    /// Height of the block being mined, for the miner's display.
    height: u64,
}

impl Job {
    /// The job of a native header (its own nonce is ignored); the block target is its difficulty.
    pub fn native(header: &BlockHeader) -> Job {
        Job {
            kind: JobKind::Native,
            midstate: header.midstate().0,
            tail: votechain_chain::header::Midstate::final_block(0),
            nonce_at: 0,
            block_bits: header.difficulty,
            height: header.height,
        }
    }

    /// The job of a course block, laid out exactly as `CourseSearch` lays it out, so that nonce
    /// `n` here hashes as `CourseSearch::hash_for(n)` and `CourseSearch::nonce_for(n)` is the
    /// block's nonce string. The block target is the difficulty × 4 trailing bits.
    pub fn comp3010(job: &CourseJob) -> Job {
        let search = CourseSearch::new(job);
        Job {
            kind: JobKind::Comp3010,
            midstate: search.midstate(),
            tail: search.template(),
            nonce_at: search.digits_at(),
            block_bits: job.difficulty.saturating_mul(4),
            height: job.height,
        }
    }

    /// A job from the fields of a `mining.notify`, checked so that hashing cannot go out of
    /// bounds.
    pub fn from_parts(
        kind: JobKind,
        midstate: [u32; 8],
        tail: [u8; 64],
        nonce_at: usize,
        block_bits: u32,
        height: u64,
    ) -> Result<Job, JobError> {
        if nonce_at
            .checked_add(kind.nonce_len())
            .is_none_or(|end| end > 56)
        {
            return Err(JobError::NonceOutOfTail(nonce_at));
        }
        if block_bits > 256 {
            return Err(JobError::TargetTooHigh(block_bits));
        }
        Ok(Job {
            kind,
            midstate,
            tail,
            nonce_at,
            block_bits,
            height,
        })
    }

    /// The hash rule.
    pub fn kind(&self) -> JobKind {
        self.kind
    }

    /// The midstate words.
    pub fn midstate(&self) -> [u32; 8] {
        self.midstate
    }

    /// The final block template.
    pub fn tail(&self) -> [u8; 64] {
        self.tail
    }

    /// Where the nonce starts in the tail.
    pub fn nonce_at(&self) -> usize {
        self.nonce_at
    }

    /// Zero bits a block needs.
    pub fn block_bits(&self) -> u32 {
        self.block_bits
    }

    /// Height of the block being mined.
    pub fn height(&self) -> u64 {
        self.height
    }

    /// True when `nonce` is in this kind's nonce space.
    pub fn nonce_in_range(&self, nonce: u64) -> bool {
        let bits = self.kind.nonce_bits();
        bits >= 64 || nonce >> bits == 0
    }

    /// The final SHA-256 state for `nonce`: one compression from the midstate.
    pub fn state_for(&self, nonce: u64) -> [u32; 8] {
        let mut block = self.tail;
        let at = self.nonce_at;
        match self.kind {
            JobKind::Native => block[at..at + 8].copy_from_slice(&nonce.to_be_bytes()),
            JobKind::Comp3010 => write_digits(
                &mut block[at..at + COUNTER_DIGITS],
                COUNTER_BASE.wrapping_add(nonce),
            ),
        }
        let mut state = self.midstate;
        sha2::compress256(&mut state, &[block.into()]);
        state
    }

    /// The hash for `nonce`, as the chain of this kind computes it.
    pub fn hash(&self, nonce: u64) -> Hash {
        state_to_hash(&self.state_for(nonce))
    }

    /// True when the final `state` has at least `bits` zero bits at this rule's end.
    pub fn meets(&self, state: &[u32; 8], bits: u32) -> bool {
        match self.kind {
            JobKind::Native => state_meets(state, bits),
            JobKind::Comp3010 => state_meets_trailing(state, bits),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
