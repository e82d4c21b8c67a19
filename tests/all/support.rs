//! The shared harness: one compiled component per test binary, a sandbox per
//! test (port 0, stopped on drop), and helpers that keep a host failure
//! apart from a domain answer.

use std::sync::OnceLock;

use gladly_harness::agents::*;
use gladly_harness::{Connection, Harness, error_case};
use gladly_sandbox::{Profile, RecordedRequest, Sandbox, SandboxConfig};

pub fn harness() -> Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS
        .get_or_init(|| Harness::embedded().expect("the embedded component loads"))
        .clone()
}

pub struct Env {
    pub sandbox: Sandbox,
    pub harness: Harness,
    pub admin: Connection,
}

pub async fn env() -> Env {
    env_with(SandboxConfig::default()).await
}

pub async fn env_with(config: SandboxConfig) -> Env {
    let sandbox = Sandbox::start(config).await.expect("sandbox starts");
    let admin = Connection::from(sandbox.admin());
    Env {
        sandbox,
        harness: harness(),
        admin,
    }
}

pub async fn public_env() -> Env {
    env_with(SandboxConfig {
        profile: Profile::PublicSpec,
        ..Default::default()
    })
    .await
}

impl Env {
    /// Every request the sandbox received, as "METHOD /path?query".
    pub fn seen(&self) -> Vec<String> {
        self.sandbox
            .requests()
            .into_iter()
            .map(|r| format!("{} {}", r.method, r.path_and_query))
            .collect()
    }

    /// Requests the sandbox received that were writes (POST/PATCH/...).
    pub fn writes(&self) -> Vec<RecordedRequest> {
        self.sandbox
            .requests()
            .into_iter()
            .filter(|r| r.method != "GET")
            .collect()
    }
}

pub fn opts() -> WriteOptions {
    WriteOptions {
        dry_run: false,
        no_reactivate: false,
        retry: None,
    }
}

/// Write options with this retry budget.
pub fn with_retry(max_attempts: u32, max_total_wait_ms: u64) -> WriteOptions {
    WriteOptions {
        retry: Some(RetryPolicy {
            max_attempts,
            max_total_wait_ms,
        }),
        ..opts()
    }
}

pub fn new_agent(email: &str, name: &str) -> NewAgent {
    NewAgent {
        email_address: email.into(),
        name: name.into(),
        role: Role::Agent,
        inboxes: vec![],
        teams: vec![],
        external_id: None,
        phone_number: None,
        language: None,
        agent_profile: None,
    }
}

pub fn no_changes() -> AgentChanges {
    AgentChanges {
        email_address: None,
        name: None,
        role: None,
        inboxes: None,
        teams: None,
        external_id: None,
        phone_number: None,
        language: None,
        agent_profile: None,
    }
}

/// The domain error of `r`, failing with "expected …, got …" otherwise.
#[track_caller]
pub fn expect_err<T: std::fmt::Debug>(r: Result<T, Error>, case: &str) -> Error {
    match r {
        Err(e) if error_case(&e) == case => e,
        other => panic!("expected error {case}, got {other:?}"),
    }
}

#[track_caller]
pub fn invalid_field<T: std::fmt::Debug>(r: Result<T, Error>) -> String {
    match expect_err(r, "invalid-input") {
        Error::InvalidInput(i) => i.field,
        _ => unreachable!(),
    }
}

/// Resident memory of this process, from /proc (Linux).
pub fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
