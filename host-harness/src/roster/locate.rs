//! Where a value stands in a JSON file, so that an error names the file,
//! line and column: serde_json's `RawValue` keeps each value's own text, and
//! a value's place is where that text starts in the file's.

use std::collections::HashMap;

use serde_json::value::RawValue;

/// The byte offset in `text` of the value at `path` (`plan.changes[0].kind`:
/// keys after dots, indexes in brackets), or of the deepest value on the
/// way that is there; the start of the document for an empty path.
pub fn offset(text: &str, path: &str) -> usize {
    let base = text.as_ptr() as usize;
    let mut here = text;
    let mut at = text.len() - text.trim_start().len();
    for step in steps(path) {
        let next = match step {
            Step::Key(k) => serde_json::from_str::<HashMap<String, &RawValue>>(here)
                .ok()
                .and_then(|m| m.get(k).copied()),
            Step::Index(i) => serde_json::from_str::<Vec<&RawValue>>(here)
                .ok()
                .and_then(|v| v.get(i).copied()),
        };
        let Some(raw) = next else { break };
        here = raw.get();
        at = here.as_ptr() as usize - base;
    }
    at
}

/// Where each key's value of the object `text` (itself in `whole`) starts,
/// as byte offsets in `whole`; empty if it is no object.
pub fn values(whole: &str, text: &str) -> HashMap<String, usize> {
    let base = whole.as_ptr() as usize;
    serde_json::from_str::<HashMap<String, &RawValue>>(text)
        .map(|m| {
            m.into_iter()
                .map(|(k, v)| (k, v.get().as_ptr() as usize - base))
                .collect()
        })
        .unwrap_or_default()
}

/// The 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (u64, u64) {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() as u64 + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() as u64 + 1;
    (line, column)
}

/// A file's bytes as text; else the line and column (1-based) of the
/// first byte that is not UTF-8.
pub fn utf8(bytes: Vec<u8>) -> Result<String, (u64, u64)> {
    String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        // The bytes before it are UTF-8, and whole.
        let before = std::str::from_utf8(&e.as_bytes()[..valid]).unwrap_or_default();
        line_col(before, valid)
    })
}

/// Where a JSON syntax error in `text` stands, as the 1-based line and
/// column in characters that every other error gives (serde_json counts
/// its column in bytes), and what it says without serde_json's own place.
pub fn syntax_error(text: &str, e: &serde_json::Error) -> ((u64, u64), String) {
    let line_start: usize = text
        .split_inclusive('\n')
        .take(e.line().saturating_sub(1))
        .map(str::len)
        .sum();
    let offset = line_start + e.column().saturating_sub(1);
    let said = e.to_string();
    let said = match said.rsplit_once(" at line ") {
        Some((what, _)) => what.to_string(),
        None => said,
    };
    (line_col(text, offset), said)
}

/// The first key that one object of the JSON document `text` holds twice,
/// and the byte offset of its second value (the core's rule, one
/// implementation: `gladly_connector::validate::duplicate_key`).
pub use gladly_connector::validate::duplicate_key;

/// The refusal of a file that writes `key` twice in one object.
pub fn written_twice(key: &str) -> String {
    format!("'{key}' appears twice in one object; which one is meant cannot be told")
}

enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// `a.b[2].c` as its steps (a key holding `.` or `[` is not written so:
/// the plan format's keys never do).
fn steps(path: &str) -> Vec<Step<'_>> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, mut rest) = part.split_once('[').map_or((part, ""), |(k, r)| (k, r));
        if !key.is_empty() {
            out.push(Step::Key(key));
        }
        while let Some((index, after)) = rest.split_once(']') {
            if let Ok(i) = index.parse() {
                out.push(Step::Index(i));
            }
            rest = after.strip_prefix('[').unwrap_or(after);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_is_found_where_its_value_starts() {
        let text = "{\n  \"format\": 1,\n  \"plan\": {\"changes\": [\n    {\"kind\": \"oops\", \"k\\u0069nd2\": 2}\n  ]}\n}";
        let at = |path| line_col(text, offset(text, path));
        assert_eq!(at(""), (1, 1));
        assert_eq!(at("format"), (2, 13));
        assert_eq!(at("plan.changes[0].kind"), (4, 14));
        // An escaped key is read as itself; a missing step stops at the
        // deepest value there is.
        assert_eq!(
            at("plan.changes[0].kind2"),
            line_col(text, text.find(": 2}").unwrap() + 2)
        );
        assert_eq!(at("plan.changes[3].kind"), (3, 23));
        assert_eq!(
            values(text, text).get("plan").copied(),
            Some(text.find("{\"changes").unwrap())
        );
    }

    #[test]
    fn a_syntax_error_is_placed_in_characters() {
        // Ten two-byte letters before the error: serde_json's column, in
        // bytes, is ten too many.
        let text = "{\n  \"name\": \"ÉÉÉÉÉÉÉÉÉÉ\" oops\n}";
        let e = serde_json::from_str::<serde_json::Value>(text).unwrap_err();
        let ((line, column), said) = syntax_error(text, &e);
        let at = text.find("oops").unwrap();
        assert_eq!((line, column), line_col(text, at), "{said}");
        assert_eq!(column, 24);
        assert!(!said.contains(" at line "), "{said}");
    }
}
