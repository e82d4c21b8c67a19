//! What a request does when it is not answered at once: which failures are
//! asked again, how long each wait is, the wait budget (`options.retry`) as
//! an inclusive bound, and what the error says when the core gives up.

use super::*;

/// The backoff before a first retry: from 250 ms, equal jitter at 0.5.
const FIRST_BACKOFF: Duration = Duration::from_micros(187_500);

fn waiting(max_total_wait: Duration) -> WriteOptions {
    WriteOptions {
        retry: Some(RetryPolicy {
            max_attempts: 5,
            max_total_wait,
        }),
        ..Default::default()
    }
}

/// Offboards agent a1, which is already inactive: one GET when all goes well.
fn offboard_a1(s: &mut Script, opts: &WriteOptions) -> Result<WriteResult, Error> {
    ops::offboard(s, &conn(), &AgentKey::Id("a1".into()), opts)
}

fn rate_limited_message(e: &Error) -> &str {
    match e {
        Error::RateLimited { message, .. } => message,
        other => panic!("expected rate-limited, got {other:?}"),
    }
}

#[test]
fn a_retry_after_that_fills_the_wait_budget_exactly_is_still_waited() {
    // The default budget is 30 s of waiting in all.
    let mut s = Script::default()
        .answer_with(429, &[("retry-after", "30")], "")
        .answer(200, json!([]));
    ops::list_teams(&mut s, &conn()).unwrap();
    assert_eq!(
        s.slept,
        [Duration::from_secs(30)],
        "expected the 30 s asked to be waited, within a budget of 30 s"
    );
    assert_eq!(s.sent.len(), 2, "expected the request to be sent again");
}

#[test]
fn a_retry_after_past_the_wait_budget_gives_up_without_blaming_the_deadline() {
    let mut s = Script::default().answer_with(429, &[("retry-after", "31")], "");
    let e = ops::list_teams(&mut s, &conn()).unwrap_err();
    assert!(
        matches!(
            e,
            Error::RateLimited {
                retry_after_ms: Some(31_000),
                attempts: 1,
                ..
            }
        ),
        "expected rate-limited after one attempt, with the wait asked, got {e:?}"
    );
    assert_eq!(
        rate_limited_message(&e),
        "GET /api/v1/teams was answered 429 Too Many Requests 1 time(s), after 0 ms of waiting; retry later or raise options.retry",
        "expected the budget, not the deadline, to be the reason"
    );
    assert!(s.slept.is_empty(), "slept {:?}", s.slept);
}

#[test]
fn waits_add_up_against_the_wait_budget() {
    // 20 s are waited; 11 s more would make 31 s, past the budget of 30 s.
    let mut s = Script::default()
        .answer_with(429, &[("retry-after", "20")], "")
        .answer_with(429, &[("retry-after", "11")], "");
    let e = ops::list_teams(&mut s, &conn()).unwrap_err();
    assert_eq!(
        rate_limited_message(&e),
        "GET /api/v1/teams was answered 429 Too Many Requests 2 time(s), after 20000 ms of waiting; retry later or raise options.retry"
    );
    assert_eq!(
        s.slept,
        [Duration::from_secs(20)],
        "expected only the first wait"
    );
}

#[test]
fn a_429_whose_wait_ends_past_the_deadline_says_so() {
    let mut s = Script::default().answer_with(429, &[("retry-after", "150")], "");
    let e = offboard_a1(&mut s, &waiting(Duration::from_secs(1_000))).unwrap_err();
    assert_eq!(
        rate_limited_message(&e),
        "GET /api/v1/agents/a1 was answered 429 Too Many Requests 1 time(s), after 0 ms of waiting; the wait would end past the call's deadline of 100 s; retry later or raise options.retry"
    );
}

#[test]
fn an_empty_retry_after_is_taken_as_absent() {
    let mut s = Script::default()
        .answer_with(429, &[("retry-after", " ")], "")
        .answer(200, json!([]));
    ops::list_teams(&mut s, &conn()).unwrap();
    assert_eq!(
        s.slept,
        [Duration::from_millis(750)],
        "expected the backoff of a 429 without Retry-After"
    );
}

#[test]
fn a_502_backoff_that_fills_the_wait_budget_exactly_is_still_waited() {
    let mut s = Script::default()
        .answer_with(502, &[], "")
        .answer(200, agent("a1", "a@x.io", false));
    let r = offboard_a1(&mut s, &waiting(FIRST_BACKOFF)).unwrap();
    assert_eq!(r.outcome, Outcome::AlreadyInactive);
    assert_eq!(
        s.slept,
        [FIRST_BACKOFF],
        "expected one backoff, then a retry"
    );
}

#[test]
fn a_502_is_answered_as_it_is_when_its_backoff_is_past_the_wait_budget() {
    let mut s = Script::default().answer_with(502, &[], "bad gateway");
    let e = offboard_a1(&mut s, &waiting(FIRST_BACKOFF - Duration::from_micros(1))).unwrap_err();
    assert!(
        matches!(e, Error::Upstream { status: 502, .. }),
        "expected the 502 itself, got {e:?}"
    );
    assert!(s.slept.is_empty(), "slept {:?}", s.slept);
    assert_eq!(s.sent.len(), 1, "expected no retry");
}

#[test]
fn a_connect_failure_backoff_that_fills_the_wait_budget_exactly_is_still_waited() {
    let mut s = Script::default()
        .fail(TransportErrorKind::Connect)
        .answer(200, agent("a1", "a@x.io", false));
    let r = offboard_a1(&mut s, &waiting(FIRST_BACKOFF)).unwrap();
    assert_eq!(r.outcome, Outcome::AlreadyInactive);
    assert_eq!(
        s.slept,
        [FIRST_BACKOFF],
        "expected one backoff, then a retry"
    );
}

#[test]
fn a_connect_failure_past_the_wait_budget_gives_up_without_blaming_the_deadline() {
    let mut s = Script::default().fail(TransportErrorKind::Connect);
    let e = offboard_a1(&mut s, &waiting(Duration::ZERO)).unwrap_err();
    assert_eq!(
        e,
        Error::Transport(
            "GET /api/v1/agents/a1 could not connect after 1 attempt(s): connection reset".into()
        )
    );
    assert!(s.slept.is_empty(), "slept {:?}", s.slept);
}

#[test]
fn a_transport_failure_names_the_request_without_its_query() {
    // Not retryable: the message says what failed, not that time ran out.
    let mut s = Script::default().fail(TransportErrorKind::Denied);
    let e = ops::list_agents(&mut s, &conn(), true).unwrap_err();
    assert_eq!(
        e,
        Error::Transport(
            "GET /api/v1/agents was refused by the host after 1 attempt(s): connection reset"
                .into()
        )
    );
    // Retried until the attempts ran out: again, not the deadline.
    let mut s = Script::default();
    for _ in 0..5 {
        s = s.fail(TransportErrorKind::Connect);
    }
    let e = ops::list_teams(&mut s, &conn()).unwrap_err();
    assert_eq!(
        e,
        Error::Transport(
            "GET /api/v1/teams could not connect after 5 attempt(s): connection reset".into()
        )
    );
}
