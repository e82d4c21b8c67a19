//! Helpers shared by the integration test binaries (`tests/all`,
//! `tests/obelisk`), each of which includes this file.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `cmd` to its end; its stdout. Fails the test, showing both outputs,
/// if it cannot start or does not succeed.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Builds `tests/rogue-guest` (a component that misbehaves on purpose) for
/// wasm32-wasip2 into `target/guest`, its own target directory so that this
/// cargo never waits for the one running the tests; the component's path.
pub fn build_rogue_guest() -> PathBuf {
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let target = root.join("target/guest");
    run(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args([
                "build",
                "--release",
                "--target",
                "wasm32-wasip2",
                "--manifest-path",
            ])
            .arg(root.join("tests/rogue-guest/Cargo.toml"))
            .arg("--target-dir")
            .arg(&target)
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS"),
    );
    target.join("wasm32-wasip2/release/rogue_guest.wasm")
}
