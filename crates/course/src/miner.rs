//! The course miner: one SHA-256 compression per attempt after a precomputed midstate, with no
//! allocation and no string built until an attempt wins.
//!
//! Everything the course hashes before the nonce (the parent's hex hash, `minedBy`, the messages,
//! the timestamp) is fixed for a job, so its SHA-256 state after its whole 64-byte blocks is
//! computed once. Only the nonce varies, and its layout is chosen so that the rest of the message
//! and SHA-256's padding fit exactly one final block. Let `r` be the prefix's length modulo 64:
//!
//! - if `r + COUNTER_DIGITS + 9 <= 64` (`r <= 40`), the final block holds the prefix's last `r`
//!   bytes, the counter's digits, the `0x80` terminator and the 8-byte bit length;
//! - otherwise the nonce starts with `64 - r` filler characters (`'1'`), which complete the
//!   prefix's last block so that it goes into the midstate too, and the final block holds the
//!   counter's digits and the padding.
//!
//! The counter is written as [`COUNTER_DIGITS`] decimal digits of `COUNTER_BASE + counter`, so a
//! nonce never starts with `'0'` and is the decimal form of an integer (a peer that turns nonces
//! into numbers and back gets the same string). A nonce is at most 23 + 15 = 38 characters, under
//! the course's 40. Per attempt the digits are advanced in place like an odometer, and the result
//! is judged on the last state words (trailing zero nibbles) before any hash is serialised.
//!
//! Workers share a [`MinerControl`] with the native miner: its generation stops a job, its hash
//! counter gives the rate. [`CourseMiningJob`] mirrors the native `MiningJob`, and
//! [`run_worker`] is the same loop as a free function.

use crate::block::CourseBlock;
use sha2::digest::generic_array::GenericArray;
use std::sync::Arc;
use votechain_chain::header::{state_to_hash, SHA256_IV};
use votechain_chain::miner::{MinerControl, CHECK_INTERVAL};
use votechain_chain::Hash;

/// Decimal digits of the counter in every nonce.
pub const COUNTER_DIGITS: usize = 15;
/// Added to the counter before it is written, so its first digit is never `'0'`.
pub const COUNTER_BASE: u64 = 100_000_000_000_000;
/// Counters a job can try: `0..COUNTER_SPACE`, the 15-digit numbers from [`COUNTER_BASE`].
pub const COUNTER_SPACE: u64 = 1_000_000_000_000_000 - COUNTER_BASE;
/// The character that pads the prefix to a block boundary when the counter would not fit.
const FILLER: u8 = b'1';

/// What to mine: a block's contents apart from its nonce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CourseJob {
    /// The parent's hash; `None` mines a genesis block.
    pub prev: Option<Hash>,
    /// The new block's height (the parent's + 1, or 0).
    pub height: u64,
    /// The miner's name.
    pub mined_by: String,
    /// The block's messages; the caller keeps them within the limits.
    pub messages: Vec<String>,
    /// Unix seconds.
    pub timestamp: u64,
    /// Trailing `'0'` hex characters required.
    pub difficulty: u32,
}

/// A job prepared for searching: the midstate and the final block's template.
#[derive(Debug, Clone)]
pub struct CourseSearch {
    /// The job, to build the winning block.
    job: CourseJob,
    /// SHA-256 state after every whole 64-byte block of the prefix (and filler).
    midstate: [u32; 8],
    /// The final block: the prefix's tail, placeholder digits, the padding and the bit length.
    template: [u8; 64],
    /// Where the counter's digits start in the final block.
    digits_at: usize,
    /// Filler characters at the start of every nonce (0 when the counter fits after the tail).
    filler: usize,
}

impl CourseSearch {
    /// Prepares `job`: hashes the constant prefix once and lays out the final block.
    pub fn new(job: &CourseJob) -> CourseSearch {
        let mut prefix = Vec::with_capacity(128);
        if let Some(prev) = &job.prev {
            prefix.extend_from_slice(prev.to_hex().as_bytes());
        }
        prefix.extend_from_slice(job.mined_by.as_bytes());
        for message in &job.messages {
            prefix.extend_from_slice(message.as_bytes());
        }
        prefix.extend_from_slice(&job.timestamp.to_be_bytes());
        let r = prefix.len() % 64;
        let filler = if r + COUNTER_DIGITS + 9 <= 64 {
            0
        } else {
            64 - r
        };
        prefix.resize(prefix.len() + filler, FILLER);
        let whole = prefix.len() / 64 * 64;
        let mut midstate = SHA256_IV;
        for block in prefix[..whole].chunks_exact(64) {
            sha2::compress256(&mut midstate, &[*GenericArray::from_slice(block)]);
        }
        let tail = &prefix[whole..];
        let mut template = [0u8; 64];
        template[..tail.len()].copy_from_slice(tail);
        let digits_at = tail.len();
        write_digits(
            &mut template[digits_at..digits_at + COUNTER_DIGITS],
            COUNTER_BASE,
        );
        template[digits_at + COUNTER_DIGITS] = 0x80;
        let bits = ((prefix.len() + COUNTER_DIGITS) as u64) * 8;
        template[56..].copy_from_slice(&bits.to_be_bytes());
        CourseSearch {
            job: job.clone(),
            midstate,
            template,
            digits_at,
            filler,
        }
    }

    /// The job being searched.
    pub fn job(&self) -> &CourseJob {
        &self.job
    }

    /// The SHA-256 state after every whole block before the final one, which an external miner
    /// starts each attempt from (the mining port's job, `votechain-pool`).
    pub fn midstate(&self) -> [u32; 8] {
        self.midstate
    }

    /// The final 64-byte block with the counter's digits at [`CourseSearch::digits_at`] (set to
    /// counter 0), the padding and the bit length.
    pub fn template(&self) -> [u8; 64] {
        self.template
    }

    /// Where the counter's [`COUNTER_DIGITS`] digits start in [`CourseSearch::template`].
    pub fn digits_at(&self) -> usize {
        self.digits_at
    }

    /// The nonce string of `counter`: the filler, then the counter's digits.
    pub fn nonce_for(&self, counter: u64) -> String {
        let mut digits = [0u8; COUNTER_DIGITS];
        write_digits(&mut digits, COUNTER_BASE.wrapping_add(counter));
        let mut nonce = String::with_capacity(self.filler + COUNTER_DIGITS);
        nonce.extend(std::iter::repeat_n(FILLER as char, self.filler));
        nonce.extend(digits.iter().map(|&d| d as char));
        nonce
    }

    /// The course hash of the block with `counter`'s nonce, by one compression from the
    /// midstate (what [`CourseSearch::search`] computes per attempt).
    pub fn hash_for(&self, counter: u64) -> Hash {
        let mut block = self.template;
        write_digits(
            &mut block[self.digits_at..self.digits_at + COUNTER_DIGITS],
            COUNTER_BASE.wrapping_add(counter),
        );
        let mut state = self.midstate;
        sha2::compress256(&mut state, &[block.into()]);
        state_to_hash(&state)
    }

    /// Tries counters `start..start + count` (clipped to [`COUNTER_SPACE`]); returns the first
    /// block whose hash meets the job's difficulty.
    pub fn search(&self, start: u64, count: u64) -> Option<CourseBlock> {
        let bits = self.job.difficulty.saturating_mul(4);
        let last_word_bits = bits.min(32);
        let end = start.saturating_add(count).min(COUNTER_SPACE);
        let mut won = None;
        self.scan(start, end, |counter, state| {
            if state[7].trailing_zeros() >= last_word_bits && state_meets_trailing(state, bits) {
                won = Some(counter);
                true
            } else {
                false
            }
        });
        won.map(|counter| self.block_for(counter))
    }

    /// Runs the per-attempt loop over counters `start..end`, handing each counter and its final
    /// state to `judge` until it returns true. Two copies of the final block are used in turn and
    /// the next counter is written into the idle copy before the current one is compressed, as
    /// the native miner does (`votechain_chain::miner`): a store right before the compression's
    /// wide loads of the same block would stall them.
    fn scan(&self, start: u64, end: u64, mut judge: impl FnMut(u64, &[u32; 8]) -> bool) {
        if start >= end {
            return;
        }
        let digits = self.digits_at..self.digits_at + COUNTER_DIGITS;
        let mut blocks = [[GenericArray::from(self.template)]; 2];
        write_digits(
            &mut blocks[(start & 1) as usize][0][digits.clone()],
            COUNTER_BASE + start,
        );
        // The idle copy holds the counter before `start`; the loop advances it by two.
        write_digits(
            &mut blocks[((start + 1) & 1) as usize][0][digits.clone()],
            COUNTER_BASE + start - 1,
        );
        for counter in start..end {
            add_two(&mut blocks[((counter + 1) & 1) as usize][0][digits.clone()]);
            let mut state = self.midstate;
            sha2::compress256(&mut state, &blocks[(counter & 1) as usize]);
            if judge(counter, &state) {
                return;
            }
        }
    }

    /// The block mined with `counter` (the mining port builds an external miner's block with
    /// it).
    pub fn block_for(&self, counter: u64) -> CourseBlock {
        CourseBlock {
            height: self.job.height,
            mined_by: self.job.mined_by.clone(),
            messages: self.job.messages.clone(),
            nonce: self.nonce_for(counter),
            timestamp: self.job.timestamp,
            hash: self.hash_for(counter),
        }
    }
}

/// Writes `value`'s last `digits.len()` decimal digits into `digits`, zero-padded.
pub fn write_digits(digits: &mut [u8], mut value: u64) {
    for d in digits.iter_mut().rev() {
        *d = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// Adds 2 to the ASCII decimal number in `digits`, in place; a carry out of the top digit is
/// dropped (only the counter after the last one tried can overflow, and it is never hashed).
/// The external miner's course loop steps its digits with it too.
pub fn add_two(digits: &mut [u8]) {
    let mut carry = 2;
    for d in digits.iter_mut().rev() {
        let sum = *d + carry;
        if sum <= b'9' {
            *d = sum;
            return;
        }
        *d = sum - 10;
        carry = 1;
    }
}

/// True when the digest given as state words has at least `bits` trailing zero bits (the hex
/// digest then ends with `bits / 4` zeros). Checks the words from the last, without serialising.
pub fn state_meets_trailing(state: &[u32; 8], bits: u32) -> bool {
    let mut need = bits;
    for word in state.iter().rev() {
        if need == 0 {
            return true;
        }
        if need >= 32 {
            if *word != 0 {
                return false;
            }
            need -= 32;
        } else {
            return word.trailing_zeros() >= need;
        }
    }
    need == 0
}

/// Counters `index` of `n_workers` contiguous, disjoint slices of `0..COUNTER_SPACE`.
fn counter_slice(index: usize, n_workers: usize) -> (u64, u64) {
    let n = n_workers.max(1) as u128;
    let i = (index as u128).min(n - 1);
    let space = COUNTER_SPACE as u128;
    // Both below COUNTER_SPACE, so they fit a u64.
    ((i * space / n) as u64, ((i + 1) * space / n) as u64)
}

/// Runs worker `index` of `n_workers` of the job of `generation` (from
/// [`MinerControl::begin_job`]) on its own slice of the counters, until it finds a block, the
/// control's generation changes (a new job, a cancel, or another worker's win) or the slice runs
/// out. Like the native miner it looks at the generation and adds to the hash counter every
/// [`CHECK_INTERVAL`] attempts, and of several workers finding a block at once exactly one
/// returns it (it claims the generation). Blocks the calling thread meanwhile.
pub fn run_worker(
    search: &CourseSearch,
    control: &MinerControl,
    generation: u64,
    index: usize,
    n_workers: usize,
) -> Option<CourseBlock> {
    let (mut next, end) = counter_slice(index, n_workers);
    while next < end && control.is_current(generation) {
        let count = (end - next).min(CHECK_INTERVAL);
        let found = search.search(next, count);
        match found {
            Some(block) => {
                // The winner's counter is recoverable from its nonce's digits, but the exact
                // count matters little for a rate: count the whole batch.
                control.add_hashes(count);
                return control.claim(generation).then_some(block);
            }
            None => control.add_hashes(count),
        }
        next += count;
    }
    None
}

/// One course block being mined under a [`MinerControl`], like the native `MiningJob`: creating
/// it stops the control's earlier jobs, and its workers stop when a newer job starts.
#[derive(Debug, Clone)]
pub struct CourseMiningJob {
    /// The prepared search, shared by the workers' threads.
    search: Arc<CourseSearch>,
    /// The control whose generation this job owns.
    control: MinerControl,
    /// This job's generation.
    generation: u64,
}

impl CourseMiningJob {
    /// Prepares `job` and starts it under `control`, stopping the control's earlier jobs.
    pub fn new(job: &CourseJob, control: &MinerControl) -> CourseMiningJob {
        let search = Arc::new(CourseSearch::new(job));
        CourseMiningJob {
            search,
            control: control.clone(),
            generation: control.begin_job(),
        }
    }

    /// The prepared search.
    pub fn search(&self) -> &CourseSearch {
        &self.search
    }

    /// This job's generation under its control.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// True while no newer job, cancel or winning worker has ended this job.
    pub fn is_current(&self) -> bool {
        self.control.is_current(self.generation)
    }

    /// Runs worker `index` of `n_workers` on the calling thread: see [`run_worker`]. Clone the
    /// job into each thread.
    pub fn run_worker(&self, index: usize, n_workers: usize) -> Option<CourseBlock> {
        run_worker(
            &self.search,
            &self.control,
            self.generation,
            index,
            n_workers,
        )
    }
}

#[cfg(test)]
mod tests;
