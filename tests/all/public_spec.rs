//! Against Gladly's public spec: read-only agents, plain-array lists,
//! filters ignored by the server.

use gladly_harness::agents::*;

use crate::support::*;

#[tokio::test(flavor = "multi_thread")]
async fn public_spec_answers_lookups_from_plain_arrays() {
    let e = public_env().await;
    let info = e.harness.check_connection(&e.admin).await.unwrap().unwrap();
    assert_eq!(info.api_flavor, ApiFlavor::PublicSpec);
    // The server ignores ?emailAddress=; the connector still finds only Sam.
    let sam = e
        .harness
        .lookup(&e.admin, &AgentKey::Email("SAM@acme.example".into()))
        .await
        .unwrap()
        .unwrap()
        .expect("found");
    assert_eq!(sam.id, "agt_002");
    assert_eq!(sam.name.as_deref(), Some("Sam Lee"));
    assert_eq!(sam.role, None, "the public spec sends no role");
    let by_id = e
        .harness
        .lookup(&e.admin, &AgentKey::Id("agt_001".into()))
        .await
        .unwrap()
        .unwrap()
        .expect("found");
    assert_eq!(by_id.email_address, "jane@acme.example");
    // Its 404 has `errors` as a single object, as the spec publishes it.
    let nobody = e
        .harness
        .lookup(&e.admin, &AgentKey::Id("agt_404".into()))
        .await
        .unwrap();
    assert!(
        matches!(nobody, Ok(None)),
        "expected nobody, got {nobody:?}"
    );
    let all = e
        .harness
        .list_agents(&e.admin, false)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(all.len(), 3);
    let teams = e.harness.list_teams(&e.admin).await.unwrap().unwrap();
    assert_eq!(teams[0].agent_ids, Some(vec!["agt_001".to_string()]));
    let inboxes = e.harness.list_inboxes(&e.admin).await.unwrap().unwrap();
    assert_eq!(inboxes[0].disabled, Some(false));
}

#[tokio::test(flavor = "multi_thread")]
async fn public_spec_writes_are_unsupported_with_what_to_do() {
    let e = public_env().await;
    let r = e
        .harness
        .provision(&e.admin, &new_agent("new@acme.example", "New"), &opts())
        .await
        .unwrap();
    match expect_err(r, "unsupported") {
        Error::Unsupported(m) => assert!(
            m.contains("Settings > People > Users") && m.contains("CSV"),
            "got {m}"
        ),
        _ => unreachable!(),
    }
    let mut changes = no_changes();
    changes.role = Some(Role::Admin);
    let r = e
        .harness
        .update(&e.admin, &AgentKey::Id("agt_001".into()), &changes, &opts())
        .await
        .unwrap();
    expect_err(r, "unsupported");
    let r = e
        .harness
        .offboard(
            &e.admin,
            &AgentKey::Email("jane@acme.example".into()),
            &opts(),
        )
        .await
        .unwrap();
    expect_err(r, "unsupported");
    let mut add = no_changes();
    add.inboxes = Some(MembershipChange::Delta(MembershipDelta {
        add: vec!["Billing".into()],
        remove: vec![],
    }));
    let r = e
        .harness
        .update(&e.admin, &AgentKey::Id("agt_001".into()), &add, &opts())
        .await
        .unwrap();
    expect_err(r, "unsupported");
    let r = e
        .harness
        .get_availability(&e.admin, "agt_001")
        .await
        .unwrap();
    expect_err(r, "unsupported");
    assert!(e.sandbox.welcome_emails().is_empty());
}
