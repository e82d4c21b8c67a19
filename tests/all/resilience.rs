//! Retries, rate limits and lost answers.

use std::time::Duration;

use gladly_harness::Limits;
use gladly_harness::agents::*;
use gladly_sandbox::Fault;

use crate::support::*;

fn rate_limit(secs: &str) -> Fault {
    Fault::RateLimit {
        retry_after: Some(secs.into()),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_429_storm_ends_in_success_within_its_budget() {
    let e = env().await;
    e.sandbox.push_faults([
        rate_limit("0"),
        rate_limit("0"),
        rate_limit("1"),
        rate_limit("0"),
    ]);
    let started = std::time::Instant::now();
    let r = e
        .harness
        .list_agents(&e.admin, false)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.len(), 3);
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(1),
        "Retry-After: 1 was not honoured"
    );
    assert_eq!(e.sandbox.requests().len(), 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn retry_after_as_an_http_date_is_honoured() {
    let e = env().await;
    let soon =
        httpdate::fmt_http_date(std::time::SystemTime::now() + std::time::Duration::from_secs(1));
    e.sandbox.push_faults([Fault::RateLimit {
        retry_after: Some(soon),
    }]);
    let r = e.harness.list_teams(&e.admin).await.unwrap();
    assert!(r.is_ok(), "got {r:?}");
    assert_eq!(e.sandbox.requests().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limits_beyond_the_budget_are_rate_limited_with_the_wait() {
    let e = env().await;
    e.sandbox.push_faults((0..10).map(|_| rate_limit("120")));
    let o = with_retry(5, 5_000);
    let r = e
        .harness
        .offboard(&e.admin, &AgentKey::Id("agt_001".into()), &o)
        .await
        .unwrap();
    match expect_err(r, "rate-limited") {
        Error::RateLimited(info) => {
            assert_eq!(info.retry_after_ms, Some(120_000));
            assert_eq!(info.attempts, 1, "a wait beyond the budget is not slept");
        }
        _ => unreachable!(),
    }
    let r = e.harness.list_teams(&e.admin).await.unwrap();
    expect_err(r, "rate-limited");
}

#[tokio::test(flavor = "multi_thread")]
async fn attempts_are_bounded() {
    let e = env().await;
    e.sandbox.push_faults((0..10).map(|_| rate_limit("0")));
    let o = with_retry(3, 10_000);
    let r = e
        .harness
        .offboard(&e.admin, &AgentKey::Id("agt_001".into()), &o)
        .await
        .unwrap();
    match expect_err(r, "rate-limited") {
        Error::RateLimited(info) => assert_eq!(info.attempts, 3),
        _ => unreachable!(),
    }
    assert_eq!(e.sandbox.requests().len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn server_errors_on_reads_are_retried_with_backoff() {
    let e = env().await;
    e.sandbox
        .push_faults([Fault::Status(503), Fault::Status(502), Fault::Status(504)]);
    let r = e.harness.list_inboxes(&e.admin).await.unwrap();
    assert!(r.is_ok(), "got {r:?}");
    assert_eq!(e.sandbox.requests().len(), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_503_on_create_is_sent_again_only_after_a_lookup() {
    let e = env().await;
    e.sandbox.push_faults([Fault::Status(503).on("POST")]);
    let r = e
        .harness
        .provision(&e.admin, &new_agent("once@acme.example", "Once"), &opts())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.outcome, Outcome::Created);
    let seen = e.seen();
    let posts: Vec<usize> = seen
        .iter()
        .enumerate()
        .filter(|(_, s)| s.starts_with("POST"))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(posts.len(), 2, "got {seen:?}");
    assert!(
        seen[posts[0]..posts[1]]
            .iter()
            .any(|s| s.contains("emailAddress=once%40acme.example")),
        "expected a look-up between the two creates, got {seen:?}"
    );
    assert_eq!(e.sandbox.welcome_emails().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_create_answered_504_after_it_happened_is_found_not_repeated() {
    let e = env().await;
    e.sandbox.push_faults([Fault::PerformThen(504).on("POST")]);
    let r = e
        .harness
        .provision(&e.admin, &new_agent("gw@acme.example", "Gateway"), &opts())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.outcome, Outcome::Created);
    assert_eq!(e.writes().len(), 1);
    assert_eq!(e.sandbox.welcome_emails().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_create_response_sends_one_welcome_email() {
    let e = env().await;
    let harness = e.harness.clone().with_limits(Limits {
        first_byte_timeout: Duration::from_millis(500),
        ..Limits::default()
    });
    e.sandbox.push_faults([Fault::LoseResponse.on("POST")]);
    let want = new_agent("lost@acme.example", "Lost Answer");
    let r = harness
        .provision(&e.admin, &want, &opts())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.outcome, Outcome::Created);
    assert!(
        r.warnings.iter().any(|w| w.contains("was lost")),
        "got {:?}",
        r.warnings
    );
    // And the automation, unsure, runs it again.
    let again = harness
        .provision(&e.admin, &want, &opts())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.outcome, Outcome::AlreadyExisted);
    assert_eq!(e.writes().len(), 1);
    assert_eq!(e.sandbox.welcome_emails().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_create_sent_again_after_a_lost_answer_and_refused_409_reports_created() {
    let e = env().await;
    let harness = e.harness.clone().with_limits(Limits {
        first_byte_timeout: Duration::from_millis(500),
        ..Limits::default()
    });
    // The look-up after the lost create does not list the agent it made
    // yet (a listing that lags), so the create is sent again and meets 409.
    let nobody = || {
        Fault::Json {
            status: 200,
            body: r#"{"items": [], "nextCursor": null}"#.into(),
        }
        .on("GET")
    };
    e.sandbox
        .push_faults([nobody(), Fault::LoseResponse.on("POST"), nobody()]);
    let r = harness
        .provision(&e.admin, &new_agent("late@acme.example", "Late"), &opts())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        r.outcome,
        Outcome::Created,
        "expected created (the first create made the agent), got {r:?}"
    );
    assert!(
        r.warnings.iter().any(|w| w.contains("welcome e-mail")),
        "expected the welcome-e-mail warning, got {:?}",
        r.warnings
    );
    assert_eq!(
        e.writes().len(),
        2,
        "the lost create and the one sent again"
    );
    assert_eq!(e.sandbox.welcome_emails().len(), 1);
}

#[test]
fn the_hosts_caps_on_a_call_stay_above_the_components_deadline() {
    // Room for instantiation and the last answer's decoding after the
    // component's own deadline.
    let deadline = gladly_connector::client::CALL_DEADLINE + Duration::from_secs(10);
    let host = Limits::default().call_deadline;
    assert!(
        host >= deadline,
        "expected the harness's cap ({host:?}) at least {deadline:?}"
    );
    let lock = deployment_number("exec.lock_expiry.seconds");
    assert!(
        Duration::from_secs(lock) >= deadline,
        "expected Obelisk's lock expiry ({lock} s) at least {deadline:?}"
    );
}

#[test]
fn the_deployment_tells_each_call_how_many_calls_share_the_node() {
    // Each Obelisk call paces as one slot of the node's calls in flight
    // (src/pacing.rs, `Slots`): the number it is told must be the number
    // Obelisk runs, or the node sends more than its share.
    let limiter = deployment_number("exec.instance_limiter");
    let toml = std::fs::read_to_string(DEPLOYMENT).unwrap();
    let told = format!(
        r#"{{ key = "{}", value = "{limiter}" }}"#,
        gladly_connector::pacing::CALLS_IN_FLIGHT_VAR
    );
    let set = |line: &str| toml.lines().any(|l| l.trim().trim_end_matches(',') == line);
    assert!(set(&told), "expected {told} in {DEPLOYMENT}");
    let share = format!(
        r#"{{ key = "{0}", value = "${{{0}:-}}" }}"#,
        gladly_connector::pacing::RATE_SHARE_VAR
    );
    assert!(set(&share), "expected {share} in {DEPLOYMENT}");
}

#[test]
fn the_deployment_lets_each_call_ask_its_own_nodes_api_and_nothing_more() {
    // Each call counts the nodes from its node's API (src/obelisk_nodes.rs):
    // the address the deployment gives it by default must be the one the
    // shipped server configurations listen on, and the engine lets the call
    // reach it only to read, with no secret.
    let toml = std::fs::read_to_string(DEPLOYMENT).unwrap();
    let api = "${GLADLY_OBELISK_API:-http://127.0.0.1:5005}";
    let told = format!(
        r#"{{ key = "{}", value = "{api}" }}"#,
        gladly_connector::obelisk_nodes::API_VAR
    );
    let lines: Vec<&str> = toml.lines().map(str::trim).collect();
    assert!(
        lines.iter().any(|l| l.trim_end_matches(',') == told),
        "expected {told} in {DEPLOYMENT}"
    );
    let pattern = format!(r#"pattern = "{api}""#);
    let at = lines
        .iter()
        .position(|l| *l == pattern)
        .unwrap_or_else(|| panic!("expected {pattern} in {DEPLOYMENT}"));
    assert_eq!(lines[at - 1], "[[activity_wasm.allowed_host]]");
    assert_eq!(lines[at + 1], r#"methods = ["GET"]"#);
    assert!(!lines[at + 2].starts_with("secrets"), "{}", lines[at + 2]);
    for server in ["server.toml", "server-postgres.toml"] {
        let path = format!("{}/../obelisk/{server}", env!("CARGO_MANIFEST_DIR"));
        let config = std::fs::read_to_string(&path).unwrap();
        assert!(
            config
                .lines()
                .any(|l| l.trim() == r#"api.listening_addr = "127.0.0.1:5005""#),
            "expected {path} to listen where the deployment's calls ask"
        );
    }
}

/// The shipped Obelisk deployment.
const DEPLOYMENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../obelisk/deployment.toml");

/// The whole number the shipped deployment sets `key` to.
fn deployment_number(key: &str) -> u64 {
    std::fs::read_to_string(DEPLOYMENT)
        .unwrap()
        .lines()
        .find_map(|l| l.trim().strip_prefix(key))
        .and_then(|v| v.trim().trim_start_matches('=').trim().parse().ok())
        .unwrap_or_else(|| panic!("{DEPLOYMENT} sets {key} to a whole number"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dropped_connection_on_a_read_is_retried() {
    let e = env().await;
    e.sandbox
        .push_faults([Fault::DropConnection, Fault::DropConnection]);
    let r = e.harness.list_teams(&e.admin).await.unwrap();
    assert!(r.is_ok(), "got {r:?}");
    assert_eq!(e.sandbox.requests().len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dropped_connection_on_a_create_is_looked_up_then_sent_once_more() {
    let e = env().await;
    e.sandbox.push_faults([Fault::DropConnection.on("POST")]);
    let r = e
        .harness
        .provision(
            &e.admin,
            &new_agent("dropped@acme.example", "Dropped"),
            &opts(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.outcome, Outcome::Created);
    assert_eq!(
        e.writes().len(),
        2,
        "the lost create, then one more after a look-up"
    );
    assert_eq!(e.sandbox.welcome_emails().len(), 1);
    let seen = e.seen();
    let first_post = seen.iter().position(|s| s.starts_with("POST")).unwrap();
    assert!(
        seen[first_post + 1].starts_with("GET /api/v1/agents?limit=100&emailAddress=dropped"),
        "expected a look-up right after the dropped create, got {seen:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_never_answers_ends_at_the_call_deadline() {
    let e = env().await;
    let harness = e.harness.clone().with_limits(Limits {
        call_deadline: Duration::from_millis(800),
        ..Limits::default()
    });
    e.sandbox.push_faults([Fault::LoseResponse]);
    let started = std::time::Instant::now();
    let r = harness.list_teams(&e.admin).await;
    let err = r.expect_err("a host failure, not a domain answer");
    assert!(err.to_string().contains("deadline"), "got {err:#}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // The harness is still healthy afterwards.
    assert!(harness.list_teams(&e.admin).await.unwrap().is_ok());
}

/// Takes the component's whole deadline (100 s): run with `--ignored`.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "takes 100 s"]
async fn a_server_that_never_answers_is_a_transport_error_at_the_components_deadline() {
    let e = env().await;
    e.sandbox.push_faults((0..10).map(|_| Fault::LoseResponse));
    let started = std::time::Instant::now();
    let r = e.harness.list_teams(&e.admin).await.unwrap();
    let took = started.elapsed();
    let err = expect_err(r, "transport");
    let msg = gladly_harness::error_message(&err);
    assert!(msg.contains("deadline"), "got {msg}");
    let deadline = gladly_connector::client::CALL_DEADLINE;
    assert!(
        took >= deadline - Duration::from_secs(1) && took < deadline + Duration::from_secs(5),
        "expected the call to end at the component's deadline ({deadline:?}), it took {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_answer_within_the_timeouts_succeeds() {
    let e = env().await;
    e.sandbox
        .push_faults([Fault::Delay(std::time::Duration::from_millis(300))]);
    let r = e.harness.check_connection(&e.admin).await.unwrap();
    assert!(r.is_ok(), "got {r:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_answer_over_the_size_cap_is_refused_once_not_retried() {
    let e = env().await;
    // 17 MiB, over the component's 16 MiB cap; twice, so a retry would show.
    e.sandbox
        .push_faults([Fault::Huge(17 << 20), Fault::Huge(17 << 20)]);
    let r = e.harness.list_teams(&e.admin).await.unwrap();
    let err = expect_err(r, "transport");
    let msg = gladly_harness::error_message(&err);
    assert!(msg.contains("larger than 16 MiB"), "got {msg}");
    assert_eq!(
        e.sandbox.requests().len(),
        1,
        "a too-large answer is not transient"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bare_429_from_a_proxy_is_waited_out() {
    let e = env().await;
    // No Retry-After and no rate-limit header to read: backed off.
    e.sandbox
        .push_faults([Fault::BareRateLimit, Fault::BareRateLimit]);
    let r = e.harness.list_teams(&e.admin).await.unwrap();
    assert!(r.is_ok(), "expected the teams after two 429s, got {r:?}");
    let statuses: Vec<_> = e.sandbox.requests().iter().map(|q| q.status).collect();
    assert_eq!(statuses, [Some(429), Some(429), Some(200)]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_proxy_page_where_json_was_expected_is_upstream_never_an_empty_list() {
    let e = env().await;
    // A single-sign-on portal's login page, 200 and HTML.
    e.sandbox.push_faults([Fault::ProxyPage {
        status: 200,
        echo: None,
    }]);
    let r = e.harness.list_agents(&e.admin, false).await.unwrap();
    match expect_err(r, "upstream") {
        Error::Upstream(u) => {
            assert_eq!(u.status, 200, "got {u:?}");
            assert!(u.body_excerpt.contains("<html>"), "got {u:?}");
        }
        _ => unreachable!(),
    }
    // A proxy's 502 page on a read is retried like any 502.
    e.sandbox.push_faults([Fault::ProxyPage {
        status: 502,
        echo: None,
    }]);
    let r = e.harness.list_teams(&e.admin).await.unwrap();
    assert!(r.is_ok(), "expected the teams after a 502 page, got {r:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_proxy_page_answering_a_create_sends_one_welcome_email() {
    let e = env().await;
    // The proxy timed out before Gladly answered: nothing was created,
    // and the connector looks before it sends the create again.
    e.sandbox.push_faults([Fault::ProxyPage {
        status: 504,
        echo: None,
    }
    .on("POST")]);
    let r = e
        .harness
        .provision(&e.admin, &new_agent("paged@acme.example", "Paged"), &opts())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.outcome, Outcome::Created);
    assert_eq!(e.sandbox.welcome_emails().len(), 1);
    assert_eq!(
        e.writes().len(),
        2,
        "the create refused, then sent once more"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_truncated_answer_to_a_read_is_retried() {
    let e = env().await;
    e.sandbox.push_faults([Fault::Truncated]);
    let r = e
        .harness
        .list_agents(&e.admin, false)
        .await
        .unwrap()
        .unwrap_or_else(|err| panic!("expected the agents, got {err:?}"));
    assert_eq!(r.len(), 3, "got {r:?}");
    assert_eq!(
        e.sandbox.requests().len(),
        2,
        "the cut answer, then one more"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_truncated_answer_to_a_create_sends_one_welcome_email() {
    let e = env().await;
    e.sandbox.push_faults([Fault::Truncated.on("POST")]);
    let r = e
        .harness
        .provision(&e.admin, &new_agent("cut@acme.example", "Cut"), &opts())
        .await
        .unwrap()
        .unwrap_or_else(|err| panic!("expected the agent, got {err:?}"));
    assert_eq!(r.outcome, Outcome::Created);
    assert_eq!(
        r.agent.map(|a| a.email_address).as_deref(),
        Some("cut@acme.example")
    );
    assert_eq!(e.sandbox.welcome_emails().len(), 1);
    assert_eq!(e.writes().len(), 1, "the create was made: never sent again");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_truncated_answer_to_a_patch_still_deactivates() {
    let e = env().await;
    e.sandbox.push_faults([Fault::Truncated.on("PATCH")]);
    let r = e
        .harness
        .offboard(&e.admin, &AgentKey::Id("agt_001".into()), &opts())
        .await
        .unwrap()
        .unwrap_or_else(|err| panic!("expected the deactivation, got {err:?}"));
    assert!(
        matches!(r.outcome, Outcome::Deactivated),
        "got {:?}",
        r.outcome
    );
    assert!(!e.sandbox.org().agent("agt_001").expect("jane").active);
}
