//! [`CourseMessage`] to datagram: compact JSON with the course's keys in the course's order,
//! written by hand so the order is fixed (the examples in PROTOCOL.md, "Profile comp3010", are its output).

use super::CourseMessage;
use crate::block::CourseBlock;
use serde_json::Value;

/// Encodes `message` as one datagram.
pub fn encode(message: &CourseMessage) -> Vec<u8> {
    let mut out = Object::new(message.type_name());
    match message {
        CourseMessage::Gossip {
            host,
            port,
            id,
            name,
        } => {
            out.string("host", host);
            out.raw("port", &port.to_string());
            out.string("id", id);
            out.string("name", name);
        }
        CourseMessage::GossipReply { host, port, name } => {
            out.string("host", host);
            out.raw("port", &port.to_string());
            out.string("name", name);
        }
        CourseMessage::GetBlock { height } => out.raw("height", &height.to_string()),
        CourseMessage::GetBlockReply(Some(block)) | CourseMessage::Announce(block) => {
            out.block(block)
        }
        CourseMessage::GetBlockReply(None) => {
            for key in [
                "height",
                "minedBy",
                "nonce",
                "messages",
                "hash",
                "timestamp",
            ] {
                out.raw(key, "null");
            }
        }
        CourseMessage::StatsReply(Some((height, hash))) => {
            out.raw("height", &height.to_string());
            out.string("hash", &hash.to_hex());
        }
        CourseMessage::StatsReply(None) => {
            out.raw("height", "null");
            out.raw("hash", "null");
        }
        CourseMessage::Stats | CourseMessage::Consensus => {}
        CourseMessage::NewWord { word } => out.string("word", word),
    }
    out.finish()
}

/// A JSON object being written, `type` first.
struct Object(String);

impl Object {
    fn new(type_name: &str) -> Object {
        let mut object = Object(String::from("{"));
        object.key("type");
        object.0.push_str(&quote(type_name));
        object
    }

    fn key(&mut self, key: &str) {
        if self.0.len() > 1 {
            self.0.push(',');
        }
        self.0.push_str(&quote(key));
        self.0.push(':');
    }

    /// A value that is already JSON (a number or `null`).
    fn raw(&mut self, key: &str, json: &str) {
        self.key(key);
        self.0.push_str(json);
    }

    fn string(&mut self, key: &str, value: &str) {
        self.key(key);
        self.0.push_str(&quote(value));
    }

    fn block(&mut self, block: &CourseBlock) {
        self.raw("height", &block.height.to_string());
        self.string("minedBy", &block.mined_by);
        self.string("nonce", &block.nonce);
        self.key("messages");
        self.0.push('[');
        for (i, message) in block.messages.iter().enumerate() {
            if i > 0 {
                self.0.push(',');
            }
            self.0.push_str(&quote(message));
        }
        self.0.push(']');
        self.string("hash", &block.hash.to_hex());
        self.raw("timestamp", &block.timestamp.to_string());
    }

    fn finish(mut self) -> Vec<u8> {
        self.0.push('}');
        self.0.into_bytes()
    }
}

/// `s` as a JSON string, escaped by serde_json.
fn quote(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}
