//! The crash-safe store: one append-only file holding every block and vote a peer has accepted,
//! so it restarts with its chain and pending votes. This is the only module of the crate that
//! touches files.
//!
//! The file is an 8-byte magic, [`STORE_MAGIC`], then records:
//!
//! | size | field |
//! |---|---|
//! | 4 | payload length, big-endian u32, at most [`MAX_RECORD_BYTES`] |
//! | 4 | CRC-32 (IEEE) of the kind byte followed by the payload, big-endian |
//! | 1 | kind: 1 block, 2 vote, 3 foreign |
//! | n | payload: the block or vote as compact JSON, exactly as on the wire; foreign: any bytes |
//!
//! Foreign records ([`Entry::Raw`], [`Recovered::raw`]) let another chain format reuse this
//! framing, checksum, group commit, tail cut and lock without a copy of them: the COMP 3010
//! course chain (`votechain-course`) stores its blocks this way. The store checks only their
//! framing and checksum; their meaning is the caller's.
//!
//! Each append is one `write` of the whole record (or batch of records, [`Store::append_all`])
//! followed by `sync_data`, with no buffering, so once an append returns `Ok` its records survive
//! a `kill -9` or a power cut. A crash in the middle of an append leaves at most one torn record
//! at the end; [`Store::open`]
//! scans the file, stops at the first record that is torn or fails its checksum, cuts the file
//! there and reports what it cut. Anything after a corrupt record is cut with it: records are only
//! trusted in an unbroken run from the start, and the network can supply the lost blocks again.
//!
//! One process at a time: two processes appending to one store interleave and cut each other's
//! records, silently losing acknowledged votes. [`Store::open`] takes an exclusive OS advisory
//! lock (`flock`) on the file, held as long as the [`Store`] lives (the lock goes with the open
//! file, so it also ends if the process dies), and a second open fails with [`StoreLocked`]. The
//! file is opened in append mode (`O_APPEND`) so that no write can land anywhere but the end.
//!
//! This file holds the format's constants and the [`Store`] handle. Submodules, by concept:
//! `record.rs` encodes and decodes one record (header, checksum, payload); `lock.rs` takes the
//! `flock`; `recover.rs` opens a store, scanning and cutting its tail; `append.rs` writes records
//! with one `write` and one `sync_data` per batch (group commit).

use std::fs::File;

mod append;
mod lock;
mod record;
mod recover;
#[cfg(test)]
mod tests;

pub use append::Entry;
pub use lock::StoreLocked;
pub use recover::Recovered;

/// First bytes of every store file. It makes opening the wrong file an error instead of a cut.
pub const STORE_MAGIC: [u8; 8] = *b"VCSTORE1";
/// Largest payload a record may declare. Real records are below one datagram (64 KiB); a larger
/// length can only be corruption, and is treated as such before anything is allocated for it.
pub const MAX_RECORD_BYTES: u32 = 1 << 20;

/// An open store, positioned to append.
#[derive(Debug)]
pub struct Store {
    file: File,
    /// Bytes of intact records (and magic) in the file: where the next record goes, and where a
    /// failed append is cut back to.
    len: u64,
    /// Set when an append failed in a way that leaves the file's contents unknown (a failed
    /// `sync_data` or a failed rollback). Later appends are refused rather than written after
    /// a record that reopening would cut, taking them with it.
    broken: bool,
}

impl Store {
    /// Bytes of intact data in the file, magic included.
    pub fn len_bytes(&self) -> u64 {
        self.len
    }
}
