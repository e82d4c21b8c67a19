//! How long one request to the SCIM gateway may be held for Gladly's rate
//! limit. An IdP that waits too long for an answer times out and sends the
//! request again anyway; told 429 with `Retry-After`, it waits and retries
//! (Entra ID quarantines a job that fails, not one told to wait). So once
//! the limit would hold a request more than [`Hold::max_wait`] in all, the
//! host answers it 429 and drops the rest of its work, as long as none of
//! it has written to Gladly: a request that has sent a write is seen
//! through (its own retry policy bounds it), so that it never stops half
//! done.
//!
//! Counted: the host's pacing waits ([`crate::outgoing`]), and the wait each
//! 429 from Gladly asks for (its `Retry-After`, else the one-second window),
//! which the component would otherwise sleep.

use std::sync::Mutex;
use std::time::Duration;

/// A request's account of its waits for the limit.
#[derive(Debug)]
pub(crate) struct Hold {
    max_wait: Duration,
    state: Mutex<State>,
    tripped: tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct State {
    waited: Duration,
    wrote: bool,
    /// When the request was given up: how long the IdP should wait.
    retry_after: Option<Duration>,
}

/// The wait a 429 without `Retry-After` implies: Gladly counts per second.
const WINDOW: Duration = Duration::from_secs(1);
/// The longest wait passed on to the IdP (the SCIM service's cap, which
/// also bounds a 429 the component passes on).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(gladly_scim::MAX_RETRY_AFTER_SECS);

impl Hold {
    pub(crate) fn new(max_wait: Duration) -> Self {
        Self {
            max_wait,
            state: Mutex::default(),
            tripped: tokio::sync::Notify::new(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds `wait` to what the request waited; gives it up (and answers
    /// false) when that passes the bound and nothing was written yet.
    fn wait(&self, wait: Duration) -> bool {
        let mut s = self.state();
        s.waited = s.waited.saturating_add(wait);
        if s.wrote || s.retry_after.is_some() || s.waited <= self.max_wait {
            return s.retry_after.is_none() || s.wrote;
        }
        // At least what the request was held past the bound (a client back
        // sooner would be held again), at most a few minutes.
        let over = s.waited.saturating_sub(self.max_wait);
        s.retry_after = Some(wait.max(over).clamp(WINDOW, MAX_RETRY_AFTER));
        drop(s);
        self.tripped.notify_one();
        false
    }

    /// Before sending a request that the host's pacing holds for `wait`
    /// (zero: none). False: do not send it; the request was given up.
    pub(crate) fn before_send(&self, write: bool, wait: Duration) -> bool {
        if !self.wait(wait) {
            return false;
        }
        if write {
            // From here on the request may have changed Gladly.
            self.state().wrote = true;
        }
        true
    }

    /// Gladly answered 429, asking for `retry_after` (or nothing).
    pub(crate) fn rate_limited(&self, retry_after: Option<Duration>) {
        self.wait(retry_after.unwrap_or(WINDOW));
    }

    /// Whether the request has sent a write (it may have changed Gladly).
    pub(crate) fn wrote(&self) -> bool {
        self.state().wrote
    }

    /// The wait to tell the IdP, if the request was given up.
    pub(crate) fn given_up_now(&self) -> Option<Duration> {
        self.state().retry_after
    }

    /// Resolves once the request is given up, with the wait to tell the IdP.
    pub(crate) async fn given_up(&self) -> Duration {
        loop {
            let notified = self.tripped.notified();
            if let Some(d) = self.state().retry_after {
                return d;
            }
            notified.await;
        }
    }
}

/// A `Retry-After` in seconds (the form Gladly sends); dates and anything
/// else read as absent.
pub(crate) fn retry_after_secs(value: Option<&str>) -> Option<Duration> {
    value?.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn waits_within_the_bound_pass_and_the_one_past_it_gives_up() {
        let h = Hold::new(5 * S);
        assert!(h.before_send(false, 2 * S));
        assert!(h.before_send(false, 3 * S), "5 s in all is within");
        assert!(!h.before_send(false, 10 * std::time::Duration::from_millis(1)));
        assert_eq!(
            h.state().retry_after,
            Some(WINDOW),
            "never less than a second"
        );
        assert!(
            !h.before_send(false, Duration::ZERO),
            "given up stays given up"
        );
        let h = Hold::new(5 * S);
        assert!(h.before_send(false, 4 * S));
        assert!(!h.before_send(false, 4 * S));
        assert_eq!(h.state().retry_after, Some(4 * S));
        let h = Hold::new(5 * S);
        for _ in 0..9 {
            h.before_send(false, S);
        }
        assert_eq!(
            h.state().retry_after,
            Some(S),
            "given up at the sixth second"
        );
    }

    #[test]
    fn a_long_retry_after_gives_up_at_once_and_is_passed_on() {
        let h = Hold::new(5 * S);
        h.rate_limited(Some(60 * S));
        assert_eq!(h.state().retry_after, Some(60 * S));
        let h = Hold::new(5 * S);
        h.rate_limited(Some(3_600 * S));
        assert_eq!(h.state().retry_after, Some(MAX_RETRY_AFTER), "capped");
        let h = Hold::new(5 * S);
        for _ in 0..5 {
            h.rate_limited(None);
        }
        assert_eq!(
            h.state().retry_after,
            None,
            "five one-second waits are five seconds"
        );
        h.rate_limited(None);
        assert_eq!(h.state().retry_after, Some(WINDOW));
    }

    #[test]
    fn a_request_that_wrote_is_never_given_up() {
        let h = Hold::new(5 * S);
        assert!(h.before_send(true, Duration::ZERO));
        h.rate_limited(Some(60 * S));
        assert!(h.before_send(false, 30 * S));
        assert!(h.before_send(true, 30 * S));
        assert_eq!(h.state().retry_after, None);
    }

    #[test]
    fn a_write_held_too_long_before_it_is_sent_is_given_up_unsent() {
        let h = Hold::new(5 * S);
        assert!(!h.before_send(true, 6 * S));
        assert!(!h.state().wrote, "it was not sent");
    }

    #[tokio::test]
    async fn given_up_wakes_whoever_waits_for_it() {
        let h = std::sync::Arc::new(Hold::new(5 * S));
        let waiter = tokio::spawn({
            let h = h.clone();
            async move { h.given_up().await }
        });
        tokio::task::yield_now().await;
        h.rate_limited(Some(7 * S));
        assert_eq!(waiter.await.unwrap(), 7 * S);
    }

    #[test]
    fn retry_after_reads_seconds_only() {
        assert_eq!(retry_after_secs(Some(" 12 ")), Some(12 * S));
        assert_eq!(
            retry_after_secs(Some("Wed, 21 Oct 2015 07:28:00 GMT")),
            None
        );
        assert_eq!(retry_after_secs(None), None);
    }
}
