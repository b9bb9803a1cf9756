//! What a run leaves behind for debugging and for the determinism check: a digest of every event
//! handled and every output produced (equal digests mean, with overwhelming probability,
//! identical runs), and, for the peers named in `SIM_TRACE` (`3,5` or `all`), their inputs and
//! outputs printed to stderr.

use super::{PeerId, Sim};
use std::collections::BTreeSet;
use std::hash::{DefaultHasher, Hash, Hasher};

/// The run's digest and which peers are printed.
pub(super) struct Trace {
    /// Hashes every traced step: time, kind, who, data.
    digest: DefaultHasher,
    /// Peers whose inputs and outputs are printed (`SIM_TRACE=3,5`, or `all`), for debugging a
    /// replayed seed.
    printed: Option<BTreeSet<PeerId>>,
}

impl Trace {
    /// An empty digest; the printed peers are read from `SIM_TRACE`.
    pub(super) fn from_env() -> Trace {
        Trace {
            digest: DefaultHasher::new(),
            printed: std::env::var("SIM_TRACE").ok().map(|v| {
                if v.trim() == "all" {
                    (0..100_000).collect()
                } else {
                    v.split(',').filter_map(|x| x.trim().parse().ok()).collect()
                }
            }),
        }
    }
}

impl Sim {
    /// A digest of every event handled and every output produced so far: equal digests mean
    /// (with overwhelming probability) identical runs.
    pub fn digest(&self) -> u64 {
        self.tracing.digest.finish()
    }

    /// Prints `what` when peer `id` is traced (`SIM_TRACE`).
    pub(super) fn print(&self, id: PeerId, what: impl FnOnce() -> String) {
        if self
            .tracing
            .printed
            .as_ref()
            .is_some_and(|t| t.contains(&id))
        {
            eprintln!("[t={:>7}] peer {id}: {}", self.now, what());
        }
    }

    /// Adds one step to the digest: what happened (`kind`), to whom, with which bytes.
    pub(super) fn trace(&mut self, kind: &str, who: impl Hash, data: &[u8]) {
        let digest = &mut self.tracing.digest;
        self.now.hash(digest);
        kind.hash(digest);
        who.hash(digest);
        data.hash(digest);
    }
}
