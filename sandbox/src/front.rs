//! What a real front end checks before Gladly sees a request: the framing of
//! a request body, its media type, and Gladly's published rate limit.

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
    /// How the second is counted: Gladly does not say.
    pub window: Window,
}

/// How a rate limit counts its second.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Window {
    /// The last second, whenever a request comes (the stricter: a client
    /// that passes here passes a fixed window too, but not always the
    /// other way round).
    #[default]
    Sliding,
    /// Each whole second from the sandbox's start, the count reset at its
    /// turn: a burst at the end of one second and the start of the next
    /// passes twice the limit within one second.
    Fixed,
}

impl Default for RateLimit {
    /// 10 per second and method, 429 without `Retry-After`: the public spec.
    fn default() -> Self {
        Self {
            per_second: 10,
            retry_after: false,
            window: Window::Sliding,
        }
    }
}

const WINDOW: Duration = Duration::from_secs(1);

/// The requests counted per method: in the last second (sliding), or in
/// the current whole second (fixed).
#[derive(Debug)]
pub struct Buckets {
    sent: HashMap<Method, VecDeque<Instant>>,
    /// Where whole seconds are counted from (fixed windows).
    start: Instant,
}

impl Default for Buckets {
    fn default() -> Self {
        Self::starting(Instant::now())
    }
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
    /// Counting whole seconds from `start`.
    pub fn starting(start: Instant) -> Self {
        Self {
            sent: HashMap::new(),
            start,
        }
    }

    pub fn check(&mut self, limit: u32, window: Window, method: &Method, now: Instant) -> Verdict {
        // When the requests counted now began to count, and when the oldest
        // of them stops counting.
        let since = now.duration_since(self.start);
        let second_began =
            now - Duration::from_nanos((since.as_nanos() % WINDOW.as_nanos()) as u64);
        let q = self.sent.entry(method.clone()).or_default();
        while q.front().is_some_and(|t| match window {
            Window::Sliding => now.duration_since(*t) >= WINDOW,
            Window::Fixed => *t < second_began,
        }) {
            q.pop_front();
        }
        let used = q.len() as u32;
        let allowed = used < limit;
        if allowed {
            q.push_back(now);
        }
        let retry_after = match window {
            Window::Sliding => q
                .front()
                .map(|t| WINDOW.saturating_sub(now.duration_since(*t)))
                .unwrap_or_default(),
            Window::Fixed => (second_began + WINDOW).duration_since(now),
        };
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
    /// The `Content-Type` it declared.
    pub content_type: Option<String>,
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
            content_type: text(header::CONTENT_TYPE),
        }
    }

    /// Whether a write declares the JSON it carries, as the integration
    /// guide's requests do (`Content-Type: application/json`; parameters
    /// such as `charset` aside): a strict front end answers anything else,
    /// or nothing, `415 Unsupported Media Type` (Gladly's does not say it
    /// is lenient, so the sandbox is not).
    pub fn declares_json(&self, method: &Method) -> bool {
        let writes = matches!(*method, Method::POST | Method::PATCH | Method::PUT);
        !writes
            || self.content_type.as_deref().is_some_and(|t| {
                t.split(';')
                    .next()
                    .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
            })
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
    fn a_fixed_window_resets_on_the_second() {
        let t0 = Instant::now();
        let mut b = Buckets::starting(t0);
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        for ms in [700, 800, 900] {
            assert!(b.check(3, Window::Fixed, &Method::GET, at(ms)).allowed);
        }
        let refused = b.check(3, Window::Fixed, &Method::GET, at(950));
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after, Duration::from_millis(50));
        // The second turned: three more within 300 ms of the first three.
        for (i, ms) in [1_000, 1_010, 1_020].into_iter().enumerate() {
            let v = b.check(3, Window::Fixed, &Method::GET, at(ms));
            assert!(v.allowed);
            assert_eq!(v.remaining, 2 - i as u32);
        }
        assert!(!b.check(3, Window::Fixed, &Method::GET, at(1_999)).allowed);
        // The same requests through a sliding window: refused at 1,000.
        let mut s = Buckets::starting(t0);
        for ms in [700, 800, 900] {
            assert!(s.check(3, Window::Sliding, &Method::GET, at(ms)).allowed);
        }
        assert!(!s.check(3, Window::Sliding, &Method::GET, at(1_000)).allowed);
    }

    #[test]
    fn the_window_slides_per_method() {
        let mut b = Buckets::default();
        let t0 = Instant::now();
        for i in 0..3 {
            let v = b.check(
                3,
                Window::Sliding,
                &Method::GET,
                t0 + Duration::from_millis(i * 100),
            );
            assert!(v.allowed);
            assert_eq!(v.remaining, 2 - i as u32);
        }
        let refused = b.check(
            3,
            Window::Sliding,
            &Method::GET,
            t0 + Duration::from_millis(900),
        );
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after, Duration::from_millis(100));
        assert!(
            b.check(3, Window::Sliding, &Method::POST, t0).allowed,
            "POST has its own bucket"
        );
        assert!(
            b.check(
                3,
                Window::Sliding,
                &Method::GET,
                t0 + Duration::from_millis(1000)
            )
            .allowed
        );
    }

    #[test]
    fn writes_need_a_length_and_no_chunking() {
        let f = |cl: Option<&str>, te: Option<&str>| Framing {
            content_length: cl.map(str::to_string),
            transfer_encoding: te.map(str::to_string),
            content_type: None,
        };
        assert!(f(Some("12"), None).acceptable(&Method::POST, false));
        assert!(!f(None, Some("chunked")).acceptable(&Method::PATCH, false));
        assert!(f(None, Some("chunked")).acceptable(&Method::PATCH, true));
        assert!(!f(None, None).acceptable(&Method::POST, false));
        assert!(f(None, None).acceptable(&Method::GET, false));
    }

    #[test]
    fn writes_must_declare_json() {
        let f = |ct: Option<&str>| Framing {
            content_type: ct.map(str::to_string),
            ..Framing::default()
        };
        for ok in ["application/json", "Application/JSON; charset=utf-8"] {
            assert!(f(Some(ok)).declares_json(&Method::POST), "{ok}");
        }
        for refused in [None, Some("text/plain"), Some("application/jsonx")] {
            assert!(!f(refused).declares_json(&Method::PATCH), "{refused:?}");
        }
        assert!(f(None).declares_json(&Method::GET), "a GET has no body");
    }
}
