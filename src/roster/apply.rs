//! `apply-change`: one planned change, made only if the agent is still as
//! the plan saw it.
//!
//! A plan is a file a person reviews and may edit, so a change is checked
//! before anything is sent: one request, to the path its kind and agent
//! imply, with a body of agent fields only (each checked as `provision`
//! checks them). `apply-change` is not a way to send arbitrary requests.

use serde_json::{Map, Value};

use crate::client::encode;
use crate::error::Error;
use crate::model::{AGENT_FIELDS, Agent, AgentProfile, Connection, Outcome, Role, same_email};
use crate::ops::{
    Created, REROUTE_WARNING, SSO_WARNING, Writer, check_written, create, find_by_email, get_agent,
    patch, with_client,
};
use crate::transport::Transport;
use crate::validate;

use super::{ApplyOptions, Change, ChangeKind, ChangeResult, ChangeStatus};

pub fn apply_change<T: Transport>(
    t: &mut T,
    conn: &Connection,
    change: &Change,
    options: &ApplyOptions,
) -> Result<ChangeResult, Error> {
    let body = checked_body(change)?;
    with_client(t, conn, options.retry, |c| {
        let mut w = Writer::new(options.dry_run);
        let Some(planned) = &change.current else {
            // A create: never twice. Whoever has the e-mail now settles it.
            let email = body
                .get("emailAddress")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let body = Value::Object(body);
            if let Some(there) = find_by_email(c, &email)? {
                return Ok(settled(&body, there, &email));
            }
            return Ok(match create(c, &mut w, &body, &email, "change")? {
                Created::DryRun => result(ChangeStatus::DryRun, Outcome::Created, None, &mut w),
                Created::Agent(agent, warnings) => {
                    let mut r =
                        result(ChangeStatus::Applied, Outcome::Created, Some(agent), &mut w);
                    r.warnings = warnings;
                    r
                }
                Created::Taken(there) => settled(&body, there, &email),
            });
        };
        let Some(now) = get_agent(c, &planned.id)? else {
            return Ok(stale(format!(
                "agent {} no longer exists in this organisation",
                planned.id
            )));
        };
        // A plan file may have been edited: the API user is refused here
        // too, judged by who the agent is now, before anything is written.
        if let Some(what) =
            super::locks_out_api_user(change.kind, &body, &now.email_address, &conn.api_user)
        {
            return Err(Error::Conflict {
                message: format!(
                    "agent {} ({}) is this connection's own API user: {what} would lock this integration out of Gladly; nothing was written. Do it by hand in Gladly if that is really meant",
                    now.id, now.email_address
                ),
                agent_ids: vec![now.id.clone()],
            });
        }
        let body = Value::Object(body);
        if check_written(&body, &now, "").is_ok() {
            return Ok(ChangeResult {
                status: ChangeStatus::AlreadyApplied,
                outcome: None,
                agent: Some(now),
                requests: Vec::new(),
                message: format!(
                    "agent {} already is as this change would make it",
                    planned.id
                ),
                warnings: Vec::new(),
            });
        }
        let drift = drift(planned, &now);
        if !drift.is_empty() {
            return Ok(stale(format!(
                "agent {} changed since the plan: {}; plan again",
                planned.id,
                drift.join("; ")
            )));
        }
        let agent = patch(c, &mut w, &now, body, "change")?;
        let (outcome, warnings) = match change.kind {
            ChangeKind::Deactivate => (
                Outcome::Deactivated,
                vec![SSO_WARNING.to_string(), REROUTE_WARNING.to_string()],
            ),
            ChangeKind::Reactivate => (
                Outcome::Reactivated,
                vec![format!(
                    "{} was reactivated with its id and history; restore the user's SSO access at the IdP if it was removed.",
                    now.email_address
                )],
            ),
            _ => (Outcome::Updated, Vec::new()),
        };
        let status = if options.dry_run {
            ChangeStatus::DryRun
        } else {
            ChangeStatus::Applied
        };
        let mut r = result(status, outcome, Some(agent), &mut w);
        r.warnings = warnings;
        Ok(r)
    })
}

fn result(
    status: ChangeStatus,
    outcome: Outcome,
    agent: Option<Agent>,
    w: &mut Writer,
) -> ChangeResult {
    let written = w.finish(outcome, None, Vec::new());
    ChangeResult {
        status,
        outcome: Some(outcome),
        agent,
        requests: written.requests,
        message: String::new(),
        warnings: Vec::new(),
    }
}

fn stale(message: String) -> ChangeResult {
    ChangeResult {
        status: ChangeStatus::Stale,
        outcome: None,
        agent: None,
        requests: Vec::new(),
        message,
        warnings: Vec::new(),
    }
}

/// A create found someone with the e-mail: the change was made already (by
/// an earlier apply, or a retry whose answer was lost), or someone else now
/// has the e-mail.
fn settled(body: &Value, there: Agent, email: &str) -> ChangeResult {
    if check_written(body, &there, "").is_ok() {
        ChangeResult {
            status: ChangeStatus::AlreadyApplied,
            outcome: None,
            message: format!("agent {} already exists with {email} as planned", there.id),
            agent: Some(there),
            requests: Vec::new(),
            warnings: Vec::new(),
        }
    } else {
        let mut r = stale(format!(
            "agent {} now has the e-mail {email} but differs from the plan; plan again",
            there.id
        ));
        r.agent = Some(there);
        r
    }
}

/// Where the agent now differs from what the plan saw, in the fields a
/// change reads or writes (not timestamps or availability, which move on
/// their own).
fn drift(planned: &Agent, now: &Agent) -> Vec<String> {
    let mut out = Vec::new();
    let mut field = |name: &str, a: String, b: String| {
        if a != b {
            out.push(format!("{name} was {a}, is {b}"));
        }
    };
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "none".into());
    let set = |v: &Option<Vec<String>>| {
        v.as_ref().map_or("none".into(), |v| {
            let mut v = v.clone();
            v.sort();
            format!("[{}]", v.join(", "))
        })
    };
    if !same_email(&planned.email_address, &now.email_address) {
        field(
            "email-address",
            planned.email_address.clone(),
            now.email_address.clone(),
        );
    }
    field("name", opt(&planned.name), opt(&now.name));
    field(
        "role",
        format!("{:?}", planned.role),
        format!("{:?}", now.role),
    );
    field("inboxes", set(&planned.inboxes), set(&now.inboxes));
    field("teams", set(&planned.teams), set(&now.teams));
    field(
        "active",
        format!("{:?}", planned.active),
        format!("{:?}", now.active),
    );
    field(
        "external-id",
        opt(&planned.external_id),
        opt(&now.external_id),
    );
    field(
        "phone-number",
        opt(&planned.phone_number),
        opt(&now.phone_number),
    );
    field("language", opt(&planned.language), opt(&now.language));
    field(
        "agent-profile",
        format!("{:?}", planned.agent_profile),
        format!("{:?}", now.agent_profile),
    );
    out
}

/// Whether `apply_change` would take `change` as written (its one request,
/// its body, its e-mail), checked without sending anything: a host checks
/// every change of a plan file before it applies the first.
pub fn check_change(change: &Change) -> Result<(), Error> {
    checked_body(change).map(|_| ())
}

/// The change's one request, checked: method and path as its kind and agent
/// imply, a JSON object of agent fields, each valid.
fn checked_body(change: &Change) -> Result<Map<String, Value>, Error> {
    let bad = |field: &str, why: String| Err(Error::invalid(format!("change.{field}"), why));
    let [request] = change.requests.as_slice() else {
        return bad(
            "requests",
            format!(
                "holds {} requests; a change is exactly one",
                change.requests.len()
            ),
        );
    };
    let (method, path) = match (&change.kind, &change.current) {
        (ChangeKind::Create, None) => ("POST", "/api/v1/agents".to_string()),
        (ChangeKind::Create, Some(_)) => {
            return bad("current", "a create has no current agent".into());
        }
        (_, None) => return bad("current", "is missing: only a create has none".into()),
        (_, Some(a)) => (
            "PATCH",
            format!(
                "/api/v1/agents/{}",
                encode(&validate::id("change.current.id", &a.id)?)
            ),
        ),
    };
    if request.method != method || request.path != path {
        return bad(
            "requests",
            format!(
                "is {} {}, but a {:?} of this agent is {method} {path}",
                request.method, request.path, change.kind
            ),
        );
    }
    let Some(Value::Object(mut body)) = request
        .body
        .as_deref()
        .map(serde_json::from_str::<Value>)
        .transpose()
        .ok()
        .flatten()
    else {
        return bad("requests", "the body is not a JSON object".into());
    };
    // Read with the last of a key written twice, while a reviewer may read
    // the first.
    if let Some((k, _)) = request.body.as_deref().and_then(validate::duplicate_key) {
        return bad(
            "requests",
            format!("the body writes '{k}' twice; which one is meant cannot be told"),
        );
    }
    if let Some(k) = body.keys().find(|k| !AGENT_FIELDS.contains(&k.as_str())) {
        return bad(
            "requests",
            format!("the body writes '{k}', which is not an agent field"),
        );
    }
    let text = |k: &str| body.get(k).and_then(Value::as_str);
    for k in [
        "emailAddress",
        "name",
        "role",
        "externalId",
        "phoneNumber",
        "language",
    ] {
        if body.get(k).is_some_and(|v| !v.is_string()) {
            return bad("requests", format!("'{k}' in the body is not a string"));
        }
    }
    // Each text field as its check returns it (NFC, trimmed), to be sent
    // so.
    let mut checked: Vec<(&str, Value)> = Vec::new();
    if let Some(e) = text("emailAddress") {
        let email = validate::email("change.requests.body.emailAddress", e)?;
        // What the report says of the change is what it sends.
        if !same_email(e, &change.email_address) {
            return bad(
                "requests",
                format!(
                    "the body writes the e-mail {e}, but the change is {}'s",
                    change.email_address
                ),
            );
        }
        checked.push(("emailAddress", Value::String(email)));
    } else if let Some(a) = &change.current
        && !same_email(&a.email_address, &change.email_address)
    {
        // Nor may the report name one agent while the change writes
        // another's: a change that keeps the e-mail is its agent's.
        return bad(
            "email-address",
            format!(
                "is {}, but the change writes agent {}, whose e-mail is {}",
                change.email_address, a.id, a.email_address
            ),
        );
    }
    if let Some(r) = text("role") {
        // As Gladly spells it: the body goes to Gladly as it is.
        let role = Role::from_gladly(r);
        validate::role("change.requests.body.role", &role)?;
        if role.as_gladly() != r {
            return bad(
                "requests",
                format!(
                    "'role' in the body is {r:?}, which Gladly spells {:?}",
                    role.as_gladly()
                ),
            );
        }
    }
    if let Some(p) = body.get("agentProfile") {
        let field = "change.requests.body.agentProfile";
        let known = |k: &String| k == "bio" || k == "avatarUrl";
        let Some(map) = p
            .as_object()
            .filter(|m| m.keys().all(known) && m.values().all(|v| v.is_string() || v.is_null()))
        else {
            return Err(Error::invalid(
                field,
                "must be an object of 'bio' and 'avatarUrl', each a string",
            ));
        };
        let profile: AgentProfile = serde_json::from_value(Value::Object(map.clone()))
            .map_err(|e| Error::invalid(field, e.to_string()))?;
        // A null (cleared) stays null; the URL goes as checked (trimmed).
        let mut sent = map.clone();
        if let Some(url) = validate::profile(field, &profile)?.avatar_url {
            sent.insert("avatarUrl".into(), Value::String(url));
        }
        checked.push(("agentProfile", Value::Object(sent)));
    }
    if let Some(n) = text("name") {
        checked.push((
            "name",
            Value::String(validate::name("change.requests.body.name", n)?),
        ));
    }
    if let Some(x) = text("externalId") {
        checked.push((
            "externalId",
            Value::String(validate::external_id("change.requests.body.externalId", x)?),
        ));
    }
    if let Some(p) = text("phoneNumber") {
        checked.push((
            "phoneNumber",
            Value::String(validate::phone("change.requests.body.phoneNumber", p)?),
        ));
    }
    if let Some(l) = text("language") {
        checked.push((
            "language",
            Value::String(validate::language("change.requests.body.language", l)?),
        ));
    }
    for k in ["inboxes", "teams"] {
        match body.get(k) {
            None => {}
            Some(Value::Array(ids))
                if ids
                    .iter()
                    .all(|v| v.as_str().is_some_and(|s| validate::id("x", s).is_ok())) => {}
            Some(_) => {
                return bad(
                    "requests",
                    format!("'{k}' in the body is not a list of ids"),
                );
            }
        }
    }
    if body.get("active").is_some_and(|v| !v.is_boolean()) {
        return bad(
            "requests",
            "'active' in the body is not true or false".into(),
        );
    }
    let active = body.get("active").and_then(Value::as_bool);
    let fits = match change.kind {
        ChangeKind::Deactivate => active == Some(false),
        ChangeKind::Reactivate => active == Some(true),
        ChangeKind::Create | ChangeKind::Update => active.is_none(),
    };
    if !fits {
        return bad(
            "kind",
            format!(
                "a {:?} does not fit the body's 'active' ({active:?})",
                change.kind
            ),
        );
    }
    match change.kind {
        ChangeKind::Create if text("emailAddress").is_none() || text("name").is_none() => bad(
            "requests",
            "a create's body needs emailAddress and name".into(),
        ),
        _ => {
            // Sent as checked, as `provision` sends them: an edited file's
            // decomposed é is not a second spelling of an address in
            // Gladly, nor a name padded with spaces another name.
            for (k, v) in checked {
                body.insert(k.into(), v);
            }
            Ok(body)
        }
    }
}
