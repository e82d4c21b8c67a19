//! The roster's rules that need no server: which changes a plan makes and in
//! what order, which conflicts it reports, who is in scope, and what would
//! lock the connection's API user out.

use serde_json::{Map, Value, json};

use super::matching::{Row, build};
use super::*;
use crate::model::{Agent, ApiFlavor, Role};

const API_USER: &str = "admin@acme.example";

/// An active agent named Pat Doe, with the role AGENT and no memberships.
fn agent(id: &str, email: &str, ext: Option<&str>) -> Agent {
    serde_json::from_value(json!({
        "id": id,
        "emailAddress": email,
        "name": "Pat Doe",
        "role": "AGENT",
        "active": true,
        "externalId": ext,
        "inboxes": [],
        "teams": [],
    }))
    .expect("a valid agent")
}

fn inactive(mut a: Agent) -> Agent {
    a.active = Some(false);
    a
}

/// An active row for Pat Doe that leaves every optional field as it is.
fn row(index: u32, email: &str, ext: Option<&str>) -> Row {
    Row {
        index,
        want: DesiredAgent {
            email_address: email.into(),
            name: "Pat Doe".into(),
            role: None,
            inboxes: None,
            teams: None,
            external_id: ext.map(str::to_string),
            phone_number: None,
            language: None,
            agent_profile: None,
            active: true,
        },
        inboxes: None,
        teams: None,
    }
}

fn marked_inactive(mut r: Row) -> Row {
    r.want.active = false;
    r
}

fn plan(rows: &[Row], agents: &[Agent]) -> Plan {
    plan_with(rows, agents, &Scope::Managed, None)
}

fn plan_with(rows: &[Row], agents: &[Agent], scope: &Scope, threshold: Option<u32>) -> Plan {
    build(
        rows,
        agents,
        ApiFlavor::Lifecycle,
        API_USER,
        scope,
        threshold,
    )
}

/// Each change as (step, kind, row, e-mail).
fn steps(p: &Plan) -> Vec<(u32, ChangeKind, Option<u32>, &str)> {
    p.changes
        .iter()
        .map(|c| (c.step, c.kind, c.row, c.email_address.as_str()))
        .collect()
}

/// The body the change would send.
fn body(c: &Change) -> Map<String, Value> {
    assert_eq!(c.requests.len(), 1, "expected one request per change");
    let text = c.requests[0].body.as_deref().expect("a body");
    serde_json::from_str(text).expect("a JSON object")
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().expect("an object").clone()
}

mod matching {
    use super::*;

    #[test]
    fn a_roster_that_matches_plans_nothing_and_counts_every_row_unchanged() {
        let agents = [
            agent("agt_1", "jane@acme.example", Some("E1")),
            agent("agt_2", "sam@acme.example", Some("E2")),
            agent("agt_admin", API_USER, None),
        ];
        let p = plan(
            &[
                row(0, "jane@acme.example", Some("E1")),
                row(1, "sam@acme.example", Some("E2")),
            ],
            &agents,
        );
        assert!(
            p.changes.is_empty(),
            "expected no change, got {:#?}",
            p.changes
        );
        assert!(
            p.conflicts.is_empty(),
            "expected no conflict, got {:#?}",
            p.conflicts
        );
        assert_eq!(p.unchanged, 2, "expected both rows unchanged");
        assert_eq!(
            p.active_in_scope, 2,
            "expected the two managed agents in scope"
        );
        assert_eq!(
            (p.deactivations, p.deactivation_threshold, p.guard_tripped),
            (0, 5, false),
            "expected no deactivation and the default threshold"
        );
        assert_eq!(p.api_flavor, ApiFlavor::Lifecycle);
        assert!(
            p.warnings.is_empty(),
            "expected no warning, got {:?}",
            p.warnings
        );
    }

    #[test]
    fn an_email_differing_only_in_case_matches_the_same_agent() {
        let agents = [
            agent("agt_1", "Jane@ACME.example", None),
            agent("agt_2", "sam@acme.example", None),
        ];
        let p = plan(&[row(0, "jane@acme.example", None)], &agents);
        assert!(
            p.conflicts.is_empty(),
            "expected no conflict, got {:#?}",
            p.conflicts
        );
        assert!(
            p.changes.is_empty(),
            "expected Jane matched as she is, not created or moved, got {:#?}",
            p.changes
        );
        assert_eq!(p.unchanged, 1);
    }

    #[test]
    fn a_row_matched_by_both_external_id_and_email_says_external_id() {
        let mut r = row(0, "jane@acme.example", Some("E1"));
        r.want.name = "Jane Roe".into();
        let p = plan(&[r], &[agent("agt_1", "jane@acme.example", Some("E1"))]);
        assert_eq!(
            steps(&p),
            [(1, ChangeKind::Update, Some(0), "jane@acme.example")]
        );
        assert_eq!(
            p.changes[0].reason, "matched by external id",
            "expected the external id, the anchor, to be named as the match"
        );
        assert_eq!(body(&p.changes[0]), obj(json!({"name": "Jane Roe"})));
        assert_eq!(p.changes[0].differences, ["name: Pat Doe -> Jane Roe"]);
    }

    #[test]
    fn an_agent_without_external_id_is_linked_by_email() {
        let p = plan(
            &[row(0, "jane@acme.example", Some("E1"))],
            &[agent("agt_1", "jane@acme.example", None)],
        );
        assert_eq!(
            steps(&p),
            [(1, ChangeKind::Update, Some(0), "jane@acme.example")]
        );
        let c = &p.changes[0];
        assert_eq!(c.reason, "matched by e-mail; links the external id");
        assert_eq!(body(c), obj(json!({"externalId": "E1"})));
        assert_eq!(c.differences, ["external-id: unknown -> E1"]);
        assert_eq!(c.current.as_ref().map(|a| a.id.as_str()), Some("agt_1"));
        assert_eq!(c.requests[0].method, "PATCH");
        assert_eq!(c.requests[0].path, "/api/v1/agents/agt_1");
    }

    #[test]
    fn an_email_held_by_another_hr_record_is_a_conflict_and_that_agent_is_left_alone() {
        // Jane's login belongs to E9 in Gladly; the roster says E1, whom
        // Gladly does not have. E9 is absent from the roster, yet not a
        // leaver: the conflict holds it.
        let p = plan(
            &[row(0, "jane@acme.example", Some("E1"))],
            &[agent("agt_9", "jane@acme.example", Some("E9"))],
        );
        assert!(
            p.changes.is_empty(),
            "expected nothing written, got {:#?}",
            p.changes
        );
        assert_eq!(
            p.conflicts.len(),
            1,
            "expected one conflict, got {:#?}",
            p.conflicts
        );
        let c = &p.conflicts[0];
        assert_eq!(
            (c.row, c.email_address.as_str()),
            (Some(0), "jane@acme.example")
        );
        assert_eq!(c.agent_ids, ["agt_9"]);
        assert!(
            c.message.contains("external id is E9, not E1")
                && c.message.contains("two HR records claim one login"),
            "expected the two external ids named, got {}",
            c.message
        );
        assert_eq!(p.unchanged, 0);
        assert_eq!(p.active_in_scope, 1);
    }

    #[test]
    fn an_external_id_two_agents_share_is_a_conflict_and_neither_is_touched() {
        let p = plan(
            &[row(0, "new@acme.example", Some("E1"))],
            &[
                agent("agt_1", "x@acme.example", Some("E1")),
                agent("agt_2", "y@acme.example", Some("E1")),
            ],
        );
        assert!(
            p.changes.is_empty(),
            "expected no create and no deactivation, got {:#?}",
            p.changes
        );
        assert_eq!(
            p.conflicts.len(),
            1,
            "expected one conflict, got {:#?}",
            p.conflicts
        );
        assert_eq!(p.conflicts[0].agent_ids, ["agt_1", "agt_2"]);
        assert!(
            p.conflicts[0]
                .message
                .starts_with("2 agents share the external id E1"),
            "got {}",
            p.conflicts[0].message
        );
    }

    #[test]
    fn an_email_two_agents_hold_is_a_conflict() {
        let p = plan(
            &[row(0, "pat@acme.example", None)],
            &[
                agent("agt_1", "pat@acme.example", None),
                agent("agt_2", "Pat@acme.example", None),
            ],
        );
        assert!(
            p.changes.is_empty(),
            "expected nothing written, got {:#?}",
            p.changes
        );
        assert_eq!(
            p.conflicts.len(),
            1,
            "expected one conflict, got {:#?}",
            p.conflicts
        );
        assert_eq!(p.conflicts[0].agent_ids, ["agt_1", "agt_2"]);
        assert_eq!(
            p.conflicts[0].message,
            "2 agents have the e-mail pat@acme.example"
        );
    }

    #[test]
    fn a_mover_gets_the_new_email_before_a_joiner_takes_the_old_one() {
        // The roster lists the joiner first; the plan moves E1 off
        // old@ first, because Gladly's e-mails are unique.
        let p = plan(
            &[
                row(0, "old@acme.example", None),
                row(1, "new@acme.example", Some("E1")),
            ],
            &[agent("agt_1", "old@acme.example", Some("E1"))],
        );
        assert!(
            p.conflicts.is_empty(),
            "expected no conflict, got {:#?}",
            p.conflicts
        );
        assert_eq!(
            steps(&p),
            [
                (1, ChangeKind::Update, Some(1), "new@acme.example"),
                (2, ChangeKind::Create, Some(0), "old@acme.example"),
            ],
            "expected the mover first, then the joiner"
        );
        let mover = &p.changes[0];
        assert_eq!(
            mover.reason,
            "matched by external id; a mover: the e-mail changes"
        );
        assert_eq!(
            body(mover),
            obj(json!({"emailAddress": "new@acme.example"}))
        );
        assert_eq!(
            mover.differences,
            ["email-address: old@acme.example -> new@acme.example"]
        );
        assert_eq!(mover.requests[0].path, "/api/v1/agents/agt_1");
        let joiner = &p.changes[1];
        assert_eq!(joiner.current, None);
        assert_eq!(
            (
                joiner.requests[0].method.as_str(),
                joiner.requests[0].path.as_str()
            ),
            ("POST", "/api/v1/agents")
        );
        assert_eq!(
            p.warnings,
            [
                "1 create(s): Gladly sends each new agent a welcome e-mail, which cannot be suppressed."
            ]
        );
    }

    #[test]
    fn joiners_are_created_in_the_rosters_order() {
        let p = plan(
            &[
                row(0, "c@acme.example", None),
                row(1, "a@acme.example", None),
                row(2, "b@acme.example", None),
            ],
            &[],
        );
        assert_eq!(
            steps(&p),
            [
                (1, ChangeKind::Create, Some(0), "c@acme.example"),
                (2, ChangeKind::Create, Some(1), "a@acme.example"),
                (3, ChangeKind::Create, Some(2), "b@acme.example"),
            ]
        );
        assert_eq!(p.warnings.len(), 1, "got {:?}", p.warnings);
        assert!(
            p.warnings[0].starts_with("3 create(s)"),
            "got {:?}",
            p.warnings
        );
    }

    #[test]
    fn a_mover_onto_an_email_another_agent_keeps_is_a_conflict() {
        let p = plan(
            &[row(0, "sam@acme.example", Some("E1"))],
            &[
                agent("agt_1", "jane@acme.example", Some("E1")),
                agent("agt_2", "sam@acme.example", None),
            ],
        );
        assert!(
            p.changes.is_empty(),
            "expected nothing written, got {:#?}",
            p.changes
        );
        assert_eq!(
            p.conflicts.len(),
            1,
            "expected one conflict, got {:#?}",
            p.conflicts
        );
        let c = &p.conflicts[0];
        assert_eq!(
            (c.row, c.email_address.as_str()),
            (Some(0), "sam@acme.example")
        );
        assert_eq!(c.agent_ids, ["agt_1"]);
        assert!(
            c.message.starts_with(
                "sam@acme.example belongs to agent agt_2 (sam@acme.example), which the roster does not move off it"
            ),
            "expected the holder named, got {}",
            c.message
        );
    }

    #[test]
    fn swapped_emails_cannot_be_ordered_and_both_rows_are_conflicts() {
        let p = plan(
            &[
                row(0, "b@acme.example", Some("E1")),
                row(1, "a@acme.example", Some("E2")),
            ],
            &[
                agent("agt_1", "a@acme.example", Some("E1")),
                agent("agt_2", "b@acme.example", Some("E2")),
            ],
        );
        assert!(
            p.changes.is_empty(),
            "expected nothing written, got {:#?}",
            p.changes
        );
        let got: Vec<_> = p
            .conflicts
            .iter()
            .map(|c| (c.row, c.agent_ids.clone()))
            .collect();
        assert_eq!(
            got,
            [
                (Some(0), vec!["agt_1".to_string()]),
                (Some(1), vec!["agt_2".to_string()])
            ]
        );
        assert!(
            p.conflicts.iter().all(|c| c.message.contains("swapped")),
            "expected both to say the e-mails are swapped, got {:#?}",
            p.conflicts
        );
    }

    #[test]
    fn a_joiner_waiting_on_a_mover_that_cannot_move_is_a_conflict_too() {
        let p = plan(
            &[
                row(0, "taken@acme.example", Some("E1")),
                row(1, "old@acme.example", None),
            ],
            &[
                agent("agt_1", "old@acme.example", Some("E1")),
                agent("agt_2", "taken@acme.example", None),
            ],
        );
        assert!(
            p.changes.is_empty(),
            "expected nothing written, got {:#?}",
            p.changes
        );
        assert_eq!(
            p.conflicts.len(),
            2,
            "expected two conflicts, got {:#?}",
            p.conflicts
        );
        assert_eq!(p.conflicts[0].row, Some(0));
        assert!(
            p.conflicts[0].message.contains("belongs to agent agt_2"),
            "got {}",
            p.conflicts[0].message
        );
        assert_eq!(p.conflicts[1].row, Some(1));
        assert!(
            p.conflicts[1]
                .message
                .starts_with("old@acme.example cannot be given its e-mail in any order"),
            "got {}",
            p.conflicts[1].message
        );
        assert!(
            p.conflicts[1].agent_ids.is_empty(),
            "a joiner has no agent yet"
        );
    }

    #[test]
    fn an_email_two_agents_hold_is_free_only_when_both_move_off_it() {
        // Gladly holds old@ twice, in two cases. E1 moves off it; the other
        // stays, so E3 cannot take it, though E1's move is made.
        let p = plan(
            &[
                row(0, "new@acme.example", Some("E1")),
                row(1, "old@acme.example", Some("E3")),
            ],
            &[
                agent("agt_1", "Old@acme.example", Some("E1")),
                agent("agt_2", "old@acme.example", None),
                agent("agt_3", "m@acme.example", Some("E3")),
            ],
        );
        assert_eq!(
            steps(&p),
            [(1, ChangeKind::Update, Some(0), "new@acme.example")]
        );
        assert_eq!(
            p.conflicts.len(),
            1,
            "expected one conflict, got {:#?}",
            p.conflicts
        );
        assert_eq!(p.conflicts[0].row, Some(1));
        assert!(
            p.conflicts[0].message.contains("belongs to agent agt_2"),
            "got {}",
            p.conflicts[0].message
        );
    }

    #[test]
    fn leavers_in_scope_are_deactivated_and_never_the_api_user() {
        let agents = [
            agent("agt_admin", API_USER, Some("E0")),
            agent("agt_1", "jane@acme.example", Some("E1")),
            agent("agt_2", "lee@acme.example", Some("E2")),
            agent("agt_3", "contractor@partner.example", None),
            inactive(agent("agt_4", "gone@acme.example", Some("E4"))),
        ];
        let roster = [row(0, "jane@acme.example", Some("E1"))];

        let p = plan(&roster, &agents);
        assert_eq!(
            steps(&p),
            [(1, ChangeKind::Deactivate, None, "lee@acme.example")]
        );
        let c = &p.changes[0];
        assert_eq!(
            c.reason,
            "absent from the roster; managed by it (has an external id)"
        );
        assert_eq!(body(c), obj(json!({"active": false})));
        assert_eq!(c.differences, ["active: true -> false"]);
        assert_eq!(c.requests[0].path, "/api/v1/agents/agt_2");
        assert_eq!(
            (
                p.unchanged,
                p.active_in_scope,
                p.deactivations,
                p.guard_tripped
            ),
            (1, 2, 1, false),
            "expected Jane and Lee in scope, Lee deactivated, the guard not tripped"
        );

        let p = plan_with(&roster, &agents, &Scope::AllAgents, None);
        let leaving: Vec<_> = p.changes.iter().map(|c| c.email_address.as_str()).collect();
        assert_eq!(leaving, ["lee@acme.example", "contractor@partner.example"]);
        assert_eq!(
            p.active_in_scope, 3,
            "expected the API user left out of the count"
        );
        assert_eq!(
            p.changes[1].reason,
            "absent from the roster (scope: every agent)"
        );

        let p = plan_with(
            &roster,
            &agents,
            &Scope::EmailDomains(vec!["@Partner.Example".into()]),
            None,
        );
        assert_eq!(
            steps(&p),
            [(
                1,
                ChangeKind::Deactivate,
                None,
                "contractor@partner.example"
            )]
        );
        assert_eq!(
            p.changes[0].reason,
            "absent from the roster; its e-mail domain is in scope"
        );
    }

    #[test]
    fn an_empty_roster_trips_the_guard_however_few_are_in_scope() {
        let agents = [
            agent("agt_1", "jane@acme.example", Some("E1")),
            agent("agt_2", "sam@acme.example", Some("E2")),
        ];
        let p = plan(&[], &agents);
        assert_eq!(
            (p.deactivations, p.active_in_scope, p.deactivation_threshold),
            (2, 2, 5)
        );
        assert!(
            p.guard_tripped,
            "expected deactivating everyone to trip the guard"
        );
        assert_eq!(
            p.warnings,
            [
                "The plan deactivates 2 of 2 active agent(s) in scope, more than the guard allows (5; or every one of them): it is applied only when told how many deactivations are allowed."
            ]
        );
    }

    #[test]
    fn deactivations_beyond_a_given_threshold_trip_the_guard() {
        let agents: Vec<Agent> = (0..4)
            .map(|i| {
                agent(
                    &format!("agt_{i}"),
                    &format!("p{i}@acme.example"),
                    Some(&format!("E{i}")),
                )
            })
            .collect();
        let roster = [
            row(0, "p0@acme.example", Some("E0")),
            row(1, "p1@acme.example", Some("E1")),
        ];
        let p = plan_with(&roster, &agents, &Scope::Managed, Some(1));
        assert_eq!((p.deactivations, p.active_in_scope), (2, 4));
        assert_eq!(p.deactivation_threshold, 1, "expected the given threshold");
        assert!(
            p.guard_tripped,
            "expected 2 deactivations to trip a threshold of 1"
        );
        assert_eq!(
            p.warnings,
            [
                "The plan deactivates 2 of 4 active agent(s) in scope, more than the guard allows (1): it is applied only when told how many deactivations are allowed."
            ]
        );
        let p = plan_with(&roster, &agents, &Scope::Managed, Some(2));
        assert!(
            !p.guard_tripped,
            "expected 2 deactivations within a threshold of 2"
        );
        assert!(p.warnings.is_empty(), "got {:?}", p.warnings);
    }

    #[test]
    fn a_row_marked_inactive_deactivates_its_agent_once() {
        let p = plan(
            &[
                marked_inactive(row(0, "jane@acme.example", Some("E1"))),
                marked_inactive(row(1, "sam@acme.example", Some("E2"))),
                marked_inactive(row(2, "never@acme.example", Some("E3"))),
            ],
            &[
                agent("agt_1", "jane@acme.example", Some("E1")),
                inactive(agent("agt_2", "sam@acme.example", Some("E2"))),
            ],
        );
        assert_eq!(
            steps(&p),
            [(1, ChangeKind::Deactivate, Some(0), "jane@acme.example")],
            "expected Jane deactivated, Sam left inactive, and no one created"
        );
        assert_eq!(
            p.changes[0].reason,
            "marked inactive in the roster (matched by external id)"
        );
        assert_eq!(body(&p.changes[0]), obj(json!({"active": false})));
        assert_eq!(
            p.unchanged, 2,
            "expected Sam and the never-hired row unchanged"
        );
        assert_eq!((p.deactivations, p.active_in_scope), (1, 1));
        assert!(
            p.guard_tripped,
            "expected deactivating the only active agent in scope to trip the guard"
        );
    }

    #[test]
    fn a_joiner_is_created_as_an_agent_without_empty_memberships() {
        let mut r = row(0, "new@acme.example", Some("E5"));
        r.want.phone_number = Some("+15550100".into());
        r.want.language = Some("fr".into());
        r.inboxes = Some(vec![]);
        r.teams = Some(vec!["team_1".into()]);
        let p = plan(&[r], &[]);
        assert_eq!(
            steps(&p),
            [(1, ChangeKind::Create, Some(0), "new@acme.example")]
        );
        let c = &p.changes[0];
        assert_eq!(c.reason, "not in Gladly: a joiner");
        assert_eq!(c.differences, ["new agent, role AGENT"]);
        assert_eq!(
            body(c),
            obj(json!({
                "emailAddress": "new@acme.example",
                "name": "Pat Doe",
                "role": "AGENT",
                "teams": ["team_1"],
                "externalId": "E5",
                "phoneNumber": "+15550100",
                "language": "fr",
            })),
            "expected no empty inbox list and the role AGENT by default"
        );
    }

    /// Jane as Gladly has her, every field set.
    fn jane() -> Agent {
        serde_json::from_value(json!({
            "id": "agt_1",
            "emailAddress": "jane@acme.example",
            "name": "Jane Doe",
            "role": "AGENT",
            "active": true,
            "externalId": "E1",
            "inboxes": ["ibx_a", "ibx_b"],
            "teams": ["team_1"],
            "phoneNumber": "+15550100",
            "language": "en",
            "agentProfile": {"bio": "Billing"},
        }))
        .expect("a valid agent")
    }

    fn jane_row() -> Row {
        let mut r = row(0, "jane@acme.example", Some("E1"));
        r.want.name = "Jane Doe".into();
        r.want.role = Some(Role::Agent);
        r.want.phone_number = Some("+15550100".into());
        r.want.language = Some("en".into());
        r.want.agent_profile = serde_json::from_value(json!({"bio": "Billing"})).unwrap();
        r.inboxes = Some(vec!["ibx_b".into(), "ibx_a".into()]);
        r.teams = Some(vec!["team_1".into()]);
        r
    }

    #[test]
    fn a_row_equal_to_its_agent_in_every_field_changes_nothing() {
        let p = plan(&[jane_row()], &[jane()]);
        assert!(
            p.changes.is_empty(),
            "expected no change (memberships compare as sets), got {:#?}",
            p.changes
        );
        assert_eq!(p.unchanged, 1);
    }

    #[test]
    fn an_update_sends_only_the_fields_that_differ() {
        let mut r = jane_row();
        r.want.name = "Jane Roe".into();
        r.want.role = Some(Role::TeamLead);
        r.inboxes = Some(vec!["ibx_c".into()]);
        r.teams = Some(vec![]);
        r.want.phone_number = Some("+15550199".into());
        r.want.language = Some("fr".into());
        r.want.agent_profile = serde_json::from_value(json!({"bio": "Sales"})).unwrap();
        let p = plan(&[r], &[jane()]);
        assert_eq!(
            steps(&p),
            [(1, ChangeKind::Update, Some(0), "jane@acme.example")]
        );
        let c = &p.changes[0];
        assert_eq!(
            body(c),
            obj(json!({
                "name": "Jane Roe",
                "role": "TEAM_LEAD",
                "inboxes": ["ibx_c"],
                "teams": [],
                "phoneNumber": "+15550199",
                "language": "fr",
                "agentProfile": {"bio": "Sales"},
            }))
        );
        assert_eq!(
            c.differences,
            [
                "name: Jane Doe -> Jane Roe",
                "role: AGENT -> TEAM_LEAD",
                "inboxes: [ibx_a, ibx_b] -> [ibx_c]",
                "teams: [team_1] -> []",
                "phone-number: +15550100 -> +15550199",
                "language: en -> fr",
                "agent-profile: changed",
            ]
        );
        assert_eq!(c.reason, "matched by external id");
    }

    #[test]
    fn a_row_leaving_fields_out_leaves_them_as_they_are() {
        let mut r = row(0, "jane@acme.example", Some("E1"));
        r.want.name = "Jane Doe".into();
        let p = plan(&[r], &[jane()]);
        assert!(
            p.changes.is_empty(),
            "expected no change, got {:#?}",
            p.changes
        );
    }

    #[test]
    fn an_inactive_agent_on_the_roster_is_reactivated() {
        let p = plan(
            &[row(0, "jane@acme.example", Some("E1"))],
            &[inactive(agent("agt_1", "jane@acme.example", Some("E1")))],
        );
        assert_eq!(
            steps(&p),
            [(1, ChangeKind::Reactivate, Some(0), "jane@acme.example")]
        );
        assert_eq!(body(&p.changes[0]), obj(json!({"active": true})));
        assert_eq!(p.changes[0].differences, ["active: false -> true"]);
        assert_eq!(
            p.active_in_scope, 0,
            "an inactive agent is not counted in scope"
        );
    }

    #[test]
    fn a_row_cannot_deactivate_demote_or_move_the_api_user() {
        let admin = || {
            let mut a = agent("agt_admin", API_USER, Some("E0"));
            a.role = Some(Role::Admin);
            a
        };
        let demote = {
            let mut r = row(0, API_USER, Some("E0"));
            r.want.role = Some(Role::Agent);
            r
        };
        for (label, r, what) in [
            (
                "deactivate",
                marked_inactive(row(0, API_USER, Some("E0"))),
                "deactivating it",
            ),
            ("demote", demote, "changing its role to AGENT"),
            (
                "move",
                row(0, "robot@acme.example", Some("E0")),
                "changing its e-mail to robot@acme.example",
            ),
        ] {
            let p = plan(&[r], &[admin()]);
            assert!(
                p.changes.is_empty(),
                "{label}: expected nothing written, got {:#?}",
                p.changes
            );
            assert_eq!(
                p.conflicts.len(),
                1,
                "{label}: expected one conflict, got {:#?}",
                p.conflicts
            );
            let c = &p.conflicts[0];
            assert_eq!(c.row, Some(0), "{label}: expected the row named");
            assert_eq!(
                c.agent_ids,
                ["agt_admin"],
                "{label}: expected the API user named"
            );
            assert!(
                c.message.contains("this connection's own API user") && c.message.contains(what),
                "{label}: expected the lock-out explained, got {}",
                c.message
            );
            assert_eq!(p.unchanged, 0, "{label}: a refused row is not unchanged");
        }

        let mut rename = row(0, API_USER, Some("E0"));
        rename.want.name = "Integration".into();
        let p = plan(&[rename], &[admin()]);
        assert!(
            p.conflicts.is_empty(),
            "expected renaming the API user allowed, got {:#?}",
            p.conflicts
        );
        assert_eq!(steps(&p), [(1, ChangeKind::Update, Some(0), API_USER)]);
    }

    #[test]
    fn a_public_spec_organisation_is_warned_that_the_plan_cannot_be_applied_through_the_api() {
        let p = build(
            &[],
            &[],
            ApiFlavor::PublicSpec,
            API_USER,
            &Scope::Managed,
            None,
        );
        assert_eq!(p.api_flavor, ApiFlavor::PublicSpec);
        assert_eq!(p.warnings.len(), 1, "got {:?}", p.warnings);
        assert!(
            p.warnings[0].starts_with("This organisation's API has read-only agents"),
            "got {:?}",
            p.warnings
        );
    }

    #[test]
    fn an_api_user_that_is_not_an_email_is_warned_about() {
        let p = build(
            &[],
            &[],
            ApiFlavor::Lifecycle,
            "integration-bot",
            &Scope::Managed,
            None,
        );
        assert_eq!(p.warnings.len(), 1, "got {:?}", p.warnings);
        assert!(
            p.warnings[0].starts_with("The API user 'integration-bot' is not an e-mail address"),
            "got {:?}",
            p.warnings
        );
    }
}

mod scope {
    use super::*;

    #[test]
    fn the_managed_scope_covers_agents_with_an_external_id() {
        assert!(Scope::Managed.covers("a@acme.example", Some("E1")));
        assert!(!Scope::Managed.covers("a@acme.example", None));
    }

    #[test]
    fn the_all_agents_scope_covers_everyone() {
        assert!(Scope::AllAgents.covers("a@acme.example", None));
        assert!(Scope::AllAgents.covers("not-an-email", Some("E1")));
    }

    #[test]
    fn an_email_domain_scope_compares_domains_without_case_or_at_sign() {
        let s = Scope::EmailDomains(vec!["@Acme.Example".into(), " partner.example ".into()]);
        assert!(
            s.covers("a@ACME.example", None),
            "expected acme.example covered"
        );
        assert!(
            s.covers("b@partner.example", Some("E1")),
            "expected partner.example covered"
        );
        assert!(
            !s.covers("c@other.example", Some("E1")),
            "expected other.example not covered"
        );
        assert!(
            !s.covers("acme.example", None),
            "expected an address without @ not covered"
        );
    }

    #[test]
    fn active_in_scope_leaves_out_inactive_agents_and_the_api_user() {
        let s = Scope::Managed;
        assert!(active_in_scope(
            &s,
            API_USER,
            "a@acme.example",
            Some("E1"),
            Some(true)
        ));
        assert!(
            active_in_scope(&s, API_USER, "a@acme.example", Some("E1"), None),
            "expected an agent whose state is not reported counted as active"
        );
        assert!(
            !active_in_scope(&s, API_USER, "a@acme.example", Some("E1"), Some(false)),
            "expected an inactive agent left out"
        );
        assert!(
            !active_in_scope(&s, API_USER, "a@acme.example", None, Some(true)),
            "expected an agent out of scope left out"
        );
        assert!(
            !active_in_scope(&s, API_USER, "Admin@ACME.example", Some("E0"), Some(true)),
            "expected the API user left out"
        );
    }
}

mod lock_out {
    use super::*;

    fn judge(kind: ChangeKind, body: Value, agent_email: &str) -> Option<String> {
        locks_out_api_user(kind, &obj(body), agent_email, API_USER)
    }

    #[test]
    fn deactivating_the_api_user_locks_it_out() {
        assert_eq!(
            judge(ChangeKind::Deactivate, json!({}), API_USER).as_deref(),
            Some("deactivating it")
        );
        assert_eq!(
            judge(
                ChangeKind::Update,
                json!({"active": false}),
                "ADMIN@acme.example"
            )
            .as_deref(),
            Some("deactivating it"),
            "expected an update that sends active: false judged a deactivation"
        );
        assert_eq!(
            judge(ChangeKind::Reactivate, json!({"active": true}), API_USER),
            None
        );
    }

    #[test]
    fn taking_the_administrator_role_away_locks_it_out() {
        let got = judge(ChangeKind::Update, json!({"role": "AGENT"}), API_USER);
        assert_eq!(
            got.as_deref(),
            Some("changing its role to AGENT (writes need an Administrator)")
        );
        assert_eq!(
            judge(ChangeKind::Update, json!({"role": "admin"}), API_USER),
            None,
            "expected keeping the Administrator role, in any case, allowed"
        );
    }

    #[test]
    fn changing_the_api_users_email_locks_it_out() {
        let got = judge(
            ChangeKind::Update,
            json!({"emailAddress": "robot@acme.example"}),
            API_USER,
        );
        assert!(
            got.as_deref()
                .is_some_and(|w| w.starts_with("changing its e-mail to robot@acme.example")),
            "expected the move named, got {got:?}"
        );
        assert_eq!(
            judge(
                ChangeKind::Update,
                json!({"emailAddress": "Admin@ACME.example"}),
                API_USER
            ),
            None,
            "expected the same address in another case allowed"
        );
    }

    #[test]
    fn other_changes_and_other_agents_do_not_lock_it_out() {
        assert_eq!(
            judge(ChangeKind::Update, json!({"name": "Integration"}), API_USER),
            None,
            "expected renaming the API user allowed"
        );
        for kind in [ChangeKind::Deactivate, ChangeKind::Update] {
            assert_eq!(
                judge(
                    kind,
                    json!({"active": false, "role": "AGENT", "emailAddress": "x@acme.example"}),
                    "jane@acme.example"
                ),
                None,
                "expected another agent's change never judged a lock-out"
            );
        }
    }
}

/// Addresses written in another Unicode normal form (found in review:
/// helper-44).
mod normal_form {
    use super::*;

    /// "josé" with é as one code point (NFC, as Gladly and most systems
    /// store it) and as e + U+0301 (NFD, as macOS and some HR exports
    /// write it): the same address, shown identically.
    const NFC: &str = "jos\u{e9}@acme.example";
    const NFD: &str = "jose\u{301}@acme.example";

    #[test]
    fn an_address_in_nfd_matches_the_agent_holding_it_in_nfc() {
        // Scope by domain: the roster carries no external ids.
        let agents = [agent("agt_1", NFC, None)];
        let p = plan_with(
            &[row(0, NFD, None)],
            &agents,
            &Scope::EmailDomains(vec!["acme.example".into()]),
            None,
        );
        assert!(
            p.changes.is_empty(),
            "José is on the roster and in Gladly; expected no change, got {:#?}",
            steps(&p)
        );
    }

    #[test]
    fn two_rows_for_one_address_in_two_normal_forms_are_one_person_twice() {
        let rows = [
            DesiredAgent {
                email_address: NFC.into(),
                ..row(0, NFC, None).want
            },
            DesiredAgent {
                email_address: NFD.into(),
                ..row(1, NFD, None).want
            },
        ];
        assert!(
            super::super::plan::rows(&rows).is_err(),
            "two rows with the same address must be refused as duplicates"
        );
    }

    /// The API user written with a capital whose lower case composes
    /// (J + U+030C, lower case U+01F0) is still the agent Gladly holds in
    /// lower case: never counted, or deactivated, as a leaver (found in
    /// review: helper-48).
    #[test]
    fn the_api_user_in_capitals_whose_lower_case_composes_is_never_a_leaver() {
        assert!(!crate::roster::active_in_scope(
            &Scope::AllAgents,
            "J\u{30C}ane@acme.example",
            "\u{1F0}ane@acme.example",
            None,
            Some(true),
        ));
    }
}
