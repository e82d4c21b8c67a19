//! JSON as SCIM clients send it: attribute names in any case (RFC 7643
//! §2.1; Entra's validator posts `UserName`, `Active`), booleans as strings
//! (Entra's `"False"`, OneLogin templates), `null` meaning absent.

use serde_json::{Map, Value};

/// A JSON object whose keys are compared case-insensitively.
#[derive(Clone, Copy, Debug)]
pub struct Obj<'a>(pub &'a Map<String, Value>);

impl<'a> Obj<'a> {
    /// The value of `name` (any case); `null` is absent.
    pub fn get(&self, name: &str) -> Option<&'a Value> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
            .filter(|v| !v.is_null())
    }

    pub fn str(&self, name: &str) -> Option<&'a str> {
        self.get(name).and_then(Value::as_str)
    }

    pub fn obj(&self, name: &str) -> Option<Obj<'a>> {
        self.get(name).and_then(Value::as_object).map(Obj)
    }
}

/// A boolean, or a string any case of `true`/`false`.
pub fn boolean(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.trim().eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.trim().eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// The element of a multi-valued attribute to use: the one whose `type` is
/// one of `types` (in that order of preference), else the primary one, else
/// the first.
pub fn pick<'a>(values: &'a [Value], types: &[&str]) -> Option<Obj<'a>> {
    let objs: Vec<Obj<'a>> = values
        .iter()
        .filter_map(Value::as_object)
        .map(Obj)
        .collect();
    types
        .iter()
        .find_map(|t| {
            objs.iter()
                .find(|o| o.str("type").is_some_and(|x| x.eq_ignore_ascii_case(t)))
        })
        .or_else(|| {
            objs.iter()
                .find(|o| o.get("primary").and_then(boolean) == Some(true))
        })
        .or(objs.first())
        .copied()
}
