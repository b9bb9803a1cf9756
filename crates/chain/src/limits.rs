//! Every size bound of the chain in one place. They are chosen so that any valid block, the
//! genesis block with the largest ballot included, encodes as JSON into one UDP datagram
//! (65,507 bytes) with room for the message envelope; `block::tests` checks that claim.

/// Longest ballot title, in UTF-8 bytes.
pub const MAX_TITLE_BYTES: usize = 128;
/// Most options on a ballot.
pub const MAX_OPTIONS: usize = 32;
/// Longest option (and so vote choice), in UTF-8 bytes.
pub const MAX_OPTION_BYTES: usize = 64;
/// Largest voter roll.
pub const MAX_VOTERS: usize = 768;
/// Highest difficulty, in leading zero bits, a ballot may ask for.
pub const MAX_DIFFICULTY: u32 = 64;
/// Most votes in one block.
pub const MAX_VOTES_PER_BLOCK: usize = 128;
/// Longest miner name, in UTF-8 bytes.
pub const MAX_MINER_NAME_BYTES: usize = 32;
/// How far ahead of the validator's clock a block's timestamp may be, in milliseconds.
pub const MAX_FUTURE_DRIFT_MS: u64 = 2 * 60 * 60 * 1000;

/// Most bytes of blocks off the best chain a chain state keeps by default (32 MiB), as
/// [`crate::state::side_block_bytes`] estimates them; past it the side tips with the least work
/// are evicted. A count cap alone let 1,500 cheap blocks off an old ancestor, reusing the same
/// votes, add 57 MB on every peer; 32 MiB still holds a competing branch of several hundred full
/// blocks, more than any honest fork between peers that can talk.
pub const MAX_SIDE_BYTES: usize = 32 << 20;
/// How many blocks' work below the best tip a block may be and still be relayed
/// ([`crate::ChainState::within_relay_distance`]): 2 covers a competing tip and its parent, which
/// peers need to resolve a tie, and nothing older.
pub const RELAY_DISTANCE_BLOCKS: u64 = 2;

/// True when `s` has no control characters, so its JSON form is at most twice its length and it
/// prints sanely in a terminal.
pub fn is_printable(s: &str) -> bool {
    !s.chars().any(char::is_control)
}
