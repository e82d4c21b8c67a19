//! SCIM 2.0 (RFC 7643, RFC 7644) for Gladly, the protocol in plain Rust
//! with no I/O: routing, filters, PATCH, the mapping of Users to agents and
//! Groups to teams (and inboxes and roles), and SCIM's errors, over a
//! [`Directory`], the connector's `agents` interface. The wasi:http
//! component (`scim/gateway`) serves it; tests drive it in memory.
//!
//! Gladly has no SCIM of its own; this is the middleware its integration
//! guide says lifecycle automation needs, shaped by what Okta's and Entra
//! ID's clients really send (`../shared/SCIM-CLIENTS.md` in the project's
//! notes; the README's "SCIM 2.0" section).

#![deny(unsafe_code)]

pub mod directory;
pub mod discovery;
pub mod error;
pub mod filter;
pub mod group;
pub mod json;
pub mod patch;
pub mod path;
pub mod service;
pub mod user;

pub use directory::{Directory, DirectoryError};
pub use error::{MAX_RETRY_AFTER_SECS, ScimError};
pub use service::{BASE_PATH, Config, MIN_TOKEN_CHARS, Request, Response, handle};

#[cfg(test)]
mod tests;
