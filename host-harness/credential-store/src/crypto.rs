//! AES-256-GCM with a random 96-bit nonce per value. A sealed value is
//! `nonce || ciphertext || tag`; its place in the store is the associated data.

use crate::key::MasterKey;
use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};

const NONCE_LEN: usize = 12;

pub struct Cipher(Aes256Gcm);

/// A sealed value did not open: wrong key, or changed bytes.
#[derive(Debug)]
pub struct OpenError;

impl Cipher {
    pub fn new(key: &MasterKey) -> Cipher {
        Cipher(Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key.bytes())))
    }

    pub fn seal(&self, plaintext: &[u8], place: &str) -> Vec<u8> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = self
            .0
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: place.as_bytes(),
                },
            )
            .expect("AES-GCM encryption of an in-memory value cannot fail");
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    pub fn open(&self, sealed: &[u8], place: &str) -> Result<Vec<u8>, OpenError> {
        if sealed.len() < NONCE_LEN {
            return Err(OpenError);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        self.0
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: place.as_bytes(),
                },
            )
            .map_err(|_| OpenError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_open_only_with_the_key_and_in_their_place() {
        let cipher = Cipher::new(&MasterKey::generate());
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
            Cipher::new(&MasterKey::generate())
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
        let cipher = Cipher::new(&MasterKey::generate());
        assert_ne!(cipher.seal(b"same", "p"), cipher.seal(b"same", "p"));
    }
}
