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
//! A best effort, and it may count too few, never too many but for a
//! moment: then a node takes more than its part, as before nodes were
//! counted, and meets 429s that the call waits out.
//! - When the API cannot be reached, or its answer read, the call counts its
//!   node alone (one refused by the engine, a deployment whose allowed host
//!   is not this setting, is an error naming the setting instead).
//! - It reads the [`READ`] oldest of the connector's unfinished calls
//!   created in the last [`LOOKBACK`] (so that a database that keeps every
//!   finished call is not walked from its beginning at each call). Obelisk
//!   locks the oldest due first, so the locked ones are among them; but
//!   calls waiting on the engine's retry backoff, paused or created long
//!   before, may fill the page ahead of them, and then fewer nodes show.
//! - Each lock time is its node's own clock: nodes whose clocks differ by
//!   more than [`FRESH`] do not see each other.
//! - A node whose calls all run longer than [`FRESH`] takes no new lock
//!   while they send, and drops out of the others' count.
//! - A node switched to a new deployment runs it under a new executor id,
//!   and may count twice for [`FRESH`] (it then sends less, not more).
//!
//! Nothing is sent to the API but the query: no credential, no header of
//! Gladly's. What the deployment allows it to read there (`GET` only) is
//! the whole cluster's record, read-only: every execution's arguments and
//! results, as any client of that API sees them.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use serde::Deserialize;

use crate::error::Error;
use crate::transport::{HttpRequest, Method, Transport, TransportErrorKind};
use crate::validate;

/// The setting that names this node's Obelisk API, e.g.
/// `http://127.0.0.1:5005` (the shipped deployment sets it).
pub const API_VAR: &str = "GLADLY_OBELISK_API";
/// A node whose newest lock was taken this much before the newest of all
/// no longer counts: it died, or has no call of the connector's to run.
pub const FRESH: Duration = Duration::from_secs(3);
/// The most nodes an answer can make a call count: a cap against a garbled
/// answer (16 nodes of 10 calls already space a slot's requests 16.4 s
/// apart, [`crate::pacing::Slots`]).
pub const MAX_NODES: usize = 16;
/// The activity's functions, as Obelisk names them: the adapter's package
/// (`obelisk/activity/wit`), the only way the connector runs there.
const FUNCTIONS: &str = "gladly:obelisk/";
/// Unfinished calls read, oldest first: Obelisk runs them oldest first, so
/// the locked ones (a node's calls in flight each) are among the first.
/// Each call costs the node's API a read of the database and a
/// serialisation of this many.
const READ: usize = 64;
/// How far back the calls read were created: a day (a backlog longer than
/// that is not seen, see the module's notes).
pub const LOOKBACK: Duration = Duration::from_secs(24 * 3600);
/// How long the API may take: it is on this machine.
const TIMEOUT: Duration = Duration::from_secs(2);

/// The field the setting is named by in errors.
fn field() -> String {
    format!("env.{API_VAR}")
}

/// Checks the setting: exactly `http://host:port`, the host a loopback one
/// in lower case (the node's own API; the deployment's allowed host is the
/// same value, which Obelisk compares as written), nothing else. Its errors
/// never quote the value.
pub fn api_url(raw: &str) -> Result<String, Error> {
    const EXAMPLE: &str = "e.g. http://127.0.0.1:5005";
    let authority = raw.strip_prefix("http://").ok_or_else(|| {
        Error::invalid(
            field(),
            format!("must start with http:// and name this node's Obelisk API, {EXAMPLE}"),
        )
    })?;
    if authority.contains(['/', '@', '?', '#']) || authority.chars().any(char::is_whitespace) {
        return Err(Error::invalid(
            field(),
            format!(
                "must be only http://host:port, with no path (nor a trailing /), query, credentials or spaces, {EXAMPLE}"
            ),
        ));
    }
    let Some((host, Some(port))) = validate::split_host_port(authority) else {
        return Err(Error::invalid(
            field(),
            format!("must name a host and its port, {EXAMPLE}"),
        ));
    };
    if !validate::is_loopback_host(host) {
        return Err(Error::invalid(
            field(),
            "must be this machine (localhost, 127.0.0.0/8 or [::1]): a call asks its own node",
        ));
    }
    if host.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(Error::invalid(
            field(),
            "must spell its host in lower case: the deployment allows this value as written, and Obelisk compares hosts as written",
        ));
    }
    if !validate::is_valid_port(port) {
        return Err(Error::invalid(field(), "has an invalid port"));
    }
    Ok(format!("http://{authority}"))
}

/// The query a call sends its node's API (`api`: checked by [`api_url`]),
/// at `now_unix` (seconds since the Unix epoch; 0 when unknown: then the
/// 64 oldest unfinished calls of any age are read).
pub fn request(api: &str, now_unix: u64) -> HttpRequest {
    let encode = |v: &str| {
        percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    let since = now_unix
        .checked_sub(LOOKBACK.as_secs())
        .map(|from| {
            let at = SystemTime::UNIX_EPOCH + Duration::from_secs(from);
            format!(
                "&cursor={}",
                encode(&humantime::format_rfc3339_seconds(at).to_string())
            )
        })
        .unwrap_or_default();
    HttpRequest {
        method: Method::Get,
        url: format!(
            "{api}/v1/executions?ffqn_prefix={}&show_derived=true&hide_finished=true&direction=newer&length={READ}{since}",
            encode(FUNCTIONS)
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
/// error naming it, and nothing is sent; so is a query the engine refuses
/// (the deployment does not allow this value), which no retry cures.
pub fn count<T: Transport>(transport: &mut T, raw: &str) -> Result<usize, Error> {
    let api = api_url(raw)?;
    let now = transport.now_unix();
    Ok(match transport.send(&request(&api, now)) {
        Ok(answer) if answer.status == 200 => live_nodes(&answer.body).unwrap_or(1),
        Err(e) if e.kind == TransportErrorKind::Denied => {
            return Err(Error::invalid(
                field(),
                "names an API the engine refused to let the call reach: the deployment must allow GET to this very value (obelisk/deployment.toml's allowed_host, README \"Rate limit on Obelisk\")",
            ));
        }
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
pub(crate) mod tests;
