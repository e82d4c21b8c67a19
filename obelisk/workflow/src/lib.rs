//! The reconciliation workflow: plan, check the guard, then apply each
//! change in order, each as its own activity execution. Deterministic, as
//! Obelisk requires of a workflow: it only calls activities.
#![allow(unsafe_code)] // wit-bindgen's generated glue

wit_bindgen::generate!({
    world: "workflow",
    path: "wit",
    generate_all,
});

use exports::gladly::obelisk_workflow::reconcile::{
    ChangeReport, Error, Guest, ReconcileOptions, ReconcileReport,
};
use gladly::obelisk::roster as activity;
use gladly::obelisk::types::Error as ActivityError;
use gladly::provisioning::agents::ApiFlavor;
use gladly::provisioning::roster::{
    ApplyOptions, ChangeKind, ChangeStatus, DesiredAgent, RosterPlan,
};

// The deactivation guard's one implementation, the core's
// (`src/roster/guard.rs`), compiled in by path: this crate cannot depend on
// the core crate, which on wasm32 is the connector component itself (its
// exports and wasi:http imports would come along). The file is pure and
// dependency-free for this reason.
#[path = "../../../src/roster/guard.rs"]
#[allow(dead_code)] // the core uses more of it than the workflow does
mod guard;

use guard::Guard;

struct Workflow;
export!(Workflow);

/// Errors after which no further change can succeed, so the run stops and
/// the rest are not attempted: as the CLI's `stops_the_run`
/// (`host-harness/src/roster/run.rs`) says of the connector's errors (the
/// credentials, the token's rights, an API without writes, an organisation
/// unreachable after every retry), and a change the engine gave up on (a
/// trap or timeout, as a host failure stops the CLI).
fn stops_the_run(e: &ActivityError) -> bool {
    matches!(
        e,
        ActivityError::PermanentUnauthorized(_)
            | ActivityError::PermanentForbidden(_)
            | ActivityError::PermanentUnsupported(_)
            | ActivityError::Transport(_)
            | ActivityError::ExecutionFailed
    )
}

/// Whether `plan` may be applied: the guard recounted from the changes the
/// plan holds, never believed from what it says of them. The plan is the
/// answer of this execution's own `plan` activity, a fresh read of the
/// organisation, so its count of active agents in scope is the live one;
/// the threshold is the one these options give (the plan's only where
/// stricter), with the same rule the CLI's `apply` uses.
fn admit(plan: &RosterPlan, options: &ReconcileOptions) -> Result<(), Error> {
    let counted = plan
        .changes
        .iter()
        .filter(|c| c.kind == ChangeKind::Deactivate)
        .count();
    let counted = u32::try_from(counted).unwrap_or(u32::MAX);
    let stated = Guard {
        deactivations: plan.deactivations,
        active_in_scope: plan.active_in_scope,
        threshold: plan.deactivation_threshold,
        tripped: plan.guard_tripped,
    };
    let why = guard::disagreements(&stated, counted);
    if !why.is_empty() {
        return Err(Error::GuardTripped(format!(
            "the plan's numbers disagree with its changes: {}; nothing was applied",
            why.join("; ")
        )));
    }
    let g = Guard::at_apply(
        counted,
        plan.active_in_scope,
        options.plan.deactivation_threshold,
        plan.deactivation_threshold,
    );
    if !g.allows(options.allow_deactivations) {
        return Err(Error::GuardTripped(format!(
            "the plan deactivates {} of {} active agents in scope (threshold {}); \
             nothing was applied: check the roster, or allow {} deactivations",
            g.deactivations, g.active_in_scope, g.threshold, g.deactivations
        )));
    }
    Ok(())
}

/// An activity's error in words, for the report.
fn describe(e: &ActivityError) -> String {
    match e {
        ActivityError::ExecutionFailed => {
            "execution-failed: the activity trapped, timed out or ran out of retries".into()
        }
        ActivityError::PermanentUnauthorized(m) => format!("unauthorized: {m}"),
        ActivityError::PermanentForbidden(m) => format!("forbidden: {m}"),
        ActivityError::PermanentNotFound(m) => format!("not-found: {m}"),
        ActivityError::PermanentConflict(c) => format!("conflict: {}", c.message),
        ActivityError::PermanentInvalidInput(i) => {
            format!("invalid-input: {}: {}", i.field, i.message)
        }
        ActivityError::PermanentUnsupported(m) => format!("unsupported: {m}"),
        ActivityError::PermanentUpstream(u) | ActivityError::Upstream(u) => {
            format!("upstream ({}): {}", u.status, u.message)
        }
        ActivityError::RateLimited(r) => format!("rate-limited: {}", r.message),
        ActivityError::Transport(m) => format!("transport: {m}"),
    }
}

impl Guest for Workflow {
    fn reconcile(
        desired: Vec<DesiredAgent>,
        options: ReconcileOptions,
    ) -> Result<ReconcileReport, Error> {
        let plan =
            activity::plan(&desired, &options.plan).map_err(|e| Error::PlanFailed(describe(&e)))?;
        if plan.api_flavor == ApiFlavor::PublicSpec && !plan.changes.is_empty() {
            return Err(Error::Unsupported(plan.api_flavor));
        }
        admit(&plan, &options)?;
        let mut report = ReconcileReport {
            planned: plan.changes.len() as u32,
            applied: 0,
            already_applied: 0,
            stale: 0,
            failed: 0,
            not_attempted: 0,
            stopped: None,
            conflicts: plan.conflicts.len() as u32,
            changes: Vec::with_capacity(plan.changes.len()),
            warnings: plan.warnings,
        };
        let apply = ApplyOptions {
            dry_run: options.dry_run,
            retry: None,
        };
        for change in plan.changes {
            if report.stopped.is_some() {
                report.not_attempted += 1;
                continue;
            }
            let status = activity::apply_change(&change, apply).map(|r| r.status);
            match &status {
                Ok(ChangeStatus::Applied | ChangeStatus::DryRun) => report.applied += 1,
                Ok(ChangeStatus::AlreadyApplied) => report.already_applied += 1,
                Ok(ChangeStatus::Stale) => report.stale += 1,
                Err(e) => {
                    report.failed += 1;
                    if stops_the_run(e) {
                        report.stopped = Some(format!("step {}: {}", change.step, describe(e)));
                    }
                }
            }
            report.changes.push(ChangeReport {
                step: change.step,
                kind: change.kind,
                email_address: change.email_address,
                status: status.map_err(|e| describe(&e)),
            });
        }
        Ok(report)
    }
}

// Native unit tests of the workflow's own decisions (the activities are
// only reachable on Obelisk: `tests/obelisk`).
#[cfg(test)]
mod tests {
    use super::*;
    use gladly::provisioning::roster::{Change, PlanOptions, Scope};

    fn deactivate(step: u32) -> Change {
        Change {
            step,
            kind: ChangeKind::Deactivate,
            row: None,
            email_address: format!("leaver-{step}@acme.example"),
            reason: String::new(),
            current: None,
            differences: Vec::new(),
            requests: Vec::new(),
        }
    }

    fn plan(deactivations: u32, stated: u32, tripped: bool) -> RosterPlan {
        RosterPlan {
            changes: (1..=deactivations).map(deactivate).collect(),
            conflicts: Vec::new(),
            unchanged: 0,
            active_in_scope: 520,
            deactivations: stated,
            deactivation_threshold: 52,
            guard_tripped: tripped,
            api_flavor: ApiFlavor::Lifecycle,
            warnings: Vec::new(),
        }
    }

    fn options(allow: Option<u32>) -> ReconcileOptions {
        ReconcileOptions {
            plan: PlanOptions {
                scope: Scope::Managed,
                deactivation_threshold: None,
            },
            allow_deactivations: allow,
            dry_run: false,
        }
    }

    #[test]
    fn a_plan_whose_numbers_hide_its_deactivations_is_refused() {
        for stated in [0, 500] {
            match admit(&plan(500, stated, false), &options(None)) {
                Err(Error::GuardTripped(why)) => {
                    assert!(why.contains("\"guard-tripped\" is false"), "got {why}")
                }
                other => panic!("expected guard-tripped, got {other:?}"),
            }
        }
    }

    #[test]
    fn a_tripped_guard_is_passed_only_by_allowing_as_many() {
        let p = plan(500, 500, true);
        assert!(matches!(
            admit(&p, &options(Some(499))),
            Err(Error::GuardTripped(_))
        ));
        assert!(admit(&p, &options(Some(500))).is_ok());
        assert!(admit(&plan(3, 3, false), &options(None)).is_ok());
    }

    #[test]
    fn a_token_without_rights_stops_the_run_and_a_conflict_does_not() {
        assert!(stops_the_run(&ActivityError::PermanentUnauthorized(
            "x".into()
        )));
        assert!(stops_the_run(&ActivityError::PermanentForbidden(
            "x".into()
        )));
        assert!(!stops_the_run(&ActivityError::PermanentNotFound(
            "x".into()
        )));
    }
}
