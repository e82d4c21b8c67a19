//! The identity graph: which Gladly agent each roster row is, what must
//! change for it, who leaves, and in what order the changes can run.
//!
//! Pure: it works on what `plan` read, so every rule is testable without a
//! server.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

use serde_json::{Map, Value, json};

use crate::client::encode;
use crate::model::{Agent, ApiFlavor, PlannedRequest, Role, same_email};
use crate::ops::{insert_opt, same_set};

use super::guard::Guard;
use super::{Change, ChangeKind, DesiredAgent, Plan, PlanConflict, Scope, active_in_scope};

/// A checked roster row, its inboxes and teams resolved to ids.
pub struct Row {
    pub index: u32,
    pub want: DesiredAgent,
    pub inboxes: Option<Vec<String>>,
    pub teams: Option<Vec<String>>,
}

/// A change before it has its place in the order.
struct Pending {
    kind: ChangeKind,
    row: Option<u32>,
    /// Index into `agents`; `None` for a create.
    agent: Option<usize>,
    email: String,
    reason: String,
    body: Map<String, Value>,
    differences: Vec<String>,
    /// The e-mail this change gives its agent, when it is a new one (a
    /// create or a mover): it must be free by then.
    takes: Option<String>,
}

fn key(email: &str) -> String {
    crate::model::email_key(email)
}

pub fn build(
    rows: &[Row],
    agents: &[Agent],
    flavor: ApiFlavor,
    api_user: &str,
    scope: &Scope,
    threshold: Option<u32>,
) -> Plan {
    let mut by_ext: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut by_email: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, a) in agents.iter().enumerate() {
        if let Some(x) = a.external_id.as_deref() {
            by_ext.entry(x).or_default().push(i);
        }
        by_email.entry(key(&a.email_address)).or_default().push(i);
    }
    let mut conflicts = Vec::new();
    let conflict = |row: &Row, message: String, ids: Vec<String>| PlanConflict {
        row: Some(row.index),
        email_address: row.want.email_address.clone(),
        message,
        agent_ids: ids,
    };

    // Pass 1, the anchor: external ids. Pass 2: e-mail, for rows pass 1 left.
    let mut matched: Vec<Option<(usize, &'static str)>> = vec![None; rows.len()];
    let mut claimed: HashMap<usize, usize> = HashMap::new(); // agent -> row position
    let mut refused = vec![false; rows.len()];
    // Agents a conflicting row points at: nothing is written for them, and
    // they are not leavers either.
    let mut held: HashSet<usize> = HashSet::new();
    for (p, row) in rows.iter().enumerate() {
        let Some(x) = row.want.external_id.as_deref() else {
            continue;
        };
        match by_ext.get(x).map(Vec::as_slice) {
            Some([one]) => {
                matched[p] = Some((*one, "external id"));
                claimed.insert(*one, p);
            }
            Some(many) => {
                refused[p] = true;
                held.extend(many.iter().copied());
                conflicts.push(conflict(
                    row,
                    format!("{} agents share the external id {x}; give all but one another id in Gladly", many.len()),
                    many.iter().map(|&i| agents[i].id.clone()).collect(),
                ));
            }
            None => {}
        }
    }
    for (p, row) in rows.iter().enumerate() {
        if matched[p].is_some() || refused[p] {
            continue;
        }
        let Some(found) = by_email.get(&key(&row.want.email_address)) else {
            continue;
        };
        let &[one] = found.as_slice() else {
            refused[p] = true;
            held.extend(found.iter().copied());
            conflicts.push(conflict(
                row,
                format!(
                    "{} agents have the e-mail {}",
                    found.len(),
                    row.want.email_address
                ),
                found.iter().map(|&i| agents[i].id.clone()).collect(),
            ));
            continue;
        };
        let a = &agents[one];
        if let (Some(have), Some(want)) = (&a.external_id, &row.want.external_id)
            && have != want
        {
            refused[p] = true;
            held.insert(one);
            conflicts.push(conflict(
                row,
                format!(
                    "{} belongs to agent {}, whose external id is {have}, not {want}: two HR records claim one login. Correct the roster or the agent's external id in Gladly",
                    row.want.email_address, a.id
                ),
                vec![a.id.clone()],
            ));
            continue;
        }
        if claimed.get(&one).is_some_and(|&other| other != p) {
            // The agent is another row's (by external id): this row is
            // someone new whose e-mail that agent still holds; the ordering
            // below decides whether it is freed in time.
            continue;
        }
        matched[p] = Some((one, "e-mail"));
        claimed.insert(one, p);
    }

    let mut pending: Vec<Pending> = Vec::new();
    let mut unchanged = 0u32;
    for (p, row) in rows.iter().enumerate() {
        if refused[p] {
            continue;
        }
        let change = match matched[p] {
            Some((ai, how)) => for_agent(row, ai, &agents[ai], how),
            None if row.want.active => Some(create(row)),
            None => None, // a leaver Gladly never had
        };
        // The README promises the API user is never deactivated, demoted or
        // moved to another address: an org must not lock its own
        // automation out, by omission or by a row.
        if let (Some(c), Some((ai, how))) = (&change, matched[p])
            && let Some(what) =
                super::locks_out_api_user(c.kind, &c.body, &agents[ai].email_address, api_user)
        {
            conflicts.push(conflict(
                row,
                format!(
                    "the row for {} would change agent {} (matched by {how}), this connection's own API user: {what} would lock this integration out of Gladly. Change the row, or make that change by hand in Gladly if it is really meant",
                    row.want.email_address, agents[ai].id
                ),
                vec![agents[ai].id.clone()],
            ));
            continue;
        }
        match change {
            Some(c) => pending.push(c),
            None => unchanged += 1,
        }
    }

    // Leavers absent from the roster: active, in scope, never the API user.
    let mut in_scope = 0u32;
    for (i, a) in agents.iter().enumerate() {
        if !active_in_scope(
            scope,
            api_user,
            &a.email_address,
            a.external_id.as_deref(),
            a.active,
        ) {
            continue;
        }
        in_scope += 1;
        if claimed.contains_key(&i) || held.contains(&i) {
            continue;
        }
        let why = match scope {
            Scope::Managed => "absent from the roster; managed by it (has an external id)",
            Scope::AllAgents => "absent from the roster (scope: every agent)",
            Scope::EmailDomains(_) => "absent from the roster; its e-mail domain is in scope",
        };
        pending.push(deactivate(None, i, a, why.to_string()));
    }

    let (order, stuck) = order(&pending, agents, &by_email);
    for (i, why) in stuck {
        let p = &pending[i];
        conflicts.push(PlanConflict {
            row: p.row,
            email_address: p.email.clone(),
            message: why,
            agent_ids: p.agent.map(|a| agents[a].id.clone()).into_iter().collect(),
        });
    }
    let changes: Vec<Change> = order
        .into_iter()
        .enumerate()
        .map(|(step, i)| finish(step as u32 + 1, &pending[i], agents))
        .collect();

    let deactivations = changes
        .iter()
        .filter(|c| c.kind == ChangeKind::Deactivate)
        .count() as u32;
    let guard = Guard::new(deactivations, in_scope, threshold);
    let mut warnings = Vec::new();
    if flavor == ApiFlavor::PublicSpec {
        warnings.push("This organisation's API has read-only agents (Gladly's public spec): the changes cannot be applied through the API. Render the plan as Gladly's bulk-import file (gladly-harness plan --format gladly-csv) and import it on Settings > People > Users. Roles, inboxes and active flags are not visible through this API, so they are shown as differing.".into());
    }
    let creates = changes
        .iter()
        .filter(|c| c.kind == ChangeKind::Create)
        .count();
    if creates > 0 {
        warnings.push(format!(
            "{creates} create(s): Gladly sends each new agent a welcome e-mail, which cannot be suppressed."
        ));
    }
    if !api_user.contains('@') {
        warnings.push(format!(
            "The API user '{api_user}' is not an e-mail address, so it could not be recognised among the agents: check that the plan does not deactivate the integration's own user."
        ));
    }
    if guard.tripped {
        warnings.push(format!(
            "The plan deactivates {deactivations} of {in_scope} active agent(s) in scope, more than the guard allows ({}{}): it is applied only when told how many deactivations are allowed.",
            guard.threshold,
            if deactivations >= in_scope && deactivations > 0 { "; or every one of them" } else { "" }
        ));
    }
    Plan {
        changes,
        conflicts,
        unchanged,
        active_in_scope: in_scope,
        deactivations,
        deactivation_threshold: guard.threshold,
        guard_tripped: guard.tripped,
        api_flavor: flavor,
        warnings,
    }
}

/// The change a matched row needs, if any.
fn for_agent(row: &Row, ai: usize, a: &Agent, how: &str) -> Option<Pending> {
    let want = &row.want;
    if !want.active {
        return a.is_active().then(|| {
            deactivate(
                Some(row.index),
                ai,
                a,
                format!("marked inactive in the roster (matched by {how})"),
            )
        });
    }
    let mut body = Map::new();
    let mut diffs = Vec::new();
    let mut takes = None;
    let show = |v: Option<&str>| v.map_or("unknown".to_string(), str::to_string);
    if !same_email(&a.email_address, &want.email_address) {
        body.insert("emailAddress".into(), json!(want.email_address));
        diffs.push(format!(
            "email-address: {} -> {}",
            a.email_address, want.email_address
        ));
        takes = Some(want.email_address.clone());
    }
    if a.name.as_deref() != Some(want.name.as_str()) {
        body.insert("name".into(), json!(want.name));
        diffs.push(format!(
            "name: {} -> {}",
            show(a.name.as_deref()),
            want.name
        ));
    }
    if let Some(role) = &want.role
        && a.role.as_ref() != Some(role)
    {
        body.insert("role".into(), json!(role.as_gladly()));
        diffs.push(format!(
            "role: {} -> {}",
            show(a.role.as_ref().map(Role::as_gladly)),
            role.as_gladly()
        ));
    }
    for (json_key, name, want_ids, have) in [
        ("inboxes", "inboxes", &row.inboxes, &a.inboxes),
        ("teams", "teams", &row.teams, &a.teams),
    ] {
        if let Some(ids) = want_ids
            && !same_set(have.as_deref(), ids)
        {
            body.insert(json_key.into(), json!(ids));
            diffs.push(format!(
                "{name}: [{}] -> [{}]",
                have.as_ref().map_or("unknown".into(), |h| h.join(", ")),
                ids.join(", ")
            ));
        }
    }
    for (json_key, name, want_v, have) in [
        (
            "externalId",
            "external-id",
            &want.external_id,
            &a.external_id,
        ),
        (
            "phoneNumber",
            "phone-number",
            &want.phone_number,
            &a.phone_number,
        ),
        ("language", "language", &want.language, &a.language),
    ] {
        if let Some(v) = want_v
            && have.as_ref() != Some(v)
        {
            body.insert(json_key.into(), json!(v));
            diffs.push(format!("{name}: {} -> {v}", show(have.as_deref())));
        }
    }
    if let Some(p) = &want.agent_profile
        && a.agent_profile.as_ref() != Some(p)
    {
        body.insert("agentProfile".into(), json!(p));
        diffs.push("agent-profile: changed".into());
    }
    let linking = a.external_id.is_none() && want.external_id.is_some();
    let mut reason = format!("matched by {how}");
    if takes.is_some() {
        reason.push_str("; a mover: the e-mail changes");
    }
    if linking {
        reason.push_str("; links the external id");
    }
    let kind = if !a.is_active() {
        body.insert("active".into(), json!(true));
        diffs.push("active: false -> true".into());
        ChangeKind::Reactivate
    } else if body.is_empty() {
        return None;
    } else {
        ChangeKind::Update
    };
    Some(Pending {
        kind,
        row: Some(row.index),
        agent: Some(ai),
        email: want.email_address.clone(),
        reason,
        body,
        differences: diffs,
        takes,
    })
}

fn create(row: &Row) -> Pending {
    let want = &row.want;
    let mut body = Map::new();
    body.insert("emailAddress".into(), json!(want.email_address));
    body.insert("name".into(), json!(want.name));
    let role = want.role.clone().unwrap_or(Role::Agent);
    body.insert("role".into(), json!(role.as_gladly()));
    for (k, ids) in [("inboxes", &row.inboxes), ("teams", &row.teams)] {
        if let Some(ids) = ids.as_ref().filter(|ids| !ids.is_empty()) {
            body.insert(k.into(), json!(ids));
        }
    }
    insert_opt(&mut body, "externalId", &want.external_id);
    insert_opt(&mut body, "phoneNumber", &want.phone_number);
    insert_opt(&mut body, "language", &want.language);
    if let Some(p) = &want.agent_profile {
        body.insert("agentProfile".into(), json!(p));
    }
    Pending {
        kind: ChangeKind::Create,
        row: Some(row.index),
        agent: None,
        email: want.email_address.clone(),
        reason: "not in Gladly: a joiner".into(),
        differences: vec![format!("new agent, role {}", role.as_gladly())],
        body,
        takes: Some(want.email_address.clone()),
    }
}

fn deactivate(row: Option<u32>, ai: usize, a: &Agent, reason: String) -> Pending {
    let mut body = Map::new();
    body.insert("active".into(), json!(false));
    Pending {
        kind: ChangeKind::Deactivate,
        row,
        agent: Some(ai),
        email: a.email_address.clone(),
        reason,
        body,
        differences: vec!["active: true -> false".into()],
        takes: None,
    }
}

/// The order the changes can run in: a change that gives an agent an e-mail
/// another agent holds runs after the change that moves that agent off it.
/// Answers the order, and the changes no order can make (with why): the
/// holder keeps the e-mail, or the moves form a cycle (a swap).
fn order(
    pending: &[Pending],
    agents: &[Agent],
    by_email: &HashMap<String, Vec<usize>>,
) -> (Vec<usize>, Vec<(usize, String)>) {
    let by_agent: HashMap<usize, usize> = pending
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.agent.map(|a| (a, i)))
        .collect();
    let mut after: Vec<Vec<usize>> = vec![Vec::new(); pending.len()];
    let mut waits = vec![0usize; pending.len()];
    let mut stuck: Vec<(usize, String)> = Vec::new();
    let mut blocked = vec![false; pending.len()];
    for (i, p) in pending.iter().enumerate() {
        let Some(email) = &p.takes else { continue };
        let holders = by_email.get(&key(email)).map(Vec::as_slice).unwrap_or(&[]);
        for &h in holders.iter().filter(|&&h| Some(h) != p.agent) {
            // The holder frees it only if its own change moves it away.
            let frees = by_agent.get(&h).filter(|&&j| {
                pending[j]
                    .takes
                    .as_deref()
                    .is_some_and(|t| !same_email(t, email))
            });
            match frees {
                Some(&j) => {
                    after[j].push(i);
                    waits[i] += 1;
                }
                None => {
                    blocked[i] = true;
                    stuck.push((
                        i,
                        format!(
                            "{email} belongs to agent {} ({}), which the roster does not move off it; Gladly's e-mails are unique, deactivated agents included. Free the e-mail in Gladly, or correct the roster",
                            agents[h].id, agents[h].email_address
                        ),
                    ));
                }
            }
        }
    }
    // Kahn's algorithm, taking the earliest ready change each time, so the
    // plan keeps the roster's order where nothing forces another.
    let mut ready: BinaryHeap<Reverse<usize>> = (0..pending.len())
        .filter(|&i| waits[i] == 0 && !blocked[i])
        .map(Reverse)
        .collect();
    let mut out = Vec::new();
    let mut done = vec![false; pending.len()];
    while let Some(Reverse(i)) = ready.pop() {
        done[i] = true;
        out.push(i);
        for &j in &after[i] {
            waits[j] -= 1;
            if waits[j] == 0 && !blocked[j] {
                ready.push(Reverse(j));
            }
        }
    }
    for i in 0..pending.len() {
        if !done[i] && !blocked[i] {
            stuck.push((
                i,
                format!(
                    "{} cannot be given its e-mail in any order: it waits on another change that cannot be made, or the e-mails of two or more agents are swapped. Give one of them a temporary e-mail by hand first, then plan again",
                    pending[i].email
                ),
            ));
        }
    }
    (out, stuck)
}

fn finish(step: u32, p: &Pending, agents: &[Agent]) -> Change {
    let current = p.agent.map(|a| agents[a].clone());
    let path = match &current {
        Some(a) => format!("/api/v1/agents/{}", encode(&a.id)),
        None => "/api/v1/agents".to_string(),
    };
    let method = if current.is_some() { "PATCH" } else { "POST" };
    Change {
        step,
        kind: p.kind,
        row: p.row,
        email_address: p.email.clone(),
        reason: p.reason.clone(),
        current,
        differences: p.differences.clone(),
        requests: vec![PlannedRequest {
            method: method.into(),
            path,
            body: Some(Value::Object(p.body.clone()).to_string()),
        }],
    }
}
