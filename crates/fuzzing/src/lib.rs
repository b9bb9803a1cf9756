//! The bodies of votechain's fuzz targets, as plain functions of `&[u8]`, so that cargo-fuzz
//! (`fuzz/fuzz_targets/*.rs`, nightly) and the corpus replay test (`tests/corpus.rs`, stable)
//! run exactly the same code. Each function accepts any input without panicking unless one
//! of the invariants it states is broken: a panic here is a bug found.
//!
//! - [`decode`]: the codec; decoded messages round-trip through the encoder.
//! - [`node`]: one peer's sans-IO node driven by a sequence of operations read from the input.
//! - [`registry`]: the tracker's sans-IO registry, likewise.
//! - [`course`]: a `--profile comp3010` peer's sans-IO node, likewise.
//! - [`w4119`]: a `--profile w4119` peer's sans-IO node, or the tracker's registry in the W4119
//!   dialect, likewise.
//!
//! The input is read with a small [`cursor::Cursor`] rather than `arbitrary`, so the crate has
//! no dependency beyond the workspace's; [`messages`] turns input bytes into valid messages,
//! since random bytes almost never get past JSON decoding.

mod course;
pub mod cursor;
mod decode;
pub mod messages;
mod node;
mod registry;
mod w4119;

pub use course::course;
pub use decode::decode;
pub use node::node;
pub use registry::registry;
pub use w4119::w4119;

/// Times a core's timer may fire at one instant before it must point into the future.
const TIMEOUT_REPEATS: usize = 8;

/// Fires a core's timer at `now_ms` (`fire` handles the timeout, drains the outputs and returns
/// the core's next `poll_timeout`) until its deadline lies in the future. Both cores promise
/// that within a few calls; a deadline left at or before `now_ms` would make a shell spin.
fn fire_timer(now_ms: u64, mut fire: impl FnMut() -> Option<u64>) {
    let mut next = None;
    for _ in 0..TIMEOUT_REPEATS {
        next = fire();
        if next.is_none_or(|t| t > now_ms) {
            return;
        }
    }
    panic!(
        "poll_timeout() is {next:?} after {TIMEOUT_REPEATS} handle_timeout({now_ms}): the shell \
         would spin"
    );
}

/// A fuzz target body: runs one input, panicking only when an invariant is broken.
pub type Target = fn(&[u8]);

/// The targets by name, as the corpus directories under `fuzz/corpus/` are named.
pub const TARGETS: &[(&str, Target)] = &[
    ("decode", decode as Target),
    ("node", node),
    ("registry", registry),
    ("course", course),
    ("w4119", w4119),
];
