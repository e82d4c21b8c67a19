//! Outgoing HTTP for the component: what `WasiHttpHooks::send_request`
//! hands a request to once [`crate::Gate`] has let it through.
//!
//! wasmtime-wasi-http's default sender opens a connection (and, to a real
//! organisation, a TLS handshake) for every request. This one keeps
//! connections alive in a pool per origin (scheme, host and port), shared by
//! every call of a [`crate::Harness`] and bounded in size and idle time, so a
//! walk of 10,000 agents is one handshake, not a hundred. The gate has
//! already limited each call to its organisation's origin, so a pooled
//! connection is only ever used for the origin it was opened to.
//!
//! TLS trusts the system's roots and, optionally, an extra CA (a private CA,
//! or the sandbox's). A certificate refused for its name, its dates or its
//! issuer reaches the component as wasi:http's `TLS-certificate-error`.
//! Redirects are never followed: the component sees the 3xx.
//!
//! It also paces across calls: when an organisation's answer says its
//! second is spent for a method (`Ratelimit-Remaining-Second: 0`), the next
//! request of that method to it, from any call, waits until a slot frees.

use std::error::Error as StdError;
use std::future::Future as _;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use anyhow::Context as _;
use axum::body::Bytes;
use gladly_connector::pacing::{Pacer, PerMethod, RateHeaders};
use gladly_connector::transport::Method;
use http_body_util::BodyExt;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

use crate::Limits;
use crate::hold::{Hold, retry_after_secs};

type Pool = Client<HttpsConnector<HttpConnector<Resolver>>, WasiBody>;

/// Names as the system resolves them, but `localhost`, the one name the
/// loopback rule lets take `http://` (with the credential in clear), which
/// is the loopback addresses themselves and never asked of the system: a
/// system without it in its hosts file may ask DNS (glibc, with a search
/// domain), and whoever answered would get the credential. The rule is
/// then kept by where the connection goes, not by what the name says.
#[derive(Clone)]
struct Resolver(hyper_util::client::legacy::connect::dns::GaiResolver);

type Addrs = std::vec::IntoIter<std::net::SocketAddr>;

impl tower_service::Service<hyper_util::client::legacy::connect::dns::Name> for Resolver {
    type Response = Addrs;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn std::future::Future<Output = std::io::Result<Addrs>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, name: hyper_util::client::legacy::connect::dns::Name) -> Self::Future {
        if is_localhost(name.as_str()) {
            let loopback = vec![
                std::net::SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, 0)),
                std::net::SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 0)),
            ];
            return Box::pin(std::future::ready(Ok(loopback.into_iter())));
        }
        let resolving = self.0.call(name);
        Box::pin(async move { Ok(resolving.await?.collect::<Vec<_>>().into_iter()) })
    }
}

/// `localhost`, in any case, with or without its root's dot.
fn is_localhost(name: &str) -> bool {
    name.strip_suffix('.')
        .unwrap_or(name)
        .eq_ignore_ascii_case("localhost")
}

/// A harness's connection pools. Cloning shares them.
#[derive(Clone)]
pub struct Outgoing {
    inner: Arc<Inner>,
}

struct Inner {
    limits: Limits,
    extra_ca: Option<Vec<CertificateDer<'static>>>,
    /// Plain HTTP needs no roots; HTTPS loads them once, on first use, so a
    /// short-lived CLI call to an `http://` sandbox never reads them.
    http: OnceLock<Pool>,
    https: OnceLock<Result<Pool, String>>,
    /// Per origin and method: the pacing state (the core's rule, the same
    /// the component applies within a call), with times counted from
    /// `epoch`.
    pacing: std::sync::Mutex<std::collections::HashMap<String, PerMethod<Pacer>>>,
    epoch: tokio::time::Instant,
}

impl Outgoing {
    /// Pools under `limits`, trusting the system's roots and the
    /// certificates in `extra_ca_pem` (PEM), if any.
    pub fn new(limits: Limits, extra_ca_pem: Option<&[u8]>) -> anyhow::Result<Self> {
        let extra_ca = match extra_ca_pem {
            None => None,
            Some(pem) => {
                let certs = CertificateDer::pem_slice_iter(pem)
                    .collect::<Result<Vec<_>, _>>()
                    .context("the CA file is not PEM")?;
                anyhow::ensure!(!certs.is_empty(), "the CA file holds no certificate");
                Some(certs)
            }
        };
        Ok(Self {
            inner: Arc::new(Inner {
                limits,
                extra_ca,
                http: OnceLock::new(),
                https: OnceLock::new(),
                pacing: Default::default(),
                epoch: tokio::time::Instant::now(),
            }),
        })
    }

    /// The same trust, under other limits (new, empty pools).
    pub fn with_limits(&self, limits: Limits) -> Self {
        Self {
            inner: Arc::new(Inner {
                limits,
                extra_ca: self.inner.extra_ca.clone(),
                http: OnceLock::new(),
                https: OnceLock::new(),
                pacing: Default::default(),
                epoch: tokio::time::Instant::now(),
            }),
        }
    }

    /// Sends `request` on a pooled connection to its origin, under the
    /// timeouts in `options` (the first-byte timeout counts from sending,
    /// including setting up a new connection), within the call's `hold` on
    /// rate-limit waits, if any.
    pub(crate) async fn send(
        &self,
        request: http::Request<WasiBody>,
        options: RequestOptions,
        hold: Option<&Hold>,
    ) -> Result<http::Response<WasiBody>, Error> {
        let https = request.uri().scheme() == Some(&http::uri::Scheme::HTTPS);
        let pool = if https {
            self.inner
                .https
                .get_or_init(|| self.pool(true))
                .as_ref()
                .map_err(|e| Error::InternalError(Some(e.clone())))?
        } else {
            self.inner.http.get_or_init(|| {
                self.pool(false)
                    .expect("a plain HTTP pool loads no certificates")
            })
        };
        // Pace across calls: a call's component paces its own requests to
        // the rate limit, but a new call starts knowing nothing; the host
        // remembers what the organisation last said. Methods the connector
        // never sends are not paced.
        let origin = request
            .uri()
            .authority()
            .map(|a| format!("{}://{a}", request.uri().scheme_str().unwrap_or("")))
            .unwrap_or_default();
        let method = match *request.method() {
            http::Method::GET => Some(Method::Get),
            http::Method::POST => Some(Method::Post),
            http::Method::PATCH => Some(Method::Patch),
            _ => None,
        };
        // A slot is reserved under the pacer's lock, so that requests
        // asking at once are queued a slot apart, not sent in one burst.
        // When it comes, the request checks again against what was sent
        // and answered since (a request that left or came back late holds
        // its place longer), unless its hold gives it up first.
        let refused = || {
            Err(Error::InternalError(Some(
                "not sent: the request was held too long for the rate limit".into(),
            )))
        };
        let waited = |wait: Duration| hold.is_none_or(|h| h.before_send(false, wait));
        let mut slot: Option<Place> = None;
        if let Some(method) = method {
            let mut next = self.with_pacer(&origin, method, |p, now| {
                let wait = p.wait(now);
                waited(wait).then(|| {
                    p.sent(now.saturating_add(wait));
                    (now.saturating_add(wait), wait)
                })
            });
            loop {
                let Some((at, wait)) = next else {
                    // Its place, if it had one, was taken back with the
                    // check that refused it.
                    if let Some(place) = slot.take() {
                        place.forget();
                    }
                    return refused();
                };
                let place = slot.get_or_insert_with(|| Place {
                    outgoing: self,
                    origin: &origin,
                    method,
                    at,
                    left: false,
                    told: false,
                });
                place.at = at;
                if wait.is_zero() {
                    break;
                }
                tokio::time::sleep(wait).await;
                next = self.with_pacer(&origin, method, |p, now| {
                    p.release(at);
                    let wait = p.wait_again(now);
                    let go = wait.is_zero() || waited(wait);
                    if go {
                        p.sent(now.saturating_add(wait));
                    }
                    go.then_some((now.saturating_add(wait), wait))
                });
            }
        }
        if let Some(hold) = hold
            && !hold.before_send(method != Some(Method::Get), Duration::ZERO)
        {
            // Not sent: its place is taken back (dropping it).
            return refused();
        }
        let first_byte = options.first_byte_timeout.unwrap_or(LONG);
        let between = options.between_bytes_timeout.unwrap_or(LONG);
        if let Some(place) = &mut slot {
            place.left = true;
        }
        let resp = tokio::time::timeout(first_byte, pool.request(request)).await;
        // Counted in the window from now: the server counted it by then.
        let slot = slot.map(Place::counted);
        let resp = resp
            .map_err(|_| Error::ConnectionReadTimeout)?
            .map_err(classify)?;
        if let Some(hold) = hold
            && resp.status() == http::StatusCode::TOO_MANY_REQUESTS
        {
            hold.rate_limited(retry_after_secs(
                resp.headers()
                    .get(http::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok()),
            ));
        }
        if let Some(method) = method {
            let headers =
                RateHeaders::read(|name| resp.headers().get(name).and_then(|v| v.to_str().ok()));
            let limited = resp.status() == http::StatusCode::TOO_MANY_REQUESTS;
            self.with_pacer(&origin, method, |p, now| {
                // The time its slot was taken: when it went out.
                let at = slot.map_or(now, |(_, at)| at);
                p.answered(at, now, headers, limited);
            });
        }
        Ok(resp.map(|incoming| BetweenBytes::new(incoming, between).boxed_unsync()))
    }

    /// Runs `f` on the pacer of `origin` and `method`, with the time now.
    fn with_pacer<T>(
        &self,
        origin: &str,
        method: Method,
        f: impl FnOnce(&mut Pacer, Duration) -> T,
    ) -> T {
        let now = self.inner.epoch.elapsed();
        let mut table = self.inner.pacing.lock().unwrap_or_else(|p| p.into_inner());
        let pacers = match table.get_mut(origin) {
            Some(p) => p,
            None => table.entry(origin.to_string()).or_insert_with(|| {
                PerMethod::each(
                    self.inner
                        .limits
                        .rate_share
                        .map_or_else(Pacer::instance, Pacer::with_share),
                )
            }),
        };
        f(pacers.get_mut(method), now)
    }

    fn pool(&self, tls: bool) -> Result<Pool, String> {
        let limits = self.inner.limits;
        let mut roots = rustls::RootCertStore::empty();
        if tls {
            // Unreadable system certificates are skipped, as browsers do; an
            // organisation whose CA is missing then fails with a named
            // certificate error, not here.
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
            for cert in self.inner.extra_ca.iter().flatten() {
                roots
                    .add(cert.clone())
                    .map_err(|e| format!("the extra CA certificate cannot be used: {e}"))?;
            }
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let mut tcp = HttpConnector::new_with_resolver(Resolver(
            hyper_util::client::legacy::connect::dns::GaiResolver::new(),
        ));
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(limits.connect_timeout));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        Ok(Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(limits.pool_idle_timeout)
            .pool_max_idle_per_host(limits.pool_max_idle_per_origin)
            .build(connector))
    }
}

/// What "no timeout" means here, as in wasmtime-wasi-http's default sender.
const LONG: Duration = Duration::from_secs(600);

/// Maps a failure of the pooled client to the wasi:http error the component
/// branches on, looking through the chain of causes for what really went
/// wrong (TLS errors arrive wrapped in `io::Error`s).
///
/// Past the connect, the request may have gone out: a TLS failure or a
/// time-out there is an answer lost, never a failed connect, which the
/// component would send again at once (a create among them, unlooked-up).
fn classify(e: hyper_util::client::legacy::Error) -> Error {
    let connecting = e.is_connect();
    let mut cause: Option<&(dyn StdError + 'static)> = e.source();
    while let Some(c) = cause {
        if let Some(tls) = c.downcast_ref::<rustls::Error>() {
            if !connecting {
                return Error::ConnectionTerminated;
            }
            return tls_error(tls);
        }
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as K;
            match io.kind() {
                K::ConnectionRefused => return Error::ConnectionRefused,
                K::TimedOut if !connecting => return Error::HttpResponseTimeout,
                K::TimedOut => return Error::ConnectionTimeout,
                K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
                    return Error::ConnectionTerminated;
                }
                _ => {}
            }
            // An io::Error's `source` skips the error it wraps; look at that
            // one itself (TLS failures come as io::Errors inside io::Errors).
            if let Some(inner) = io.get_ref() {
                cause = Some(inner as &(dyn StdError + 'static));
                continue;
            }
        }
        if let Some(h) = c.downcast_ref::<hyper::Error>() {
            if h.is_timeout() {
                return Error::HttpResponseTimeout;
            }
            if h.is_incomplete_message() || h.is_canceled() || h.is_closed() {
                return Error::HttpResponseIncomplete;
            }
        }
        cause = c.source();
    }
    if e.is_connect() {
        // e.g. a name that does not resolve
        Error::DestinationNotFound
    } else {
        Error::HttpProtocolError
    }
}

fn tls_error(e: &rustls::Error) -> Error {
    match e {
        rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented => {
            Error::TlsCertificateError
        }
        rustls::Error::AlertReceived(alert) => Error::TlsAlertReceived {
            alert_id: Some(u8::from(*alert)),
            alert_message: Some(format!("{alert:?}")),
        },
        _ => Error::TlsProtocolError,
    }
}

/// A request's place in its pacer, reserved at `at`. However the request
/// ends, the pacer is told: counted from its answer ([`Place::counted`]);
/// taken back when it never left (a hold that gave up, a caller gone while
/// it waited); counted from when it was dropped when it left and its caller
/// went away before the answer (a call cut off), so that it is not taken as
/// in flight for long.
struct Place<'a> {
    outgoing: &'a Outgoing,
    origin: &'a str,
    method: Method,
    at: Duration,
    left: bool,
    /// Whether the pacer already knows how it ended.
    told: bool,
}

impl Place<'_> {
    /// Answered (or failed) now: counted from now; its method and when it
    /// left.
    fn counted(mut self) -> (Method, Duration) {
        let at = self.at;
        self.outgoing
            .with_pacer(self.origin, self.method, |p, now| p.counted(at, now));
        self.told = true;
        (self.method, at)
    }

    /// Already taken back by the pacer's check that refused it.
    fn forget(mut self) {
        self.told = true;
    }
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        if self.told {
            return;
        }
        let (at, left) = (self.at, self.left);
        self.outgoing
            .with_pacer(self.origin, self.method, |p, now| {
                if left {
                    p.counted(at, now);
                } else {
                    p.release(at);
                }
            });
    }
}

/// An answer's body under a between-bytes timeout. Adapted from the
/// `IncomingResponseBody` of wasmtime-wasi-http 48's `default_send_request`.
struct BetweenBytes {
    incoming: hyper::body::Incoming,
    timeout: Pin<Box<tokio::time::Sleep>>,
    between: Duration,
}

impl BetweenBytes {
    fn new(incoming: hyper::body::Incoming, between: Duration) -> Self {
        Self {
            incoming,
            timeout: Box::pin(tokio::time::sleep(between)),
            between,
        }
    }
}

impl http_body::Body for BetweenBytes {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Error>>> {
        match Pin::new(&mut self.incoming).poll_frame(cx) {
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(if e.is_timeout() {
                Error::HttpResponseTimeout
            } else {
                Error::HttpResponseIncomplete
            }))),
            Poll::Ready(Some(Ok(frame))) => {
                let deadline = tokio::time::Instant::now() + self.between;
                self.timeout.as_mut().reset(deadline);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => {
                ready!(self.timeout.as_mut().poll(cx));
                Poll::Ready(Some(Err(Error::ConnectionReadTimeout)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.incoming.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A server that answers every request at once with 200 and no body,
    /// or (`answers` false) reads requests and never answers.
    async fn serve(answers: bool) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    while conn.read(&mut buf).await.is_ok_and(|n| n > 0) {
                        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
                        if answers && conn.write_all(ok).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        format!("http://{addr}/api/v1/agents")
    }

    /// A host that sends one request a second to `uri`, and the origin its
    /// pacer is kept under.
    fn one_a_second(uri: &str) -> (Outgoing, String) {
        let limits = Limits {
            rate_share: Some(1),
            ..Limits::default()
        };
        let out = Outgoing::new(limits, None).unwrap();
        let origin = uri.trim_end_matches("/api/v1/agents").to_string();
        (out, origin)
    }

    fn get(uri: &str) -> http::Request<WasiBody> {
        let body = http_body_util::Empty::<axum::body::Bytes>::new()
            .map_err(|never| match never {})
            .boxed_unsync();
        http::Request::get(uri).body(body).unwrap()
    }

    #[tokio::test]
    async fn a_request_given_up_while_it_waits_gives_its_place_back() {
        // One request a second: the first goes at once, the second waits
        // about a second for its place, and its caller goes away.
        let uri = serve(true).await;
        let (out, origin) = one_a_second(&uri);
        out.send(get(&uri), RequestOptions::default(), None)
            .await
            .unwrap();
        let given_up = tokio::time::timeout(
            Duration::from_millis(100),
            out.send(get(&uri), RequestOptions::default(), None),
        )
        .await;
        assert!(given_up.is_err(), "the second waited for its place");
        // The next waits about a second from the first, not a second
        // beyond the place the one given up had.
        let wait = out.with_pacer(&origin, Method::Get, |p, now| p.wait(now));
        assert!(wait <= Duration::from_millis(1_000), "{wait:?}");
    }

    #[tokio::test]
    async fn a_request_whose_caller_goes_away_after_it_left_is_counted_from_then() {
        // One request a second, to a server that never answers: the caller
        // gives up 300 ms after the request left. The server may have
        // counted it at any time until then, so the next waits a window
        // from when it was given up: not at once (taken back, as if it
        // never left), nor a window from when it left.
        let uri = serve(false).await;
        let (out, origin) = one_a_second(&uri);
        let given_up = tokio::time::timeout(
            Duration::from_millis(300),
            out.send(get(&uri), RequestOptions::default(), None),
        )
        .await;
        assert!(given_up.is_err(), "the server never answers");
        let wait = out.with_pacer(&origin, Method::Get, |p, now| p.wait(now));
        assert!(wait >= Duration::from_millis(900), "{wait:?}");
    }

    #[tokio::test]
    async fn localhost_is_the_loopback_addresses_never_asked_of_the_system() {
        use tower_service::Service as _;
        let mut r = Resolver(hyper_util::client::legacy::connect::dns::GaiResolver::new());
        for name in ["localhost", "LocalHost", "localhost."] {
            let addrs: Vec<_> = r.call(name.parse().unwrap()).await.unwrap().collect();
            assert_eq!(addrs.len(), 2, "{name}: {addrs:?}");
            assert!(
                addrs.iter().all(|a| a.ip().is_loopback()),
                "{name}: {addrs:?}"
            );
        }
        assert!(!is_localhost("localhost.evil.example") && !is_localhost("notlocalhost"));
    }
}
