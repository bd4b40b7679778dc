//! Encryption at rest for secrets Lectern must read back (GitHub tokens, webhook secrets):
//! XChaCha20-Poly1305 with a key derived from `LECTERN_SECRET_KEY`, random nonces, and the
//! row each value belongs to as associated data, so a ciphertext copied to another row does
//! not decrypt.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use rand::RngCore as _;
use sha2::Sha256;

use crate::config::Secret;

/// Format version, the first byte of every sealed value.
const VERSION: u8 = 1;
const NONCE_LEN: usize = 24;

/// Seals and opens secrets stored in the database.
#[derive(Clone)]
pub struct Cipher(XChaCha20Poly1305);

/// A sealed value that cannot be opened: wrong key, wrong row, or tampered with.
#[derive(Debug, thiserror::Error)]
#[error("a stored secret could not be decrypted (was LECTERN_SECRET_KEY changed?)")]
pub struct OpenError;

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cipher(****)")
    }
}

impl Cipher {
    /// Derives the encryption key from the server's secret key.
    pub fn new(secret_key: &Secret) -> Self {
        let hkdf = Hkdf::<Sha256>::new(Some(b"lectern/v1"), secret_key.expose().as_bytes());
        let mut key = [0u8; 32];
        hkdf.expand(b"encryption at rest", &mut key)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        Self(XChaCha20Poly1305::new(&key.into()))
    }

    /// Encrypts `plaintext` for the row named by `context` (e.g. `repository:42:webhook`).
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self
            .0
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: context.as_bytes(),
                },
            )
            .expect("XChaCha20-Poly1305 encryption does not fail for in-memory buffers");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Decrypts what [`Cipher::seal`] produced for the same `context`.
    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        if sealed.len() < 1 + NONCE_LEN || sealed[0] != VERSION {
            return Err(OpenError);
        }
        let (nonce, ciphertext) = sealed[1..].split_at(NONCE_LEN);
        self.0
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| OpenError)
    }
}

/// Whether `a` and `b` are equal, in a time that depends on their lengths only (for
/// comparing a presented token with the configured one).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cipher(key: &str) -> Cipher {
        Cipher::new(&Secret::new(key))
    }

    #[test]
    fn round_trips_and_hides_the_plaintext() {
        let c = cipher("0123456789abcdef0123456789abcdef");
        let sealed = c.seal("repository:1:webhook", b"hunter2-hunter2");
        assert!(!sealed.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(
            c.open("repository:1:webhook", &sealed).ok().as_deref(),
            Some(&b"hunter2-hunter2"[..])
        );
        assert_ne!(
            sealed,
            c.seal("repository:1:webhook", b"hunter2-hunter2"),
            "fresh nonce each time"
        );
    }

    #[test]
    fn refuses_another_row_another_key_or_tampering() {
        let c = cipher("0123456789abcdef0123456789abcdef");
        let sealed = c.seal("repository:1:webhook", b"s3cret");
        assert!(c.open("repository:2:webhook", &sealed).is_err());
        assert!(
            cipher("another key, also 32 characters!")
                .open("repository:1:webhook", &sealed)
                .is_err()
        );
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap_or(&mut 0) ^= 1;
        assert!(c.open("repository:1:webhook", &tampered).is_err());
        assert!(c.open("repository:1:webhook", &sealed[..10]).is_err());
    }
}
