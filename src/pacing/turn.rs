//! Where a server that counts its limit in whole seconds turns its second,
//! found from answers alone.
//!
//! Gladly does not say whether its window slides or resets on the second.
//! A sliding window never forgets a request younger than a window; one that
//! resets does, at its turn. So when an answer counts fewer requests than
//! this pacer's own that surely arrived within the last window, the window
//! reset since: the turn lies after the latest of its own requests the count
//! left out was sent, and before the answer. Each such answer gives an
//! interval of the second's phase that holds the turn; their intersection
//! (the server's seconds are a second apart) narrows within a few seconds,
//! to tens of milliseconds when the count holds mostly its own. A sliding
//! window gives no such answer, so it is never taken for one that resets.
//!
//! With others' requests in the count, that evidence bounds the turn from
//! below only loosely (the count leaves out fewer of its own than it
//! forgot), and the middle of what it leaves lies early. So once the
//! window is known to reset, answers narrow it too ([`Turn::followed`]):
//! a server that counts in whole seconds, and counted both requests,
//! counts more at the later one within a second, so a count that fell
//! since an answer that came back before this request left shows the turn
//! between the two. In the simulation
//! (`under_a_window_that_resets_the_turn_is_found_to_within_tens_of_milliseconds`)
//! four instances then put the turn 5 ms from the truth at the median (the
//! right 10 ms bin) and 40 ms at 9 answers in 10 (over 16 timings; 30 ms
//! before room under such a window had to last 2 s longer, `share.rs`),
//! where the sure evidence alone put it 50 ms and 110 ms off; a count read
//! since the turn is then scaled from the part of the second that really
//! went by.

use std::collections::VecDeque;
use std::time::Duration;

use super::WINDOW;

/// The phase of a second in bins of this many milliseconds.
const BIN_MS: u64 = 10;
const BINS: u32 = 100;
/// Own requests sent at most this long before an answer surely arrived
/// within the window the answer counts (networks take a few milliseconds).
pub(super) const SURELY_WITHIN: Duration = Duration::from_millis(970);
/// How long the last evidence of a turn is believed.
const BELIEVED: Duration = Duration::from_secs(60);
/// The widest a turn's phase may be known to and still be used.
const NARROW_ENOUGH: u32 = 30;
/// How many answers, of different seconds (this far apart), must have
/// shown a reset before the turn is used.
const SHOWN_ENOUGH: u32 = 2;
const ANOTHER_SECOND: Duration = Duration::from_millis(500);

/// What answers showed of a resetting window's turn.
#[derive(Clone, Debug, Default)]
pub(super) struct Turn {
    /// The bins of the second's phase that may hold the turn (none set:
    /// nothing known): what [`Turn::answered`]'s sure evidence leaves
    /// (`sure`), narrowed by [`Turn::followed`]'s (`phases`).
    sure: u128,
    phases: u128,
    /// When an answer last showed a reset, and how many have since the
    /// phases were last started afresh.
    seen_at: Option<Duration>,
    shown: u32,
    /// The last answers read, oldest first: when each request was sent,
    /// when it was answered, and what it counted.
    answers: VecDeque<(Duration, Duration, usize)>,
}

/// How many answers [`Turn::followed`] compares a count with (more than the
/// calls a host runs at once, so that one came back before the next left).
const ANSWERS_KEPT: usize = 8;

/// The bin of `t`'s phase within its second.
fn bin(t: Duration) -> u32 {
    ((t.as_millis() % 1_000) as u64 / BIN_MS) as u32
}

/// The bins of the phases from `from` to `to` (all of them for a window
/// or more).
fn phases(from: Duration, to: Duration) -> u128 {
    let all = (1u128 << BINS) - 1;
    // Within a bin of a whole window: every phase (the bins would wrap).
    if to.saturating_sub(from) + Duration::from_millis(BIN_MS) >= WINDOW {
        return all;
    }
    let (mut i, last) = (bin(from), bin(to));
    let mut set = 1u128 << i;
    while i != last {
        i = (i + 1) % BINS;
        set |= 1 << i;
    }
    set
}

impl Turn {
    /// An answer at `now` counted `counted` requests in the window, while
    /// `own` (send times, oldest first) of this pacer's requests, counted
    /// by the server and sent within [`SURELY_WITHIN`] of it, should all be
    /// in a window that slides.
    pub(super) fn answered(&mut self, now: Duration, counted: usize, own: &[Duration]) {
        let Some(left_out) = own.len().checked_sub(counted).filter(|n| *n > 0) else {
            return;
        };
        let held = phases(own[left_out - 1], now);
        // Evidence that contradicts what was known (a server that changed,
        // or a clock that jumped), or comes long after it, starts afresh.
        let stale = self
            .seen_at
            .is_none_or(|t| now >= t.saturating_add(BELIEVED));
        if stale || self.sure & held == 0 {
            self.sure = held;
            self.phases = held;
            self.shown = 1;
            self.seen_at = Some(now);
            return;
        }
        // Evidence that would leave the turn in two places, where it was
        // in one, is left out: all it says is that the turn is not in a
        // gap within what was known (a request a second after another
        // can say that), and the turn would not be known again until
        // other evidence took one of the places away.
        let sure = self.sure & held;
        if only_run(sure).is_none() && only_run(self.sure).is_some() {
            return;
        }
        self.sure = sure;
        // A narrowing this contradicts was wrong: back to the sure.
        self.phases = match self.phases & held {
            0 => self.sure,
            both => both,
        };
        // Answers of one reset (a server's counter cleared once) show it
        // together: only evidence of another second counts again.
        if self
            .seen_at
            .is_some_and(|t| now >= t.saturating_add(ANOTHER_SECOND))
        {
            self.shown = self.shown.saturating_add(1);
            self.seen_at = Some(now);
        }
    }

    /// The answer at `now` to its request sent at `at` counted `counted`.
    /// Once the window is known to reset, a count that fell since an
    /// answer that came back before this request left (the latest such)
    /// narrows the turn to between that request's leaving and this
    /// answer: a server that counts in whole seconds counts both (this
    /// one surely after the other), so its count grows within a second.
    /// A count that only stayed is not taken (a server that stops counting
    /// at its limit, or counts late, shows that too). A narrowing that
    /// contradicts an earlier one replaces it (within the sure evidence);
    /// one that would leave the turn in two places is left out.
    pub(super) fn followed(&mut self, at: Duration, now: Duration, counted: usize) {
        let now = now.max(at);
        let earlier = self
            .answers
            .iter()
            .filter(|(_, back, _)| *back <= at)
            .max_by_key(|(before, ..)| *before)
            .copied();
        if self.answers.len() >= ANSWERS_KEPT {
            self.answers.pop_front();
        }
        self.answers.push_back((at, now, counted));
        let Some((before, _, counted_before)) = earlier else {
            return;
        };
        if counted >= counted_before || self.last(now).is_none() {
            return;
        }
        let held = phases(before, now);
        for known in [self.phases, self.sure] {
            if only_run(known & held).is_some() {
                self.phases = known & held;
                return;
            }
        }
    }

    /// The last turn at or before `now`, and how unsure it is (half the
    /// width of the phases that may hold it); `None` when no reset was seen
    /// lately, too few were, or the turn is not yet known closely enough.
    pub(super) fn last(&self, now: Duration) -> Option<(Duration, Duration)> {
        if self.shown < SHOWN_ENOUGH
            || self
                .seen_at
                .is_none_or(|t| now >= t.saturating_add(BELIEVED))
        {
            return None;
        }
        let (start, width) = only_run(self.phases)?;
        if width > NARROW_ENOUGH {
            return None;
        }
        let phase =
            Duration::from_millis((start as u64 * BIN_MS + width as u64 * BIN_MS / 2) % 1_000);
        let into = Duration::from_nanos((now.as_nanos() % WINDOW.as_nanos()) as u64);
        let since = if into >= phase {
            into - phase
        } else {
            into + WINDOW - phase
        };
        Some((
            now.saturating_sub(since),
            Duration::from_millis(width as u64 * BIN_MS / 2),
        ))
    }
}

#[cfg(test)]
impl Turn {
    /// A turn known to the bin at `phase_ms` into each second (to within
    /// half a bin), last shown at `seen_at` (tests of what is read from it).
    pub(super) fn known(phase_ms: u64, seen_at: Duration) -> Self {
        Self {
            sure: 1u128 << (phase_ms / BIN_MS),
            phases: 1u128 << (phase_ms / BIN_MS),
            seen_at: Some(seen_at),
            shown: SHOWN_ENOUGH,
            answers: VecDeque::new(),
        }
    }
}

/// The first bin and length of the one circular run of set bins; `None`
/// when none or all are set, or they fall in more than one run (the turn
/// is in one of them, which is not known).
fn only_run(set: u128) -> Option<(u32, u32)> {
    let clear = (0..BINS).find(|i| set & (1 << i) == 0)?;
    let (mut found, mut run_start, mut run) = (None, 0, 0);
    for k in 1..=BINS {
        let i = (clear + k) % BINS;
        if set & (1 << i) != 0 {
            if run == 0 {
                run_start = i;
            }
            run += 1;
            continue;
        }
        if run > 0 {
            if found.is_some() {
                return None;
            }
            found = Some((run_start, run));
        }
        run = 0;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pacing::tests::ms;

    #[test]
    fn answers_of_a_window_that_resets_on_the_second_find_its_turn() {
        // A server whose second turns at .400: requests every 150 ms, each
        // answered 5 ms later with the count since the turn.
        let mut turn = Turn::default();
        let mut sent: Vec<Duration> = Vec::new();
        for i in 0..40u64 {
            let at = ms(1_000 + i * 150);
            let now = at + ms(5);
            sent.push(at);
            let since_turn = |t: Duration| (t.as_millis() as u64 + 600) / 1_000;
            let counted = sent
                .iter()
                .filter(|t| since_turn(**t + ms(2)) == since_turn(at + ms(2)))
                .count();
            let own: Vec<Duration> = sent
                .iter()
                .copied()
                .filter(|t| *t + SURELY_WITHIN >= now)
                .collect();
            turn.answered(now, counted, &own);
        }
        let now = ms(7_000);
        let (last, unsure) = turn.last(now).expect("the turn is known");
        assert!(
            last.abs_diff(ms(6_400)) <= unsure + ms(10),
            "{last:?} ± {unsure:?}"
        );
        assert!(unsure <= ms(80), "{unsure:?}");
    }

    /// A turn known, from two seconds' sure evidence, only to .750 to
    /// .010: about .885.
    fn known_roughly() -> Turn {
        let mut turn = Turn::default();
        turn.answered(ms(2_010), 1, &[ms(1_750), ms(2_000)]);
        turn.answered(ms(3_010), 1, &[ms(2_750), ms(3_000)]);
        assert_eq!(turn.last(ms(3_100)), Some((ms(2_885), ms(135))));
        turn
    }

    /// Known roughly, then narrowed by a count that fell from 6 (sent at
    /// .880, back at .925) to 2 (sent at .000, back at .015): after .880
    /// and before .015, about .950.
    fn known_and_narrowed() -> Turn {
        let mut turn = known_roughly();
        turn.followed(ms(3_880), ms(3_925), 6);
        turn.followed(ms(4_000), ms(4_015), 2);
        assert_eq!(turn.last(ms(4_100)), Some((ms(3_950), ms(70))));
        turn
    }

    #[test]
    fn a_count_that_fell_narrows_a_known_turn() {
        let mut turn = known_roughly();
        // Others' requests in the count too: 6 at .880 (back at .925), 2
        // at .000 (back at .015): it fell, so the turn is after .880 and
        // before .015. (The answer to one sent at .990, back only at
        // .030, is not the one to set it against: it may have arrived
        // after the one sent at .000.)
        turn.followed(ms(3_880), ms(3_925), 6);
        turn.followed(ms(3_990), ms(4_030), 9);
        turn.followed(ms(4_000), ms(4_015), 2);
        assert_eq!(turn.last(ms(4_100)), Some((ms(3_950), ms(70))));
        // Counts that grew, or only stayed, show nothing.
        turn.followed(ms(4_100), ms(4_105), 3);
        turn.followed(ms(4_960), ms(4_965), 7);
        turn.followed(ms(4_990), ms(4_995), 7);
        assert_eq!(turn.last(ms(5_100)), Some((ms(4_950), ms(70))));
        // A count that fell is set against the latest answer back before
        // its request left: not one still in flight then (9, back at
        // .990, after .960 left), but 7 (.990 of the second before): more
        // than a second ago, so nothing is shown.
        turn.followed(ms(5_950), ms(5_990), 9);
        turn.followed(ms(5_960), ms(6_010), 1);
        assert_eq!(turn.last(ms(6_100)), Some((ms(5_950), ms(70))));
    }

    #[test]
    fn a_narrowing_that_contradicts_is_replaced_within_the_sure_evidence() {
        let mut turn = known_roughly();
        // A fall between .800 and .760 of the next second would leave the
        // turn in two places (.750 to .760, and .800 on): left out.
        turn.followed(ms(3_800), ms(3_805), 8);
        turn.followed(ms(4_700), ms(4_760), 3);
        assert_eq!(turn.last(ms(4_800)), Some((ms(3_885), ms(135))));
        turn.followed(ms(4_880), ms(4_925), 6);
        turn.followed(ms(5_000), ms(5_015), 2);
        assert_eq!(turn.last(ms(5_100)), Some((ms(4_950), ms(70))));
        // A fall between .800 and .875 contradicts the narrowing (just
        // before it), not the sure evidence: it replaces the narrowing.
        turn.followed(ms(6_800), ms(6_805), 8);
        turn.followed(ms(6_870), ms(6_875), 1);
        assert_eq!(turn.last(ms(6_900)), Some((ms(6_840), ms(40))));
        // Sure evidence that contradicts a narrowing, but not what was
        // sure before, takes the turn back to the sure.
        let mut turn = known_and_narrowed();
        turn.answered(ms(4_855), 1, &[ms(4_750), ms(4_800)]);
        assert_eq!(turn.last(ms(4_900)), Some((ms(4_805), ms(55))));
        // Sure evidence that would leave the turn in two places (a reset
        // after .940 and before .915 of the next second: not at .920 to
        // .930) is left out, and the turn stays known.
        let mut turn = known_and_narrowed();
        turn.answered(ms(5_915), 1, &[ms(4_940), ms(5_900)]);
        assert_eq!(turn.last(ms(6_000)), Some((ms(5_950), ms(70))));
    }

    #[test]
    fn before_the_window_is_known_to_reset_a_count_that_fell_says_nothing() {
        // Shown once only: not known yet.
        let mut turn = Turn::default();
        turn.answered(ms(2_010), 1, &[ms(1_750), ms(2_000)]);
        let once = turn.phases;
        turn.followed(ms(2_880), ms(2_925), 6);
        turn.followed(ms(3_000), ms(3_015), 2);
        assert_eq!(turn.phases, once);
        // A sliding window's count falls as requests leave it.
        let mut turn = Turn::default();
        turn.followed(ms(1_000), ms(1_005), 8);
        turn.followed(ms(1_100), ms(1_105), 5);
        assert_eq!(turn.phases, 0);
        assert_eq!(turn.last(ms(1_200)), None);
    }

    #[test]
    fn a_sliding_window_is_never_taken_for_one_that_resets() {
        // Its own requests alone, every 90 to 130 ms, each arriving 1 to
        // 4 ms after it left and answered 3 to 13 ms after that, counted
        // exactly over the last second at the server.
        let mut draw = crate::pacing::tests::xorshift(7);
        let mut turn = Turn::default();
        let mut done: Vec<(Duration, Duration, Duration)> = Vec::new();
        let mut at = ms(1_000);
        for _ in 0..600 {
            let arrived = at + ms(1 + draw(4));
            let now = arrived + ms(3 + draw(11));
            done.push((at, arrived, now));
            let counted = done
                .iter()
                .filter(|(_, a, _)| *a <= arrived && *a + WINDOW > arrived)
                .count();
            let own: Vec<Duration> = done
                .iter()
                .filter(|(s, _, n)| (*n <= at || *s == at) && *s + SURELY_WITHIN >= now)
                .map(|(s, _, _)| *s)
                .collect();
            turn.answered(now, counted, &own);
            assert_eq!(turn.last(now), None, "{now:?}");
            at += ms(90 + draw(41));
        }
        assert_eq!(turn.shown, 0);
    }

    #[test]
    fn a_turn_seen_long_ago_known_only_roughly_or_once_is_not_used() {
        let mut turn = Turn::default();
        // One reset, somewhere in the 500 ms before 2.000: too rough, and
        // only once.
        turn.answered(ms(2_000), 0, &[ms(1_200), ms(1_500)]);
        assert_eq!(turn.last(ms(2_100)), None);
        // Narrowed to .900 to .000 by a second answer.
        turn.answered(ms(3_000), 1, &[ms(2_900), ms(2_950)]);
        let (last, unsure) = turn.last(ms(3_100)).expect("known");
        assert!(last.abs_diff(ms(2_955)) <= ms(10), "{last:?}");
        assert_eq!(unsure, ms(55));
        assert_eq!(turn.last(ms(3_100) + BELIEVED), None);
        // Evidence long after: started afresh, not intersected.
        turn.answered(ms(70_000), 1, &[ms(69_300), ms(69_400)]);
        assert_eq!(turn.shown, 1);
        assert_eq!(turn.last(ms(70_100)), None);
    }

    #[test]
    fn evidence_that_contradicts_the_turn_starts_afresh_and_bounds_are_kept() {
        // Known at .900 to .000 (two seconds agree): at .955.
        let mut turn = Turn::default();
        turn.answered(ms(2_000), 1, &[ms(1_900), ms(1_950)]);
        turn.answered(ms(3_000), 1, &[ms(2_900), ms(2_950)]);
        let (last, _) = turn.last(ms(3_700)).expect("known");
        // Read late in the second (past the turn's phase) as early in it.
        assert_eq!(last, ms(2_955));
        let (last, _) = turn.last(ms(3_990)).expect("known");
        assert_eq!(last, ms(3_955));
        // A reset at .400 to .500 (the server changed): nothing in common,
        // so it starts afresh, once shown, and is not used yet.
        turn.answered(ms(5_500), 1, &[ms(5_400), ms(5_450)]);
        assert_eq!(turn.shown, 1);
        assert_eq!(turn.last(ms(5_600)), None);
        turn.answered(ms(6_500), 1, &[ms(6_400), ms(6_450)]);
        let (last, _) = turn.last(ms(6_600)).expect("known again");
        assert_eq!(last, ms(6_455));
        // Phases of exactly 0.3 s are narrow enough; a bin more is not.
        let mut turn = Turn::default();
        turn.answered(ms(2_000), 1, &[ms(1_715), ms(1_750)]);
        turn.answered(ms(3_000), 1, &[ms(2_715), ms(2_750)]);
        assert_eq!(only_run(turn.phases).map(|(_, w)| w), Some(30));
        assert!(turn.last(ms(3_100)).is_some());
        let mut turn = Turn::default();
        turn.answered(ms(2_000), 1, &[ms(1_705), ms(1_750)]);
        turn.answered(ms(3_000), 1, &[ms(2_705), ms(2_750)]);
        assert_eq!(only_run(turn.phases).map(|(_, w)| w), Some(31));
        assert_eq!(turn.last(ms(3_100)), None);
    }

    #[test]
    fn evidence_that_would_split_the_turn_in_two_is_left_out() {
        // Both hold .000 and wrap around it; together they would leave
        // .95-.05 and .50-.60, and the turn could be in either: the
        // second is left out, and the turn is not known yet.
        let mut turn = Turn::default();
        turn.answered(ms(10_050), 0, &[ms(9_500)]);
        let first = turn.phases;
        turn.answered(ms(11_600), 0, &[ms(10_950)]);
        assert_eq!((turn.shown, turn.phases, turn.sure), (1, first, first));
        assert_eq!(turn.last(ms(11_700)), None);
        // Phases already in two runs (never so from evidence) say
        // nothing.
        assert_eq!(
            only_run(phases(ms(950), ms(1_050)) | phases(ms(500), ms(600))),
            None
        );
    }

    #[test]
    fn the_only_run_wraps_around_the_second() {
        let set = phases(ms(1_950), ms(2_030));
        assert_eq!(only_run(set), Some((95, 9)));
        assert_eq!(only_run(0), None);
        assert_eq!(only_run((1u128 << BINS) - 1), None);
        // Within a bin of a window: all of it.
        assert_eq!(phases(ms(1_005), ms(2_000)), (1u128 << BINS) - 1);
    }
}
