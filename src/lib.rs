//! The Gladly provisioning connector.
//!
//! A plain-Rust core (`model`, `validate`, `client`, `ops`, `roster`) that does no I/O
//! of its own and talks to Gladly through [`transport::Transport`], and, on
//! `wasm32`, a thin binding layer (`component`) that exports the WIT world
//! `gladly:provisioning/connector` and supplies a wasi:http transport.
#![deny(unsafe_code)]

pub mod client;
pub mod error;
pub mod model;
pub mod ops;
pub mod roster;
pub mod scrub;
pub mod transport;
pub mod validate;

#[cfg(target_arch = "wasm32")]
mod component;

#[cfg(test)]
mod scripted;

pub use error::Error;
