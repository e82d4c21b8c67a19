//! Random organisations and random rosters: plan, apply, plan again. After
//! every case: the second plan is empty, nobody got a second welcome e-mail,
//! no membership the roster did not ask to change was lost, and no agent out
//! of scope that the roster does not name was touched.
//!
//! `PROPTEST_CASES` sets the number of cases (default 200 here).

use std::collections::HashMap;

use gladly_harness::agents::Role;
use gladly_harness::roster::run::{self, Quiet, RunOptions};
use gladly_harness::roster::{DesiredAgent, PlanOptions, Scope};
use gladly_sandbox::{AgentRec, Sandbox, SandboxConfig};
use proptest::prelude::*;

use crate::roster::file_with;
use crate::support::{Env, harness};

const PEOPLE: usize = 6;
const INBOXES: [&str; 4] = ["ibx_support", "ibx_billing", "ibx_vip", "ibx_voice"];
const TEAMS: [&str; 3] = ["team_tier1", "team_tier2", "team_escalations"];
const ROLES: [&str; 3] = ["AGENT", "TEAM_LEAD", "ADMIN"];

/// Person `i` as Gladly has them at the start.
#[derive(Clone, Debug)]
struct Existing {
    alt_email: bool,
    active: bool,
    /// 0: none, 1: the roster's id, 2: another HR record's.
    ext: u8,
    role: usize,
    inboxes: Vec<bool>,
    teams: Vec<bool>,
}

/// Person `i` as the roster has them.
#[derive(Clone, Debug)]
struct Wanted {
    alt_email: bool,
    active: bool,
    with_ext: bool,
    role: Option<usize>,
    inboxes: Option<Vec<bool>>,
    teams: Option<Vec<bool>>,
}

#[derive(Clone, Debug)]
struct Case {
    org: Vec<Option<Existing>>,
    roster: Vec<Option<Wanted>>,
    scope: u8,
}

fn subset(n: usize) -> impl Strategy<Value = Vec<bool>> {
    proptest::collection::vec(any::<bool>(), n)
}

fn case() -> impl Strategy<Value = Case> {
    let existing = (
        any::<bool>(),
        any::<bool>(),
        0u8..3,
        0..ROLES.len(),
        subset(4),
        subset(3),
    )
        .prop_map(|(alt_email, active, ext, role, inboxes, teams)| Existing {
            alt_email,
            active,
            ext,
            role,
            inboxes,
            teams,
        });
    let wanted = (
        any::<bool>(),
        prop::bool::weighted(0.8),
        prop::bool::weighted(0.7),
        prop::option::of(0..ROLES.len()),
        prop::option::of(subset(4)),
        prop::option::of(subset(3)),
    )
        .prop_map(
            |(alt_email, active, with_ext, role, inboxes, teams)| Wanted {
                alt_email,
                active,
                with_ext,
                role,
                inboxes,
                teams,
            },
        );
    (
        proptest::collection::vec(prop::option::of(existing), PEOPLE),
        proptest::collection::vec(prop::option::of(wanted), PEOPLE),
        0u8..3,
    )
        .prop_map(|(org, roster, scope)| Case { org, roster, scope })
}

fn email(i: usize, alt: bool) -> String {
    if alt {
        format!("p{i}.new@acme.example")
    } else {
        format!("p{i}@acme.example")
    }
}

fn picked(all: &[&str], on: &[bool]) -> Vec<String> {
    all.iter()
        .zip(on)
        .filter(|(_, on)| **on)
        .map(|(x, _)| x.to_string())
        .collect()
}

fn role(i: usize) -> Role {
    [Role::Agent, Role::TeamLead, Role::Admin][i].clone()
}

/// Whether a roster row names this agent (by external id or e-mail).
fn names(row: &DesiredAgent, a: &AgentRec) -> bool {
    row.external_id.is_some() && row.external_id == a.external_id
        || row.email_address.eq_ignore_ascii_case(&a.email_address)
}

async fn run_case(c: Case) -> Result<(), TestCaseError> {
    let sandbox = Sandbox::start(SandboxConfig {
        rate_limit: None,
        ..Default::default()
    })
    .await
    .unwrap();
    {
        let mut org = sandbox.org();
        org.add_agent("contractor@partner.example", "Contractor", true, None);
        for (i, e) in c.org.iter().enumerate() {
            let Some(e) = e else { continue };
            let ext = match e.ext {
                0 => None,
                1 => Some(format!("X{i}")),
                _ => Some(format!("Y{i}")),
            };
            let a = org.add_agent(
                &email(i, e.alt_email),
                &format!("Person {i}"),
                e.active,
                ext.as_deref(),
            );
            a.role = ROLES[e.role].into();
            a.inboxes = picked(&INBOXES, &e.inboxes);
            a.teams = picked(&TEAMS, &e.teams);
        }
    }
    let before: Vec<AgentRec> = sandbox.org().agents.clone();
    let roster: Vec<DesiredAgent> = c
        .roster
        .iter()
        .enumerate()
        .filter_map(|(i, w)| {
            let w = w.as_ref()?;
            Some(DesiredAgent {
                email_address: email(i, w.alt_email),
                name: format!("Person {i}"),
                role: w.role.map(role),
                inboxes: w.inboxes.as_ref().map(|on| picked(&INBOXES, on)),
                teams: w.teams.as_ref().map(|on| picked(&TEAMS, on)),
                external_id: w.with_ext.then(|| format!("X{i}")),
                phone_number: None,
                language: None,
                agent_profile: None,
                active: w.active,
            })
        })
        .collect();
    let scope = match c.scope {
        0 => Scope::Managed,
        1 => Scope::AllAgents,
        _ => Scope::EmailDomains(vec!["acme.example".into()]),
    };
    let options = PlanOptions {
        scope: scope.clone(),
        deactivation_threshold: None,
    };
    let e = Env {
        admin: sandbox.admin().into(),
        harness: harness(),
        sandbox,
    };
    let plan = e
        .harness
        .plan(&e.admin, &roster, &options)
        .await
        .unwrap()
        .unwrap();
    let conflicted: Vec<u32> = plan.conflicts.iter().filter_map(|c| c.row).collect();
    let creates = plan
        .changes
        .iter()
        .filter(|c| c.kind == gladly_harness::roster::ChangeKind::Create)
        .count();
    let run = RunOptions {
        dry_run: false,
        allow_deactivations: Some(u32::MAX),
        deactivation_threshold: None,
        per_second: 10_000.0,
        scope: scope.clone(),
    };
    let file = file_with(&e, plan, scope.clone());
    let report = run::apply(&e.harness, &e.admin, &file, &run, &mut Quiet)
        .await
        .unwrap()
        .unwrap();
    let c_ = report.counts();
    prop_assert_eq!(
        c_.failed + c_.stale + c_.not_attempted,
        0,
        "report {:#}",
        report.to_json()
    );

    let again = e
        .harness
        .plan(&e.admin, &roster, &options)
        .await
        .unwrap()
        .unwrap();
    prop_assert!(
        again.changes.is_empty(),
        "a second plan: {:#?}",
        again.changes
    );

    let emails = e.sandbox.welcome_emails();
    prop_assert_eq!(emails.len(), creates);
    let mut seen = HashMap::new();
    for w in &emails {
        prop_assert!(
            seen.insert(w.to.to_lowercase(), ()).is_none(),
            "a second welcome e-mail to {}",
            w.to
        );
    }

    let after = e.sandbox.org().agents.clone();
    // Every row that was not a conflict is now as the roster says.
    for (i, row) in roster.iter().enumerate() {
        if conflicted.contains(&(i as u32)) {
            continue;
        }
        let found: Vec<&AgentRec> = after
            .iter()
            .filter(|a| a.email_address.eq_ignore_ascii_case(&row.email_address))
            .collect();
        if !row.active && found.is_empty() {
            continue; // a leaver Gladly never had
        }
        prop_assert_eq!(
            found.len(),
            1,
            "row {} ({}) is not one agent",
            i,
            row.email_address
        );
        let a = found[0];
        prop_assert_eq!(a.active, row.active, "row {} active", i);
        if !row.active {
            continue;
        }
        prop_assert_eq!(&a.name, &row.name);
        if let Some(r) = &row.role {
            prop_assert_eq!(a.role.as_str(), gladly_harness::roster::role_wire(r));
        }
        let sorted = |v: &[String]| {
            let mut v = v.to_vec();
            v.sort();
            v
        };
        if let Some(want) = &row.inboxes {
            prop_assert_eq!(sorted(&a.inboxes), sorted(want), "row {} inboxes", i);
        }
        if let Some(want) = &row.teams {
            prop_assert_eq!(sorted(&a.teams), sorted(want), "row {} teams", i);
        }
        if row.external_id.is_some() {
            prop_assert_eq!(&a.external_id, &row.external_id, "row {} external id", i);
        }
    }
    for old in &before {
        let new = after
            .iter()
            .find(|a| a.id == old.id)
            .expect("agents are never deleted");
        let rows: Vec<&DesiredAgent> = roster.iter().filter(|r| names(r, old)).collect();
        // Memberships the roster did not ask about are kept.
        if !rows.iter().any(|r| r.inboxes.is_some()) {
            for m in &old.inboxes {
                prop_assert!(
                    new.inboxes.contains(m),
                    "{} lost inbox {m}",
                    old.email_address
                );
            }
        }
        if !rows.iter().any(|r| r.teams.is_some()) {
            for m in &old.teams {
                prop_assert!(new.teams.contains(m), "{} lost team {m}", old.email_address);
            }
        }
        // Out of scope and not named by the roster: untouched.
        let in_scope = match &scope {
            Scope::Managed => old.external_id.is_some(),
            Scope::AllAgents => true,
            Scope::EmailDomains(d) => d
                .iter()
                .any(|d| old.email_address.ends_with(&format!("@{d}"))),
        };
        if rows.is_empty() && !in_scope {
            prop_assert_eq!(
                (
                    &new.email_address,
                    &new.name,
                    &new.role,
                    new.active,
                    &new.inboxes,
                    &new.teams,
                    &new.external_id
                ),
                (
                    &old.email_address,
                    &old.name,
                    &old.role,
                    old.active,
                    &old.inboxes,
                    &old.teams,
                    &old.external_id
                ),
                "an agent out of scope was touched"
            );
        }
    }
    Ok(())
}

#[test]
fn plan_apply_plan_converges_on_random_organisations() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let result = runner.run(&case(), |c| rt.block_on(run_case(c)));
    if let Err(e) = result {
        panic!("{e}");
    }
}
