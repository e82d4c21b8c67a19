//! Requests to Gladly: authentication, retries, paging and the mapping of
//! every answer to a typed [`Error`].

use std::collections::HashSet;
use std::time::Duration;

use base64::Engine as _;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Error, Untrusted};
use crate::model::{ApiFlavor, Connection, Credential, RetryPolicy};
use crate::obelisk_nodes;
use crate::pacing::{self, Pacer, PerMethod, RateHeaders, Slots};
use crate::scrub::Secrets;
use crate::transport::{HttpRequest, HttpResponse, Method, Transport, TransportErrorKind};
use crate::validate::{self, BaseUrl};

/// Everything but RFC 3986's unreserved characters is escaped, so an id or
/// e-mail can never add a path segment or a query.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The most one call may take, every request, pacing wait and retry
/// included (but for a slot's hold at the end of a call on Obelisk,
/// [`Client::hand_over`], at most a window, 1.025 s, beyond it). Below the
/// hosts' own caps on a call (the harness's 120 s, `Limits::call_deadline`;
/// Obelisk's lock expiry, `obelisk/deployment.toml`), so that a call that
/// runs out of time answers a typed error instead of being cut off as a
/// host failure.
pub const CALL_DEADLINE: Duration = Duration::from_secs(100);

/// The largest page the lifecycle contract allows.
pub const PAGE_SIZE: u32 = 100;
/// A list longer than this many pages is taken as a server that loops.
const MAX_PAGES: usize = 10_000;
/// Pages that take half the call's deadline at Gladly's published limit: a
/// listing that runs out of time after as many is too long for one call.
const LONG_LIST_PAGES: usize = (CALL_DEADLINE.as_secs() as usize) * pacing::DEFAULT_LIMIT / 2;
const BACKOFF_BASE: Duration = Duration::from_millis(250);
const BACKOFF_CAP: Duration = Duration::from_secs(8);
/// A 429 without `Retry-After` backs off from here: Gladly counts its limit
/// per second.
const RATE_BACKOFF_BASE: Duration = Duration::from_secs(1);

pub fn encode(segment: &str) -> String {
    utf8_percent_encode(segment, SEGMENT).to_string()
}

/// A decoded page of a list.
pub struct Page<T> {
    pub items: Vec<T>,
    /// The bytes of each item's JSON, and the JSON values it holds, in
    /// order.
    pub sizes: Vec<Size>,
    pub next_cursor: Option<String>,
    pub flavor: ApiFlavor,
}

/// What an item of a list, or the items a walk keeps, cost before reading:
/// bytes of JSON, and JSON values (read, each may cost more memory than
/// its bytes: a one-letter string of 4 bytes, `"a",`, is a string of about
/// 28 in the component).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Size {
    pub bytes: usize,
    pub values: usize,
}

impl Size {
    /// What one walk keeps at most, with the page it reads.
    pub const KEPT: Self = Self {
        bytes: MAX_KEPT_BYTES,
        values: MAX_KEPT_VALUES,
    };
    /// No bound beyond an answer's own.
    const ANY: Self = Self {
        bytes: usize::MAX,
        values: usize::MAX,
    };

    fn saturating_add(self, other: Self) -> Self {
        Self {
            bytes: self.bytes.saturating_add(other.bytes),
            values: self.values.saturating_add(other.values),
        }
    }

    fn saturating_sub(self, other: Self) -> Self {
        Self {
            bytes: self.bytes.saturating_sub(other.bytes),
            values: self.values.saturating_sub(other.values),
        }
    }
}

pub struct Client<'t, T: Transport> {
    base: BaseUrl,
    authorization: String,
    /// The credentials in every form a server may echo, or, when the host
    /// completes the credential, what is known of them here.
    secrets: Secrets,
    transport: &'t mut T,
    policy: RetryPolicy,
    /// Time slept so far (pacing, backoff, `Retry-After`), against
    /// `policy.max_total_wait`.
    waited: Duration,
    /// When the call's [`CALL_DEADLINE`] ends, on the transport's monotonic
    /// clock.
    ends_at: Duration,
    /// Per method: this call's pacing to the rate limit (the rule the host
    /// also applies across calls).
    pacing: PerMethod<Pacer>,
}

/// A slot's node's settings, with the nodes that split the declared limit
/// counted from the engine's record when its API is set and no share is
/// ([`obelisk_nodes`]).
fn with_nodes<T: Transport>(slots: Slots, transport: &mut T) -> Result<Slots, Error> {
    if slots.share.is_some() {
        return Ok(slots);
    }
    match transport
        .setting(obelisk_nodes::API_VAR)
        .filter(|v| !v.trim().is_empty())
    {
        Some(api) => Ok(Slots {
            nodes: obelisk_nodes::count(transport, &api)?,
            ..slots
        }),
        None => Ok(slots),
    }
}

impl<'t, T: Transport> Client<'t, T> {
    pub fn new(
        conn: &Connection,
        transport: &'t mut T,
        policy: RetryPolicy,
    ) -> Result<Self, Error> {
        let base = validate::connection(conn)?;
        if policy.max_attempts == 0 {
            return Err(Error::invalid(
                "options.retry.max-attempts",
                "must be at least 1",
            ));
        }
        let (credential, secrets) = match &conn.credential {
            Credential::Token(token) => {
                let pair = format!("{}:{token}", conn.api_user.trim());
                let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
                (encoded, Secrets::new(&conn.api_user, token))
            }
            // The host swaps the placeholder for base64(user:token) on the
            // way out; the component never holds the token, and scrubs
            // what it can know: the user's `user:` and the shape of an
            // echoed header.
            Credential::HostCompleted(placeholder) => (
                placeholder.clone(),
                Secrets::user_only(&conn.api_user, &[placeholder]),
            ),
        };
        let host_completed = matches!(conn.credential, Credential::HostCompleted(_));
        let secrets = if omits_server_text(host_completed, |name| transport.setting(name))? {
            secrets.omitting_outside_text()
        } else {
            secrets
        };
        let authorization = format!("Basic {credential}");
        // The deadline counts from before the engine is asked how many
        // nodes share the limit (at most 2 s of it).
        let ends_at = transport.monotonic().saturating_add(CALL_DEADLINE);
        let pacing = match Slots::read(|name| transport.setting(name))? {
            Some(slots) => PerMethod::each(Pacer::slot(with_nodes(slots, transport)?)),
            None => PerMethod::default(),
        };
        Ok(Self {
            base,
            authorization,
            secrets,
            transport,
            policy,
            waited: Duration::ZERO,
            ends_at,
            pacing,
        })
    }

    pub fn base_url(&self) -> String {
        format!("{}://{}", self.base.scheme, self.base.authority)
    }

    /// Strips credentials from an error before it leaves the core.
    pub fn scrub(&self, e: Error) -> Error {
        e.scrub(&self.secrets)
    }

    /// What server text is scrubbed of, through [`Untrusted`].
    pub fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    /// Sends one request, retrying what may be retried within the policy.
    /// `path` is below `/api/v1` and already encoded.
    pub fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<HttpResponse, Error> {
        let body = body.map(|b| b.to_string().into_bytes());
        let mut headers = vec![
            ("authorization".to_string(), self.authorization.clone()),
            ("accept".to_string(), "application/json".to_string()),
        ];
        if let Some(b) = &body {
            // The length of a body already in hand, as every careful client
            // sends it: a front end that wants one answers a chunked body
            // with 411 or loses it.
            headers.push(("content-type".to_string(), "application/json".to_string()));
            headers.push(("content-length".to_string(), b.len().to_string()));
        }
        let mut request = HttpRequest {
            method,
            url: format!("{}{}", self.base.api_root(), path),
            headers,
            body,
            timeout: None,
        };
        let what = format!("{} /api/v1{}", method.as_str(), strip_query(path));
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let last = attempt >= self.policy.max_attempts;
            self.pace(method, &what, attempt - 1)?;
            let left = self.left();
            if left.is_zero() {
                return Err(Error::Transport(format!(
                    "{what} was not sent: the call's deadline of {} s ran out after {} attempt(s)",
                    CALL_DEADLINE.as_secs(),
                    attempt - 1
                )));
            }
            // However slow the answer, it may take only what is left.
            request.timeout = Some(left);
            let at = self.transport.monotonic();
            self.pacing.get_mut(method).sent(at);
            let sent = self.transport.send(&request);
            let now = self.transport.monotonic();
            self.pacing.get_mut(method).counted(at, now);
            if let Ok(resp) = &sent {
                let headers = RateHeaders::read(|name| resp.header(name));
                let pacer = self.pacing.get_mut(method);
                pacer.answered(at, now, headers, resp.status == 429);
            }
            match sent {
                Ok(resp) if resp.status == 429 => {
                    let asked = retry_after(&resp, self.transport.now_unix());
                    // Gladly's spec promises no Retry-After. When the answer
                    // declares a per-second limit, others (another node, a
                    // parallel call) hold this second's slots: a slot frees
                    // within a second, so wait about that long, jittered, and
                    // try again on an equal footing; backing off
                    // exponentially would leave the window to the others
                    // and starve this call. Otherwise back off from a second.
                    let wait = asked.unwrap_or_else(|| {
                        if resp.header("ratelimit-limit-second").is_some() {
                            pacing::WINDOW.mul_f64(0.5 + self.transport.jitter().clamp(0.0, 1.0))
                        } else {
                            self.backoff(attempt, RATE_BACKOFF_BASE)
                        }
                    });
                    let past_deadline = wait >= self.left();
                    if last
                        || past_deadline
                        || self.waited.saturating_add(wait) > self.policy.max_total_wait
                    {
                        let why = if past_deadline && !last {
                            format!(
                                "; the wait would end past the call's deadline of {} s",
                                CALL_DEADLINE.as_secs()
                            )
                        } else {
                            String::new()
                        };
                        return Err(Error::RateLimited {
                            retry_after_ms: asked.map(saturating_ms),
                            attempts: attempt,
                            message: format!(
                                "{what} was answered 429 Too Many Requests {attempt} time(s), after {} ms of waiting{why}; retry later or raise options.retry",
                                self.waited.as_millis()
                            ),
                        });
                    }
                    self.pause(wait);
                }
                Ok(resp) if method.is_idempotent() && matches!(resp.status, 502..=504) && !last => {
                    let wait = self.backoff(attempt, BACKOFF_BASE);
                    if wait >= self.left()
                        || self.waited.saturating_add(wait) > self.policy.max_total_wait
                    {
                        return Ok(resp);
                    }
                    self.pause(wait);
                }
                Ok(resp) => return Ok(resp),
                Err(e) => {
                    // A POST that may have arrived is not repeated here: the
                    // caller decides (provision looks the agent up first).
                    let retryable = match e.kind {
                        TransportErrorKind::Denied
                        | TransportErrorKind::Certificate
                        | TransportErrorKind::TooLarge => false,
                        TransportErrorKind::Connect => true,
                        TransportErrorKind::Lost => method.is_idempotent(),
                    };
                    let wait = self.backoff(attempt, BACKOFF_BASE);
                    let past_deadline = wait >= self.left();
                    if !retryable
                        || last
                        || past_deadline
                        || self.waited.saturating_add(wait) > self.policy.max_total_wait
                    {
                        let kind = match e.kind {
                            TransportErrorKind::Denied => "was refused by the host",
                            TransportErrorKind::Connect => "could not connect",
                            TransportErrorKind::Certificate => {
                                "could not connect: the organisation's TLS certificate was not accepted (it names another host, has expired, or is not signed by a CA this host trusts; a private CA can be added with --ca-file)"
                            }
                            TransportErrorKind::Lost => "got no complete answer",
                            TransportErrorKind::TooLarge => "got an answer too large to read",
                        };
                        let why = if past_deadline && retryable && !last {
                            format!(
                                ", when the call's deadline of {} s ran out",
                                CALL_DEADLINE.as_secs()
                            )
                        } else {
                            String::new()
                        };
                        return Err(self.scrub(Error::Transport(format!(
                            "{what} {kind} after {attempt} attempt(s){why}: {}",
                            Untrusted::new(e.message).scrubbed(&self.secrets)
                        ))));
                    }
                    self.pause(wait);
                }
            }
        }
    }

    /// Waits until the pacer lets the next request of `method` go: its
    /// share's spacing, and, when the last answer said this second's
    /// requests are spent, until a slot frees (but for a slot of an engine
    /// node, whose spacing keeps its node within the limit: see
    /// [`crate::pacing`]): Gladly counts 10 requests per second per method
    /// and organisation, and a request sent before then only draws a 429.
    /// Pacing is not a retry: it does not spend the retry
    /// budget (`options.retry`), which reads cannot set, so a walk of many
    /// pages is bounded by the call's deadline alone; a wait past the
    /// deadline is not slept, and the call is `rate-limited`.
    fn pace(&mut self, method: Method, what: &str, attempts: u32) -> Result<(), Error> {
        let now = self.transport.monotonic();
        let wait = self.pacing.get(method).wait(now);
        if wait.is_zero() {
            return Ok(());
        }
        if wait >= self.left() {
            return Err(Error::RateLimited {
                retry_after_ms: None,
                attempts,
                message: format!(
                    "{what} was not sent: waiting for its turn under Gladly's rate limit (this second's requests spent, or the call's share of them used) would pass the call's deadline of {} s (at Gladly's 10 requests a second, about {} pages of 100 agents fit in one call)",
                    CALL_DEADLINE.as_secs(),
                    CALL_DEADLINE.as_secs() * 10
                ),
            });
        }
        self.transport.sleep(wait);
        Ok(())
    }

    /// The call is over: when it is one slot of an engine node's calls
    /// ([`Slots`]), it holds its slot until its next request of every
    /// method it sent could go, so that the call after it in the slot may
    /// send at once (see [`crate::pacing`]).
    /// The hold is cut at the call's deadline, but never below a window
    /// (plus margin): a call ends at most a window after its deadline. Only
    /// a slot spaced further than a window (more nodes' calls than the
    /// limit) can be cut so, and the next call in it may then send before
    /// its spacing.
    pub fn hand_over(&mut self) {
        let now = self.transport.monotonic();
        let hold = [Method::Get, Method::Post, Method::Patch]
            .into_iter()
            .map(|m| self.pacing.get(m).hand_over(now))
            .max()
            .unwrap_or_default()
            .min(self.left().max(pacing::WINDOW + pacing::MARGIN));
        if !hold.is_zero() {
            self.transport.sleep(hold);
        }
    }

    /// What is left of the call's deadline.
    fn left(&mut self) -> Duration {
        self.ends_at.saturating_sub(self.transport.monotonic())
    }

    fn pause(&mut self, wait: Duration) {
        self.transport.sleep(wait);
        self.waited = self.waited.saturating_add(wait);
    }

    /// Exponential backoff from `base` with "equal jitter": half fixed,
    /// half random.
    fn backoff(&mut self, attempt: u32, base: Duration) -> Duration {
        let exp = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let full = exp.min(BACKOFF_CAP);
        full / 2 + full.mul_f64(self.transport.jitter().clamp(0.0, 1.0) / 2.0)
    }

    /// Walks every page of a list, following `nextCursor` and accepting the
    /// public spec's plain array. `query` is extra `&k=v` pairs, encoded.
    pub fn list<D: DeserializeOwned>(
        &mut self,
        path: &str,
        query: &str,
        what: &str,
        mut keep: impl FnMut(&D) -> bool,
    ) -> Result<(Vec<D>, ApiFlavor), Error> {
        let mut out = Vec::new();
        let mut kept = Size::default();
        let mut cursor: Option<String> = None;
        // A cursor seen is kept as its hash (keyed: a server cannot make
        // two cursors collide): kept whole, 10,000 pages of cursors of
        // 4,096 bytes, which a server declaring a limit of 128 a second
        // has answered within the deadline, held 40 MiB beside the items.
        let keyed = std::collections::hash_map::RandomState::new();
        let mut seen: HashSet<u64> = HashSet::new();
        for walked in 0..MAX_PAGES {
            let mut url = format!("{path}?limit={PAGE_SIZE}{query}");
            if let Some(c) = &cursor {
                url.push_str("&cursor=");
                url.push_str(&encode(c));
            }
            // A page is decoded only while it and the items kept fit what
            // one call keeps: checked after decoding, a page of 16 MiB
            // beside 12 MiB kept trapped the component.
            let result = self.page_within(&url, what, kept);
            // Out of time after pages enough for half the deadline at
            // Gladly's limit: the list is too long for one call (or never
            // ends), and a retry would walk it as far again; a workflow
            // engine retrying `rate-limited` or `transport` would retry it
            // forever. Out of time: a page not sent because its turn would
            // pass the deadline, or the deadline spent (a slow server); not
            // 429s beyond the retry budget. Fewer pages: others held the
            // limit, and later may do.
            let out_of_time = match &result {
                Err(Error::RateLimited { attempts: 0, .. }) => true,
                Err(Error::Transport(_)) => self.left() < Duration::from_secs(1),
                _ => false,
            };
            if walked >= LONG_LIST_PAGES && out_of_time {
                return Err(walk_error(format!(
                    "listing {what} did not end within the call's deadline of {} s, after {walked} pages: a list this long cannot be walked in one call",
                    CALL_DEADLINE.as_secs()
                )));
            }
            let page: Page<D> = result?;
            // Kept in place, and the first page's items become the list:
            // copied item by item into a list grown by doubling, 100,000
            // agents in one answer stood twice in memory and trapped it.
            let mut items = page.items;
            let mut sizes = page.sizes.into_iter();
            items.retain(|item| {
                let size = sizes.next().unwrap_or_default();
                let keeps = keep(item);
                if keeps {
                    kept = kept.saturating_add(size);
                }
                keeps
            });
            if out.is_empty() {
                // Not the whole page's room for the few kept.
                if items.len() < items.capacity() / 2 {
                    items.shrink_to_fit();
                }
                out = items;
            } else {
                out.append(&mut items);
            }
            if out.len() > MAX_ITEMS {
                return Err(walk_error(format!(
                    "listing {what} passed {MAX_ITEMS} items, more than one call reads"
                )));
            }
            match page.next_cursor {
                Some(next) if next.len() > MAX_CURSOR => {
                    return Err(walk_error(format!(
                        "listing {what}, Gladly returned a cursor of {} bytes, more than the {MAX_CURSOR} the connector keeps",
                        next.len()
                    )));
                }
                Some(next) if !next.is_empty() => {
                    if !seen.insert(std::hash::BuildHasher::hash_one(&keyed, next.as_str())) {
                        return Err(walk_error(format!(
                            "Gladly returned the cursor '{}' twice while listing {what}; the list cannot be walked",
                            Untrusted::new(next).scrubbed(&self.secrets)
                        )));
                    }
                    cursor = Some(next);
                }
                _ => return Ok((out, page.flavor)),
            }
        }
        Err(walk_error(format!(
            "listing {what} did not end after {MAX_PAGES} pages"
        )))
    }

    pub fn page<D: DeserializeOwned>(&mut self, url: &str, what: &str) -> Result<Page<D>, Error> {
        let resp = self.send(Method::Get, url, None)?;
        if !(200..300).contains(&resp.status) {
            return Err(self.scrub(status_error(&resp, what, &self.secrets)));
        }
        decode_page(&resp, what, Size::ANY, &self.secrets).map_err(|e| self.scrub(e))
    }

    /// A page of a walk that has kept `kept`: a page that, beside it,
    /// would pass what one call holds ([`Size::KEPT`]) in bytes or in JSON
    /// values is not read.
    fn page_within<D: DeserializeOwned>(
        &mut self,
        url: &str,
        what: &str,
        kept: Size,
    ) -> Result<Page<D>, Error> {
        let resp = self.send(Method::Get, url, None)?;
        if !(200..300).contains(&resp.status) {
            return Err(self.scrub(status_error(&resp, what, &self.secrets)));
        }
        let room = Size::KEPT.saturating_sub(kept);
        if resp.body.len() > room.bytes {
            return Err(walk_error(format!(
                "listing {what}, a page of {} bytes beside the {} bytes of items kept passes the {} MiB of items one call reads",
                resp.body.len(),
                kept.bytes,
                MAX_KEPT_BYTES >> 20
            )));
        }
        decode_page(&resp, what, room, &self.secrets).map_err(|e| self.scrub(e))
    }
}

/// A list that cannot be walked, whatever its pages said (`upstream`, with
/// Gladly's 200 and no body of its own).
fn walk_error(message: String) -> Error {
    Error::Upstream {
        status: 200,
        message,
        body_excerpt: String::new(),
    }
}

fn strip_query(path: &str) -> &str {
    path.split('?').next().unwrap_or(path)
}

/// Reads a list in either shape: `{"items": [...], "nextCursor": ...}` or a
/// plain array. Items that do not decode fail the page (a silent drop could
/// hide an agent from an offboarding run). The list is split into its items
/// without reading them, and each is read on its own (see [`parse_value`]):
/// a whole organisation in one answer (the public spec's shape) never
/// stands in memory as one `Value`. A page of more JSON values than `room`
/// allows (what its walk has left) is not read.
pub fn decode_page<D: DeserializeOwned>(
    resp: &HttpResponse,
    what: &str,
    room: Size,
    s: &Secrets,
) -> Result<Page<D>, Error> {
    use serde_json::value::RawValue;
    #[derive(serde::Deserialize)]
    struct Paged<'a> {
        #[serde(borrow, default)]
        items: Option<&'a RawValue>,
        #[serde(borrow, default, rename = "nextCursor")]
        next_cursor: Option<&'a RawValue>,
    }
    let body = &resp.body;
    let shape = |why: &str| shape_error(resp, what, Untrusted::new(why), s);
    let held = values_in(body);
    if held > MAX_LIST_VALUES {
        return Err(shape(&format!(
            "it holds about {held} JSON values, more than the {MAX_LIST_VALUES} a list may"
        )));
    }
    if held > room.values {
        return Err(walk_error(format!(
            "listing {what}, a page of about {held} JSON values beside the {} of items kept passes the {MAX_KEPT_VALUES} JSON values of items one call reads",
            MAX_KEPT_VALUES.saturating_sub(room.values)
        )));
    }
    let syntax = |e: serde_json::Error| serde_error(resp, what, &e, s);
    let (items, next_cursor, flavor) = match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => (
            serde_json::from_slice::<Vec<&RawValue>>(body).map_err(syntax)?,
            None,
            ApiFlavor::PublicSpec,
        ),
        Some(b'{') => {
            let paged: Paged = serde_json::from_slice(body).map_err(syntax)?;
            // A page without its `items` (`{}`, a proxy's message, a list
            // under another name) is no empty list: read as one, an
            // offboarding by external id found nobody, and a roster
            // planned no deactivation.
            let items = match paged.items {
                None => return Err(shape("expected a list: 'items' is missing")),
                Some(raw) => serde_json::from_slice::<Vec<&RawValue>>(raw.get().as_bytes())
                    .map_err(|_| shape("'items' is not an array"))?,
            };
            let next = match paged
                .next_cursor
                .map(|raw| parse_value(raw.get().as_bytes()))
            {
                None => None,
                Some(Ok(Value::String(cursor))) => Some(cursor),
                Some(_) => return Err(shape("'nextCursor' is not a string")),
            };
            (items, next, ApiFlavor::Lifecycle)
        }
        _ => {
            // Not a list: what it is, or why it is not JSON.
            parse_value(body).map_err(|e| shape_or_syntax(resp, what, e, s))?;
            return Err(shape("expected a list"));
        }
    };
    if items.len() > MAX_ITEMS {
        return Err(shape(&format!(
            "it holds {} items, more than the {MAX_ITEMS} one call reads",
            items.len()
        )));
    }
    let sizes = items
        .iter()
        .map(|raw| Size {
            bytes: raw.get().len(),
            values: values_in(raw.get().as_bytes()),
        })
        .collect();
    let items = items
        .into_iter()
        .map(|raw| decode_json(raw.get().as_bytes(), resp, what, s))
        .collect::<Result<_, _>>()?;
    Ok(Page {
        items,
        sizes,
        next_cursor,
        flavor,
    })
}

/// The most JSON values one answer, or one item of a list, may hold: each
/// read into a `Value` costs tens of bytes of the component's memory, and
/// a server's answer of a million zeros (2 MB) trapped it. An agent holds
/// about 30.
pub const MAX_VALUES: usize = 100_000;
/// The most a list may hold: its items are only located (8 bytes each)
/// before each is read on its own. An organisation of 20,000 agents in one
/// answer holds about 600,000.
pub const MAX_LIST_VALUES: usize = 2_000_000;
/// The most items one call keeps, over all its pages: 100,000 agents (what
/// a call can walk at Gladly's limit) of the public spec's three fields in
/// one answer (9 MB) grew the component to 63 to 71 MiB of memory (under
/// the harness's 128 MiB); 400,000 small ones in one answer trapped it.
pub const MAX_ITEMS: usize = 100_000;
/// The most bytes of items' JSON one call keeps over all its pages, with
/// the page being read: those 100,000 agents are about 16 MiB; pages of a
/// few items of 12 MiB each, each under the answer's 16 MiB, trapped it at
/// the fourth, and a page of 16 MiB beside 24 MiB kept as it was read.
pub const MAX_KEPT_BYTES: usize = 24 << 20;
/// The most JSON values of items one call keeps over all its pages, with
/// the page being read: a value may cost more memory than its bytes (a
/// one-letter string, `"a",`, 4 bytes, is a string of about 28), and pages
/// of agents of 99,000 one-letter inboxes each, within the bytes kept,
/// trapped the component at the third page. Whole agent records hold about
/// 30 each: 24 MiB of them about 1.7 million.
pub const MAX_KEPT_VALUES: usize = 2_000_000;
/// The longest cursor kept (every cursor of a walk is kept, to see one
/// repeat).
const MAX_CURSOR: usize = 4_096;

/// How many JSON values `json` holds at the most (one more than its
/// commas, colons and openings outside strings), counted without parsing.
fn values_in(json: &[u8]) -> usize {
    let (mut n, mut in_string, mut escaped) = (1usize, false, false);
    for &b in json {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else {
            match b {
                b'"' => in_string = true,
                b',' | b':' | b'[' | b'{' => n += 1,
                _ => {}
            }
        }
    }
    n
}

/// Why an answer could not be parsed.
pub enum Unparsed {
    /// It holds this many values, more than [`MAX_VALUES`].
    TooMany(usize),
    Syntax(serde_json::Error),
}

/// A server's JSON as a `Value`, if it holds no more than [`MAX_VALUES`]:
/// the one way the connector parses what a server sent.
pub fn parse_value(json: &[u8]) -> Result<Value, Unparsed> {
    let held = values_in(json);
    if held > MAX_VALUES {
        return Err(Unparsed::TooMany(held));
    }
    serde_json::from_slice(json).map_err(Unparsed::Syntax)
}

fn shape_or_syntax(resp: &HttpResponse, what: &str, e: Unparsed, s: &Secrets) -> Error {
    match e {
        Unparsed::TooMany(held) => shape_error(
            resp,
            what,
            Untrusted::new(format!(
                "it holds about {held} JSON values, more than the {MAX_VALUES} the connector reads in one"
            )),
            s,
        ),
        Unparsed::Syntax(e) => serde_error(resp, what, &e, s),
    }
}

fn shape_error(resp: &HttpResponse, what: &str, why: Untrusted, s: &Secrets) -> Error {
    Error::Upstream {
        status: resp.status,
        message: format!(
            "Gladly's answer for {what} could not be read: {}",
            why.scrubbed(s)
        ),
        body_excerpt: excerpt(&resp.body, s),
    }
}

/// A decoder's complaint quotes the value it could not read.
fn serde_error(resp: &HttpResponse, what: &str, e: &serde_json::Error, s: &Secrets) -> Error {
    shape_error(resp, what, Untrusted::new(e.to_string()), s)
}

/// Parses to a `Value` first and only then to `D`: every type then has one
/// deserializer (from `Value`) instead of two, which keeps the component small.
pub fn decode<D: DeserializeOwned>(
    resp: &HttpResponse,
    what: &str,
    s: &Secrets,
) -> Result<D, Error> {
    decode_json(&resp.body, resp, what, s)
}

/// `json` (the answer `resp`'s body, or one item of it) read as a `D`, as
/// [`decode`] reads it; what is wrong is told of `resp`.
fn decode_json<D: DeserializeOwned>(
    json: &[u8],
    resp: &HttpResponse,
    what: &str,
    s: &Secrets,
) -> Result<D, Error> {
    let value = parse_value(json).map_err(|e| shape_or_syntax(resp, what, e, s))?;
    serde_json::from_value(value).map_err(|e| serde_error(resp, what, &e, s))
}

/// The start of an answer's body, scrubbed and then cut.
pub fn excerpt(body: &[u8], s: &Secrets) -> String {
    // Only the bytes that can reach the excerpt's window (four a
    // character, and one character more, to tell a longer body) are read as
    // text: read whole, 15 MiB of bytes that are not UTF-8 became 45 MiB of
    // replacement characters and trapped the component.
    let reach = crate::error::EXCERPT
        .saturating_add(s.reach())
        .saturating_add(1)
        .saturating_mul(4);
    Untrusted::body(&body[..body.len().min(reach)]).excerpt(s)
}

/// `Retry-After` as delta-seconds or an HTTP date. A number too large for a
/// `Duration` saturates to [`Duration::MAX`] (it is never slept: it is past
/// any deadline).
pub fn retry_after(resp: &HttpResponse, now_unix: u64) -> Option<Duration> {
    let raw = resp.header("retry-after")?.trim();
    if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) {
        return Some(
            raw.parse::<u64>()
                .map_or(Duration::MAX, Duration::from_secs),
        );
    }
    if let Ok(secs) = raw.parse::<f64>()
        && secs.is_finite()
        && secs >= 0.0
    {
        return Some(Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX));
    }
    let at = httpdate::parse_http_date(raw).ok()?;
    let at = at.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    Some(Duration::from_secs(at.saturating_sub(now_unix)))
}

/// Milliseconds, saturating at `u64::MAX` instead of wrapping.
fn saturating_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Whether errors quote Gladly's own words (an error's `detail`, a
/// redirect's `Location`, an excerpt of a body, the host's transport
/// message), scrubbed, or leave them out (`omit`). Left out where nothing
/// scrubs them by the token, or where errors reach a third party:
/// - unset or empty, `omit` where the host completes the credential (the
///   component, which never holds the token, knows only its shape; Obelisk
///   stores a call's error as it is) or `GLADLY_SCIM_TOKEN` is set (the
///   component serves SCIM clients), else `quote`; a host that scrubs what
///   a call returns by the token (the harness) sets `quote`;
/// - `quote` is refused where `GLADLY_SCIM_TOKEN` is set: a SCIM client
///   could learn from what a scrub removed from words of its own that an
///   error quoted.
pub const SERVER_TEXT_VAR: &str = "GLADLY_SERVER_TEXT";

/// Reads [`SERVER_TEXT_VAR`] through `setting`: whether server text is left
/// out, for a call whose credential the host completes or not. Another
/// value is an error naming the setting (and not quoting it: a secret
/// pasted into the wrong variable is not repeated).
pub fn omits_server_text(
    host_completed: bool,
    mut setting: impl FnMut(&str) -> Option<String>,
) -> Result<bool, Error> {
    let scim = setting("GLADLY_SCIM_TOKEN").is_some_and(|t| !t.trim().is_empty());
    let value = setting(SERVER_TEXT_VAR).map(|v| v.trim().to_ascii_lowercase());
    match value.as_deref() {
        Some("omit") => Ok(true),
        Some("quote") if scim => Err(Error::invalid(
            format!("env.{SERVER_TEXT_VAR}"),
            "must be omit (or empty) where GLADLY_SCIM_TOKEN is set: errors go to SCIM clients, which must not see Gladly's words",
        )),
        Some("quote") => Ok(false),
        None | Some("") => Ok(scim || host_completed),
        Some(_) => Err(Error::invalid(
            format!("env.{SERVER_TEXT_VAR}"),
            "must be quote or omit (or empty)",
        )),
    }
}

/// How many characters of an error body's details (or attributes, or
/// codes), joined, are checked for a credential split across them (an
/// error quotes 1,000 of each).
const SPLIT_ECHO_CHECKED: usize = 64 * 1024;

/// The agent attributes Gladly may name in an error, as it spells them:
/// its id, the fields a write sends, and the profile's own.
fn agent_attr(attr: &str) -> Option<&'static str> {
    ["id", "agentProfile.bio", "agentProfile.avatarUrl"]
        .iter()
        .chain(crate::model::AGENT_FIELDS)
        .find(|a| a.eq_ignore_ascii_case(attr))
        .copied()
}

/// One entry of Gladly's error body.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct GladlyError {
    pub attr: Option<String>,
    pub code: Option<String>,
    pub detail: Option<String>,
}

impl GladlyError {
    /// The words to show a person: the detail, else the code, scrubbed.
    fn said(&self, s: &Secrets) -> Option<String> {
        self.detail
            .as_deref()
            .or(self.code.as_deref())
            .filter(|d| !d.is_empty())
            .map(|d| Untrusted::new(d).scrubbed(s))
    }
}

/// Gladly's error body, `{"errors": [{"attr", "code", "detail"}]}`, read in
/// both published forms: `errors` as a list, or as a single object. Anything
/// else (not JSON, other shapes, values that are not strings) reads as no
/// entries.
pub fn gladly_errors(body: &[u8]) -> Vec<GladlyError> {
    let Ok(v) = parse_value(body) else {
        return Vec::new();
    };
    let entries = match v.get("errors") {
        Some(Value::Array(list)) => list.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => return Vec::new(),
    };
    let text = |e: &Value, k: &str| e.get(k).and_then(Value::as_str).map(str::to_string);
    entries
        .into_iter()
        .filter(|e| e.is_object())
        .map(|e| GladlyError {
            attr: text(e, "attr"),
            code: text(e, "code"),
            detail: text(e, "detail"),
        })
        .collect()
}

/// Gladly's camelCase attribute as the WIT names the field (`emailAddress`
/// becomes `email-address`, `agentProfile.avatarUrl` becomes
/// `agent-profile.avatar-url`), so an error from Gladly names a field the
/// same way the connector's own validation does.
pub fn wit_field(attr: &str) -> String {
    let mut out = String::with_capacity(attr.len() + 4);
    let mut prev_lower = false;
    for ch in attr.chars() {
        if ch.is_ascii_uppercase() {
            if prev_lower {
                out.push('-');
            }
            out.push(ch.to_ascii_lowercase());
            prev_lower = false;
        } else {
            out.push(if ch == '_' { '-' } else { ch });
            prev_lower = ch.is_ascii_lowercase() || ch.is_ascii_digit();
        }
    }
    out
}

/// Maps a non-2xx answer to the error a workflow branches on. `what` names
/// the request in words, e.g. "agent agt_002".
pub fn status_error(resp: &HttpResponse, what: &str, s: &Secrets) -> Error {
    status_error_in(resp, what, None, s)
}

/// As [`status_error`], for a write whose body came from the WIT record
/// `record` (e.g. `agent`, `changes`): a field Gladly names is reported as
/// `record.field`.
pub fn status_error_in(
    resp: &HttpResponse,
    what: &str,
    record: Option<&str>,
    s: &Secrets,
) -> Error {
    let errors = gladly_errors(&resp.body);
    let first = errors.first();
    // A credential split across the entries, each piece too short to be
    // found alone, is found in them joined (each scrubbed first, as each is
    // quoted): their details, attributes and codes, each kind apart and all
    // in order (a token of letters and digits may be split across attrs).
    // Then none of them is quoted, nor the body they are in. Where the
    // token is not known here (the host completes the credential, and
    // scrubs each text it returns alone), such a split cannot be found: of
    // several details only the first is quoted, and the body is not.
    let details: Vec<&str> = errors.iter().filter_map(|e| e.detail.as_deref()).collect();
    let attrs: Vec<&str> = errors.iter().filter_map(|e| e.attr.as_deref()).collect();
    let codes: Vec<&str> = errors.iter().filter_map(|e| e.code.as_deref()).collect();
    let all: Vec<&str> = errors
        .iter()
        .flat_map(|e| [e.attr.as_deref(), e.code.as_deref(), e.detail.as_deref()])
        .flatten()
        .collect();
    let hides_a_credential = |pieces: &[&str]| {
        let mut joined = String::new();
        for p in pieces {
            let room = SPLIT_ECHO_CHECKED.saturating_sub(joined.chars().count());
            let p: String = p.chars().take(room).collect();
            joined.push_str(&s.scrub(&p));
        }
        s.scrub(&joined) != joined
    };
    let split_echo = [&details, &attrs, &codes, &all]
        .iter()
        .any(|pieces| hides_a_credential(pieces));
    let first_detail = errors.iter().position(|e| e.detail.is_some());
    let several = errors.iter().filter(|e| e.detail.is_some()).count() > 1;
    let one_only = several && !s.knows_token();
    let quotes = |i: usize| !split_echo && (!one_only || Some(i) == first_detail);
    let excerpt = |body: &[u8], s: &Secrets| {
        if split_echo || one_only {
            crate::error::OMITTED.to_string()
        } else {
            excerpt(body, s)
        }
    };
    let said_by = |i: usize| {
        let e = &errors[i];
        // Its detail, else its code; neither where a split was found.
        let d = if split_echo {
            e.detail
                .as_ref()
                .or(e.code.as_ref())
                .map(|_| crate::error::OMITTED.to_string())
        } else if quotes(i) || e.detail.is_none() {
            e.said(s)
        } else {
            Some(crate::error::OMITTED.to_string())
        };
        d.map(|d| format!(" Gladly said: {d}")).unwrap_or_default()
    };
    let said = first.map(|_| said_by(0)).unwrap_or_default();
    // Only a plausible field name from the server is taken (and scrubbed
    // all the same: a token may look like one).
    let plausible = |attr: &str| {
        attr.len() <= 64
            && !attr.is_empty()
            && attr
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.[]".contains(c))
    };
    let field = |attr: &str| {
        let attr = if plausible(attr) { attr } else { "request" };
        // Server text left out, or a token split across the entries: only
        // a field the connector knows is named.
        let attr = if s.omits_outside_text() || split_echo {
            agent_attr(attr).map_or_else(|| "request".to_string(), wit_field)
        } else {
            Untrusted::new(wit_field(attr)).scrubbed(s)
        };
        match record {
            Some(r) => format!("{r}.{attr}"),
            None => attr,
        }
    };
    // `taken` on a unique field is a conflict whatever the status: the
    // value belongs to another agent.
    if let Some(i) = errors.iter().position(|e| {
        e.code.as_deref() == Some("taken")
            && matches!(e.attr.as_deref(), Some("emailAddress" | "externalId"))
    }) {
        let attr = errors[i].attr.as_deref().unwrap_or_default();
        return Error::Conflict {
            message: format!(
                "{what}: the {} is taken by another agent.{}",
                field(attr),
                said_by(i)
            ),
            agent_ids: Vec::new(),
        };
    }
    if first.and_then(|e| e.code.as_deref()) == Some("moved") || (300..400).contains(&resp.status) {
        let location = resp
            .header("location")
            .map(|l| format!(" to {}", Untrusted::new(l).scrubbed(s)))
            .unwrap_or_default();
        return Error::Upstream {
            status: resp.status,
            message: format!(
                "Gladly answered {what} with a redirect (HTTP {}){location}. Redirects are never followed with credentials: if the organisation has moved, set connection.org-url to its new address.{said}",
                resp.status
            ),
            body_excerpt: excerpt(&resp.body, s),
        };
    }
    match resp.status {
        401 => Error::Unauthorized(format!(
            "Gladly refused the credentials for {what}; check connection.api-user and connection.credential.{said}"
        )),
        403 => Error::Forbidden(format!(
            "the API user may not access {what}: creating, updating and deactivating agents needs an Administrator's API token, and a token may be restricted to IP ranges.{said}"
        )),
        404 => Error::NotFound(format!("{what} does not exist in this organisation.{said}")),
        409 => Error::Conflict {
            message: format!("{what} conflicts with an existing agent.{said}"),
            agent_ids: Vec::new(),
        },
        405 | 501 => Error::Unsupported(format!(
            "this organisation's API does not allow {what} (HTTP {}).",
            resp.status
        )),
        400 | 422 => {
            let detail = |i: usize, d: &str| {
                if quotes(i) {
                    Untrusted::new(d).scrubbed(s)
                } else {
                    crate::error::OMITTED.to_string()
                }
            };
            // The first few are named (thousands of entries of long
            // details, each quoted, made a message that trapped the
            // component); the rest are counted.
            let mut problems: Vec<String> = errors
                .iter()
                .take(PROBLEMS_NAMED)
                .enumerate()
                .map(|(i, e)| {
                    let code = e.code.as_deref().map(code_meaning).unwrap_or("is invalid");
                    match (&e.attr, &e.detail) {
                        (Some(a), Some(d)) => format!("{} {code} ({})", field(a), detail(i, d)),
                        (Some(a), None) => format!("{} {code}", field(a)),
                        (None, Some(d)) => detail(i, d),
                        (None, None) => code.to_string(),
                    }
                })
                .collect();
            if let Some(more) = errors.len().checked_sub(PROBLEMS_NAMED).filter(|m| *m > 0) {
                problems.push(format!("and {more} more"));
            }
            Error::InvalidInput {
                field: first
                    .and_then(|e| e.attr.as_deref())
                    .map(field)
                    .unwrap_or_else(|| "request".to_string()),
                message: if problems.is_empty() {
                    format!("Gladly rejected {what} (HTTP {}).", resp.status)
                } else {
                    format!("Gladly rejected {what}: {}.", problems.join("; "))
                },
            }
        }
        status => Error::Upstream {
            status,
            message: format!("Gladly answered {what} with HTTP {status}.{said}"),
            body_excerpt: excerpt(&resp.body, s),
        },
    }
}

/// The most entries of a 400's `errors` an error names.
const PROBLEMS_NAMED: usize = 20;

/// What the error codes Gladly documents mean, in words.
fn code_meaning(code: &str) -> &'static str {
    match code {
        "blank" => "must not be blank",
        "invalid" => "is invalid",
        "taken" => "is already taken",
        "too_long" => "is too long",
        "wrong_length" => "has the wrong length",
        "not_a_number" => "is not a number",
        "present" => "must be blank",
        "not_exist" => "refers to something that does not exist",
        _ => "was refused",
    }
}
