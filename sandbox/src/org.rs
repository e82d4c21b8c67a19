//! The organisation's data: agents, inboxes and teams, the welcome e-mails
//! sent and the requests received, and the seed a sandbox starts from.

use std::collections::VecDeque;
use std::time::{Instant, SystemTime};

use serde_json::Value;

use crate::faults::FaultRule;
use crate::front::Framing;

#[derive(Clone, Debug)]
pub struct AgentRec {
    pub id: String,
    pub email_address: String,
    pub name: String,
    pub role: String,
    pub agent_profile: Option<Value>,
    pub inboxes: Vec<String>,
    pub teams: Vec<String>,
    pub active: bool,
    pub phone_number: Option<String>,
    pub external_id: Option<String>,
    pub language: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub agent_status: String,
}

#[derive(Clone, Debug)]
pub struct NamedRec {
    pub id: String,
    pub name: String,
    /// Inbox channel type; team description.
    pub detail: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WelcomeEmail {
    pub to: String,
    pub agent_id: String,
}

/// A request as the sandbox received it (never with its credentials).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    pub path_and_query: String,
    pub body: Option<String>,
    /// How its body was framed (`Content-Length`, `Transfer-Encoding`).
    pub framing: Framing,
    /// The status it was answered with, when it was answered.
    pub status: Option<u16>,
    /// When it arrived.
    pub at: Instant,
}

#[derive(Debug, Default)]
pub struct Org {
    pub agents: Vec<AgentRec>,
    pub inboxes: Vec<NamedRec>,
    pub teams: Vec<NamedRec>,
    pub welcome_emails: Vec<WelcomeEmail>,
    pub requests: Vec<RecordedRequest>,
    /// Each incoming request takes the first rule that matches it, if any,
    /// before anything else happens.
    pub faults: VecDeque<FaultRule>,
    /// Whether the agent list's `emailAddress` filter matches the address
    /// only as Gladly holds it, in letter case too (Gladly does not say
    /// either way; its 409 takes `Jane@…` and `jane@…` for one address
    /// whichever). Default `false`: the filter ignores case.
    pub email_filter_minds_case: bool,
    pub(crate) next_id: u32,
}

impl Org {
    pub(crate) fn seeded(extra: usize) -> Self {
        let named = |id: &str, name: &str, detail: &str| NamedRec {
            id: id.into(),
            name: name.into(),
            detail: detail.into(),
        };
        let mut org = Org {
            inboxes: vec![
                named("ibx_support", "General Support", "EMAIL"),
                named("ibx_billing", "Billing", "EMAIL"),
                named("ibx_vip", "VIP Chat", "CHAT"),
                named("ibx_voice", "Voice", "VOICE"),
            ],
            teams: vec![
                named("team_tier1", "Tier 1 Support", "First line"),
                named("team_tier2", "Tier 2 Support", "Second line"),
                named("team_escalations", "Escalations", "Hard cases"),
            ],
            ..Default::default()
        };
        let mut add = |email: &str,
                       name: &str,
                       role: &str,
                       inboxes: &[&str],
                       teams: &[&str],
                       active: bool,
                       ext: Option<&str>| {
            let a = org.add_agent(email, name, active, ext);
            a.role = role.into();
            a.inboxes = inboxes.iter().map(|s| s.to_string()).collect();
            a.teams = teams.iter().map(|s| s.to_string()).collect();
            a.language = Some("en-US".into());
        };
        add(
            "jane@acme.example",
            "Jane Doe",
            "AGENT",
            &["ibx_support"],
            &["team_tier1"],
            true,
            Some("E-1001"),
        );
        add(
            "sam@acme.example",
            "Sam Lee",
            "TEAM_LEAD",
            &["ibx_support", "ibx_billing"],
            &["team_tier2"],
            true,
            Some("E-1002"),
        );
        add(
            "former@acme.example",
            "Former Agent",
            "AGENT",
            &["ibx_support"],
            &[],
            false,
            Some("E-0999"),
        );
        for i in 0..extra {
            add(
                &format!("bulk-{i}@acme.example"),
                &format!("Bulk Agent {i}"),
                "AGENT",
                &[],
                &[],
                true,
                Some(&format!("B-{i}")),
            );
        }
        org
    }

    pub fn agent(&self, id: &str) -> Option<&AgentRec> {
        self.agents.iter().find(|a| a.id == id)
    }

    /// Adds an agent as if it had always been there (no welcome e-mail), for
    /// tests that need an organisation in a given state; the caller may set
    /// the rest of the record.
    pub fn add_agent(
        &mut self,
        email: &str,
        name: &str,
        active: bool,
        external_id: Option<&str>,
    ) -> &mut AgentRec {
        self.next_id += 1;
        let now = now();
        self.agents.push(AgentRec {
            id: format!("agt_{:03}", self.next_id),
            email_address: email.into(),
            name: name.into(),
            role: "AGENT".into(),
            agent_profile: None,
            inboxes: vec![],
            teams: vec![],
            active,
            phone_number: None,
            external_id: external_id.map(str::to_string),
            language: None,
            created_at: now.clone(),
            updated_at: now,
            agent_status: if active { "AVAILABLE" } else { "OFFLINE" }.into(),
        });
        self.agents.last_mut().expect("just pushed")
    }
}

pub(crate) fn now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}
