//! Reading Obelisk's list of unfinished calls, and checking the setting
//! that names its API.

use serde_json::{Value, json};

use super::*;

/// A call locked by `node`, its lock ending at `ends` (as Obelisk 0.38.3
/// writes a `PendingState::Locked`).
pub(crate) fn locked(node: &str, ends: &str) -> Value {
    json!({
        "execution_id": "E_01KB00000000000000000000",
        "ffqn": "gladly:obelisk/agents.provision",
        "pending_state": {
            "status": "locked",
            "locked_by": { "executor_id": node, "run_id": "Run_01KB00000000000000000000" },
            "lock_expires_at": ends,
        },
        "created_at": "2026-12-01T20:00:00.000Z",
        "first_scheduled_at": "2026-12-01T20:00:00.000Z",
        "component_digest": "sha256:00",
        "component_type": "activity_wasm",
        "deployment_id": "Dep_01KB00000000000000000000",
    })
}

fn pending() -> Value {
    json!({
        "execution_id": "E_01KB00000000000000000001",
        "ffqn": "gladly:obelisk/agents.provision",
        "pending_state": { "status": "pending_at", "scheduled_at": "2026-12-01T20:00:00Z", "last_lock": null },
    })
}

fn nodes(calls: &[Value]) -> Option<usize> {
    live_nodes(Value::Array(calls.to_vec()).to_string().as_bytes())
}

#[test]
fn nodes_that_took_locks_lately_are_counted_once_each() {
    let calls = [
        locked("Exr_a", "2026-12-01T20:02:00.5Z"),
        locked("Exr_a", "2026-12-01T20:02:01.25Z"),
        pending(),
        locked("Exr_b", "2026-12-01T20:01:59Z"),
        locked("Exr_b", "2026-12-01T20:02:00.123456789Z"),
        pending(),
    ];
    assert_eq!(nodes(&calls), Some(2));
}

#[test]
fn a_node_whose_newest_lock_is_older_than_fresh_no_longer_counts() {
    // Node b was killed (or ran out of work) 3.5 s before a's newest lock:
    // its locks stay in the record until they expire, but it sends nothing.
    let calls = [
        locked("Exr_a", "2026-12-01T20:02:05.000Z"),
        locked("Exr_b", "2026-12-01T20:02:01.500Z"),
        locked("Exr_b", "2026-12-01T20:01:30Z"),
    ];
    assert_eq!(nodes(&calls), Some(1));
    // Within FRESH, it still does.
    let calls = [
        locked("Exr_a", "2026-12-01T20:02:05.000Z"),
        locked("Exr_b", "2026-12-01T20:02:02.000Z"),
    ];
    assert_eq!(nodes(&calls), Some(2));
}

#[test]
fn no_lock_or_an_unreadable_list_tells_nothing() {
    assert_eq!(nodes(&[pending(), pending()]), None);
    assert_eq!(nodes(&[]), None);
    for body in [
        &b"not json"[..],
        b"{\"executions\": []}",
        b"[{\"pending_state\": 3}]",
        b"<html>502 Bad Gateway</html>",
    ] {
        assert_eq!(live_nodes(body), None, "{}", String::from_utf8_lossy(body));
    }
    // A lock whose time cannot be read is passed over, not guessed.
    assert_eq!(
        nodes(&[
            locked("Exr_a", "tomorrow"),
            locked("Exr_b", "2026-12-01T20:02:00Z")
        ]),
        Some(1)
    );
}

#[test]
fn an_answer_cannot_make_a_call_count_more_than_max_nodes() {
    let calls: Vec<Value> = (0..50)
        .map(|i| locked(&format!("Exr_{i}"), "2026-12-01T20:02:00Z"))
        .collect();
    assert_eq!(nodes(&calls), Some(MAX_NODES));
}

#[test]
fn the_api_must_be_plain_http_to_this_machine_with_a_port() {
    assert_eq!(
        api_url("http://127.0.0.1:5005").unwrap(),
        "http://127.0.0.1:5005"
    );
    assert_eq!(
        api_url("http://localhost:15110").unwrap(),
        "http://localhost:15110"
    );
    assert_eq!(api_url("http://[::1]:5005").unwrap(), "http://[::1]:5005");
    for (raw, says) in [
        ("https://127.0.0.1:5005", "must start with http://"),
        ("127.0.0.1:5005", "must start with http://"),
        (" http://127.0.0.1:5005", "must start with http://"),
        ("http://obelisk.internal:5005", "must be this machine"),
        ("http://127.0.attacker.example:5005", "must be this machine"),
        ("http://127.0.0.1", "host and its port"),
        ("http://127.0.0.1:", "invalid port"),
        ("http://127.0.0.1:0", "invalid port"),
        ("http://127.0.0.1:+80", "invalid port"),
        ("http://127.0.0.1:70000", "invalid port"),
        // The deployment allows this very value, and Obelisk refuses an
        // allowed host with a path, or compares its host as written.
        ("http://127.0.0.1:5005/", "nor a trailing /"),
        ("http://127.0.0.1:5005/v1", "no path"),
        ("http://127.0.0.1:5005 ", "spaces"),
        ("http://LOCALHOST:5005", "lower case"),
        ("http://user:s3cr3t-t0ken@127.0.0.1:5005", "credentials"),
        ("http://127.0.0.1:5005?x=1", "query"),
    ] {
        match api_url(raw) {
            Err(Error::InvalidInput { field, message }) => {
                assert_eq!(field, "env.GLADLY_OBELISK_API", "{raw}");
                assert!(message.contains(says), "{raw}: {message}");
                assert!(!message.contains("s3cr3t"), "{message}");
                assert!(!message.contains("attacker"), "{message}");
                assert!(!message.contains("LOCALHOST"), "{message}");
            }
            other => panic!("{raw}: expected invalid-input, got {other:?}"),
        }
    }
}

#[test]
fn the_query_asks_for_the_connectors_unfinished_calls_of_the_last_day_oldest_first_and_carries_no_credential()
 {
    // 2026-12-01T20:00:00Z.
    let r = request("http://127.0.0.1:5005", 1_796_155_200);
    assert_eq!(r.method, Method::Get);
    assert_eq!(
        r.url,
        "http://127.0.0.1:5005/v1/executions?ffqn_prefix=gladly%3Aobelisk%2F&show_derived=true&hide_finished=true&direction=newer&length=64&cursor=2026%2D11%2D30T20%3A00%3A00Z"
    );
    assert_eq!(
        r.headers,
        vec![("accept".to_string(), "application/json".to_string())]
    );
    assert!(r.body.is_none());
    assert_eq!(r.timeout, Some(TIMEOUT));
    // A clock that cannot tell the time reads every unfinished call.
    assert!(
        request("http://127.0.0.1:5005", 0)
            .url
            .ends_with("&length=64")
    );
}
