//! The seam for protocol profiles: what differs between the dialects the node speaks — the wire
//! codec, the chain's block/hash/proof-of-work rules, which handshakes exist, and what may be
//! answered to an address that did not prove itself — behind one small interface chosen once
//! (ARCHITECTURE.md, "Protocol profiles"). [`Native`] is this project's own protocol
//! (PROTOCOL.md). The COMP 3010 course chain (no votes) and the W4119 voting chain (unsigned
//! votes under a hash over Python's `json.dumps`, no block type in common with `ChainState`)
//! have cores of their own built from the same parts ([`crate::course`], [`crate::w4119`]);
//! the tracker core serves W4119 peers through this seam's `Dialect`.

use std::fmt::Debug;
use votechain_chain::validate::{verify_blocks, ValidationError, VerifiedBlock};
use votechain_chain::{Ballot, BallotError, Block, ChainConfig, ChainState};
use votechain_proto::dialect::{self, Dialect};
use votechain_proto::limits::unverified_reply_budget;

/// What batch verification says of one block: verified, or refused with the reason.
pub type BatchVerdict = Result<VerifiedBlock, (Block, ValidationError)>;

/// Which handshakes a profile's peers take part in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handshakes {
    /// Address cookies (envelopes, CHALLENGE/VERIFY): every datagram we send carries our cookie
    /// and echoes the receiver's, and a datagram proves its origin by echoing ours. Without
    /// them nothing proves its origin: no envelope is added, no CHALLENGE sent, and what needs
    /// proof (large replies, strikes, sync targets, membership) is never granted.
    pub address_cookies: bool,
}

/// What differs per protocol profile. Implementations are pure (no IO) and cheap to call: the
/// node consults them per datagram.
pub trait Profile: Debug + Send + Sync {
    /// The wire format.
    fn dialect(&self) -> &dyn Dialect;

    /// Which handshakes exist.
    fn handshakes(&self) -> Handshakes;

    /// Most bytes (envelope included) a reply to an unproven request of `request_len` bytes may
    /// take: anything larger is a CHALLENGE instead, or nothing without address cookies.
    fn unverified_reply_budget(&self, request_len: usize) -> usize;

    /// The chain of the election `ballot`, validating blocks by this profile's rules.
    fn new_chain(&self, ballot: &Ballot) -> Result<ChainState, BallotError>;

    /// Checks a batch of sync blocks' proof of work and signatures together, in order; what
    /// passes can be added to the chain without checking them again.
    fn verify_blocks(&self, blocks: Vec<Block>, difficulty: u32) -> Vec<BatchVerdict>;
}

/// This project's own protocol: the JSON dialect of PROTOCOL.md with address cookies, the 3×
/// anti-amplification budget, and the chain rules of `votechain-chain`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Native;

impl Profile for Native {
    fn dialect(&self) -> &dyn Dialect {
        &dialect::Native
    }

    fn handshakes(&self) -> Handshakes {
        Handshakes {
            address_cookies: true,
        }
    }

    fn unverified_reply_budget(&self, request_len: usize) -> usize {
        unverified_reply_budget(request_len)
    }

    fn new_chain(&self, ballot: &Ballot) -> Result<ChainState, BallotError> {
        ChainState::new(ballot, ChainConfig::default())
    }

    fn verify_blocks(&self, blocks: Vec<Block>, difficulty: u32) -> Vec<BatchVerdict> {
        verify_blocks(blocks, difficulty)
    }
}
