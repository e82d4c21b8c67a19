//! Misbehaviour on demand: faults queued by a test (or by
//! `POST /_sandbox/faults`), each served instead of the next request it
//! matches.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::Value;

use crate::errors::error;
use crate::routes::route;
use crate::server::Shared;

/// One queued misbehaviour, served instead of the next matching request.
#[derive(Clone, Debug)]
pub enum Fault {
    /// 429 with this `Retry-After` header value, if any.
    RateLimit { retry_after: Option<String> },
    /// An empty answer with this status (e.g. 502, 503, 504).
    Status(u16),
    /// Wait this long, then answer normally.
    Delay(Duration),
    /// 200 with a body that is not JSON.
    Malformed,
    /// Perform the request, then never answer: the response is lost on the
    /// way back, and the client sees a timeout.
    LoseResponse,
    /// Close the connection without answering, before doing anything.
    DropConnection,
    /// Perform the request, then answer with this status instead of its own
    /// (a gateway that timed out after the work was done).
    PerformThen(u16),
    /// 500 whose body repeats the request's headers, credentials included,
    /// as a careless proxy might: the connector must not pass them on.
    EchoRequest,
    /// A redirect with this status (301, 302, 307, 308) to this location,
    /// as an organisation that moved would answer.
    Redirect { status: u16, location: String },
    /// A redirect with this status to a sign-in page whose address carries
    /// the request's credential in `form` (a single-sign-on proxy that
    /// passes on what it received): the `Location` is server text too.
    RedirectEcho { status: u16, form: EchoForm },
    /// This status with this JSON body, e.g. an error body in one of the
    /// forms Gladly publishes.
    Json { status: u16, body: String },
    /// 200 with a body of this many bytes (a JSON list padded with spaces),
    /// larger than any real page.
    Huge(usize),
    /// 429 as a proxy or load balancer in front of Gladly answers it: no
    /// `Retry-After`, no `Ratelimit-*` headers, a plain-text body.
    BareRateLimit,
    /// This status with an HTML page, as a proxy or a single-sign-on
    /// portal in front of Gladly answers (`text/html`, none of Gladly's
    /// headers; with 200, a login page where JSON was expected); with
    /// `echo`, the page shows the request's credential in that form, as a
    /// proxy's debug page does.
    ProxyPage { status: u16, echo: Option<EchoForm> },
    /// Perform the request, then answer its status and headers with the
    /// `Content-Length` of its whole body but only the first half of the
    /// body before closing the connection: an answer cut off on the way.
    Truncated,
    /// This status with a Gladly error body whose `detail` echoes the
    /// request's credential in `form`, starting at byte `at` of the body
    /// (when `at` is past the body's opening), as a server or proxy might;
    /// with `perform`, the request is performed first (a gateway that timed
    /// out after the work was done, and echoed).
    EchoCredential {
        status: u16,
        form: EchoForm,
        at: usize,
        perform: bool,
    },
}

/// How [`Fault::EchoCredential`] echoes the credential it received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EchoForm {
    /// The `Authorization` header value as received: `Basic <base64>`.
    Header,
    /// `basic <base64>`, lower case.
    LowercaseBasic,
    /// Standard base64 without padding.
    Base64Unpadded,
    /// URL-safe base64, padded.
    UrlSafe,
    /// URL-safe base64 without padding.
    UrlSafeUnpadded,
    /// The decoded `user:token`.
    Decoded,
    /// The token alone.
    Token,
    /// `user:token` with every character JSON-escaped (`\u0061…`), in the
    /// body's JSON.
    JsonEscaped,
    /// `user:token` percent-encoded (all but letters and digits).
    PercentEncoded,
    /// `user:token` with every character an HTML numeric character
    /// reference (`&#97;…`), as an HTML page escapes what it shows.
    HtmlEntities,
    /// The token cut in three, each third in an error entry of its own
    /// (a server that reports a bad header one part at a time): no part
    /// of a short token is long enough to be told from chance alone.
    SplitAcrossEntries,
}

impl EchoForm {
    /// Every form.
    pub const ALL: [EchoForm; 11] = [
        EchoForm::Header,
        EchoForm::LowercaseBasic,
        EchoForm::Base64Unpadded,
        EchoForm::UrlSafe,
        EchoForm::UrlSafeUnpadded,
        EchoForm::Decoded,
        EchoForm::Token,
        EchoForm::JsonEscaped,
        EchoForm::PercentEncoded,
        EchoForm::HtmlEntities,
        EchoForm::SplitAcrossEntries,
    ];

    /// The credential of `authorization` in this form, as it goes into a
    /// JSON string.
    fn render(self, authorization: &str) -> String {
        use base64::engine::general_purpose::{
            STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD,
        };
        let encoded = authorization.trim_start_matches("Basic ").trim();
        let pair = STANDARD
            .decode(encoded)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .unwrap_or_default();
        let json = |s: &str| {
            serde_json::to_string(s)
                .unwrap_or_default()
                .trim_matches('"')
                .to_string()
        };
        match self {
            EchoForm::Header => json(authorization),
            EchoForm::LowercaseBasic => format!("basic {encoded}"),
            EchoForm::Base64Unpadded => STANDARD_NO_PAD.encode(&pair),
            EchoForm::UrlSafe => URL_SAFE.encode(&pair),
            EchoForm::UrlSafeUnpadded => URL_SAFE_NO_PAD.encode(&pair),
            EchoForm::Decoded => json(&pair),
            EchoForm::Token => json(pair.split_once(':').map_or("", |(_, t)| t)),
            EchoForm::JsonEscaped => pair
                .chars()
                .map(|c| format!("\\u{:04x}", c as u32))
                .collect(),
            EchoForm::PercentEncoded => {
                percent_encoding::utf8_percent_encode(&pair, percent_encoding::NON_ALPHANUMERIC)
                    .to_string()
            }
            EchoForm::HtmlEntities => pair.chars().map(|c| format!("&#{};", c as u32)).collect(),
            EchoForm::SplitAcrossEntries => {
                // Closes the entry the echo stands in and opens two more.
                let token: Vec<char> = pair
                    .split_once(':')
                    .map_or("", |(_, t)| t)
                    .chars()
                    .collect();
                let third = token.len().div_ceil(3).max(1);
                token
                    .chunks(third)
                    .map(|c| json(&c.iter().collect::<String>()))
                    .collect::<Vec<_>>()
                    .join(r#""}, {"code": "proxy_error", "detail": ""#)
            }
        }
    }
}

/// A fault and the requests it applies to.
#[derive(Clone, Debug)]
pub struct FaultRule {
    /// Only requests with this method (e.g. "POST"); `None` for any.
    pub method: Option<String>,
    /// Only requests to this path (e.g. "/api/v1/inboxes", no query);
    /// `None` for any.
    pub path: Option<String>,
    pub fault: Fault,
}

impl From<Fault> for FaultRule {
    fn from(fault: Fault) -> Self {
        Self {
            method: None,
            path: None,
            fault,
        }
    }
}

impl Fault {
    /// This fault, for the next request with `method` only.
    pub fn on(self, method: &str) -> FaultRule {
        FaultRule {
            method: Some(method.to_ascii_uppercase()),
            path: None,
            fault: self,
        }
    }

    /// This fault, for the next request with `method` to `path` only (one
    /// listing among the reads a command makes).
    pub fn on_path(self, method: &str, path: &str) -> FaultRule {
        FaultRule {
            path: Some(path.to_string()),
            ..self.on(method)
        }
    }
}

/// A fault rule as `POST /_sandbox/faults` takes it.
pub(crate) fn fault_rule(v: &Value) -> Result<FaultRule, String> {
    let status = || {
        v.get("status")
            .and_then(Value::as_u64)
            .and_then(|s| u16::try_from(s).ok())
            .ok_or_else(|| format!("{v}: needs \"status\""))
    };
    let fault = match v.get("fault").and_then(Value::as_str).unwrap_or_default() {
        "rate-limit" => Fault::RateLimit {
            retry_after: v
                .get("retryAfter")
                .and_then(Value::as_str)
                .map(str::to_string),
        },
        "status" => Fault::Status(status()?),
        "perform-then" => Fault::PerformThen(status()?),
        "delay" => Fault::Delay(Duration::from_millis(
            v.get("ms")
                .and_then(Value::as_u64)
                .ok_or_else(|| format!("{v}: needs \"ms\""))?,
        )),
        "malformed" => Fault::Malformed,
        "lose-response" => Fault::LoseResponse,
        "drop-connection" => Fault::DropConnection,
        "echo-request" => Fault::EchoRequest,
        "bare-rate-limit" => Fault::BareRateLimit,
        "proxy-page" => Fault::ProxyPage {
            status: status()?,
            echo: None,
        },
        "truncated" => Fault::Truncated,
        "json" => Fault::Json {
            status: status()?,
            body: v.get("body").map(Value::to_string).unwrap_or_default(),
        },
        "redirect" => Fault::Redirect {
            status: status()?,
            location: v
                .get("location")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("{v}: needs \"location\""))?
                .to_string(),
        },
        other => return Err(format!("unknown fault '{other}'")),
    };
    // A limit no request can meet is refused, not queued: read as no
    // limit it answered the wrong request, and a path with a query (or
    // without its `/`) never fired.
    let method = match v.get("method") {
        None | Some(Value::Null) => None,
        Some(Value::String(m)) => Some(m.to_ascii_uppercase()),
        Some(other) => {
            return Err(format!(
                "\"method\" must be a string such as \"GET\", not {other}"
            ));
        }
    };
    let path = match v.get("path") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) if p.starts_with('/') && !p.contains(['?', '#']) => Some(p.clone()),
        Some(other) => {
            return Err(format!(
                "\"path\" must be a path such as \"/api/v1/inboxes\" (a leading /, no query), not {other}"
            ));
        }
    };
    Ok(FaultRule {
        method,
        path,
        fault,
    })
}

/// The request's credential as it came (the echo faults show it back).
fn authorization(headers: &HeaderMap) -> &str {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// Marks an answer made in front of Gladly: it carries none of Gladly's
/// rate-limit headers.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Bare;

/// The answer to an API request the front end let through: the next queued
/// fault that matches it, else the organisation's.
pub(crate) async fn answer(
    shared: &Shared,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    let fault = {
        let mut org = shared.org();
        let index = org.faults.iter().position(|r| {
            r.method.as_deref().is_none_or(|m| m == method.as_str())
                && r.path.as_deref().is_none_or(|p| p == uri.path())
        });
        index.and_then(|i| org.faults.remove(i)).map(|r| r.fault)
    };
    match fault {
        Some(Fault::RateLimit { retry_after }) => {
            let mut resp = error(
                StatusCode::TOO_MANY_REQUESTS,
                None,
                "rate_limited",
                "too many requests",
            );
            if let Some(v) = retry_after.and_then(|v| HeaderValue::from_str(&v).ok()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return resp;
        }
        Some(Fault::BareRateLimit) => {
            let mut resp = (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::CONTENT_TYPE, "text/plain")],
                "Too Many Requests",
            )
                .into_response();
            resp.extensions_mut().insert(Bare);
            return resp;
        }
        Some(Fault::ProxyPage { status, echo }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
            let title = format!(
                "{} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or_default()
            );
            let debug = echo.map_or(String::new(), |form| {
                let authorization = authorization(headers);
                format!("<pre>Authorization: {}</pre>\n", form.render(authorization))
            });
            // The debug block first, so that an error's excerpt of the
            // page (its first 200 characters) holds it.
            let page = format!(
                "<!DOCTYPE html>\n<html><body>\n{debug}<h1>{title}</h1>\n<p>Please sign in, or try again later.</p>\n<hr><address>edge proxy</address></body></html>\n"
            );
            let mut resp = (
                status,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                page,
            )
                .into_response();
            resp.extensions_mut().insert(Bare);
            return resp;
        }
        Some(Fault::Truncated) => {
            let (mut parts, whole) = route(shared, method, uri, headers, body).into_parts();
            let whole = axum::body::to_bytes(whole, usize::MAX)
                .await
                .unwrap_or_default();
            // hyper frames the answer by the declared length, and closes
            // the connection when the body fails short of it.
            parts
                .headers
                .insert(header::CONTENT_LENGTH, HeaderValue::from(whole.len()));
            let half = whole.slice(..whole.len() / 2);
            // The half goes out first (hyper flushes it while the rest is
            // awaited); then the body fails and the connection closes.
            let cut = futures_util::StreamExt::chain(
                futures_util::stream::iter([Ok(half)]),
                futures_util::stream::once(async {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Err(std::io::Error::other("sandbox: answer cut off"))
                }),
            );
            return Response::from_parts(parts, Body::from_stream(cut));
        }
        Some(Fault::Status(code)) => {
            return StatusCode::from_u16(code)
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
                .into_response();
        }
        Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
        Some(Fault::Malformed) => {
            return (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                "{\"items\": [oops",
            )
                .into_response();
        }
        Some(Fault::EchoRequest) => {
            let dump: String = headers
                .iter()
                .map(|(k, v)| format!("{k}: {}\n", String::from_utf8_lossy(v.as_bytes())))
                .collect();
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("proxy error; request was:\n{dump}"),
            )
                .into_response();
        }
        Some(Fault::DropConnection) => {
            // Unwinding out of the handler makes hyper drop the connection
            // unanswered; `resume_unwind` skips the panic hook, so nothing is
            // printed.
            std::panic::resume_unwind(Box::new("sandbox: dropped connection"));
        }
        Some(Fault::LoseResponse) => {
            let _ = route(shared, method, uri, headers, body);
            std::future::pending::<()>().await;
        }
        Some(Fault::PerformThen(code)) => {
            let _ = route(shared, method, uri, headers, body);
            return StatusCode::from_u16(code)
                .unwrap_or(StatusCode::GATEWAY_TIMEOUT)
                .into_response();
        }
        Some(Fault::EchoCredential {
            status,
            form,
            at,
            perform,
        }) => {
            if perform {
                let _ = route(shared, method, uri, headers, body);
            }
            let authorization = authorization(headers);
            let open = r#"{"errors": [{"code": "proxy_error", "detail": "request was "#;
            let filler = ".".repeat(at.saturating_sub(open.len()));
            let echo = form.render(authorization);
            return (
                StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
                [(header::CONTENT_TYPE, "application/json")],
                format!(r#"{open}{filler}{echo} (bad gateway)"}}]}}"#),
            )
                .into_response();
        }
        Some(Fault::Huge(bytes)) => {
            let mut body = vec![b' '; bytes.max(2)];
            body[0] = b'[';
            *body.last_mut().expect("two bytes at least") = b']';
            return (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response();
        }
        Some(Fault::Json { status, body }) => {
            return (
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                [(header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response();
        }
        Some(Fault::RedirectEcho { status, form }) => {
            let authorization = authorization(headers);
            let location = format!(
                "https://sso.example/login?next=%2Fapi%2Fv1&auth={}",
                form.render(authorization)
            );
            let mut resp = StatusCode::from_u16(status)
                .unwrap_or(StatusCode::FOUND)
                .into_response();
            if let Ok(v) = HeaderValue::from_str(&location) {
                resp.headers_mut().insert(header::LOCATION, v);
            }
            resp.extensions_mut().insert(Bare);
            return resp;
        }
        Some(Fault::Redirect { status, location }) => {
            let mut resp = StatusCode::from_u16(status)
                .unwrap_or(StatusCode::MOVED_PERMANENTLY)
                .into_response();
            if let Ok(v) = HeaderValue::from_str(&location) {
                resp.headers_mut().insert(header::LOCATION, v);
            }
            return resp;
        }
        None => {}
    }
    route(shared, method, uri, headers, body)
}
