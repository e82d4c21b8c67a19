//! One deadline per call, counted honestly: every request, pacing wait,
//! backoff and `Retry-After` falls within [`CALL_DEADLINE`], and a call that
//! runs out of time answers a typed error instead of running on into the
//! host's cap (a host failure).

use super::*;
use crate::client::CALL_DEADLINE;

fn budget(max_attempts: u32, secs: u64) -> WriteOptions {
    WriteOptions {
        retry: Some(RetryPolicy {
            max_attempts,
            max_total_wait: Duration::from_secs(secs),
        }),
        ..Default::default()
    }
}

#[test]
fn stalled_answers_end_the_call_with_a_transport_error_within_its_deadline() {
    // Five attempts of 30 s each would be 150 s, past the host's 120 s cap.
    let mut s = Script::default().stall().stall().stall().stall().stall();
    let e = ops::list_teams(&mut s, &conn()).unwrap_err();
    assert!(
        matches!(e, Error::Transport(ref m) if m.contains("deadline")),
        "expected a transport error naming the deadline, got {e:?}"
    );
    assert!(
        s.clock() <= CALL_DEADLINE,
        "expected the call to end within {CALL_DEADLINE:?}, it took {:?}",
        s.clock()
    );
    // Each request may wait only what is left of the call.
    let last = s.sent.last().unwrap();
    assert!(
        last.timeout.is_some_and(|t| t < STALL),
        "expected the last request's timeout clipped to the time left, got {:?}",
        last.timeout
    );
}

#[test]
fn pacing_waits_do_not_spend_the_retry_budget() {
    // Pacing is not a retry: a walk whose every page says the second is
    // spent waits about a second per page, bounded only by the call's
    // deadline. Counted against the wait budget (30 s by default, and not
    // settable for reads), it cut every list of more than about 30 pages
    // short, so an organisation of a few thousand agents could never be
    // listed or planned.
    let spent = [
        ("ratelimit-limit-second", "1"),
        ("ratelimit-remaining-second", "0"),
    ];
    let pages = 45;
    let mut s = Script::default();
    for i in 0..pages {
        let next = (i + 1 < pages).then(|| format!("c{i}"));
        s = s.answer_with(
            200,
            &spent,
            &page(
                vec![json!({"id": format!("team_{i}"), "name": format!("Team {i}")})],
                next.as_deref(),
            )
            .to_string(),
        );
    }
    let teams = ops::list_teams(&mut s, &conn()).unwrap();
    assert_eq!(
        teams.len(),
        pages,
        "expected every page, got {}",
        teams.len()
    );
    let waited: Duration = s.slept.iter().sum();
    assert!(
        waited > RetryPolicy::default().max_total_wait,
        "the walk waited {waited:?} for the rate limit, more than the default wait budget, and finished"
    );
    assert!(s.clock() <= CALL_DEADLINE);
}

#[test]
fn pacing_waits_count_against_the_call_deadline() {
    // A walk of 150 pages, each of which says the second is spent (a limit
    // of 1 per second): about a second per page, past the deadline, with a
    // wait budget that would allow it.
    let spent = [
        ("ratelimit-limit-second", "1"),
        ("ratelimit-remaining-second", "0"),
    ];
    let mut s = Script::default();
    for i in 0..150 {
        let next = format!("c{i}");
        s = s.answer_with(
            200,
            &spent,
            &page(vec![agent(&format!("a{i}"), "a@x.io", true)], Some(&next)).to_string(),
        );
    }
    let e = ops::offboard(
        &mut s,
        &conn(),
        &AgentKey::ExternalId("HR-1".into()),
        &budget(5, 1_000),
    )
    .unwrap_err();
    // The page that would pass the deadline is not sent: no attempt of it
    // counts, and no Retry-After was asked.
    assert!(
        matches!(
            e,
            Error::RateLimited {
                retry_after_ms: None,
                attempts: 0,
                ref message,
            } if message.contains("deadline")
        ),
        "expected rate-limited naming the deadline, after no attempt of the unsent page, got {e:?}"
    );
    assert!(
        s.clock() <= CALL_DEADLINE,
        "expected the call to end within {CALL_DEADLINE:?}, it took {:?}",
        s.clock()
    );
}

#[test]
fn a_retry_after_past_the_call_deadline_is_not_slept() {
    // Within a wait budget of 1000 s, but past the call's deadline.
    let mut s = Script::default().answer_with(429, &[("retry-after", "150")], "");
    let e = ops::offboard(
        &mut s,
        &conn(),
        &AgentKey::Id("a1".into()),
        &budget(5, 1_000),
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            Error::RateLimited {
                retry_after_ms: Some(150_000),
                attempts: 1,
                ..
            }
        ),
        "expected rate-limited with the wait asked, got {e:?}"
    );
    assert!(s.slept.is_empty(), "slept {:?}", s.slept);
}

#[test]
fn a_huge_retry_after_saturates_instead_of_wrapping() {
    for (asked, want_ms) in [
        ("99999999999999999999", u64::MAX),
        ("18446744073709551615", u64::MAX),
        ("1e300", u64::MAX),
        // RFC 9110's example "now" is 784111777 s after the epoch.
        (
            "Fri, 31 Dec 9999 23:59:59 GMT",
            (253_402_300_799 - 784_111_777) * 1000,
        ),
    ] {
        let mut s = Script::default().answer_with(429, &[("retry-after", asked)], "");
        let e = ops::list_teams(&mut s, &conn()).unwrap_err();
        match e {
            Error::RateLimited {
                retry_after_ms,
                attempts: 1,
                ..
            } => assert_eq!(
                retry_after_ms,
                Some(want_ms),
                "for Retry-After: {asked}: expected {want_ms} ms, got {retry_after_ms:?}"
            ),
            other => panic!("for Retry-After: {asked}: expected rate-limited, got {other:?}"),
        }
        assert!(s.slept.is_empty(), "for {asked}: slept {:?}", s.slept);
    }
}

#[test]
fn a_list_that_never_ends_is_an_upstream_error_not_rate_limited() {
    // Every page a new cursor, at Gladly's published 10 a second: the call
    // runs out of time after about 975 pages. Answered `rate-limited`, a
    // workflow engine would retry it forever; it is not the rate's doing.
    let mut s = Script::default();
    for i in 0..1_100 {
        s = s.answer(200, page(vec![], Some(&format!("c{i}"))));
    }
    let e = ops::list_agents(&mut s, &conn(), false).unwrap_err();
    assert!(
        matches!(&e, Error::Upstream { message, .. } if message.contains("did not end within the call's deadline")),
        "got {e:?}"
    );
    assert!(
        s.sent.len() >= 500 && s.clock() <= CALL_DEADLINE,
        "{} pages",
        s.sent.len()
    );
}

#[test]
fn a_long_list_whose_last_pages_spend_the_deadline_is_upstream_too() {
    // 600 pages, then a server too slow to answer before the deadline: the
    // call ends in `transport` by the deadline, which a workflow engine
    // would retry forever; after 500 pages it is the list's length.
    let mut s = Script::default();
    for i in 0..600 {
        s = s.answer(200, page(vec![], Some(&format!("c{i}"))));
    }
    for _ in 0..5 {
        s = s.stall();
    }
    let e = ops::list_agents(&mut s, &conn(), false).unwrap_err();
    assert!(
        matches!(&e, Error::Upstream { message, .. } if message.contains("did not end within the call's deadline")),
        "got {e:?}"
    );
    // 429s beyond the retry budget after as many pages stay rate-limited.
    let mut s = Script::default();
    for i in 0..600 {
        s = s.answer(200, page(vec![], Some(&format!("c{i}"))));
    }
    for _ in 0..5 {
        s = s.answer_with(429, &[("retry-after", "1")], "{}");
    }
    let e = ops::list_agents(&mut s, &conn(), false).unwrap_err();
    assert!(matches!(e, Error::RateLimited { .. }), "got {e:?}");
}
