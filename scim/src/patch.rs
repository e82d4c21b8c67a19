//! A PATCH body (RFC 7644 §3.5.2) as IdPs send it: `Operations`, each an
//! `op` in any case (Entra capitalises them), an optional `path`, a value.

use serde_json::Value;

use crate::error::ScimError;
use crate::json::Obj;

/// What an operation does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Add,
    Replace,
    Remove,
}

/// One PATCH operation: op, path, value.
pub type Operation<'a> = (Op, Option<&'a str>, Option<&'a Value>);

/// The operations of a PATCH body, each checked: a known op, a string
/// path, and an object value when there is no path.
pub fn operations(body: &Value) -> Result<Vec<Operation<'_>>, ScimError> {
    let ops = body
        .as_object()
        .map(Obj)
        .and_then(|o| o.get("Operations"))
        .and_then(Value::as_array)
        .ok_or_else(|| {
            ScimError::invalid_syntax("a PATCH body must be a PatchOp with an `Operations` array")
        })?;
    ops.iter()
        .enumerate()
        .map(|(i, op)| {
            let o = op.as_object().map(Obj).ok_or_else(|| {
                ScimError::invalid_syntax(format!("Operations[{i}] must be an object"))
            })?;
            let kind = match o.str("op").map(str::to_ascii_lowercase).as_deref() {
                Some("add") => Op::Add,
                Some("replace") => Op::Replace,
                Some("remove") => Op::Remove,
                other => {
                    return Err(ScimError::invalid_value(
                        &format!("Operations[{i}].op"),
                        format!("{other:?} is not add, replace or remove"),
                    ));
                }
            };
            let path = match o.get("path") {
                None => None,
                Some(Value::String(p)) => Some(p.as_str()),
                Some(_) => {
                    return Err(ScimError::invalid_syntax(format!(
                        "Operations[{i}].path must be a string"
                    )));
                }
            };
            if kind == Op::Remove && path.is_none() {
                return Err(ScimError::new(
                    400,
                    Some("noTarget"),
                    format!("Operations[{i}]: remove needs a path"),
                ));
            }
            if path.is_none() && !matches!(o.get("value"), Some(Value::Object(_))) {
                return Err(ScimError::new(
                    400,
                    Some("noTarget"),
                    format!(
                        "Operations[{i}]: an operation without a path must carry an object value"
                    ),
                ));
            }
            Ok((kind, path, o.get("value")))
        })
        .collect()
}
