//! The one seam between the core and the network: send a request, get a
//! response. The component supplies a wasi:http transport, native
//! benchmarks a native one, unit tests a scripted one.

use std::fmt;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Patch,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Patch => "PATCH",
        }
    }

    /// Whether sending the request twice has the effect of sending it once.
    /// PATCH qualifies because the connector only ever sends absolute values.
    pub fn is_idempotent(self) -> bool {
        !matches!(self, Method::Post)
    }
}

/// An outgoing request. `Debug` hides the `Authorization` header.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    /// The most the request may take, from connecting to the answer's last
    /// byte: what is left of the call's deadline. `None`: only the
    /// transport's own limits.
    pub timeout: Option<Duration>,
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(k, v)| {
                if k.eq_ignore_ascii_case("authorization") {
                    (k.as_str(), "<redacted>")
                } else {
                    (k.as_str(), v.as_str())
                }
            })
            .collect();
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &headers)
            .field("body", &self.body.as_deref().map(String::from_utf8_lossy))
            .field("timeout", &self.timeout)
            .finish()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportErrorKind {
    /// The host refused the request (e.g. wasi:http `HTTP-request-denied`);
    /// retrying cannot help.
    Denied,
    /// No connection could be made; the request was not sent.
    Connect,
    /// The request may have reached Gladly but no complete answer came back
    /// (timeout, reset, truncated body).
    Lost,
    /// The server's TLS certificate was refused (another name, expired, an
    /// untrusted CA): retrying cannot help until someone fixes it.
    Certificate,
    /// The answer is larger than the transport will read; asking again gets
    /// the same answer.
    TooLarge,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransportError {
    pub kind: TransportErrorKind,
    pub message: String,
}

impl TransportError {
    pub fn new(kind: TransportErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

/// What the core needs from its environment.
pub trait Transport {
    fn send(&mut self, request: &HttpRequest) -> Result<HttpResponse, TransportError>;

    /// Waits before a retry. Scripted transports record instead of sleeping.
    fn sleep(&mut self, duration: Duration);

    /// A number in `[0, 1)` for backoff jitter.
    fn jitter(&mut self) -> f64;

    /// Seconds since the Unix epoch, to read a `Retry-After` HTTP date.
    fn now_unix(&mut self) -> u64;

    /// A setting from the host's environment (the component's
    /// wasi:cli/environment), by name: only the pacing settings of
    /// [`crate::pacing::Slots`] (and, with them, the engine's API,
    /// [`crate::obelisk_nodes::API_VAR`]) and `GLADLY_SERVER_TEXT` are
    /// asked for. None by default.
    fn setting(&mut self, _name: &str) -> Option<String> {
        None
    }

    /// A monotonic clock, to pace requests to the rate limit. Scripted
    /// transports answer with simulated time.
    fn monotonic(&mut self) -> Duration {
        std_monotonic()
    }
}

/// The environment's own clock, sleep and randomness: what both the
/// component (through wasi:clocks and wasi:random) and native hosts have.
pub fn std_sleep(duration: Duration) {
    std::thread::sleep(duration);
}

pub fn std_jitter() -> f64 {
    use std::collections::hash_map::RandomState;
    use std::hash::BuildHasher;
    // RandomState is seeded from the platform's randomness (wasi:random in the
    // component); hashing a constant with it gives a fresh random u64.
    let bits = RandomState::new().hash_one(0u8);
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// Time since the first call, on the environment's monotonic clock
/// (wasi:clocks/monotonic-clock in the component).
pub fn std_monotonic() -> Duration {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START.get_or_init(std::time::Instant::now).elapsed()
}

pub fn std_now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
