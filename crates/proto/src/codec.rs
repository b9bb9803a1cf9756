//! Strict decoding and bounded encoding of datagrams.
//!
//! [`decode`] goes from bytes to a [`Message`] in stages that each fail with their own
//! [`DecodeError`]: size, UTF-8, nesting depth (scanned before any parsing, so hostile nesting
//! costs one pass over at most 65,507 bytes), JSON syntax, object shape, `"type"`, the message's
//! size class, its fields, and its bounds. Every stage is bounded by the datagram's length, so no
//! input can make it panic or allocate more than a small multiple of that length.
//! [`encode`] refuses to produce a datagram over its message's limit, keeping room for the
//! [`Envelope`] of address cookies that [`with_envelope`] adds.

use crate::envelope::{Cookie, Envelope};
use crate::limits::{ENVELOPE_RESERVE, MAX_DATAGRAM, MAX_DEPTH, MAX_SMALL, TOKEN_HEX_LEN};
use crate::message::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// Whether a message may carry a block or a ballot, which decides its size limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeClass {
    /// At most [`MAX_SMALL`] bytes.
    Small,
    /// At most [`MAX_DATAGRAM`] bytes: messages carrying a block or a ballot.
    Large,
}

impl SizeClass {
    /// The byte limit of the class.
    pub fn limit(self) -> usize {
        match self {
            SizeClass::Small => MAX_SMALL,
            SizeClass::Large => MAX_DATAGRAM,
        }
    }
}

/// Lists every message once: variant (= struct name), wire type, accepted aliases, size class.
macro_rules! messages {
    ($( $(#[$doc:meta])* $variant:ident = $wire:literal $(| $alias:literal)*, $class:ident; )*) => {
        /// One protocol message.
        #[derive(Debug, Clone, PartialEq, Eq, Serialize)]
        #[serde(tag = "type")]
        pub enum Message {
            $( $(#[$doc])* #[serde(rename = $wire)] $variant($variant), )*
        }

        /// Every wire type name, in protocol order.
        pub const MESSAGE_TYPES: &[&str] = &[$($wire),*];

        impl Message {
            /// The wire `"type"` of this message.
            pub fn type_name(&self) -> &'static str {
                match self { $( Message::$variant(_) => $wire, )* }
            }

            /// The size class of this message.
            pub fn size_class(&self) -> SizeClass {
                match self { $( Message::$variant(_) => SizeClass::$class, )* }
            }

            fn check_bounds(&self) -> Result<(), BoundError> {
                match self { $( Message::$variant(m) => m.check(), )* }
            }
        }

        /// The canonical wire type and size class for a `"type"` value, aliases included.
        fn lookup(ty: &str) -> Option<(&'static str, SizeClass)> {
            match ty {
                $( $wire $(| $alias)* => Some(($wire, SizeClass::$class)), )*
                _ => None,
            }
        }

        fn decode_fields(ty: &'static str, value: Value) -> Result<Message, DecodeError> {
            match ty {
                $( $wire => Ok(Message::$variant(fields(ty, value)?)), )*
                _ => unreachable!("decode_fields is only called with a type lookup() returned"),
            }
        }

        $( impl From<$variant> for Message {
            fn from(m: $variant) -> Message { Message::$variant(m) }
        } )*
    };
}

messages! {
    /// Peer → tracker: join.
    RegisterPeer = "REGISTER_PEER", Small;
    /// Tracker → peer: joined; the member list.
    RegisterAck = "REGISTER_ACK", Small;
    /// Tracker → peers: membership changed.
    UpdatePeers = "UPDATE_PEERS", Small;
    /// Peer → tracker: send the ballot.
    RequestBallot = "REQUEST_BALLOT", Small;
    /// Tracker → peer: the ballot.
    BallotOptions = "BALLOT_OPTIONS", Large;
    /// Tracker → peer: heartbeat.
    Poke = "POKE", Small;
    /// Peer → tracker: heartbeat answer (seed A spells it `POKE-ACK`).
    PokeAck = "POKE_ACK" | "POKE-ACK", Small;
    /// Peer → tracker: leaving.
    LeavePeer = "LEAVE_PEER", Small;
    /// Prove your address: echo this token.
    Challenge = "CHALLENGE", Small;
    /// The echoed token.
    Verify = "VERIFY", Small;
    /// Peer announcement.
    Gossip = "GOSSIP", Small;
    /// Answer to a peer announcement.
    GossipReply = "GOSSIP_REPLY", Small;
    /// A new block.
    NewBlock = "NEW_BLOCK", Large;
    /// Ask for a run of the best chain.
    RequestChain = "REQUEST_CHAIN", Small;
    /// One block of a REQUEST_CHAIN answer.
    ChainBlock = "CHAIN_BLOCK", Large;
    /// Ask for one block.
    GetBlock = "GET_BLOCK", Small;
    /// One block, or null.
    GetBlockReply = "GET_BLOCK_REPLY", Large;
    /// Ask for height and tip hash.
    Stats = "STATS", Small;
    /// Height and tip hash.
    StatsReply = "STATS_REPLY", Small;
    /// Catch up now.
    Consensus = "CONSENSUS", Small;
    /// Client → peer: a vote to accept.
    SubmitVote = "SUBMIT_VOTE", Small;
    /// Peer → peer: a vote to relay.
    NewVote = "NEW_VOTE", Small;
    /// Ask where a vote stands.
    GetReceipt = "GET_RECEIPT", Small;
    /// Where a vote stands.
    Receipt = "RECEIPT", Small;
    /// Tracker → peer: not registered, the peer holds another election.
    RegisterRefused = "REGISTER_REFUSED", Small;
}

/// Why a datagram is not a valid message. Each variant is a distinct failure a sender can cause;
/// the receiver logs it, counts it and drops the datagram.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Zero bytes.
    #[error("empty datagram")]
    Empty,
    /// Longer than any UDP payload we accept.
    #[error("datagram of {len} bytes exceeds {MAX_DATAGRAM}")]
    TooLarge {
        /// Bytes received.
        len: usize,
    },
    /// Not UTF-8.
    #[error("datagram is not UTF-8")]
    NotUtf8,
    /// Arrays and objects nested deeper than [`MAX_DEPTH`].
    #[error("JSON nested deeper than {MAX_DEPTH}")]
    TooDeep,
    /// Not JSON (or a number JSON cannot represent, such as `1e400`).
    #[error("not JSON: {detail}")]
    NotJson {
        /// The parser's description.
        detail: String,
    },
    /// JSON, but not an object.
    #[error("JSON value is not an object")]
    NotObject,
    /// No `"type"` key.
    #[error("no \"type\" field")]
    MissingType,
    /// `"type"` is not a string.
    #[error("\"type\" is not a string")]
    TypeNotString,
    /// A `"type"` this protocol does not have.
    #[error("unknown message type {found:?}")]
    UnknownType {
        /// The type received, cut to 32 characters.
        found: String,
    },
    /// A message of the protocol that this dialect does not carry (a W4119 peer's NEW_BLOCK
    /// holds a block the native core cannot represent).
    #[error("{found} is not handled in the {dialect} profile")]
    NotInDialect {
        /// The type received.
        found: String,
        /// The dialect's name.
        dialect: &'static str,
    },
    /// A small message over [`MAX_SMALL`] bytes.
    #[error("{msg_type} of {len} bytes exceeds its limit of {limit}")]
    Oversized {
        /// The message type.
        msg_type: &'static str,
        /// Bytes received.
        len: usize,
        /// The type's limit.
        limit: usize,
    },
    /// A required field is absent.
    #[error("{msg_type}: missing field {field}")]
    MissingField {
        /// The message type.
        msg_type: &'static str,
        /// Path of the missing field, e.g. `height` or `block.votes`.
        field: String,
    },
    /// A field has the wrong JSON type.
    #[error("{msg_type}: field {field} has the wrong type: {detail}")]
    WrongType {
        /// The message type.
        msg_type: &'static str,
        /// Path of the field.
        field: String,
        /// What was found and expected.
        detail: String,
    },
    /// A number outside its field's range, or a string or list over its bound.
    #[error("{msg_type}: field {field} out of range: {detail}")]
    OutOfRange {
        /// The message type.
        msg_type: &'static str,
        /// Path of the field.
        field: String,
        /// The range or bound.
        detail: String,
    },
    /// A field of the right type whose value is not valid: bad hex, bad address, a block whose
    /// hash does not match its contents.
    #[error("{msg_type}: field {field} is invalid: {detail}")]
    InvalidValue {
        /// The message type.
        msg_type: &'static str,
        /// Path of the field.
        field: String,
        /// What is wrong.
        detail: String,
    },
}

impl DecodeError {
    /// A short stable name for the variant, for counters and metrics labels.
    pub fn kind(&self) -> &'static str {
        match self {
            DecodeError::Empty => "empty",
            DecodeError::TooLarge { .. } => "too_large",
            DecodeError::NotUtf8 => "not_utf8",
            DecodeError::TooDeep => "too_deep",
            DecodeError::NotJson { .. } => "not_json",
            DecodeError::NotObject => "not_object",
            DecodeError::MissingType => "missing_type",
            DecodeError::TypeNotString => "type_not_string",
            DecodeError::UnknownType { .. } => "unknown_type",
            DecodeError::NotInDialect { .. } => "not_in_dialect",
            DecodeError::Oversized { .. } => "oversized",
            DecodeError::MissingField { .. } => "missing_field",
            DecodeError::WrongType { .. } => "wrong_type",
            DecodeError::OutOfRange { .. } => "out_of_range",
            DecodeError::InvalidValue { .. } => "invalid_value",
        }
    }
}

/// Why a message cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A message the dialect has no form for.
    #[error("{msg_type} has no form in the {dialect} profile")]
    NotInDialect {
        /// The message type.
        msg_type: &'static str,
        /// The dialect's name.
        dialect: &'static str,
    },
    /// The encoding exceeds the message's size limit.
    #[error("{msg_type} encodes to {len} bytes, over its limit of {limit}")]
    TooLarge {
        /// The message type.
        msg_type: &'static str,
        /// Encoded length.
        len: usize,
        /// The type's limit.
        limit: usize,
    },
    /// A field over its bound.
    #[error("{msg_type}: field {field} out of range: {detail}")]
    OutOfRange {
        /// The message type.
        msg_type: &'static str,
        /// Path of the field.
        field: String,
        /// The bound.
        detail: String,
    },
}

/// Parses one datagram strictly. Unknown keys besides `"type"` are ignored, so a newer sender
/// may add fields; everything else that is off is an error. The envelope's cookies are checked
/// for shape and dropped; [`decode_envelope`] returns them too.
pub fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
    decode_envelope(bytes).map(|(message, _)| message)
}

/// The stages every dialect's decoder shares: a datagram of at most [`MAX_DATAGRAM`] bytes,
/// UTF-8, nested at most [`MAX_DEPTH`] deep, one JSON object with a string `"type"`. Returns
/// the type and the object.
pub fn parse_object(bytes: &[u8]) -> Result<(String, serde_json::Map<String, Value>), DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    if bytes.len() > MAX_DATAGRAM {
        return Err(DecodeError::TooLarge { len: bytes.len() });
    }
    let text = std::str::from_utf8(bytes).map_err(|_| DecodeError::NotUtf8)?;
    if nesting_depth(text) > MAX_DEPTH {
        return Err(DecodeError::TooDeep);
    }
    let value: Value = serde_json::from_str(text).map_err(|e| DecodeError::NotJson {
        detail: e.to_string(),
    })?;
    let Value::Object(object) = value else {
        return Err(DecodeError::NotObject);
    };
    let ty = match object.get("type") {
        None => return Err(DecodeError::MissingType),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(DecodeError::TypeNotString),
    };
    Ok((ty, object))
}

/// Parses one datagram strictly, as [`decode`], and returns its [`Envelope`] as well: the
/// optional top-level `"cookie"` and `"echo"` keys, each 32 hex characters when present.
pub fn decode_envelope(bytes: &[u8]) -> Result<(Message, Envelope), DecodeError> {
    let (ty, object) = parse_object(bytes)?;
    let Some((msg_type, class)) = lookup(&ty) else {
        return Err(DecodeError::UnknownType {
            found: ty.chars().take(32).collect(),
        });
    };
    if bytes.len() > class.limit() {
        return Err(DecodeError::Oversized {
            msg_type,
            len: bytes.len(),
            limit: class.limit(),
        });
    }
    let envelope = Envelope {
        cookie: envelope_cookie(msg_type, &object, "cookie")?,
        echo: envelope_cookie(msg_type, &object, "echo")?,
    };
    let message = decode_fields(msg_type, Value::Object(object))?;
    message
        .check_bounds()
        .map_err(|b| DecodeError::OutOfRange {
            msg_type,
            field: b.field,
            detail: b.detail,
        })?;
    Ok((message, envelope))
}

/// One envelope key: absent, or exactly a cookie's 32 hex characters.
fn envelope_cookie(
    msg_type: &'static str,
    object: &serde_json::Map<String, Value>,
    key: &str,
) -> Result<Option<Cookie>, DecodeError> {
    match object.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Cookie::parse(s).map(Some).ok_or(DecodeError::InvalidValue {
            msg_type,
            field: key.to_owned(),
            detail: format!("must be {TOKEN_HEX_LEN} hex characters"),
        }),
        Some(_) => Err(DecodeError::WrongType {
            msg_type,
            field: key.to_owned(),
            detail: "expected a string".to_owned(),
        }),
    }
}

/// Serialises a message to one datagram with no envelope, refusing one with a field over its
/// bound or too large to take an envelope within its size limit (its limit less
/// [`ENVELOPE_RESERVE`]).
pub fn encode(message: &Message) -> Result<Vec<u8>, EncodeError> {
    let msg_type = message.type_name();
    message
        .check_bounds()
        .map_err(|b| EncodeError::OutOfRange {
            msg_type,
            field: b.field,
            detail: b.detail,
        })?;
    // Serialising our own types cannot fail: every map key is a string.
    let bytes = serde_json::to_vec(message).expect("messages always serialise");
    let limit = message.size_class().limit() - ENVELOPE_RESERVE;
    if bytes.len() > limit {
        return Err(EncodeError::TooLarge {
            msg_type,
            len: bytes.len(),
            limit,
        });
    }
    Ok(bytes)
}

/// [`encode`] with `envelope` added.
pub fn encode_with(message: &Message, envelope: &Envelope) -> Result<Vec<u8>, EncodeError> {
    encode(message).map(|body| with_envelope(&body, envelope))
}

/// Adds `envelope` to a datagram [`encode`] produced, so a relay encodes its message once and
/// gives each receiver its own cookies. The keys go first in the object; an encoded message
/// always starts with `{"type"`, and [`ENVELOPE_RESERVE`] keeps the result within its limit.
pub fn with_envelope(body: &[u8], envelope: &Envelope) -> Vec<u8> {
    if envelope.cookie.is_none() && envelope.echo.is_none() {
        return body.to_vec();
    }
    let mut out = Vec::with_capacity(body.len() + ENVELOPE_RESERVE);
    out.push(b'{');
    for (key, cookie) in [("cookie", envelope.cookie), ("echo", envelope.echo)] {
        if let Some(c) = cookie {
            out.extend_from_slice(format!("\"{key}\":\"{c}\",").as_bytes());
        }
    }
    out.extend_from_slice(body.get(1..).unwrap_or_default());
    out
}

/// Deserialises one message's fields and sorts serde's error into a [`DecodeError`] variant.
fn fields<T: DeserializeOwned>(msg_type: &'static str, value: Value) -> Result<T, DecodeError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let detail = e.inner().to_string();
        classify(msg_type, &path, detail)
    })
}

fn classify(msg_type: &'static str, path: &str, detail: String) -> DecodeError {
    let join = |name: &str| match path {
        "." | "" => name.to_owned(),
        p => format!("{p}.{name}"),
    };
    if let Some(rest) = detail.strip_prefix("missing field `") {
        let name = rest.split('`').next().unwrap_or(rest);
        return DecodeError::MissingField {
            msg_type,
            field: join(name),
        };
    }
    let field = match path {
        "." | "" => "(message)".to_owned(),
        p => p.to_owned(),
    };
    // serde reports integers outside the target type as "invalid value: integer …" and integers
    // too large for u64 (which JSON parsing turned into floats) as "invalid type: floating point".
    let integer_expected = detail.contains("expected u") || detail.contains("expected i");
    if detail.starts_with("invalid value: integer")
        || (detail.starts_with("invalid type: floating point") && integer_expected)
    {
        DecodeError::OutOfRange {
            msg_type,
            field,
            detail,
        }
    } else if detail.starts_with("invalid type") {
        DecodeError::WrongType {
            msg_type,
            field,
            detail,
        }
    } else {
        DecodeError::InvalidValue {
            msg_type,
            field,
            detail,
        }
    }
}

/// Deepest nesting of arrays and objects in `text`, ignoring brackets inside strings. A
/// malformed text may give a wrong depth; the JSON parser rejects it next anyway.
fn nesting_depth(text: &str) -> usize {
    let (mut depth, mut max, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for b in text.bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}
