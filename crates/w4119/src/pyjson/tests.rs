//! `python_dumps` against strings Python printed (the byte-exact block fixtures are in
//! `tests/fixtures.rs`), key order, duplicates and refused numbers.

use super::*;

fn dumps(json: &str, sort_keys: bool) -> String {
    python_dumps(&PyValue::parse(json.as_bytes()).unwrap(), sort_keys)
}

#[test]
fn scalars_and_separators_are_pythons() {
    // python3 -c 'import json; print(json.dumps([None, True, False, -5, 18446744073709551615, "", [], {}]))'
    assert_eq!(
        dumps(
            r#"[null,true,false,-5,18446744073709551615,"",[],{}]"#,
            false
        ),
        r#"[null, true, false, -5, 18446744073709551615, "", [], {}]"#
    );
    assert_eq!(
        dumps(r#"{"b":1,"a":{"d":[],"c":2}}"#, false),
        r#"{"b": 1, "a": {"d": [], "c": 2}}"#
    );
    assert_eq!(
        dumps(r#"{"b":1,"a":{"d":[],"c":2}}"#, true),
        r#"{"a": {"c": 2, "d": []}, "b": 1}"#
    );
}

#[test]
fn strings_are_escaped_as_ensure_ascii_does() {
    // python3 -c 'import json; print(json.dumps("a\x7fb\x1f\u00e9\u4e2d\U0001F600\"\\\n\t\b\f\r\x00~ "))'
    let s = "a\u{7f}b\u{1f}\u{e9}\u{4e2d}\u{1F600}\"\\\n\t\u{8}\u{c}\r\u{0}~ ";
    assert_eq!(
        python_dumps_str(s),
        r#""a\u007fb\u001f\u00e9\u4e2d\ud83d\ude00\"\\\n\t\b\f\r\u0000~ ""#
    );
    assert_eq!(python_dumps(&PyValue::from(s), false), python_dumps_str(s));
}

#[test]
fn keys_sort_by_code_point_and_are_escaped() {
    // python3 -c 'import json; print(json.dumps({"é": 1, "z": 2, "Z": 3, "\U0001F600": 4, "\uffff": 5}, sort_keys=True))'
    assert_eq!(
        dumps(r#"{"é":1,"z":2,"Z":3,"😀":4,"\uffff":5}"#, true),
        r#"{"Z": 3, "z": 2, "\u00e9": 1, "\uffff": 5, "\ud83d\ude00": 4}"#
    );
}

#[test]
fn a_duplicate_key_keeps_its_first_place_and_last_value() {
    // python3 -c 'import json; print(json.dumps(json.loads("{\"a\":1,\"b\":2,\"a\":3}")))'
    assert_eq!(
        dumps(r#"{"a":1,"b":2,"a":3}"#, false),
        r#"{"a": 3, "b": 2}"#
    );
    let mut dict = PyDict::new();
    dict.insert("x", PyValue::Null);
    dict.insert("y", PyValue::Bool(true));
    dict.insert("x", PyValue::from(1u64));
    assert_eq!(dict.len(), 2);
    assert_eq!(dict.iter().map(|(k, _)| k).collect::<Vec<_>>(), ["x", "y"]);
    assert_eq!(dict.get("x"), Some(&PyValue::Int(1)));
}

#[test]
fn floats_and_huge_integers_are_refused_and_bad_json_is_typed() {
    for json in [
        "1.5",
        "[1e3]",
        r#"{"a":-0.0}"#,
        "18446744073709551616",
        "-9223372036854775809",
    ] {
        assert_eq!(
            PyValue::parse(json.as_bytes()),
            Err(PyJsonError::Float),
            "{json}"
        );
    }
    assert_eq!(
        PyValue::parse(b"-9223372036854775808"),
        Ok(PyValue::Int(i128::from(i64::MIN)))
    );
    for bad in [&b""[..], b"{", b"nope", b"\xff", b"[1,]", b"NaN"] {
        assert!(matches!(PyValue::parse(bad), Err(PyJsonError::NotJson(_))));
    }
    let deep = "[".repeat(10_000);
    assert!(matches!(
        PyValue::parse(deep.as_bytes()),
        Err(PyJsonError::NotJson(_))
    ));
    assert_eq!(PyValue::parse(b" \n{} \t").unwrap().depth(), 1);
    assert_eq!(PyValue::parse(b"[[1],{\"a\":[]}]").unwrap().depth(), 3);
}

proptest::proptest! {
    #[test]
    fn what_python_dumps_writes_parses_back_the_same(value in value()) {
        for sort_keys in [false, true] {
            let text = python_dumps(&value, sort_keys);
            proptest::prop_assert!(text.bytes().all(|b| (b' '..=b'~').contains(&b)), "ensure_ascii");
            let back = PyValue::parse(text.as_bytes()).unwrap();
            if sort_keys {
                // Sorting twice changes nothing.
                proptest::prop_assert_eq!(python_dumps(&back, true), text);
            } else {
                proptest::prop_assert_eq!(back, value.clone());
            }
        }
    }

    #[test]
    fn parse_never_panics(bytes in proptest::collection::vec(proptest::arbitrary::any::<u8>(), 0..256)) {
        let _ = PyValue::parse(&bytes);
    }
}

/// Any value without floats, a few levels deep, keys and strings with any characters.
fn value() -> impl proptest::strategy::Strategy<Value = PyValue> {
    use proptest::prelude::*;
    let text = || prop::collection::vec(any::<char>(), 0..8).prop_map(String::from_iter);
    let leaf = prop_oneof![
        Just(PyValue::Null),
        any::<bool>().prop_map(PyValue::Bool),
        any::<i64>().prop_map(|n| PyValue::Int(n.into())),
        any::<u64>().prop_map(PyValue::from),
        text().prop_map(PyValue::Str),
    ];
    leaf.prop_recursive(4, 32, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(PyValue::List),
            prop::collection::vec((text(), inner), 0..6)
                .prop_map(|entries| PyValue::Dict(entries.into_iter().collect())),
        ]
    })
}
