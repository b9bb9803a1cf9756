//! The envelope of address cookies every datagram carries beside its message (PROTOCOL.md,
//! "Anti-amplification and address cookies"): the wire form of a [`Cookie`] and the two optional
//! envelope keys. What a node does with them — minting, checking, deciding what a proven
//! datagram earns — is not this crate's business: see `votechain_sansio::cookies`.

use crate::limits::TOKEN_HEX_LEN;

/// One address cookie: 16 bytes, written as 32 lowercase hex characters on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cookie(pub [u8; 16]);

impl Cookie {
    /// Parses 32 hex characters (either case); `None` for anything else.
    pub fn parse(hex_text: &str) -> Option<Cookie> {
        if hex_text.len() != TOKEN_HEX_LEN {
            return None;
        }
        let mut bytes = [0u8; 16];
        hex::decode_to_slice(hex_text, &mut bytes).ok()?;
        Some(Cookie(bytes))
    }

    /// The wire form: 32 lowercase hex characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl std::fmt::Display for Cookie {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Envelope {
    /// The envelope of a request answering a CHALLENGE: it echoes the CHALLENGE's token (the
    /// challenger's cookie for us). A token of the wrong shape gives an empty envelope.
    pub fn echoing(token: &str) -> Envelope {
        Envelope {
            cookie: None,
            echo: Cookie::parse(token),
        }
    }
}

/// The address cookies a datagram carries beside its message (PROTOCOL.md, "Address
/// cookies"): top-level keys of the JSON object, ignored by decoders that do not know them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Envelope {
    /// The sender's cookie for the receiver's address. The receiver echoes it in its answers
    /// and later datagrams, which proves to the sender where they come from.
    pub cookie: Option<Cookie>,
    /// The receiver's cookie for the sender's address, as the sender last received it: proof
    /// that the sender receives datagrams at the address it sends from.
    pub echo: Option<Cookie>,
}
