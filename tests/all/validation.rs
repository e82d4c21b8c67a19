//! Bad input is refused with the field named, and nothing is sent for it.

use gladly_harness::Connection;
use gladly_harness::agents::*;

use crate::support::*;

fn profile(bio: Option<String>, avatar: Option<&str>) -> Option<AgentProfile> {
    Some(AgentProfile {
        bio,
        avatar_url: avatar.map(str::to_string),
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_new_agents_are_refused_before_anything_is_sent() {
    let e = env().await;
    let base = || new_agent("ok@acme.example", "Okay Name");
    let cases: Vec<(&str, NewAgent)> = vec![
        (
            "agent.email-address",
            NewAgent {
                email_address: "".into(),
                ..base()
            },
        ),
        (
            "agent.email-address",
            NewAgent {
                email_address: "no-at-sign".into(),
                ..base()
            },
        ),
        (
            "agent.email-address",
            NewAgent {
                email_address: "two@@acme.example".into(),
                ..base()
            },
        ),
        (
            "agent.email-address",
            NewAgent {
                email_address: "sp ace@acme.example".into(),
                ..base()
            },
        ),
        (
            "agent.email-address",
            NewAgent {
                email_address: "x@nodot".into(),
                ..base()
            },
        ),
        (
            "agent.email-address",
            NewAgent {
                email_address: format!("{}@acme.example", "a".repeat(65)),
                ..base()
            },
        ),
        (
            "agent.name",
            NewAgent {
                name: "   ".into(),
                ..base()
            },
        ),
        (
            "agent.name",
            NewAgent {
                name: "x".repeat(201),
                ..base()
            },
        ),
        (
            "agent.name",
            NewAgent {
                name: "bell\u{7}".into(),
                ..base()
            },
        ),
        (
            "agent.role",
            NewAgent {
                role: Role::Other("SUPERUSER".into()),
                ..base()
            },
        ),
        (
            "agent.language",
            NewAgent {
                language: Some("english".into()),
                ..base()
            },
        ),
        (
            "agent.language",
            NewAgent {
                language: Some("en_US".into()),
                ..base()
            },
        ),
        (
            "agent.phone-number",
            NewAgent {
                phone_number: Some("call me".into()),
                ..base()
            },
        ),
        (
            "agent.phone-number",
            NewAgent {
                phone_number: Some("12".into()),
                ..base()
            },
        ),
        (
            "agent.external-id",
            NewAgent {
                external_id: Some("".into()),
                ..base()
            },
        ),
        (
            "agent.external-id",
            NewAgent {
                external_id: Some("x".repeat(300)),
                ..base()
            },
        ),
        (
            "agent.inboxes",
            NewAgent {
                inboxes: vec!["".into()],
                ..base()
            },
        ),
        (
            "agent.teams",
            NewAgent {
                teams: vec!["tab\tname".into()],
                ..base()
            },
        ),
        (
            "agent.agent-profile.avatar-url",
            NewAgent {
                agent_profile: profile(None, Some("javascript:alert(1)")),
                ..base()
            },
        ),
        (
            "agent.agent-profile.bio",
            NewAgent {
                agent_profile: profile(Some("b".repeat(2001)), None),
                ..base()
            },
        ),
    ];
    assert!(cases.len() >= 20);
    for (field, agent) in cases {
        let r = e
            .harness
            .provision(&e.admin, &agent, &opts())
            .await
            .unwrap();
        assert_eq!(invalid_field(r), field, "for {agent:?}");
    }
    assert!(
        e.sandbox.requests().is_empty(),
        "sent {:?}",
        e.sandbox.requests()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_keys_and_connections_are_refused_before_anything_is_sent() {
    let e = env().await;
    let ok = e.admin.clone();
    let keys = [
        ("key.id", AgentKey::Id("".into())),
        ("key.id", AgentKey::Id("..".into())),
        ("key.id", AgentKey::Id("agt/../../teams".into())),
        ("key.id", AgentKey::Id("agt_1?active=false".into())),
        ("key.id", AgentKey::Id("agt 1".into())),
        ("key.email", AgentKey::Email("not-an-email".into())),
        ("key.external-id", AgentKey::ExternalId("".into())),
    ];
    for (field, key) in keys {
        let r = e.harness.offboard(&ok, &key, &opts()).await.unwrap();
        assert_eq!(invalid_field(r), field, "for {key:?}");
        let r = e.harness.lookup(&ok, &key).await.unwrap();
        assert_eq!(invalid_field(r), field, "for {key:?}");
    }
    let r = e.harness.get_availability(&ok, "../agents").await.unwrap();
    assert_eq!(invalid_field(r), "agent-id");

    let conns = [
        (
            "connection.org-url",
            Connection::new("acme.gladly.com", "u", "t"),
        ),
        (
            "connection.org-url",
            Connection::new("http://acme.gladly.com", "u", "t"),
        ),
        (
            "connection.org-url",
            Connection::new("https://u:p@acme.gladly.com", "u", "t"),
        ),
        (
            "connection.org-url",
            Connection::new("https://acme.gladly.com/elsewhere", "u", "t"),
        ),
        (
            "connection.api-user",
            Connection::new(e.sandbox.url(), "", "t"),
        ),
        (
            "connection.api-user",
            Connection::new(e.sandbox.url(), "a:b", "t"),
        ),
        (
            "connection.credential.token",
            Connection::new(e.sandbox.url(), "u", ""),
        ),
        (
            "connection.credential.token",
            Connection::new(e.sandbox.url(), "u", "tok en"),
        ),
    ];
    for (field, conn) in conns {
        let r = e.harness.check_connection(&conn).await.unwrap();
        assert_eq!(invalid_field(r), field, "for {conn:?}");
    }
    let o = with_retry(0, 0);
    let r = e
        .harness
        .offboard(&ok, &AgentKey::Id("agt_001".into()), &o)
        .await
        .unwrap();
    assert_eq!(invalid_field(r), "options.retry.max-attempts");
    assert!(
        e.sandbox.requests().is_empty(),
        "sent {:?}",
        e.sandbox.requests()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_changes_are_refused_before_anything_is_sent() {
    let e = env().await;
    let key = AgentKey::Id("agt_001".into());
    let cases: Vec<(&str, AgentChanges)> = vec![
        (
            "changes.email-address",
            AgentChanges {
                email_address: Some("nope".into()),
                ..no_changes()
            },
        ),
        (
            "changes.name",
            AgentChanges {
                name: Some("".into()),
                ..no_changes()
            },
        ),
        (
            "changes.role",
            AgentChanges {
                role: Some(Role::Other("GOD".into())),
                ..no_changes()
            },
        ),
        (
            "changes.language",
            AgentChanges {
                language: Some("xx-".into()),
                ..no_changes()
            },
        ),
        (
            "changes.phone-number",
            AgentChanges {
                phone_number: Some("+1 555 CALL".into()),
                ..no_changes()
            },
        ),
        (
            "changes.inboxes.add",
            AgentChanges {
                inboxes: Some(MembershipChange::Delta(MembershipDelta {
                    add: vec![" ".into()],
                    remove: vec![],
                })),
                ..no_changes()
            },
        ),
    ];
    for (field, changes) in cases {
        let r = e
            .harness
            .update(&e.admin, &key, &changes, &opts())
            .await
            .unwrap();
        assert_eq!(invalid_field(r), field, "for {changes:?}");
    }
    assert!(
        e.sandbox.requests().is_empty(),
        "sent {:?}",
        e.sandbox.requests()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_inbox_names_list_the_closest_and_send_no_write() {
    let e = env().await;
    let mut want = new_agent("typo@acme.example", "Typo");
    want.inboxes = vec!["Biling".into()];
    let r = e.harness.provision(&e.admin, &want, &opts()).await.unwrap();
    match expect_err(r, "invalid-input") {
        Error::InvalidInput(i) => {
            assert_eq!(i.field, "agent.inboxes");
            assert!(
                i.message.contains("'Billing' (ibx_billing)"),
                "got {}",
                i.message
            );
        }
        _ => unreachable!(),
    }
    assert!(e.writes().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_name_two_inboxes_share_asks_for_the_id() {
    let e = env().await;
    e.sandbox.org().inboxes[2].name = "Billing".into();
    let mut changes = no_changes();
    changes.inboxes = Some(MembershipChange::Set(vec!["billing".into()]));
    let r = e
        .harness
        .update(&e.admin, &AgentKey::Id("agt_001".into()), &changes, &opts())
        .await
        .unwrap();
    match expect_err(r, "invalid-input") {
        Error::InvalidInput(i) => {
            assert!(
                i.message.contains("ibx_billing, ibx_vip") && i.message.contains("give the id"),
                "got {}",
                i.message
            )
        }
        _ => unreachable!(),
    }
    assert!(e.writes().is_empty());
}
