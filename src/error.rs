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

    /// Removes every occurrence of `secret` from the text the error carries,
    /// so that a server echoing a request back cannot leak a credential
    /// through an error.
    pub fn scrub(self, secrets: &[&str]) -> Self {
        let clean = |s: String| redact(&s, secrets);
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

/// Replaces every occurrence of any of `secrets` in `text` with
/// `<redacted>`, in one pass, longest secret first at each position, so
/// that the marker itself is never searched again: a one-letter token must
/// not mangle the `<redacted>` written for a longer one.
pub fn redact(text: &str, secrets: &[&str]) -> String {
    let mut secrets: Vec<&str> = secrets.iter().copied().filter(|s| !s.is_empty()).collect();
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    'scan: while let Some(ch) = rest.chars().next() {
        for secret in &secrets {
            if let Some(after) = rest.strip_prefix(secret) {
                out.push_str("<redacted>");
                rest = after;
                continue 'scan;
            }
        }
        out.push(ch);
        rest = &rest[ch.len_utf8()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_one_letter_token_leaves_messages_readable() {
        let e = Error::Transport("GET /api/v1/agents got no answer; token t".into());
        let got = e.scrub(&["Basic dTp0", "dTp0", "t"]).to_string();
        assert_eq!(
            got,
            "transport: GET /api/v1/agen<redacted>s go<redacted> no answer; <redacted>oken <redacted>",
            "the scrubber went back over its own marker"
        );
        assert!(!got.contains("<redac<"), "mangled: {got}");
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
}
