//! What the host enforces, proven with a component that misbehaves on
//! purpose (`tests/rogue-guest`): egress only to the call's org origin, a
//! deadline that stops a runaway, a memory cap, and a token the component
//! never holds.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use gladly_harness::agents::*;
use gladly_harness::{Connection, CredentialMode, Harness, Limits};
use gladly_sandbox::{Sandbox, SandboxConfig};

use crate::common::build_rogue_guest;

/// The rogue guest, built once per test run.
fn rogue() -> Harness {
    static ROGUE: OnceLock<Harness> = OnceLock::new();
    ROGUE
        .get_or_init(|| Harness::from_file(build_rogue_guest()).expect("rogue loads"))
        .clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_host_refuses_requests_beyond_the_org_origin() {
    let org = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let elsewhere = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let rogue = rogue();

    // The rogue GETs whatever URL it is given as api-user.
    let escape = Connection::new(
        org.url(),
        format!("{}/api/v1/organization", elsewhere.url()),
        "t",
    );
    match rogue.check_connection(&escape).await.unwrap() {
        Err(Error::Transport(m)) => assert!(m.contains("HttpRequestDenied"), "got {m}"),
        other => panic!("expected transport(HttpRequestDenied), got {other:?}"),
    }
    assert!(
        elsewhere.requests().is_empty(),
        "the request escaped: {:?}",
        elsewhere.requests()
    );

    // The same request to the org's own origin goes through.
    let home = Connection::new(org.url(), format!("{}/api/v1/organization", org.url()), "t");
    let r = rogue.check_connection(&home).await.unwrap();
    assert!(r.is_ok(), "got {r:?}");
    assert_eq!(org.requests().len(), 1);
}

/// Everything the rogue could read during a call, as it reports it.
async fn what_the_guest_saw(rogue: &Harness, conn: &Connection) -> String {
    match rogue
        .lookup(conn, &AgentKey::Id("agt_001".into()))
        .await
        .unwrap()
    {
        Err(Error::Unsupported(seen)) => seen,
        other => panic!("expected the rogue's report, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_token_stays_with_the_host_and_only_reaches_the_org() {
    use base64::Engine as _;
    let org = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let conn = Connection::from(org.admin());
    let basic = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", conn.api_user, conn.api_token));

    // By default the guest gets a placeholder; the host completes it, so
    // the sandbox (which checks the token) answers 200.
    let seen = what_the_guest_saw(&rogue(), &conn).await;
    assert!(
        seen.contains("credential host-completed GLADLY_HOST_CREDENTIAL_"),
        "{seen}"
    );
    assert!(seen.contains("status 200"), "{seen}");
    assert!(
        seen.contains("agt_"),
        "the answer reached the guest: {seen}"
    );
    assert!(!seen.contains(&conn.api_token), "{seen}");
    assert!(!seen.contains(&basic), "{seen}");
    // The host scrubs what a host-completed call returns: a token the
    // guest had seen would show as a marker, not vanish.
    assert!(!seen.contains("<redacted>"), "{seen}");

    // A fresh placeholder per call.
    let again = what_the_guest_saw(&rogue(), &conn).await;
    let placeholder = |s: &str| {
        let at = s.find("GLADLY_HOST_CREDENTIAL_").unwrap();
        s[at..at + 55].to_string()
    };
    assert_ne!(placeholder(&seen), placeholder(&again));

    // The probe bites: handed the token, the guest sees it.
    let told = rogue().with_credential_mode(CredentialMode::InComponent);
    let seen = what_the_guest_saw(&told, &conn).await;
    assert!(seen.contains(&conn.api_token), "{seen}");

    // The placeholder is completed only past the origin gate: sent
    // elsewhere, the request is refused before it leaves.
    let elsewhere = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let escape = Connection::new(
        org.url(),
        format!("{}/api/v1/agents", elsewhere.url()),
        &conn.api_token,
    );
    let r = rogue().check_connection(&escape).await.unwrap();
    assert!(matches!(r, Err(Error::Transport(_))), "got {r:?}");
    assert!(elsewhere.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_runaway_component_is_stopped_at_its_deadline() {
    let org = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let rogue = rogue().with_limits(Limits {
        call_deadline: Duration::from_millis(300),
        ..Limits::default()
    });
    let conn = Connection::new(org.url(), format!("{}/api/v1/organization", org.url()), "t");
    let started = Instant::now();
    let err = rogue.list_teams(&conn).await.expect_err("a host failure");
    assert!(err.to_string().contains("deadline"), "got {err:#}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    // The host is still healthy.
    assert!(rogue.check_connection(&conn).await.unwrap().is_ok());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_component_that_hoards_memory_is_stopped_at_the_cap() {
    let org = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let rogue = rogue();
    let conn = Connection::new(org.url(), format!("{}/api/v1/organization", org.url()), "t");
    let err = rogue.list_inboxes(&conn).await.expect_err("a host failure");
    assert!(
        format!("{err:#}").contains("connector component failed"),
        "got {err:#}"
    );
    assert!(rogue.check_connection(&conn).await.unwrap().is_ok());
}

#[test]
fn the_compiled_code_cache_is_used_and_never_stale() {
    let dir = std::env::temp_dir().join(format!("gladly-cache-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let bytes = gladly_harness::EMBEDDED_COMPONENT;
    Harness::load(bytes, Some(&dir)).unwrap();
    let entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(entries.len(), 1, "got {entries:?}");
    let first = std::fs::metadata(&entries[0]).unwrap().modified().unwrap();
    // A second load reads the entry instead of writing it again.
    Harness::load(bytes, Some(&dir)).unwrap();
    assert_eq!(
        std::fs::metadata(&entries[0]).unwrap().modified().unwrap(),
        first
    );
    // A damaged entry is replaced, not trusted.
    std::fs::write(&entries[0], b"not compiled code").unwrap();
    Harness::load(bytes, Some(&dir)).unwrap();
    assert_ne!(std::fs::read(&entries[0]).unwrap(), b"not compiled code");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pooled_harness_serves_concurrent_calls() {
    let org = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let pooled = Harness::load_with(
        gladly_harness::EMBEDDED_COMPONENT,
        None,
        gladly_harness::Allocation::Pooled {
            max_concurrent_calls: 8,
            max_memory_bytes: 64 << 20,
        },
    )
    .unwrap();
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let (h, conn) = (pooled.clone(), Connection::from(org.admin()));
            tokio::spawn(async move { h.lookup(&conn, &AgentKey::Id("agt_001".into())).await })
        })
        .collect();
    for call in calls {
        let found = call.await.unwrap().unwrap().unwrap().expect("jane");
        assert_eq!(found.email_address, "jane@acme.example");
    }
}

#[test]
fn a_component_that_imports_the_filesystem_or_sockets_is_refused_at_load() {
    // Each imports one function of the interface. A linked interface with
    // another signature would say "type mismatch"; these have no
    // implementation at all.
    for (import, func) in [
        ("wasi:filesystem/preopens@0.2.6", "get-directories"),
        ("wasi:sockets/instance-network@0.2.6", "instance-network"),
    ] {
        let component = wat::parse_str(format!(
            r#"(component (import "{import}" (instance (export "{func}" (func)))))"#
        ))
        .unwrap();
        let err = Harness::from_bytes(&component).err().expect("refused");
        let shown = format!("{err:#}");
        assert!(
            shown.contains(import) && shown.contains("implementation is missing"),
            "expected no implementation of {import}, got {shown}"
        );
    }
}
