//! The pacer's rules, one by one.

use super::*;

/// `n` milliseconds (for every test of the pacer).
pub(super) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// An answer declaring Gladly's 10 with `remaining` left.
fn left(remaining: usize) -> RateHeaders {
    RateHeaders {
        limit: Some(10),
        remaining: Some(remaining),
    }
}

fn spent(limit: Option<usize>) -> RateHeaders {
    RateHeaders {
        limit,
        remaining: Some(0),
    }
}

#[test]
fn a_spent_answer_without_a_limit_is_read_against_the_limit_declared_before() {
    // A limit of 5 declared, then five of its own: a spent answer that
    // omits the limit is its own five, not Gladly's published ten.
    let mut p = Pacer::instance();
    p.sent(ms(0));
    p.answered(
        ms(0),
        ms(0),
        RateHeaders {
            limit: Some(5),
            remaining: Some(4),
        },
        false,
    );
    for t in 0..4 {
        p.sent(ms(10 + t * 10));
    }
    p.answered(ms(60), ms(60), spent(None), false);
    assert_eq!(p.share(), 5, "its own five filled it: no cut");
    assert_eq!(p.wait(ms(60)), WINDOW + MARGIN - ms(60));
}

/// An instance with eight requests sent, answered at 100 ms by a 429
/// without rate headers; and the share it was cut to.
fn cut_by_a_bare_429() -> (Pacer, usize) {
    let mut p = Pacer::instance();
    for t in 0..8 {
        p.sent(ms(t * 10));
    }
    p.answered(ms(100), ms(100), RateHeaders::default(), true);
    let cut = p.share();
    assert!(cut < 10);
    (p, cut)
}

#[test]
fn answers_without_rate_headers_after_a_429_raise_by_steps_only() {
    let (mut p, cut) = cut_by_a_bare_429();
    // Answers that say nothing of the window: no "alone again" from
    // them, only one step at a time.
    let mut shares = vec![cut];
    for t in 1..=150 {
        p.answered(
            ms(100 + t * 100),
            ms(100 + t * 100),
            RateHeaders::default(),
            false,
        );
        shares.push(p.share());
    }
    assert!(shares.windows(2).all(|w| w[1] <= w[0] + 1), "{shares:?}");
    assert!(shares[40] < 10, "{shares:?}");
    assert!(shares[150] > cut, "it grows back: {shares:?}");
    // An answer showing a window of its own alone, a while after the
    // others were last seen: the whole limit at once.
    let mut q = Pacer::instance();
    q.sent(ms(0));
    q.answered(ms(5), ms(5), spent(Some(10)), true);
    q.sent(ms(2_000));
    q.answered(ms(2_005), ms(2_005), left(9), false);
    assert_eq!(q.share(), 10);
}

#[test]
fn a_429_without_rate_headers_counts_as_others_seen() {
    // Cut by a bare 429; an answer a moment later showing a window of
    // its own alone does not give the whole limit back at once.
    let (mut p, cut) = cut_by_a_bare_429();
    p.sent(ms(150));
    p.answered(ms(200), ms(200), left(9), false);
    assert_eq!(p.share(), cut, "others were there 100 ms ago");
}

#[test]
fn a_lower_limit_declared_caps_a_share_adapted_to_a_higher_one() {
    let mut p = Pacer::instance();
    for t in 0..9 {
        p.sent(ms(t * 10));
    }
    p.answered(ms(100), ms(100), spent(Some(10)), true);
    assert!(p.share() > 4);
    p.answered(
        ms(200),
        ms(200),
        RateHeaders {
            limit: Some(4),
            remaining: Some(1),
        },
        false,
    );
    assert_eq!(p.share(), 4);
}

#[test]
fn nothing_is_waited_until_an_answer_says_the_second_is_spent() {
    let mut p = Pacer::default();
    assert_eq!(p.wait(ms(0)), Duration::ZERO);
    p.sent(ms(0));
    p.answered(ms(5), ms(5), left(3), false);
    assert_eq!(p.wait(ms(5)), Duration::ZERO);
    p.answered(ms(6), ms(6), RateHeaders::default(), false);
    assert_eq!(p.wait(ms(6)), Duration::ZERO);
}

#[test]
fn when_the_last_limit_requests_were_ours_a_slot_frees_a_window_after_the_oldest() {
    let mut p = Pacer::default();
    for t in [0, 100, 200] {
        p.sent(ms(t));
    }
    p.answered(ms(250), ms(250), spent(Some(3)), false);
    // The oldest of the last 3 was sent at 0: free at 1,025 ms.
    assert_eq!(p.wait(ms(250)), ms(775));
    assert_eq!(p.wait(ms(1_025)), Duration::ZERO);
    // Only the last `limit` count: a fourth request moves the oldest
    // (to 1,125 ms); but now busy, the next is spaced a third of a
    // window after the last.
    p.sent(ms(1_030));
    p.answered(ms(1_040), ms(1_040), spent(Some(3)), false);
    assert_eq!(
        p.wait(ms(1_040)),
        (ms(1_030) + (WINDOW + MARGIN) / 3) - ms(1_040)
    );
}

#[test]
fn when_others_hold_slots_it_waits_for_its_own_oldest_to_leave_or_a_whole_window() {
    // None of its own in the window: a whole window.
    let mut p = Pacer::default();
    p.answered(ms(40), ms(40), spent(Some(10)), false);
    assert_eq!(p.wait(ms(40)), WINDOW);
    // One of its own: a slot frees when that one leaves.
    let mut p = Pacer::default();
    p.sent(ms(0));
    p.answered(ms(40), ms(40), spent(Some(10)), false);
    assert_eq!(p.wait(ms(40)), WINDOW + MARGIN - ms(40));
    // Without a declared limit, Gladly's published one is assumed: nine
    // of ten are its own, so others hold one.
    let mut p = Pacer::default();
    for t in 0..9 {
        p.sent(ms(t));
    }
    p.answered(ms(20), ms(20), spent(None), false);
    // A spent window is the limit reached, not passed: no share is cut
    // for it (a 429 cuts one). Its oldest leaves at 1,025 ms, freeing a
    // slot.
    assert_eq!(p.share(), 10);
    assert_eq!(p.wait(ms(20)), WINDOW + MARGIN - ms(20));
    p.sent(ms(21));
    p.answered(ms(30), ms(30), spent(None), false);
    assert_eq!(p.wait(ms(30)), WINDOW + MARGIN - ms(30));
}

#[test]
fn own_requests_long_gone_do_not_count_as_the_windows() {
    // Ten of ours long ago, one now; the window is full of others'.
    let mut p = Pacer::default();
    for t in 0..10 {
        p.sent(ms(t));
    }
    p.sent(ms(5_000));
    p.answered(ms(5_010), ms(5_010), spent(Some(10)), false);
    assert_eq!(p.wait(ms(5_010)), WINDOW + MARGIN - ms(10));
}

#[test]
fn alone_again_for_a_while_it_takes_the_whole_limit_back() {
    // Cut by a 429 while others were there; then every answer shows
    // the window holding only its own requests, even with one left.
    let mut p = Pacer::instance();
    p.sent(ms(0));
    p.answered(ms(5), ms(5), spent(Some(10)), true);
    assert!(p.share() < 10);
    // A request every 100 ms, each answer saying one is left: at first
    // others hold part of the window, then only its own fill it.
    let mut t = 100;
    let mut shares = vec![];
    while t < 3_000 {
        p.sent(ms(t));
        p.answered(ms(t + 5), ms(t + 5), left(1), false);
        shares.push(p.share());
        t += 100;
    }
    assert!(shares[..10].iter().all(|s| *s < 10), "{shares:?}");
    assert_eq!(p.share(), 10);
}

#[test]
fn an_absurd_declared_limit_neither_overflows_nor_is_believed() {
    for limit in [usize::MAX, MEMORY + 1] {
        let mut p = Pacer::instance();
        p.sent(ms(0));
        p.counted(ms(0), ms(1));
        p.answered(
            ms(0),
            ms(1),
            RateHeaders {
                limit: Some(limit),
                remaining: Some(3),
            },
            false,
        );
        // Read as saying nothing: Gladly's published 10, whole, and the
        // next answer that adds up still starts the share.
        assert_eq!((p.limit(), p.share()), (10, 10), "{limit}");
        p.sent(ms(10));
        p.counted(ms(10), ms(11));
        p.answered(ms(10), ms(11), left(6), false);
        assert_eq!(p.share(), 3, "{limit}: two of its own among four");
    }
}

#[test]
fn an_instance_starts_at_three_quarters_of_its_part_of_what_its_first_answer_shows_used() {
    // An instance's share after the first answer to its one request.
    let first = |headers: RateHeaders| {
        let mut p = Pacer::instance();
        p.sent(ms(0));
        p.counted(ms(0), ms(5));
        p.answered(ms(0), ms(5), headers, false);
        p.share()
    };
    // Its one request, and three others': three quarters of a quarter of
    // the limit (others may be starting that it has not seen yet).
    assert_eq!(first(left(6)), 1, "10 x 1/4 x 3/4, whole requests");
    // Its one of two: three of the limit's ten, not five.
    assert_eq!(first(left(8)), 3, "10 x 1/2 x 3/4, whole requests");
    // Against a declared 100, its one of two: 37 (not 50, nor 33 at two
    // thirds).
    let hundred = RateHeaders {
        limit: Some(100),
        remaining: Some(98),
    };
    assert_eq!(first(hundred), 37, "100 x 1/2 x 3/4, rounded down");
    // Its one of a full window (beside one that holds the whole limit):
    // three quarters of one is none, and a share is at least one.
    assert_eq!(first(left(0)), 1, "10 x 1/10 x 3/4 is 0, held to 1");
    // Alone in the window: the whole limit, and later answers showing
    // others do not start it again (its 2 requests of the 8 counted would
    // start it at 1): a share more than all the others' gives way, to
    // what they leave it but not below the most they held (6).
    let mut p = Pacer::instance();
    p.sent(ms(0));
    p.answered(ms(5), ms(5), left(9), false);
    assert_eq!(p.share(), 10);
    p.sent(ms(10));
    p.answered(ms(15), ms(15), left(2), false);
    assert_eq!(p.share(), 6);
    // A call's own pacer, an operator's share and a slot never do.
    for mut p in [
        Pacer::default(),
        Pacer::with_share(6),
        Pacer::slot(Slots {
            calls: 1,
            share: None,
            nodes: 1,
        }),
    ] {
        let before = p.share();
        p.sent(ms(0));
        p.answered(ms(5), ms(5), left(3), false);
        assert_eq!(p.share(), before);
    }
}

#[test]
fn no_more_than_the_limit_of_its_own_go_in_a_window_however_many_ask_at_once() {
    // Twenty callers ask at the same instant through one pacer (the
    // host's) before any answer came: slots are reserved a tenth of a
    // window apart, the eleventh a window after the first.
    let ask = |p: &mut Pacer, now: Duration| {
        (0..20)
            .map(|_| {
                let t = p.next_send(now);
                p.sent(t);
                t
            })
            .collect::<Vec<_>>()
    };
    let step = (WINDOW + MARGIN) / 10;
    let at = ask(&mut Pacer::instance(), ms(0));
    for (i, t) in at[..10].iter().enumerate() {
        assert_eq!(*t, step * i as u32, "{at:?}");
    }
    assert_eq!(at[10], WINDOW + MARGIN, "{at:?}");
    // Once an answer said the window is its own, half the limit goes at
    // once, the rest spread.
    let mut p = Pacer::instance();
    p.answered(ms(0), ms(0), left(10), false);
    let at = ask(&mut p, ms(0));
    assert!(at[..5].iter().all(|t| *t == ms(0)), "{at:?}");
    for (i, t) in at[5..10].iter().enumerate() {
        assert_eq!(*t, step * (i as u32 + 1), "{at:?}");
    }
    assert_eq!(at[10], WINDOW + MARGIN, "{at:?}");
    // The declared limit is learned; a fixed share wins over it.
    let mut p = Pacer::default();
    p.answered(
        ms(0),
        ms(0),
        RateHeaders {
            limit: Some(3),
            remaining: Some(2),
        },
        false,
    );
    for _ in 0..3 {
        let t = p.next_send(ms(1));
        p.sent(t);
    }
    assert_eq!(p.next_send(ms(1)), ms(1) + WINDOW + MARGIN);
    let mut p = Pacer::with_share(2);
    p.answered(ms(0), ms(0), left(9), false);
    p.sent(ms(0));
    p.sent(ms(0));
    assert_eq!(p.wait(ms(500)), WINDOW + MARGIN - ms(500));
    assert_eq!(Pacer::with_share(0).cap(), 1);
}

#[test]
fn its_own_counted_since_a_time_are_those_answered_since_and_those_in_flight() {
    let mut p = Pacer::instance();
    p.sent(ms(100));
    p.counted(ms(100), ms(150));
    p.sent(ms(200));
    p.sent(ms(300));
    p.sent(ms(900)); // reserved for later
    // Since 250: the one sent at 300 (in flight), and the one sent at 200
    // and not answered (it may have arrived at any time); not the one
    // answered at 150, nor the one not sent by 400.
    assert_eq!(own_since(&p.sent, &p.flying, ms(250), ms(400)), 2);
    p.counted(ms(200), ms(240));
    assert_eq!(own_since(&p.sent, &p.flying, ms(250), ms(400)), 1);
    p.release(ms(900));
    p.counted(ms(300), ms(320));
    assert_eq!(own_since(&p.sent, &p.flying, ms(100), ms(400)), 3);
    assert!(p.flying.is_empty());
    // One whose caller went away without telling: forgotten in time.
    p.sent(ms(1_000));
    assert_eq!(own_since(&p.sent, &p.flying, ms(2_000), ms(2_000)), 1);
    let later = ms(1_000) + FLIGHT_FORGOTTEN + ms(1);
    assert_eq!(own_since(&p.sent, &p.flying, later, later), 0);
}

#[test]
fn a_request_answered_late_holds_its_slot_from_its_answer() {
    let mut p = Pacer::with_share(1);
    p.sent(ms(0));
    // Answered 300 ms later: the server may have counted it then.
    p.counted(ms(0), ms(300));
    assert_eq!(p.next_send(ms(400)), ms(300) + WINDOW + MARGIN);
    // A reservation given up frees its slot.
    let mut p = Pacer::with_share(1);
    p.sent(ms(50));
    p.release(ms(50));
    assert_eq!(p.next_send(ms(60)), ms(60));
    p.release(ms(70));
}

#[test]
fn a_reservation_made_before_answers_came_late_is_pushed_back() {
    let mut p = Pacer::with_share(2);
    let first: Vec<Duration> = (0..2)
        .map(|_| {
            let t = p.next_send(ms(0));
            p.sent(t);
            t
        })
        .collect();
    let third = p.next_send(ms(0));
    p.sent(third);
    assert_eq!(third, WINDOW + MARGIN);
    // The first two were answered 200 ms late.
    for t in first {
        p.counted(t, ms(200));
    }
    p.release(third);
    assert_eq!(p.wait_again(third), ms(200));
}

#[test]
fn in_any_window_no_more_than_the_cap_whatever_the_order_of_asking() {
    // Callers asking at scattered times, each taking the slot it is
    // given: count every window.
    let mut p = Pacer::with_share(4);
    let mut sent = vec![];
    for i in 0..200u64 {
        let now = ms((i * 37) % 3_000 + i * 5);
        let t = p.next_send(now);
        assert!(t >= now);
        p.sent(t);
        sent.push(t);
    }
    sent.sort();
    for (i, t) in sent.iter().enumerate() {
        let in_window = sent[i..]
            .iter()
            .take_while(|u| **u < *t + WINDOW + MARGIN)
            .count();
        assert!(in_window <= 4, "{in_window} in the window from {t:?}");
    }
}

#[test]
fn a_later_answer_with_slots_left_lifts_the_wait() {
    // Others spent the second; then a slot is free again (a fixed
    // share, so that no cut is in the way).
    let mut p = Pacer::with_share(4);
    p.sent(ms(0));
    p.answered(ms(10), ms(10), spent(Some(5)), false);
    assert!(p.wait(ms(10)) > Duration::ZERO);
    p.answered(
        ms(20),
        ms(20),
        RateHeaders {
            limit: Some(5),
            remaining: Some(1),
        },
        false,
    );
    assert_eq!(p.wait(ms(20)), Duration::ZERO);
    // Its own share stays spent whatever the answer says: the answer
    // may predate requests still in flight.
    let mut p = Pacer::with_share(1);
    p.sent(ms(0));
    p.answered(
        ms(20),
        ms(20),
        RateHeaders {
            limit: Some(5),
            remaining: Some(4),
        },
        false,
    );
    assert_eq!(p.wait(ms(20)), WINDOW + MARGIN - ms(20));
}

#[test]
fn a_zero_limit_or_huge_times_do_not_panic() {
    let mut p = Pacer::default();
    p.sent(Duration::MAX);
    p.answered(Duration::MAX, Duration::MAX, spent(Some(0)), false);
    assert_eq!(p.wait(Duration::ZERO), Duration::MAX);
    for _ in 0..(MEMORY * 2) {
        p.sent(ms(1));
    }
    assert_eq!(p.sent.len(), MEMORY);
}

#[test]
fn headers_are_read_as_whole_numbers_only() {
    let h = |pairs: &'static [(&'static str, &'static str)]| {
        RateHeaders::read(|n| pairs.iter().find(|(k, _)| *k == n).map(|(_, v)| *v))
    };
    assert_eq!(
        h(&[
            ("ratelimit-limit-second", " 10 "),
            ("ratelimit-remaining-second", "0")
        ]),
        RateHeaders {
            limit: Some(10),
            remaining: Some(0)
        }
    );
    assert_eq!(
        h(&[("ratelimit-remaining-second", "-1")]),
        RateHeaders::default()
    );
}

/// Numbers below `n` picked by a small xorshift from `seed` (tests: the
/// same run every time).
pub(super) fn xorshift(seed: u64) -> impl FnMut(u64) -> u64 {
    let mut x = seed | 1;
    move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    }
}

/// The arrival times, at the server, of the GETs of `slots.calls`
/// slots of one node each running calls back to back for `run`, every
/// call a fresh slot pacer sending 1 to 3 GETs, each leaving up to 2 ms
/// after its pacer's time (sleeps overshoot), with answers taking 1 to 40
/// ms (arriving any time before) and declaring a limit of `declared`, some
/// saying the second is spent, some 429s, and the engine 0 to `pause` ms
/// between calls (a small xorshift picks them); `busy`: others fill the
/// organisation's window too.
fn slot_arrivals(slots: Slots, run: Duration, seed: u64, busy: bool) -> Vec<Duration> {
    slot_arrivals_on(slots, run, seed, busy, 30, 10)
}

fn slot_arrivals_on(
    slots: Slots,
    run: Duration,
    seed: u64,
    busy: bool,
    pause: u64,
    declared: usize,
) -> Vec<Duration> {
    let mut pick = xorshift(seed);
    let mut arrivals = Vec::new();
    for _ in 0..slots.calls {
        let mut t = ms(pick(30));
        while t < run {
            let mut p = Pacer::slot(slots);
            for _ in 0..=pick(3) {
                t += p.wait(t) + Duration::from_micros(pick(2_000));
                let at = t;
                let took = ms(1 + pick(40));
                arrivals.push(at + took.mul_f64(pick(100) as f64 / 100.0));
                t += took;
                p.counted(at, t);
                // Whatever the organisation's window says (others may
                // fill it: none left, or a 429), the slot keeps its part.
                let remaining = if busy {
                    [5, 1, 0, 0][pick(4) as usize]
                } else {
                    5
                };
                let headers = RateHeaders {
                    limit: Some(declared),
                    remaining: Some(remaining.min(declared)),
                };
                p.answered(at, t, headers, remaining == 0 && pick(2) == 0);
            }
            t += p.hand_over(t);
            t += ms(pick(pause + 1));
        }
    }
    arrivals.sort();
    arrivals
}

/// The most arrivals in any one window.
fn busiest_window(arrivals: &[Duration]) -> usize {
    (0..arrivals.len())
        .map(|i| arrivals[i..].partition_point(|t| *t < arrivals[i] + WINDOW))
        .max()
        .unwrap_or(0)
}

#[test]
fn slots_of_fresh_calls_never_put_more_than_the_share_in_a_window() {
    for seed in 1..40 {
        // One node of five calls at Gladly's declared 10.
        let one = Slots {
            calls: 5,
            share: None,
            nodes: 1,
        };
        let a = slot_arrivals(one, ms(20_000), seed, false);
        assert!(busiest_window(&a) <= 10, "seed {seed}");
        // ... and, alone, it uses most of the limit: at least 9 a second.
        assert!(a.len() >= 180, "seed {seed}: {}", a.len());
        let a = slot_arrivals(one, ms(20_000), seed, true);
        assert!(busiest_window(&a) <= 10, "seed {seed}");
        // Two nodes of five calls, each given 5 a second.
        let half = Slots {
            calls: 5,
            share: Some(5),
            nodes: 1,
        };
        let mut both = slot_arrivals(half, ms(20_000), seed, false);
        both.extend(slot_arrivals(
            half,
            ms(20_000),
            seed.wrapping_mul(7919),
            true,
        ));
        both.sort();
        assert!(busiest_window(&both) <= 10, "seed {seed}");
    }
}

#[test]
fn a_node_keeps_its_share_whatever_its_calls_and_the_engines_pauses() {
    // One to ten calls a node, each slot its part of the limit (three
    // calls: 3 each, 9 together), the engine pausing up to 150 ms between
    // calls.
    for seed in 1..40 {
        for calls in [1, 2, 3, 5, 10] {
            let slots = Slots {
                calls,
                share: None,
                nodes: 1,
            };
            let most = calls * (10 / calls);
            for busy in [false, true] {
                let a = slot_arrivals_on(slots, ms(10_000), seed, busy, 150, 10);
                let seen = busiest_window(&a);
                assert!(
                    seen <= most,
                    "seed {seed}, {calls} calls, busy {busy}: {seen}"
                );
            }
        }
        // An organisation that declares 5: each call starts at its part of
        // Gladly's 10 until an answer says.
        let five = Slots {
            calls: 5,
            share: None,
            nodes: 1,
        };
        for busy in [false, true] {
            let a = slot_arrivals_on(five, ms(10_000), seed, busy, 150, 5);
            assert!(busiest_window(&a) <= 5, "seed {seed}, busy {busy}");
        }
    }
}

#[test]
fn a_slot_is_never_cut_and_hands_over_nothing_before_it_sends() {
    let slots = Slots {
        calls: 2,
        share: None,
        nodes: 1,
    };
    let mut p = Pacer::slot(slots);
    assert_eq!(p.hand_over(ms(0)), Duration::ZERO);
    assert_eq!(p.share(), 5);
    p.sent(ms(0));
    p.counted(ms(0), ms(10));
    p.answered(ms(0), ms(10), RateHeaders::default(), true);
    assert_eq!(p.share(), 5);
    // Counted from its answer at 10 ms: the next a fifth of a window on.
    assert_eq!(p.hand_over(ms(10)), (WINDOW + MARGIN) / 5);
    // Not a slot: nothing to hand over.
    let mut q = Pacer::default();
    q.sent(ms(0));
    assert_eq!(q.hand_over(ms(0)), Duration::ZERO);
}

#[test]
fn a_bad_setting_is_named_and_shown_only_when_it_looks_like_a_number() {
    let message = |calls: &str| {
        let read = Slots::read(|name| (name == CALLS_IN_FLIGHT_VAR).then(|| calls.to_string()));
        match read {
            Err(Error::InvalidInput { field, message }) => {
                assert_eq!(field, "env.GLADLY_CALLS_IN_FLIGHT");
                message
            }
            other => panic!("{calls}: {other:?}"),
        }
    };
    for shown in ["0", "-5", "+0", "129", "99999999999999999999"] {
        assert!(message(shown).ends_with(&format!("not {shown}")), "{shown}");
    }
    // A secret pasted into the wrong variable, or anything long, is not
    // repeated: only its length.
    for hidden in ["sk-live-abc", "a+b", "7 7", "999999999999999999999"] {
        let m = message(hidden);
        assert!(!m.contains(hidden), "{m}");
        assert!(
            m.ends_with(&format!("not the {} characters it holds", hidden.len())),
            "{m}"
        );
    }
}
