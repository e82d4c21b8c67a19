//! Routing, authentication and the operations: one SCIM request in, one
//! answer out, Gladly reached through a [`Directory`].

use std::collections::{HashMap, HashSet};

use serde_json::{Value, json};

use crate::directory::{
    Agent, Changes, Delta, Directory, DirectoryError, IfDeactivated, Key, NewAgent, Provisioned,
    Role,
};
use crate::discovery;
use crate::error::ScimError;
use crate::filter::{self, Resource, Term};
use crate::group::{self, Group, Kind, MemberOp};
use crate::json::Obj;
use crate::path::AttrPath;
use crate::user::{self, Desired, is_deleted};

/// Where the service is mounted on its host.
pub const BASE_PATH: &str = "/scim/v2";

pub const SCIM_JSON: &str = "application/scim+json";
const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const SEARCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

/// What the service is configured with.
pub struct Config<'a> {
    /// The absolute base URL clients reach, e.g. `http://127.0.0.1:8080/scim/v2`.
    pub base_url: &'a str,
    /// The bearer token SCIM clients must send (`GLADLY_SCIM_TOKEN`).
    pub scim_token: &'a str,
    /// Gladly's API user (`GLADLY_API_USER`): the agent with this e-mail is
    /// the gateway's own, never deactivated, demoted or moved.
    pub api_user: &'a str,
}

/// A request, its path below [`BASE_PATH`].
pub struct Request<'a> {
    pub method: &'a str,
    /// The full path, e.g. `/scim/v2/Users/agt_1`.
    pub path: &'a str,
    /// The query string, without `?`.
    pub query: &'a str,
    pub authorization: Option<&'a str>,
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
}

/// An answer.
#[derive(Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    fn json(status: u16, body: &Value) -> Response {
        Response {
            status,
            headers: vec![("content-type".into(), SCIM_JSON.into())],
            body: body.to_string().into_bytes(),
        }
    }

    /// The answer that tells a client of `e`.
    pub fn error(e: &ScimError) -> Response {
        let mut r = Response::json(e.status, &e.body());
        if e.status == 401 {
            r.headers.push((
                "www-authenticate".into(),
                "Bearer realm=\"gladly-scim\"".into(),
            ));
        }
        if let Some(allow) = e.allow.filter(|_| e.status == 405) {
            r.headers.push(("allow".into(), allow.into()));
        }
        if let Some(s) = e.retry_after {
            r.headers.push(("retry-after".into(), s.to_string()));
        }
        r
    }
}

/// The fewest characters a SCIM token may have: a shorter one is
/// guessable, and would be scrubbed out of ordinary answers wherever its
/// characters happen to occur.
pub const MIN_TOKEN_CHARS: usize = 16;

/// Answers one request.
pub fn handle<D: Directory>(dir: &mut D, config: &Config, req: &Request) -> Response {
    match route(dir, config, req) {
        Ok(r) => r,
        Err(e) => Response::error(&e),
    }
}

/// Whether the bearer token is the configured one, compared in time that
/// does not depend on where they differ. [`handle`] checks it first; a
/// server checks it before it reads a body, so that a client without the
/// token costs it no more than the headers.
pub fn authorized(config: &Config, header: Option<&str>) -> Result<(), ScimError> {
    if config.scim_token.is_empty() {
        return Err(ScimError::new(
            500,
            None,
            "GLADLY_SCIM_TOKEN is not set: the gateway answers no request until it is",
        ));
    }
    // However the gateway is served (the harness refuses to start with
    // one; `wasmtime serve` passes whatever it is given).
    if config.scim_token.chars().count() < MIN_TOKEN_CHARS {
        return Err(ScimError::new(
            500,
            None,
            format!(
                "GLADLY_SCIM_TOKEN is too short: the gateway answers no request until it holds at least {MIN_TOKEN_CHARS} random characters (e.g. `openssl rand -hex 24`)"
            ),
        ));
    }
    let given = header
        .and_then(|h| h.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().as_bytes());
    let expected = config.scim_token.as_bytes();
    // Every byte of the token is compared, whatever was sent, so the time
    // taken says nothing of where they differ or how long the token is
    // (it depends on the token's length alone, as a guess's does not).
    let ok = given.is_some_and(|g| {
        let differ = expected
            .iter()
            .enumerate()
            .fold(u8::from(g.len() != expected.len()), |acc, (i, e)| {
                acc | (g.get(i).copied().unwrap_or(0) ^ e)
            });
        differ == 0
    });
    if ok {
        Ok(())
    } else {
        Err(ScimError::new(
            401,
            None,
            "send Authorization: Bearer with the gateway's SCIM token (GLADLY_SCIM_TOKEN)",
        ))
    }
}

/// The request's one `Authorization` field, from every value it came
/// with (the server matches the field's name in any case). Two or more are
/// no credential, 401: the field is no list (RFC 9110 §5.3; RFC 6750 §3.1
/// calls a repeated credential an invalid request), and read as its first,
/// a request whose proxy checked its last got through with a token the
/// proxy was not shown. A value that is not UTF-8 is none.
pub fn one_authorization(values: &[Vec<u8>]) -> Result<Option<&str>, ScimError> {
    match values {
        [] => Ok(None),
        [one] => Ok(std::str::from_utf8(one).ok()),
        more => Err(ScimError::new(
            401,
            None,
            format!(
                "send one Authorization header, Bearer with the gateway's SCIM token (GLADLY_SCIM_TOKEN); this request has {}",
                more.len()
            ),
        )),
    }
}

fn route<D: Directory>(dir: &mut D, config: &Config, req: &Request) -> Result<Response, ScimError> {
    let Some(rest) = req
        .path
        .strip_prefix(BASE_PATH)
        .filter(|r| r.is_empty() || r.starts_with('/'))
    else {
        return Err(ScimError::not_found(format!(
            "no SCIM endpoint here; the base URL is {BASE_PATH}"
        )));
    };
    authorized(config, req.authorization)?;
    let segments: Vec<String> = rest
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let method = req.method.to_ascii_uppercase();
    let base = config.base_url.trim_end_matches('/');
    let get_only = |body: Value| -> Result<Response, ScimError> {
        if method == "GET" {
            Ok(Response::json(200, &body))
        } else {
            Err(ScimError::not_allowed(&method, req.path, "GET"))
        }
    };
    match segments.as_slice() {
        ["ServiceProviderConfig"] => get_only(discovery::service_provider_config(base)),
        ["ResourceTypes"] => get_only(list_of(discovery::resource_types(base))),
        ["ResourceTypes", id] => {
            let found = discovery::resource_types(base)
                .into_iter()
                .find(|r| r["id"] == *id);
            get_only(found.ok_or_else(|| ScimError::not_found(format!("no resource type {id:?}")))?)
        }
        ["Schemas"] => get_only(list_of(discovery::schemas(base))),
        ["Schemas", id] => {
            let found = discovery::schemas(base)
                .into_iter()
                .find(|s| s["id"].as_str().is_some_and(|x| x.eq_ignore_ascii_case(id)));
            get_only(found.ok_or_else(|| ScimError::not_found(format!("no schema {id:?}")))?)
        }
        ["Users"] => match method.as_str() {
            "GET" => list_users(dir, config, &Query::parse(req.query)?),
            "POST" => create_user(dir, base, &body_of(req)?),
            _ => Err(ScimError::not_allowed(&method, "/Users", "GET, POST")),
        },
        ["Users", ".search"] if method == "POST" => {
            list_users(dir, config, &Query::search(&body_of(req)?)?)
        }
        ["Users", id] => {
            let query = Query::parse(req.query)?;
            match method.as_str() {
                "GET" => Ok(Response::json(
                    200,
                    &query.project(user::render(&visible(dir, config, id)?, base)),
                )),
                // The body is read (and a malformed one refused) before
                // Gladly is asked anything.
                "PUT" => {
                    let body = body_of(req)?;
                    user::resource(&body)?;
                    let current = visible(dir, config, id)?;
                    let desired = user::from_resource(&body, Some(&current))?;
                    write_user(dir, config, current, desired)
                        .map(|a| Response::json(200, &query.project(user::render(&a, base))))
                }
                "PATCH" => {
                    let body = body_of(req)?;
                    crate::patch::operations(&body)?;
                    let current = visible(dir, config, id)?;
                    let desired = user::patch(&current, &body)?;
                    write_user(dir, config, current, desired)
                        .map(|a| Response::json(200, &query.project(user::render(&a, base))))
                }
                "DELETE" => delete_user(dir, config, id),
                _ => Err(ScimError::not_allowed(
                    &method,
                    "/Users/{id}",
                    "GET, PUT, PATCH, DELETE",
                )),
            }
        }
        ["Groups"] => match method.as_str() {
            "GET" => list_groups(dir, base, &Query::parse(req.query)?),
            "POST" => create_group(dir, config, base, &body_of(req)?),
            _ => Err(ScimError::not_allowed(&method, "/Groups", "GET, POST")),
        },
        ["Groups", ".search"] if method == "POST" => {
            list_groups(dir, base, &Query::search(&body_of(req)?)?)
        }
        ["Groups", id] => {
            let query = Query::parse(req.query)?;
            // The body is read (and a malformed one refused) before Gladly
            // is asked anything, and a method no group answers is 405
            // unasked.
            match method.as_str() {
                "GET" => {
                    let group = find_group(dir, id)?;
                    render_group(dir, &group, base, &query)
                }
                "PATCH" => {
                    let body = body_of(req)?;
                    group::check_patch(&body)?;
                    let group = find_group(dir, id)?;
                    let ops = group::patch(&group, &body)?;
                    change_members(dir, config, &group, &ops)?;
                    render_changed_group(dir, &group, base, &query)
                }
                "PUT" => {
                    let body = body_of(req)?;
                    let obj = body.as_object().map(Obj).ok_or_else(|| {
                        ScimError::invalid_syntax("the body must be a JSON object (a SCIM Group)")
                    })?;
                    if obj.get("members").is_some() {
                        group::member_ids(obj.get("members"))?;
                    }
                    let group = find_group(dir, id)?;
                    let mut ops = group::patch(
                        &group,
                        &json!({"Operations": [{"op": "replace", "value": {"displayName": obj.get("displayName").cloned().unwrap_or(json!(group.display_name))}}]}),
                    )?;
                    // A PUT without `members` leaves them as they are: a
                    // group's members are never dropped by omission.
                    if obj.get("members").is_some() {
                        ops.push(MemberOp::Replace(group::member_ids(obj.get("members"))?));
                    }
                    change_members(dir, config, &group, &ops)?;
                    render_changed_group(dir, &group, base, &query)
                }
                "DELETE" => Err(ScimError::new(
                    400,
                    Some("mutability"),
                    format!(
                        "Gladly's API cannot delete {:?}; unlink the group in the IdP instead (its members stay as they are)",
                        find_group(dir, id)?.display_name
                    ),
                )),
                _ => Err(ScimError::not_allowed(
                    &method,
                    "/Groups/{id}",
                    "GET, PUT, PATCH, DELETE",
                )),
            }
        }
        _ => Err(ScimError::not_found(format!(
            "no SCIM endpoint {}",
            req.path
        ))),
    }
}

fn list_of(resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": resources.len(),
        "startIndex": 1,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

/// The JSON body of a request: `application/scim+json` or
/// `application/json` (or no type, as some clients send).
fn body_of(req: &Request) -> Result<Value, ScimError> {
    if let Some(ct) = req.content_type {
        let media = ct.split(';').next().unwrap_or_default().trim();
        if !media.eq_ignore_ascii_case(SCIM_JSON) && !media.eq_ignore_ascii_case("application/json")
        {
            return Err(ScimError::new(
                415,
                Some("invalidSyntax"),
                format!("Content-Type {media:?}: send application/scim+json or application/json"),
            ));
        }
    }
    crate::json::from_slice(req.body).map_err(|e| {
        ScimError::invalid_syntax(match e.classify() {
            // A name given twice (the only refusal of well-formed JSON).
            serde_json::error::Category::Data => e.to_string(),
            _ => format!("the body is not JSON: {e}"),
        })
    })
}

/// The list parameters (RFC 7644 §3.4.2).
#[derive(Default)]
struct Query {
    filter: Option<String>,
    start_index: usize,
    count: Option<usize>,
    attributes: Vec<AttrPath>,
    excluded: Vec<AttrPath>,
}

impl Query {
    fn parse(query: &str) -> Result<Query, ScimError> {
        let mut q = Query {
            start_index: 1,
            ..Query::default()
        };
        // A parameter the gateway reads, given twice, says two things; which
        // one counts would be a parser's choice (a proxy may check the
        // first): refused, as a body's attribute given twice.
        let mut seen = HashSet::new();
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            let name = k.to_ascii_lowercase();
            let read = matches!(
                name.as_str(),
                "filter" | "startindex" | "count" | "attributes" | "excludedattributes"
            );
            if read && !seen.insert(name.clone()) {
                return Err(ScimError::invalid_value(
                    &k,
                    format!(
                        "the query gives {k:?} twice (parameter names are compared in any case): give it once"
                    ),
                ));
            }
            match name.as_str() {
                "filter" => q.filter = Some(v.into_owned()),
                "startindex" => q.start_index = number("startIndex", &v)?.max(1),
                "count" => q.count = Some(number("count", &v)?),
                "attributes" => q.attributes = paths(&v)?,
                "excludedattributes" => q.excluded = paths(&v)?,
                _ => {}
            }
        }
        Ok(q)
    }

    /// A `POST /.search` body.
    fn search(body: &Value) -> Result<Query, ScimError> {
        let o = body.as_object().map(Obj).ok_or_else(|| {
            ScimError::invalid_syntax(format!("a search body must be a {SEARCH_SCHEMA}"))
        })?;
        let list = |name: &str| -> Result<Vec<AttrPath>, ScimError> {
            match o.get(name) {
                None => Ok(vec![]),
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|p| match p {
                        Value::String(p) => AttrPath::parse(p),
                        _ => Err(ScimError::invalid_value(
                            name,
                            format!("{p} is not an attribute name"),
                        )),
                    })
                    .collect(),
                Some(Value::String(s)) => paths(s),
                Some(_) => Err(ScimError::invalid_value(
                    name,
                    "must be a list of attribute names",
                )),
            }
        };
        let int = |name: &str| -> Result<Option<usize>, ScimError> {
            match o.get(name) {
                None => Ok(None),
                Some(v) => number(name, &v.to_string()).map(Some),
            }
        };
        // A filter that is no string is refused, not dropped: dropped, it
        // listed everyone, and a client taking the first for its match
        // would link the wrong user.
        let filter = match o.get("filter") {
            None => None,
            Some(Value::String(f)) => Some(f.clone()),
            Some(other) => {
                return Err(ScimError::invalid_filter(format!(
                    "must be a string such as userName eq \"…\", not {other}"
                )));
            }
        };
        Ok(Query {
            filter,
            start_index: int("startIndex")?.unwrap_or(1).max(1),
            count: int("count")?,
            attributes: list("attributes")?,
            excluded: list("excludedAttributes")?,
        })
    }

    fn project(&self, resource: Value) -> Value {
        user::project(resource, &self.attributes, &self.excluded)
    }

    /// One page of `all` as a ListResponse.
    /// The page of `all` asked for, each of its resources rendered by
    /// `render` (only those on the page: an organisation of 20,000 agents
    /// rendered whole ran the gateway out of memory).
    fn page<T>(&self, all: &[T], render: impl Fn(&T) -> Value) -> Value {
        let total = all.len();
        let count = self
            .count
            .unwrap_or(discovery::MAX_RESULTS)
            .min(discovery::MAX_RESULTS);
        let page: Vec<Value> = all
            .iter()
            .skip(self.start_index - 1)
            .take(count)
            .map(|r| self.project(render(r)))
            .collect();
        json!({
            "schemas": [LIST_SCHEMA],
            "totalResults": total,
            "startIndex": self.start_index,
            "itemsPerPage": page.len(),
            "Resources": page,
        })
    }
}

/// A non-negative integer parameter; a negative one counts as 0 (RFC 7644
/// §3.4.2.4 says to treat it so).
fn number(name: &str, v: &str) -> Result<usize, ScimError> {
    let v = v.trim();
    match v.parse::<i64>() {
        Ok(n) => Ok(usize::try_from(n.max(0)).unwrap_or(usize::MAX)),
        Err(_) => Err(ScimError::invalid_value(
            name,
            format!("{v:?} is not an integer"),
        )),
    }
}

fn paths(list: &str) -> Result<Vec<AttrPath>, ScimError> {
    list.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(AttrPath::parse)
        .collect()
}

/// Whether the connector refused the key of a look-up (an id with a slash,
/// an address that is none): a key no agent can have. Its refusal of
/// anything else (the gateway's own connection) is no such answer.
fn no_such_key(e: &DirectoryError) -> bool {
    matches!(e, DirectoryError::InvalidInput { field, .. } if field.starts_with("key."))
}

/// What a look-up by id found.
enum ById {
    Agent(Box<Agent>),
    /// Gladly does not know the id.
    Unknown,
    /// SCIM deleted the agent, or no agent can have the id (the connector
    /// refused it: a control character, a slash, too long; nothing sent).
    Gone,
}

impl ById {
    /// What finding `found` under an id tells: SCIM deleted it, or not.
    fn of(found: Option<Agent>) -> Self {
        match found {
            Some(a) if !is_deleted(&a) => ById::Agent(Box::new(a)),
            Some(_) => ById::Gone,
            None => ById::Unknown,
        }
    }
}

/// The most members a membership change looks up one by one (about a
/// second of Gladly's limit); more are found in one listing.
const LOOKED_UP_AT_MOST: usize = 10;

/// What a listing of every agent, by id, holds under an id, as [`by_id`]
/// tells it.
fn in_listing(agents: &HashMap<&str, &Agent>, id: &str) -> ById {
    ById::of(agents.get(id).map(|a| (*a).clone()))
}

fn by_id<D: Directory>(dir: &mut D, id: &str) -> Result<ById, ScimError> {
    match dir.lookup(&Key::Id(id.to_string())) {
        Ok(found) => Ok(ById::of(found)),
        Err(DirectoryError::NotFound(_)) => Ok(ById::Unknown),
        Err(e) if no_such_key(&e) => Ok(ById::Gone),
        Err(e) => Err(e.into()),
    }
}

/// The agent with this id, unless SCIM deleted it; else 404, as in a
/// filter, where it matches nobody. An id Gladly does not know is 404 once
/// Gladly is known to answer the gateway ([`gladly_answers`]): an IdP takes
/// a 404 on a deprovision for done.
fn visible<D: Directory>(dir: &mut D, config: &Config, id: &str) -> Result<Agent, ScimError> {
    match by_id(dir, id)? {
        ById::Agent(a) => Ok(*a),
        ById::Unknown => {
            gladly_answers(dir, config)?;
            Err(ScimError::not_found(format!("no user {id:?}")))
        }
        ById::Gone => Err(ScimError::not_found(format!("no user {id:?}"))),
    }
}

/// Whether Gladly answers the gateway, by looking up its own API user,
/// before "no such user" is answered for what Gladly did not find: a
/// `GLADLY_ORG_URL` that is some other server answers 404 to everything
/// (every deprovision would look done, every filter empty), and a filter
/// the connector sends nothing for would pass Entra's Test Connection with
/// a token Gladly refuses.
fn gladly_answers<D: Directory>(dir: &mut D, config: &Config) -> Result<(), ScimError> {
    match dir.lookup(&Key::Email(config.api_user.to_string())) {
        Ok(_) => Ok(()),
        Err(e) if no_such_key(&e) => Err(ScimError::new(
            500,
            None,
            "the gateway is misconfigured: GLADLY_API_USER is not an e-mail address",
        )),
        Err(e) => Err(gladly_fault(e)),
    }
}

/// One of Gladly's lists (agents, teams, inboxes) answered 404: the
/// organisation's address is wrong.
fn not_gladly(m: &str) -> ScimError {
    ScimError::new(
        502,
        None,
        format!(
            "Gladly answered 404 for a list its API always has ({m}): is GLADLY_ORG_URL the organisation's Gladly address?"
        ),
    )
}

/// The failure of a call Gladly never answers 404 while it is there (a
/// list, a look-up by address, a create): its 404 is [`not_gladly`].
fn gladly_fault(e: DirectoryError) -> ScimError {
    match e {
        DirectoryError::NotFound(m) => not_gladly(&m),
        e => e.into(),
    }
}

/// A whole list from Gladly.
fn whole<T>(list: Result<Vec<T>, DirectoryError>) -> Result<Vec<T>, ScimError> {
    list.map_err(gladly_fault)
}

fn list_users<D: Directory>(
    dir: &mut D,
    config: &Config,
    query: &Query,
) -> Result<Response, ScimError> {
    let base = config.base_url.trim_end_matches('/');
    let terms = match &query.filter {
        Some(f) => filter::parse(f, Resource::User)?,
        None => vec![],
    };
    // A look-up by e-mail or id when the filter names one; otherwise every
    // agent, inactive and manually created ones included (an IdP whose
    // filter misses an agent would create it again, answered 409, forever).
    let by_key = terms.iter().find_map(|t| match t {
        Term::UserName(e) | Term::Email(e) => Some(Key::Email(e.clone())),
        Term::Id(i) => Some(Key::Id(i.clone())),
        _ => None,
    });
    let candidates = match by_key {
        Some(key) => match dir.lookup(&key) {
            Ok(Some(a)) => vec![a],
            // An id Gladly does not know (a look-up by id answers 404).
            Ok(None) if matches!(key, Key::Id(_)) => {
                gladly_answers(dir, config)?;
                vec![]
            }
            Ok(None) => vec![],
            // A malformed address or id matches nobody; the connector sent
            // nothing for it (Entra's Test Connection filters a random
            // GUID), so whether Gladly answers is asked apart.
            Err(e) if no_such_key(&e) => {
                gladly_answers(dir, config)?;
                vec![]
            }
            // Only the list answers 404 to a look-up by address.
            Err(e) => return Err(gladly_fault(e)),
        },
        None => whole(dir.list_agents())?,
    };
    let mut found: Vec<Agent> = candidates
        .into_iter()
        .filter(|a| !is_deleted(a) && terms.iter().all(|t| user_matches(a, t)))
        .collect();
    found.sort_by(|a, b| a.id.cmp(&b.id));
    found.dedup_by(|a, b| a.id == b.id);
    Ok(Response::json(
        200,
        &query.page(&found, |a| user::render(a, base)),
    ))
}

fn user_matches(a: &Agent, t: &Term) -> bool {
    match t {
        // The connector found the candidates by its own rule (Unicode
        // case); this check must be no narrower, or `JOSÉ@…` would miss
        // `josé@…` and the IdP would create it again, answered 409.
        Term::UserName(e) | Term::Email(e) => user::same_email(&a.email_address, e),
        Term::ExternalId(x) => a.external_id.as_deref() == Some(x.as_str()),
        Term::Id(i) => a.id == *i,
        Term::DisplayName(_) => false,
    }
}

fn is_api_user(config: &Config, agent: &Agent) -> bool {
    !config.api_user.trim().is_empty() && user::same_email(&agent.email_address, config.api_user)
}

/// Refuses what would lock the gateway's own API user out of Gladly.
fn guard_api_user(
    config: &Config,
    current: &Agent,
    active: bool,
    role: Option<&Role>,
    email: &str,
) -> Result<(), ScimError> {
    if !is_api_user(config, current) {
        return Ok(());
    }
    // Any role but admin, whatever Gladly says the role is now.
    let demoted = role.is_some_and(|r| *r != Role::Admin);
    let moved = !user::same_email(email, &current.email_address);
    if !active || demoted || moved {
        return Err(ScimError::new(
            400,
            Some("mutability"),
            format!(
                "user {:?} is the gateway's own API user (GLADLY_API_USER): it is never deactivated, demoted from admin or moved to another e-mail, or the gateway would lock itself out of Gladly",
                current.id
            ),
        ));
    }
    Ok(())
}

fn new_agent(d: &Desired) -> NewAgent {
    NewAgent {
        email_address: d.email.clone(),
        name: d.name.clone(),
        role: Some(d.role.clone().unwrap_or(Role::Agent)),
        external_id: d.external_id.clone(),
        phone_number: d.phone.clone(),
        language: d.language.clone(),
    }
}

/// POST /Users. One agent and one welcome e-mail per person: an agent with
/// the address is 409, unless SCIM deleted it, when that same agent is
/// re-onboarded (reactivated, no e-mail) and answered 201.
///
/// The create goes first: the connector's provision looks the e-mail up
/// itself, and answers an active agent as it is and a deactivated one as a
/// conflict, untouched. Only then (rarely) is the agent looked up here, to
/// tell one SCIM deleted from one deactivated otherwise. A new user costs
/// one look-up and one create (and a read of the agent when Gladly answers
/// the create without its times, see [`created`]).
fn create_user<D: Directory>(dir: &mut D, base: &str, body: &Value) -> Result<Response, ScimError> {
    let mut d = user::from_resource(body, None)?;
    let mut conflict = None;
    if d.active {
        match dir.provision(&new_agent(&d), IfDeactivated::Refuse) {
            Ok((Provisioned::AlreadyExisted, a)) => return Err(taken(&d.email, &a)),
            Ok((_, agent)) => return Ok(created(dir, base, agent)),
            // A deactivated agent may have the address (looked up below),
            // or the conflict is another (the externalId is another
            // agent's): then it is the answer.
            Err(e @ DirectoryError::Conflict(_)) => conflict = Some(e),
            Err(e) => return Err(gladly_fault(e)),
        }
    }
    let existing = dir
        .lookup(&Key::Email(d.email.clone()))
        .map_err(gladly_fault)?;
    if let Some(a) = existing.as_ref().filter(|a| !is_deleted(a)) {
        return Err(taken(&d.email, a));
    }
    let inactive = || {
        ScimError::invalid_value(
            "active",
            "a user cannot be created inactive: Gladly would still send the welcome e-mail; create it when it is to be active",
        )
    };
    let Some(deleted) = existing else {
        // Nobody has the address: an active user met another conflict.
        return Err(conflict.map_or_else(inactive, ScimError::from));
    };
    if !d.active {
        return Err(inactive());
    }
    if d.external_id.is_none() {
        // Re-onboarded without an externalId: the one it had before the
        // DELETE comes back in place of the mark, or, if it had none, its
        // Gladly id (Gladly's API cannot clear a field, and a mark left on
        // an active agent would hide it again at its next deactivation).
        d.external_id = Some(
            deleted
                .external_id
                .as_deref()
                .and_then(user::before_mark)
                .unwrap_or(&deleted.id)
                .to_string(),
        );
    }
    let (outcome, agent) = dir.provision(&new_agent(&d), IfDeactivated::Reactivate)?;
    if outcome == Provisioned::AlreadyExisted {
        // Another request re-onboarded it between the look-up and now.
        return Err(taken(&d.email, &agent));
    }
    Ok(created(dir, base, agent))
}

/// 409 for a create whose address `agent` has.
fn taken(email: &str, agent: &Agent) -> ScimError {
    ScimError::uniqueness(format!(
        "userName: {email} is already agent {:?}{}; find it with filter=userName eq \"{email}\"",
        agent.id,
        if agent.is_active() {
            ""
        } else {
            " (deactivated: PATCH active true to reactivate it)"
        },
    ))
}

/// 201 with the created user, and its `Location`. Gladly answers a create
/// (and the PATCH that re-onboards) tersely, as its guide shows (`id`,
/// `emailAddress`, `name`, `role`, `active`): without its times the user's
/// `meta.created` and `meta.lastModified` (RFC 7643 §3.1) would be missing,
/// so the agent is read once more for them. If that read fails, the user is
/// answered as written (it exists: a 5xx would have the IdP create it
/// again).
fn created<D: Directory>(dir: &mut D, base: &str, agent: Agent) -> Response {
    let agent = if agent.created_at.is_none() || agent.updated_at.is_none() {
        match dir.lookup(&Key::Id(agent.id.clone())) {
            Ok(Some(read)) if read.id == agent.id => read,
            _ => agent,
        }
    } else {
        agent
    };
    let location = format!("{base}/Users/{}", agent.id);
    let mut r = Response::json(201, &user::render(&agent, base));
    r.headers.push(("location".into(), location));
    r
}

/// PUT or PATCH /Users/{id}: `current` made `desired`.
fn write_user<D: Directory>(
    dir: &mut D,
    config: &Config,
    current: Agent,
    desired: Desired,
) -> Result<Agent, ScimError> {
    guard_api_user(
        config,
        &current,
        desired.active,
        desired.role.as_ref(),
        &desired.email,
    )?;
    let mut agent = current;
    if desired.active && !agent.is_active() {
        // Reactivation is a provision of the same address, which names a
        // role: a role the connector cannot write (one Gladly added after
        // this version) is not silently replaced.
        if let (None, Some(Role::Other(held))) = (&desired.role, &agent.role) {
            return Err(ScimError::new(
                400,
                Some("mutability"),
                format!(
                    "user {:?} holds the role {held:?}, which this gateway cannot write, and a reactivation through Gladly's API names one: send roles with the role it is to have ({}), or reactivate it in Gladly",
                    agent.id,
                    Role::SETTABLE
                        .iter()
                        .map(Role::scim_name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        // Gladly reactivates that agent (its id and history), no welcome
        // e-mail.
        let revived = Desired {
            email: agent.email_address.clone(),
            role: desired.role.clone().or(agent.role.clone()),
            ..desired.clone()
        };
        agent = dir
            .provision(&new_agent(&revived), IfDeactivated::Reactivate)?
            .1;
    }
    let changes = desired.changes_from(&agent);
    if !changes.is_empty() {
        match dir.update(&agent.id, &changes) {
            Ok(a) => agent = a,
            // A leaver's profile never holds up the deactivation: a field
            // the connector refuses (a phone with an extension) is left as
            // it is, and the answer shows the agent as it is.
            Err(DirectoryError::InvalidInput { field, .. })
                if desired.deactivates && !crate::error::gateway_setting(&field) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if !desired.active && agent.is_active() {
        agent = dir.offboard(&agent.id)?;
    }
    Ok(agent)
}

/// DELETE /Users/{id}: deactivated, and marked so that every instance
/// answers 404 for it from then on (RFC 7644 §3.6).
fn delete_user<D: Directory>(
    dir: &mut D,
    config: &Config,
    id: &str,
) -> Result<Response, ScimError> {
    let current = visible(dir, config, id)?;
    guard_api_user(config, &current, false, None, &current.email_address)?;
    let agent = if current.is_active() {
        dir.offboard(&current.id)?
    } else {
        current
    };
    // Deactivated first: a failure between the two leaves an inactive agent
    // (still listed, active false), and the IdP's retry completes the mark.
    dir.update(
        &agent.id,
        &Changes {
            external_id: Some(user::deleted_mark(&agent)),
            ..Changes::default()
        },
    )?;
    Ok(Response {
        status: 204,
        headers: vec![],
        body: vec![],
    })
}

fn all_groups<D: Directory>(dir: &mut D) -> Result<Vec<Group>, ScimError> {
    let teams = whole(dir.list_teams())?;
    let inboxes = whole(dir.list_inboxes())?;
    Ok(group::all(&teams, &inboxes))
}

fn find_group<D: Directory>(dir: &mut D, id: &str) -> Result<Group, ScimError> {
    all_groups(dir)?
        .into_iter()
        .find(|g| g.id == id)
        .ok_or_else(|| ScimError::not_found(format!("no group {id:?}")))
}

fn wants_members(query: &Query) -> bool {
    let named = |l: &[AttrPath]| l.iter().any(|p| p.attr == "members");
    !named(&query.excluded) && (query.attributes.is_empty() || named(&query.attributes))
}

fn members_of<'a>(group: &Group, agents: &'a [Agent]) -> Vec<&'a Agent> {
    let mut m: Vec<&Agent> = agents
        .iter()
        .filter(|a| !is_deleted(a) && group.has(a))
        .collect();
    m.sort_by(|a, b| a.id.cmp(&b.id));
    m
}

fn render_group<D: Directory>(
    dir: &mut D,
    group: &Group,
    base: &str,
    query: &Query,
) -> Result<Response, ScimError> {
    let agents = if wants_members(query) {
        Some(whole(dir.list_agents())?)
    } else {
        None
    };
    let members = agents.as_ref().map(|a| members_of(group, a));
    Ok(Response::json(
        200,
        &query.project(group::render(group, members.as_deref(), base)),
    ))
}

/// The answer to a membership change: the group without its members
/// unless they are asked for (`attributes=members`). Okta does not need
/// them and Entra advises against them; listing them walks every agent.
fn render_changed_group<D: Directory>(
    dir: &mut D,
    group: &Group,
    base: &str,
    query: &Query,
) -> Result<Response, ScimError> {
    let asked = query.attributes.iter().any(|p| p.attr == "members");
    if asked {
        return render_group(dir, group, base, query);
    }
    Ok(Response::json(
        200,
        &query.project(group::render(group, None, base)),
    ))
}

fn list_groups<D: Directory>(
    dir: &mut D,
    base: &str,
    query: &Query,
) -> Result<Response, ScimError> {
    let terms = match &query.filter {
        Some(f) => filter::parse(f, Resource::Group)?,
        None => vec![],
    };
    let mut groups: Vec<Group> = all_groups(dir)?
        .into_iter()
        .filter(|g| {
            terms.iter().all(|t| match t {
                Term::Id(i) => g.id == *i,
                Term::DisplayName(n) => g.display_name.trim().eq_ignore_ascii_case(n.trim()),
                _ => false,
            })
        })
        .collect();
    groups.sort_by(|a, b| a.id.cmp(&b.id));
    let agents = if wants_members(query) {
        Some(whole(dir.list_agents())?)
    } else {
        None
    };
    Ok(Response::json(
        200,
        &query.page(&groups, |g| {
            let members = agents.as_ref().map(|a| members_of(g, a));
            group::render(g, members.as_deref(), base)
        }),
    ))
}

/// POST /Groups: Gladly's API cannot create a team, so a group is linked to
/// the team, inbox or role of that name (201, its members added), and any
/// other name is refused.
fn create_group<D: Directory>(
    dir: &mut D,
    config: &Config,
    base: &str,
    body: &Value,
) -> Result<Response, ScimError> {
    let obj = body.as_object().map(Obj).ok_or_else(|| {
        ScimError::invalid_syntax("the body must be a JSON object (a SCIM Group)")
    })?;
    let name = obj
        .str("displayName")
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ScimError::invalid_value("displayName", "is required"))?;
    // Read before Gladly is asked anything.
    let members = group::member_ids(obj.get("members"))?;
    let group = all_groups(dir)?
        .into_iter()
        .find(|g| g.display_name.trim().eq_ignore_ascii_case(name))
        .ok_or_else(|| {
            ScimError::new(
                400,
                Some("invalidValue"),
                format!(
                    "displayName: Gladly has no team named {name:?}, and its API cannot create teams: create the team in Gladly first, or name the group \"{}<inbox name>\" or \"{}<role>\"",
                    group::INBOX_PREFIX,
                    group::ROLE_PREFIX
                ),
            )
        })?;
    change_members(dir, config, &group, &[MemberOp::Add(members)])?;
    let mut r = render_group(dir, &group, base, &Query::default())?;
    r.status = 201;
    r.headers
        .push(("location".into(), format!("{base}/Groups/{}", group.id)));
    Ok(r)
}

/// Membership changes, each a delta on one agent (the connector writes the
/// agent's whole list from a fresh read, so no other membership is lost).
fn change_members<D: Directory>(
    dir: &mut D,
    config: &Config,
    group: &Group,
    ops: &[MemberOp],
) -> Result<(), ScimError> {
    // Every member is looked up and judged first, and nothing is written
    // unless all of them can be: a bad id or the API user in a list never
    // leaves the list half applied. A few are looked up one by one; more
    // (an IdP's first push of a group), or a replace, which needs every
    // member, from one listing: one call, paced within itself, where a
    // look-up each would hold the request a tenth of a second per member
    // before it writes anything (past the host's bound, every retry alike).
    let named: usize = ops.iter().map(|op| op.ids().len()).sum();
    let listed =
        if named > LOOKED_UP_AT_MOST || ops.iter().any(|op| matches!(op, MemberOp::Replace(_))) {
            Some(whole(dir.list_agents())?)
        } else {
            None
        };
    // Where each agent named ends, in the order the operations come (RFC
    // 7644 §3.5.2: a remove, then an add, of one member leaves it one): the
    // agent as found, and whether it is to be a member.
    let mut ends: Vec<(Agent, bool)> = Vec::new();
    // Indexed by id (a body of 1 MiB names about 40,000 members, each
    // found among every agent listed and every one judged so far).
    // (The first of an id listed twice, as a scan found it.)
    let indexed: Option<HashMap<&str, &Agent>> = listed.as_deref().map(|agents| {
        let mut index = HashMap::new();
        for a in agents {
            index.entry(a.id.as_str()).or_insert(a);
        }
        index
    });
    let mut end_of: HashMap<String, usize> = HashMap::new();
    // Ids as the connector reads them, trimmed: a replace naming a member
    // " X " must not add " X " and remove "X".
    let trimmed =
        |ids: &[String]| -> Vec<String> { ids.iter().map(|i| i.trim().to_string()).collect() };
    let mut looked_up = 0usize;
    for op in ops {
        let (add, remove): (Vec<String>, Vec<String>) = match op {
            MemberOp::Add(ids) => (trimmed(ids), vec![]),
            MemberOp::Remove(ids) => (vec![], trimmed(ids)),
            MemberOp::Replace(ids) => {
                let ids = trimmed(ids);
                let agents = listed.as_deref().unwrap_or_default();
                // The members as the operations before it leave them.
                let mut now: Vec<String> = members_of(group, agents)
                    .iter()
                    .filter(|a| !end_of.contains_key(&a.id))
                    .map(|a| a.id.clone())
                    .collect();
                now.extend(
                    ends.iter()
                        .filter(|(_, member)| *member)
                        .map(|(a, _)| a.id.clone()),
                );
                let (wanted, there): (HashSet<&String>, HashSet<&String>) =
                    (ids.iter().collect(), now.iter().collect());
                (
                    ids.iter().filter(|i| !there.contains(i)).cloned().collect(),
                    now.iter()
                        .filter(|i| !wanted.contains(i))
                        .cloned()
                        .collect(),
                )
            }
        };
        for (id, joining) in add
            .iter()
            .map(|i| (i, true))
            .chain(remove.iter().map(|i| (i, false)))
        {
            // The group was found, so Gladly answers: an id it does not
            // know is no user. One to add that the listing does not hold (an
            // agent created since) is looked up, a few at most; one to
            // remove is not there to remove.
            let found = match indexed.as_ref().map(|agents| in_listing(agents, id)) {
                Some(ById::Unknown) if joining && looked_up < LOOKED_UP_AT_MOST => {
                    looked_up += 1;
                    by_id(dir, id)?
                }
                Some(found) => found,
                None => by_id(dir, id)?,
            };
            let agent = match found {
                ById::Agent(a) => *a,
                // Removing someone who is not there is done.
                ById::Unknown | ById::Gone if !joining => continue,
                ById::Unknown | ById::Gone => {
                    return Err(ScimError::invalid_value(
                        "members",
                        format!("no user {id:?}"),
                    ));
                }
            };
            match end_of.get(&agent.id) {
                Some(&at) => ends[at].1 = joining,
                None => {
                    end_of.insert(agent.id.clone(), ends.len());
                    ends.push((agent, joining));
                }
            }
        }
    }
    let mut writes: Vec<(String, Changes)> = Vec::new();
    for (agent, joining) in ends {
        if group.has(&agent) == joining {
            continue;
        }
        let delta = |on: &str| Delta {
            add: if joining {
                vec![on.to_string()]
            } else {
                vec![]
            },
            remove: if joining {
                vec![]
            } else {
                vec![on.to_string()]
            },
        };
        let changes = match &group.kind {
            Kind::Team(t) => Changes {
                teams: Some(delta(t)),
                ..Changes::default()
            },
            Kind::Inbox(i) => Changes {
                inboxes: Some(delta(i)),
                ..Changes::default()
            },
            // Leaving a role's group makes an agent an agent (one already,
            // leaving the agents' group, is left alone).
            Kind::Role(r) => {
                let role = if joining { r.clone() } else { Role::Agent };
                if agent.role.as_ref() == Some(&role) {
                    continue;
                }
                guard_api_user(config, &agent, true, Some(&role), &agent.email_address)?;
                Changes {
                    role: Some(role),
                    ..Changes::default()
                }
            }
        };
        writes.push((agent.id, changes));
    }
    for (id, changes) in writes {
        dir.update(&id, &changes)?;
    }
    Ok(())
}
