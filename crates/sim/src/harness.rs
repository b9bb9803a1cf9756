//! Running a scenario over many seeds: a CI-sized number by default, thousands in long mode, or
//! exactly one to replay a failure.
//!
//! - `SIM_SEED=<n>`: run seed `n` only (what a failure message tells you to run).
//! - `SIM_SEEDS=<count>`: run seeds `1..=count` instead of the scenario's CI default.
//!
//! A failing seed (an `Err` or a panic anywhere in the cores) is reported with one command that
//! re-runs exactly it; the test fails after every seed has run, listing all failing seeds.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

/// The seeds to run: `SIM_SEED`, else `1..=SIM_SEEDS`, else `1..=ci_seeds`.
pub fn seeds(ci_seeds: u64) -> Vec<u64> {
    let var = |name: &str| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    if let Some(seed) = var("SIM_SEED") {
        return vec![seed];
    }
    let n = var("SIM_SEEDS").unwrap_or(ci_seeds);
    (1..=n).collect()
}

/// The command that re-runs `test` in the test binary `binary` with `seed` alone.
pub fn replay_command(binary: &str, test: &str, seed: u64) -> String {
    format!(
        "SIM_SEED={seed} cargo test -p votechain-sim --test {binary} {test} -- --exact --nocapture"
    )
}

/// Runs `scenario` for every seed of [`seeds`]; panics (failing the test) if any seed failed,
/// after printing each failing seed with its replay command. `scenario` returns a one-line
/// summary on success.
pub fn run_seeds<F>(binary: &str, test: &str, ci_seeds: u64, scenario: F)
where
    F: Fn(u64) -> Result<String, String>,
{
    let started = Instant::now();
    let seeds = seeds(ci_seeds);
    let mut failed = Vec::new();
    for &seed in &seeds {
        let t0 = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| scenario(seed)))
            .unwrap_or_else(|panic| Err(format!("panicked: {}", panic_text(&panic))));
        match result {
            Ok(summary) => {
                if seeds.len() <= 32 || std::env::var_os("SIM_VERBOSE").is_some() {
                    eprintln!(
                        "{test} seed={seed}: ok in {:.2}s real: {summary}",
                        t0.elapsed().as_secs_f64()
                    );
                }
            }
            Err(e) => {
                eprintln!(
                    "{test} seed={seed}: FAILED: {e}\n  replay: {}",
                    replay_command(binary, test, seed)
                );
                failed.push(seed);
            }
        }
    }
    eprintln!(
        "{test}: {} seeds, {} failed, {:.1}s real",
        seeds.len(),
        failed.len(),
        started.elapsed().as_secs_f64()
    );
    if let Some(first) = failed.first() {
        panic!(
            "{test}: seeds {failed:?} failed; replay the first with:\n  {}",
            replay_command(binary, test, *first)
        );
    }
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-text panic)".to_owned()
    }
}
