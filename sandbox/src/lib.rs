//! A Gladly sandbox: an in-memory organisation served over HTTP on loopback.
//!
//! [`Profile::Lifecycle`] follows the integration guide's contract (seed 000,
//! GLADLY-API.md part 1): Basic auth with an administrator's and a
//! non-administrator's token, cursor pages (default 20, at most 100),
//! `active` and `emailAddress` filters, 409 for any existing e-mail
//! (deactivated agents too), PATCH replacing arrays whole, unknown inbox and
//! team ids refused, no DELETE, a record of every welcome e-mail sent;
//! writes answered as seed 000's examples are (a create with five fields,
//! a PATCH with the id and the fields it sent), not with the whole agent.
//!
//! [`Profile::PublicSpec`] behaves like Gladly's public REST spec (part 2):
//! read-only agents with only `{id, name, emailAddress}`, plain-array lists
//! that ignore paging and filters, teams with `agentIds`, inboxes with
//! `disabled`, and `/organization`; a 404 (its only documented refusal of
//! a route) to agent writes, with `errors` as a single object.
//!
//! In front of both stands what a strict front end checks ([`front`]): a
//! write whose body is chunked or has no `Content-Length` is answered
//! `411 Length Required`, one that does not declare JSON `415 Unsupported
//! Media Type`, and Gladly's published rate limit (10 requests per
//! second per method, `Ratelimit-Limit-Second` and
//! `Ratelimit-Remaining-Second` on every answer, 429 beyond it) is kept.
//! It serves HTTP, or HTTPS with a certificate made at start ([`tls`]), and
//! can delay every new connection, as a TLS handshake across the internet
//! would.
//!
//! Faults can be queued ([`Fault`]) to test retries: 429 storms with
//! `Retry-After` and a proxy's bare 429, 5xx, a proxy's HTML pages, slow
//! answers, answers cut off, malformed bodies, redirects, echoed
//! credentials.

#![deny(unsafe_code)]

mod config;
mod control;
mod errors;
mod faults;
pub mod front;
mod org;
mod routes;
mod server;
pub mod tls;
mod writes;

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use tokio::sync::watch;

pub use config::{Profile, SandboxConfig};
pub use faults::{EchoForm, Fault, FaultRule};
pub use front::{Framing, RateLimit, Window};
pub use org::{AgentRec, NamedRec, Org, RecordedRequest, WelcomeEmail};
pub use tls::TlsCert;

use server::{Shared, handle, serve};

/// Credentials the sandbox accepts. Not secrets: they exist only here.
pub const ADMIN_USER: &str = "admin@acme.example";
pub const ADMIN_TOKEN: &str = "sandbox-admin-token";
pub const MEMBER_USER: &str = "agent@acme.example";
pub const MEMBER_TOKEN: &str = "sandbox-agent-token";
/// An administrator's token restricted to IP ranges the sandbox's callers
/// are outside of: every request is refused 403, reads too (Gladly lets
/// a token be restricted so).
pub const RESTRICTED_USER: &str = "ops@acme.example";
pub const RESTRICTED_TOKEN: &str = "sandbox-restricted-token";

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

    /// An IP-restricted administrator's credentials, used from outside its
    /// ranges: 403 on every request.
    pub fn ip_restricted(&self) -> Credentials {
        self.credentials(RESTRICTED_USER, RESTRICTED_TOKEN)
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
