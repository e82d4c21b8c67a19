//! `GLADLY_SERVER_TEXT`: errors quote Gladly's words (scrubbed) by default,
//! and leave them out with `omit`, or when the component serves SCIM
//! clients (`GLADLY_SCIM_TOKEN` set); the error's kind and field stay.

use super::*;
use crate::client::SERVER_TEXT_VAR;
use crate::error::OMITTED;

/// A host-completed connection (the component knows only the placeholder,
/// as on Obelisk), and answers whose words hold the bare token and a Basic
/// header cut short at its front.
fn echoing() -> (Connection, Script) {
    let c = Connection {
        credential: Credential::HostCompleted("OBELISK_SECRET_0123abcd".into()),
        ..conn()
    };
    let s = Script::default()
        .answer(
            400,
            json!({"errors": [
                {"attr": "name", "code": "invalid", "detail": "invalid api token t0k3n-s3cr3t"},
            ]}),
        )
        .answer(
            500,
            json!({"errors": [{"detail": "bad credential …b206dDBrM24tczNjcjN0"}]}),
        );
    (c, s)
}

fn shown(e: &Error) -> String {
    format!("{e:?} {e}")
}

#[test]
fn omitted_server_text_leaves_gladlys_words_out_and_keeps_the_kind_and_field() {
    for settings in [
        // Unset: the host completes the credential, so nothing here could
        // scrub a bare echo of the token.
        vec![],
        vec![(SERVER_TEXT_VAR, "omit")],
        vec![(SERVER_TEXT_VAR, " OMIT ")],
        vec![("GLADLY_SCIM_TOKEN", "a-scim-token-of-some-length")],
        vec![
            (SERVER_TEXT_VAR, ""),
            ("GLADLY_SCIM_TOKEN", "a-scim-token-of-some-length"),
        ],
    ] {
        let (c, mut s) = echoing();
        for (k, v) in &settings {
            s = s.setting(k, v);
        }
        let invalid = ops::list_agents(&mut s, &c, false).unwrap_err();
        match &invalid {
            Error::InvalidInput { field, message } => {
                assert_eq!(field, "name", "{settings:?}");
                assert!(message.contains(OMITTED), "{settings:?}: {message}");
            }
            other => panic!("{settings:?}: expected invalid input, got {other:?}"),
        }
        let upstream = ops::list_agents(&mut s, &c, false).unwrap_err();
        assert!(
            matches!(upstream, Error::Upstream { status: 500, .. }),
            "{upstream:?}"
        );
        for e in [&invalid, &upstream] {
            let text = shown(e);
            for piece in ["t0k3n", "s3cr3t", "b206dDBrM24t", "invalid api token"] {
                assert!(!text.contains(piece), "{settings:?}: {piece} in {text}");
            }
        }
    }
}

#[test]
fn by_default_gladlys_words_are_quoted_scrubbed() {
    // Where the component holds the token (and so scrubs by it), or a host
    // that scrubs by it asks for them.
    for (settings, own_token) in [
        (vec![], true),
        (vec![(SERVER_TEXT_VAR, " ")], true),
        (vec![(SERVER_TEXT_VAR, "quote")], false),
    ] {
        let (c, mut s) = echoing();
        let c = if own_token { conn() } else { c };
        for (k, v) in &settings {
            s = s.setting(k, v);
        }
        let e = ops::list_agents(&mut s, &c, false).unwrap_err();
        let text = shown(&e);
        assert!(text.contains("invalid api token"), "{settings:?}: {text}");
        assert!(!text.contains(OMITTED), "{settings:?}: {text}");
    }
}

#[test]
fn a_scim_gateway_may_not_quote_gladlys_words() {
    let (c, s) = echoing();
    let mut s = s
        .setting(SERVER_TEXT_VAR, "quote")
        .setting("GLADLY_SCIM_TOKEN", "a-scim-token-of-some-length");
    match ops::list_agents(&mut s, &c, false).unwrap_err() {
        Error::InvalidInput { field, .. } => assert_eq!(field, "env.GLADLY_SERVER_TEXT"),
        other => panic!("expected invalid input, got {other:?}"),
    }
    assert!(s.sent.is_empty(), "nothing sent");
}

#[test]
fn another_value_is_refused_by_name_without_quoting_it() {
    let (c, s) = echoing();
    let mut s = s.setting(SERVER_TEXT_VAR, "hunter2-secret");
    let e = ops::list_agents(&mut s, &c, false).unwrap_err();
    match &e {
        Error::InvalidInput { field, message } => {
            assert_eq!(field, "env.GLADLY_SERVER_TEXT");
            assert!(!message.contains("hunter2"), "{message}");
        }
        other => panic!("expected invalid input, got {other:?}"),
    }
    assert!(s.sent.is_empty(), "nothing sent");
}

#[test]
fn a_token_split_across_error_entries_is_not_quoted_in_pieces() {
    // Each piece is shorter than a scrub can tell from chance; joined, they
    // are the token: none of the details is quoted, the fields still are.
    let mut s = Script::default().answer(
        400,
        json!({"errors": [
            {"attr": "name", "detail": "t0k3n"},
            {"attr": "role", "detail": "-s3cr3t"},
        ]}),
    );
    let e = ops::list_agents(&mut s, &conn(), false).unwrap_err();
    let text = shown(&e);
    assert!(
        !text.contains("t0k3n") && !text.contains("s3cr3t"),
        "{text}"
    );
    assert!(text.contains(OMITTED) && text.contains("role"), "{text}");
    // Split across the attributes (a field name Gladly reports), or with
    // words around the pieces in the details: the same.
    // Across the codes of a 409's entries, whose message quotes the first
    // entry's detail, else its code.
    let mut s = Script::default().answer(
        409,
        json!({"errors": [{"code": "t0k3n"}, {"code": "-s3cr3t"}]}),
    );
    let text = shown(&ops::list_agents(&mut s, &conn(), false).unwrap_err());
    assert!(
        !text.contains("t0k3n") && !text.contains("s3cr3t"),
        "{text}"
    );
    for errors in [
        json!([{"attr": "t0k3n", "code": "invalid"}, {"attr": "-s3cr3t", "code": "invalid"}]),
        json!([{"attr": "name", "detail": "t0k3n"}, {"detail": "-s3cr3t (that is all)"}]),
    ] {
        let mut s = Script::default().answer(400, json!({ "errors": errors }));
        let text = shown(&ops::list_agents(&mut s, &conn(), false).unwrap_err());
        assert!(
            !text.contains("t0k3n") && !text.contains("s3cr3t"),
            "{text}"
        );
    }
    // Where the host completes the credential, the component cannot find
    // such a split: of several details only the first is quoted.
    let host_completed = Connection {
        credential: Credential::HostCompleted("OBELISK_SECRET_0123abcd".into()),
        ..conn()
    };
    let mut s = Script::default().setting(SERVER_TEXT_VAR, "quote").answer(
        400,
        json!({"errors": [
            {"attr": "name", "detail": "t0k3n"},
            {"attr": "role", "detail": "-s3cr3t"},
        ]}),
    );
    let text = shown(&ops::list_agents(&mut s, &host_completed, false).unwrap_err());
    assert!(
        text.contains("(t0k3n)") && !text.contains("s3cr3t"),
        "{text}"
    );
    // Details that hold no credential together are quoted as before.
    let mut s = Script::default().answer(
        400,
        json!({"errors": [
            {"attr": "name", "detail": "is too long"},
            {"attr": "role", "detail": "is unknown"},
        ]}),
    );
    let text = shown(&ops::list_agents(&mut s, &conn(), false).unwrap_err());
    assert!(
        text.contains("is too long") && text.contains("is unknown"),
        "{text}"
    );
}

#[test]
fn where_server_text_is_left_out_the_callers_own_values_come_back_as_they_went() {
    // The last pass over an error's words (the connector's, and values the
    // caller gave, such as a SCIM client's): scrubbed piece by piece, which
    // of its values came back changed would show it pieces of the token.
    // Where server text is left out, only whole forms are removed.
    use crate::scrub::Secrets;
    let quoting = Secrets::new("api@acme.com", "t0k3n-s3cr3t");
    let omitting = quoting.clone().omitting_outside_text();
    let said = |s: &Secrets, v: &str| {
        shown(&Error::invalid("agent.name", format!("'{v}' is bad")).scrub(s))
    };
    assert!(said(&omitting, "t0k3n-s3c").contains("t0k3n-s3c"));
    assert!(!said(&omitting, "t0k3n-s3cr3t").contains("t0k3n-s3cr3t"));
    assert!(!said(&quoting, "t0k3n-s3c").contains("t0k3n-s3c"));
}

#[test]
fn an_unknown_inbox_names_no_inbox_of_gladlys_where_its_words_are_left_out() {
    // Inbox names and ids are Gladly's words: a server that echoed the
    // token as an inbox's name had it quoted as the closest known, on a
    // host that cannot scrub it (found in review: helper-45).
    let want = NewAgent {
        inboxes: vec!["t0k3n".into()],
        ..new("n@x.io")
    };
    let (c, _) = echoing();
    let answer = || {
        json!({"items": [
            {"id": "ibx_1", "name": "t0k3n-s3cr3t"},
            {"id": "ibx_2", "name": "Billing"},
            {"id": "ibx_3", "name": "t0k3n-s3cr3t"},
        ]})
    };
    let mut s = Script::default().answer(200, answer());
    let e = ops::provision(&mut s, &c, &want, &WriteOptions::default()).unwrap_err();
    let text = shown(&e);
    assert!(
        matches!(&e, Error::InvalidInput { field, .. } if field == "agent.inboxes"),
        "{text}"
    );
    for word in ["s3cr3t", "Billing", "ibx_"] {
        assert!(!text.contains(word), "{word} in {text}");
    }
    assert!(text.contains("list-inboxes"), "{text}");
    // A name two share: counted, not listed.
    let want = NewAgent {
        inboxes: vec!["t0k3n-s3cr3t".into()],
        ..new("n@x.io")
    };
    let mut s = Script::default().answer(200, answer());
    let e = ops::provision(&mut s, &c, &want, &WriteOptions::default()).unwrap_err();
    let text = shown(&e);
    assert!(text.contains("shared by 2"), "{text}");
    assert!(!text.contains("ibx_"), "{text}");
}
