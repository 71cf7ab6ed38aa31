//! Compiled components kept on disk, so that a second process loading the
//! same component does not compile it again (seconds for Cranelift, against
//! milliseconds to map a compiled artifact).
//!
//! An entry is named by the SHA-256 of the component's bytes and the
//! engine's compatibility hash (wasmtime version and every setting that
//! changes the machine code), so a changed component or engine never finds
//! an old entry. An entry holds a checksum of the artifact and the hash of
//! the component it was compiled from; a load checks both before wasmtime
//! sees the bytes, and wasmtime checks its own header. Any entry that fails
//! a check is compiled again and replaced, never used.
//!
//! The checksum detects damage, not a forger: the directory must be
//! writable only by the host's user (it is created 0700), since whoever
//! can write a valid entry there chooses the machine code the host runs.

use sha2::{Digest, Sha256};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

/// The first bytes of every entry: the format and its version.
const MAGIC: &[u8; 8] = b"HHCWASM1";
const DIGEST_LEN: usize = 32;
const HEADER_LEN: usize = MAGIC.len() + 2 * DIGEST_LEN;

/// How a load got its compiled component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compilation {
    /// Compiled now and not stored: no cache was set, or it could not be
    /// written.
    Compiled,
    /// Compiled now and stored, as the cache had no entry.
    CompiledAndStored,
    /// Taken from the cache.
    Cached,
    /// The cache's entry failed a check (`reason`); compiled again and
    /// replaced.
    Recompiled { reason: String },
}

/// A directory of compiled components.
#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: PathBuf,
}

impl CompileCache {
    /// A cache in `dir`, created (0700) on first store.
    pub fn new(dir: impl Into<PathBuf>) -> CompileCache {
        CompileCache { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The entry file for `component` under `engine`.
    pub fn entry_path(&self, engine: &Engine, component: &[u8]) -> PathBuf {
        let mut compat = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut compat);
        self.dir.join(format!(
            "{}-{:016x}.cwasm",
            hex(&Sha256::digest(component)),
            compat.finish()
        ))
    }

    /// The compiled `component`, from the cache when a sound entry is
    /// there, else compiled and stored. A cache that cannot be written is
    /// logged and otherwise ignored: the load still succeeds.
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        component: &[u8],
    ) -> wasmtime::Result<(Component, Compilation)> {
        let path = self.entry_path(engine, component);
        let source = Sha256::digest(component);
        let reason = match std::fs::read(&path) {
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => None,
            Err(e) => Some(format!("cannot read the entry: {e}")),
            Ok(entry) => match open_entry(engine, &entry, &source) {
                Ok(compiled) => {
                    tracing::debug!(entry = %path.display(), "compiled component taken from the cache");
                    return Ok((compiled, Compilation::Cached));
                }
                Err(reason) => Some(reason),
            },
        };
        if let Some(reason) = &reason {
            tracing::warn!(entry = %path.display(), %reason, "compiled-component cache entry refused; compiling again");
        }
        let compiled = Component::new(engine, component)?;
        let stored = self.store(&path, &source, &compiled);
        if let Err(e) = &stored {
            tracing::warn!(dir = %self.dir.display(), error = %e, "cannot store the compiled component");
        }
        let compilation = match (reason, stored) {
            (Some(reason), _) => Compilation::Recompiled { reason },
            (None, Ok(())) => Compilation::CompiledAndStored,
            (None, Err(_)) => Compilation::Compiled,
        };
        Ok((compiled, compilation))
    }

    /// Writes an entry beside its final name and renames it into place, so
    /// a reader never sees half an entry.
    fn store(&self, path: &Path, source: &[u8], compiled: &Component) -> std::io::Result<()> {
        let artifact = compiled
            .serialize()
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        create_private_dir(&self.dir)?;
        let (temp_path, mut file) = tempfile_in(&self.dir)?;
        let written = (|| {
            file.write_all(MAGIC)?;
            file.write_all(&Sha256::digest(&artifact))?;
            file.write_all(source)?;
            file.write_all(&artifact)?;
            file.sync_all()?;
            std::fs::rename(&temp_path, path)
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&temp_path);
        }
        written
    }
}

/// Checks an entry and hands its artifact to wasmtime.
fn open_entry(engine: &Engine, entry: &[u8], source: &[u8]) -> Result<Component, String> {
    if entry.len() < HEADER_LEN || &entry[..MAGIC.len()] != MAGIC {
        return Err("not an entry of this format (wrong header or truncated)".into());
    }
    let (digest, rest) = entry[MAGIC.len()..].split_at(DIGEST_LEN);
    let (compiled_from, artifact) = rest.split_at(DIGEST_LEN);
    if compiled_from != source {
        return Err("compiled from another component".into());
    }
    if Sha256::digest(artifact).as_slice() != digest {
        return Err("checksum mismatch: the entry is damaged".into());
    }
    // SAFETY: the artifact is byte for byte what `Component::serialize`
    // wrote for this component (its checksum matches) into a directory only
    // the host's user can write; wasmtime refuses an artifact of another
    // engine version or configuration.
    unsafe { Component::deserialize(engine, artifact) }
        .map_err(|e| format!("wasmtime refused the artifact: {e}"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// A new file with a unique name in `dir`, readable by its owner only.
fn tempfile_in(dir: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    for attempt in 0..100u32 {
        let path = dir.join(format!(
            ".incoming-{}-{}-{attempt}",
            std::process::id(),
            rand::random::<u32>()
        ));
        match options.open(&path) {
            Ok(file) => return Ok((path, file)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("cannot create a temporary file"))
}
