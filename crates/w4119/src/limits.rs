//! W4119's numbers, and our limits where W4119 sets none. A block outside the limits is refused
//! by [`W4119Block::check_limits`](crate::block::W4119Block::check_limits) whatever its proof of
//! work; the limits keep every block we accept small enough to send as one CHAIN_BLOCK datagram.

/// Leading `'0'` hex characters a W4119 block's hash needs on the running network ("00").
pub const DEFAULT_DIFFICULTY: u32 = 2;
/// Highest difficulty that means anything: a digest has 64 hex characters.
pub const MAX_DIFFICULTY: u32 = 64;
/// Largest UDP payload over IPv4; a longer datagram is refused before parsing.
pub const MAX_DATAGRAM: usize = 65_507;
/// Bytes a CHAIN_BLOCK datagram adds around its block, at most (two 20-digit numbers, the keys
/// and the separators come to 103; the rest is margin).
pub const CHAIN_BLOCK_OVERHEAD: usize = 128;
/// Longest block in its wire form (`json.dumps(block)`), so that it fits one CHAIN_BLOCK datagram.
pub const MAX_BLOCK_JSON_BYTES: usize = MAX_DATAGRAM - CHAIN_BLOCK_OVERHEAD;
/// Most transactions in one block. The W4119 peer mines one vote per block; a block may carry
/// more, and the JSON size bounds them anyway, this bounds the work of a tally.
pub const MAX_TRANSACTIONS: usize = 1024;
/// Longest string anywhere in a block (a key, a voter, a timestamp, a claimed hash), in UTF-8
/// bytes. A voter id or a candidate is a short name; a hash is 64 characters.
pub const MAX_STRING_BYTES: usize = 256;
/// Deepest nesting of a transaction: 1 for a dict of scalars. Python peers put strings in
/// transactions; we keep extra nested keys up to this depth and refuse deeper ones.
pub const MAX_TRANSACTION_DEPTH: usize = 8;
