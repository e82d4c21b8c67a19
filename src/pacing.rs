//! Pacing to Gladly's published rate limit: one implementation, used by the
//! component for the requests of one call ([`crate::client::Client`]) and by
//! the host for every call to an organisation (`gladly-harness`'s
//! `outgoing.rs`).
//!
//! Gladly counts a limit (10 by default) per second, per organisation and
//! HTTP method, and says on every answer how many requests the second has
//! left (`Ratelimit-Limit-Second`, `Ratelimit-Remaining-Second`).
//!
//! A pacer never lets more of its own requests of one method fall in any
//! window (plus a margin) than its share: the organisation's limit, as the
//! last answer declared it (Gladly's published 10 before any did), or a
//! fixed share an operator set ([`Pacer::with_share`]). Callers that send
//! at once through one pacer (the host's, shared by every call) are so
//! queued, not burst into a 429: [`Pacer::next_send`] is asked and
//! [`Pacer::sent`] told under one lock, the slot reserved. A request is
//! counted in the window from when it is answered ([`Pacer::counted`]):
//! the server counted it by then, however late it left or arrived.
//!
//! When an answer says none are left, the next request of that method waits
//! until a slot frees, instead of drawing a 429:
//! - when the last `limit` requests of that method were all this pacer's,
//!   the first slot frees a window after the oldest of them, whether the
//!   server counts in a sliding window or resets on the second;
//! - otherwise others hold slots too: it waits until its own oldest request
//!   in the window leaves it (a whole window if it has none there).
//!
//! Several instances of one organisation share its limit with no
//! coordinator, each from what its answers say (the README's "Pacing"):
//! an instance's pacer ([`Pacer::instance`]) spreads its requests until its
//! first answer and starts at its part of what that answer shows used; a
//! 429, or a spent window not all its own, cuts its share to what it got in
//! (at least by `CUT`, at most to `CUT_FLOOR`); a nearly full window
//! with others in it eases it by `EASE`; otherwise it rises by one
//! request every `RAISE_EVERY` and a drawn part of another, and comes
//! back whole once no others were seen for RAISE_EVERY (and an answer
//! since the last cut showed a window of its own alone). Sharing, it spreads
//! its requests over the window.
//!
//! An engine that runs each call in a fresh instance (Obelisk) keeps no
//! pacer between calls; it runs a fixed number of calls at once (its
//! `exec.instance_limiter`), each call a *slot* ([`Slots`], from the
//! component's environment). A slot's pacer gets `1/calls` of the share
//! (the declared limit, or the operator's), spaces every request of a
//! method at least a window over that many apart, and a call hands its slot
//! over only once its pacer would let the next request go
//! ([`Pacer::hand_over`]): the next call in the slot then starts where this
//! one left off, without any state between them. So a node never has more
//! than its share in a window, whatever the calls do, as long as the share
//! (or the declared limit) is at least the calls in flight: a slot sends at
//! least one request a window.
//!
//! Times are [`Duration`]s since any fixed start the caller chooses (the
//! transport's monotonic clock in the component, an `Instant` in the host),
//! so that the rule is plain arithmetic, tested without a clock.

use std::collections::VecDeque;
use std::time::Duration;

use crate::error::Error;
use crate::transport::Method;

/// The window Gladly's published rate limit is counted in.
pub const WINDOW: Duration = Duration::from_secs(1);
/// Beyond the window, for the time between sending and the server's clock.
pub const MARGIN: Duration = Duration::from_millis(25);
/// The limit assumed when an answer says the second is spent without saying
/// what the limit is (Gladly's published one).
pub const DEFAULT_LIMIT: usize = 10;
/// Send times remembered (more than any per-second limit).
const MEMORY: usize = 128;
/// What a share is multiplied by when others are seen at the limit, at
/// least: a cut takes it down to what it got into the window, but never
/// below [`CUT_FLOOR`] of it (four sharers starting at once, each at the
/// whole limit, find their share in one cut).
const CUT: f64 = 0.8;
const CUT_FLOOR: f64 = 0.25;
/// A share grows by one request at most this often, when an answer leaves
/// at least [`RAISE_ROOM`] requests in the window.
const RAISE_EVERY: Duration = Duration::from_millis(1_500);
const RAISE_ROOM: usize = 2;
/// What a share is multiplied by when an answer finds the window nearly
/// full (less than [`RAISE_ROOM`] left) with others in it, at most once in
/// [`RAISE_EVERY`]: the larger sharers give up more, so that shares that
/// started unequal converge before any 429.
const EASE: f64 = 0.9;

/// The settings a call reads from its environment when it runs in a fresh
/// instance per call, as on Obelisk (see the module's notes).
pub const CALLS_IN_FLIGHT_VAR: &str = "GLADLY_CALLS_IN_FLIGHT";
pub const RATE_SHARE_VAR: &str = "GLADLY_RATE_SHARE";

/// A node that runs `calls` calls at once, each in a fresh instance, which
/// together send at most `share` requests a second per method (`None`: the
/// organisation's declared limit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slots {
    pub calls: usize,
    pub share: Option<usize>,
}

impl Slots {
    /// Reads [`CALLS_IN_FLIGHT_VAR`] and [`RATE_SHARE_VAR`] through
    /// `setting`; `None` when neither is set (an empty share is the
    /// organisation's limit). A value that is not a whole number from 1 to
    /// 128, a share without the number of calls, or a share below it (each
    /// call sends at least one request a second) is an error naming the
    /// setting.
    pub fn read(mut setting: impl FnMut(&str) -> Option<String>) -> Result<Option<Self>, Error> {
        let mut number = |name: &str| -> Result<Option<usize>, Error> {
            let Some(raw) = setting(name) else {
                return Ok(None);
            };
            let value = raw.trim();
            if value.is_empty() {
                return Ok(None);
            }
            match value.parse::<usize>() {
                Ok(n) if (1..=MEMORY).contains(&n) => Ok(Some(n)),
                // The value is shown only when it looks like a number: a
                // secret pasted into the wrong variable is not repeated.
                _ => Err(Error::invalid(
                    format!("env.{name}"),
                    if value.len() <= 20
                        && value
                            .chars()
                            .all(|c| c.is_ascii_digit() || c == '-' || c == '+')
                    {
                        format!("must be a whole number from 1 to {MEMORY} (or empty), not {value}")
                    } else {
                        format!(
                            "must be a whole number from 1 to {MEMORY} (or empty), not the {} characters it holds",
                            value.chars().count()
                        )
                    },
                )),
            }
        };
        let calls = number(CALLS_IN_FLIGHT_VAR)?;
        let share = number(RATE_SHARE_VAR)?;
        match (calls, share) {
            (Some(calls), Some(share)) if share < calls => Err(Error::invalid(
                format!("env.{RATE_SHARE_VAR}"),
                format!(
                    "must be at least {CALLS_IN_FLIGHT_VAR} ({calls}): each call in flight sends at least one request a second, so {calls} calls would send more than {share}; lower Obelisk's exec.instance_limiter and {CALLS_IN_FLIGHT_VAR} together"
                ),
            )),
            (Some(calls), share) => Ok(Some(Self { calls, share })),
            (None, None) => Ok(None),
            (None, Some(_)) => Err(Error::invalid(
                format!("env.{CALLS_IN_FLIGHT_VAR}"),
                format!(
                    "must be set with {RATE_SHARE_VAR}: the number of calls the engine runs at once (Obelisk's exec.instance_limiter), which split the share"
                ),
            )),
        }
    }
}

/// What one answer said of the rate limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateHeaders {
    /// `Ratelimit-Limit-Second`.
    pub limit: Option<usize>,
    /// `Ratelimit-Remaining-Second`.
    pub remaining: Option<usize>,
}

impl RateHeaders {
    /// Reads the two headers through `header`, which answers a header's
    /// value by its lower-case name; values that are not whole numbers are
    /// taken as absent.
    pub fn read<'a>(header: impl Fn(&str) -> Option<&'a str>) -> Self {
        let number = |name: &str| header(name).and_then(|v| v.trim().parse::<usize>().ok());
        Self {
            limit: number("ratelimit-limit-second"),
            remaining: number("ratelimit-remaining-second"),
        }
    }
}

/// The pacing state of one method towards one organisation.
#[derive(Clone, Debug, Default)]
pub struct Pacer {
    /// When the recent requests were sent (or are to be), oldest first.
    sent: VecDeque<Duration>,
    /// Until when the second is spent, as the last answer said.
    until: Option<Duration>,
    /// The limit the last answer declared.
    limit: Option<usize>,
    /// A fixed share of the limit, set by the operator.
    share: Option<usize>,
    /// Otherwise, the share this pacer allows itself after others were
    /// seen at the limit (requests per window); `None`: the whole limit.
    rate: Option<f64>,
    /// When the share was last cut, and last raised.
    cut_at: Option<Duration>,
    raised_at: Option<Duration>,
    /// One of this many slots that split the share (see [`Slots`]).
    calls: Option<usize>,
    /// Whether any answer has come yet (before one, nothing is known of
    /// the window and requests are spread).
    seen: bool,
    /// The pacer of a whole instance (the host's, shared by its calls),
    /// which estimates its share from its first answer; a call's own pacer
    /// does not (the window's other requests are most often its host's
    /// other calls, which the host paces).
    instance: bool,
    /// When an answer last left less than [`RAISE_ROOM`] in the window
    /// while others held part of it, and when others were last seen there.
    tight_at: Option<Duration>,
    others_at: Option<Duration>,
    /// When an answer last showed the window with none but its own in it.
    clear_at: Option<Duration>,
    /// When the share was last eased for a nearly full window.
    eased_at: Option<Duration>,
    /// Beyond [`RAISE_EVERY`], how long the next raise waits after the last
    /// change: drawn afresh at each change, up to another RAISE_EVERY, so
    /// that instances cut together do not all raise together.
    raise_extra: Duration,
    /// The state of those draws (0: none, as in a call's own pacer).
    draws: u64,
}

impl Pacer {
    /// A pacer that sends at most `share` requests a second, whatever the
    /// organisation's limit (when several instances share it and their
    /// number is known). Zero is taken as one.
    pub fn with_share(share: usize) -> Self {
        Self {
            share: Some(share.clamp(1, MEMORY)),
            ..Self::default()
        }
    }

    /// The pacer of a whole instance: the host's, which every call to an
    /// organisation goes through, that starts at its part of what the
    /// window holds on its first answer (see [`Pacer::answered`]).
    pub fn instance() -> Self {
        Self {
            instance: true,
            draws: (crate::transport::std_jitter() * (1u64 << 53) as f64) as u64 | 1,
            ..Self::default()
        }
    }

    /// An instance's pacer whose draws start from `seed` (tests: the same
    /// run every time).
    #[cfg(test)]
    fn seeded(seed: u64) -> Self {
        Self {
            draws: seed | 1,
            ..Self::instance()
        }
    }

    /// A change of share: the next raise waits RAISE_EVERY and a random part
    /// of another (a pacer that draws nothing waits RAISE_EVERY).
    fn changed(&mut self) {
        if self.draws == 0 {
            return;
        }
        // Knuth's MMIX linear congruential step; the top 53 bits a fraction.
        self.draws = self
            .draws
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let fraction = (self.draws >> 11) as f64 / (1u64 << 53) as f64;
        self.raise_extra = RAISE_EVERY.mul_f64(fraction);
    }

    /// The pacer of one call that is one of `slots.calls` slots of a node
    /// (see [`Slots`]).
    pub fn slot(slots: Slots) -> Self {
        Self {
            share: slots.share.map(|s| s.clamp(1, MEMORY)),
            calls: Some(slots.calls.max(1)),
            ..Self::default()
        }
    }

    /// The organisation's limit, as the last answer declared it (Gladly's
    /// published one before any did).
    fn limit(&self) -> usize {
        self.limit.unwrap_or(DEFAULT_LIMIT)
    }

    /// Whether its share follows what answers say: not when an operator
    /// fixed it, nor for a slot, whose changes would not outlive its call.
    fn adapts(&self) -> bool {
        self.share.is_none() && self.calls.is_none()
    }

    /// How many of its own requests may fall in one window (plus margin).
    fn cap(&self) -> usize {
        let whole = self
            .share
            .or(self.rate.map(|r| (r as usize).min(self.limit())))
            .unwrap_or(self.limit());
        (whole / self.calls.unwrap_or(1)).clamp(1, MEMORY)
    }

    /// The share it allows itself now, in requests per window.
    pub fn share(&self) -> usize {
        self.cap()
    }

    /// Others were seen at the limit: the share is cut (at most once a
    /// window, never below one request), unless the operator fixed it.
    fn cut(&mut self, now: Duration) {
        if !self.adapts() || self.cut_at.is_some_and(|t| now < t.saturating_add(WINDOW)) {
            return;
        }
        let limit = self.limit() as f64;
        let rate = self.rate.unwrap_or(limit).min(limit);
        let got = self.in_window(now) as f64;
        self.rate = Some(got.clamp(rate * CUT_FLOOR, rate * CUT).max(1.0));
        self.cut_at = Some(now);
        self.changed();
    }

    /// Room was left in the window: the share grows by one request a
    /// window, back to the whole limit.
    fn raise(&mut self, now: Duration) {
        let Some(rate) = self.rate else {
            return;
        };
        // No others seen in the window for RAISE_EVERY, and an answer since
        // the last cut showed the window with only its own in it: alone
        // again (the others stopped, or a server died), the whole limit at
        // once. Answers that say nothing of the window (no rate headers)
        // only let it grow by steps.
        if self
            .others_at
            .is_none_or(|t| now >= t.saturating_add(RAISE_EVERY))
            && self
                .clear_at
                .is_some_and(|c| self.cut_at.is_none_or(|k| c > k))
        {
            self.rate = None;
            self.raised_at = Some(now);
            return;
        }
        // Not within RAISE_EVERY (and its drawn extra) of the last change,
        // nor within RAISE_EVERY of an answer that found the window nearly
        // full: the sharers together are then at the limit, and a raise
        // would only be paid back in 429s.
        let change = self.raised_at.max(self.cut_at);
        if change.is_some_and(|t| now < t.saturating_add(RAISE_EVERY + self.raise_extra))
            || self
                .tight_at
                .is_some_and(|t| now < t.saturating_add(RAISE_EVERY))
        {
            return;
        }
        let limit = self.limit() as f64;
        self.rate = (rate + 1.0 < limit).then_some(rate + 1.0);
        self.raised_at = Some(now);
        self.changed();
    }

    /// An answer found the window nearly full with others in it: the share
    /// is eased (at most once in RAISE_EVERY), unless the operator fixed it.
    fn ease(&mut self, now: Duration) {
        if !self.adapts()
            || self
                .eased_at
                .max(self.cut_at)
                .is_some_and(|t| now < t.saturating_add(RAISE_EVERY))
        {
            return;
        }
        let limit = self.limit() as f64;
        self.rate = Some((self.rate.unwrap_or(limit).min(limit) * EASE).max(1.0));
        self.eased_at = Some(now);
        self.changed();
    }

    /// The first answer says `remaining` are left in the window, `own` of
    /// its requests being there: what the others used is what it holds
    /// beyond them, and the share starts at this pacer's part of what was
    /// used (so that several instances starting together do not each start
    /// at the whole limit). Alone, the window holds only its own and
    /// nothing changes.
    fn estimate(&mut self, now: Duration, remaining: usize, own: usize) {
        if !self.instance || !self.adapts() || self.rate.is_some() {
            return;
        }
        let limit = self.limit();
        let own = own.max(1);
        let others = limit.saturating_sub(remaining).saturating_sub(own);
        if others > 0 {
            self.rate = Some((limit as f64 * own as f64 / (own + others) as f64).max(1.0));
            self.cut_at = Some(now);
            self.changed();
        }
    }

    /// How many of its own requests, sent by `now`, are in the window.
    fn in_window(&self, now: Duration) -> usize {
        self.sent
            .iter()
            .filter(|t| **t <= now && t.saturating_add(WINDOW + MARGIN) > now)
            .count()
    }

    /// Gladly answered 429 at `now`: the window was over the limit, so
    /// others share it (this pacer never sends more than its share).
    pub fn limited(&mut self, now: Duration) {
        self.others_at = Some(now);
        self.cut(now);
    }

    /// When, at `now` or later, the next request may be sent: not before
    /// the last one (requests go in the order they asked), nor while the
    /// last answer says the second is spent, nor while `cap` of its own
    /// are in the window.
    pub fn next_send(&self, now: Duration) -> Duration {
        let mut at = now.max(self.until.unwrap_or_default());
        if let Some(last) = self.sent.back() {
            at = at.max(*last);
        }
        if let Some(free) = self.slot_frees(self.sent.len()) {
            at = at.max(free);
        }
        // Busy (half its share sent within the window): the rest is spread
        // over the window, not sent in a burst at its start, so that the
        // sharers of one organisation each meet the full window (and cut)
        // rather than the last to send alone, and never overshoot it
        // together by a whole burst each. A call with a few requests is not
        // spaced. A slot always is: its requests are a whole node's one
        // part, and its next call cannot know what this one sent; so is a
        // pacer that shares (its share was cut or estimated), and one that
        // has no answer yet, which knows nothing of the window.
        let half = (self.cap() / 2).max(1);
        let busy = self.calls.is_some()
            || self.rate.is_some()
            || !self.seen
            || self
                .sent
                .len()
                .checked_sub(half)
                .is_some_and(|i| self.sent[i].saturating_add(WINDOW + MARGIN) > now);
        if let (Some(last), true) = (self.sent.back(), busy) {
            at = at.max(last.saturating_add((WINDOW + MARGIN) / self.cap() as u32));
        }
        at
    }

    /// Of the first `counted` requests in the log, when `cap` of them no
    /// longer fill a window: a window (plus margin) after the one `cap`
    /// from the last; `None` while fewer than `cap` are counted.
    fn slot_frees(&self, counted: usize) -> Option<Duration> {
        let i = counted.checked_sub(self.cap())?;
        Some(self.sent[i].saturating_add(WINDOW + MARGIN))
    }

    /// How long a slot's call, ending at `now`, holds its slot before
    /// returning: until its next request of this method could go, so that
    /// the next call in the slot may send at once. Nothing for a pacer that
    /// is not a slot's, or that sent nothing.
    pub fn hand_over(&self, now: Duration) -> Duration {
        if self.calls.is_none() || self.sent.is_empty() {
            return Duration::ZERO;
        }
        self.wait(now)
    }

    /// How long to wait, at `now`, before the next request.
    pub fn wait(&self, now: Duration) -> Duration {
        self.next_send(now).saturating_sub(now)
    }

    /// How long a request whose reserved time has come (its reservation
    /// released) still waits at `now`, counting only the requests sent by
    /// then: those that went out or came back later than their slots
    /// (answers are counted when they arrive) push it back.
    pub fn wait_again(&self, now: Duration) -> Duration {
        let mut at = now.max(self.until.unwrap_or_default());
        let past = self.sent.partition_point(|t| *t <= now);
        if let Some(free) = self.slot_frees(past) {
            at = at.max(free);
        }
        at.saturating_sub(now)
    }

    /// A request was (or is to be) sent at `at`; times are kept in order.
    pub fn sent(&mut self, at: Duration) {
        if self.sent.len() >= MEMORY {
            self.sent.pop_front();
        }
        let i = self.sent.partition_point(|t| *t <= at);
        self.sent.insert(i, at);
    }

    /// Takes back the request reserved (or sent) at `at`: given up, or to be
    /// timed again.
    pub fn release(&mut self, at: Duration) {
        let i = self.sent.partition_point(|t| *t < at);
        if self.sent.get(i) == Some(&at) {
            self.sent.remove(i);
        }
    }

    /// The request sent at `at` was answered (or failed) at `now`: the
    /// server counted it by then, and it holds its place in the window
    /// from then on, however late it went out or arrived.
    pub fn counted(&mut self, at: Duration, now: Duration) {
        self.release(at);
        self.sent(now.max(at));
    }

    /// An answer arrived at `now` saying `headers`.
    pub fn answered(&mut self, now: Duration, headers: RateHeaders) {
        if let Some(l) = headers.limit.filter(|l| *l > 0) {
            self.limit = Some(l.min(MEMORY));
        }
        let first = !std::mem::replace(&mut self.seen, true);
        let own = self.in_window(now);
        if let Some(remaining) = headers.remaining {
            let others = self.limit().saturating_sub(remaining) > own;
            if !others {
                self.clear_at = Some(now);
            } else {
                self.others_at = Some(now);
                if remaining < RAISE_ROOM {
                    self.tight_at = Some(now);
                }
                // A spent window is cut below, not eased too.
                if remaining < RAISE_ROOM && remaining > 0 {
                    self.ease(now);
                }
            }
        }
        if headers.remaining != Some(0) {
            self.until = None;
            if first && let Some(remaining) = headers.remaining {
                self.estimate(now, remaining, own);
            }
            self.raise(now);
            return;
        }
        // Of the requests sent by now (not those reserved for later): when
        // the window's `limit` were all this pacer's, the oldest of them
        // leaves first. Otherwise others hold slots: the share is cut, and
        // the next request waits until this pacer's oldest request in the
        // window leaves it (a slot then frees, whoever takes it), or a
        // whole window if it has none there.
        let limit = self.limit().max(1);
        let past = self.sent.partition_point(|t| *t <= now);
        let ours = past
            .checked_sub(limit)
            .map(|i| self.sent[i].saturating_add(WINDOW + MARGIN))
            .filter(|free| *free > now);
        if let Some(free) = ours {
            self.until = Some(free);
            return;
        }
        self.cut(now);
        let oldest_in_window = self
            .sent
            .range(..past)
            .find(|t| t.saturating_add(WINDOW + MARGIN) > now);
        self.until = Some(match oldest_in_window {
            Some(t) => t.saturating_add(WINDOW + MARGIN),
            None => now.saturating_add(WINDOW),
        });
    }
}

/// One value per HTTP method the connector sends, named by [`Method`].
#[derive(Clone, Debug, Default)]
pub struct PerMethod<T> {
    get: T,
    post: T,
    patch: T,
}

impl<T: Clone> PerMethod<T> {
    /// The same value for every method.
    pub fn each(v: T) -> Self {
        Self {
            get: v.clone(),
            post: v.clone(),
            patch: v,
        }
    }
}

impl<T> PerMethod<T> {
    pub fn get(&self, method: Method) -> &T {
        match method {
            Method::Get => &self.get,
            Method::Post => &self.post,
            Method::Patch => &self.patch,
        }
    }

    pub fn get_mut(&mut self, method: Method) -> &mut T {
        match method {
            Method::Get => &mut self.get,
            Method::Post => &mut self.post,
            Method::Patch => &mut self.patch,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
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
        p.answered(
            ms(0),
            RateHeaders {
                limit: Some(5),
                remaining: Some(4),
            },
        );
        for t in 0..5 {
            p.sent(ms(10 + t * 10));
        }
        p.answered(ms(60), spent(None));
        assert_eq!(p.share(), 5, "its own five filled it: no cut");
        assert_eq!(p.wait(ms(60)), ms(10) + WINDOW + MARGIN - ms(60));
    }

    /// An instance with eight requests sent, answered at 100 ms by a 429
    /// without rate headers; and the share it was cut to.
    fn cut_by_a_bare_429() -> (Pacer, usize) {
        let mut p = Pacer::instance();
        for t in 0..8 {
            p.sent(ms(t * 10));
        }
        p.answered(ms(100), RateHeaders::default());
        p.limited(ms(100));
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
        for t in 1..=40 {
            p.answered(ms(100 + t * 100), RateHeaders::default());
            shares.push(p.share());
        }
        assert!(shares.windows(2).all(|w| w[1] <= w[0] + 1), "{shares:?}");
        assert!(shares[15] < 10, "{shares:?}");
        assert!(shares[40] > cut, "it grows back: {shares:?}");
        // An answer showing a window of its own alone, a while after the
        // others were last seen: the whole limit at once.
        let mut q = Pacer::instance();
        q.sent(ms(0));
        q.answered(ms(5), spent(Some(10)));
        q.limited(ms(5));
        q.sent(ms(2_000));
        q.answered(ms(2_005), left(9));
        assert_eq!(q.share(), 10);
    }

    #[test]
    fn a_429_without_rate_headers_counts_as_others_seen() {
        // Cut by a bare 429; an answer a moment later showing a window of
        // its own alone does not give the whole limit back at once.
        let (mut p, cut) = cut_by_a_bare_429();
        p.sent(ms(150));
        p.answered(ms(200), left(9));
        assert_eq!(p.share(), cut, "others were there 100 ms ago");
    }

    #[test]
    fn a_lower_limit_declared_caps_a_share_adapted_to_a_higher_one() {
        let mut p = Pacer::instance();
        for t in 0..9 {
            p.sent(ms(t * 10));
        }
        p.answered(ms(100), spent(Some(10)));
        p.limited(ms(100));
        assert!(p.share() > 4);
        p.answered(
            ms(200),
            RateHeaders {
                limit: Some(4),
                remaining: Some(1),
            },
        );
        assert_eq!(p.share(), 4);
    }

    #[test]
    fn nothing_is_waited_until_an_answer_says_the_second_is_spent() {
        let mut p = Pacer::default();
        assert_eq!(p.wait(ms(0)), Duration::ZERO);
        p.sent(ms(0));
        p.answered(ms(5), left(3));
        assert_eq!(p.wait(ms(5)), Duration::ZERO);
        p.answered(ms(6), RateHeaders::default());
        assert_eq!(p.wait(ms(6)), Duration::ZERO);
    }

    #[test]
    fn when_the_last_limit_requests_were_ours_a_slot_frees_a_window_after_the_oldest() {
        let mut p = Pacer::default();
        for t in [0, 100, 200] {
            p.sent(ms(t));
        }
        p.answered(ms(250), spent(Some(3)));
        // The oldest of the last 3 was sent at 0: free at 1,025 ms.
        assert_eq!(p.wait(ms(250)), ms(775));
        assert_eq!(p.wait(ms(1_025)), Duration::ZERO);
        // Only the last `limit` count: a fourth request moves the oldest
        // (to 1,125 ms); but now busy, the next is spaced a third of a
        // window after the last.
        p.sent(ms(1_030));
        p.answered(ms(1_040), spent(Some(3)));
        assert_eq!(
            p.wait(ms(1_040)),
            (ms(1_030) + (WINDOW + MARGIN) / 3) - ms(1_040)
        );
    }

    #[test]
    fn when_others_hold_slots_it_waits_for_its_own_oldest_to_leave_or_a_whole_window() {
        // None of its own in the window: a whole window.
        let mut p = Pacer::default();
        p.answered(ms(40), spent(Some(10)));
        assert_eq!(p.wait(ms(40)), WINDOW);
        // One of its own: a slot frees when that one leaves.
        let mut p = Pacer::default();
        p.sent(ms(0));
        p.answered(ms(40), spent(Some(10)));
        assert_eq!(p.wait(ms(40)), WINDOW + MARGIN - ms(40));
        // Without a declared limit, Gladly's published one is assumed: nine
        // of ten are its own, so others hold one.
        let mut p = Pacer::default();
        for t in 0..9 {
            p.sent(ms(t));
        }
        p.answered(ms(20), spent(None));
        assert_eq!(p.share(), 8, "others at the limit: the share is cut");
        // Its oldest leaves at 1,025 ms; with a share of 8, its second at
        // 1,026 ms is what frees room for one more of its own.
        assert_eq!(p.wait(ms(20)), ms(1) + WINDOW + MARGIN - ms(20));
        p.sent(ms(21));
        p.answered(ms(30), spent(None));
        assert_eq!(p.wait(ms(30)), ms(2) + WINDOW + MARGIN - ms(30));
    }

    #[test]
    fn own_requests_long_gone_do_not_count_as_the_windows() {
        // Ten of ours long ago, one now; the window is full of others'.
        let mut p = Pacer::default();
        for t in 0..10 {
            p.sent(ms(t));
        }
        p.sent(ms(5_000));
        p.answered(ms(5_010), spent(Some(10)));
        assert_eq!(p.wait(ms(5_010)), WINDOW + MARGIN - ms(10));
    }

    #[test]
    fn a_429_or_others_at_the_limit_cut_the_share_once_a_window_and_room_raises_it() {
        let mut p = Pacer::default();
        p.answered(ms(0), left(5));
        assert_eq!(p.share(), 10, "alone, the whole limit");
        for t in 0..8 {
            p.sent(ms(t * 10));
        }
        p.limited(ms(100));
        assert_eq!(p.share(), 8, "cut by CUT at least: 10 x 0.8");
        p.limited(ms(200));
        assert_eq!(p.share(), 8, "one cut a window");
        // A window later none of its own is in the window: it got nothing
        // in, so the cut goes as far as it may, to a quarter.
        p.limited(ms(1_100));
        assert_eq!(p.share(), 2, "8 x 0.25");
        p.answered(ms(1_500), left(3));
        assert_eq!(p.share(), 2, "no raise within 1.5 s of the cut");
        p.answered(ms(2_700), left(1));
        assert_eq!(
            p.rate,
            Some(1.8),
            "one slot left with others in the window: eased by a tenth, not raised"
        );
        p.answered(ms(3_000), left(3));
        assert_eq!(
            p.rate,
            Some(1.8),
            "no raise within 1.5 s of a nearly full window"
        );
        p.answered(ms(4_200), left(3));
        assert_eq!(p.rate, Some(2.8));
        p.answered(ms(4_300), left(3));
        assert_eq!(p.rate, Some(2.8), "one raise in 1.5 s");
        for t in 0..20 {
            p.answered(ms(5_700 + t * 1_500), left(3));
        }
        assert_eq!(p.share(), 10, "back to the whole limit, no further");
        for t in 0..100 {
            p.limited(ms(20_000 + t * 1_000));
        }
        assert_eq!(p.share(), 1, "never below one");
        // An operator's share is not adapted.
        let mut p = Pacer::with_share(4);
        p.limited(ms(0));
        assert_eq!(p.share(), 4);
    }

    #[test]
    fn alone_again_for_a_while_it_takes_the_whole_limit_back() {
        // Cut by a 429 while others were there; then every answer shows
        // the window holding only its own requests, even with one left.
        let mut p = Pacer::instance();
        p.sent(ms(0));
        p.answered(ms(5), spent(Some(10)));
        p.limited(ms(5));
        assert!(p.share() < 10);
        // A request every 100 ms, each answer saying one is left: at first
        // others hold part of the window, then only its own fill it.
        let mut t = 100;
        let mut shares = vec![];
        while t < 3_000 {
            p.sent(ms(t));
            p.answered(ms(t + 5), left(1));
            shares.push(p.share());
            t += 100;
        }
        assert!(shares[..10].iter().all(|s| *s < 10), "{shares:?}");
        assert_eq!(p.share(), 10);
    }

    #[test]
    fn an_absurd_declared_limit_neither_overflows_nor_is_believed() {
        let mut p = Pacer::instance();
        p.sent(ms(0));
        p.answered(
            ms(1),
            RateHeaders {
                limit: Some(usize::MAX),
                remaining: Some(3),
            },
        );
        assert!(p.share() <= MEMORY);
    }

    #[test]
    fn instances_wait_a_drawn_time_before_raising_so_they_do_not_raise_together() {
        // Instances cut at the same moment raise at different times, each
        // between RAISE_EVERY and twice it after the cut.
        let raised_at = |mut p: Pacer| {
            p.answered(ms(0), left(9));
            p.sent(ms(0));
            p.limited(ms(10));
            let cut = p.share();
            (0..=400)
                .map(|i| ms(10 + i * 10))
                .find(|t| {
                    p.answered(*t, left(5));
                    p.share() > cut
                })
                .expect("a raise within 4 s")
        };
        let times: std::collections::BTreeSet<Duration> =
            (0..8).map(|_| raised_at(Pacer::instance())).collect();
        assert!(times.len() > 1, "{times:?}");
        assert!(
            times
                .iter()
                .all(|t| *t >= ms(10) + RAISE_EVERY && *t <= ms(20) + RAISE_EVERY * 2),
            "{times:?}"
        );
        // A pacer that draws nothing raises RAISE_EVERY after the cut.
        assert_eq!(raised_at(Pacer::default()), ms(10) + RAISE_EVERY);
    }

    #[test]
    fn an_instance_starts_at_its_part_of_what_its_first_answer_shows_used() {
        // Its one request, and three others': a quarter of the limit.
        let mut p = Pacer::instance();
        p.sent(ms(0));
        p.answered(ms(5), left(6));
        assert_eq!(p.share(), 2, "10 x 1/4, whole requests");
        assert_eq!(p.rate, Some(2.5));
        // Alone in the window: the whole limit, and later answers showing
        // others do not estimate again (a spent window or a 429 cuts).
        let mut p = Pacer::instance();
        p.sent(ms(0));
        p.answered(ms(5), left(9));
        p.sent(ms(10));
        p.answered(ms(15), left(2));
        assert_eq!(p.share(), 10);
        // A call's own pacer, an operator's share and a slot never do.
        for mut p in [
            Pacer::default(),
            Pacer::with_share(6),
            Pacer::slot(Slots {
                calls: 1,
                share: None,
            }),
        ] {
            let before = p.share();
            p.sent(ms(0));
            p.answered(ms(5), left(3));
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
        p.answered(ms(0), left(10));
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
            RateHeaders {
                limit: Some(3),
                remaining: Some(2),
            },
        );
        for _ in 0..3 {
            let t = p.next_send(ms(1));
            p.sent(t);
        }
        assert_eq!(p.next_send(ms(1)), ms(1) + WINDOW + MARGIN);
        let mut p = Pacer::with_share(2);
        p.answered(ms(0), left(9));
        p.sent(ms(0));
        p.sent(ms(0));
        assert_eq!(p.wait(ms(500)), WINDOW + MARGIN - ms(500));
        assert_eq!(Pacer::with_share(0).cap(), 1);
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
        p.answered(ms(10), spent(Some(5)));
        assert!(p.wait(ms(10)) > Duration::ZERO);
        p.answered(
            ms(20),
            RateHeaders {
                limit: Some(5),
                remaining: Some(1),
            },
        );
        assert_eq!(p.wait(ms(20)), Duration::ZERO);
        // Its own share stays spent whatever the answer says: the answer
        // may predate requests still in flight.
        let mut p = Pacer::with_share(1);
        p.sent(ms(0));
        p.answered(
            ms(20),
            RateHeaders {
                limit: Some(5),
                remaining: Some(4),
            },
        );
        assert_eq!(p.wait(ms(20)), WINDOW + MARGIN - ms(20));
    }

    #[test]
    fn a_zero_limit_or_huge_times_do_not_panic() {
        let mut p = Pacer::default();
        p.sent(Duration::MAX);
        p.answered(Duration::MAX, spent(Some(0)));
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

    /// The arrival times, at the server, of the GETs of `slots.calls`
    /// slots each running calls back to back for `run`, every call a fresh
    /// slot pacer sending 1 to 3 GETs with answers taking 1 to 40 ms (some
    /// saying the second is spent, some 429s) and the engine 0 to 30 ms
    /// between calls (a small xorshift picks them); `busy`: others fill
    /// the organisation's window too.
    fn slot_arrivals(slots: Slots, run: Duration, seed: u64, busy: bool) -> Vec<Duration> {
        let mut x = seed | 1;
        let mut pick = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let mut arrivals = Vec::new();
        for _ in 0..slots.calls {
            let mut t = ms(pick(30));
            while t < run {
                let mut p = Pacer::slot(slots);
                for _ in 0..=pick(3) {
                    t += p.wait(t);
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
                    p.answered(t, left(remaining));
                    if remaining == 0 && pick(2) == 0 {
                        p.limited(t);
                    }
                }
                t += p.hand_over(t);
                t += ms(pick(30));
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
    fn a_slot_is_never_cut_and_hands_over_nothing_before_it_sends() {
        let slots = Slots {
            calls: 2,
            share: None,
        };
        let mut p = Pacer::slot(slots);
        assert_eq!(p.hand_over(ms(0)), Duration::ZERO);
        assert_eq!(p.share(), 5);
        p.sent(ms(0));
        p.limited(ms(10));
        assert_eq!(p.share(), 5);
        assert_eq!(p.hand_over(ms(10)), (WINDOW + MARGIN) / 5 - ms(10));
        // Not a slot: nothing to hand over.
        let mut q = Pacer::default();
        q.sent(ms(0));
        assert_eq!(q.hand_over(ms(0)), Duration::ZERO);
    }

    /// What a shared-limit run gave: each instance's requests let through,
    /// and the 429s.
    struct Shared {
        through: Vec<usize>,
        limited: usize,
    }

    /// `n` instances, each a host pacer with 4 callers asking again as soon
    /// as they are answered, against one server allowing 10 a window
    /// (sliding, or reset on each whole second), for `run` of simulated
    /// time, instance `i` starting at `i * stagger`; a request arrives 1 to
    /// 4 ms after it is sent and is answered 3 to 13 ms later (a few ms
    /// picked per instance, and up to 4 drawn per answer, from `seed`).
    /// Requests are counted from `from` on.
    fn shared_run(
        n: usize,
        fixed: bool,
        run: Duration,
        stagger: Duration,
        from: Duration,
        seed: u64,
    ) -> Shared {
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
        let mut accepted: VecDeque<Duration> = VecDeque::new();
        let mut through = vec![0; n];
        let mut limited = 0;
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
                        let there = Duration::from_micros(1_000 + (net >> 33) % 3_000);
                        queue.push(Reverse((now + there, Ev::Arrive(i, now))));
                    } else {
                        queue.push(Reverse((now + again, Ev::Wake(i, now + again))));
                    }
                }
                Ev::Arrive(i, at) => {
                    let window_start = if fixed {
                        Duration::from_secs(now.as_secs())
                    } else {
                        now.saturating_sub(WINDOW)
                    };
                    while accepted
                        .front()
                        .is_some_and(|t| *t <= window_start && !fixed || *t < window_start && fixed)
                    {
                        accepted.pop_front();
                    }
                    let answer = if accepted.len() < limit {
                        accepted.push_back(now);
                        if now >= from {
                            through[i] += 1;
                        }
                        Some(limit - accepted.len())
                    } else {
                        if now >= from {
                            limited += 1;
                        }
                        None
                    };
                    net = next_draw(net);
                    let latency =
                        ms(3 + (i as u64 * 3) % 7) + Duration::from_micros((net >> 33) % 4_000);
                    queue.push(Reverse((now + latency, Ev::Answer(i, at, answer))));
                }
                Ev::Answer(i, at, answer) => {
                    let p = &mut pacers[i];
                    p.counted(at, now);
                    p.answered(
                        now,
                        RateHeaders {
                            limit: Some(limit),
                            remaining: Some(answer.unwrap_or(0)),
                        },
                    );
                    if answer.is_none() {
                        // The host's caller waits out about a second, as
                        // the connector does on a 429 without Retry-After.
                        p.limited(now);
                    }
                    let ask = if answer.is_none() { now + ms(700) } else { now };
                    let next = p.next_send(ask);
                    p.sent(next);
                    queue.push(Reverse((next, Ev::Wake(i, next))));
                }
            }
        }
        Shared { through, limited }
    }

    #[test]
    fn instances_sharing_a_limit_each_get_at_least_half_their_fair_share() {
        let run = Duration::from_secs(120);
        for fixed in [false, true] {
            for n in [1, 2, 4] {
                let r = shared_run(n, fixed, run, ms(37), Duration::ZERO, 0);
                let total: usize = r.through.iter().sum();
                let fair = total as f64 / n as f64;
                let used = total as f64 / (10.0 * run.as_secs_f64());
                let sent = total + r.limited;
                let shown = format!(
                    "{n} instance(s), fixed {fixed}: {:?}, {} answered 429, {used:.2} of the limit",
                    r.through, r.limited
                );
                eprintln!("{shown}");
                assert!(r.through.iter().all(|t| *t as f64 >= fair / 2.0), "{shown}");
                if n == 1 {
                    assert_eq!(r.limited, 0, "{shown}");
                    assert!(used >= 0.95, "{shown}");
                } else {
                    // A guard against regressions (the pacer that burst its
                    // share drew 30% in the benchmark), not the goals,
                    // which BENCHMARKS.md measures on the real host.
                    assert!(used >= 0.7, "{shown}");
                    assert!(r.limited * 100 <= sent * 10, "{shown}");
                }
            }
        }
    }

    #[test]
    fn an_instance_that_joins_late_gets_at_least_half_its_fair_share() {
        // One instance has had the whole limit to itself for 10 s when the
        // other starts (a gateway restarted): the newcomer's first answer
        // shows a window all the other's, and the other sees no one. Once
        // both have run together a while, each still gets at least half.
        // Under several network timings: a rule that starves a late
        // joiner under one of them is not kept.
        for seed in 0..4 {
            for fixed in [false, true] {
                for n in [2, 4] {
                    let r = shared_run(
                        n,
                        fixed,
                        Duration::from_secs(120),
                        Duration::from_secs(10),
                        Duration::from_secs(60),
                        seed,
                    );
                    let total: usize = r.through.iter().sum();
                    let fair = total as f64 / n as f64;
                    let used = total as f64 / (10.0 * 60.0);
                    let shown = format!(
                        "{n} instance(s), fixed {fixed}, timing {seed}, the last 60 s: {:?}, {} answered 429, {used:.2} of the limit",
                        r.through, r.limited
                    );
                    eprintln!("{shown}");
                    assert!(r.through.iter().all(|t| *t as f64 >= fair / 2.0), "{shown}");
                    // And not by everyone getting nothing.
                    assert!(used >= 0.7, "{shown}");
                    assert!(r.limited * 100 <= (total + r.limited) * 10, "{shown}");
                }
            }
        }
    }
}
