//! What the SCIM service needs from Gladly: the connector's `agents`
//! interface (`wit/connector.wit`), in plain Rust. The wasi:http component
//! implements it over the imported interface; tests implement it in memory.
//!
//! These types mirror the WIT ones the service uses, no more: the protocol
//! crate knows nothing of WIT, so it builds and tests natively.

/// A Gladly role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    Agent,
    TeamLead,
    Admin,
    Analyst,
    Task,
    /// A role this version does not know, as Gladly spelled it.
    Other(String),
}

impl Role {
    /// The roles SCIM may set, in the order `/Schemas` publishes them.
    pub const SETTABLE: [Role; 5] = [
        Role::Agent,
        Role::TeamLead,
        Role::Admin,
        Role::Analyst,
        Role::Task,
    ];

    /// The name SCIM shows (`canonicalValues` in `/Schemas`): Gladly's, in
    /// lower case.
    pub fn scim_name(&self) -> String {
        match self {
            Role::Agent => "agent".into(),
            Role::TeamLead => "team_lead".into(),
            Role::Admin => "admin".into(),
            Role::Analyst => "analyst".into(),
            Role::Task => "task".into(),
            Role::Other(s) => s.to_ascii_lowercase(),
        }
    }

    /// A role from a SCIM value, any case (`Admin`, `TEAM_LEAD`); a role SCIM
    /// may not set is `None`.
    pub fn from_scim(value: &str) -> Option<Role> {
        Role::SETTABLE
            .into_iter()
            .find(|r| r.scim_name().eq_ignore_ascii_case(value.trim()))
    }
}

/// An agent as Gladly holds it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Agent {
    pub id: String,
    pub email_address: String,
    pub name: Option<String>,
    pub role: Option<Role>,
    /// Team ids.
    pub teams: Option<Vec<String>>,
    /// Inbox ids.
    pub inboxes: Option<Vec<String>>,
    pub active: Option<bool>,
    pub phone_number: Option<String>,
    pub external_id: Option<String>,
    pub language: Option<String>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

impl Agent {
    /// Gladly's agents are active unless they say otherwise.
    pub fn is_active(&self) -> bool {
        self.active != Some(false)
    }
}

/// How to find one agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Key {
    Id(String),
    Email(String),
    ExternalId(String),
}

/// A new agent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewAgent {
    pub email_address: String,
    pub name: String,
    pub role: Option<Role>,
    pub external_id: Option<String>,
    pub phone_number: Option<String>,
    pub language: Option<String>,
}

/// Memberships to add and remove (by id), the rest kept: the connector reads
/// the agent afresh and writes the whole list, so no membership is lost.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Delta {
    pub add: Vec<String>,
    pub remove: Vec<String>,
}

impl Delta {
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty()
    }
}

/// Changes to an agent; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    pub email_address: Option<String>,
    pub name: Option<String>,
    pub role: Option<Role>,
    pub teams: Option<Delta>,
    pub inboxes: Option<Delta>,
    pub external_id: Option<String>,
    pub phone_number: Option<String>,
    pub language: Option<String>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        *self == Changes::default()
    }
}

/// What a provision did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provisioned {
    /// A new agent (Gladly sent a welcome e-mail).
    Created,
    /// A deactivated agent with that e-mail, reactivated (no e-mail).
    Reactivated,
    /// An active agent with that e-mail existed; nothing written.
    AlreadyExisted,
}

/// What a provision does when the e-mail belongs to a deactivated agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IfDeactivated {
    /// Reactivate it (its id and history; no welcome e-mail).
    Reactivate,
    /// Leave it, and answer [`DirectoryError::Conflict`].
    Refuse,
}

/// A team.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Team {
    pub id: String,
    pub name: Option<String>,
}

/// An inbox.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inbox {
    pub id: String,
    pub name: Option<String>,
}

/// Why a call to Gladly failed: the connector's `error` variant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DirectoryError {
    Unauthorized(String),
    Forbidden(String),
    NotFound(String),
    Conflict(String),
    RateLimited {
        retry_after_ms: Option<u64>,
        message: String,
    },
    InvalidInput {
        field: String,
        message: String,
    },
    Unsupported(String),
    Upstream(String),
    Transport(String),
    /// The gateway's own configuration is missing or wrong (an environment
    /// variable, named in the message).
    Misconfigured(String),
}

/// Gladly, as the connector's `agents` interface reaches it.
pub trait Directory {
    /// Every agent, deactivated ones included.
    fn list_agents(&mut self) -> Result<Vec<Agent>, DirectoryError>;
    /// One agent; `None` when there is none.
    fn lookup(&mut self, key: &Key) -> Result<Option<Agent>, DirectoryError>;
    /// Create an agent, idempotently by e-mail: one agent and one welcome
    /// e-mail per person. An active agent with the e-mail is answered as it
    /// is; a deactivated one as `deactivated` says.
    fn provision(
        &mut self,
        agent: &NewAgent,
        deactivated: IfDeactivated,
    ) -> Result<(Provisioned, Agent), DirectoryError>;
    /// Change an agent, by id; the agent as it is afterwards.
    fn update(&mut self, id: &str, changes: &Changes) -> Result<Agent, DirectoryError>;
    /// Deactivate an agent, by id; the agent as it is afterwards.
    fn offboard(&mut self, id: &str) -> Result<Agent, DirectoryError>;
    fn list_teams(&mut self) -> Result<Vec<Team>, DirectoryError>;
    fn list_inboxes(&mut self) -> Result<Vec<Inbox>, DirectoryError>;
}
