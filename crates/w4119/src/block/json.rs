//! A block's JSON form: [`W4119Block::to_json`] in the wire's key order (`index`,
//! `transactions`, `timestamp`, `previous_hash`, `nonce`, `hash`; each transaction in its own
//! order), and [`W4119Block::from_json`], which takes the six fields in any order and ignores
//! any other key. Ignoring is what the Python peer does in effect: it rebuilds a block from these
//! fields, so an extra key is neither hashed nor relayed.
//!
//! Stricter than Python, which would hash whatever types it got: `index` and `nonce` must be
//! integers from 0 to 2^64 - 1 (`true` is not 1 here), `timestamp`, `previous_hash` and `hash`
//! strings, `transactions` a list of objects without floats.

use super::{Transaction, W4119Block};
use crate::error::W4119Error;
use crate::pyjson::{python_dumps, Loose, PyDict, PyValue};

impl W4119Block {
    /// The block as its peers send it, keys in the wire's order.
    pub fn to_json(&self) -> PyValue {
        let mut dict = PyDict::new();
        dict.insert("index", self.index.into());
        dict.insert(
            "transactions",
            PyValue::List(
                self.transactions
                    .iter()
                    .map(|t| PyValue::Dict(t.fields().clone()))
                    .collect(),
            ),
        );
        dict.insert("timestamp", self.timestamp.as_str().into());
        dict.insert("previous_hash", self.previous_hash.as_str().into());
        dict.insert("nonce", self.nonce.into());
        dict.insert("hash", self.hash.as_str().into());
        PyValue::Dict(dict)
    }

    /// `json.dumps(block)` as the Python peer writes it.
    pub fn to_json_string(&self) -> String {
        python_dumps(&self.to_json(), false)
    }

    /// Reads a block from its JSON form (module docs for what is tolerated). Checks types only;
    /// the limits and the hash are for [`W4119Block::check_alone`] and the chain.
    pub fn from_json(value: &PyValue) -> Result<W4119Block, W4119Error> {
        W4119Block::from_loose(&Loose::from(value))
    }

    /// Parses and reads a block from JSON text.
    pub fn from_json_bytes(bytes: &[u8]) -> Result<W4119Block, W4119Error> {
        W4119Block::from_loose(&Loose::parse(bytes)?)
    }

    /// [`W4119Block::from_json`] over a parsed value that may still hold floats in keys we
    /// ignore.
    pub(crate) fn from_loose(value: &Loose) -> Result<W4119Block, W4119Error> {
        let Loose::Dict(_) = value else {
            return Err(W4119Error::NotAnObject);
        };
        let field = |key: &'static str| match value.get(key) {
            None => Err(W4119Error::MissingField(key)),
            Some(v) => Ok(v),
        };
        let string = |key: &'static str| match field(key)? {
            Loose::Str(s) => Ok(s.clone()),
            _ => Err(bad(key, "is not a string")),
        };
        let integer = |key: &'static str| match field(key)? {
            Loose::Int(n) => u64::try_from(*n).map_err(|_| bad(key, OUT_OF_RANGE)),
            Loose::Float => Err(bad(key, OUT_OF_RANGE)),
            _ => Err(bad(key, "is not an integer")),
        };
        let Loose::List(items) = field("transactions")? else {
            return Err(bad("transactions", "is not a list"));
        };
        let transactions = items
            .iter()
            .map(|item| match item.to_py()? {
                PyValue::Dict(fields) => Ok(Transaction::from_fields(fields)),
                _ => Err(bad(
                    "transactions",
                    "holds an element that is not an object",
                )),
            })
            .collect::<Result<Vec<_>, W4119Error>>()?;
        Ok(W4119Block {
            index: integer("index")?,
            transactions,
            timestamp: string("timestamp")?,
            previous_hash: string("previous_hash")?,
            nonce: integer("nonce")?,
            hash: string("hash")?,
        })
    }
}

const OUT_OF_RANGE: &str = "is not an integer from 0 to 2^64 - 1";

fn bad(field: &'static str, why: &str) -> W4119Error {
    W4119Error::BadField {
        field,
        why: why.into(),
    }
}
