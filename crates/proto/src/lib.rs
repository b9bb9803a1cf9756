//! The votechain wire protocol: every message as a typed value, and the codec that turns
//! datagrams into messages and back.
//!
//! - [`message`]: one struct per message type, with its bounds.
//! - [`codec`]: [`decode`] (strict, typed errors, never panics) and [`encode`] (never over the
//!   size limit).
//! - [`dialect`]: the wire format as a [`Dialect`] chosen once per run, so the cores are not
//!   tied to the native codec (the seam for protocol profiles: [`dialect::Native`] and
//!   [`dialect::W4119`]).
//! - [`w4119`]: the W4119 tracker conversation's wire format.
//! - [`limits`]: the protocol's size limits and the anti-amplification budget.
//! - [`envelope`]: the address cookies every datagram carries beside its message (their
//!   minting and checking live with the cores, in `votechain-sansio`).
//!
//! PROTOCOL.md at the repository root documents every message with an example datagram.
//!
//! Architecture invariant: this crate does no IO. It knows the shape of messages, not what a
//! node does with them.

pub mod codec;
pub mod dialect;
pub mod envelope;
pub mod limits;
pub mod message;
pub mod w4119;

pub use codec::{
    decode, decode_envelope, encode, encode_with, parse_object, with_envelope, DecodeError,
    EncodeError, Message, SizeClass, MESSAGE_TYPES,
};
pub use dialect::Dialect;
pub use envelope::{Cookie, Envelope};
pub use message::*;
