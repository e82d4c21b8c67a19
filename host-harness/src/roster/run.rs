//! Applying a plan: one `apply-change` per change, in order, paced to the
//! organisation's rate limit, each item independent of the others (escrow),
//! stopping early only on a failure that says the whole run cannot succeed.

use std::time::Duration;

use gladly_connector::roster as connector_roster;
use gladly_connector::roster::guard::{self, Guard};
use serde_json::{Value, json};

use crate::agents::Error;
use crate::roster::plan_file::{self, PlanFile};
use crate::roster::{
    ApplyOptions, Change, ChangeKind, ChangeResult, ChangeStatus, PlanConflict, RosterPlan, Scope,
};
use crate::{Connection, Harness, error_case, error_message, output};

/// How to apply.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub dry_run: bool,
    /// Deactivations the operator allows; needed when the guard trips, and
    /// then at least as many as the plan holds.
    pub allow_deactivations: Option<u32>,
    /// The guard's threshold, when the operator gave one for this run
    /// (`reconcile --deactivation-threshold`); `None`: the default for the
    /// organisation as it is now, or the plan's where that is stricter. A
    /// threshold read from a plan file never loosens the guard.
    pub deactivation_threshold: Option<u32>,
    /// Changes started per second at most (Gladly: 10 requests per second
    /// per method; a change is one read and one write).
    pub per_second: f64,
    /// The scope the operator applies in (`apply --scope`/`--email-domain`;
    /// `reconcile` passes the one it planned with). The guard is counted in
    /// it, never in the scope a plan file names: a file whose scope was
    /// widened would count more agents as active and loosen the guard. A
    /// plan made for another scope is refused.
    pub scope: Scope,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            dry_run: false,
            allow_deactivations: None,
            deactivation_threshold: None,
            per_second: 10.0,
            scope: Scope::Managed,
        }
    }
}

/// Why a plan was not applied at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The deactivation guard tripped and not enough deactivations were
    /// allowed.
    Guard {
        deactivations: u32,
        active_in_scope: u32,
        threshold: u32,
        allowed: Option<u32>,
    },
    /// The plan was made for another organisation.
    OtherOrganisation { planned: String, given: String },
    /// The plan names another scope than the one the operator applies in.
    OtherScope { planned: String, given: String },
    /// What the plan says of its deactivations disagrees with the changes
    /// it holds: it was edited or merged after it was made. Each
    /// disagreement in words.
    Edited(Vec<String>),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Guard {
                deactivations,
                active_in_scope,
                threshold,
                allowed,
            } => write!(
                f,
                "the plan deactivates {deactivations} of the {active_in_scope} active agent(s) in scope now, more than the guard allows ({threshold}, and never all of them){}; review it, then apply with --allow-deactivations {deactivations}",
                match allowed {
                    Some(n) => format!(" (and --allow-deactivations {n} allows fewer)"),
                    None => String::new(),
                }
            ),
            Refusal::OtherOrganisation { planned, given } => write!(
                f,
                "the plan was made for {planned}, not {given}; plan again against this organisation"
            ),
            Refusal::OtherScope { planned, given } => write!(
                f,
                "the plan names the scope {planned}, but apply counts the deactivation guard in the scope {given}; if the plan is as you made it, apply it with that scope (--scope all-agents, or --email-domain DOMAIN)"
            ),
            Refusal::Edited(why) => write!(
                f,
                "the plan was edited after it was made: {}; nothing was applied. Plan again, and apply the plan as written",
                why.join("; ")
            ),
        }
    }
}

/// What became of one change.
#[derive(Debug, Clone)]
pub enum Item {
    Done(Box<ChangeResult>),
    Failed(Error),
    /// The host could not run the call to its end (the component trapped or
    /// ran past the call's deadline): the change may or may not have been
    /// made. The host's words.
    HostFailed(String),
    NotAttempted,
}

/// Why a run stopped early.
#[derive(Debug, Clone)]
pub enum Stop {
    /// A failure that says the whole run cannot succeed ([`stops_the_run`]).
    Failed(Error),
    /// A host failure (see [`Item::HostFailed`]).
    Host(String),
}

impl Stop {
    /// The case name the report shows: the error's, or `host`.
    pub fn case(&self) -> &'static str {
        match self {
            Stop::Failed(e) => error_case(e),
            Stop::Host(_) => "host",
        }
    }

    pub fn message(&self) -> String {
        match self {
            Stop::Failed(e) => error_message(e),
            Stop::Host(m) => m.clone(),
        }
    }
}

/// The outcome of a run, item by item.
pub struct Report {
    pub items: Vec<(Change, Item)>,
    pub conflicts: Vec<PlanConflict>,
    /// What stopped the run early, if anything did.
    pub stopped: Option<Stop>,
}

/// What a person watching the run sees; see the CLI for a bar and for lines.
pub trait Progress {
    fn start(&mut self, total: usize);
    fn item(&mut self, change: &Change, item: &Item);
    fn finish(&mut self, report: &Report);
}

/// A run nobody watches.
pub struct Quiet;

impl Progress for Quiet {
    fn start(&mut self, _: usize) {}
    fn item(&mut self, _: &Change, _: &Item) {}
    fn finish(&mut self, _: &Report) {}
}

/// Failures that say the whole run cannot succeed: the credentials, the
/// token's rights, an API without writes, an organisation unreachable even
/// after the call's retries.
pub fn stops_the_run(e: &Error) -> bool {
    matches!(
        e,
        Error::Unauthorized(_) | Error::Forbidden(_) | Error::Unsupported(_) | Error::Transport(_)
    )
}

/// Checks that `file` was made for `conn`'s organisation, and that what
/// it says of its deactivations agrees with the changes it holds.
pub fn admit(file: &PlanFile, conn: &Connection) -> Result<(), Refusal> {
    let norm = |u: &str| {
        u.trim()
            .trim_end_matches('/')
            .trim_end_matches("/api/v1")
            .to_lowercase()
    };
    if norm(&file.org_url) != norm(&conn.org_url) {
        return Err(Refusal::OtherOrganisation {
            planned: crate::output::org_shown(&file.org_url),
            given: crate::output::org_shown(&conn.org_url),
        });
    }
    let why = guard::disagreements(&stated_guard(&file.plan), deactivations(file));
    if !why.is_empty() {
        return Err(Refusal::Edited(why));
    }
    Ok(())
}

/// The guard as `plan` says it stood (to be checked, never believed).
pub fn stated_guard(p: &RosterPlan) -> Guard {
    Guard {
        deactivations: p.deactivations,
        active_in_scope: p.active_in_scope,
        threshold: p.deactivation_threshold,
        tripped: p.guard_tripped,
    }
}

/// The deactivate changes `file` holds, counted.
fn deactivations(file: &PlanFile) -> u32 {
    let n = file
        .plan
        .changes
        .iter()
        .filter(|c| c.kind == ChangeKind::Deactivate)
        .count();
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// What a fresh read of the organisation says of a plan before it is
/// applied: the active agents in `scope` now, counted as `plan` counts them
/// (one rule, the core's), and the deactivations of agents absent from the
/// roster (no row) whose agent is not in `scope` now, or is the API user:
/// such a change was never planned, so the plan was edited.
async fn read_now(
    harness: &Harness,
    conn: &Connection,
    scope: &Scope,
    changes: &[Change],
) -> anyhow::Result<Result<(u32, Vec<String>), Error>> {
    let shown = plan_file::scope(scope).to_string();
    let scope = core_scope(scope);
    Ok(harness.list_agents(conn, false).await?.map(|agents| {
        let n = agents
            .iter()
            .filter(|a| {
                connector_roster::active_in_scope(
                    &scope,
                    &conn.api_user,
                    &a.email_address,
                    a.external_id.as_deref(),
                    a.active,
                )
            })
            .count();
        let outside = changes
            .iter()
            .filter(|c| c.kind == ChangeKind::Deactivate && c.row.is_none())
            .filter_map(|c| {
                let id = &c.current.as_ref()?.id;
                // Gladly has no hard delete: an agent planned for is still
                // listed, unless its id was edited (and then its scope
                // could not be judged).
                let Some(a) = agents.iter().find(|a| &a.id == id) else {
                    return Some(format!(
                        "step {} deactivates agent {id:?}, which a fresh read of the organisation does not hold",
                        c.step
                    ));
                };
                // The planner's rule, as if it were active (one already
                // deactivated is no edit).
                let leaver = connector_roster::active_in_scope(
                    &scope,
                    &conn.api_user,
                    &a.email_address,
                    a.external_id.as_deref(),
                    None,
                );
                (!leaver).then(|| {
                    format!(
                        "step {} deactivates agent {} ({}) as absent from the roster, but it is not in the scope {} (or is this connection's API user)",
                        c.step,
                        a.id,
                        a.email_address,
                        shown
                    )
                })
            })
            .collect();
        (u32::try_from(n).unwrap_or(u32::MAX), outside)
    }))
}

/// A scope as the core holds it.
fn core_scope(s: &Scope) -> connector_roster::Scope {
    match s {
        Scope::Managed => connector_roster::Scope::Managed,
        Scope::AllAgents => connector_roster::Scope::AllAgents,
        Scope::EmailDomains(d) => connector_roster::Scope::EmailDomains(d.clone()),
    }
}

/// A host failure in words, for the report.
fn host_failure(e: &anyhow::Error) -> String {
    format!("{e:#}")
}

/// Applies every change of `file`, in order, and reports on each. Refused
/// whole (nothing sent but reads) when the plan is for another
/// organisation, disagrees with itself, or trips the deactivation guard,
/// which is recounted here from the changes and a fresh read of the
/// organisation, never believed from the plan. A failure that says the run
/// cannot succeed, a host failure included, stops it: the report still
/// holds every change, the rest `not-attempted`.
pub async fn apply(
    harness: &Harness,
    conn: &Connection,
    file: &PlanFile,
    options: &RunOptions,
    progress: &mut dyn Progress,
) -> anyhow::Result<Result<Report, Refusal>> {
    if let Err(r) = admit(file, conn) {
        return Ok(Err(r));
    }
    // Domains compared as addresses are: `Acme.Example` at plan time is
    // `acme.example` at apply time.
    if !core_scope(&file.scope).same_as(&core_scope(&options.scope)) {
        return Ok(Err(Refusal::OtherScope {
            planned: plan_file::scope(&file.scope).to_string(),
            given: plan_file::scope(&options.scope).to_string(),
        }));
    }
    let mut stopped = None;
    let counted = deactivations(file);
    // Without a deactivation the guard cannot trip: no read is needed.
    if counted > 0 {
        match read_now(harness, conn, &options.scope, &file.plan.changes).await {
            Ok(Ok((_, outside))) if !outside.is_empty() => {
                return Ok(Err(Refusal::Edited(outside)));
            }
            Ok(Ok((active_now, _))) => {
                let g = Guard::at_apply(
                    counted,
                    active_now,
                    options.deactivation_threshold,
                    file.plan.deactivation_threshold,
                );
                // A guard the plan says tripped stays tripped: a file can
                // tighten the guard, never loosen it.
                let g = Guard {
                    tripped: g.tripped || file.plan.guard_tripped,
                    ..g
                };
                if !g.allows(options.allow_deactivations) {
                    return Ok(Err(Refusal::Guard {
                        deactivations: g.deactivations,
                        active_in_scope: g.active_in_scope,
                        threshold: g.threshold,
                        allowed: options.allow_deactivations,
                    }));
                }
            }
            // The guard could not be checked, so nothing is applied; the
            // report says why.
            Ok(Err(e)) => stopped = Some(Stop::Failed(e)),
            Err(e) => stopped = Some(Stop::Host(host_failure(&e))),
        }
    }
    let apply_options = ApplyOptions {
        dry_run: options.dry_run,
        retry: None,
    };
    let changes = &file.plan.changes;
    progress.start(changes.len());
    // However it was asked for (the CLI allows 1,000 at most): an interval
    // of zero panics.
    let period = Duration::from_secs_f64(1.0 / options.per_second.clamp(0.01, 1_000.0));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut items = Vec::with_capacity(changes.len());
    for change in changes {
        if stopped.is_some() {
            items.push((change.clone(), Item::NotAttempted));
            continue;
        }
        tick.tick().await;
        let item = match harness.apply_change(conn, change, &apply_options).await {
            Ok(Ok(r)) => Item::Done(Box::new(r)),
            Ok(Err(e)) => {
                if stops_the_run(&e) {
                    stopped = Some(Stop::Failed(e.clone()));
                }
                Item::Failed(e)
            }
            // The changes made so far must still be reported; the next
            // call would most likely fail the same way.
            Err(e) => {
                let m = host_failure(&e);
                stopped = Some(Stop::Host(m.clone()));
                Item::HostFailed(m)
            }
        };
        progress.item(change, &item);
        items.push((change.clone(), item));
    }
    let report = Report {
        items,
        conflicts: file.plan.conflicts.clone(),
        stopped,
    };
    progress.finish(&report);
    Ok(Ok(report))
}

pub fn status_name(s: ChangeStatus) -> &'static str {
    match s {
        ChangeStatus::Applied => "applied",
        ChangeStatus::AlreadyApplied => "already-applied",
        ChangeStatus::Stale => "stale",
        ChangeStatus::DryRun => "dry-run",
    }
}

/// Counts by what became of the items.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub applied: usize,
    pub already_applied: usize,
    pub dry_run: usize,
    pub stale: usize,
    pub failed: usize,
    pub not_attempted: usize,
    pub conflicts: usize,
}

impl Report {
    pub fn counts(&self) -> Counts {
        let mut c = Counts {
            conflicts: self.conflicts.len(),
            ..Counts::default()
        };
        for (_, item) in &self.items {
            match item {
                Item::Done(r) => match r.status {
                    ChangeStatus::Applied => c.applied += 1,
                    ChangeStatus::AlreadyApplied => c.already_applied += 1,
                    ChangeStatus::DryRun => c.dry_run += 1,
                    ChangeStatus::Stale => c.stale += 1,
                },
                Item::Failed(_) | Item::HostFailed(_) => c.failed += 1,
                Item::NotAttempted => c.not_attempted += 1,
            }
        }
        c
    }

    /// Everything went: no failure, no stale change, no conflict.
    pub fn complete(&self) -> bool {
        let c = self.counts();
        self.stopped.is_none() && c.failed == 0 && c.stale == 0 && c.conflicts == 0
    }

    /// The report as JSON, item by item, with the WIT's names.
    pub fn to_json(&self) -> Value {
        let c = self.counts();
        json!({
            "summary": {
                "applied": c.applied,
                "already-applied": c.already_applied,
                "dry-run": c.dry_run,
                "stale": c.stale,
                "failed": c.failed,
                "not-attempted": c.not_attempted,
                "conflicts": c.conflicts,
            },
            "stopped": self.stopped.as_ref().map(|s| json!({
                "case": s.case(),
                "message": s.message(),
            })),
            "items": self.items.iter().map(|(change, item)| item_json(change, item)).collect::<Vec<_>>(),
            "conflicts": self.conflicts.iter().map(plan_file::conflict).collect::<Vec<_>>(),
        })
    }
}

pub fn item_json(change: &Change, item: &Item) -> Value {
    let mut v = json!({
        "step": change.step,
        "kind": plan_file::kind_name(change.kind),
        "email-address": change.email_address,
        "agent-id": change.current.as_ref().map(|a| a.id.clone()),
    });
    let m = v.as_object_mut().expect("an object");
    match item {
        Item::Done(r) => {
            m.insert("status".into(), json!(status_name(r.status)));
            if let Some(o) = r.outcome {
                m.insert("outcome".into(), json!(output::outcome(o)));
            }
            if let Some(a) = &r.agent {
                m.insert("agent-id".into(), json!(a.id));
            }
            if !r.message.is_empty() {
                m.insert("message".into(), json!(r.message));
            }
            if !r.warnings.is_empty() {
                m.insert("warnings".into(), json!(r.warnings));
            }
        }
        Item::Failed(e) => {
            m.insert("status".into(), json!("failed"));
            m.insert(
                "error".into(),
                json!({"case": error_case(e), "message": error_message(e)}),
            );
        }
        Item::HostFailed(why) => {
            m.insert("status".into(), json!("failed"));
            m.insert(
                "error".into(),
                json!({
                    "case": "host",
                    "message": format!("{why}; the change may or may not have been made: plan again to see"),
                }),
            );
        }
        Item::NotAttempted => {
            m.insert("status".into(), json!("not-attempted"));
        }
    }
    v
}
