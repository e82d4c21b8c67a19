#!/usr/bin/env bash
# Builds what Obelisk runs, into target/obelisk/ at the repository root:
#   gladly_activity.wasm   the connector with its Obelisk adapter (wac compose)
#   gladly_workflow.wasm   the roster reconciliation workflow
# Needs the wasm32-wasip2 target and `wac` (cargo install --locked
# wac-cli@0.12.0 --no-default-features), or $WAC naming it.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
wac="${WAC:-wac}"
out="$root/target/obelisk"
mkdir -p "$out"

cargo build --quiet --release --target wasm32-wasip2 --manifest-path "$root/Cargo.toml"
cargo build --quiet --release --target wasm32-wasip2 --manifest-path "$root/obelisk/Cargo.toml" \
    --target-dir "$root/target/obelisk-build"

release="$root/target/obelisk-build/wasm32-wasip2/release"
"$wac" compose "$root/obelisk/activity.wac" \
    --dep "gladly:connector=$root/target/wasm32-wasip2/release/gladly_connector.wasm" \
    --dep "gladly:adapter=$release/gladly_obelisk_activity.wasm" \
    -o "$out/gladly_activity.wasm"
cp "$release/gladly_obelisk_workflow.wasm" "$out/gladly_workflow.wasm"
echo "built $out/gladly_activity.wasm and $out/gladly_workflow.wasm"
