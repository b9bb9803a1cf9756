//! The hashing threads. [`Hasher::start`] spawns them; [`Hasher::set_work`] hands them a job
//! (or none), and they drop what they were doing within one batch of `CHECK_INTERVAL` nonces
//! (a generation counter they read between batches, as the in-process miners do) or at once when
//! they were idle (a condition variable). The counter space of a job (the nonce bits below the
//! session's prefix) is cut into [`CHUNK`]-nonce chunks that threads claim from one atomic
//! counter, so no nonce is tried twice and no thread idles while another still has work. When
//! every chunk is claimed the threads idle until the next job. Shares go out on a bounded
//! channel; when it is full they are dropped and counted, never queued without bound.

use crate::search::{scan, Scan, Steer};
use crate::session::{FoundShare, Work};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use tokio::sync::mpsc;
use votechain_pool::PREFIX_BITS;

/// Nonces per claimed chunk: about 30 ms of one thread's work, so claims cost nothing and the
/// last chunks of a job's space are shared out finely.
pub const CHUNK: u64 = 1 << 20;

/// A counter on its own cache line, so threads bumping one do not evict another every thread
/// reads (the generation).
#[repr(align(64))]
#[derive(Debug, Default)]
pub(crate) struct CacheLine(pub(crate) AtomicU64);

/// What the threads share with the handle.
#[derive(Debug)]
struct Shared {
    /// Identifies the current work; a thread stops once it differs from its work's.
    generation: CacheLine,
    /// Nonces tried, for the hash rate; shared with the miner's progress handle.
    hashes: Arc<CacheLine>,
    /// The session's share target in zero bits (`u32::MAX` before the first `set_target`: then
    /// only blocks are shares).
    share_bits: AtomicU32,
    /// Shares dropped because the channel was full.
    dropped: AtomicU64,
    /// The current work and the stop flag, which idle threads wait on.
    slot: Mutex<Slot>,
    /// Wakes idle threads when the slot changes.
    wake: Condvar,
}

/// What idle threads look at.
#[derive(Debug, Default)]
struct Slot {
    /// The work to do, if any.
    work: Option<Arc<Unit>>,
    /// Set once, when the hasher stops.
    stop: bool,
}

/// One job as the threads search it.
#[derive(Debug)]
struct Unit {
    /// The generation this work owns.
    generation: u64,
    /// The job, its id and the session's prefix.
    work: Work,
    /// The prefix shifted into place: every nonce is `base | counter`.
    base: u64,
    /// Counters in the space: `2^(nonce_bits - PREFIX_BITS)`.
    counters: u64,
    /// The next chunk to claim.
    next_chunk: AtomicU64,
    /// Set by the first thread to find the space exhausted, so it is reported once.
    exhausted: AtomicBool,
}

impl Unit {
    fn new(generation: u64, work: Work) -> Unit {
        let shift = work.job.kind().nonce_bits() - PREFIX_BITS;
        Unit {
            generation,
            base: u64::from(work.prefix) << shift,
            counters: 1 << shift,
            work,
            next_chunk: AtomicU64::new(0),
            exhausted: AtomicBool::new(false),
        }
    }

    /// Chunk `index`'s counters, inclusive; `None` past the space.
    fn chunk(&self, index: u64) -> Option<(u64, u64)> {
        let first = index.checked_mul(CHUNK).filter(|f| *f < self.counters)?;
        Some((first, (first + CHUNK).min(self.counters) - 1))
    }
}

/// The handle on the hashing threads. Dropping it stops and joins them.
#[derive(Debug)]
pub struct Hasher {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl Hasher {
    /// Spawns `n_threads` idle threads that send their shares to `shares` and count their
    /// nonces in `hashes`.
    pub(crate) fn start(
        n_threads: usize,
        hashes: Arc<CacheLine>,
        shares: mpsc::Sender<FoundShare>,
    ) -> std::io::Result<Hasher> {
        let shared = Arc::new(Shared {
            generation: CacheLine::default(),
            hashes,
            share_bits: AtomicU32::new(u32::MAX),
            dropped: AtomicU64::new(0),
            slot: Mutex::new(Slot::default()),
            wake: Condvar::new(),
        });
        let mut hasher = Hasher {
            shared,
            threads: Vec::with_capacity(n_threads),
        };
        for index in 0..n_threads {
            let shared = Arc::clone(&hasher.shared);
            let shares = shares.clone();
            // On an error `hasher` is dropped here, which stops the threads already started.
            let thread = std::thread::Builder::new()
                .name(format!("hash-{index}"))
                .spawn(move || thread_main(&shared, &shares))?;
            hasher.threads.push(thread);
        }
        Ok(hasher)
    }

    /// Makes `work` the threads' job from now on (`None`: idle). Threads drop the previous
    /// work within one batch.
    pub fn set_work(&self, work: Option<Work>) {
        let mut slot = self.shared.lock();
        let generation = self.shared.generation.0.fetch_add(1, Ordering::AcqRel) + 1;
        slot.work = work.map(|w| Arc::new(Unit::new(generation, w)));
        drop(slot);
        self.shared.wake.notify_all();
    }

    /// The share target from now on, in zero bits.
    pub fn set_share_bits(&self, bits: u32) {
        self.shared.share_bits.store(bits, Ordering::Relaxed);
    }

    /// Shares dropped because the channel was full.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Stops and joins the threads: every nonce tried is counted when this returns.
    pub fn stop(mut self) {
        self.stop_threads();
    }

    fn stop_threads(&mut self) {
        self.shared.lock().stop = true;
        self.shared.generation.0.fetch_add(1, Ordering::AcqRel);
        self.shared.wake.notify_all();
        for thread in self.threads.drain(..) {
            // A hashing thread does not panic (its loops index within checked bounds); if one
            // did, there is nothing left to stop.
            let _ = thread.join();
        }
    }
}

impl Drop for Hasher {
    fn drop(&mut self) {
        self.stop_threads();
    }
}

impl Shared {
    /// The slot, even if a thread panicked holding it (it holds only plain data).
    fn lock(&self) -> MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A thread: wait for work it has not done yet, search it, repeat until stopped.
fn thread_main(shared: &Shared, shares: &mpsc::Sender<FoundShare>) {
    let mut done = 0;
    loop {
        let unit = {
            let mut slot = shared.lock();
            loop {
                if slot.stop {
                    return;
                }
                if let Some(unit) = slot.work.as_ref().filter(|u| u.generation != done) {
                    break Arc::clone(unit);
                }
                slot = shared.wake.wait(slot).unwrap_or_else(|e| e.into_inner());
            }
        };
        done = unit.generation;
        search(shared, &unit, shares);
    }
}

/// Claims chunks of `unit` and scans them until the space runs out or the work changes.
fn search(shared: &Shared, unit: &Unit, shares: &mpsc::Sender<FoundShare>) {
    let steer = ThreadSteer {
        shared,
        unit,
        shares,
    };
    loop {
        let index = unit.next_chunk.fetch_add(1, Ordering::Relaxed);
        let Some((first, last)) = unit.chunk(index) else {
            if !unit.exhausted.swap(true, Ordering::Relaxed) {
                tracing::debug!(
                    "every nonce of job {} is tried: idle until the next job",
                    unit.work.job_id
                );
            }
            return;
        };
        if scan(&unit.work.job, unit.base | first, unit.base | last, &steer) == Scan::Stopped {
            return;
        }
    }
}

/// How a thread's scan is steered: the generation, the share target, the counters, the channel.
struct ThreadSteer<'a> {
    shared: &'a Shared,
    unit: &'a Unit,
    shares: &'a mpsc::Sender<FoundShare>,
}

impl Steer for ThreadSteer<'_> {
    fn keep_going(&self) -> bool {
        self.shared.generation.0.load(Ordering::Relaxed) == self.unit.generation
    }

    fn share_bits(&self) -> u32 {
        self.shared.share_bits.load(Ordering::Relaxed)
    }

    fn hashed(&self, n: u64) {
        self.shared.hashes.0.fetch_add(n, Ordering::Relaxed);
    }

    #[cold]
    fn found(&self, nonce: u64, block: bool) {
        let share = FoundShare {
            job_id: Arc::clone(&self.unit.work.job_id),
            nonce,
            block,
        };
        if self.shares.try_send(share).is_err() {
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests;
