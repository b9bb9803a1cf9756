//! Datagram to [`W4119Message`]: parse the JSON once (floats kept aside, so one in a key we
//! ignore does no harm), then read each field the message type needs with its own typed error.
//! Depth is bounded by serde_json's recursion limit and size by [`MAX_DATAGRAM`], so no input
//! can panic or exhaust memory.

use super::{
    W4119Message, WireError, MAX_DATAGRAM, MAX_OPTIONS, MAX_OPTION_BYTES, MAX_PEERS,
    MAX_PEER_BYTES, MAX_QUOTED_TYPE_CHARS,
};
use crate::block::W4119Block;
use crate::pyjson::Loose;

/// Decodes one datagram (see [`super`] for what is tolerated).
pub fn decode(datagram: &[u8]) -> Result<W4119Message, WireError> {
    if datagram.len() > MAX_DATAGRAM {
        return Err(WireError::TooLarge {
            len: datagram.len(),
        });
    }
    let value = Loose::parse(datagram)?;
    let Loose::Dict(_) = value else {
        return Err(WireError::NotObject);
    };
    let Some(Loose::Str(kind)) = value.get("type") else {
        return Err(WireError::NoType);
    };
    let fields = Fields(&value);
    Ok(match kind.as_str() {
        "REGISTER_PEER" => W4119Message::RegisterPeer,
        "REGISTER_ACK" => W4119Message::RegisterAck {
            peer_list: fields.strings("peer_list", MAX_PEERS, MAX_PEER_BYTES)?,
        },
        "UPDATE_PEERS" => W4119Message::UpdatePeers {
            peer_list: fields.strings("peer_list", MAX_PEERS, MAX_PEER_BYTES)?,
        },
        "REQUEST_BALLOT" => W4119Message::RequestBallot,
        "BALLOT_OPTIONS" => W4119Message::BallotOptions {
            voting_options: fields.strings("voting_options", MAX_OPTIONS, MAX_OPTION_BYTES)?,
        },
        "NEW_BLOCK" => W4119Message::NewBlock {
            block: fields.block()?,
        },
        "REQUEST_CHAIN" => W4119Message::RequestChain,
        "CHAIN_BLOCK" => W4119Message::ChainBlock {
            index: fields.u64("index")?,
            block: fields.block()?,
            total_blocks: fields.u64("total_blocks")?,
        },
        "POKE" => W4119Message::Poke,
        "POKE-ACK" | "POKE_ACK" => W4119Message::PokeAck,
        "LEAVE_PEER" => W4119Message::LeavePeer,
        other => {
            return Err(WireError::UnknownType(
                other.chars().take(MAX_QUOTED_TYPE_CHARS).collect(),
            ))
        }
    })
}

fn bad(field: &'static str, why: impl Into<String>) -> WireError {
    WireError::BadField {
        field,
        why: why.into(),
    }
}

/// The message's object, read field by field.
struct Fields<'a>(&'a Loose);

impl Fields<'_> {
    fn required(&self, field: &'static str) -> Result<&Loose, WireError> {
        self.0.get(field).ok_or(WireError::MissingField(field))
    }

    /// A list of at most `max_items` strings of at most `max_bytes` bytes each.
    fn strings(
        &self,
        field: &'static str,
        max_items: usize,
        max_bytes: usize,
    ) -> Result<Vec<String>, WireError> {
        let Loose::List(items) = self.required(field)? else {
            return Err(bad(field, "is not a list"));
        };
        if items.len() > max_items {
            return Err(bad(
                field,
                format!(
                    "has {} entries, more than the {max_items} allowed",
                    items.len()
                ),
            ));
        }
        items
            .iter()
            .map(|item| match item {
                Loose::Str(s) if s.len() <= max_bytes => Ok(s.clone()),
                Loose::Str(s) => Err(bad(
                    field,
                    format!(
                        "holds a string of {} bytes, more than the {max_bytes} allowed",
                        s.len()
                    ),
                )),
                _ => Err(bad(field, "holds something other than a string")),
            })
            .collect()
    }

    /// A non-negative integer within 64 bits.
    fn u64(&self, field: &'static str) -> Result<u64, WireError> {
        match self.required(field)? {
            Loose::Int(n) => u64::try_from(*n).ok(),
            _ => None,
        }
        .ok_or_else(|| bad(field, "is not an integer from 0 to 2^64 - 1"))
    }

    /// The `block` object, its fields typed (its checks are the chain's).
    fn block(&self) -> Result<W4119Block, WireError> {
        W4119Block::from_loose(self.required("block")?).map_err(WireError::Block)
    }
}
