//! The bytes a W4119 peer or tracker puts on the wire: Python's `json.dumps` with its default
//! arguments (`", "` and `": "` separators, `ensure_ascii=True`), with dictionaries in insertion
//! order, or sorted when `sort_keys=True` (as the block hash asks). Because `serde_json::Value`
//! keeps its objects sorted in this workspace, outgoing JSON is built as a [`Json`] tree, whose
//! objects keep the order they were written in.

use std::fmt::Write;

use serde_json::{Number, Value};

/// A JSON value whose objects keep their keys in insertion order, as a Python `dict` does.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    /// `None` in Python, `null` on the wire.
    Null,
    /// `True` or `False`.
    Bool(bool),
    /// An `int` or a `float`.
    Number(Number),
    /// A `str`.
    String(String),
    /// A `list`.
    Array(Vec<Json>),
    /// A `dict`, its keys in insertion order (a repeated key is the caller's mistake).
    Object(Vec<(String, Json)>),
}

impl Json {
    /// A `dict` from `(key, value)` pairs, in the order given.
    pub fn object<const N: usize>(fields: [(&str, Json); N]) -> Json {
        Json::Object(
            fields
                .into_iter()
                .map(|(key, value)| (key.to_owned(), value))
                .collect(),
        )
    }

    /// A `str`.
    pub fn string(text: impl Into<String>) -> Json {
        Json::String(text.into())
    }

    /// An `int`.
    pub fn int(value: u64) -> Json {
        Json::Number(Number::from(value))
    }
}

impl From<&Value> for Json {
    /// The same value; objects come out in `serde_json`'s key order (sorted in this workspace).
    fn from(value: &Value) -> Json {
        match value {
            Value::Null => Json::Null,
            Value::Bool(flag) => Json::Bool(*flag),
            Value::Number(number) => Json::Number(number.clone()),
            Value::String(text) => Json::String(text.clone()),
            Value::Array(items) => Json::Array(items.iter().map(Json::from).collect()),
            Value::Object(fields) => Json::Object(
                fields
                    .iter()
                    .map(|(key, item)| (key.clone(), Json::from(item)))
                    .collect(),
            ),
        }
    }
}

/// `value` as Python's `json.dumps(value, sort_keys=sort_keys)` writes it (every other argument
/// at its default).
pub fn python_dumps(value: &Json, sort_keys: bool) -> String {
    let mut out = String::new();
    write_value(&mut out, value, sort_keys);
    out
}

fn write_value(out: &mut String, value: &Json, sort_keys: bool) {
    match value {
        Json::Null => out.push_str("null"),
        Json::Bool(true) => out.push_str("true"),
        Json::Bool(false) => out.push_str("false"),
        Json::Number(number) => write_number(out, number),
        Json::String(text) => write_string(out, text),
        Json::Array(items) => {
            out.push('[');
            for (position, item) in items.iter().enumerate() {
                if position > 0 {
                    out.push_str(", ");
                }
                write_value(out, item, sort_keys);
            }
            out.push(']');
        }
        Json::Object(fields) => {
            let mut ordered: Vec<&(String, Json)> = fields.iter().collect();
            if sort_keys {
                // Rust orders strings by UTF-8 bytes, which is Python's code-point order.
                ordered.sort_by(|left, right| left.0.cmp(&right.0));
            }
            out.push('{');
            for (position, (key, item)) in ordered.into_iter().enumerate() {
                if position > 0 {
                    out.push_str(", ");
                }
                write_string(out, key);
                out.push_str(": ");
                write_value(out, item, sort_keys);
            }
            out.push('}');
        }
    }
}

/// An `int` as its digits; a `float` as Python's `repr` writes it.
fn write_number(out: &mut String, number: &Number) {
    if number.is_i64() || number.is_u64() {
        out.push_str(&number.to_string());
    } else if let Some(float) = number.as_f64() {
        out.push_str(&python_float_repr(float));
    } else {
        out.push_str(&number.to_string());
    }
}

/// Python's `repr(float)`: the shortest digits that read back as the same float, in positional
/// notation when the decimal point falls between 10^-4 and 10^16, otherwise as `d.ddde+XX`.
fn python_float_repr(value: f64) -> String {
    if value.is_nan() {
        return "NaN".to_owned();
    }
    if value.is_infinite() {
        return if value > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    // Rust's `{:e}` gives the shortest round-trip digits, e.g. `-1.5e-7`.
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i64 = exponent.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let decimal_point = exponent + 1;
    let n_digits = digits.len() as i64;
    let body = if !(-3..=16).contains(&decimal_point) {
        let (first, rest) = digits.split_at(1);
        let fraction = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let exponent_sign = if exponent < 0 { '-' } else { '+' };
        format!("{first}{fraction}e{exponent_sign}{:02}", exponent.abs())
    } else if decimal_point <= 0 {
        format!(
            "0.{}{digits}",
            "0".repeat(decimal_point.unsigned_abs() as usize)
        )
    } else if decimal_point >= n_digits {
        format!(
            "{digits}{}.0",
            "0".repeat((decimal_point - n_digits) as usize)
        )
    } else {
        let (whole, fraction) = digits.split_at(decimal_point as usize);
        format!("{whole}.{fraction}")
    };
    format!("{sign}{body}")
}

/// A JSON string as Python writes it with `ensure_ascii=True`: only `' '..='~'` is written as
/// itself (so DEL, 0x7f, is escaped too), everything else as a short or `\uXXXX` escape, with
/// surrogate pairs beyond the Basic Multilingual Plane.
fn write_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
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
                    // Writing to a String cannot fail.
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn objects_keep_insertion_order_unless_sorted() {
        let value = Json::object([
            ("type", Json::string("REGISTER_ACK")),
            (
                "peer_list",
                Json::Array(vec![
                    Json::string("127.0.0.1:8071"),
                    Json::string("127.0.0.1:8081"),
                ]),
            ),
        ]);
        assert_eq!(
            python_dumps(&value, false),
            r#"{"type": "REGISTER_ACK", "peer_list": ["127.0.0.1:8071", "127.0.0.1:8081"]}"#
        );
        assert_eq!(
            python_dumps(&value, true),
            r#"{"peer_list": ["127.0.0.1:8071", "127.0.0.1:8081"], "type": "REGISTER_ACK"}"#
        );
    }

    #[test]
    fn strings_match_python_ensure_ascii() {
        // Expected output from python3: json.dumps(["..."]) on the same strings.
        let value = Json::from(&json!([
            "caf\u{e9}",
            "say \"hi\"",
            "a\\b",
            "\t\n\r\u{8}\u{c}",
            "\u{7f}\u{1}\u{1f}",
            "\u{1f600}",
            "\u{4e2d}",
            "~ "
        ]));
        assert_eq!(
            python_dumps(&value, false),
            r#"["caf\u00e9", "say \"hi\"", "a\\b", "\t\n\r\b\f", "\u007f\u0001\u001f", "\ud83d\ude00", "\u4e2d", "~ "]"#
        );
    }

    #[test]
    fn numbers_match_python() {
        // Expected output from python3: json.dumps([...]) on the same numbers.
        let value = Json::from(&json!([
            0,
            -7,
            18_446_744_073_709_551_615u64,
            1.0,
            -0.0,
            0.5,
            1e16,
            1e15,
            1e-5,
            0.0001,
            1.5e300,
            123.456
        ]));
        assert_eq!(
            python_dumps(&value, false),
            "[0, -7, 18446744073709551615, 1.0, -0.0, 0.5, 1e+16, 1000000000000000.0, 1e-05, \
             0.0001, 1.5e+300, 123.456]"
        );
    }

    #[test]
    fn every_character_reads_back_as_itself() {
        // Every Unicode scalar value, escaped or not, must survive a round trip through a
        // standard JSON reader, and the output must be pure ASCII.
        let text: String = (0..=0x10_ffff_u32).filter_map(char::from_u32).collect();
        let written = python_dumps(&Json::string(text.clone()), false);
        assert!(written.is_ascii());
        assert_eq!(
            serde_json::from_str::<String>(&written).expect("valid JSON"),
            text
        );
    }

    #[test]
    fn empty_containers_and_literals() {
        assert_eq!(python_dumps(&Json::Object(Vec::new()), true), "{}");
        assert_eq!(python_dumps(&Json::Array(Vec::new()), true), "[]");
        assert_eq!(
            python_dumps(
                &Json::Array(vec![Json::Null, Json::Bool(true), Json::Bool(false)]),
                false
            ),
            "[null, true, false]"
        );
    }
}
