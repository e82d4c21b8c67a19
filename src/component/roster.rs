//! The `roster` interface: WIT types in, `crate::roster` calls, WIT types
//! out. The shared types (`agent`, `role`, `error`, …) are the `agents`
//! interface's, converted by the parent module.

use super::exports::gladly::provisioning::roster as wit;
use super::{
    Component, WasiHttp, agent_in, agent_out, conn_in, error_out, outcome_out, profile_in,
    requests_in, requests_out, retry_in, role_in,
};
use crate::model as m;
use crate::roster as r;

impl wit::Guest for Component {
    fn plan(
        conn: wit::Connection,
        desired: Vec<wit::DesiredAgent>,
        options: wit::PlanOptions,
    ) -> Result<wit::RosterPlan, wit::Error> {
        let desired: Vec<r::DesiredAgent> = desired.into_iter().map(desired_in).collect();
        let options = r::PlanOptions {
            scope: match options.scope {
                wit::Scope::Managed => r::Scope::Managed,
                wit::Scope::AllAgents => r::Scope::AllAgents,
                wit::Scope::EmailDomains(d) => r::Scope::EmailDomains(d),
            },
            deactivation_threshold: options.deactivation_threshold,
        };
        r::plan(&mut WasiHttp, &conn_in(conn), &desired, &options)
            .map(plan_out)
            .map_err(error_out)
    }

    fn apply_change(
        conn: wit::Connection,
        change: wit::Change,
        options: wit::ApplyOptions,
    ) -> Result<wit::ChangeResult, wit::Error> {
        let options = r::ApplyOptions {
            dry_run: options.dry_run,
            retry: options.retry.map(retry_in),
        };
        r::apply_change(&mut WasiHttp, &conn_in(conn), &change_in(change), &options)
            .map(|res| wit::ChangeResult {
                status: match res.status {
                    r::ChangeStatus::Applied => wit::ChangeStatus::Applied,
                    r::ChangeStatus::AlreadyApplied => wit::ChangeStatus::AlreadyApplied,
                    r::ChangeStatus::Stale => wit::ChangeStatus::Stale,
                    r::ChangeStatus::DryRun => wit::ChangeStatus::DryRun,
                },
                outcome: res.outcome.map(outcome_out),
                agent: res.agent.map(agent_out),
                requests: requests_out(res.requests),
                message: res.message,
                warnings: res.warnings,
            })
            .map_err(error_out)
    }
}

fn desired_in(d: wit::DesiredAgent) -> r::DesiredAgent {
    r::DesiredAgent {
        email_address: d.email_address,
        name: d.name,
        role: d.role.map(role_in),
        inboxes: d.inboxes,
        teams: d.teams,
        external_id: d.external_id,
        phone_number: d.phone_number,
        language: d.language,
        agent_profile: d.agent_profile.map(profile_in),
        active: d.active,
    }
}

fn kind_out(k: r::ChangeKind) -> wit::ChangeKind {
    match k {
        r::ChangeKind::Create => wit::ChangeKind::Create,
        r::ChangeKind::Reactivate => wit::ChangeKind::Reactivate,
        r::ChangeKind::Update => wit::ChangeKind::Update,
        r::ChangeKind::Deactivate => wit::ChangeKind::Deactivate,
    }
}

fn kind_in(k: wit::ChangeKind) -> r::ChangeKind {
    match k {
        wit::ChangeKind::Create => r::ChangeKind::Create,
        wit::ChangeKind::Reactivate => r::ChangeKind::Reactivate,
        wit::ChangeKind::Update => r::ChangeKind::Update,
        wit::ChangeKind::Deactivate => r::ChangeKind::Deactivate,
    }
}

fn change_in(c: wit::Change) -> r::Change {
    r::Change {
        step: c.step,
        kind: kind_in(c.kind),
        row: c.row,
        email_address: c.email_address,
        reason: c.reason,
        current: c.current.map(agent_in),
        differences: c.differences,
        requests: requests_in(c.requests),
    }
}

fn plan_out(p: r::Plan) -> wit::RosterPlan {
    wit::RosterPlan {
        changes: p
            .changes
            .into_iter()
            .map(|c| wit::Change {
                step: c.step,
                kind: kind_out(c.kind),
                row: c.row,
                email_address: c.email_address,
                reason: c.reason,
                current: c.current.map(agent_out),
                differences: c.differences,
                requests: requests_out(c.requests),
            })
            .collect(),
        conflicts: p
            .conflicts
            .into_iter()
            .map(|c| wit::PlanConflict {
                row: c.row,
                email_address: c.email_address,
                message: c.message,
                agent_ids: c.agent_ids,
            })
            .collect(),
        unchanged: p.unchanged,
        active_in_scope: p.active_in_scope,
        deactivations: p.deactivations,
        deactivation_threshold: p.deactivation_threshold,
        guard_tripped: p.guard_tripped,
        api_flavor: match p.api_flavor {
            m::ApiFlavor::Lifecycle => wit::ApiFlavor::Lifecycle,
            m::ApiFlavor::PublicSpec => wit::ApiFlavor::PublicSpec,
        },
        warnings: p.warnings,
    }
}
