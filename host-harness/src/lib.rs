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
pub mod outgoing;
pub mod output;
pub mod roster;
mod scrub;
pub mod wit;

use std::fmt;
use std::future::Future;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{
    RequestOptions, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView,
};

use bindings::{Connector, ConnectorPre};

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

/// Where and as whom to call Gladly. `Debug` never shows the token.
#[derive(Clone, PartialEq, Eq)]
pub struct Connection {
    pub org_url: String,
    pub api_user: String,
    pub api_token: String,
}

impl Connection {
    pub fn new(
        org_url: impl Into<String>,
        api_user: impl Into<String>,
        api_token: impl Into<String>,
    ) -> Self {
        Self {
            org_url: org_url.into(),
            api_user: api_user.into(),
            api_token: api_token.into(),
        }
    }

    /// The connection the component is given, and what the host must swap
    /// into its requests: with [`CredentialMode::HostCompleted`] the token
    /// stays here and the component gets a fresh placeholder.
    fn to_wit(&self, mode: CredentialMode) -> (generated::Connection, Option<Completion>) {
        let (credential, completion) = match mode {
            CredentialMode::InComponent => {
                (generated::Credential::Token(self.api_token.clone()), None)
            }
            CredentialMode::HostCompleted => {
                let completion = Completion::new(&self.api_user, &self.api_token);
                let placeholder = completion.placeholder.clone();
                (
                    generated::Credential::HostCompleted(placeholder),
                    Some(completion),
                )
            }
        };
        let conn = generated::Connection {
            org_url: self.org_url.clone(),
            api_user: self.api_user.clone(),
            credential,
        };
        (conn, completion)
    }

    /// What is wrong with the token, checked as the component checks it
    /// (never quoting it), for when the host holds it.
    fn token_error(&self) -> Option<Error> {
        let problem = if self.api_token.is_empty() {
            "is empty"
        } else if self
            .api_token
            .chars()
            .any(|c| c.is_control() || c.is_whitespace())
        {
            "contains white space or control characters; copy the token again"
        } else {
            return None;
        };
        Some(Error::InvalidInput(InvalidInputInfo {
            field: "connection.credential.token".into(),
            message: problem.into(),
        }))
    }

    /// `scheme://authority` of the org URL, normalised the way outgoing
    /// requests are compared against it; `None` when it does not parse (the
    /// component then refuses the call before sending anything).
    /// Plain `http://` is allowed only to a loopback host (the component's
    /// own rule, `gladly_connector::validate::is_loopback_host`), checked here
    /// again so that a component that ignores it still cannot make the host
    /// send the completed credential across the network in clear.
    fn allowed_origin(&self) -> Option<(String, String)> {
        let uri: http::Uri = self.org_url.trim().parse().ok()?;
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        match scheme.as_str() {
            "https" => {}
            "http" if gladly_connector::validate::is_loopback_host(uri.host()?) => {}
            _ => return None,
        }
        let authority = normalise_authority(&scheme, uri.authority()?.as_str());
        Some((scheme, authority))
    }
}

fn normalise_authority(scheme: &str, authority: &str) -> String {
    let a = authority.to_ascii_lowercase();
    match (scheme, a.rsplit_once(':')) {
        ("https", Some((host, "443"))) | ("http", Some((host, "80"))) => host.to_string(),
        _ => a,
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("org_url", &self.org_url)
            .field("api_user", &self.api_user)
            .field("api_token", &"<redacted>")
            .finish()
    }
}

/// The sandbox's credentials, to call it with. The sandbox is not part of
/// this library:
/// ```compile_fail
/// use gladly_harness::sandbox::Sandbox; // the sandbox is `gladly_sandbox::Sandbox`
/// ```
impl From<gladly_sandbox::Credentials> for Connection {
    fn from(c: gladly_sandbox::Credentials) -> Self {
        Self::new(c.org_url, c.api_user, c.api_token)
    }
}

/// Who holds the API token during a call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CredentialMode {
    /// The host: the component is given a fresh placeholder per call and
    /// sends `Authorization: Basic <placeholder>`; the host replaces it by
    /// `base64(api-user:token)` on the way out, only in requests to the
    /// org's origin (the only origin it lets the component reach anyway).
    /// The token is never in the component's memory.
    #[default]
    HostCompleted,
    /// The component: it is given the token (WIT `credential::token`).
    InComponent,
}

/// The placeholder of one call and the header value it stands for.
#[derive(Clone)]
struct Completion {
    placeholder: String,
    basic: String,
}

impl Completion {
    fn new(api_user: &str, api_token: &str) -> Self {
        use base64::Engine as _;
        let mut random = [0u8; 16];
        // Without randomness a fixed placeholder would still be swapped only
        // towards the org; unpredictability is a second line, not the first.
        let _ = getrandom::fill(&mut random);
        let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
        let basic = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{api_token}", api_user.trim()));
        Self {
            placeholder: format!("GLADLY_HOST_CREDENTIAL_{hex}"),
            basic,
        }
    }

    /// Replaces the placeholder in every header value, as Obelisk does.
    fn complete(&self, headers: &mut http::HeaderMap) {
        for value in headers.values_mut() {
            let Ok(text) = value.to_str() else { continue };
            if text.contains(&self.placeholder) {
                let done = text.replace(&self.placeholder, &self.basic);
                if let Ok(done) = http::HeaderValue::from_str(&done) {
                    *value = done;
                }
            }
        }
    }
}

/// Limits the host puts on every call.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Linear memory the component may grow to.
    pub memory_bytes: usize,
    /// Wall-clock time one call may take, retries and waits included. The
    /// default, 120 s, is the component's own deadline (100 s,
    /// `CALL_DEADLINE` in the connector's `src/client.rs`, within which a
    /// call ends with a domain error) plus 20 s for instantiating and for
    /// the last answer: this cap stops only a component that overruns.
    pub call_deadline: Duration,
    /// Outgoing HTTP: time to connect.
    pub connect_timeout: Duration,
    /// Outgoing HTTP: time to the first byte of the answer.
    pub first_byte_timeout: Duration,
    /// Outgoing HTTP: time between two chunks of the answer.
    pub between_bytes_timeout: Duration,
    /// Outgoing HTTP: idle connections kept per origin, across calls; 0
    /// opens a new connection for every request.
    pub pool_max_idle_per_origin: usize,
    /// Outgoing HTTP: how long an idle connection is kept.
    pub pool_idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 64 << 20,
            call_deadline: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(10),
            first_byte_timeout: Duration::from_secs(30),
            between_bytes_timeout: Duration::from_secs(30),
            pool_max_idle_per_origin: 8,
            pool_idle_timeout: Duration::from_secs(60),
        }
    }
}

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
        let component = match cache_dir {
            Some(dir) => cache::load_or_compile(&engine, bytes, dir)?,
            None => Component::new(&engine, bytes)?,
        };
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
        let mut store = Store::new(
            self.pre.engine(),
            HostState::new(
                conn,
                completion,
                self.limits,
                self.outgoing.clone(),
                self.memory_peak.clone(),
            ),
        );
        store.limiter(|s| &mut s.limits);
        // Guest code yields to the executor at every epoch tick, so the
        // call's deadline can end even a guest that never calls the host.
        store.set_epoch_deadline(1);
        store.epoch_deadline_async_yield_and_update(1);
        store
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

/// The imports the harness grants, and nothing else: outgoing HTTP, and
/// what the Rust standard library links beside it (I/O streams and polling,
/// clocks, random seeds, and the `wasi:cli` stdio, environment, exit and
/// terminal interfaces). Filesystem and sockets are not linked at all, so a
/// component that imports them is refused at load; the context behind the
/// linked interfaces is empty (no environment, arguments or stdio).
fn linker(engine: &Engine) -> anyhow::Result<Linker<HostState>> {
    use wasmtime_wasi::WasiView as _;
    use wasmtime_wasi::cli::{WasiCli, WasiCliView as _};
    use wasmtime_wasi::p2::bindings::{cli, random};
    use wasmtime_wasi::random::WasiRandom;

    let mut l = Linker::<HostState>::new(engine);
    // io, clocks, random, stdin/stdout/stderr: the wasi:http/proxy set.
    wasmtime_wasi::p2::add_to_linker_proxy_interfaces_async(&mut l)?;
    random::insecure_seed::add_to_linker::<_, WasiRandom>(&mut l, |t| t.ctx().ctx.random())?;
    cli::environment::add_to_linker::<_, WasiCli>(&mut l, HostState::cli)?;
    cli::exit::add_to_linker::<_, WasiCli>(&mut l, HostState::cli)?;
    cli::terminal_input::add_to_linker::<_, WasiCli>(&mut l, HostState::cli)?;
    cli::terminal_output::add_to_linker::<_, WasiCli>(&mut l, HostState::cli)?;
    cli::terminal_stdin::add_to_linker::<_, WasiCli>(&mut l, HostState::cli)?;
    cli::terminal_stdout::add_to_linker::<_, WasiCli>(&mut l, HostState::cli)?;
    cli::terminal_stderr::add_to_linker::<_, WasiCli>(&mut l, HostState::cli)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut l)?;
    Ok(l)
}

/// Every tick lets running guests yield (see [`Harness::call`]).
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// How a harness allocates the memory of its instances.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Allocation {
    /// Map memory per call. Cheapest to start: right for short-lived hosts
    /// such as the CLI.
    #[default]
    OnDemand,
    /// Reserve slots for this many concurrent calls up front, each of at most
    /// `max_memory_bytes` of linear memory (which then also caps
    /// `Limits::memory_bytes`). Costs a few milliseconds at load and saves
    /// about a third of each instantiation: right for long-running hosts.
    /// A call beyond `max_concurrent_calls` fails with a host error.
    Pooled {
        max_concurrent_calls: u32,
        max_memory_bytes: usize,
    },
}

/// The engine configuration every harness uses; the compiled-code cache is
/// keyed by it too.
fn engine(allocation: Allocation) -> anyhow::Result<Engine> {
    let mut config = Config::new();
    config.epoch_interruption(true);
    if let Allocation::Pooled {
        max_concurrent_calls: n,
        max_memory_bytes,
    } = allocation
    {
        // The component instantiates a handful of core instances, memories
        // and tables (the guest and the adapters wit-component adds).
        let mut pool = wasmtime::PoolingAllocationConfig::new();
        pool.total_component_instances(n)
            .total_core_instances(n.saturating_mul(4))
            .total_memories(n.saturating_mul(2))
            .total_tables(n.saturating_mul(4))
            .max_memory_size(max_memory_bytes);
        config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
    }
    Ok(Engine::new(&config)?)
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until the engine is gone.
fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    let spawned = std::thread::Builder::new()
        .name("gladly-harness-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        });
    // Without the ticker a runaway guest could outlive its deadline, but
    // calls still work; a thread that cannot start is not worth failing for.
    if let Err(e) = spawned {
        eprintln!("gladly-harness: no epoch ticker ({e}); deadlines will not stop busy guests");
    }
}

/// What one call's store holds.
struct HostState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    gate: Gate,
    limits: Limiter,
}

/// The store's limits, noting the largest memory a call grew to.
struct Limiter {
    limits: StoreLimits,
    peak: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.limits.memory_growing(current, desired, maximum)?;
        if allowed {
            self.peak
                .fetch_max(desired, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

impl HostState {
    fn new(
        conn: &Connection,
        completion: Option<Completion>,
        limits: Limits,
        outgoing: outgoing::Outgoing,
        peak: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    ) -> Self {
        Self {
            wasi: WasiCtx::builder()
                .allow_tcp(false)
                .allow_udp(false)
                .allow_ip_name_lookup(false)
                .build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            gate: Gate {
                allowed: conn.allowed_origin(),
                completion,
                options: RequestOptions {
                    connect_timeout: Some(limits.connect_timeout),
                    first_byte_timeout: Some(limits.first_byte_timeout),
                    between_bytes_timeout: Some(limits.between_bytes_timeout),
                },
                outgoing,
            },
            limits: Limiter {
                limits: StoreLimitsBuilder::new()
                    .memory_size(limits.memory_bytes)
                    .instances(4)
                    .build(),
                peak,
            },
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.gate,
        }
    }
}

/// Lets outgoing HTTP reach only the origin of the call's `org-url`, under
/// the host's timeouts, over the harness's pooled connections, completing
/// the credential on the way out.
struct Gate {
    allowed: Option<(String, String)>,
    completion: Option<Completion>,
    options: RequestOptions,
    outgoing: outgoing::Outgoing,
}

type SendFuture = Box<
    dyn Future<
            Output = wasmtime_wasi_http::Result<(
                http::Response<WasiBody>,
                Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
            )>,
        > + Send,
>;

impl WasiHttpHooks for Gate {
    fn send_request(
        &mut self,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> SendFuture {
        let uri = request.uri();
        let origin = uri.scheme_str().zip(uri.authority()).map(|(s, a)| {
            let s = s.to_ascii_lowercase();
            let a = normalise_authority(&s, a.as_str());
            (s, a)
        });
        if origin.is_none() || origin != self.allowed {
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        // Only past the origin gate: the token goes to the org and nowhere else.
        if let Some(completion) = &self.completion {
            completion.complete(request.headers_mut());
        }
        // The guest may ask for shorter timeouts, never longer ones.
        let tighter = |guest: Option<Duration>, host: Option<Duration>| match (guest, host) {
            (Some(g), Some(h)) => Some(g.min(h)),
            (g, h) => g.or(h),
        };
        let guest = options.unwrap_or_default();
        let options = RequestOptions {
            connect_timeout: tighter(guest.connect_timeout, self.options.connect_timeout),
            first_byte_timeout: tighter(guest.first_byte_timeout, self.options.first_byte_timeout),
            between_bytes_timeout: tighter(
                guest.between_bytes_timeout,
                self.options.between_bytes_timeout,
            ),
        };
        let outgoing = self.outgoing.clone();
        Box::new(async move {
            let resp = outgoing.send(request, options).await?;
            // The pool drives the connection; nothing is left to await.
            Ok((
                resp,
                Box::new(async { Ok(()) }) as Box<dyn Future<Output = _> + Send>,
            ))
        })
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

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use std::pin::Pin;

    fn empty_request(uri: &str) -> http::Request<WasiBody> {
        let body = http_body_util::Empty::<axum::body::Bytes>::new()
            .map_err(|never| match never {})
            .boxed_unsync();
        http::Request::get(uri).body(body).unwrap()
    }

    async fn send(gate: &mut Gate, uri: &str) -> wasmtime_wasi_http::Result<()> {
        let fut = gate.send_request(empty_request(uri), None, Box::new(async { Ok(()) }));
        Pin::from(fut).await.map(|_| ())
    }

    #[tokio::test]
    async fn requests_beyond_the_org_origin_are_denied() {
        let conn = Connection::new("https://acme.gladly.com", "u", "t");
        let mut gate = Gate {
            allowed: conn.allowed_origin(),
            completion: None,
            options: RequestOptions::default(),
            outgoing: outgoing::Outgoing::new(Limits::default(), None).unwrap(),
        };
        for uri in [
            "https://evil.example/api/v1/agents",
            "http://acme.gladly.com/api/v1/agents",
            "https://acme.gladly.com:8443/api/v1/agents",
            "https://acme.gladly.com.evil.example/api/v1/agents",
        ] {
            let r = send(&mut gate, uri).await;
            assert!(
                matches!(r, Err(wasmtime_wasi_http::Error::HttpRequestDenied)),
                "expected {uri} to be denied, got {r:?}"
            );
        }
    }

    #[tokio::test]
    async fn an_unparsable_org_url_allows_nothing() {
        let mut gate = Gate {
            allowed: Connection::new("not a url", "u", "t").allowed_origin(),
            completion: None,
            options: RequestOptions::default(),
            outgoing: outgoing::Outgoing::new(Limits::default(), None).unwrap(),
        };
        let r = send(&mut gate, "https://acme.gladly.com/").await;
        assert!(
            matches!(r, Err(wasmtime_wasi_http::Error::HttpRequestDenied)),
            "got {r:?}"
        );
    }

    #[tokio::test]
    async fn plain_http_is_allowed_only_to_loopback_hosts() {
        for org in [
            "http://127.0.attacker.example",
            "http://127.0.0.attacker:8080",
            "http://localhost.attacker.example",
            "ftp://127.0.0.1",
        ] {
            let mut gate = Gate {
                allowed: Connection::new(org, "u", "t").allowed_origin(),
                completion: None,
                options: RequestOptions::default(),
                outgoing: outgoing::Outgoing::new(Limits::default(), None).unwrap(),
            };
            let r = send(&mut gate, &format!("{org}/api/v1/agents")).await;
            assert!(
                matches!(r, Err(wasmtime_wasi_http::Error::HttpRequestDenied)),
                "expected plain http to {org} to be denied, got {r:?}"
            );
        }
        for org in [
            "http://127.0.0.1:8080",
            "http://localhost:1",
            "http://[::1]:9",
        ] {
            assert!(
                Connection::new(org, "u", "t").allowed_origin().is_some(),
                "{org} is loopback"
            );
        }
    }

    #[test]
    fn default_ports_compare_equal() {
        let c = Connection::new("https://ACME.gladly.com:443/api/v1", "u", "t");
        assert_eq!(
            c.allowed_origin(),
            Some(("https".to_string(), "acme.gladly.com".to_string()))
        );
    }
}
