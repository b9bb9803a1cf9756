//! The proof-of-work miner, as code that runs on threads its caller starts. A [`MiningJob`] wraps
//! one [`BlockTemplate`] (the caller chose its parent and votes) with the template's
//! [`Midstate`]; [`MiningJob::worker`] hands out disjoint slices of the nonce space, and
//! [`Worker::run`] searches its slice with exactly one SHA-256 compression per nonce, judging each
//! result on the state words so a losing nonce is never serialised, hashed as bytes or allocated.
//!
//! Workers are steered through a [`MinerControl`] shared with the caller: a generation counter
//! that every new job (and [`MinerControl::cancel`]) advances, so a worker whose job is no longer
//! current stops at its next look, which comes every [`CHECK_INTERVAL`] nonces (well under a
//! millisecond); and a counter of hashes tried, which the caller divides by its own clock to get a
//! hash rate. This module reads no clock and spawns no thread.

use crate::block::{Block, BlockTemplate};
use crate::header::{state_meets, Midstate};
use sha2::digest::generic_array::GenericArray;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Nonces a worker tries between two looks at the generation counter (and two updates of the
/// hash counter). At ≈34 M compressions/s this is ≈120 µs, far inside the 10 ms a tip change
/// allows, while the two atomic operations it costs are spread over 4,096 compressions.
pub const CHECK_INTERVAL: u64 = 4096;

/// Keeps each shared counter on its own cache line, so that the hash counter the workers bump
/// does not evict the generation every worker reads.
#[repr(align(64))]
#[derive(Debug, Default)]
struct CacheLine(AtomicU64);

#[derive(Debug, Default)]
struct Shared {
    /// Identifies the current job; a worker stops once it differs from its own job's.
    generation: CacheLine,
    /// Nonces tried by every worker of every job, for the hash rate.
    hashes: CacheLine,
}

/// The caller's handle on its miner threads: starts jobs, stops them, and counts hashes. Clones
/// share the same counters; one control per mining pool.
#[derive(Debug, Clone, Default)]
pub struct MinerControl {
    shared: Arc<Shared>,
}

impl MinerControl {
    /// A control with no job running.
    pub fn new() -> MinerControl {
        MinerControl::default()
    }

    /// Stops every job started so far: each worker returns [`MineOutcome::Stopped`] within
    /// [`CHECK_INTERVAL`] nonces. Starting a new job does this implicitly.
    pub fn cancel(&self) {
        self.shared.generation.0.fetch_add(1, Ordering::AcqRel);
    }

    /// Total nonces tried by all workers since this control was created. Updated once per
    /// [`CHECK_INTERVAL`] nonces per worker; divide a difference by elapsed time for the rate.
    pub fn hashes(&self) -> u64 {
        self.shared.hashes.0.load(Ordering::Relaxed)
    }

    /// Starts a job of a miner for another block format (the COMP 3010 course chain's,
    /// `votechain-course`), as [`MiningJob::new`] starts one: every earlier job stops. The
    /// returned generation identifies the new job to [`MinerControl::is_current`] and
    /// [`MinerControl::claim`]; such a miner follows [`Worker::run`]'s protocol (look every
    /// [`CHECK_INTERVAL`] attempts, count hashes with [`MinerControl::add_hashes`]).
    pub fn begin_job(&self) -> u64 {
        self.shared.generation.0.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// True while no newer job, cancel or winner has ended the job of `generation`.
    pub fn is_current(&self, generation: u64) -> bool {
        self.shared.generation.0.load(Ordering::Acquire) == generation
    }

    /// Adds `n` attempts to the hash counter read by [`MinerControl::hashes`].
    pub fn add_hashes(&self, n: u64) {
        self.shared.hashes.0.fetch_add(n, Ordering::Relaxed);
    }

    /// Ends the job of `generation` if it is still current and says whether this call did: of
    /// several workers finding a result at once, or a worker racing a cancel, exactly one wins.
    pub fn claim(&self, generation: u64) -> bool {
        self.shared
            .generation
            .0
            .compare_exchange(
                generation,
                generation + 1,
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_ok()
    }
}

/// One template being mined. Creating a job supersedes every earlier job of the same control,
/// so the caller starts the work for a new tip simply by creating its job.
#[derive(Debug, Clone)]
pub struct MiningJob {
    inner: Arc<JobInner>,
}

#[derive(Debug)]
struct JobInner {
    /// The block being mined, sealed with the winning nonce.
    template: BlockTemplate,
    /// SHA-256 state after the template's first 128 header bytes.
    midstate: Midstate,
    /// Leading zero bits required, copied out of the header once.
    difficulty: u32,
    /// The control's generation this job owns; any other value means stop.
    generation: u64,
    shared: Arc<Shared>,
}

impl MiningJob {
    /// Prepares `template` for mining under `control`, stopping the control's earlier jobs.
    pub fn new(template: BlockTemplate, control: &MinerControl) -> MiningJob {
        let generation = control.shared.generation.0.fetch_add(1, Ordering::AcqRel) + 1;
        MiningJob {
            inner: Arc::new(JobInner {
                midstate: template.midstate(),
                difficulty: template.header().difficulty,
                template,
                generation,
                shared: Arc::clone(&control.shared),
            }),
        }
    }

    /// The template being mined.
    pub fn template(&self) -> &BlockTemplate {
        &self.inner.template
    }

    /// True while no newer job, cancel or winning nonce has ended this job.
    pub fn is_current(&self) -> bool {
        self.inner.shared.generation.0.load(Ordering::Acquire) == self.inner.generation
    }

    /// Worker `index` of `n_workers`: it searches the `index`-th of `n_workers` contiguous,
    /// disjoint, equal slices of the 2^64 nonces, so no two workers ever try the same nonce.
    ///
    /// Panics if `index >= n_workers` (a caller bug, not an input).
    pub fn worker(&self, index: usize, n_workers: usize) -> Worker {
        assert!(index < n_workers, "worker {index} of {n_workers}");
        let (first, last) = nonce_slice(index as u128, n_workers as u128);
        Worker {
            job: Arc::clone(&self.inner),
            first,
            last,
        }
    }
}

/// Slice `index` of `n` of the nonce space, as an inclusive range. Computed in u128 so the last
/// slice ends exactly at `u64::MAX` and slices differ in length by at most one.
fn nonce_slice(index: u128, n: u128) -> (u64, u64) {
    const SPACE: u128 = 1 << 64;
    let first = index * SPACE / n;
    let end = (index + 1) * SPACE / n;
    // Both fit: first < end <= 2^64, so first <= end - 1 <= u64::MAX.
    (first as u64, (end - 1) as u64)
}

/// How a worker's search ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MineOutcome {
    /// This worker found the job's block; it is the only worker of the job to return one.
    /// Boxed because a block is large and the other outcomes are empty.
    Found(Box<Block>),
    /// The job was superseded, cancelled, or another worker won it.
    Stopped,
    /// Every nonce of the slice was tried without success (2^64 / n nonces: not in practice).
    Exhausted,
}

/// One thread's share of a job. Move it into the thread and call [`Worker::run`].
#[derive(Debug)]
pub struct Worker {
    job: Arc<JobInner>,
    /// First nonce of the slice.
    first: u64,
    /// Last nonce of the slice, inclusive, so a slice may end at `u64::MAX`.
    last: u64,
}

impl Worker {
    /// The nonces this worker searches, inclusive.
    pub fn nonces(&self) -> std::ops::RangeInclusive<u64> {
        self.first..=self.last
    }

    /// Searches the slice until a nonce meets the difficulty, the job stops being current, or the
    /// slice runs out. Blocks the calling thread meanwhile.
    pub fn run(self) -> MineOutcome {
        let job = &*self.job;
        let generation = &job.shared.generation.0;
        let hashes = &job.shared.hashes.0;
        let midstate = job.midstate.0;
        let bits = job.difficulty;
        // A cheap pre-test on the first word that almost every losing nonce fails; the full
        // check only runs for the rare survivor.
        let first_word_bits = bits.min(32);
        // The padded final block is prepared once; per nonce only its first 8 bytes change. There
        // are two copies, used alternately by nonce parity, and the next nonce is written into
        // the idle copy *before* the current compression. Writing the nonce into the copy about
        // to be compressed measured ≈40 % slower: SHA-NI reads the block with 16-byte loads,
        // which cannot be forwarded from an 8-byte store, so they wait until the store retires,
        // which is after the previous compression has finished: nonces ran strictly one after
        // the other. Written a nonce ahead, the store retires while the current compression is
        // still running, so two consecutive compressions overlap in the core.
        let mut final_blocks = [[GenericArray::from(Midstate::final_block(self.first))]; 2];
        let mut next = self.first;
        loop {
            if generation.load(Ordering::Relaxed) != job.generation {
                return MineOutcome::Stopped;
            }
            let count = (self.last - next).min(CHECK_INTERVAL - 1) + 1;
            for i in 0..count {
                // Invariant: final_blocks[nonce % 2] holds `nonce`.
                let nonce = next + i;
                let ahead = nonce.wrapping_add(1);
                final_blocks[(ahead & 1) as usize][0][..8].copy_from_slice(&ahead.to_be_bytes());
                let mut state = midstate;
                sha2::compress256(&mut state, &final_blocks[(nonce & 1) as usize]);
                if state[0].leading_zeros() >= first_word_bits && state_meets(&state, bits) {
                    hashes.fetch_add(i + 1, Ordering::Relaxed);
                    return self.claim(nonce);
                }
            }
            hashes.fetch_add(count, Ordering::Relaxed);
            if next + (count - 1) == self.last {
                return MineOutcome::Exhausted;
            }
            next += count;
        }
    }

    /// Ends the job by moving the generation on, if it is still this job's: of several workers
    /// finding a nonce at once, or a worker racing a cancel, exactly one outcome wins.
    fn claim(&self, nonce: u64) -> MineOutcome {
        let job = &*self.job;
        let won = job
            .shared
            .generation
            .0
            .compare_exchange(
                job.generation,
                job.generation + 1,
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_ok();
        if won {
            MineOutcome::Found(Box::new(job.template.seal(nonce)))
        } else {
            MineOutcome::Stopped
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::sha256;
    use std::sync::mpsc;
    use std::time::Duration;

    fn template(difficulty: u32) -> BlockTemplate {
        BlockTemplate::new(
            sha256(&[b"parent"]),
            3,
            difficulty,
            1_700_000_000_000,
            "m",
            vec![],
        )
        .unwrap()
    }

    /// Runs `workers` on threads, as a shell would, returning their outcomes through a channel.
    fn spawn_all(workers: Vec<Worker>) -> mpsc::Receiver<MineOutcome> {
        let (tx, rx) = mpsc::channel();
        for w in workers {
            let tx = tx.clone();
            std::thread::spawn(move || tx.send(w.run()));
        }
        rx
    }

    /// Generous: these tests assert that workers stop, not how fast (that is `bench mining`).
    const DEADLINE: Duration = Duration::from_secs(20);

    #[test]
    fn found_block_meets_difficulty_and_only_one_worker_wins() {
        let control = MinerControl::new();
        let job = MiningJob::new(template(12), &control);
        let workers: Vec<Worker> = (0..3).map(|i| job.worker(i, 3)).collect();
        let ranges: Vec<_> = workers.iter().map(Worker::nonces).collect();
        let rx = spawn_all(workers);
        let outcomes: Vec<MineOutcome> =
            (0..3).map(|_| rx.recv_timeout(DEADLINE).unwrap()).collect();
        let found: Vec<&Block> = outcomes
            .iter()
            .filter_map(|o| match o {
                MineOutcome::Found(b) => Some(&**b),
                _ => None,
            })
            .collect();
        assert_eq!(found.len(), 1, "{outcomes:?}");
        let block = found[0];
        assert!(block.header().meets_difficulty());
        assert!(block.hash().leading_zero_bits() >= 12);
        assert_eq!(block.height(), 4);
        assert!(ranges.iter().any(|r| r.contains(&block.header().nonce)));
        assert!(control.hashes() >= 1);
        assert!(!job.is_current());
    }

    #[test]
    fn difficulty_zero_takes_the_first_nonce() {
        let control = MinerControl::new();
        let job = MiningJob::new(template(0), &control);
        match job.worker(1, 2).run() {
            MineOutcome::Found(b) => assert_eq!(b.header().nonce, 1 << 63),
            other => panic!("{other:?}"),
        }
        assert_eq!(control.hashes(), 1);
    }

    /// Starts a worker at a difficulty no nonce meets, waits until it is hashing, then calls
    /// `stop` and checks the worker returns `Stopped`.
    fn assert_stops(stop: impl FnOnce(&MinerControl)) {
        let control = MinerControl::new();
        let job = MiningJob::new(template(256), &control);
        let rx = spawn_all(vec![job.worker(0, 1)]);
        let start = std::time::Instant::now();
        while control.hashes() == 0 {
            assert!(start.elapsed() < DEADLINE, "worker never started hashing");
            std::thread::yield_now();
        }
        assert_eq!(rx.try_recv(), Err(mpsc::TryRecvError::Empty));
        stop(&control);
        assert!(!job.is_current());
        assert_eq!(rx.recv_timeout(DEADLINE), Ok(MineOutcome::Stopped));
    }

    #[test]
    fn cancel_stops_a_worker() {
        assert_stops(MinerControl::cancel);
    }

    #[test]
    fn a_new_job_stops_the_old_one() {
        assert_stops(|control| {
            let newer = MiningJob::new(template(256), control);
            assert!(newer.is_current());
        });
    }

    #[test]
    fn a_foreign_job_is_stopped_by_a_new_job_and_claimed_once() {
        let control = MinerControl::new();
        let generation = control.begin_job();
        assert!(control.is_current(generation));
        control.add_hashes(5);
        assert_eq!(control.hashes(), 5);
        assert!(control.claim(generation));
        assert!(!control.claim(generation));
        let next = control.begin_job();
        let native = MiningJob::new(template(8), &control);
        assert!(!control.is_current(next) && native.is_current());
    }

    #[test]
    fn slices_partition_the_nonce_space() {
        for n in 1..=9usize {
            let job = MiningJob::new(template(8), &MinerControl::new());
            let ranges: Vec<_> = (0..n).map(|i| job.worker(i, n).nonces()).collect();
            assert_eq!(*ranges[0].start(), 0);
            assert_eq!(*ranges[n - 1].end(), u64::MAX);
            for pair in ranges.windows(2) {
                // Adjacent and non-overlapping: no nonce tried twice, none skipped.
                assert_eq!(*pair[0].end() + 1, *pair[1].start(), "n = {n}");
            }
            let lens: Vec<u128> = ranges
                .iter()
                .map(|r| (*r.end() - *r.start()) as u128 + 1)
                .collect();
            assert_eq!(lens.iter().sum::<u128>(), 1 << 64);
            assert!(lens.iter().max().unwrap() - lens.iter().min().unwrap() <= 1);
        }
    }

    #[test]
    fn exhausting_a_slice_tries_each_nonce_once() {
        // A short slice that ends at u64::MAX exercises the batch arithmetic at the top edge.
        let control = MinerControl::new();
        let job = MiningJob::new(template(256), &control);
        let mut worker = job.worker(0, 1);
        worker.first = u64::MAX - 3 * CHECK_INTERVAL - 6;
        assert_eq!(worker.run(), MineOutcome::Exhausted);
        assert_eq!(control.hashes(), 3 * CHECK_INTERVAL + 7);
    }
}
