//! The SCIM gateway, measured in one run on one machine:
//!
//!     cargo bench -p gladly-harness --bench scim
//!
//! Prints a Markdown table (the figures in BENCHMARKS.md come from it):
//! - Gladly requests per SCIM operation (filter by `userName`, create,
//!   deactivate, DELETE, group add), counted in the sandbox's request log,
//!   against the fewest that operation can cost on Gladly's API;
//! - a SCIM read through the gateway (`gladly-harness scim`) against the same
//!   connector call made directly through the harness, and the same read
//!   on `wasmtime serve` (skipped without the wasmtime CLI: `$WASMTIME` or
//!   on `PATH`);
//! - an Okta-shaped initial sync of 1,000 users (filter by `userName`,
//!   then create, from several workers at once, each 429 waited out and
//!   retried as IdPs do) at Gladly's published limit, against the time that
//!   limit allows, with the failures, 429s and duplicate welcome e-mails
//!   counted.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use gladly_harness::agents::AgentKey;
use gladly_harness::scim::{EMBEDDED_SCIM_COMPONENT, Gateway};
use gladly_harness::{Connection, Harness};
use gladly_sandbox::{Sandbox, SandboxConfig};
use serde_json::{Value, json};

mod common;
use common::{Stats, time};

const TOKEN: &str = "bench-scim-token-0123456789";
/// The sync's size, and how many requests the IdP keeps in flight.
const USERS: usize = 1_000;
const WORKERS: usize = 8;

/// A SCIM client, as an IdP is one.
struct Client {
    base: String,
    agent: ureq::Agent,
}

impl Client {
    fn new(base: String) -> Self {
        Self {
            base,
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build()
                .into(),
        }
    }

    /// The status and body of one request.
    fn send(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let (status, body, _) = self.send_full(method, path, body);
        (status, body)
    }

    /// The status, body and `Retry-After` of one request.
    fn send_full(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value, Option<Duration>) {
        let req = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("authorization", format!("Bearer {TOKEN}"))
            .header("content-type", "application/scim+json");
        let resp = match body {
            Some(b) => self.agent.run(req.body(b.to_string()).unwrap()),
            None => self.agent.run(req.body(()).unwrap()),
        };
        match resp {
            Ok(mut r) => {
                let status = r.status().as_u16();
                let retry_after = r
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                let text = r.body_mut().read_to_string().unwrap_or_default();
                let body = serde_json::from_str(&text).unwrap_or(Value::Null);
                (status, body, retry_after)
            }
            Err(e) => (0, json!(e.to_string()), None),
        }
    }

    /// As an IdP sends: a 429 is waited out (its `Retry-After`, else a
    /// second) and sent again, up to ten times; `waits` counts them.
    fn send_retrying(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        waits: &AtomicUsize,
    ) -> (u16, Value) {
        for _ in 0..10 {
            let (status, answer, retry_after) = self.send_full(method, path, body.clone());
            if status != 429 {
                return (status, answer);
            }
            waits.fetch_add(1, Ordering::Relaxed);
            std::thread::sleep(retry_after.unwrap_or(Duration::from_secs(1)));
        }
        (429, Value::Null)
    }

    fn expect(&self, method: &str, path: &str, body: Option<Value>, status: u16) -> Value {
        let (got, body) = self.send(method, path, body);
        assert_eq!(got, status, "{method} {path}: {body}");
        body
    }
}

fn okta_user(email: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": email,
        "name": {"givenName": "Nia", "familyName": "Okafor"},
        "emails": [{"primary": true, "value": email, "type": "work"}],
        "displayName": "Nia Okafor",
        "locale": "en-US",
        "externalId": format!("00u{email}"),
        "groups": [],
        "password": "Okta-random-Pa55!",
        "active": true,
    })
}

fn by_user_name(email: &str) -> String {
    format!("/Users?filter=userName%20eq%20%22{email}%22&startIndex=1&count=100")
}

/// Requests per method the sandbox received while `f` ran.
fn requests(sandbox: &Sandbox, f: impl FnOnce()) -> BTreeMap<String, usize> {
    let before = sandbox.requests().len();
    f();
    let mut per_method = BTreeMap::new();
    for r in &sandbox.requests()[before..] {
        *per_method.entry(r.method.clone()).or_default() += 1;
    }
    per_method
}

/// Each operation's requests, as rows: what it cost, against the fewest.
fn measure(sandbox: &Sandbox, ops: Vec<Op>) -> Vec<(String, String, String)> {
    ops.into_iter()
        .map(|(op, fewest, mut f)| {
            let n = requests(sandbox, &mut f);
            (
                format!("requests: {op}"),
                show(&n),
                format!("fewest: {fewest}"),
            )
        })
        .collect()
}

fn show(per_method: &BTreeMap<String, usize>) -> String {
    let parts: Vec<String> = per_method.iter().map(|(m, n)| format!("{n} {m}")).collect();
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(" + ")
    }
}

async fn gateway(sandbox: &Sandbox, cache: &std::path::Path) -> String {
    let gateway = Gateway::load(
        EMBEDDED_SCIM_COMPONENT,
        Some(cache),
        Connection::from(sandbox.admin()),
        TOKEN.into(),
    )
    .expect("the gateway loads");
    let (addr, _server) = gateway
        .bind(([127, 0, 0, 1], 0).into())
        .await
        .expect("binds");
    format!("http://{addr}/scim/v2")
}

/// `wasmtime serve` with the composed component; `None` without the CLI.
struct Served(std::process::Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wasmtime_serve(sandbox: &Sandbox, dir: &std::path::Path) -> Option<(String, Served)> {
    let bin = std::env::var_os("WASMTIME")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| "wasmtime".into());
    let found = std::process::Command::new(&bin)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("no wasmtime CLI ($WASMTIME or on PATH): its row is skipped");
        return None;
    }
    let wasm = dir.join("gladly_scim.wasm");
    std::fs::write(&wasm, EMBEDDED_SCIM_COMPONENT).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let admin = sandbox.admin();
    let child = std::process::Command::new(&bin)
        .args([
            "serve",
            "-S",
            "cli=y",
            "--addr",
            &format!("127.0.0.1:{port}"),
        ])
        .args(["--env", "GLADLY_ORG_URL", "--env", "GLADLY_API_USER"])
        .args(["--env", "GLADLY_API_TOKEN", "--env", "GLADLY_SCIM_TOKEN"])
        .arg(&wasm)
        .env("GLADLY_ORG_URL", &admin.org_url)
        .env("GLADLY_API_USER", &admin.api_user)
        .env("GLADLY_API_TOKEN", &admin.api_token)
        .env("GLADLY_SCIM_TOKEN", TOKEN)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("wasmtime serve starts");
    let served = Served(child);
    for _ in 0..1200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some((format!("http://127.0.0.1:{port}/scim/v2"), served));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("wasmtime serve did not listen within two minutes");
}

/// An operation measured: its name, the fewest requests it can cost, and
/// the operation.
type Op<'a> = (&'static str, &'static str, Box<dyn FnMut() + 'a>);

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

fn main() {
    // `cargo bench` passes --bench; a plain `cargo test --benches` passes
    // nothing and should not spend minutes here.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = std::env::temp_dir().join(format!("gladly-scim-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut rows: Vec<(String, String, String)> = vec![];

    // 1. Requests per operation, on a sandbox without the limit.
    eprintln!("requests per SCIM operation…");
    let sandbox = rt
        .block_on(Sandbox::start(SandboxConfig {
            rate_limit: None,
            ..Default::default()
        }))
        .unwrap();
    let scim = Client::new(rt.block_on(gateway(&sandbox, &dir)));
    let email = "bench-ops@acme.example";
    let mut id = String::new();
    let ops: Vec<Op> = vec![
        (
            "filter by userName (a miss)",
            "1 GET (`?emailAddress=`)",
            Box::new(|| {
                let r = scim.expect("GET", &by_user_name(email), None, 200);
                assert_eq!(r["totalResults"], 0);
            }),
        ),
        (
            "create",
            "1 POST (a taken e-mail answers 409)",
            Box::new(|| {
                let r = scim.expect("POST", "/Users", Some(okta_user(email)), 201);
                id = r["id"].as_str().unwrap().to_string();
            }),
        ),
    ];
    rows.extend(measure(&sandbox, ops));
    let ops: Vec<Op> = vec![
        (
            "filter by userName (a hit)",
            "1 GET",
            Box::new(|| {
                let r = scim.expect("GET", &by_user_name(email), None, 200);
                assert_eq!(r["totalResults"], 1);
            }),
        ),
        (
            "group add (PATCH /Groups/{team}, one member)",
            "1 GET + 1 PATCH (PATCH replaces `teams` whole: the agent's are read first)",
            Box::new(|| {
                scim.expect(
                    "PATCH",
                    "/Groups/team_tier1",
                    Some(json!({"Operations": [{"op": "add", "path": "members", "value": [{"value": id}]}]})),
                    200,
                );
            }),
        ),
        (
            "deactivate (PATCH active false)",
            "1 PATCH",
            Box::new(|| {
                scim.expect(
                    "PATCH",
                    &format!("/Users/{id}"),
                    Some(json!({"Operations": [{"op": "replace", "value": {"active": false}}]})),
                    200,
                );
            }),
        ),
        (
            "DELETE (deactivate and mark)",
            "1 GET + 1 PATCH (the mark keeps the old `externalId`)",
            Box::new(|| {
                scim.expect("DELETE", &format!("/Users/{id}"), None, 204);
            }),
        ),
    ];
    rows.extend(measure(&sandbox, ops));

    // 2. A read through the gateway, directly, and on `wasmtime serve`.
    eprintln!("a read three ways…");
    let jane = {
        let r = scim.expect("GET", &by_user_name("jane@acme.example"), None, 200);
        r["Resources"][0]["id"].as_str().unwrap().to_string()
    };
    let harness = Harness::embedded().unwrap();
    let conn = Connection::from(sandbox.admin());
    let key = AgentKey::Id(jane.clone());
    const RUNS: usize = 300;
    for _ in 0..20 {
        rt.block_on(harness.lookup(&conn, &key)).unwrap().unwrap();
        scim.expect("GET", &format!("/Users/{jane}"), None, 200);
    }
    let direct = time(RUNS, || {
        rt.block_on(harness.lookup(&conn, &key))
            .unwrap()
            .unwrap()
            .unwrap();
    });
    let through = time(RUNS, || {
        scim.expect("GET", &format!("/Users/{jane}"), None, 200);
    });
    let served = wasmtime_serve(&sandbox, &dir).map(|(base, served)| {
        let cli = Client::new(base);
        for _ in 0..20 {
            cli.expect("GET", &format!("/Users/{jane}"), None, 200);
        }
        let s = time(RUNS, || {
            cli.expect("GET", &format!("/Users/{jane}"), None, 200);
        });
        drop(served);
        s
    });
    let n = requests(&sandbox, || {
        scim.expect("GET", &format!("/Users/{jane}"), None, 200);
    });
    rows.push((
        "requests: read by id (GET /Users/{id})".into(),
        show(&n),
        "fewest: 1 GET".into(),
    ));
    let row = |what: &str, s: &Stats, vs: String| (what.to_string(), s.to_string(), vs);
    rows.push(row(
        "read by id, the connector's lookup called directly through the harness",
        &direct,
        "1.00".into(),
    ));
    rows.push(row(
        "read by id, GET /Users/{id} through `gladly-harness scim`",
        &through,
        format!("{:.2}x direct", ratio(through.median, direct.median)),
    ));
    if let Some(served) = &served {
        rows.push(row(
            "read by id, GET /Users/{id} through `wasmtime serve`",
            served,
            format!("{:.2}x direct", ratio(served.median, direct.median)),
        ));
    }

    // 3. An Okta-shaped initial sync at Gladly's published limit.
    eprintln!("an Okta-shaped sync of {USERS} users at 10 requests/s per method…");
    let limited = rt
        .block_on(Sandbox::start(SandboxConfig::default()))
        .unwrap();
    let base = rt.block_on(gateway(&limited, &dir));
    let next = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let told_to_wait = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (next, failures, waits, base) = (
                next.clone(),
                failures.clone(),
                told_to_wait.clone(),
                base.clone(),
            );
            std::thread::spawn(move || {
                let idp = Client::new(base);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= USERS {
                        break;
                    }
                    let email = format!("okta-{i:04}@acme.example");
                    let (status, found) =
                        idp.send_retrying("GET", &by_user_name(&email), None, &waits);
                    let ok = status == 200
                        && found["totalResults"] == 0
                        && idp
                            .send_retrying("POST", "/Users", Some(okta_user(&email)), &waits)
                            .0
                            == 201;
                    if !ok {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                    if (i + 1) % 100 == 0 {
                        eprintln!("  {} users in {:.1?}", i + 1, started.elapsed());
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let took = started.elapsed();
    let mut per_method: BTreeMap<String, usize> = BTreeMap::new();
    for r in limited.requests() {
        *per_method.entry(r.method).or_default() += 1;
    }
    let emails = limited.welcome_emails();
    let distinct: std::collections::BTreeSet<String> =
        emails.iter().map(|e| e.to.to_lowercase()).collect();
    let duplicates = emails.len() - distinct.len();
    // The fewest requests are one GET and one POST per user; Gladly counts
    // each method's 10 per second apart, the first 10 at once.
    let allowed = Duration::from_secs_f64((USERS - 10) as f64 / 10.0);
    rows.push((
        format!(
            "Okta-shaped sync of {USERS} users, {WORKERS} requests in flight, at 10/s per method"
        ),
        format!(
            "{:.1} s; Gladly received {}, answered {} of them 429; the IdP was answered 429 {} time(s) and retried; {} failed; {} welcome e-mails, {duplicates} duplicate",
            took.as_secs_f64(),
            show(&per_method),
            limited.answered(429),
            told_to_wait.load(Ordering::Relaxed),
            failures.load(Ordering::Relaxed),
            emails.len(),
        ),
        format!(
            "the limit allows {:.1} s (1 GET + 1 POST per user): {:.2}x that",
            allowed.as_secs_f64(),
            ratio(took, allowed)
        ),
    ));

    println!("| measure | result | against |");
    println!("| --- | --- | --- |");
    for (a, b, c) in rows {
        println!("| {a} | {b} | {c} |");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
