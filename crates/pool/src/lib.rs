//! The sans-IO core of votechain's mining port (issue 15): Stratum v1-shaped JSON-RPC lines.
//! WIP
#![forbid(unsafe_code)]

pub mod code;
pub mod job;
pub mod wire;

pub use code::ErrorCode;
pub use job::{Job, JobError, JobKind};
