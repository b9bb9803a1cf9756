//! JSON text to [`PyValue`] through serde, keeping object key order. Parsing goes through
//! [`Loose`], which still holds floats, so the wire decoder can ignore a float in a key it does
//! not read (as a Python peer would) and refuse one only where it matters.

use super::{PyDict, PyJsonError, PyValue};
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::collections::HashMap;
use std::fmt;

/// A parsed JSON value before floats are refused.
#[derive(Debug, Clone)]
pub(crate) enum Loose {
    Null,
    Bool(bool),
    Int(i128),
    Float,
    Str(String),
    List(Vec<Loose>),
    /// In order; a duplicate key keeps its first place and its last value.
    Dict(Vec<(String, Loose)>),
}

impl Loose {
    /// Parses JSON text (leading and trailing whitespace allowed, as `json.loads` allows).
    pub(crate) fn parse(bytes: &[u8]) -> Result<Loose, PyJsonError> {
        serde_json::from_slice(bytes).map_err(|e| PyJsonError::NotJson(e.to_string()))
    }

    /// The value under `key`, when this is a dict.
    pub(crate) fn get(&self, key: &str) -> Option<&Loose> {
        match self {
            Loose::Dict(entries) => entries.iter().find_map(|(k, v)| (k == key).then_some(v)),
            _ => None,
        }
    }

    /// The same value without floats, or [`PyJsonError::Float`].
    pub(crate) fn into_py(self) -> Result<PyValue, PyJsonError> {
        Ok(match self {
            Loose::Null => PyValue::Null,
            Loose::Bool(b) => PyValue::Bool(b),
            Loose::Int(n) => PyValue::Int(n),
            Loose::Float => return Err(PyJsonError::Float),
            Loose::Str(s) => PyValue::Str(s),
            Loose::List(items) => PyValue::List(
                items
                    .into_iter()
                    .map(Loose::into_py)
                    .collect::<Result<_, _>>()?,
            ),
            // The keys are already unique (the visitor merged duplicates).
            Loose::Dict(entries) => PyValue::Dict(PyDict {
                entries: entries
                    .into_iter()
                    .map(|(k, v)| Ok((k, v.into_py()?)))
                    .collect::<Result<_, PyJsonError>>()?,
            }),
        })
    }

    /// [`Loose::into_py`] without consuming.
    pub(crate) fn to_py(&self) -> Result<PyValue, PyJsonError> {
        self.clone().into_py()
    }
}

impl<'de> Deserialize<'de> for Loose {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Loose, D::Error> {
        deserializer.deserialize_any(LooseVisitor)
    }
}

struct LooseVisitor;

impl<'de> Visitor<'de> for LooseVisitor {
    type Value = Loose;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Loose, E> {
        Ok(Loose::Null)
    }

    fn visit_none<E>(self) -> Result<Loose, E> {
        Ok(Loose::Null)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Loose, E> {
        Ok(Loose::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Loose, E> {
        Ok(Loose::Int(i128::from(n)))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Loose, E> {
        Ok(Loose::Int(i128::from(n)))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Loose, E> {
        Ok(Loose::Float)
    }

    fn visit_str<E>(self, s: &str) -> Result<Loose, E> {
        Ok(Loose::Str(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<Loose, E> {
        Ok(Loose::Str(s))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Loose, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Loose::List(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Loose, A::Error> {
        let mut entries: Vec<(String, Loose)> = Vec::new();
        // Where each key sits, so a datagram of thousands of keys costs linear time.
        let mut positions: HashMap<String, usize> = HashMap::new();
        while let Some((key, value)) = map.next_entry::<String, Loose>()? {
            match positions.get(&key) {
                // In bounds: `positions` holds only indices of pushed entries.
                Some(&at) => entries[at].1 = value,
                None => {
                    positions.insert(key.clone(), entries.len());
                    entries.push((key, value));
                }
            }
        }
        Ok(Loose::Dict(entries))
    }
}

/// The way back, for reading a block from an already parsed [`PyValue`].
impl From<&PyValue> for Loose {
    fn from(value: &PyValue) -> Loose {
        match value {
            PyValue::Null => Loose::Null,
            PyValue::Bool(b) => Loose::Bool(*b),
            PyValue::Int(n) => Loose::Int(*n),
            PyValue::Str(s) => Loose::Str(s.clone()),
            PyValue::List(items) => Loose::List(items.iter().map(Loose::from).collect()),
            PyValue::Dict(dict) => Loose::Dict(
                dict.iter()
                    .map(|(k, v)| (k.to_owned(), Loose::from(v)))
                    .collect(),
            ),
        }
    }
}
