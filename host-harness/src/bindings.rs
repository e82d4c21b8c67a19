//! The only place `bindgen!` runs: host-side types and calls for the
//! `gladly:provisioning/connector` world.

wasmtime::component::bindgen!({
    // The contract users program against; the same files the guest is built from.
    path: "../wit",
    world: "connector",
    // Every export is called as an async Rust function, so that calls run on
    // tokio beside the HTTP the component does through wasi:http.
    exports: { default: async },
    // So hosts (and tests) can compare answers: `agent.role == Some(Role::Admin)`.
    additional_derives: [PartialEq, Eq],
});
