//! A wasmtime 48 host for the Gladly provisioning connector. The Gladly
//! sandbox to run it against is its own crate, `gladly-sandbox`.
//!
//! ```no_run
//! # async fn run() -> anyhow::Result<()> {
//! use gladly_harness::{Connection, Harness, agents::AgentKey};
//! let harness = Harness::embedded()?; // the component this crate was built with
//! let conn = Connection::new("https://acme.gladly.com", "api@acme.com", "token");
//! match harness.lookup(&conn, &AgentKey::Email("jane@acme.com".into())).await? {
//!     Ok(agent) => println!("{agent:?}"),
//!     Err(domain_error) => eprintln!("{domain_error}"),
//! }
//! # Ok(()) }
//! ```
//!
//! Every call returns `anyhow::Result<Result<T, agents::Error>>`: the outer
//! error is a host failure (the component trapped, ran out of memory or
//! time), the inner one the connector's domain answer.
#![deny(unsafe_code)]

mod bindings;
pub mod cache;
mod credential;
mod engine;
mod gate;
mod hold;
mod limits;
pub mod outgoing;
pub mod output;
pub mod roster;
pub mod scim;
mod scrub;
pub mod wit;

pub use credential::{Connection, CredentialMode};
pub use engine::Allocation;
pub use limits::Limits;

use std::future::Future;

use anyhow::{Context as _, anyhow};
use wasmtime::Store;

use credential::Completion;

use bindings::{Connector, ConnectorPre};
use engine::{HostState, compile, engine, linker, start_epoch_ticker, store};

/// The WIT types of the `agents` interface, as host-side Rust values.
pub mod agents {
    pub use crate::bindings::exports::gladly::provisioning::agents::{
        Agent, AgentChanges, AgentKey, AgentProfile, AgentStatus, ApiFlavor, Availability,
        ConflictInfo, ConnectionInfo, Error, Inbox, InvalidInputInfo, MembershipChange,
        MembershipDelta, NewAgent, Outcome, PlannedRequest, RateLimitedInfo, RetryPolicy, Role,
        Team, UpstreamInfo, WriteOptions, WriteResult,
    };
}
use agents::*;
use bindings::exports::gladly::provisioning::agents as generated;

/// The component this crate was built with (release build, by `build.rs`).
pub const EMBEDDED_COMPONENT: &[u8] = include_bytes!(env!("GLADLY_COMPONENT_WASM"));

/// The loaded, compiled, pre-linked component: compile once, call many times.
#[derive(Clone)]
pub struct Harness {
    pre: ConnectorPre<HostState>,
    limits: Limits,
    credential_mode: CredentialMode,
    outgoing: outgoing::Outgoing,
    /// The most linear memory any call of this harness has grown to.
    memory_peak: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Harness {
    /// The component embedded in this crate at build time.
    pub fn embedded() -> anyhow::Result<Self> {
        Self::from_bytes(EMBEDDED_COMPONENT)
    }

    /// A component file, e.g. `target/wasm32-wasip2/release/gladly_connector.wasm`.
    pub fn from_file(path: impl AsRef<std::path::Path>) -> anyhow::Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read the component at {}", path.display()))?;
        Self::from_bytes(&bytes).with_context(|| format!("cannot load {}", path.display()))
    }

    /// Compiles `bytes` (no cache).
    pub fn from_bytes(bytes: &[u8]) -> anyhow::Result<Self> {
        Self::load(bytes, None)
    }

    /// Compiles `bytes`, or, when `cache_dir` holds code compiled earlier
    /// from the same bytes by the same wasmtime with the same configuration,
    /// loads that instead (see [`cache`]). Instances are allocated on demand.
    pub fn load(bytes: &[u8], cache_dir: Option<&std::path::Path>) -> anyhow::Result<Self> {
        Self::load_with(bytes, cache_dir, Allocation::OnDemand)
    }

    /// As [`Harness::load`], choosing how instances are allocated.
    pub fn load_with(
        bytes: &[u8],
        cache_dir: Option<&std::path::Path>,
        allocation: Allocation,
    ) -> anyhow::Result<Self> {
        let engine = engine(allocation)?;
        let component = compile(&engine, bytes, cache_dir)?;
        let linker = linker(&engine)?;
        let pre = ConnectorPre::new(linker.instantiate_pre(&component)?)?;
        start_epoch_ticker(&engine);
        let limits = Limits::default();
        Ok(Self {
            pre,
            limits,
            credential_mode: CredentialMode::default(),
            outgoing: outgoing::Outgoing::new(limits, None)?,
            memory_peak: Default::default(),
        })
    }

    /// These limits, with new connection pools under them.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self.outgoing = self.outgoing.with_limits(limits);
        self
    }

    /// Trusts the CA certificates in `pem` beside the system's roots (a
    /// private CA, or the sandbox's), with new connection pools.
    pub fn with_extra_ca(mut self, pem: &[u8]) -> anyhow::Result<Self> {
        self.outgoing = outgoing::Outgoing::new(self.limits, Some(pem))?;
        Ok(self)
    }

    /// As [`Harness::with_extra_ca`], from a PEM file.
    pub fn with_ca_file(self, path: impl AsRef<std::path::Path>) -> anyhow::Result<Self> {
        let path = path.as_ref();
        let pem = std::fs::read(path)
            .with_context(|| format!("cannot read the CA file {}", path.display()))?;
        self.with_extra_ca(&pem)
            .with_context(|| format!("cannot use the CA file {}", path.display()))
    }

    /// Who holds the token during calls; [`CredentialMode::HostCompleted`]
    /// unless changed.
    pub fn with_credential_mode(mut self, mode: CredentialMode) -> Self {
        self.credential_mode = mode;
        self
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The most linear memory (bytes) any call of this harness (and its
    /// clones) has grown to so far; for benchmarks and capacity planning.
    pub fn memory_peak(&self) -> usize {
        self.memory_peak.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Instantiates the component for one call to `conn`, runs `call` under
    /// the deadline, drops the instance, and scrubs the answer of the
    /// credentials (see [`scrub`]).
    async fn call<T, F, Fut>(&self, conn: &Connection, call: F) -> anyhow::Result<Result<T, Error>>
    where
        T: scrub::Scrub,
        F: FnOnce(Connector, Store<HostState>, generated::Connection) -> Fut,
        Fut: Future<Output = wasmtime::Result<Result<T, Error>>>,
    {
        let mut answer = self.call_unscrubbed(conn, call).await?;
        // With the credential completed here the component never knew the
        // token, so it could not scrub it; the host can. (Handed the token,
        // the component scrubs it, and what it returns is left as it is.)
        if self.credential_mode == CredentialMode::HostCompleted {
            scrub::Scrub::scrub(
                &mut answer,
                &scrub::secrets(&conn.api_user, &conn.api_token),
            );
        }
        Ok(answer)
    }

    async fn call_unscrubbed<T, F, Fut>(
        &self,
        conn: &Connection,
        call: F,
    ) -> anyhow::Result<Result<T, Error>>
    where
        F: FnOnce(Connector, Store<HostState>, generated::Connection) -> Fut,
        Fut: Future<Output = wasmtime::Result<Result<T, Error>>>,
    {
        // The component cannot check a token it never sees.
        if self.credential_mode == CredentialMode::HostCompleted
            && let Some(e) = conn.token_error()
        {
            return Ok(Err(e));
        }
        let (wit_conn, completion) = conn.to_wit(self.credential_mode);
        let mut store = self.store(conn, completion);
        let instance = self.pre.instantiate_async(&mut store).await?;
        match tokio::time::timeout(self.limits.call_deadline, call(instance, store, wit_conn)).await
        {
            Ok(r) => r
                .map_err(anyhow::Error::from)
                .context("the connector component failed"),
            Err(_) => Err(anyhow!(
                "the call did not finish within its deadline of {:?}",
                self.limits.call_deadline
            )),
        }
    }

    /// Creates a store and an instance under the limits and drops them: what
    /// every call pays before it runs. For benchmarks and health checks.
    pub async fn instantiate_and_drop(&self, conn: &Connection) -> anyhow::Result<()> {
        let mut store = self.store(conn, None);
        self.pre.instantiate_async(&mut store).await?;
        Ok(())
    }

    /// A fresh store for one call to `conn`, under the limits.
    fn store(&self, conn: &Connection, completion: Option<Completion>) -> Store<HostState> {
        store(
            self.pre.engine(),
            HostState::new(
                conn,
                completion,
                self.limits,
                self.outgoing.clone(),
                self.memory_peak.clone(),
            ),
        )
    }

    pub async fn provision(
        &self,
        conn: &Connection,
        agent: &NewAgent,
        options: &WriteOptions,
    ) -> anyhow::Result<Result<WriteResult, Error>> {
        self.call(conn, async |i, mut s, c| {
            i.gladly_provisioning_agents()
                .call_provision(&mut s, &c, agent, *options)
                .await
        })
        .await
    }

    pub async fn update(
        &self,
        conn: &Connection,
        key: &AgentKey,
        changes: &AgentChanges,
        options: &WriteOptions,
    ) -> anyhow::Result<Result<WriteResult, Error>> {
        self.call(conn, async |i, mut s, c| {
            i.gladly_provisioning_agents()
                .call_update(&mut s, &c, key, changes, *options)
                .await
        })
        .await
    }

    pub async fn offboard(
        &self,
        conn: &Connection,
        key: &AgentKey,
        options: &WriteOptions,
    ) -> anyhow::Result<Result<WriteResult, Error>> {
        self.call(conn, async |i, mut s, c| {
            i.gladly_provisioning_agents()
                .call_offboard(&mut s, &c, key, *options)
                .await
        })
        .await
    }

    pub async fn lookup(
        &self,
        conn: &Connection,
        key: &AgentKey,
    ) -> anyhow::Result<Result<Option<Agent>, Error>> {
        self.call(conn, async |i, mut s, c| {
            i.gladly_provisioning_agents()
                .call_lookup(&mut s, &c, key)
                .await
        })
        .await
    }

    pub async fn list_agents(
        &self,
        conn: &Connection,
        active_only: bool,
    ) -> anyhow::Result<Result<Vec<Agent>, Error>> {
        self.call(conn, async |i, mut s, c| {
            i.gladly_provisioning_agents()
                .call_list_agents(&mut s, &c, active_only)
                .await
        })
        .await
    }

    pub async fn list_teams(&self, conn: &Connection) -> anyhow::Result<Result<Vec<Team>, Error>> {
        self.call(conn, async |i, mut s, c| {
            i.gladly_provisioning_agents()
                .call_list_teams(&mut s, &c)
                .await
        })
        .await
    }

    pub async fn list_inboxes(
        &self,
        conn: &Connection,
    ) -> anyhow::Result<Result<Vec<Inbox>, Error>> {
        self.call(conn, async |i, mut s, c| {
            i.gladly_provisioning_agents()
                .call_list_inboxes(&mut s, &c)
                .await
        })
        .await
    }

    pub async fn get_availability(
        &self,
        conn: &Connection,
        agent_id: &str,
    ) -> anyhow::Result<Result<Availability, Error>> {
        self.call(conn, async |i, mut s, c| {
            i.gladly_provisioning_agents()
                .call_get_availability(&mut s, &c, agent_id)
                .await
        })
        .await
    }

    pub async fn check_connection(
        &self,
        conn: &Connection,
    ) -> anyhow::Result<Result<ConnectionInfo, Error>> {
        self.call(conn, async |i, mut s, c| {
            i.gladly_provisioning_agents()
                .call_check_connection(&mut s, &c)
                .await
        })
        .await
    }

    /// Every change that makes the organisation match `desired` (reads
    /// only).
    pub async fn plan(
        &self,
        conn: &Connection,
        desired: &[roster::DesiredAgent],
        options: &roster::PlanOptions,
    ) -> anyhow::Result<Result<roster::RosterPlan, Error>> {
        self.call(conn, async |i, mut s, c| {
            i.gladly_provisioning_roster()
                .call_plan(&mut s, &c, desired, options)
                .await
        })
        .await
    }

    /// Makes one planned change, after checking the agent is still as the
    /// plan saw it.
    pub async fn apply_change(
        &self,
        conn: &Connection,
        change: &roster::Change,
        options: &roster::ApplyOptions,
    ) -> anyhow::Result<Result<roster::ChangeResult, Error>> {
        self.call(conn, async |i, mut s, c| {
            i.gladly_provisioning_roster()
                .call_apply_change(&mut s, &c, change, *options)
                .await
        })
        .await
    }
}

/// The WIT case name of a domain error, as the CLI prints it.
pub fn error_case(e: &Error) -> &'static str {
    match e {
        Error::Unauthorized(_) => "unauthorized",
        Error::Forbidden(_) => "forbidden",
        Error::NotFound(_) => "not-found",
        Error::Conflict(_) => "conflict",
        Error::RateLimited(_) => "rate-limited",
        Error::InvalidInput(_) => "invalid-input",
        Error::Unsupported(_) => "unsupported",
        Error::Upstream(_) => "upstream",
        Error::Transport(_) => "transport",
    }
}

/// One sentence a person can act on.
pub fn error_message(e: &Error) -> String {
    match e {
        Error::Unauthorized(m)
        | Error::Forbidden(m)
        | Error::NotFound(m)
        | Error::Unsupported(m)
        | Error::Transport(m) => m.clone(),
        Error::Conflict(c) if c.agent_ids.is_empty() => c.message.clone(),
        Error::Conflict(c) => format!("{} (agents: {})", c.message, c.agent_ids.join(", ")),
        Error::RateLimited(r) => r.message.clone(),
        Error::InvalidInput(i) => format!("{}: {}", i.field, i.message),
        Error::Upstream(u) if u.body_excerpt.is_empty() => u.message.clone(),
        Error::Upstream(u) => format!("{} Body: {}", u.message, u.body_excerpt),
    }
}
