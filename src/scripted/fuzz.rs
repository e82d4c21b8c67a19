//! Every decoder of what a server sends, fed arbitrary and mutated answers:
//! statuses, headers (`Retry-After`, rate-limit headers, `Location`,
//! `Content-Length`), and bodies (random bytes, and valid pages, agents and
//! error bodies cut and corrupted). The core must never panic, must answer
//! `Ok` or a typed `Error`, and must never let the credentials through, even
//! when the server echoes them.
//!
//! `PROPTEST_CASES` sets the inputs per property (default 2,000 each); for a
//! long run: `PROPTEST_CASES=1000000 cargo test --release -p gladly-connector --lib fuzz`.

use proptest::prelude::*;

use super::*;

const TOKEN: &str = "t0k3n-s3cr3t";

/// One read through the core, its answer dropped.
type Read = dyn Fn(&mut Script) -> Result<(), Error>;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000)
}

/// Answers a server might give: the valid shapes, cut and corrupted, or
/// noise, with the token sometimes echoed inside.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let valid = prop_oneof![
        Just(
            page(
                vec![agent("a1", "a@x.io", true), agent("a2", "b@x.io", false)],
                Some("c2")
            )
            .to_string()
        ),
        Just(json!([{"id": "a1", "name": "A", "emailAddress": "a@x.io"}]).to_string()),
        Just(agent("a1", "a@x.io", true).to_string()),
        Just(
            json!({"errors": [{"attr": "emailAddress", "code": "taken", "detail": "taken"}]})
                .to_string()
        ),
        Just(json!({"errors": {"attr": "name", "code": "blank"}}).to_string()),
        Just(json!({"items": [], "nextCursor": null}).to_string()),
    ];
    let mutated = (
        valid,
        any::<prop::sample::Index>(),
        any::<prop::sample::Index>(),
        prop::collection::vec(any::<u8>(), 0..8),
        any::<bool>(),
    )
        .prop_map(|(v, cut, at, noise, echo)| {
            let mut b = v.into_bytes();
            let cut = cut.index(b.len() + 1);
            b.truncate(cut.max(b.len() / 2));
            let at = at.index(b.len() + 1);
            b.splice(at..at, noise);
            if echo {
                let at = b.len() / 2;
                b.splice(at..at, format!("Authorization: Basic {TOKEN}").into_bytes());
            }
            b
        });
    prop_oneof![mutated, prop::collection::vec(any::<u8>(), 0..300)]
}

fn header() -> impl Strategy<Value = (String, String)> {
    let names = prop::sample::select(vec![
        "retry-after",
        "ratelimit-remaining-second",
        "ratelimit-limit-second",
        "location",
        "content-length",
        "content-type",
    ]);
    let values = prop_oneof![
        prop::sample::select(vec![
            "0",
            "1",
            "-1",
            "3.5",
            "1e308",
            "NaN",
            "18446744073709551616",
            "",
            "Sun, 06 Nov 1994 08:49:42 GMT",
            "Fri, 31 Dec 9999 23:59:59 GMT",
            "soon",
            "https://elsewhere.example/",
            TOKEN,
        ])
        .prop_map(str::to_string),
        prop::collection::vec(any::<char>(), 0..12).prop_map(|c| c.into_iter().collect()),
    ];
    (names, values).prop_map(|(n, v)| (n.to_string(), v))
}

fn answer() -> impl Strategy<Value = HttpResponse> {
    (
        prop_oneof![
            Just(200u16),
            Just(201),
            Just(204),
            Just(301),
            Just(400),
            Just(404),
            Just(409),
            Just(422),
            Just(429),
            Just(502),
            100u16..600
        ],
        prop::collection::vec(header(), 0..4),
        body(),
    )
        .prop_map(|(status, headers, body)| HttpResponse {
            status,
            headers,
            body,
        })
}

/// A script of these answers, repeated so that no call runs out (a walk
/// ends at a repeated cursor; retries are bounded).
fn script(answers: &[HttpResponse]) -> Script {
    let mut s = Script::default();
    for _ in 0..64 {
        for a in answers {
            s.steps.push_back(Step::Answer(a.clone()));
        }
    }
    s
}

#[track_caller]
fn clean(e: &Error) {
    let shown = format!("{e} {e:?}");
    assert!(!shown.contains(TOKEN), "the token leaked: {shown}");
    assert!(
        !shown.contains("YXBpQGFjbWUuY29tOnQwazNuLXMzY3IzdA"),
        "the credential leaked: {shown}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_answers_to_every_read_end_in_a_typed_answer(answers in prop::collection::vec(answer(), 1..4)) {
        let opts = WriteOptions {
            retry: Some(RetryPolicy { max_attempts: 2, max_total_wait: Duration::from_millis(10) }),
            ..Default::default()
        };
        let reads: [&Read; 6] = [
            &|s| ops::list_agents(s, &conn(), false).map(drop),
            &|s| ops::lookup(s, &conn(), &AgentKey::Email("a@x.io".into())).map(drop),
            &|s| ops::lookup(s, &conn(), &AgentKey::ExternalId("X1".into())).map(drop),
            &|s| ops::list_teams(s, &conn()).map(drop),
            &|s| ops::get_availability(s, &conn(), "a1").map(drop),
            &|s| ops::check_connection(s, &conn()).map(drop),
        ];
        for read in reads {
            let mut s = script(&answers);
            if let Err(e) = read(&mut s) {
                clean(&e);
            }
        }
        let mut s = script(&answers);
        if let Err(e) = ops::provision(&mut s, &conn(), &new("a@x.io"), &opts) {
            clean(&e);
        }
    }

    #[test]
    fn arbitrary_answers_to_writes_end_in_a_typed_answer(answers in prop::collection::vec(answer(), 1..5)) {
        let opts = WriteOptions {
            retry: Some(RetryPolicy { max_attempts: 2, max_total_wait: Duration::from_millis(10) }),
            ..Default::default()
        };
        let changes = AgentChanges {
            email_address: Some("b@x.io".into()),
            inboxes: Some(MembershipChange::Delta(MembershipDelta { add: vec!["ibx_1".into()], remove: vec![] })),
            ..Default::default()
        };
        let mut s = script(&answers);
        if let Err(e) = ops::update(&mut s, &conn(), &AgentKey::Id("a1".into()), &changes, &opts) {
            clean(&e);
        }
        let mut s = script(&answers);
        if let Err(e) = ops::offboard(&mut s, &conn(), &AgentKey::Email("a@x.io".into()), &opts) {
            clean(&e);
        }
        let desired = [crate::roster::DesiredAgent {
            email_address: "a@x.io".into(),
            name: "A".into(),
            role: None,
            inboxes: Some(vec!["ibx_1".into()]),
            teams: None,
            external_id: Some("X1".into()),
            phone_number: None,
            language: None,
            agent_profile: None,
            active: true,
        }];
        let mut s = script(&answers);
        match crate::roster::plan(&mut s, &conn(), &desired, &Default::default()) {
            Err(e) => clean(&e),
            Ok(plan) => {
                for change in &plan.changes {
                    let mut s = script(&answers);
                    if let Err(e) = crate::roster::apply_change(&mut s, &conn(), change, &Default::default()) {
                        clean(&e);
                    }
                }
            }
        }
    }

    #[test]
    fn retry_after_and_error_bodies_read_anything(h in header(), body in body(), now in any::<u64>()) {
        let resp = HttpResponse { status: 429, headers: vec![h], body };
        let _ = crate::client::retry_after(&resp, now);
        // Never an absurd sleep from a hostile header: whatever it asks, the
        // call sleeps only within its deadline.
        let mut s = Script::default()
            .answer_with(429, &[(resp.headers[0].0.as_str(), resp.headers[0].1.as_str())], "")
            .answer(200, json!([]));
        let _ = ops::list_teams(&mut s, &conn());
        prop_assert!(s.clock() <= crate::client::CALL_DEADLINE, "slept {:?}", s.slept);
        let _ = crate::client::gladly_errors(&resp.body);
        for status in [301u16, 400, 409, 422, 500] {
            let e = crate::client::status_error(&HttpResponse { status, ..resp.clone() }, "x");
            let _ = e.to_string();
        }
    }
}
