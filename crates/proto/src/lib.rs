//! The votechain wire protocol: every message as a typed value, and the codec that turns
//! datagrams into messages and back.
//!
//! - [`message`]: one struct per message type, with its bounds.
//! - [`codec`]: [`decode`] (strict, typed errors, never panics) and [`encode`] (never over the
//!   size limit).
//! - [`limits`]: the protocol's size limits and the anti-amplification budget.
//! - [`ratelimit`]: per-source token buckets in a capped table.
//! - [`verify`]: address cookies (stateless, keyed by address and time) and the envelope that
//!   carries them.
//!
//! PROTOCOL.md at the repository root documents every message with an example datagram.
//!
//! Architecture invariant: this crate does no IO. It knows the shape of messages, not what a
//! node does with them.

pub mod codec;
pub mod limits;
pub mod message;
pub mod ratelimit;
pub mod verify;

pub use codec::{
    decode, decode_envelope, encode, encode_with, with_envelope, DecodeError, EncodeError, Message,
    SizeClass, MESSAGE_TYPES,
};
pub use message::*;
pub use verify::{Cookie, Envelope, TokenMinter};
