//! [`gladly_scim::Directory`] over the imported `gladly:provisioning/agents`:
//! only translation between the WIT types and the protocol crate's.

use gladly_scim::directory as d;
use gladly_scim::directory::DirectoryError;

use crate::gladly::provisioning::agents as wit;

/// The connector, with the connection the environment describes (or what
/// is missing from it).
pub struct Connector {
    conn: Result<wit::Connection, String>,
}

impl Connector {
    pub fn from_env() -> Connector {
        // Trimmed, as the gateway's own settings are: a value written to
        // the environment with a trailing newline is refused otherwise.
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let conn = (|| {
            let org_url = var("GLADLY_ORG_URL").ok_or(
                "GLADLY_ORG_URL is not set (the organisation's URL, e.g. https://acme.gladly.com)",
            )?;
            let api_user =
                var("GLADLY_API_USER").ok_or("GLADLY_API_USER is not set (Gladly's API user)")?;
            // The host may hold the token and complete a placeholder on the
            // way out (gladly-harness does); else the token itself.
            let credential = match (var("GLADLY_API_PLACEHOLDER"), var("GLADLY_API_TOKEN")) {
                (Some(p), _) => wit::Credential::HostCompleted(p),
                (None, Some(t)) => wit::Credential::Token(t),
                (None, None) => return Err("GLADLY_API_TOKEN is not set (Gladly's API token)"),
            };
            Ok(wit::Connection {
                org_url,
                api_user,
                credential,
            })
        })()
        .map_err(str::to_string);
        Connector { conn }
    }

    fn conn(&self) -> Result<&wit::Connection, DirectoryError> {
        self.conn
            .as_ref()
            .map_err(|m| DirectoryError::Misconfigured(m.clone()))
    }
}

/// Writes wait a few seconds for Gladly at most: an IdP holding a request
/// longer times out and retries anyway; a 429 with `Retry-After` tells it
/// when (Entra quarantines jobs whose requests fail, not ones told to wait).
const WRITE: wit::WriteOptions = wit::WriteOptions {
    dry_run: false,
    no_reactivate: false,
    retry: Some(wit::RetryPolicy {
        max_attempts: 3,
        max_total_wait_ms: 5_000,
    }),
};

fn error(e: wit::Error) -> DirectoryError {
    match e {
        wit::Error::Unauthorized(m) => DirectoryError::Unauthorized(m),
        wit::Error::Forbidden(m) => DirectoryError::Forbidden(m),
        wit::Error::NotFound(m) => DirectoryError::NotFound(m),
        wit::Error::Conflict(c) => DirectoryError::Conflict(c.message),
        wit::Error::RateLimited(r) => DirectoryError::RateLimited {
            retry_after_ms: r.retry_after_ms,
            message: r.message,
        },
        wit::Error::InvalidInput(i) => DirectoryError::InvalidInput {
            field: i.field,
            message: i.message,
        },
        wit::Error::Unsupported(m) => DirectoryError::Unsupported(m),
        wit::Error::Upstream(u) => {
            DirectoryError::Upstream(format!("{} (HTTP {})", u.message, u.status))
        }
        wit::Error::Transport(m) => DirectoryError::Transport(m),
    }
}

fn role_in(r: wit::Role) -> d::Role {
    match r {
        wit::Role::Agent => d::Role::Agent,
        wit::Role::TeamLead => d::Role::TeamLead,
        wit::Role::Admin => d::Role::Admin,
        wit::Role::Analyst => d::Role::Analyst,
        wit::Role::Task => d::Role::Task,
        wit::Role::Other(s) => d::Role::Other(s),
    }
}

fn role_out(r: &d::Role) -> wit::Role {
    match r {
        d::Role::Agent => wit::Role::Agent,
        d::Role::TeamLead => wit::Role::TeamLead,
        d::Role::Admin => wit::Role::Admin,
        d::Role::Analyst => wit::Role::Analyst,
        d::Role::Task => wit::Role::Task,
        d::Role::Other(s) => wit::Role::Other(s.clone()),
    }
}

fn agent(a: wit::Agent) -> d::Agent {
    d::Agent {
        id: a.id,
        email_address: a.email_address,
        name: a.name,
        role: a.role.map(role_in),
        teams: a.teams,
        inboxes: a.inboxes,
        active: a.active,
        phone_number: a.phone_number,
        external_id: a.external_id,
        language: a.language,
        created_at: a.created_at,
        updated_at: a.updated_at,
    }
}

fn delta(x: &Option<d::Delta>) -> Option<wit::MembershipChange> {
    x.as_ref().map(|x| {
        wit::MembershipChange::Delta(wit::MembershipDelta {
            add: x.add.clone(),
            remove: x.remove.clone(),
        })
    })
}

/// The agent a write answered with; a write answers with one unless it was
/// a dry run, which this never asks for.
fn written(r: wit::WriteResult) -> Result<d::Agent, DirectoryError> {
    r.agent
        .map(agent)
        .ok_or_else(|| DirectoryError::Upstream("a write answered without the agent".into()))
}

impl d::Directory for Connector {
    fn list_agents(&mut self) -> Result<Vec<d::Agent>, DirectoryError> {
        let all = wit::list_agents(self.conn()?, false).map_err(error)?;
        Ok(all.into_iter().map(agent).collect())
    }

    fn lookup(&mut self, key: &d::Key) -> Result<Option<d::Agent>, DirectoryError> {
        let key = match key {
            d::Key::Id(i) => wit::AgentKey::Id(i.clone()),
            d::Key::Email(e) => wit::AgentKey::Email(e.clone()),
            d::Key::ExternalId(x) => wit::AgentKey::ExternalId(x.clone()),
        };
        Ok(wit::lookup(self.conn()?, &key).map_err(error)?.map(agent))
    }

    fn provision(
        &mut self,
        n: &d::NewAgent,
        deactivated: d::IfDeactivated,
    ) -> Result<(d::Provisioned, d::Agent), DirectoryError> {
        let new = wit::NewAgent {
            email_address: n.email_address.clone(),
            name: n.name.clone(),
            role: role_out(n.role.as_ref().unwrap_or(&d::Role::Agent)),
            inboxes: vec![],
            teams: vec![],
            external_id: n.external_id.clone(),
            phone_number: n.phone_number.clone(),
            language: n.language.clone(),
            agent_profile: None,
        };
        let options = wit::WriteOptions {
            no_reactivate: deactivated == d::IfDeactivated::Refuse,
            ..WRITE
        };
        let r = wit::provision(self.conn()?, &new, options).map_err(error)?;
        let outcome = match r.outcome {
            wit::Outcome::Created => d::Provisioned::Created,
            wit::Outcome::Reactivated => d::Provisioned::Reactivated,
            _ => d::Provisioned::AlreadyExisted,
        };
        Ok((outcome, written(r)?))
    }

    fn update(&mut self, id: &str, c: &d::Changes) -> Result<d::Agent, DirectoryError> {
        let changes = wit::AgentChanges {
            email_address: c.email_address.clone(),
            name: c.name.clone(),
            role: c.role.as_ref().map(role_out),
            inboxes: delta(&c.inboxes),
            teams: delta(&c.teams),
            external_id: c.external_id.clone(),
            phone_number: c.phone_number.clone(),
            language: c.language.clone(),
            agent_profile: None,
        };
        let r = wit::update(
            self.conn()?,
            &wit::AgentKey::Id(id.to_string()),
            &changes,
            WRITE,
        )
        .map_err(error)?;
        written(r)
    }

    fn offboard(&mut self, id: &str) -> Result<d::Agent, DirectoryError> {
        let r = wit::offboard(self.conn()?, &wit::AgentKey::Id(id.to_string()), WRITE)
            .map_err(error)?;
        written(r)
    }

    fn list_teams(&mut self) -> Result<Vec<d::Team>, DirectoryError> {
        let teams = wit::list_teams(self.conn()?).map_err(error)?;
        Ok(teams
            .into_iter()
            .map(|t| d::Team {
                id: t.id,
                name: t.name,
            })
            .collect())
    }

    fn list_inboxes(&mut self) -> Result<Vec<d::Inbox>, DirectoryError> {
        let inboxes = wit::list_inboxes(self.conn()?).map_err(error)?;
        Ok(inboxes
            .into_iter()
            .map(|i| d::Inbox {
                id: i.id,
                name: i.name,
            })
            .collect())
    }
}
