//! JSON forms of the WIT values, as the CLI prints them. Keys and enum
//! values are spelled as in the WIT (`email-address`, `team-lead`), so what a
//! script reads matches the contract it would program against.

use serde_json::{Map, Value, json};

use crate::agents::*;

pub fn role(r: &Role) -> Value {
    json!(match r {
        Role::Agent => "agent",
        Role::TeamLead => "team-lead",
        Role::Admin => "admin",
        Role::Analyst => "analyst",
        Role::Task => "task",
        Role::Other(s) => return json!({ "other": s }),
    })
}

pub fn status(s: &AgentStatus) -> Value {
    json!(match s {
        AgentStatus::Available => "available",
        AgentStatus::Busy => "busy",
        AgentStatus::Away => "away",
        AgentStatus::Offline => "offline",
        AgentStatus::Other(s) => return json!({ "other": s }),
    })
}

pub fn outcome(o: Outcome) -> &'static str {
    match o {
        Outcome::Created => "created",
        Outcome::Reactivated => "reactivated",
        Outcome::AlreadyExisted => "already-existed",
        Outcome::Updated => "updated",
        Outcome::Unchanged => "unchanged",
        Outcome::Deactivated => "deactivated",
        Outcome::AlreadyInactive => "already-inactive",
    }
}

/// Leaves out fields Gladly did not send, rather than printing `null`s.
fn object(fields: Vec<(&str, Option<Value>)>) -> Value {
    let map: Map<String, Value> = fields
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
        .collect();
    Value::Object(map)
}

pub fn agent(a: &Agent) -> Value {
    object(vec![
        ("id", Some(json!(a.id))),
        ("email-address", Some(json!(a.email_address))),
        ("name", a.name.as_ref().map(|v| json!(v))),
        ("role", a.role.as_ref().map(role)),
        (
            "agent-profile",
            a.agent_profile.as_ref().map(|p| {
                object(vec![
                    ("bio", p.bio.as_ref().map(|v| json!(v))),
                    ("avatar-url", p.avatar_url.as_ref().map(|v| json!(v))),
                ])
            }),
        ),
        ("inboxes", a.inboxes.as_ref().map(|v| json!(v))),
        ("teams", a.teams.as_ref().map(|v| json!(v))),
        ("active", a.active.map(|v| json!(v))),
        ("phone-number", a.phone_number.as_ref().map(|v| json!(v))),
        ("external-id", a.external_id.as_ref().map(|v| json!(v))),
        ("language", a.language.as_ref().map(|v| json!(v))),
        ("created-at", a.created_at.as_ref().map(|v| json!(v))),
        ("updated-at", a.updated_at.as_ref().map(|v| json!(v))),
        ("agent-status", a.agent_status.as_ref().map(status)),
    ])
}

pub fn write_result(r: &WriteResult) -> Value {
    json!({
        "outcome": outcome(r.outcome),
        "agent": r.agent.as_ref().map(agent),
        "dry-run": r.dry_run,
        "requests": r.requests.iter().map(|p| object(vec![
            ("method", Some(json!(p.method))),
            ("path", Some(json!(p.path))),
            ("body", p.body.as_ref().map(|b| serde_json::from_str(b).unwrap_or_else(|_| json!(b)))),
        ])).collect::<Vec<_>>(),
        "differences": r.differences,
        "warnings": r.warnings,
    })
}

pub fn team(t: &Team) -> Value {
    object(vec![
        ("id", Some(json!(t.id))),
        ("name", t.name.as_ref().map(|v| json!(v))),
        ("description", t.description.as_ref().map(|v| json!(v))),
        ("agent-ids", t.agent_ids.as_ref().map(|v| json!(v))),
    ])
}

pub fn inbox(i: &Inbox) -> Value {
    object(vec![
        ("id", Some(json!(i.id))),
        ("name", i.name.as_ref().map(|v| json!(v))),
        ("channel-type", i.channel_type.as_ref().map(|v| json!(v))),
        ("disabled", i.disabled.map(|v| json!(v))),
    ])
}

pub fn availability(a: &Availability) -> Value {
    object(vec![
        ("agent-id", Some(json!(a.agent_id))),
        ("status", Some(status(&a.status))),
        ("updated-at", a.updated_at.as_ref().map(|v| json!(v))),
    ])
}

pub fn connection_info(i: &ConnectionInfo) -> Value {
    json!({
        "base-url": i.base_url,
        "api-flavor": match i.api_flavor {
            ApiFlavor::Lifecycle => "lifecycle",
            ApiFlavor::PublicSpec => "public-spec",
        },
    })
}

/// The line the CLI prints for a failure from Gladly (or a call's bad
/// input): its case as the WIT names it, then its words, shown escaped.
pub fn error_line(e: &crate::agents::Error) -> String {
    format!(
        "error: {}: {}",
        crate::error_case(e),
        printable(&crate::error_message(e))
    )
}

/// Text for a terminal: a plan file's or a server's words may hold control
/// characters (an escape sequence that rewrites the screen) or direction
/// overrides; each is shown escaped (`\u{1b}`), never acted on, a line
/// break too: what it quotes stays on its line.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            let hidden =
                c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
            if hidden {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// An organisation's URL as the CLI shows it: its scheme and host (and
/// port) alone, as the connector reads them, never what else was written
/// (a token pasted after an `@` or in a query); one the connector refuses
/// is not shown at all.
pub fn org_shown(url: &str) -> String {
    match gladly_connector::validate::base_url(url) {
        Ok(b) => format!("{}://{}", b.scheme, b.authority),
        Err(_) => "an org URL the connector refuses (its error says why)".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_org_url_is_shown_by_its_scheme_and_host_alone() {
        assert_eq!(
            org_shown("https://acme.gladly.com/"),
            "https://acme.gladly.com"
        );
        assert_eq!(org_shown("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
        for pasted in [
            "https://api:t0ken-pasted@acme.gladly.com",
            "https://acme.gladly.com/?token=t0ken-pasted",
            "t0ken-pasted",
            "https://acme.gladly.com/t0ken-pasted",
        ] {
            let shown = org_shown(pasted);
            assert!(!shown.contains("t0ken"), "{pasted} shown as {shown}");
        }
    }

    #[test]
    fn text_for_a_terminal_shows_escapes_never_acts_on_them() {
        assert_eq!(
            printable("a\u{1b}[2Jb\u{202E}c\nd\te"),
            "a\\u{1b}[2Jb\\u{202e}c\\u{a}d\\u{9}e"
        );
        assert_eq!(printable("x\ny"), "x\\u{a}y");
        assert_eq!(printable("josé <ok>"), "josé <ok>");
    }
}
