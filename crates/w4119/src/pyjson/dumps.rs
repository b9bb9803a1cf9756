//! [`python_dumps`]: `json.dumps(value)` or `json.dumps(value, sort_keys=True)` with Python's
//! default separators and `ensure_ascii=True`, byte for byte.

use super::{PyDict, PyValue};
use std::fmt::Write as _;

/// Writes `value` exactly as Python's `json.dumps(value, sort_keys=sort_keys)` does. Sorting
/// compares keys by code point, as Python compares `str`s (UTF-8 byte order is the same order).
pub fn python_dumps(value: &PyValue, sort_keys: bool) -> String {
    let mut out = String::new();
    write_value(&mut out, value, sort_keys);
    out
}

/// Writes one string as `json.dumps(s)` does: quoted, with the `ensure_ascii` escapes.
pub fn python_dumps_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    write_str(&mut out, s);
    out
}

fn write_value(out: &mut String, value: &PyValue, sort_keys: bool) {
    match value {
        PyValue::Null => out.push_str("null"),
        PyValue::Bool(true) => out.push_str("true"),
        PyValue::Bool(false) => out.push_str("false"),
        // Cannot fail: writing to a String.
        PyValue::Int(n) => {
            let _ = write!(out, "{n}");
        }
        PyValue::Str(s) => write_str(out, s),
        PyValue::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(out, item, sort_keys);
            }
            out.push(']');
        }
        PyValue::Dict(dict) => write_dict(out, dict, sort_keys),
    }
}

fn write_dict(out: &mut String, dict: &PyDict, sort_keys: bool) {
    let mut entries: Vec<(&str, &PyValue)> = dict.iter().collect();
    if sort_keys {
        // Keys are unique, so an unstable sort gives the one order.
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    }
    out.push('{');
    for (i, (key, value)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_str(out, key);
        out.push_str(": ");
        write_value(out, value, sort_keys);
    }
    out.push('}');
}

/// Python's `py_encode_basestring_ascii`: `"` and `\` and the five short control escapes by
/// name, every other character outside `' '..='~'` (DEL 0x7f included) as `\uXXXX` in lowercase
/// hex, characters beyond U+FFFF as a UTF-16 surrogate pair.
pub(crate) fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    // Cannot fail: writing to a String.
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}
