//! WIP
#![forbid(unsafe_code)]

pub mod code;
pub mod job;
pub mod pool;
pub mod stats;
pub mod vardiff;
pub mod wire;

pub use code::ErrorCode;
pub use job::{Job, JobError, JobKind};
pub use pool::{ConnId, Pool, PoolConfig, PoolOutput, PREFIX_BITS};
pub use stats::{MinerStats, PoolStats, ShareCounts};
pub use vardiff::{Vardiff, VardiffConfig};
