//! Datagram to [`CourseMessage`]: parse the JSON once, then read each field the message type
//! needs with its own typed error. Depth is bounded by serde_json's recursion limit and size by
//! [`MAX_DATAGRAM`], so no input can panic or exhaust memory.

use super::{
    CourseMessage, WireError, MAX_DATAGRAM, MAX_HOST_CHARS, MAX_ID_CHARS, MAX_NAME_CHARS,
    MAX_QUOTED_TYPE_CHARS, MAX_WORD_CHARS,
};
use crate::block::CourseBlock;
use serde_json::{Map, Value};
use votechain_chain::Hash;

/// Decodes one datagram (module docs of [`super`] for what is tolerated).
pub fn decode(datagram: &[u8]) -> Result<CourseMessage, WireError> {
    if datagram.len() > MAX_DATAGRAM {
        return Err(WireError::TooLarge {
            len: datagram.len(),
        });
    }
    let value: Value =
        serde_json::from_slice(datagram).map_err(|e| WireError::NotJson(e.to_string()))?;
    let Value::Object(object) = value else {
        return Err(WireError::NotObject);
    };
    let fields = Fields(&object);
    let Some(Value::String(kind)) = object.get("type") else {
        return Err(WireError::NoType);
    };
    Ok(match kind.as_str() {
        "GOSSIP" => CourseMessage::Gossip {
            host: fields.host()?,
            port: fields.port()?,
            id: fields.string("id", MAX_ID_CHARS)?,
            name: fields.string("name", MAX_NAME_CHARS)?,
        },
        "GOSSIP_REPLY" => CourseMessage::GossipReply {
            host: fields.host()?,
            port: fields.port()?,
            name: fields.string("name", MAX_NAME_CHARS)?,
        },
        "GET_BLOCK" => CourseMessage::GetBlock {
            height: fields.u64("height")?,
        },
        "GET_BLOCK_REPLY" => {
            let all_null = ["height", "minedBy", "nonce", "messages"]
                .iter()
                .all(|key| fields.is_null(key));
            if all_null {
                CourseMessage::GetBlockReply(None)
            } else {
                CourseMessage::GetBlockReply(Some(fields.block()?))
            }
        }
        "ANNOUNCE" => CourseMessage::Announce(fields.block()?),
        "STATS" => CourseMessage::Stats,
        "STATS_REPLY" => {
            if fields.is_null("height") && fields.is_null("hash") {
                CourseMessage::StatsReply(None)
            } else {
                let height = fields.u64("height")?;
                if height == 0 {
                    return Err(bad("height", "is 0 with a hash; an empty chain sends null"));
                }
                CourseMessage::StatsReply(Some((height, fields.hash()?)))
            }
        }
        "CONSENSUS" => CourseMessage::Consensus,
        "NEW_WORD" => CourseMessage::NewWord {
            word: fields.string("word", MAX_WORD_CHARS)?,
        },
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
struct Fields<'a>(&'a Map<String, Value>);

impl Fields<'_> {
    /// The field's value; absent and `null` are both missing.
    fn required(&self, field: &'static str) -> Result<&Value, WireError> {
        match self.0.get(field) {
            None | Some(Value::Null) => Err(WireError::MissingField(field)),
            Some(value) => Ok(value),
        }
    }

    fn is_null(&self, field: &str) -> bool {
        matches!(self.0.get(field), None | Some(Value::Null))
    }

    /// A string of at most `max_chars` characters.
    fn string(&self, field: &'static str, max_chars: usize) -> Result<String, WireError> {
        let Value::String(s) = self.required(field)? else {
            return Err(bad(field, "is not a string"));
        };
        let chars = s.chars().count();
        if chars > max_chars {
            return Err(bad(
                field,
                format!("has {chars} characters, more than the {max_chars} allowed"),
            ));
        }
        Ok(s.clone())
    }

    /// A non-negative integer.
    fn u64(&self, field: &'static str) -> Result<u64, WireError> {
        self.required(field)?
            .as_u64()
            .ok_or_else(|| bad(field, "is not a non-negative integer"))
    }

    fn host(&self) -> Result<String, WireError> {
        let host = self.string("host", MAX_HOST_CHARS)?;
        if host.is_empty() {
            return Err(bad("host", "is empty"));
        }
        Ok(host)
    }

    fn port(&self) -> Result<u16, WireError> {
        self.required("port")?
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .filter(|&p| p != 0)
            .ok_or_else(|| bad("port", "is not a port number from 1 to 65535"))
    }

    fn hash(&self) -> Result<Hash, WireError> {
        let Value::String(s) = self.required("hash")? else {
            return Err(bad("hash", "is not a string"));
        };
        Hash::from_hex(s).map_err(|e| bad("hash", format!("is not a hash: {e}")))
    }

    /// A nonce: a string, or an integer taken as its decimal form.
    fn nonce(&self) -> Result<String, WireError> {
        match self.required("nonce")? {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) if n.is_u64() || n.is_i64() => Ok(n.to_string()),
            _ => Err(bad("nonce", "is neither a string nor an integer")),
        }
    }

    /// Unix seconds: an integer, or a float with no fractional part (2^53 at most).
    fn timestamp(&self) -> Result<u64, WireError> {
        let value = self.required("timestamp")?;
        if let Some(t) = value.as_u64() {
            return Ok(t);
        }
        match value.as_f64() {
            Some(f) if f >= 0.0 && f.fract() == 0.0 && f <= 9_007_199_254_740_992.0 => Ok(f as u64),
            _ => Err(bad("timestamp", "is not a whole number of seconds")),
        }
    }

    fn messages(&self) -> Result<Vec<String>, WireError> {
        let Value::Array(items) = self.required("messages")? else {
            return Err(bad("messages", "is not an array"));
        };
        items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.clone()),
                _ => Err(bad("messages", "holds something other than a string")),
            })
            .collect()
    }

    /// A block's fields at the top level. The limits are checked later, by the chain.
    fn block(&self) -> Result<CourseBlock, WireError> {
        Ok(CourseBlock {
            height: self.u64("height")?,
            mined_by: self.string("minedBy", usize::MAX)?,
            messages: self.messages()?,
            nonce: self.nonce()?,
            timestamp: self.timestamp()?,
            hash: self.hash()?,
        })
    }
}
