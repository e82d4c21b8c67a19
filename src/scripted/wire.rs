//! What the core puts on the wire and how it reads what comes back: body
//! lengths, Gladly's published rate limit, both error-body forms, redirects,
//! and transport failures that must not be retried.

use super::*;

#[test]
fn a_body_carries_its_length_and_a_bodiless_request_carries_none() {
    let mut s = Script::default()
        .answer(200, page(vec![], None)) // nobody has the e-mail
        .answer(201, agent("a1", "a@x.io", true))
        .answer(200, agent("a1", "a@x.io", true)); // the lookup of a1
    let mut want = new("a@x.io");
    want.name = "A".into();
    ops::provision(&mut s, &conn(), &want, &WriteOptions::default()).unwrap();
    let post = s.sent.iter().find(|r| r.method == Method::Post).unwrap();
    let body = post.body.as_ref().unwrap();
    assert_eq!(
        header(post, "content-length"),
        Some(body.len().to_string().as_str()),
        "expected the body's length in bytes (UTF-8), got {post:?}"
    );
    for get in s.sent.iter().filter(|r| r.method == Method::Get) {
        assert_eq!(header(get, "content-length"), None, "got {get:?}");
        assert_eq!(get.body, None);
    }
    assert!(
        s.sent
            .iter()
            .all(|r| header(r, "transfer-encoding").is_none()),
        "the core never asks for chunking"
    );
}

#[test]
fn a_spent_second_is_waited_out_instead_of_drawing_a_429() {
    let spent = [
        ("ratelimit-limit-second", "10"),
        ("ratelimit-remaining-second", "0"),
    ];
    let left = [
        ("ratelimit-limit-second", "10"),
        ("ratelimit-remaining-second", "3"),
    ];
    let p = |next: Option<&str>| page(vec![agent("a1", "a@x.io", true)], next).to_string();
    let mut s = Script::default()
        .answer_with(200, &left, &p(Some("c1")))
        .answer_with(200, &spent, &p(Some("c2")))
        .answer_with(200, &spent, &p(None));
    ops::list_agents(&mut s, &conn(), false).unwrap();
    // The third page is sent once the first of the connector's own requests
    // in the window leaves it (a second and 25 ms after it, at 0 on the
    // script's clock), not at once; nothing is waited before the second.
    assert_eq!(s.slept, [Duration::from_millis(1_025)]);
    assert_eq!(s.sent.len(), 3);
}

#[test]
fn when_the_window_is_all_ours_the_wait_ends_a_second_after_its_oldest() {
    // A limit of 2: the first page at t=0, a 502 retried after a backoff,
    // the retry says the second is spent. Both of the call's last two
    // requests count, the oldest sent at 0, so the next waits until 1 s
    // (plus a margin), not a second from now.
    let spent = [
        ("ratelimit-limit-second", "2"),
        ("ratelimit-remaining-second", "0"),
    ];
    let p = |next: Option<&str>| page(vec![agent("a1", "a@x.io", true)], next).to_string();
    let mut s = Script::default()
        .answer_with(502, &[("ratelimit-remaining-second", "1")], "")
        .answer_with(200, &spent, &p(Some("c1")))
        .answer(200, page(vec![], None));
    ops::list_agents(&mut s, &conn(), false).unwrap();
    // 187.5 ms of backoff, then the pace: 1 s + 25 ms after the first send.
    assert_eq!(
        s.slept,
        [
            Duration::from_micros(187_500),
            Duration::from_micros(837_500)
        ]
    );
}

#[test]
fn pacing_is_per_method() {
    let spent = [("ratelimit-remaining-second", "0")];
    // A spent GET second does not hold back the POST that follows.
    let mut s = Script::default()
        .answer_with(200, &spent, &page(vec![], None).to_string())
        .answer(201, agent("a1", "a@x.io", true));
    ops::provision(&mut s, &conn(), &new("a@x.io"), &WriteOptions::default()).unwrap();
    assert!(s.slept.is_empty(), "got {:?}", s.slept);
}

#[test]
fn both_forms_of_gladly_error_bodies_are_read() {
    let list = br#"{"errors": [{"attr": "name", "code": "blank", "detail": "name is blank"}]}"#;
    let one = br#"{"errors": {"attr": "name", "code": "blank", "detail": "name is blank"}}"#;
    for body in [&list[..], &one[..]] {
        let got = crate::client::gladly_errors(body);
        assert_eq!(
            got,
            [crate::client::GladlyError {
                attr: Some("name".into()),
                code: Some("blank".into()),
                detail: Some("name is blank".into()),
            }],
            "for {}",
            String::from_utf8_lossy(body)
        );
    }
    for junk in [
        &b"not json"[..],
        b"{\"errors\": 5}",
        b"{\"errors\": [1, null]}",
        b"[]",
    ] {
        assert!(crate::client::gladly_errors(junk).is_empty());
    }
}

fn update_answered(status: u16, body: Value) -> (Error, Script) {
    let mut s = Script::default()
        .answer(200, agent("a1", "a@x.io", true))
        .answer(status, body)
        // A conflict on the e-mail is followed by a look-up of its holder.
        .answer(200, page(vec![agent("a9", "b@x.io", true)], None));
    let changes = AgentChanges {
        email_address: Some("b@x.io".into()),
        phone_number: Some("+15550100".into()),
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
    (e, s)
}

#[test]
fn taken_on_a_unique_field_is_a_conflict_naming_the_holder() {
    for (status, errors) in [
        (409, json!([{"attr": "emailAddress", "code": "taken"}])),
        (
            422,
            json!({"attr": "emailAddress", "code": "taken", "detail": "is taken"}),
        ),
        (400, json!([{"attr": "emailAddress", "code": "taken"}])),
    ] {
        let (e, _) = update_answered(status, json!({ "errors": errors }));
        match &e {
            Error::Conflict { message, agent_ids } => {
                assert_eq!(agent_ids, &["a9".to_string()], "for {status}");
                assert!(message.contains("changes.email-address"), "got {message}");
            }
            other => panic!("for {status}: expected conflict, got {other:?}"),
        }
    }
}

#[test]
fn field_errors_name_the_field_as_the_wit_does() {
    for (code, words) in [
        ("blank", "must not be blank"),
        ("invalid", "is invalid"),
        ("too_long", "is too long"),
        ("wrong_length", "has the wrong length"),
        ("not_a_number", "is not a number"),
        ("present", "must be blank"),
        ("not_exist", "does not exist"),
    ] {
        let (e, _) = update_answered(
            422,
            json!({"errors": [{"attr": "phoneNumber", "code": code}]}),
        );
        match &e {
            Error::InvalidInput { field, message } => {
                assert_eq!(field, "changes.phone-number", "for {code}");
                assert!(message.contains(words), "for {code}: got {message}");
            }
            other => panic!("for {code}: expected invalid-input, got {other:?}"),
        }
    }
    assert_eq!(
        crate::client::wit_field("agentProfile.avatarUrl"),
        "agent-profile.avatar-url"
    );
    assert_eq!(crate::client::wit_field("externalId"), "external-id");
}

#[test]
fn a_redirect_is_not_followed_and_says_where_it_pointed() {
    for status in [301u16, 302, 307, 308] {
        let mut s = Script::default().answer_with(
            status,
            &[("location", "https://acme2.gladly.com/api/v1/teams")],
            "",
        );
        let e = ops::list_teams(&mut s, &conn()).unwrap_err();
        match &e {
            Error::Upstream {
                status: st,
                message,
                ..
            } => {
                assert_eq!(*st, status);
                assert!(
                    message.contains("https://acme2.gladly.com/api/v1/teams")
                        && message.contains("org-url"),
                    "got {message}"
                );
            }
            other => panic!("for {status}: expected upstream, got {other:?}"),
        }
        assert_eq!(s.sent.len(), 1, "a redirect is never followed or retried");
    }
}

#[test]
fn certificate_and_size_failures_are_not_retried() {
    for (kind, words) in [
        (TransportErrorKind::Certificate, "certificate"),
        (TransportErrorKind::TooLarge, "too large"),
    ] {
        let mut s = Script::default().fail(kind);
        let e = ops::list_teams(&mut s, &conn()).unwrap_err();
        assert!(
            matches!(&e, Error::Transport(m) if m.contains(words)),
            "for {kind:?}: got {e:?}"
        );
        assert_eq!(s.sent.len(), 1, "for {kind:?}: asked again");
    }
}

#[test]
fn an_empty_next_cursor_ends_the_list() {
    let mut s = Script::default().answer(200, page(vec![agent("a1", "a@x.io", true)], Some("")));
    let all = ops::list_agents(&mut s, &conn(), false).unwrap();
    assert_eq!(all.len(), 1, "expected the one agent listed");
    assert_eq!(
        s.lines(),
        ["GET /agents?limit=100"],
        "expected no request for a page after an empty cursor"
    );
}

#[test]
fn check_connection_reports_the_normalised_address_and_the_api_flavor() {
    let c = Connection {
        org_url: "https://Acme.gladly.com/".into(),
        ..conn()
    };
    for (body, flavor) in [
        (page(vec![], None), ApiFlavor::Lifecycle),
        (json!([]), ApiFlavor::PublicSpec),
    ] {
        let mut s = Script::default().answer(200, body);
        let info = ops::check_connection(&mut s, &c).unwrap();
        assert_eq!(
            info,
            ConnectionInfo {
                base_url: "https://acme.gladly.com".into(),
                api_flavor: flavor,
            }
        );
        assert_eq!(s.lines(), ["GET /agents?limit=1"]);
    }
}

#[test]
fn an_upstream_error_carries_the_start_of_the_body() {
    let body = r#"{"errors": [{"detail": "the database is down"}]}"#;
    let mut s = Script::default().answer_with(500, &[], body);
    let e = ops::list_teams(&mut s, &conn()).unwrap_err();
    assert_eq!(
        e,
        Error::Upstream {
            status: 500,
            message:
                "Gladly answered the team list with HTTP 500. Gladly said: the database is down"
                    .into(),
            body_excerpt: body.into(),
        }
    );
}

#[test]
fn an_error_quotes_gladlys_detail_else_its_code_and_never_an_empty_one() {
    for (errors, said) in [
        (
            json!([{"code": "expired", "detail": "the token expired"}]),
            " Gladly said: the token expired",
        ),
        (json!([{"code": "expired"}]), " Gladly said: expired"),
        (json!([{"code": "expired", "detail": ""}]), ""),
        (json!([]), ""),
    ] {
        let mut s = Script::default().answer(401, json!({ "errors": errors }));
        let e = ops::list_teams(&mut s, &conn()).unwrap_err();
        assert_eq!(
            e,
            Error::Unauthorized(format!(
                "Gladly refused the credentials for the team list; check connection.api-user and connection.credential.{said}"
            )),
            "for {errors}"
        );
    }
}

#[test]
fn a_field_name_that_is_not_plausible_is_reported_as_the_request() {
    for attr in ["a".repeat(65), "phone number".into(), "".into()] {
        let (e, _) = update_answered(422, json!({"errors": [{"attr": attr, "code": "invalid"}]}));
        match &e {
            Error::InvalidInput { field, message } => {
                assert_eq!(field, "changes.request", "for {attr:?}");
                assert_eq!(
                    message, "Gladly rejected the change of agent a1: changes.request is invalid.",
                    "for {attr:?}"
                );
            }
            other => panic!("for {attr:?}: expected invalid-input, got {other:?}"),
        }
    }
}

#[test]
fn taken_is_a_conflict_only_on_a_unique_field() {
    for (attr, code, words) in [
        (
            "phoneNumber",
            "taken",
            "changes.phone-number is already taken",
        ),
        (
            "emailAddress",
            "invalid",
            "changes.email-address is invalid",
        ),
    ] {
        let (e, _) = update_answered(422, json!({"errors": [{"attr": attr, "code": code}]}));
        match &e {
            Error::InvalidInput { message, .. } => {
                assert!(message.contains(words), "for {attr} {code}: got {message}");
            }
            other => panic!("for {attr} {code}: expected invalid-input, got {other:?}"),
        }
    }
}

#[test]
fn an_answer_too_dense_to_read_is_an_upstream_error_not_a_trap() {
    // A million zeros (2 MB) read as one `Value` took 15 to 30 times their
    // size and trapped the component. A list is split into its items, read
    // one at a time (the first is no agent); more items than a call keeps
    // (400,000 small agents in one answer trapped it too), or more values
    // than a list may hold, are refused before any is read.
    for (zeros, says) in [
        (50_000, "expected struct Agent"),
        (1_000_000, "more than the 100000 one call reads"),
        (3_000_000, "more than the 2000000 a list may"),
    ] {
        let list = format!("[{}0]", "0,".repeat(zeros));
        let mut s = Script::default().answer_with(200, &[], &list);
        let e = ops::list_agents(&mut s, &conn(), false).unwrap_err();
        assert!(
            matches!(&e, Error::Upstream { message, .. } if message.contains(says)),
            "{zeros} zeros: got {e:?}"
        );
    }
    // One agent holding more than one answer may.
    let junk = format!(
        r#"{{"id":"a1","emailAddress":"a@x.io","junk":[{}0]}}"#,
        "0,".repeat(200_000)
    );
    let mut s = Script::default().answer_with(200, &[], &junk);
    let e = ops::lookup(&mut s, &conn(), &AgentKey::Id("a1".into())).unwrap_err();
    assert!(
        matches!(&e, Error::Upstream { message, .. } if message.contains("more than the 100000 the connector reads in one")),
        "got {e:?}"
    );
    // Commas, colons and brackets inside strings are not values.
    assert_eq!(
        crate::client::parse_value(br#"{"a":"[,:{\"]"}"#).ok(),
        Some(serde_json::json!({"a": "[,:{\"]"}))
    );
}
