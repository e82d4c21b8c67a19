//! The plan as a file a person reviews and `apply` reads back: JSON with the
//! WIT's names, the organisation it was made for, and never a credential.

use serde_json::{Map, Value, json};

use crate::agents::{Agent, AgentProfile, AgentStatus, ApiFlavor, PlannedRequest, Role};
use crate::output;
use crate::roster::{Change, ChangeKind, PlanConflict, RosterPlan, Scope};

/// The `format` of plan files this version writes and reads; 2 added the
/// scope, which `apply` needs to count the active agents in scope afresh.
pub const FORMAT: &str = "gladly-harness-plan/2";

/// A plan and what it was made for.
pub struct PlanFile {
    /// The organisation the plan was made against; `apply` refuses another.
    pub org_url: String,
    /// The roster file it came from, as given.
    pub roster: String,
    /// The scope it was planned with: whose absence deactivates, and whom
    /// the deactivation guard counts when the plan is applied.
    pub scope: Scope,
    pub plan: RosterPlan,
}

pub fn kind_name(k: ChangeKind) -> &'static str {
    match k {
        ChangeKind::Create => "create",
        ChangeKind::Reactivate => "reactivate",
        ChangeKind::Update => "update",
        ChangeKind::Deactivate => "deactivate",
    }
}

fn request(p: &PlannedRequest) -> Value {
    json!({
        "method": p.method,
        "path": p.path,
        "body": p.body.as_ref().map(|b| serde_json::from_str::<Value>(b).unwrap_or_else(|_| json!(b))),
    })
}

pub fn change(c: &Change) -> Value {
    json!({
        "step": c.step,
        "kind": kind_name(c.kind),
        "row": c.row,
        "email-address": c.email_address,
        "reason": c.reason,
        "current": c.current.as_ref().map(output::agent),
        "differences": c.differences,
        "requests": c.requests.iter().map(request).collect::<Vec<_>>(),
    })
}

pub fn scope(s: &Scope) -> Value {
    match s {
        Scope::Managed => json!("managed"),
        Scope::AllAgents => json!("all-agents"),
        Scope::EmailDomains(d) => json!({ "email-domains": d }),
    }
}

pub fn conflict(c: &PlanConflict) -> Value {
    json!({
        "row": c.row,
        "email-address": c.email_address,
        "message": c.message,
        "agent-ids": c.agent_ids,
    })
}

pub fn plan(p: &RosterPlan) -> Value {
    json!({
        "changes": p.changes.iter().map(change).collect::<Vec<_>>(),
        "conflicts": p.conflicts.iter().map(conflict).collect::<Vec<_>>(),
        "unchanged": p.unchanged,
        "active-in-scope": p.active_in_scope,
        "deactivations": p.deactivations,
        "deactivation-threshold": p.deactivation_threshold,
        "guard-tripped": p.guard_tripped,
        "api-flavor": match p.api_flavor {
            ApiFlavor::Lifecycle => "lifecycle",
            ApiFlavor::PublicSpec => "public-spec",
        },
        "warnings": p.warnings,
    })
}

impl PlanFile {
    pub fn to_json(&self) -> Value {
        json!({
            "format": FORMAT,
            "org-url": self.org_url,
            "roster": self.roster,
            "scope": scope(&self.scope),
            "plan": plan(&self.plan),
        })
    }

    /// Reads a plan file back; an error names the JSON path that is wrong.
    pub fn from_json(v: &Value) -> Result<Self, PlanError> {
        let r = Reader {
            path: String::new(),
        };
        let obj = r.object(v)?;
        let format = r.at("format").string(obj.get("format"))?;
        if format != FORMAT {
            return r.at("format").fail(&format!(
                "is '{format}'; this gladly-harness reads '{FORMAT}': plan again with it"
            ));
        }
        Ok(Self {
            org_url: r.at("org-url").string(obj.get("org-url"))?,
            roster: r.at("roster").string(obj.get("roster"))?,
            scope: r.at("scope").scope(obj.get("scope"))?,
            plan: r.at("plan").plan(obj.get("plan").unwrap_or(&Value::Null))?,
        })
    }
}

/// What is wrong in a plan file, and where: the JSON path of the value
/// (`plan.changes[0].kind`; empty for the file as a whole), which
/// [`super::locate`] turns into a line and column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanError {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for PlanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = if self.path.is_empty() {
            "the file"
        } else {
            &self.path
        };
        write!(f, "{path}: {}", self.message)
    }
}

/// Reads values, knowing where in the file it is.
#[derive(Clone)]
struct Reader {
    path: String,
}

impl Reader {
    fn at(&self, key: &str) -> Reader {
        Reader {
            path: if self.path.is_empty() {
                key.to_string()
            } else {
                format!("{}.{key}", self.path)
            },
        }
    }

    fn index(&self, i: usize) -> Reader {
        Reader {
            path: format!("{}[{i}]", self.path),
        }
    }

    fn fail<T>(&self, what: &str) -> Result<T, PlanError> {
        Err(PlanError {
            path: self.path.clone(),
            message: what.to_string(),
        })
    }

    fn object<'v>(&self, v: &'v Value) -> Result<&'v Map<String, Value>, PlanError> {
        v.as_object()
            .map_or_else(|| self.fail("must be an object"), Ok)
    }

    fn string(&self, v: Option<&Value>) -> Result<String, PlanError> {
        match v {
            Some(Value::String(s)) => Ok(s.clone()),
            _ => self.fail("must be a string"),
        }
    }

    fn opt_string(&self, v: Option<&Value>) -> Result<Option<String>, PlanError> {
        match v {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            _ => self.fail("must be a string or null"),
        }
    }

    fn u32(&self, v: Option<&Value>) -> Result<u32, PlanError> {
        v.and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
            .map_or_else(|| self.fail("must be a whole number"), Ok)
    }

    fn opt_u32(&self, v: Option<&Value>) -> Result<Option<u32>, PlanError> {
        match v {
            None | Some(Value::Null) => Ok(None),
            v => self.u32(v).map(Some),
        }
    }

    fn bool(&self, v: Option<&Value>) -> Result<bool, PlanError> {
        v.and_then(Value::as_bool)
            .map_or_else(|| self.fail("must be true or false"), Ok)
    }

    fn strings(&self, v: Option<&Value>) -> Result<Vec<String>, PlanError> {
        match v {
            Some(Value::Array(a)) => a
                .iter()
                .enumerate()
                .map(|(i, x)| self.index(i).string(Some(x)))
                .collect(),
            _ => self.fail("must be a list of strings"),
        }
    }

    fn opt_strings(&self, v: Option<&Value>) -> Result<Option<Vec<String>>, PlanError> {
        match v {
            None | Some(Value::Null) => Ok(None),
            v => self.strings(v).map(Some),
        }
    }

    fn scope(&self, v: Option<&Value>) -> Result<Scope, PlanError> {
        match v {
            Some(Value::String(s)) if s == "managed" => Ok(Scope::Managed),
            Some(Value::String(s)) if s == "all-agents" => Ok(Scope::AllAgents),
            Some(Value::Object(o)) if o.len() == 1 && o.contains_key("email-domains") => self
                .at("email-domains")
                .strings(o.get("email-domains"))
                .map(Scope::EmailDomains),
            _ => self.fail("must be \"managed\", \"all-agents\" or {\"email-domains\": [...]}"),
        }
    }

    fn plan(&self, v: &Value) -> Result<RosterPlan, PlanError> {
        let o = self.object(v)?;
        let list = |key: &str| -> Result<&Vec<Value>, PlanError> {
            o.get(key)
                .and_then(Value::as_array)
                .map_or_else(|| self.at(key).fail("must be a list"), Ok)
        };
        let changes = list("changes")?
            .iter()
            .enumerate()
            .map(|(i, c)| self.at("changes").index(i).change(c))
            .collect::<Result<_, _>>()?;
        let conflicts = list("conflicts")?
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let r = self.at("conflicts").index(i);
                let c = r.object(c)?;
                Ok(PlanConflict {
                    row: r.at("row").opt_u32(c.get("row"))?,
                    email_address: r.at("email-address").string(c.get("email-address"))?,
                    message: r.at("message").string(c.get("message"))?,
                    agent_ids: r.at("agent-ids").strings(c.get("agent-ids"))?,
                })
            })
            .collect::<Result<_, PlanError>>()?;
        Ok(RosterPlan {
            changes,
            conflicts,
            unchanged: self.at("unchanged").u32(o.get("unchanged"))?,
            active_in_scope: self.at("active-in-scope").u32(o.get("active-in-scope"))?,
            deactivations: self.at("deactivations").u32(o.get("deactivations"))?,
            deactivation_threshold: self
                .at("deactivation-threshold")
                .u32(o.get("deactivation-threshold"))?,
            guard_tripped: self.at("guard-tripped").bool(o.get("guard-tripped"))?,
            api_flavor: match o.get("api-flavor").and_then(Value::as_str) {
                Some("lifecycle") => ApiFlavor::Lifecycle,
                Some("public-spec") => ApiFlavor::PublicSpec,
                _ => {
                    return self
                        .at("api-flavor")
                        .fail("must be lifecycle or public-spec");
                }
            },
            warnings: self.at("warnings").strings(o.get("warnings"))?,
        })
    }

    fn change(&self, v: &Value) -> Result<Change, PlanError> {
        let o = self.object(v)?;
        let kind = match o.get("kind").and_then(Value::as_str) {
            Some("create") => ChangeKind::Create,
            Some("reactivate") => ChangeKind::Reactivate,
            Some("update") => ChangeKind::Update,
            Some("deactivate") => ChangeKind::Deactivate,
            _ => {
                return self
                    .at("kind")
                    .fail("must be create, reactivate, update or deactivate");
            }
        };
        let requests = match o.get("requests") {
            Some(Value::Array(a)) => a
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let at = self.at("requests").index(i);
                    let r = at.object(r)?;
                    Ok(PlannedRequest {
                        method: at.at("method").string(r.get("method"))?,
                        path: at.at("path").string(r.get("path"))?,
                        body: match r.get("body") {
                            None | Some(Value::Null) => None,
                            Some(Value::String(s)) => Some(s.clone()),
                            Some(b) => Some(b.to_string()),
                        },
                    })
                })
                .collect::<Result<_, PlanError>>()?,
            _ => return self.at("requests").fail("must be a list"),
        };
        Ok(Change {
            step: self.at("step").u32(o.get("step"))?,
            kind,
            row: self.at("row").opt_u32(o.get("row"))?,
            email_address: self.at("email-address").string(o.get("email-address"))?,
            reason: self
                .at("reason")
                .opt_string(o.get("reason"))?
                .unwrap_or_default(),
            current: match o.get("current") {
                None | Some(Value::Null) => None,
                Some(a) => Some(self.at("current").agent(a)?),
            },
            differences: self
                .at("differences")
                .opt_strings(o.get("differences"))?
                .unwrap_or_default(),
            requests,
        })
    }

    fn agent(&self, v: &Value) -> Result<Agent, PlanError> {
        let o = self.object(v)?;
        let s = |k: &str| self.at(k).opt_string(o.get(k));
        let role = match o.get("role") {
            None | Some(Value::Null) => None,
            Some(Value::String(r)) => Some(
                crate::roster::file::parse_role(r)
                    .map_or_else(|| self.at("role").fail("is not a role"), Ok)?,
            ),
            Some(Value::Object(x)) => Some(Role::Other(self.at("role").string(x.get("other"))?)),
            Some(_) => return self.at("role").fail("is not a role"),
        };
        let status = match o.get("agent-status") {
            None | Some(Value::Null) => None,
            Some(Value::String(x)) => Some(match x.as_str() {
                "available" => AgentStatus::Available,
                "busy" => AgentStatus::Busy,
                "away" => AgentStatus::Away,
                "offline" => AgentStatus::Offline,
                other => AgentStatus::Other(other.to_string()),
            }),
            Some(Value::Object(x)) => Some(AgentStatus::Other(
                self.at("agent-status").string(x.get("other"))?,
            )),
            Some(_) => return self.at("agent-status").fail("is not a status"),
        };
        let profile = match o.get("agent-profile") {
            None | Some(Value::Null) => None,
            Some(p) => {
                let r = self.at("agent-profile");
                let p = r.object(p)?;
                Some(AgentProfile {
                    bio: r.at("bio").opt_string(p.get("bio"))?,
                    avatar_url: r.at("avatar-url").opt_string(p.get("avatar-url"))?,
                })
            }
        };
        Ok(Agent {
            id: self.at("id").string(o.get("id"))?,
            email_address: self.at("email-address").string(o.get("email-address"))?,
            name: s("name")?,
            role,
            agent_profile: profile,
            inboxes: self.at("inboxes").opt_strings(o.get("inboxes"))?,
            teams: self.at("teams").opt_strings(o.get("teams"))?,
            active: match o.get("active") {
                None | Some(Value::Null) => None,
                v => Some(self.at("active").bool(v)?),
            },
            phone_number: s("phone-number")?,
            external_id: s("external-id")?,
            language: s("language")?,
            created_at: s("created-at")?,
            updated_at: s("updated-at")?,
            agent_status: status,
        })
    }
}

/// The first change of `plan` that `apply-change` would refuse as written
/// (the core's own check, `gladly_connector::roster::check_change`, which
/// reads the change's kind, e-mail, current agent's id and e-mail, and its
/// request): the JSON path in the file of what is wrong, and why. `apply`
/// checks every change so before it applies the first, so that a plan file
/// with one bad change is named by file, line and column and sends nothing.
pub fn first_bad_change(plan: &RosterPlan) -> Option<(String, String)> {
    use gladly_connector::error::Error as CoreError;
    plan.changes.iter().enumerate().find_map(|(i, c)| {
        let (field, message) = match gladly_connector::roster::check_change(&core_change(c)) {
            Ok(()) => return None,
            Err(CoreError::InvalidInput { field, message }) => (field, message),
            Err(other) => (String::new(), other.to_string()),
        };
        let rest = field.strip_prefix("change.").unwrap_or(&field);
        let rest = match rest.strip_prefix("requests") {
            Some("") => "requests".to_string(),
            Some(deeper) => format!("requests[0]{deeper}"),
            None => rest.to_string(),
        };
        Some((format!("plan.changes[{i}].{rest}"), message))
    })
}

/// What of a change the core's check reads, as the core holds it.
fn core_change(c: &Change) -> gladly_connector::roster::Change {
    use gladly_connector::model as core;
    use gladly_connector::roster::ChangeKind as Kind;
    gladly_connector::roster::Change {
        step: c.step,
        kind: match c.kind {
            ChangeKind::Create => Kind::Create,
            ChangeKind::Reactivate => Kind::Reactivate,
            ChangeKind::Update => Kind::Update,
            ChangeKind::Deactivate => Kind::Deactivate,
        },
        row: c.row,
        email_address: c.email_address.clone(),
        reason: String::new(),
        current: c.current.as_ref().map(|a| core::Agent {
            id: a.id.clone(),
            email_address: a.email_address.clone(),
            name: None,
            role: None,
            agent_profile: None,
            inboxes: None,
            teams: None,
            active: None,
            phone_number: None,
            external_id: None,
            language: None,
            created_at: None,
            updated_at: None,
            agent_status: None,
        }),
        differences: Vec::new(),
        requests: c
            .requests
            .iter()
            .map(|r| core::PlannedRequest {
                method: r.method.clone(),
                path: r.path.clone(),
                body: r.body.clone(),
            })
            .collect(),
    }
}
