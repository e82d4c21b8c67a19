//! Random histories of operations, with random faults on the way, checked
//! step by step against a plain-Rust model of the organisation.
//!
//! After every step: the call ended with `ok` or a typed error within a
//! deadline (no trap, host error or hang); the sandbox's agents are what the
//! model says (or, when the call failed, what it says either without or with
//! the operation); no person ever got a second welcome e-mail; no answer or
//! error carries a credential. A failing history is shrunk by proptest and
//! printed as steps to replay.
//!
//! `MODEL_HISTORIES` (default 24) and `MODEL_OPS` (operations per history,
//! default 25) size the run; the soak in RELIABILITY.md sets them high.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use gladly_harness::agents::*;
use gladly_harness::{Connection, Harness, Limits};
use gladly_sandbox::{ADMIN_TOKEN, AgentRec, Fault, FaultRule, Sandbox, SandboxConfig};
use proptest::prelude::*;

use crate::support::{harness, with_retry};

const PEOPLE: usize = 4;
const INBOXES: [&str; 4] = ["ibx_support", "ibx_billing", "ibx_vip", "ibx_voice"];
const TEAMS: [&str; 3] = ["team_tier1", "team_tier2", "team_escalations"];

#[derive(Clone, Copy, Debug)]
enum By {
    Id,
    Email,
    ExternalId,
}

#[derive(Clone, Debug)]
enum Op {
    Provision {
        p: usize,
        role: usize,
        inboxes: Vec<bool>,
        teams: Vec<bool>,
        ext: bool,
    },
    SetInboxes {
        p: usize,
        by: By,
        inboxes: Vec<bool>,
    },
    AddRemove {
        p: usize,
        by: By,
        add: usize,
        remove: usize,
    },
    SetRole {
        p: usize,
        by: By,
        role: usize,
    },
    Offboard {
        p: usize,
        by: By,
    },
    Lookup {
        p: usize,
        by: By,
    },
    List,
    /// Plan and apply a roster of these people (`None`: absent from it),
    /// each with whether they should be active and their inboxes.
    Reconcile {
        roster: Vec<Option<(bool, Vec<bool>)>>,
    },
}

#[derive(Clone, Debug)]
enum Injected {
    RateLimit(Option<&'static str>),
    Status(u16),
    LoseResponse(&'static str),
    DropConnection,
    Slow,
    Malformed,
    PerformThen(&'static str, u16),
    RepeatedCursor,
}

fn role(i: usize) -> (Role, &'static str) {
    match i {
        0 => (Role::Agent, "AGENT"),
        1 => (Role::TeamLead, "TEAM_LEAD"),
        _ => (Role::Admin, "ADMIN"),
    }
}

fn op() -> impl Strategy<Value = Op> {
    let p = 0..PEOPLE;
    let by = prop_oneof![Just(By::Id), Just(By::Email), Just(By::ExternalId)];
    let set4 = prop::collection::vec(any::<bool>(), 4);
    prop_oneof![
        3 => (p.clone(), 0..3usize, set4.clone(), prop::collection::vec(any::<bool>(), 3), any::<bool>())
            .prop_map(|(p, role, inboxes, teams, ext)| Op::Provision { p, role, inboxes, teams, ext }),
        2 => (p.clone(), by.clone(), set4).prop_map(|(p, by, inboxes)| Op::SetInboxes { p, by, inboxes }),
        2 => (p.clone(), by.clone(), 0..4usize, 0..4usize).prop_map(|(p, by, add, remove)| Op::AddRemove { p, by, add, remove }),
        1 => (p.clone(), by.clone(), 0..3usize).prop_map(|(p, by, role)| Op::SetRole { p, by, role }),
        2 => (p.clone(), by.clone()).prop_map(|(p, by)| Op::Offboard { p, by }),
        1 => (p, by).prop_map(|(p, by)| Op::Lookup { p, by }),
        1 => Just(Op::List),
        1 => prop::collection::vec(
            prop::option::of((prop::bool::weighted(0.8), prop::collection::vec(any::<bool>(), 4))),
            PEOPLE
        )
        .prop_map(|roster| Op::Reconcile { roster }),
    ]
}

fn injected() -> impl Strategy<Value = Option<Injected>> {
    let fault = prop_oneof![
        Just(Injected::RateLimit(None)),
        Just(Injected::RateLimit(Some("0"))),
        prop::sample::select(vec![502u16, 503, 504]).prop_map(Injected::Status),
        prop::sample::select(vec!["GET", "POST", "PATCH"]).prop_map(Injected::LoseResponse),
        Just(Injected::DropConnection),
        Just(Injected::Slow),
        Just(Injected::Malformed),
        prop::sample::select(vec![("POST", 504u16), ("PATCH", 502), ("POST", 502)])
            .prop_map(|(m, s)| Injected::PerformThen(m, s)),
        Just(Injected::RepeatedCursor),
    ];
    prop::option::weighted(0.35, fault)
}

fn rules(f: &Injected) -> Vec<FaultRule> {
    match f {
        Injected::RateLimit(r) => vec![
            Fault::RateLimit {
                retry_after: r.map(str::to_string),
            }
            .into(),
        ],
        Injected::Status(s) => vec![Fault::Status(*s).into()],
        Injected::LoseResponse(m) => vec![Fault::LoseResponse.on(m)],
        Injected::DropConnection => vec![Fault::DropConnection.into()],
        // Slower than the first-byte timeout the test's harness sets, so
        // that the connector meets a timeout, not just a slow answer.
        Injected::Slow => {
            vec![Fault::Delay(FIRST_BYTE_TIMEOUT + Duration::from_millis(300)).into()]
        }
        Injected::Malformed => vec![Fault::Malformed.into()],
        Injected::PerformThen(m, s) => vec![Fault::PerformThen(*s).on(m)],
        Injected::RepeatedCursor => {
            let page = r#"{"items": [], "nextCursor": "again"}"#.to_string();
            vec![
                Fault::Json {
                    status: 200,
                    body: page.clone(),
                }
                .on("GET"),
                Fault::Json {
                    status: 200,
                    body: page,
                }
                .on("GET"),
            ]
        }
    }
}

/// What the model knows of one person.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Person {
    role: &'static str,
    inboxes: BTreeSet<String>,
    teams: BTreeSet<String>,
    active: bool,
    ext: Option<String>,
}

type State = BTreeMap<usize, Person>;

fn email(p: usize) -> String {
    format!("m{p}@acme.example")
}

fn picked(all: &[&str], on: &[bool]) -> BTreeSet<String> {
    all.iter()
        .zip(on)
        .filter(|(_, on)| **on)
        .map(|(x, _)| x.to_string())
        .collect()
}

/// The organisation after `op` succeeded, from `s`.
fn after(s: &State, op: &Op) -> State {
    let mut s = s.clone();
    match op {
        Op::Provision {
            p,
            role: r,
            inboxes,
            teams,
            ext,
        } => {
            let ext = ext.then(|| format!("M-{p}"));
            let (inboxes, teams) = (picked(&INBOXES, inboxes), picked(&TEAMS, teams));
            match s.get_mut(p) {
                None => {
                    s.insert(
                        *p,
                        Person {
                            role: role(*r).1,
                            inboxes,
                            teams,
                            active: true,
                            ext,
                        },
                    );
                }
                Some(x) if x.active => {}
                Some(x) => {
                    x.active = true;
                    x.role = role(*r).1;
                    if !inboxes.is_empty() {
                        x.inboxes = inboxes;
                    }
                    if !teams.is_empty() {
                        x.teams = teams;
                    }
                    if ext.is_some() {
                        x.ext = ext;
                    }
                }
            }
        }
        Op::SetInboxes { p, inboxes, .. } => {
            if let Some(x) = s.get_mut(p) {
                x.inboxes = picked(&INBOXES, inboxes);
            }
        }
        Op::AddRemove { p, add, remove, .. } => {
            if let Some(x) = s.get_mut(p) {
                x.inboxes.remove(INBOXES[*remove]);
                x.inboxes.insert(INBOXES[*add].to_string());
            }
        }
        Op::SetRole { p, role: r, .. } => {
            if let Some(x) = s.get_mut(p) {
                x.role = role(*r).1;
            }
        }
        Op::Offboard { p, .. } => {
            if let Some(x) = s.get_mut(p) {
                x.active = false;
            }
        }
        Op::Lookup { .. } | Op::List => {}
        Op::Reconcile { roster } => {
            for (p, row) in roster.iter().enumerate() {
                match (row, s.get_mut(&p)) {
                    (Some((true, inboxes)), None) => {
                        s.insert(
                            p,
                            Person {
                                role: "AGENT",
                                inboxes: picked(&INBOXES, inboxes),
                                teams: BTreeSet::new(),
                                active: true,
                                ext: Some(format!("M-{p}")),
                            },
                        );
                    }
                    (Some((true, inboxes)), Some(x)) => {
                        x.active = true;
                        x.inboxes = picked(&INBOXES, inboxes);
                        x.ext = Some(format!("M-{p}"));
                    }
                    (Some((false, _)), Some(x)) => x.active = false,
                    (Some((false, _)), None) => {}
                    // Absent: a leaver if the roster manages them.
                    (None, Some(x)) if x.ext.is_some() => x.active = false,
                    (None, _) => {}
                }
            }
        }
    }
    s
}

fn roster_of(roster: &[Option<(bool, Vec<bool>)>]) -> Vec<gladly_harness::roster::DesiredAgent> {
    roster
        .iter()
        .enumerate()
        .filter_map(|(p, row)| {
            let (active, inboxes) = row.as_ref()?;
            Some(gladly_harness::roster::DesiredAgent {
                email_address: email(p),
                name: format!("Person {p}"),
                role: None,
                inboxes: Some(picked(&INBOXES, inboxes).into_iter().collect()),
                teams: None,
                external_id: Some(format!("M-{p}")),
                phone_number: None,
                language: None,
                agent_profile: None,
                active: *active,
            })
        })
        .collect()
}

/// Plans and applies `roster`, allowing every deactivation; the report and
/// any error, shown.
async fn reconcile(
    h: &Harness,
    conn: &gladly_harness::Connection,
    roster: &[Option<(bool, Vec<bool>)>],
) -> anyhow::Result<String> {
    use gladly_harness::roster::run::{self, Quiet, RunOptions};
    let options = gladly_harness::roster::PlanOptions {
        scope: gladly_harness::roster::Scope::Managed,
        deactivation_threshold: None,
    };
    let plan = match h.plan(conn, &roster_of(roster), &options).await? {
        Ok(p) => p,
        Err(e) => return Ok(format!("Err({e:?})")),
    };
    let file = gladly_harness::roster::plan_file::PlanFile {
        org_url: conn.org_url.clone(),
        roster: "model".into(),
        scope: options.scope.clone(),
        plan,
    };
    let run = RunOptions {
        dry_run: false,
        allow_deactivations: Some(u32::MAX),
        deactivation_threshold: None,
        per_second: 1_000.0,
        scope: options.scope.clone(),
    };
    let report = run::apply(h, conn, &file, &run, &mut Quiet)
        .await?
        .map_err(|r| anyhow::anyhow!("refused: {r}"))?;
    let shown = report.to_json().to_string();
    Ok(if report.complete() {
        shown
    } else {
        format!("Err({shown})")
    })
}

/// The people as the sandbox has them.
fn observed(sandbox: &Sandbox) -> (State, BTreeMap<usize, String>) {
    let org = sandbox.org();
    let mut state = State::new();
    let mut ids = BTreeMap::new();
    for p in 0..PEOPLE {
        let found: Vec<&AgentRec> = org
            .agents
            .iter()
            .filter(|a| a.email_address == email(p))
            .collect();
        assert!(found.len() <= 1, "two agents for {}: {found:?}", email(p));
        if let Some(a) = found.first() {
            ids.insert(p, a.id.clone());
            state.insert(
                p,
                Person {
                    role: match a.role.as_str() {
                        "AGENT" => "AGENT",
                        "TEAM_LEAD" => "TEAM_LEAD",
                        "ADMIN" => "ADMIN",
                        other => panic!("unexpected role {other}"),
                    },
                    inboxes: a.inboxes.iter().cloned().collect(),
                    teams: a.teams.iter().cloned().collect(),
                    active: a.active,
                    ext: a.external_id.clone(),
                },
            );
        }
    }
    (state, ids)
}

fn key(p: usize, by: By, ids: &BTreeMap<usize, String>, s: &State) -> AgentKey {
    match by {
        By::Id => AgentKey::Id(ids.get(&p).cloned().unwrap_or_else(|| "agt_999".into())),
        By::ExternalId if s.get(&p).is_some_and(|x| x.ext.is_some()) => {
            AgentKey::ExternalId(format!("M-{p}"))
        }
        _ => AgentKey::Email(email(p)),
    }
}

/// Runs one history; `Err` names the step that broke an invariant.
async fn history(
    steps: Vec<(Op, Option<Injected>)>,
    h: Harness,
    counts: &mut Counts,
) -> Result<(), TestCaseError> {
    let sandbox = Sandbox::start(SandboxConfig {
        rate_limit: None,
        ..Default::default()
    })
    .await
    .unwrap();
    let conn = Connection::from(sandbox.admin());
    let b64 = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{ADMIN_TOKEN}", conn.api_user))
    };
    let mut model = State::new();
    let write = with_retry(5, 10_000);
    for (n, (op, fault)) in steps.iter().enumerate() {
        let (_, ids) = observed(&sandbox);
        let queued = fault.as_ref().map(rules).map_or(0, |r| {
            let n = r.len();
            sandbox.push_faults(r);
            n
        });
        let call = async {
            Ok::<String, anyhow::Error>(match op {
                Op::Provision {
                    p,
                    role: r,
                    inboxes,
                    teams,
                    ext,
                } => {
                    let agent = NewAgent {
                        email_address: email(*p),
                        name: format!("Person {p}"),
                        role: role(*r).0,
                        inboxes: picked(&INBOXES, inboxes).into_iter().collect(),
                        teams: picked(&TEAMS, teams).into_iter().collect(),
                        external_id: ext.then(|| format!("M-{p}")),
                        phone_number: None,
                        language: None,
                        agent_profile: None,
                    };
                    format!("{:?}", h.provision(&conn, &agent, &write).await?)
                }
                Op::SetInboxes { p, by, inboxes } => {
                    let changes = AgentChanges {
                        inboxes: Some(MembershipChange::Set(
                            picked(&INBOXES, inboxes).into_iter().collect(),
                        )),
                        ..crate::support::no_changes()
                    };
                    format!(
                        "{:?}",
                        h.update(&conn, &key(*p, *by, &ids, &model), &changes, &write)
                            .await?
                    )
                }
                Op::AddRemove { p, by, add, remove } => {
                    let changes = AgentChanges {
                        inboxes: Some(MembershipChange::Delta(MembershipDelta {
                            add: vec![INBOXES[*add].into()],
                            remove: vec![INBOXES[*remove].into()]
                                .into_iter()
                                .filter(|r| r != INBOXES[*add])
                                .collect(),
                        })),
                        ..crate::support::no_changes()
                    };
                    format!(
                        "{:?}",
                        h.update(&conn, &key(*p, *by, &ids, &model), &changes, &write)
                            .await?
                    )
                }
                Op::SetRole { p, by, role: r } => {
                    let changes = AgentChanges {
                        role: Some(role(*r).0),
                        ..crate::support::no_changes()
                    };
                    format!(
                        "{:?}",
                        h.update(&conn, &key(*p, *by, &ids, &model), &changes, &write)
                            .await?
                    )
                }
                Op::Offboard { p, by } => {
                    format!(
                        "{:?}",
                        h.offboard(&conn, &key(*p, *by, &ids, &model), &write)
                            .await?
                    )
                }
                Op::Lookup { p, by } => {
                    let r = h.lookup(&conn, &key(*p, *by, &ids, &model)).await?;
                    if let Ok(found) = &r {
                        let want = model.get(p);
                        match (found, want) {
                            (None, None) => {}
                            (Some(a), Some(x)) => {
                                assert_eq!(
                                    a.email_address,
                                    email(*p),
                                    "step {n}: looked up the wrong agent"
                                );
                                assert_eq!(
                                    a.active,
                                    Some(x.active),
                                    "step {n}: lookup disagrees with the model"
                                );
                            }
                            (a, w) => {
                                panic!("step {n}: lookup answered {a:?}, the model has {w:?}")
                            }
                        }
                    }
                    format!("{r:?}")
                }
                Op::Reconcile { roster } => reconcile(&h, &conn, roster).await?,
                Op::List => {
                    let r = h.list_agents(&conn, false).await?;
                    if let Ok(all) = &r {
                        for p in model.keys() {
                            assert!(
                                all.iter().any(|a| a.email_address == email(*p)),
                                "step {n}: list misses {}",
                                email(*p)
                            );
                        }
                    }
                    format!("{r:?}")
                }
            })
        };
        counts.operations += 1;
        let shown = match tokio::time::timeout(Duration::from_secs(60), call).await {
            Err(_) => {
                return Err(TestCaseError::fail(format!(
                    "step {n} ({op:?}, fault {fault:?}) hung"
                )));
            }
            Ok(Err(host)) => {
                return Err(TestCaseError::fail(format!(
                    "step {n} ({op:?}, fault {fault:?}) failed in the host: {host:#}"
                )));
            }
            Ok(Ok(shown)) => shown,
        };
        if shown.contains("Err(") {
            counts.errors += 1;
        }
        prop_assert!(
            !shown.contains(ADMIN_TOKEN) && !shown.contains(&b64),
            "step {}: a credential in {}",
            n,
            shown
        );
        // Counted as served only when the call met it: a fault still queued
        // (the operation ended before a request it matched) never happened.
        let left = {
            let mut org = sandbox.org();
            let left = org.faults.len();
            org.faults.clear();
            left
        };
        if let Some(f) = fault.as_ref().filter(|_| left < queued) {
            counts.faults += 1;
            *counts.by_kind.entry(kind(f)).or_default() += 1;
        }

        let (mut now, _) = observed(&sandbox);
        let done = after(&model, op);
        let mut ok = !shown.starts_with("Err(");
        if let (false, Op::Reconcile { roster }) = (ok, op) {
            // A reconcile is many changes; under a fault some may have been
            // made. Reconciling again, without faults, must finish the job.
            let again = reconcile(&h, &conn, roster)
                .await
                .map_err(|e| TestCaseError::fail(format!("step {n}: host error {e:#}")))?;
            prop_assert!(
                !again.starts_with("Err("),
                "step {}: reconciling again without faults failed: {}",
                n,
                again
            );
            now = observed(&sandbox).0;
            ok = true;
        }
        if ok {
            prop_assert_eq!(
                &now,
                &done,
                "step {} ({:?}, fault {:?}) answered {} but the organisation is not as the model says",
                n,
                op,
                fault,
                shown
            );
        } else {
            prop_assert!(
                now == model || now == done,
                "step {} ({:?}, fault {:?}) failed ({}) and left the organisation half-changed: {:?}",
                n,
                op,
                fault,
                shown,
                now
            );
        }
        model = now;
        let mut seen = BTreeSet::new();
        for w in sandbox.welcome_emails() {
            prop_assert!(
                seen.insert(w.to.clone()),
                "step {}: a second welcome e-mail to {}",
                n,
                w.to
            );
        }
        prop_assert_eq!(
            seen.len(),
            model.len(),
            "step {}: one welcome e-mail per person created",
            n
        );
    }
    Ok(())
}

/// What a run did, for RELIABILITY.md.
#[derive(Default, Debug)]
pub struct Counts {
    pub histories: u64,
    pub operations: u64,
    pub faults: u64,
    pub by_kind: BTreeMap<&'static str, u64>,
    pub errors: u64,
}

fn kind(f: &Injected) -> &'static str {
    match f {
        Injected::RateLimit(None) => "429 without Retry-After",
        Injected::RateLimit(Some(_)) => "429 with Retry-After",
        Injected::Status(_) => "502/503/504",
        Injected::LoseResponse(_) => "answer lost after the work",
        Injected::DropConnection => "connection dropped",
        Injected::Slow => "slow answer",
        Injected::Malformed => "malformed body",
        Injected::PerformThen(..) => "5xx after the work",
        Injected::RepeatedCursor => "repeated cursor",
    }
}

/// The harness's first-byte timeout in these histories: lost answers are
/// noticed at it, so it is short, and a history with several of them still
/// runs in seconds.
const FIRST_BYTE_TIMEOUT: Duration = Duration::from_millis(400);

fn env_number(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn random_histories_with_faults_agree_with_the_model() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let histories = env_number("MODEL_HISTORIES", 24);
    let ops = env_number("MODEL_OPS", 25) as usize;
    let h = harness().with_limits(Limits {
        first_byte_timeout: FIRST_BYTE_TIMEOUT,
        ..Limits::default()
    });
    let counts = std::cell::RefCell::new(Counts::default());
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: histories,
        failure_persistence: None,
        max_shrink_iters: 200,
        ..ProptestConfig::default()
    });
    let strategy = prop::collection::vec((op(), injected()), 1..=ops);
    let rss_before = crate::support::rss_kib();
    let result = runner.run(&strategy, |steps| {
        let mut counts = counts.borrow_mut();
        counts.histories += 1;
        rt.block_on(history(steps, h.clone(), &mut counts))
    });
    let counts = counts.into_inner();
    eprintln!(
        "model: {} histories, {} operations, {} faults served, {} typed errors; resident memory {:?} KiB before, {:?} KiB after",
        counts.histories,
        counts.operations,
        counts.faults,
        counts.errors,
        rss_before,
        crate::support::rss_kib()
    );
    for (kind, n) in &counts.by_kind {
        eprintln!("model: fault {kind}: {n}");
    }
    if let Err(e) = result {
        panic!("{e}");
    }
}
