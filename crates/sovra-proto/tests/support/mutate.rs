//! Random edits of valid samples, shared by the fuzz targets of every crate (included with
//! `#[path]`): a parser fed edited valid input gets past its first check far more often than
//! with random bytes.
#![allow(dead_code)]

use proptest::prelude::*;

/// A target's budget: `PROPTEST_CASES` cases (`scripts/fuzz` sets it), else `default_cases`;
/// failures are not persisted to files.
pub fn config(default_cases: u32) -> proptest::test_runner::Config {
    proptest::test_runner::Config {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(default_cases),
        failure_persistence: None,
        ..proptest::test_runner::Config::default()
    }
}

/// One edit of a sample.
#[derive(Debug, Clone)]
pub enum Edit {
    Flip(usize, u8),
    Cut(usize, usize),
    Insert(usize, Vec<u8>),
    Splice(usize, &'static str),
}

/// Text that tends to sit on a parser's edges.
pub const SPLICES: &[&str] = &[
    "\"",
    "\\",
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "null",
    "true",
    "0",
    "-1",
    "1e999",
    "9007199254740993",
    "18446744073709551616",
    "\"\"",
    "\"=\"",
    "\"AAAA\"",
    "\u{0}",
    "\u{feff}",
    "é",
    "\u{202e}",
    "==",
    "A===",
    "%FF",
    "\r\n",
    "9999-12-31T23:59:59Z",
    "@",
    "..",
    "ed25519:",
    "https://",
    "ws://\u{0}",
];

pub fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Flip(i, b)),
        (any::<usize>(), 1usize..64).prop_map(|(i, n)| Edit::Cut(i, n)),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(i, b)| Edit::Insert(i, b)),
        (any::<usize>(), prop::sample::select(SPLICES)).prop_map(|(i, s)| Edit::Splice(i, s)),
    ]
}

pub fn apply(sample: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut out = sample.to_vec();
    for e in edits {
        let at = |i: usize, len: usize| if len == 0 { 0 } else { i % (len + 1) };
        match e {
            Edit::Flip(i, b) if !out.is_empty() => {
                let i = i % out.len();
                out[i] ^= b | 1;
            }
            Edit::Flip(..) => {}
            Edit::Cut(i, n) => {
                let start = at(*i, out.len());
                let end = (start + n).min(out.len());
                out.drain(start..end);
            }
            Edit::Insert(i, bytes) => {
                let at = at(*i, out.len());
                out.splice(at..at, bytes.iter().copied());
            }
            Edit::Splice(i, text) => {
                let at = at(*i, out.len());
                out.splice(at..at, text.bytes());
            }
        }
    }
    out
}

/// A sample edited 1–8 times.
pub fn edited(sample: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(edit(), 1..8).prop_map(move |edits| apply(&sample, &edits))
}

/// What to do to one value inside a JSON sample.
#[derive(Debug, Clone)]
pub enum ValueEdit {
    /// Edit the value's text (a string's content, a number's digits) and keep it a string.
    Text(Vec<Edit>),
    Replace(&'static str),
    Remove,
}

fn value_edit() -> impl Strategy<Value = ValueEdit> {
    prop_oneof![
        3 => prop::collection::vec(edit(), 1..4).prop_map(ValueEdit::Text),
        1 => prop::sample::select(&[
            "null", "true", "0", "-1", "1.5", "9007199254740992", "1e400", "\"\"", "[]", "{}",
            "\"AAAA\"", "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"",
            "\"9999-12-31T23:59:59Z\"", "\"@a.b\"", "[null]",
        ][..]).prop_map(ValueEdit::Replace),
        1 => Just(ValueEdit::Remove),
    ]
}

/// Every leaf's path (object keys and array indexes) in `v`.
fn leaves(v: &serde_json::Value, at: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match v {
        serde_json::Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                at.push(k.clone());
                leaves(child, at, out);
                at.pop();
            }
        }
        serde_json::Value::Array(a) if !a.is_empty() => {
            for (i, child) in a.iter().enumerate() {
                at.push(i.to_string());
                leaves(child, at, out);
                at.pop();
            }
        }
        _ => out.push(at.clone()),
    }
}

fn apply_value(root: &mut serde_json::Value, path: &[String], e: &ValueEdit) {
    let Some((last, parent_path)) = path.split_last() else {
        return;
    };
    let mut parent = &mut *root;
    for p in parent_path {
        parent = match parent {
            serde_json::Value::Object(m) => m.get_mut(p).expect("a leaf's path"),
            serde_json::Value::Array(a) => &mut a[p.parse::<usize>().expect("an index")],
            _ => return,
        };
    }
    let slot = match parent {
        serde_json::Value::Object(m) => {
            if matches!(e, ValueEdit::Remove) {
                m.remove(last);
                return;
            }
            m.get_mut(last)
        }
        serde_json::Value::Array(a) => a.get_mut(last.parse::<usize>().unwrap_or(0)),
        _ => None,
    };
    let Some(slot) = slot else { return };
    *slot = match e {
        ValueEdit::Text(edits) => {
            let text = match &*slot {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            serde_json::Value::String(
                String::from_utf8_lossy(&apply(text.as_bytes(), edits)).into_owned(),
            )
        }
        ValueEdit::Replace(json) => serde_json::from_str(json).unwrap_or_default(),
        ValueEdit::Remove => serde_json::Value::Null,
    };
}

/// A JSON sample with 1–3 of its values edited, still valid JSON: reaches the checks behind
/// the JSON parser (sizes, encodings, signatures) far more often than byte edits do.
pub fn json_edited(sample: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let root: serde_json::Value = serde_json::from_slice(&sample).expect("a JSON sample");
    let mut paths = Vec::new();
    leaves(&root, &mut Vec::new(), &mut paths);
    prop::collection::vec((prop::sample::select(paths), value_edit()), 1..4).prop_map(
        move |edits| {
            let mut v = root.clone();
            for (path, e) in &edits {
                apply_value(&mut v, path, e);
            }
            serde_json::to_vec(&v).expect("JSON serializes")
        },
    )
}
