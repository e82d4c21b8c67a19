//! Reconciling a roster from the host: the WIT types of the `roster`
//! interface, roster files ([`file`]), plan files ([`plan_file`]), Gladly's
//! bulk-import rendering ([`gladly_csv`]) and the apply loop ([`run`]).

pub mod file;
pub mod gladly_csv;
pub mod locate;
pub mod plan_file;
pub mod run;

pub use crate::bindings::exports::gladly::provisioning::roster::{
    ApplyOptions, Change, ChangeKind, ChangeResult, ChangeStatus, DesiredAgent, PlanConflict,
    PlanOptions, RosterPlan, Scope,
};

use crate::agents::Role;

/// Gladly's wire name of a role (`TEAM_LEAD`).
pub fn role_wire(r: &Role) -> &str {
    match r {
        Role::Agent => "AGENT",
        Role::TeamLead => "TEAM_LEAD",
        Role::Admin => "ADMIN",
        Role::Analyst => "ANALYST",
        Role::Task => "TASK",
        Role::Other(s) => s,
    }
}

/// E-mails compared as the core compares them: without case and in
/// Unicode's composed form (its one rule, look-alikes of ASCII letters kept
/// apart).
pub fn same_email(a: &str, b: &str) -> bool {
    gladly_connector::model::same_email(a, b)
}
