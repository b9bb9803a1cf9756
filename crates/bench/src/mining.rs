//! `bench mining` (not written yet).

/// Options of `bench mining`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs the benchmark.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("bench mining is not implemented yet")
}
