//! A host that is not wasmtime: Node.js, through jco (tests/node), against
//! the sandbox. Needs `node` and `npm` (the npm registry for the first run).

use std::path::Path;
use std::process::Command;

use gladly_sandbox::{Sandbox, SandboxConfig};
use serde_json::Value;

use crate::common::run;

#[tokio::test(flavor = "multi_thread")]
async fn node_js_calls_the_component_through_jco() {
    if Command::new("node").arg("--version").output().is_err() {
        // CI has Node.js; a developer without it is told, not failed.
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs node and npm for this test"
        );
        eprintln!("skipped: node is not installed");
        return;
    }
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).join("tests/node");
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let url = sandbox.url();
    let dir2 = dir.clone();
    let stdout = tokio::task::spawn_blocking(move || {
        let dir = dir2;
        if !dir.join("node_modules/.bin/jco").exists() {
            // Not `npm ci`: npm leaves some other platforms' optional
            // packages out of the lockfile, and `ci` then refuses it.
            // `install --no-save` takes the locked versions and writes nothing.
            run(Command::new("npm")
                .args(["install", "--no-save", "--no-audit", "--no-fund"])
                .current_dir(&dir));
        }
        let out = dir.join("out");
        std::fs::create_dir_all(&out).unwrap();
        let wasm = out.join("gladly_connector.wasm");
        std::fs::write(&wasm, gladly_harness::EMBEDDED_COMPONENT).unwrap();
        run(Command::new(dir.join("node_modules/.bin/jco"))
            .args(["transpile", "--quiet", "--name", "connector", "-o"])
            .arg(&out)
            .arg(&wasm)
            .current_dir(&dir));
        run(Command::new("node")
            .arg("call.mjs")
            .current_dir(&dir)
            .env("GLADLY_ORG_URL", &url)
            .env("GLADLY_API_USER", gladly_sandbox::ADMIN_USER)
            .env("GLADLY_API_TOKEN", gladly_sandbox::ADMIN_TOKEN))
    })
    .await
    .unwrap();
    let v: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("expected JSON, got {stdout:?}: {e}"));
    assert_eq!(v["check"]["ok"]["apiFlavor"], "lifecycle", "got {v}");
    assert_eq!(v["jane"]["ok"]["id"], "agt_001", "got {v}");
    assert_eq!(v["created"]["ok"]["outcome"], "created", "got {v}");
    assert_eq!(
        v["created"]["ok"]["agent"]["inboxes"][0], "ibx_billing",
        "got {v}"
    );
    assert_eq!(v["missing"]["err"]["tag"], "not-found", "got {v}");
    assert_eq!(v["updated"]["ok"]["outcome"], "updated", "got {v}");
    assert_eq!(
        v["updated"]["ok"]["agent"]["inboxes"],
        serde_json::json!(["ibx_billing", "ibx_vip"]),
        "got {v}"
    );
    assert_eq!(v["offboarded"]["ok"]["outcome"], "deactivated", "got {v}");
    assert_eq!(v["reactivated"]["ok"]["outcome"], "reactivated", "got {v}");
    assert_eq!(sandbox.welcome_emails().len(), 1);
    // Through Node's HTTP too, every write is framed as a strict front end
    // wants it.
    crate::wire::assert_framed(&sandbox.requests(), 4);
}
