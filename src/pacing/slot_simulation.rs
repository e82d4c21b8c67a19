//! Engine nodes of slots sharing one limit, simulated as Obelisk runs the
//! connector: every call a fresh instance with fresh pacers, one GET then
//! one POST (a provision), a slot's next call starting when the last hands
//! it over and the engine has paused.

use std::time::Duration;

use super::simulation::Server;
use super::tests::{ms, xorshift};
use super::*;

/// Where a slot's call is.
#[derive(Clone, Copy)]
enum Step {
    /// Its next request is to be timed (and sent) now.
    Send,
    /// The request sent at the time held arrives at the server.
    Arrive(Duration),
    /// Its answer arrives: sent at, and what the server said.
    Answer(Duration, Option<usize>),
}

struct Slot {
    node: usize,
    /// The call's pacers, for its GET and its POST.
    pacers: [Pacer; 2],
    /// The method of the request under way (0: GET, 1: POST).
    method: usize,
    step: Step,
    at: Duration,
}

/// What a run gave: the calls each node finished (in all, and from
/// [`SETTLED`] after a node was killed), and the requests let through and
/// answered 429.
struct Nodes {
    calls: Vec<usize>,
    calls_after_kill: Vec<usize>,
    through: usize,
    limited: usize,
}

/// After a node is killed, the survivors' calls are counted from this long
/// after (as the Obelisk benchmark counts them from 3 s).
const SETTLED: Duration = Duration::from_secs(3);

/// `nodes` against one server allowing 10 a window per method (sliding,
/// or reset on each whole second: `fixed`), for `secs` of simulated time:
/// requests leave up to 2 ms after their pacer's time, arrive 1 to 8 ms
/// later and are answered 3 to 17 ms after that; a 429 is tried again half
/// a window to a window and a half later (the connector without
/// `Retry-After`); the engine pauses 0 to 30 ms between a slot's calls
/// (Obelisk's, measured about 30); all drawn from `seed`. `killed`: a node
/// whose slots all stop at a time, calls in flight included (`SIGKILL`).
fn run(
    nodes: &[Slots],
    fixed: bool,
    secs: u64,
    seed: u64,
    killed: Option<(usize, Duration)>,
) -> Nodes {
    let mut pick = xorshift(seed);
    let limit = 10;
    let mut servers = [Server::new(limit, fixed), Server::new(limit, fixed)];
    let mut slots = Vec::new();
    for (node, s) in nodes.iter().enumerate() {
        for _ in 0..s.calls {
            slots.push(Slot {
                node,
                pacers: [Pacer::slot(*s), Pacer::slot(*s)],
                method: 0,
                step: Step::Send,
                at: ms(pick(30)),
            });
        }
    }
    let end = Duration::from_secs(secs);
    let mut out = Nodes {
        calls: vec![0; nodes.len()],
        calls_after_kill: vec![0; nodes.len()],
        through: 0,
        limited: 0,
    };
    loop {
        if let Some((node, at)) = killed {
            slots.retain(|s| s.node != node || s.at < at);
        }
        let Some(s) = slots.iter_mut().min_by_key(|s| s.at) else {
            break;
        };
        let now = s.at;
        if now > end {
            break;
        }
        let p = &mut s.pacers[s.method];
        match s.step {
            Step::Send => {
                let at = now + p.wait(now) + Duration::from_micros(pick(2_000));
                p.sent(at);
                s.step = Step::Arrive(at);
                s.at = at + ms(1 + pick(8));
            }
            Step::Arrive(at) => {
                let answer = servers[s.method].admit(now);
                s.step = Step::Answer(at, answer);
                s.at = now + ms(3 + pick(15));
            }
            Step::Answer(at, answer) => {
                p.counted(at, now);
                let headers = RateHeaders {
                    limit: Some(limit),
                    remaining: Some(answer.unwrap_or(0)),
                };
                p.answered(at, now, headers, answer.is_none());
                s.step = Step::Send;
                if answer.is_none() {
                    out.limited += 1;
                    s.at = now + WINDOW.mul_f64(0.5 + pick(1_000) as f64 / 1_000.0);
                    continue;
                }
                out.through += 1;
                if s.method == 0 {
                    s.method = 1;
                    continue;
                }
                // The call is over: it holds its slot for both methods,
                // and the next call starts with fresh pacers.
                out.calls[s.node] += 1;
                if killed.is_some_and(|(_, at)| now >= at + SETTLED) {
                    out.calls_after_kill[s.node] += 1;
                }
                let hold = s.pacers.iter().map(|p| p.hand_over(now)).max();
                let node = nodes[s.node];
                s.pacers = [Pacer::slot(node), Pacer::slot(node)];
                s.method = 0;
                s.at = now + hold.unwrap_or_default() + ms(pick(31));
            }
        }
    }
    out
}

/// The shipped deployment's node: 5 calls in flight, its share unset.
const FIVE: Slots = Slots {
    calls: 5,
    share: None,
    nodes: 1,
};
/// The same node given half of Gladly's 10 (one of two).
const HALVES: Slots = Slots {
    calls: 5,
    share: Some(5),
    nodes: 1,
};

/// Timings each setting runs under, of this many seconds.
const TIMINGS: u64 = 8;
const SECS: u64 = 60;

/// `nodes` under [`TIMINGS`] timings of [`SECS`] each (`killed` as
/// [`run`] takes it): what they gave, added up, and the share of requests
/// answered 429.
fn over_timings(nodes: &[Slots], fixed: bool, killed: Option<(usize, Duration)>) -> (Nodes, f64) {
    let mut sum = Nodes {
        calls: vec![0; nodes.len()],
        calls_after_kill: vec![0; nodes.len()],
        through: 0,
        limited: 0,
    };
    for seed in 1..=TIMINGS {
        let r = run(nodes, fixed, SECS, seed * 7_919, killed);
        for (node, calls) in r.calls.iter().enumerate() {
            sum.calls[node] += calls;
            sum.calls_after_kill[node] += r.calls_after_kill[node];
        }
        sum.through += r.through;
        sum.limited += r.limited;
    }
    let refused = sum.limited as f64 / (sum.through + sum.limited) as f64;
    (sum, refused)
}

/// `nodes` under the timings: the calls a second, as a share of the
/// limit, and the share of requests answered 429 (printed).
fn nodes_over_timings(name: &str, nodes: &[Slots], fixed: bool) -> (f64, f64, String) {
    let (sum, refused) = over_timings(nodes, fixed, None);
    let calls: usize = sum.calls.iter().sum();
    let used = calls as f64 / (10.0 * (SECS * TIMINGS) as f64);
    let shown = format!(
        "{name}, fixed {fixed}: {used:.3} of the limit, {:.1}% answered 429",
        refused * 100.0
    );
    eprintln!("{shown}");
    (used, refused, shown)
}

#[test]
fn a_node_of_slots_uses_most_of_the_limit_and_nodes_given_shares_draw_no_429() {
    for fixed in [false, true] {
        // The shipped deployment alone: each call two a second. A slot that
        // waited a whole window on every window read as spent used 0.84
        // (sliding) and 0.86 (fixed) here, as on Obelisk.
        let (used, refused, shown) = nodes_over_timings("one node of 5 calls", &[FIVE], fixed);
        assert_eq!(refused, 0.0, "{shown}");
        assert!(used >= 0.88, "{shown}");
        // Ten calls, one a second each (a node alone may).
        let ten = Slots {
            calls: 10,
            share: None,
            nodes: 1,
        };
        let (used, refused, shown) = nodes_over_timings("one node of 10 calls", &[ten], fixed);
        assert_eq!(refused, 0.0, "{shown}");
        assert!(used >= 0.92, "{shown}");
        // Two nodes given 5 a second each.
        let (used, refused, shown) =
            nodes_over_timings("two nodes, shares of 5", &[HALVES; 2], fixed);
        assert_eq!(refused, 0.0, "{shown}");
        assert!(used >= 0.92, "{shown}");
        // Two nodes that count each other in the engine's record
        // (`crate::obelisk_nodes`), shares unset: as two given shares.
        let counted = Slots { nodes: 2, ..FIVE };
        let (used, refused, shown) =
            nodes_over_timings("two nodes counted, shares unset", &[counted; 2], fixed);
        assert_eq!(refused, 0.0, "{shown}");
        assert!(used >= 0.92, "{shown}");
        // Two nodes each taking the whole limit (shares unset, not counted,
        // as when their API is out of reach): calls keep nothing between
        // them, so nothing in them learns of the other node, and 429s are
        // what is left to pace them (about a fifth of the
        // requests, as on Obelisk; waiting a whole window after spent
        // answers or 429s drew no fewer and used 0.71 and 0.83 of the
        // limit): a guard against worse, not a goal.
        let (used, refused, shown) =
            nodes_over_timings("two nodes, shares unset", &[FIVE; 2], fixed);
        assert!(used >= 0.85 && refused <= 0.25, "{shown}");
    }
}

/// Two nodes of 5 calls, the second killed at 30 s of 60: the survivor's
/// calls a second from 3 s after, over the timings, and the share of all
/// requests answered 429 (printed).
fn survivor_over_timings(name: &str, nodes: [Slots; 2], fixed: bool) -> (f64, f64, String) {
    let kill = Duration::from_secs(SECS / 2);
    let (sum, refused) = over_timings(&nodes, fixed, Some((1, kill)));
    assert_eq!(sum.calls_after_kill[1], 0, "a killed node finishes nothing");
    let counted = Duration::from_secs(SECS) - kill - SETTLED;
    let pace = sum.calls_after_kill[0] as f64 / (counted.as_secs_f64() * TIMINGS as f64);
    let shown = format!(
        "{name}, fixed {fixed}: the survivor {pace:.2} calls a second from 3 s after the kill, {:.1}% answered 429",
        refused * 100.0
    );
    eprintln!("{shown}");
    (pace, refused, shown)
}

#[test]
fn when_a_node_dies_the_survivor_takes_the_whole_limit_unless_its_share_is_set() {
    for fixed in [false, true] {
        // Shares unset, not counted: the survivor's slots already pace to
        // the whole limit, and nothing of the dead node lingers in them.
        // (Counted, its calls count it alone once the dead node's newest
        // lock is 3 s old: `crate::obelisk_nodes`, and the Obelisk bench.)
        let (pace, _, shown) = survivor_over_timings("shares unset", [FIVE; 2], fixed);
        assert!(pace >= 8.8, "{shown}");
        // Shares set: a call keeps nothing, so nothing tells the survivor
        // the other is gone; it keeps its 5 (and meets no 429), as the
        // README says, until its operator raises its share.
        let (pace, refused, shown) = survivor_over_timings("shares of 5", [HALVES; 2], fixed);
        assert_eq!(refused, 0.0, "{shown}");
        assert!((4.4..=5.0).contains(&pace), "{shown}");
    }
}
