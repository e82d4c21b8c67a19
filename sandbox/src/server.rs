//! Serving: the state the handlers share, the connection loop, and the way
//! of every request (recorded, checked as a front end would, rate-limited,
//! then answered by a fault or by the API).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use tokio::sync::watch;

use crate::config::Profile;
use crate::control::control;
use crate::errors::error;
use crate::faults::{Bare, answer};
use crate::front::{self, Framing, RateLimit};
use crate::org::{Org, RecordedRequest};

/// What the handlers of one sandbox share: its organisation and counters.
pub(crate) struct Shared {
    pub(crate) org: Mutex<Org>,
    pub(crate) profile: Profile,
    pub(crate) rate_limit: Option<RateLimit>,
    pub(crate) buckets: Mutex<front::Buckets>,
    pub(crate) allow_chunked: bool,
    pub(crate) connections: AtomicUsize,
    pub(crate) answered: Mutex<HashMap<u16, usize>>,
}

impl Shared {
    pub(crate) fn org(&self) -> MutexGuard<'_, Org> {
        // A panicking handler must not wedge the sandbox for every later test.
        self.org.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Accepts connections until shutdown, each served on its own task (HTTP/1.1
/// with keep-alive, over TLS when configured) and closed at shutdown too, so
/// a client's pooled connection to a stopped sandbox fails as it would
/// against a server that went away.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shared: Arc<Shared>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    delay: Duration,
    mut stop: watch::Receiver<bool>,
) {
    use hyper_util::rt::TokioIo;
    use hyper_util::service::TowerToHyperService;
    loop {
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(_) => continue,
            },
            _ = stop.changed() => return,
        };
        shared.connections.fetch_add(1, Ordering::SeqCst);
        let service = TowerToHyperService::new(app.clone());
        let tls = tls.clone();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let served = async move {
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                let mut http = hyper::server::conn::http1::Builder::new();
                // Header names as real servers write them
                // (`Ratelimit-Limit-Second`, `Retry-After`), not hyper's
                // lower case: a client must read them in any case.
                http.title_case_headers(true);
                match tls {
                    Some(acceptor) => {
                        // A client that refuses the certificate hangs up here.
                        let Ok(stream) = acceptor.accept(tcp).await else {
                            return;
                        };
                        let _ = http.serve_connection(TokioIo::new(stream), service).await;
                    }
                    None => {
                        let _ = http.serve_connection(TokioIo::new(tcp), service).await;
                    }
                }
            };
            tokio::select! {
                _ = served => {}
                _ = stop.changed() => {}
            }
        });
    }
}

pub(crate) async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // The sandbox's own endpoints are neither recorded, limited nor subject
    // to faults.
    if let Some(path) = uri.path().strip_prefix("/_sandbox/") {
        return control(&shared, &method, path, &body);
    }
    let framing = Framing::of(&headers);
    let index = {
        let mut org = shared.org();
        org.requests.push(RecordedRequest {
            method: method.to_string(),
            path_and_query: uri
                .path_and_query()
                .map(|p| p.to_string())
                .unwrap_or_default(),
            body: (!body.is_empty()).then(|| String::from_utf8_lossy(&body).into_owned()),
            framing: framing.clone(),
            status: None,
            at: Instant::now(),
        });
        org.requests.len() - 1
    };
    let verdict = shared.rate_limit.map(|limit| {
        shared
            .buckets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .check(limit.per_second, limit.window, &method, Instant::now())
    });
    let mut resp = if !framing.acceptable(&method, shared.allow_chunked) {
        error(
            StatusCode::LENGTH_REQUIRED,
            None,
            "length_required",
            "a request body must be sent with Content-Length, not chunked",
        )
    } else if !framing.declares_json(&method) {
        error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            None,
            "unsupported_media_type",
            "a request body must be sent as Content-Type: application/json",
        )
    } else if let Some(v) = verdict.as_ref().filter(|v| !v.allowed) {
        let mut resp = error(
            StatusCode::TOO_MANY_REQUESTS,
            None,
            "rate_limited",
            &format!("more than {} {method} requests in one second", v.limit),
        );
        if shared.rate_limit.is_some_and(|l| l.retry_after) {
            let secs = v.retry_after.as_secs_f64().ceil().max(1.0) as u64;
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    } else {
        answer(&shared, &method, &uri, &headers, &body).await
    };
    // An answer made in front of Gladly (a proxy's page, its bare 429)
    // carries none of Gladly's headers.
    let status_now = resp.status();
    if let Some(v) = verdict.filter(|_| resp.extensions().get::<Bare>().is_none()) {
        let h = resp.headers_mut();
        h.insert("ratelimit-limit-second", HeaderValue::from(v.limit));
        // A 429 says the window is spent, whichever limiter refused (an
        // injected one included), as Gladly's own would.
        let remaining = if status_now == StatusCode::TOO_MANY_REQUESTS {
            0
        } else {
            v.remaining
        };
        h.insert("ratelimit-remaining-second", HeaderValue::from(remaining));
    }
    let status = resp.status().as_u16();
    if let Some(r) = shared.org().requests.get_mut(index) {
        r.status = Some(status);
    }
    *shared
        .answered
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(status)
        .or_default() += 1;
    resp
}
