//! Native unit tests of the core over a scripted transport: each test states
//! the answers Gladly gives, in order, and checks what the core sent, how
//! long it waited, and what it answered.

use std::collections::VecDeque;
use std::time::Duration;

use serde_json::{Value, json};

use crate::error::Error;
use crate::model::*;
use crate::ops;
use crate::transport::*;

mod apply;
mod create;
mod deadline;
mod fuzz;
mod hostile;
mod ops_lifecycle;
mod retries;
mod server_text;
mod slots;
mod wire;

enum Step {
    Answer(HttpResponse),
    Fail(TransportError),
    /// The server never answers: the transport gives up, as the component's
    /// does, after its own 30 s or the request's timeout if shorter.
    Stall,
}

/// The component transport's own limit on waiting for an answer.
const STALL: Duration = Duration::from_secs(30);

#[derive(Default)]
struct Script {
    steps: VecDeque<Step>,
    sent: Vec<HttpRequest>,
    slept: Vec<Duration>,
    /// Simulated time spent waiting on requests (stalls).
    in_requests: Duration,
    /// The host's environment, as [`Transport::setting`] reads it.
    settings: Vec<(&'static str, &'static str)>,
}

impl Script {
    fn answer(mut self, status: u16, body: Value) -> Self {
        self.steps.push_back(Step::Answer(HttpResponse {
            status,
            headers: vec![],
            body: body.to_string().into_bytes(),
        }));
        self
    }

    fn answer_with(mut self, status: u16, headers: &[(&str, &str)], body: &str) -> Self {
        self.steps.push_back(Step::Answer(HttpResponse {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.as_bytes().to_vec(),
        }));
        self
    }

    fn fail(mut self, kind: TransportErrorKind) -> Self {
        self.steps
            .push_back(Step::Fail(TransportError::new(kind, "connection reset")));
        self
    }

    fn setting(mut self, name: &'static str, value: &'static str) -> Self {
        self.settings.push((name, value));
        self
    }

    fn stall(mut self) -> Self {
        self.steps.push_back(Step::Stall);
        self
    }

    /// Simulated time since the script started: sleeps and stalls.
    fn clock(&self) -> Duration {
        self.slept.iter().sum::<Duration>() + self.in_requests
    }

    fn lines(&self) -> Vec<String> {
        self.sent
            .iter()
            .map(|r| {
                let path = r.url.trim_start_matches("https://acme.gladly.com/api/v1");
                format!("{} {}", r.method.as_str(), path)
            })
            .collect()
    }
}

impl Transport for Script {
    fn send(&mut self, request: &HttpRequest) -> Result<HttpResponse, TransportError> {
        self.sent.push(request.clone());
        match self.steps.pop_front() {
            Some(Step::Answer(r)) => Ok(r),
            Some(Step::Fail(e)) => Err(e),
            Some(Step::Stall) => {
                self.in_requests += request.timeout.map_or(STALL, |t| t.min(STALL));
                Err(TransportError::new(
                    TransportErrorKind::Lost,
                    "no answer before the timeout",
                ))
            }
            None => panic!("unscripted request: {request:?}"),
        }
    }

    fn sleep(&mut self, d: Duration) {
        self.slept.push(d);
    }

    fn jitter(&mut self) -> f64 {
        0.5
    }

    fn now_unix(&mut self) -> u64 {
        // Sun, 06 Nov 1994 08:49:37 GMT, RFC 9110's example date.
        784_111_777
    }

    fn setting(&mut self, name: &str) -> Option<String> {
        self.settings
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }

    /// Simulated time: only sleeping and stalls move the clock.
    fn monotonic(&mut self) -> Duration {
        self.clock()
    }
}

/// A request's header, by name in any case.
fn header<'r>(r: &'r HttpRequest, name: &str) -> Option<&'r str> {
    r.headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The JSON body of the `i`th request sent.
fn sent_body(s: &Script, i: usize) -> Value {
    serde_json::from_slice(s.sent[i].body.as_deref().expect("a body was sent"))
        .expect("the body sent is JSON")
}

fn conn() -> Connection {
    Connection {
        org_url: "https://acme.gladly.com".into(),
        api_user: "api@acme.com".into(),
        credential: Credential::Token("t0k3n-s3cr3t".into()),
    }
}

fn agent(id: &str, email: &str, active: bool) -> Value {
    json!({"id": id, "emailAddress": email, "name": "A", "role": "AGENT", "active": active,
           "inboxes": ["ibx_1"], "teams": []})
}

fn page(items: Vec<Value>, next: Option<&str>) -> Value {
    json!({"items": items, "nextCursor": next})
}

fn new(email: &str) -> NewAgent {
    NewAgent {
        email_address: email.into(),
        name: "A".into(),
        role: Role::Agent,
        inboxes: vec![],
        teams: vec![],
        external_id: None,
        phone_number: None,
        language: None,
        agent_profile: None,
    }
}

#[test]
fn every_request_carries_basic_auth_and_debug_hides_it() {
    let mut s = Script::default().answer(200, page(vec![], None));
    ops::list_agents(&mut s, &conn(), false).unwrap();
    let auth = header(&s.sent[0], "authorization").unwrap();
    // base64("api@acme.com:t0k3n-s3cr3t")
    assert_eq!(auth, "Basic YXBpQGFjbWUuY29tOnQwazNuLXMzY3IzdA==");
    let shown = format!("{:?}", s.sent[0]);
    assert!(
        !shown.contains("YXBp") && !shown.contains("t0k3n"),
        "got {shown}"
    );
}

#[test]
fn a_host_completed_credential_sends_the_placeholder_for_the_host_to_swap() {
    let placeholder = "OBELISK_SECRET_0123abcd";
    let c = Connection {
        credential: Credential::HostCompleted(placeholder.into()),
        ..conn()
    };
    let mut s = Script::default().answer(
        401,
        json!({"errors": [{"detail": format!("bad Basic {placeholder}")}]}),
    );
    let e = ops::list_agents(&mut s, &c, false).unwrap_err();
    let auth = header(&s.sent[0], "authorization").unwrap();
    // Verbatim, not base64-encoded: the host finds it by plain replacement.
    assert_eq!(auth, format!("Basic {placeholder}"));
    assert!(matches!(e, Error::Unauthorized(_)), "got {e:?}");
    assert!(!e.to_string().contains(placeholder), "got {e}");
    assert!(!format!("{c:?}").contains(placeholder));
}

#[test]
fn lists_follow_cursors_with_the_largest_page() {
    let mut s = Script::default()
        .answer(200, page(vec![agent("a1", "a@x.io", true)], Some("c/2")))
        .answer(200, page(vec![agent("a2", "b@x.io", false)], Some("c3")))
        .answer(200, page(vec![agent("a3", "c@x.io", true)], None));
    let all = ops::list_agents(&mut s, &conn(), true).unwrap();
    assert_eq!(
        all.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(),
        ["a1", "a3"]
    );
    assert_eq!(
        s.lines(),
        [
            "GET /agents?limit=100&active=true",
            "GET /agents?limit=100&active=true&cursor=c%2F2",
            "GET /agents?limit=100&active=true&cursor=c3",
        ]
    );
}

#[test]
fn a_cursor_that_repeats_is_an_upstream_error_not_a_loop() {
    let mut s = Script::default()
        .answer(200, page(vec![], Some("same")))
        .answer(200, page(vec![], Some("same")));
    let e = ops::list_agents(&mut s, &conn(), false).unwrap_err();
    assert!(matches!(e, Error::Upstream { .. }), "got {e:?}");
}

#[test]
fn lookup_by_email_ignores_what_a_lax_filter_lets_through() {
    let mut s = Script::default().answer(
        200,
        json!([
            {"id": "1", "name": "J", "emailAddress": "jane@x.io"},
            {"id": "2", "name": "S", "emailAddress": "Sam@X.io"}
        ]),
    );
    let found = ops::lookup(&mut s, &conn(), &AgentKey::Email("sam@x.io".into()))
        .unwrap()
        .unwrap();
    assert_eq!(found.id, "2");
    assert_eq!(s.lines(), ["GET /agents?limit=100&emailAddress=sam%40x.io"]);
}

#[test]
fn ids_are_percent_encoded_in_paths() {
    let mut s = Script::default().answer(404, json!({"errors": [{"code": "not_exist"}]}));
    let r = ops::lookup(&mut s, &conn(), &AgentKey::Id("a:b~c".into())).unwrap();
    assert_eq!(r, None);
    assert_eq!(s.lines(), ["GET /agents/a%3Ab~c"]);
}

#[test]
fn retry_after_seconds_and_dates_are_waited_then_retried() {
    let mut s = Script::default()
        .answer_with(429, &[("retry-after", "3")], "")
        .answer_with(429, &[("Retry-After", "Sun, 06 Nov 1994 08:49:42 GMT")], "")
        .answer(200, json!([]));
    ops::list_teams(&mut s, &conn()).unwrap();
    assert_eq!(s.slept, [Duration::from_secs(3), Duration::from_secs(5)]);
}

#[test]
fn a_429_without_retry_after_backs_off_exponentially() {
    let mut s = Script::default()
        .answer_with(429, &[], "")
        .answer_with(429, &[], "")
        .answer_with(429, &[], "")
        .answer(200, json!([]));
    ops::list_inboxes(&mut s, &conn()).unwrap();
    // From a second, Gladly's window; equal jitter at 0.5: 3/4 of 1 s,
    // 2 s, 4 s.
    assert_eq!(
        s.slept,
        [
            Duration::from_millis(750),
            Duration::from_millis(1500),
            Duration::from_millis(3000)
        ]
    );
}

#[test]
fn a_429_declaring_a_per_second_limit_is_retried_within_the_next_second() {
    let spent = [
        ("ratelimit-limit-second", "10"),
        ("ratelimit-remaining-second", "0"),
    ];
    let mut s = Script::default()
        .answer_with(429, &spent, "")
        .answer_with(429, &spent, "")
        .answer_with(429, &spent, "")
        .answer(200, json!([]));
    ops::list_inboxes(&mut s, &conn()).unwrap();
    // Others hold the second's slots: about a window each time (0.5 to
    // 1.5 s; 1 s at jitter 0.5), not 0.75, 1.5, 3 s, which would leave the
    // window to them; then the pacing waits out the rest of the time its
    // own refused request stays in the window (it sent it 1 s before: 25
    // ms more).
    let (second, margin) = (Duration::from_secs(1), Duration::from_millis(25));
    assert_eq!(s.slept, [second, margin, second, margin, second, margin]);
}

#[test]
fn a_wait_beyond_the_budget_is_not_slept() {
    let mut s = Script::default().answer_with(429, &[("retry-after", "3600")], "");
    let e = ops::list_teams(&mut s, &conn()).unwrap_err();
    assert_eq!(
        e,
        Error::RateLimited {
            retry_after_ms: Some(3_600_000),
            attempts: 1,
            message: e
                .to_string()
                .trim_start_matches("rate limited: ")
                .to_string(),
        }
    );
    assert!(s.slept.is_empty());
}

#[test]
fn an_absurd_retry_after_after_a_wait_does_not_overflow() {
    let mut s = Script::default()
        .answer_with(429, &[("retry-after", "1")], "")
        .answer_with(429, &[("retry-after", "18446744073709551615")], "");
    let e = ops::list_teams(&mut s, &conn()).unwrap_err();
    assert!(
        matches!(e, Error::RateLimited { attempts: 2, .. }),
        "got {e:?}"
    );
}

#[test]
fn lost_reads_are_retried_but_a_lost_create_is_looked_up_first() {
    let mut s = Script::default()
        .fail(TransportErrorKind::Lost)
        .answer(200, page(vec![], None));
    ops::list_agents(&mut s, &conn(), false).unwrap();
    assert_eq!(s.sent.len(), 2);

    let mut s = Script::default()
        .answer(200, page(vec![], None)) // look-up before creating
        .fail(TransportErrorKind::Lost) // the create's answer is lost
        .answer(200, page(vec![agent("new", "n@x.io", true)], None)); // found
    let r = ops::provision(&mut s, &conn(), &new("n@x.io"), &WriteOptions::default()).unwrap();
    assert_eq!(r.outcome, Outcome::Created);
    assert_eq!(r.agent.unwrap().id, "new");
    assert_eq!(
        s.lines(),
        [
            "GET /agents?limit=100&emailAddress=n%40x.io",
            "POST /agents",
            "GET /agents?limit=100&emailAddress=n%40x.io",
        ]
    );
}

#[test]
fn a_denied_request_is_not_retried() {
    let mut s = Script::default().fail(TransportErrorKind::Denied);
    let e = ops::list_teams(&mut s, &conn()).unwrap_err();
    assert!(
        matches!(e, Error::Transport(ref m) if m.contains("refused by the host")),
        "got {e:?}"
    );
    assert_eq!(s.sent.len(), 1);
}

#[test]
fn a_patch_answer_that_disagrees_is_an_error() {
    let mut s = Script::default()
        .answer(200, agent("a1", "a@x.io", true))
        .answer(200, json!({"id": "a1", "role": "AGENT"}));
    let changes = AgentChanges {
        role: Some(Role::Admin),
        ..Default::default()
    };
    let e = ops::update(
        &mut s,
        &conn(),
        &AgentKey::Id("a1".into()),
        &changes,
        &WriteOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(e, Error::Upstream { ref message, .. } if message.contains("role")),
        "got {e:?}"
    );
}

#[test]
fn a_terse_patch_answer_is_checked_against_a_fresh_read() {
    let mut s = Script::default()
        .answer(200, agent("a1", "a@x.io", true))
        .answer_with(204, &[], "")
        .answer(200, agent("a1", "a@x.io", false));
    let r = ops::offboard(
        &mut s,
        &conn(),
        &AgentKey::Id("a1".into()),
        &WriteOptions::default(),
    )
    .unwrap();
    assert_eq!(r.outcome, Outcome::Deactivated);
    assert_eq!(r.agent.unwrap().active, Some(false));
    assert_eq!(
        s.lines(),
        ["GET /agents/a1", "PATCH /agents/a1", "GET /agents/a1"]
    );
}

#[test]
fn a_partial_patch_answer_is_merged_over_what_was_known() {
    // Seed 000's PATCH example answers only {id, role, inboxes}.
    let mut s2 = Script::default()
        .answer(200, agent("a1", "a@x.io", true))
        .answer(
            200,
            json!({"items": [{"id": "ibx_1", "name": "One"}, {"id": "ibx_2", "name": "Two"}]}),
        )
        .answer(
            200,
            json!({"id": "a1", "role": "TEAM_LEAD", "inboxes": ["ibx_1", "ibx_2"]}),
        )
        // A delta is verified by reading the agent again.
        .answer(
            200,
            json!({"id": "a1", "emailAddress": "a@x.io", "name": "A", "role": "TEAM_LEAD",
                   "active": true, "inboxes": ["ibx_1", "ibx_2"], "teams": []}),
        );
    let changes = AgentChanges {
        role: Some(Role::TeamLead),
        inboxes: Some(MembershipChange::Delta(MembershipDelta {
            add: vec!["two".into()],
            remove: vec![],
        })),
        ..Default::default()
    };
    let r = ops::update(
        &mut s2,
        &conn(),
        &AgentKey::Id("a1".into()),
        &changes,
        &WriteOptions::default(),
    )
    .unwrap();
    let a = r.agent.unwrap();
    assert_eq!(a.email_address, "a@x.io");
    assert_eq!(a.role, Some(Role::TeamLead));
    assert_eq!(a.inboxes, Some(vec!["ibx_1".into(), "ibx_2".into()]));
    let body: Value = serde_json::from_slice(s2.sent[2].body.as_ref().unwrap()).unwrap();
    assert_eq!(
        body,
        json!({"role": "TEAM_LEAD", "inboxes": ["ibx_1", "ibx_2"]})
    );
}

#[test]
fn a_409_on_create_settles_with_the_agent_that_appeared() {
    let mut s = Script::default()
        .answer(200, page(vec![], None))
        .answer(
            409,
            json!({"errors": [{"attr": "emailAddress", "code": "taken"}]}),
        )
        .answer(200, page(vec![agent("x1", "n@x.io", true)], None));
    let r = ops::provision(&mut s, &conn(), &new("n@x.io"), &WriteOptions::default()).unwrap();
    assert_eq!(r.outcome, Outcome::AlreadyExisted);
    // The refused create was sent, so it is reported.
    assert_eq!(r.requests.len(), 1);
    assert_eq!(r.requests[0].method, "POST");
}

#[test]
fn statuses_map_to_typed_errors() {
    for (status, want) in [
        (401, "unauthorized"),
        (403, "forbidden"),
        (404, "not found"),
        (400, "invalid input in changes.inboxes"),
        (500, "upstream error (HTTP 500)"),
    ] {
        let mut s = Script::default()
            .answer(200, agent("a1", "a@x.io", true))
            .answer(
                status,
                json!({"errors": [{"attr": "inboxes", "code": "x", "detail": "nope"}]}),
            )
            // After a 404 on PATCH the core reads the agent again, to tell a
            // vanished agent from an API without PATCH.
            .answer(404, json!({"errors": [{"code": "not_exist"}]}));
        let changes = AgentChanges {
            name: Some("B".into()),
            ..Default::default()
        };
        let e = ops::update(
            &mut s,
            &conn(),
            &AgentKey::Id("a1".into()),
            &changes,
            &WriteOptions::default(),
        )
        .unwrap_err();
        assert!(
            e.to_string().starts_with(want),
            "for {status}: expected {want}, got {e}"
        );
    }
}

#[test]
fn nothing_from_the_server_can_make_the_core_panic() {
    let bodies: [&[u8]; 9] = [
        b"",
        b"null",
        b"{\"items\": 5}",
        b"{\"items\": [{\"id\": 1}]}",
        b"[{\"emailAddress\": \"x\"}]",
        b"\xff\xfe",
        b"{\"items\": [], \"nextCursor\": 7}",
        b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
        b"{\"id\": \"a\", \"emailAddress\": \"a@x.io\", \"role\": 5}",
    ];
    for body in bodies {
        for status in [200u16, 201, 204, 302, 409, 429, 500, 599] {
            let mut s = Script::default();
            for _ in 0..12 {
                s.steps.push_back(Step::Answer(HttpResponse {
                    status,
                    headers: vec![("retry-after".into(), "nonsense".into())],
                    body: body.to_vec(),
                }));
            }
            let opts = WriteOptions {
                retry: Some(RetryPolicy {
                    max_attempts: 2,
                    max_total_wait: Duration::from_secs(1),
                }),
                ..Default::default()
            };
            let _ = ops::list_agents(&mut s, &conn(), false);
            let _ = ops::provision(&mut s, &conn(), &new("a@x.io"), &opts);
        }
    }
}

#[test]
fn a_delta_overwritten_by_another_writer_is_applied_again() {
    let with = |inboxes: &[&str]| {
        json!({"id": "a1", "emailAddress": "a@x.io", "name": "A", "role": "AGENT",
               "active": true, "inboxes": inboxes, "teams": []})
    };
    let mut s = Script::default()
        .answer(200, with(&["ibx_1"])) // the read
        .answer(
            200,
            json!({"items": [{"id": "ibx_1"}, {"id": "ibx_2"}, {"id": "ibx_3"}]}),
        )
        .answer(200, with(&["ibx_1", "ibx_2"])) // our PATCH
        .answer(200, with(&["ibx_1", "ibx_3"])) // the re-read: another writer won
        .answer(200, with(&["ibx_1", "ibx_3", "ibx_2"])) // applied again
        .answer(200, with(&["ibx_1", "ibx_3", "ibx_2"])); // verified
    let changes = AgentChanges {
        inboxes: Some(MembershipChange::Delta(MembershipDelta {
            add: vec!["ibx_2".into()],
            remove: vec![],
        })),
        ..Default::default()
    };
    let r = ops::update(
        &mut s,
        &conn(),
        &AgentKey::Id("a1".into()),
        &changes,
        &WriteOptions::default(),
    )
    .unwrap();
    assert_eq!(
        s.lines(),
        [
            "GET /agents/a1",
            "GET /inboxes?limit=100",
            "PATCH /agents/a1",
            "GET /agents/a1",
            "PATCH /agents/a1",
            "GET /agents/a1"
        ]
    );
    assert_eq!(
        s.sent[4].body.as_deref(),
        Some(br#"{"inboxes":["ibx_1","ibx_3","ibx_2"]}"#.as_slice())
    );
    assert_eq!(
        r.agent.unwrap().inboxes.unwrap(),
        ["ibx_1", "ibx_3", "ibx_2"]
    );
    assert!(
        r.warnings.iter().any(|w| w.contains("Another writer")),
        "{:?}",
        r.warnings
    );
}
