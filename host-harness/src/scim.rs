//! `gladly-harness scim`: the SCIM 2.0 gateway (`scim/gateway`, composed
//! with the connector by `build.rs`) served over HTTP by this host, with
//! the connector's protections: the Gladly token is held here and completed
//! on the way out (the gateway is given a placeholder), egress only to the
//! organisation, each request under the memory and time limits, pacing and
//! pooled connections shared by every request.
//!
//! Each request gets a fresh instance (as `wasmtime serve` does); the
//! gateway is stateless, all state is in Gladly.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use anyhow::{Context as _, anyhow};
use axum::body::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use wasmtime_wasi_http::WasiHttpView as _;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, Scheme};

use crate::credential::{Completion, Connection};
use crate::engine::{Allocation, HostState, compile, engine, linker, start_epoch_ticker, store};
use crate::hold::Hold;
use crate::limits::Limits;
use crate::outgoing::Outgoing;
use crate::scrub::Secrets;

/// The gateway composed with the connector this crate was built with.
pub const EMBEDDED_SCIM_COMPONENT: &[u8] = include_bytes!(env!("GLADLY_SCIM_WASM"));

/// The largest answer the gateway may give (a list of 1,000 users is about
/// 1 MiB).
const MAX_ANSWER: usize = 8 << 20;

/// Requests the gateway runs at once; more wait for one to finish (each
/// holds an instance of up to [`Limits::memory_bytes`]).
const MAX_IN_FLIGHT: usize = 32;

/// How long a client may take to send a request's headers: one that sends
/// them a byte at a time is dropped, not kept open.
const HEADER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// How long Gladly's rate limit may hold one request in all before it is
/// answered 429 (see [`crate::hold`]): what the gateway's writes allow
/// themselves too.
const MAX_HOLD: std::time::Duration = std::time::Duration::from_secs(5);

/// A request's component, dropped with its answer (answered, past its
/// deadline, given up, or its client gone) unless it has written to Gladly:
/// then it is seen through, within the connector's own call deadline, so
/// that it never stops half done.
struct Unfinished {
    abort: tokio::task::AbortHandle,
    hold: Arc<Hold>,
}

impl Drop for Unfinished {
    fn drop(&mut self) {
        if !self.hold.wrote() {
            self.abort.abort();
        }
    }
}

/// 429 for a request the rate limit would hold too long.
fn held(retry_after: std::time::Duration) -> (u16, Vec<(String, String)>, String) {
    let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
    let body = serde_json::json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
        "status": "429",
        "detail": format!(
            "Gladly's rate limit would hold this request more than {} s; nothing was written: retry after {secs} s",
            MAX_HOLD.as_secs()
        ),
    });
    (
        429,
        vec![
            ("content-type".into(), "application/scim+json".into()),
            ("retry-after".into(), secs.max(1).to_string()),
        ],
        body.to_string(),
    )
}

/// The SCIM gateway, loaded and pre-linked.
#[derive(Clone)]
pub struct Gateway {
    pre: ProxyPre<HostState>,
    limits: Limits,
    outgoing: Outgoing,
    conn: Arc<Connection>,
    scim_token: Arc<String>,
    memory_peak: Arc<AtomicUsize>,
    in_flight: Arc<tokio::sync::Semaphore>,
}

impl Gateway {
    /// Loads `bytes` (or code compiled from them earlier, from `cache_dir`)
    /// to serve the organisation `conn`, accepting `scim_token`.
    pub fn load(
        bytes: &[u8],
        cache_dir: Option<&std::path::Path>,
        conn: Connection,
        scim_token: String,
    ) -> anyhow::Result<Self> {
        let engine = engine(Allocation::OnDemand)?;
        let component = compile(&engine, bytes, cache_dir)?;
        let pre = ProxyPre::new(linker(&engine)?.instantiate_pre(&component)?)?;
        start_epoch_ticker(&engine);
        let limits = Limits::default();
        Ok(Self {
            pre,
            limits,
            outgoing: Outgoing::new(limits, None)?,
            conn: Arc::new(conn),
            scim_token: Arc::new(scim_token),
            memory_peak: Default::default(),
            in_flight: Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT)),
        })
    }

    /// Sends at most `share` requests a second per method to the
    /// organisation, for all requests together (see [`Limits::rate_share`]).
    pub fn with_rate_share(mut self, share: usize) -> Self {
        self.limits.rate_share = Some(share);
        self.outgoing = self.outgoing.with_limits(self.limits);
        self
    }

    /// Trusts the CA certificates in `pem` beside the system's roots.
    pub fn with_extra_ca(mut self, pem: &[u8]) -> anyhow::Result<Self> {
        self.outgoing = Outgoing::new(self.limits, Some(pem))?;
        Ok(self)
    }

    /// Serves on `listener` until the task is dropped.
    pub async fn serve(self, listener: tokio::net::TcpListener) -> anyhow::Result<()> {
        loop {
            let (stream, _) = listener.accept().await?;
            let gateway = self.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let gateway = gateway.clone();
                    async move {
                        // The semaphore is never closed.
                        let _turn = gateway.in_flight.clone().acquire_owned().await;
                        Ok::<_, std::convert::Infallible>(gateway.answer(req).await)
                    }
                });
                // A client that hangs up mid-answer is its own business.
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(HEADER_TIMEOUT)
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    }

    /// Binds `addr` and serves; the address bound (port 0 picks one).
    pub async fn bind(
        self,
        addr: SocketAddr,
    ) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<anyhow::Result<()>>)> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let bound = listener.local_addr()?;
        Ok((bound, tokio::spawn(self.serve(listener))))
    }

    /// One request: the gateway's answer, or a SCIM error if the host
    /// failed it (a trap, the memory limit, the deadline). Scrubbed of both
    /// tokens whatever its source.
    pub async fn answer(
        &self,
        req: hyper::Request<hyper::body::Incoming>,
    ) -> hyper::Response<Full<Bytes>> {
        let (status, headers, body) = match self.run(req).await {
            Ok(answer) => answer,
            Err(e) => {
                eprintln!(
                    "gladly-harness scim: {}",
                    crate::output::printable(&self.scrub(&format!("{e:#}")))
                );
                let body = serde_json::json!({
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                    "status": "500",
                    "detail": "the gateway failed this request (see the gateway's log); it is safe to retry",
                });
                (
                    500,
                    vec![("content-type".into(), "application/scim+json".into())],
                    body.to_string(),
                )
            }
        };
        let mut r = hyper::Response::builder().status(status);
        for (k, v) in headers {
            r = r.header(k, self.scrub_answer(&v));
        }
        r.body(Full::new(Bytes::from(self.scrub_answer(&body))))
            .unwrap_or_else(|_| hyper::Response::new(Full::new(Bytes::new())))
    }

    /// This gateway's log line, scrubbed of every form of the credentials.
    fn scrub(&self, text: &str) -> String {
        let gladly = Secrets::new(&self.conn.api_user, &self.conn.api_token);
        self.scim_secrets().scrub_words(&gladly.scrub_words(text))
    }

    /// An answer to the SCIM client, scrubbed of the credentials' whole
    /// forms only. It quotes the client's own strings (a filter, a name it
    /// stored) and never Gladly's words (the connector leaves them out for
    /// a SCIM gateway: `GLADLY_SERVER_TEXT`), so no piece of the token can
    /// be there but one the client wrote; were pieces removed, which of its
    /// strings came back removed would show it pieces of the token.
    fn scrub_answer(&self, text: &str) -> String {
        let gladly = Secrets::new(&self.conn.api_user, &self.conn.api_token);
        self.scim_secrets().scrub_whole(&gladly.scrub_whole(text))
    }

    /// The SCIM token never goes to Gladly, so no server can echo it in
    /// another form; only this host's own words could hold it whole.
    fn scim_secrets(&self) -> Secrets {
        Secrets::user_only("", &[self.scim_token.as_str()])
    }

    async fn run(
        &self,
        req: hyper::Request<hyper::body::Incoming>,
    ) -> anyhow::Result<(u16, Vec<(String, String)>, String)> {
        let completion = Completion::new(&self.conn.api_user, &self.conn.api_token);
        let env = [
            ("GLADLY_ORG_URL", self.conn.org_url.as_str()),
            ("GLADLY_API_USER", self.conn.api_user.as_str()),
            ("GLADLY_API_PLACEHOLDER", completion.placeholder.as_str()),
            ("GLADLY_SCIM_TOKEN", self.scim_token.as_str()),
        ];
        let mut state = HostState::new(
            &self.conn,
            Some(completion.clone()),
            self.limits,
            self.outgoing.clone(),
            self.memory_peak.clone(),
        );
        state.set_env(&env);
        state.allow_instances(16, self.limits.memory_bytes);
        let hold = Arc::new(Hold::new(MAX_HOLD));
        state.set_hold(hold.clone());
        let mut store = store(self.pre.engine(), state);

        let req = req.map(|body| body.map_err(|_| ErrorCode::HttpProtocolError));
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let incoming = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, req)?;
        let out = store.data_mut().http().new_response_outparam(sender)?;
        let proxy = self.pre.instantiate_async(&mut store).await?;
        let mut task = tokio::spawn(async move {
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, incoming, out)
                .await
        });
        let _unfinished = Unfinished {
            abort: task.abort_handle(),
            hold: hold.clone(),
        };
        let deadline = self.limits.call_deadline;
        let answered = async {
            let response = match receiver.await {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => return Err(anyhow!("the gateway answered with an error: {e:?}")),
                Err(_) => {
                    let why = match (&mut task).await {
                        Ok(Err(e)) => format!("{e:#}"),
                        Ok(Ok(())) => "it returned without answering".into(),
                        Err(e) => format!("{e}"),
                    };
                    return Err(anyhow!("the gateway did not answer: {why}"));
                }
            };
            let (parts, body) = response.into_parts();
            let bytes = Limited::new(body, MAX_ANSWER)
                .collect()
                .await
                .map_err(|e| anyhow!("reading the gateway's answer: {e}"))?
                .to_bytes();
            let headers = parts
                .headers
                .iter()
                .filter_map(|(k, v)| Some((k.to_string(), v.to_str().ok()?.to_string())))
                .collect();
            Ok((
                parts.status.as_u16(),
                headers,
                String::from_utf8_lossy(&bytes).into_owned(),
            ))
        };
        // Given up first: the component, refused a request, may answer too.
        tokio::select! {
            biased;
            retry_after = hold.given_up() => Ok(held(retry_after)),
            r = tokio::time::timeout(deadline, answered) => match (r, hold.given_up_now()) {
                (_, Some(retry_after)) => Ok(held(retry_after)),
                (Ok(r), None) => r,
                (Err(_), None) => Err(anyhow!(
                    "the request did not finish within its deadline of {deadline:?}"
                )),
            },
        }
    }
}
