//! A cache of compiled components, so that a short-lived host (the CLI, a
//! plug-in runner) pays Cranelift once per component, not once per start.
//!
//! An entry is named by the SHA-256 of the component's bytes and by
//! wasmtime's own hash of everything in the engine that affects compiled code
//! (`Engine::precompile_compatibility_hash`, which covers wasmtime's version,
//! the target and the configuration). A changed component or wasmtime
//! therefore looks for another file and never finds stale code; wasmtime
//! checks the same again when it deserializes, and an entry it refuses is
//! compiled afresh and replaced.

#![allow(unsafe_code)] // `Component::deserialize_file`; see `load_or_compile`.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// The default cache directory: `$GLADLY_HARNESS_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/gladly-harness`, else `~/.cache/gladly-harness`.
pub fn default_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("GLADLY_HARNESS_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("gladly-harness"))
}

/// The file an entry for `bytes` compiled by `engine` lives in.
pub fn entry_path(engine: &Engine, bytes: &[u8], dir: &Path) -> PathBuf {
    let component = Sha256::digest(bytes);
    // DefaultHasher::new() has fixed keys, so the value is stable for one
    // build of the harness; if a Rust upgrade changes it, that is a miss,
    // never a stale hit (wasmtime re-checks on load).
    let mut h = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    let name = format!(
        "{}-{:016x}.cwasm",
        component
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect::<String>(),
        h.finish()
    );
    dir.join(name)
}

/// Loads the compiled form of `bytes` from `dir`, or compiles it and stores
/// it there. A cache that cannot be read or written only costs a compile.
pub fn load_or_compile(engine: &Engine, bytes: &[u8], dir: &Path) -> anyhow::Result<Component> {
    let path = entry_path(engine, bytes, dir);
    if path.is_file() {
        // SAFETY: `deserialize_file` trusts the file to be wasmtime's own
        // output. Entries are written only by `store` below, into a
        // directory created owner-only, under a name that binds them to
        // these exact bytes and this engine's configuration; wasmtime also
        // checks the header's version and configuration before using it.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => return Ok(component),
            Err(_) => {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    let compiled = engine.precompile_component(bytes)?;
    // SAFETY: `compiled` was produced by `precompile_component` on this very
    // engine a moment ago.
    let component = unsafe { Component::deserialize(engine, &compiled) }
        .map_err(anyhow::Error::from)
        .context("cannot load the component just compiled")?;
    if let Err(e) = store(dir, &path, &compiled) {
        eprintln!(
            "gladly-harness: compiled code not cached in {}: {e:#}",
            dir.display()
        );
    }
    Ok(component)
}

fn store(dir: &Path, path: &Path, compiled: &[u8]) -> anyhow::Result<()> {
    create_private_dir(dir)?;
    // Write aside and rename, so a reader never sees half a file.
    let tmp = dir.join(format!(
        ".tmp-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::write(&tmp, compiled)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })?;
    Ok(())
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_component_or_engine_config_gets_another_entry() {
        let dir = Path::new("/cache");
        let engine = crate::engine(crate::Allocation::OnDemand).unwrap();
        let a = entry_path(&engine, b"component a", dir);
        assert_eq!(a, entry_path(&engine, b"component a", dir));
        assert_ne!(a, entry_path(&engine, b"component b", dir));
        let mut other = wasmtime::Config::new();
        other.epoch_interruption(false);
        let other = Engine::new(&other).unwrap();
        assert_ne!(a, entry_path(&other, b"component a", dir));
    }
}
