//! The log subscriber of every votechain binary: plain text on stderr (colours only on a
//! terminal), its level chosen by `-v` when given, otherwise by `RUST_LOG`, otherwise by the
//! binary's default. Stdout stays free for console answers and benchmark tables.

use std::io::IsTerminal as _;
use tracing_subscriber::EnvFilter;

/// Installs the subscriber. `levels[0]` is the default level, `levels[v]` the level of `v`
/// times `-v` (the last one for anything higher); without `-v`, a valid `RUST_LOG` wins over the
/// default. A second call keeps the first subscriber (a benchmark starts several runs).
///
/// # Panics
///
/// When `levels` is empty: every binary has a default level.
pub fn init_logging(verbose: u8, levels: &[&str]) {
    let level = |v: u8| levels[usize::from(v).min(levels.len() - 1)];
    let filter = match verbose {
        0 => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level(0))),
        v => EnvFilter::new(level(v)),
    };
    // Colour codes only for a terminal: logs piped to a file or a test stay plain text. A log
    // line that cannot be written (stderr a closed pipe, as in `peer … 2>&1 | head -2`) is
    // dropped: the subscriber's own complaint about it would go to the same closed stderr with
    // `eprintln!`, which panics.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .log_internal_errors(false)
        .try_init();
}
