//! Builds the connector component (the workspace root package) and the SCIM
//! gateway (`scim/gateway`) for `wasm32-wasip2` in release, once, composes
//! the gateway with the connector (wac's `plug`, the library the `wac` CLI
//! runs), and hands their paths to the harness as `GLADLY_COMPONENT_WASM`
//! and `GLADLY_SCIM_WASM`, so that the CLI and the tests carry the
//! components they were built with (after waki's
//! `test-programs/artifacts/build.rs`).
//!
//! The guest gets a target directory of its own (`target/guest`): a nested
//! cargo on the outer build's directory would wait for its own lock.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir
        .parent()
        .expect("host-harness lives in the workspace root")
        .to_path_buf();
    for path in [
        "src",
        "wit",
        "Cargo.toml",
        "Cargo.lock",
        "scim/src",
        "scim/Cargo.toml",
        "scim/gateway/src",
        "scim/gateway/Cargo.toml",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(path).display());
    }
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");

    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("guest");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "-p",
            "gladly-connector",
            "-p",
            "gladly-scim-gateway",
        ])
        .arg("--target-dir")
        .arg(&target_dir);
    // Flags and wrappers meant for this (native) build script must not leak
    // into the wasm build.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_") && key != "CARGO_HOME" && key != "CARGO_MAKEFLAGS"
            || [
                "RUSTFLAGS",
                "RUSTC_WRAPPER",
                "RUSTC_WORKSPACE_WRAPPER",
                "RUSTC",
                "RUSTDOC",
                "TARGET",
                "HOST",
                "OUT_DIR",
                "PROFILE",
                "OPT_LEVEL",
                "DEBUG",
                "NUM_JOBS",
            ]
            .contains(&key.as_ref())
        {
            cmd.env_remove(key.as_ref());
        }
    }
    let status = cmd
        .status()
        .expect("could not run cargo to build the component");
    if !status.success() {
        panic!(
            "building the connector component failed (see above). If the error is about a \
             missing `core` or `std`, install the target: `rustup target add wasm32-wasip2`"
        );
    }
    let wasm = target_dir.join("wasm32-wasip2/release/gladly_connector.wasm");
    assert!(
        wasm.exists(),
        "the component was not produced at {}",
        wasm.display()
    );
    println!("cargo:rustc-env=GLADLY_COMPONENT_WASM={}", wasm.display());

    let gateway = target_dir.join("wasm32-wasip2/release/gladly_scim_gateway.wasm");
    let scim = target_dir.join("gladly_scim.wasm");
    if let Err(e) = plug(&gateway, &wasm, &scim) {
        panic!("composing the SCIM gateway with the connector failed: {e:#}");
    }
    println!("cargo:rustc-env=GLADLY_SCIM_WASM={}", scim.display());
}

/// `wac plug socket --plug plug -o out`: the socket's imports filled by the
/// plug's exports, the socket's exports exported.
fn plug(
    socket: &std::path::Path,
    plug: &std::path::Path,
    out: &std::path::Path,
) -> anyhow::Result<()> {
    use wac_graph::types::Package;
    use wac_graph::{CompositionGraph, EncodeOptions};
    let mut graph = CompositionGraph::new();
    let socket = Package::from_file("gladly:scim-gateway", None, socket, graph.types_mut())?;
    let socket = graph.register_package(socket)?;
    let plug = Package::from_file("gladly:connector", None, plug, graph.types_mut())?;
    let plug = graph.register_package(plug)?;
    wac_graph::plug(&mut graph, vec![plug], socket)?;
    std::fs::write(out, graph.encode(EncodeOptions::default())?)?;
    Ok(())
}
