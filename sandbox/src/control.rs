//! The sandbox's own endpoints, under `/_sandbox/`.

use axum::body::Bytes;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::errors::{error, not_exist};
use crate::faults::fault_rule;
use crate::server::Shared;

/// The sandbox's own endpoints, for people driving it by hand (no auth; it
/// listens on loopback only):
/// - `GET /_sandbox/welcome-emails`: the welcome e-mails "sent";
/// - `GET /_sandbox/requests`: every request received, without credentials;
/// - `POST /_sandbox/faults`: queue faults, e.g.
///   `[{"fault": "rate-limit", "retryAfter": "2"}, {"fault": "status", "status": 503, "method": "POST"}]`;
///   kinds: `rate-limit` (`retryAfter`), `status` (`status`), `delay` (`ms`),
///   `malformed`, `lose-response`, `perform-then` (`status`),
///   `drop-connection`, `echo-request`, `redirect` (`status`, `location`),
///   `json` (`status`, `body`), `bare-rate-limit`, `proxy-page` (`status`),
///   `truncated`;
///   `method` limits a fault to one method.
pub(crate) fn control(shared: &Shared, method: &Method, path: &str, body: &Bytes) -> Response {
    let mut org = shared.org();
    match (method.clone(), path) {
        (Method::GET, "welcome-emails") => axum::Json(
            org.welcome_emails
                .iter()
                .map(|e| json!({"to": e.to, "agentId": e.agent_id}))
                .collect::<Vec<_>>(),
        )
        .into_response(),
        (Method::GET, "requests") => axum::Json(
            org.requests
                .iter()
                .map(|r| {
                    json!({
                        "method": r.method, "pathAndQuery": r.path_and_query, "body": r.body,
                        "contentLength": r.framing.content_length,
                        "transferEncoding": r.framing.transfer_encoding,
                        "contentType": r.framing.content_type,
                        "status": r.status,
                    })
                })
                .collect::<Vec<_>>(),
        )
        .into_response(),
        (Method::POST, "faults") => {
            let rules = match serde_json::from_slice::<Vec<Value>>(body) {
                Ok(list) => list
                    .iter()
                    .map(fault_rule)
                    .collect::<Result<Vec<_>, String>>(),
                Err(e) => Err(format!("expected a JSON list of faults: {e}")),
            };
            match rules {
                Ok(rules) => {
                    let n = rules.len();
                    org.faults.extend(rules);
                    axum::Json(json!({"queued": n})).into_response()
                }
                Err(why) => error(StatusCode::BAD_REQUEST, Some("faults"), "invalid", &why),
            }
        }
        _ => not_exist(),
    }
}
