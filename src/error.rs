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
        let clean = |s: String| {
            secrets
                .iter()
                .filter(|x| !x.is_empty())
                .fold(s, |acc, x| acc.replace(x, "<redacted>"))
        };
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
