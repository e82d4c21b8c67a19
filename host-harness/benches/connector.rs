//! The connector's speed and size, measured in one run on one machine:
//!
//!     cargo bench -p gladly-harness --bench connector
//!
//! Prints a Markdown table (the figures in BENCHMARKS.md come from it):
//! - the release component's size;
//! - cold start of `gladly-harness lookup` (a new process each time) against
//!   a loopback sandbox, without and with the compiled-code cache, and the
//!   harness's peak memory;
//! - instantiation from the `InstancePre`;
//! - a warm lookup through the component versus the same core compiled
//!   natively over a native HTTP client (ureq), same sandbox;
//! - a walk of 10,000 agents (100 pages) through each;
//! - connection reuse: a walk and a provision with and without the harness's
//!   pool, against a sandbox that delays every new connection by 50 ms (a
//!   TLS handshake across the internet);
//! - pacing: a walk of 10,000 agents against Gladly's published limit of 10
//!   requests per second, with the requests per second achieved and the 429s
//!   drawn.
//!
//! Both transports keep connections alive (the harness's pool, ureq's), so
//! the comparison is of the component, not of connection reuse. The
//! sandboxes of the speed measures lift the rate limit; the pacing measure
//! keeps it.

use std::process::Command;
use std::time::{Duration, Instant};

use gladly_connector::model as core;
use gladly_connector::transport::{
    HttpRequest, HttpResponse, Method, Transport, TransportError, TransportErrorKind,
};
use gladly_harness::agents::AgentKey;
use gladly_harness::{Connection, Harness};
use gladly_sandbox::{Sandbox, SandboxConfig};

mod common;
use common::{Stats, fmt, stats, time};

/// The core's transport, natively: ureq, with its connection pool.
struct Native {
    agent: ureq::Agent,
}

impl Native {
    fn new() -> Self {
        Self {
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build()
                .into(),
        }
    }
}

impl Transport for Native {
    fn send(&mut self, req: &HttpRequest) -> Result<HttpResponse, TransportError> {
        let agent = &self.agent;
        let lost = |e: ureq::Error| TransportError::new(TransportErrorKind::Lost, e.to_string());
        let mut resp = match req.method {
            Method::Get => {
                let mut b = agent.get(&req.url);
                for (k, v) in &req.headers {
                    b = b.header(k, v);
                }
                b.call().map_err(lost)?
            }
            Method::Post | Method::Patch => {
                let mut b = if req.method == Method::Post {
                    agent.post(&req.url)
                } else {
                    agent.patch(&req.url)
                };
                // ureq frames the body itself.
                for (k, v) in req.headers.iter().filter(|(k, _)| k != "content-length") {
                    b = b.header(k, v);
                }
                b.send(req.body.as_deref().unwrap_or_default())
                    .map_err(lost)?
            }
        };
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = resp.body_mut().read_to_vec().map_err(lost)?;
        Ok(HttpResponse {
            status: resp.status().as_u16(),
            headers,
            body,
        })
    }
    fn sleep(&mut self, d: Duration) {
        std::thread::sleep(d)
    }
    fn jitter(&mut self) -> f64 {
        gladly_connector::transport::std_jitter()
    }
    fn now_unix(&mut self) -> u64 {
        gladly_connector::transport::std_now_unix()
    }
}

/// Peak resident memory of the children waited for so far, in KiB.
fn children_max_rss_kib() -> i64 {
    // SAFETY: getrusage only writes the struct it is given.
    #[allow(unsafe_code)]
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage.ru_maxrss
    }
}

fn cold_start(bin: &str, url: &str, args: &[&str], runs: usize) -> Stats {
    let samples = (0..runs)
        .map(|_| {
            let started = Instant::now();
            let out = Command::new(bin)
                .args(args)
                .args(["lookup", "--email", "jane@acme.example"])
                .env("GLADLY_ORG_URL", url)
                .env("GLADLY_API_USER", gladly_sandbox::ADMIN_USER)
                .env("GLADLY_API_TOKEN", gladly_sandbox::ADMIN_TOKEN)
                .output()
                .expect("runs");
            let took = started.elapsed();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            took
        })
        .collect();
    stats(samples)
}

fn main() {
    // `cargo bench` passes --bench; a plain `cargo test --benches` passes
    // nothing and should not spend a minute here.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let unlimited = || SandboxConfig {
        rate_limit: None,
        ..Default::default()
    };
    let small = rt.block_on(Sandbox::start(unlimited())).unwrap();
    let big = rt
        .block_on(Sandbox::start(SandboxConfig {
            extra_agents: 10_000 - 3,
            ..unlimited()
        }))
        .unwrap();
    let conn = Connection::from(small.admin());
    let core_conn = core::Connection {
        org_url: conn.org_url.clone(),
        api_user: conn.api_user.clone(),
        credential: core::Credential::Token(conn.api_token.clone()),
    };
    let big_conn = core::Connection {
        org_url: big.url(),
        ..core_conn.clone()
    };
    let mut rows: Vec<(String, String, String)> = Vec::new();

    let size = gladly_harness::EMBEDDED_COMPONENT.len();
    rows.push((
        "release component size".into(),
        format!("{} KiB ({size} bytes)", size / 1024),
        format!("{:.2}x the 400 KB target", size as f64 / 400_000.0),
    ));

    // Cold start, a fresh process each run.
    let bin = env!("CARGO_BIN_EXE_gladly-harness");
    let cache = std::env::temp_dir().join(format!("gladly-bench-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&cache);
    let cache_arg = cache.to_str().unwrap().to_string();
    let uncached = cold_start(bin, &small.url(), &["--no-cache"], 10);
    cold_start(bin, &small.url(), &["--cache-dir", &cache_arg], 1); // fills the cache
    let cached = cold_start(bin, &small.url(), &["--cache-dir", &cache_arg], 30);
    let peak = children_max_rss_kib();
    let _ = std::fs::remove_dir_all(&cache);
    rows.push((
        "cold start, `gladly-harness lookup`, no cache".into(),
        uncached.to_string(),
        String::new(),
    ));
    rows.push((
        "cold start, `gladly-harness lookup`, cached".into(),
        cached.to_string(),
        format!(
            "{:.1}x faster than uncached; target < 20 ms",
            uncached.median.as_secs_f64() / cached.median.as_secs_f64()
        ),
    ));
    rows.push((
        "harness peak RSS (any cold-start run)".into(),
        format!("{:.1} MiB", peak as f64 / 1024.0),
        String::new(),
    ));

    // A long-running host: pooled instances (the CLI above allocates on demand).
    let harness = Harness::load_with(
        gladly_harness::EMBEDDED_COMPONENT,
        None,
        gladly_harness::Allocation::Pooled {
            max_concurrent_calls: 64,
            max_memory_bytes: 64 << 20,
        },
    )
    .unwrap();
    let on_demand = Harness::embedded().unwrap();
    let time_instantiation = |h: &Harness| {
        for _ in 0..100 {
            rt.block_on(h.instantiate_and_drop(&conn)).unwrap();
        }
        time(2000, || {
            rt.block_on(h.instantiate_and_drop(&conn)).unwrap();
        })
    };
    let inst = time_instantiation(&harness);
    let inst_od = time_instantiation(&on_demand);
    rows.push((
        "instantiate from InstancePre, pooled".into(),
        inst.to_string(),
        "target < 50 µs".into(),
    ));
    rows.push((
        "instantiate from InstancePre, on demand".into(),
        inst_od.to_string(),
        String::new(),
    ));

    // A call that sends nothing (the component refuses the input): the fixed
    // cost of a call, instantiation included, without HTTP.
    let bad = AgentKey::Email("not-an-email".into());
    let no_io = time(2000, || {
        assert!(rt.block_on(harness.lookup(&conn, &bad)).unwrap().is_err());
    });
    rows.push((
        "call without I/O (input refused), pooled".into(),
        no_io.to_string(),
        "fixed per-call cost".into(),
    ));

    let mut native_t = Native::new();
    // Warm lookup by id: one GET each.
    let key = AgentKey::Id("agt_001".into());
    let core_key = core::AgentKey::Id("agt_001".into());
    for _ in 0..50 {
        rt.block_on(harness.lookup(&conn, &key)).unwrap().unwrap();
        gladly_connector::ops::lookup(&mut native_t, &core_conn, &core_key).unwrap();
    }
    let comp = time(500, || {
        rt.block_on(harness.lookup(&conn, &key)).unwrap().unwrap();
    });
    let native = time(500, || {
        gladly_connector::ops::lookup(&mut native_t, &core_conn, &core_key).unwrap();
    });
    rows.push((
        "warm lookup by id, component (pooled)".into(),
        comp.to_string(),
        format!(
            "{:.2}x native; target ≤ 1.2x",
            comp.median.as_secs_f64() / native.median.as_secs_f64()
        ),
    ));
    rows.push((
        "warm lookup by id, native core + ureq".into(),
        native.to_string(),
        String::new(),
    ));

    // A walk of 10,000 agents in 100 pages.
    let big_admin = Connection::from(big.admin());
    let walk_comp = time(7, || {
        let all = rt
            .block_on(harness.list_agents(&big_admin, false))
            .unwrap()
            .unwrap();
        assert_eq!(all.len(), 10_000);
    });
    let walk_native = time(7, || {
        let all = gladly_connector::ops::list_agents(&mut native_t, &big_conn, false).unwrap();
        assert_eq!(all.len(), 10_000);
    });
    rows.push((
        "walk 10,000 agents (100 pages), component".into(),
        format!("median {}", fmt(walk_comp.median)),
        format!(
            "{:.2}x native",
            walk_comp.median.as_secs_f64() / walk_native.median.as_secs_f64()
        ),
    ));
    rows.push((
        "walk 10,000 agents (100 pages), native".into(),
        format!("median {}", fmt(walk_native.median)),
        String::new(),
    ));

    connection_reuse(&rt, &mut rows);
    pacing(&rt, &mut rows);

    println!("| measure | result | ratio / target |");
    println!("| --- | --- | --- |");
    for (a, b, c) in rows {
        println!("| {a} | {b} | {c} |");
    }
}

/// A walk and a provision, with and without the harness's connection pool,
/// against a sandbox that waits 50 ms before serving each new connection.
fn connection_reuse(rt: &tokio::runtime::Runtime, rows: &mut Vec<(String, String, String)>) {
    let delay = Duration::from_millis(50);
    let slow = rt
        .block_on(Sandbox::start(SandboxConfig {
            extra_agents: 10_000 - 3,
            rate_limit: None,
            connection_delay: delay,
            ..Default::default()
        }))
        .unwrap();
    let conn = Connection::from(slow.admin());
    let pooled = Harness::embedded().unwrap();
    let unpooled = Harness::embedded()
        .unwrap()
        .with_limits(gladly_harness::Limits {
            pool_max_idle_per_origin: 0,
            ..gladly_harness::Limits::default()
        });
    let walk = |h: &Harness| {
        time(3, || {
            let all = rt.block_on(h.list_agents(&conn, false)).unwrap().unwrap();
            assert_eq!(all.len(), 10_000);
        })
    };
    let before = slow.connections();
    let with = walk(&pooled);
    let with_conns = slow.connections() - before;
    let before = slow.connections();
    let without = walk(&unpooled);
    let without_conns = slow.connections() - before;
    rows.push((
        "walk 10,000 agents, 50 ms per new connection, connections reused".into(),
        format!(
            "median {} ({with_conns} connections in 3 walks)",
            fmt(with.median)
        ),
        format!(
            "{:.1}x faster than without reuse",
            without.median.as_secs_f64() / with.median.as_secs_f64()
        ),
    ));
    rows.push((
        "walk 10,000 agents, 50 ms per new connection, a connection per request".into(),
        format!(
            "median {} ({without_conns} connections)",
            fmt(without.median)
        ),
        String::new(),
    ));
    let mut n = 0;
    let mut provision = |h: &Harness| {
        time(10, || {
            n += 1;
            let agent = gladly_harness::agents::NewAgent {
                email_address: format!("reuse-{n}@acme.example"),
                name: "Reuse".into(),
                role: gladly_harness::agents::Role::Agent,
                inboxes: vec!["Billing".into()],
                teams: vec![],
                external_id: None,
                phone_number: None,
                language: None,
                agent_profile: None,
            };
            let options = gladly_harness::agents::WriteOptions {
                dry_run: false,
                no_reactivate: false,
                retry: None,
            };
            rt.block_on(h.provision(&conn, &agent, &options))
                .unwrap()
                .unwrap();
        })
    };
    let with = provision(&pooled);
    let without = provision(&unpooled);
    rows.push((
        "provision (inbox by name), 50 ms per new connection, connections reused".into(),
        with.to_string(),
        format!(
            "{:.1}x faster than without reuse",
            without.median.as_secs_f64() / with.median.as_secs_f64()
        ),
    ));
    rows.push((
        "provision (inbox by name), 50 ms per new connection, a connection per request".into(),
        without.to_string(),
        String::new(),
    ));
}

/// A walk of 10,000 agents (100 GETs) against Gladly's published limit.
fn pacing(rt: &tokio::runtime::Runtime, rows: &mut Vec<(String, String, String)>) {
    let limited = rt
        .block_on(Sandbox::start(SandboxConfig {
            extra_agents: 10_000 - 3,
            ..Default::default()
        }))
        .unwrap();
    let limit = gladly_sandbox::RateLimit::default().per_second;
    let harness = Harness::embedded().unwrap();
    let conn = Connection::from(limited.admin());
    let started = Instant::now();
    let all = rt
        .block_on(harness.list_agents(&conn, false))
        .unwrap()
        .unwrap();
    let took = started.elapsed();
    assert_eq!(all.len(), 10_000);
    let requests = limited.requests().len();
    let rate = requests as f64 / took.as_secs_f64();
    rows.push((
        format!("walk 10,000 agents at Gladly's limit ({limit} GET/s), paced"),
        format!(
            "{} for {requests} requests: {rate:.2} requests/s, {} answered 429",
            fmt(took),
            limited.answered(429)
        ),
        format!("{:.2} of the limit", rate / f64::from(limit)),
    ));
}
