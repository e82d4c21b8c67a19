//! The domain error a workflow branches on; mirrors the WIT `error` variant.

use thiserror::Error;

#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum Error {
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("conflict: {message}")]
    Conflict {
        message: String,
        agent_ids: Vec<String>,
    },
    #[error("rate limited: {message}")]
    RateLimited {
        retry_after_ms: Option<u64>,
        attempts: u32,
        message: String,
    },
    #[error("invalid input in {field}: {message}")]
    InvalidInput { field: String, message: String },
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("upstream error (HTTP {status}): {message}")]
    Upstream {
        status: u16,
        message: String,
        body_excerpt: String,
    },
    #[error("transport: {0}")]
    Transport(String),
}

impl Error {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidInput {
            field: field.into(),
            message: message.into(),
        }
    }

    /// Removes credentials from the text the error carries, so that a server
    /// echoing a request back cannot leak one through an error. `everywhere`
    /// are removed from all of it; `from_server` (the raw token, which may be
    /// as short as a letter) only from what came from the server or the host,
    /// marked by [`untrusted`], so that the connector's own words stay
    /// readable whatever the token is.
    pub fn scrub(self, everywhere: &[&str], from_server: &[&str]) -> Self {
        let clean = |s: String| scrub_text(&s, everywhere, from_server);
        match self {
            Self::Unauthorized(m) => Self::Unauthorized(clean(m)),
            Self::Forbidden(m) => Self::Forbidden(clean(m)),
            Self::NotFound(m) => Self::NotFound(clean(m)),
            Self::Conflict { message, agent_ids } => Self::Conflict {
                message: clean(message),
                agent_ids,
            },
            Self::RateLimited {
                retry_after_ms,
                attempts,
                message,
            } => Self::RateLimited {
                retry_after_ms,
                attempts,
                message: clean(message),
            },
            Self::InvalidInput { field, message } => Self::InvalidInput {
                field,
                message: clean(message),
            },
            Self::Unsupported(m) => Self::Unsupported(clean(m)),
            Self::Upstream {
                status,
                message,
                body_excerpt,
            } => Self::Upstream {
                status,
                message: clean(message),
                body_excerpt: clean(body_excerpt),
            },
            Self::Transport(m) => Self::Transport(clean(m)),
        }
    }
}

const REDACTED: &str = "<redacted>";
/// Brackets around text from outside (private-use characters no server text
/// keeps: [`untrusted`] removes them from what it wraps).
const OPEN: char = '\u{E000}';
const CLOSE: char = '\u{E001}';

/// Marks `text`, which came from the server or the host, for [`Error::scrub`]
/// to remove every credential from. The marks are gone once scrubbed.
pub fn untrusted(text: &str) -> String {
    let inner: String = text.chars().filter(|c| *c != OPEN && *c != CLOSE).collect();
    format!("{OPEN}{inner}{CLOSE}")
}

/// Scrubs `text`: `everywhere` from all of it, `from_server` too inside the
/// marks of [`untrusted`]; the marks are dropped.
fn scrub_text(text: &str, everywhere: &[&str], from_server: &[&str]) -> String {
    let all: Vec<&str> = everywhere.iter().chain(from_server).copied().collect();
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let (ours, after) = rest.split_once(OPEN).unwrap_or((rest, ""));
        out.push_str(&redact(ours, everywhere));
        let (theirs, after) = after.split_once(CLOSE).unwrap_or((after, ""));
        out.push_str(&redact_basic(&redact(theirs, &all)));
        rest = after;
    }
    out
}

/// Replaces every occurrence of any of `secrets` in `text` with
/// `<redacted>`, in one pass, longest secret first at each position, so
/// that the marker itself is never searched again: a one-letter token must
/// not mangle the `<redacted>` written for a longer one, nor one written by
/// an earlier pass.
pub fn redact(text: &str, secrets: &[&str]) -> String {
    let mut secrets: Vec<&str> = secrets.iter().copied().filter(|s| !s.is_empty()).collect();
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    'scan: while let Some(ch) = rest.chars().next() {
        // A marker already written stays whole: scrubbing twice (a message
        // scrubbed, then wrapped and scrubbed again) changes nothing.
        if let Some(after) = rest.strip_prefix(REDACTED) {
            out.push_str(REDACTED);
            rest = after;
            continue;
        }
        for secret in &secrets {
            if let Some(after) = rest.strip_prefix(secret) {
                out.push_str(REDACTED);
                rest = after;
                continue 'scan;
            }
        }
        out.push(ch);
        rest = &rest[ch.len_utf8()..];
    }
    out
}

/// Redacts what follows `Basic ` when it is a credential, in text from the
/// server: when the host completes the credential the component never knows
/// its value, so a server echoing the header back is caught by its shape,
/// padded base64 that decodes to `user:secret`. Words (`Basic auth`) are
/// left alone.
fn redact_basic(text: &str) -> String {
    use base64::Engine as _;
    const BASIC: &str = "Basic ";
    let is_b64 = |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=');
    let is_credential = |candidate: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(candidate)
            .is_ok_and(|pair| pair.contains(&b':'))
    };
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(BASIC) {
        let (before, from) = rest.split_at(at + BASIC.len());
        out.push_str(before);
        let len = from.find(|c| !is_b64(c)).unwrap_or(from.len());
        if is_credential(&from[..len]) {
            out.push_str(REDACTED);
            rest = &from[len..];
        } else {
            rest = from;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_basic_credential_echoed_by_the_server_is_redacted_by_its_shape() {
        // base64("api:real-token"), and base64("u:t"), the shortest.
        let echoed = untrusted(
            "denied: Basic YXBpOnJlYWwtdG9rZW4= (bad); Basic dTp0, Basic auth, Basic authentication",
        );
        let e = Error::Transport(format!("Basic {echoed}"));
        let got = e.scrub(&["OBELISK_SECRET_00"], &[]).to_string();
        assert!(
            !got.contains("YXBpOnJlYWwtdG9rZW4") && !got.contains("dTp0"),
            "{got}"
        );
        assert!(
            got.contains(
                "Basic <redacted> (bad); Basic <redacted>, Basic auth, Basic authentication"
            ),
            "{got}"
        );
    }

    #[test]
    fn a_one_letter_token_leaves_messages_readable() {
        let echoed = untrusted("Authorization: Basic dTp0, token t");
        let e = Error::Transport(format!("GET /api/v1/agents got no answer: {echoed}"));
        let got = e.scrub(&["Basic dTp0", "dTp0"], &["t"]).to_string();
        assert_eq!(
            got,
            "transport: GET /api/v1/agents got no answer: Au<redacted>horiza<redacted>ion: <redacted>, <redacted>oken <redacted>",
            "our words must stay readable, and the marker must not be searched again"
        );
        assert!(!got.contains("<redac<"), "mangled: {got}");
        // Scrubbing again (errors are scrubbed where they arise and again
        // where they leave the core) changes nothing.
        let twice = Error::Transport(got.trim_start_matches("transport: ").into())
            .scrub(&["Basic dTp0", "dTp0"], &["t"])
            .to_string();
        assert_eq!(twice, got);
    }

    #[test]
    fn longer_secrets_win_and_every_one_is_removed() {
        let text = "Authorization: Basic YWJjOnNlY3JldA== and secret and YWJjOnNlY3JldA==";
        let got = redact(
            text,
            &["secret", "Basic YWJjOnNlY3JldA==", "YWJjOnNlY3JldA=="],
        );
        assert_eq!(
            got,
            "Authorization: <redacted> and <redacted> and <redacted>"
        );
        assert_eq!(redact("é€ x", &["€"]), "é<redacted> x");
        assert_eq!(redact("nothing", &[""]), "nothing");
    }

    #[test]
    fn server_text_cannot_close_its_marks_early() {
        // A server that sends the closing mark itself must not get the rest
        // of its text treated as the connector's own.
        let echoed = untrusted("x\u{E001} secret-token");
        let got = Error::Transport(echoed)
            .scrub(&[], &["secret-token"])
            .to_string();
        assert_eq!(got, "transport: x <redacted>");
    }
}
