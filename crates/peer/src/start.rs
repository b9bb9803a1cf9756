//! Starting a peer: opening its store in the data directory, rebuilding the chain it holds and
//! building the node on it. Shared by the `peer` binary and [`crate::handle::PeerHandle`] (the
//! one-command election, the benchmarks), so every launcher starts a peer the same way. Binding
//! the socket is `votechain_runtime::bind_udp`'s job.

use crate::config::NodeConfig;
use crate::node::Node;
use crate::recover::{self, RecoverError};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::io;
use std::path::{Path, PathBuf};
use votechain_chain::{ChainConfig, Store};

/// Why a peer could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The data directory could not be created.
    #[error("cannot create the data directory {}", .dir.display())]
    CreateDir {
        /// The directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The store could not be opened: unreadable, not a store, or locked by another process
    /// (the source is then a `StoreLocked` naming the directory).
    #[error("cannot open the store {}", .path.display())]
    OpenStore {
        /// The store file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The store's genesis is broken.
    #[error("cannot rebuild the chain from {}", .path.display())]
    Rebuild {
        /// The store file.
        path: PathBuf,
        /// Why.
        #[source]
        source: RecoverError,
    },
    /// The socket's bound address could not be read.
    #[error("cannot read the socket's address")]
    LocalAddr(#[source] io::Error),
    /// No way to learn the election: a usage error rather than a failure.
    #[error("no tracker, no seed peer and no stored chain: nothing to join")]
    NothingToJoin,
}

/// Opens (or creates) the store `chain.log` in `data_dir`, rebuilds the chain it holds, and
/// builds the node, seeding its RNG with `seed`.
pub fn open_node(
    cfg: NodeConfig,
    data_dir: &Path,
    seed: u64,
    now_ms: u64,
) -> Result<(Node, Store), StartError> {
    std::fs::create_dir_all(data_dir).map_err(|source| StartError::CreateDir {
        dir: data_dir.to_path_buf(),
        source,
    })?;
    let path = data_dir.join("chain.log");
    let (store, recovered) = match Store::open(&path) {
        Ok(opened) => opened,
        Err(source) => return Err(StartError::OpenStore { path, source }),
    };
    if let Some(reason) = &recovered.cut_reason {
        tracing::warn!(
            bytes = recovered.cut_bytes,
            reason,
            "cut a torn tail off the store"
        );
    }
    let rebuilt = match recover::rebuild(
        recovered.blocks,
        recovered.votes,
        ChainConfig::default(),
        now_ms,
    ) {
        Ok(rebuilt) => rebuilt,
        Err(source) => return Err(StartError::Rebuild { path, source }),
    };
    let chain = rebuilt.map(|(chain, report)| {
        tracing::info!(
            target: votechain_runtime::USER,
            "resumed from disk: height {}, {} blocks, {} votes pending, {} records skipped",
            chain.height(),
            report.blocks,
            report.pending,
            report.skipped
        );
        chain
    });
    if cfg.tracker.is_none() && cfg.seeds.is_empty() && chain.is_none() {
        return Err(StartError::NothingToJoin);
    }
    Ok((
        Node::new(cfg, ChaCha8Rng::seed_from_u64(seed), chain),
        store,
    ))
}
