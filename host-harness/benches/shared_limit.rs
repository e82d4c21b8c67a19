//! Several instances sharing one organisation's rate limit, measured in one
//! run on one machine:
//!
//!     cargo bench -p gladly-harness --bench shared_limit
//!
//! Each instance is a `Harness` of its own (its own host pacer, as separate
//! processes or machines would have), with 4 calls in flight, each call a
//! lookup (one GET), against one sandbox keeping Gladly's limit of 10 GETs
//! a second, counted in a sliding window and then in a fixed one (Gladly
//! does not say which). For 1, 2 and 4 instances it prints the share of the
//! limit used together, the share of requests answered 429 (and how many
//! of them came in the first seconds, while the instances found their
//! shares), and each instance's share of the work against its fair share.
//! Set `SHARED_LIMIT_SECS` to run each setting longer (default 30 s).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use gladly_harness::agents::AgentKey;
use gladly_harness::{Connection, EMBEDDED_COMPONENT, Harness};
use gladly_sandbox::{RateLimit, Sandbox, SandboxConfig, Window};

const CALLS_IN_FLIGHT: usize = 4;
const LIMIT: u32 = 10;

struct Outcome {
    /// Lookups that ended well, per instance.
    done: Vec<usize>,
    took: Duration,
    requests: usize,
    refused: usize,
    /// Of those, in the first seconds ([`EARLY`]), while the instances find
    /// their shares.
    refused_early: usize,
}

/// The start of a run, whose 429s are counted apart.
const EARLY: Duration = Duration::from_secs(5);

fn run(
    rt: &tokio::runtime::Runtime,
    window: Window,
    instances: usize,
    secs: u64,
    cache: &std::path::Path,
) -> Outcome {
    let sandbox = rt
        .block_on(Sandbox::start(SandboxConfig {
            rate_limit: Some(RateLimit {
                per_second: LIMIT,
                window,
                ..RateLimit::default()
            }),
            ..SandboxConfig::default()
        }))
        .unwrap();
    let conn = Connection::from(sandbox.admin());
    let harnesses: Vec<Harness> = (0..instances)
        .map(|_| Harness::load(EMBEDDED_COMPONENT, Some(cache)).unwrap())
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let done: Vec<Arc<AtomicUsize>> = (0..instances).map(|_| Arc::default()).collect();
    let started = Instant::now();
    let tasks: Vec<_> = harnesses
        .iter()
        .enumerate()
        .flat_map(|(i, h)| {
            (0..CALLS_IN_FLIGHT).map({
                let (stop, done, conn) = (stop.clone(), done[i].clone(), conn.clone());
                move |_| {
                    let (h, stop, done, conn) =
                        (h.clone(), stop.clone(), done.clone(), conn.clone());
                    rt.spawn(async move {
                        let key = AgentKey::Email("jane@acme.example".into());
                        while !stop.load(Ordering::Relaxed) {
                            if let Ok(Ok(Some(_))) = h.lookup(&conn, &key).await {
                                done.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    })
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(secs));
    stop.store(true, Ordering::Relaxed);
    let counted: Vec<usize> = done.iter().map(|d| d.load(Ordering::Relaxed)).collect();
    let took = started.elapsed();
    for t in tasks {
        let _ = rt.block_on(t);
    }
    let requests = sandbox.requests();
    Outcome {
        done: counted,
        took,
        requests: requests.len(),
        refused: sandbox.answered(429),
        refused_early: requests
            .iter()
            .filter(|r| r.status == Some(429) && r.at.saturating_duration_since(started) < EARLY)
            .count(),
    }
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let secs: u64 = std::env::var("SHARED_LIMIT_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let cache = std::env::temp_dir().join(format!("gladly-shared-limit-{}", std::process::id()));
    std::fs::create_dir_all(&cache).unwrap();
    println!(
        "| window | instances | of the limit, together | answered 429 | of those, in the first {} s | each instance, of its fair share |",
        EARLY.as_secs()
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    for window in [Window::Sliding, Window::Fixed] {
        for instances in [1, 2, 4] {
            eprintln!("{window:?} window, {instances} instance(s), {secs} s…");
            let o = run(&rt, window, instances, secs, &cache);
            let total: usize = o.done.iter().sum();
            let per_second = total as f64 / o.took.as_secs_f64();
            let fair = total as f64 / instances as f64;
            let shares: Vec<String> = o
                .done
                .iter()
                .map(|d| format!("{:.2}", *d as f64 / fair))
                .collect();
            println!(
                "| {window:?} | {instances} | {:.2} ({per_second:.2}/s) | {:.1}% ({} of {}) | {} | {} |",
                per_second / f64::from(LIMIT),
                100.0 * o.refused as f64 / o.requests.max(1) as f64,
                o.refused,
                o.requests,
                o.refused_early,
                shares.join(", "),
            );
        }
    }
    let _ = std::fs::remove_dir_all(&cache);
}
