//! `demo`: a sandbox, and a whole agent lifecycle walked through the
//! component, step by step, then a roster reconciled, then an IdP's create
//! and deactivate through SCIM (`demo_scim.rs`).

use std::process::ExitCode;

use anyhow::Context as _;

use gladly_harness::agents::*;
use gladly_harness::{Connection, Harness, error_case, error_message, output};
use gladly_sandbox::{Sandbox, SandboxConfig};

use crate::reconcile;

/// Unwraps a domain answer in the demo, where every step is expected to work.
fn step<T>(what: &str, r: Result<T, Error>) -> anyhow::Result<T> {
    r.map_err(|e| anyhow::anyhow!("{what} failed: {}: {}", error_case(&e), error_message(&e)))
}

fn describe(a: &Agent) -> String {
    format!(
        "{} <{}> id={} role={} active={} inboxes=[{}] teams=[{}]",
        a.name.as_deref().unwrap_or("?"),
        a.email_address,
        a.id,
        a.role
            .as_ref()
            .map(|r| output::role(r).to_string().replace('"', ""))
            .unwrap_or_else(|| "?".into()),
        a.active.map_or("?".into(), |b| b.to_string()),
        a.inboxes.as_deref().unwrap_or(&[]).join(", "),
        a.teams.as_deref().unwrap_or(&[]).join(", "),
    )
}

fn print_result(r: &WriteResult) {
    println!("   outcome: {}", output::outcome(r.outcome));
    if let Some(a) = &r.agent {
        println!("   agent:   {}", describe(a));
    }
    for req in &r.requests {
        println!(
            "   sent:    {} {} {}",
            req.method,
            req.path,
            req.body.as_deref().unwrap_or("")
        );
    }
    for w in &r.warnings {
        println!("   warning: {w}");
    }
}

pub async fn demo(
    harness: Harness,
    cache_dir: Option<&std::path::Path>,
) -> anyhow::Result<ExitCode> {
    let sandbox = Sandbox::start(SandboxConfig::default()).await?;
    let conn = Connection::from(sandbox.admin());
    let defaults = WriteOptions {
        dry_run: false,
        no_reactivate: false,
        retry: None,
    };
    println!(
        "Gladly sandbox started at {} (lifecycle contract).\n",
        sandbox.url()
    );

    println!("1. Check the connection");
    let info = step("check-connection", harness.check_connection(&conn).await?)?;
    println!("   {}\n", output::connection_info(&info));

    println!("2. Resolve inboxes and teams (Gladly has no look-up by name)");
    for i in step("list-inboxes", harness.list_inboxes(&conn).await?)? {
        println!("   inbox {:<12} {}", i.id, i.name.unwrap_or_default());
    }
    for t in step("list-teams", harness.list_teams(&conn).await?)? {
        println!("   team  {:<17} {}", t.id, t.name.unwrap_or_default());
    }

    println!(
        "\n3. Provision alex.rivera@acme.example as an agent in \"General Support\" and \"Tier 1 Support\" (by name)"
    );
    let new = NewAgent {
        email_address: "alex.rivera@acme.example".into(),
        name: "Alex Rivera".into(),
        role: Role::Agent,
        inboxes: vec!["General Support".into()],
        teams: vec!["Tier 1 Support".into()],
        external_id: Some("E-2042".into()),
        phone_number: None,
        language: Some("en-US".into()),
        agent_profile: None,
    };
    let created = step(
        "provision",
        harness.provision(&conn, &new, &defaults).await?,
    )?;
    print_result(&created);
    let id = created
        .agent
        .as_ref()
        .map(|a| a.id.clone())
        .context("provision returned no agent")?;

    println!("\n4. Provision the same person again (an automation retrying)");
    let again = step(
        "provision",
        harness.provision(&conn, &new, &defaults).await?,
    )?;
    print_result(&again);
    println!(
        "   welcome e-mails sent so far: {}",
        sandbox.welcome_emails().len()
    );

    println!("\n5. Promote to team lead and add the \"Billing\" inbox (the other inbox is kept)");
    let changes = AgentChanges {
        email_address: None,
        name: None,
        role: Some(Role::TeamLead),
        inboxes: Some(MembershipChange::Delta(MembershipDelta {
            add: vec!["Billing".into()],
            remove: vec![],
        })),
        teams: None,
        external_id: None,
        phone_number: None,
        language: None,
        agent_profile: None,
    };
    let updated = step(
        "update",
        harness
            .update(&conn, &AgentKey::Id(id.clone()), &changes, &defaults)
            .await?,
    )?;
    print_result(&updated);

    println!("\n6. Look up by e-mail, in other case: ALEX.RIVERA@ACME.EXAMPLE");
    let found = step(
        "lookup",
        harness
            .lookup(&conn, &AgentKey::Email("ALEX.RIVERA@ACME.EXAMPLE".into()))
            .await?,
    )?;
    println!("   {}", found.as_ref().map_or("not found".into(), describe));

    println!("\n7. Offboard by external id E-2042");
    let off = step(
        "offboard",
        harness
            .offboard(&conn, &AgentKey::ExternalId("E-2042".into()), &defaults)
            .await?,
    )?;
    print_result(&off);

    println!("\n8. Look up again by id");
    let after = step("lookup", harness.lookup(&conn, &AgentKey::Id(id)).await?)?;
    println!("   {}", after.as_ref().map_or("not found".into(), describe));

    reconcile::demo(&harness, &conn).await?;
    crate::demo_scim::demo(&sandbox, cache_dir).await?;

    let requests = sandbox.requests();
    let writes = requests.iter().filter(|r| r.method != "GET").count();
    let framed = requests
        .iter()
        .filter(|r| r.method != "GET" && r.framing.content_length.is_some())
        .count();
    println!(
        "\nThe sandbox received {} requests over {} connection(s) and sent {} welcome e-mail(s).",
        requests.len(),
        sandbox.connections(),
        sandbox.welcome_emails().len()
    );
    println!(
        "On the wire: {framed} of {writes} writes carried Content-Length; {} answered 411, {} answered 429 (limit: 10 requests per second per method). Done.",
        sandbox.answered(411),
        sandbox.answered(429)
    );
    Ok(ExitCode::SUCCESS)
}
