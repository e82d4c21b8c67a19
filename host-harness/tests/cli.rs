//! The `gladly-harness` command line, run as a user would, against a sandbox.

use std::process::{Command, Output};

use gladly_sandbox::{ADMIN_TOKEN, ADMIN_USER, Sandbox, SandboxConfig};
use serde_json::Value;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "expected JSON on stdout, got {:?} ({e}); stderr {:?}",
                self.stdout, self.stderr
            )
        })
    }
}

/// Runs the CLI off the async runtime (the sandbox lives on it).
async fn cli(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gladly-harness"));
    cmd.args(args)
        .env_remove("GLADLY_ORG_URL")
        .env_remove("GLADLY_API_USER")
        .env_remove("GLADLY_API_TOKEN");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out: Output = tokio::task::spawn_blocking(move || cmd.output().expect("runs"))
        .await
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

async fn sandbox() -> Sandbox {
    Sandbox::start(SandboxConfig::default()).await.unwrap()
}

fn creds(s: &Sandbox) -> Vec<(&'static str, String)> {
    vec![
        ("GLADLY_ORG_URL", s.url()),
        ("GLADLY_API_USER", ADMIN_USER.to_string()),
        ("GLADLY_API_TOKEN", ADMIN_TOKEN.to_string()),
    ]
}

async fn cli_env(s: &Sandbox, args: &[&str]) -> Run {
    let env = creds(s);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    cli(args, &env).await
}

#[tokio::test(flavor = "multi_thread")]
async fn provision_update_lookup_offboard_from_the_command_line() {
    let s = sandbox().await;
    let r = cli_env(
        &s,
        &[
            "provision",
            "--email",
            "new@acme.example",
            "--name",
            "New Agent",
            "--role",
            "agent",
            "--inbox",
            "ibx_support",
            "--team",
            "Tier 1 Support",
        ],
    )
    .await;
    assert_eq!(r.code, 0, "stderr: {}", r.stderr);
    let v = r.json();
    assert_eq!(v["outcome"], "created");
    let id = v["agent"]["id"].as_str().unwrap().to_string();
    assert_eq!(v["agent"]["teams"][0], "team_tier1");

    let r = cli_env(
        &s,
        &[
            "update",
            "--id",
            &id,
            "--role",
            "team-lead",
            "--add-inbox",
            "Billing",
        ],
    )
    .await;
    assert_eq!(r.code, 0, "stderr: {}", r.stderr);
    assert_eq!(r.json()["agent"]["role"], "team-lead");
    assert_eq!(
        r.json()["agent"]["inboxes"],
        serde_json::json!(["ibx_support", "ibx_billing"])
    );

    let r = cli_env(&s, &["lookup", "--email", "NEW@acme.example"]).await;
    assert_eq!(r.json()["id"], id.as_str());

    let r = cli_env(&s, &["offboard", "--id", &id]).await;
    assert_eq!(r.json()["outcome"], "deactivated");
    let r = cli_env(&s, &["lookup", "--id", &id, "--pretty"]).await;
    assert!(
        r.stdout.contains("\n  \"active\": false"),
        "got {}",
        r.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lookup_that_finds_nothing_prints_null_and_exits_0() {
    let s = sandbox().await;
    let r = cli_env(&s, &["lookup", "--external-id", "nobody"]).await;
    assert_eq!(
        (r.code, r.stdout.trim()),
        (0, "null"),
        "stderr: {}",
        r.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_domain_error_names_its_case_on_stderr_and_exits_3() {
    let s = sandbox().await;
    let r = cli_env(&s, &["update", "--id", "agt_404", "--role", "admin"]).await;
    assert_eq!(r.code, 3);
    assert!(r.stdout.is_empty());
    assert!(
        r.stderr
            .starts_with("error: not-found: no agent with id agt_404"),
        "got {}",
        r.stderr
    );

    let r = cli_env(&s, &["provision", "--email", "bad", "--name", "X"]).await;
    assert_eq!(r.code, 3);
    assert!(
        r.stderr
            .starts_with("error: invalid-input: agent.email-address:"),
        "got {}",
        r.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_host_failure_exits_1_and_usage_errors_exit_2() {
    let s = sandbox().await;
    let r = cli_env(
        &s,
        &["--component", "/nonexistent/connector.wasm", "list-teams"],
    )
    .await;
    assert_eq!(r.code, 1, "stderr: {}", r.stderr);
    assert!(
        r.stderr.contains("cannot read the component"),
        "got {}",
        r.stderr
    );
    let r = cli_env(&s, &["lookup"]).await;
    assert_eq!(r.code, 2);
    let r = cli_env(&s, &["lookup", "--id", "a", "--email", "b@c.de"]).await;
    assert_eq!(r.code, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn connection_flags_are_accepted_anywhere_on_the_line() {
    let s = sandbox().await;
    let url = s.url();
    let r = cli(
        &[
            "--org-url",
            &url,
            "list-inboxes",
            "--api-user",
            ADMIN_USER,
            "--api-token",
            ADMIN_TOKEN,
        ],
        &[],
    )
    .await;
    assert_eq!(r.code, 0, "stderr: {}", r.stderr);
    assert_eq!(r.json().as_array().unwrap().len(), 4);
    let r = cli(&["list-inboxes"], &[]).await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("GLADLY_ORG_URL"), "got {}", r.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_token_is_never_printed() {
    let s = sandbox().await;
    let url = s.url();
    let r = cli(
        &["check-connection"],
        &[
            ("GLADLY_ORG_URL", &url),
            ("GLADLY_API_USER", ADMIN_USER),
            ("GLADLY_API_TOKEN", "wr0ng-t0ken"),
        ],
    )
    .await;
    assert_eq!(r.code, 3);
    assert!(r.stderr.contains("unauthorized"), "got {}", r.stderr);
    assert!(!r.stderr.contains("wr0ng-t0ken") && !r.stdout.contains("wr0ng-t0ken"));
    // Nor in the help, from the token's variable or a URL it was pasted
    // into.
    let pasted = "https://api:wr0ng-t0ken@acme.gladly.com/?t=wr0ng-t0ken";
    let r = cli(
        &["--help"],
        &[
            ("GLADLY_API_TOKEN", "wr0ng-t0ken"),
            ("GLADLY_ORG_URL", pasted),
        ],
    )
    .await;
    assert!(
        !r.stdout.contains("wr0ng-t0ken"),
        "help shows the token: {}",
        r.stdout
    );
    // A token that begins with `-` is taken as the flag's value, not
    // quoted back as an unknown flag.
    let r = cli(
        &[
            "--org-url",
            &url,
            "--api-user",
            ADMIN_USER,
            "--api-token",
            "-wr0ng-t0ken",
            "check-connection",
        ],
        &[],
    )
    .await;
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        !r.stderr.contains("wr0ng") && !r.stdout.contains("wr0ng"),
        "{}",
        r.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_prints_the_requests_and_sends_none() {
    let s = sandbox().await;
    let r = cli_env(
        &s,
        &["offboard", "--email", "jane@acme.example", "--dry-run"],
    )
    .await;
    let v = r.json();
    assert_eq!(v["dry-run"], true);
    assert_eq!(v["requests"][0]["method"], "PATCH");
    assert_eq!(
        v["requests"][0]["body"],
        serde_json::json!({"active": false})
    );
    assert!(s.requests().iter().all(|r| r.method == "GET"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_walks_a_whole_lifecycle() {
    let r = cli(&["demo"], &[]).await;
    assert_eq!(r.code, 0, "stderr: {}", r.stderr);
    for step in [
        "outcome: created",
        "outcome: already-existed",
        "outcome: updated",
        "inboxes=[ibx_support, ibx_billing]",
        "outcome: deactivated",
        "active=false",
        "sent 3 welcome e-mail(s)",
        "writes carried Content-Length; 0 answered 411",
        "Plan: 1 to create, 1 to reactivate, 1 to update, 1 to deactivate",
        "step 2 create maría.garcía@acme.example: applied",
        "4 applied, 0 already applied, 0 stale, 0 failed",
        "Plan: 0 to create, 0 to reactivate, 0 to update, 0 to deactivate",
        // Through SCIM: one create, its retry refused, the deactivation.
        "POST /Users kim.ito@acme.example -> 201",
        "POST /Users again (a retry) -> 409 uniqueness",
        "active false (unassigned in the IdP) -> 200, active false",
        "active false, role AGENT; 1 welcome e-mail",
    ] {
        assert!(
            r.stdout.contains(step),
            "expected {step:?} in the demo's output:\n{}",
            r.stdout
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_component_carries_the_gladly_provisioning_package() {
    let r = cli(&["wit"], &[]).await;
    assert_eq!(r.code, 0, "stderr: {}", r.stderr);
    assert!(
        r.stdout.contains("package gladly:provisioning@0.2.0"),
        "got {}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("export gladly:provisioning/agents@0.2.0;"),
        "got {}",
        r.stdout
    );
    for f in [
        "provision",
        "update",
        "offboard",
        "lookup",
        "list-agents",
        "list-teams",
        "list-inboxes",
        "get-availability",
        "check-connection",
    ] {
        assert!(
            r.stdout.contains(&format!("{f}: func(")),
            "no {f} in {}",
            r.stdout
        );
    }
}

#[test]
fn the_built_interface_matches_wit_dir() {
    let wit_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit");
    gladly_harness::wit::check_matches(gladly_harness::EMBEDDED_COMPONENT, &wit_dir).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sandbox_takes_faults_and_reports_welcome_emails_over_http() {
    let s = sandbox().await;
    let url = s.url();
    let queued: Value = tokio::task::spawn_blocking(move || {
        ureq::post(&format!("{url}/_sandbox/faults"))
            .send(r#"[{"fault": "rate-limit", "retryAfter": "0"}, {"fault": "status", "status": 503, "method": "GET"}]"#)
            .unwrap()
            .body_mut()
            .read_json()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(queued["queued"], 2);
    let r = cli_env(
        &s,
        &[
            "provision",
            "--email",
            "faulty@acme.example",
            "--name",
            "Faulty",
        ],
    )
    .await;
    assert_eq!(r.json()["outcome"], "created", "stderr: {}", r.stderr);
    let url = s.url();
    let emails: Value = tokio::task::spawn_blocking(move || {
        ureq::get(&format!("{url}/_sandbox/welcome-emails"))
            .call()
            .unwrap()
            .body_mut()
            .read_json()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(emails[0]["to"], "faulty@acme.example");
    // The look-up before the create met the 429, then the 503, then went through.
    let seen: Vec<String> = s.requests().iter().map(|r| r.method.clone()).collect();
    assert_eq!(seen, ["GET", "GET", "GET", "POST"]);
}

/// `sandbox` lists on Ctrl-C the welcome e-mails it "sent", to addresses
/// local clients wrote (the sandbox takes any with an `@`): one holding an
/// escape sequence or a direction override is shown escaped, never acted
/// on.
#[cfg(unix)]
#[test]
fn the_sandbox_command_shows_welcome_addresses_escaped() {
    use base64::Engine as _;
    use std::io::BufRead as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_gladly-harness"))
        .args(["sandbox", "--port", "0", "--no-rate-limit"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("runs");
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut shown = String::new();
    let mut url = None;
    // The signal is caught once it says so.
    while !shown.contains("Press Ctrl-C to stop.") {
        let mut line = String::new();
        assert!(out.read_line(&mut line).unwrap() > 0, "ended: {shown}");
        if let Some(rest) = line
            .trim()
            .strip_prefix("Gladly sandbox (Lifecycle) listening on ")
        {
            url = Some(rest.to_string());
        }
        shown.push_str(&line);
    }
    let url = url.unwrap_or_else(|| panic!("no URL in {shown}"));
    let to = "x\u{1b}]0;pwned\u{7}\u{202e}@acme.example";
    let auth =
        base64::engine::general_purpose::STANDARD.encode(format!("{ADMIN_USER}:{ADMIN_TOKEN}"));
    let body = serde_json::json!({"emailAddress": to, "name": "X", "role": "AGENT"}).to_string();
    let status = ureq::post(&format!("{url}/api/v1/agents"))
        .header("Authorization", &format!("Basic {auth}"))
        .header("Content-Type", "application/json")
        .send(&body)
        .unwrap()
        .status();
    assert_eq!(status, 201);
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert!(child.wait().unwrap().success(), "{rest}");
    assert!(rest.contains("1 welcome e-mail(s) were sent"), "{rest:?}");
    assert!(
        !rest.contains('\u{1b}') && !rest.contains('\u{7}') && !rest.contains('\u{202e}'),
        "{rest:?}"
    );
    assert!(
        rest.contains("to x\\u{1b}]0;pwned\\u{7}\\u{202e}@acme.example (agent agt_"),
        "{rest:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_https_organisation_is_reached_with_its_ca_and_refused_without() {
    let s = Sandbox::start(SandboxConfig {
        tls: Some(gladly_sandbox::TlsCert::Valid),
        ..Default::default()
    })
    .await
    .unwrap();
    assert!(s.url().starts_with("https://"));
    let dir = std::env::temp_dir().join(format!("gladly-cli-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, s.ca_pem().unwrap()).unwrap();

    let trusted = cli_env(
        &s,
        &[
            "--ca-file",
            ca.to_str().unwrap(),
            "lookup",
            "--email",
            "jane@acme.example",
        ],
    )
    .await;
    assert_eq!(trusted.code, 0, "stderr: {}", trusted.stderr);
    assert_eq!(trusted.json()["id"], "agt_001");

    let untrusted = cli_env(&s, &["lookup", "--email", "jane@acme.example"]).await;
    assert_eq!(untrusted.code, 3, "stdout: {}", untrusted.stdout);
    assert!(
        untrusted.stderr.starts_with("error: transport:")
            && untrusted.stderr.contains("certificate"),
        "expected a named certificate error, got {}",
        untrusted.stderr
    );
    assert!(!untrusted.stderr.contains(ADMIN_TOKEN));

    let missing = cli_env(
        &s,
        &["--ca-file", "/nonexistent/ca.pem", "check-connection"],
    )
    .await;
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.contains("/nonexistent/ca.pem"),
        "got {}",
        missing.stderr
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn roster_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("gladly-cli-roster-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const ROSTER: &str = "\u{feff}email,name,role,inboxes,teams,external_id,active
jane@acme.example,Jane Doe,agent,General Support,Tier 1 Support,E-1001,true
sam.lee@acme.example,Sam Lee,team-lead,General Support;Billing,Tier 2 Support,E-1002,yes
josé@acme.example,José Müller,agent,Billing,,E-2001,
";

#[tokio::test(flavor = "multi_thread")]
async fn plan_apply_and_replan_from_a_csv_roster() {
    let s = sandbox().await;
    let dir = roster_dir("flow");
    let roster = dir.join("roster.csv");
    std::fs::write(&roster, ROSTER).unwrap();
    let plan = dir.join("plan.json");
    let r = cli_env(
        &s,
        &[
            "plan",
            "--desired",
            roster.to_str().unwrap(),
            "--out",
            plan.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(r.code, 0, "stderr: {}", r.stderr);
    assert!(
        r.stdout
            .contains("1 to create, 0 to reactivate, 1 to update, 0 to deactivate"),
        "got {}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("email-address: sam@acme.example -> sam.lee@acme.example")
    );
    let written = std::fs::read_to_string(&plan).unwrap();
    assert!(written.contains("\"format\": \"gladly-harness-plan/2\""));
    assert!(written.contains("\"scope\": \"managed\""));
    assert!(
        !written.contains(ADMIN_TOKEN),
        "a plan file never holds the token"
    );

    let report_file = dir.join("report.json");
    let r = cli_env(
        &s,
        &[
            "apply",
            plan.to_str().unwrap(),
            "--report",
            report_file.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(r.code, 0, "stderr: {}", r.stderr);
    let report = r.json();
    assert_eq!(report["summary"]["applied"], 2, "got {report}");
    assert_eq!(
        serde_json::from_str::<Value>(&std::fs::read_to_string(&report_file).unwrap()).unwrap(),
        report
    );
    // Not a terminal: plain progress lines.
    assert!(
        r.stderr
            .contains("step 2 create josé@acme.example: applied"),
        "got {}",
        r.stderr
    );

    // The same plan again: already applied, exit 0; a new plan: nothing.
    let r = cli_env(&s, &["apply", plan.to_str().unwrap()]).await;
    assert_eq!(r.code, 0, "stderr: {}", r.stderr);
    assert_eq!(r.json()["summary"]["already-applied"], 2);
    let r = cli_env(&s, &["plan", "--desired", roster.to_str().unwrap()]).await;
    assert!(
        r.stdout
            .contains("0 to create, 0 to reactivate, 0 to update, 0 to deactivate"),
        "got {}",
        r.stdout
    );
    assert_eq!(s.welcome_emails().len(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_roster_rows_are_named_by_file_line_and_column() {
    let s = sandbox().await;
    let dir = roster_dir("errors");
    let cases = [
        // The CLI's own reading: an unknown role.
        (
            "role.csv",
            "email,name,role\nj@acme.example,J,agent\nk@acme.example,K,boss\n",
            ":3:3: role: 'boss' is not a role",
        ),
        // The component's checks, located: a bad e-mail on line 4.
        (
            "email.csv",
            "name,email\nA,a@acme.example\nB,b@acme.example\nC,not-an-address\n",
            ":4:2: email-address:",
        ),
        // An inbox that does not exist, with the closest names.
        (
            "inbox.csv",
            "email,name,inboxes\na@acme.example,A,Biling\n",
            ":2:3: inboxes:",
        ),
        (
            "dup.csv",
            "email,name\na@acme.example,A\nA@acme.example,B\n",
            ":3:1: email-address: line 2 and line 3 have the same e-mail",
        ),
        (
            "column.csv",
            "email,name,emial\n",
            ":1:3: unknown column 'emial'",
        ),
        // A key written twice: serde keeps the last, a reader the first.
        (
            "twice.json",
            "[{\"email-address\": \"a@acme.example\", \"name\": \"A\", \"active\": true,\n  \"active\": false}]\n",
            ":2:13: 'active' appears twice",
        ),
        (
            "bad.json",
            "[\n  {\"email-address\": \"a@acme.example\", \"name\": \"A\"},\n  {\"email-address\": \"b@acme.example\",\n   \"name\": \"B\", \"role\": \"chief\"}\n]\n",
            ":4:25: role: 'chief' is not a role",
        ),
    ];
    for (name, text, want) in cases {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        let r = cli_env(&s, &["plan", "--desired", path.to_str().unwrap()]).await;
        assert_eq!(r.code, 2, "{name}: stdout {} stderr {}", r.stdout, r.stderr);
        let expected = format!("error: invalid-input: {}{want}", path.display());
        assert!(
            r.stderr.starts_with(&expected),
            "{name}: expected {expected:?}, got {:?}",
            r.stderr
        );
    }
    assert!(
        s.requests().iter().all(|r| r.method == "GET"),
        "nothing is written for a bad roster"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn reconcile_applies_only_with_yes_and_the_guard_refuses_with_exit_6() {
    let s = sandbox().await;
    let dir = roster_dir("reconcile");
    let roster = dir.join("roster.csv");
    std::fs::write(&roster, ROSTER).unwrap();
    let r = cli_env(&s, &["reconcile", "--desired", roster.to_str().unwrap()]).await;
    assert_eq!(r.code, 0, "stderr: {}", r.stderr);
    assert!(
        r.stderr.contains("Nothing applied: run again with --yes"),
        "got {}",
        r.stderr
    );
    assert!(s.requests().iter().all(|r| r.method == "GET"));

    let r = cli_env(
        &s,
        &["reconcile", "--desired", roster.to_str().unwrap(), "--yes"],
    )
    .await;
    assert_eq!(r.code, 0, "stderr: {}", r.stderr);
    assert_eq!(r.json()["summary"]["applied"], 2);

    // An empty roster would offboard everyone in scope.
    let empty = dir.join("empty.csv");
    std::fs::write(&empty, "email,name\n").unwrap();
    let r = cli_env(
        &s,
        &["reconcile", "--desired", empty.to_str().unwrap(), "--yes"],
    )
    .await;
    assert_eq!(r.code, 6, "stderr: {}", r.stderr);
    assert!(
        r.stderr.contains("--allow-deactivations 3"),
        "got {}",
        r.stderr
    );
    let r = cli_env(
        &s,
        &[
            "reconcile",
            "--desired",
            empty.to_str().unwrap(),
            "--yes",
            "--dry-run",
            "--allow-deactivations",
            "3",
        ],
    )
    .await;
    assert_eq!(r.code, 0, "stderr: {}", r.stderr);
    assert_eq!(r.json()["summary"]["dry-run"], 3);
    assert!(
        s.org().agents.iter().filter(|a| a.active).count() >= 3,
        "a dry run deactivates nobody"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_stopped_by_a_token_without_rights_exits_5() {
    let s = sandbox().await;
    let dir = roster_dir("stopped");
    let roster = dir.join("roster.csv");
    std::fs::write(&roster, ROSTER).unwrap();
    let env = [
        ("GLADLY_ORG_URL", s.url()),
        ("GLADLY_API_USER", gladly_sandbox::MEMBER_USER.to_string()),
        ("GLADLY_API_TOKEN", gladly_sandbox::MEMBER_TOKEN.to_string()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = cli(
        &["reconcile", "--desired", roster.to_str().unwrap(), "--yes"],
        &env,
    )
    .await;
    assert_eq!(r.code, 5, "stderr: {}", r.stderr);
    let report = r.json();
    assert_eq!(report["stopped"]["case"], "forbidden");
    assert_eq!(report["summary"]["not-attempted"], 1);
    assert!(
        r.stderr.contains("Stopped early: forbidden"),
        "got {}",
        r.stderr
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_import_file_that_would_offboard_everyone_is_not_written_without_leave() {
    // Importing the file makes its deactivations: an empty export trips
    // the guard, and the file is refused (exit 6) unless allowed.
    let s = sandbox().await;
    let dir = roster_dir("import-guard");
    let empty = dir.join("empty.csv");
    std::fs::write(&empty, "email,name\n").unwrap();
    let args = [
        "plan",
        "--desired",
        empty.to_str().unwrap(),
        "--format",
        "gladly-csv",
    ];
    let r = cli_env(&s, &args).await;
    assert_eq!(r.code, 6, "stderr: {}", r.stderr);
    assert!(r.stdout.is_empty(), "nothing written: {}", r.stdout);
    assert!(r.stderr.contains("--allow-deactivations"), "{}", r.stderr);
    let allowed: Vec<&str> = args
        .iter()
        .copied()
        .chain(["--allow-deactivations", "100"])
        .collect();
    let r = cli_env(&s, &allowed).await;
    assert_eq!(r.code, 0, "stderr: {}", r.stderr);
    assert!(r.stdout.contains("Yes"), "{}", r.stdout);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plan_file_saved_with_a_byte_order_mark_is_read_and_one_with_a_key_twice_is_not() {
    // An editor may save one after review: the plan is read (and refused
    // here for its guard, exit 6), not taken for something else (exit 2).
    let s = sandbox().await;
    let (dir, plan) = plan_of_an_empty_roster(&s, "bom").await;
    let text = std::fs::read_to_string(&plan).unwrap();
    std::fs::write(&plan, format!("\u{feff}{text}")).unwrap();
    let r = cli_env(&s, &["apply", plan.to_str().unwrap()]).await;
    assert_eq!(r.code, 6, "stderr: {}", r.stderr);
    // A key written twice is refused where it stands: serde would keep
    // the last, a reviewer may read the first.
    let twice = text.replacen("\"kind\": ", "\"kind\": \"update\", \"kind\": ", 1);
    std::fs::write(&plan, twice).unwrap();
    let r = cli_env(&s, &["apply", plan.to_str().unwrap()]).await;
    assert_eq!(r.code, 2, "stderr: {}", r.stderr);
    assert!(r.stderr.contains("'kind' appears twice"), "{}", r.stderr);
    // The key is the plan file's text: one holding an escape sequence is
    // shown escaped (found in review: helper-48).
    let key = r#""x\u001b]0;pwned\u0007": 1"#;
    let twice = text.replacen('{', &format!("{{{key}, {key},"), 1);
    std::fs::write(&plan, twice).unwrap();
    let r = cli_env(&s, &["apply", plan.to_str().unwrap()]).await;
    assert_eq!(r.code, 2, "stderr: {}", r.stderr);
    assert!(
        !r.stderr.contains('\u{1b}') && r.stderr.contains("\\u{1b}"),
        "{:?}",
        r.stderr
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `plan --out` of an empty roster into a fresh directory (every agent
/// leaves, and the guard trips): the directory and the plan file.
async fn plan_of_an_empty_roster(
    s: &Sandbox,
    name: &str,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = roster_dir(name);
    let empty = dir.join("empty.csv");
    std::fs::write(&empty, "email,name\n").unwrap();
    let plan = dir.join("plan.json");
    let r = cli_env(
        s,
        &[
            "plan",
            "--desired",
            empty.to_str().unwrap(),
            "--out",
            plan.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(r.code, 0, "stderr: {}", r.stderr);
    assert!(r.stdout.contains("TRIPPED"), "got {}", r.stdout);
    (dir, plan)
}

/// Item 1 of issue 15: `apply` counts the deactivations a plan file holds
/// instead of believing what it says of them: a file edited to say its
/// guard did not trip is refused as edited, exit 6, nothing written.
#[tokio::test(flavor = "multi_thread")]
async fn an_edited_plan_file_is_refused_with_exit_6_naming_the_numbers() {
    let s = sandbox().await;
    let (dir, plan) = plan_of_an_empty_roster(&s, "edited").await;
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&plan).unwrap()).unwrap();
    v["plan"]["guard-tripped"] = Value::Bool(false);
    std::fs::write(&plan, serde_json::to_string_pretty(&v).unwrap()).unwrap();

    let r = cli_env(&s, &["apply", plan.to_str().unwrap()]).await;
    assert_eq!(
        r.code, 6,
        "expected exit 6, got {}: stdout {} stderr {}",
        r.code, r.stdout, r.stderr
    );
    assert!(
        r.stderr.contains("error: refused: the plan was edited")
            && r.stderr.contains(
                "\"guard-tripped\" is false, but 2 deactivation(s) of 2 active agent(s) in scope, threshold 5, trip it"
            ),
        "got {}",
        r.stderr
    );
    assert!(r.stdout.is_empty(), "no report for a refused plan");
    assert!(
        s.requests().iter().all(|r| r.method == "GET"),
        "nothing is written"
    );
    assert_eq!(s.org().agents.iter().filter(|a| a.active).count(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rate_share_is_taken_beside_apply_s_own_rate_and_a_zero_is_refused() {
    let s = sandbox().await;
    let r = cli_env(
        &s,
        &[
            "--rate-share",
            "5",
            "lookup",
            "--email",
            "jane@acme.example",
        ],
    )
    .await;
    assert_eq!(r.code, 0, "stderr: {}", r.stderr);
    assert_eq!(r.json()["email-address"], "jane@acme.example");
    let sent = s.requests().len();
    let r = cli_env(&s, &["--rate-share", "0", "list-teams"]).await;
    assert_eq!(r.code, 2, "stderr: {}", r.stderr);
    assert!(r.stderr.contains("--rate-share"), "{}", r.stderr);
    assert_eq!(s.requests().len(), sent, "nothing sent for bad input");
}

/// A `--rate` out of range is refused before anything is sent (`reconcile`
/// once read the organisation before it looked), and a huge one no longer
/// panics.
#[tokio::test(flavor = "multi_thread")]
async fn a_rate_out_of_range_is_refused_before_anything_is_sent() {
    let s = sandbox().await;
    let dir = roster_dir("rate");
    let roster = dir.join("roster.csv");
    std::fs::write(&roster, ROSTER).unwrap();
    for rate in ["0", "-1", "1e10", "NaN", "inf", "fast"] {
        let rate = format!("--rate={rate}");
        let desired = roster.to_str().unwrap();
        for args in [
            vec!["reconcile", "--desired", desired, "--yes", rate.as_str()],
            vec!["apply", "no-such-plan.json", rate.as_str()],
        ] {
            let r = cli_env(&s, &args).await;
            assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
            assert!(r.stderr.contains("--rate"), "{args:?}: {}", r.stderr);
        }
    }
    assert!(s.requests().is_empty(), "nothing sent");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A plan file that is wrong names the file, line and column of the value,
/// and one that cannot be read is bad input (exit 2), not the host's
/// failure.
#[tokio::test(flavor = "multi_thread")]
async fn a_bad_plan_file_is_named_by_file_line_and_column() {
    let s = sandbox().await;
    let (dir, plan) = plan_of_an_empty_roster(&s, "badplan").await;
    let out = plan.to_str().unwrap();
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&plan).unwrap()).unwrap();
    v["plan"]["changes"][1]["kind"] = Value::String("oops".into());
    let text = serde_json::to_string_pretty(&v).unwrap();
    std::fs::write(&plan, &text).unwrap();
    // Where the edited value stands, counted here.
    let at = text.find("\"oops\"").unwrap();
    let line = text[..at].matches('\n').count() + 1;
    let column = at - text[..at].rfind('\n').map_or(0, |i| i + 1) + 1;
    let r = cli_env(&s, &["apply", out]).await;
    assert_eq!(r.code, 2, "stderr: {}", r.stderr);
    let want = format!("{out}:{line}:{column}: plan.changes[1].kind: must be");
    assert!(r.stderr.contains(&want), "expected {want} in {}", r.stderr);
    // A change that `apply-change` would refuse (a body that writes what is
    // no agent field, a role Gladly spells otherwise) is the file's error
    // too, named where it stands, and no change is applied: not the one
    // before it either.
    let planned = std::fs::read_to_string(&plan).unwrap();
    for (key, value, says) in [
        ("superuser", Value::Bool(true), "requests"),
        (
            "role",
            Value::String("boss".into()),
            "requests[0].body.role",
        ),
    ] {
        let mut v: Value = serde_json::from_str(&planned).unwrap();
        v["plan"]["changes"][1]["kind"] = Value::String("deactivate".into());
        v["plan"]["changes"][1]["requests"][0]["body"][key] = value;
        let text = serde_json::to_string_pretty(&v).unwrap();
        std::fs::write(&plan, &text).unwrap();
        let r = cli_env(&s, &["apply", out, "--allow-deactivations", "100"]).await;
        assert_eq!(r.code, 2, "stderr: {}", r.stderr);
        let want = format!("plan.changes[1].{says}: ");
        assert!(r.stderr.contains(&want), "expected {want} in {}", r.stderr);
        assert!(r.stderr.contains(&format!("{out}:")), "{}", r.stderr);
    }
    for missing in [dir.join("none.json"), dir.clone()] {
        let r = cli_env(&s, &["apply", missing.to_str().unwrap()]).await;
        assert_eq!(r.code, 2, "stderr: {}", r.stderr);
        assert!(r.stderr.contains("cannot be read"), "{}", r.stderr);
    }
    // A plan file's own text quoted back (a method edited to hold an
    // escape sequence that would retitle the terminal) is shown escaped.
    let mut v: Value = serde_json::from_str(&planned).unwrap();
    v["plan"]["changes"][1]["kind"] = Value::String("deactivate".into());
    v["plan"]["changes"][1]["requests"][0]["method"] =
        Value::String("PATCH\u{1b}]0;pwned\u{7}".into());
    std::fs::write(&plan, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    let r = cli_env(&s, &["apply", out, "--allow-deactivations", "100"]).await;
    assert_eq!(r.code, 2, "stderr: {}", r.stderr);
    assert!(
        !r.stderr.contains('\u{1b}') && r.stderr.contains("\\u{1b}"),
        "{:?}",
        r.stderr
    );
    // A byte that is not UTF-8 (a Latin-1 é an editor saved) is named by
    // line and column too.
    let mut bytes = b"{\n  \"plan\": \"caf".to_vec();
    bytes.extend_from_slice(&[0xE9, b'"', b'}']);
    std::fs::write(&plan, &bytes).unwrap();
    let r = cli_env(&s, &["apply", out]).await;
    assert_eq!(r.code, 2, "stderr: {}", r.stderr);
    let want = format!("{out}:2:15: is not UTF-8");
    assert!(r.stderr.contains(&want), "expected {want} in {}", r.stderr);
    assert!(
        s.requests().iter().all(|r| r.method == "GET"),
        "nothing written"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// What a terminal would act on: an escape sequence (ESC, BEL) or a
/// direction override, raw.
fn acts_on_the_terminal(text: &str) -> bool {
    text.contains(['\u{1b}', '\u{7}', '\u{202e}'])
}

/// A roster's own text quoted back (a role, an address) and a server's
/// (an inbox name offered as the closest known) are shown escaped in the
/// file's errors, on their line.
#[tokio::test(flavor = "multi_thread")]
async fn roster_file_errors_show_the_file_s_and_the_server_s_text_escaped() {
    let s = sandbox().await;
    s.org().inboxes[1].name = "Billing\u{1b}]0;pwned\u{7}\u{202e}".into();
    let dir = roster_dir("escaped");
    let cases = [
        // The CLI's own reading of the file.
        (
            "role.csv",
            "email,name,role\nj@acme.example,J,bo\u{1b}[2Jss\u{202e}\n",
            ":2:3: role: 'bo\\u{1b}[2Jss\\u{202e}' is not a role",
        ),
        // The component's check, located in the file.
        (
            "email.csv",
            "email,name\nj\u{1b}]0;x\u{7}@acme.example,J\n",
            ":2:1: email-address: 'j\\u{1b}]0;x\\u{7}@acme.example' is not",
        ),
        // The server's names, offered as the closest to a misspelt one.
        (
            "inbox.csv",
            "email,name,inboxes\na@acme.example,A,Biling\n",
            "'Billing\\u{1b}]0;pwned\\u{7}\\u{202e}' (ibx_billing)",
        ),
    ];
    for (name, text, want) in cases {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        let r = cli_env(&s, &["plan", "--desired", path.to_str().unwrap()]).await;
        assert_eq!(r.code, 2, "{name}: stdout {} stderr {}", r.stdout, r.stderr);
        assert!(
            !acts_on_the_terminal(&r.stderr) && r.stderr.contains(want),
            "{name}: expected {want:?} escaped, got {:?}",
            r.stderr
        );
        assert_eq!(r.stderr.lines().count(), 1, "{name}: {:?}", r.stderr);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A step by hand of the import file quotes a team's name as Gladly shows
/// it: one holding an escape sequence is shown escaped, on its line.
#[tokio::test(flavor = "multi_thread")]
async fn import_file_steps_by_hand_show_a_server_s_name_escaped() {
    let s = sandbox().await;
    // A comma makes the name one the import cannot write: a step by hand.
    s.org().teams[0].name = "Tier 1,\u{1b}]0;pwned\u{7}\u{202e}\nx".into();
    let dir = roster_dir("by-hand");
    let roster = dir.join("roster.csv");
    std::fs::write(
        &roster,
        "email,name,teams,external_id\njane@acme.example,Jane Doe,team_tier1;team_tier2,E-1001\n",
    )
    .unwrap();
    let r = cli_env(
        &s,
        &[
            "plan",
            "--desired",
            roster.to_str().unwrap(),
            "--format",
            "gladly-csv",
        ],
    )
    .await;
    assert_eq!(r.code, 0, "stderr: {}", r.stderr);
    let want = "  - step 1 (jane@acme.example): the team 'Tier 1,\\u{1b}]0;pwned\\u{7}\\u{202e}\\u{a}x' holds a comma";
    assert!(
        !acts_on_the_terminal(&r.stderr) && r.stderr.lines().any(|l| l.starts_with(want)),
        "expected {want:?}, got {:?}",
        r.stderr
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The closing line of a run stopped early quotes Gladly's refusal: an
/// escape sequence in it is shown escaped (the progress line too).
#[tokio::test(flavor = "multi_thread")]
async fn a_run_stopped_by_gladly_closes_with_its_words_escaped() {
    let s = sandbox().await;
    let dir = roster_dir("stopped-escaped");
    let roster = dir.join("roster.csv");
    std::fs::write(&roster, ROSTER).unwrap();
    let refusal = || gladly_sandbox::Fault::Json {
        status: 403,
        body: r#"{"errors": [{"code": "forbidden", "detail": "no\u001b]0;pwned\u0007\u202e"}]}"#
            .into(),
    };
    s.push_faults([refusal().on("POST"), refusal().on("PATCH")]);
    let r = cli_env(
        &s,
        &["reconcile", "--desired", roster.to_str().unwrap(), "--yes"],
    )
    .await;
    assert_eq!(r.code, 5, "stderr: {}", r.stderr);
    let closing = r
        .stderr
        .lines()
        .find(|l| l.contains("Stopped early: forbidden"))
        .unwrap_or_else(|| panic!("no closing line in {:?}", r.stderr));
    assert!(
        closing.contains("no\\u{1b}]0;pwned\\u{7}\\u{202e}"),
        "{closing:?}"
    );
    assert!(!acts_on_the_terminal(&r.stderr), "{:?}", r.stderr);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The import file names memberships from Gladly's inbox and team lists: a
/// list Gladly refuses (a 500, a 403) fails the command with that list's
/// error (exit 3) and no file is written; it is never taken for an empty
/// list, which made every membership a step by hand.
#[tokio::test(flavor = "multi_thread")]
async fn an_import_file_is_not_written_when_gladly_refuses_a_listing() {
    use gladly_sandbox::Fault;
    let s = sandbox().await;
    let dir = roster_dir("import-listing");
    let roster = dir.join("roster.csv");
    // No membership named: planning reads the agents alone.
    std::fs::write(
        &roster,
        "email,name,external_id\njane@acme.example,Jane A. Doe,E-1001\nsam@acme.example,Sam Lee,E-1002\n",
    )
    .unwrap();
    let args = [
        "plan",
        "--desired",
        roster.to_str().unwrap(),
        "--format",
        "gladly-csv",
    ];
    let r = cli_env(&s, &args).await;
    assert_eq!(r.code, 0, "stderr: {}", r.stderr);
    assert!(r.stdout.contains("Jane A. Doe"), "{}", r.stdout);
    for (status, path, case, list) in [
        (500, "/api/v1/inboxes", "error: upstream:", "inbox"),
        (403, "/api/v1/teams", "error: forbidden:", "team"),
    ] {
        s.push_faults([Fault::Json {
            status,
            body: r#"{"errors": [{"code": "refused", "detail": "not now"}]}"#.into(),
        }
        .on_path("GET", path)]);
        let r = cli_env(&s, &args).await;
        assert_eq!(r.code, 3, "{path}: stdout {} stderr {}", r.stdout, r.stderr);
        assert!(r.stdout.is_empty(), "{path}: nothing written: {}", r.stdout);
        assert!(
            r.stderr.starts_with(case) && r.stderr.contains(list) && !r.stderr.contains("by hand"),
            "{path}: expected {case} naming the {list} list, got {:?}",
            r.stderr
        );
        assert!(s.org().faults.is_empty(), "{path}: the fault was met");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A plan file's name is quoted in its errors: one holding an escape
/// sequence (a file someone else named, taken by a glob) is shown escaped.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn a_plan_file_s_name_is_shown_escaped_in_its_errors() {
    let s = sandbox().await;
    let dir = roster_dir("named");
    let plan = dir.join("plan\u{1b}]0;pwned\u{7}.json");
    for text in [None, Some("{\"plan\": 1}")] {
        if let Some(t) = text {
            std::fs::write(&plan, t).unwrap();
        }
        let r = cli_env(&s, &["apply", plan.to_str().unwrap()]).await;
        assert_eq!(r.code, 2, "stderr: {:?}", r.stderr);
        assert!(
            !acts_on_the_terminal(&r.stderr) && r.stderr.contains("plan\\u{1b}]0;pwned\\u{7}.json"),
            "{text:?}: {:?}",
            r.stderr
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A host failure's words (here a CA file's name, as given) are shown
/// escaped too.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn a_host_failure_is_shown_escaped() {
    let s = sandbox().await;
    let r = cli_env(
        &s,
        &[
            "--ca-file",
            "/nonexistent/ca\u{1b}]0;pwned\u{7}.pem",
            "check-connection",
        ],
    )
    .await;
    assert_eq!(r.code, 1, "stderr: {:?}", r.stderr);
    assert!(
        !acts_on_the_terminal(&r.stderr) && r.stderr.contains("ca\\u{1b}]0;pwned\\u{7}.pem"),
        "{:?}",
        r.stderr
    );
}
