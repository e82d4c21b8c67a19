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
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let sandbox = runtime
        .block_on(Sandbox::start(SandboxConfig::default()))
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
