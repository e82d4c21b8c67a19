//! Applying a plan: one `apply-change` per change, in order, paced to the
//! organisation's rate limit, each item independent of the others (escrow),
//! stopping early only on a failure that says the whole run cannot succeed.

use std::time::Duration;

use serde_json::{Value, json};

use crate::agents::Error;
use crate::roster::plan_file::{self, PlanFile};
use crate::roster::{ApplyOptions, Change, ChangeResult, ChangeStatus, PlanConflict};
use crate::{Connection, Harness, error_case, error_message, output};

/// How to apply.
#[derive(Clone, Copy, Debug)]
pub struct RunOptions {
    pub dry_run: bool,
    /// Deactivations the operator allows; needed when the plan's guard
    /// tripped, and then at least the plan's number.
    pub allow_deactivations: Option<u32>,
    /// Changes started per second at most (Gladly: 10 requests per second
    /// per method; a change is one read and one write).
    pub per_second: f64,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            dry_run: false,
            allow_deactivations: None,
            per_second: 10.0,
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
                "the plan deactivates {deactivations} of {active_in_scope} active agent(s) in scope, beyond the guard's {threshold}{}; review it, then apply with --allow-deactivations {deactivations}",
                match allowed {
                    Some(n) => format!(" (and --allow-deactivations {n} allows fewer)"),
                    None => String::new(),
                }
            ),
            Refusal::OtherOrganisation { planned, given } => write!(
                f,
                "the plan was made for {planned}, not {given}; plan again against this organisation"
            ),
        }
    }
}

/// What became of one change.
#[derive(Debug, Clone)]
pub enum Item {
    Done(Box<ChangeResult>),
    Failed(Error),
    NotAttempted,
}

/// The outcome of a run, item by item.
pub struct Report {
    pub items: Vec<(Change, Item)>,
    pub conflicts: Vec<PlanConflict>,
    /// The failure that stopped the run early, if one did.
    pub stopped: Option<Error>,
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

/// Checks that `file` may be applied to `conn` as `options` say.
pub fn admit(file: &PlanFile, conn: &Connection, options: &RunOptions) -> Result<(), Refusal> {
    let norm = |u: &str| {
        u.trim()
            .trim_end_matches('/')
            .trim_end_matches("/api/v1")
            .to_lowercase()
    };
    if norm(&file.org_url) != norm(&conn.org_url) {
        return Err(Refusal::OtherOrganisation {
            planned: file.org_url.clone(),
            given: conn.org_url.clone(),
        });
    }
    let p = &file.plan;
    if p.guard_tripped
        && options
            .allow_deactivations
            .is_none_or(|n| n < p.deactivations)
    {
        return Err(Refusal::Guard {
            deactivations: p.deactivations,
            active_in_scope: p.active_in_scope,
            threshold: p.deactivation_threshold,
            allowed: options.allow_deactivations,
        });
    }
    Ok(())
}

/// Applies every change of `file`, in order. A host failure (the component
/// could not run) ends the run as an `Err`.
pub async fn apply(
    harness: &Harness,
    conn: &Connection,
    file: &PlanFile,
    options: &RunOptions,
    progress: &mut dyn Progress,
) -> anyhow::Result<Result<Report, Refusal>> {
    if let Err(r) = admit(file, conn, options) {
        return Ok(Err(r));
    }
    let apply_options = ApplyOptions {
        dry_run: options.dry_run,
        retry: None,
    };
    let changes = &file.plan.changes;
    progress.start(changes.len());
    let period = Duration::from_secs_f64(1.0 / options.per_second.max(0.01));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut items = Vec::with_capacity(changes.len());
    let mut stopped = None;
    for change in changes {
        if stopped.is_some() {
            items.push((change.clone(), Item::NotAttempted));
            continue;
        }
        tick.tick().await;
        let item = match harness.apply_change(conn, change, &apply_options).await? {
            Ok(r) => Item::Done(Box::new(r)),
            Err(e) => {
                if stops_the_run(&e) {
                    stopped = Some(e.clone());
                }
                Item::Failed(e)
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
                Item::Failed(_) => c.failed += 1,
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
            "stopped": self.stopped.as_ref().map(|e| json!({
                "case": error_case(e),
                "message": error_message(e),
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
        Item::NotAttempted => {
            m.insert("status".into(), json!("not-attempted"));
        }
    }
    v
}
