//! Instances sharing one limit, simulated: a server counting in a sliding
//! or a fixed window, instances joining together or one after another.

use std::collections::VecDeque;
use std::time::Duration;

use super::tests::ms;
use super::*;

/// What a shared-limit run gave: each instance's requests let through,
/// and the 429s.
struct Shared {
    through: Vec<usize>,
    limited: usize,
    /// Under a window that resets, at each answer read once the pacer
    /// knew the turn: how far it put the turn from the true one.
    turn_off: Vec<Duration>,
}

/// The server's count of one method's requests: `limit` a window, the
/// window sliding or reset on each whole second (`fixed`), as the sandbox
/// counts (`sandbox/src/front.rs`); a request refused is not counted.
pub(super) struct Server {
    limit: usize,
    fixed: bool,
    accepted: VecDeque<Duration>,
}

impl Server {
    pub(super) fn new(limit: usize, fixed: bool) -> Self {
        Self {
            limit,
            fixed,
            accepted: VecDeque::new(),
        }
    }

    /// A request arrives at `now`: how many the window has left once it is
    /// counted, or `None` for a 429.
    pub(super) fn admit(&mut self, now: Duration) -> Option<usize> {
        let began = Duration::from_secs(now.as_secs());
        while self.accepted.front().is_some_and(|t| {
            if self.fixed {
                *t < began
            } else {
                now.saturating_sub(*t) >= WINDOW
            }
        }) {
            self.accepted.pop_front();
        }
        if self.accepted.len() >= self.limit {
            return None;
        }
        self.accepted.push_back(now);
        Some(self.limit - self.accepted.len())
    }
}

/// A simulated run: `n` instances, each a host pacer with 4 callers
/// asking again as soon as they are answered, against one server allowing
/// 10 a window (sliding, or reset on each whole second: `fixed`), for
/// `run` of simulated time, instance `i` starting at `i * stagger`; a
/// request arrives 1 to 4 ms after it is sent and is answered 3 to 13 ms
/// later (a few ms picked per instance, and up to 4 drawn per answer, from
/// `seed`), each way `far` more; all but the first stop asking at
/// `others_stop` (never, if none). Requests are counted from `from` on.
#[derive(Clone, Copy, Default)]
struct Run {
    n: usize,
    fixed: bool,
    run: Duration,
    stagger: Duration,
    from: Duration,
    seed: u64,
    far: Duration,
    others_stop: Option<Duration>,
}

fn shared_run(setting: Run) -> Shared {
    let Run {
        n,
        fixed,
        run,
        stagger,
        from,
        seed,
        far,
        others_stop,
    } = setting;
    let others_stop = others_stop.unwrap_or(Duration::MAX);
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    #[derive(PartialEq, Eq, PartialOrd, Ord)]
    enum Ev {
        // (instance, reserved send time)
        Wake(usize, Duration),
        Arrive(usize, Duration),
        Answer(usize, Duration, Option<usize>),
    }
    let limit = 10;
    let mut pacers: Vec<Pacer> = (0..n)
        .map(|i| Pacer::seeded(i as u64 * 7 + 3 + seed * 1_000))
        .collect();
    let mut queue = BinaryHeap::new();
    for (i, p) in pacers.iter_mut().enumerate() {
        for _ in 0..4 {
            let start = stagger * i as u32;
            let at = p.next_send(start);
            p.sent(at);
            queue.push(Reverse((at, Ev::Wake(i, at))));
        }
    }
    let mut server = Server::new(limit, fixed);
    let mut through = vec![0; n];
    let mut limited = 0;
    let mut turn_off = vec![];
    let mut net: u64 = 0x9e37_79b9_7f4a_7c15 ^ seed;
    let next_draw = |x: u64| {
        x.wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407)
    };
    while let Some(Reverse((now, ev))) = queue.pop() {
        if now > run {
            break;
        }
        match ev {
            Ev::Wake(i, at) => {
                // As the host does: the slot is taken back and checked
                // again against what was sent and answered since.
                let p = &mut pacers[i];
                p.release(at);
                let again = p.wait_again(now);
                p.sent(now + again);
                if again.is_zero() {
                    // The way there takes 1 to 4 ms, drawn: networks
                    // jitter, so no instance keeps a fixed phase
                    // against another's (a fixed one can lock a
                    // newcomer out of every slot the other frees).
                    net = next_draw(net);
                    let there = far + Duration::from_micros(1_000 + (net >> 33) % 3_000);
                    queue.push(Reverse((now + there, Ev::Arrive(i, now))));
                } else {
                    queue.push(Reverse((now + again, Ev::Wake(i, now + again))));
                }
            }
            Ev::Arrive(i, at) => {
                let answer = server.admit(now);
                if now >= from {
                    match answer {
                        Some(_) => through[i] += 1,
                        None => limited += 1,
                    }
                }
                net = next_draw(net);
                let latency =
                    far + ms(3 + (i as u64 * 3) % 7) + Duration::from_micros((net >> 33) % 4_000);
                queue.push(Reverse((now + latency, Ev::Answer(i, at, answer))));
            }
            Ev::Answer(i, at, answer) => {
                let p = &mut pacers[i];
                p.counted(at, now);
                p.answered(
                    at,
                    now,
                    RateHeaders {
                        limit: Some(limit),
                        remaining: Some(answer.unwrap_or(0)),
                    },
                    answer.is_none(),
                );
                // The server turns on each whole second.
                if let Some((turn, _)) = p.adaptive.turn(now).filter(|_| fixed) {
                    let off = turn.as_millis() as i64 % 1_000;
                    turn_off.push(ms(off.min(1_000 - off) as u64));
                }
                // On a 429 the host's caller waits out about a second
                // (below), as the connector does without Retry-After.
                if i > 0 && now >= others_stop {
                    continue;
                }
                let ask = if answer.is_none() { now + ms(700) } else { now };
                let next = p.next_send(ask);
                p.sent(next);
                queue.push(Reverse((next, Ev::Wake(i, next))));
            }
        }
    }
    Shared {
        through,
        limited,
        turn_off,
    }
}

/// Runs `setting` under `timings` network timings (its seed), each run
/// checked: every instance at least half its fair share, none answered
/// 429 when alone, and `each` (given the run and how to show it). The
/// runs together: the share of the limit used, the share of requests
/// answered 429, and how to show them (the instances `placed`, as
/// " 150 ms away"; printed too).
fn over_timings(
    setting: Run,
    timings: u64,
    placed: &str,
    each: impl Fn(&Shared, &str),
) -> (f64, f64, String) {
    let Run { n, fixed, run, .. } = setting;
    let (mut total, mut limited, mut fewest) = (0, 0, f64::MAX);
    for seed in 0..timings {
        let r = shared_run(Run { seed, ..setting });
        let through: usize = r.through.iter().sum();
        let fair = through as f64 / n as f64;
        let shown = format!(
            "{n} instance(s){placed}, fixed {fixed}, timing {seed}: {:?}, {} answered 429",
            r.through, r.limited
        );
        assert!(r.through.iter().all(|t| *t as f64 >= fair / 2.0), "{shown}");
        if n == 1 {
            assert_eq!(r.limited, 0, "{shown}");
        }
        each(&r, &shown);
        let least = r.through.iter().min().copied().unwrap_or(0) as f64;
        fewest = fewest.min(least / fair);
        total += through;
        limited += r.limited;
    }
    let used = total as f64 / (10.0 * run.as_secs_f64() * timings as f64);
    let refused = limited as f64 / (total + limited) as f64;
    let shown = format!(
        "{n} instance(s){placed}, fixed {fixed}, {timings} timings: {used:.3} of the limit, {:.2}% answered 429, the fewest {fewest:.2} of a fair share",
        refused * 100.0
    );
    eprintln!("{shown}");
    (used, refused, shown)
}

#[test]
fn instances_sharing_a_limit_each_get_at_least_half_their_fair_share() {
    // Under several network timings: one run's 429s are too few to tell
    // a rule from its luck.
    for fixed in [false, true] {
        for n in [1, 2, 4] {
            let setting = Run {
                n,
                fixed,
                run: Duration::from_secs(120),
                stagger: ms(37),
                ..Run::default()
            };
            let (used, refused, shown) = over_timings(setting, 8, "", |_, _| {});
            if n == 1 {
                assert!(used >= 0.95, "{shown}");
            } else {
                // A guard against regressions (the pacer that burst its
                // share drew 30% in the benchmark; the one that cut on
                // every spent window used 0.79 of the limit here; before
                // room needed a reading late in a resetting second, four
                // drew 4.1% over 12 timings, and 2.9% here before the turn
                // was narrowed by answers in a row; 2.1% before a share
                // above all the others' gave way at every answer and a
                // 429 halved a share still being found, when two under a
                // resetting window used 0.899 of the limit), not the
                // goals, which BENCHMARKS.md measures on the real host.
                assert!(used >= 0.9, "{shown}");
                assert!(refused <= 0.022, "{shown}");
            }
        }
    }
}

#[test]
fn instances_starting_together_draw_few_429s_in_their_first_second() {
    // Four instances 37 ms apart: the first keeps the whole limit until it
    // sees the others, and each later one sees only those before it.
    // Starting each at its whole part of what its first answer showed, they
    // drew 24 answers of 429 in their first second over these 8 timings;
    // at three quarters of it, 8. (Until the second turns, a window that
    // slides and one that resets count alike.)
    let limited: usize = (0..8)
        .map(|seed| {
            shared_run(Run {
                n: 4,
                run: WINDOW,
                stagger: ms(37),
                seed,
                ..Run::default()
            })
            .limited
        })
        .sum();
    let shown = format!("{limited} answered 429 in the first second");
    eprintln!("{shown}");
    assert!(limited <= 12, "{shown}");
}

#[test]
fn an_instance_that_joins_late_gets_at_least_half_its_fair_share() {
    // One instance has had the whole limit to itself for 10 s when the
    // other starts (a gateway restarted): the newcomer's first answer
    // shows a window all the other's, and the other sees no one. Once
    // both have run together a while, each still gets at least half.
    // Under several network timings: a rule that starves a late
    // joiner under one of them is not kept.
    for seed in 0..8 {
        for fixed in [false, true] {
            for n in [2, 4] {
                let r = shared_run(Run {
                    n,
                    fixed,
                    run: Duration::from_secs(120),
                    stagger: Duration::from_secs(10),
                    from: Duration::from_secs(60),
                    seed,
                    ..Run::default()
                });
                let total: usize = r.through.iter().sum();
                let fair = total as f64 / n as f64;
                let used = total as f64 / (10.0 * 60.0);
                let shown = format!(
                    "{n} instance(s), fixed {fixed}, timing {seed}, the last 60 s: {:?}, {} answered 429, {used:.2} of the limit",
                    r.through, r.limited
                );
                eprintln!("{shown}");
                assert!(r.through.iter().all(|t| *t as f64 >= fair / 2.0), "{shown}");
                // And not by everyone getting little.
                assert!(used >= 0.8, "{shown}");
                assert!(r.limited * 100 <= (total + r.limited) * 5, "{shown}");
            }
        }
    }
}

#[test]
fn under_a_window_that_resets_the_turn_is_found_to_within_tens_of_milliseconds() {
    // Four instances, others' requests in every count, under several
    // network timings: at each answer read once the turn is known, how far
    // it is from the true one (the server's whole second).
    let mut off: Vec<Duration> = (0..8)
        .flat_map(|seed| {
            shared_run(Run {
                n: 4,
                fixed: true,
                run: Duration::from_secs(120),
                stagger: ms(37),
                seed,
                ..Run::default()
            })
            .turn_off
        })
        .collect();
    off.sort();
    assert!(!off.is_empty(), "the turn never known");
    let at = |q: f64| off[((off.len() - 1) as f64 * q) as usize];
    let shown = format!(
        "the turn known at {} answers, off by {:?} at the median, {:?} at 9 in 10, {:?} at most",
        off.len(),
        at(0.5),
        at(0.9),
        at(1.0)
    );
    eprintln!("{shown}");
    // Known at most answers, and close: from the sure evidence alone
    // (without `Turn::followed`), 50 ms off at the median and 110 ms at 9
    // in 10, the middle of what it left lying early. With it, over these
    // 8 timings, 5 ms and 50 ms (35 ms before room under a window that
    // resets had to last 2 s longer; over 16 timings, by hand, 40 ms
    // against 30: the tail of a few timings).
    assert!(off.len() >= 6_000, "{shown}");
    assert!(at(0.5) <= ms(15) && at(0.9) <= ms(60), "{shown}");
}

#[test]
fn instances_far_from_the_server_share_it_too() {
    // 150 ms each way (an organisation across an ocean): answers tell of
    // a window the server counted a round trip ago, and its own requests
    // in flight are in the count or not. Under several network timings:
    // with a share above all the others' given back only at chances 1 to
    // 2 s apart, one of two instances under a resetting window got 0.40
    // of a fair share under 4 timings of 16.
    for fixed in [false, true] {
        for n in [1, 2, 4] {
            let setting = Run {
                n,
                fixed,
                run: Duration::from_secs(120),
                stagger: ms(37),
                far: ms(150),
                ..Run::default()
            };
            let (_, refused, shown) = over_timings(setting, 8, " 150 ms away", |r, shown| {
                let through: usize = r.through.iter().sum();
                assert!(r.limited * 100 <= (through + r.limited) * 5, "{shown}");
            });
            // Over all the timings, a guard against regressions (3.1% at
            // most now, four under a resetting window; each timing is held
            // to 5% above).
            assert!(refused <= 0.035, "{shown}");
        }
    }
}

#[test]
fn when_the_others_stop_the_one_left_takes_the_whole_limit_back() {
    // Four instances share for 30 s; three stop (their servers died).
    // Within seconds the one left uses the whole limit, near the server
    // and 150 ms from it, under either window.
    for far in [Duration::ZERO, ms(150)] {
        for fixed in [false, true] {
            let setting = Run {
                n: 1,
                fixed,
                run: ms(60_000),
                stagger: ms(37),
                from: ms(40_000),
                far,
                ..Run::default()
            };
            let alone = shared_run(setting);
            let left = shared_run(Run {
                n: 4,
                others_stop: Some(ms(30_000)),
                ..setting
            });
            let shown = format!(
                "{far:?} away, fixed {fixed}: alone {:?}, left after the others stopped {:?}",
                alone.through, left.through
            );
            eprintln!("{shown}");
            assert_eq!(left.through[1..], [0, 0, 0], "{shown}");
            assert!(left.through[0] * 100 >= alone.through[0] * 95, "{shown}");
        }
    }
}
