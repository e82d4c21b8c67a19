//! Answers a broken or hostile server (or a proxy in front of Gladly) may
//! give: each is a typed error, never taken for what was asked, and never
//! held beyond what one call keeps. (Found in review: helper-45.)

use super::*;

#[test]
fn an_escaped_echo_of_the_tokens_tail_is_removed_from_errors() {
    // A server that escapes `/` in JSON (as many encoders do), echoing the
    // token with its head masked; and a redirect whose URL carries the
    // same tail percent-encoded.
    let conn = Connection {
        credential: Credential::Token("t0k3n/s3cr3t+x".into()),
        ..conn()
    };
    let mut s = Script::default()
        .answer_with(500, &[], r#"{"error":"invalid token ****3n\/s3cr3t+x"}"#)
        .answer_with(
            302,
            &[(
                "location",
                "https://sso.example/login?t=****3n%2Fs3cr3t%2Bx",
            )],
            "",
        );
    for _ in 0..2 {
        let e = ops::list_agents(&mut s, &conn, false).unwrap_err();
        let text = format!("{e:?} {e}");
        assert!(!text.contains("s3cr3t"), "the token's tail leaked: {text}");
    }
}

#[test]
fn a_200_that_is_not_a_list_is_no_empty_list() {
    // A proxy's or another API's 200 (`{}`, a message, the items under
    // another name): read as an empty list, an offboarding by external id
    // found nobody and a roster planned no deactivation.
    for body in [
        json!({}),
        json!({"message": "Service temporarily unavailable"}),
        json!({"data": [agent("agt_1", "a@x.io", true)]}),
        json!({"items": null}),
    ] {
        let mut s = Script::default().answer(200, body.clone());
        let got = ops::list_agents(&mut s, &conn(), false);
        assert!(
            matches!(got, Err(Error::Upstream { status: 200, .. })),
            "{body}: {got:?}"
        );
    }
}

/// Counts the bytes the current thread holds, and their peak (each test
/// runs in a thread of its own).
#[allow(unsafe_code)]
mod counting {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    pub struct Counting;

    thread_local! {
        static HELD: Cell<isize> = const { Cell::new(0) };
        static PEAK: Cell<isize> = const { Cell::new(0) };
    }

    fn add(n: isize) {
        let _ = HELD.try_with(|h| {
            h.set(h.get() + n);
            let _ = PEAK.try_with(|p| p.set(p.get().max(h.get())));
        });
    }

    // SAFETY: every call is passed on to the system allocator unchanged;
    // only the sizes are counted.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, l: Layout) -> *mut u8 {
            add(l.size() as isize);
            unsafe { System.alloc(l) }
        }
        unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
            add(-(l.size() as isize));
            unsafe { System.dealloc(p, l) }
        }
        unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
            add(new as isize - l.size() as isize);
            unsafe { System.realloc(p, l, new) }
        }
    }

    #[global_allocator]
    static A: Counting = Counting;

    /// Starts counting the peak from what the thread holds now, which it
    /// answers.
    pub fn reset() -> isize {
        let now = HELD.with(Cell::get);
        PEAK.with(|p| p.set(now));
        now
    }

    /// The peak since [`reset`], above what was held then.
    pub fn peak_since(base: isize) -> isize {
        PEAK.with(Cell::get) - base
    }
}

/// Answers every page of a walk with no items, a fresh cursor of 4,096
/// bytes and a declared limit of 128 a second, recording nothing.
struct Endless {
    pages: usize,
    clock: Duration,
}

impl Transport for Endless {
    fn send(&mut self, _: &HttpRequest) -> Result<HttpResponse, TransportError> {
        self.pages += 1;
        let cursor = format!("{:0>4096}", self.pages);
        Ok(HttpResponse {
            status: 200,
            headers: vec![
                ("ratelimit-limit-second".into(), "128".into()),
                ("ratelimit-remaining-second".into(), "100".into()),
            ],
            body: page(vec![], Some(&cursor)).to_string().into_bytes(),
        })
    }
    fn sleep(&mut self, d: Duration) {
        self.clock += d;
    }
    fn jitter(&mut self) -> f64 {
        0.5
    }
    fn now_unix(&mut self) -> u64 {
        784_111_777
    }
    fn monotonic(&mut self) -> Duration {
        self.clock
    }
}

#[test]
fn the_cursors_of_a_walk_are_not_kept_whole() {
    // A server that declares a limit of 128 a second answers empty pages,
    // each with a new cursor of 4,096 bytes: 10,000 fit in the call's
    // deadline, and every cursor was kept to see one repeat, 40 MiB beyond
    // the walk's caps on items.
    let mut t = Endless {
        pages: 0,
        clock: Duration::ZERO,
    };
    let base = counting::reset();
    let got = ops::list_agents(&mut t, &conn(), false);
    let peak = counting::peak_since(base);
    assert!(
        matches!(got, Err(Error::Upstream { .. })),
        "after {} pages: {got:?}",
        t.pages
    );
    assert!(t.pages > 5_000, "only {} pages walked", t.pages);
    assert!(peak < 4 << 20, "the walk held {} MiB", peak >> 20);
}

#[test]
fn an_agent_answered_for_another_id_is_not_changed() {
    // A proxy or cache that answers GET /agents/agt_1 with another agent:
    // offboarding agt_1 deactivated agt_2.
    let mut s = Script::default()
        .answer(200, agent("agt_2", "someone.else@x.io", true))
        .answer(200, agent("agt_2", "someone.else@x.io", false));
    let got = ops::offboard(
        &mut s,
        &conn(),
        &AgentKey::Id("agt_1".into()),
        &WriteOptions::default(),
    );
    assert_eq!(s.lines(), ["GET /agents/agt_1"], "{got:?}");
    assert!(matches!(got, Err(Error::Upstream { .. })), "{got:?}");
}

#[test]
fn a_change_answered_with_another_agent_goes_no_further() {
    // The PATCH of agt_1 answered with agt_2's record: the update answered
    // agt_2 as the agent it changed.
    let changes = AgentChanges {
        name: Some("B".into()),
        ..Default::default()
    };
    let mut other = agent("agt_2", "b@x.io", true);
    other["name"] = json!("B");
    let mut s = Script::default()
        .answer(200, agent("agt_1", "a@x.io", true))
        .answer(200, other);
    let got = ops::update(
        &mut s,
        &conn(),
        &AgentKey::Id("agt_1".into()),
        &changes,
        &WriteOptions::default(),
    );
    assert!(matches!(got, Err(Error::Upstream { .. })), "{got:?}");
}
