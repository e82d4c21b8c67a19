//! SCIM errors (RFC 7644 §3.12): an HTTP status, a `scimType` where the RFC
//! has one, and a detail a person can act on.

use serde_json::{Value, json};

use crate::directory::DirectoryError;

pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// The longest `Retry-After` (seconds) passed on to an IdP, whatever Gladly
/// asked for: a wait of days would stall its sync job for nothing.
pub const MAX_RETRY_AFTER_SECS: u64 = 300;

/// A SCIM error answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScimError {
    pub status: u16,
    /// `invalidFilter`, `invalidValue`, `uniqueness`, `invalidSyntax`,
    /// `invalidPath`, `noTarget`, `mutability`, `tooMany`.
    pub scim_type: Option<&'static str>,
    pub detail: String,
    /// Seconds, for a 429.
    pub retry_after: Option<u64>,
    /// The methods the resource answers, for a 405 (its `Allow` header).
    pub allow: Option<&'static str>,
}

impl ScimError {
    pub fn new(status: u16, scim_type: Option<&'static str>, detail: impl Into<String>) -> Self {
        ScimError {
            status,
            scim_type,
            detail: detail.into(),
            retry_after: None,
            allow: None,
        }
    }

    /// 405: `method` is not one `path` answers; `allow` lists those it does.
    pub fn not_allowed(method: &str, path: &str, allow: &'static str) -> Self {
        ScimError {
            allow: Some(allow),
            ..Self::new(
                405,
                None,
                format!("{method} is not allowed on {path}, which answers {allow}"),
            )
        }
    }

    /// 400 `invalidValue`: the attribute, and what is wrong with it.
    pub fn invalid_value(attribute: &str, what: impl std::fmt::Display) -> Self {
        Self::new(400, Some("invalidValue"), format!("{attribute}: {what}"))
    }

    /// 400 `invalidSyntax`.
    pub fn invalid_syntax(what: impl Into<String>) -> Self {
        Self::new(400, Some("invalidSyntax"), what)
    }

    /// 400 `invalidFilter`.
    pub fn invalid_filter(what: impl std::fmt::Display) -> Self {
        Self::new(400, Some("invalidFilter"), format!("filter: {what}"))
    }

    /// 400 `invalidPath`.
    pub fn invalid_path(path: &str, what: impl std::fmt::Display) -> Self {
        Self::new(400, Some("invalidPath"), format!("path {path:?}: {what}"))
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(404, None, what)
    }

    /// 409 `uniqueness`.
    pub fn uniqueness(what: impl Into<String>) -> Self {
        Self::new(409, Some("uniqueness"), what)
    }

    /// The Error resource.
    pub fn body(&self) -> Value {
        let mut body = json!({
            "schemas": [ERROR_SCHEMA],
            // A string, as RFC 7644 §3.12 writes it (Okta's test checks it).
            "status": self.status.to_string(),
            "detail": self.detail,
        });
        if let Some(t) = self.scim_type {
            body["scimType"] = json!(t);
        }
        body
    }
}

/// What Gladly's failures become. The SCIM client's own credential was good
/// (it got this far), so Gladly refusing the gateway's credential is the
/// gateway's failure, 502, never a 401 the IdP would blame on its token.
impl From<DirectoryError> for ScimError {
    fn from(e: DirectoryError) -> Self {
        match e {
            DirectoryError::Unauthorized(m) => Self::new(
                502,
                None,
                format!(
                    "Gladly refused the gateway's API credential (GLADLY_API_USER, GLADLY_API_TOKEN): {m}"
                ),
            ),
            DirectoryError::Forbidden(m) => Self::new(
                502,
                None,
                format!(
                    "Gladly forbids the gateway's API user this (writes need an Administrator's token): {m}"
                ),
            ),
            DirectoryError::NotFound(m) => Self::not_found(m),
            DirectoryError::Conflict(m) => Self::uniqueness(m),
            DirectoryError::RateLimited {
                retry_after_ms,
                message,
            } => ScimError {
                status: 429,
                scim_type: None,
                detail: format!("Gladly's rate limit: {message}"),
                retry_after: Some(
                    retry_after_ms
                        .map_or(1, |ms| ms.div_ceil(1000))
                        .clamp(1, MAX_RETRY_AFTER_SECS),
                ),
                allow: None,
            },
            // The gateway's own connection, environment or options, not
            // the request: the IdP can do nothing about them.
            DirectoryError::InvalidInput { field, message } if gateway_setting(&field) => {
                Self::new(
                    500,
                    None,
                    format!("the gateway is misconfigured: {field}: {message}"),
                )
            }
            DirectoryError::InvalidInput { field, message } => {
                Self::invalid_value(attribute_of(&field), message)
            }
            DirectoryError::Unsupported(m) => Self::new(501, None, m),
            DirectoryError::Upstream(m) => Self::new(502, None, format!("Gladly: {m}")),
            DirectoryError::Misconfigured(m) => {
                Self::new(500, None, format!("the gateway is misconfigured: {m}"))
            }
            DirectoryError::Transport(m) => {
                Self::new(503, None, format!("Gladly could not be reached: {m}"))
            }
        }
    }
}

/// Whether a field the connector refuses is the gateway's own connection,
/// environment or options, not the request's.
pub fn gateway_setting(field: &str) -> bool {
    ["connection.", "env.", "options."]
        .iter()
        .any(|p| field.starts_with(p))
}

/// The SCIM attribute a connector field comes from, so that an IdP's admin
/// reads the name they mapped (`displayName`, not `agent.name`). Fields no
/// SCIM attribute feeds keep the connector's name.
fn attribute_of(field: &str) -> &str {
    // `agent.name`, `changes.teams.add`: the connector's name for the field
    // is its second part.
    let leaf = field.split('.').nth(1).unwrap_or(field);
    match (field, leaf) {
        ("key.id", _) => "id",
        (_, "name") => "displayName",
        (_, "email-address" | "email") => "userName",
        (_, "external-id") => "externalId",
        (_, "phone-number") => "phoneNumbers",
        (_, "language") => "preferredLanguage",
        (_, "role") => "roles",
        (_, "teams" | "inboxes") => "members",
        _ => field,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_at_least_a_second_and_at_most_the_cap() {
        for (asked, told) in [
            (None, 1),
            (Some(0), 1),
            (Some(1_500), 2),
            (Some(3_600_000), MAX_RETRY_AFTER_SECS),
            (Some(u64::MAX), MAX_RETRY_AFTER_SECS),
        ] {
            let e = ScimError::from(DirectoryError::RateLimited {
                retry_after_ms: asked,
                message: "slow down".into(),
            });
            assert_eq!((e.status, e.retry_after), (429, Some(told)), "{asked:?}");
        }
    }

    #[test]
    fn the_connectors_refusals_name_the_scim_attribute() {
        for (field, attribute) in [
            ("agent.name", "displayName"),
            ("changes.name", "displayName"),
            ("agent.email-address", "userName"),
            ("key.email", "userName"),
            ("changes.external-id", "externalId"),
            ("key.external-id", "externalId"),
            ("agent.phone-number", "phoneNumbers"),
            ("changes.language", "preferredLanguage"),
            ("agent.role", "roles"),
            ("changes.teams.add", "members"),
            ("changes.inboxes.remove", "members"),
            ("key.id", "id"),
            ("agent.agent-profile.bio", "agent.agent-profile.bio"),
        ] {
            let e = ScimError::from(DirectoryError::InvalidInput {
                field: field.into(),
                message: "is wrong".into(),
            });
            assert_eq!(
                (e.status, e.scim_type, e.detail.as_str()),
                (
                    400,
                    Some("invalidValue"),
                    format!("{attribute}: is wrong").as_str()
                ),
                "{field}"
            );
        }
        // The gateway's own settings are no fault of the request.
        for field in [
            "connection.org-url",
            "env.GLADLY_RATE_SHARE",
            "options.retry",
        ] {
            let e = ScimError::from(DirectoryError::InvalidInput {
                field: field.into(),
                message: "is wrong".into(),
            });
            assert_eq!((e.status, e.scim_type), (500, None), "{field}");
            assert!(
                e.detail.contains(&format!("misconfigured: {field}")),
                "{}",
                e.detail
            );
        }
    }
}
