//! The demo's SCIM part: an IdP's create and deactivate, as Okta sends
//! them, through the SCIM gateway (`gladly-harness scim`) to the sandbox.

use anyhow::Context as _;
use axum::body::Bytes;
use http_body_util::{BodyExt as _, Full};
use serde_json::{Value, json};

use gladly_harness::Connection;
use gladly_harness::scim::{EMBEDDED_SCIM_COMPONENT, Gateway};
use gladly_sandbox::Sandbox;

/// A bearer token made for the demo; never printed.
fn demo_token() -> String {
    let mut random = [0u8; 16];
    let _ = getrandom::fill(&mut random);
    random.iter().map(|b| format!("{b:02x}")).collect()
}

pub async fn demo(sandbox: &Sandbox, cache_dir: Option<&std::path::Path>) -> anyhow::Result<()> {
    let token = demo_token();
    let gateway = Gateway::load(
        EMBEDDED_SCIM_COMPONENT,
        cache_dir,
        Connection::from(sandbox.admin()),
        token.clone(),
    )?;
    let (addr, server) = gateway.bind(([127, 0, 0, 1], 0).into()).await?;
    let base = format!("http://{addr}/scim/v2");
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let send =
        async |method: &str, path: &str, body: Option<Value>| -> anyhow::Result<(u16, Value)> {
            let req = hyper::Request::builder()
                .method(method)
                .uri(format!("{base}{path}"))
                .header("authorization", format!("Bearer {token}"))
                .header("content-type", "application/scim+json")
                .body(Full::new(Bytes::from(
                    body.map(|b| b.to_string()).unwrap_or_default(),
                )))?;
            let r = client
                .request(req)
                .await
                .context("the SCIM gateway did not answer")?;
            let status = r.status().as_u16();
            let bytes = r.into_body().collect().await?.to_bytes();
            Ok((
                status,
                serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            ))
        };
    println!(
        "\n12. SCIM 2.0: an identity provider (Okta's requests) through the gateway at {base}"
    );
    let filter =
        "/Users?filter=userName%20eq%20%22kim.ito%40acme.example%22&startIndex=1&count=100";
    let (status, found) = send("GET", filter, None).await?;
    println!(
        "   GET  /Users?filter=userName eq \"kim.ito@acme.example\" -> {status}, totalResults {}",
        found["totalResults"]
    );
    let user = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "kim.ito@acme.example",
        "name": {"givenName": "Kim", "familyName": "Ito"},
        "emails": [{"primary": true, "value": "kim.ito@acme.example", "type": "work"}],
        "displayName": "Kim Ito", "locale": "en-US", "externalId": "00u7kim", "active": true,
    });
    let (status, created) = send("POST", "/Users", Some(user.clone())).await?;
    let id = created["id"].as_str().unwrap_or_default().to_string();
    println!(
        "   POST /Users kim.ito@acme.example -> {status}, id {id}, active {}",
        created["active"]
    );
    let (status, again) = send("POST", "/Users", Some(user)).await?;
    println!(
        "   POST /Users again (a retry) -> {status} {}",
        again["scimType"].as_str().unwrap_or_default()
    );
    let off = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "value": {"active": false}}]});
    let (status, after) = send("PATCH", &format!("/Users/{id}"), Some(off)).await?;
    println!(
        "   PATCH /Users/{id} active false (unassigned in the IdP) -> {status}, active {}",
        after["active"]
    );
    let rec = sandbox.org().agent(&id).map(|a| (a.active, a.role.clone()));
    let emails = sandbox
        .welcome_emails()
        .iter()
        .filter(|w| w.agent_id == id)
        .count();
    match rec {
        Some((active, role)) => println!(
            "   in Gladly: agent {id}, active {active}, role {role}; {emails} welcome e-mail"
        ),
        None => println!("   in Gladly: no agent {id}"),
    }
    server.abort();
    Ok(())
}
