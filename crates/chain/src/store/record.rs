//! One record, both ways: a 9-byte header (payload length, CRC-32 of the kind byte and the
//! payload, kind), then the payload, a block or a vote as compact JSON exactly as on the wire or
//! a foreign record's bytes (the table in the [store](super) docs). Writing and reading share
//! these definitions, so the two cannot drift apart.

use super::{Entry, MAX_RECORD_BYTES};
use crate::block::Block;
use crate::vote::Vote;
use std::io;

/// Length, checksum and kind.
pub(super) const RECORD_HEADER_LEN: usize = 9;
const KIND_BLOCK: u8 = 1;
const KIND_VOTE: u8 = 2;
const KIND_RAW: u8 = 3;

/// A record's header as read. Nothing in it is trusted until the payload passes the checksum.
pub(super) struct Header {
    /// Payload length, checked against [`MAX_RECORD_BYTES`] and the file's length by the reader.
    pub(super) len: u32,
    /// CRC-32 of the kind byte followed by the payload.
    pub(super) crc: u32,
    /// Block or vote, or garbage.
    pub(super) kind: u8,
}

impl Header {
    /// Splits the header's bytes into its fields.
    pub(super) fn parse(bytes: &[u8; RECORD_HEADER_LEN]) -> Header {
        Header {
            len: u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
            crc: u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
            kind: bytes[8],
        }
    }
}

/// A record's payload, decoded.
pub(super) enum Record {
    /// A block.
    Block(Block),
    /// A vote.
    Vote(Vote),
    /// A foreign record's bytes.
    Raw(Vec<u8>),
}

/// Appends `entry` to `out` as one record; fails with `InvalidInput` if its payload is over
/// [`MAX_RECORD_BYTES`].
pub(super) fn encode(entry: &Entry<'_>, out: &mut Vec<u8>) -> io::Result<()> {
    let (kind, payload) = match entry {
        Entry::Block(b) => (KIND_BLOCK, serde_json::to_vec(b)?),
        Entry::Vote(v) => (KIND_VOTE, serde_json::to_vec(v)?),
        Entry::Raw(bytes) => (KIND_RAW, bytes.to_vec()),
    };
    let payload_len = u32::try_from(payload.len())
        .ok()
        .filter(|&n| n <= MAX_RECORD_BYTES)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "record too large"))?;
    out.extend_from_slice(&payload_len.to_be_bytes());
    out.extend_from_slice(&checksum(kind, &payload).to_be_bytes());
    out.push(kind);
    out.extend_from_slice(&payload);
    Ok(())
}

/// Decodes the payload of a record of `kind`; the error says why not, for the cut reason.
pub(super) fn decode(kind: u8, payload: &[u8]) -> Result<Record, String> {
    match kind {
        KIND_BLOCK => serde_json::from_slice(payload)
            .map(Record::Block)
            .map_err(|e| format!("undecodable block: {e}")),
        KIND_VOTE => serde_json::from_slice(payload)
            .map(Record::Vote)
            .map_err(|e| format!("undecodable vote: {e}")),
        KIND_RAW => Ok(Record::Raw(payload.to_vec())),
        other => Err(format!("unknown record kind {other}")),
    }
}

/// The checksum a record's header carries: CRC-32 (IEEE) of the kind byte, then the payload.
pub(super) fn checksum(kind: u8, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&[kind]);
    h.update(payload);
    h.finalize()
}
