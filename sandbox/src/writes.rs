//! Creating and changing agents, with the lifecycle contract's checks.

// Validation helpers return the HTTP error response itself as `Err`: it is
// built once per refused request, so its size does not matter here.
#![allow(clippy::result_large_err)]

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use crate::errors::{error, not_exist};
use crate::org::{AgentRec, Org, WelcomeEmail, now};
use crate::routes::full;

const ROLES: &[&str] = &["AGENT", "TEAM_LEAD", "ADMIN", "ANALYST", "TASK"];

/// The fields of an agent a client may write (seed 000's data model).
const WRITABLE: &[&str] = &[
    "emailAddress",
    "name",
    "role",
    "agentProfile",
    "inboxes",
    "teams",
    "active",
    "phoneNumber",
    "externalId",
    "language",
];

/// The fields the system sets: immutable (`id`, `createdAt`), or read-only
/// through the API (`updatedAt`, `agentStatus`).
const READ_ONLY: &[&str] = &["id", "createdAt", "updatedAt", "agentStatus"];

/// The fields of `agentProfile`: its bio and avatar URL.
const PROFILE: &[&str] = &["bio", "avatarUrl"];

fn parse_body(body: &Bytes) -> Result<Map<String, Value>, Response> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(error(
            StatusCode::BAD_REQUEST,
            None,
            "invalid_json",
            "body must be a JSON object",
        )),
    }
}

/// Checks and applies writable fields from `body` to `a`. `creating` makes
/// `emailAddress`, `name` and `role` required.
fn apply(
    org: &Org,
    a: &mut AgentRec,
    body: &Map<String, Value>,
    creating: bool,
) -> Result<(), Response> {
    let bad =
        |attr: &str, detail: &str| error(StatusCode::BAD_REQUEST, Some(attr), "invalid", detail);
    let string = |k: &str| -> Result<Option<String>, Response> {
        match body.get(k) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(bad(k, "must be a string")),
        }
    };
    // A field the system sets, or one an agent does not have, is refused
    // rather than ignored: Gladly does not say it ignores them, so a client
    // that sends one passes here only if it would pass a server that
    // refuses them.
    for key in body.keys() {
        if READ_ONLY.contains(&key.as_str()) {
            return Err(bad(key, "is set by Gladly and cannot be written"));
        }
        if !WRITABLE.contains(&key.as_str()) {
            return Err(bad(key, "is not a field of an agent"));
        }
    }
    for required in ["emailAddress", "name", "role"] {
        if creating && !body.contains_key(required) {
            return Err(error(
                StatusCode::BAD_REQUEST,
                Some(required),
                "blank",
                "is required",
            ));
        }
    }
    if let Some(email) = string("emailAddress")? {
        if !email.contains('@') {
            return Err(bad("emailAddress", "is not an e-mail address"));
        }
        // Unique in the organisation, deactivated agents included.
        if let Some(other) = org
            .agents
            .iter()
            .find(|o| o.id != a.id && o.email_address.to_lowercase() == email.to_lowercase())
        {
            return Err(error(
                StatusCode::CONFLICT,
                Some("emailAddress"),
                "taken",
                &format!("emailAddress is already used by agent {}", other.id),
            ));
        }
        a.email_address = email;
    }
    if let Some(name) = string("name")? {
        if name.trim().is_empty() {
            return Err(bad("name", "must not be empty"));
        }
        a.name = name;
    }
    if let Some(role) = string("role")? {
        if !ROLES.contains(&role.as_str()) {
            return Err(bad("role", "is not a known role"));
        }
        a.role = role;
    }
    for (key, known) in [("inboxes", &org.inboxes), ("teams", &org.teams)] {
        match body.get(key) {
            None => {}
            Some(Value::Array(ids)) => {
                let mut list = Vec::new();
                for id in ids {
                    let Some(id) = id.as_str() else {
                        return Err(bad(key, "must be a list of ids"));
                    };
                    if !known.iter().any(|k| k.id == id) {
                        return Err(bad(key, &format!("{id} does not exist")));
                    }
                    list.push(id.to_string());
                }
                // PATCH replaces the whole array (seed 000).
                if key == "inboxes" {
                    a.inboxes = list;
                } else {
                    a.teams = list;
                }
            }
            Some(_) => return Err(bad(key, "must be a list of ids")),
        }
    }
    match body.get("active") {
        None => {}
        Some(Value::Bool(b)) => a.active = *b,
        Some(_) => return Err(bad("active", "must be true or false")),
    }
    for (key, slot) in [
        ("phoneNumber", &mut a.phone_number),
        ("externalId", &mut a.external_id),
        ("language", &mut a.language),
    ] {
        match body.get(key) {
            None => {}
            Some(Value::Null) => *slot = None,
            Some(Value::String(s)) => *slot = Some(s.clone()),
            Some(_) => return Err(bad(key, "must be a string")),
        }
    }
    match body.get("agentProfile") {
        None => {}
        Some(p @ Value::Object(m)) => {
            for (k, v) in m {
                if !PROFILE.contains(&k.as_str()) {
                    return Err(bad(
                        &format!("agentProfile.{k}"),
                        "is not a field of a profile",
                    ));
                }
                if !v.is_string() && !v.is_null() {
                    return Err(bad(&format!("agentProfile.{k}"), "must be a string"));
                }
            }
            a.agent_profile = Some(p.clone());
        }
        Some(Value::Null) => a.agent_profile = None,
        Some(_) => return Err(bad("agentProfile", "must be an object")),
    }
    Ok(())
}

pub(crate) fn create_agent(org: &mut Org, body: &Bytes) -> Response {
    let body = match parse_body(body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let now = now();
    let mut a = AgentRec {
        id: format!("agt_{:03}", org.next_id + 1),
        email_address: String::new(),
        name: String::new(),
        role: String::new(),
        agent_profile: None,
        inboxes: vec![],
        teams: vec![],
        active: true,
        phone_number: None,
        external_id: None,
        language: None,
        created_at: now.clone(),
        updated_at: now,
        agent_status: "OFFLINE".into(),
    };
    if let Err(r) = apply(org, &mut a, &body, true) {
        return r;
    }
    a.active = true;
    org.next_id += 1;
    org.welcome_emails.push(WelcomeEmail {
        to: a.email_address.clone(),
        agent_id: a.id.clone(),
    });
    // As seed 000's example answers a create: these fields, not the whole
    // agent (its inboxes, teams and the rest are read back, if wanted).
    let whole = full(&a);
    let out: Map<String, Value> = ["id", "emailAddress", "name", "role", "active"]
        .into_iter()
        .filter_map(|k| Some((k.to_string(), whole.get(k)?.clone())))
        .collect();
    org.agents.push(a);
    (StatusCode::CREATED, axum::Json(out)).into_response()
}

pub(crate) fn patch_agent(org: &mut Org, id: &str, body: &Bytes) -> Response {
    let body = match parse_body(body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(index) = org.agents.iter().position(|a| a.id == id) else {
        return not_exist();
    };
    let mut a = org.agents[index].clone();
    if let Err(r) = apply(org, &mut a, &body, false) {
        return r;
    }
    a.updated_at = now();
    // As seed 000's examples answer a PATCH: the id and the fields it
    // changed (`{"id", "active": false}`), not the whole agent.
    let whole = full(&a);
    let out: Map<String, Value> = std::iter::once("id")
        .chain(body.keys().map(String::as_str))
        .map(|k| (k.to_string(), whole.get(k).cloned().unwrap_or(Value::Null)))
        .collect();
    org.agents[index] = a;
    axum::Json(out).into_response()
}
