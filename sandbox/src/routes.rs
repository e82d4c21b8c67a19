//! The API under `/api/v1/`: who is calling, and each route's answer in the
//! shape of the sandbox's profile (agent writes are in [`crate::writes`]).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::config::Profile;
use crate::errors::{error, not_exist, not_exist_single};
use crate::org::{AgentRec, Org};
use crate::server::Shared;
use crate::writes::{create_agent, patch_agent};
use crate::{
    ADMIN_TOKEN, ADMIN_USER, MEMBER_TOKEN, MEMBER_USER, RESTRICTED_TOKEN, RESTRICTED_USER,
};

const DEFAULT_PAGE: usize = 20;
const MAX_PAGE: usize = 100;

enum Caller {
    Admin,
    Member,
    /// Valid, but called from outside the IP ranges it is restricted to.
    Restricted,
}

fn authenticate(headers: &HeaderMap) -> Option<Caller> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let pair = String::from_utf8(decoded).ok()?;
    let (user, token) = pair.split_once(':')?;
    match (user, token) {
        (ADMIN_USER, ADMIN_TOKEN) => Some(Caller::Admin),
        (MEMBER_USER, MEMBER_TOKEN) => Some(Caller::Member),
        (RESTRICTED_USER, RESTRICTED_TOKEN) => Some(Caller::Restricted),
        _ => None,
    }
}

pub(crate) fn route(
    shared: &Shared,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    let Some(path) = uri.path().strip_prefix("/api/v1/") else {
        return not_exist();
    };
    let Some(caller) = authenticate(headers) else {
        return error(
            StatusCode::UNAUTHORIZED,
            None,
            "unauthorized",
            "invalid API user or token",
        );
    };
    if matches!(caller, Caller::Restricted) {
        return error(
            StatusCode::FORBIDDEN,
            None,
            "forbidden",
            "this API token may not be used from this IP address",
        );
    }
    let query: HashMap<String, String> = uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let public = shared.profile == Profile::PublicSpec;
    let mut org = shared.org();
    let write = matches!(
        *method,
        Method::POST | Method::PATCH | Method::PUT | Method::DELETE
    );
    let is_agents = segments.first() == Some(&"agents");
    let segs: Vec<String> = segments.iter().map(|s| percent_decode(s)).collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();

    match (method.clone(), segs.as_slice()) {
        (Method::GET, ["organization"]) => {
            axum::Json(json!({"id": "org_acme", "name": "Acme (sandbox)"})).into_response()
        }
        (Method::GET, ["agents"]) if public => {
            axum::Json(org.agents.iter().map(minimal).collect::<Vec<_>>()).into_response()
        }
        (Method::GET, ["agents"]) => list_agents(&org, &query),
        (Method::GET, ["agents", id]) => match org.agent(id) {
            Some(a) if public => axum::Json(minimal(a)).into_response(),
            Some(a) => axum::Json(full(a)).into_response(),
            None if public => not_exist_single(),
            None => not_exist(),
        },
        (Method::GET, ["agents", id, "availability"]) if !public => match org.agent(id) {
            Some(a) => axum::Json(json!({
                "agentId": a.id, "status": a.agent_status, "updatedAt": a.updated_at,
            }))
            .into_response(),
            None => not_exist(),
        },
        (Method::GET, ["teams"]) => {
            let items: Vec<Value> = org
                .teams
                .iter()
                .map(|t| {
                    if public {
                        let members: Vec<&str> = org
                            .agents
                            .iter()
                            .filter(|a| a.teams.contains(&t.id))
                            .map(|a| a.id.as_str())
                            .collect();
                        json!({"id": t.id, "name": t.name, "description": t.detail, "agentIds": members})
                    } else {
                        json!({"id": t.id, "name": t.name})
                    }
                })
                .collect();
            envelope(public, items)
        }
        (Method::GET, ["inboxes"]) => {
            let items: Vec<Value> = org
                .inboxes
                .iter()
                .map(|i| {
                    if public {
                        json!({"id": i.id, "name": i.name, "disabled": false})
                    } else {
                        json!({"id": i.id, "name": i.name, "channelType": i.detail})
                    }
                })
                .collect();
            envelope(public, items)
        }
        // Gladly's public spec has no agent writes, and publishes no 405:
        // a route it does not have is its documented 404 (in the error
        // form of its call-recorder example). The lifecycle contract has
        // no hard delete.
        (_, ["agents"] | ["agents", _]) if public && write => not_exist_single(),
        (Method::DELETE, ["agents", _]) => error(
            StatusCode::METHOD_NOT_ALLOWED,
            None,
            "method_not_allowed",
            "agents cannot be deleted; PATCH {\"active\": false} deactivates",
        ),
        (Method::POST | Method::PATCH, _) if is_agents && matches!(caller, Caller::Member) => {
            error(
                StatusCode::FORBIDDEN,
                None,
                "forbidden",
                "only an Administrator's API token may create, update or deactivate agents",
            )
        }
        (Method::POST, ["agents"]) => create_agent(&mut org, body),
        (Method::PATCH, ["agents", id]) => patch_agent(&mut org, id, body),
        (_, ["agents"] | ["agents", _]) => error(
            StatusCode::METHOD_NOT_ALLOWED,
            None,
            "method_not_allowed",
            "method not allowed",
        ),
        _ => not_exist(),
    }
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

fn envelope(public: bool, items: Vec<Value>) -> Response {
    if public {
        axum::Json(items).into_response()
    } else {
        axum::Json(json!({ "items": items })).into_response()
    }
}

fn minimal(a: &AgentRec) -> Value {
    json!({"id": a.id, "name": a.name, "emailAddress": a.email_address})
}

pub(crate) fn full(a: &AgentRec) -> Value {
    let mut v = json!({
        "id": a.id,
        "emailAddress": a.email_address,
        "name": a.name,
        "role": a.role,
        "inboxes": a.inboxes,
        "teams": a.teams,
        "active": a.active,
        "createdAt": a.created_at,
        "updatedAt": a.updated_at,
        "agentStatus": a.agent_status,
    });
    let m = v.as_object_mut().expect("object");
    for (k, val) in [
        ("phoneNumber", &a.phone_number),
        ("externalId", &a.external_id),
        ("language", &a.language),
    ] {
        if let Some(val) = val {
            m.insert(k.into(), json!(val));
        }
    }
    if let Some(p) = &a.agent_profile {
        m.insert("agentProfile".into(), p.clone());
    }
    v
}

fn list_agents(org: &Org, query: &HashMap<String, String>) -> Response {
    let limit = match query.get("limit").map(|l| l.parse::<usize>()) {
        None => DEFAULT_PAGE,
        Some(Ok(n)) if (1..=MAX_PAGE).contains(&n) => n,
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                Some("limit"),
                "invalid",
                "limit must be between 1 and 100",
            );
        }
    };
    let offset = match query.get("cursor") {
        None => 0,
        Some(c) => match decode_cursor(c) {
            Some(o) => o,
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    Some("cursor"),
                    "invalid",
                    "unknown cursor",
                );
            }
        },
    };
    let active_only = query.get("active").is_some_and(|v| v == "true");
    // The filter matches one normal form of an address as Gladly holds it;
    // it ignores letter case unless the organisation says otherwise.
    let email = query.get("emailAddress");
    let matches = |held: &str, asked: &str| {
        if org.email_filter_minds_case {
            held == asked
        } else {
            held.to_lowercase() == asked.to_lowercase()
        }
    };
    let matching: Vec<&AgentRec> = org
        .agents
        .iter()
        .filter(|a| !active_only || a.active)
        .filter(|a| email.is_none_or(|e| matches(&a.email_address, e)))
        .collect();
    let page: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(limit)
        .map(|a| full(a))
        .collect();
    let next = (offset + limit < matching.len()).then(|| encode_cursor(offset + limit));
    axum::Json(json!({ "items": page, "nextCursor": next })).into_response()
}

fn encode_cursor(offset: usize) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("offset:{offset}"))
}

fn decode_cursor(c: &str) -> Option<usize> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .ok()?;
    String::from_utf8(raw)
        .ok()?
        .strip_prefix("offset:")?
        .parse()
        .ok()
}
