//! The connector as an Obelisk 0.38.3 activity (through its adapter, see
//! `obelisk/`), on two servers sharing one PostgreSQL, one of them killed in
//! the middle of a few hundred provisions; and the roster reconciliation as
//! a durable workflow.
//!
//! Needs Obelisk 0.38.3 (`$OBELISK` or on `PATH`), `wac` (`$WAC` or on
//! `PATH`) and Debian's PostgreSQL; `.ci/run` installs them. Without Obelisk
//! a developer is told and the tests pass; in CI they fail.
//!
//! A test binary of its own: cargo runs test binaries one after another, so
//! the engines' processes never compete with the timing- and memory-
//! sensitive tests of `tests/all`.

mod cluster;
#[path = "../common/mod.rs"]
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::Engine as _;
use gladly_sandbox::{ADMIN_TOKEN, ADMIN_USER, Sandbox, SandboxConfig};
use serde_json::{Value, json};

use cluster::*;

const PROVISION: &str = "gladly:obelisk/agents@0.1.0.provision";
const LOOKUP: &str = "gladly:obelisk/agents@0.1.0.lookup";
const OFFBOARD: &str = "gladly:obelisk/agents@0.1.0.offboard";
const RECONCILE: &str = "gladly:obelisk-workflow/reconcile@0.1.0.reconcile";

/// Obelisk, or `None` where a developer has not installed it.
fn obelisk_or_skip() -> Option<PathBuf> {
    let bin = obelisk();
    if bin.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs Obelisk {OBELISK_VERSION} for this test (see .ci/run)"
        );
        eprintln!("skipped: Obelisk {OBELISK_VERSION} is not installed (set $OBELISK)");
    }
    bin
}

fn basic_credential() -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{ADMIN_USER}:{ADMIN_TOKEN}"))
}

/// The environment the deployment reads, for the sandbox.
fn deployment_env(sandbox: &Sandbox) -> Vec<(&'static str, String)> {
    vec![
        ("GLADLY_ORG_URL", sandbox.url()),
        ("GLADLY_ORG_HOST", sandbox.url()),
        ("GLADLY_API_USER", ADMIN_USER.to_string()),
        ("GLADLY_BASIC_CREDENTIAL", basic_credential()),
    ]
}

/// Waits for every execution to finish (asking `node`); their results.
fn results(node: &Node, ids: &[String], timeout: Duration) -> Vec<Value> {
    results_by(
        node,
        ids,
        Instant::now() + timeout,
        Duration::from_millis(250),
    )
}

/// The executions' return values, in order, asking for those unfinished
/// `every` so often until `deadline`.
fn results_by(node: &Node, ids: &[String], deadline: Instant, every: Duration) -> Vec<Value> {
    let mut done: BTreeMap<usize, Value> = BTreeMap::new();
    while done.len() < ids.len() {
        for (i, id) in ids.iter().enumerate() {
            if !done.contains_key(&i)
                && let Some(v) = node.result(id)
            {
                done.insert(i, v);
            }
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} executions unfinished at the deadline:\n{}",
            ids.len() - done.len(),
            ids.len(),
            node.log_text()
        );
        std::thread::sleep(every);
    }
    done.into_values().collect()
}

fn new_agent(i: usize) -> (String, Value) {
    let email = format!("joiner-{i:03}@acme.example");
    let agent = json!({
        "email_address": email,
        "name": format!("Joiner {i}"),
        "role": "agent",
        "inboxes": [],
        "teams": [],
        "external_id": format!("HR-{i:05}"),
    });
    (email, agent)
}

fn write_options() -> Value {
    json!({ "dry_run": false, "no_reactivate": false })
}

/// What every test here starts from: the sandbox, a private PostgreSQL, the
/// shipped deployment with this lock expiry, and port 5432 to itself.
/// Dropped after the test's nodes (declared later), so they die first.
struct Stage {
    obelisk: PathBuf,
    sandbox: Sandbox,
    pg: Postgres,
    dir: PathBuf,
    env: Vec<(&'static str, String)>,
    deployment: PathBuf,
    _runtime: tokio::runtime::Runtime,
    _port_5432: std::sync::MutexGuard<'static, ()>,
}

impl Drop for Stage {
    /// Removes the scratch directory (the database, the servers' logs and
    /// caches) after a test that passed; a failed one leaves it to read.
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.pg.stop();
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Stage {
    /// `None` where a developer has not installed Obelisk.
    fn new(name: &str, config: SandboxConfig, lock_expiry_secs: u32) -> Option<Self> {
        let obelisk = obelisk_or_skip()?;
        let port_5432 = one_at_a_time();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let sandbox = runtime.block_on(Sandbox::start(config)).unwrap();
        let dir = scratch(name);
        let pg = Postgres::start(&dir);
        let env = deployment_env(&sandbox);
        let deployment = deployment(&dir, lock_expiry_secs);
        Some(Self {
            obelisk,
            sandbox,
            pg,
            dir,
            env,
            deployment,
            _runtime: runtime,
            _port_5432: port_5432,
        })
    }

    /// A server on `api_port`, ready; the first one of a stage activates the
    /// deployment, later ones serve the active one.
    fn node(&self, name: &str, api_port: u16, first: bool) -> Node {
        let deployment = first.then_some(self.deployment.as_path());
        let mut node = Node::start(
            &self.obelisk,
            &self.dir,
            name,
            api_port,
            deployment,
            &self.env,
        );
        node.wait_ready(Duration::from_secs(300));
        node
    }
}

/// Asserts, from the sandbox's own records, that each of these joiners is
/// one agent and received one welcome e-mail.
fn assert_each_once(sandbox: &Sandbox, joiners: std::ops::Range<usize>) {
    let org = sandbox.org();
    for i in joiners {
        let (email, _) = new_agent(i);
        let agents = org
            .agents
            .iter()
            .filter(|a| a.email_address == email)
            .count();
        let welcomes = org.welcome_emails.iter().filter(|w| w.to == email).count();
        assert_eq!(
            (agents, welcomes),
            (1, 1),
            "{email}: agents, welcome e-mails"
        );
    }
}

/// Joiner `i`'s provision: its parameters.
fn provision_params(i: usize) -> Value {
    json!([new_agent(i).1, write_options()])
}

/// Runs `each(t, i)` for `i` in `0..n` on `threads` client threads, thread
/// `t` taking `t`, `t + threads`, ... in turn; what each returned, in the
/// order of `i`.
fn on_threads<T: Send>(
    threads: usize,
    n: usize,
    each: impl Fn(usize, usize) -> T + Sync,
) -> Vec<T> {
    let each = &each;
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    (t..n)
                        .step_by(threads)
                        .map(|i| (i, each(t, i)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<(usize, T)> = workers
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        all.sort_by_key(|(i, _)| *i);
        all.into_iter().map(|(_, v)| v).collect()
    })
}

/// Runs `n` provisions from `per_node` client threads a server, each
/// submitting one and waiting for its result before the next: no more
/// executions outstanding than the servers run in flight, so none waits
/// in the engine's queue. The results, in order; every one by `deadline`.
fn run_provisions_held(
    nodes: &[&Node],
    n: usize,
    per_node: usize,
    deadline: Instant,
) -> Vec<Value> {
    // Asked for every 100 ms: Obelisk's `follow`, meant to answer once
    // the execution finished, here, on PostgreSQL, never answered the
    // requests after the first five.
    on_threads(per_node * nodes.len(), n, |t, i| {
        let node = nodes[t % nodes.len()];
        let id = node.submit(PROVISION, provision_params(i));
        results_by(node, &[id], deadline, Duration::from_millis(100)).remove(0)
    })
}

/// Submits provisions of joiners `0..n`, in turn to each of `nodes`, from
/// eight threads (one submission waits about 200 ms for its answer here, so
/// a single client thread would be the bottleneck); their ids, in order.
fn submit_provisions(nodes: &[&Node], n: usize) -> Vec<String> {
    on_threads(8, n, |_, i| {
        nodes[i % nodes.len()].submit(PROVISION, provision_params(i))
    })
}

/// `(executor id, execution id, version)` of every lock the database
/// holds, in order. The version makes each row unique: an execution locked
/// twice has two.
fn locks(pg: &Postgres) -> Vec<(String, String, String)> {
    pg.query(
        "SELECT json_value->'locked'->>'executor_id', execution_id, version FROM t_execution_log \
         WHERE variant = 'locked' ORDER BY created_at, execution_id",
    )
    .lines()
    .filter_map(|l| {
        let mut f = l.split('|');
        Some((
            f.next()?.to_string(),
            f.next()?.to_string(),
            f.next()?.to_string(),
        ))
    })
    .collect()
}

#[test]
fn two_servers_share_a_few_hundred_provisions_and_survive_losing_one() {
    // Gladly's published rate limit, as every test here.
    let Some(stage) = Stage::new("cluster", SandboxConfig::default(), 10) else {
        return;
    };
    let (sandbox, pg) = (&stage.sandbox, &stage.pg);
    let mut a = stage.node("a", 15105, true);
    // The second server is given no deployment: it serves the active one.
    let b = stage.node("b", 15106, false);

    // Half to each server, from several threads, so that all are queued
    // long before the work is done.
    const N: usize = 300;
    let t0 = Instant::now();
    let ids = submit_provisions(&[&a, &b], N);
    eprintln!(
        "submitted {N} in {:?}; {} welcome e-mails so far",
        t0.elapsed(),
        sandbox.welcome_emails().len()
    );
    // Kill A in the middle, while it holds executions.
    let started = Instant::now();
    while sandbox.welcome_emails().len() < N / 3 {
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "no progress:\n{}",
            a.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    a.kill();
    // Taken once A is dead: every lock A ever took is in it, and any lock
    // recorded later is B's (a snapshot taken before the kill raced A's
    // last locks, and CI once saw A's executor "after" it).
    let at_kill: BTreeSet<(String, String, String)> = locks(pg).into_iter().collect();
    let killed_at = sandbox.welcome_emails().len();
    eprintln!("killed node a after {killed_at} of {N} welcome e-mails");

    let results = results(&b, &ids, Duration::from_secs(600));

    // Every execution succeeded: created, or (run again after the node
    // died mid-call) found already existing.
    for (i, r) in results.iter().enumerate() {
        let outcome = r["ok"]["outcome"].as_str();
        assert!(
            matches!(outcome, Some("created" | "already_existed")),
            "provision {i}: {r}"
        );
    }

    // The sandbox's own records: each person once, one welcome e-mail each.
    assert_each_once(sandbox, 0..N);
    let org = sandbox.org();
    assert_eq!(org.welcome_emails.len(), N, "no other welcome e-mail");
    drop(org);

    // The two servers, shares unset, counted each other from the engine's
    // record (src/obelisk_nodes.rs) and split the limit: each taking the
    // whole of it, they drew a quarter of their requests answered 429
    // (BENCHMARKS.md).
    let (requests, limited) = (sandbox.requests().len(), sandbox.answered(429));
    assert!(
        limited * 50 <= requests,
        "{limited} of {requests} requests answered 429: the servers did not split the limit"
    );

    // Both servers did work; the survivor finished the rest, including what
    // the dead one held.
    let all = locks(pg);
    let a_executors: BTreeSet<&str> = {
        let after: BTreeSet<&str> = all
            .iter()
            .filter(|row| !at_kill.contains(*row))
            .map(|(e, _, _)| e.as_str())
            .collect();
        at_kill
            .iter()
            .map(|(e, _, _)| e.as_str())
            .filter(|e| !after.contains(e))
            .collect()
    };
    let final_executor: BTreeMap<&str, &str> = all
        .iter()
        .map(|(e, x, _)| (x.as_str(), e.as_str()))
        .collect();
    let by_a = final_executor
        .values()
        .filter(|e| a_executors.contains(*e))
        .count();
    let by_b = final_executor.len() - by_a;
    let taken_over = final_executor
        .iter()
        .filter(|(x, e)| {
            !a_executors.contains(*e)
                && all
                    .iter()
                    .any(|(ae, ax, _)| ax == *x && a_executors.contains(ae.as_str()))
        })
        .count();
    let mut per_executor: BTreeMap<&str, usize> = BTreeMap::new();
    for (e, _, _) in &all {
        *per_executor.entry(e.as_str()).or_default() += 1;
    }
    eprintln!(
        "locks per executor {per_executor:?} (a: {a_executors:?}); finished by a: {by_a}, by b: {by_b}, \
         locked by a and finished by b: {taken_over}"
    );
    assert_eq!(final_executor.len(), N, "every execution was locked");
    assert!(
        by_a > 0 && by_b > 0,
        "both servers did part of the work: a {by_a}, b {by_b}"
    );
    assert!(taken_over > 0, "b took over what a held when it died");

    // The token is in no execution record, nor anything else in the database,
    // nor in either server's log.
    let dump = pg.dump();
    assert!(
        dump.contains("joiner-000@acme.example"),
        "the dump holds the executions"
    );
    for secret in [ADMIN_TOKEN.to_string(), basic_credential()] {
        assert!(!dump.contains(&secret), "the database holds the credential");
        assert!(!a.log_text().contains(&secret) && !b.log_text().contains(&secret));
    }
}

/// How many times the engine locked (ran) the execution.
fn runs(pg: &Postgres, id: &str) -> usize {
    locks(pg).iter().filter(|(_, x, _)| x == id).count()
}

#[test]
fn lookup_offboard_errors_and_a_reconciliation_workflow_that_resumes_on_another_node() {
    let Some(stage) = Stage::new("workflow", SandboxConfig::default(), 10) else {
        return;
    };
    let (sandbox, pg) = (&stage.sandbox, &stage.pg);
    let mut a = stage.node("a", 15107, true);
    let wait = Duration::from_secs(120);

    // A lookup and an offboard, as an operator submits them.
    let id = a.submit(LOOKUP, json!([{ "email": "jane@acme.example" }]));
    let found = &results(&a, &[id], wait)[0];
    assert_eq!(found["ok"]["external_id"], "E-1001", "{found}");
    let id = a.submit(
        OFFBOARD,
        json!([{ "email": "jane@acme.example" }, write_options()]),
    );
    let gone = &results(&a, &[id], wait)[0];
    assert_eq!(gone["ok"]["outcome"], "deactivated", "{gone}");
    assert!(
        !sandbox
            .org()
            .agents
            .iter()
            .any(|x| x.email_address == "jane@acme.example" && x.active)
    );

    // A permanent error is final at once: one run.
    let (_, mut bad) = new_agent(999);
    bad["email_address"] = json!("not-an-address");
    let id = a.submit(PROVISION, json!([bad, write_options()]));
    let refused = &results(&a, std::slice::from_ref(&id), wait)[0];
    assert_eq!(
        refused["error"]["permanent_invalid_input"]["field"], "agent.email-address",
        "{refused}"
    );
    assert_eq!(runs(pg, &id), 1, "a permanent error is not retried");

    // Gladly's words echo the bare token, which the component (it never
    // holds the token) could not tell from other words: the shipped
    // deployment leaves them out (GLADLY_SERVER_TEXT=omit), and the
    // execution record, checked in the dump below, never holds it.
    use gladly_sandbox::Fault;
    sandbox.push_faults([Fault::Json {
        status: 400,
        body: json!({"errors": [{"attr": "emailAddress", "code": "invalid",
            "detail": format!("invalid api token {ADMIN_TOKEN}")}]})
        .to_string(),
    }
    .on("GET")]);
    let id = a.submit(LOOKUP, json!([{ "email": "jane@acme.example" }]));
    let echoed = &results(&a, &[id], wait)[0];
    let refused = echoed["error"]["permanent_invalid_input"].to_string();
    assert!(refused.contains("<left out>"), "{echoed}");
    assert!(!refused.contains("invalid api token"), "{echoed}");
    assert!(!echoed.to_string().contains(ADMIN_TOKEN), "{echoed}");

    // A 5xx that outlasts the connector's own retries is retried by the
    // engine, which then succeeds.
    sandbox.push_faults((0..5).map(|_| Fault::Status(503).on("GET")));
    let (email, agent) = new_agent(998);
    let id = a.submit(PROVISION, json!([agent, write_options()]));
    let retried = &results(&a, std::slice::from_ref(&id), wait)[0];
    assert_eq!(retried["ok"]["outcome"], "created", "{retried}");
    assert_eq!(runs(pg, &id), 2, "upstream (503) is retried by the engine");
    assert_eq!(
        sandbox
            .welcome_emails()
            .iter()
            .filter(|w| w.to == email)
            .count(),
        1
    );

    // The reconciliation workflow: 60 joiners; Sam and joiner 998 leave
    // (absent from the roster, in the managed scope). They are the last
    // active agents in scope, which trips the guard; the options allow two.
    const JOINERS: usize = 60;
    let desired: Vec<Value> = (0..JOINERS)
        .map(|i| {
            let (email, _) = new_agent(i);
            json!({
                "email_address": email,
                "name": format!("Joiner {i}"),
                "role": "agent",
                "external_id": format!("HR-{i:05}"),
                "active": true,
            })
        })
        .collect();
    let options = json!({
        "plan": { "scope": "managed" },
        "allow_deactivations": 2,
        "dry_run": false,
    });
    let welcomed = sandbox.welcome_emails().len();
    let workflow = a.submit(RECONCILE, json!([desired, options]));

    // Kill the only node in the middle; a second one resumes the workflow.
    let started = Instant::now();
    while sandbox.welcome_emails().len() < welcomed + JOINERS / 3 {
        assert!(started.elapsed() < wait, "no progress:\n{}", a.log_text());
        if let Some(early) = a.result(&workflow) {
            panic!("the workflow ended before a third of its changes: {early}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    a.kill();
    let at_kill = sandbox.welcome_emails().len() - welcomed;
    let b = stage.node("b", 15108, false);
    let report = &results(&b, &[workflow], Duration::from_secs(300))[0]["ok"];
    eprintln!(
        "workflow: node a died after {at_kill} creates; b finished: applied {}, already applied {}",
        report["applied"], report["already_applied"]
    );
    assert_eq!(report["planned"], JOINERS + 2, "{report}");
    assert_eq!(report["failed"], 0, "{report}");
    assert_eq!(report["stale"], 0, "{report}");
    let applied = report["applied"].as_u64().unwrap() + report["already_applied"].as_u64().unwrap();
    assert_eq!(applied, JOINERS as u64 + 2, "{report}");
    assert_each_once(sandbox, 0..JOINERS);
    let org = sandbox.org();
    for leaver in ["sam@acme.example", "joiner-998@acme.example"] {
        let gone = org
            .agents
            .iter()
            .any(|x| x.email_address == leaver && !x.active);
        assert!(gone, "{leaver} deactivated");
    }
    drop(org);

    let dump = pg.dump();
    for secret in [ADMIN_TOKEN.to_string(), basic_credential()] {
        assert!(!dump.contains(&secret), "the database holds the credential");
    }
}

/// Item 10 of issue 15: a reconciliation workflow stops at a change that
/// fails `permanent-unauthorized`, as the CLI does: the rest are not
/// attempted (nothing more is sent), and the report says why it stopped.
#[test]
fn a_reconciliation_workflow_stops_at_unauthorized_and_attempts_nothing_after() {
    let Some(stage) = Stage::new("stop", SandboxConfig::default(), 10) else {
        return;
    };
    let sandbox = &stage.sandbox;
    let a = stage.node("a", 15120, true);
    // Three changes: Jane and Sam renamed, then a joiner. Gladly answers
    // the first write 401 (the token was revoked mid-run).
    let person = |email: &str, name: &str, ext: &str| {
        json!({
            "email_address": email,
            "name": name,
            "external_id": ext,
            "active": true,
        })
    };
    let desired = json!([
        person("jane@acme.example", "Jane A. Doe", "E-1001"),
        person("sam@acme.example", "Sam B. Lee", "E-1002"),
        person("joiner-500@acme.example", "Joiner 500", "HR-00500"),
    ]);
    let options = json!({ "plan": { "scope": "managed" }, "dry_run": false });
    use gladly_sandbox::Fault;
    sandbox.push_faults([Fault::Status(401).on("PATCH")]);
    let id = a.submit(RECONCILE, json!([desired, options]));
    let report = &results(&a, &[id], Duration::from_secs(120))[0]["ok"];
    assert_eq!(report["planned"], 3, "{report}");
    assert_eq!(
        (
            &report["failed"],
            &report["applied"],
            &report["not_attempted"]
        ),
        (&json!(1), &json!(0), &json!(2)),
        "expected one failure and the rest not attempted, got {report}"
    );
    let stopped = report["stopped"].as_str().unwrap_or_default();
    assert!(
        stopped.contains("step 1") && stopped.contains("unauthorized"),
        "expected why it stopped, got {report}"
    );
    let writes: Vec<_> = sandbox
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET")
        .map(|r| format!("{} {}", r.method, r.path_and_query))
        .collect();
    assert_eq!(writes.len(), 1, "only the first write was sent: {writes:?}");
    assert!(
        sandbox.welcome_emails().is_empty(),
        "the joiner was not created"
    );
}

#[test]
fn on_obelisk_the_component_sees_only_a_placeholder() {
    let Some(stage) = Stage::new("rogue", SandboxConfig::default(), 10) else {
        return;
    };
    // The shipped deployment, running the rogue component in the
    // connector's place: its `lookup` reports its arguments, environment,
    // command line and the whole answer to a GET it sends with the
    // credential it was given.
    let shipped = std::fs::read_to_string(&stage.deployment).unwrap();
    let real = components()
        .join("gladly_activity.wasm")
        .display()
        .to_string();
    assert!(shipped.contains(&real));
    let rogue = rogue_activity().display().to_string();
    std::fs::write(&stage.deployment, shipped.replace(&real, &rogue)).unwrap();
    let a = stage.node("a", 15109, true);

    let id = a.submit(LOOKUP, json!([{ "id": "agt_001" }]));
    let report = &results(&a, &[id], Duration::from_secs(60))[0];
    let seen = report["error"]["permanent_unsupported"]
        .as_str()
        .unwrap_or_else(|| panic!("expected the rogue's report, got {report}"));
    // Obelisk completed the placeholder (the sandbox checks the token and
    // answered with the agents); the component never saw the token.
    assert!(
        seen.contains("credential host-completed OBELISK_SECRET_"),
        "{seen}"
    );
    assert!(
        seen.contains("status 200") && seen.contains("agt_"),
        "{seen}"
    );
    assert!(!seen.contains(ADMIN_TOKEN), "{seen}");
    assert!(!seen.contains(&basic_credential()), "{seen}");
}

/// What one throughput run measured.
struct Run {
    /// From the first submission to the last result.
    secs: f64,
    /// Requests the sandbox answered, and of them 429.
    requests: usize,
    limited: usize,
    /// Time to submit them all (`None`: held, submitted one by one).
    submitted: Option<f64>,
    /// CPU seconds the Obelisk servers used.
    servers_cpu: f64,
    /// Share of the machine's CPU busy (all processes).
    machine_busy: f64,
    /// With a server killed: agents created a second by the survivor,
    /// from 3 s to 13 s after the kill.
    survivor: Option<f64>,
    /// How much of the limit the requests used while they flowed (see
    /// [`use_of_limit`]).
    of_limit: Option<f64>,
}

/// How much of a limit of `limit` a second the requests the sandbox let
/// through used while they flowed, for the method that used most (the one
/// that bounds the run: a provision sends two GETs, its look-up and the
/// read-back of Gladly's terse answer, and one POST): of `n`
/// requests of a method, all but the first `limit` needed at least a
/// `limit`th of a window each, so `(n - limit) / limit` seconds at the
/// least, over the seconds from the first's arrival to the last's. None
/// when no method had more than twice `limit` let through. (Executions a
/// second, beside it, also count the engine's own time before the first
/// request and after the last answer.)
fn use_of_limit(requests: &[gladly_sandbox::RecordedRequest], limit: usize) -> Option<f64> {
    ["GET", "POST"]
        .iter()
        .filter_map(|method| {
            let through: Vec<_> = requests
                .iter()
                .filter(|r| r.method == *method && r.status.is_some_and(|s| s != 429))
                .map(|r| r.at)
                .collect();
            let (first, last) = (through.iter().min()?, through.iter().max()?);
            let took = last.duration_since(*first).as_secs_f64();
            (through.len() > 2 * limit && took > 0.0)
                .then(|| (through.len() - limit) as f64 / limit as f64 / took)
        })
        .reduce(f64::max)
}

/// One throughput setting: `nodes` servers with the shipped deployment
/// (`share`: their `GLADLY_RATE_SHARE`; `calls`: their calls in flight, if
/// not the shipped 5), against a sandbox with `rate_limit` per second and
/// method counted in `window` (`None`: no limit); `kill`: the second server
/// is killed once a third of the agents exist; `held`: the clients keep no
/// more executions outstanding than the servers' calls in flight, instead
/// of submitting them all at once.
#[derive(Clone, Copy)]
struct Setting {
    nodes: usize,
    rate_limit: Option<u32>,
    window: gladly_sandbox::Window,
    share: Option<u32>,
    calls: Option<usize>,
    kill: bool,
    held: bool,
    /// Whether the calls can reach their node's API to count the nodes
    /// (README, "Rate limit on Obelisk"); not: pointed at a closed port,
    /// each node takes itself for alone, as before nodes were counted.
    nodes_counted: bool,
}

/// One throughput run of `n` provisions, submitted at once (or held to the
/// calls in flight: `setting.held`).
fn throughput(setting: Setting, n: usize) -> Option<Run> {
    use gladly_sandbox::RateLimit;
    assert!(
        !(setting.held && setting.kill),
        "a held run does not kill a server"
    );
    let config = SandboxConfig {
        rate_limit: setting.rate_limit.map(|per_second| RateLimit {
            per_second,
            window: setting.window,
            ..RateLimit::default()
        }),
        ..SandboxConfig::default()
    };
    let limit = setting
        .rate_limit
        .map_or("unlimited".to_string(), |l| l.to_string());
    let mut stage = Stage::new(&format!("bench-{}-{limit}", setting.nodes), config, 120)?;
    if !setting.nodes_counted {
        stage
            .env
            .push(("GLADLY_OBELISK_API", "http://127.0.0.1:9".to_string()));
    }
    if let Some(share) = setting.share {
        stage.env.push(("GLADLY_RATE_SHARE", share.to_string()));
    }
    if let Some(calls) = setting.calls {
        cluster::set_calls_in_flight(&stage.deployment, calls);
    }
    let mut servers: Vec<Node> = (0..setting.nodes)
        .map(|i| stage.node(&format!("n{i}"), 15110 + i as u16, i == 0))
        .collect();
    let cpu_before: f64 = servers.iter().map(Node::cpu_seconds).sum();
    let (busy_before, all_before) = machine_cpu();
    let started = Instant::now();
    let nodes: Vec<&Node> = servers.iter().collect();
    let (ids, held) = if setting.held {
        let calls = setting.calls.unwrap_or(5);
        let deadline = started + Duration::from_secs(900);
        (
            vec![],
            Some(run_provisions_held(&nodes, n, calls, deadline)),
        )
    } else {
        (submit_provisions(&nodes, n), None)
    };
    let submitted = (!setting.held).then(|| started.elapsed());
    let mut survivor = None;
    let mut killed_cpu = 0.0;
    if setting.kill {
        let created = || stage.sandbox.welcome_emails().len();
        while created() < n / 3 {
            assert!(started.elapsed() < Duration::from_secs(600));
            std::thread::sleep(Duration::from_millis(50));
        }
        killed_cpu = servers[1].cpu_seconds();
        servers[1].kill();
        std::thread::sleep(Duration::from_secs(3));
        let from = created();
        std::thread::sleep(Duration::from_secs(10));
        survivor = Some((created() - from) as f64 / 10.0);
    }
    let results = held.unwrap_or_else(|| results(&servers[0], &ids, Duration::from_secs(900)));
    let secs = started.elapsed().as_secs_f64();
    let (busy, all) = machine_cpu();
    if !setting.kill {
        // Created, or, run again by the engine after a call that created
        // the agent failed later (a read-back out of retries under 429s),
        // found: each person is still one agent (below).
        if let Some(r) = results.iter().find(|r| {
            !matches!(
                r["ok"]["outcome"].as_str(),
                Some("created" | "already_existed")
            )
        }) {
            panic!("a provision did not succeed: {r}");
        }
    }
    assert_each_once(&stage.sandbox, 0..n);
    let requests = stage.sandbox.requests();
    Some(Run {
        secs,
        of_limit: use_of_limit(&requests, setting.rate_limit.unwrap_or(10) as usize),
        requests: requests.len(),
        limited: stage.sandbox.answered(429),
        submitted: submitted.map(|d| d.as_secs_f64()),
        servers_cpu: servers.iter().map(Node::cpu_seconds).sum::<f64>() + killed_cpu - cpu_before,
        machine_busy: (busy - busy_before) as f64 / (all - all_before).max(1) as f64,
        survivor,
    })
}

/// The figures in BENCHMARKS.md: `cargo test -p gladly-tests --test obelisk throughput --
/// --ignored --nocapture` (with Obelisk and wac as for the tests; the
/// engine runs in its own processes, so the test profile does not matter).
#[test]
#[ignore = "a benchmark: minutes, run by hand"]
fn throughput_on_one_node_and_two() {
    use gladly_sandbox::Window::{Fixed, Sliding};
    let n: usize = std::env::var("OBELISK_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    println!("{n} provisions per run; shipped settings but where calls in flight say");
    println!(
        "| sandbox limit | window | nodes | calls in flight | GLADLY_RATE_SHARE | seconds | executions/s | of the limit while requests flowed | requests | answered 429 | submitting (s) | servers' CPU (s) | machine busy | survivor, agents/s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let limited = |nodes, window, share, kill| Setting {
        nodes,
        rate_limit: Some(10),
        window,
        share,
        calls: None,
        kill,
        held: false,
        nodes_counted: true,
    };
    let ten_calls = |window| Setting {
        calls: Some(10),
        ..limited(1, window, None, false)
    };
    let free = |nodes| Setting {
        nodes,
        rate_limit: None,
        window: Sliding,
        share: None,
        calls: None,
        kill: false,
        held: false,
        nodes_counted: true,
    };
    // One server whose clients keep no more outstanding than its calls in
    // flight: no queue in the engine (its polling, BENCHMARKS.md).
    let held = |window| Setting {
        held: true,
        ..limited(1, window, None, false)
    };
    // OBELISK_BENCH_ROWS=5,6,9 runs only those rows of the table (from 1).
    let rows: Option<Vec<usize>> = std::env::var("OBELISK_BENCH_ROWS")
        .ok()
        .map(|v| v.split(',').filter_map(|r| r.trim().parse().ok()).collect());
    for (row, setting) in [
        limited(1, Sliding, None, false),
        limited(1, Fixed, None, false),
        ten_calls(Sliding),
        ten_calls(Fixed),
        limited(2, Sliding, None, false),
        limited(2, Fixed, None, false),
        limited(2, Sliding, Some(5), false),
        limited(2, Fixed, Some(5), false),
        limited(2, Sliding, None, true),
        // Beside them, nodes not counted (their API out of reach).
        Setting {
            nodes_counted: false,
            ..limited(2, Sliding, None, false)
        },
        Setting {
            nodes_counted: false,
            ..limited(2, Fixed, None, false)
        },
        held(Sliding),
        held(Fixed),
        free(1),
        free(2),
    ]
    .into_iter()
    .enumerate()
    {
        if rows.as_ref().is_some_and(|r| !r.contains(&(row + 1))) {
            continue;
        }
        let Some(run) = throughput(setting, n) else {
            return;
        };
        let shown = setting
            .rate_limit
            .map_or("none".to_string(), |l| format!("{l}/s per method"));
        let window = match (setting.rate_limit, setting.window) {
            (None, _) => "",
            (Some(_), Sliding) => "sliding",
            (Some(_), Fixed) => "fixed",
        };
        println!(
            "| {shown} | {window} | {}{} | {} | {} | {:.1} | {:.2} | {} | {} | {} ({:.1}%) | {} | {:.1} | {:.0}% | {} |",
            setting.nodes,
            if setting.kill {
                ", one killed"
            } else if setting.held {
                ", clients held to its calls"
            } else if !setting.nodes_counted {
                ", nodes not counted"
            } else {
                ""
            },
            setting.calls.unwrap_or(5),
            setting.share.map_or("unset".to_string(), |s| s.to_string()),
            run.secs,
            n as f64 / run.secs,
            // Not over a run that waits for a dead server's locks.
            run.of_limit
                .filter(|_| !setting.kill)
                .map_or(String::new(), |u| format!("{u:.2}")),
            run.requests,
            run.limited,
            run.limited as f64 * 100.0 / run.requests.max(1) as f64,
            run.submitted
                .map_or("held".to_string(), |s| format!("{s:.1}")),
            run.servers_cpu,
            run.machine_busy * 100.0,
            run.survivor.map_or(String::new(), |r| format!("{r:.1}"))
        );
    }
}
