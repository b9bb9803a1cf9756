//! The per-nonce loops: one SHA-256 compression per nonce from the job's midstate, judged on
//! the state words, for both hash rules. They mirror the in-process miners line for line, so an
//! external miner hashes as fast as a peer's own threads: `native` is
//! `votechain_chain::miner::Worker::run` (two copies of the final block, the next nonce written
//! into the idle copy before the current one is compressed, a cheap test of the first state
//! word), `comp3010` is the course miner's scan (`votechain_course::miner::CourseSearch`: the
//! counter's decimal digits advanced in place by two in the idle copy, a cheap test of the last
//! word). Neither reads a clock or touches a thread: the caller steers through [`Steer`].

use sha2::digest::generic_array::GenericArray;
use votechain_chain::header::state_meets;
use votechain_chain::miner::CHECK_INTERVAL;
use votechain_course::miner::{
    add_two, state_meets_trailing, write_digits, COUNTER_BASE, COUNTER_DIGITS,
};
use votechain_pool::{Job, JobKind};

/// What a scan asks its caller between two batches of [`CHECK_INTERVAL`] nonces, and tells it
/// about a share.
pub trait Steer {
    /// False once the job is no longer current: the scan stops before its next batch.
    fn keep_going(&self) -> bool;
    /// The share target in zero bits (read once per batch, so a `mining.set_target` takes
    /// effect within a batch).
    fn share_bits(&self) -> u32;
    /// `n` more nonces were tried.
    fn hashed(&self, n: u64);
    /// `nonce` meets `min(share_bits, block_bits)`; `block` when it also meets the block target.
    fn found(&self, nonce: u64, block: bool);
}

/// How a scan ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan {
    /// Every nonce of the range was tried.
    Done,
    /// [`Steer::keep_going`] said stop.
    Stopped,
}

/// Tries the nonces `first..=last` of `job` (full nonces, prefix included, inside the kind's
/// nonce space: the caller's precondition), reporting each share to `steer`.
pub fn scan(job: &Job, first: u64, last: u64, steer: &impl Steer) -> Scan {
    debug_assert!(first <= last && job.nonce_in_range(last));
    match job.kind() {
        JobKind::Native => scan_native(job, first, last, steer),
        JobKind::Comp3010 => scan_course(job, first, last, steer),
    }
}

/// The native loop: 8 bytes big-endian at `nonce_at`, leading zero bits.
fn scan_native(job: &Job, first: u64, last: u64, steer: &impl Steer) -> Scan {
    let midstate = job.midstate();
    let block_bits = job.block_bits();
    // `Job::from_parts` keeps the nonce before byte 56; the `min` lets the compiler see it.
    let at = job.nonce_at().min(56);
    let mut tail = job.tail();
    tail[at..at + 8].copy_from_slice(&first.to_be_bytes());
    // Two copies used alternately by nonce parity; why, see `Worker::run` in the chain crate.
    let mut blocks = [[GenericArray::from(tail)]; 2];
    let mut next = first;
    loop {
        if !steer.keep_going() {
            return Scan::Stopped;
        }
        let bits = steer.share_bits().min(block_bits);
        let first_word_bits = bits.min(32);
        let count = (last - next).min(CHECK_INTERVAL - 1) + 1;
        for i in 0..count {
            // Invariant: blocks[nonce % 2] holds `nonce`.
            let nonce = next + i;
            let ahead = nonce.wrapping_add(1);
            blocks[(ahead & 1) as usize][0][at..at + 8].copy_from_slice(&ahead.to_be_bytes());
            let mut state = midstate;
            sha2::compress256(&mut state, &blocks[(nonce & 1) as usize]);
            if state[0].leading_zeros() >= first_word_bits && state_meets(&state, bits) {
                steer.found(nonce, state_meets(&state, block_bits));
            }
        }
        steer.hashed(count);
        if next + (count - 1) == last {
            return Scan::Done;
        }
        next += count;
    }
}

/// The course loop: the 15 decimal digits of `COUNTER_BASE + nonce` at `nonce_at`, trailing
/// zero bits.
fn scan_course(job: &Job, first: u64, last: u64, steer: &impl Steer) -> Scan {
    let midstate = job.midstate();
    let block_bits = job.block_bits();
    let at = job.nonce_at().min(64 - COUNTER_DIGITS);
    let digits = at..at + COUNTER_DIGITS;
    let mut blocks = [[GenericArray::from(job.tail())]; 2];
    write_digits(
        &mut blocks[(first & 1) as usize][0][digits.clone()],
        COUNTER_BASE + first,
    );
    // The idle copy holds the nonce before `first`; the loop advances it by two.
    write_digits(
        &mut blocks[((first + 1) & 1) as usize][0][digits.clone()],
        COUNTER_BASE + first - 1,
    );
    let mut next = first;
    loop {
        if !steer.keep_going() {
            return Scan::Stopped;
        }
        let bits = steer.share_bits().min(block_bits);
        let last_word_bits = bits.min(32);
        let count = (last - next).min(CHECK_INTERVAL - 1) + 1;
        for i in 0..count {
            let nonce = next + i;
            add_two(&mut blocks[((nonce + 1) & 1) as usize][0][digits.clone()]);
            let mut state = midstate;
            sha2::compress256(&mut state, &blocks[(nonce & 1) as usize]);
            if state[7].trailing_zeros() >= last_word_bits && state_meets_trailing(&state, bits) {
                steer.found(nonce, state_meets_trailing(&state, block_bits));
            }
        }
        steer.hashed(count);
        if next + (count - 1) == last {
            return Scan::Done;
        }
        next += count;
    }
}

#[cfg(test)]
pub(crate) mod tests;
