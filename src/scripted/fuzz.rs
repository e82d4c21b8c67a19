//! Every decoder of what a server sends, fed arbitrary and mutated answers:
//! statuses, headers (`Retry-After`, rate-limit headers, `Location`,
//! `Content-Length`), and bodies (random bytes, and valid pages, agents and
//! error bodies cut and corrupted). The core must never panic, must answer
//! `Ok` or a typed `Error`, and must never let the credentials through, even
//! when the server echoes them.
//!
//! The echoes are injected in every form a server or proxy might write them
//! ([`echoes`]), at random offsets, many of them across the 200th character
//! where an error's excerpt is cut, and no piece of any of them that gives
//! the secret away may reach an error or a result.
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

const USER: &str = "api@acme.com";

/// One echo of the credential as a server or proxy might write it, and the
/// shortest piece of it that already gives the secret away: a prefix of 8
/// characters of a base64 or token form; of a `user:token` form, what
/// reaches the token (the user alone is no secret).
#[derive(Clone, Debug)]
struct Echo {
    text: String,
    piece: String,
}

/// Every echo form: the token; `user:token` as is, JSON-escaped and
/// percent-encoded; its base64, standard and URL-safe, padded and not, with
/// `Basic ` in any case or without; and base64 with the credential at the
/// two other alignments of a longer base64 string. With `host_completed`,
/// the component never knew the token, so the token alone (which only the
/// host can find, `tests/all/scrub.rs`) is left out.
fn echoes(host_completed: bool) -> Vec<Echo> {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let pair = format!("{USER}:{TOKEN}");
    let reach = USER.len() + 2;
    let json = |s: &str| -> String { s.chars().map(|c| format!("\\u{:04x}", c as u32)).collect() };
    let percent = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    let b64 = |t: String| Echo {
        piece: t.chars().take(8).collect(),
        text: t,
    };
    let mut out = vec![
        Echo {
            text: pair.clone(),
            piece: pair[..reach].to_string(),
        },
        Echo {
            text: json(&pair),
            piece: json(&pair[..reach]),
        },
        Echo {
            text: percent(&pair),
            piece: percent(&pair[..reach]),
        },
        b64(STANDARD.encode(&pair)),
        b64(STANDARD_NO_PAD.encode(&pair)),
        b64(URL_SAFE.encode(&pair)),
        b64(URL_SAFE_NO_PAD.encode(&pair)),
    ];
    for (basic, text) in [
        ("Basic ", STANDARD.encode(&pair)),
        ("basic ", URL_SAFE_NO_PAD.encode(&pair)),
        ("BASIC ", STANDARD_NO_PAD.encode(&pair)),
    ] {
        out.push(Echo {
            piece: format!("{basic}{}", &text[..8]),
            text: format!("{basic}{text}"),
        });
    }
    // Inside a longer base64 string, one and two bytes in: the characters
    // from the third on depend on the credential alone.
    for lead in ["x", "xy"] {
        let text = STANDARD.encode(format!("{lead}{pair}"));
        out.push(Echo {
            piece: text[3..11].to_string(),
            text,
        });
    }
    if !host_completed {
        out.push(Echo {
            text: TOKEN.to_string(),
            piece: TOKEN[..8].to_string(),
        });
        out.push(Echo {
            text: percent(TOKEN),
            piece: percent(&TOKEN[..8]),
        });
        // Echoes that begin inside the secret (a masked head, a proxy that
        // cut the front off): what is left of it, from 8 characters on.
        out.push(Echo {
            text: format!("****{}", &TOKEN[3..]),
            piece: TOKEN[3..11].to_string(),
        });
        let encoded = STANDARD.encode(&pair);
        out.push(Echo {
            piece: encoded[encoded.len() - 10..encoded.len() - 2].to_string(),
            text: encoded[encoded.len() - 12..].to_string(),
        });
    }
    out
}

/// An answer carrying `echo`: as a plain body, in an error's `detail`, as a
/// cursor, in a value a decoder quotes, or in a `Location` header. `before`
/// characters precede it in the body, so it often crosses the 200th.
fn echoed_answer(echo: &Echo, carrier: usize, before: usize, status: u16) -> HttpResponse {
    let fill = |open: &str| ".".repeat(before.saturating_sub(open.len()));
    let (status, headers, body) = match carrier {
        0 => (
            status,
            vec![],
            format!("{}{} and more", fill(""), echo.text),
        ),
        1 => {
            let open = r#"{"errors": [{"code": "x", "detail": ""#;
            (
                status,
                vec![],
                format!(r#"{open}{}{}"}}]}}"#, fill(open), echo.text),
            )
        }
        2 => (
            200,
            vec![],
            format!(r#"{{"items": [], "nextCursor": "{}"}}"#, echo.text),
        ),
        3 => {
            let open = r#"{"id": "a1", "emailAddress": "a@x.io", "active": ""#;
            (
                200,
                vec![],
                format!(r#"{open}{}{}"}}"#, fill(open), echo.text),
            )
        }
        _ => (
            301,
            vec![("location".to_string(), echo.text.clone())],
            fill(""),
        ),
    };
    HttpResponse {
        status,
        headers,
        body: body.into_bytes(),
    }
}

fn echoed_answers(host_completed: bool) -> impl Strategy<Value = (Echo, Vec<HttpResponse>)> {
    let forms = echoes(host_completed);
    (
        prop::sample::select(forms),
        prop::collection::vec(
            (
                0usize..5,
                prop_oneof![0usize..400, 150usize..200],
                prop::sample::select(vec![200u16, 400, 401, 403, 404, 409, 422, 500, 502, 503]),
            ),
            1..4,
        ),
    )
        .prop_map(|(echo, carriers)| {
            let answers = carriers
                .into_iter()
                .map(|(c, before, status)| echoed_answer(&echo, c, before, status))
                .collect();
            (echo, answers)
        })
}

/// Fails when any piece of `echo` that gives the secret away is in `shown`.
fn no_piece_of(echo: &Echo, shown: &str) -> Result<(), TestCaseError> {
    prop_assert!(
        !shown.contains(&echo.piece),
        "the echo {:?} leaked as {:?}: {}",
        echo.text,
        echo.piece,
        shown
    );
    Ok(())
}

/// Every call of the core over `answers`, and what each answered, as a
/// person or a log would see it (errors with `Display` and `Debug`).
fn every_answer(c: &Connection, answers: &[HttpResponse]) -> Vec<String> {
    let opts = WriteOptions {
        retry: Some(RetryPolicy {
            max_attempts: 2,
            max_total_wait: Duration::from_millis(10),
        }),
        ..Default::default()
    };
    let shown = |r: Result<String, Error>| match r {
        Ok(v) => v,
        Err(e) => format!("{e} {e:?}"),
    };
    let changes = AgentChanges {
        email_address: Some("b@x.io".into()),
        inboxes: Some(MembershipChange::Delta(MembershipDelta {
            add: vec!["ibx_1".into()],
            remove: vec![],
        })),
        ..Default::default()
    };
    let mut out = Vec::new();
    let mut run = |f: &dyn Fn(&mut Script) -> Result<String, Error>| {
        out.push(shown(f(&mut script(answers))));
    };
    run(&|s| ops::list_agents(s, c, false).map(|_| String::new()));
    run(&|s| ops::lookup(s, c, &AgentKey::ExternalId("X1".into())).map(|_| String::new()));
    run(&|s| ops::get_availability(s, c, "a1").map(|_| String::new()));
    run(&|s| ops::check_connection(s, c).map(|_| String::new()));
    run(&|s| {
        ops::provision(s, c, &new("a@x.io"), &opts)
            .map(|r| format!("{:?} {:?} {:?}", r.warnings, r.differences, r.requests))
    });
    run(&|s| {
        ops::update(s, c, &AgentKey::Id("a1".into()), &changes, &opts)
            .map(|r| format!("{:?} {:?} {:?}", r.warnings, r.differences, r.requests))
    });
    run(&|s| {
        ops::offboard(s, c, &AgentKey::Email("a@x.io".into()), &opts)
            .map(|r| format!("{:?} {:?}", r.warnings, r.requests))
    });
    out
}

proptest! {
    // Each case makes seven calls: a quarter of the cases of the others.
    #![proptest_config(ProptestConfig { cases: cases().div_ceil(4), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn no_echo_form_of_the_token_leaks_in_any_piece((echo, answers) in echoed_answers(false)) {
        for shown in every_answer(&conn(), &answers) {
            no_piece_of(&echo, &shown)?;
        }
    }

    #[test]
    fn no_echo_of_a_host_completed_credential_leaks_in_any_piece((echo, answers) in echoed_answers(true)) {
        let c = Connection {
            credential: Credential::HostCompleted("GLADLY_HOST_CREDENTIAL_00".into()),
            ..conn()
        };
        for shown in every_answer(&c, &answers) {
            no_piece_of(&echo, &shown)?;
        }
    }
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
            let secrets = crate::scrub::Secrets::new(USER, TOKEN);
            let e = crate::client::status_error(&HttpResponse { status, ..resp.clone() }, "x", &secrets);
            let _ = e.to_string();
        }
    }
}
