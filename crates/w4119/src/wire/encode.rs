//! [`W4119Message`] to datagram: a [`PyDict`] with `type` first and the fields in the Python
//! peer's order, written by [`python_dumps`], so the bytes are the ones `json.dumps` sends.

use super::W4119Message;
use crate::pyjson::{python_dumps, PyDict, PyValue};

/// Encodes `message` as one datagram.
pub fn encode(message: &W4119Message) -> Vec<u8> {
    let mut dict = PyDict::new();
    dict.insert("type", message.type_name().into());
    let strings =
        |items: &[String]| PyValue::List(items.iter().map(|s| PyValue::from(s.as_str())).collect());
    match message {
        W4119Message::RegisterAck { peer_list } | W4119Message::UpdatePeers { peer_list } => {
            dict.insert("peer_list", strings(peer_list));
        }
        W4119Message::BallotOptions { voting_options } => {
            dict.insert("voting_options", strings(voting_options));
        }
        W4119Message::NewBlock { block } => dict.insert("block", block.to_json()),
        W4119Message::ChainBlock {
            index,
            block,
            total_blocks,
        } => {
            dict.insert("index", (*index).into());
            dict.insert("block", block.to_json());
            dict.insert("total_blocks", (*total_blocks).into());
        }
        W4119Message::RegisterPeer
        | W4119Message::RequestBallot
        | W4119Message::RequestChain
        | W4119Message::Poke
        | W4119Message::PokeAck
        | W4119Message::LeavePeer => {}
    }
    python_dumps(&PyValue::Dict(dict), false).into_bytes()
}
