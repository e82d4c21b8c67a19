//! Attribute paths (RFC 7644 §3.10) as SCIM clients write them:
//! `name.givenName`, `emails[type eq "work"].value`, and with a schema URN in
//! front, `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber`.
//! The URN itself contains a `.` ("2.0"), so it is stripped before the rest
//! is split on `.` (a bug the project's notes on SCIM clients record in
//! several servers).

use serde_json::Value;

use crate::error::ScimError;

pub const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const CORE_GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// The connector's own extension: the Gladly role.
pub const GLADLY_USER: &str = "urn:ietf:params:scim:schemas:extension:gladly:2.0:User";

/// The schema an attribute belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Schema {
    /// The core User or Group schema (or no URN).
    Core,
    /// The enterprise extension: accepted, nothing of it kept in Gladly.
    Enterprise,
    /// The Gladly extension (`role`).
    Gladly,
    /// Any other URN: accepted and dropped.
    Other,
}

/// `type eq "work"` inside brackets.
#[derive(Clone, Debug, PartialEq)]
pub struct ValueFilter {
    /// The sub-attribute compared, lower case.
    pub attr: String,
    pub value: Value,
}

impl ValueFilter {
    /// Whether an element of a multi-valued attribute passes the filter.
    pub fn matches(&self, element: &Value) -> bool {
        let Some(obj) = element.as_object().map(crate::json::Obj) else {
            return false;
        };
        match (obj.get(&self.attr), &self.value) {
            (Some(Value::String(a)), Value::String(b)) => a.eq_ignore_ascii_case(b),
            (Some(a), b) => {
                crate::json::boolean(a).is_some()
                    && crate::json::boolean(a) == crate::json::boolean(b)
            }
            (None, _) => false,
        }
    }
}

/// A parsed attribute path. Names are lower case (RFC 7643 §2.1).
#[derive(Clone, Debug, PartialEq)]
pub struct AttrPath {
    pub schema: Schema,
    /// The attribute; empty when the path is a whole extension's URN.
    pub attr: String,
    pub filter: Option<ValueFilter>,
    /// The sub-attribute, after `.`.
    pub sub: Option<String>,
    /// The path as the request wrote it (trimmed), for messages.
    pub written: String,
}

impl AttrPath {
    pub fn parse(path: &str) -> Result<AttrPath, ScimError> {
        let text = path.trim();
        if text.is_empty() {
            return Err(ScimError::invalid_path(path, "is empty"));
        }
        let (schema, rest) = strip_urn(text);
        if rest.is_empty() {
            return Ok(AttrPath {
                schema,
                attr: String::new(),
                filter: None,
                sub: None,
                written: text.to_string(),
            });
        }
        let (attr, filter, sub) = match rest.find('[') {
            Some(open) => {
                let close = closing_bracket(rest, open)
                    .ok_or_else(|| ScimError::invalid_path(path, "has a `[` without its `]`"))?;
                let filter = parse_value_filter(&rest[open + 1..close])
                    .map_err(|why| ScimError::invalid_path(path, why))?;
                let after = &rest[close + 1..];
                let sub = match after.strip_prefix('.') {
                    Some(s) if !s.is_empty() => Some(s.to_ascii_lowercase()),
                    None if after.is_empty() => None,
                    _ => {
                        return Err(ScimError::invalid_path(
                            path,
                            "has text after `]` that is not `.attribute`",
                        ));
                    }
                };
                (&rest[..open], Some(filter), sub)
            }
            None => match rest.split_once('.') {
                Some((a, s)) => (a, None, Some(s.to_ascii_lowercase())),
                None => (rest, None, None),
            },
        };
        if attr.is_empty()
            || !attr
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '$')
        {
            return Err(ScimError::invalid_path(path, "is not an attribute name"));
        }
        Ok(AttrPath {
            schema,
            attr: attr.to_ascii_lowercase(),
            filter,
            sub,
            written: text.to_string(),
        })
    }

    /// `attr` or `attr.sub`, lower case, for matching.
    pub fn dotted(&self) -> String {
        match &self.sub {
            Some(s) => format!("{}.{s}", self.attr),
            None => self.attr.clone(),
        }
    }
}

/// The schema a path names, and the path after its URN.
fn strip_urn(text: &str) -> (Schema, &str) {
    if !text
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case("urn:"))
    {
        return (Schema::Core, text);
    }
    for (urn, schema) in [
        (CORE_USER, Schema::Core),
        (CORE_GROUP, Schema::Core),
        (ENTERPRISE_USER, Schema::Enterprise),
        (GLADLY_USER, Schema::Gladly),
    ] {
        if let Some(head) = text
            .get(..urn.len())
            .filter(|h| h.eq_ignore_ascii_case(urn))
        {
            let rest = &text[head.len()..];
            if rest.is_empty() {
                return (schema, "");
            }
            if let Some(rest) = rest.strip_prefix(':') {
                return (schema, rest);
            }
        }
    }
    // Another extension: its attribute is what follows the URN's last `:`
    // (before any value filter, whose quoted value may hold a colon).
    let head_end = text.find('[').unwrap_or(text.len());
    match text[..head_end].rfind(':') {
        Some(i) => (Schema::Other, &text[i + 1..]),
        None => (Schema::Other, ""),
    }
}

/// The index of the `]` closing the `[` at `open`, skipping quoted strings.
fn closing_bracket(text: &str, open: usize) -> Option<usize> {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in text[open + 1..].char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ']' if !quoted => return Some(open + 1 + i),
            _ => {}
        }
    }
    None
}

/// `type eq "work"`: one comparison with `eq`.
fn parse_value_filter(text: &str) -> Result<ValueFilter, String> {
    let terms = crate::filter::parse_terms(text)?;
    match terms.as_slice() {
        [(path, value)] if path.filter.is_none() && path.sub.is_none() => Ok(ValueFilter {
            attr: path.attr.clone(),
            value: value.clone(),
        }),
        _ => Err("a value filter must be one comparison such as `type eq \"work\"`".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_extension_urn_is_stripped_before_the_path_is_split_on_dots() {
        let p = AttrPath::parse(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
        )
        .unwrap();
        assert_eq!(
            (p.schema, p.attr.as_str(), p.sub),
            (Schema::Enterprise, "employeenumber", None)
        );
        let p =
            AttrPath::parse("urn:ietf:params:scim:schemas:core:2.0:User:name.givenName").unwrap();
        assert_eq!(
            (p.schema, p.dotted()),
            (Schema::Core, "name.givenname".to_string())
        );
        let p =
            AttrPath::parse("URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:GLADLY:2.0:USER:role").unwrap();
        assert_eq!((p.schema, p.attr.as_str()), (Schema::Gladly, "role"));
        let p =
            AttrPath::parse("urn:example:params:scim:schemas:extension:acme:2.0:User:costCenter")
                .unwrap();
        assert_eq!((p.schema, p.attr.as_str()), (Schema::Other, "costcenter"));
        let p = AttrPath::parse(ENTERPRISE_USER).unwrap();
        assert_eq!((p.schema, p.attr.as_str()), (Schema::Enterprise, ""));
    }

    #[test]
    fn a_value_filter_path_keeps_its_filter_and_sub_attribute() {
        let p = AttrPath::parse(r#"emails[type eq "work"].value"#).unwrap();
        assert_eq!(p.attr, "emails");
        assert_eq!(p.sub.as_deref(), Some("value"));
        let f = p.filter.unwrap();
        assert!(f.matches(&json!({"type": "Work", "value": "a@b"})));
        assert!(!f.matches(&json!({"type": "home", "value": "a@b"})));
        let p = AttrPath::parse(r#"roles[primary eq "True"].value"#).unwrap();
        assert!(
            p.filter
                .unwrap()
                .matches(&json!({"primary": true, "value": "admin"}))
        );
        let p = AttrPath::parse(r#"members[value eq "agt_1"]"#).unwrap();
        assert_eq!((p.attr.as_str(), p.sub), ("members", None));
    }

    #[test]
    fn malformed_paths_are_invalid_path_errors_naming_the_path() {
        for bad in [
            "",
            "emails[type eq \"work\"",
            "na me",
            "emails[type]",
            "emails[type eq \"w\"]x",
        ] {
            let e = AttrPath::parse(bad).unwrap_err();
            assert_eq!(
                (e.status, e.scim_type),
                (400, Some("invalidPath")),
                "{bad:?}: {e:?}"
            );
        }
    }
}
