//! The binding layer: WIT types in, core calls, WIT types out, and the
//! wasi:http transport (`http`). No lifecycle logic lives here.
#![allow(unsafe_code)] // wit-bindgen's generated glue

mod http;
mod roster;

use std::time::Duration;

use crate::model as m;
use crate::ops;
use http::WasiHttp;

wit_bindgen::generate!({
    world: "connector",
    path: "wit",
});

use exports::gladly::provisioning::agents as wit;

struct Component;

export!(Component);

impl wit::Guest for Component {
    fn provision(
        conn: wit::Connection,
        agent: wit::NewAgent,
        options: wit::WriteOptions,
    ) -> Result<wit::WriteResult, wit::Error> {
        let agent = m::NewAgent {
            email_address: agent.email_address,
            name: agent.name,
            role: role_in(agent.role),
            inboxes: agent.inboxes,
            teams: agent.teams,
            external_id: agent.external_id,
            phone_number: agent.phone_number,
            language: agent.language,
            agent_profile: agent.agent_profile.map(profile_in),
        };
        ops::provision(&mut WasiHttp, &conn_in(conn), &agent, &options_in(options))
            .map(write_out)
            .map_err(error_out)
    }

    fn update(
        conn: wit::Connection,
        key: wit::AgentKey,
        changes: wit::AgentChanges,
        options: wit::WriteOptions,
    ) -> Result<wit::WriteResult, wit::Error> {
        let changes = m::AgentChanges {
            email_address: changes.email_address,
            name: changes.name,
            role: changes.role.map(role_in),
            inboxes: changes.inboxes.map(membership_in),
            teams: changes.teams.map(membership_in),
            external_id: changes.external_id,
            phone_number: changes.phone_number,
            language: changes.language,
            agent_profile: changes.agent_profile.map(profile_in),
        };
        ops::update(
            &mut WasiHttp,
            &conn_in(conn),
            &key_in(key),
            &changes,
            &options_in(options),
        )
        .map(write_out)
        .map_err(error_out)
    }

    fn offboard(
        conn: wit::Connection,
        key: wit::AgentKey,
        options: wit::WriteOptions,
    ) -> Result<wit::WriteResult, wit::Error> {
        ops::offboard(
            &mut WasiHttp,
            &conn_in(conn),
            &key_in(key),
            &options_in(options),
        )
        .map(write_out)
        .map_err(error_out)
    }

    fn lookup(conn: wit::Connection, key: wit::AgentKey) -> Result<Option<wit::Agent>, wit::Error> {
        ops::lookup(&mut WasiHttp, &conn_in(conn), &key_in(key))
            .map(|a| a.map(agent_out))
            .map_err(error_out)
    }

    fn list_agents(
        conn: wit::Connection,
        active_only: bool,
    ) -> Result<Vec<wit::Agent>, wit::Error> {
        ops::list_agents(&mut WasiHttp, &conn_in(conn), active_only)
            .map(|v| v.into_iter().map(agent_out).collect())
            .map_err(error_out)
    }

    fn list_teams(conn: wit::Connection) -> Result<Vec<wit::Team>, wit::Error> {
        ops::list_teams(&mut WasiHttp, &conn_in(conn))
            .map(|v| {
                v.into_iter()
                    .map(|t| wit::Team {
                        id: t.id,
                        name: t.name,
                        description: t.description,
                        agent_ids: t.agent_ids,
                    })
                    .collect()
            })
            .map_err(error_out)
    }

    fn list_inboxes(conn: wit::Connection) -> Result<Vec<wit::Inbox>, wit::Error> {
        ops::list_inboxes(&mut WasiHttp, &conn_in(conn))
            .map(|v| {
                v.into_iter()
                    .map(|i| wit::Inbox {
                        id: i.id,
                        name: i.name,
                        channel_type: i.channel_type,
                        disabled: i.disabled,
                    })
                    .collect()
            })
            .map_err(error_out)
    }

    fn get_availability(
        conn: wit::Connection,
        agent_id: String,
    ) -> Result<wit::Availability, wit::Error> {
        ops::get_availability(&mut WasiHttp, &conn_in(conn), &agent_id)
            .map(|a| wit::Availability {
                agent_id: a.agent_id,
                status: status_out(a.status),
                updated_at: a.updated_at,
            })
            .map_err(error_out)
    }

    fn check_connection(conn: wit::Connection) -> Result<wit::ConnectionInfo, wit::Error> {
        ops::check_connection(&mut WasiHttp, &conn_in(conn))
            .map(|i| wit::ConnectionInfo {
                base_url: i.base_url,
                api_flavor: match i.api_flavor {
                    m::ApiFlavor::Lifecycle => wit::ApiFlavor::Lifecycle,
                    m::ApiFlavor::PublicSpec => wit::ApiFlavor::PublicSpec,
                },
            })
            .map_err(error_out)
    }
}

fn conn_in(c: wit::Connection) -> m::Connection {
    m::Connection {
        org_url: c.org_url,
        api_user: c.api_user,
        credential: match c.credential {
            wit::Credential::Token(t) => m::Credential::Token(t),
            wit::Credential::HostCompleted(p) => m::Credential::HostCompleted(p),
        },
    }
}

fn key_in(k: wit::AgentKey) -> m::AgentKey {
    match k {
        wit::AgentKey::Id(s) => m::AgentKey::Id(s),
        wit::AgentKey::Email(s) => m::AgentKey::Email(s),
        wit::AgentKey::ExternalId(s) => m::AgentKey::ExternalId(s),
    }
}

fn role_in(r: wit::Role) -> m::Role {
    match r {
        wit::Role::Agent => m::Role::Agent,
        wit::Role::TeamLead => m::Role::TeamLead,
        wit::Role::Admin => m::Role::Admin,
        wit::Role::Analyst => m::Role::Analyst,
        wit::Role::Task => m::Role::Task,
        wit::Role::Other(s) => m::Role::Other(s),
    }
}

fn role_out(r: m::Role) -> wit::Role {
    match r {
        m::Role::Agent => wit::Role::Agent,
        m::Role::TeamLead => wit::Role::TeamLead,
        m::Role::Admin => wit::Role::Admin,
        m::Role::Analyst => wit::Role::Analyst,
        m::Role::Task => wit::Role::Task,
        m::Role::Other(s) => wit::Role::Other(s),
    }
}

fn status_out(s: m::AgentStatus) -> wit::AgentStatus {
    match s {
        m::AgentStatus::Available => wit::AgentStatus::Available,
        m::AgentStatus::Busy => wit::AgentStatus::Busy,
        m::AgentStatus::Away => wit::AgentStatus::Away,
        m::AgentStatus::Offline => wit::AgentStatus::Offline,
        m::AgentStatus::Other(s) => wit::AgentStatus::Other(s),
    }
}

fn profile_in(p: wit::AgentProfile) -> m::AgentProfile {
    m::AgentProfile {
        bio: p.bio,
        avatar_url: p.avatar_url,
    }
}

fn membership_in(c: wit::MembershipChange) -> m::MembershipChange {
    match c {
        wit::MembershipChange::Set(v) => m::MembershipChange::Set(v),
        wit::MembershipChange::Delta(d) => m::MembershipChange::Delta(m::MembershipDelta {
            add: d.add,
            remove: d.remove,
        }),
    }
}

fn options_in(o: wit::WriteOptions) -> m::WriteOptions {
    m::WriteOptions {
        dry_run: o.dry_run,
        no_reactivate: o.no_reactivate,
        retry: o.retry.map(retry_in),
    }
}

fn agent_out(a: m::Agent) -> wit::Agent {
    wit::Agent {
        id: a.id,
        email_address: a.email_address,
        name: a.name,
        role: a.role.map(role_out),
        agent_profile: a.agent_profile.map(|p| wit::AgentProfile {
            bio: p.bio,
            avatar_url: p.avatar_url,
        }),
        inboxes: a.inboxes,
        teams: a.teams,
        active: a.active,
        phone_number: a.phone_number,
        external_id: a.external_id,
        language: a.language,
        created_at: a.created_at,
        updated_at: a.updated_at,
        agent_status: a.agent_status.map(status_out),
    }
}

fn write_out(r: m::WriteResult) -> wit::WriteResult {
    wit::WriteResult {
        outcome: outcome_out(r.outcome),
        agent: r.agent.map(agent_out),
        dry_run: r.dry_run,
        requests: requests_out(r.requests),
        differences: r.differences,
        warnings: r.warnings,
    }
}

fn outcome_out(o: m::Outcome) -> wit::Outcome {
    match o {
        m::Outcome::Created => wit::Outcome::Created,
        m::Outcome::Reactivated => wit::Outcome::Reactivated,
        m::Outcome::AlreadyExisted => wit::Outcome::AlreadyExisted,
        m::Outcome::Updated => wit::Outcome::Updated,
        m::Outcome::Unchanged => wit::Outcome::Unchanged,
        m::Outcome::Deactivated => wit::Outcome::Deactivated,
        m::Outcome::AlreadyInactive => wit::Outcome::AlreadyInactive,
    }
}

fn requests_out(r: Vec<m::PlannedRequest>) -> Vec<wit::PlannedRequest> {
    r.into_iter()
        .map(|p| wit::PlannedRequest {
            method: p.method,
            path: p.path,
            body: p.body,
        })
        .collect()
}

fn requests_in(r: Vec<wit::PlannedRequest>) -> Vec<m::PlannedRequest> {
    r.into_iter()
        .map(|p| m::PlannedRequest {
            method: p.method,
            path: p.path,
            body: p.body,
        })
        .collect()
}

fn status_in(s: wit::AgentStatus) -> m::AgentStatus {
    match s {
        wit::AgentStatus::Available => m::AgentStatus::Available,
        wit::AgentStatus::Busy => m::AgentStatus::Busy,
        wit::AgentStatus::Away => m::AgentStatus::Away,
        wit::AgentStatus::Offline => m::AgentStatus::Offline,
        wit::AgentStatus::Other(s) => m::AgentStatus::Other(s),
    }
}

fn agent_in(a: wit::Agent) -> m::Agent {
    m::Agent {
        id: a.id,
        email_address: a.email_address,
        name: a.name,
        role: a.role.map(role_in),
        agent_profile: a.agent_profile.map(profile_in),
        inboxes: a.inboxes,
        teams: a.teams,
        active: a.active,
        phone_number: a.phone_number,
        external_id: a.external_id,
        language: a.language,
        created_at: a.created_at,
        updated_at: a.updated_at,
        agent_status: a.agent_status.map(status_in),
    }
}

fn retry_in(r: wit::RetryPolicy) -> m::RetryPolicy {
    m::RetryPolicy {
        max_attempts: r.max_attempts,
        max_total_wait: Duration::from_millis(r.max_total_wait_ms),
    }
}

fn error_out(e: crate::Error) -> wit::Error {
    use crate::Error as E;
    match e {
        E::Unauthorized(m) => wit::Error::Unauthorized(m),
        E::Forbidden(m) => wit::Error::Forbidden(m),
        E::NotFound(m) => wit::Error::NotFound(m),
        E::Conflict { message, agent_ids } => {
            wit::Error::Conflict(wit::ConflictInfo { message, agent_ids })
        }
        E::RateLimited {
            retry_after_ms,
            attempts,
            message,
        } => wit::Error::RateLimited(wit::RateLimitedInfo {
            retry_after_ms,
            attempts,
            message,
        }),
        E::InvalidInput { field, message } => {
            wit::Error::InvalidInput(wit::InvalidInputInfo { field, message })
        }
        E::Unsupported(m) => wit::Error::Unsupported(m),
        E::Upstream {
            status,
            message,
            body_excerpt,
        } => wit::Error::Upstream(wit::UpstreamInfo {
            status,
            message,
            body_excerpt,
        }),
        E::Transport(m) => wit::Error::Transport(m),
    }
}
