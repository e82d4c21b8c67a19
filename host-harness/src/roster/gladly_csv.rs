//! A plan as Gladly's bulk user import (Settings > People > Users > Import),
//! for organisations whose API has read-only agents.
//!
//! Gladly's documented rules (GLADLY-API.md, part 3), and what follows:
//! - columns `name`, `email`, `roles`, `inboxes`, `teams`, `deactivated`
//!   (A to F); the e-mail is the key, and users not in the file are left as
//!   they are, so only rows that change are written;
//! - roles, inboxes and teams by the names Gladly shows, several separated by
//!   comma and space in one quoted cell;
//! - `Yes` in `deactivated` deactivates, and a blank one ACTIVATES: only
//!   people who must be active get a blank;
//! - a blank `name` blanks the name, so a row is written only when its name
//!   is known;
//! - deleting the inboxes or teams column leaves those fields unchanged, so
//!   a column is written only when every row knows its full list.
//!
//! What the file cannot say safely is listed as a step to do by hand, never
//! guessed: a new e-mail (the import keys on it), a role the API did not
//! reveal, memberships it did not reveal.

use serde_json::Value;

use crate::agents::{Inbox, Team};
use crate::roster::{Change, ChangeKind, RosterPlan};

/// The import file and the steps to do by hand.
pub struct Rendered {
    pub csv: String,
    pub rows: usize,
    pub by_hand: Vec<String>,
}

/// Gladly's role names for the API's roles. `TEAM_LEAD` is shown as "Team
/// Manager" in Gladly's user settings.
fn role_name(wire: &str) -> Option<&'static str> {
    Some(match wire {
        "AGENT" => "Agent",
        "TEAM_LEAD" => "Team Manager",
        "ADMIN" => "Administrator",
        "ANALYST" => "Analyst",
        "TASK" => "Task User",
        _ => return None,
    })
}

struct Row {
    name: String,
    email: String,
    roles: String,
    inboxes: Option<String>,
    teams: Option<String>,
    deactivated: &'static str,
    /// Whether the change asked to change inboxes / teams.
    wants_inboxes: bool,
    wants_teams: bool,
}

pub fn render(plan: &RosterPlan, inboxes: &[Inbox], teams: &[Team]) -> Rendered {
    let mut by_hand = Vec::new();
    let mut rows = Vec::new();
    for c in &plan.changes {
        match row(c, inboxes, teams) {
            Ok(r) => rows.push(r),
            Err(why) => by_hand.push(format!("step {} ({}): {why}", c.step, c.email_address)),
        }
    }
    for conflict in &plan.conflicts {
        by_hand.push(format!(
            "conflict ({}): {}",
            conflict.email_address, conflict.message
        ));
    }
    // A column is written only if every row can fill it; otherwise it is left
    // out (Gladly then leaves that field alone) and the rows that wanted it
    // changed are listed by hand.
    let with_inboxes = rows.iter().all(|r| r.inboxes.is_some());
    let with_teams = rows.iter().all(|r| r.teams.is_some());
    for r in &rows {
        if !with_inboxes && r.wants_inboxes {
            by_hand.push(format!(
                "{}: set the inboxes by hand (the API did not reveal, or the import cannot name, every agent's inboxes, so the import file leaves the column out)",
                r.email
            ));
        }
        if !with_teams && r.wants_teams {
            by_hand.push(format!(
                "{}: set the teams by hand (the API did not reveal, or the import cannot name, every agent's teams, so the import file leaves the column out)",
                r.email
            ));
        }
    }
    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
    let mut header = vec!["name", "email", "roles"];
    if with_inboxes {
        header.push("inboxes");
    }
    if with_teams {
        header.push("teams");
    }
    header.push("deactivated");
    let _ = w.write_record(&header);
    for r in &rows {
        let mut record = vec![r.name.as_str(), r.email.as_str(), r.roles.as_str()];
        if with_inboxes {
            record.push(r.inboxes.as_deref().unwrap_or_default());
        }
        if with_teams {
            record.push(r.teams.as_deref().unwrap_or_default());
        }
        record.push(r.deactivated);
        let _ = w.write_record(&record);
    }
    let csv = String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default();
    Rendered {
        csv,
        rows: rows.len(),
        by_hand,
    }
}

fn row(c: &Change, inboxes: &[Inbox], teams: &[Team]) -> Result<Row, String> {
    let body: Value = c
        .requests
        .first()
        .and_then(|r| r.body.as_deref())
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_string);
    let current = c.current.as_ref();
    if let (Some(cur), Some(new)) = (current, text("emailAddress"))
        && !crate::roster::same_email(&cur.email_address, &new)
    {
        return Err(format!(
            "change the e-mail of {} to {new} on Settings > People > Users (the import keys on the e-mail, so it cannot change one)",
            cur.email_address
        ));
    }
    let email = current
        .map(|a| a.email_address.clone())
        .or_else(|| text("emailAddress"))
        .unwrap_or_default();
    let name = text("name")
        .or_else(|| current.and_then(|a| a.name.clone()))
        .filter(|n| !n.trim().is_empty())
        .ok_or("the name is not known, and a blank name would erase it: do this change by hand")?;
    let role_wire = text("role").or_else(|| {
        current
            .and_then(|a| a.role.as_ref())
            .map(|r| crate::roster::role_wire(r).to_string())
    });
    let roles = role_wire
        .as_deref()
        .and_then(role_name)
        .ok_or("the role is not known (the API did not reveal it) and the import needs one: do this change by hand, or give the role in the roster")?
        .to_string();
    // A cell names several by ", ", and the import finds each by name: a
    // name that holds a comma, one that two of them share, or an id whose
    // name is not known (it is no name) cannot be written in it; the
    // change is a step by hand.
    let names = |what: &str,
                 ids: Option<Vec<String>>,
                 known: &dyn Fn(&str) -> Option<(String, usize)>|
     -> Result<Option<String>, String> {
        let Some(ids) = ids else { return Ok(None) };
        let mut out = Vec::new();
        for id in &ids {
            match known(id) {
                Some((n, 1)) if !n.contains(',') && !n.trim().is_empty() => out.push(n),
                Some((n, 1)) => {
                    return Err(format!(
                        "the {what} '{n}' holds a comma (or is blank), which the import cannot read as one name: do this change by hand"
                    ));
                }
                Some((n, shared)) => {
                    return Err(format!(
                        "{shared} {what}s are named '{n}', which the import cannot tell apart: do this change by hand"
                    ));
                }
                None => {
                    return Err(format!(
                        "the {what} {id} has no name Gladly shows: do this change by hand"
                    ));
                }
            }
        }
        Ok(Some(out.join(", ")))
    };
    let wants_inboxes = body.get("inboxes").is_some();
    let wants_teams = body.get("teams").is_some();
    let ids = |k: &str, have: Option<&Vec<String>>| {
        body.get(k)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .or_else(|| have.cloned())
            .or_else(|| (c.kind == ChangeKind::Create).then(Vec::new))
    };
    // A name, and how many hold it (as the import compares names).
    let named = |all: &[(&str, Option<&String>)], id: &str| {
        let name = all.iter().find(|(i, _)| *i == id)?.1?.clone();
        let key = name.trim().to_lowercase();
        let shared = all
            .iter()
            .filter(|(_, n)| n.is_some_and(|n| n.trim().to_lowercase() == key))
            .count();
        Some((name, shared))
    };
    let all_inboxes: Vec<_> = inboxes
        .iter()
        .map(|i| (i.id.as_str(), i.name.as_ref()))
        .collect();
    let all_teams: Vec<_> = teams
        .iter()
        .map(|t| (t.id.as_str(), t.name.as_ref()))
        .collect();
    let inbox_name = |id: &str| named(&all_inboxes, id);
    let team_name = |id: &str| named(&all_teams, id);
    Ok(Row {
        name,
        email,
        roles,
        inboxes: unless_left_alone(
            names(
                "inbox",
                ids("inboxes", current.and_then(|a| a.inboxes.as_ref())),
                &inbox_name,
            ),
            wants_inboxes,
        )?,
        teams: unless_left_alone(
            names(
                "team",
                ids("teams", current.and_then(|a| a.teams.as_ref())),
                &team_name,
            ),
            wants_teams,
        )?,
        deactivated: if c.kind == ChangeKind::Deactivate {
            "Yes"
        } else {
            ""
        },
        wants_inboxes,
        wants_teams,
    })
}

/// A membership cell the change leaves alone need not be written: when its
/// names cannot be (a comma, a shared name, none shown), the cell is
/// unknown, and the column is left out (Gladly leaves the field alone),
/// never the whole change (a deactivation) turned into a step by hand.
fn unless_left_alone(
    cell: Result<Option<String>, String>,
    wanted: bool,
) -> Result<Option<String>, String> {
    match cell {
        Err(_) if !wanted => Ok(None),
        cell => cell,
    }
}

#[cfg(test)]
mod names {
    use super::*;
    use crate::agents::{ApiFlavor, PlannedRequest};

    fn team(id: &str, name: &str) -> Team {
        Team {
            id: id.into(),
            name: Some(name.into()),
            description: None,
            agent_ids: None,
        }
    }

    /// Gladly's import splits a cell of several names at ", " and finds
    /// each by its name: a team whose own name holds ", " would mean two
    /// other teams, and a name two teams share either of them. Each is a
    /// step by hand, as the README promises of what the file cannot say
    /// safely, never written.
    #[test]
    fn a_team_name_the_import_cannot_read_as_one_team_is_a_step_by_hand() {
        for (teams, unsaid) in [
            (
                vec![
                    team("t1", "Billing, EMEA"),
                    team("t2", "Billing"),
                    team("t3", "EMEA"),
                ],
                "Billing, EMEA",
            ),
            (
                vec![team("t1", "Support"), team("t2", "support ")],
                "Support",
            ),
        ] {
            let r = render(&plan_joining_t1(), &[], &teams);
            assert!(
                !r.csv.contains(unsaid),
                "the cell names another team: {}",
                r.csv
            );
            assert!(
                r.by_hand.iter().any(|s| s.contains("new@acme.example")),
                "{:?}",
                r.by_hand
            );
        }
    }

    /// A deactivation (or any change that leaves the memberships as they
    /// are) of an agent in a team the import cannot name still deactivates:
    /// the teams column is left out (Gladly leaves the teams alone), never
    /// the offboarding turned into a step that says only "set the teams by
    /// hand" (found in review: helper-48).
    #[test]
    fn a_deactivation_does_not_wait_on_the_names_of_teams_it_leaves_alone() {
        use crate::agents::{Agent, Role};
        for teams in [
            vec![team("t1", "Billing, EMEA"), team("t2", "Billing")],
            vec![team("t1", "Support"), team("t2", "support")],
        ] {
            let leaver = Agent {
                id: "agt_9".into(),
                email_address: "leaver@acme.example".into(),
                name: Some("Leaver".into()),
                role: Some(Role::Agent),
                agent_profile: None,
                inboxes: Some(vec![]),
                teams: Some(vec!["t1".into()]),
                active: Some(true),
                phone_number: None,
                external_id: None,
                language: None,
                created_at: None,
                updated_at: None,
                agent_status: None,
            };
            let mut p = plan_joining_t1();
            p.changes = vec![Change {
                step: 1,
                kind: ChangeKind::Deactivate,
                row: None,
                email_address: "leaver@acme.example".into(),
                reason: String::new(),
                current: Some(leaver),
                differences: Vec::new(),
                requests: vec![PlannedRequest {
                    method: "PATCH".into(),
                    path: "/api/v1/agents/agt_9".into(),
                    body: Some(r#"{"active":false}"#.into()),
                }],
            }];
            let r = render(&p, &[], &teams);
            assert!(
                r.csv
                    .lines()
                    .any(|l| l.contains("leaver@acme.example") && l.ends_with(",Yes")),
                "the leaver is not deactivated by the file: {}\nby hand: {:?}",
                r.csv,
                r.by_hand
            );
        }
    }

    /// A create of new@acme.example into team t1.
    fn plan_joining_t1() -> RosterPlan {
        RosterPlan {
            changes: vec![Change {
                step: 1,
                kind: ChangeKind::Create,
                row: Some(0),
                email_address: "new@acme.example".into(),
                reason: String::new(),
                current: None,
                differences: Vec::new(),
                requests: vec![PlannedRequest {
                    method: "POST".into(),
                    path: "/api/v1/agents".into(),
                    body: Some(
                        r#"{"emailAddress":"new@acme.example","name":"New","role":"AGENT","teams":["t1"]}"#
                            .into(),
                    ),
                }],
            }],
            conflicts: Vec::new(),
            unchanged: 0,
            active_in_scope: 0,
            deactivations: 0,
            deactivation_threshold: 5,
            guard_tripped: false,
            api_flavor: ApiFlavor::PublicSpec,
            warnings: Vec::new(),
        }
    }
}
