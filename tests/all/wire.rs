//! On the wire as Gladly's front end expects: body lengths a strict front end
//! accepts, HTTPS with certificate failures named, connections reused,
//! Gladly's published rate limit kept, both error-body forms, redirects
//! never followed.

use std::time::{Duration, Instant};

use gladly_harness::agents::*;
use gladly_harness::{Harness, Limits, error_message};
use gladly_sandbox::{
    ADMIN_TOKEN, ADMIN_USER, Fault, RateLimit, RecordedRequest, SandboxConfig, TlsCert,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::*;

/// Runs every kind of write the connector makes: a create, a delta update,
/// an e-mail change, a deactivation, and a reactivation.
async fn every_write(e: &Env, h: &Harness) {
    let conn = &e.admin;
    let mut joiner = new_agent("joiner@acme.example", "José Müller");
    joiner.inboxes = vec!["Billing".into()];
    let r = h.provision(conn, &joiner, &opts()).await.unwrap();
    assert_eq!(r.unwrap().outcome, Outcome::Created);
    let key = AgentKey::Email("joiner@acme.example".into());
    let add = AgentChanges {
        inboxes: Some(MembershipChange::Delta(MembershipDelta {
            add: vec!["VIP Chat".into()],
            remove: vec![],
        })),
        name: Some("José Müller-Straße".into()),
        ..no_changes()
    };
    assert_eq!(
        h.update(conn, &key, &add, &opts())
            .await
            .unwrap()
            .unwrap()
            .outcome,
        Outcome::Updated
    );
    let moved = AgentChanges {
        email_address: Some("mover@acme.example".into()),
        ..no_changes()
    };
    assert_eq!(
        h.update(conn, &key, &moved, &opts())
            .await
            .unwrap()
            .unwrap()
            .outcome,
        Outcome::Updated
    );
    let key = AgentKey::Email("mover@acme.example".into());
    assert_eq!(
        h.offboard(conn, &key, &opts())
            .await
            .unwrap()
            .unwrap()
            .outcome,
        Outcome::Deactivated
    );
    let back = new_agent("mover@acme.example", "José Müller-Straße");
    assert_eq!(
        h.provision(conn, &back, &opts())
            .await
            .unwrap()
            .unwrap()
            .outcome,
        Outcome::Reactivated
    );
}

/// Every write carried `Content-Length` equal to its body, was not chunked
/// and declared JSON; every read carried neither; nothing was answered 411
/// or 415.
#[track_caller]
pub fn assert_framed(requests: &[RecordedRequest], min_writes: usize) {
    let writes = requests.iter().filter(|r| r.method != "GET").count();
    assert!(
        writes >= min_writes,
        "expected {min_writes} writes to reach the sandbox, got {requests:#?}"
    );
    for r in requests {
        assert_eq!(
            r.framing.transfer_encoding, None,
            "expected no chunking, got {r:?}"
        );
        let len = r.body.as_ref().map(|b| b.len().to_string());
        if r.method == "GET" {
            assert_eq!(r.framing.content_length, None, "a GET has no body: {r:?}");
        } else {
            assert_eq!(
                r.framing.content_length, len,
                "expected the body's length: {r:?}"
            );
            assert_eq!(
                r.framing.content_type.as_deref(),
                Some("application/json"),
                "expected a write to declare JSON: {r:?}"
            );
        }
        assert_ne!(r.status, Some(411), "refused as unframed: {r:?}");
        assert_ne!(r.status, Some(415), "refused for its media type: {r:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_write_is_accepted_by_a_strict_front_end() {
    let e = env().await;
    every_write(&e, &e.harness).await;
    assert_framed(&e.sandbox.requests(), 5);
    assert_eq!(e.sandbox.answered(411), 0);
    assert_eq!(e.sandbox.welcome_emails().len(), 1);
}

/// Sends one raw HTTP/1.1 request and returns the status line.
async fn raw(addr: std::net::SocketAddr, request: String) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut buf = vec![0; 512];
    let n = s.read(&mut buf).await.unwrap();
    String::from_utf8_lossy(&buf[..n])
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

fn chunked_post() -> String {
    use base64::Engine as _;
    let auth =
        base64::engine::general_purpose::STANDARD.encode(format!("{ADMIN_USER}:{ADMIN_TOKEN}"));
    let body = r#"{"emailAddress":"c@acme.example","name":"C","role":"AGENT"}"#;
    format!(
        "POST /api/v1/agents HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n\
         {:x}\r\n{body}\r\n0\r\n\r\n",
        body.len()
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sandbox_answers_a_chunked_write_411_unless_told_otherwise() {
    let strict = env().await;
    let line = raw(strict.sandbox.addr(), chunked_post()).await;
    assert!(line.contains(" 411 "), "expected 411, got {line:?}");
    assert!(strict.sandbox.welcome_emails().is_empty());

    let lenient = env_with(SandboxConfig {
        allow_chunked: true,
        ..Default::default()
    })
    .await;
    let line = raw(lenient.sandbox.addr(), chunked_post()).await;
    assert!(line.contains(" 201 "), "expected 201, got {line:?}");
}

async fn tls_env(cert: TlsCert) -> Env {
    env_with(SandboxConfig {
        tls: Some(cert),
        ..Default::default()
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_whole_lifecycle_runs_over_https() {
    let e = tls_env(TlsCert::Valid).await;
    assert!(e.admin.org_url.starts_with("https://"));
    let h = e
        .harness
        .clone()
        .with_extra_ca(e.sandbox.ca_pem().unwrap().as_bytes())
        .unwrap();
    every_write(&e, &h).await;
    let found = h
        .lookup(&e.admin, &AgentKey::Email("MOVER@acme.example".into()))
        .await
        .unwrap()
        .unwrap()
        .expect("the agent is found over HTTPS");
    assert_eq!(found.active, Some(true));
    assert_framed(&e.sandbox.requests(), 5);
    assert_eq!(e.sandbox.welcome_emails().len(), 1);
    let handshakes = e.sandbox.connections();
    let requests = e.sandbox.requests().len();
    assert!(
        handshakes <= 2 && requests > 10,
        "expected the connection kept alive: {handshakes} TLS handshakes for {requests} requests"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn certificate_failures_are_named_and_not_retried() {
    for (cert, trust) in [
        (TlsCert::OtherName, true),
        (TlsCert::Expired, true),
        (TlsCert::Valid, false), // a CA this host does not trust
    ] {
        let e = tls_env(cert).await;
        let h = if trust {
            e.harness
                .clone()
                .with_extra_ca(e.sandbox.ca_pem().unwrap().as_bytes())
                .unwrap()
        } else {
            e.harness.clone()
        };
        let r = h.list_teams(&e.admin).await.unwrap();
        let err = expect_err(r, "transport");
        let msg = error_message(&err);
        assert!(
            msg.contains("certificate"),
            "for {cert:?} (trusted CA: {trust}): expected the certificate named, got {msg}"
        );
        assert!(e.sandbox.requests().is_empty(), "nothing may be sent");
        assert_eq!(
            e.sandbox.connections(),
            1,
            "for {cert:?}: retried a certificate failure"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_are_reused_across_requests_and_calls() {
    let e = env_with(SandboxConfig {
        extra_agents: 997, // 1,000 agents: 10 pages
        rate_limit: None,
        ..Default::default()
    })
    .await;
    let all = e
        .harness
        .list_agents(&e.admin, false)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(all.len(), 1000);
    e.harness.list_teams(&e.admin).await.unwrap().unwrap();
    assert_eq!(e.sandbox.requests().len(), 11);
    // hyper-util's pool races a new connection against the return of a busy
    // one, so a request sent the instant the last answer was read may open
    // a second; never one per request.
    let pooled = e.sandbox.connections();
    assert!(
        pooled <= 2,
        "expected kept-alive connections, got {pooled} for 11 requests"
    );

    // With no pool, every request opens its own.
    let fresh = e.harness.clone().with_limits(Limits {
        pool_max_idle_per_origin: 0,
        ..e.harness.limits()
    });
    fresh.list_agents(&e.admin, false).await.unwrap().unwrap();
    assert_eq!(e.sandbox.connections(), pooled + 10);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_walk_keeps_to_the_rate_limit_without_a_429() {
    let e = env_with(SandboxConfig {
        extra_agents: 1_497, // 15 pages
        rate_limit: Some(RateLimit {
            per_second: 5,
            retry_after: false,
            ..RateLimit::default()
        }),
        ..Default::default()
    })
    .await;
    let started = Instant::now();
    let all = e
        .harness
        .list_agents(&e.admin, false)
        .await
        .unwrap()
        .unwrap();
    let took = started.elapsed();
    assert_eq!(all.len(), 1500);
    assert_eq!(e.sandbox.answered(429), 0, "the walk drew a 429");
    assert_eq!(e.sandbox.requests().len(), 15);
    // 15 requests at 5 a second: two full windows waited, and not much more.
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(5),
        "expected about 2 s, took {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn racing_walks_from_two_hosts_retry_each_429_once_and_finish() {
    let e = env_with(SandboxConfig {
        extra_agents: 597, // 6 pages each
        rate_limit: Some(RateLimit {
            per_second: 5,
            retry_after: false,
            ..RateLimit::default()
        }),
        ..Default::default()
    })
    .await;
    // Two hosts (each with its own pools and pacing, as two engine nodes
    // have), so that neither knows of the other's requests; whether their
    // timing meets the limit depends on the machine's load, so one 429
    // without Retry-After is served for certain.
    let other_host = e.harness.clone().with_limits(e.harness.limits());
    e.sandbox
        .push_faults([Fault::RateLimit { retry_after: None }]);
    let (a, b) = tokio::join!(
        e.harness.list_agents(&e.admin, false),
        other_host.list_agents(&e.admin, false)
    );
    for walk in [a, b] {
        assert_eq!(walk.unwrap().unwrap().len(), 600);
    }
    // Each page once per walk, plus exactly one retry for every 429 (the one
    // served for certain and any the race drew): no page given up, none
    // fetched twice.
    let refused = e.sandbox.answered(429);
    let sent = e.sandbox.requests().len();
    assert_eq!(
        sent,
        12 + refused,
        "expected 12 pages plus one retry for each of the {refused} 429s, got {sent} requests"
    );
}

fn one_per_second(retry_after: bool) -> SandboxConfig {
    SandboxConfig {
        rate_limit: Some(RateLimit {
            per_second: 1,
            retry_after,
            ..RateLimit::default()
        }),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn calls_in_a_row_are_paced_by_the_host_without_a_429() {
    let e = env_with(one_per_second(false)).await;
    // Each call is a fresh instance that knows nothing of the spent second;
    // the harness remembers what the organisation said.
    let started = Instant::now();
    e.harness.list_teams(&e.admin).await.unwrap().unwrap();
    e.harness.list_inboxes(&e.admin).await.unwrap().unwrap();
    assert_eq!(e.sandbox.answered(429), 0);
    assert_eq!(e.sandbox.requests().len(), 2);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_429_with_retry_after_from_the_limit_is_honoured() {
    let e = env_with(one_per_second(true)).await;
    // Two hosts that share nothing (separate pools and pacing) share the
    // organisation's limit: the second draws a 429 with Retry-After: 1,
    // waits it and succeeds.
    let other = e.harness.clone().with_limits(e.harness.limits());
    e.harness.list_teams(&e.admin).await.unwrap().unwrap();
    other.list_inboxes(&e.admin).await.unwrap().unwrap();
    assert_eq!(e.sandbox.answered(429), 1);
    assert_eq!(e.sandbox.requests().len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_error_body_with_a_single_object_is_read() {
    let e = env().await;
    e.sandbox.push_faults([Fault::Json {
        status: 422,
        body: r#"{"errors": {"attr": "phoneNumber", "code": "invalid", "detail": "not a phone number"}}"#
            .into(),
    }
    .on("PATCH")]);
    let changes = AgentChanges {
        phone_number: Some("+15550100".into()),
        ..no_changes()
    };
    let r = e
        .harness
        .update(&e.admin, &AgentKey::Id("agt_001".into()), &changes, &opts())
        .await
        .unwrap();
    assert_eq!(invalid_field(r), "changes.phone-number");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_e_mail_taken_by_another_agent_is_a_conflict_naming_it() {
    let e = env().await;
    let changes = AgentChanges {
        email_address: Some("SAM@acme.example".into()),
        ..no_changes()
    };
    let r = e
        .harness
        .update(&e.admin, &AgentKey::Id("agt_001".into()), &changes, &opts())
        .await
        .unwrap();
    match expect_err(r, "conflict") {
        Error::Conflict(c) => {
            assert_eq!(c.agent_ids, ["agt_002"]);
            assert!(c.message.contains("email-address"), "got {}", c.message);
        }
        _ => unreachable!(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redirect_is_never_followed_with_the_credentials() {
    for status in [301u16, 302, 307, 308] {
        let e = env().await;
        // Where the redirect points: another server that records requests.
        let elsewhere = env().await;
        let location = format!("{}/api/v1/agents", elsewhere.sandbox.url());
        e.sandbox.push_faults([Fault::Redirect {
            status,
            location: location.clone(),
        }]);
        let r = e
            .harness
            .lookup(&e.admin, &AgentKey::Id("agt_001".into()))
            .await
            .unwrap();
        match expect_err(r, "upstream") {
            Error::Upstream(u) => {
                assert_eq!(u.status, status);
                assert!(u.message.contains(&location), "got {}", u.message);
            }
            _ => unreachable!(),
        }
        assert_eq!(e.sandbox.requests().len(), 1, "for {status}: retried");
        assert!(
            elsewhere.sandbox.requests().is_empty(),
            "for {status}: followed"
        );
    }
}
