//! `plan`: check every roster row, read the organisation once, and hand
//! both to the matching.

use std::collections::HashSet;

use crate::error::Error;
use crate::model::{Agent, ApiFlavor, Connection, Team};
use crate::ops::{Directory, Kind, with_client};
use crate::transport::Transport;
use crate::validate;

use super::matching::{self, Row};
use super::{DesiredAgent, Plan, PlanOptions, Scope};

pub fn plan<T: Transport>(
    t: &mut T,
    conn: &Connection,
    desired: &[DesiredAgent],
    options: &PlanOptions,
) -> Result<Plan, Error> {
    let rows = rows(desired)?;
    let scope = scope(&options.scope)?;
    with_client(t, conn, None, |c| {
        let (mut agents, flavor) = c.list("/agents", "", "the agent list", |_: &Agent| true)?;
        let mut dir = Directory::default();
        if flavor == ApiFlavor::PublicSpec {
            // The public spec's agents carry no memberships, but its teams
            // list their members: fill the agents' teams from them.
            let (teams, _) = c.list("/teams", "", "the team list", |_: &Team| true)?;
            for a in &mut agents {
                if a.teams.is_none() {
                    a.teams = Some(
                        teams
                            .iter()
                            .filter(|t| t.agent_ids.as_ref().is_some_and(|ids| ids.contains(&a.id)))
                            .map(|t| t.id.clone())
                            .collect(),
                    );
                }
            }
            dir.teams = Some(teams.into_iter().map(|t| (t.id, t.name)).collect());
        }
        let mut resolved = Vec::with_capacity(rows.len());
        for (i, want) in rows.into_iter().enumerate() {
            let mut ids = |kind, field: &str, refs: &Option<Vec<String>>| match refs {
                Some(refs) => dir
                    .resolve(c, kind, &format!("desired[{i}].{field}"), refs, &[])
                    .map(Some),
                None => Ok(None),
            };
            let inboxes = ids(Kind::Inbox, "inboxes", &want.inboxes)?;
            let teams = ids(Kind::Team, "teams", &want.teams)?;
            resolved.push(Row {
                index: i as u32,
                want,
                inboxes,
                teams,
            });
        }
        Ok(matching::build(
            &resolved,
            &agents,
            flavor,
            &conn.api_user,
            &scope,
            options.deactivation_threshold,
        ))
    })
}

/// Every row checked as `provision` checks a new agent, naming the row; two
/// rows with the same e-mail or external id name both.
pub(super) fn rows(desired: &[DesiredAgent]) -> Result<Vec<DesiredAgent>, Error> {
    let mut out = Vec::with_capacity(desired.len());
    let mut emails: std::collections::HashMap<String, usize> = Default::default();
    let mut externals: std::collections::HashMap<String, usize> = Default::default();
    for (i, d) in desired.iter().enumerate() {
        let f = |name: &str| format!("desired[{i}].{name}");
        let email = validate::email(&f("email-address"), &d.email_address)?;
        if let Some(role) = &d.role {
            validate::role(&f("role"), role)?;
        }
        let row = DesiredAgent {
            name: validate::name(&f("name"), &d.name)?,
            role: d.role.clone(),
            inboxes: d
                .inboxes
                .as_ref()
                .map(|r| validate::references(&f("inboxes"), r))
                .transpose()?,
            teams: d
                .teams
                .as_ref()
                .map(|r| validate::references(&f("teams"), r))
                .transpose()?,
            external_id: d
                .external_id
                .as_ref()
                .map(|x| validate::external_id(&f("external-id"), x))
                .transpose()?,
            phone_number: d
                .phone_number
                .as_ref()
                .map(|p| validate::phone(&f("phone-number"), p))
                .transpose()?,
            language: d
                .language
                .as_ref()
                .map(|l| validate::language(&f("language"), l))
                .transpose()?,
            agent_profile: d
                .agent_profile
                .as_ref()
                .map(|p| validate::profile(&f("agent-profile"), p))
                .transpose()?,
            active: d.active,
            email_address: email,
        };
        if let Some(first) = emails.insert(crate::model::email_key(&row.email_address), i) {
            return Err(Error::invalid(
                f("email-address"),
                format!(
                    "desired[{first}] and desired[{i}] have the same e-mail {}; a person appears once in a roster",
                    row.email_address
                ),
            ));
        }
        if let Some(x) = &row.external_id
            && let Some(first) = externals.insert(x.clone(), i)
        {
            return Err(Error::invalid(
                f("external-id"),
                format!(
                    "desired[{first}] and desired[{i}] have the same external id {x}; a person appears once in a roster"
                ),
            ));
        }
        out.push(row);
    }
    Ok(out)
}

/// E-mail domains are compared as addresses are ([`super::domain_key`]),
/// and apply compares a plan's scope the same way; an empty list, or one that is
/// not a domain, would put nobody or everybody in scope by mistake.
fn scope(s: &Scope) -> Result<Scope, Error> {
    let Scope::EmailDomains(domains) = s else {
        return Ok(s.clone());
    };
    if domains.is_empty() {
        return Err(Error::invalid(
            "options.scope.email-domains",
            "is empty; name at least one domain, e.g. acme.com",
        ));
    }
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (i, d) in domains.iter().enumerate() {
        let d = super::domain_key(d);
        // A domain is valid when an address at it is.
        validate::email(
            &format!("options.scope.email-domains[{i}]"),
            &format!("x@{d}"),
        )?;
        if seen.insert(d.clone()) {
            out.push(d);
        }
    }
    Ok(Scope::EmailDomains(out))
}
