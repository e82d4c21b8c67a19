//! The domain error a workflow branches on; mirrors the WIT `error` variant.

use std::fmt;

use thiserror::Error;

use crate::scrub::{self, Secrets};

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
    /// The same error, its message preceded by `context` (the connector's
    /// own words): what a workflow branches on stays the same, and a person
    /// reading it learns what was going on when it happened.
    pub fn after(self, context: &str) -> Self {
        self.map_text(|m| format!("{context} {m}"), |excerpt| excerpt)
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidInput {
            field: field.into(),
            message: message.into(),
        }
    }

    /// Removes credentials from the connector's own words in the error
    /// (what came from outside was scrubbed when it was let in, by
    /// [`Untrusted`]): a last pass before the error leaves the core, for
    /// words built from inputs.
    ///
    /// Where errors leave text from outside out (they go to a third party:
    /// [`crate::client::SERVER_TEXT_VAR`]), only whole forms are removed:
    /// what is left is the connector's words and the caller's own values,
    /// and were pieces removed from those, which of its values came back
    /// changed would show the caller pieces of the token.
    pub fn scrub(self, secrets: &Secrets) -> Self {
        let clean = |s: String| {
            if secrets.omits_outside_text() {
                secrets.scrub_whole(&s)
            } else {
                secrets.scrub_words(&s)
            }
        };
        self.map_text(clean, clean)
    }

    /// The same error with `message` applied to its message and `excerpt`
    /// to an upstream body excerpt; the case and its other fields stay.
    fn map_text(
        self,
        message: impl Fn(String) -> String,
        excerpt: impl Fn(String) -> String,
    ) -> Self {
        match self {
            Self::Unauthorized(m) => Self::Unauthorized(message(m)),
            Self::Forbidden(m) => Self::Forbidden(message(m)),
            Self::NotFound(m) => Self::NotFound(message(m)),
            Self::Conflict {
                message: m,
                agent_ids,
            } => Self::Conflict {
                message: message(m),
                agent_ids,
            },
            Self::RateLimited {
                retry_after_ms,
                attempts,
                message: m,
            } => Self::RateLimited {
                retry_after_ms,
                attempts,
                message: message(m),
            },
            Self::InvalidInput { field, message: m } => Self::InvalidInput {
                field,
                message: message(m),
            },
            Self::Unsupported(m) => Self::Unsupported(message(m)),
            Self::Upstream {
                status,
                message: m,
                body_excerpt,
            } => Self::Upstream {
                status,
                message: message(m),
                body_excerpt: excerpt(body_excerpt),
            },
            Self::Transport(m) => Self::Transport(message(m)),
        }
    }
}

/// The characters of a body an error quotes.
pub const EXCERPT: usize = 200;
/// What stands for text from outside that an error leaves out
/// ([`crate::client::SERVER_TEXT_VAR`]).
pub const OMITTED: &str = "<left out>";
/// The characters of a server's message (an error's `detail`, a cursor) an
/// error or warning quotes.
const QUOTE: usize = 1_000;

/// Text from outside the connector: an answer's body, a header, what a
/// server said, a decoder's complaint quoting it, the host's transport
/// message. It has no `Display`, no `Deref` and a `Debug` that hides it: it
/// becomes output only through [`Untrusted::scrubbed`] or
/// [`Untrusted::excerpt`], which remove every echo form of the credentials,
/// so no `format!` can forget to.
pub struct Untrusted(String);

impl Untrusted {
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// A body, read as UTF-8 where it is not.
    pub fn body(bytes: &[u8]) -> Self {
        Self(String::from_utf8_lossy(bytes).into_owned())
    }

    /// The text without credentials, cut to [`QUOTE`] characters after
    /// scrubbing.
    pub fn scrubbed(&self, secrets: &Secrets) -> String {
        self.cut_scrubbed(secrets, QUOTE)
    }

    /// The first [`EXCERPT`] characters, scrubbed first and cut after, so
    /// that a credential crossing the cut is removed whole rather than cut
    /// into a prefix that still decodes.
    pub fn excerpt(&self, secrets: &Secrets) -> String {
        self.cut_scrubbed(secrets, EXCERPT)
    }

    fn cut_scrubbed(&self, secrets: &Secrets, max: usize) -> String {
        if secrets.omits_outside_text() {
            return OMITTED.to_string();
        }
        // Only what can reach the cut is scrubbed (a body may be 16 MiB):
        // the cut, and beyond it the longest an echo can be.
        let window = max.saturating_add(secrets.reach());
        let text = match self.0.char_indices().nth(window) {
            Some((at, _)) => &self.0[..at],
            None => &self.0,
        };
        if text.len() < self.0.len() {
            // The window's end is a cut too, which may go through a token
            // the host alone knows (and can find only from 8 characters).
            scrub::cut_open(&secrets.scrub(text), max)
        } else {
            scrub::cut(&secrets.scrub(text), max)
        }
    }
}

impl fmt::Debug for Untrusted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Untrusted(..)")
    }
}
