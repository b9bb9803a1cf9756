//! Mining the course's hash rule against our native miner, one thread each, in alternating
//! rounds. The course miner is `votechain_course`'s [`CourseMiningJob`] worker, the loop the
//! peer's miner threads run: [`votechain_course::CourseSearch::search`] over slices of
//! `CHECK_INTERVAL` counters, one SHA-256 compression per attempt after a midstate. The native
//! miner is `votechain_chain`'s [`MiningJob`] worker, as `bench mining` measures it. Both run on a
//! thread of their own at a difficulty no attempt meets (the course's 64 trailing zero nibbles,
//! the native 256 leading zero bits), so each searches for its whole slice, and both are read
//! from the same kind of hash counter ([`MinerControl::hashes`]) over the same window.
//!
//! Each figure is given twice: per second of wall-clock time, what a user sees, and per second
//! the mining thread actually ran on a CPU (its run time from `/proc/self/task/<tid>/schedstat`,
//! in ns). On a shared machine the first also measures how much of a core the scheduler gave
//! the thread; the second measures the miner alone.

use std::time::{Duration, Instant};
use votechain_chain::{sha256, MineOutcome, MinerControl, MiningJob};
use votechain_course::miner::{CourseJob, CourseMiningJob};

/// One measurement of a miner.
#[derive(Debug, Clone, Copy)]
pub struct Rate {
    /// Hashes per second of wall-clock time.
    pub wall: f64,
    /// Hashes per second the thread ran on a CPU (`None` where the kernel does not say).
    pub cpu: Option<f64>,
}

/// Hash rates of the rounds.
pub struct MiningFigures {
    /// The native miner, one figure per round.
    pub native: Vec<Rate>,
    /// The course miner, one figure per round.
    pub course: Vec<Rate>,
}

impl MiningFigures {
    /// Per-round ratios course/native of wall-clock rates (each round's pair ran back to back).
    pub fn ratios(&self) -> Vec<f64> {
        self.course
            .iter()
            .zip(&self.native)
            .map(|(c, n)| c.wall / n.wall)
            .collect()
    }

    /// Per-round ratios course/native of rates per CPU-second, when every round has them.
    pub fn cpu_ratios(&self) -> Option<Vec<f64>> {
        self.course
            .iter()
            .zip(&self.native)
            .map(|(c, n)| Some(c.cpu? / n.cpu?))
            .collect()
    }
}

/// The calling thread's id, as `/proc/self/task` names it.
fn own_tid() -> Option<String> {
    let link = std::fs::read_link("/proc/thread-self").ok()?;
    Some(link.file_name()?.to_str()?.to_owned())
}

/// Nanoseconds thread `tid` of this process has run on a CPU.
fn thread_cpu_ns(tid: Option<&str>) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/self/task/{}/schedstat", tid?)).ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// A course job like a real block's: a parent hash, a name, one word. Its prefix (64 + 15 + 4 +
/// 8 bytes) leaves room for the nonce's digits and the padding in one final block, so an
/// attempt is one compression, as it is for most course blocks.
fn course_job() -> CourseJob {
    CourseJob {
        prev: Some(sha256(&[b"comp3010 bench parent"])),
        height: 1,
        mined_by: "votechain-bench".to_owned(),
        messages: vec!["vote".to_owned()],
        timestamp: 1_730_974_785,
        // 64 trailing '0' hex characters: the whole digest, which no attempt gives.
        difficulty: 64,
    }
}

/// Hashes per second on `control`'s counter over `window`, after `warmup`, of the mining
/// thread `tid`.
fn rate(control: &MinerControl, tid: Option<&str>, warmup: Duration, window: Duration) -> Rate {
    std::thread::sleep(warmup);
    let (h0, c0, t0) = (control.hashes(), thread_cpu_ns(tid), Instant::now());
    std::thread::sleep(window);
    let (h1, c1, elapsed) = (control.hashes(), thread_cpu_ns(tid), t0.elapsed());
    let hashes = (h1 - h0) as f64;
    let cpu = match (c0, c1) {
        (Some(a), Some(b)) if b > a => Some(hashes / ((b - a) as f64 / 1e9)),
        _ => None,
    };
    Rate {
        wall: hashes / elapsed.as_secs_f64(),
        cpu,
    }
}

/// Runs `mine` on a new thread; returns its handle and its thread id (when the kernel says).
fn spawn_miner<T: Send + 'static>(
    mine: impl FnOnce() -> T + Send + 'static,
) -> (std::thread::JoinHandle<T>, Option<String>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let _ = tx.send(own_tid());
        mine()
    });
    let tid = rx.recv().ok().flatten();
    (thread, tid)
}

/// The native miner on one thread.
fn native_once(warmup: Duration, window: Duration) -> anyhow::Result<Rate> {
    let control = MinerControl::new();
    let job = MiningJob::new(crate::mining::impossible_template()?, &control);
    let worker = job.worker(0, 1);
    let (thread, tid) = spawn_miner(move || worker.run());
    let hps = rate(&control, tid.as_deref(), warmup, window);
    control.cancel();
    let outcome = thread
        .join()
        .map_err(|_| anyhow::anyhow!("the native miner thread panicked"))?;
    anyhow::ensure!(
        outcome == MineOutcome::Stopped,
        "the native miner ended with {outcome:?} instead of stopping"
    );
    Ok(hps)
}

/// The course miner on one thread.
fn course_once(warmup: Duration, window: Duration) -> anyhow::Result<Rate> {
    let control = MinerControl::new();
    let job = CourseMiningJob::new(&course_job(), &control);
    let (thread, tid) = spawn_miner(move || job.run_worker(0, 1));
    let hps = rate(&control, tid.as_deref(), warmup, window);
    control.cancel();
    let found = thread
        .join()
        .map_err(|_| anyhow::anyhow!("the course miner thread panicked"))?;
    anyhow::ensure!(
        found.is_none(),
        "the course miner found a block at difficulty 64"
    );
    Ok(hps)
}

/// `rounds` rounds of one native and one course measurement of `window` each (after `warmup`),
/// the order swapped every round so that a drift of the machine's speed hits both alike.
pub fn measure(rounds: usize, warmup: Duration, window: Duration) -> anyhow::Result<MiningFigures> {
    let mut figures = MiningFigures {
        native: Vec::with_capacity(rounds),
        course: Vec::with_capacity(rounds),
    };
    for round in 0..rounds {
        if round % 2 == 0 {
            figures.native.push(native_once(warmup, window)?);
            figures.course.push(course_once(warmup, window)?);
        } else {
            figures.course.push(course_once(warmup, window)?);
            figures.native.push(native_once(warmup, window)?);
        }
    }
    Ok(figures)
}
