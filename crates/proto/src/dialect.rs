//! Dialects: how the messages of [`crate::Message`] look on the wire. Each protocol profile (the
//! native protocol, and [`W4119`] for the W4119 voting chain's tracker conversation) has
//! its own wire format for the same conversation, so both cores decode and encode through a
//! [`Dialect`] chosen once at start instead of calling the native codec directly. A dialect
//! maps its datagrams onto the core's message vocabulary; it never decides what a node does.
//! The COMP 3010 course's datagrams, which share no message with these, have their own codec
//! (`votechain-course`'s `wire`).

use crate::codec::{decode_envelope, encode, with_envelope, DecodeError, EncodeError, Message};
use crate::envelope::Envelope;
pub use crate::w4119::W4119;

/// One wire format. Implementations must never panic on any input: a datagram is hostile until
/// proven otherwise.
pub trait Dialect: std::fmt::Debug + Send + Sync {
    /// The profile's name, as on the command line (`--profile`).
    fn name(&self) -> &'static str;

    /// Whether datagrams carry address cookies (PROTOCOL.md, "Address cookies"). Without them
    /// nothing a datagram says proves its source address, and the cores grant only what their
    /// rules for unproven addresses allow (SECURITY.md).
    fn address_cookies(&self) -> bool {
        true
    }

    /// A datagram as a message, with the address cookies it carried (an empty [`Envelope`] in
    /// a dialect without them).
    fn decode(&self, datagram: &[u8]) -> Result<(Message, Envelope), DecodeError>;

    /// A message's body, without envelope: encoded once and sealed per receiver, so a relay to
    /// many peers costs one encoding.
    fn encode(&self, message: &Message) -> Result<Vec<u8>, EncodeError>;

    /// The datagram for one receiver: `body` (from [`Dialect::encode`]) with `envelope`.
    fn seal(&self, body: &[u8], envelope: &Envelope) -> Vec<u8>;
}

/// The native protocol (PROTOCOL.md): one JSON object per datagram, the message's fields plus
/// the optional envelope keys `cookie` and `echo`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Native;

impl Dialect for Native {
    fn name(&self) -> &'static str {
        "native"
    }

    fn decode(&self, datagram: &[u8]) -> Result<(Message, Envelope), DecodeError> {
        decode_envelope(datagram)
    }

    fn encode(&self, message: &Message) -> Result<Vec<u8>, EncodeError> {
        encode(message)
    }

    fn seal(&self, body: &[u8], envelope: &Envelope) -> Vec<u8> {
        with_envelope(body, envelope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::Cookie;
    use crate::message::Stats;

    #[test]
    fn native_is_the_codec_of_protocol_md() {
        let native: &dyn Dialect = &Native;
        let envelope = Envelope {
            cookie: Some(Cookie([1; 16])),
            echo: Some(Cookie([2; 16])),
        };
        let body = native.encode(&Stats {}.into()).unwrap();
        assert_eq!(body, encode(&Stats {}.into()).unwrap());
        let datagram = native.seal(&body, &envelope);
        assert_eq!(datagram, with_envelope(&body, &envelope));
        let (message, back) = native.decode(&datagram).unwrap();
        assert_eq!((message, back), (Stats {}.into(), envelope));
        assert!(native.decode(b"{\"type\":\"NOPE\"}").is_err());
    }
}
