//! A Gladly sandbox: an in-memory organisation served over HTTP on loopback.
//!
//! [`Profile::Lifecycle`] follows the integration guide's contract (seed 000,
//! GLADLY-API.md part 1): Basic auth with an administrator's and a
//! non-administrator's token, cursor pages (default 20, at most 100),
//! `active` and `emailAddress` filters, 409 for any existing e-mail
//! (deactivated agents too), PATCH replacing arrays whole, unknown inbox and
//! team ids refused, no DELETE, a record of every welcome e-mail sent.
//!
//! [`Profile::PublicSpec`] behaves like Gladly's public REST spec (part 2):
//! read-only agents with only `{id, name, emailAddress}`, plain-array lists
//! that ignore paging and filters, teams with `agentIds`, inboxes with
//! `disabled`, and `/organization`.
//!
//! In front of both stands what a strict front end checks ([`front`]): a
//! write whose body is chunked or has no `Content-Length` is answered
//! `411 Length Required`, and Gladly's published rate limit (10 requests per
//! second per method, `Ratelimit-Limit-Second` and
//! `Ratelimit-Remaining-Second` on every answer, 429 beyond it) is kept.
//! It serves HTTP, or HTTPS with a certificate made at start ([`tls`]), and
//! can delay every new connection, as a TLS handshake across the internet
//! would.
//!
//! Faults can be queued ([`Fault`]) to test retries: 429 storms with
//! `Retry-After`, 5xx, slow answers, malformed bodies, redirects.

#![deny(unsafe_code)]
// Validation helpers return the HTTP error response itself as `Err`: it is
// built once per refused request, so its size does not matter here.
#![allow(clippy::result_large_err)]

pub mod front;
pub mod tls;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Map, Value, json};
use tokio::sync::watch;

pub use front::{Framing, RateLimit};
pub use tls::TlsCert;

/// Credentials the sandbox accepts. Not secrets: they exist only here.
pub const ADMIN_USER: &str = "admin@acme.example";
pub const ADMIN_TOKEN: &str = "sandbox-admin-token";
pub const MEMBER_USER: &str = "agent@acme.example";
pub const MEMBER_TOKEN: &str = "sandbox-agent-token";

/// Where and as whom to call the sandbox, as [`Sandbox::admin`] and
/// [`Sandbox::member`] give it (the harness turns it into its `Connection`).
/// `Debug` never shows the token.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub org_url: String,
    pub api_user: String,
    pub api_token: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("org_url", &self.org_url)
            .field("api_user", &self.api_user)
            .field("api_token", &"<redacted>")
            .finish()
    }
}

const ROLES: &[&str] = &["AGENT", "TEAM_LEAD", "ADMIN", "ANALYST", "TASK"];
const DEFAULT_PAGE: usize = 20;
const MAX_PAGE: usize = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Profile {
    /// The integration guide's full lifecycle contract.
    #[default]
    Lifecycle,
    /// Gladly's public REST spec: read-only agents, plain-array lists.
    PublicSpec,
}

#[derive(Clone, Debug)]
pub struct SandboxConfig {
    pub profile: Profile,
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Extra active agents (`bulk-N@acme.example`) beside the seed data, to
    /// make lists span many pages.
    pub extra_agents: usize,
    /// Gladly's published rate limit; `None` lifts it (for benchmarks that
    /// measure something else). Default: 10 per second and method.
    pub rate_limit: Option<RateLimit>,
    /// Accept chunked request bodies. Default `false`: a write must state
    /// its `Content-Length`, or it is answered 411, as strict front ends do.
    pub allow_chunked: bool,
    /// Serve HTTPS with this certificate instead of HTTP.
    pub tls: Option<TlsCert>,
    /// Wait this long before serving each new connection: a stand-in for a
    /// TLS handshake across the internet.
    pub connection_delay: Duration,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            profile: Profile::default(),
            port: 0,
            extra_agents: 0,
            rate_limit: Some(RateLimit::default()),
            allow_chunked: false,
            tls: None,
            connection_delay: Duration::ZERO,
        }
    }
}

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
    /// This status with this JSON body, e.g. an error body in one of the
    /// forms Gladly publishes.
    Json { status: u16, body: String },
    /// 200 with a body of this many bytes (a JSON list padded with spaces),
    /// larger than any real page.
    Huge(usize),
}

/// A fault and the requests it applies to.
#[derive(Clone, Debug)]
pub struct FaultRule {
    /// Only requests with this method (e.g. "POST"); `None` for any.
    pub method: Option<String>,
    pub fault: Fault,
}

impl From<Fault> for FaultRule {
    fn from(fault: Fault) -> Self {
        Self {
            method: None,
            fault,
        }
    }
}

impl Fault {
    /// This fault, for the next request with `method` only.
    pub fn on(self, method: &str) -> FaultRule {
        FaultRule {
            method: Some(method.to_ascii_uppercase()),
            fault: self,
        }
    }
}

#[derive(Clone, Debug)]
pub struct AgentRec {
    pub id: String,
    pub email_address: String,
    pub name: String,
    pub role: String,
    pub agent_profile: Option<Value>,
    pub inboxes: Vec<String>,
    pub teams: Vec<String>,
    pub active: bool,
    pub phone_number: Option<String>,
    pub external_id: Option<String>,
    pub language: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub agent_status: String,
}

#[derive(Clone, Debug)]
pub struct NamedRec {
    pub id: String,
    pub name: String,
    /// Inbox channel type; team description.
    pub detail: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WelcomeEmail {
    pub to: String,
    pub agent_id: String,
}

/// A request as the sandbox received it (never with its credentials).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    pub path_and_query: String,
    pub body: Option<String>,
    /// How its body was framed (`Content-Length`, `Transfer-Encoding`).
    pub framing: Framing,
    /// The status it was answered with, when it was answered.
    pub status: Option<u16>,
}

#[derive(Debug, Default)]
pub struct Org {
    pub agents: Vec<AgentRec>,
    pub inboxes: Vec<NamedRec>,
    pub teams: Vec<NamedRec>,
    pub welcome_emails: Vec<WelcomeEmail>,
    pub requests: Vec<RecordedRequest>,
    /// Each incoming request takes the first rule that matches it, if any,
    /// before anything else happens.
    pub faults: VecDeque<FaultRule>,
    next_id: u32,
}

impl Org {
    fn seeded(extra: usize) -> Self {
        let named = |id: &str, name: &str, detail: &str| NamedRec {
            id: id.into(),
            name: name.into(),
            detail: detail.into(),
        };
        let mut org = Org {
            inboxes: vec![
                named("ibx_support", "General Support", "EMAIL"),
                named("ibx_billing", "Billing", "EMAIL"),
                named("ibx_vip", "VIP Chat", "CHAT"),
                named("ibx_voice", "Voice", "VOICE"),
            ],
            teams: vec![
                named("team_tier1", "Tier 1 Support", "First line"),
                named("team_tier2", "Tier 2 Support", "Second line"),
                named("team_escalations", "Escalations", "Hard cases"),
            ],
            ..Default::default()
        };
        let mut add = |email: &str,
                       name: &str,
                       role: &str,
                       inboxes: &[&str],
                       teams: &[&str],
                       active: bool,
                       ext: Option<&str>| {
            let a = org.add_agent(email, name, active, ext);
            a.role = role.into();
            a.inboxes = inboxes.iter().map(|s| s.to_string()).collect();
            a.teams = teams.iter().map(|s| s.to_string()).collect();
            a.language = Some("en-US".into());
        };
        add(
            "jane@acme.example",
            "Jane Doe",
            "AGENT",
            &["ibx_support"],
            &["team_tier1"],
            true,
            Some("E-1001"),
        );
        add(
            "sam@acme.example",
            "Sam Lee",
            "TEAM_LEAD",
            &["ibx_support", "ibx_billing"],
            &["team_tier2"],
            true,
            Some("E-1002"),
        );
        add(
            "former@acme.example",
            "Former Agent",
            "AGENT",
            &["ibx_support"],
            &[],
            false,
            Some("E-0999"),
        );
        for i in 0..extra {
            add(
                &format!("bulk-{i}@acme.example"),
                &format!("Bulk Agent {i}"),
                "AGENT",
                &[],
                &[],
                true,
                Some(&format!("B-{i}")),
            );
        }
        org
    }

    pub fn agent(&self, id: &str) -> Option<&AgentRec> {
        self.agents.iter().find(|a| a.id == id)
    }

    /// Adds an agent as if it had always been there (no welcome e-mail), for
    /// tests that need an organisation in a given state; the caller may set
    /// the rest of the record.
    pub fn add_agent(
        &mut self,
        email: &str,
        name: &str,
        active: bool,
        external_id: Option<&str>,
    ) -> &mut AgentRec {
        self.next_id += 1;
        let now = now();
        self.agents.push(AgentRec {
            id: format!("agt_{:03}", self.next_id),
            email_address: email.into(),
            name: name.into(),
            role: "AGENT".into(),
            agent_profile: None,
            inboxes: vec![],
            teams: vec![],
            active,
            phone_number: None,
            external_id: external_id.map(str::to_string),
            language: None,
            created_at: now.clone(),
            updated_at: now,
            agent_status: if active { "AVAILABLE" } else { "OFFLINE" }.into(),
        });
        self.agents.last_mut().expect("just pushed")
    }
}

struct Shared {
    org: Mutex<Org>,
    profile: Profile,
    rate_limit: Option<RateLimit>,
    buckets: Mutex<front::Buckets>,
    allow_chunked: bool,
    connections: AtomicUsize,
    answered: Mutex<HashMap<u16, usize>>,
}

impl Shared {
    fn org(&self) -> MutexGuard<'_, Org> {
        // A panicking handler must not wedge the sandbox for every later test.
        self.org.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running sandbox; stops when dropped, closing its connections.
pub struct Sandbox {
    addr: SocketAddr,
    shared: Arc<Shared>,
    ca_pem: Option<String>,
    shutdown: watch::Sender<bool>,
}

impl Sandbox {
    /// Binds 127.0.0.1 and serves on the current tokio runtime.
    pub async fn start(config: SandboxConfig) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port)).await?;
        let addr = listener.local_addr()?;
        let tls = config.tls.map(tls::Tls::new).transpose()?;
        let shared = Arc::new(Shared {
            org: Mutex::new(Org::seeded(config.extra_agents)),
            profile: config.profile,
            rate_limit: config.rate_limit,
            buckets: Mutex::default(),
            allow_chunked: config.allow_chunked,
            connections: AtomicUsize::new(0),
            answered: Mutex::default(),
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let (shutdown, stop) = watch::channel(false);
        let ca_pem = tls.as_ref().map(|t| t.ca_pem.clone());
        tokio::spawn(serve(
            listener,
            app,
            shared.clone(),
            tls.map(|t| t.acceptor),
            config.connection_delay,
            stop,
        ));
        Ok(Self {
            addr,
            shared,
            ca_pem,
            shutdown,
        })
    }

    /// `http://127.0.0.1:PORT`, or `https://` when serving TLS.
    pub fn url(&self) -> String {
        let scheme = if self.ca_pem.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.addr)
    }

    /// The PEM of the CA that signed the sandbox's certificate, when it
    /// serves HTTPS: what a client must trust.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// How many connections the sandbox has accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// How many API requests were answered with `status` (429, 411, ...).
    pub fn answered(&self, status: u16) -> usize {
        self.shared
            .answered
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&status)
            .copied()
            .unwrap_or(0)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn profile(&self) -> Profile {
        self.shared.profile
    }

    /// The administrator's credentials: may read and write agents.
    pub fn admin(&self) -> Credentials {
        self.credentials(ADMIN_USER, ADMIN_TOKEN)
    }

    /// A non-administrator's credentials: may read, gets 403 on writes.
    pub fn member(&self) -> Credentials {
        self.credentials(MEMBER_USER, MEMBER_TOKEN)
    }

    fn credentials(&self, user: &str, token: &str) -> Credentials {
        Credentials {
            org_url: self.url(),
            api_user: user.into(),
            api_token: token.into(),
        }
    }

    /// Direct access to the organisation's state, for tests and the demo.
    pub fn org(&self) -> MutexGuard<'_, Org> {
        self.shared.org()
    }

    pub fn welcome_emails(&self) -> Vec<WelcomeEmail> {
        self.org().welcome_emails.clone()
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.org().requests.clone()
    }

    pub fn push_faults<F: Into<FaultRule>>(&self, faults: impl IntoIterator<Item = F>) {
        self.org().faults.extend(faults.into_iter().map(Into::into));
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

/// Accepts connections until shutdown, each served on its own task (HTTP/1.1
/// with keep-alive, over TLS when configured) and closed at shutdown too, so
/// a client's pooled connection to a stopped sandbox fails as it would
/// against a server that went away.
async fn serve(
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
                let http = hyper::server::conn::http1::Builder::new();
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

fn now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

fn error(status: StatusCode, attr: Option<&str>, code: &str, detail: &str) -> Response {
    let mut e = Map::new();
    if let Some(attr) = attr {
        e.insert("attr".into(), json!(attr));
    }
    e.insert("code".into(), json!(code));
    e.insert("detail".into(), json!(detail));
    (status, axum::Json(json!({ "errors": [e] }))).into_response()
}

fn not_exist() -> Response {
    error(
        StatusCode::NOT_FOUND,
        None,
        "not_exist",
        "resource does not exist",
    )
}

enum Caller {
    Admin,
    Member,
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
        _ => None,
    }
}

async fn handle(
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
        });
        org.requests.len() - 1
    };
    let verdict = shared.rate_limit.map(|limit| {
        shared
            .buckets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .check(limit.per_second, &method, Instant::now())
    });
    let mut resp = if !framing.acceptable(&method, shared.allow_chunked) {
        error(
            StatusCode::LENGTH_REQUIRED,
            None,
            "length_required",
            "a request body must be sent with Content-Length, not chunked",
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
    if let Some(v) = verdict {
        let h = resp.headers_mut();
        h.insert("ratelimit-limit-second", HeaderValue::from(v.limit));
        h.insert("ratelimit-remaining-second", HeaderValue::from(v.remaining));
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

/// The answer to an API request the front end let through: the next queued
/// fault that matches it, else the organisation's.
async fn answer(
    shared: &Shared,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    let fault = {
        let mut org = shared.org();
        let index = org
            .faults
            .iter()
            .position(|r| r.method.as_deref().is_none_or(|m| m == method.as_str()));
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

fn route(
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
        // Gladly's public spec has no agent writes; the lifecycle contract
        // has no hard delete.
        (_, ["agents"] | ["agents", _]) if public && write => error(
            StatusCode::METHOD_NOT_ALLOWED,
            None,
            "method_not_allowed",
            "agents are read-only",
        ),
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

/// The sandbox's own endpoints, for people driving it by hand (no auth; it
/// listens on loopback only):
/// - `GET /_sandbox/welcome-emails`: the welcome e-mails "sent";
/// - `GET /_sandbox/requests`: every request received, without credentials;
/// - `POST /_sandbox/faults`: queue faults, e.g.
///   `[{"fault": "rate-limit", "retryAfter": "2"}, {"fault": "status", "status": 503, "method": "POST"}]`;
///   kinds: `rate-limit` (`retryAfter`), `status` (`status`), `delay` (`ms`),
///   `malformed`, `lose-response`, `perform-then` (`status`),
///   `drop-connection`, `echo-request`, `redirect` (`status`, `location`),
///   `json` (`status`, `body`);
///   `method` limits a fault to one method.
fn control(shared: &Shared, method: &Method, path: &str, body: &Bytes) -> Response {
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

fn fault_rule(v: &Value) -> Result<FaultRule, String> {
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
    Ok(FaultRule {
        method: v
            .get("method")
            .and_then(Value::as_str)
            .map(str::to_ascii_uppercase),
        fault,
    })
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

fn full(a: &AgentRec) -> Value {
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
    let email = query.get("emailAddress").map(|e| e.to_lowercase());
    let matching: Vec<&AgentRec> = org
        .agents
        .iter()
        .filter(|a| !active_only || a.active)
        .filter(|a| {
            email
                .as_ref()
                .is_none_or(|e| a.email_address.to_lowercase() == *e)
        })
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

fn parse_body(body: &Bytes) -> Result<Map<String, Value>, Response> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(error(
            StatusCode::BAD_REQUEST,
            None,
            "invalid_json",
            "body must be a JSON object",
        )),
    }
}

/// Checks and applies writable fields from `body` to `a`. `creating` makes
/// `emailAddress`, `name` and `role` required.
fn apply(
    org: &Org,
    a: &mut AgentRec,
    body: &Map<String, Value>,
    creating: bool,
) -> Result<(), Response> {
    let bad =
        |attr: &str, detail: &str| error(StatusCode::BAD_REQUEST, Some(attr), "invalid", detail);
    let string = |k: &str| -> Result<Option<String>, Response> {
        match body.get(k) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(bad(k, "must be a string")),
        }
    };
    for required in ["emailAddress", "name", "role"] {
        if creating && !body.contains_key(required) {
            return Err(bad(required, "is required"));
        }
    }
    if let Some(email) = string("emailAddress")? {
        if !email.contains('@') {
            return Err(bad("emailAddress", "is not an e-mail address"));
        }
        // Unique in the organisation, deactivated agents included.
        if let Some(other) = org
            .agents
            .iter()
            .find(|o| o.id != a.id && o.email_address.to_lowercase() == email.to_lowercase())
        {
            return Err(error(
                StatusCode::CONFLICT,
                Some("emailAddress"),
                "taken",
                &format!("emailAddress is already used by agent {}", other.id),
            ));
        }
        a.email_address = email;
    }
    if let Some(name) = string("name")? {
        if name.trim().is_empty() {
            return Err(bad("name", "must not be empty"));
        }
        a.name = name;
    }
    if let Some(role) = string("role")? {
        if !ROLES.contains(&role.as_str()) {
            return Err(bad("role", "is not a known role"));
        }
        a.role = role;
    }
    for (key, known) in [("inboxes", &org.inboxes), ("teams", &org.teams)] {
        match body.get(key) {
            None => {}
            Some(Value::Array(ids)) => {
                let mut list = Vec::new();
                for id in ids {
                    let Some(id) = id.as_str() else {
                        return Err(bad(key, "must be a list of ids"));
                    };
                    if !known.iter().any(|k| k.id == id) {
                        return Err(bad(key, &format!("{id} does not exist")));
                    }
                    list.push(id.to_string());
                }
                // PATCH replaces the whole array (seed 000).
                if key == "inboxes" {
                    a.inboxes = list;
                } else {
                    a.teams = list;
                }
            }
            Some(_) => return Err(bad(key, "must be a list of ids")),
        }
    }
    match body.get("active") {
        None => {}
        Some(Value::Bool(b)) => a.active = *b,
        Some(_) => return Err(bad("active", "must be true or false")),
    }
    for (key, slot) in [
        ("phoneNumber", &mut a.phone_number),
        ("externalId", &mut a.external_id),
        ("language", &mut a.language),
    ] {
        match body.get(key) {
            None => {}
            Some(Value::Null) => *slot = None,
            Some(Value::String(s)) => *slot = Some(s.clone()),
            Some(_) => return Err(bad(key, "must be a string")),
        }
    }
    match body.get("agentProfile") {
        None => {}
        Some(p @ Value::Object(_)) => a.agent_profile = Some(p.clone()),
        Some(Value::Null) => a.agent_profile = None,
        Some(_) => return Err(bad("agentProfile", "must be an object")),
    }
    Ok(())
}

fn create_agent(org: &mut Org, body: &Bytes) -> Response {
    let body = match parse_body(body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let now = now();
    let mut a = AgentRec {
        id: format!("agt_{:03}", org.next_id + 1),
        email_address: String::new(),
        name: String::new(),
        role: String::new(),
        agent_profile: None,
        inboxes: vec![],
        teams: vec![],
        active: true,
        phone_number: None,
        external_id: None,
        language: None,
        created_at: now.clone(),
        updated_at: now,
        agent_status: "OFFLINE".into(),
    };
    if let Err(r) = apply(org, &mut a, &body, true) {
        return r;
    }
    a.active = true;
    org.next_id += 1;
    org.welcome_emails.push(WelcomeEmail {
        to: a.email_address.clone(),
        agent_id: a.id.clone(),
    });
    let out = full(&a);
    org.agents.push(a);
    (StatusCode::CREATED, axum::Json(out)).into_response()
}

fn patch_agent(org: &mut Org, id: &str, body: &Bytes) -> Response {
    let body = match parse_body(body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(index) = org.agents.iter().position(|a| a.id == id) else {
        return not_exist();
    };
    let mut a = org.agents[index].clone();
    if let Err(r) = apply(org, &mut a, &body, false) {
        return r;
    }
    a.updated_at = now();
    let out = full(&a);
    org.agents[index] = a;
    axum::Json(out).into_response()
}
