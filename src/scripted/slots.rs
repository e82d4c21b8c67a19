//! A call that is one slot of an engine node's calls (`GLADLY_CALLS_IN_FLIGHT`,
//! `GLADLY_RATE_SHARE`, as Obelisk's deployment sets them): its requests
//! spaced by its part of the share, its slot held until the next call in it
//! may send, and a bad setting refused before anything is sent.

use super::*;
use crate::pacing::{CALLS_IN_FLIGHT_VAR, MARGIN, RATE_SHARE_VAR, WINDOW};

fn limited(remaining: &'static str) -> [(&'static str, &'static str); 2] {
    [
        ("ratelimit-limit-second", "10"),
        ("ratelimit-remaining-second", remaining),
    ]
}

#[test]
fn without_the_settings_a_call_neither_spaces_nor_holds() {
    let mut s = Script::default()
        .answer_with(200, &limited("9"), "[]")
        .answer_with(200, &limited("8"), "[]");
    ops::list_teams(&mut s, &conn()).unwrap();
    ops::list_teams(&mut s, &conn()).unwrap();
    assert!(s.slept.is_empty(), "{:?}", s.slept);
}

#[test]
fn a_slot_holds_its_slot_for_its_part_of_the_declared_limit() {
    // Five calls at once share Gladly's declared 10 a second: two each a
    // window, so a call that sent one GET holds its slot half a window
    // (plus margin) before it returns.
    let mut s = Script::default()
        .setting(CALLS_IN_FLIGHT_VAR, "5")
        .answer_with(200, &limited("9"), "[]");
    ops::list_teams(&mut s, &conn()).unwrap();
    assert_eq!(s.slept, vec![(WINDOW + MARGIN) / 2]);
}

#[test]
fn a_fixed_share_is_split_between_the_slots() {
    // Two servers, each given 5 a second, each running 5 calls: one
    // request a window per slot.
    let mut s = Script::default()
        .setting(CALLS_IN_FLIGHT_VAR, "5")
        .setting(RATE_SHARE_VAR, "5")
        .answer_with(200, &limited("9"), "[]")
        .answer_with(200, &limited("8"), "[]");
    ops::list_teams(&mut s, &conn()).unwrap();
    ops::list_teams(&mut s, &conn()).unwrap();
    // Each call holds a whole window (plus margin) after its one GET.
    assert_eq!(s.slept, vec![WINDOW + MARGIN, WINDOW + MARGIN]);
}

#[test]
fn requests_within_one_call_are_spaced_by_the_slots_part() {
    // A list of two pages, one slot of two sharing 4 a second: the second
    // page waits half a window (plus margin) after the first's answer, and
    // the call holds as long again after the second.
    let mut s = Script::default()
        .setting(CALLS_IN_FLIGHT_VAR, "2")
        .setting(RATE_SHARE_VAR, "4")
        .answer_with(200, &limited("9"), &page(vec![], Some("c2")).to_string())
        .answer_with(200, &limited("8"), &page(vec![], None).to_string());
    ops::list_agents(&mut s, &conn(), false).unwrap();
    let half = (WINDOW + MARGIN) / 2;
    assert_eq!(s.slept, vec![half, half]);
}

#[test]
fn a_spent_second_seen_by_a_slot_holds_it_only_its_spacing() {
    // Five calls share Gladly's declared 10 a second, and the answer says
    // the second is spent: the node's slots fill it as their spacing lets
    // them, so the slot is held its spacing (half a window, plus margin),
    // not until its request leaves the window.
    let mut s = Script::default()
        .setting(CALLS_IN_FLIGHT_VAR, "5")
        .answer_with(200, &limited("0"), "[]");
    ops::list_teams(&mut s, &conn()).unwrap();
    assert_eq!(s.slept, vec![(WINDOW + MARGIN) / 2]);
}

#[test]
fn a_share_set_above_the_declared_limit_still_waits_on_a_spent_second() {
    // A share of 20 where Gladly declares 10: the node's slots would send
    // twice the limit, so a spent second holds the slot until its request
    // leaves the window, as any pacer's.
    let mut s = Script::default()
        .setting(CALLS_IN_FLIGHT_VAR, "5")
        .setting(RATE_SHARE_VAR, "20")
        .answer_with(200, &limited("0"), "[]");
    ops::list_teams(&mut s, &conn()).unwrap();
    assert_eq!(s.slept, vec![WINDOW + MARGIN]);
}

#[test]
fn bad_settings_are_refused_naming_the_setting_and_nothing_is_sent() {
    for (settings, field) in [
        (
            vec![(CALLS_IN_FLIGHT_VAR, "four")],
            "env.GLADLY_CALLS_IN_FLIGHT",
        ),
        (
            vec![(CALLS_IN_FLIGHT_VAR, "0")],
            "env.GLADLY_CALLS_IN_FLIGHT",
        ),
        (
            vec![(CALLS_IN_FLIGHT_VAR, "129")],
            "env.GLADLY_CALLS_IN_FLIGHT",
        ),
        (
            vec![(CALLS_IN_FLIGHT_VAR, "4"), (RATE_SHARE_VAR, "-1")],
            "env.GLADLY_RATE_SHARE",
        ),
        (vec![(RATE_SHARE_VAR, "5")], "env.GLADLY_CALLS_IN_FLIGHT"),
        (
            vec![(CALLS_IN_FLIGHT_VAR, "5"), (RATE_SHARE_VAR, "3")],
            "env.GLADLY_RATE_SHARE",
        ),
        // Twenty calls, each at least one request a second, would send 20
        // a second where Gladly allows 10.
        (
            vec![(CALLS_IN_FLIGHT_VAR, "20")],
            "env.GLADLY_CALLS_IN_FLIGHT",
        ),
        (
            vec![(CALLS_IN_FLIGHT_VAR, "11"), (RATE_SHARE_VAR, " ")],
            "env.GLADLY_CALLS_IN_FLIGHT",
        ),
    ] {
        let mut s = Script {
            settings,
            ..Script::default()
        };
        match ops::list_teams(&mut s, &conn()) {
            Err(Error::InvalidInput { field: f, message }) => {
                assert_eq!(f, field, "{message}");
                assert!(
                    ["whole number", "must be set", "at least", "at most"]
                        .iter()
                        .any(|m| message.contains(m)),
                    "{message}"
                );
            }
            other => panic!("{field}: expected invalid-input, got {other:?}"),
        }
        assert!(s.sent.is_empty());
    }
}

#[test]
fn more_calls_than_gladlys_ten_need_a_share_that_allows_them() {
    let read = |settings: &[(&str, &str)]| {
        crate::pacing::Slots::read(|name| {
            settings
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    };
    // Ten calls of one request a second each fit Gladly's published 10.
    assert!(read(&[(CALLS_IN_FLIGHT_VAR, "10")]).is_ok());
    // Eleven do not, unless a share says the organisation allows them.
    match read(&[(CALLS_IN_FLIGHT_VAR, "11")]) {
        Err(Error::InvalidInput { field, message }) => {
            assert_eq!(field, "env.GLADLY_CALLS_IN_FLIGHT");
            assert!(message.contains("at most 10"), "{message}");
            assert!(message.contains("set GLADLY_RATE_SHARE"), "{message}");
        }
        other => panic!("expected invalid-input, got {other:?}"),
    }
    assert!(read(&[(CALLS_IN_FLIGHT_VAR, "20"), (RATE_SHARE_VAR, "20")]).is_ok());
}

#[test]
fn an_empty_share_is_the_organisations_limit() {
    let mut s = Script::default()
        .setting(CALLS_IN_FLIGHT_VAR, "5")
        .setting(RATE_SHARE_VAR, " ")
        .answer_with(200, &limited("9"), "[]");
    ops::list_teams(&mut s, &conn()).unwrap();
    assert_eq!(s.slept, vec![(WINDOW + MARGIN) / 2]);
}

/// Obelisk's list of unfinished calls, with calls locked lately by each of
/// these nodes (see `crate::obelisk_nodes`).
fn engine_list(nodes: &[&str]) -> String {
    Value::Array(
        nodes
            .iter()
            .map(|node| crate::obelisk_nodes::tests::locked(node, "2026-12-01T20:02:00.5Z"))
            .collect(),
    )
    .to_string()
}

const API: &str = crate::obelisk_nodes::API_VAR;

#[test]
fn nodes_running_the_connector_split_the_declared_limit_when_no_share_is_set() {
    // Two nodes of five calls each, shares unset: the call asks its node's
    // API first (no credential to it), sees two nodes, and its slot sends
    // one request a window, as with a share of 5 set on each.
    let mut s = Script::default()
        .setting(CALLS_IN_FLIGHT_VAR, "5")
        .setting(API, "http://127.0.0.1:5005")
        .answer_with(200, &[], &engine_list(&["Exr_a", "Exr_b", "Exr_a"]))
        .answer_with(200, &limited("9"), "[]");
    ops::list_teams(&mut s, &conn()).unwrap();
    assert!(
        s.sent[0]
            .url
            .starts_with("http://127.0.0.1:5005/v1/executions?")
    );
    assert!(
        s.sent[0]
            .headers
            .iter()
            .all(|(k, _)| !k.eq_ignore_ascii_case("authorization")),
        "{:?}",
        s.sent[0]
    );
    assert!(s.sent[1].url.contains("/api/v1/teams"), "{:?}", s.sent[1]);
    assert_eq!(s.slept, vec![WINDOW + MARGIN]);

    // Three nodes of five: fifteen calls share 10 a second, so a slot's
    // requests go a window and a half apart.
    let mut s = Script::default()
        .setting(CALLS_IN_FLIGHT_VAR, "5")
        .setting(API, "http://127.0.0.1:5005")
        .answer_with(200, &[], &engine_list(&["Exr_a", "Exr_b", "Exr_c"]))
        .answer_with(200, &limited("9"), "[]");
    ops::list_teams(&mut s, &conn()).unwrap();
    assert_eq!(s.slept, vec![(WINDOW + MARGIN) * 3 / 2]);
}

#[test]
fn when_the_engine_cannot_tell_a_node_takes_itself_for_alone() {
    for step in [
        Script::default().answer_with(503, &[], "unavailable"),
        Script::default().answer_with(200, &[], "<html>not a list</html>"),
        Script::default().answer_with(200, &[], "[]"),
        Script::default().fail(TransportErrorKind::Connect),
        Script::default().fail(TransportErrorKind::Lost),
    ] {
        let mut s = step
            .setting(CALLS_IN_FLIGHT_VAR, "5")
            .setting(API, "http://127.0.0.1:5005")
            .answer_with(200, &limited("9"), "[]");
        ops::list_teams(&mut s, &conn()).unwrap();
        assert_eq!(s.sent.len(), 2);
        assert_eq!(s.slept, vec![(WINDOW + MARGIN) / 2]);
    }
}

#[test]
fn a_share_set_is_the_nodes_own_and_the_engine_is_not_asked() {
    let mut s = Script::default()
        .setting(CALLS_IN_FLIGHT_VAR, "5")
        .setting(RATE_SHARE_VAR, "5")
        .setting(API, "http://127.0.0.1:5005")
        .answer_with(200, &limited("9"), "[]");
    ops::list_teams(&mut s, &conn()).unwrap();
    assert_eq!(s.sent.len(), 1);
    assert_eq!(s.slept, vec![WINDOW + MARGIN]);
    // Nor without slots: the harness's calls never ask.
    let mut s = Script::default()
        .setting(API, "http://127.0.0.1:5005")
        .answer_with(200, &limited("9"), "[]");
    ops::list_teams(&mut s, &conn()).unwrap();
    assert_eq!(s.sent.len(), 1);
}

#[test]
fn an_api_setting_that_is_not_this_machine_is_refused_and_nothing_is_sent() {
    let mut s = Script::default()
        .setting(CALLS_IN_FLIGHT_VAR, "5")
        .setting(API, "http://obelisk.example:5005");
    match ops::list_teams(&mut s, &conn()) {
        Err(Error::InvalidInput { field, .. }) => assert_eq!(field, "env.GLADLY_OBELISK_API"),
        other => panic!("expected invalid-input, got {other:?}"),
    }
    assert!(s.sent.is_empty());
}

#[test]
fn an_api_the_engine_refuses_to_let_the_call_reach_is_a_setting_to_fix() {
    // The deployment's allowed host is not this value (another spelling):
    // every call would silently count its node alone, so it says so.
    let mut s = Script::default()
        .setting(CALLS_IN_FLIGHT_VAR, "5")
        .setting(API, "http://127.0.0.1:5005")
        .fail(TransportErrorKind::Denied);
    match ops::list_teams(&mut s, &conn()) {
        Err(Error::InvalidInput { field, message }) => {
            assert_eq!(field, "env.GLADLY_OBELISK_API");
            assert!(message.contains("allowed_host"), "{message}");
        }
        other => panic!("expected invalid-input, got {other:?}"),
    }
    // Nothing went to Gladly.
    assert_eq!(s.sent.len(), 1);
}

#[test]
fn a_slot_spaced_beyond_a_window_holds_its_slot_no_later_than_its_deadline_and_a_window() {
    // Sixteen nodes of ten calls split 10 a second: a slot's requests go
    // 16.4 s apart. A list of four pages, the first lost once (30 s), ends
    // with less than that left of its 100 s: its hold ends with its
    // deadline, or a window (plus margin) after it at the most.
    let nodes: Vec<String> = (0..16).map(|i| format!("Exr_{i}")).collect();
    let nodes: Vec<&str> = nodes.iter().map(String::as_str).collect();
    let mut s = Script::default()
        .setting(CALLS_IN_FLIGHT_VAR, "10")
        .setting(API, "http://127.0.0.1:5005")
        .answer_with(200, &[], &engine_list(&nodes))
        .stall()
        .answer_with(200, &limited("9"), &page(vec![], Some("c2")).to_string())
        .answer_with(200, &limited("9"), &page(vec![], Some("c3")).to_string())
        .answer_with(200, &limited("9"), &page(vec![], Some("c4")).to_string())
        .answer_with(200, &limited("9"), &page(vec![], None).to_string());
    ops::list_agents(&mut s, &conn(), false).unwrap();
    let hold = *s.slept.last().unwrap();
    assert!(hold < (WINDOW + MARGIN) * 16, "{hold:?}");
    assert!(
        s.clock() <= crate::client::CALL_DEADLINE + WINDOW + MARGIN,
        "{:?}",
        s.clock()
    );
    // With time to spare, the whole spacing is held.
    let mut s = Script::default()
        .setting(CALLS_IN_FLIGHT_VAR, "10")
        .setting(API, "http://127.0.0.1:5005")
        .answer_with(200, &[], &engine_list(&nodes))
        .answer_with(200, &limited("9"), "[]");
    ops::list_teams(&mut s, &conn()).unwrap();
    assert_eq!(s.slept, vec![(WINDOW + MARGIN) * 16]);
}
