//! The SCIM User resource and a Gladly agent, both ways (the table in the
//! README, "SCIM 2.0").

use serde_json::{Map, Value, json};

use crate::directory::{Agent, Changes, Role};
use crate::error::ScimError;
use crate::json::{Obj, boolean, pick};
use crate::patch::{Op, operations};
use crate::path::{AttrPath, CORE_USER, GLADLY_USER, Schema};

/// The `externalId` a DELETE leaves on the deactivated agent, followed by
/// the one it had (if any): how every instance, after any restart, knows
/// that SCIM deleted it and answers 404 (RFC 7644 §3.6). It is refused as
/// input, so a client cannot forge it.
pub const DELETED_MARK: &str = "scim-deleted";

/// Whether an `externalId` is (or begins with) the mark, as Gladly keeps it:
/// the connector trims what it stores, so the mark is recognised trimmed
/// and in any case.
pub fn is_mark(external_id: &str) -> bool {
    external_id
        .trim()
        .get(..DELETED_MARK.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(DELETED_MARK))
}

/// Whether SCIM deleted this agent: deactivated, and marked so.
pub fn is_deleted(agent: &Agent) -> bool {
    !agent.is_active() && agent.external_id.as_deref().is_some_and(is_mark)
}

/// The longest `externalId` the connector takes, in bytes of UTF-8.
const MAX_EXTERNAL_ID: usize = 256;

/// The mark for an agent being deleted, keeping as much of its
/// `externalId` as fits, or, if it had none, its Gladly id (what a
/// re-onboarding gives it back either way), so that no two agents share a
/// mark where Gladly keeps `externalId`s unique.
pub fn deleted_mark(agent: &Agent) -> String {
    let kept = agent
        .external_id
        .as_deref()
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .unwrap_or(agent.id.trim());
    if kept.is_empty() {
        return DELETED_MARK.to_string();
    }
    if is_mark(kept) {
        return kept.to_string();
    }
    // Bytes, as the connector counts them: 243 characters of `é` are 486
    // bytes, and a mark that long was refused at every DELETE. Cut on a
    // character's boundary.
    let room = MAX_EXTERNAL_ID - DELETED_MARK.len() - 1;
    let mut cut = room.min(kept.len());
    while !kept.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{DELETED_MARK}:{}", &kept[..cut])
}

/// The `externalId` a marked agent had before its DELETE, if any.
pub fn before_mark(external_id: &str) -> Option<&str> {
    let t = external_id.trim();
    if !is_mark(t) {
        return None;
    }
    t[DELETED_MARK.len()..]
        .strip_prefix(':')
        .filter(|x| !x.is_empty())
}

/// What a SCIM request wants the agent to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Desired {
    pub email: String,
    pub name: String,
    pub external_id: Option<String>,
    pub active: bool,
    pub phone: Option<String>,
    pub language: Option<String>,
    /// `None`: the request did not say; a create makes an `agent`, a
    /// replace keeps the role (it may come from a role group).
    pub role: Option<Role>,
    /// The request itself says `active: false` (a deprovision, or one
    /// repeated after a lost answer): see [`Refused`].
    pub deactivates: bool,
    /// The request set `phone` from a work number (or one of no type):
    /// Gladly keeps one number, the work one else the mobile one, so a
    /// number of another type later in the request does not replace it.
    pub(crate) phone_from_work: bool,
    /// The role the agent holds (before the request), which a `remove` of
    /// roles must name to take away.
    pub(crate) held_role: Option<Role>,
}

impl Desired {
    /// The agent as it is, as a starting point for a PATCH.
    fn of(agent: &Agent) -> Desired {
        Desired {
            email: agent.email_address.clone(),
            name: display_name(agent),
            external_id: agent.external_id.clone(),
            active: agent.is_active(),
            phone: agent.phone_number.clone(),
            language: agent.language.clone(),
            role: None,
            deactivates: false,
            phone_from_work: false,
            held_role: agent.role.clone(),
        }
    }

    /// The fields of `current` this changes.
    pub fn changes_from(&self, current: &Agent) -> Changes {
        fn differs(new: &Option<String>, old: &Option<String>) -> Option<String> {
            new.as_ref().filter(|n| Some(*n) != old.as_ref()).cloned()
        }
        Changes {
            // Gladly compares addresses case-insensitively: a change of case
            // alone is not a change.
            email_address: (!same_email(&self.email, &current.email_address))
                .then(|| self.email.clone()),
            name: (current.name.as_deref() != Some(self.name.as_str())
                && self.name != display_name(current))
            .then(|| self.name.clone()),
            role: self
                .role
                .clone()
                .filter(|r| current.role.as_ref() != Some(r)),
            teams: None,
            inboxes: None,
            external_id: differs(&self.external_id, &current.external_id),
            phone_number: differs(&self.phone, &current.phone_number),
            language: differs(&self.language, &current.language),
        }
    }
}

/// The SCIM User of an agent. `base` is the service's base URL.
pub fn render(agent: &Agent, base: &str) -> Value {
    let name = display_name(agent);
    let (given, family) = name_parts(&name);
    let mut user = json!({
        "schemas": [CORE_USER, GLADLY_USER],
        "id": agent.id,
        "userName": agent.email_address,
        "displayName": name,
        "name": {"formatted": name, "givenName": given, "familyName": family},
        "emails": [{"value": agent.email_address, "type": "work", "primary": true}],
        "active": agent.is_active(),
    });
    // A mark left by a DELETE is the service's, not the IdP's.
    if let Some(x) = agent.external_id.as_ref().filter(|x| !is_mark(x)) {
        user["externalId"] = json!(x);
    }
    if let Some(p) = &agent.phone_number {
        user["phoneNumbers"] = json!([{"value": p, "type": "work"}]);
    }
    if let Some(l) = &agent.language {
        user["preferredLanguage"] = json!(l);
        user["locale"] = json!(l);
    }
    if let Some(r) = &agent.role {
        user["roles"] = json!([{"value": r.scim_name(), "primary": true}]);
        user[GLADLY_USER] = json!({"role": r.scim_name()});
    }
    let mut meta = json!({
        "resourceType": "User",
        "location": format!("{base}/Users/{}", agent.id),
    });
    if let Some(c) = &agent.created_at {
        meta["created"] = json!(c);
    }
    if let Some(u) = agent.updated_at.as_ref().or(agent.created_at.as_ref()) {
        meta["lastModified"] = json!(u);
    }
    user["meta"] = meta;
    user
}

/// The agent's name, never empty: Gladly's, else the e-mail's local part.
fn display_name(agent: &Agent) -> String {
    match agent.name.as_deref().map(str::trim) {
        Some(n) if !n.is_empty() => n.to_string(),
        _ => local_part(&agent.email_address).to_string(),
    }
}

fn local_part(email: &str) -> &str {
    email
        .split('@')
        .next()
        .filter(|l| !l.is_empty())
        .unwrap_or(email)
}

/// `givenName` and `familyName`, both non-empty (Okta's own test requires
/// both): split at the first space; a one-word name is both.
fn name_parts(name: &str) -> (String, String) {
    match name.trim().split_once(' ') {
        Some((g, f)) if !f.trim().is_empty() => (g.to_string(), f.trim().to_string()),
        _ => (name.trim().to_string(), name.trim().to_string()),
    }
}

/// A plausible e-mail address: one `@` with something on either side, a dot
/// in the domain, no spaces. Gladly (through the connector) judges the rest.
fn is_address(s: &str) -> bool {
    let s = s.trim();
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.contains('@')
                && !s.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

/// Name candidates a request carries; the first present wins:
/// `displayName`, `name.formatted`, then the given and family names. A
/// name attribute sent blank, `null` or removed is `Some("")`.
#[derive(Clone, Default, PartialEq)]
struct NameEdit {
    /// `name` removed whole (it sets the three parts below blank too).
    whole_removed: bool,
    display: Option<String>,
    formatted: Option<String>,
    given: Option<String>,
    family: Option<String>,
}

/// What a request does to the name.
enum NameOutcome {
    /// It sends none.
    Unsent,
    Name(String),
    /// It sends only blanks (the attribute named first), which would clear
    /// the name: Gladly's API cannot.
    Blank(&'static str),
}

impl NameEdit {
    /// Where the attribute at this (lower-case, dotted) path goes.
    fn slot(&mut self, attr: &str) -> Option<&mut Option<String>> {
        match attr {
            "displayname" => Some(&mut self.display),
            "name.formatted" => Some(&mut self.formatted),
            "name.givenname" => Some(&mut self.given),
            "name.familyname" => Some(&mut self.family),
            _ => None,
        }
    }

    /// The name this request asks for. The parts it does not send are, in
    /// a PATCH (`fill`; Entra sends only the part that changed), the
    /// current name's, split at its first space (a one-word name is a given
    /// name alone); in a whole resource (a PUT), empty. Parts equal to
    /// those this service shows for `current` are that name.
    fn resolve(self, current: &str, fill: bool) -> NameOutcome {
        let trimmed = |s: Option<String>| s.map(|s| s.trim().to_string());
        let (display, formatted) = (trimmed(self.display), trimmed(self.formatted));
        let (given, family) = (trimmed(self.given), trimmed(self.family));
        if let Some(n) = [&display, &formatted]
            .into_iter()
            .flatten()
            .find(|n| !n.is_empty())
        {
            return NameOutcome::Name(n.clone());
        }
        let whole = self.whole_removed.then(String::new);
        let sent = [
            ("displayName", &display),
            ("name", &whole),
            ("name.formatted", &formatted),
            ("name.givenName", &given),
            ("name.familyName", &family),
        ];
        let Some(first) = sent.iter().find(|(_, v)| v.is_some()).map(|(a, _)| *a) else {
            return NameOutcome::Unsent;
        };
        if given.is_none() && family.is_none() {
            return NameOutcome::Blank(first);
        }
        let both_sent = given.is_some() && family.is_some();
        let current = current.trim();
        let (cur_given, cur_family) = match current.split_once(' ') {
            Some((g, f)) if fill => (g.to_string(), f.trim().to_string()),
            None if fill => (current.to_string(), String::new()),
            _ => Default::default(),
        };
        let given = given.unwrap_or(cur_given);
        let family = family.unwrap_or(cur_family);
        if !current.is_empty() && (given.clone(), family.clone()) == name_parts(current) {
            return NameOutcome::Name(current.to_string());
        }
        // Both parts sent alike are a one-word name, as this service shows
        // one.
        let name = if both_sent && given == family {
            given
        } else {
            [given, family]
                .into_iter()
                .filter(|p| !p.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        };
        if name.is_empty() {
            NameOutcome::Blank(first)
        } else {
            NameOutcome::Name(name)
        }
    }
}

/// The first attribute of a request refused as bad input (400), kept so
/// that a request that deactivates may go ahead without it: a
/// leaver's profile (a phone with an extension, a field an IdP template
/// sends empty) never holds up a deprovision. Anything else (not 400) is
/// an error at once.
#[derive(Default)]
struct Refused(Option<ScimError>);

impl Refused {
    fn note(&mut self, applied: Result<(), ScimError>) -> Result<(), ScimError> {
        match applied {
            Err(e) if e.status == 400 => {
                self.0.get_or_insert(e);
                Ok(())
            }
            other => other,
        }
    }

    fn raise(self) -> Result<(), ScimError> {
        self.0.map_or(Ok(()), Err)
    }
}

/// Applies the attributes of one object (a resource, or a path-less PATCH
/// value) in its order, through `apply_one`. An object that sets one thing
/// two ways, to different values (`roles` and the Gladly extension's
/// `role`, `displayName` and its URN form), would be decided by the order
/// of its keys, which a client does not control and another reader may
/// take the other way: found by applying the object in the other order
/// too, such a thing is left as it was and refused as a bad attribute is
/// (a request that deactivates still does, without it).
fn apply_object(
    d: &mut Desired,
    name: &mut NameEdit,
    object: &serde_json::Map<String, Value>,
    refused: &mut Refused,
    apply_one: impl Fn(&mut Desired, &mut NameEdit, &str, &Value) -> Result<(), ScimError>,
) -> Result<(), ScimError> {
    let (before, before_name) = (d.clone(), name.clone());
    for (key, value) in object {
        refused.note(apply_one(d, name, key, value))?;
    }
    let (mut other, mut other_name) = (before.clone(), before_name.clone());
    for (key, value) in object.iter().rev() {
        // Its refusals were noted in the first order.
        let _ = apply_one(&mut other, &mut other_name, key, value);
    }
    let mut two_ways = Vec::new();
    if d.role != other.role {
        two_ways.push("roles");
        d.role.clone_from(&before.role);
    }
    if *name != other_name {
        two_ways.push("name");
        *name = before_name;
    }
    if d.external_id != other.external_id {
        two_ways.push("externalId");
        d.external_id.clone_from(&before.external_id);
    }
    if (&d.phone, d.phone_from_work) != (&other.phone, other.phone_from_work) {
        two_ways.push("phoneNumbers");
        d.phone.clone_from(&before.phone);
        d.phone_from_work = before.phone_from_work;
    }
    if d.language != other.language {
        two_ways.push("preferredLanguage");
        d.language.clone_from(&before.language);
    }
    if (d.active, d.deactivates) != (other.active, other.deactivates) {
        two_ways.push("active");
        (d.active, d.deactivates) = (before.active, before.deactivates);
    }
    for attr in two_ways {
        refused.note(Err(ScimError::invalid_value(
            attr,
            "is given two ways in one object (an attribute and another name for it), with different values, so the order of its keys would decide: send it once",
        )))?;
    }
    Ok(())
}

/// A request that would only blank an active agent's name, which Gladly's
/// API cannot clear: refused, so that the IdP learns it was not done. One
/// that changes anything else, or deactivates (again, after a lost
/// answer), goes ahead with the name kept: a blank name never holds up a
/// deprovision.
fn blank_name_alone(attr: &'static str, d: &Desired, current: &Agent) -> Result<(), ScimError> {
    if d.active && current.is_active() && d.changes_from(current).is_empty() {
        return Err(ScimError::invalid_value(
            attr,
            "is empty; Gladly's API cannot clear an agent's name: send a name",
        ));
    }
    Ok(())
}

/// Whether two addresses are one: letters in any case, not only ASCII
/// (`JOSÉ@acme.com` may be stored `josé@acme.com`), as the connector's own
/// `model::same_email` compares them (this crate, plain SCIM, does not
/// reach the connector's). Its one difference, a look-alike of an ASCII
/// letter compared as written there, is the connector's to apply: it
/// refuses such an address, and finds no agent by one.
pub fn same_email(a: &str, b: &str) -> bool {
    use unicode_normalization::UnicodeNormalization as _;
    // In NFC first, as the connector: `josé` with é composed or as e and
    // U+0301 is one address, which the connector finds in either form.
    let key = |s: &str| -> String {
        (s.trim().nfc().collect::<String>().to_lowercase())
            .nfc()
            .collect()
    };
    key(a) == key(b)
}

/// A create or replace body as an object, or why it is none.
pub fn resource(body: &Value) -> Result<Obj<'_>, ScimError> {
    body.as_object()
        .map(Obj)
        .ok_or_else(|| ScimError::invalid_syntax("the body must be a JSON object (a SCIM User)"))
}

/// A User in a create (POST) or replace (PUT) body.
pub fn from_resource(body: &Value, current: Option<&Agent>) -> Result<Desired, ScimError> {
    let obj = resource(body)?;
    let email = email_of(obj)?;
    let mut name = NameEdit::default();
    let mut d = Desired {
        email: email.clone(),
        name: String::new(),
        external_id: None,
        // A replace that does not say keeps the agent as active as it is:
        // a profile-only PUT never brings a leaver back.
        active: current.is_none_or(Agent::is_active),
        phone: None,
        language: None,
        role: None,
        deactivates: false,
        phone_from_work: false,
        held_role: current.and_then(|c| c.role.clone()),
    };
    let mut refused = Refused::default();
    apply_object(
        &mut d,
        &mut name,
        obj.0,
        &mut refused,
        |d, name, key, value| {
            if value.is_null() {
                return Ok(());
            }
            AttrPath::parse(key)
                .map_err(|_| ScimError::invalid_syntax(format!("{key:?} is not an attribute name")))
                .and_then(|path| {
                    // The address was taken above; the e-mails shown derive
                    // from it.
                    if path.schema == Schema::Core
                        && matches!(path.attr.as_str(), "username" | "emails")
                    {
                        return Ok(());
                    }
                    apply_value(d, name, &path, Some(value), Op::Replace)
                })
        },
    )?;
    // A create is refused for any bad attribute; a replace too, unless it
    // deactivates.
    if current.is_none() || !d.deactivates {
        refused.raise()?;
    }
    // A create with no name takes the address's local part; a replace
    // (a whole resource: parts not sent are empty) without one keeps the
    // name.
    d.email = email;
    let current_name = current.map(display_name).unwrap_or_default();
    d.name = match (name.resolve(&current_name, false), current) {
        (NameOutcome::Name(n), _) => n,
        (_, None) => local_part(&d.email).to_string(),
        // A whole resource with no name, or only blanks (an IdP with no
        // name for the user, which a create took the local part for):
        // the name stands.
        (_, Some(_)) => current_name,
    };
    Ok(d)
}

/// The address a create or replace gives: `userName` when it is one, else
/// the work (or primary) e-mail.
fn email_of(obj: Obj) -> Result<String, ScimError> {
    let user_name = obj.get("userName");
    let user_name = match user_name {
        None => return Err(ScimError::invalid_value("userName", "is required")),
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim(),
        Some(_) => {
            return Err(ScimError::invalid_value(
                "userName",
                "must be a non-empty string",
            ));
        }
    };
    if is_address(user_name) {
        return Ok(user_name.to_string());
    }
    let work = obj
        .get("emails")
        .and_then(Value::as_array)
        .and_then(|e| pick(e, &["work"]))
        .and_then(|e| e.str("value"))
        .filter(|v| is_address(v));
    work.map(|w| w.trim().to_string()).ok_or_else(|| {
        ScimError::invalid_value(
            "userName",
            format!("{user_name:?} is not an e-mail address, and no work or primary e-mail was sent; Gladly's agents are keyed by e-mail"),
        )
    })
}

/// A PATCH body (RFC 7644 §3.5.2) applied to `current`: what it wants.
pub fn patch(current: &Agent, body: &Value) -> Result<Desired, ScimError> {
    let ops = operations(body)?;
    let mut d = Desired::of(current);
    let mut name = NameEdit::default();
    let mut refused = Refused::default();
    for (op, path, value) in ops {
        match path {
            Some(p) => {
                let applied = AttrPath::parse(p)
                    .and_then(|path| apply_value(&mut d, &mut name, &path, value, op));
                refused.note(applied)?;
            }
            // `operations` makes sure a path-less add or replace carries
            // an object.
            None => {
                if let Some(Value::Object(map)) = value {
                    apply_object(&mut d, &mut name, map, &mut refused, |d, name, key, v| {
                        AttrPath::parse(key)
                            .and_then(|path| apply_value(d, name, &path, Some(v), op))
                    })?;
                }
            }
        }
    }
    // Unless the request deactivates (a deprovision, or one repeated after
    // a lost answer), a bad attribute refuses it.
    if !d.deactivates {
        refused.raise()?;
    }
    match name.resolve(&display_name(current), true) {
        NameOutcome::Name(n) => d.name = n,
        NameOutcome::Blank(attr) => blank_name_alone(attr, &d, current)?,
        NameOutcome::Unsent => {}
    }
    Ok(d)
}

/// One path and value of a PATCH; nested objects of `name` and of an
/// extension are walked.
fn apply_value(
    d: &mut Desired,
    name: &mut NameEdit,
    path: &AttrPath,
    value: Option<&Value>,
    op: Op,
) -> Result<(), ScimError> {
    match (path.attr.as_str(), path.sub.as_deref(), value) {
        ("", _, Some(Value::Object(ext))) => every_key(ext, |k, v| {
            let inner = AttrPath {
                schema: path.schema,
                ..AttrPath::parse(k)?
            };
            apply_value(d, name, &inner, Some(v), op)
        }),
        ("name", None, Some(Value::Object(parts)))
            if path.schema == Schema::Core && op != Op::Remove =>
        {
            every_key(parts, |k, v| {
                let inner = AttrPath::parse(&format!("name.{k}"))?;
                apply_value(d, name, &inner, Some(v), op)
            })
        }
        // A name attribute set to nothing (`null`, or no value) is removed.
        ("displayname", None, None | Some(Value::Null)) | ("name", _, None | Some(Value::Null))
            if path.schema == Schema::Core =>
        {
            set(d, name, path, &Value::Null, Op::Remove)
        }
        // Set to nothing (null is unassigned, RFC 7643 §2.5): an attribute
        // Gladly does not keep is dropped, as its remove is; one it keeps
        // cannot be cleared, and a replace by nothing is no replace.
        (_, _, None) if op != Op::Remove && kept(path) => Err(ScimError::invalid_value(
            &path.written,
            "an add or replace needs a value",
        )),
        (_, _, None) if op != Op::Remove => Ok(()),
        (_, _, v) => set(d, name, path, v.unwrap_or(&Value::Null), op),
    }
}

/// Whether Gladly keeps the attribute at `path` (what [`set`] writes);
/// every other is accepted and dropped.
fn kept(path: &AttrPath) -> bool {
    match path.schema {
        Schema::Enterprise | Schema::Other => false,
        Schema::Gladly => path.attr.is_empty() || path.attr == "role",
        Schema::Core => matches!(
            path.attr.as_str(),
            "username"
                | "name"
                | "displayname"
                | "externalid"
                | "active"
                | "phonenumbers"
                | "preferredlanguage"
                | "locale"
                | "roles"
        ),
    }
}

/// `apply` to every key of a nested object, the first refusal the
/// answer: one refused does not drop the keys after it from a request
/// that deactivates, which goes ahead without it (see [`Refused`]).
fn every_key(
    object: &serde_json::Map<String, Value>,
    mut apply: impl FnMut(&str, &Value) -> Result<(), ScimError>,
) -> Result<(), ScimError> {
    let mut refused = Refused::default();
    for (k, v) in object {
        refused.note(apply(k, v))?;
    }
    refused.raise()
}

/// Sets one attribute. Attributes Gladly does not keep are accepted and
/// dropped (an IdP's routine sync must not fail on them).
fn set(
    d: &mut Desired,
    name: &mut NameEdit,
    path: &AttrPath,
    value: &Value,
    op: Op,
) -> Result<(), ScimError> {
    let attr = path.dotted();
    let text = || -> Result<String, ScimError> {
        match value {
            Value::String(s) => Ok(s.clone()),
            other => Err(ScimError::invalid_value(
                &path.written,
                format!("must be a string, not {other}"),
            )),
        }
    };
    let cannot_clear = || {
        ScimError::invalid_value(
            &path.written,
            "Gladly's API cannot clear it; replace it with a value instead",
        )
    };
    match path.schema {
        Schema::Enterprise | Schema::Other => return Ok(()),
        Schema::Gladly => {
            if path.attr == "role" {
                d.role = if op == Op::Remove {
                    Some(Role::Agent)
                } else {
                    role_of(value)?
                };
            }
            return Ok(());
        }
        Schema::Core => {}
    }
    // A name attribute removed is blank (see `blank_name_alone`); a part
    // removed is empty, and the other part stands.
    if let Some(slot) = name.slot(&attr) {
        *slot = Some(if op == Op::Remove {
            String::new()
        } else {
            text()?
        });
        return Ok(());
    }
    match (attr.as_str(), op) {
        ("username", Op::Remove) => Err(ScimError::invalid_value(
            "userName",
            "is required and cannot be removed",
        )),
        ("name", Op::Remove) => {
            name.whole_removed = true;
            for part in [&mut name.formatted, &mut name.given, &mut name.family] {
                *part = Some(String::new());
            }
            Ok(())
        }
        ("username", _) => {
            let s = text()?;
            if !is_address(&s) {
                return Err(ScimError::invalid_value(
                    "userName",
                    format!("{s:?} is not an e-mail address; Gladly's agents are keyed by e-mail"),
                ));
            }
            d.email = s.trim().to_string();
            Ok(())
        }
        ("externalid", Op::Remove) => Err(cannot_clear()),
        // Sent empty (an IdP template's field with nothing in it), these
        // are not sent: Gladly's API cannot clear them, nor take "".
        ("externalid", _) => {
            let s = text()?;
            if s.trim().is_empty() {
                return Ok(());
            }
            if is_mark(&s) {
                return Err(ScimError::invalid_value(
                    "externalId",
                    format!("may not begin with {DELETED_MARK:?}, the mark of a deleted user"),
                ));
            }
            d.external_id = Some(s);
            Ok(())
        }
        // The last word on `active` decides whether the request
        // deactivates; one that is not true or false does not.
        ("active", Op::Remove) => {
            d.deactivates = false;
            Err(ScimError::invalid_value(
                "active",
                "cannot be removed; replace it with true or false",
            ))
        }
        ("active", _) => {
            d.deactivates = false;
            d.active = boolean(value).ok_or_else(|| {
                ScimError::invalid_value("active", format!("must be true or false, not {value}"))
            })?;
            d.deactivates = !d.active;
            Ok(())
        }
        ("phonenumbers" | "phonenumbers.value", Op::Remove) => Err(cannot_clear()),
        ("phonenumbers", _) if path.filter.is_none() => {
            let items = match value {
                Value::Array(items) => items.as_slice(),
                Value::Object(_) => std::slice::from_ref(value),
                _ => {
                    return Err(ScimError::invalid_value(
                        "phoneNumbers",
                        "must be a list of {value, type}",
                    ));
                }
            };
            // Of those with a number: a work number sent empty is none,
            // and the mobile one stands.
            let numbered: Vec<Value> = items
                .iter()
                .filter(|i| {
                    i.get("value")
                        .and_then(Value::as_str)
                        .is_some_and(|v| !v.trim().is_empty())
                })
                .cloned()
                .collect();
            if let Some(p) = pick(&numbered, &["work", "mobile"])
                && let Some(number) = p.str("value")
            {
                d.phone = Some(number.to_string());
                d.phone_from_work = !typed_other_than_work(p.str("type"));
            }
            Ok(())
        }
        // One number by its type (`phoneNumbers[type eq "mobile"].value`,
        // as Entra sends `mobile`), or the element whole.
        ("phonenumbers" | "phonenumbers.value", _) => {
            let number = if path.sub.is_some() {
                text()?
            } else {
                match value.as_object().map(Obj).and_then(|o| o.str("value")) {
                    Some(s) => s.to_string(),
                    None => {
                        return Err(ScimError::invalid_value(
                            "phoneNumbers",
                            "an element needs a value (a string)",
                        ));
                    }
                }
            };
            let work = !typed_other_than_work(
                path.filter
                    .as_ref()
                    .filter(|f| f.attr == "type")
                    .and_then(|f| f.value.as_str()),
            );
            if number.trim().is_empty() || (d.phone_from_work && !work) {
                return Ok(());
            }
            d.phone = Some(number);
            d.phone_from_work = work;
            Ok(())
        }
        ("preferredlanguage" | "locale", Op::Remove) => Err(cannot_clear()),
        ("preferredlanguage" | "locale", _) => text().map(|s| set_unless_empty(&mut d.language, s)),
        // Removing the role the agent holds leaves it an agent; removing
        // one it does not hold changes nothing (RFC 7644 §3.5.2.2).
        ("roles" | "roles.value", Op::Remove) => {
            if removes_held_role(d, path, value)? {
                d.role = Some(Role::Agent);
            }
            Ok(())
        }
        ("roles" | "roles.value", _) => {
            if let Some(r) = role_of(value)? {
                d.role = Some(r);
            }
            Ok(())
        }
        // The address is `userName`; the e-mails shown are derived from it.
        // Group memberships go through /Groups; Gladly has no password.
        _ => Ok(()),
    }
}

/// Whether a `remove` of `path` (with `value`, `null` when none came)
/// takes away the role the agent holds, as the request has it so far:
/// every role (no filter and no value), or one a filter or value names.
fn removes_held_role(d: &Desired, path: &AttrPath, value: &Value) -> Result<bool, ScimError> {
    let Some(held) = d.role.as_ref().or(d.held_role.as_ref()) else {
        // No role known: only a removal of every role says anything.
        return Ok(path.filter.is_none() && value.is_null());
    };
    let element = json!({"value": held.scim_name(), "primary": true});
    if let Some(filter) = &path.filter {
        return Ok(filter.matches(&element));
    }
    fn names(value: &Value, out: &mut Vec<String>) -> Result<(), ScimError> {
        match value {
            Value::String(s) if s.trim_start().starts_with('{') => {
                // Read as `role_of` reads it: one naming `value` twice
                // is refused, not read one way.
                if let Some(inner) = encoded_role(s)? {
                    names(&inner, out)?;
                }
            }
            Value::String(s) => out.push(s.trim().to_string()),
            Value::Object(o) => {
                if let Some(v) = Obj(o).get("value") {
                    names(v, out)?;
                }
            }
            Value::Array(items) => {
                for i in items {
                    names(i, out)?;
                }
            }
            _ => {}
        }
        Ok(())
    }
    if value.is_null() {
        return Ok(true);
    }
    let mut named = Vec::new();
    names(value, &mut named)?;
    Ok(named
        .iter()
        .any(|n| n.eq_ignore_ascii_case(&held.scim_name())))
}

/// Entra's JSON-encoded role object, read as a body is read
/// ([`crate::json::from_slice`]): one that names an attribute twice (in
/// any case) is refused, naming it. `None` when the string is no JSON at
/// all.
fn encoded_role(s: &str) -> Result<Option<Value>, ScimError> {
    match crate::json::from_slice(s.as_bytes()) {
        Ok(inner) => Ok(Some(inner)),
        // A name given twice (the only refusal of well-formed JSON).
        Err(e) if e.classify() == serde_json::error::Category::Data => {
            Err(ScimError::invalid_value(
                "roles",
                format!("is a JSON-encoded object that names an attribute twice ({e})"),
            ))
        }
        Err(_) => Ok(None),
    }
}

/// Whether a phone number's `type` names another than the work one (a
/// number of no type counts as the work one).
fn typed_other_than_work(kind: Option<&str>) -> bool {
    kind.is_some_and(|t| !t.trim().eq_ignore_ascii_case("work"))
}

/// `value` in `field`, unless it is empty (then as if not sent).
fn set_unless_empty(field: &mut Option<String>, value: String) {
    if !value.trim().is_empty() {
        *field = Some(value);
    }
}

/// A role from what IdPs send: a name in any case, an object with `value`,
/// a list (the primary one, else the first), or Entra's JSON-encoded object
/// in a string. An empty list says nothing.
fn role_of(value: &Value) -> Result<Option<Role>, ScimError> {
    let name = match value {
        Value::String(s) if s.trim_start().starts_with('{') => {
            let inner = encoded_role(s)?.ok_or_else(|| {
                ScimError::invalid_value(
                    "roles",
                    "is a string that begins with `{` but is not a JSON object",
                )
            })?;
            return role_of(&inner);
        }
        Value::String(s) => s.clone(),
        Value::Object(o) => match Obj(o).get("value") {
            Some(v) => return role_of(v),
            None => {
                return Err(ScimError::invalid_value(
                    "roles",
                    "an element needs a value",
                ));
            }
        },
        Value::Array(items) if items.is_empty() => return Ok(None),
        Value::Array(items) => match pick(items, &[]).and_then(|o| o.get("value")) {
            Some(v) => return role_of(v),
            None => {
                return Err(ScimError::invalid_value(
                    "roles",
                    "an element needs a value",
                ));
            }
        },
        other => {
            return Err(ScimError::invalid_value(
                "roles",
                format!("must be a role name, not {other}"),
            ));
        }
    };
    Role::from_scim(&name).map(Some).ok_or_else(|| {
        ScimError::invalid_value(
            "roles",
            format!(
                "{name:?} is not a Gladly role; one of {}",
                Role::SETTABLE
                    .iter()
                    .map(Role::scim_name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    })
}

/// Keeps only the attributes asked for (`attributes`), or drops those asked
/// to be left out (`excludedAttributes`); `schemas` and `id` are always
/// returned (RFC 7643 §7, `returned: always`).
pub fn project(resource: Value, attributes: &[AttrPath], excluded: &[AttrPath]) -> Value {
    let Value::Object(map) = resource else {
        return resource;
    };
    let always = |k: &str| k == "schemas" || k == "id";
    let named = |k: &str, list: &[AttrPath]| -> Vec<Option<String>> {
        list.iter()
            .filter(|p| {
                p.attr.eq_ignore_ascii_case(k)
                    || (p.attr.is_empty() && schema_key(k) == Some(p.schema))
            })
            .map(|p| p.sub.clone())
            .collect()
    };
    let mut out = Map::new();
    for (k, v) in map {
        if !attributes.is_empty() && !always(&k) {
            let hits = named(&k, attributes);
            if hits.is_empty() {
                continue;
            }
            // Only sub-attributes named (`name.givenName`): keep those.
            let v = match v {
                Value::Object(inner) if hits.iter().all(Option::is_some) => Value::Object(
                    inner
                        .into_iter()
                        .filter(|(ik, _)| hits.iter().flatten().any(|s| s.eq_ignore_ascii_case(ik)))
                        .collect(),
                ),
                v => v,
            };
            out.insert(k, v);
            continue;
        }
        if !always(&k) && named(&k, excluded).iter().any(Option::is_none) {
            continue;
        }
        out.insert(k, v);
    }
    Value::Object(out)
}

fn schema_key(k: &str) -> Option<Schema> {
    k.eq_ignore_ascii_case(GLADLY_USER)
        .then_some(Schema::Gladly)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As the connector compares them: lower case after NFC is put in NFC
    /// again (J + U+030C lowers to j + U+030C, which is U+01F0).
    #[test]
    fn an_address_whose_lower_case_composes_is_one_address() {
        assert!(same_email(
            "J\u{30C}ane@acme.example",
            "\u{1F0}ane@acme.example"
        ));
        assert!(same_email("x@\u{3AA}\u{301}.example", "x@\u{390}.example"));
    }

    #[test]
    fn a_long_external_id_beyond_ascii_is_cut_to_the_bytes_the_connector_takes() {
        let agent = Agent {
            external_id: Some("é".repeat(128)),
            ..Agent::default()
        };
        let mark = deleted_mark(&agent);
        assert!(mark.len() <= MAX_EXTERNAL_ID, "{} bytes", mark.len());
        assert!(
            mark.starts_with("scim-deleted:é") && mark.ends_with('é'),
            "{mark}"
        );
        assert_eq!(before_mark(&mark).map(|x| x.len()), Some(242));
    }
}
