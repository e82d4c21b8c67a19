//! The four actions and the reads beside them, against the lifecycle contract.

use gladly_harness::agents::*;
use gladly_sandbox::SandboxConfig;

use crate::support::*;

#[tokio::test(flavor = "multi_thread")]
async fn provision_then_lookup_by_email_and_external_id() {
    let e = env().await;
    let mut want = new_agent("new.agent@acme.example", "New Agent");
    want.inboxes = vec!["ibx_support".into()];
    want.teams = vec!["team_tier1".into()];
    want.external_id = Some("HR-77".into());
    want.language = Some("fr-CA".into());
    want.phone_number = Some("+1 415 555 0100".into());
    want.agent_profile = Some(AgentProfile {
        bio: Some("Loves refunds".into()),
        avatar_url: Some("https://cdn.acme.example/a.png".into()),
    });
    let r = e
        .harness
        .provision(&e.admin, &want, &opts())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.outcome, Outcome::Created);
    let created = r.agent.expect("created agent");
    assert_eq!(created.email_address, "new.agent@acme.example");
    assert_eq!(
        created.inboxes.as_deref(),
        Some(&["ibx_support".to_string()][..])
    );
    assert!(
        r.warnings.iter().any(|w| w.contains("welcome e-mail")),
        "got {:?}",
        r.warnings
    );

    let by_email = e
        .harness
        .lookup(&e.admin, &AgentKey::Email("New.Agent@ACME.example".into()))
        .await
        .unwrap()
        .unwrap()
        .expect("found by e-mail");
    assert_eq!(by_email.id, created.id);
    let by_ext = e
        .harness
        .lookup(&e.admin, &AgentKey::ExternalId("HR-77".into()))
        .await
        .unwrap()
        .unwrap()
        .expect("found by external id");
    assert_eq!(by_ext.id, created.id);
    assert_eq!(by_ext.language.as_deref(), Some("fr-CA"));
    assert_eq!(by_ext.phone_number.as_deref(), Some("+1 415 555 0100"));
    assert_eq!(
        by_ext.agent_profile.and_then(|p| p.bio).as_deref(),
        Some("Loves refunds")
    );
    assert_eq!(e.sandbox.welcome_emails().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn lookup_of_nobody_is_none_not_an_error() {
    let e = env().await;
    for key in [
        AgentKey::Id("agt_999".into()),
        AgentKey::Email("nobody@acme.example".into()),
        AgentKey::ExternalId("X-0".into()),
    ] {
        let r = e.harness.lookup(&e.admin, &key).await.unwrap();
        assert!(
            matches!(r, Ok(None)),
            "expected ok(none) for {key:?}, got {r:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn update_sets_role_and_full_inbox_set() {
    let e = env().await;
    let mut changes = no_changes();
    changes.role = Some(Role::TeamLead);
    changes.inboxes = Some(MembershipChange::Set(vec![
        "Billing".into(),
        "ibx_vip".into(),
    ]));
    let r = e
        .harness
        .update(&e.admin, &AgentKey::Id("agt_001".into()), &changes, &opts())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.outcome, Outcome::Updated);
    let a = r.agent.unwrap();
    assert_eq!(a.role, Some(Role::TeamLead));
    assert_eq!(
        a.inboxes,
        Some(vec!["ibx_billing".into(), "ibx_vip".into()])
    );
    let stored = e.sandbox.org().agent("agt_001").unwrap().clone();
    assert_eq!(stored.role, "TEAM_LEAD");
    assert_eq!(stored.inboxes, vec!["ibx_billing", "ibx_vip"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn add_inbox_keeps_the_other_inboxes() {
    let e = env().await;
    // Sam has ibx_support and ibx_billing.
    let mut changes = no_changes();
    changes.inboxes = Some(MembershipChange::Delta(MembershipDelta {
        add: vec!["vip chat".into()],
        remove: vec![],
    }));
    let r = e
        .harness
        .update(
            &e.admin,
            &AgentKey::Email("sam@acme.example".into()),
            &changes,
            &opts(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.outcome, Outcome::Updated);
    assert_eq!(
        e.sandbox.org().agent("agt_002").unwrap().inboxes,
        vec!["ibx_support", "ibx_billing", "ibx_vip"]
    );
    let patch = e.writes().pop().expect("one PATCH");
    assert_eq!(
        patch.body.as_deref(),
        Some(r#"{"inboxes":["ibx_support","ibx_billing","ibx_vip"]}"#),
        "PATCH replaces arrays, so the full list must be sent"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn remove_team_keeps_the_others() {
    let e = env().await;
    let mut changes = no_changes();
    changes.teams = Some(MembershipChange::Delta(MembershipDelta {
        add: vec!["Escalations".into()],
        remove: vec!["team_tier2".into()],
    }));
    e.harness
        .update(&e.admin, &AgentKey::Id("agt_002".into()), &changes, &opts())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        e.sandbox.org().agent("agt_002").unwrap().teams,
        vec!["team_escalations"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn update_that_changes_nothing_sends_no_patch() {
    let e = env().await;
    let mut changes = no_changes();
    changes.role = Some(Role::Agent);
    changes.inboxes = Some(MembershipChange::Set(vec!["General Support".into()]));
    changes.name = Some("Jane Doe".into());
    let r = e
        .harness
        .update(&e.admin, &AgentKey::Id("agt_001".into()), &changes, &opts())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.outcome, Outcome::Unchanged);
    assert!(r.requests.is_empty());
    assert!(e.writes().is_empty(), "got {:?}", e.writes());
}

#[tokio::test(flavor = "multi_thread")]
async fn update_sends_only_the_fields_that_change() {
    let e = env().await;
    let mut changes = no_changes();
    changes.role = Some(Role::Agent); // already
    changes.name = Some("Jane Q. Doe".into());
    e.harness
        .update(&e.admin, &AgentKey::Id("agt_001".into()), &changes, &opts())
        .await
        .unwrap()
        .unwrap();
    let writes = e.writes();
    assert_eq!(writes.len(), 1);
    assert_eq!(writes[0].body.as_deref(), Some(r#"{"name":"Jane Q. Doe"}"#));
}

#[tokio::test(flavor = "multi_thread")]
async fn offboard_then_lookup_shows_inactive() {
    let e = env().await;
    let r = e
        .harness
        .offboard(
            &e.admin,
            &AgentKey::Email("jane@acme.example".into()),
            &opts(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.outcome, Outcome::Deactivated);
    assert!(
        r.warnings.iter().any(|w| w.contains("SSO")),
        "got {:?}",
        r.warnings
    );
    let a = e
        .harness
        .lookup(&e.admin, &AgentKey::Id("agt_001".into()))
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(a.active, Some(false));
}

#[tokio::test(flavor = "multi_thread")]
async fn offboard_of_an_inactive_agent_sends_no_patch() {
    let e = env().await;
    let r = e
        .harness
        .offboard(&e.admin, &AgentKey::ExternalId("E-0999".into()), &opts())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.outcome, Outcome::AlreadyInactive);
    assert!(e.writes().is_empty(), "got {:?}", e.writes());
}

#[tokio::test(flavor = "multi_thread")]
async fn provision_twice_sends_one_welcome_email() {
    let e = env().await;
    let want = new_agent("twice@acme.example", "Twice");
    let first = e
        .harness
        .provision(&e.admin, &want, &opts())
        .await
        .unwrap()
        .unwrap();
    let mut again = want.clone();
    again.role = Role::Admin;
    let second = e
        .harness
        .provision(&e.admin, &again, &opts())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.outcome, Outcome::Created);
    assert_eq!(second.outcome, Outcome::AlreadyExisted);
    assert_eq!(second.agent.unwrap().id, first.agent.unwrap().id);
    assert_eq!(
        second.differences,
        vec!["role: AGENT (requested ADMIN)".to_string()]
    );
    assert_eq!(e.sandbox.welcome_emails().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn provision_existing_deactivated_email_reactivates() {
    let e = env().await;
    let mut want = new_agent("Former@acme.example", "Former Agent");
    want.inboxes = vec!["Billing".into()];
    let r = e
        .harness
        .provision(&e.admin, &want, &opts())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.outcome, Outcome::Reactivated);
    let a = r.agent.unwrap();
    assert_eq!(a.id, "agt_003");
    assert_eq!(a.active, Some(true));
    assert_eq!(a.inboxes, Some(vec!["ibx_billing".into()]));
    assert!(e.sandbox.welcome_emails().is_empty());
    let writes = e.writes();
    assert_eq!(writes.len(), 1, "one PATCH, no POST: got {writes:?}");
    assert_eq!(writes[0].method, "PATCH");
}

#[tokio::test(flavor = "multi_thread")]
async fn provision_with_no_reactivate_is_a_conflict_naming_the_agent() {
    let e = env().await;
    let mut o = opts();
    o.no_reactivate = true;
    let r = e
        .harness
        .provision(
            &e.admin,
            &new_agent("former@acme.example", "Former Agent"),
            &o,
        )
        .await
        .unwrap();
    match expect_err(r, "conflict") {
        Error::Conflict(c) => assert_eq!(c.agent_ids, vec!["agt_003".to_string()]),
        _ => unreachable!(),
    }
    assert!(e.writes().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_resolves_and_sends_no_write() {
    let e = env().await;
    let mut o = opts();
    o.dry_run = true;
    let mut want = new_agent("dry@acme.example", "Dry Run");
    want.inboxes = vec!["general support".into()];
    let r = e
        .harness
        .provision(&e.admin, &want, &o)
        .await
        .unwrap()
        .unwrap();
    assert!(r.dry_run);
    assert_eq!(r.outcome, Outcome::Created);
    assert_eq!(r.requests.len(), 1);
    assert_eq!(r.requests[0].method, "POST");
    assert_eq!(r.requests[0].path, "/api/v1/agents");
    assert!(
        r.requests[0]
            .body
            .as_deref()
            .unwrap()
            .contains(r#""inboxes":["ibx_support"]"#)
    );

    let mut changes = no_changes();
    changes.role = Some(Role::Admin);
    let u = e
        .harness
        .update(&e.admin, &AgentKey::Id("agt_001".into()), &changes, &o)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(u.requests[0].body.as_deref(), Some(r#"{"role":"ADMIN"}"#));
    let off = e
        .harness
        .offboard(&e.admin, &AgentKey::Id("agt_001".into()), &o)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(off.outcome, Outcome::Deactivated);
    assert!(e.writes().is_empty(), "a dry run sent {:?}", e.writes());
    assert!(e.sandbox.welcome_emails().is_empty());
    assert!(e.sandbox.org().agent("agt_001").unwrap().active);
}

#[tokio::test(flavor = "multi_thread")]
async fn list_agents_walks_every_page_at_the_largest_size() {
    let e = env_with(SandboxConfig {
        extra_agents: 250,
        ..Default::default()
    })
    .await;
    let all = e
        .harness
        .list_agents(&e.admin, false)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(all.len(), 253);
    let pages: Vec<_> = e
        .sandbox
        .requests()
        .into_iter()
        .filter(|r| r.path_and_query.starts_with("/api/v1/agents?"))
        .collect();
    assert_eq!(pages.len(), 3, "got {pages:?}");
    assert!(pages.iter().all(|p| p.path_and_query.contains("limit=100")));

    let active = e
        .harness
        .list_agents(&e.admin, true)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(active.len(), 252);
    assert!(active.iter().all(|a| a.active == Some(true)));
}

#[tokio::test(flavor = "multi_thread")]
async fn lookup_by_external_id_walks_pages() {
    let e = env_with(SandboxConfig {
        extra_agents: 150,
        ..Default::default()
    })
    .await;
    let a = e
        .harness
        .lookup(&e.admin, &AgentKey::ExternalId("B-149".into()))
        .await
        .unwrap()
        .unwrap()
        .expect("the last bulk agent");
    assert_eq!(a.email_address, "bulk-149@acme.example");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_agents_with_one_external_id_is_a_conflict_listing_both() {
    let e = env().await;
    e.sandbox.org().agents[1].external_id = Some("E-1001".into());
    let r = e
        .harness
        .lookup(&e.admin, &AgentKey::ExternalId("E-1001".into()))
        .await
        .unwrap();
    match expect_err(r, "conflict") {
        Error::Conflict(c) => {
            assert_eq!(c.agent_ids, vec!["agt_001".to_string(), "agt_002".into()])
        }
        _ => unreachable!(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn teams_inboxes_availability_and_connection() {
    let e = env().await;
    let teams = e.harness.list_teams(&e.admin).await.unwrap().unwrap();
    assert_eq!(teams.len(), 3);
    assert_eq!(teams[0].name.as_deref(), Some("Tier 1 Support"));
    let inboxes = e.harness.list_inboxes(&e.admin).await.unwrap().unwrap();
    assert_eq!(inboxes.len(), 4);
    assert_eq!(inboxes[2].channel_type.as_deref(), Some("CHAT"));
    let av = e
        .harness
        .get_availability(&e.admin, "agt_001")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(av.agent_id, "agt_001");
    assert_eq!(av.status, AgentStatus::Available);
    let info = e.harness.check_connection(&e.admin).await.unwrap().unwrap();
    assert_eq!(info.api_flavor, ApiFlavor::Lifecycle);
    assert_eq!(info.base_url, e.sandbox.url());
}

#[tokio::test(flavor = "multi_thread")]
async fn email_change_to_a_taken_address_is_a_conflict() {
    let e = env().await;
    let mut changes = no_changes();
    changes.email_address = Some("sam@acme.example".into());
    let r = e
        .harness
        .update(&e.admin, &AgentKey::Id("agt_001".into()), &changes, &opts())
        .await
        .unwrap();
    expect_err(r, "conflict");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_address_gladly_holds_in_another_case_is_found_when_its_filter_minds_case() {
    // Gladly does not say its `emailAddress` filter ignores case. Where it
    // minds it, an agent held as `Jane.Doe@…` is not listed for
    // `jane.doe@…`, which its 409 still takes for the same address: an
    // offboarding answered `not-found` (a leaver left active), a provision
    // a 409 it could not explain. Each now walks the list when the filter
    // finds nobody. A look-up does not (nobody is its common answer, and
    // a walk for each would cost an IdP's push of a thousand users a
    // hundred thousand requests in a large organisation): it trusts the
    // filter, and says nobody.
    let e = env().await;
    let id = {
        let mut org = e.sandbox.org();
        org.email_filter_minds_case = true;
        org.add_agent("Jane.Doe@acme.example", "Jane Doe", true, None)
            .id
            .clone()
    };
    let found = e
        .harness
        .lookup(&e.admin, &AgentKey::Email("jane.doe@acme.example".into()))
        .await
        .unwrap()
        .unwrap();
    assert!(found.is_none(), "{found:?}");
    let r = e
        .harness
        .offboard(
            &e.admin,
            &AgentKey::Email("JANE.DOE@acme.example".into()),
            &opts(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.outcome, Outcome::Deactivated);
    assert_eq!(r.agent.map(|a| a.id), Some(id.clone()));
    // Back as a joiner, written in lower case: the create meets 409, and
    // the agent it names is reactivated, not a second Jane.
    let r = e
        .harness
        .provision(
            &e.admin,
            &new_agent("jane.doe@acme.example", "Jane Doe"),
            &opts(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.outcome, Outcome::Reactivated);
    assert_eq!(r.agent.map(|a| a.id), Some(id));
    assert!(e.sandbox.welcome_emails().is_empty());
}
