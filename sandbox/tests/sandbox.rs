//! The sandbox on its own, without the harness: what a client sees over HTTP.

use base64::Engine as _;
use gladly_sandbox::{
    ADMIN_TOKEN, ADMIN_USER, Credentials, Fault, MEMBER_TOKEN, MEMBER_USER, Sandbox, SandboxConfig,
};
use serde_json::Value;

/// A sandbox served by its own runtime while this thread calls it.
struct Running {
    // Dropped first: the sandbox stops before its runtime goes.
    sandbox: Sandbox,
    _runtime: tokio::runtime::Runtime,
}

fn start() -> Running {
    start_with(SandboxConfig::default())
}

fn start_with(config: SandboxConfig) -> Running {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let sandbox = runtime
        .block_on(Sandbox::start(config))
        .expect("the sandbox starts");
    Running {
        sandbox,
        _runtime: runtime,
    }
}

/// Sends `method path` (with a JSON body, if any) as `who`; the status and
/// the JSON answer (`null` when the body is empty or not JSON).
fn call(
    s: &Sandbox,
    who: Option<&Credentials>,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let url = format!("{}{path}", s.url());
    let auth = who.map(|c| {
        let pair = format!("{}:{}", c.api_user, c.api_token);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    });
    let sent = match (method, body) {
        ("GET", None) => {
            let mut r = agent.get(&url);
            if let Some(a) = &auth {
                r = r.header("Authorization", a);
            }
            r.call()
        }
        ("POST", Some(body)) => {
            let mut r = agent.post(&url).content_type("application/json");
            if let Some(a) = &auth {
                r = r.header("Authorization", a);
            }
            r.send(body)
        }
        other => panic!("this test sends no {other:?}"),
    };
    let mut resp = sent.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let status = resp.status().as_u16();
    let json = resp.body_mut().read_json().unwrap_or(Value::Null);
    (status, json)
}

#[test]
fn the_administrator_writes_a_member_only_reads_and_strangers_are_refused() {
    let r = start();
    let s = &r.sandbox;
    let (admin, member) = (s.admin(), s.member());

    let (status, jane) = call(
        s,
        Some(&member),
        "GET",
        "/api/v1/agents?emailAddress=JANE@acme.example",
        None,
    );
    assert_eq!(status, 200, "expected 200 for a member's read, got {jane}");
    assert_eq!(jane["items"][0]["name"], "Jane Doe", "got {jane}");

    let new = r#"{"emailAddress": "new@acme.example", "name": "New Agent", "role": "AGENT"}"#;
    let (status, refused) = call(s, Some(&member), "POST", "/api/v1/agents", Some(new));
    assert_eq!(
        status, 403,
        "expected 403 for a member's write, got {refused}"
    );
    assert_eq!(refused["errors"][0]["code"], "forbidden");

    let (status, created) = call(s, Some(&admin), "POST", "/api/v1/agents", Some(new));
    assert_eq!(
        status, 201,
        "expected 201 for the administrator's write, got {created}"
    );
    assert_eq!(created["emailAddress"], "new@acme.example");
    let emails = s.welcome_emails();
    assert_eq!(
        emails.len(),
        1,
        "expected one welcome e-mail, got {emails:?}"
    );
    assert_eq!(emails[0].to, "new@acme.example");

    let (status, _) = call(s, None, "GET", "/api/v1/agents", None);
    assert_eq!(status, 401, "expected 401 without credentials");
}

#[test]
fn a_queued_fault_answers_the_next_matching_request_once() {
    let r = start();
    let s = &r.sandbox;
    s.push_faults([Fault::Status(503).on("get")]);
    let admin = s.admin();
    let (first, _) = call(s, Some(&admin), "GET", "/api/v1/teams", None);
    let (second, teams) = call(s, Some(&admin), "GET", "/api/v1/teams", None);
    assert_eq!((first, second), (503, 200), "expected 503 then 200");
    assert_eq!(teams["items"][0]["id"], "team_tier1", "got {teams}");
    let statuses: Vec<_> = s.requests().iter().map(|q| q.status).collect();
    assert_eq!(statuses, [Some(503), Some(200)]);
}

/// A fault queued over HTTP for one path waits for that path: the reads
/// before it, elsewhere, are answered as usual.
#[test]
fn a_fault_for_a_path_waits_for_that_path() {
    let r = start();
    let s = &r.sandbox;
    let (status, queued) = call(
        s,
        None,
        "POST",
        "/_sandbox/faults",
        Some(r#"[{"fault": "status", "status": 500, "method": "GET", "path": "/api/v1/inboxes"}]"#),
    );
    assert_eq!(
        (status, &queued["queued"]),
        (200, &Value::from(1)),
        "{queued}"
    );
    let admin = s.admin();
    let (teams, _) = call(s, Some(&admin), "GET", "/api/v1/teams", None);
    let (inboxes, _) = call(s, Some(&admin), "GET", "/api/v1/inboxes", None);
    let (again, _) = call(s, Some(&admin), "GET", "/api/v1/inboxes", None);
    assert_eq!(
        (teams, inboxes, again),
        (200, 500, 200),
        "expected the teams read, then the fault once"
    );
}

/// A fault whose `path` or `method` no request can match is refused (400
/// naming it), not queued: taken as "any path" (a number) it answered the
/// wrong request; with a query or no leading `/` it never fired.
#[test]
fn a_fault_for_a_path_no_request_has_is_refused() {
    let r = start();
    let s = &r.sandbox;
    for rule in [
        r#"{"fault": "status", "status": 500, "path": 7}"#,
        r#"{"fault": "status", "status": 500, "path": "/api/v1/agents?emailAddress=a@b.c"}"#,
        r#"{"fault": "status", "status": 500, "path": "api/v1/inboxes"}"#,
        r#"{"fault": "status", "status": 500, "method": ["GET"]}"#,
    ] {
        let (status, answer) = call(
            s,
            None,
            "POST",
            "/_sandbox/faults",
            Some(&format!("[{rule}]")),
        );
        let field = if rule.contains("method") {
            "method"
        } else {
            "path"
        };
        assert!(
            status == 400 && answer.to_string().contains(field),
            "{rule}: expected 400 naming {field}, got {status} {answer}"
        );
    }
    let admin = s.admin();
    let (inboxes, _) = call(s, Some(&admin), "GET", "/api/v1/inboxes", None);
    assert_eq!(inboxes, 200, "nothing was queued");
}

#[test]
fn credentials_name_the_sandbox_and_their_debug_never_shows_the_token() {
    let r = start();
    let s = &r.sandbox;
    for (c, user, token) in [
        (s.admin(), ADMIN_USER, ADMIN_TOKEN),
        (s.member(), MEMBER_USER, MEMBER_TOKEN),
    ] {
        assert_eq!(
            (
                c.org_url.as_str(),
                c.api_user.as_str(),
                c.api_token.as_str()
            ),
            (s.url().as_str(), user, token)
        );
        let shown = format!("{c:?}");
        assert!(
            shown.contains(user) && shown.contains("<redacted>"),
            "expected the user and <redacted>, got {shown}"
        );
        // Not the token, nor any of its first characters.
        assert!(
            !shown.contains(&token[..8]),
            "expected no part of the token, got {shown}"
        );
    }
}

/// Sends `request` (a whole HTTP/1.1 request, `Connection: close`) over a
/// plain socket and returns everything the sandbox wrote back, header
/// names as it spelled them.
fn raw(s: &Sandbox, request: &str) -> String {
    use std::io::{Read, Write};
    let mut tcp = std::net::TcpStream::connect(s.addr()).expect("a connection");
    tcp.write_all(request.as_bytes())
        .expect("the request written");
    let mut answer = Vec::new();
    // A connection the sandbox closes early ends the read with an error.
    let _ = tcp.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

fn basic(c: &Credentials) -> String {
    let pair = format!("{}:{}", c.api_user, c.api_token);
    base64::engine::general_purpose::STANDARD.encode(pair)
}

/// A write as `who`, with this `Content-Type` header line (or none).
fn write_raw(s: &Sandbox, who: &Credentials, content_type: Option<&str>, body: &str) -> String {
    let ct = content_type.map_or(String::new(), |t| format!("Content-Type: {t}\r\n"));
    raw(
        s,
        &format!(
            "POST /api/v1/agents HTTP/1.1\r\nHost: sandbox\r\nAuthorization: Basic {}\r\n{ct}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            basic(who),
            body.len()
        ),
    )
}

#[test]
fn a_write_that_does_not_declare_json_is_refused_415() {
    let r = start();
    let s = &r.sandbox;
    let new = r#"{"emailAddress": "typed@acme.example", "name": "Typed", "role": "AGENT"}"#;
    for ct in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let answer = write_raw(s, &s.admin(), ct, new);
        assert!(
            answer.starts_with("HTTP/1.1 415"),
            "expected 415 for Content-Type {ct:?}, got {answer}"
        );
    }
    assert!(s.welcome_emails().is_empty(), "nothing may be created");
    let answer = write_raw(s, &s.admin(), Some("application/json; charset=utf-8"), new);
    assert!(
        answer.starts_with("HTTP/1.1 201"),
        "expected 201, got {answer}"
    );
}

#[test]
fn a_write_of_a_read_only_or_unknown_field_is_refused_naming_it() {
    let r = start();
    let s = &r.sandbox;
    let admin = s.admin();
    for (field, value) in [
        ("id", r#""agt_999""#),
        ("agentStatus", r#""BUSY""#),
        ("createdAt", r#""2020-01-01T00:00:00Z""#),
        ("updatedAt", r#""2020-01-01T00:00:00Z""#),
        ("nickname", r#""Jay""#),
    ] {
        let body = format!(
            r#"{{"emailAddress": "ro@acme.example", "name": "Ro", "role": "AGENT", "{field}": {value}}}"#
        );
        let (status, refused) = call(s, Some(&admin), "POST", "/api/v1/agents", Some(&body));
        assert_eq!(status, 400, "expected 400 for {field}, got {refused}");
        assert_eq!(refused["errors"][0]["attr"], field, "got {refused}");
    }
    let body = r#"{"emailAddress": "ro@acme.example", "name": "Ro", "role": "AGENT", "agentProfile": {"bio": "x", "twitter": "@ro"}}"#;
    let (status, refused) = call(s, Some(&admin), "POST", "/api/v1/agents", Some(body));
    assert_eq!(status, 400, "expected 400, got {refused}");
    assert_eq!(refused["errors"][0]["attr"], "agentProfile.twitter");
    assert!(s.welcome_emails().is_empty(), "nothing may be created");
}

#[test]
fn answers_spell_header_names_as_real_servers_do() {
    let r = start();
    let s = &r.sandbox;
    let answer = raw(
        s,
        &format!(
            "GET /api/v1/teams HTTP/1.1\r\nHost: sandbox\r\nAuthorization: Basic {}\r\nConnection: close\r\n\r\n",
            basic(&s.admin())
        ),
    );
    for name in [
        "Ratelimit-Limit-Second: 10",
        "Content-Type: application/json",
    ] {
        assert!(answer.contains(name), "expected {name:?}, got {answer}");
    }
}

#[test]
fn a_proxy_answers_without_gladlys_headers() {
    let r = start();
    let s = &r.sandbox;
    let get = format!(
        "GET /api/v1/teams HTTP/1.1\r\nHost: sandbox\r\nAuthorization: Basic {}\r\nConnection: close\r\n\r\n",
        basic(&s.admin())
    );
    s.push_faults([
        Fault::BareRateLimit,
        Fault::ProxyPage {
            status: 502,
            echo: Some(gladly_sandbox::EchoForm::HtmlEntities),
        },
    ]);
    let bare = raw(s, &get);
    assert!(bare.starts_with("HTTP/1.1 429"), "got {bare}");
    let page = raw(s, &get);
    assert!(page.starts_with("HTTP/1.1 502"), "got {page}");
    assert!(page.contains("text/html"), "got {page}");
    // The credential, each character a reference: `a` of `admin@` is &#97;.
    assert!(page.contains("&#97;&#100;&#109;"), "got {page}");
    for answer in [bare, page] {
        let head = answer.split("\r\n\r\n").next().unwrap_or_default();
        assert!(
            !head.contains("Ratelimit") && !head.contains("Retry-After"),
            "expected no rate-limit header, got {head}"
        );
    }
}

#[test]
fn a_truncated_answer_declares_its_whole_length_and_is_cut_off() {
    let r = start();
    let s = &r.sandbox;
    s.push_faults([Fault::Truncated]);
    let answer = raw(
        s,
        &format!(
            "GET /api/v1/teams HTTP/1.1\r\nHost: sandbox\r\nAuthorization: Basic {}\r\nConnection: close\r\n\r\n",
            basic(&s.admin())
        ),
    );
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head");
    let declared: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("expected a Content-Length, got {head}"));
    assert!(
        !body.is_empty() && body.len() < declared,
        "expected part of {declared} bytes, got {} in {answer}",
        body.len()
    );
}

#[test]
fn writes_are_answered_as_the_guide_shows_not_with_the_whole_agent() {
    let r = start();
    let s = &r.sandbox;
    let admin = s.admin();
    let new = r#"{"emailAddress": "terse@acme.example", "name": "Terse", "role": "AGENT", "inboxes": ["ibx_billing"], "teams": ["team_tier1"]}"#;
    let (status, created) = call(s, Some(&admin), "POST", "/api/v1/agents", Some(new));
    assert_eq!(status, 201, "got {created}");
    let mut keys: Vec<&str> = created
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["active", "emailAddress", "id", "name", "role"],
        "got {created}"
    );
    let id = created["id"].as_str().expect("an id").to_string();
    let answer = raw(
        s,
        &format!(
            "PATCH /api/v1/agents/{id} HTTP/1.1\r\nHost: sandbox\r\nAuthorization: Basic {}\r\nContent-Type: application/json\r\nContent-Length: 17\r\nConnection: close\r\n\r\n{{\"active\": false}}",
            basic(&admin)
        ),
    );
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let patched: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    assert_eq!(
        patched,
        serde_json::json!({"id": id, "active": false}),
        "got {answer}"
    );
    // The agent itself is whole: its memberships were kept.
    let (_, agent) = call(
        s,
        Some(&admin),
        "GET",
        &format!("/api/v1/agents/{id}"),
        None,
    );
    assert_eq!(
        agent["inboxes"],
        serde_json::json!(["ibx_billing"]),
        "got {agent}"
    );
    assert_eq!(agent["active"], false, "got {agent}");
}

#[test]
fn the_public_spec_answers_what_it_does_not_have_with_its_documented_404() {
    let r = start_with(SandboxConfig {
        profile: gladly_sandbox::Profile::PublicSpec,
        ..SandboxConfig::default()
    });
    let s = &r.sandbox;
    let new = r#"{"emailAddress": "ro@acme.example", "name": "Ro", "role": "AGENT"}"#;
    let (status, refused) = call(s, Some(&s.admin()), "POST", "/api/v1/agents", Some(new));
    // 405 is not among the statuses the spec documents; 404 is, and its
    // published example has `errors` as one object.
    assert_eq!(status, 404, "got {refused}");
    assert_eq!(refused["errors"]["code"], "not_exist", "got {refused}");
    let (status, missing) = call(s, Some(&s.admin()), "GET", "/api/v1/agents/agt_404", None);
    assert_eq!(
        (status, &missing["errors"]["code"]),
        (404, &serde_json::json!("not_exist"))
    );
    assert!(s.welcome_emails().is_empty());
}

#[test]
fn an_injected_429_says_the_window_is_spent() {
    let r = start();
    let s = &r.sandbox;
    s.push_faults([Fault::RateLimit {
        retry_after: Some("Wed, 21 Oct 2015 07:28:00 GMT".into()),
    }]);
    let answer = raw(
        s,
        &format!(
            "GET /api/v1/teams HTTP/1.1\r\nHost: sandbox\r\nAuthorization: Basic {}\r\nConnection: close\r\n\r\n",
            basic(&s.admin())
        ),
    );
    for line in [
        "HTTP/1.1 429",
        "Ratelimit-Remaining-Second: 0\r\n",
        "Retry-After: Wed, 21 Oct 2015 07:28:00 GMT",
    ] {
        assert!(answer.contains(line), "expected {line:?}, got {answer}");
    }
}
