//! What a real front end checks before Gladly sees a request: the framing of
//! a request body, and Gladly's published rate limit.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, Method, header};

/// Gladly's published rate limit: requests per second per organisation,
/// counted for each HTTP method apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub per_second: u32,
    /// Whether a 429 carries `Retry-After` (Gladly's spec does not promise
    /// it; the integration guide says it is sent).
    pub retry_after: bool,
}

impl Default for RateLimit {
    /// 10 per second and method, 429 without `Retry-After`: the public spec.
    fn default() -> Self {
        Self {
            per_second: 10,
            retry_after: false,
        }
    }
}

const WINDOW: Duration = Duration::from_secs(1);

/// A sliding one-second window per method: stricter than a window reset on
/// the second, so a client that passes here passes there too.
#[derive(Debug, Default)]
pub struct Buckets {
    sent: HashMap<Method, VecDeque<Instant>>,
}

/// What the rate limiter decided for one request.
pub struct Verdict {
    pub allowed: bool,
    pub limit: u32,
    /// Requests left in the current second after this one.
    pub remaining: u32,
    /// When the oldest request in the window leaves it.
    pub retry_after: Duration,
}

impl Buckets {
    pub fn check(&mut self, limit: u32, method: &Method, now: Instant) -> Verdict {
        let q = self.sent.entry(method.clone()).or_default();
        while q.front().is_some_and(|t| now.duration_since(*t) >= WINDOW) {
            q.pop_front();
        }
        let used = q.len() as u32;
        let allowed = used < limit;
        if allowed {
            q.push_back(now);
        }
        let retry_after = q
            .front()
            .map(|t| WINDOW.saturating_sub(now.duration_since(*t)))
            .unwrap_or_default();
        Verdict {
            allowed,
            limit,
            remaining: limit.saturating_sub(q.len() as u32),
            retry_after,
        }
    }
}

/// How a request's body was framed, as received.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Framing {
    pub content_length: Option<String>,
    pub transfer_encoding: Option<String>,
}

impl Framing {
    pub fn of(headers: &HeaderMap) -> Self {
        let text = |name| {
            headers
                .get(name)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        };
        Self {
            content_length: text(header::CONTENT_LENGTH),
            transfer_encoding: text(header::TRANSFER_ENCODING),
        }
    }

    /// Whether a strict front end takes this request: a write must state its
    /// length and must not be chunked (411 Length Required otherwise).
    pub fn acceptable(&self, method: &Method, allow_chunked: bool) -> bool {
        let writes = matches!(*method, Method::POST | Method::PATCH | Method::PUT);
        if !writes {
            return true;
        }
        if self.transfer_encoding.is_some() {
            return allow_chunked;
        }
        self.content_length.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_slides_per_method() {
        let mut b = Buckets::default();
        let t0 = Instant::now();
        for i in 0..3 {
            let v = b.check(3, &Method::GET, t0 + Duration::from_millis(i * 100));
            assert!(v.allowed);
            assert_eq!(v.remaining, 2 - i as u32);
        }
        let refused = b.check(3, &Method::GET, t0 + Duration::from_millis(900));
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after, Duration::from_millis(100));
        assert!(
            b.check(3, &Method::POST, t0).allowed,
            "POST has its own bucket"
        );
        assert!(
            b.check(3, &Method::GET, t0 + Duration::from_millis(1000))
                .allowed
        );
    }

    #[test]
    fn writes_need_a_length_and_no_chunking() {
        let f = |cl: Option<&str>, te: Option<&str>| Framing {
            content_length: cl.map(str::to_string),
            transfer_encoding: te.map(str::to_string),
        };
        assert!(f(Some("12"), None).acceptable(&Method::POST, false));
        assert!(!f(None, Some("chunked")).acceptable(&Method::PATCH, false));
        assert!(f(None, Some("chunked")).acceptable(&Method::PATCH, true));
        assert!(!f(None, None).acceptable(&Method::POST, false));
        assert!(f(None, None).acceptable(&Method::GET, false));
    }
}
