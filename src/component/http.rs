//! The component's transport: outgoing HTTP through wasi:http, written
//! against the `wasi` crate's bindings.
//!
//! Written by hand rather than through an HTTP client crate for two reasons
//! a strict front end makes visible:
//! - every body goes out with its `Content-Length` (the host then frames it
//!   with that length instead of chunking it);
//! - once the host has sent that many bytes it may answer, and drop the
//!   body's stream, before the guest has finished or flushed it. A write,
//!   flush or finish that then finds the stream closed is not a failure of
//!   the request: the answer (or the real error) is in the response future.

use std::time::Duration;

use wasi::clocks::monotonic_clock;
use wasi::http::outgoing_handler;
use wasi::http::types::{
    ErrorCode, Fields, IncomingBody, Method as WasiMethod, OutgoingBody, OutgoingRequest,
    RequestOptions, Scheme,
};
use wasi::io::poll::{Pollable, poll};
use wasi::io::streams::StreamError;

use crate::transport::{
    HttpRequest, HttpResponse, Method, Transport, TransportError, TransportErrorKind,
};

/// Answers larger than this are refused rather than buffered: a page of 100
/// agents is a few tens of KiB.
const MAX_BODY: usize = 16 * 1024 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Asked of the host so that one stalled answer cannot hold a call for the
/// host's default (wasmtime-wasi-http: 600 s, which Obelisk keeps); a host
/// may set shorter ones.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);
const READ_CHUNK: u64 = 64 * 1024;
/// wasi:io streams accept at most 4 KiB per blocking write.
const WRITE_CHUNK: usize = 4096;

/// Outgoing HTTP through wasi:http, with the timeouts above, each clipped
/// to the request's own timeout (what is left of the call's deadline).
pub struct WasiHttp;

impl Transport for WasiHttp {
    fn send(&mut self, req: &HttpRequest) -> Result<HttpResponse, TransportError> {
        let outgoing = request(req)?;
        let body = outgoing
            .body()
            .map_err(|()| denied("the request body was already taken"))?;
        let within = |limit: Duration| req.timeout.map_or(limit, |t| t.min(limit));
        let options = RequestOptions::new();
        // Refused only by hosts that do not support the option; the timer
        // below keeps the request's timeout then.
        let _ = options.set_connect_timeout(Some(nanos(within(CONNECT_TIMEOUT))));
        let _ = options.set_first_byte_timeout(Some(nanos(within(ANSWER_TIMEOUT))));
        let _ = options.set_between_bytes_timeout(Some(nanos(within(ANSWER_TIMEOUT))));
        // The host's timeouts bound each wait, not the whole request (a
        // trickle of bytes never trips a between-bytes timeout): this timer
        // ends the request when its time is up, whatever the host does.
        let timer = req
            .timeout
            .map(|t| monotonic_clock::subscribe_duration(nanos(t)));
        let future = outgoing_handler::handle(outgoing, Some(options)).map_err(classify)?;
        write_body(body, req.body.as_deref().unwrap_or_default());

        let answer = loop {
            if let Some(answer) = future.get() {
                break answer;
            }
            wait(&future.subscribe(), timer.as_ref())
                .map_err(|()| lost("no answer before the call's deadline"))?;
        };
        let resp = answer
            .map_err(|()| lost("the response was already taken"))?
            .map_err(classify)?;
        let status = resp.status();
        let headers: Vec<(String, String)> = resp
            .headers()
            .entries()
            .into_iter()
            .map(|(k, v)| {
                (
                    k.to_ascii_lowercase(),
                    String::from_utf8_lossy(&v).into_owned(),
                )
            })
            .collect();
        let too_large = || {
            TransportError::new(
                TransportErrorKind::TooLarge,
                format!("the answer is larger than {} MiB", MAX_BODY >> 20),
            )
        };
        // A declared length over the cap is refused before reading a byte.
        let declared = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|n| n > MAX_BODY as u64) {
            return Err(too_large());
        }
        let incoming = resp
            .consume()
            .map_err(|()| lost("the response body was already taken"))?;
        let stream = incoming
            .stream()
            .map_err(|()| lost("the response body stream was already taken"))?;
        // Room for a declared length at once: grown by doubling, the body
        // is copied at each step, the old buffer beside the new.
        let mut body = Vec::with_capacity(declared.map_or(0, |n| n as usize));
        loop {
            match stream.read(READ_CHUNK) {
                Ok(chunk) if chunk.is_empty() => wait(&stream.subscribe(), timer.as_ref())
                    .map_err(|()| lost("the answer did not end before the call's deadline"))?,
                Ok(chunk) => {
                    // Checked before the buffer grows, which doubles but
                    // never past the cap (a length declared short beside a
                    // longer chunked body would have it double past it).
                    let needed = body.len().saturating_add(chunk.len());
                    if needed > MAX_BODY {
                        return Err(too_large());
                    }
                    if needed > body.capacity() {
                        let grown = needed.max(body.capacity().saturating_mul(2)).min(MAX_BODY);
                        body.reserve_exact(grown - body.len());
                    }
                    body.extend_from_slice(&chunk);
                }
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(e)) => {
                    return Err(match wasi::http::types::http_error_code(&e) {
                        Some(code) => classify(code),
                        None => lost(&e.to_debug_string()),
                    });
                }
            }
        }
        drop(stream);
        let _trailers = IncomingBody::finish(incoming);
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }

    fn sleep(&mut self, duration: Duration) {
        crate::transport::std_sleep(duration)
    }

    fn jitter(&mut self) -> f64 {
        crate::transport::std_jitter()
    }

    fn now_unix(&mut self) -> u64 {
        crate::transport::std_now_unix()
    }

    fn setting(&mut self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

/// Waits until `ready` is, or fails once `timer` (if any) has gone off.
fn wait(ready: &Pollable, timer: Option<&Pollable>) -> Result<(), ()> {
    match timer {
        Some(timer) if timer.ready() => Err(()),
        Some(timer) => {
            poll(&[ready, timer]);
            Ok(())
        }
        None => {
            ready.block();
            Ok(())
        }
    }
}

/// Nanoseconds, as wasi:clocks counts them, saturating.
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The outgoing request: method, URL parts and headers.
fn request(req: &HttpRequest) -> Result<OutgoingRequest, TransportError> {
    let (scheme, rest) = req
        .url
        .split_once("://")
        .ok_or_else(|| denied("the URL has no scheme"))?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, "/"),
    };
    let headers = Fields::new();
    for (k, v) in &req.headers {
        headers
            .append(k, v.as_bytes())
            .map_err(|e| denied(&format!("the header {k} was refused: {e:?}")))?;
    }
    let out = OutgoingRequest::new(headers);
    let method = match req.method {
        Method::Get => WasiMethod::Get,
        Method::Post => WasiMethod::Post,
        Method::Patch => WasiMethod::Patch,
    };
    let scheme = match scheme {
        "https" => Scheme::Https,
        "http" => Scheme::Http,
        other => Scheme::Other(other.to_string()),
    };
    out.set_method(&method)
        .and_then(|()| out.set_scheme(Some(&scheme)))
        .and_then(|()| out.set_authority(Some(authority)))
        .and_then(|()| out.set_path_with_query(Some(path)))
        .map_err(|()| denied("the host refused the request's method or URL"))?;
    Ok(out)
}

/// Writes the whole body and finishes it. A closed stream means the host
/// has what it needs (or has failed the request, which the response future
/// then says), so it ends the writing without being an error here.
fn write_body(body: OutgoingBody, bytes: &[u8]) {
    if let Ok(stream) = body.write() {
        for chunk in bytes.chunks(WRITE_CHUNK) {
            if stream.blocking_write_and_flush(chunk).is_err() {
                break;
            }
        }
        drop(stream);
    }
    let _ = OutgoingBody::finish(body, None);
}

fn denied(message: &str) -> TransportError {
    TransportError::new(TransportErrorKind::Denied, message)
}

fn lost(message: &str) -> TransportError {
    TransportError::new(TransportErrorKind::Lost, message)
}

fn classify(code: ErrorCode) -> TransportError {
    use ErrorCode as C;
    let kind = match &code {
        C::HttpRequestDenied => TransportErrorKind::Denied,
        C::DnsTimeout
        | C::DnsError(_)
        | C::DestinationNotFound
        | C::DestinationUnavailable
        | C::DestinationIpProhibited
        | C::DestinationIpUnroutable
        | C::ConnectionRefused
        | C::ConnectionTimeout
        | C::TlsProtocolError
        | C::TlsAlertReceived(_) => TransportErrorKind::Connect,
        C::TlsCertificateError => TransportErrorKind::Certificate,
        C::HttpResponseBodySize(_) => TransportErrorKind::TooLarge,
        _ => TransportErrorKind::Lost,
    };
    TransportError::new(kind, format!("{code:?}"))
}
