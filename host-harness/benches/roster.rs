//! Roster reconciliation at scale, measured in one run:
//!
//!     cargo bench -p gladly-harness --bench roster
//!
//! - planning against a 10,000-agent organisation: the requests it sends
//!   against the fewest possible (the agent list's pages, one inbox list and
//!   one team list), its time, and the component's linear memory;
//! - applying 500 changes against a sandbox keeping Gladly's rate limit
//!   (10 requests per second per method): changes per second against the
//!   limit, and the 429s drawn.
//!
//! Prints a Markdown table; the figures in BENCHMARKS.md come from it.

use std::time::Instant;

use gladly_harness::agents::Role;
use gladly_harness::roster::plan_file::PlanFile;
use gladly_harness::roster::run::{self, Quiet, RunOptions};
use gladly_harness::roster::{DesiredAgent, PlanOptions, Scope};
use gladly_harness::{Connection, Harness};
use gladly_sandbox::{Sandbox, SandboxConfig};

const AGENTS: usize = 10_000;

/// The organisation's agents as a roster, with `changed` of them renamed
/// and moved to another inbox: what a nightly HR export looks like.
fn roster(sandbox: &Sandbox, changed: usize) -> Vec<DesiredAgent> {
    let org = sandbox.org();
    org.agents
        .iter()
        .filter(|a| a.active)
        .enumerate()
        .map(|(i, a)| DesiredAgent {
            email_address: a.email_address.clone(),
            name: if i < changed {
                format!("{} (renamed)", a.name)
            } else {
                a.name.clone()
            },
            role: Some(Role::Agent).filter(|_| a.role == "AGENT"),
            inboxes: (i < changed).then(|| vec!["Billing".to_string()]),
            teams: None,
            external_id: a.external_id.clone(),
            phone_number: None,
            language: None,
            agent_profile: None,
            active: true,
        })
        .collect()
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let options = PlanOptions {
        scope: Scope::Managed,
        deactivation_threshold: None,
    };
    let mut rows: Vec<(String, String, String)> = Vec::new();

    // Planning: one walk.
    let big = rt
        .block_on(Sandbox::start(SandboxConfig {
            extra_agents: AGENTS - 3,
            rate_limit: None,
            ..Default::default()
        }))
        .unwrap();
    let desired = roster(&big, 500);
    let harness = Harness::embedded().unwrap();
    let started = Instant::now();
    let plan = rt
        .block_on(harness.plan(&big.admin().into(), &desired, &options))
        .unwrap()
        .unwrap();
    let took = started.elapsed();
    let requests = big.requests();
    let pages = AGENTS.div_ceil(100);
    let minimum = pages + 1; // the agent list's pages, the inbox list
    rows.push((
        format!("plan {} rows against {AGENTS} agents", desired.len()),
        format!(
            "{:.0} ms, {} changes; {} requests ({} agent pages, {} inbox list, {} team list)",
            took.as_secs_f64() * 1e3,
            plan.changes.len(),
            requests.len(),
            requests
                .iter()
                .filter(|r| r.path_and_query.starts_with("/api/v1/agents"))
                .count(),
            requests
                .iter()
                .filter(|r| r.path_and_query.starts_with("/api/v1/inboxes"))
                .count(),
            requests
                .iter()
                .filter(|r| r.path_and_query.starts_with("/api/v1/teams"))
                .count(),
        ),
        format!(
            "{:.2}x the fewest possible ({minimum})",
            requests.len() as f64 / minimum as f64
        ),
    ));
    rows.push((
        format!("component linear memory, planning {AGENTS} agents"),
        format!(
            "{:.1} MiB at most",
            harness.memory_peak() as f64 / (1 << 20) as f64
        ),
        format!("of the {} MiB cap", harness.limits().memory_bytes >> 20),
    ));

    // Applying: 500 changes at Gladly's limit.
    let limited = rt
        .block_on(Sandbox::start(SandboxConfig {
            extra_agents: 600,
            ..Default::default()
        }))
        .unwrap();
    let desired = roster(&limited, 500);
    let conn = Connection::from(limited.admin());
    let plan = rt
        .block_on(harness.plan(&conn, &desired, &options))
        .unwrap()
        .unwrap();
    assert_eq!(plan.changes.len(), 500);
    let before = limited.requests().len();
    let file = PlanFile {
        org_url: conn.org_url.clone(),
        roster: "bench".into(),
        scope: options.scope.clone(),
        plan,
    };
    let started = Instant::now();
    let report = rt
        .block_on(run::apply(
            &harness,
            &conn,
            &file,
            &RunOptions::default(),
            &mut Quiet,
        ))
        .unwrap()
        .unwrap();
    let took = started.elapsed();
    assert!(report.complete(), "{:#}", report.to_json());
    let rate = 500.0 / took.as_secs_f64();
    rows.push((
        "apply 500 changes at Gladly's limit (10 requests/s per method)".into(),
        format!(
            "{:.1} s: {rate:.2} changes/s, {} requests, {} answered 429",
            took.as_secs_f64(),
            limited.requests().len() - before,
            limited.answered(429)
        ),
        format!("{:.2} of the limit", rate / 10.0),
    ));

    println!("| measure | result | ratio |");
    println!("| --- | --- | --- |");
    for (a, b, c) in rows {
        println!("| {a} | {b} | {c} |");
    }
}
