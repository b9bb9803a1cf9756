//! Opening a W4119 peer: its store in the data directory (the chain it had, validated block by
//! block on the way in) and the node on top of it.

use super::node::{W4119Config, W4119Node};
use crate::course::start::ProfileStartError as StartError;
use std::path::Path;
use votechain_w4119::W4119Store;

/// The chain's file in the data directory.
pub const STORE_FILE: &str = "w4119-chain.store";

/// Opens the store under `data_dir` and builds the node on the chain it holds.
pub fn open_w4119_node(
    config: W4119Config,
    data_dir: &Path,
) -> Result<(W4119Node, W4119Store), StartError> {
    std::fs::create_dir_all(data_dir).map_err(|source| StartError::DataDir {
        path: data_dir.display().to_string(),
        source,
    })?;
    let path = data_dir.join(STORE_FILE);
    let (store, chain, cut) =
        W4119Store::open(&path, config.difficulty).map_err(|source| StartError::Store {
            path: path.display().to_string(),
            source,
        })?;
    if let Some(cut) = cut {
        tracing::warn!("{cut}");
    }
    if chain.len() > 1 {
        tracing::info!(
            target: votechain_runtime::USER,
            "resumed a chain of {} blocks from {}",
            chain.len(),
            path.display()
        );
    }
    let node = W4119Node::new(config, chain, store.own_votes());
    Ok((node, store))
}
