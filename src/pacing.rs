//! Pacing to Gladly's published rate limit: one implementation, used by the
//! component for the requests of one call ([`crate::client::Client`]) and by
//! the host for every call to an organisation (`gladly-harness`'s
//! `outgoing.rs`).
//!
//! Gladly counts a limit (10 by default) per second, per organisation and
//! HTTP method, and says on every answer how many requests the second has
//! left (`Ratelimit-Limit-Second`, `Ratelimit-Remaining-Second`). When an
//! answer says none are left, the next request of that method waits until a
//! slot frees, instead of drawing a 429:
//! - when the last `limit` requests of that method were all this pacer's,
//!   the first slot frees a window after the oldest of them, whether the
//!   server counts in a sliding window or resets on the second;
//! - otherwise others hold slots too, and a whole window is waited.
//!
//! Times are [`Duration`]s since any fixed start the caller chooses (the
//! transport's monotonic clock in the component, an `Instant` in the host),
//! so that the rule is plain arithmetic, tested without a clock.

use std::collections::VecDeque;
use std::time::Duration;

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
    /// When the recent requests were sent, oldest first.
    sent: VecDeque<Duration>,
    /// Until when the second is spent, as the last answer said.
    until: Option<Duration>,
}

impl Pacer {
    /// How long to wait, at `now`, before the next request.
    pub fn wait(&self, now: Duration) -> Duration {
        self.until.map_or(Duration::ZERO, |u| u.saturating_sub(now))
    }

    /// A request was sent at `now`.
    pub fn sent(&mut self, now: Duration) {
        if self.sent.len() >= MEMORY {
            self.sent.pop_front();
        }
        self.sent.push_back(now);
    }

    /// An answer arrived at `now` saying `headers`.
    pub fn answered(&mut self, now: Duration, headers: RateHeaders) {
        if headers.remaining != Some(0) {
            self.until = None;
            return;
        }
        let limit = headers.limit.unwrap_or(DEFAULT_LIMIT).max(1);
        self.until = Some(match self.sent.len().checked_sub(limit) {
            Some(i) => self.sent[i].saturating_add(WINDOW + MARGIN),
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

    fn spent(limit: Option<usize>) -> RateHeaders {
        RateHeaders {
            limit,
            remaining: Some(0),
        }
    }

    #[test]
    fn nothing_is_waited_until_an_answer_says_the_second_is_spent() {
        let mut p = Pacer::default();
        assert_eq!(p.wait(ms(0)), Duration::ZERO);
        p.sent(ms(0));
        p.answered(
            ms(5),
            RateHeaders {
                limit: Some(10),
                remaining: Some(3),
            },
        );
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
        // Only the last `limit` count: a fourth request moves the oldest.
        p.sent(ms(1_030));
        p.answered(ms(1_040), spent(Some(3)));
        assert_eq!(p.wait(ms(1_040)), ms(100 + 1_025 - 1_040));
    }

    #[test]
    fn when_others_hold_slots_a_whole_window_is_waited() {
        let mut p = Pacer::default();
        p.sent(ms(0));
        p.answered(ms(40), spent(Some(10)));
        assert_eq!(p.wait(ms(40)), WINDOW);
        // Without a declared limit, Gladly's published one is assumed.
        let mut p = Pacer::default();
        for t in 0..9 {
            p.sent(ms(t));
        }
        p.answered(ms(20), spent(None));
        assert_eq!(p.wait(ms(20)), WINDOW);
        p.sent(ms(21));
        p.answered(ms(30), spent(None));
        assert_eq!(p.wait(ms(30)), WINDOW + MARGIN - ms(30));
    }

    #[test]
    fn a_later_answer_with_slots_left_lifts_the_wait() {
        let mut p = Pacer::default();
        p.sent(ms(0));
        p.answered(ms(10), spent(Some(1)));
        assert!(p.wait(ms(10)) > Duration::ZERO);
        p.answered(
            ms(20),
            RateHeaders {
                limit: Some(1),
                remaining: Some(1),
            },
        );
        assert_eq!(p.wait(ms(20)), Duration::ZERO);
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
}
