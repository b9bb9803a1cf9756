//! Size limits of the wire protocol, in one place so PROTOCOL.md, the codec and the tests agree.

/// The largest UDP payload over IPv4: 65,535 − 8 (UDP header) − 20 (IP header).
pub const MAX_DATAGRAM: usize = 65_507;
/// The largest datagram of any message that does not carry a block or a ballot.
pub const MAX_SMALL: usize = 1_200;
/// Deepest nesting of JSON arrays and objects accepted (a block inside a message is 4 deep).
pub const MAX_DEPTH: usize = 8;
/// Longest node name (GOSSIP `name`, REGISTER_PEER `name`), in bytes.
pub const MAX_NAME: usize = 64;
/// Longest host string in GOSSIP (a DNS name is at most 253 bytes).
pub const MAX_HOST: usize = 253;
/// Longest GOSSIP id (a UUID is 36 characters).
pub const MAX_GOSSIP_ID: usize = 64;
/// Longest rejection reason in a RECEIPT.
pub const MAX_REASON: usize = 200;
/// Most sibling hashes in a receipt's Merkle proof (enough for any block).
pub const MAX_PROOF: usize = 8;
/// Most blocks one REQUEST_CHAIN may ask for.
pub const MAX_CHAIN_BATCH: u32 = 64;
/// Length of an address-verification token in hex characters (16 bytes).
pub const TOKEN_HEX_LEN: usize = 32;
/// Bytes the envelope (`"cookie"` and `"echo"`, 86 bytes with both) may add to a message: the
/// encoder keeps every message this far below its size limit, so any envelope fits.
pub const ENVELOPE_RESERVE: usize = 96;
/// A reply to an unverified address is at most this many times the request's size…
pub const AMPLIFICATION_FACTOR: usize = 3;
/// …or this many bytes, whichever is larger.
pub const AMPLIFICATION_FLOOR: usize = 256;

/// The largest reply an address that has not proved it receives our datagrams may get in answer
/// to a request of `request_len` bytes (PROTOCOL.md, "Anti-amplification").
pub fn unverified_reply_budget(request_len: usize) -> usize {
    (AMPLIFICATION_FACTOR * request_len).max(AMPLIFICATION_FLOOR)
}
