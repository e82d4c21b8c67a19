//! The connector's functions, in plain Rust over a [`Transport`].
//!
//! The traps of Gladly's API this module exists to avoid (seed 000): a 409
//! for any existing e-mail (deactivated agents too), PATCH replacing arrays
//! whole, no look-up of inboxes or teams by name, a welcome e-mail on every
//! create, and an API that in some organisations has read-only agents.

use serde_json::{Map, Value, json};

use crate::client::{Client, decode, encode, status_error, status_error_in};
use crate::error::{Error, Untrusted};
use crate::model::*;
use crate::scrub::Secrets;
use crate::transport::{HttpResponse, Method, Transport};
use crate::validate;
use unicode_normalization::UnicodeNormalization as _;

pub(crate) const WELCOME_WARNING: &str = "Gladly sent a welcome e-mail to the new agent; it cannot be suppressed, and the invitation expires after 24 hours (resend it from Settings > Users).";
pub(crate) const SSO_WARNING: &str = "Deactivation does not end a live SSO session: revoke the user's session at the IdP (Okta, Entra ID, Google Workspace) too.";
pub(crate) const REROUTE_WARNING: &str = "The agent's open and waiting conversations are re-routed to other agents, and their open tasks are re-queued in the same inbox.";
const UNSUPPORTED_CREATE: &str = "this organisation's Gladly API does not let agents be created (Gladly's public API spec has read-only agents). Add the user on Settings > People > Users, or many at once with the bulk CSV import on that page.";
const UNSUPPORTED_PATCH: &str = "this organisation's Gladly API does not let agents be changed or deactivated (Gladly's public API spec has read-only agents). Edit or deactivate the user on Settings > People > Users.";

/// Runs `f` with a client for `conn`, scrubbing credentials from any error.
pub(crate) fn with_client<T: Transport, R>(
    transport: &mut T,
    conn: &Connection,
    policy: Option<RetryPolicy>,
    f: impl FnOnce(&mut Client<'_, T>) -> Result<R, Error>,
) -> Result<R, Error> {
    let mut client = Client::new(conn, transport, policy.unwrap_or_default())?;
    let result = f(&mut client).map_err(|e| client.scrub(e));
    client.hand_over();
    result
}

pub fn lookup<T: Transport>(
    t: &mut T,
    conn: &Connection,
    key: &AgentKey,
) -> Result<Option<Agent>, Error> {
    let key = validate::key(key)?;
    with_client(t, conn, None, |c| find(c, &key))
}

pub fn list_agents<T: Transport>(
    t: &mut T,
    conn: &Connection,
    active_only: bool,
) -> Result<Vec<Agent>, Error> {
    with_client(t, conn, None, |c| {
        // The server filter is a saving, not a guarantee: filter again here.
        let query = if active_only { "&active=true" } else { "" };
        let (agents, _) = c.list("/agents", query, "the agent list", |a: &Agent| {
            !active_only || a.is_active()
        })?;
        Ok(agents)
    })
}

pub fn list_teams<T: Transport>(t: &mut T, conn: &Connection) -> Result<Vec<Team>, Error> {
    with_client(t, conn, None, |c| {
        Ok(c.list("/teams", "", "the team list", |_| true)?.0)
    })
}

pub fn list_inboxes<T: Transport>(t: &mut T, conn: &Connection) -> Result<Vec<Inbox>, Error> {
    with_client(t, conn, None, |c| {
        Ok(c.list("/inboxes", "", "the inbox list", |_| true)?.0)
    })
}

pub fn get_availability<T: Transport>(
    t: &mut T,
    conn: &Connection,
    agent_id: &str,
) -> Result<Availability, Error> {
    let id = validate::id("agent-id", agent_id)?;
    with_client(t, conn, None, |c| {
        let path = format!("/agents/{}/availability", encode(&id));
        let resp = c.send(Method::Get, &path, None)?;
        match resp.status {
            200..=299 => decode(&resp, "the agent's availability", c.secrets()),
            // Gladly's public spec has no availability endpoint: tell an
            // absent endpoint from an absent agent.
            404 => match get_agent(c, &id)? {
                Some(_) => Err(Error::Unsupported(format!(
                    "this organisation's Gladly API has no availability endpoint for agents (agent {id} exists); see the agent's status in Gladly's Liveboards."
                ))),
                None => Err(not_found_id(&id)),
            },
            _ => Err(status_error(
                &resp,
                &format!("the availability of agent {id}"),
                c.secrets(),
            )),
        }
    })
}

pub fn check_connection<T: Transport>(
    t: &mut T,
    conn: &Connection,
) -> Result<ConnectionInfo, Error> {
    with_client(t, conn, None, |c| {
        let page = c.page::<Value>("/agents?limit=1", "the agent list")?;
        Ok(ConnectionInfo {
            base_url: c.base_url(),
            api_flavor: page.flavor,
        })
    })
}

pub fn provision<T: Transport>(
    t: &mut T,
    conn: &Connection,
    agent: &NewAgent,
    opts: &WriteOptions,
) -> Result<WriteResult, Error> {
    let want = validate::new_agent(agent)?;
    with_client(t, conn, opts.retry, |c| {
        let mut dir = Directory::default();
        let inboxes = dir.resolve(c, Kind::Inbox, "agent.inboxes", &want.inboxes, &[])?;
        let teams = dir.resolve(c, Kind::Team, "agent.teams", &want.teams, &[])?;
        let mut w = Writer::new(opts.dry_run);

        if let Some(existing) = find_by_email(c, &want.email_address)? {
            return settle_existing(c, &mut w, existing, &want, &inboxes, &teams, opts);
        }

        let mut body = Map::new();
        body.insert("emailAddress".into(), json!(want.email_address));
        body.insert("name".into(), json!(want.name));
        body.insert("role".into(), json!(want.role.as_gladly()));
        if !inboxes.is_empty() {
            body.insert("inboxes".into(), json!(inboxes));
        }
        if !teams.is_empty() {
            body.insert("teams".into(), json!(teams));
        }
        insert_opt(&mut body, "externalId", &want.external_id);
        insert_opt(&mut body, "phoneNumber", &want.phone_number);
        insert_opt(&mut body, "language", &want.language);
        if let Some(p) = &want.agent_profile {
            body.insert("agentProfile".into(), json!(p));
        }
        let body = Value::Object(body);

        match create(c, &mut w, &body, &want.email_address, "agent")? {
            Created::DryRun => Ok(w.finish(Outcome::Created, None, vec![])),
            Created::Agent(agent, warnings) => {
                let mut r = w.finish(Outcome::Created, Some(agent), vec![]);
                r.warnings = warnings;
                Ok(r)
            }
            // Someone created it since we looked: settle with what is there.
            // The refused POST stays in `requests`: it was sent.
            Created::Taken(existing) => {
                settle_existing(c, &mut w, existing, &want, &inboxes, &teams, opts)
            }
        }
    })
}

/// What sending a create came to.
pub(crate) enum Created {
    /// Nothing was sent: a dry run.
    DryRun,
    /// The agent, as Gladly has it, and the warnings to pass on.
    Agent(Agent, Vec<String>),
    /// Gladly answered 409: this agent has the e-mail.
    Taken(Agent),
}

/// POSTs `body`, the create of `email`, and returns the created agent,
/// checked against what was sent. A create answered 502/503/504, or whose
/// answer was lost, may or may not have happened: it is never sent blindly
/// again; the e-mail is looked up, and the create sent once more only if
/// nobody is there. If that second create meets 409, the first one made the
/// agent (a listing can lag behind a create): it is `created`, not taken.
/// `record` names the WIT record the body came from.
pub(crate) fn create<T: Transport>(
    c: &mut Client<'_, T>,
    w: &mut Writer,
    body: &Value,
    email: &str,
    record: &str,
) -> Result<Created, Error> {
    let what = format!("the create of {email}");
    let mut resent = false;
    let sent = loop {
        let doubt = match w.send(c, Method::Post, "/agents", body.clone()) {
            Ok(None) => return Ok(Created::DryRun),
            Ok(Some(resp)) if matches!(resp.status, 502..=504) => {
                status_error(&resp, &what, c.secrets())
            }
            Ok(Some(resp)) => break resp,
            Err(e @ Error::Transport(_)) => e,
            Err(e) => return Err(e),
        };
        // The doubt is quoted in a warning: scrubbed like any error.
        let doubt = c.scrub(doubt);
        let found = find_by_email(c, email).map_err(|e| {
            e.after(&format!(
                "The create of {email} may have been made (its answer was lost: {doubt}), and looking the e-mail up afterwards failed, so it is not known whether the agent exists: look {email} up before provisioning it again."
            ))
        })?;
        // A create never makes a deactivated agent: one found is an agent
        // that was there before, settled with as a 409 would be.
        if let Some(found) = found.as_ref().filter(|f| !f.is_active()) {
            return Ok(Created::Taken(found.clone()));
        }
        if let Some(found) = found {
            return Ok(Created::Agent(
                found,
                vec![
                    WELCOME_WARNING.into(),
                    format!(
                        "The answer to the create was lost ({doubt}); the agent was found by e-mail afterwards."
                    ),
                ],
            ));
        }
        if resent {
            return Err(doubt);
        }
        resent = true;
    };
    match sent.status {
        200..=299 => {
            let created = read_created(c, body, &sent, email)?;
            check_written(body, &created, "the created agent").map_err(|m| m.error(c.secrets()))?;
            Ok(Created::Agent(created, vec![WELCOME_WARNING.into()]))
        }
        409 => match find_by_email_surely(c, email).map_err(|e| {
            if resent {
                e.after(&format!(
                    "The create of {email} was sent again after its first answer was lost, and answered 409 Conflict: the first may have made the agent, and looking it up failed: look {email} up before provisioning it again."
                ))
            } else {
                e
            }
        })? {
            // A create never makes a deactivated agent, nor one unlike what
            // it sent: such an agent was there before, and is settled with.
            Some(existing)
                if resent
                    && existing.is_active()
                    && check_written(body, &existing, "the created agent").is_ok() =>
            {
                Ok(Created::Agent(
                    existing,
                    vec![
                        WELCOME_WARNING.into(),
                        "The answer to the first create was lost and the agent was not listed yet, so the create was sent again and answered 409 Conflict: the agent found by e-mail afterwards is the one the first create made.".into(),
                    ],
                ))
            }
            Some(existing) => Ok(Created::Taken(existing)),
            None => Err(Error::Conflict {
                message: format!(
                    "Gladly says {email} is taken, but no agent with that e-mail can be listed; check Settings > Users"
                ),
                agent_ids: vec![],
            }),
        },
        404 | 405 | 501 => Err(Error::Unsupported(UNSUPPORTED_CREATE.into())),
        _ => Err(status_error_in(&sent, &what, Some(record), c.secrets())),
    }
}

/// The agent a 2xx to the create of `email` stands for. Gladly answers with
/// the agent; an answer that is not all of it (empty, only an id, a field
/// sent left out) is no failure, since the agent exists and its welcome
/// e-mail went out: it is read back, by the id the answer carries if that
/// is the agent with this e-mail, else by e-mail.
fn read_created<T: Transport>(
    c: &mut Client<'_, T>,
    body: &Value,
    sent: &HttpResponse,
    email: &str,
) -> Result<Agent, Error> {
    let answer = crate::client::parse_value(&sent.body).ok();
    let whole = answer
        .as_ref()
        .and_then(Value::as_object)
        .filter(|a| {
            body.as_object()
                .is_some_and(|b| b.keys().all(|k| a.contains_key(k)))
        })
        .and_then(|a| serde_json::from_value::<Agent>(Value::Object(a.clone())).ok());
    if let Some(agent) = whole {
        return Ok(agent);
    }
    let id = answer
        .as_ref()
        .and_then(|a| a.get("id"))
        .and_then(Value::as_str)
        .filter(|id| !id.trim().is_empty());
    if let Some(id) = id
        && let Ok(Some(agent)) = get_agent(c, id)
        && same_email(&agent.email_address, email)
    {
        return Ok(agent);
    }
    let accepted = |e: Error| {
        e.after(&format!(
            "Gladly accepted the create of {email} (HTTP {}): the agent exists and was sent its welcome e-mail, but reading it back failed; do not provision it again.",
            sent.status
        ))
    };
    find_by_email(c, email).map_err(accepted)?.ok_or_else(|| Error::Upstream {
        status: sent.status,
        message: format!(
            "Gladly accepted the create of {email} (HTTP {}), but no agent with that e-mail can be found; check Settings > Users before provisioning it again",
            sent.status
        ),
        body_excerpt: crate::client::excerpt(&sent.body, c.secrets()),
    })
}

/// Provision found an agent with the e-mail already.
fn settle_existing<T: Transport>(
    c: &mut Client<'_, T>,
    w: &mut Writer,
    existing: Agent,
    want: &NewAgent,
    inboxes: &[String],
    teams: &[String],
    opts: &WriteOptions,
) -> Result<WriteResult, Error> {
    let differences = differences(&existing, want, inboxes, teams);
    if existing.is_active() {
        return Ok(w.finish(Outcome::AlreadyExisted, Some(existing), differences));
    }
    if opts.no_reactivate {
        return Err(Error::Conflict {
            message: format!(
                "{} belongs to deactivated agent {}; provision again without no-reactivate to reactivate it (Gladly never creates a second agent for an e-mail)",
                existing.email_address, existing.id
            ),
            agent_ids: vec![existing.id],
        });
    }
    let mut body = Map::new();
    body.insert("active".into(), json!(true));
    if existing.name.as_deref() != Some(want.name.as_str()) {
        body.insert("name".into(), json!(want.name));
    }
    if existing.role.as_ref() != Some(&want.role) {
        body.insert("role".into(), json!(want.role.as_gladly()));
    }
    if !inboxes.is_empty() && !same_set(existing.inboxes.as_deref(), inboxes) {
        body.insert("inboxes".into(), json!(inboxes));
    }
    if !teams.is_empty() && !same_set(existing.teams.as_deref(), teams) {
        body.insert("teams".into(), json!(teams));
    }
    insert_changed(
        &mut body,
        [
            ("externalId", &want.external_id, &existing.external_id),
            ("phoneNumber", &want.phone_number, &existing.phone_number),
            ("language", &want.language, &existing.language),
        ],
    );
    if let Some(p) = &want.agent_profile
        && existing.agent_profile.as_ref() != Some(p)
    {
        body.insert("agentProfile".into(), json!(p));
    }
    let agent = patch(c, w, &existing, Value::Object(body), "agent")?;
    let mut r = w.finish(Outcome::Reactivated, Some(agent), vec![]);
    r.warnings.push(format!(
        "{} was a deactivated agent ({}) and was reactivated with its id and history; restore the user's SSO access at the IdP if it was removed.",
        existing.email_address, existing.id
    ));
    Ok(r)
}

pub fn update<T: Transport>(
    t: &mut T,
    conn: &Connection,
    key: &AgentKey,
    changes: &AgentChanges,
    opts: &WriteOptions,
) -> Result<WriteResult, Error> {
    let key = validate::key(key)?;
    let ch = validate::changes(changes)?;
    with_client(t, conn, opts.retry, |c| {
        // Run again by an at-least-once engine after its first run wrote
        // and its answer was lost, an update keyed by the e-mail (or
        // external id) it changes finds nobody under the old one: the
        // agent under the new one, if nothing is left to change on it, is
        // that change made (answered `unchanged`); else it is `not-found`
        // as before, and nothing is written to whoever holds the new one.
        let (current, moved) = match find_to_write(c, &key)? {
            Some(a) => (a, false),
            None => {
                let moved_to = match &key {
                    AgentKey::Email(old) => ch
                        .email_address
                        .as_ref()
                        .filter(|new| !same_email(new, old))
                        .map(|new| AgentKey::Email(new.clone())),
                    AgentKey::ExternalId(old) => ch
                        .external_id
                        .as_ref()
                        .filter(|new| *new != old)
                        .map(|new| AgentKey::ExternalId(new.clone())),
                    AgentKey::Id(_) => None,
                };
                let found = match &moved_to {
                    Some(k) => find_to_write(c, k)?,
                    None => None,
                };
                (found.ok_or_else(|| not_found_key(&key))?, true)
            }
        };
        let mut dir = Directory::default();
        let mut body = Map::new();
        if let Some(e) = &ch.email_address
            && !same_email(e, &current.email_address)
        {
            body.insert("emailAddress".into(), json!(e));
        }
        if let Some(n) = &ch.name
            && current.name.as_deref() != Some(n.as_str())
        {
            body.insert("name".into(), json!(n));
        }
        if let Some(r) = &ch.role
            && current.role.as_ref() != Some(r)
        {
            body.insert("role".into(), json!(r.as_gladly()));
        }
        insert_changed(
            &mut body,
            [
                ("externalId", &ch.external_id, &current.external_id),
                ("phoneNumber", &ch.phone_number, &current.phone_number),
                ("language", &ch.language, &current.language),
            ],
        );
        if let Some(p) = &ch.agent_profile {
            let have = current.agent_profile.clone().unwrap_or_default();
            let merged = AgentProfile {
                bio: p.bio.clone().or(have.bio.clone()),
                avatar_url: p.avatar_url.clone().or(have.avatar_url.clone()),
            };
            if merged != have {
                body.insert("agentProfile".into(), json!(merged));
            }
        }
        for (kind, field, json_key, change, have) in [
            (
                Kind::Inbox,
                "changes.inboxes",
                "inboxes",
                &ch.inboxes,
                &current.inboxes,
            ),
            (
                Kind::Team,
                "changes.teams",
                "teams",
                &ch.teams,
                &current.teams,
            ),
        ] {
            let Some(change) = change else { continue };
            let desired = dir.apply(c, kind, field, change, have.as_deref(), &current.id)?;
            if !same_set(have.as_deref(), &desired) {
                body.insert(json_key.into(), json!(desired));
            }
        }
        if moved && !body.is_empty() {
            return Err(not_found_key(&key));
        }
        let mut w = Writer::new(opts.dry_run);
        if body.is_empty() {
            return Ok(w.finish(Outcome::Unchanged, Some(current), vec![]));
        }
        let agent = patch(c, &mut w, &current, Value::Object(body), "changes")?;
        let (agent, warnings) = verify_deltas(c, &mut w, &mut dir, &ch, agent, opts.dry_run)?;
        let mut r = w.finish(Outcome::Updated, Some(agent), vec![]);
        r.warnings = warnings;
        Ok(r)
    })
}

/// Times a delta is applied again when another writer replaced the list.
const DELTA_ROUNDS: usize = 3;

/// Gladly's PATCH replaces a membership list whole and offers no way to
/// write only if nobody else has written since (no ETag). Two writers that
/// each read, add and write can therefore lose one addition. After writing a
/// delta, the agent is read again; if an addition is missing (or a removal
/// is back), another writer replaced the list in between, and the delta is
/// applied again to what is there now, at most [`DELTA_ROUNDS`] times. This
/// narrows the window to a writer that replaces the list after that re-read;
/// it cannot close it.
fn verify_deltas<T: Transport>(
    c: &mut Client<'_, T>,
    w: &mut Writer,
    dir: &mut Directory,
    ch: &AgentChanges,
    mut agent: Agent,
    dry_run: bool,
) -> Result<(Agent, Vec<String>), Error> {
    let deltas: Vec<(Kind, &str, &str, &MembershipChange)> = [
        (Kind::Inbox, "changes.inboxes", "inboxes", &ch.inboxes),
        (Kind::Team, "changes.teams", "teams", &ch.teams),
    ]
    .into_iter()
    .filter_map(|(k, f, j, m)| match m {
        Some(d @ MembershipChange::Delta(_)) => Some((k, f, j, d)),
        _ => None,
    })
    .collect();
    let mut warnings = Vec::new();
    if dry_run || deltas.is_empty() {
        return Ok((agent, warnings));
    }
    for _ in 0..DELTA_ROUNDS {
        let fresh = get_agent(c, &agent.id)?.ok_or_else(|| not_found_id(&agent.id))?;
        let mut again = Map::new();
        for (kind, field, json_key, change) in &deltas {
            let have = match kind {
                Kind::Inbox => fresh.inboxes.as_deref(),
                Kind::Team => fresh.teams.as_deref(),
            };
            let Some(have) = have else { continue };
            let want = dir.apply(c, *kind, field, change, Some(have), &fresh.id)?;
            if !same_set(Some(have), &want) {
                again.insert((*json_key).into(), json!(want));
            }
        }
        if again.is_empty() {
            return Ok((fresh, warnings));
        }
        warnings.push(format!(
            "Another writer replaced agent {}'s {} while this change was made (Gladly's PATCH replaces lists whole); the change was applied again to the list as it is now.",
            fresh.id,
            again.keys().cloned().collect::<Vec<_>>().join(" and ")
        ));
        agent = patch(c, w, &fresh, Value::Object(again), "changes")?;
    }
    Ok((agent, warnings))
}

pub fn offboard<T: Transport>(
    t: &mut T,
    conn: &Connection,
    key: &AgentKey,
    opts: &WriteOptions,
) -> Result<WriteResult, Error> {
    let key = validate::key(key)?;
    with_client(t, conn, opts.retry, |c| {
        let current = find_to_write(c, &key)?.ok_or_else(|| not_found_key(&key))?;
        let mut w = Writer::new(opts.dry_run);
        if !current.is_active() {
            let mut r = w.finish(Outcome::AlreadyInactive, Some(current), vec![]);
            r.warnings.push(SSO_WARNING.into());
            return Ok(r);
        }
        let agent = patch(c, &mut w, &current, json!({"active": false}), "key")?;
        let mut r = w.finish(Outcome::Deactivated, Some(agent), vec![]);
        r.warnings.push(SSO_WARNING.into());
        r.warnings.push(REROUTE_WARNING.into());
        Ok(r)
    })
}

/// Collects the writes of one call, and in a dry run sends none of them.
pub(crate) struct Writer {
    dry_run: bool,
    requests: Vec<PlannedRequest>,
}

impl Writer {
    pub(crate) fn new(dry_run: bool) -> Self {
        Self {
            dry_run,
            requests: Vec::new(),
        }
    }

    fn send<T: Transport>(
        &mut self,
        c: &mut Client<'_, T>,
        method: Method,
        path: &str,
        body: Value,
    ) -> Result<Option<HttpResponse>, Error> {
        self.requests.push(PlannedRequest {
            method: method.as_str().into(),
            path: format!("/api/v1{path}"),
            body: Some(body.to_string()),
        });
        if self.dry_run {
            return Ok(None);
        }
        c.send(method, path, Some(&body)).map(Some)
    }

    pub(crate) fn finish(
        &mut self,
        outcome: Outcome,
        agent: Option<Agent>,
        differences: Vec<String>,
    ) -> WriteResult {
        WriteResult {
            outcome,
            agent,
            dry_run: self.dry_run,
            requests: std::mem::take(&mut self.requests),
            differences,
            warnings: Vec::new(),
        }
    }
}

/// PATCHes `current` with `body` and returns the agent as Gladly has it
/// afterwards, checked against what was sent. In a dry run, returns
/// `current` unchanged. `record` is the WIT record the body came from, to
/// name a field Gladly refuses.
pub(crate) fn patch<T: Transport>(
    c: &mut Client<'_, T>,
    w: &mut Writer,
    current: &Agent,
    body: Value,
    record: &str,
) -> Result<Agent, Error> {
    let path = format!("/agents/{}", encode(&current.id));
    let what = format!("the change of agent {}", current.id);
    let Some(resp) = w.send(c, Method::Patch, &path, body.clone())? else {
        return Ok(current.clone());
    };
    match resp.status {
        200..=299 => {}
        405 | 501 => return Err(Error::Unsupported(UNSUPPORTED_PATCH.into())),
        404 => {
            return Err(match get_agent(c, &current.id)? {
                Some(_) => Error::Unsupported(UNSUPPORTED_PATCH.into()),
                None => not_found_id(&current.id),
            });
        }
        _ => {
            return Err(
                match status_error_in(&resp, &what, Some(record), c.secrets()) {
                    // Name the agent that holds the e-mail, as provision does.
                    Error::Conflict { message, .. } => {
                        let holder = match body.get("emailAddress").and_then(Value::as_str) {
                            Some(email) => find_by_email_surely(c, email)?,
                            None => None,
                        };
                        Error::Conflict {
                            message,
                            agent_ids: holder
                                .map(|a| a.id)
                                .filter(|id| *id != current.id)
                                .into_iter()
                                .collect(),
                        }
                    }
                    e => e,
                },
            );
        }
    }
    // Gladly may answer with only the fields it changed (seed 000's
    // examples do): overlay the answer on what we knew, and if it left out
    // a field we sent, read the agent again rather than assume.
    let answer: Value = if resp.body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        decode(&resp, &what, c.secrets())?
    };
    let answer = match answer {
        Value::Null => Value::Object(Map::new()),
        other => other,
    };
    let Value::Object(answer) = answer else {
        return Err(Error::Upstream {
            status: resp.status,
            message: format!("Gladly's answer to {what} is not an agent"),
            body_excerpt: crate::client::excerpt(&resp.body, c.secrets()),
        });
    };
    let sent_all = body
        .as_object()
        .is_some_and(|b| b.keys().all(|k| answer.contains_key(k)));
    let agent = if sent_all {
        let mut merged = serde_json::to_value(current).unwrap_or(Value::Null);
        if let Value::Object(m) = &mut merged {
            m.extend(answer);
        }
        serde_json::from_value::<Agent>(merged).map_err(|e| Error::Upstream {
            status: resp.status,
            message: format!(
                "Gladly's answer to {what} could not be read: {}",
                Untrusted::new(e.to_string()).scrubbed(c.secrets())
            ),
            body_excerpt: crate::client::excerpt(&resp.body, c.secrets()),
        })?
    } else {
        get_agent(c, &current.id)?.ok_or_else(|| not_found_id(&current.id))?
    };
    if agent.id != current.id {
        return Err(Error::Upstream {
            status: resp.status,
            message: format!(
                "Gladly answered {what} with another agent ({}); check agent {} in Gladly",
                Untrusted::new(agent.id).scrubbed(c.secrets()),
                current.id
            ),
            body_excerpt: crate::client::excerpt(&resp.body, c.secrets()),
        });
    }
    check_written(&body, &agent, &what).map_err(|m| m.error(c.secrets()))?;
    Ok(agent)
}

/// A field that did not read back as it was sent.
pub(crate) struct Mismatch {
    what: String,
    key: String,
    want: Value,
    got: Untrusted,
}

impl Mismatch {
    /// The error to report, with what Gladly has scrubbed.
    pub(crate) fn error(self, s: &Secrets) -> Error {
        let Self {
            what,
            key,
            want,
            got,
        } = self;
        Error::Upstream {
            status: 200,
            message: format!(
                "Gladly accepted {what} but reports {key} = {}, not {want} as asked; check the agent in Gladly",
                got.scrubbed(s)
            ),
            body_excerpt: String::new(),
        }
    }
}

/// After a write, every field sent must read back as sent; a mismatch is an
/// error, never a silent success.
pub(crate) fn check_written(sent: &Value, agent: &Agent, what: &str) -> Result<(), Mismatch> {
    let have = serde_json::to_value(agent).unwrap_or(Value::Null);
    let Some(sent) = sent.as_object() else {
        return Ok(());
    };
    for (k, want) in sent {
        let got = have.get(k).unwrap_or(&Value::Null);
        let same = match (want, got) {
            (Value::Array(a), Value::Array(b)) => {
                let mut a: Vec<String> = a.iter().map(Value::to_string).collect();
                let mut b: Vec<String> = b.iter().map(Value::to_string).collect();
                a.sort();
                b.sort();
                a == b
            }
            (Value::String(a), Value::String(b)) if k == "emailAddress" => same_email(a, b),
            (Value::Object(a), Value::Object(b)) => a.iter().all(|(k, v)| b.get(k) == Some(v)),
            (a, b) => a == b,
        };
        if !same {
            return Err(Mismatch {
                what: what.to_string(),
                key: k.clone(),
                want: want.clone(),
                got: Untrusted::new(got.to_string()),
            });
        }
    }
    Ok(())
}

/// Puts each wanted value that differs from what the agent has into a PATCH
/// body; `None` means "leave as it is".
fn insert_changed<const N: usize>(
    body: &mut Map<String, Value>,
    fields: [(&str, &Option<String>, &Option<String>); N],
) {
    for (key, want, have) in fields {
        if want.is_some() && want != have {
            body.insert(key.into(), json!(want));
        }
    }
}

pub(crate) fn insert_opt(body: &mut Map<String, Value>, key: &str, v: &Option<String>) {
    if let Some(v) = v {
        body.insert(key.into(), json!(v));
    }
}

pub(crate) fn same_set(have: Option<&[String]>, want: &[String]) -> bool {
    let have = have.unwrap_or(&[]);
    have.len() == want.len()
        && want.iter().all(|w| have.contains(w))
        && have.iter().all(|h| want.contains(h))
}

fn differences(a: &Agent, want: &NewAgent, inboxes: &[String], teams: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let show = |v: Option<&str>| v.unwrap_or("(none)").to_string();
    if a.name.as_deref() != Some(want.name.as_str()) {
        out.push(format!(
            "name: {} (requested {})",
            show(a.name.as_deref()),
            want.name
        ));
    }
    if a.role.as_ref() != Some(&want.role) {
        out.push(format!(
            "role: {} (requested {})",
            show(a.role.as_ref().map(Role::as_gladly)),
            want.role.as_gladly()
        ));
    }
    for (field, have, want) in [("inboxes", &a.inboxes, inboxes), ("teams", &a.teams, teams)] {
        if !want.is_empty() && !same_set(have.as_deref(), want) {
            out.push(format!(
                "{field}: [{}] (requested [{}])",
                have.as_deref().unwrap_or(&[]).join(", "),
                want.join(", ")
            ));
        }
    }
    for (field, have, want) in [
        ("external-id", &a.external_id, &want.external_id),
        ("phone-number", &a.phone_number, &want.phone_number),
        ("language", &a.language, &want.language),
    ] {
        if want.is_some() && want != have {
            out.push(format!(
                "{field}: {} (requested {})",
                show(have.as_deref()),
                show(want.as_deref())
            ));
        }
    }
    out
}

fn not_found_id(id: &str) -> Error {
    Error::NotFound(format!("no agent with id {id} in this organisation"))
}

fn not_found_key(key: &AgentKey) -> Error {
    match key {
        AgentKey::Id(id) => not_found_id(id),
        AgentKey::Email(e) => {
            Error::NotFound(format!("no agent with e-mail {e} in this organisation"))
        }
        AgentKey::ExternalId(x) => Error::NotFound(format!(
            "no agent with external id {x} in this organisation"
        )),
    }
}

pub(crate) fn get_agent<T: Transport>(
    c: &mut Client<'_, T>,
    id: &str,
) -> Result<Option<Agent>, Error> {
    let resp = c.send(Method::Get, &format!("/agents/{}", encode(id)), None)?;
    match resp.status {
        200..=299 => {
            let agent: Agent = decode(&resp, &format!("agent {id}"), c.secrets())?;
            // Another agent than the one asked for (a proxy or cache that
            // answers for another path) is never taken for it: an
            // offboarding would deactivate someone else.
            if agent.id != id {
                return Err(Error::Upstream {
                    status: resp.status,
                    message: format!(
                        "Gladly answered agent {id} with another agent ({}), not taken for it",
                        Untrusted::new(agent.id).scrubbed(c.secrets())
                    ),
                    body_excerpt: crate::client::excerpt(&resp.body, c.secrets()),
                });
            }
            Ok(Some(agent))
        }
        404 => Ok(None),
        _ => Err(status_error(&resp, &format!("agent {id}"), c.secrets())),
    }
}

/// The agent a look-up's key names: an e-mail by Gladly's filter
/// ([`find_by_email`]), which a look-up of nobody (before a provision, an
/// IdP's check for each user it pushes) pays nothing more for.
fn find<T: Transport>(c: &mut Client<'_, T>, key: &AgentKey) -> Result<Option<Agent>, Error> {
    match key {
        AgentKey::Email(e) => find_by_email(c, e),
        _ => find_to_write(c, key),
    }
}

/// The agent a write's key names (an update, an offboarding): an e-mail by
/// [`find_by_email_surely`], since nobody found there is acted on.
fn find_to_write<T: Transport>(
    c: &mut Client<'_, T>,
    key: &AgentKey,
) -> Result<Option<Agent>, Error> {
    match key {
        AgentKey::Id(id) => get_agent(c, id),
        AgentKey::Email(e) => find_by_email_surely(c, e),
        AgentKey::ExternalId(x) => {
            let (found, _) = c.list("/agents", "", "the agent list", |a: &Agent| {
                a.external_id.as_deref() == Some(x.as_str())
            })?;
            only_one(found, &format!("external id {x}"))
        }
    }
}

/// Matched again here without case, so correct whether or not the server
/// applies its `emailAddress` filter; an agent its filter leaves out (one
/// that minded case) is not found here ([`find_by_email_surely`] walks).
pub(crate) fn find_by_email<T: Transport>(
    c: &mut Client<'_, T>,
    email: &str,
) -> Result<Option<Agent>, Error> {
    // As written (validated addresses are in NFC), then, if nobody was
    // found, in the other normal form: an agent Gladly holds under the
    // decomposed form of the same address (another tool wrote it so),
    // which its filter may not take for the composed one.
    let mut forms = vec![email.to_string()];
    for other in [email.nfc().collect::<String>(), email.nfd().collect()] {
        if !forms.contains(&other) {
            forms.push(other);
        }
    }
    let mut found = Vec::new();
    for form in &forms {
        let query = format!("&emailAddress={}", encode(form));
        found = c
            .list("/agents", &query, "the agent list", |a: &Agent| {
                same_email(&a.email_address, email)
            })?
            .0;
        if !found.is_empty() {
            break;
        }
    }
    only_one(found, &format!("e-mail {email}"))
}

/// [`find_by_email`], and when it finds nobody, the whole agent list
/// walked without a filter: Gladly does not say its `emailAddress` filter
/// ignores case, and one that minds it would miss an agent Gladly holds as
/// `Jane.Doe@…` for `jane.doe@…`, which its 409 still counts as the same
/// address (a leaver left active, a 409 unexplained). Costs a request per
/// 100 agents when nobody has the address, so it is paid only where nobody
/// found is acted on (an update, an offboarding, a 409), not by a look-up
/// (nobody is its common answer: before a create, whose 409 walks).
pub(crate) fn find_by_email_surely<T: Transport>(
    c: &mut Client<'_, T>,
    email: &str,
) -> Result<Option<Agent>, Error> {
    if let Some(found) = find_by_email(c, email)? {
        return Ok(Some(found));
    }
    let (found, _) = c.list("/agents", "", "the agent list", |a: &Agent| {
        same_email(&a.email_address, email)
    })?;
    only_one(found, &format!("e-mail {email}"))
}

fn only_one(mut found: Vec<Agent>, what: &str) -> Result<Option<Agent>, Error> {
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.pop()),
        _ => Err(Error::Conflict {
            message: format!("{} agents have the {what}; name one by id", found.len()),
            agent_ids: found.into_iter().map(|a| a.id).collect(),
        }),
    }
}

#[derive(Clone, Copy)]
pub(crate) enum Kind {
    Inbox,
    Team,
}

impl Kind {
    fn noun(self) -> &'static str {
        match self {
            Kind::Inbox => "inbox",
            Kind::Team => "team",
        }
    }

    fn plural(self) -> &'static str {
        match self {
            Kind::Inbox => "inboxes",
            Kind::Team => "teams",
        }
    }
}

/// Inboxes and teams by id and name, fetched once per call and only if a
/// reference needs resolving.
#[derive(Default)]
pub(crate) struct Directory {
    pub(crate) inboxes: Option<Vec<(String, Option<String>)>>,
    pub(crate) teams: Option<Vec<(String, Option<String>)>>,
}

impl Directory {
    pub(crate) fn entries<T: Transport>(
        &mut self,
        c: &mut Client<'_, T>,
        kind: Kind,
    ) -> Result<&[(String, Option<String>)], Error> {
        let slot = match kind {
            Kind::Inbox => &mut self.inboxes,
            Kind::Team => &mut self.teams,
        };
        if slot.is_none() {
            *slot = Some(match kind {
                Kind::Inbox => c
                    .list("/inboxes", "", "the inbox list", |_: &Inbox| true)?
                    .0
                    .into_iter()
                    .map(|i| (i.id, i.name))
                    .collect(),
                Kind::Team => c
                    .list("/teams", "", "the team list", |_: &Team| true)?
                    .0
                    .into_iter()
                    .map(|t| (t.id, t.name))
                    .collect(),
            });
        }
        Ok(slot.as_deref().unwrap_or(&[]))
    }

    /// Resolves ids or names to ids, in order, without repeats. `also_known`
    /// are ids accepted even if the directory no longer lists them (an
    /// agent's current memberships, for removal).
    pub(crate) fn resolve<T: Transport>(
        &mut self,
        c: &mut Client<'_, T>,
        kind: Kind,
        field: &str,
        refs: &[String],
        also_known: &[String],
    ) -> Result<Vec<String>, Error> {
        let mut out: Vec<String> = Vec::new();
        for r in refs {
            let id = if also_known.contains(r) {
                r.clone()
            } else {
                let known = self.entries(c, kind)?;
                resolve_one(known, kind, field, r, c.secrets())?
            };
            if !out.contains(&id) {
                out.push(id);
            }
        }
        Ok(out)
    }

    /// The full membership list after `change`, from the agent's current one.
    fn apply<T: Transport>(
        &mut self,
        c: &mut Client<'_, T>,
        kind: Kind,
        field: &str,
        change: &MembershipChange,
        have: Option<&[String]>,
        agent_id: &str,
    ) -> Result<Vec<String>, Error> {
        match change {
            MembershipChange::Set(refs) => self.resolve(c, kind, field, refs, &[]),
            MembershipChange::Delta(d) => {
                let Some(have) = have else {
                    return Err(Error::Unsupported(format!(
                        "Gladly did not report agent {agent_id}'s current {nouns}, so {nouns} cannot be added or removed without risking the others (PATCH replaces the whole list); give the full set instead",
                        nouns = kind.plural()
                    )));
                };
                let remove = self.resolve(c, kind, &format!("{field}.remove"), &d.remove, have)?;
                let add = self.resolve(c, kind, &format!("{field}.add"), &d.add, have)?;
                let mut out: Vec<String> = have
                    .iter()
                    .filter(|h| !remove.contains(h))
                    .cloned()
                    .collect();
                for a in add {
                    if !out.contains(&a) {
                        out.push(a);
                    }
                }
                Ok(out)
            }
        }
    }
}

fn resolve_one(
    known: &[(String, Option<String>)],
    kind: Kind,
    field: &str,
    r: &str,
    secrets: &Secrets,
) -> Result<String, Error> {
    if known.iter().any(|(id, _)| id == r) {
        return Ok(r.to_string());
    }
    let by_name: Vec<&String> = known
        .iter()
        .filter(|(_, n)| {
            n.as_deref()
                .is_some_and(|n| n.trim().eq_ignore_ascii_case(r))
        })
        .map(|(id, _)| id)
        .collect();
    // The names and ids are Gladly's words: quoted scrubbed, and left out
    // where errors leave Gladly's words out.
    let quoted = |text: &str| Untrusted::new(text).scrubbed(secrets);
    let omitted = secrets.omits_outside_text();
    match by_name.as_slice() {
        [one] => Ok((*one).clone()),
        [] => {
            let mut scored: Vec<(f64, String)> = known
                .iter()
                .map(|(id, n)| {
                    let label = match n {
                        Some(n) => format!("'{}' ({})", quoted(n), quoted(id)),
                        None => quoted(id),
                    };
                    let target = n.as_deref().unwrap_or(id).to_lowercase();
                    let score = strsim::normalized_levenshtein(&target, &r.to_lowercase())
                        .max(strsim::normalized_levenshtein(id, r));
                    (score, label)
                })
                .collect();
            scored.sort_by(|a, b| b.0.total_cmp(&a.0));
            let closest: Vec<String> = scored.into_iter().take(3).map(|(_, l)| l).collect();
            let hint = if closest.is_empty() {
                format!("the organisation has no {}", kind.plural())
            } else if omitted {
                format!("list-{} names those there are", kind.plural())
            } else {
                format!("closest known: {}", closest.join(", "))
            };
            Err(Error::invalid(
                field,
                format!("no {} has the id or name '{r}'; {hint}", kind.noun()),
            ))
        }
        many if omitted => Err(Error::invalid(
            field,
            format!(
                "the {} name '{r}' is shared by {} of them; give the id instead",
                kind.noun(),
                many.len()
            ),
        )),
        many => Err(Error::invalid(
            field,
            format!(
                "the {} name '{r}' is shared by {}; give the id instead",
                kind.noun(),
                many.iter()
                    .map(|s| quoted(s))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}
