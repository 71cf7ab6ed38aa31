//! Compiled components kept on disk, so that a second process loading the
//! same component does not compile it again (seconds for Cranelift, against
//! milliseconds to map a compiled artifact), nor ask it to describe itself
//! (an instance, a call, and a hundred kilobytes of JSON Schemas parsed).
//!
//! An entry is named by the SHA-256 of the component's bytes and the
//! engine's compatibility hash (wasmtime version and every setting that
//! changes the machine code) with the host's version, so a changed
//! component, engine or host never finds an old entry. An entry is two
//! files: the compiled artifact exactly as wasmtime wrote it (`.cwasm`),
//! which a load maps rather than copies, and a note beside it (`.meta`)
//! holding the artifact's checksum and length (CRC-32: it runs at memory
//! speed, where SHA-256 took a tenth of a warm start), the hash of the
//! component it was compiled from, and the component's description of
//! itself (`describe` is the same for the same component). A load checks
//! the note and the artifact before wasmtime sees the bytes, and wasmtime
//! checks its own header. Any entry that fails a check is compiled again
//! and replaced, never used.
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
/// The first bytes of every note: the format and its version.
const MAGIC: &[u8; 8] = b"HHCMETA1";
const DIGEST_LEN: usize = 32;
/// Magic, the artifact's checksum and length, the component's hash; then
/// the description.
const HEADER_LEN: usize = MAGIC.len() + 4 + 8 + DIGEST_LEN;

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

/// What the cache holds for a component.
pub enum Lookup {
    /// A sound entry: the compiled component, and the description stored
    /// with it.
    Found {
        component: Component,
        description: String,
        /// Where to store a new entry, should the description be refused.
        place: Place,
    },
    /// No sound entry: compile, and store the result in `place`.
    Missing(Place),
}

/// Where the entry of one component goes.
#[derive(Debug)]
pub struct Place {
    dir: PathBuf,
    path: PathBuf,
    source: [u8; DIGEST_LEN],
    /// Why an entry that was there is not used; none when there was none.
    pub refused: Option<String>,
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

    /// The artifact file of `component`'s entry under `engine`; its note
    /// is the same path with the extension `meta`.
    pub fn entry_path(&self, engine: &Engine, component: &[u8]) -> PathBuf {
        self.entry_path_of(engine, &Sha256::digest(component).into())
    }

    fn entry_path_of(&self, engine: &Engine, source: &[u8; DIGEST_LEN]) -> PathBuf {
        let mut compat = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut compat);
        env!("CARGO_PKG_VERSION").hash(&mut compat);
        self.dir
            .join(format!("{}-{:016x}.cwasm", hex(source), compat.finish()))
    }

    /// The entry for `component`, when a sound one is there.
    pub fn lookup(&self, engine: &Engine, component: &[u8]) -> Lookup {
        let source: [u8; DIGEST_LEN] = Sha256::digest(component).into();
        let path = self.entry_path_of(engine, &source);
        let refused = match std::fs::read(path.with_extension("meta")) {
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => None,
            Err(e) => Some(format!("cannot read the entry: {e}")),
            Ok(note) => match open_entry(engine, &path, &note, &source) {
                Ok((component, description)) => {
                    tracing::debug!(entry = %path.display(), "compiled component taken from the cache");
                    return Lookup::Found {
                        component,
                        description,
                        place: Place {
                            dir: self.dir.clone(),
                            path,
                            source,
                            refused: None,
                        },
                    };
                }
                Err(reason) => Some(reason),
            },
        };
        if let Some(reason) = &refused {
            tracing::warn!(entry = %path.display(), %reason, "compiled-component cache entry refused; compiling again");
        }
        Lookup::Missing(Place {
            dir: self.dir.clone(),
            path,
            source,
            refused,
        })
    }
}

impl Place {
    /// Stores `compiled` and its `description`, and says how the load got
    /// its component. A cache that cannot be written is logged and
    /// otherwise ignored: the load still succeeds.
    pub fn store(self, compiled: &Component, description: &str) -> Compilation {
        let stored = self.write(compiled, description);
        if let Err(e) = &stored {
            tracing::warn!(dir = %self.dir.display(), error = %e, "cannot store the compiled component");
        }
        match (self.refused, stored) {
            (Some(reason), _) => Compilation::Recompiled { reason },
            (None, Ok(())) => Compilation::CompiledAndStored,
            (None, Err(_)) => Compilation::Compiled,
        }
    }

    /// Writes the artifact, then its note, each beside its final name and
    /// renamed into place, so a reader never sees half a file; a reader
    /// between the two renames finds a note that does not match the
    /// artifact, and compiles.
    fn write(&self, compiled: &Component, description: &str) -> std::io::Result<()> {
        let artifact = compiled
            .serialize()
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        create_private_dir(&self.dir)?;
        write_into_place(&self.dir, &self.path, |file| file.write_all(&artifact))?;
        write_into_place(&self.dir, &self.path.with_extension("meta"), |file| {
            file.write_all(MAGIC)?;
            file.write_all(&crc32fast::hash(&artifact).to_le_bytes())?;
            file.write_all(&(artifact.len() as u64).to_le_bytes())?;
            file.write_all(&self.source)?;
            file.write_all(description.as_bytes())
        })
    }
}

/// Writes a new file with `write` and renames it to `path`.
fn write_into_place(
    dir: &Path,
    path: &Path,
    write: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let (temp_path, mut file) = tempfile_in(dir)?;
    let written = write(&mut file)
        .and_then(|()| file.sync_all())
        .and_then(|()| std::fs::rename(&temp_path, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temp_path);
    }
    written
}

/// Checks an entry's note and its artifact, then maps the artifact; the
/// compiled component and the description the note holds.
fn open_entry(
    engine: &Engine,
    artifact: &Path,
    note: &[u8],
    source: &[u8],
) -> Result<(Component, String), String> {
    if note.len() < HEADER_LEN || &note[..MAGIC.len()] != MAGIC {
        return Err("not an entry of this format (wrong header or truncated)".into());
    }
    let (checksum, rest) = note[MAGIC.len()..].split_at(4);
    let (length, rest) = rest.split_at(8);
    let (compiled_from, description) = rest.split_at(DIGEST_LEN);
    if compiled_from != source {
        return Err("compiled from another component".into());
    }
    let description = std::str::from_utf8(description)
        .map_err(|_| "the entry's description is not UTF-8")?
        .to_string();
    let expected = u64::from_le_bytes(length.try_into().expect("eight bytes"));
    let (found, length) =
        checksum_of(artifact).map_err(|e| format!("cannot read the artifact: {e}"))?;
    if length != expected || found.to_le_bytes() != checksum {
        return Err("checksum mismatch: the entry is damaged".into());
    }
    // SAFETY: the artifact is byte for byte what `Component::serialize`
    // wrote for this component (its checksum and length match) into a
    // directory only the host's user can write; wasmtime refuses an
    // artifact of another engine version or configuration.
    let component = unsafe { Component::deserialize_file(engine, artifact) }
        .map_err(|e| format!("wasmtime refused the artifact: {e}"))?;
    Ok((component, description))
}

/// The CRC-32 and length of a file, read in pieces.
fn checksum_of(path: &Path) -> std::io::Result<(u32, u64)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = crc32fast::Hasher::new();
    let mut buffer = vec![0u8; 256 * 1024];
    let mut length = 0u64;
    loop {
        let n = std::io::Read::read(&mut file, &mut buffer)?;
        if n == 0 {
            return Ok((hasher.finalize(), length));
        }
        hasher.update(&buffer[..n]);
        length += n as u64;
    }
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
