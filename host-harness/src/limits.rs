//! The limits the host puts on every call: [`Limits`], settable per
//! harness, and the store's [`Limiter`] that enforces the memory cap.

use std::time::Duration;

use wasmtime::StoreLimits;

/// Limits the host puts on every call.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Linear memory the component may grow to: 128 MiB by default, above
    /// the most the connector was measured to use under its caps on what it
    /// reads (85 MiB, README "The host harness").
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
    /// Requests per second and method this harness sends to an
    /// organisation at most, for all its calls together, whatever the
    /// organisation's limit: its fixed share when several instances share
    /// one organisation. `None`: the limit Gladly's answers declare.
    pub rate_share: Option<usize>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 128 << 20,
            call_deadline: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(10),
            first_byte_timeout: Duration::from_secs(30),
            between_bytes_timeout: Duration::from_secs(30),
            pool_max_idle_per_origin: 8,
            pool_idle_timeout: Duration::from_secs(60),
            rate_share: None,
        }
    }
}

/// The store's limits, noting the largest memory a call grew to.
pub(crate) struct Limiter {
    pub(crate) limits: StoreLimits,
    pub(crate) peak: std::sync::Arc<std::sync::atomic::AtomicUsize>,
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
