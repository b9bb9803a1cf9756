//! Opening a course peer: its store in the data directory (the chain it had, validated block by
//! block on the way in) and the node on top of it.

use super::node::{CourseConfig, CourseNode};
use std::path::Path;
use votechain_course::store::CourseStore;

/// The chain's file in the data directory.
pub const STORE_FILE: &str = "course-chain.store";

/// Why a peer of a compatibility profile (comp3010, w4119) could not start.
#[derive(Debug, thiserror::Error)]
pub enum ProfileStartError {
    /// The data directory could not be made.
    #[error("cannot create the data directory {path}")]
    DataDir {
        /// The directory.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The store could not be opened (another peer uses it, or it is unreadable).
    #[error("cannot open the chain store {path}")]
    Store {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Opens the store under `data_dir` and builds the node on the chain it holds.
pub fn open_course_node(
    config: CourseConfig,
    data_dir: &Path,
) -> Result<(CourseNode, CourseStore), ProfileStartError> {
    std::fs::create_dir_all(data_dir).map_err(|source| ProfileStartError::DataDir {
        path: data_dir.display().to_string(),
        source,
    })?;
    let path = data_dir.join(STORE_FILE);
    let (store, chain, cut) =
        CourseStore::open(&path, config.difficulty).map_err(|source| ProfileStartError::Store {
            path: path.display().to_string(),
            source,
        })?;
    if let Some(cut) = cut {
        tracing::warn!("{cut}");
    }
    if !chain.is_empty() {
        tracing::info!(
            target: votechain_runtime::USER,
            "resumed a chain of {} blocks from {}",
            chain.len(),
            path.display()
        );
    }
    Ok((CourseNode::new(config, chain), store))
}
