//! AES-256-GCM with a random 96-bit nonce per value, under the keyring's
//! active key. A sealed value is `MAGIC || key id || nonce || ciphertext ||
//! tag`, so that whichever key sealed it is known without trying them all;
//! its place in the store is the associated data. Values sealed before keys
//! had ids (`nonce || ciphertext || tag`) still open, with any key that
//! opens them.

use crate::key::{KEY_ID_LEN, KeyId, Keyring};
use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};

const NONCE_LEN: usize = 12;
/// The first bytes of a value that names its key.
const MAGIC: [u8; 2] = [0xc5, 0x01];
const HEADER_LEN: usize = MAGIC.len() + KEY_ID_LEN;

pub struct Cipher {
    /// Every key, the active one first.
    keys: Vec<(KeyId, Aes256Gcm)>,
}

/// A sealed value did not open: wrong key, or changed bytes.
#[derive(Debug)]
pub struct OpenError;

impl Cipher {
    pub fn new(keyring: &Keyring) -> Cipher {
        Cipher {
            keys: keyring
                .keys()
                .iter()
                .map(|key| {
                    (
                        key.id(),
                        Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key.bytes())),
                    )
                })
                .collect(),
        }
    }

    /// The id of the key new values are sealed with.
    pub fn active(&self) -> KeyId {
        self.keys[0].0
    }

    /// The ids of every key, the active one first.
    pub fn ids(&self) -> Vec<KeyId> {
        self.keys.iter().map(|(id, _)| *id).collect()
    }

    pub fn seal(&self, plaintext: &[u8], place: &str) -> Vec<u8> {
        let (id, cipher) = &self.keys[0];
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: place.as_bytes(),
                },
            )
            .expect("AES-GCM encryption of an in-memory value cannot fail");
        let mut out = Vec::with_capacity(HEADER_LEN + NONCE_LEN + sealed.len());
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&id.0);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    pub fn open(&self, sealed: &[u8], place: &str) -> Result<Vec<u8>, OpenError> {
        self.open_with_id(sealed, place).map(|(plain, _)| plain)
    }

    /// Opens a value and says which key opened it.
    pub fn open_with_id(&self, sealed: &[u8], place: &str) -> Result<(Vec<u8>, KeyId), OpenError> {
        if let Some(id) = named_key(sealed)
            && let Some((_, cipher)) = self.keys.iter().find(|(k, _)| *k == id)
            && let Ok(plain) = decrypt(cipher, &sealed[HEADER_LEN..], place)
        {
            return Ok((plain, id));
        }
        // A value from before keys had ids, or (one time in 2^48) a legacy
        // nonce that happens to begin like a header.
        self.keys
            .iter()
            .find_map(|(id, cipher)| decrypt(cipher, sealed, place).ok().map(|p| (p, *id)))
            .ok_or(OpenError)
    }

    /// Whether `sealed` names the active key, and so needs no re-sealing.
    /// Cheap: nothing is decrypted.
    pub fn sealed_with_active(&self, sealed: &[u8]) -> bool {
        named_key(sealed) == Some(self.active())
    }
}

/// The key id a value's header names, if it has one.
fn named_key(sealed: &[u8]) -> Option<KeyId> {
    (sealed.len() > HEADER_LEN + NONCE_LEN && sealed[..MAGIC.len()] == MAGIC).then(|| {
        KeyId(
            sealed[MAGIC.len()..HEADER_LEN]
                .try_into()
                .expect("the header holds a key id"),
        )
    })
}

fn decrypt(cipher: &Aes256Gcm, sealed: &[u8], place: &str) -> Result<Vec<u8>, OpenError> {
    if sealed.len() < NONCE_LEN {
        return Err(OpenError);
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
    cipher
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad: place.as_bytes(),
            },
        )
        .map_err(|_| OpenError)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::MasterKey;

    fn cipher_of(keys: Vec<MasterKey>) -> Cipher {
        Cipher::new(&Keyring::new(keys, "test").unwrap())
    }

    #[test]
    fn values_open_only_with_the_key_and_in_their_place() {
        let cipher = cipher_of(vec![MasterKey::generate()]);
        let sealed = cipher.seal(b"refresh-token-value", "tokens/c1/refresh_token");
        assert!(
            !sealed.windows(5).any(|w| w == b"fresh"),
            "plaintext visible in the ciphertext"
        );
        assert_eq!(
            cipher.open(&sealed, "tokens/c1/refresh_token").unwrap(),
            b"refresh-token-value"
        );
        assert!(cipher.open(&sealed, "tokens/c2/refresh_token").is_err());
        assert!(
            cipher_of(vec![MasterKey::generate()])
                .open(&sealed, "tokens/c1/refresh_token")
                .is_err()
        );
        let mut flipped = sealed.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(cipher.open(&flipped, "tokens/c1/refresh_token").is_err());
        assert!(
            cipher
                .open(&sealed[..5], "tokens/c1/refresh_token")
                .is_err()
        );
    }

    #[test]
    fn sealing_twice_gives_different_ciphertexts() {
        let cipher = cipher_of(vec![MasterKey::generate()]);
        assert_ne!(cipher.seal(b"same", "p"), cipher.seal(b"same", "p"));
    }

    #[test]
    fn a_new_active_key_seals_while_the_old_one_still_opens_its_values() {
        let old = MasterKey::from_bytes([1; 32]);
        let new = MasterKey::from_bytes([2; 32]);
        let before = cipher_of(vec![MasterKey::from_bytes([1; 32])]);
        let sealed_old = before.seal(b"secret", "p");
        let after = cipher_of(vec![new, old]);
        let sealed_new = after.seal(b"secret", "p");
        assert!(!after.sealed_with_active(&sealed_old));
        assert!(after.sealed_with_active(&sealed_new));
        let (plain, id) = after.open_with_id(&sealed_old, "p").unwrap();
        assert_eq!((plain.as_slice(), id), (&b"secret"[..], before.active()));
        assert_eq!(
            after.open_with_id(&sealed_new, "p").unwrap().1,
            after.active()
        );
        assert!(
            before.open(&sealed_new, "p").is_err(),
            "the old key opened the new key's value"
        );
    }

    #[test]
    fn a_value_sealed_before_keys_had_ids_still_opens() {
        let key = MasterKey::from_bytes([3; 32]);
        let raw = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key.bytes()));
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let mut legacy = nonce.to_vec();
        legacy.extend(
            raw.encrypt(
                &nonce,
                Payload {
                    msg: b"old",
                    aad: b"p",
                },
            )
            .unwrap(),
        );
        let cipher = cipher_of(vec![MasterKey::generate(), key]);
        assert_eq!(cipher.open(&legacy, "p").unwrap(), b"old");
        assert!(!cipher.sealed_with_active(&legacy));
    }
}
