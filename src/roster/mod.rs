//! Reconcile a whole roster: desired agents in, a reviewed plan out, each
//! change applied on its own (the WIT interface `roster`).
//!
//! - [`plan()`] reads the organisation once (agents, inboxes, teams) and
//!   works out every change, matching people across systems by external id
//!   first and e-mail second ([`matching`]);
//! - [`apply_change()`] makes one of them, after checking that the agent is
//!   still as the plan saw it ([`apply`]).
//!
//! Both run over the same [`Transport`] as the rest of the core, and reuse
//! its writes (`ops::create`, `ops::patch`), so a roster create has the same
//! never-twice guarantee as `provision`.

mod apply;
pub mod guard;
mod matching;
mod plan;
#[cfg(test)]
mod tests;

/// Makes one planned change, or answers why it did not.
pub use apply::apply_change;
/// Checks one planned change as `apply_change` would, sending nothing.
pub use apply::check_change;
/// Every change that makes the organisation match `desired`. Reads only.
pub use plan::plan;

use crate::model::{Agent, AgentProfile, ApiFlavor, Outcome, PlannedRequest, RetryPolicy, Role};

/// One person as the roster holds them; `None` leaves a field as it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredAgent {
    pub email_address: String,
    pub name: String,
    pub role: Option<Role>,
    pub inboxes: Option<Vec<String>>,
    pub teams: Option<Vec<String>>,
    pub external_id: Option<String>,
    pub phone_number: Option<String>,
    pub language: Option<String>,
    pub agent_profile: Option<AgentProfile>,
    pub active: bool,
}

/// Which agents absent from the roster may be deactivated.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Scope {
    /// Those with an external id: the ones a roster manages.
    #[default]
    Managed,
    AllAgents,
    /// Agents whose e-mail domain is one of these (compared as addresses
    /// are: [`domain_key`]).
    EmailDomains(Vec<String>),
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlanOptions {
    pub scope: Scope,
    pub deactivation_threshold: Option<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    Create,
    Reactivate,
    Update,
    Deactivate,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub step: u32,
    pub kind: ChangeKind,
    pub row: Option<u32>,
    pub email_address: String,
    pub reason: String,
    pub current: Option<Agent>,
    pub differences: Vec<String>,
    pub requests: Vec<PlannedRequest>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanConflict {
    pub row: Option<u32>,
    pub email_address: String,
    pub message: String,
    pub agent_ids: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub changes: Vec<Change>,
    pub conflicts: Vec<PlanConflict>,
    pub unchanged: u32,
    pub active_in_scope: u32,
    pub deactivations: u32,
    pub deactivation_threshold: u32,
    pub guard_tripped: bool,
    pub api_flavor: ApiFlavor,
    pub warnings: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApplyOptions {
    pub dry_run: bool,
    pub retry: Option<RetryPolicy>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeStatus {
    Applied,
    AlreadyApplied,
    Stale,
    DryRun,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeResult {
    pub status: ChangeStatus,
    pub outcome: Option<Outcome>,
    pub agent: Option<Agent>,
    pub requests: Vec<PlannedRequest>,
    pub message: String,
    pub warnings: Vec<String>,
}

pub use guard::{GUARD_MINIMUM, GUARD_PERCENT};

impl Scope {
    /// Whether an agent with this e-mail and external id is in scope: one
    /// the roster may deactivate for being absent. Domains are compared
    /// as addresses are ([`domain_key`]).
    pub fn covers(&self, email_address: &str, external_id: Option<&str>) -> bool {
        match self {
            Scope::Managed => external_id.is_some(),
            Scope::AllAgents => true,
            Scope::EmailDomains(domains) => email_address.rsplit_once('@').is_some_and(|(_, d)| {
                let d = crate::model::email_key(d);
                domains.iter().any(|x| domain_key(x) == d)
            }),
        }
    }

    /// Whether two scopes hold the same agents: e-mail domains compared as
    /// [`Scope::covers`] compares them ([`domain_key`]), in any order and
    /// however often each is written. `apply` refuses a plan made for
    /// another scope by it, so the same domain in another letter case or
    /// Unicode form is not another scope.
    pub fn same_as(&self, other: &Scope) -> bool {
        match (self, other) {
            (Scope::EmailDomains(a), Scope::EmailDomains(b)) => {
                let keys = |d: &[String]| {
                    d.iter()
                        .map(|x| domain_key(x))
                        .collect::<std::collections::BTreeSet<_>>()
                };
                keys(a) == keys(b)
            }
            (a, b) => a == b,
        }
    }
}

/// A scope's e-mail domain as it is compared: with or without a leading
/// `@`, under the one rule for addresses ([`crate::model::email_key`]:
/// NFC, lower case, NFC).
pub fn domain_key(domain: &str) -> String {
    crate::model::email_key(domain.trim().trim_start_matches('@'))
}

/// Whether an agent counts among the guard's "active agents in scope": active
/// (an agent whose state is not reported counts as active), in `scope`, and
/// not the connection's own API user, who is never deactivated. The plan
/// counts with it, and so does the harness when it recounts a plan file
/// against a fresh read before applying it.
pub fn active_in_scope(
    scope: &Scope,
    api_user: &str,
    email_address: &str,
    external_id: Option<&str>,
    active: Option<bool>,
) -> bool {
    active != Some(false)
        && scope.covers(email_address, external_id)
        && !crate::model::same_email(email_address, api_user)
}

/// What a change would do to the connection's own API user that locks the
/// integration out of Gladly (`None` when nothing): deactivating it, taking
/// away its Administrator role (writes need it), or changing the e-mail its
/// Basic credential is made of. Judged by `kind` and the `body` the change
/// would send, for the agent whose e-mail is `agent_email` now. One rule,
/// used when planning a roster and again when applying a change (a plan
/// file may have been edited).
pub(crate) fn locks_out_api_user(
    kind: ChangeKind,
    body: &serde_json::Map<String, serde_json::Value>,
    agent_email: &str,
    api_user: &str,
) -> Option<String> {
    if !crate::model::same_email(agent_email, api_user) {
        return None;
    }
    let deactivates = kind == ChangeKind::Deactivate
        || body.get("active") == Some(&serde_json::Value::Bool(false));
    if deactivates {
        return Some("deactivating it".into());
    }
    if let Some(role) = body.get("role").and_then(serde_json::Value::as_str)
        && !role.eq_ignore_ascii_case("ADMIN")
    {
        return Some(format!(
            "changing its role to {role} (writes need an Administrator)"
        ));
    }
    if let Some(email) = body.get("emailAddress").and_then(serde_json::Value::as_str)
        && !crate::model::same_email(email, api_user)
    {
        return Some(format!(
            "changing its e-mail to {email} (the connection's API user, and so its credential, is {api_user})"
        ));
    }
    None
}
