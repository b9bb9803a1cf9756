//! Python's `json.dumps`, reproduced byte for byte, over a small JSON value type that keeps the
//! order of an object's keys ([`PyValue`], [`PyDict`]).
//!
//! The W4119 peers hash `json.dumps(fields, sort_keys=True)` and send `json.dumps(message)`, both
//! with the default settings: separators `", "` and `": "`, `ensure_ascii=True` (every character
//! outside `' '..='~'` escaped, astral characters as surrogate pairs, lowercase hex), keys in
//! insertion order unless sorted. [`python_dumps`] writes exactly that.
//!
//! Why a value type of our own rather than `serde_json::Value`: without serde_json's
//! `preserve_order` feature its objects sort their keys, and a transaction relayed with its keys
//! reordered would no longer be what its author sent. Turning that feature on for the workspace
//! would change the key order of every `json!` answer in the other crates (the peer's HTTP API
//! among them), so this crate keeps order in [`PyDict`] instead.
//!
//! Floats are refused ([`PyJsonError::Float`]): Python prints them with `repr` (`1e+16`, `0.1`,
//! `1.0`), which differs from Rust's formatting, so a hash over a float could not be reproduced
//! with certainty. serde_json reads an integer outside 64 bits as a float, so such an integer is
//! refused the same way; Python would print it exactly, but no W4119 peer makes one (a nonce beyond
//! 2^64 would take longer to reach than anyone mines). A string holding a lone surrogate escape
//! (`"\ud800"`) is refused as not JSON: a Rust string cannot hold one, a Python `str` can, but
//! no W4119 peer writes one.

mod dumps;
mod parse;

pub use dumps::{python_dumps, python_dumps_str};
pub(crate) use parse::Loose;

/// A JSON value as a Python peer holds it after `json.loads`, minus floats (module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PyValue {
    /// `null`, Python's `None`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// An integer; parsing yields only values within `i64` or `u64`, Python prints any.
    Int(i128),
    /// A string.
    Str(String),
    /// An array, Python's list.
    List(Vec<PyValue>),
    /// An object, Python's dict, in insertion order.
    Dict(PyDict),
}

/// A JSON object that keeps its keys in insertion order, like a Python dict.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PyDict {
    /// Invariant: no key appears twice.
    entries: Vec<(String, PyValue)>,
}

impl PyDict {
    /// An empty dict.
    pub fn new() -> PyDict {
        PyDict::default()
    }

    /// Sets `key` to `value` as Python's `d[key] = value` does: a new key goes last, an existing
    /// key keeps its place and takes the new value (so a duplicate key in parsed JSON keeps the
    /// first position and the last value, as `json.loads` does).
    pub fn insert(&mut self, key: impl Into<String>, value: PyValue) {
        let key = key.into();
        match self.entries.iter_mut().find(|(k, _)| *k == key) {
            Some((_, slot)) => *slot = value,
            None => self.entries.push((key, value)),
        }
    }

    /// The value under `key`.
    pub fn get(&self, key: &str) -> Option<&PyValue> {
        self.entries
            .iter()
            .find_map(|(k, v)| (k == key).then_some(v))
    }

    /// The string under `key`, if there is one and it is a string.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        match self.get(key) {
            Some(PyValue::Str(s)) => Some(s),
            _ => None,
        }
    }

    /// The entries in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &PyValue)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the dict has no key.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl FromIterator<(String, PyValue)> for PyDict {
    fn from_iter<I: IntoIterator<Item = (String, PyValue)>>(iter: I) -> PyDict {
        let mut dict = PyDict::new();
        for (k, v) in iter {
            dict.insert(k, v);
        }
        dict
    }
}

impl From<&str> for PyValue {
    fn from(s: &str) -> PyValue {
        PyValue::Str(s.to_owned())
    }
}

impl From<String> for PyValue {
    fn from(s: String) -> PyValue {
        PyValue::Str(s)
    }
}

impl From<u64> for PyValue {
    fn from(n: u64) -> PyValue {
        PyValue::Int(i128::from(n))
    }
}

impl PyValue {
    /// Parses JSON text as Python's `json.loads` would (objects in order, a duplicate key keeps
    /// its first place and last value), refusing floats and integers outside 64 bits. Nesting is
    /// bounded by serde_json's recursion limit (128), so no input can exhaust the stack.
    pub fn parse(bytes: &[u8]) -> Result<PyValue, PyJsonError> {
        Loose::parse(bytes)?.into_py()
    }

    /// Depth of nesting: 0 for a scalar, 1 for an empty list or dict or one of scalars.
    pub fn depth(&self) -> usize {
        match self {
            PyValue::List(items) => 1 + items.iter().map(PyValue::depth).max().unwrap_or(0),
            PyValue::Dict(dict) => 1 + dict.iter().map(|(_, v)| v.depth()).max().unwrap_or(0),
            _ => 0,
        }
    }
}

/// Why bytes are not a [`PyValue`]. Every variant is a sentence for the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PyJsonError {
    /// Not JSON, not UTF-8, or nested deeper than the parser allows.
    #[error("the bytes are not JSON: {0}")]
    NotJson(String),
    /// A float, or an integer outside 64 bits (module docs say why both are refused).
    #[error(
        "the JSON holds a float or an integer outside 64 bits, whose Python form we cannot \
         reproduce exactly"
    )]
    Float,
}

#[cfg(test)]
mod tests;
