//! The two public SCIM conformance suites, run against the gateway in front
//! of the sandbox, through `gladly-harness`'s host and through
//! `wasmtime serve`: scim2-tester (PyPI `scim2-cli`, `scim2 --url URL
//! test`) and scim-sanity (`scim-sanity probe URL --token T
//! --i-accept-side-effects`). `.ci/run` installs both into its virtual
//! environment and names them in `$SCIM2` and `$SCIM_SANITY`.
//!
//! Every check that does not pass must be one the README explains (Gladly
//! cannot satisfy it); anything else fails the test. The counts are printed
//! (`--nocapture`) and reported in the README.

use std::path::PathBuf;
use std::process::Command;

use gladly_sandbox::{Sandbox, SandboxConfig};
use serde_json::Value;

use crate::scim::{SCIM_TOKEN, scim, wasmtime_serve};

/// Why a check cannot pass, as its reason says it.
const EXPLAINED: [(&str, &str); 3] = [
    (
        "is not an e-mail address",
        "scim2-tester's users have a random UUID as userName and no e-mail; Gladly's agents are keyed by e-mail",
    ),
    (
        "cannot create teams",
        "scim2-tester creates groups; Gladly's API cannot create teams",
    ),
    (
        "POST /Groups ",
        "scim-sanity creates a group; Gladly's API cannot create teams",
    ),
];

fn tool(var: &str, name: &str) -> Option<PathBuf> {
    let bin = std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| name.into());
    let found = Command::new(&bin)
        .arg("--help")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs {name} (${var}); .ci/run installs it"
        );
        eprintln!("skipped: no {name} (${var} or on PATH)");
    }
    found.then_some(bin)
}

/// scim2-tester's results: (status, check, reason).
async fn scim2(bin: &PathBuf, base: &str) -> Vec<(String, String, String)> {
    let mut cmd = Command::new(bin);
    cmd.args(["--url", base, "test"]).env(
        "SCIM_CLI_HEADERS",
        format!("Authorization: Bearer {SCIM_TOKEN}"),
    );
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .expect("scim2 runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    let statuses = [
        "SUCCESS",
        "COMPLIANT",
        "ACCEPTABLE",
        "DEVIATION",
        "ERROR",
        "CRITICAL",
        "SKIPPED",
    ];
    let mut results = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if let Some((status, check)) = line.split_once(' ')
            && statuses.contains(&status)
        {
            let reason = lines
                .get(i + 1)
                .filter(|l| l.starts_with(' '))
                .map_or("", |l| l.trim());
            results.push((
                status.to_string(),
                check.trim().to_string(),
                reason.to_string(),
            ));
        }
    }
    assert!(
        !results.is_empty(),
        "scim2 printed no results:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    results
}

/// scim-sanity's results: (status, check, message).
async fn scim_sanity(bin: &PathBuf, base: &str) -> Vec<(String, String, String)> {
    let mut cmd = Command::new(bin);
    cmd.args([
        "probe",
        base,
        "--token",
        SCIM_TOKEN,
        "--i-accept-side-effects",
        "--json-output",
    ]);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .expect("scim-sanity runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let json: Value = serde_json::from_str(text.trim())
        .unwrap_or_else(|e| panic!("scim-sanity's JSON ({e}):\n{text}"));
    json["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
            (s("status").to_ascii_uppercase(), s("name"), s("message"))
        })
        .collect()
}

/// Asserts every failure is explained; the counts, printed.
fn judge(
    suite: &str,
    host: &str,
    results: &[(String, String, String)],
    passing: &[&str],
    failing: &[&str],
) {
    let passed = results
        .iter()
        .filter(|(s, ..)| passing.contains(&s.as_str()))
        .count();
    let failed: Vec<_> = results
        .iter()
        .filter(|(s, ..)| failing.contains(&s.as_str()))
        .collect();
    for (status, check, reason) in &failed {
        let said = format!("{check} {reason}");
        let explained = EXPLAINED.iter().any(|(says, _)| said.contains(says));
        assert!(
            explained,
            "{suite} through {host}: {status} {check} is not one the README explains: {reason}"
        );
    }
    let other = results.len() - passed - failed.len();
    eprintln!(
        "{suite} through {host}: {passed} passed, {} failed (explained), {other} other, {} checks",
        failed.len(),
        results.len()
    );
    assert!(passed > 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_conformance_suites_pass_but_for_what_gladly_cannot_do() {
    let (Some(scim2_bin), Some(sanity_bin)) =
        (tool("SCIM2", "scim2"), tool("SCIM_SANITY", "scim-sanity"))
    else {
        return;
    };
    let harness = scim().await;
    let sandbox = Sandbox::start(SandboxConfig::default())
        .await
        .expect("sandbox starts");
    let served = wasmtime_serve(&sandbox).await;
    let mut hosts = vec![("gladly-harness scim", harness.base.clone())];
    if let Some((base, _)) = &served {
        hosts.push(("wasmtime serve", base.clone()));
    }
    for (host, base) in &hosts {
        let r = scim2(&scim2_bin, base).await;
        judge(
            "scim2-tester",
            host,
            &r,
            &["SUCCESS", "COMPLIANT"],
            &["ERROR", "CRITICAL", "DEVIATION"],
        );
        let r = scim_sanity(&sanity_bin, base).await;
        judge(
            "scim-sanity",
            host,
            &r,
            &["PASS"],
            &["FAIL", "ERR", "ERROR"],
        );
    }
}
