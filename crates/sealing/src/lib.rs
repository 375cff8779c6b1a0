//! AES-256-GCM and HKDF-SHA-256 (RustCrypto's `aes-gcm` and `hkdf`) behind functions that are
//! not generic, for the private rooms of `portals` (`src/signalling/private_room.rs`).
//!
//! A crate of its own so that debug builds compile the ciphers' generic and inlined code here,
//! where `[profile.dev.package.portals-sealing]` optimises it, rather than in the app crate at
//! opt-level 0: there, sealing one 5 KB SDP took 5–8 ms of a page's main thread, and the first
//! picture of a private room paid for it on every hop. Release builds are the same either way.

#![forbid(unsafe_code)]

use aes_gcm::{
    aead::{Aead, Payload},
    Aes256Gcm, KeyInit, Nonce,
};
use hkdf::Hkdf;
use sha2::Sha256;

/// HKDF-SHA-256 (RFC 5869) of `ikm` with `salt` and `info`: 32 bytes.
pub fn hkdf_sha256(ikm: &[u8], salt: &[u8], info: &[u8]) -> [u8; 32] {
    let mut out = [0; 32];
    Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand(info, &mut out)
        // HKDF-SHA-256 gives up to 8160 bytes: 32 always can be had.
        .expect("32 bytes are within HKDF-SHA-256's output");
    out
}

/// An AES-256-GCM key, with 96-bit nonces and 128-bit tags.
#[derive(Clone)]
pub struct Aes256GcmKey(Aes256Gcm);

impl Aes256GcmKey {
    pub fn new(key: &[u8; 32]) -> Self {
        Self(Aes256Gcm::new(key.into()))
    }

    /// The ciphertext of `plaintext`, its tag at the end.
    pub fn seal(&self, nonce: &[u8; 12], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        self.0
            .encrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            // AES-GCM fails only past 64 GiB of plaintext.
            .expect("a message below AES-GCM's limit seals")
    }

    /// The plaintext, if the tag at the end of `ciphertext` verifies with `aad`.
    pub fn open(&self, nonce: &[u8; 12], aad: &[u8], ciphertext: &[u8]) -> Option<Vec<u8>> {
        self.0
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .ok()
    }
}
