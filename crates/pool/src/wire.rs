//! The lines of the mining port: one JSON object per line, at most [`MAX_LINE`] bytes before
//! the newline. Decoding a miner's line gives a [`Request`] or a [`DecodeError`] and never
//! panics; the `encode_*` functions write the pool's lines (without the newline, which the
//! shell adds). [`decode_server_line`] reads the pool's lines back, and [`encode_subscribe`],
//! [`encode_authorize`] and [`encode_submit`] write a miner's, for miners and tests.

use crate::code::ErrorCode;
use crate::job::{Job, JobKind};
use serde_json::{json, Map, Value};

/// Longest accepted line in bytes, newline excluded.
pub const MAX_LINE: usize = 4096;

/// A miner's request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `mining.subscribe`, params `[agent?]`: asks for a session and a nonce prefix.
    Subscribe {
        /// The request id, echoed in the response.
        id: u64,
        /// The miner software's name, when given.
        agent: Option<String>,
    },
    /// `mining.authorize`, params `[name, token?]`.
    Authorize {
        /// The request id.
        id: u64,
        /// The worker's name, shown in statistics.
        name: String,
        /// The shared secret, when the pool requires one.
        token: Option<String>,
    },
    /// `mining.submit`, params `[worker, job_id, nonce_hex]`.
    Submit {
        /// The request id.
        id: u64,
        /// The worker's name (informational; the connection's authorization counts).
        worker: String,
        /// The job's id as sent in `mining.notify`.
        job_id: String,
        /// The nonce, from 1 to 16 hex digits on the wire.
        nonce: u64,
    },
}

impl Request {
    /// The request id.
    pub fn id(&self) -> u64 {
        match self {
            Request::Subscribe { id, .. }
            | Request::Authorize { id, .. }
            | Request::Submit { id, .. } => *id,
        }
    }
}

/// Why a line is not a request. Every variant is answered with [`ErrorCode::Other`] and the
/// request id when one could be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Longer than [`MAX_LINE`].
    #[error("The line is {0} bytes long, over the limit of 4096.")]
    TooLong(usize),
    /// Not UTF-8.
    #[error("The line is not UTF-8.")]
    NotUtf8,
    /// Not JSON.
    #[error("The line is not JSON.")]
    NotJson,
    /// JSON, but not an object.
    #[error("The line is not a JSON object.")]
    NotObject,
    /// `id` missing or not an unsigned integer.
    #[error("The request has no unsigned integer id.")]
    BadId,
    /// `method` missing, not a string, or not one of ours.
    #[error("The method {method:?} is unknown.")]
    UnknownMethod {
        /// The request id.
        id: u64,
        /// The method as sent (empty when missing or not a string).
        method: String,
    },
    /// The method's parameters are malformed.
    #[error("The parameters of {method} are malformed: {reason}")]
    BadParams {
        /// The request id.
        id: u64,
        /// The method.
        method: &'static str,
        /// What is wrong, as a sentence.
        reason: &'static str,
    },
}

impl DecodeError {
    /// The request id, when the line got far enough to have one.
    pub fn id(&self) -> Option<u64> {
        match self {
            DecodeError::UnknownMethod { id, .. } | DecodeError::BadParams { id, .. } => Some(*id),
            _ => None,
        }
    }
}

/// Decodes one line from a miner (without its newline).
pub fn decode_request(line: &[u8]) -> Result<Request, DecodeError> {
    if line.len() > MAX_LINE {
        return Err(DecodeError::TooLong(line.len()));
    }
    let text = std::str::from_utf8(line).map_err(|_| DecodeError::NotUtf8)?;
    let value: Value = serde_json::from_str(text).map_err(|_| DecodeError::NotJson)?;
    let Value::Object(object) = value else {
        return Err(DecodeError::NotObject);
    };
    let id = object
        .get("id")
        .and_then(Value::as_u64)
        .ok_or(DecodeError::BadId)?;
    let method = object.get("method").and_then(Value::as_str).unwrap_or("");
    let empty = Vec::new();
    let params = match object.get("params") {
        None | Some(Value::Null) => &empty,
        Some(Value::Array(params)) => params,
        Some(_) => {
            let method = known_method(method).ok_or_else(|| unknown(id, method))?;
            return Err(bad(id, method, "params is not an array."));
        }
    };
    match method {
        "mining.subscribe" => Ok(Request::Subscribe {
            id,
            agent: params.first().and_then(Value::as_str).map(str::to_owned),
        }),
        "mining.authorize" => {
            let m = "mining.authorize";
            let name = string_at(params, 0).ok_or_else(|| bad(id, m, "the name is missing."))?;
            let token = match params.get(1) {
                None | Some(Value::Null) => None,
                Some(Value::String(token)) => Some(token.clone()),
                Some(_) => return Err(bad(id, m, "the token is not a string.")),
            };
            Ok(Request::Authorize { id, name, token })
        }
        "mining.submit" => {
            let m = "mining.submit";
            let worker =
                string_at(params, 0).ok_or_else(|| bad(id, m, "the worker is missing."))?;
            let job_id =
                string_at(params, 1).ok_or_else(|| bad(id, m, "the job id is missing."))?;
            let nonce_hex =
                string_at(params, 2).ok_or_else(|| bad(id, m, "the nonce is missing."))?;
            let nonce = parse_nonce(&nonce_hex)
                .ok_or_else(|| bad(id, m, "the nonce is not 1 to 16 hex digits."))?;
            Ok(Request::Submit {
                id,
                worker,
                job_id,
                nonce,
            })
        }
        other => Err(unknown(id, other)),
    }
}

/// Our method names, as `'static` strings.
fn known_method(method: &str) -> Option<&'static str> {
    ["mining.subscribe", "mining.authorize", "mining.submit"]
        .into_iter()
        .find(|m| *m == method)
}

fn unknown(id: u64, method: &str) -> DecodeError {
    DecodeError::UnknownMethod {
        id,
        method: method.chars().take(64).collect(),
    }
}

fn bad(id: u64, method: &'static str, reason: &'static str) -> DecodeError {
    DecodeError::BadParams { id, method, reason }
}

fn string_at(params: &[Value], index: usize) -> Option<String> {
    params.get(index).and_then(Value::as_str).map(str::to_owned)
}

/// A nonce of 1 to 16 hex digits.
fn parse_nonce(hex: &str) -> Option<u64> {
    if hex.is_empty() || hex.len() > 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

/// A nonce as 16 lowercase hex digits, the form `mining.submit` carries.
pub fn nonce_hex(nonce: u64) -> String {
    format!("{nonce:016x}")
}

/// A successful response: `{"id":N,"result":…,"error":null}`.
pub fn encode_result(id: u64, result: Value) -> String {
    json!({"id": id, "result": result, "error": null}).to_string()
}

/// An error response: `{"id":N|null,"result":null,"error":[code,"sentence"]}`.
pub fn encode_error(id: Option<u64>, code: ErrorCode) -> String {
    json!({"id": id, "result": null, "error": [code.code(), code.to_string()]}).to_string()
}

/// `mining.set_target`: the session's share target in zero bits.
pub fn encode_set_target(share_bits: u32) -> String {
    json!({"id": null, "method": "mining.set_target", "params": [share_bits]}).to_string()
}

/// `mining.notify`: `[job_id, kind, midstate_hex, tail_hex, nonce_at, block_bits, height,
/// clean]`. The midstate is its eight words big-endian (64 hex digits), the tail its 64 bytes
/// (128 hex digits).
pub fn encode_notify(job_id: &str, job: &Job, clean: bool) -> String {
    let mut midstate = [0u8; 32];
    for (chunk, word) in midstate.chunks_exact_mut(4).zip(job.midstate()) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    json!({"id": null, "method": "mining.notify", "params": [
        job_id,
        job.kind().as_str(),
        hex::encode(midstate),
        hex::encode(job.tail()),
        job.nonce_at(),
        job.block_bits(),
        job.height(),
        clean,
    ]})
    .to_string()
}

/// `mining.subscribe` from a miner: `{"id":N,"method":"mining.subscribe","params":[agent]}`.
pub fn encode_subscribe(id: u64, agent: &str) -> String {
    json!({"id": id, "method": "mining.subscribe", "params": [agent]}).to_string()
}

/// `mining.authorize` from a miner: params `[name]`, or `[name, token]` with a token.
pub fn encode_authorize(id: u64, name: &str, token: Option<&str>) -> String {
    let params = match token {
        Some(token) => json!([name, token]),
        None => json!([name]),
    };
    json!({"id": id, "method": "mining.authorize", "params": params}).to_string()
}

/// `mining.submit` from a miner: params `[worker, job_id, nonce_hex]`, the nonce as
/// [`nonce_hex`] writes it (16 digits).
pub fn encode_submit(id: u64, worker: &str, job_id: &str, nonce: u64) -> String {
    json!({"id": id, "method": "mining.submit", "params": [worker, job_id, nonce_hex(nonce)]})
        .to_string()
}

/// A line from the pool, as a miner reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerLine {
    /// A response to request `id` (`None` for a line that had no readable id).
    Response {
        /// The request id.
        id: Option<u64>,
        /// The result, or the error's code number and sentence.
        result: Result<Value, (u32, String)>,
    },
    /// `mining.set_target`.
    SetTarget {
        /// The share target in zero bits.
        share_bits: u32,
    },
    /// `mining.notify`.
    Notify {
        /// The job's id, to quote in submits.
        job_id: String,
        /// The job.
        job: Job,
        /// True when every older job is now stale.
        clean: bool,
    },
}

/// Why a pool line could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("The pool line is malformed: {0}")]
pub struct ServerLineError(&'static str);

/// Reads one line from the pool.
pub fn decode_server_line(line: &str) -> Result<ServerLine, ServerLineError> {
    if line.len() > MAX_LINE {
        return Err(ServerLineError("it is too long."));
    }
    let value: Value = serde_json::from_str(line).map_err(|_| ServerLineError("not JSON."))?;
    let object = value.as_object().ok_or(ServerLineError("not an object."))?;
    match object.get("method").and_then(Value::as_str) {
        Some("mining.set_target") => {
            let share_bits = params(object)?
                .first()
                .and_then(Value::as_u64)
                .and_then(|b| u32::try_from(b).ok())
                .ok_or(ServerLineError("the target is not a number."))?;
            Ok(ServerLine::SetTarget { share_bits })
        }
        Some("mining.notify") => decode_notify(params(object)?),
        Some(_) => Err(ServerLineError("the method is unknown.")),
        None => {
            let id = object.get("id").and_then(Value::as_u64);
            let result = match object.get("error") {
                None | Some(Value::Null) => Ok(object.get("result").cloned().unwrap_or_default()),
                Some(Value::Array(e)) => {
                    let code = e.first().and_then(Value::as_u64).unwrap_or(0);
                    let text = e.get(1).and_then(Value::as_str).unwrap_or("");
                    Err((u32::try_from(code).unwrap_or(0), text.to_owned()))
                }
                Some(_) => return Err(ServerLineError("the error is not an array.")),
            };
            Ok(ServerLine::Response { id, result })
        }
    }
}

fn params(object: &Map<String, Value>) -> Result<&Vec<Value>, ServerLineError> {
    object
        .get("params")
        .and_then(Value::as_array)
        .ok_or(ServerLineError("params is not an array."))
}

fn decode_notify(p: &[Value]) -> Result<ServerLine, ServerLineError> {
    let err = ServerLineError("the notify parameters are malformed.");
    let job_id = p.first().and_then(Value::as_str).ok_or(err.clone())?;
    let kind = p
        .get(1)
        .and_then(Value::as_str)
        .and_then(JobKind::parse)
        .ok_or(err.clone())?;
    let mid: [u8; 32] = p
        .get(2)
        .and_then(Value::as_str)
        .and_then(|h| hex::decode(h).ok())
        .and_then(|b| b.try_into().ok())
        .ok_or(err.clone())?;
    let tail: [u8; 64] = p
        .get(3)
        .and_then(Value::as_str)
        .and_then(|h| hex::decode(h).ok())
        .and_then(|b| b.try_into().ok())
        .ok_or(err.clone())?;
    let number = |i: usize| p.get(i).and_then(Value::as_u64).ok_or(err.clone());
    let nonce_at = usize::try_from(number(4)?).map_err(|_| err.clone())?;
    let block_bits = u32::try_from(number(5)?).map_err(|_| err.clone())?;
    let height = number(6)?;
    let clean = p.get(7).and_then(Value::as_bool).ok_or(err.clone())?;
    let mut midstate = [0u32; 8];
    for (word, chunk) in midstate.iter_mut().zip(mid.chunks_exact(4)) {
        let mut b = [0u8; 4];
        b.copy_from_slice(chunk);
        *word = u32::from_be_bytes(b);
    }
    let job = Job::from_parts(kind, midstate, tail, nonce_at, block_bits, height)
        .map_err(|_| ServerLineError("the job does not fit its kind."))?;
    Ok(ServerLine::Notify {
        job_id: job_id.to_owned(),
        job,
        clean,
    })
}

#[cfg(test)]
mod tests;
