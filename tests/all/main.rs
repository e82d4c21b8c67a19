//! Integration tests: the built component, loaded by the harness, against
//! the Gladly sandbox. One binary so the component is compiled once.

#[path = "../common/mod.rs"]
mod common;
mod support;

mod big_answers;
mod concurrency;
mod errors;
mod host;
mod lifecycle;
mod model;
mod node;
mod public_spec;
mod resilience;
mod roster;
mod roster_props;
mod scim;
mod scim_conformance;
mod scrub;
mod validation;
mod wasmtime_cli;
mod wire;
