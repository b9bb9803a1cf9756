//! The sans-IO core of votechain's mining port (issue 15): external miners speak newline-
//! delimited JSON-RPC in the Stratum v1 shape to a peer, which hands them jobs and checks their
//! shares. This crate is the protocol only: no sockets, no threads, no clock. Time comes in as
//! `now_ms` arguments and effects go out as [`PoolOutput`] values; the TCP server, the `miner`
//! binary and the peer wiring are shells around [`Pool`].
//!
//! - [`wire`]: the lines, decode ([`wire::decode_request`], [`wire::decode_server_line`]) and
//!   encode.
//! - [`code`]: the error codes ([`ErrorCode`]).
//! - [`job`]: a job independent of the chain type, for both hash rules ([`Job`], [`JobKind`]).
//! - [`pool`]: the state machine ([`Pool`]): sessions, jobs, share checks.
//! - [`prefix`]: the per-session nonce prefixes ([`PrefixTable`]).
//! - [`vardiff`]: per-session share targets.
//! - [`stats`]: the counters.
//!
//! # The protocol
//!
//! **Framing.** One JSON object per line, UTF-8, terminated by `\n`; a line longer than 4096
//! bytes (newline excluded) is refused. Every request gets exactly one response.
//!
//! **Requests** (miner to pool), each `{"id": N, "method": M, "params": [...]}` with `N` an
//! unsigned integer:
//!
//! - `mining.subscribe`, params `[agent?]`. Result `[session_id, prefix, prefix_bits]`:
//!   the session id and the nonce prefix as lowercase hex strings, and `prefix_bits` (16). Every
//!   nonce the session submits must carry `prefix` in its top `prefix_bits` bits of the job
//!   kind's nonce space (below). No two live sessions hold the same prefix, so no two miners
//!   search the same nonces.
//! - `mining.authorize`, params `[name, token?]`, after subscribe. With a pool token, `token`
//!   must equal it. Result `true`, followed by a `mining.set_target` and, when there is a job,
//!   a `mining.notify` with `clean: true`.
//! - `mining.submit`, params `[worker, job_id, nonce_hex]`: `nonce_hex` is 1 to 16 hex digits
//!   (the pool sends and expects 16). Result `true` for an accepted share.
//!
//! **Notifications** (pool to miner), `{"id": null, "method": M, "params": [...]}`:
//!
//! - `mining.set_target`, params `[share_bits]`: the session's share target from now on.
//! - `mining.notify`, params `[job_id, kind, midstate_hex, tail_hex, nonce_at, block_bits,
//!   height, clean]`. `kind` is `"native"` or `"comp3010"`; `midstate_hex` is the SHA-256
//!   state (eight words, big-endian, 64 hex digits) after every block before the last;
//!   `tail_hex` the last 64-byte block with its padding (128 hex digits); `nonce_at` where the
//!   nonce is written in the tail; `block_bits` the block target. With `clean: true` every
//!   older job is stale: drop it at once.
//!
//! **Hashing.** For a nonce `n`, write it into a copy of the tail at `nonce_at` and compress
//! that block once from the midstate; the eight state words, big-endian, are the hash.
//!
//! | kind | nonce space | nonce in the tail | a target of `b` bits is met when |
//! |---|---|---|---|
//! | `native` | 64 bits | 8 bytes big-endian | the hash has `b` leading zero bits |
//! | `comp3010` | 49 bits | 15 ASCII digits of `100000000000000 + n` | the hash has `b` trailing zero bits |
//!
//! A nonce of kind `k` with prefix `p` is `p << (nonce_bits(k) - 16) | counter`, the counter
//! below `2^(nonce_bits(k) - 16)`. A miner submits every nonce whose hash meets
//! `min(share_bits, block_bits)`. Targets are zero-bit counts, so a share at `b` bits is worth
//! `2^b` expected hashes; the native difficulty is already leading zero bits and a course
//! difficulty of `d` hex digits is `4 d` trailing bits.
//!
//! **Responses**: `{"id": N, "result": R, "error": null}`, or `{"id": N, "result": null,
//! "error": [code, "sentence"]}` (`id` is null when the line had no readable id). Codes:
//! 20 other (malformed line, bad params, unknown method, no free prefix), 21 stale or unknown
//! job, 22 duplicate share, 23 low difficulty, 24 unauthorized, 25 not subscribed, 26 wrong
//! nonce prefix, 27 too many submits.
//!
//! **Share checks**, in this order, the first failure answering: the connection's submit rate
//! (27); subscribed (25); authorized (24); job known and not stale (21); nonce in the kind's
//! space and carrying the session's prefix (26); not submitted before for this job (22, the
//! pool remembers a bounded number per job); hash meets `min(share_bits, block_bits)` (23).
//! An accepted share is counted; when it also meets `block_bits`, the pool emits
//! [`PoolOutput::Found`] so the peer builds, validates and announces the block and publishes a
//! clean job.
//!
//! **Share targets** move per session toward a goal rate of accepted shares (a few a second),
//! by whole bits, at most four per window, within configured bounds ([`vardiff`]).

#![forbid(unsafe_code)]

pub mod code;
pub mod job;
pub mod pool;
pub mod prefix;
pub mod stats;
pub mod vardiff;
pub mod wire;

pub use code::ErrorCode;
pub use job::{Job, JobError, JobKind};
pub use pool::{ConnId, Pool, PoolConfig, PoolOutput};
pub use prefix::{PrefixTable, PREFIX_BITS};
pub use stats::{MinerStats, PoolStats, ShareCounts};
pub use vardiff::{Vardiff, VardiffConfig};
