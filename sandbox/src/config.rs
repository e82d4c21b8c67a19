//! How a sandbox is set up: which API it imitates, where it listens, and
//! what its front end enforces.

use std::time::Duration;

use crate::front::RateLimit;
use crate::tls::TlsCert;

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
