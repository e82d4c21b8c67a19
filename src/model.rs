//! Plain-Rust mirror of the WIT types, with Gladly's JSON spelling.
//!
//! Decoding is lenient on purpose: both Gladly API shapes must decode, unknown
//! fields are ignored, and unknown enum values land in `Other` rather than
//! failing (GLADLY-API.md, "What follows for the connector").

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Where and as whom to call Gladly. `Debug` never shows the credential.
#[derive(Clone, PartialEq, Eq)]
pub struct Connection {
    pub org_url: String,
    pub api_user: String,
    pub credential: Credential,
}

/// How the component comes by the API token (WIT `credential`).
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// The token itself: the component builds the Basic header.
    Token(String),
    /// A placeholder the host replaces by `base64(api-user:token)` on the
    /// way out, only towards the organisation.
    HostCompleted(String),
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("org_url", &self.org_url)
            .field("api_user", &self.api_user)
            .field("credential", &self.credential)
            .finish()
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Credential::Token(_) => "Token(<redacted>)",
            Credential::HostCompleted(_) => "HostCompleted(<redacted>)",
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AgentKey {
    Id(String),
    Email(String),
    ExternalId(String),
}

/// Declares an enum whose Gladly spelling is SCREAMING_SNAKE and whose unknown
/// values are kept in `Other`, with lenient serde both ways.
macro_rules! open_enum {
    ($name:ident { $($variant:ident => $wire:literal),+ $(,)? }) => {
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub enum $name {
            $($variant,)+
            /// A value this version does not know, as Gladly spelled it.
            Other(String),
        }

        impl $name {
            /// Known values, as Gladly spells them.
            pub const KNOWN: &'static [&'static str] = &[$($wire),+];

            pub fn as_gladly(&self) -> &str {
                match self {
                    $(Self::$variant => $wire,)+
                    Self::Other(s) => s,
                }
            }

            /// Case-insensitive, and `-` is read as `_`, so `team-lead`
            /// and `TEAM_LEAD` are the same role.
            pub fn from_gladly(s: &str) -> Self {
                let norm = s.trim().to_ascii_uppercase().replace('-', "_");
                match norm.as_str() {
                    $($wire => Self::$variant,)+
                    _ => Self::Other(s.to_string()),
                }
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_gladly())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Ok(Self::from_gladly(&s))
            }
        }
    };
}

open_enum!(Role {
    Agent => "AGENT",
    TeamLead => "TEAM_LEAD",
    Admin => "ADMIN",
    Analyst => "ANALYST",
    Task => "TASK",
});

open_enum!(AgentStatus {
    Available => "AVAILABLE",
    Busy => "BUSY",
    Away => "AWAY",
    Offline => "OFFLINE",
});

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentProfile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bio: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar_url: Option<String>,
}

/// The agent fields a write may send, as Gladly spells them.
pub const AGENT_FIELDS: &[&str] = &[
    "emailAddress",
    "name",
    "role",
    "inboxes",
    "teams",
    "externalId",
    "phoneNumber",
    "language",
    "agentProfile",
    "active",
];

/// An agent as Gladly returned it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Agent {
    pub id: String,
    pub email_address: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub role: Option<Role>,
    #[serde(default)]
    pub agent_profile: Option<AgentProfile>,
    #[serde(default)]
    pub inboxes: Option<Vec<String>>,
    #[serde(default)]
    pub teams: Option<Vec<String>>,
    #[serde(default)]
    pub active: Option<bool>,
    #[serde(default)]
    pub phone_number: Option<String>,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
    #[serde(default)]
    pub agent_status: Option<AgentStatus>,
}

impl Agent {
    /// Deactivated agents say `active: false`; an agent whose record does not
    /// say (Gladly's public spec) is taken as active.
    pub fn is_active(&self) -> bool {
        self.active != Some(false)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAgent {
    pub email_address: String,
    pub name: String,
    pub role: Role,
    pub inboxes: Vec<String>,
    pub teams: Vec<String>,
    pub external_id: Option<String>,
    pub phone_number: Option<String>,
    pub language: Option<String>,
    pub agent_profile: Option<AgentProfile>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MembershipDelta {
    pub add: Vec<String>,
    pub remove: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MembershipChange {
    Set(Vec<String>),
    Delta(MembershipDelta),
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AgentChanges {
    pub email_address: Option<String>,
    pub name: Option<String>,
    pub role: Option<Role>,
    pub inboxes: Option<MembershipChange>,
    pub teams: Option<MembershipChange>,
    pub external_id: Option<String>,
    pub phone_number: Option<String>,
    pub language: Option<String>,
    pub agent_profile: Option<AgentProfile>,
}

/// Bounds on retries of one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub max_total_wait: Duration,
}

impl Default for RetryPolicy {
    /// 5 attempts per request, 30 s of waiting in all (stated in the WIT).
    fn default() -> Self {
        Self {
            max_attempts: 5,
            max_total_wait: Duration::from_secs(30),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteOptions {
    pub dry_run: bool,
    pub no_reactivate: bool,
    pub retry: Option<RetryPolicy>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Reactivated,
    AlreadyExisted,
    Updated,
    Unchanged,
    Deactivated,
    AlreadyInactive,
}

/// A request a write sent or would send; never carries credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedRequest {
    pub method: String,
    pub path: String,
    pub body: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteResult {
    pub outcome: Outcome,
    pub agent: Option<Agent>,
    pub dry_run: bool,
    pub requests: Vec<PlannedRequest>,
    pub differences: Vec<String>,
    pub warnings: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Team {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub agent_ids: Option<Vec<String>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Inbox {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub channel_type: Option<String>,
    #[serde(default)]
    pub disabled: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Availability {
    pub agent_id: String,
    pub status: AgentStatus,
    #[serde(default)]
    pub updated_at: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiFlavor {
    /// Enveloped, cursor-paged lists; writable agents (the seeds' contract).
    Lifecycle,
    /// Plain-array lists; read-only agents (Gladly's public spec).
    PublicSpec,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionInfo {
    pub base_url: String,
    pub api_flavor: ApiFlavor,
}

/// Whether two e-mail addresses name the same login: compared without case,
/// Unicode case included (`JOSÉ@acme.com` is `josé@acme.com`), as Gladly
/// compares them, and in Unicode's composed form; but an address holding a look-alike of an ASCII letter
/// (the Kelvin sign K, whose lower case is k) is compared as written, so
/// that it never finds, and offboards, the agent it imitates.
pub fn same_email(a: &str, b: &str) -> bool {
    email_key(a) == email_key(b)
}

/// The form under which an address (or a domain) is compared and filed:
/// trimmed, in Unicode's composed form (NFC: é as one character or as e and
/// a combining accent is one address), in lower case; but one holding a look-alike of an ASCII letter
/// is lowered in ASCII only, so the look-alike stays itself. The one rule
/// for every comparison of addresses (planning, matching, scopes).
pub fn email_key(s: &str) -> String {
    let s = s.trim();
    if s.chars().any(crate::validate::lookalike) {
        s.to_ascii_lowercase()
    } else {
        use unicode_normalization::UnicodeNormalization as _;
        // NFC again after lowering: a capital with no composed form
        // (J + U+030C) lowers to a letter that has one (U+01F0).
        s.nfc().collect::<String>().to_lowercase().nfc().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_role_and_status_decode_as_other() {
        let a: Agent = serde_json::from_str(
            r#"{"id":"a","emailAddress":"x@y.io","role":"SUPERVISOR","agentStatus":"ON_BREAK","extra":{"n":1}}"#,
        )
        .unwrap();
        assert_eq!(a.role, Some(Role::Other("SUPERVISOR".into())));
        assert_eq!(a.agent_status, Some(AgentStatus::Other("ON_BREAK".into())));
    }

    #[test]
    fn public_spec_minimal_agent_decodes() {
        let a: Agent =
            serde_json::from_str(r#"{"id":"a","name":"N","emailAddress":"x@y.io"}"#).unwrap();
        assert!(a.is_active());
        assert_eq!(a.inboxes, None);
    }

    #[test]
    fn role_reads_wit_and_gladly_spellings() {
        assert_eq!(Role::from_gladly("team-lead"), Role::TeamLead);
        assert_eq!(Role::from_gladly("TEAM_LEAD"), Role::TeamLead);
        assert_eq!(Role::TeamLead.as_gladly(), "TEAM_LEAD");
    }

    /// Lower case after NFC is not always in NFC: capital J with a caron
    /// (J + U+030C, no composed capital exists) lowers to j + U+030C, whose
    /// NFC is U+01F0; so are W + ring, Greek capitals with marks. Either
    /// spelling of one address must file under one key (found in review:
    /// helper-48).
    #[test]
    fn an_address_whose_lower_case_composes_is_one_address() {
        for (upper, lower) in [
            ("J\u{30C}ane@acme.example", "\u{1F0}ane@acme.example"),
            ("W\u{30A}@acme.example", "\u{1E98}@acme.example"),
            ("x@\u{3AA}\u{301}.example", "x@\u{390}.example"),
        ] {
            assert!(same_email(upper, lower), "{upper:?} vs {lower:?}");
            use unicode_normalization::UnicodeNormalization as _;
            let key = email_key(upper);
            assert_eq!(key, key.nfc().collect::<String>(), "{upper:?}");
        }
    }

    #[test]
    fn connection_debug_hides_token() {
        let c = Connection {
            org_url: "https://acme.gladly.com".into(),
            api_user: "u".into(),
            credential: Credential::Token("s3cr3t-token".into()),
        };
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cr3t-token"), "got {shown}");
    }
}
