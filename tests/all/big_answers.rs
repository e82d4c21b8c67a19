//! Answers too large, or broken after the request went out: each is a
//! typed error (never a trap of the component), and a create is never
//! sent again without a look-up. (Found in review: helper-40.)

use std::sync::{Arc, Mutex};

use gladly_harness::{Connection, agents, error_case, error_message};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A server on 127.0.0.1 that answers each request (one per connection,
/// `Connection: close`) with the next of `answers` (status line + extra
/// headers + body), repeating the last one.
async fn raw_server(answers: Vec<(String, Vec<u8>)>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let answers = Arc::new(Mutex::new(answers));
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let answers = answers.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                let mut buf = [0u8; 4096];
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let (head, body) = {
                    let mut a = answers.lock().unwrap();
                    if a.len() > 1 {
                        a.remove(0)
                    } else {
                        a[0].clone()
                    }
                };
                // A head that ends `no-length` goes without one: the body
                // ends where the connection does.
                let mut out = match head.strip_suffix(NO_LENGTH) {
                    Some(head) => format!("{head}\r\nconnection: close\r\n\r\n"),
                    None => format!(
                        "{head}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    ),
                }
                .into_bytes();
                out.extend_from_slice(&body);
                let _ = conn.write_all(&out).await;
                let _ = conn.shutdown().await;
            });
        }
    });
    format!("http://{addr}")
}

/// The end of a head [`raw_server`] sends with no `Content-Length`.
const NO_LENGTH: &str = " no-length";

/// Lists teams from a server giving `answers`: the error, `upstream`
/// (not a trap of the component); its message.
async fn teams_upstream(answers: Vec<(String, Vec<u8>)>) -> String {
    let url = raw_server(answers).await;
    let conn = Connection::new(url, "api@acme.example", "tok-big-answers");
    match crate::support::harness().list_teams(&conn).await {
        Ok(Err(e)) => {
            assert_eq!(error_case(&e), "upstream", "{:.300}", error_message(&e));
            error_message(&e)
        }
        Ok(Ok(t)) => panic!("unexpected success: {} teams", t.len()),
        Err(host) => panic!("the component failed in the host (trap): {host:#}"),
    }
}

/// Lists agents from a server giving `answers`: how many, or the error (a
/// failure in the host, a trap of the component, fails the test).
async fn agents_listed(answers: Vec<(String, Vec<u8>)>) -> Result<usize, agents::Error> {
    let url = raw_server(answers).await;
    let conn = Connection::new(url, "api@acme.example", "tok-big-answers");
    match crate::support::harness().list_agents(&conn, false).await {
        Ok(listed) => listed.map(|a| a.len()),
        Err(host) => panic!("the component failed in the host (trap): {host:#}"),
    }
}

/// A 500 whose body is 15 MiB of bytes that are not UTF-8 (under the
/// 16 MiB cap): read whole as text for its excerpt, it became 45 MiB of
/// replacement characters beside the body, past the component's 64 MiB.
#[tokio::test(flavor = "multi_thread")]
async fn a_large_error_body_of_bad_utf8_is_upstream_not_a_trap() {
    teams_upstream(vec![(
        "HTTP/1.1 500 Internal Server Error".into(),
        vec![0xFFu8; 15 << 20],
    )])
    .await;
}

/// The same through a 200 that is not JSON (a proxy's binary error page).
#[tokio::test(flavor = "multi_thread")]
async fn a_large_200_of_bad_utf8_is_upstream_not_a_trap() {
    teams_upstream(vec![("HTTP/1.1 200 OK".into(), vec![0x80u8; 15 << 20])]).await;
}

/// Pages of one team each (each under 16 MiB), every name 12 MiB: the
/// walk kept them all and trapped at the fourth page; now `upstream` once
/// the items kept pass what one call reads.
#[tokio::test(flavor = "multi_thread")]
async fn a_walk_of_large_items_is_upstream_not_a_trap() {
    let big = "x".repeat(12 << 20);
    let answers = (0..6)
        .map(|i| {
            let body =
                format!(r#"{{"items":[{{"id":"t{i}","name":"{big}"}}],"nextCursor":"c{i}"}}"#);
            (
                "HTTP/1.1 200 OK\r\ncontent-type: application/json".to_string(),
                body.into_bytes(),
            )
        })
        .collect();
    let message = teams_upstream(answers).await;
    assert!(message.contains("MiB of items"), "{message:.300}");
}

/// Gladly's public spec answers `GET /agents` with every agent in one
/// plain array of `{id, name, emailAddress}`: 100,000 of them (about 9 MB)
/// are read, within the bytes one call keeps.
#[tokio::test(flavor = "multi_thread")]
async fn a_public_spec_list_of_max_items_agents_is_read_not_a_trap() {
    let n: usize = 100_000;
    let mut body = String::from("[");
    for i in 0..n {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&format!(
            r#"{{"id":"agt_{i:06}","name":"Agent Number {i}","emailAddress":"agent.{i}@acme.example"}}"#
        ));
    }
    body.push(']');
    let listed = agents_listed(vec![(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json".into(),
        body.into_bytes(),
    )])
    .await;
    match listed {
        Ok(count) => assert_eq!(count, n),
        Err(e) => panic!("{}: {}", error_case(&e), error_message(&e)),
    }
}

/// A TLS failure after the create went out (a record that does not
/// decrypt) is an answer lost, not a failed connect: the e-mail is looked
/// up before any second POST (it was sent five times in a row).
#[tokio::test(flavor = "multi_thread")]
async fn a_create_whose_answer_breaks_tls_is_not_resent_blindly() {
    let tls = gladly_sandbox::tls::Tls::new(gladly_sandbox::TlsCert::Valid).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let log: Arc<Mutex<Vec<String>>> = Arc::default();
    let acceptor = tls.acceptor.clone();
    let seen = log.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let seen = seen.clone();
            tokio::spawn(async move {
                let Ok(mut s) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut got = Vec::new();
                let mut buf = [0u8; 4096];
                let end = loop {
                    if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                };
                let head = String::from_utf8_lossy(&got[..end]).to_string();
                let line = head.lines().next().unwrap_or_default().to_string();
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                while got.len() < end + len {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                seen.lock().unwrap().push(line.clone());
                if line.starts_with("POST") {
                    // The agent is made; then the answer is a record that
                    // does not decrypt.
                    let (tcp, _) = s.get_mut();
                    let mut junk = vec![0x17, 0x03, 0x03, 0x00, 0x20];
                    junk.extend_from_slice(&[0x5a; 32]);
                    let _ = tcp.write_all(&junk).await;
                    let _ = tcp.shutdown().await;
                } else {
                    let body = r#"{"items":[]}"#;
                    let out = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = s.write_all(out.as_bytes()).await;
                    let _ = s.shutdown().await;
                }
            });
        }
    });
    let h = crate::support::harness()
        .with_extra_ca(tls.ca_pem.as_bytes())
        .unwrap();
    let conn = Connection::new(
        format!("https://localhost:{port}"),
        "admin@acme.example",
        "tok-big-answers",
    );
    let r = h
        .provision(
            &conn,
            &crate::support::new_agent("new@acme.example", "New Person"),
            &crate::support::opts(),
        )
        .await;
    let log = log.lock().unwrap().clone();
    match r {
        Ok(Err(e)) => assert_eq!(error_case(&e), "transport", "{}", error_message(&e)),
        Ok(Ok(w)) => panic!("no answer to a create ever came, yet: {:?}", w.outcome),
        Err(host) => panic!("the component failed in the host: {host:#}"),
    }
    assert!(log.iter().any(|l| l.starts_with("POST")), "{log:#?}");
    // Every POST is followed by a look-up before the next.
    for pair in log.windows(2) {
        assert!(
            !(pair[0].starts_with("POST") && pair[1].starts_with("POST")),
            "the create was sent again without a look-up: {log:#?}"
        );
    }
}

/// A 400 of 14,000 entries of 1,000-character details, where the
/// component knows the token and quotes them: every one joined made a
/// message of 14 MB and trapped the component; the first 20 are named.
#[tokio::test(flavor = "multi_thread")]
async fn a_400_with_many_long_details_is_invalid_input_not_a_trap() {
    let d = "d".repeat(1_000);
    let entries: Vec<String> = (0..14_000)
        .map(|_| format!(r#"{{"detail":"{d}"}}"#))
        .collect();
    let body = format!(r#"{{"errors":[{}]}}"#, entries.join(","));
    let url = raw_server(vec![(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json".into(),
        body.into_bytes(),
    )])
    .await;
    let conn = Connection::new(url, "api@acme.example", "tok-big-answers");
    let h =
        crate::support::harness().with_credential_mode(gladly_harness::CredentialMode::InComponent);
    match h.list_teams(&conn).await {
        Ok(Err(e)) => {
            let m = error_message(&e);
            assert_eq!(error_case(&e), "invalid-input", "{m:.200}");
            assert!(
                m.ends_with("and 13980 more."),
                "{:.200}",
                &m[m.len().saturating_sub(200)..]
            );
            assert!(m.len() < 30_000, "{} bytes", m.len());
        }
        Ok(Ok(t)) => panic!("unexpected success: {} teams", t.len()),
        Err(host) => panic!("the component failed in the host (trap): {host:#}"),
    }
}

/// Items just under what a walk keeps (24 MiB: 12 MiB, then 12 MiB less
/// 300 bytes), then a full page of one item (16 MiB less 100 bytes, its
/// name plain or escaped, which serde_json reads through a buffer of its
/// own; with a length, or ending where the connection does): read beside
/// the items kept, and refused, never a trap: checked only once decoded,
/// such a page beside 24 MiB trapped the component, and so it did, read
/// with no length, under the harness's former 64 MiB.
#[tokio::test(flavor = "multi_thread")]
async fn a_full_page_beside_items_kept_is_refused_not_a_trap() {
    let page = |i: usize, name: String, length: bool| {
        let body = format!(r#"{{"items":[{{"id":"t{i}","name":"{name}"}}],"nextCursor":"c{i}"}}"#);
        assert!(body.len() <= 16 << 20, "{}", body.len());
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json";
        let head = if length {
            head.to_string()
        } else {
            format!("{head}{NO_LENGTH}")
        };
        (head, body.into_bytes())
    };
    let full = (16 << 20) - 100;
    for (third, length) in [
        ("x".repeat(full), true),
        (format!("\\n{}", "x".repeat(full - 2)), true),
        ("x".repeat(full), false),
    ] {
        let message = teams_upstream(vec![
            page(0, "x".repeat(12 << 20), true),
            page(1, "x".repeat((12 << 20) - 300), true),
            page(2, third.clone(), length),
            page(3, third, length),
        ])
        .await;
        assert!(message.contains("MiB of items"), "{message:.300}");
    }
}

/// An organisation of 40,000 whole agent records (about 430 bytes of JSON
/// each, 17 MB, in four pages) is read whole, within what a walk keeps.
#[tokio::test(flavor = "multi_thread")]
async fn an_organisation_of_40000_whole_agents_is_read() {
    let (n, pages) = (40_000, 4);
    let per = n / pages;
    let agent = |i: usize| {
        format!(
            r#"{{"id":"agt_{i:06}xxxxxxxxxxxxxx","emailAddress":"firstname.lastname.{i:06}@acme-corporation.example","name":"Firstname Lastname {i:06}","role":"AGENT","inboxes":["inb_aaaaaaaaaaaaaaaaaaaa","inb_bbbbbbbbbbbbbbbbbbbb"],"teams":["team_aaaaaaaaaaaaaaaaaa"],"active":true,"createdAt":"2024-01-02T03:04:05.000Z","updatedAt":"2024-01-02T03:04:05.000Z","externalId":"00u1abcdefghijklmn{i:06}","language":"en-US"}}"#
        )
    };
    let answers = (0..pages)
        .map(|p| {
            let items: Vec<String> = (p * per..(p + 1) * per).map(agent).collect();
            let next = if p + 1 < pages {
                format!(r#""c{p}""#)
            } else {
                "null".into()
            };
            let body = format!(r#"{{"items":[{}],"nextCursor":{next}}}"#, items.join(","));
            (
                "HTTP/1.1 200 OK\r\ncontent-type: application/json".to_string(),
                body.into_bytes(),
            )
        })
        .collect();
    match agents_listed(answers).await {
        Ok(count) => assert_eq!(count, n),
        Err(e) => panic!("{}: {:.300}", error_case(&e), error_message(&e)),
    }
}

/// Pages of agents each holding 99,000 one-letter inboxes (under the
/// values one item may hold, each page under the values a list may and
/// the walk's bytes under what it keeps): every 4 bytes of JSON became a
/// string of about 28 bytes, and three pages trapped the component. The
/// values a walk keeps are bounded too.
#[tokio::test(flavor = "multi_thread")]
async fn a_walk_of_agents_of_many_short_inboxes_is_upstream_not_a_trap() {
    let inboxes = vec![r#""a""#; 99_000].join(",");
    let answers = (0..6)
        .map(|p| {
            let items: Vec<String> = (0..19)
                .map(|i| {
                    format!(
                        r#"{{"id":"agt_{p}_{i}","emailAddress":"a{p}.{i}@acme.example","inboxes":[{inboxes}]}}"#
                    )
                })
                .collect();
            let body = format!(
                r#"{{"items":[{}],"nextCursor":"c{p}"}}"#,
                items.join(",")
            );
            (
                "HTTP/1.1 200 OK\r\ncontent-type: application/json".to_string(),
                body.into_bytes(),
            )
        })
        .collect();
    match agents_listed(answers).await {
        Err(e) => {
            assert_eq!(error_case(&e), "upstream", "{:.300}", error_message(&e));
            let message = error_message(&e);
            assert!(
                message.contains("JSON values of items one call reads"),
                "{message:.300}"
            );
        }
        Ok(count) => panic!("unexpected success: {count} agents"),
    }
}
