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
use gladly::provisioning::roster::{ApplyOptions, ChangeStatus, DesiredAgent};

struct Workflow;
export!(Workflow);

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
        if plan.guard_tripped
            && options
                .allow_deactivations
                .is_none_or(|n| plan.deactivations > n)
        {
            return Err(Error::GuardTripped(format!(
                "the plan deactivates {} of {} active agents in scope (threshold {}); \
                 nothing was applied: check the roster, or allow {} deactivations",
                plan.deactivations,
                plan.active_in_scope,
                plan.deactivation_threshold,
                plan.deactivations
            )));
        }
        let mut report = ReconcileReport {
            planned: plan.changes.len() as u32,
            applied: 0,
            already_applied: 0,
            stale: 0,
            failed: 0,
            conflicts: plan.conflicts.len() as u32,
            changes: Vec::with_capacity(plan.changes.len()),
            warnings: plan.warnings,
        };
        let apply = ApplyOptions {
            dry_run: options.dry_run,
            retry: None,
        };
        for change in plan.changes {
            let status = activity::apply_change(&change, apply).map(|r| r.status);
            match &status {
                Ok(ChangeStatus::Applied | ChangeStatus::DryRun) => report.applied += 1,
                Ok(ChangeStatus::AlreadyApplied) => report.already_applied += 1,
                Ok(ChangeStatus::Stale) => report.stale += 1,
                Err(_) => report.failed += 1,
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
