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

#![allow(unsafe_code)] // `Component::deserialize` (see `load_or_compile`) and `geteuid`.

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
///
/// Compiled code is native code the process will run, so the cache is used
/// only when nobody else could have put an entry there: the directory and
/// the entry must belong to the user running the harness and be writable by
/// nobody else (checked on the opened file, not on its name, so it cannot be
/// swapped between the check and the read). Otherwise the component is
/// compiled afresh, nothing is stored, and the reason is said once per
/// process on stderr.
pub fn load_or_compile(engine: &Engine, bytes: &[u8], dir: &Path) -> anyhow::Result<Component> {
    let path = entry_path(engine, bytes, dir);
    let trusted = match trust::check_dir(dir) {
        Ok(()) => true,
        Err(trust::Refusal::Missing) => false,
        Err(why) => {
            say_once(&format!(
                "compiled-code cache {} not used ({why}); compiling afresh",
                dir.display()
            ));
            false
        }
    };
    if trusted {
        match trust::read_entry(&path) {
            Ok(Some(compiled)) => {
                // SAFETY: `deserialize` trusts the bytes to be wasmtime's own
                // output. They were read from an entry that only this user
                // can have written (`trust::read_entry` checked the opened
                // file's owner and mode, and `check_dir` the directory's),
                // under a name that binds them to these exact bytes and this
                // engine's configuration; wasmtime also checks the header's
                // version and configuration before using it.
                match unsafe { Component::deserialize(engine, &compiled) } {
                    Ok(component) => return Ok(component),
                    Err(_) => {
                        let _ = std::fs::remove_file(&path);
                    }
                }
            }
            Ok(None) => {}
            Err(why) => say_once(&format!(
                "compiled-code cache entry {} not used ({why}); compiling afresh",
                path.display()
            )),
        }
    }
    let compiled = engine.precompile_component(bytes)?;
    // SAFETY: `compiled` was produced by `precompile_component` on this very
    // engine a moment ago.
    let component = unsafe { Component::deserialize(engine, &compiled) }
        .map_err(anyhow::Error::from)
        .context("cannot load the component just compiled")?;
    let stored = create_private_dir(dir)
        .map_err(anyhow::Error::from)
        .and_then(|()| trust::check_dir(dir).map_err(|why| anyhow::anyhow!("{why}")))
        .and_then(|()| store(dir, &path, &compiled));
    if let Err(e) = stored {
        say_once(&format!(
            "compiled code not cached in {}: {e:#}",
            dir.display()
        ));
    }
    Ok(component)
}

/// Says `message` on stderr, once per process: a long-running host loading
/// many components from one untrusted cache should not repeat itself.
fn say_once(message: &str) {
    static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !SAID.swap(true, std::sync::atomic::Ordering::Relaxed) {
        eprintln!("gladly-harness: {message}");
    }
}

fn store(dir: &Path, path: &Path, compiled: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    // Write aside under a name nobody can guess, created afresh (never
    // through a link someone left there), then rename, so a reader never
    // sees half a file.
    let mut random = [0u8; 8];
    getrandom::fill(&mut random).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let tmp = dir.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        random
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    ));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = options
        .open(&tmp)
        .and_then(|mut f| f.write_all(compiled))
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e.into());
    }
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

/// Whether a cache directory and its entries can be trusted.
mod trust {
    use std::fmt;
    use std::io::Read as _;
    use std::path::Path;

    #[derive(Debug, PartialEq, Eq)]
    pub enum Refusal {
        /// The directory does not exist (yet): nothing to load.
        Missing,
        NotADirectory,
        NotARegularFile,
        /// Owned by another user (uid), not the one running the harness.
        OwnedBy(u32),
        /// Writable by the group or by others (the mode's permission bits).
        WritableByOthers(u32),
        Unreadable(String),
    }

    impl fmt::Display for Refusal {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                Self::Missing => write!(f, "it does not exist"),
                Self::NotADirectory => write!(f, "it is not a directory"),
                Self::NotARegularFile => write!(f, "it is not a regular file"),
                Self::OwnedBy(uid) => write!(
                    f,
                    "it belongs to uid {uid}, not to the user running the harness"
                ),
                Self::WritableByOthers(mode) => write!(
                    f,
                    "its mode {mode:o} lets others write to it; make it 700 (chmod go-w)"
                ),
                Self::Unreadable(e) => write!(f, "cannot read it: {e}"),
            }
        }
    }

    #[cfg(unix)]
    fn owned_and_private(meta: &std::fs::Metadata) -> Result<(), Refusal> {
        use std::os::unix::fs::MetadataExt;
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        if meta.uid() != me {
            return Err(Refusal::OwnedBy(meta.uid()));
        }
        let mode = meta.mode() & 0o7777;
        if mode & 0o022 != 0 {
            return Err(Refusal::WritableByOthers(mode));
        }
        Ok(())
    }

    #[cfg(not(unix))]
    fn owned_and_private(_: &std::fs::Metadata) -> Result<(), Refusal> {
        Ok(())
    }

    /// The directory exists, is one, belongs to this user and only this
    /// user can write to it.
    pub fn check_dir(dir: &Path) -> Result<(), Refusal> {
        let meta = match std::fs::metadata(dir) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Refusal::Missing),
            Err(e) => return Err(Refusal::Unreadable(e.to_string())),
        };
        if !meta.is_dir() {
            return Err(Refusal::NotADirectory);
        }
        owned_and_private(&meta)
    }

    /// The entry's bytes, when it exists and the opened file (not a link
    /// someone left, and checked after opening so it cannot be swapped in
    /// between) belongs to this user and only this user can write to it.
    pub fn read_entry(path: &Path) -> Result<Option<Vec<u8>>, Refusal> {
        let mut options = std::fs::OpenOptions::new();
        options.read(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.custom_flags(libc::O_NOFOLLOW);
        }
        let mut file = match options.open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Refusal::Unreadable(e.to_string())),
        };
        let meta = file
            .metadata()
            .map_err(|e| Refusal::Unreadable(e.to_string()))?;
        if !meta.is_file() {
            return Err(Refusal::NotARegularFile);
        }
        owned_and_private(&meta)?;
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        file.read_to_end(&mut bytes)
            .map_err(|e| Refusal::Unreadable(e.to_string()))?;
        Ok(Some(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A component that imports nothing, and one that imports a function:
    /// told apart by what they import.
    const PLAIN: &[u8] = b"\0asm\x0d\0\x01\0";

    fn importing() -> Vec<u8> {
        wat::parse_str(r#"(component (import "x" (func)))"#).unwrap()
    }

    fn imports(engine: &Engine, c: &Component) -> usize {
        c.component_type().imports(engine).count()
    }

    #[cfg(unix)]
    fn chmod(path: &Path, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    /// A directory others can write to may hold an entry planted under the
    /// predictable name of our component: it must not be loaded.
    #[cfg(unix)]
    #[test]
    fn entries_in_a_group_writable_directory_are_not_loaded() {
        let engine = crate::engine(crate::Allocation::OnDemand).unwrap();
        let rogue = importing();
        assert_eq!(
            imports(&engine, &Component::new(&engine, &rogue).unwrap()),
            1,
            "the planted component imports one function"
        );
        let dir = std::env::temp_dir().join(format!("gladly-cache-trust-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        create_private_dir(&dir).unwrap();
        let entry = entry_path(&engine, PLAIN, &dir);
        let planted = engine.precompile_component(&rogue).unwrap();

        // Our own private directory and entry: the entry is loaded as is
        // (which is what makes the planted one dangerous elsewhere).
        store(&dir, &entry, &planted).unwrap();
        let c = load_or_compile(&engine, PLAIN, &dir).unwrap();
        assert_eq!(imports(&engine, &c), 1, "a trusted entry is used");

        // The same entry in a group-writable directory: compiled afresh.
        chmod(&dir, 0o770);
        let c = load_or_compile(&engine, PLAIN, &dir).unwrap();
        assert_eq!(
            imports(&engine, &c),
            0,
            "expected the component compiled from its bytes, got the planted entry"
        );
        assert_eq!(
            trust::check_dir(&dir),
            Err(trust::Refusal::WritableByOthers(0o770))
        );

        // A private directory, but an entry others may write: the same.
        chmod(&dir, 0o700);
        chmod(&entry, 0o666);
        assert_eq!(
            trust::read_entry(&entry),
            Err(trust::Refusal::WritableByOthers(0o666))
        );
        let c = load_or_compile(&engine, PLAIN, &dir).unwrap();
        assert_eq!(imports(&engine, &c), 0, "a world-writable entry was loaded");

        // An entry owned by someone else (only root can make one).
        if unsafe { libc::geteuid() } == 0 {
            // (The refused entry was replaced by the code just compiled.)
            store(&dir, &entry, &planted).unwrap();
            std::os::unix::fs::chown(&entry, Some(4242), None).unwrap();
            assert_eq!(
                trust::read_entry(&entry),
                Err(trust::Refusal::OwnedBy(4242))
            );
            let c = load_or_compile(&engine, PLAIN, &dir).unwrap();
            assert_eq!(imports(&engine, &c), 0, "another user's entry was loaded");
        }
        // A link to a file is not followed.
        let _ = std::fs::remove_file(&entry);
        let elsewhere = dir.join("elsewhere.cwasm");
        std::fs::write(&elsewhere, &planted).unwrap();
        chmod(&elsewhere, 0o600);
        std::os::unix::fs::symlink(&elsewhere, &entry).unwrap();
        let c = load_or_compile(&engine, PLAIN, &dir).unwrap();
        assert_eq!(imports(&engine, &c), 0, "a link was followed");
        std::fs::remove_dir_all(&dir).unwrap();
    }

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
