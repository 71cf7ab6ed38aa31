//! Master keys: from an environment variable, or from a key file that is
//! created, readable by its owner only, the first time a store is created;
//! and the keyring of several, the first sealing and every one opening,
//! that lets the key be rotated while hosts keep serving.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;
use zeroize::Zeroizing;

/// Bytes in a master key (AES-256).
pub const KEY_LEN: usize = 32;

/// A 32-byte key, wiped from memory when dropped. Never printed.
pub struct MasterKey(Zeroizing<[u8; KEY_LEN]>);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

/// Why no usable master key was found.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the master key in {source_name} is not base64 of {KEY_LEN} bytes")]
    Malformed { source_name: String },
    #[error("cannot read the master key file {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("cannot create the master key file {path}: {error}")]
    Create { path: String, error: std::io::Error },
    #[error("the master key file {path} can be read by other users (mode {mode:o}); make it 0600")]
    Permissions { path: String, mode: u32 },
}

impl MasterKey {
    /// A key from its bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> MasterKey {
        MasterKey(Zeroizing::new(bytes))
    }

    /// A fresh random key.
    pub fn generate() -> MasterKey {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        rand::fill(&mut bytes[..]);
        MasterKey(bytes)
    }

    /// Parses base64 text (surrounding whitespace ignored); `source_name`
    /// says where it came from, for the error.
    pub fn from_base64(text: &str, source_name: &str) -> Result<MasterKey, KeyError> {
        let malformed = || KeyError::Malformed {
            source_name: source_name.to_string(),
        };
        let decoded = Zeroizing::new(STANDARD.decode(text.trim()).map_err(|_| malformed())?);
        let bytes: [u8; KEY_LEN] = decoded.as_slice().try_into().map_err(|_| malformed())?;
        Ok(MasterKey::from_bytes(bytes))
    }

    /// The key as base64, to write to a key file.
    fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(STANDARD.encode(&self.0[..]))
    }

    /// Reads the key file at `path`, if it exists. A file others can read is
    /// refused.
    pub fn read_file(path: &Path) -> Result<Option<MasterKey>, KeyError> {
        read_private(path)?
            .map(|text| MasterKey::from_base64(&text, &path.display().to_string()))
            .transpose()
    }

    /// Creates a key file with a fresh key, readable and writable by its
    /// owner only. Fails if the file exists: a key is never overwritten.
    pub fn create_file(path: &Path) -> Result<MasterKey, KeyError> {
        let create_error = |error| KeyError::Create {
            path: path.display().to_string(),
            error,
        };
        if let Some(dir) = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty() && !d.is_dir())
        {
            // The data directory is its owner's alone.
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt;
                builder.mode(0o700);
            }
            builder.create(dir).map_err(create_error)?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(create_error)?;
        let key = MasterKey::generate();
        file.write_all(key.to_base64().as_bytes())
            .and_then(|()| file.write_all(b"\n"))
            .and_then(|()| file.sync_all())
            .map_err(create_error)?;
        Ok(key)
    }

    /// The same key, a second copy (as wiped on drop as the first).
    pub(crate) fn duplicate(&self) -> MasterKey {
        MasterKey::from_bytes(*self.0)
    }

    pub(crate) fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// The key's id: the first 8 hex digits of a SHA-256 of a label and the
    /// key. It names the key in each value it seals and in messages, so an
    /// operator never has to name keys, and it says nothing of the key.
    pub fn id(&self) -> KeyId {
        let digest = Sha256::new()
            .chain_update(b"host-harness master key id v1\0")
            .chain_update(&self.0[..])
            .finalize();
        KeyId(
            digest[..KEY_ID_LEN]
                .try_into()
                .expect("a digest is longer than an id"),
        )
    }
}

/// Bytes of a key id.
pub(crate) const KEY_ID_LEN: usize = 4;

/// A master key's id ([`MasterKey::id`]), shown as 8 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub(crate) [u8; KEY_ID_LEN]);

impl std::fmt::Display for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// The master keys a host holds: the first (the active key) seals every new
/// secret; each of them opens what it sealed. Rotating is putting a new key
/// first, keeping the old ones until `Store::rotate_keys` has re-sealed
/// everything under the new one.
#[derive(Debug)]
pub struct Keyring {
    keys: Vec<MasterKey>,
}

impl Keyring {
    /// A keyring of one key, active.
    pub fn single(key: MasterKey) -> Keyring {
        Keyring { keys: vec![key] }
    }

    /// A keyring of `keys`, the first active. The same key given twice
    /// counts once; none at all is refused.
    pub fn new(keys: Vec<MasterKey>, source_name: &str) -> Result<Keyring, KeyError> {
        let mut unique: Vec<MasterKey> = Vec::with_capacity(keys.len());
        for key in keys {
            if !unique.iter().any(|k| k.bytes() == key.bytes()) {
                unique.push(key);
            }
        }
        if unique.is_empty() {
            return Err(KeyError::Malformed {
                source_name: source_name.to_string(),
            });
        }
        Ok(Keyring { keys: unique })
    }

    /// Parses a list of base64 keys separated by commas, spaces or new
    /// lines (as `HOST_HARNESS_MASTER_KEYS` or a key file holds them), the
    /// first active; `source_name` says where it came from, for the error.
    pub fn from_text(text: &str, source_name: &str) -> Result<Keyring, KeyError> {
        let keys = text
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|part| !part.is_empty())
            .map(|part| MasterKey::from_base64(part, source_name))
            .collect::<Result<Vec<_>, _>>()?;
        Keyring::new(keys, source_name)
    }

    /// Reads a key file of one key or several (one per line, the first
    /// active), if it exists. A file others can read is refused.
    pub fn read_file(path: &Path) -> Result<Option<Keyring>, KeyError> {
        let Some(text) = read_private(path)? else {
            return Ok(None);
        };
        Keyring::from_text(&text, &path.display().to_string()).map(Some)
    }

    /// The key that seals.
    pub fn active(&self) -> &MasterKey {
        &self.keys[0]
    }

    /// Every key, the active one first.
    pub fn keys(&self) -> &[MasterKey] {
        &self.keys
    }

    /// The ids of every key, the active one first.
    pub fn ids(&self) -> Vec<KeyId> {
        self.keys.iter().map(MasterKey::id).collect()
    }
}

impl From<MasterKey> for Keyring {
    fn from(key: MasterKey) -> Keyring {
        Keyring::single(key)
    }
}

/// The text of a private file, if it exists; a file others can read is
/// refused.
fn read_private(path: &Path) -> Result<Option<Zeroizing<String>>, KeyError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => Zeroizing::new(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(KeyError::Read {
                path: path.display().to_string(),
                error,
            });
        }
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(KeyError::Permissions {
                    path: path.display().to_string(),
                    mode,
                });
            }
        }
    }
    Ok(Some(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_keyring_puts_its_first_key_first_and_counts_a_repeated_key_once() {
        let (a, b) = (STANDARD.encode([1u8; 32]), STANDARD.encode([2u8; 32]));
        let ring = Keyring::from_text(&format!("{b}, {a}\n{b}\n"), "x").unwrap();
        assert_eq!(ring.keys().len(), 2);
        assert_eq!(ring.active().bytes(), &[2u8; 32]);
        let ids = ring.ids();
        assert_ne!(ids[0], ids[1]);
        assert_eq!(ids[0].to_string().len(), 8);
        assert_eq!(ids[0], MasterKey::from_bytes([2u8; 32]).id());
        assert!(Keyring::from_text(" , ", "x").is_err());
        assert!(Keyring::from_text(&format!("{a},nope"), "x").is_err());
    }

    #[cfg(unix)]
    #[test]
    fn a_created_key_file_is_private_and_reads_back() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("master.key");
        let key = MasterKey::create_file(&path).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::metadata(path.parent().unwrap())
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o700
        );
        let again = MasterKey::read_file(&path).unwrap().unwrap();
        assert_eq!(key.bytes(), again.bytes());
        assert!(
            MasterKey::create_file(&path).is_err(),
            "an existing key file was overwritten"
        );
    }

    #[test]
    fn malformed_keys_are_refused_and_never_printed() {
        assert!(MasterKey::from_base64("not base64!", "HOST_HARNESS_MASTER_KEY").is_err());
        assert!(MasterKey::from_base64(&STANDARD.encode([1u8; 16]), "x").is_err());
        let key = MasterKey::from_base64(&STANDARD.encode([7u8; 32]), "x").unwrap();
        assert_eq!(format!("{key:?}"), "MasterKey(..)");
    }

    #[cfg(unix)]
    #[test]
    fn a_key_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        std::fs::write(&path, STANDARD.encode([7u8; 32])).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            MasterKey::read_file(&path),
            Err(KeyError::Permissions { .. })
        ));
    }
}
