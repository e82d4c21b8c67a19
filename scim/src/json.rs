//! JSON as SCIM clients send it: attribute names in any case (RFC 7643
//! §2.1; Entra's validator posts `UserName`, `Active`), booleans as strings
//! (Entra's `"False"`, OneLogin templates), `null` meaning absent.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// A request body, refused when an object names one attribute twice,
/// exactly or in another case (names are compared in any case, RFC 7643
/// §2.1): the body says two things, and which one a parser keeps is its
/// own choice (serde_json keeps the last; a proxy that logs or filters
/// requests may read the first). serde_json's nesting limit still holds.
pub fn from_slice(bytes: &[u8]) -> serde_json::Result<Value> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = de.deserialize_any(Strict)?;
    de.end()?;
    Ok(value)
}

/// Builds a [`Value`] as serde_json does, checking each object's names.
struct Strict;

impl<'de> de::DeserializeSeed<'de> for Strict {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(Strict)
    }
}

impl<'de> Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element_seed(Strict)? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        // Lower-cased names seen: one look-up a name, however many.
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.to_ascii_lowercase()) {
                return Err(de::Error::custom(format!(
                    "the body names {key:?} twice (attribute names are compared in any case): send it once"
                )));
            }
            let v = map.next_value_seed(Strict)?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

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
