//! `bench validate` (not written yet).

/// Options of `bench validate`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs the benchmark.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("bench validate is not implemented yet")
}
