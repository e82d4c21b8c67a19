//! Filters (RFC 7644 §3.4.2.2), the part IdPs use: `eq`, joined by `and`,
//! on `userName`, `externalId`, `id`, `emails[type eq "work"].value` and,
//! for Groups, `displayName`. Anything else is `invalidFilter` and nothing
//! is sent to Gladly.

use serde_json::Value;

use crate::error::ScimError;
use crate::path::{AttrPath, Schema};

/// One comparison a filter makes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Term {
    /// The agent's e-mail address, compared case-insensitively.
    UserName(String),
    /// Compared exactly (RFC 7643: `externalId` is case-exact).
    ExternalId(String),
    /// Compared exactly.
    Id(String),
    /// `emails[type eq "work"].value` or `emails.value`: the e-mail address.
    Email(String),
    /// Compared case-insensitively.
    DisplayName(String),
}

/// The resource a filter selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resource {
    User,
    Group,
}

/// A filter: every term must hold.
pub fn parse(text: &str, resource: Resource) -> Result<Vec<Term>, ScimError> {
    let terms = parse_terms(text).map_err(ScimError::invalid_filter)?;
    terms
        .into_iter()
        .map(|(path, value)| term(&path, value, resource))
        .collect()
}

fn term(path: &AttrPath, value: Value, resource: Resource) -> Result<Term, ScimError> {
    let email_filter_ok = path.filter.as_ref().is_none_or(|f| {
        (f.attr == "type"
            && f.value
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case("work")))
            || (f.attr == "primary" && crate::json::boolean(&f.value) == Some(true))
    });
    let supported = path.schema == Schema::Core;
    let string = |v: Value| match v {
        Value::String(s) => Ok(s),
        other => Err(ScimError::invalid_filter(format!(
            "{} is compared with {other}; only strings are supported",
            path.written
        ))),
    };
    let v = value;
    match (
        resource,
        path.attr.as_str(),
        path.sub.as_deref(),
        path.filter.is_some(),
    ) {
        (_, "id", None, false) if supported => Ok(Term::Id(string(v)?)),
        (Resource::User, "username", None, false) if supported => Ok(Term::UserName(string(v)?)),
        (Resource::User, "externalid", None, false) if supported => {
            Ok(Term::ExternalId(string(v)?))
        }
        (Resource::User, "emails", Some("value"), _) if supported && email_filter_ok => {
            Ok(Term::Email(string(v)?))
        }
        (Resource::Group, "displayname", None, false) if supported => {
            Ok(Term::DisplayName(string(v)?))
        }
        _ => Err(ScimError::invalid_filter(format!(
            "`{}` cannot be filtered on; supported: {}",
            path.written,
            match resource {
                Resource::User =>
                    "userName, externalId, id and emails[type eq \"work\"].value, with eq and and",
                Resource::Group => "displayName and id, with eq and and",
            }
        ))),
    }
}

/// `path eq value (and path eq value)*`, the operators named in any case.
pub(crate) fn parse_terms(text: &str) -> Result<Vec<(AttrPath, Value)>, String> {
    let mut s = Scanner { text, at: 0 };
    let mut terms = Vec::new();
    loop {
        let path = s.path()?;
        let op = s
            .word()
            .ok_or_else(|| format!("expected an operator after `{path}`"))?;
        if !op.eq_ignore_ascii_case("eq") {
            return Err(format!(
                "the operator `{op}` is not supported; only `eq` (and `and`) are"
            ));
        }
        let value = s.value()?;
        terms.push((AttrPath::parse(path).map_err(|e| e.detail)?, value));
        match s.word() {
            None => return Ok(terms),
            Some(w) if w.eq_ignore_ascii_case("and") => continue,
            Some(w) => {
                return Err(format!(
                    "`{w}` is not supported; only `and` joins comparisons"
                ));
            }
        }
    }
}

struct Scanner<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Scanner<'a> {
    fn skip_space(&mut self) {
        let rest = &self.text[self.at..];
        self.at += rest.len() - rest.trim_start().len();
    }

    /// An attribute path, with a bracketed value filter kept whole.
    fn path(&mut self) -> Result<&'a str, String> {
        self.skip_space();
        let start = self.at;
        let mut depth = 0;
        let mut quoted = false;
        let mut escaped = false;
        for (i, c) in self.text[start..].char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' if quoted => escaped = true,
                '"' if depth > 0 => quoted = !quoted,
                '[' if !quoted => depth += 1,
                ']' if !quoted => depth -= 1,
                '(' | ')' if depth == 0 => return Err("parentheses are not supported".into()),
                c if c.is_whitespace() && depth == 0 => {
                    self.at = start + i;
                    return Ok(&self.text[start..self.at]);
                }
                _ => {}
            }
        }
        self.at = self.text.len();
        if start == self.at {
            Err("expected an attribute".into())
        } else if depth != 0 {
            Err("a `[` is not closed".into())
        } else {
            Err(format!(
                "`{}` is not followed by an operator",
                &self.text[start..]
            ))
        }
    }

    fn word(&mut self) -> Option<&'a str> {
        self.skip_space();
        let start = self.at;
        let len = self.text[start..]
            .find(char::is_whitespace)
            .unwrap_or(self.text.len() - start);
        self.at += len;
        (len > 0).then(|| &self.text[start..self.at])
    }

    /// A JSON string, `true`, `false`, `null` or a number.
    fn value(&mut self) -> Result<Value, String> {
        self.skip_space();
        let rest = &self.text[self.at..];
        if rest.starts_with('"') {
            let mut escaped = false;
            for (i, c) in rest.char_indices().skip(1) {
                match c {
                    _ if escaped => escaped = false,
                    '\\' => escaped = true,
                    '"' => {
                        self.at += i + 1;
                        return serde_json::from_str(&rest[..=i])
                            .map_err(|_| format!("{} is not a valid string", &rest[..=i]));
                    }
                    _ => {}
                }
            }
            return Err("a string is not closed".into());
        }
        let word = self.word().ok_or("expected a value")?;
        match serde_json::from_str::<Value>(&word.to_ascii_lowercase()) {
            Ok(v @ (Value::Bool(_) | Value::Null | Value::Number(_))) => Ok(v),
            _ => Err(format!("`{word}` is not a value (strings are quoted)")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filters_idps_send_parse() {
        assert_eq!(
            parse(r#"userName eq "Ann@Acme.com""#, Resource::User).unwrap(),
            vec![Term::UserName("Ann@Acme.com".into())]
        );
        assert_eq!(
            parse(r#"externalId eq "00u1""#, Resource::User).unwrap(),
            vec![Term::ExternalId("00u1".into())]
        );
        assert_eq!(
            parse(
                r#"emails[type eq "work"].value eq "a@b.c" AND id eq "agt_1""#,
                Resource::User
            )
            .unwrap(),
            vec![Term::Email("a@b.c".into()), Term::Id("agt_1".into())]
        );
        assert_eq!(
            parse(r#"USERNAME EQ "x""#, Resource::User).unwrap(),
            vec![Term::UserName("x".into())]
        );
        assert_eq!(
            parse(
                r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "a\"b""#,
                Resource::User
            )
            .unwrap(),
            vec![Term::UserName("a\"b".into())]
        );
        assert_eq!(
            parse(r#"displayName eq "Billing Team""#, Resource::Group).unwrap(),
            vec![Term::DisplayName("Billing Team".into())]
        );
    }

    #[test]
    fn anything_else_is_invalid_filter_naming_what() {
        for (bad, says) in [
            (r#"userName co "a""#, "`co`"),
            (r#"userName eq "a" or id eq "b""#, "`or`"),
            (r#"title eq "x""#, "`title`"),
            (r#"displayName eq "x""#, "`displayName`"),
            (r#"(userName eq "a")"#, "parentheses"),
            (r#"userName eq"#, "expected a value"),
            (r#"userName eq "a"#, "not closed"),
            (r#"userName eq a"#, "`a`"),
            (r#"active eq true"#, "`active`"),
            (
                r#"emails[type eq "home"].value eq "a""#,
                r#"emails[type eq "home"].value"#,
            ),
            (r#"userName eq true"#, "only strings"),
            ("", "expected an attribute"),
        ] {
            let e = parse(bad, Resource::User).unwrap_err();
            assert_eq!(
                (e.status, e.scim_type),
                (400, Some("invalidFilter")),
                "{bad}"
            );
            assert!(
                e.detail.contains(says),
                "{bad}: expected the detail to name {says}, got {:?}",
                e.detail
            );
        }
    }
}
