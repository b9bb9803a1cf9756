//! Mining the course's hash rule against our native miner, one thread each, in alternating
//! rounds. The course miner is `votechain_course`'s [`CourseMiningJob`] worker, the loop the
//! peer's miner threads run: [`votechain_course::CourseSearch::search`] over slices of
//! `CHECK_INTERVAL` counters, one SHA-256 compression per attempt after a midstate. The native
//! miner is `votechain_chain`'s [`MiningJob`] worker, as `bench mining` measures it. Both run on a
//! thread of their own at a difficulty no attempt meets (the course's 64 trailing zero nibbles,
//! the native 256 leading zero bits), so each searches for its whole slice, and both are read
//! from the same kind of hash counter ([`MinerControl::hashes`]) over the same window.

use std::time::{Duration, Instant};
use votechain_chain::{sha256, BlockTemplate, MineOutcome, MinerControl, MiningJob};
use votechain_course::miner::{CourseJob, CourseMiningJob};

/// Hash rates of the rounds, in hashes per second.
pub struct MiningFigures {
    /// The native miner, one figure per round.
    pub native: Vec<f64>,
    /// The course miner, one figure per round.
    pub course: Vec<f64>,
}

impl MiningFigures {
    /// Per-round ratios course/native (each round's pair ran back to back).
    pub fn ratios(&self) -> Vec<f64> {
        self.course
            .iter()
            .zip(&self.native)
            .map(|(c, n)| c / n)
            .collect()
    }
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

/// A native template no nonce can win: 256 leading zero bits.
fn native_template() -> anyhow::Result<BlockTemplate> {
    Ok(BlockTemplate::new(
        sha256(&[b"bench"]),
        41,
        256,
        1_700_000_000_000,
        "bench",
        vec![],
    )?)
}

/// Hashes per second on `control`'s counter over `window`, after `warmup`.
fn rate(control: &MinerControl, warmup: Duration, window: Duration) -> f64 {
    std::thread::sleep(warmup);
    let (h0, t0) = (control.hashes(), Instant::now());
    std::thread::sleep(window);
    let (h1, elapsed) = (control.hashes(), t0.elapsed());
    (h1 - h0) as f64 / elapsed.as_secs_f64()
}

/// The native miner on one thread.
fn native_once(warmup: Duration, window: Duration) -> anyhow::Result<f64> {
    let control = MinerControl::new();
    let job = MiningJob::new(native_template()?, &control);
    let worker = job.worker(0, 1);
    let thread = std::thread::spawn(move || worker.run());
    let hps = rate(&control, warmup, window);
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
fn course_once(warmup: Duration, window: Duration) -> anyhow::Result<f64> {
    let control = MinerControl::new();
    let job = CourseMiningJob::new(&course_job(), &control);
    let thread = std::thread::spawn(move || job.run_worker(0, 1));
    let hps = rate(&control, warmup, window);
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
