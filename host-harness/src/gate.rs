//! The egress gate: outgoing HTTP reaches only the origin of the call's
//! `org-url` (and plain `http://` only a loopback host), the credential is
//! completed past the gate only, and the host's timeouts bound the guest's.

use std::future::Future;
use std::time::Duration;

use wasmtime_wasi_http::{RequestOptions, WasiBody, WasiHttpHooks};

use crate::credential::{Completion, normalise_authority};
use crate::outgoing;

/// Lets outgoing HTTP reach only the origin of the call's `org-url`, under
/// the host's timeouts, over the harness's pooled connections, completing
/// the credential on the way out.
pub(crate) struct Gate {
    pub(crate) allowed: Option<(String, String)>,
    pub(crate) completion: Option<Completion>,
    pub(crate) options: RequestOptions,
    pub(crate) outgoing: outgoing::Outgoing,
    /// The bound on the call's waits for the rate limit, if it has one.
    pub(crate) hold: Option<std::sync::Arc<crate::hold::Hold>>,
}

pub(crate) type SendFuture = Box<
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
        let hold = self.hold.clone();
        Box::new(async move {
            let resp = outgoing.send(request, options, hold.as_deref()).await?;
            // The pool drives the connection; nothing is left to await.
            Ok((
                resp,
                Box::new(async { Ok(()) }) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Connection, Limits, outgoing};
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
            hold: None,
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
            hold: None,
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
                hold: None,
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
