//! SCIM Groups are Gladly teams; inboxes and roles are groups too, by a
//! naming convention, for IdPs that can only send group membership
//! (JumpCloud, Okta Group Push):
//!
//! | Group `displayName` | `id` | a member is an agent |
//! | --- | --- | --- |
//! | the team's name | the team's id | in the team |
//! | `Gladly inbox: <inbox name>` | `inbox:<inbox id>` | assigned to the inbox |
//! | `Gladly role: <role>` (`agent`, `team_lead`, …) | `role:<role>` | with that role |
//!
//! Gladly's API cannot create, rename or delete a team, so those are refused.

use serde_json::{Value, json};

use crate::directory::{Agent, Inbox, Role, Team};
use crate::error::ScimError;
use crate::json::Obj;
use crate::patch::{Op, operations};
use crate::path::{AttrPath, CORE_GROUP, Schema};

pub const INBOX_PREFIX: &str = "Gladly inbox: ";
pub const ROLE_PREFIX: &str = "Gladly role: ";

/// What a group stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    Team(String),
    Inbox(String),
    Role(Role),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub id: String,
    pub display_name: String,
    pub kind: Kind,
}

impl Group {
    /// Whether `agent` is a member.
    pub fn has(&self, agent: &Agent) -> bool {
        let holds = |ids: &Option<Vec<String>>, id: &str| {
            ids.as_ref().is_some_and(|l| l.iter().any(|x| x == id))
        };
        match &self.kind {
            Kind::Team(t) => holds(&agent.teams, t),
            Kind::Inbox(i) => holds(&agent.inboxes, i),
            // An agent whose role Gladly did not send is shown as an agent.
            Kind::Role(r) => agent.role.as_ref().unwrap_or(&Role::Agent) == r,
        }
    }
}

/// Every group: the teams, the inboxes and the settable roles.
pub fn all(teams: &[Team], inboxes: &[Inbox]) -> Vec<Group> {
    let teams = teams.iter().map(|t| Group {
        id: t.id.clone(),
        display_name: t.name.clone().unwrap_or_else(|| t.id.clone()),
        kind: Kind::Team(t.id.clone()),
    });
    let inboxes = inboxes.iter().map(|i| Group {
        id: format!("inbox:{}", i.id),
        display_name: format!("{INBOX_PREFIX}{}", i.name.as_deref().unwrap_or(&i.id)),
        kind: Kind::Inbox(i.id.clone()),
    });
    let roles = Role::SETTABLE.into_iter().map(|r| Group {
        id: format!("role:{}", r.scim_name()),
        display_name: format!("{ROLE_PREFIX}{}", r.scim_name()),
        kind: Kind::Role(r),
    });
    teams.chain(inboxes).chain(roles).collect()
}

/// The SCIM Group, with its members unless left out.
pub fn render(group: &Group, members: Option<&[&Agent]>, base: &str) -> Value {
    let mut g = json!({
        "schemas": [CORE_GROUP],
        "id": group.id,
        "displayName": group.display_name,
        "meta": {"resourceType": "Group", "location": format!("{base}/Groups/{}", group.id)},
    });
    if let Some(members) = members {
        g["members"] = members
            .iter()
            .map(|a| {
                json!({
                    "value": a.id,
                    "display": a.email_address,
                    "type": "User",
                    "$ref": format!("{base}/Users/{}", a.id),
                })
            })
            .collect();
    }
    g
}

/// A change to a group's membership.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemberOp {
    Add(Vec<String>),
    Remove(Vec<String>),
    /// Exactly these members.
    Replace(Vec<String>),
}

impl MemberOp {
    /// The member ids it names.
    pub fn ids(&self) -> &[String] {
        match self {
            MemberOp::Add(ids) | MemberOp::Remove(ids) | MemberOp::Replace(ids) => ids,
        }
    }
}

/// What [`patch`] refuses whatever the group: a malformed body or path.
pub fn check_patch(body: &Value) -> Result<(), ScimError> {
    for (_, path, value) in operations(body)? {
        match (path, value) {
            (Some(p), _) => {
                AttrPath::parse(p)?;
            }
            (None, Some(Value::Object(map))) => {
                for k in map.keys() {
                    AttrPath::parse(k)?;
                }
            }
            (None, _) => {}
        }
    }
    Ok(())
}

/// The membership changes of a PATCH to `group` (Okta's and Entra's
/// shapes). A `displayName` other than the group's is refused: Gladly's API
/// cannot rename a team. Other attributes (`externalId`, `id`, any of an
/// extension's) are dropped.
pub fn patch(group: &Group, body: &Value) -> Result<Vec<MemberOp>, ScimError> {
    let mut out = Vec::new();
    for (op, path, value) in operations(body)? {
        match path {
            Some(p) => member_op(group, op, &AttrPath::parse(p)?, value, &mut out)?,
            None => {
                // `operations` makes sure a path-less add or replace carries
                // an object.
                if let Some(Value::Object(map)) = value {
                    for (k, v) in map {
                        member_op(group, op, &AttrPath::parse(k)?, Some(v), &mut out)?;
                    }
                }
            }
        }
    }
    Ok(out)
}

fn member_op(
    group: &Group,
    op: Op,
    path: &AttrPath,
    value: Option<&Value>,
    out: &mut Vec<MemberOp>,
) -> Result<(), ScimError> {
    // An extension's attribute that happens to be named `members` or
    // `displayName` is not the group's: dropped, as every other one (read
    // as the core one, a replace of it with `[]` emptied the team).
    if path.schema != Schema::Core {
        return Ok(());
    }
    match path.attr.as_str() {
        "members" => {
            // `members[value eq "id"]` names the member in the path.
            let ids = match &path.filter {
                // A replace of one member has no meaning for a membership
                // (RFC 7644 would replace that member's value), and read as
                // "exactly this member" it removed every other.
                Some(_) if op == Op::Replace => {
                    return Err(ScimError::invalid_path(
                        "members[…]",
                        "a replace of one member is not supported; add or remove it",
                    ));
                }
                Some(f) if f.attr == "value" => match f.value.as_str() {
                    Some(id) => vec![id.to_string()],
                    // Read as "", an `add` or `replace` would name nobody,
                    // and a replace by nobody empties the group.
                    None => {
                        return Err(ScimError::invalid_path(
                            "members[…]",
                            format!(
                                "members[value eq …] needs a user's id (a string), not {}",
                                f.value
                            ),
                        ));
                    }
                },
                Some(_) => {
                    return Err(ScimError::invalid_path(
                        "members[…]",
                        "only members[value eq \"id\"] is supported",
                    ));
                }
                // No value to add or to replace with is a malformed
                // operation, not "nobody": read as an empty list, a replace
                // would empty the group (and a role group would demote
                // everyone). To empty it, `remove` with no value, or
                // `replace` with `[]`.
                None if op != Op::Remove && value.is_none_or(Value::is_null) => {
                    return Err(ScimError::invalid_value(
                        "members",
                        "an add or a replace of members needs a value (the members, [] for none); to remove every member, send remove with no value",
                    ));
                }
                None => member_ids(value)?,
            };
            // An empty id names nobody: dropped, an add or replace of it
            // was "nobody", and a replace by nobody empties the group.
            if ids.iter().any(|id| id.trim().is_empty()) {
                return Err(ScimError::invalid_value(
                    "members",
                    "each member needs a user's id, not an empty one",
                ));
            }
            out.push(match op {
                Op::Add => MemberOp::Add(ids),
                Op::Replace => MemberOp::Replace(ids),
                // `remove` of `members` with no value and no filter: all.
                Op::Remove if value.is_none() && path.filter.is_none() => MemberOp::Replace(vec![]),
                Op::Remove => MemberOp::Remove(ids),
            });
            Ok(())
        }
        "displayname" => {
            let same = value
                .and_then(Value::as_str)
                .is_some_and(|n| n.trim().eq_ignore_ascii_case(group.display_name.trim()));
            if same {
                Ok(())
            } else {
                Err(ScimError::new(
                    400,
                    Some("mutability"),
                    format!(
                        "displayName: Gladly's API cannot rename {:?}; rename it in Gladly, or link the IdP's group to it by its name",
                        group.display_name
                    ),
                ))
            }
        }
        _ => Ok(()),
    }
}

/// Member ids from `[{value}, …]`, one `{value}`, or a list of strings.
pub fn member_ids(value: Option<&Value>) -> Result<Vec<String>, ScimError> {
    let one = |v: &Value| -> Result<String, ScimError> {
        match v {
            Value::String(s) => Ok(s.clone()),
            Value::Object(o) => Obj(o).str("value").map(str::to_string).ok_or_else(|| {
                ScimError::invalid_value("members", "each member needs a value (the user's id)")
            }),
            other => Err(ScimError::invalid_value(
                "members",
                format!("{other} is not a member"),
            )),
        }
    };
    match value {
        None => Ok(vec![]),
        Some(Value::Array(items)) => items.iter().map(one).collect(),
        Some(v) => Ok(vec![one(v)?]),
    }
}
