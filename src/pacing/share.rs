//! The share of an organisation's limit a pacer allows itself while others
//! use the limit too, found from what its answers say (the README's
//! "Pacing"), with no coordinator.
//!
//! A share is a whole number of requests a window, and a pacer never puts
//! more than its share of its own in any window (plus margin). So shares
//! that add up to the limit draw no 429 from how the instances' requests
//! fall against each other, whether the server's window slides or resets
//! on the second (a request the network delays past the margin still
//! can). The rules keep the shares adding up to the limit and near equal:
//! - each answer shows how many of the window's requests were others'
//!   (what it counted beyond this pacer's own; in a window that resets on
//!   the second, since the turn, and scaled to a whole second: see
//!   [`super::turn`]);
//! - room left beyond its share and the most others held lately is taken
//!   one request at a time, once the room has lasted a second for each
//!   request of its share: the smaller shares take it first, and each
//!   raise shows in the others' answers before the next one is made (in a
//!   window that resets, room is shown only by a count 0.6 s or more
//!   after the turn, but to a share of one, and must last 2 s longer);
//! - a share more than all the others' together in a full window gives
//!   way at every answer, a request at least and down to what they surely
//!   leave it, never below the most they held, until it is no more than
//!   that or the window no longer reads full;
//! - otherwise, once an answer has found the window spent with others in
//!   it, a share gives one request back now and then, with a chance that
//!   grows as the square of its part of the limit: the larger shares give
//!   way, the smaller ones take the room, and the shares converge;
//! - a 429 (the shares added up to more) takes at least one request off,
//!   and down to what the others left, at most once a window; in the
//!   first seconds of sharing (the shares not found yet), or at the whole
//!   limit, half of it;
//! - no others seen for a while (and for three requests at its share), and a
//!   window of its own alone since it began to share (they stopped, or a
//!   server died): the whole limit back at once.
//!
//! A call's own pacer (the component's, whose host's pacer shares for it)
//! does not give way; cut by a 429, it grows back by one request a second.

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
/// Under a window that resets (its turn known), room must last this much
/// longer: a count part way through the second, scaled to the whole,
/// misreads the others by a request as their evenly spaced requests happen
/// to fall before or after it, and the pacers read at nearly the same
/// phases second after second, so the same error repeats; the phases
/// drift by the margin each second, and a longer wait lets them. In the
/// simulation by hand (32 timings of 120 s), four instances drew 1.22% of
/// their requests answered 429 under a window that resets, against 1.65%
/// without it, and two used 0.938 of the limit against 0.945 (3 s: 1.17%,
/// but two instances that joined 10 s apart used as little as 0.78 of it
/// over their last minute; a second per request of the share, longer
/// for the larger: 1.20%, but 0.84 for four 40 ms from the server). A
/// window that slides, or one whose turn is not known (far from the
/// server), is read over a whole second and waits no longer.
const ROOM_RESETTING: Duration = Duration::from_secs(2);
/// After its own raise, how long before another (its raise shows in its
/// answers first).
const AFTER_RAISE: Duration = Duration::from_millis(1_200);
/// After a 429, how long before room is believed again.
const AFTER_429: Duration = Duration::from_secs(2);
/// A call's own pacer, cut by a 429, grows back by one this often (its
/// host's other calls fill the window, so it cannot wait for room).
const CALL_REGROWS: Duration = Duration::from_secs(1);
/// How often a share in a full window, not more than all the others'
/// together, may give way (by chance), and at most how much longer a drawn
/// part adds.
const GIVE_WAY_EVERY: Duration = Duration::from_secs(1);
const GIVE_WAY_DRAWN: Duration = Duration::from_secs(1);
/// The chance to give way is this times the square of its part of the limit.
const GIVE_WAY_CHANCE: f64 = 0.5;
/// With no others seen for this long, and for as long as this many of its
/// requests take at its share (each answer is a reading), and an answer
/// since it began to share showing a window of its own alone, the whole
/// limit back.
const ALONE_AFTER: Duration = Duration::from_millis(1_500);
const ALONE_READINGS: u32 = 3;
/// For this long after it began to share (and at the whole limit), a 429
/// halves the share, once a window like any cut: the shares are still
/// being found (instances that start together overshoot by half the limit
/// and more before their answers show each other).
const FINDING: Duration = Duration::from_secs(10);
/// In a window that resets, a count this early after the turn says too
/// little of the whole second to be scaled up from.
const SCALED_FROM: Duration = Duration::from_millis(700);
/// Beyond how unsure the turn is, how close to it a count is not read.
const NEAR_TURN: Duration = Duration::from_millis(80);
/// A request sent this soon after the turn may have arrived before it.
const AFTER_TURN: Duration = Duration::from_millis(3);
/// A count this early after the turn may block room, but not show it:
/// scaled up, it says too little of the rest of the second.
const ROOM_SHOWN_FROM: Duration = Duration::from_millis(600);
/// A count this late after the turn stands for the whole second.
const WHOLE_SECOND: Duration = Duration::from_millis(800);
/// The fraction (numerator, denominator) of its part of the window that a
/// share starts at. Four instances that started 37 ms apart, each at its
/// whole part, drew about a seventh of their 429s in their first second
/// (the simulation by hand, 32 timings of 120 s under a window that
/// resets, where the tests run 8): 96 of their 709 429s, 1.93% of requests;
/// starting at three quarters, 32 of their 607 429s (1.65%), and the other
/// settings near the server as many 429s or fewer. Half drew 1.52%, but
/// left one of four instances 150 ms from the server at 0.17 of its fair
/// share (0.50 at three quarters, 0.46 at the whole part).
const START_PART: (usize, usize) = (3, 4);
const _: () = assert!(START_PART.1 > 0 && START_PART.0 <= START_PART.1);
/// How long its own counted requests are remembered.
const COUNTED_FOR: Duration = Duration::from_secs(2);

/// One answer's reading of the others in the window.
#[derive(Clone, Copy, Debug)]
struct Others {
    at: Duration,
    /// About this many were others', and no fewer than `least` (room is
    /// judged on it): beyond its own surely counted, which a window that
    /// resets shows only in part, scaled to a whole second.
    most: usize,
    /// At least this many (whether others are there, and how far a share
    /// more than all of them gives way, are judged on it).
    least: usize,
    /// Whether it stands for a whole window (not only the start of one
    /// that resets).
    whole: bool,
    /// Whether it stands for enough of one to show room.
    late: bool,
}

/// The adaptive share of one pacer.
#[derive(Clone, Debug, Default)]
pub(super) struct Share {
    /// Requests a window it allows itself; `None`: the whole limit.
    cap: Option<usize>,
    /// What recent answers showed of the others, oldest first.
    others: VecDeque<Others>,
    /// Its own requests the server answered (not refused): when sent and
    /// when answered, in the order answered.
    counted: VecDeque<(Duration, Duration)>,
    /// The limit its answers were read against (a change starts afresh).
    limit: Option<usize>,
    turn: Turn,
    /// When an answer last found the window spent with others in it.
    full_at: Option<Duration>,
    /// When it began to share (left the whole limit), when a 429 last cut
    /// the share, and when it last raised it.
    shared_at: Option<Duration>,
    cut_at: Option<Duration>,
    raised_at: Option<Duration>,
    /// Since when room has been seen without a break, and how long it must
    /// last before a raise (drawn when the room appeared).
    room: Option<(Duration, Duration)>,
    /// When it may next give way by chance.
    give_way_at: Option<Duration>,
    /// When others may last have been there, and when an answer last
    /// showed the window holding only its own.
    others_at: Option<Duration>,
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

    /// The window's last turn at or before `now` as its answers showed it,
    /// and how unsure it is (the simulation checks it against the truth).
    #[cfg(test)]
    pub(super) fn turn(&self, now: Duration) -> Option<(Duration, Duration)> {
        self.turn.last(now)
    }

    /// A fraction in [0, 1), drawn.
    fn draw(&mut self) -> f64 {
        self.draws = self
            .draws
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.draws >> 11) as f64 / (1u64 << 53) as f64
    }

    /// The most others held in the window, as answers showed it within
    /// the last window.
    fn others_most(&self, now: Duration) -> usize {
        self.recent_others(now).map(|o| o.most).max().unwrap_or(0)
    }

    /// The most others surely held in the window, as answers showed it
    /// within the last window (0: none surely there).
    fn others_least(&self, now: Duration) -> usize {
        self.recent_others(now).map(|o| o.least).max().unwrap_or(0)
    }

    fn recent_others(&self, now: Duration) -> impl Iterator<Item = &Others> {
        self.others
            .iter()
            .filter(move |o| o.at.saturating_add(REMEMBERED) >= now)
    }

    /// It takes a share of the limit (from the whole of it).
    fn share_at(&mut self, cap: usize, now: Duration) {
        if self.cap.is_none() {
            self.shared_at = Some(now);
        }
        self.cap = Some(cap.max(1));
        self.room = None;
    }

    /// The first answer: the share starts at three quarters of its part of
    /// what the window held (`own` of its requests in it, `used` in all;
    /// rounded down, at least one), so that several instances starting
    /// together do not each start at the whole limit: each sees only those
    /// that started before it, so the later ones start below the part they
    /// see, leaving room for those they do not see yet; the first, alone
    /// in its first answer, keeps the whole limit until it sees the others
    /// ([`START_PART`]). A late joiner, which has no one unseen, starts a
    /// quarter low too, and takes room back as any share does.
    pub(super) fn start(&mut self, now: Duration, limit: usize, used: usize, own: usize) {
        let own = own.max(1);
        let others = used.saturating_sub(own);
        if others > 0 && self.cap.is_none() {
            let (part, of) = START_PART;
            self.share_at(limit * own * part / ((own + others) * of), now);
        }
    }

    /// The answer at `now` to its request sent at `at` (not refused) said
    /// `remaining` were left of the declared `limit`; at most
    /// `own_since(t)` of its requests were counted since `t` (answered
    /// since, or in flight).
    pub(super) fn answered(
        &mut self,
        at: Duration,
        now: Duration,
        limit: usize,
        remaining: usize,
        own_since: &dyn Fn(Duration) -> usize,
    ) {
        if self.limit.replace(limit).is_some_and(|l| l != limit) {
            // What it knew was counted against another limit.
            self.counted.clear();
            self.others.clear();
            self.turn = Turn::default();
        }
        while self
            .counted
            .front()
            .is_some_and(|(_, answered)| answered.saturating_add(COUNTED_FOR) < now)
        {
            self.counted.pop_front();
        }
        self.counted.push_back((at, now.max(at)));
        let used = limit.saturating_sub(remaining);
        // Its own the server surely counted before this request arrived:
        // answered before it was sent (or itself), and sent recently enough
        // to be in a window that slides.
        let mut recent: Vec<Duration> = self
            .surely_before(at)
            .filter(|sent| sent.saturating_add(SURELY_WITHIN) >= now)
            .collect();
        recent.sort();
        self.turn.answered(now, used, &recent);
        self.turn.followed(at, now, used);
        // An answer that shows a reset says nothing of the others until
        // the turn is known: read as a window that slides, it would show
        // none (and room, or the pacer alone).
        let turn = self.turn.last(at);
        let reset = used < recent.len() && turn.is_none();
        let seen = if reset {
            None
        } else {
            self.read_others(at, now, limit, used, turn, own_since)
        };
        if let Some(seen) = seen {
            while self
                .others
                .front()
                .is_some_and(|o| o.at.saturating_add(REMEMBERED) < now)
            {
                self.others.pop_front();
            }
            self.others.push_back(seen);
            // Others surely there: not alone. Others maybe there: a
            // spent window is full.
            if seen.least > 0 {
                self.others_at = Some(now);
            } else if seen.whole {
                self.clear_at = Some(now);
            }
            if seen.most > 0 && remaining == 0 {
                self.full_at = Some(now);
            }
        }
        self.adjust(now, limit, false);
    }

    /// The send times of its own requests the server surely counted
    /// before the one sent at `at` arrived: answered before it was sent,
    /// and itself (the last remembered).
    fn surely_before(&self, at: Duration) -> impl Iterator<Item = Duration> + '_ {
        let last = self.counted.len().saturating_sub(1);
        self.counted
            .iter()
            .enumerate()
            .filter(move |(i, (_, answered))| *answered <= at || *i == last)
            .map(|(_, (sent, _))| *sent)
    }

    /// An answer that said nothing of the window (no rate headers, or
    /// ones that do not add up): the share only grows back by steps,
    /// never whole at once.
    pub(super) fn answered_blind(&mut self, now: Duration, limit: usize) {
        self.adjust(now, limit, true);
    }

    /// What the answer at `now` to its request sent at `at`, counting
    /// `used`, shows of the others, the window's last turn before `at`
    /// being `turn` (`None`: one that slides, or a turn not yet known);
    /// `None` when it says nothing sure (too near a window's turn).
    fn read_others(
        &self,
        at: Duration,
        now: Duration,
        limit: usize,
        used: usize,
        turn: Option<(Duration, Duration)>,
        own_since: &dyn Fn(Duration) -> usize,
    ) -> Option<Others> {
        let seen = match turn {
            None => {
                // A sliding window. At least: beyond all its own that may
                // be in it (sent or answered within a window and margin of
                // now, or still in flight). About: beyond those of its own
                // surely in it (answered before this one was sent, and
                // sent within a window of now).
                let least = used.saturating_sub(own_since(now.saturating_sub(WINDOW + MARGIN)));
                let surely = self
                    .surely_before(at)
                    .filter(|sent| sent.saturating_add(WINDOW) > now)
                    .count();
                Others {
                    at: now,
                    most: used.saturating_sub(surely),
                    least,
                    whole: true,
                    late: true,
                }
            }
            Some((turn, unsure)) => {
                // Counted since `turn`, when it arrived (between `at` and
                // `now`): read only well clear of this turn and the next.
                let guard = unsure.saturating_add(NEAR_TURN);
                let since = at.saturating_sub(turn);
                if since < guard || now.saturating_add(guard) > turn.saturating_add(WINDOW) {
                    return None;
                }
                // At least: beyond all its own that may have been counted
                // since the turn (however early in its uncertainty), or
                // are still in flight.
                let least = used.saturating_sub(own_since(turn.saturating_sub(unsure)));
                // About: beyond its own surely counted and surely sent
                // after the turn (however late in its uncertainty it was),
                // scaled from the part of the second gone to the whole, to
                // the nearest (rounding up, the noise of a part read as a
                // whole hid the room of a share given back).
                let after = turn.saturating_add(unsure).saturating_add(AFTER_TURN);
                let surely = self.surely_before(at).filter(|sent| *sent >= after).count();
                let scaled =
                    used.saturating_sub(surely) as f64 / since.max(SCALED_FROM).as_secs_f64();
                Others {
                    at: now,
                    most: (scaled.round() as usize).min(limit),
                    least,
                    whole: since >= WHOLE_SECOND,
                    late: since >= ROOM_SHOWN_FROM,
                }
            }
        };
        Some(Others {
            most: seen.most.max(seen.least),
            ..seen
        })
    }

    /// Takes room, gives way or comes back whole, as the module says;
    /// `blind`: the answer said nothing of the window.
    fn adjust(&mut self, now: Duration, limit: usize, blind: bool) {
        let Some(cap) = self.cap.map(|c| c.min(limit)) else {
            if !blind {
                self.give_way(now, limit, limit);
            }
            return;
        };
        let since = |t: Option<Duration>, d: Duration| t.is_none_or(|t| now >= t.saturating_add(d));
        // A share of one reads once a second; two readings early in a
        // second that resets (its turn not known) can both show no others
        // while they hold nine.
        let readings =
            (WINDOW + MARGIN) * ALONE_READINGS / u32::try_from(cap.max(1)).unwrap_or(u32::MAX);
        let alone = !blind
            && since(self.others_at, ALONE_AFTER.max(readings))
            && self
                .clear_at
                .is_some_and(|c| self.shared_at.max(self.cut_at).is_none_or(|k| c > k));
        if alone {
            self.cap = None;
            self.room = None;
            return;
        }
        if !self.gives_way {
            if since(self.cut_at, AFTER_429) && since(self.raised_at, CALL_REGROWS) {
                self.cap = Some(cap + 1).filter(|c| *c < limit);
                self.raised_at = Some(now);
            }
            return;
        }
        // Judged on what answers showed lately, one of them late enough in
        // its second to show room: readable answers that showed nothing
        // sure (too near a turn, or too early after it) are no room;
        // answers that cannot be read leave only steps. A share of one
        // reads once a second, at a phase that moves 25 ms a second: held
        // to late readings, it could wait most of a minute.
        let room = cap + self.others_most(now) < limit
            && (blind || self.recent_others(now).any(|o| o.late || cap == 1))
            && since(self.full_at, WINDOW)
            && since(self.cut_at, AFTER_429)
            && since(self.raised_at, AFTER_RAISE);
        if !room {
            self.room = None;
        } else {
            let (from, wait) = match self.room {
                Some(seen) => seen,
                None => {
                    let resetting = if self.turn.last(now).is_some() {
                        ROOM_RESETTING
                    } else {
                        Duration::ZERO
                    };
                    let wait =
                        ROOM_PER_REQUEST * cap as u32 + resetting + ROOM_DRAWN.mul_f64(self.draw());
                    *self.room.insert((now, wait))
                }
            };
            if now >= from.saturating_add(wait) {
                self.cap = Some((cap + 1).min(limit));
                self.raised_at = Some(now);
                self.room = None;
            }
        }
        if !blind {
            self.give_way(now, limit, cap);
        }
    }

    /// In a full window with others in it: a share more than all of
    /// theirs together gives way at every answer; the others now and then
    /// give one request back, the more likely the larger the share.
    fn give_way(&mut self, now: Duration, limit: usize, cap: usize) {
        if !self.gives_way {
            return;
        }
        let most = self.others_most(now);
        let least = self.others_least(now);
        if cap <= 1 || least == 0 || cap + most < limit {
            return;
        }
        if cap > most {
            // Surely more than a fair share: a request at least, and at
            // once down to what they surely leave it (beyond the least
            // they held: the most may hold its own requests in flight),
            // until it is no more than the most they held (from the whole
            // limit beside one other of 5: 5, not 9, 8, 7 a second or two
            // apart, each step drawing 429s from the other). At every
            // answer, not at the chances below: 150 ms from the server, a
            // share held above the others' between chances kept one of two
            // instances under half its fair share (and stepping only on
            // answers that saw the others themselves, or only down to what
            // they leave, did too: there, they are seldom seen surely).
            // The cost: a lone instance's answer stamped late (80 ms of
            // jitter) can read one of its own as another's, and step it
            // down until it is alone again.
            let to = limit.saturating_sub(least).max(most);
            self.share_at(to.min(cap - 1), now);
            return;
        }
        if self.give_way_at.is_some_and(|t| now < t) {
            return;
        }
        self.give_way_at =
            Some(now.saturating_add(GIVE_WAY_EVERY + GIVE_WAY_DRAWN.mul_f64(self.draw())));
        // Only once an answer found the window spent: the others read
        // (scaled from part of a second that resets) may be one too many,
        // and two instances at 5 and 5 gave way from a window not full.
        let spent = self
            .full_at
            .is_some_and(|t| now < t.saturating_add(REMEMBERED));
        let chance = GIVE_WAY_CHANCE * (cap as f64 / limit as f64).powi(2);
        if spent && self.draw() < chance {
            self.share_at(cap - 1, now);
        }
    }

    /// Its request sent at `at` was answered 429 at `now`: the shares add
    /// up to more than the limit. At least one request off, and down to
    /// what the others left, at most once a window; while the shares are
    /// being found (an instance's, within [`FINDING`] of when it began to
    /// share, or at the whole limit), half of it.
    pub(super) fn refused(&mut self, now: Duration, limit: usize) {
        self.others_at = Some(now);
        if self.cut_at.is_some_and(|t| now < t.saturating_add(WINDOW)) {
            return;
        }
        let cap = self.cap.unwrap_or(limit).min(limit);
        let left = limit.saturating_sub(self.others_most(now));
        let finding = self.gives_way
            && (self.cap.is_none()
                || self
                    .shared_at
                    .is_some_and(|t| now < t.saturating_add(FINDING)));
        let to = if finding { cap.div_ceil(2) } else { cap };
        self.share_at(cap.saturating_sub(1).min(left).min(to), now);
        self.cut_at = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pacing::tests::ms;

    /// An instance's share at `cap`.
    fn at(cap: usize, seed: u64) -> Share {
        Share {
            cap: Some(cap),
            ..Share::new(seed)
        }
    }

    /// Its requests, each answered 5 ms later, from `from` to `to` (ms),
    /// spaced evenly at its share a second, with `others` of others' in
    /// the window beside its own: the times its share changed, and to what.
    fn answers(s: &mut Share, from: u64, to: u64, others: usize) -> Vec<(u64, Option<usize>)> {
        let mut changes = vec![];
        let mut sent: Vec<u64> = vec![];
        let mut t = from;
        while t < to {
            let before = s.cap();
            sent.push(t);
            let own = sent.iter().filter(|x| **x + 1_000 > t).count();
            let remaining = 10usize.saturating_sub(own + others);
            s.answered(ms(t), ms(t + 5), 10, remaining, &|_| own);
            if s.cap() != before {
                changes.push((t, s.cap()));
            }
            t += 1_000 / s.cap().unwrap_or(10) as u64;
        }
        changes
    }

    #[test]
    fn room_is_taken_one_request_at_a_time_a_second_per_request_of_the_share() {
        // Others hold 5: room for 2 more. The room must last 3 s (and a
        // drawn part of up to 300 ms) before 3 becomes 4, then 4 s before 5.
        let mut s = at(3, 7);
        let changes = answers(&mut s, 0, 16_000, 5);
        assert_eq!(changes.len(), 2, "{changes:?}");
        let ((first, to4), (second, to5)) = (changes[0], changes[1]);
        assert_eq!((to4, to5), (Some(4), Some(5)));
        assert!((3_000..=3_700).contains(&first), "{changes:?}");
        // Its own raise shows in its answers first (1.2 s), then the room
        // must last 4 s.
        assert!(
            second >= first + 5_200 && second <= first + 5_800,
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
        // A share of 7 beside `others`, for 8 s: its first change.
        let first_change = |others| {
            let changes = answers(&mut at(7, 5), 0, 8_000, others);
            (changes.first().copied(), format!("{changes:?}"))
        };
        // More than all the others together: given back at once, down to
        // the others' part.
        let (first, changes) = first_change(3);
        assert_eq!(first.map(|(_, c)| c), Some(Some(6)), "{changes}");
        assert!(first.is_some_and(|(t, _)| t <= 2_000), "{changes}");
        // And over the limit with them (7 beside 5): at once down to what
        // they leave it, not a step at a time.
        let (first, changes) = first_change(5);
        assert_eq!(first.map(|(_, c)| c), Some(Some(5)), "{changes}");
        // From what they surely hold: about 5 of others' (its own in
        // flight may be among them), at least 3: down to 7, not 5.
        let mut s = Share::new(5);
        s.others.push_back(Others {
            at: ms(1_000),
            most: 5,
            least: 3,
            whole: true,
            late: true,
        });
        s.give_way(ms(1_000), 10, 10);
        assert_eq!(s.cap(), Some(7));
        // The whole limit, in a full window with others surely in it:
        // more than them, given back at once.
        let mut s = Share::new(5);
        s.answered(ms(0), ms(5), 10, 0, &|_| 6);
        assert_eq!(s.cap(), Some(9));
        // A window not full: no one gives way (the share only grows).
        for seed in 0..50 {
            let mut s = at(3, seed);
            let changes = answers(&mut s, 0, 10_000, 4);
            assert!(
                changes.iter().all(|(_, c)| *c > Some(3)) && s.cap() <= Some(6),
                "{changes:?}"
            );
        }
        // A call's own pacer never does (its host's pacer shares): cut
        // by a 429 to 7, it grows back by one a second, whatever the
        // window holds.
        let mut s = Share {
            cap: Some(7),
            ..Share::default()
        };
        let changes = answers(&mut s, 0, 8_000, 3);
        let caps: Vec<usize> = changes.iter().map(|(_, c)| c.unwrap_or(10)).collect();
        assert!(
            caps.starts_with(&[8, 9, 10]) && caps.iter().all(|c| *c >= 8),
            "{changes:?}"
        );
        assert_eq!(s.cap(), None, "back to the whole limit, unspaced");
    }

    #[test]
    fn a_share_more_than_all_the_others_together_gives_way_at_every_answer() {
        // A share of 9 beside one of others', the window always full (the
        // others take what it gives back): while it holds more than all
        // of them, each answer takes it down, to what they surely leave
        // it; then it holds (5 and 5), giving way only at its chances.
        let mut stepped_twice_after = 0;
        for seed in (0..100).map(|k| 2 * k + 1) {
            let mut s = at(9, seed);
            let mut changes = vec![];
            for t in (0..20_000).step_by(100) {
                let cap = s.cap().unwrap_or(10);
                s.answered(ms(t), ms(t + 5), 10, 0, &|_| cap);
                if s.cap() != Some(cap) {
                    changes.push((t, s.cap()));
                }
            }
            let caps: Vec<Option<usize>> = changes.iter().map(|(_, c)| *c).collect();
            assert!(
                caps.starts_with(&[Some(8), Some(7), Some(6), Some(5)]),
                "{changes:?}"
            );
            // Down to 5 within a second and a half (it took 4 to 6 s at a
            // chance every 1 to 2 s, each step drawing 429s from the
            // others).
            assert!(changes[3].0 <= 1_500, "{changes:?}");
            // Then not at every answer: a step at a chance, the chances a
            // second or more apart.
            let later: Vec<u64> = changes.iter().skip(4).map(|(t, _)| *t).collect();
            assert!(
                later.windows(2).all(|w| w[1] >= w[0] + 1_000),
                "{changes:?}"
            );
            if later.len() >= 2 {
                stepped_twice_after += 1;
            }
        }
        // (Some draws do step again and again.)
        assert!(stepped_twice_after >= 5, "{stepped_twice_after}");
    }

    #[test]
    fn a_share_gives_way_only_in_a_window_found_spent() {
        // The others read as 5 beside its 5 (an estimate, maybe one too
        // many): whether it gives way depends on an answer having found
        // the window spent within the last window.
        let gave_way = |spent: bool| {
            // Odd seeds: a seed and the one after it draw alike.
            (0..200)
                .map(|k| 2 * k + 1)
                .filter(|seed| {
                    let mut s = at(5, *seed);
                    s.others.push_back(Others {
                        at: ms(1_000),
                        most: 5,
                        least: 4,
                        whole: true,
                        late: true,
                    });
                    if spent {
                        s.full_at = Some(ms(900));
                    }
                    s.give_way(ms(1_000), 10, 5);
                    s.cap() < Some(5)
                })
                .count()
        };
        assert_eq!(gave_way(false), 0);
        // One in eight for a share of 5 of 10.
        let spent = gave_way(true);
        assert!((10..=45).contains(&spent), "{spent} of 200");
    }

    #[test]
    fn a_small_share_takes_itself_for_alone_only_after_three_of_its_requests() {
        // A share reads once per request: a share of one, once a second.
        // Early in a second that resets (its turn not known), its reading
        // can show no others while they are there; two such readings in a
        // row once gave it the whole limit, beside others at 9.
        let mut s = at(1, 1);
        // A 429 at 1 s (others there, and no room for 2 s), then answers
        // that show none, once a second.
        s.refused(ms(1_000), 10);
        let changes = answers(&mut s, 1_000, 10_000, 0);
        let alone = changes
            .iter()
            .find(|(_, c)| c.is_none())
            .map(|(t, _)| *t)
            .unwrap_or_else(|| panic!("never alone: {changes:?}"));
        // Not at its reading at 3 s (2 s after the 429, 1.5 s once
        // enough), nor at 4 s (3 s after: three requests at one a second
        // take 3.075 s), but at 5 s.
        assert_eq!(alone, 5_000, "{changes:?}");
        // (Larger shares, which read more often, still come back within
        // 1.5 s: `when_the_others_stop_the_one_left_takes_the_whole_limit_back`.)
    }

    #[test]
    fn a_429_while_the_shares_are_being_found_halves_the_share() {
        // Four instances starting together overshoot by half the limit
        // before their answers show each other: a 429 in the first
        // seconds of sharing halves the share (at least one off, as after).
        let mut s = Share::new(3);
        s.share_at(8, ms(0));
        s.refused(ms(500), 10);
        assert_eq!(s.cap(), Some(4));
        // Later, the shares found (from 10 s on), a 429 takes one off.
        let mut s = Share::new(3);
        s.share_at(8, ms(0));
        s.refused(ms(10_000), 10);
        assert_eq!(s.cap(), Some(7));
        // Back at the whole limit (alone again) long after it first
        // shared: a 429 there halves it too (others have just come).
        let mut s = Share::new(3);
        s.share_at(8, ms(0));
        s.cap = None;
        s.refused(ms(30_000), 10);
        assert_eq!(s.cap(), Some(5));
        // A call's own pacer (its host's shares) is never halved.
        let mut s = Share::default();
        s.share_at(8, ms(0));
        s.refused(ms(500), 10);
        assert_eq!(s.cap(), Some(7));
    }

    /// A pacer at `cap` under a window that resets at each whole second
    /// (its turn known, to 5 ms), sending its requests at `phases` (ms
    /// into each second) from 1 s to `to` (ms), each answered 5 ms later,
    /// beside others' requests at `others` (ms into each second): the
    /// shares it had after each answer.
    fn in_a_resetting_window(
        cap: usize,
        phases: &[u64],
        others: &[u64],
        to: u64,
    ) -> Vec<Option<usize>> {
        let mut s = Share {
            turn: Turn::known(0, ms(1_000)),
            ..at(cap, 9)
        };
        let mut own: Vec<u64> = vec![];
        let mut shares = vec![];
        for second in (1_000..to).step_by(1_000) {
            for phase in phases {
                let t = second + phase;
                own.push(t + 5);
                let since = |from: u64| own.iter().filter(|a| **a >= from).count();
                let theirs = others.iter().filter(|o| **o <= *phase).count();
                let used = since(second) + theirs;
                s.answered(
                    ms(t),
                    ms(t + 5),
                    10,
                    10usize.saturating_sub(used),
                    &|from| since(from.as_millis() as u64),
                );
                shares.push(s.cap());
            }
        }
        shares
    }

    #[test]
    fn in_a_resetting_window_the_others_since_the_turn_keep_a_large_share_from_being_alone() {
        // A share of 7 beside one other request a second, late in it:
        // counted against its own of the whole last second, the other
        // never showed; counted against its own since the turn, it does.
        let phases: Vec<u64> = (0..7).map(|i| 50 + i * 140).collect();
        let shares = in_a_resetting_window(7, &phases, &[600], 8_000);
        assert!(shares.iter().all(|s| s.is_some()), "{shares:?}");
        // With no one else, it is alone again.
        let shares = in_a_resetting_window(7, &phases, &[], 8_000);
        assert_eq!(shares.last(), Some(&None), "{shares:?}");
    }

    #[test]
    fn in_a_resetting_window_room_is_shown_only_late_in_the_second() {
        // Others hold 2 (one early in the second, one late): room for 5
        // more. Read only before .600 in the second, the late one never
        // shows, and no room is taken from it, but for a share of one.
        let early = in_a_resetting_window(3, &[150, 300, 550], &[100, 800], 9_000);
        assert!(early.iter().all(|s| *s == Some(3)), "{early:?}");
        let one = in_a_resetting_window(1, &[200], &[100, 800], 9_000);
        assert!(one.last().unwrap() > &Some(1), "{one:?}");
        // Read late in the second too: the room is taken.
        let late = in_a_resetting_window(3, &[150, 450, 700], &[100, 800], 9_000);
        assert!(late.last().unwrap() > &Some(3), "{late:?}");
    }

    #[test]
    fn in_a_resetting_window_room_must_last_two_seconds_longer() {
        // Others hold 2: room for 5 more, first shown at 1.700 (the first
        // count late in a second). A share of 3 takes one more once the
        // room has lasted 3 s, 2 s more than under a window that slides,
        // and up to 300 ms drawn: at its first answer from 6.700 on.
        let phases = [150, 450, 700];
        let shares = in_a_resetting_window(3, &phases, &[100, 800], 9_000);
        let raised = shares.iter().position(|s| *s > Some(3)).expect("a raise");
        let at = 1_000 * (1 + raised as u64 / 3) + phases[raised % 3];
        assert!((6_700..=7_450).contains(&at), "raised at {at}: {shares:?}");
    }

    #[test]
    fn in_a_resetting_window_a_part_of_the_second_is_scaled_to_the_nearest_whole() {
        // A share of 4 that gave one back, beside another of 5 spread over
        // the second: read at .750, the other's 4 so far are 5.3 a second,
        // 5 to the nearest: room for the one given back. Rounded up, 6: no
        // room, and the two stay at 9 of 10.
        let shares =
            in_a_resetting_window(4, &[100, 300, 500, 750], &[0, 200, 400, 600, 800], 9_000);
        // (Once at 5, it may give one back again now and then.)
        assert!(shares.contains(&Some(5)), "{shares:?}");
        assert!(shares.iter().all(|s| *s <= Some(5)), "{shares:?}");
    }

    #[test]
    fn an_answer_that_shows_a_reset_before_the_turn_is_known_says_nothing_of_the_others() {
        let mut s = at(3, 5);
        let own = |n| move |_: Duration| n;
        s.answered(ms(0), ms(5), 10, 9, &own(1));
        s.answered(ms(300), ms(305), 10, 8, &own(2));
        assert_eq!(s.others.len(), 2);
        // Three of its own surely counted, the answer counts one: the
        // window reset since. Read as a window that slides, it would show
        // no others at all.
        s.answered(ms(600), ms(605), 10, 9, &own(3));
        assert!(s.turn.last(ms(605)).is_none());
        assert_eq!(s.others.len(), 2, "{:?}", s.others);
    }

    #[test]
    fn a_calls_own_pacer_waits_after_a_429_before_growing_back() {
        let mut s = Share::default();
        s.refused(ms(10), 10);
        assert_eq!(s.cap(), Some(9));
        let changes = answers(&mut s, 100, 5_000, 3);
        assert!(
            changes.first().is_some_and(|(t, _)| *t >= 2_000),
            "{changes:?}"
        );
    }

    #[test]
    fn a_429_takes_one_off_and_down_to_what_the_others_left_once_a_window() {
        // (One that does not give way: only the 429s move it.)
        let mut s = Share {
            gives_way: false,
            ..Share::new(3)
        };
        // An answer showed 4 of others'.
        s.answered(ms(0), ms(5), 10, 5, &|_| 1);
        s.refused(ms(105), 10);
        assert_eq!(s.cap(), Some(6), "10 less the others' 4");
        s.refused(ms(205), 10);
        assert_eq!(s.cap(), Some(6), "once a window");
        // The others' 4 forgotten a window later: one off.
        s.refused(ms(1_205), 10);
        assert_eq!(s.cap(), Some(5));
        for t in 0..20 {
            s.refused(ms(2_305 + t * 1_100), 10);
        }
        assert_eq!(s.cap(), Some(1), "never below one");
    }
}
