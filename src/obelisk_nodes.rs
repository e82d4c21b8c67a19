//! How many Obelisk nodes are running the connector's calls now, read from
//! the engine's own record, so that nodes whose `GLADLY_RATE_SHARE` is unset
//! split the organisation's limit between them (README, "Rate limit on
//! Obelisk").
//!
//! An Obelisk call runs in a fresh instance and keeps nothing between calls,
//! so a call cannot learn from Gladly's answers that another node shares the
//! organisation (it would need many readings; it has one or two). But every
//! node of a cluster writes to one database, and each records there which
//! node holds each call it runs: a call that is locked names its node
//! (`locked_by.executor_id`) and when its lock ends (`lock_expires_at`, the
//! moment it was taken plus the deployment's lock expiry, the same for every
//! call of the activity). Any node's API lists them
//! (`GET /v1/executions`). A call asks its own node's API (the loopback
//! address in `GLADLY_OBELISK_API`) before its first request, and counts the
//! nodes that took a lock within [`FRESH`] of the newest lock taken: a node
//! that runs calls takes locks every second or so, one killed or idle takes
//! none, and one lock's age is read against another's, never against this
//! machine's clock.
//!
//! A best effort: when the API cannot be reached or its answer read, the
//! call counts its node alone (the limit as before), and the answer cannot
//! make it count more than [`MAX_NODES`]. Nothing is sent to it but the
//! query: no credential, no header of Gladly's.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use serde::Deserialize;

use crate::error::Error;
use crate::transport::{HttpRequest, Method, Transport};
use crate::validate;

/// The setting that names this node's Obelisk API, e.g.
/// `http://127.0.0.1:5005` (the shipped deployment sets it).
pub const API_VAR: &str = "GLADLY_OBELISK_API";
/// A node whose newest lock was taken this much before the newest of all
/// no longer counts: it died, or has no call of the connector's to run.
pub const FRESH: Duration = Duration::from_secs(3);
/// The most nodes an answer can make a call count (one request a second per
/// call at most splits Gladly's 10 between two nodes of 5 calls; more are
/// spaced further apart, [`crate::pacing::Slots`]).
pub const MAX_NODES: usize = 16;
/// The activity's functions, as Obelisk names them: the adapter's package
/// (`obelisk/activity/wit`), the only way the connector runs there.
const FUNCTIONS: &str = "gladly:obelisk/";
/// Unfinished calls read, oldest first: Obelisk runs them oldest first, so
/// the locked ones (a node's calls in flight each) are among the first.
/// Each call costs the node's API a read of the database and a
/// serialisation of this many.
const READ: usize = 64;
/// How long the API may take: it is on this machine.
const TIMEOUT: Duration = Duration::from_secs(2);

/// The field the setting is named by in errors.
fn field() -> String {
    format!("env.{API_VAR}")
}

/// Checks the setting: `http://` to a loopback host with a port (the node's
/// own API), nothing else. Its errors never quote the value.
pub fn api_url(raw: &str) -> Result<String, Error> {
    let s = raw.trim().trim_end_matches('/');
    let authority = s.strip_prefix("http://").ok_or_else(|| {
        Error::invalid(
            field(),
            "must start with http:// and name this node's Obelisk API, e.g. http://127.0.0.1:5005",
        )
    })?;
    if authority.contains(['/', '@', '?', '#']) {
        return Err(Error::invalid(
            field(),
            "must be only http://host:port, with no path, query or credentials, e.g. http://127.0.0.1:5005",
        ));
    }
    let Some((host, Some(port))) = validate::split_host_port(authority) else {
        return Err(Error::invalid(
            field(),
            "must name a host and its port, e.g. http://127.0.0.1:5005",
        ));
    };
    if !validate::is_loopback_host(host) {
        return Err(Error::invalid(
            field(),
            "must be this machine (localhost, 127.0.0.0/8 or [::1]): a call asks its own node",
        ));
    }
    if port.is_empty()
        || !port.bytes().all(|b| b.is_ascii_digit())
        || port.parse::<u16>().map_or(true, |p| p == 0)
    {
        return Err(Error::invalid(field(), "has an invalid port"));
    }
    Ok(format!("http://{}", authority.to_ascii_lowercase()))
}

/// The query a call sends its node's API (`api`: checked by [`api_url`]).
pub fn request(api: &str) -> HttpRequest {
    HttpRequest {
        method: Method::Get,
        url: format!(
            "{api}/v1/executions?ffqn_prefix={}&show_derived=true&hide_finished=true&direction=newer&length={READ}",
            percent_encoding::utf8_percent_encode(FUNCTIONS, percent_encoding::NON_ALPHANUMERIC)
        ),
        headers: vec![("accept".to_string(), "application/json".to_string())],
        body: None,
        timeout: Some(TIMEOUT),
    }
}

/// How many nodes run the connector's calls now, as `body` (the API's list
/// of unfinished calls) shows them: those whose newest lock was taken
/// within [`FRESH`] of the newest of all, at most [`MAX_NODES`]. `None`
/// when the body is not such a list or shows no lock.
pub fn live_nodes(body: &[u8]) -> Option<usize> {
    let calls: Vec<Call> = serde_json::from_slice(body).ok()?;
    let mut newest: HashMap<String, SystemTime> = HashMap::new();
    for call in calls {
        let State::Locked {
            locked_by,
            lock_expires_at,
        } = call.pending_state
        else {
            continue;
        };
        let Ok(ends) = humantime::parse_rfc3339(lock_expires_at.trim()) else {
            continue;
        };
        let node = locked_by.executor_id.to_string();
        let at = newest.entry(node).or_insert(ends);
        *at = (*at).max(ends);
    }
    let latest = *newest.values().max()?;
    let live = newest
        .values()
        .filter(|ends| latest.duration_since(**ends).unwrap_or_default() <= FRESH)
        .count();
    Some(live.clamp(1, MAX_NODES))
}

/// Asks the node's API (the setting's raw value) how many nodes run the
/// connector's calls now: 1 when it cannot tell. An invalid setting is an
/// error naming it, and nothing is sent.
pub fn count<T: Transport>(transport: &mut T, raw: &str) -> Result<usize, Error> {
    let api = api_url(raw)?;
    Ok(match transport.send(&request(&api)) {
        Ok(answer) if answer.status == 200 => live_nodes(&answer.body).unwrap_or(1),
        _ => 1,
    })
}

/// One unfinished call, as the API lists it (what is read of it).
#[derive(Deserialize)]
struct Call {
    pending_state: State,
}

#[derive(Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
enum State {
    Locked {
        locked_by: LockedBy,
        lock_expires_at: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct LockedBy {
    /// Opaque: compared, never shown.
    executor_id: serde_json::Value,
}

#[cfg(test)]
mod tests;
