//! The engine and the linker: how every harness configures wasmtime, what
//! a component may import, and what one call's store holds.

use std::time::Duration;

use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{Config, Engine, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{RequestOptions, WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::credential::{Completion, Connection};
use crate::gate::Gate;
use crate::limits::{Limiter, Limits};
use crate::outgoing;

/// The imports the harness grants, and nothing else: outgoing HTTP, and
/// what the Rust standard library links beside it (I/O streams and polling,
/// clocks, random seeds, and the `wasi:cli` stdio, environment, exit and
/// terminal interfaces). Filesystem and sockets are not linked at all, so a
/// component that imports them is refused at load; the context behind the
/// linked interfaces is empty (no environment, arguments or stdio).
pub(crate) fn linker(engine: &Engine) -> anyhow::Result<Linker<HostState>> {
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
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

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
pub(crate) fn engine(allocation: Allocation) -> anyhow::Result<Engine> {
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
pub(crate) fn start_epoch_ticker(engine: &Engine) {
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

/// Compiles `bytes`, or loads code compiled earlier from `cache_dir` (see
/// [`crate::cache`]).
pub(crate) fn compile(
    engine: &Engine,
    bytes: &[u8],
    cache_dir: Option<&std::path::Path>,
) -> anyhow::Result<wasmtime::component::Component> {
    Ok(match cache_dir {
        Some(dir) => crate::cache::load_or_compile(engine, bytes, dir)?,
        None => wasmtime::component::Component::new(engine, bytes)?,
    })
}

/// A store for one call (or one SCIM request) holding `state`, under its
/// memory limit. Guest code yields to the executor at every epoch tick, so
/// the call's deadline can end even a guest that never calls the host.
pub(crate) fn store(engine: &Engine, state: HostState) -> wasmtime::Store<HostState> {
    let mut store = wasmtime::Store::new(engine, state);
    store.limiter(|s| &mut s.limits);
    store.set_epoch_deadline(1);
    store.epoch_deadline_async_yield_and_update(1);
    store
}

/// What one call's store holds.
pub(crate) struct HostState {
    pub(crate) wasi: WasiCtx,
    pub(crate) http: WasiHttpCtx,
    pub(crate) table: ResourceTable,
    pub(crate) gate: Gate,
    pub(crate) limits: Limiter,
}

impl HostState {
    pub(crate) fn new(
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
                // Gladly's words may be quoted: this host scrubs everything
                // a call returns by the token it completes.
                .env(gladly_connector::client::SERVER_TEXT_VAR, "quote")
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
                hold: None,
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

impl HostState {
    /// Bounds the call's waits for the rate limit (see [`crate::hold`]).
    pub(crate) fn set_hold(&mut self, hold: std::sync::Arc<crate::hold::Hold>) {
        self.gate.hold = Some(hold);
    }

    /// Lets the store hold up to `n` instances: a composition (the SCIM
    /// gateway with the connector) instantiates more core modules than the
    /// connector alone.
    pub(crate) fn allow_instances(&mut self, n: usize, memory_bytes: usize) {
        self.limits.limits = StoreLimitsBuilder::new()
            .memory_size(memory_bytes)
            .instances(n)
            .build();
    }

    /// Gives the guest these environment variables (and nothing else of
    /// the host's): how the SCIM gateway is configured.
    pub(crate) fn set_env(&mut self, vars: &[(&str, &str)]) {
        let mut b = WasiCtx::builder();
        b.allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        for (k, v) in vars {
            b.env(k, v);
        }
        self.wasi = b.build();
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
