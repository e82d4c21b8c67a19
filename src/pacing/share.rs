//! The share of an organisation's limit a pacer allows itself while others
//! use the limit too, found from what its answers say (the README's
//! "Pacing"), with no coordinator.
//!
//! A share is a whole number of requests a window, and a pacer never puts
//! more than its share of its own in any window (plus margin). So shares
//! that add up to the limit never draw a 429, whether the server's window
//! slides or resets on the second, however the instances' requests fall
//! against each other. The rules keep the shares adding up to the limit
//! and near equal:
//! - each answer shows how many of the window's requests were others'
//!   (what it counted beyond this pacer's own; in a window that resets on
//!   the second, since the turn, and scaled to a whole second: see
//!   [`super::turn`]);
//! - room left beyond its share and the most others held lately is taken
//!   one request at a time, once the room has lasted a second for each
//!   request of its share: the smaller shares take it first, and each
//!   raise shows in the others' answers before the next one is made;
//! - while the window is full with others in it, a share gives one request
//!   back, now and then, with a chance that grows as the cube of its part
//!   of the limit: the larger shares give way, the smaller ones take the
//!   room, and the shares converge;
//! - a 429 (the shares added up to more) takes at least one request off,
//!   and down to what the others left, at most once a window;
//! - no others seen for a while (they stopped, or a server died): the whole
//!   limit back at once.

use std::collections::VecDeque;
use std::time::Duration;

use super::turn::{SURELY_WITHIN, Turn};
use super::{MARGIN, WINDOW};

/// How long what answers showed of others counts.
const REMEMBERED: Duration = WINDOW.saturating_add(MARGIN);
/// How long room must last before a share takes one more, per request of
/// the share, and at most how much longer a drawn part adds (so that equal
/// shares do not take it together).
const ROOM_PER_REQUEST: Duration = Duration::from_secs(1);
const ROOM_DRAWN: Duration = Duration::from_millis(300);
/// After its own raise, how long before another (its raise shows in its
/// answers first).
const AFTER_RAISE: Duration = Duration::from_millis(1_200);
/// After a 429, how long before room is believed again.
const AFTER_429: Duration = Duration::from_secs(2);
/// How often a share in a full window may give way, and at most how much
/// longer a drawn part adds.
const GIVE_WAY_EVERY: Duration = Duration::from_secs(1);
const GIVE_WAY_DRAWN: Duration = Duration::from_secs(1);
/// The chance to give way is this times the cube of its part of the limit.
const GIVE_WAY_CHANCE: f64 = 0.5;
/// With no others seen for this long (and a window of its own alone since
/// the last 429), the whole limit back.
pub(super) const ALONE_AFTER: Duration = Duration::from_millis(1_500);
/// In a window that resets, a count this early after the turn says too
/// little of the whole second to be scaled up from.
const SCALED_FROM: Duration = Duration::from_millis(700);
/// Beyond how unsure the turn is, how close to it a count is not read.
const NEAR_TURN: Duration = Duration::from_millis(80);
/// A request sent this soon after the turn may have arrived before it.
const AFTER_TURN: Duration = Duration::from_millis(3);
/// A count this late after the turn stands for the whole second.
const WHOLE_SECOND: Duration = Duration::from_millis(800);
/// How long its own counted requests are remembered.
const COUNTED_FOR: Duration = Duration::from_secs(2);

/// One answer's reading of the others in the window.
#[derive(Clone, Copy, Debug)]
struct Others {
    at: Duration,
    /// At most this many were others' (room is judged on it).
    most: usize,
    /// At least this many (giving way is judged on it).
    least: usize,
}

/// The adaptive share of one pacer.
#[derive(Clone, Debug, Default)]
pub(super) struct Share {
    /// Requests a window it allows itself; `None`: the whole limit.
    cap: Option<usize>,
    /// What recent answers showed of the others, oldest first.
    others: VecDeque<Others>,
    /// Its own requests the server counted (not refused): when sent and
    /// when answered, in the order answered.
    counted: VecDeque<(Duration, Duration)>,
    turn: Turn,
    /// When an answer last found the window spent with others in it.
    full_at: Option<Duration>,
    /// When a 429 last cut the share, and when it last raised it.
    cut_at: Option<Duration>,
    raised_at: Option<Duration>,
    /// Since when room has been seen without a break, and how long it must
    /// last before a raise (drawn when the room appeared).
    room: Option<(Duration, Duration)>,
    /// When it may next give way.
    give_way_at: Option<Duration>,
    /// When others were last seen, and when an answer last showed the
    /// window holding only its own.
    pub(super) others_at: Option<Duration>,
    clear_at: Option<Duration>,
    /// Whether it gives way in a full window: an instance's pacer does; a
    /// call's own does not (its host's pacer shares the limit for it).
    gives_way: bool,
    /// The state of its draws (Knuth's MMIX linear congruential
    /// generator): instances drawing apart do not act together.
    draws: u64,
}

impl Share {
    /// An instance's share, its draws starting from `seed`.
    pub(super) fn new(seed: u64) -> Self {
        Self {
            gives_way: true,
            draws: seed | 1,
            ..Self::default()
        }
    }

    /// The share, as a whole number of requests a window (`None`: the
    /// whole limit).
    pub(super) fn cap(&self) -> Option<usize> {
        self.cap
    }

    /// A fraction in [0, 1), drawn.
    fn draw(&mut self) -> f64 {
        self.draws = self
            .draws
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.draws >> 11) as f64 / (1u64 << 53) as f64
    }

    /// The most others held in the window lately.
    fn others_most(&self) -> usize {
        self.others.iter().map(|o| o.most).max().unwrap_or(0)
    }

    /// Its own request sent at `at` was counted by the server, answered at
    /// `now`.
    pub(super) fn counted(&mut self, at: Duration, now: Duration) {
        while self
            .counted
            .front()
            .is_some_and(|(_, answered)| answered.saturating_add(COUNTED_FOR) < now)
        {
            self.counted.pop_front();
        }
        self.counted.push_back((at, now));
    }

    /// The first answer: the share starts at its part of what the window
    /// held (`own` of its requests in it, `used` in all), so that several
    /// instances starting together do not each start at the whole limit.
    pub(super) fn start(&mut self, now: Duration, limit: usize, used: usize, own: usize) {
        let own = own.max(1);
        let others = used.saturating_sub(own);
        if others > 0 && self.cap.is_none() {
            self.cap = Some((limit * own / (own + others)).max(1));
            self.cut_at = Some(now);
        }
    }

    /// The answer at `now` to its request sent at `at` said `remaining`
    /// were left of `limit`; `own` of its requests were in the window when
    /// that request arrived, as far as it can tell (those sent or answered
    /// within a window and margin before it was sent, and itself).
    pub(super) fn answered(
        &mut self,
        at: Duration,
        now: Duration,
        limit: usize,
        remaining: usize,
        own: usize,
    ) {
        let used = limit.saturating_sub(remaining);
        // Its own the server surely counted before this request arrived:
        // answered before it was sent (or itself), and sent recently enough
        // to be in a window that slides.
        let mut recent: Vec<Duration> = self
            .counted
            .iter()
            .filter(|(sent, answered)| *answered <= at || *sent == at)
            .map(|(sent, _)| *sent)
            .filter(|sent| sent.saturating_add(SURELY_WITHIN) >= now)
            .collect();
        recent.sort();
        self.turn.answered(now, used, &recent);
        if let Some(seen) = self.read_others(at, now, limit, used, own) {
            while self
                .others
                .front()
                .is_some_and(|o| o.at.saturating_add(REMEMBERED) < now)
            {
                self.others.pop_front();
            }
            self.others.push_back(seen);
            // Others may be there: not alone, and a spent window is full.
            if seen.most > 0 {
                self.others_at = Some(now);
                if remaining == 0 {
                    self.full_at = Some(now);
                }
            }
        }
        self.adjust(now, limit);
    }

    /// An answer that said nothing of the window: the share only grows
    /// back by steps (see [`Share::adjust`]), never whole at once.
    pub(super) fn answered_blind(&mut self, now: Duration, limit: usize) {
        self.adjust(now, limit);
    }

    /// What the answer at `now` to its request sent at `at`, counting
    /// `used`, shows of the others; `None` when it says nothing sure (too
    /// near a window's turn).
    fn read_others(
        &mut self,
        at: Duration,
        now: Duration,
        limit: usize,
        used: usize,
        own: usize,
    ) -> Option<Others> {
        let Some((turn, unsure)) = self.turn.last(now) else {
            // A sliding window: what it counted beyond its own.
            let others = used.saturating_sub(own);
            if others == 0 {
                self.clear_at = Some(now);
            }
            return Some(Others {
                at: now,
                most: others,
                least: others,
            });
        };
        let since = now.saturating_sub(turn);
        let guard = unsure.saturating_add(NEAR_TURN);
        if since < guard || since.saturating_add(guard) > WINDOW {
            return None;
        }
        // Its own since the turn: at least those sent after it and surely
        // counted before this one arrived; at most those answered after it.
        let after = turn.saturating_add(AFTER_TURN);
        let surely = self
            .counted
            .iter()
            .filter(|(sent, answered)| *sent >= after && (*answered <= at || *sent == at))
            .count();
        let maybe = self
            .counted
            .iter()
            .filter(|(_, answered)| *answered >= turn)
            .count();
        let most = used.saturating_sub(surely) as f64 / since.max(SCALED_FROM).as_secs_f64();
        let most = (most.ceil() as usize).min(limit);
        if most == 0 && since >= WHOLE_SECOND {
            self.clear_at = Some(now);
        }
        Some(Others {
            at: now,
            most,
            least: used.saturating_sub(maybe),
        })
    }

    /// Takes room, gives way or comes back whole, as the module says.
    fn adjust(&mut self, now: Duration, limit: usize) {
        let Some(cap) = self.cap else {
            self.give_way(now, limit, limit);
            return;
        };
        let alone = self
            .others_at
            .is_none_or(|t| now >= t.saturating_add(ALONE_AFTER))
            && self
                .clear_at
                .is_some_and(|c| self.cut_at.is_none_or(|k| c > k));
        if alone {
            self.cap = None;
            self.room = None;
            return;
        }
        let since = |t: Option<Duration>, d: Duration| t.is_none_or(|t| now >= t.saturating_add(d));
        let room = cap + self.others_most() < limit
            && since(self.full_at, WINDOW)
            && since(self.cut_at, AFTER_429)
            && since(self.raised_at, AFTER_RAISE);
        if !room {
            self.room = None;
        } else {
            let (from, wait) = match self.room {
                Some(seen) => seen,
                None => {
                    let wait = ROOM_PER_REQUEST * cap as u32 + ROOM_DRAWN.mul_f64(self.draw());
                    *self.room.insert((now, wait))
                }
            };
            if now >= from.saturating_add(wait) {
                self.cap = Some((cap + 1).min(limit));
                self.raised_at = Some(now);
                self.room = None;
            }
        }
        self.give_way(now, limit, cap);
    }

    /// Now and then, in a full window with others in it, one request given
    /// back, the more likely the larger the share.
    fn give_way(&mut self, now: Duration, limit: usize, cap: usize) {
        if !self.gives_way || self.give_way_at.is_some_and(|t| now < t) {
            return;
        }
        self.give_way_at =
            Some(now.saturating_add(GIVE_WAY_EVERY + GIVE_WAY_DRAWN.mul_f64(self.draw())));
        let others_there = self.others.iter().any(|o| o.least > 0);
        if cap > 1 && others_there && cap + self.others_most() >= limit {
            let part = cap as f64 / limit as f64;
            // More than all the others together: surely more than a fair
            // share, given back at once.
            let chance = if cap > self.others_most() {
                1.0
            } else {
                GIVE_WAY_CHANCE * part.powi(3)
            };
            if self.draw() < chance {
                self.cap = Some(cap - 1);
                self.room = None;
            }
        }
    }

    /// Its request sent at `at` was answered 429 at `now`: the shares add
    /// up to more than the limit. At least one request off, and down to
    /// what the others left, at most once a window; the refused request
    /// was not counted.
    pub(super) fn limited(&mut self, at: Duration, now: Duration, limit: usize) {
        self.others_at = Some(now);
        if let Some(i) = self.counted.iter().rposition(|(sent, _)| *sent == at) {
            self.counted.remove(i);
        }
        if self.cut_at.is_some_and(|t| now < t.saturating_add(WINDOW)) {
            return;
        }
        let cap = self.cap.unwrap_or(limit).min(limit);
        let left = limit.saturating_sub(self.others_most());
        self.cap = Some(cap.saturating_sub(1).min(left).max(1));
        self.cut_at = Some(now);
        self.room = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// An instance's share at `cap`.
    fn at(cap: usize, seed: u64) -> Share {
        Share {
            cap: Some(cap),
            ..Share::new(seed)
        }
    }

    /// Answers every 100 ms from `from` to `to` (ms) to a pacer whose
    /// share is all in the window, with `others` of others' beside: the
    /// times its share changed, and to what.
    fn answers(s: &mut Share, from: u64, to: u64, others: usize) -> Vec<(u64, Option<usize>)> {
        let mut changes = vec![];
        for t in (from..to).step_by(100) {
            let before = s.cap();
            let own = before.unwrap_or(10);
            let remaining = 10usize.saturating_sub(own + others);
            s.answered(ms(t), ms(t + 5), 10, remaining, own);
            if s.cap() != before {
                changes.push((t, s.cap()));
            }
        }
        changes
    }

    #[test]
    fn room_is_taken_one_request_at_a_time_a_second_per_request_of_the_share() {
        // Others hold 5: room for 2 more. The room must last 3 s (and a
        // drawn part of up to 300 ms) before 3 becomes 4, then 4 s before 5.
        let mut s = at(3, 7);
        let changes = answers(&mut s, 0, 12_000, 5);
        assert_eq!(changes.len(), 2, "{changes:?}");
        let ((first, to4), (second, to5)) = (changes[0], changes[1]);
        assert_eq!((to4, to5), (Some(4), Some(5)));
        assert!((3_000..=3_400).contains(&first), "{changes:?}");
        // Its own raise shows in its answers first (1.2 s), then the room
        // must last 4 s.
        assert!(
            second >= first + 5_200 && second <= first + 5_600,
            "{changes:?}"
        );
        // Room gone (5 and 5 fill the window): no more.
        assert_eq!(s.cap(), Some(5));
    }

    #[test]
    fn the_smaller_share_takes_room_first() {
        // One request of room: a share of 2 beside 7 others', and a share
        // of 5 beside 4 (as one instance of 2 and two of 4 and 1 would see
        // it). The smaller raises after 2 s, the larger would after 5 s.
        let first_raise = |cap: usize, others: usize| {
            let mut s = at(cap, 11);
            answers(&mut s, 0, 8_000, others)
                .first()
                .map(|(t, _)| *t)
                .expect("a raise")
        };
        let (small, large) = (first_raise(2, 7), first_raise(5, 4));
        assert!(small < large, "{small} {large}");
        assert!(small >= 2_000 && large >= 5_000, "{small} {large}");
    }

    #[test]
    fn in_a_full_window_the_larger_shares_give_way_and_the_smaller_do_not() {
        // Many instances, each in a full window for 10 s: how many gave
        // one request back.
        let gave_way = |cap: usize, others: usize| {
            (0..200)
                .filter(|seed| {
                    let mut s = at(cap, *seed);
                    answers(&mut s, 0, 10_000, others)
                        .iter()
                        .any(|(_, c)| *c < Some(cap))
                })
                .count()
        };
        let (four, two) = (gave_way(4, 6), gave_way(2, 8));
        assert!(four > 3 * two.max(1), "4 of 10: {four}, 2 of 10: {two}");
        // More than all the others together: given back at once, down to
        // the others' part.
        let mut s = at(7, 5);
        let changes = answers(&mut s, 0, 8_000, 3);
        assert_eq!(
            changes.first().map(|(_, c)| *c),
            Some(Some(6)),
            "{changes:?}"
        );
        assert!(
            changes.first().is_some_and(|(t, _)| *t <= 2_000),
            "{changes:?}"
        );
        // A window not full: no one gives way.
        assert_eq!(gave_way(3, 5), 0);
        // A call's own pacer never does (its host's pacer shares).
        let mut s = Share {
            cap: Some(7),
            ..Share::default()
        };
        assert!(answers(&mut s, 0, 8_000, 3).is_empty());
    }

    #[test]
    fn a_429_takes_one_off_and_down_to_what_the_others_left_once_a_window() {
        let mut s = Share::new(3);
        // An answer showed 4 of others'.
        s.answered(ms(0), ms(5), 10, 5, 1);
        s.limited(ms(100), ms(105), 10);
        assert_eq!(s.cap(), Some(6), "10 less the others' 4");
        s.limited(ms(200), ms(205), 10);
        assert_eq!(s.cap(), Some(6), "once a window");
        // The others' 4 forgotten a window later: one off.
        s.limited(ms(1_200), ms(1_205), 10);
        assert_eq!(s.cap(), Some(5));
        for t in 0..20 {
            s.limited(ms(2_300 + t * 1_100), ms(2_305 + t * 1_100), 10);
        }
        assert_eq!(s.cap(), Some(1), "never below one");
    }
}
