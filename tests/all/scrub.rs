//! A credential a server or proxy echoes reaches no error, warning or
//! message, whole or in part, in any form, whoever holds the token.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use gladly_harness::agents::*;
use gladly_harness::{CredentialMode, Harness, error_message};
use gladly_sandbox::{ADMIN_TOKEN, ADMIN_USER, EchoForm, Fault};

use crate::support::*;

/// Both ways of holding the token.
const MODES: [CredentialMode; 2] = [CredentialMode::HostCompleted, CredentialMode::InComponent];

/// The pieces of the admin's credential that give it away, in every form
/// the sandbox echoes: the token's first 8 characters, `user:` and the
/// token's first, and the first 8 characters of each base64.
pub(crate) fn pieces() -> Vec<String> {
    let pair = format!("{ADMIN_USER}:{ADMIN_TOKEN}");
    let reach = &pair[..ADMIN_USER.len() + 2];
    let escaped: String = reach
        .chars()
        .map(|c| format!("\\u{:04x}", c as u32))
        .collect();
    let percent = percent_encoding::utf8_percent_encode(reach, percent_encoding::NON_ALPHANUMERIC)
        .to_string();
    vec![
        ADMIN_TOKEN[..8].to_string(),
        reach.to_string(),
        escaped,
        percent,
        STANDARD.encode(&pair)[..8].to_string(),
        URL_SAFE_NO_PAD.encode(&pair)[..8].to_string(),
        // What the base64 holds from the token on (past `admin@acme.example:`).
        STANDARD.encode(&pair)[24..32].to_string(),
    ]
}

#[track_caller]
pub(crate) fn assert_clean(shown: &str, what: &str) {
    // Read as it is, and through HTML character references (an echo from
    // a proxy's page): a piece escaped so is a piece all the same.
    for text in [shown.to_string(), html_decoded(shown)] {
        for piece in pieces() {
            assert!(
                !text.contains(&piece),
                "{what}: expected no piece of the credential, got {piece:?} in {shown}"
            );
        }
    }
}

/// `text` with its numeric HTML character references (`&#97;`, `&#x61;`)
/// read as the characters they stand for.
fn html_decoded(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("&#") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let decoded = after.split_once(';').and_then(|(num, tail)| {
            let code = match num.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok(),
                None => num.parse().ok(),
            };
            Some((char::from_u32(code?)?, tail))
        });
        match decoded {
            Some((c, tail)) => {
                out.push(c);
                rest = tail;
            }
            None => {
                out.push_str("&#");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[test]
fn html_references_are_read_as_their_characters() {
    assert_eq!(html_decoded("a&#98;&#x63;d &#; &#xzz;"), "abcd &#; &#xzz;");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_proxy_page_echoing_the_credential_leaks_nothing_whoever_holds_the_token() {
    let e = env().await;
    for mode in MODES {
        let h = in_mode(&e.harness, mode);
        // The split form is a shape of JSON error entries, not of a page
        // (and pieces with other words between them are not found: see
        // the README's "Credentials").
        for form in EchoForm::ALL
            .into_iter()
            .filter(|f| *f != EchoForm::SplitAcrossEntries)
        {
            e.sandbox.push_faults([Fault::ProxyPage {
                status: 500,
                echo: Some(form),
            }]);
            let r = h.list_teams(&e.admin).await.unwrap();
            let err = expect_err(r, "upstream");
            let shown = format!("{err:?} {}", error_message(&err));
            assert!(
                shown.contains("Authorization: "),
                "{mode:?}, {form:?}: expected the page quoted, got {shown}"
            );
            assert_clean(&shown, &format!("{mode:?}, {form:?} in a page"));
        }
    }
}

fn in_mode(h: &Harness, mode: CredentialMode) -> Harness {
    h.clone().with_credential_mode(mode)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_echo_form_is_scrubbed_from_errors_whoever_holds_the_token() {
    let e = env().await;
    for mode in MODES {
        let h = in_mode(&e.harness, mode);
        for form in EchoForm::ALL {
            e.sandbox.push_faults([Fault::EchoCredential {
                status: 500,
                form,
                at: 0,
                perform: false,
            }]);
            let r = h.list_teams(&e.admin).await.unwrap();
            let err = expect_err(r, "upstream");
            let shown = format!("{err:?} {}", error_message(&err));
            if form == EchoForm::SplitAcrossEntries {
                // No third is long enough to be told from chance alone.
                // Joined, the entries hold the token: none is quoted where
                // the component knows it; where the host completes it, the
                // first entry alone (its third, 7 characters, as any piece
                // shorter than 8), and no body.
                assert!(shown.contains("<left out>"), "{shown}");
                assert!(!shown.contains("-admin-"), "{mode:?}: {shown}");
                if mode == CredentialMode::InComponent {
                    assert!(!shown.contains("sandbox"), "{mode:?}: {shown}");
                }
            } else {
                assert!(
                    shown.contains("bad gateway"),
                    "expected the echo's body, got {shown}"
                );
            }
            assert_clean(&shown, &format!("{mode:?}, {form:?}"));
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_echo_across_the_excerpt_cut_leaves_no_piece_that_decodes() {
    let e = env().await;
    for mode in MODES {
        let h = in_mode(&e.harness, mode);
        for form in [EchoForm::Header, EchoForm::Decoded, EchoForm::UrlSafe] {
            // The cut at 200 falls inside the echo, past the user.
            for at in [150, 160, 163, 171, 178] {
                e.sandbox.push_faults([Fault::EchoCredential {
                    status: 500,
                    form,
                    at,
                    perform: false,
                }]);
                let r = h.list_inboxes(&e.admin).await.unwrap();
                let Error::Upstream(u) = expect_err(r, "upstream") else {
                    unreachable!()
                };
                // Scrubbed first, the body may no longer need cutting.
                assert!(
                    u.body_excerpt.contains("request was") && u.body_excerpt.chars().count() <= 201,
                    "expected at most 200 characters of the body, got {:?}",
                    u.body_excerpt
                );
                assert_clean(&format!("{u:?}"), &format!("{mode:?}, {form:?} at {at}"));
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_warning_after_a_503_on_create_carries_no_echoed_credential() {
    let e = env().await;
    for (n, mode) in MODES.into_iter().enumerate() {
        let h = in_mode(&e.harness, mode);
        for (m, form) in [
            EchoForm::Token,
            EchoForm::Decoded,
            EchoForm::UrlSafeUnpadded,
        ]
        .into_iter()
        .enumerate()
        {
            // The create is made, and its answer is a 503 that echoes.
            e.sandbox.push_faults([Fault::EchoCredential {
                status: 503,
                form,
                at: 0,
                perform: true,
            }
            .on("POST")]);
            let email = format!("echo{n}{m}@acme.example");
            let r = h
                .provision(&e.admin, &new_agent(&email, "Echo"), &with_retry(2, 2_000))
                .await
                .unwrap();
            let r = r.unwrap_or_else(|err| panic!("expected the agent found, got {err:?}"));
            let warnings = r.warnings.join(" ");
            assert!(
                warnings.contains("was lost"),
                "expected the lost-answer warning, got {warnings}"
            );
            assert_clean(&format!("{r:?}"), &format!("{mode:?}, {form:?}"));
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_repeated_cursor_echoing_the_token_is_scrubbed() {
    let e = env().await;
    let page = format!(r#"{{"items": [], "nextCursor": "{ADMIN_TOKEN}"}}"#);
    for mode in MODES {
        let h = in_mode(&e.harness, mode);
        e.sandbox.push_faults((0..2).map(|_| Fault::Json {
            status: 200,
            body: page.clone(),
        }));
        let r = h.list_agents(&e.admin, false).await.unwrap();
        let err = expect_err(r, "upstream");
        let shown = format!("{err:?} {}", error_message(&err));
        assert!(
            shown.contains("twice"),
            "expected the cursor error, got {shown}"
        );
        assert_clean(&shown, &format!("{mode:?}"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_decoder_quoting_an_echoed_token_is_scrubbed() {
    let e = env().await;
    for mode in MODES {
        let h = in_mode(&e.harness, mode);
        // Gladly's answer to the PATCH has the token where a boolean goes:
        // the decoder's complaint quotes it.
        e.sandbox.push_faults([Fault::Json {
            status: 200,
            body: format!(r#"{{"active": "{ADMIN_TOKEN}"}}"#),
        }
        .on("PATCH")]);
        let r = h
            .offboard(&e.admin, &AgentKey::Id("agt_002".into()), &opts())
            .await
            .unwrap();
        let err = expect_err(r, "upstream");
        let shown = format!("{err:?} {}", error_message(&err));
        assert!(
            shown.contains("could not be read"),
            "expected the decoder's complaint, got {shown}"
        );
        assert_clean(&shown, &format!("{mode:?}"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redirect_whose_location_echoes_the_credential_leaks_nothing() {
    let e = env().await;
    for mode in MODES {
        let h = in_mode(&e.harness, mode);
        for form in EchoForm::ALL
            .into_iter()
            .filter(|f| *f != EchoForm::SplitAcrossEntries)
        {
            e.sandbox
                .push_faults([Fault::RedirectEcho { status: 302, form }]);
            let r = h.list_inboxes(&e.admin).await.unwrap();
            let err = expect_err(r, "upstream");
            let shown = format!("{err:?} {}", error_message(&err));
            assert!(
                shown.contains("sso.example/login"),
                "{mode:?}, {form:?}: expected where it pointed, got {shown}"
            );
            assert_clean(&shown, &format!("{mode:?}, {form:?} in a Location"));
        }
    }
}
