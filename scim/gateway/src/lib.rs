//! The SCIM 2.0 gateway as a wasi:http component: it exports
//! `wasi:http/incoming-handler`, imports the connector's
//! `gladly:provisioning/agents`, and is composed with the connector
//! (`wac plug`; the harness's build does it with wac-graph), so any
//! wasi:http host (`wasmtime serve`, `gladly-harness scim`) can serve it.
//!
//! Only WIT and wasi:http live here: the protocol is `gladly-scim`, plain
//! Rust. Configuration comes from the environment, read on every request:
//! `GLADLY_ORG_URL`, `GLADLY_API_USER`, `GLADLY_API_TOKEN` (or, where the
//! host holds the token, `GLADLY_API_PLACEHOLDER`) and `GLADLY_SCIM_TOKEN`.

#![cfg(target_arch = "wasm32")]

mod directory;

use std::io::{Read as _, Write as _};

use gladly_scim::{Config, Request, Response};
use wasi::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam, Scheme,
};

wit_bindgen::generate!({
    inline: "
        package gladly:scim-gateway@0.1.0;
        world gateway {
            import gladly:provisioning/agents@0.2.0;
        }
    ",
    path: "../../wit",
    world: "gladly:scim-gateway/gateway",
    // The one import, generated here (the wasi crate has the rest).
    with: { "gladly:provisioning/agents@0.2.0": generate },
});

/// The largest request body read; SCIM bodies are a few kilobytes.
const MAX_BODY: usize = 1 << 20;

struct Gateway;

wasi::http::proxy::export!(Gateway);

impl wasi::exports::http::incoming_handler::Guest for Gateway {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let response = serve(&request);
        let headers = Fields::new();
        for (name, value) in &response.headers {
            // Names and values are the service's own, valid by construction.
            let _ = headers.append(name, value.as_bytes());
        }
        let resp = OutgoingResponse::new(headers);
        let _ = resp.set_status_code(response.status);
        let Ok(body) = resp.body() else { return };
        ResponseOutparam::set(out, Ok(resp));
        if let Ok(mut stream) = body.write() {
            // The stream takes at most 4096 bytes a write; write_all
            // (the wasi crate's std::io::Write) splits and flushes.
            let _ = stream.write_all(&response.body);
            let _ = stream.flush();
        }
        let _ = OutgoingBody::finish(body, None);
    }
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_default()
}

fn serve(request: &IncomingRequest) -> Response {
    let method = match request.method() {
        Method::Get => "GET".to_string(),
        Method::Post => "POST".into(),
        Method::Put => "PUT".into(),
        Method::Patch => "PATCH".into(),
        Method::Delete => "DELETE".into(),
        Method::Head => "HEAD".into(),
        Method::Options => "OPTIONS".into(),
        Method::Connect => "CONNECT".into(),
        Method::Trace => "TRACE".into(),
        Method::Other(m) => m,
    };
    let target = request.path_with_query().unwrap_or_else(|| "/".into());
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let headers = request.headers();
    let header = |name: &str| {
        headers
            .get(name)
            .into_iter()
            .next()
            .and_then(|v| String::from_utf8(v).ok())
    };
    let authorization = match gladly_scim::service::one_authorization(&headers.get("authorization"))
    {
        Ok(a) => a.map(str::to_string),
        Err(e) => return Response::error(&e),
    };
    let content_type = header("content-type");
    // Behind a proxy that ends TLS (how the gateway is meant to be reached)
    // the request arrives as http; the proxy's `X-Forwarded-Proto` says
    // what the IdP used. It can only make the links https, never http.
    let forwarded_https = header("x-forwarded-proto").is_some_and(|p| {
        p.split(',')
            .next()
            .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
    });
    let scheme = match request.scheme() {
        Some(Scheme::Https) => "https",
        _ if forwarded_https => "https",
        _ => "http",
    };
    let authority = request
        .authority()
        .or_else(|| header("host"))
        .unwrap_or_else(|| "localhost".into());
    let base_url = format!("{scheme}://{authority}{}", gladly_scim::BASE_PATH);
    // Trimmed (the harness trims the token too): a value written to the
    // environment with a trailing newline (a secret store's file, an
    // `env` file) would refuse every request.
    let scim_token = env("GLADLY_SCIM_TOKEN").trim().to_string();
    let api_user = env("GLADLY_API_USER").trim().to_string();
    let config = Config {
        base_url: &base_url,
        scim_token: &scim_token,
        api_user: &api_user,
    };
    // A client without the token is answered before its body is read: it
    // cannot hold the gateway by trickling one.
    if let Err(e) = gladly_scim::service::authorized(&config, authorization.as_deref()) {
        return Response::error(&e);
    }
    let body = match read_body(request) {
        Ok(b) => b,
        Err(e) => return e,
    };
    let mut dir = directory::Connector::from_env();
    gladly_scim::handle(
        &mut dir,
        &config,
        &Request {
            method: &method,
            path,
            query,
            authorization: authorization.as_deref(),
            content_type: content_type.as_deref(),
            body: &body,
        },
    )
}

/// The request body, up to [`MAX_BODY`]; a larger one is answered 413.
fn read_body(request: &IncomingRequest) -> Result<Vec<u8>, Response> {
    let too_large = || {
        let e = gladly_scim::ScimError::new(
            413,
            None,
            format!("the request body is larger than {MAX_BODY} bytes"),
        );
        Response {
            status: 413,
            headers: vec![(
                "content-type".into(),
                gladly_scim::service::SCIM_JSON.into(),
            )],
            body: e.body().to_string().into_bytes(),
        }
    };
    let Ok(body) = request.consume() else {
        return Ok(vec![]);
    };
    let Ok(stream) = body.stream() else {
        return Ok(vec![]);
    };
    let mut bytes = Vec::new();
    let mut reader = stream.take(MAX_BODY as u64 + 1);
    // A body cut short by the client is read as far as it came; the service
    // then answers it as malformed JSON.
    let _ = reader.read_to_end(&mut bytes);
    if bytes.len() > MAX_BODY {
        return Err(too_large());
    }
    Ok(bytes)
}
