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
pub mod obelisk_nodes;
pub mod ops;
pub mod pacing;
pub mod roster;
pub mod scrub;
pub mod transport;
pub mod validate;

#[cfg(target_arch = "wasm32")]
mod component;

#[cfg(test)]
mod scripted;

pub use error::Error;

#[cfg(test)]
mod version {
    /// The crate is released as the contract it implements.
    #[test]
    fn the_crate_version_is_the_contracts() {
        let contract = include_str!("../wit/connector.wit")
            .lines()
            .find_map(|l| l.trim().strip_prefix("package gladly:provisioning@"))
            .map(|v| v.trim_end_matches(';'));
        assert_eq!(
            contract,
            Some(env!("CARGO_PKG_VERSION")),
            "expected the crate version to be the WIT package's"
        );
    }
}
