//! Failures from Gladly map to typed errors, and no credential leaks.

use gladly_harness::agents::*;
use gladly_harness::{Connection, CredentialMode, error_message};
use gladly_sandbox::{ADMIN_TOKEN, Fault};

use crate::support::*;

#[tokio::test(flavor = "multi_thread")]
async fn unknown_id_gives_not_found() {
    let e = env().await;
    let key = AgentKey::Id("agt_404".into());
    let mut changes = no_changes();
    changes.role = Some(Role::Admin);
    let r = e
        .harness
        .update(&e.admin, &key, &changes, &opts())
        .await
        .unwrap();
    expect_err(r, "not-found");
    let r = e.harness.offboard(&e.admin, &key, &opts()).await.unwrap();
    expect_err(r, "not-found");
    let r = e
        .harness
        .get_availability(&e.admin, "agt_404")
        .await
        .unwrap();
    expect_err(r, "not-found");
    let r = e
        .harness
        .offboard(
            &e.admin,
            &AgentKey::Email("ghost@acme.example".into()),
            &opts(),
        )
        .await
        .unwrap();
    expect_err(r, "not-found");
    assert!(e.writes().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_non_admin_token_gives_forbidden_on_writes_and_reads_work() {
    let e = env().await;
    let member = Connection::from(e.sandbox.member());
    let r = e
        .harness
        .provision(&member, &new_agent("x@acme.example", "X"), &opts())
        .await
        .unwrap();
    let err = expect_err(r, "forbidden");
    assert!(error_message(&err).contains("Administrator"), "got {err:?}");
    let r = e
        .harness
        .offboard(&member, &AgentKey::Id("agt_001".into()), &opts())
        .await
        .unwrap();
    expect_err(r, "forbidden");
    assert!(e.sandbox.org().agent("agt_001").unwrap().active);
    let found = e
        .harness
        .lookup(&member, &AgentKey::Id("agt_001".into()))
        .await
        .unwrap();
    assert!(matches!(found, Ok(Some(_))), "got {found:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_credentials_give_unauthorized_without_the_token() {
    let e = env().await;
    let wrong = Connection::new(e.sandbox.url(), "admin@acme.example", "not-the-token-xyz");
    for r in [
        e.harness
            .check_connection(&wrong)
            .await
            .unwrap()
            .map(|_| ()),
        e.harness
            .lookup(&wrong, &AgentKey::Email("jane@acme.example".into()))
            .await
            .unwrap()
            .map(|_| ()),
        e.harness
            .provision(&wrong, &new_agent("y@acme.example", "Y"), &opts())
            .await
            .unwrap()
            .map(|_| ()),
    ] {
        let err = expect_err(r, "unauthorized");
        let shown = format!("{err:?} {}", error_message(&err));
        assert!(
            !shown.contains("not-the-token-xyz"),
            "token leaked: {shown}"
        );
        // Named as the 0.2.0 contract names it.
        assert!(
            shown.contains("connection.credential") && !shown.contains("api-token"),
            "expected the message to name connection.credential, got {shown}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_token_is_named_the_same_whoever_holds_it() {
    let e = env().await;
    for token in ["", "tok en"] {
        let conn = Connection::new(e.sandbox.url(), "u", token);
        for mode in [CredentialMode::HostCompleted, CredentialMode::InComponent] {
            let r = e
                .harness
                .clone()
                .with_credential_mode(mode)
                .check_connection(&conn)
                .await
                .unwrap();
            let err = expect_err(r, "invalid-input");
            let Error::InvalidInput(info) = &err else {
                unreachable!()
            };
            assert_eq!(
                info.field, "connection.credential.token",
                "for {token:?} held by {mode:?}: expected connection.credential.token, got {err:?}"
            );
        }
    }
    let r = e
        .harness
        .check_connection(&Connection::new("https://u:p@acme.example", "u", "t"))
        .await
        .unwrap();
    let err = expect_err(r, "invalid-input");
    let shown = format!("{err:?}");
    assert!(
        shown.contains("connection.credential") && !shown.contains("api-token"),
        "expected connection.credential named, got {shown}"
    );
    assert!(e.sandbox.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_echoing_credentials_does_not_leak_them() {
    let e = env().await;
    e.sandbox.push_faults([Fault::EchoRequest]);
    let r = e.harness.list_teams(&e.admin).await.unwrap();
    let err = expect_err(r, "upstream");
    let shown = format!("{err:?}");
    let b64 = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .encode(format!("admin@acme.example:{ADMIN_TOKEN}"))
    };
    assert!(
        shown.contains("proxy error"),
        "expected the excerpt, got {shown}"
    );
    assert!(
        !shown.contains(ADMIN_TOKEN) && !shown.contains(&b64),
        "credential leaked: {shown}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_one_letter_token_leaves_error_messages_readable() {
    let e = env().await;
    let conn = gladly_harness::Connection::new(e.sandbox.url(), "u", "t");
    // Held by the host, the token reaches the server only as base64("u:t"),
    // which the component cannot know: the echoed header is recognised by
    // its shape.
    e.sandbox.push_faults([Fault::EchoRequest]);
    let r = e.harness.list_teams(&conn).await.unwrap();
    let shown = gladly_harness::error_message(&expect_err(r, "upstream"));
    assert!(
        shown.contains("authorization: Basic <redacted>") && !shown.contains("dTp0"),
        "got {shown}"
    );
    // Handed to the component, the token is scrubbed wherever it appears.
    let harness = e
        .harness
        .clone()
        .with_credential_mode(gladly_harness::CredentialMode::InComponent);
    e.sandbox.push_faults([Fault::EchoRequest]);
    let r = harness.list_teams(&conn).await.unwrap();
    let err = expect_err(r, "upstream");
    let shown = gladly_harness::error_message(&err);
    // The connector's own words are left whole; every "t" the server echoed
    // is gone, and a marker is never searched again ("<redac<redacted>ed>").
    assert!(!shown.contains("<redac<"), "mangled: {shown}");
    assert!(
        shown.starts_with("Gladly answered the team list with HTTP 500."),
        "unreadable: {shown}"
    );
    let body = shown.split_once("Body: ").map_or("", |(_, b)| b);
    assert!(
        body.contains("<redacted>"),
        "expected the echo scrubbed, got {shown}"
    );
    assert!(
        !body.replace("<redacted>", "").contains('t'),
        "the one-letter token is left in: {shown}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn connection_debug_never_shows_the_token() {
    let c = Connection::new("https://acme.gladly.com", "api@acme.com", "tok-3cr3t");
    assert!(!format!("{c:?}").contains("tok-3cr3t"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_answer_is_an_upstream_error_not_a_trap() {
    let e = env().await;
    e.sandbox.push_faults([Fault::Malformed]);
    let r = e.harness.list_agents(&e.admin, false).await.unwrap();
    match expect_err(r, "upstream") {
        Error::Upstream(u) => {
            assert_eq!(u.status, 200);
            assert!(u.body_excerpt.contains("oops"), "got {u:?}");
        }
        _ => unreachable!(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unexpected_status_is_upstream_with_an_excerpt() {
    let e = env().await;
    e.sandbox.push_faults([Fault::Status(418)]);
    let r = e.harness.list_inboxes(&e.admin).await.unwrap();
    match expect_err(r, "upstream") {
        Error::Upstream(u) => assert_eq!(u.status, 418),
        _ => unreachable!(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_listening_is_a_transport_error() {
    let e = env().await;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    }; // closed again: nothing listens there now
    let conn = Connection::new(format!("http://127.0.0.1:{port}"), "u", "t");
    let o = with_retry(2, 2_000);
    let r = e.harness.check_connection(&conn).await.unwrap();
    expect_err(r, "transport");
    let r = e
        .harness
        .offboard(&conn, &AgentKey::Id("agt_001".into()), &o)
        .await
        .unwrap();
    expect_err(r, "transport");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ip_restricted_token_gives_forbidden_on_reads_and_writes_alike() {
    let e = env().await;
    let conn = Connection::from(e.sandbox.ip_restricted());
    let r = e.harness.check_connection(&conn).await.unwrap();
    let err = expect_err(r, "forbidden");
    assert!(
        error_message(&err).contains("IP ranges"),
        "expected the IP restriction named as a cause, got {err:?}"
    );
    let r = e
        .harness
        .lookup(&conn, &AgentKey::Email("jane@acme.example".into()))
        .await
        .unwrap();
    expect_err(r, "forbidden");
    let r = e
        .harness
        .provision(
            &conn,
            &new_agent("outside@acme.example", "Outside"),
            &opts(),
        )
        .await
        .unwrap();
    expect_err(r, "forbidden");
    assert!(e.sandbox.welcome_emails().is_empty());
    assert!(
        e.sandbox.requests().iter().all(|q| q.status == Some(403)),
        "expected every request refused, got {:?}",
        e.sandbox.requests()
    );
}
