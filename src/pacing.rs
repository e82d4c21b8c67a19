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
//! until a slot frees, instead of drawing a 429 (but for a slot's pacer,
//! below, whose spacing already keeps its node within the limit):
//! - when the last `limit` requests of that method were all this pacer's,
//!   the first slot frees a window after the oldest of them, whether the
//!   server counts in a sliding window or resets on the second;
//! - otherwise others hold slots too: it waits until its own oldest request
//!   in the window leaves it (a whole window if it has none there).
//!
//! Several instances of one organisation share its limit with no
//! coordinator, each from what its answers say (the README's "Pacing"): an
//! instance's pacer ([`Pacer::instance`]) spreads its requests until its
//! first answer it can read, and starts at three quarters of its part of
//! what that answer shows used;
//! from then on its share is a whole number of requests a window, which
//! takes room the others leave, gives way in a full window, and loses a
//! request at least on a 429, half of it while the shares are still being
//! found ([`share`]; in a window that resets on the second, the others are
//! read from the turn found in [`turn`]). Shares that add up to
//! the limit draw no 429 from how their requests interleave. A call's own
//! pacer keeps the whole limit but for 429s (its host's pacer shares for
//! it).
//!
//! An engine that runs each call in a fresh instance (Obelisk) keeps no
//! pacer between calls; it runs a fixed number of calls at once (its
//! `exec.instance_limiter`), each call a *slot* ([`Slots`], from the
//! component's environment). A slot's pacer gets `1/calls` of the share
//! (the operator's, or the declared limit split between the nodes that
//! run the connector's calls now, as the engine's record shows them:
//! [`crate::obelisk_nodes`]), spaces every request of a
//! method at least a window over that many apart, and a call hands its slot
//! over only once its pacer would let the next request go
//! ([`Pacer::hand_over`]): the next call in the slot then starts where this
//! one left off, without any state between them (but for a call near its
//! deadline, whose hold is cut there). So a node never has more than its
//! share in a window, whatever the calls do, as long as the share (or its
//! part of the declared limit, split between the counted nodes) is at
//! least the calls in flight: a slot sends at least one request a window.
//! When the nodes' calls together outnumber the limit, slots are spaced
//! further than a window apart, and keep within it only on average. A slot
//! does not wait on a window an answer says is spent, nor after a 429,
//! while its node's slots keep within the declared limit: on a node alone
//! that is its own node's slots filling it as they should. So a slot may
//! send into a second Gladly said was spent; when others filled it (another
//! node that takes the whole limit too, not counted), that request draws a
//! 429, which the call waits out.
//!
//! Times are [`Duration`]s since any fixed start the caller chooses (the
//! transport's monotonic clock in the component, an `Instant` in the host),
//! so that the rule is plain arithmetic, tested without a clock.

use std::collections::VecDeque;
use std::time::Duration;

use crate::error::Error;
use crate::transport::Method;

mod share;
#[cfg(test)]
mod simulation;
#[cfg(test)]
mod slot_simulation;
#[cfg(test)]
mod tests;
mod turn;

use share::Share;

/// The window Gladly's published rate limit is counted in.
pub const WINDOW: Duration = Duration::from_secs(1);
/// Beyond the window, for the time between sending and the server's clock.
pub const MARGIN: Duration = Duration::from_millis(25);
/// The limit assumed when an answer says the second is spent without saying
/// what the limit is (Gladly's published one).
pub const DEFAULT_LIMIT: usize = 10;
/// Send times remembered (more than any per-second limit).
const MEMORY: usize = 128;
/// A request in flight this long no longer counts as maybe counted lately
/// (it reached the server long ago, or never will); that only makes the
/// others look more, never fewer.
const FLIGHT_FORGOTTEN: Duration = Duration::from_secs(10);
/// The settings a call reads from its environment when it runs in a fresh
/// instance per call, as on Obelisk (see the module's notes).
pub const CALLS_IN_FLIGHT_VAR: &str = "GLADLY_CALLS_IN_FLIGHT";
pub const RATE_SHARE_VAR: &str = "GLADLY_RATE_SHARE";

/// A node that runs `calls` calls at once, each in a fresh instance, which
/// together send at most `share` requests a second per method (`None`: the
/// organisation's declared limit, split between the `nodes` that run the
/// connector's calls now, [`crate::obelisk_nodes`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slots {
    pub calls: usize,
    pub share: Option<usize>,
    pub nodes: usize,
}

impl Slots {
    /// Reads [`CALLS_IN_FLIGHT_VAR`] and [`RATE_SHARE_VAR`] through
    /// `setting`; `None` when neither is set (an empty share is the
    /// organisation's limit). A value that is not a whole number from 1 to
    /// 128, a share without the number of calls, or a share below it (each
    /// call sends at least one request a second), or more calls than
    /// [`DEFAULT_LIMIT`] without a share, is an error naming the setting.
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
            (Some(calls), None) if calls > DEFAULT_LIMIT => Err(Error::invalid(
                format!("env.{CALLS_IN_FLIGHT_VAR}"),
                format!(
                    "must be at most {DEFAULT_LIMIT} (Gladly's published limit) while {RATE_SHARE_VAR} is unset or empty: {calls} calls each sending one request a second would send more than Gladly's published {DEFAULT_LIMIT} (spaced further apart, they would keep within it only on average); lower Obelisk's exec.instance_limiter and {CALLS_IN_FLIGHT_VAR} together, or, for an organisation Gladly granted more, set {RATE_SHARE_VAR} to its limit"
                ),
            )),
            (Some(calls), share) => Ok(Some(Self {
                calls,
                share,
                nodes: 1,
            })),
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
    /// When the recent requests were sent (or are to be), oldest first;
    /// once answered, when they were.
    sent: VecDeque<Duration>,
    /// Of those, the send times of the ones not answered yet (in flight,
    /// or reserved for later).
    flying: VecDeque<Duration>,
    /// Until when the second is spent, as the last answer said.
    until: Option<Duration>,
    /// The limit the last answer declared.
    limit: Option<usize>,
    /// A fixed share of the limit, set by the operator.
    share: Option<usize>,
    /// Otherwise, the share it allows itself while others use the limit
    /// too (see [`share`]).
    adaptive: Share,
    /// One of this many slots that split the share (see [`Slots`]).
    calls: Option<usize>,
    /// Of this many nodes that split the declared limit when no share is
    /// set (see [`Slots`]; 0 is one).
    nodes: usize,
    /// Whether any answer has come yet (before one, nothing is known of
    /// the window and requests are spread).
    seen: bool,
    /// The pacer of a whole instance (the host's, shared by its calls),
    /// which estimates its share from its first answer; a call's own pacer
    /// does not (the window's other requests are most often its host's
    /// other calls, which the host paces).
    instance: bool,
    /// Whether its share was started from an answer that could be read.
    started: bool,
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
    /// organisation goes through, that starts at three quarters of its part
    /// of what the window holds on its first answer (see
    /// [`Pacer::answered`]).
    pub fn instance() -> Self {
        Self {
            instance: true,
            adaptive: Share::new((crate::transport::std_jitter() * (1u64 << 53) as f64) as u64),
            ..Self::default()
        }
    }

    /// An instance's pacer whose draws start from `seed` (tests: the same
    /// run every time).
    #[cfg(test)]
    fn seeded(seed: u64) -> Self {
        Self {
            adaptive: Share::new(seed),
            ..Self::instance()
        }
    }

    /// The pacer of one call that is one of `slots.calls` slots of a node
    /// (see [`Slots`]).
    pub fn slot(slots: Slots) -> Self {
        Self {
            share: slots.share.map(|s| s.clamp(1, MEMORY)),
            calls: Some(slots.calls.max(1)),
            nodes: slots.nodes.clamp(1, MEMORY),
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

    /// Whether it is a slot whose node's slots, each at its share, keep
    /// within the organisation's declared limit together.
    fn spaced_within_limit(&self) -> bool {
        self.calls
            .is_some_and(|calls| self.cap().saturating_mul(calls) <= self.limit())
    }

    /// What it and the pacers it splits with may send in one window: the
    /// share set, the adaptive share, or the declared limit.
    fn whole(&self) -> usize {
        self.share
            .or(self.adaptive.cap().map(|c| c.min(self.limit())))
            .unwrap_or(self.limit())
            .max(1)
    }

    /// How many pacers split [`Pacer::whole`]: a slot's node's calls, times
    /// the nodes when no share is set.
    fn parts(&self) -> usize {
        let nodes = if self.share.is_none() {
            self.nodes.max(1)
        } else {
            1
        };
        self.calls.unwrap_or(1).saturating_mul(nodes)
    }

    /// How many of its own requests may fall in one window (plus margin).
    fn cap(&self) -> usize {
        (self.whole() / self.parts()).clamp(1, MEMORY)
    }

    /// The least time between two of its requests while it spaces them: a
    /// window (plus margin) over its cap, or, when the parts outnumber the
    /// whole (three nodes of five calls splitting 10), that many windows
    /// over the whole, so that together they keep within it on average;
    /// but not in every second, as slots that cannot see each other may
    /// fall together (README, "Rate limit on Obelisk": no more nodes'
    /// calls in flight than the limit).
    fn spacing(&self) -> Duration {
        let (whole, parts) = (self.whole(), self.parts());
        if parts > whole {
            let n = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
            (WINDOW + MARGIN).saturating_mul(n(parts)) / n(whole)
        } else {
            (WINDOW + MARGIN) / self.cap() as u32
        }
    }

    /// The share it allows itself now, in requests per window.
    pub fn share(&self) -> usize {
        self.cap()
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
        // sharers of one organisation each see the others in the window
        // rather than the last to send alone, and never overshoot it
        // together by a whole burst each. A call with a few requests is not
        // spaced. A slot always is: its requests are a whole node's one
        // part, and its next call cannot know what this one sent; so is a
        // pacer that shares (its share less than the whole limit), and one
        // that has no answer yet, which knows nothing of the window.
        let half = (self.cap() / 2).max(1);
        let busy = self.calls.is_some()
            || self.adaptive.cap().is_some()
            || !self.seen
            || self
                .sent
                .len()
                .checked_sub(half)
                .is_some_and(|i| self.sent[i].saturating_add(WINDOW + MARGIN) > now);
        if let (Some(last), true) = (self.sent.back(), busy) {
            at = at.max(last.saturating_add(self.spacing()));
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
        insert(&mut self.sent, at);
        insert(&mut self.flying, at);
    }

    /// Takes back the request reserved (or sent) at `at`: given up, or to be
    /// timed again.
    pub fn release(&mut self, at: Duration) {
        remove(&mut self.sent, at);
        remove(&mut self.flying, at);
    }

    /// The request sent at `at` was answered (or failed) at `now`: the
    /// server counted it by then, and it holds its place in the window
    /// from then on, however late it went out or arrived.
    pub fn counted(&mut self, at: Duration, now: Duration) {
        self.release(at);
        insert(&mut self.sent, now.max(at));
    }

    /// The answer to the request sent at `at` arrived at `now` saying
    /// `headers`; `refused`: it was a 429 (the window was over the limit,
    /// so others share it: this pacer never sends more than its share).
    pub fn answered(&mut self, at: Duration, now: Duration, headers: RateHeaders, refused: bool) {
        // A limit beyond any per-second limit is not believed: the answer
        // then says nothing of the window.
        let absurd = headers.limit.is_some_and(|l| l > MEMORY);
        if let Some(l) = headers.limit.filter(|l| (1..=MEMORY).contains(l)) {
            self.limit = Some(l);
        }
        self.seen = true;
        if self.adapts() {
            let limit = self.limit();
            match (refused, self.limit, headers.remaining) {
                (true, ..) => self.adaptive.refused(now, limit),
                (false, ..) if absurd => self.adaptive.answered_blind(now, limit),
                // Read against a limit some answer declared, and only when
                // the two add up.
                (false, Some(declared), Some(remaining)) if remaining <= declared => {
                    // Its own the server may have counted since a time:
                    // answered since, or in flight.
                    let (sent, flying) = (&self.sent, &self.flying);
                    let since = |from| own_since(sent, flying, from, now);
                    if !self.started && self.instance {
                        self.started = true;
                        let own = since(now.saturating_sub(WINDOW + MARGIN));
                        self.adaptive
                            .start(now, declared, declared - remaining, own);
                    }
                    self.adaptive.answered(at, now, declared, remaining, &since);
                }
                _ => self.adaptive.answered_blind(now, limit),
            }
        }
        // A slot does not wait on a window an answer says is spent, nor
        // after a 429, while its node's slots together keep within the
        // declared limit: its spacing alone holds them there, so on a node
        // alone the window is its own node's slots filling it as they
        // should, and waiting there only left the node's next window part
        // empty (a node of five slots used 0.84 to 0.86 of the limit on
        // Obelisk, against 0.94 without the wait; `slot_simulation`). A
        // slot may so send into a window Gladly said is spent: when others
        // filled it (another node that does not count this one), that
        // request draws a 429, which the call waits out (0.5 to 1.5 s,
        // `Client::send`).
        // Beside such a node, waiting here drew no fewer 429s and used
        // less of the limit (simulated under a sliding window: 22.2% and
        // 0.83 waiting after a 429, 21.7% and 0.90 not; 24.7% and 0.71
        // waiting after every spent answer): only the nodes counted, or a
        // share set per node, avoid those. A share set above the declared
        // limit still waits as below.
        if headers.remaining != Some(0) || self.spaced_within_limit() {
            self.until = None;
            return;
        }
        // Of the requests sent by now (not those reserved for later): when
        // the window's `limit` were all this pacer's, the oldest of them
        // leaves first. Otherwise others hold slots: the next request
        // waits until this pacer's oldest request in the
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

/// How many of its own requests, sent by `now`, the server may have
/// counted since `from`: those answered since (or sent since and not
/// answered), and those sent before and not answered yet (in flight, they
/// may have arrived at any time; but for those in flight for
/// [`FLIGHT_FORGOTTEN`]).
fn own_since(
    sent: &VecDeque<Duration>,
    flying: &VecDeque<Duration>,
    from: Duration,
    now: Duration,
) -> usize {
    let since = sent.iter().filter(|t| **t >= from && **t <= now).count();
    let lost = now.saturating_sub(FLIGHT_FORGOTTEN);
    since + flying.iter().filter(|t| **t < from && **t >= lost).count()
}

/// Inserts `at` in the times `log`, kept in order and to [`MEMORY`].
fn insert(log: &mut VecDeque<Duration>, at: Duration) {
    if log.len() >= MEMORY {
        log.pop_front();
    }
    let i = log.partition_point(|t| *t <= at);
    log.insert(i, at);
}

/// Removes one `at` from the times `log`, if it is there.
fn remove(log: &mut VecDeque<Duration>, at: Duration) {
    let i = log.partition_point(|t| *t < at);
    if log.get(i) == Some(&at) {
        log.remove(i);
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
