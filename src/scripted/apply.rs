//! `apply-change` over a scripted Gladly: a planned change is checked before
//! anything is sent, made only if the agent is still as the plan saw it, and
//! answered with what it came to.

use super::*;
use crate::ops::{REROUTE_WARNING, SSO_WARNING, WELCOME_WARNING};
use crate::roster::{ApplyOptions, Change, ChangeKind, ChangeResult, ChangeStatus, apply_change};

fn as_agent(v: Value) -> Agent {
    serde_json::from_value(v).expect("a test agent decodes")
}

/// A change as a plan writes it: one request, to the path its kind implies.
fn change(kind: ChangeKind, current: Option<Value>, body: Value) -> Change {
    let current = current.map(as_agent);
    let (method, path) = match &current {
        Some(a) => ("PATCH", format!("/api/v1/agents/{}", a.id)),
        None => ("POST", "/api/v1/agents".to_string()),
    };
    with_request(kind, current, method, &path, &body.to_string())
}

/// A change whose request says anything (a plan file may be edited).
fn with_request(
    kind: ChangeKind,
    current: Option<Agent>,
    method: &str,
    path: &str,
    body: &str,
) -> Change {
    Change {
        step: 1,
        kind,
        row: Some(2),
        email_address: current
            .as_ref()
            .map_or("n@x.io".into(), |a| a.email_address.clone()),
        reason: "the roster says so".into(),
        current,
        differences: vec![],
        requests: vec![PlannedRequest {
            method: method.into(),
            path: path.into(),
            body: Some(body.into()),
        }],
    }
}

fn apply(s: &mut Script, change: &Change) -> Result<ChangeResult, Error> {
    apply_change(s, &conn(), change, &ApplyOptions::default())
}

fn dry_run(s: &mut Script, change: &Change) -> ChangeResult {
    let opts = ApplyOptions {
        dry_run: true,
        ..Default::default()
    };
    apply_change(s, &conn(), change, &opts).expect("a dry run of a valid change answers")
}

/// The agent a planned create makes.
fn new_agent() -> Value {
    json!({"id": "new", "emailAddress": "n@x.io", "name": "N", "role": "AGENT",
           "active": true, "inboxes": [], "teams": []})
}

fn create_body() -> Value {
    json!({"emailAddress": "n@x.io", "name": "N", "role": "AGENT"})
}

#[track_caller]
fn assert_refused(s: &mut Script, change: &Change, field: &str) {
    match apply(s, change) {
        Err(Error::InvalidInput { field: f, .. }) if f == field => {}
        other => panic!("expected invalid input in {field}, got {other:?}"),
    }
    assert!(s.sent.is_empty(), "nothing may be sent: {:?}", s.lines());
}

#[test]
fn a_planned_create_posts_the_planned_body_once_and_warns_of_the_welcome_email() {
    let mut s = Script::default()
        .answer(200, page(vec![], None))
        .answer(201, new_agent());
    let r = apply(&mut s, &change(ChangeKind::Create, None, create_body())).unwrap();
    assert_eq!(r.status, ChangeStatus::Applied, "got {r:?}");
    assert_eq!(r.outcome, Some(Outcome::Created));
    assert_eq!(r.agent, Some(as_agent(new_agent())));
    assert_eq!(
        s.lines(),
        [
            "GET /agents?limit=100&emailAddress=n%40x.io",
            "POST /agents"
        ]
    );
    assert_eq!(sent_body(&s, 1), create_body(), "the planned body is sent");
    assert_eq!(
        r.requests,
        [PlannedRequest {
            method: "POST".into(),
            path: "/api/v1/agents".into(),
            body: Some(create_body().to_string()),
        }],
        "the create is reported as sent"
    );
    assert_eq!(r.warnings, [WELCOME_WARNING]);
}

#[test]
fn a_create_whose_agent_is_already_there_as_planned_is_already_applied_and_sends_nothing() {
    let mut s = Script::default().answer(200, page(vec![new_agent()], None));
    let r = apply(&mut s, &change(ChangeKind::Create, None, create_body())).unwrap();
    assert_eq!(r.status, ChangeStatus::AlreadyApplied, "got {r:?}");
    assert_eq!(r.outcome, None);
    assert_eq!(r.agent, Some(as_agent(new_agent())));
    assert!(r.message.contains("already exists"), "got {}", r.message);
    assert!(r.requests.is_empty(), "nothing was sent: {r:?}");
    assert_eq!(s.lines(), ["GET /agents?limit=100&emailAddress=n%40x.io"]);
}

#[test]
fn a_create_whose_email_now_belongs_to_a_different_agent_is_stale() {
    let mut s = Script::default().answer(200, page(vec![agent("x9", "n@x.io", true)], None));
    let r = apply(&mut s, &change(ChangeKind::Create, None, create_body())).unwrap();
    assert_eq!(r.status, ChangeStatus::Stale, "got {r:?}");
    assert_eq!(r.outcome, None);
    assert_eq!(
        r.agent.map(|a| a.id),
        Some("x9".into()),
        "the holder is named"
    );
    assert!(
        r.message.contains("differs from the plan"),
        "got {}",
        r.message
    );
    assert_eq!(s.sent.len(), 1, "no create is sent: {:?}", s.lines());
}

#[test]
fn a_create_refused_409_for_an_agent_unlike_the_plan_is_stale() {
    let mut s = Script::default()
        .answer(200, page(vec![], None))
        .answer(
            409,
            json!({"errors": [{"attr": "emailAddress", "code": "taken"}]}),
        )
        .answer(200, page(vec![agent("x9", "n@x.io", false)], None));
    let r = apply(&mut s, &change(ChangeKind::Create, None, create_body())).unwrap();
    assert_eq!(r.status, ChangeStatus::Stale, "got {r:?}");
    assert_eq!(r.agent.map(|a| a.id), Some("x9".into()));
    assert_eq!(s.lines()[1], "POST /agents", "the one create was sent");
    assert_eq!(s.sent.len(), 3, "and not sent again: {:?}", s.lines());
}

#[test]
fn a_dry_run_create_reports_the_post_without_sending_it() {
    let mut s = Script::default().answer(200, page(vec![], None));
    let r = dry_run(&mut s, &change(ChangeKind::Create, None, create_body()));
    assert_eq!(r.status, ChangeStatus::DryRun, "got {r:?}");
    assert_eq!(r.outcome, Some(Outcome::Created));
    assert_eq!(r.agent, None);
    assert_eq!(r.requests.len(), 1, "the create it would send: {r:?}");
    assert_eq!(r.requests[0].method, "POST");
    assert_eq!(s.lines(), ["GET /agents?limit=100&emailAddress=n%40x.io"]);
}

#[test]
fn a_planned_update_patches_an_unchanged_agent_with_the_planned_body() {
    let planned = agent("a1", "a@x.io", true);
    let body = json!({"name": "B", "inboxes": ["ibx_1", "ibx_2"]});
    let after = json!({"id": "a1", "emailAddress": "a@x.io", "name": "B", "role": "AGENT",
                       "active": true, "inboxes": ["ibx_1", "ibx_2"], "teams": []});
    let mut s = Script::default()
        .answer(200, planned.clone())
        .answer(200, after.clone());
    let r = apply(
        &mut s,
        &change(ChangeKind::Update, Some(planned), body.clone()),
    )
    .unwrap();
    assert_eq!(r.status, ChangeStatus::Applied, "got {r:?}");
    assert_eq!(r.outcome, Some(Outcome::Updated));
    assert_eq!(r.agent, Some(as_agent(after)));
    assert!(r.warnings.is_empty(), "an update warns of nothing: {r:?}");
    assert_eq!(s.lines(), ["GET /agents/a1", "PATCH /agents/a1"]);
    assert_eq!(sent_body(&s, 1), body, "the planned body is sent");
    assert_eq!(r.requests.len(), 1);
    assert_eq!(r.requests[0].path, "/api/v1/agents/a1");
}

#[test]
fn an_update_already_made_is_already_applied_without_a_patch() {
    let planned = agent("a1", "a@x.io", true);
    let mut now = planned.clone();
    now["name"] = json!("B");
    let mut s = Script::default().answer(200, now.clone());
    let r = apply(
        &mut s,
        &change(ChangeKind::Update, Some(planned), json!({"name": "B"})),
    )
    .unwrap();
    assert_eq!(r.status, ChangeStatus::AlreadyApplied, "got {r:?}");
    assert_eq!(r.outcome, None);
    assert_eq!(r.agent, Some(as_agent(now)));
    assert!(r.requests.is_empty());
    assert_eq!(s.lines(), ["GET /agents/a1"]);
}

#[test]
fn an_agent_changed_since_the_plan_is_stale_and_names_only_what_moved() {
    let planned = agent("a1", "a@x.io", true);
    // The e-mail's case is no change; the name is.
    let mut now = planned.clone();
    now["emailAddress"] = json!("A@X.io");
    now["name"] = json!("Z");
    let mut s = Script::default().answer(200, now);
    let r = apply(
        &mut s,
        &change(ChangeKind::Update, Some(planned), json!({"name": "B"})),
    )
    .unwrap();
    assert_eq!(r.status, ChangeStatus::Stale, "got {r:?}");
    assert_eq!(
        r.message,
        "agent a1 changed since the plan: name was A, is Z; plan again"
    );
    assert_eq!(s.lines(), ["GET /agents/a1"], "no PATCH is sent");
}

#[test]
fn a_change_to_an_agent_that_no_longer_exists_is_stale() {
    let mut s = Script::default().answer(404, json!({"errors": [{"code": "not_exist"}]}));
    let r = apply(
        &mut s,
        &change(
            ChangeKind::Update,
            Some(agent("a1", "a@x.io", true)),
            json!({"name": "B"}),
        ),
    )
    .unwrap();
    assert_eq!(r.status, ChangeStatus::Stale, "got {r:?}");
    assert!(r.message.contains("no longer exists"), "got {}", r.message);
    assert_eq!(s.lines(), ["GET /agents/a1"]);
}

#[test]
fn a_deactivation_warns_of_sso_sessions_and_rerouted_conversations() {
    let planned = agent("a1", "a@x.io", true);
    let mut s = Script::default()
        .answer(200, planned.clone())
        .answer(200, agent("a1", "a@x.io", false));
    let r = apply(
        &mut s,
        &change(
            ChangeKind::Deactivate,
            Some(planned),
            json!({"active": false}),
        ),
    )
    .unwrap();
    assert_eq!(r.status, ChangeStatus::Applied, "got {r:?}");
    assert_eq!(r.outcome, Some(Outcome::Deactivated));
    assert_eq!(r.warnings, [SSO_WARNING, REROUTE_WARNING]);
    assert_eq!(sent_body(&s, 1), json!({"active": false}));
}

#[test]
fn a_reactivation_says_the_agent_keeps_its_id_and_history() {
    let planned = agent("a1", "a@x.io", false);
    let mut s = Script::default()
        .answer(200, planned.clone())
        .answer(200, agent("a1", "a@x.io", true));
    let r = apply(
        &mut s,
        &change(
            ChangeKind::Reactivate,
            Some(planned),
            json!({"active": true}),
        ),
    )
    .unwrap();
    assert_eq!(r.status, ChangeStatus::Applied, "got {r:?}");
    assert_eq!(r.outcome, Some(Outcome::Reactivated));
    assert_eq!(r.warnings.len(), 1, "got {:?}", r.warnings);
    assert!(
        r.warnings[0].starts_with("a@x.io was reactivated with its id and history"),
        "got {:?}",
        r.warnings
    );
    assert_eq!(sent_body(&s, 1), json!({"active": true}));
}

#[test]
fn a_dry_run_update_reads_the_agent_but_sends_no_patch() {
    let planned = agent("a1", "a@x.io", true);
    let mut s = Script::default().answer(200, planned.clone());
    let r = dry_run(
        &mut s,
        &change(ChangeKind::Update, Some(planned), json!({"name": "B"})),
    );
    assert_eq!(r.status, ChangeStatus::DryRun, "got {r:?}");
    assert_eq!(r.outcome, Some(Outcome::Updated));
    assert_eq!(r.requests.len(), 1, "the PATCH it would send: {r:?}");
    assert_eq!(r.requests[0].method, "PATCH");
    assert_eq!(s.lines(), ["GET /agents/a1"]);
}

#[test]
fn a_request_unlike_its_kinds_method_and_path_is_refused_before_anything_is_sent() {
    let a1 = Some(as_agent(agent("a1", "a@x.io", true)));
    let body = r#"{"name":"B"}"#;
    for (kind, current, method, path) in [
        (ChangeKind::Update, a1.clone(), "POST", "/api/v1/agents/a1"),
        (ChangeKind::Update, a1.clone(), "PATCH", "/api/v1/agents/a2"),
        (ChangeKind::Update, a1.clone(), "DELETE", "/api/v1/agents"),
        (ChangeKind::Create, None, "PATCH", "/api/v1/agents"),
        (ChangeKind::Create, None, "POST", "/api/v1/teams"),
    ] {
        let mut s = Script::default();
        let c = with_request(kind, current, method, path, body);
        assert_refused(&mut s, &c, "change.requests");
    }
}

#[test]
fn a_change_is_exactly_one_request() {
    let mut c = change(
        ChangeKind::Update,
        Some(agent("a1", "a@x.io", true)),
        json!({"name": "B"}),
    );
    c.requests.push(c.requests[0].clone());
    assert_refused(&mut Script::default(), &c, "change.requests");
    c.requests.clear();
    assert_refused(&mut Script::default(), &c, "change.requests");
}

#[test]
fn only_a_create_has_no_current_agent() {
    let mut c = change(ChangeKind::Create, None, create_body());
    c.current = Some(as_agent(agent("a1", "a@x.io", true)));
    assert_refused(&mut Script::default(), &c, "change.current");
    let mut c = change(
        ChangeKind::Update,
        Some(agent("a1", "a@x.io", true)),
        json!({"name": "B"}),
    );
    c.current = None;
    assert_refused(&mut Script::default(), &c, "change.current");
}

#[test]
fn a_body_that_writes_anything_but_valid_agent_fields_is_refused() {
    for body in [
        json!({"name": "B", "password": "hunter2"}),
        json!({"name": 5}),
        json!({"role": ["ADMIN"]}),
        json!({"inboxes": [5]}),
        json!({"inboxes": ["a/b"]}),
        json!({"teams": "t1"}),
        json!(["name", "B"]),
    ] {
        let c = change(
            ChangeKind::Update,
            Some(agent("a1", "a@x.io", true)),
            body.clone(),
        );
        let mut s = Script::default();
        match apply(&mut s, &c) {
            Err(Error::InvalidInput { field, .. }) if field == "change.requests" => {}
            other => panic!("expected {body} to be refused, got {other:?}"),
        }
        assert!(s.sent.is_empty(), "nothing may be sent for {body}");
    }
}

#[test]
fn an_edited_body_is_checked_as_the_planner_would_have_written_it() {
    // A plan file edited by hand: a role Gladly has not, or spelled as
    // Gladly does not; a profile with other keys, values that are not
    // strings, or an address that is no http(s) URL; an e-mail that is not
    // the change's. Refused, naming the field, nothing sent.
    let a1 = || Some(agent("a1", "a@x.io", true));
    for (body, field) in [
        (json!({"role": "SUPERUSER"}), "change.requests.body.role"),
        (json!({"role": "team-lead"}), "change.requests"),
        (
            json!({"agentProfile": {"avatarUrl": "javascript:alert(1)"}}),
            "change.requests.body.agentProfile.avatar-url",
        ),
        (
            json!({"agentProfile": {"bio": "b", "x": {"y": 1}}}),
            "change.requests.body.agentProfile",
        ),
        (
            json!({"agentProfile": {"bio": 5}}),
            "change.requests.body.agentProfile",
        ),
        (
            json!({"agentProfile": "bio"}),
            "change.requests.body.agentProfile",
        ),
        (json!({"emailAddress": "b@x.io"}), "change.requests"),
    ] {
        let c = change(ChangeKind::Update, a1(), body);
        assert_refused(&mut Script::default(), &c, field);
    }
    // As the planner writes them, they go.
    let body = json!({"role": "TEAM_LEAD", "emailAddress": "A@x.io",
                      "agentProfile": {"bio": "b", "avatarUrl": "https://x.io/a.png"}});
    let c = change(ChangeKind::Update, a1(), body);
    let r = dry_run(
        &mut Script::default().answer(200, agent("a1", "a@x.io", true)),
        &c,
    );
    assert_eq!(r.status, ChangeStatus::DryRun, "{r:?}");
}

#[test]
fn a_kind_that_does_not_fit_the_bodys_active_is_refused() {
    let a1 = || Some(agent("a1", "a@x.io", true));
    for (kind, body) in [
        (ChangeKind::Deactivate, json!({"active": true})),
        (ChangeKind::Deactivate, json!({"name": "B"})),
        (ChangeKind::Deactivate, json!({"active": "false"})),
        (ChangeKind::Reactivate, json!({"active": false})),
        (ChangeKind::Update, json!({"active": false})),
    ] {
        let field = if body["active"].is_string() {
            "change.requests"
        } else {
            "change.kind"
        };
        assert_refused(&mut Script::default(), &change(kind, a1(), body), field);
    }
}

#[test]
fn a_create_without_an_email_or_a_name_is_refused() {
    for body in [
        json!({"emailAddress": "n@x.io", "role": "AGENT"}),
        json!({"name": "N", "role": "AGENT"}),
    ] {
        let c = change(ChangeKind::Create, None, body);
        assert_refused(&mut Script::default(), &c, "change.requests");
    }
}

#[test]
fn a_change_that_names_one_agent_and_writes_another_is_refused() {
    // An edited plan: the report would say bulk-0 was deactivated while
    // the PATCH went to the boss.
    let boss = json!({"id": "agt_044", "emailAddress": "boss@x.io", "name": "B", "role": "ADMINISTRATOR",
                      "active": true, "inboxes": [], "teams": []});
    let mut c = change(ChangeKind::Deactivate, Some(boss), json!({"active": false}));
    c.email_address = "bulk-0@x.io".into();
    assert_refused(&mut Script::default(), &c, "change.email-address");
    // The agent's own address, in another case, is its own.
    c.email_address = "BOSS@x.io".into();
    let mut s = Script::default().answer(
        200,
        json!({"id": "agt_044", "emailAddress": "boss@x.io",
        "name": "B", "role": "ADMINISTRATOR", "active": false, "inboxes": [], "teams": []}),
    );
    assert!(apply(&mut s, &c).is_ok(), "{:?}", s.lines());
}

#[test]
fn a_body_that_writes_a_key_twice_is_refused() {
    let agent = json!({"id": "agt_1", "emailAddress": "a@x.io", "name": "A", "role": "AGENT",
                       "active": true, "inboxes": [], "teams": []});
    let c = with_request(
        ChangeKind::Update,
        Some(as_agent(agent)),
        "PATCH",
        "/api/v1/agents/agt_1",
        r#"{"role": "ADMINISTRATOR", "role": "AGENT"}"#,
    );
    assert_refused(&mut Script::default(), &c, "change.requests");
}
