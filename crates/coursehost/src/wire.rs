//! The bytes a course peer puts on the wire: its messages are Python `json.dumps` output with the
//! default settings, so the host writes JSON the same way (`", "` and `": "` separators, every
//! character outside printable ASCII as a lowercase `\uXXXX` escape, surrogate pairs beyond the
//! Basic Multilingual Plane), with `"type"` first. A peer under test thus meets the escapes and
//! spacing real course peers send.

use std::fmt::Write;

use serde_json::Value;

/// `value` as Python's `json.dumps(value)` writes it (default arguments), with an object's
/// `"type"` key first and its other keys in sorted order.
pub fn python_dumps(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(number) => out.push_str(&number.to_string()),
        Value::String(text) => write_string(out, text),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push_str(", ");
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(fields) => {
            out.push('{');
            let typed = fields.get_key_value("type");
            let rest = fields.iter().filter(|(key, _)| key.as_str() != "type");
            for (index, (key, item)) in typed.into_iter().chain(rest).enumerate() {
                if index > 0 {
                    out.push_str(", ");
                }
                write_string(out, key);
                out.push_str(": ");
                write_value(out, item);
            }
            out.push('}');
        }
    }
}

/// A JSON string as Python writes it with `ensure_ascii=True`.
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
    fn matches_python_json_dumps() {
        // Expected strings from Python 3: json.dumps({...}) with the same key order.
        assert_eq!(
            python_dumps(&json!({"type": "STATS_REPLY", "height": null, "hash": null})),
            r#"{"type": "STATS_REPLY", "hash": null, "height": null}"#
        );
        assert_eq!(
            python_dumps(
                &json!({"type": "X", "messages": ["café", "say \"hi\"", "a\\b", "\t\n",
                "\u{7f}\u{1}", "😀", "中"], "n": [1, -2, true, false]})
            ),
            r#"{"type": "X", "messages": ["caf\u00e9", "say \"hi\"", "a\\b", "\t\n", "\u007f\u0001", "\ud83d\ude00", "\u4e2d"], "n": [1, -2, true, false]}"#
        );
        assert_eq!(python_dumps(&json!({})), "{}");
        assert_eq!(python_dumps(&json!([])), "[]");
    }

    #[test]
    fn reads_back_as_the_same_value() {
        let value = json!({"type": "ANNOUNCE", "messages": ["naïve", "😀", "\u{0}"], "height": 3});
        let text = python_dumps(&value);
        assert_eq!(
            serde_json::from_str::<Value>(&text).expect("valid JSON"),
            value
        );
    }
}
