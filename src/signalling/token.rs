//! Resume tokens: what a client presents to get its seat back after a drop.
//!
//! A token is signed rather than looked up so that a *restarted* server given the same secret
//! can still recognise it; the hub adds single-use on top while it remembers the session.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{
    private_room::RoomId,
    protocol::{MemberId, ResumeToken},
    Timestamp,
};

const VERSION: u8 = 1;
/// version, nonce, issued, expires, id length.
const FIXED_LEN: usize = 1 + 16 + 8 + 8 + 1;

/// What a token says about its holder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claims {
    pub id: MemberId,
    /// The room, with its verifier if private: a token of a public room resumes nothing in a
    /// private room of the same name, nor the other way round.
    pub room: RoomId,
    /// 128 random bits, so that tokens cannot be guessed and the newest one can be told apart.
    pub nonce: u128,
    pub issued: Timestamp,
    pub expires: Timestamp,
}

/// Signs and verifies tokens with HMAC-SHA256 under the server's secret.
#[derive(Clone)]
pub struct TokenSigner {
    mac: Hmac<Sha256>,
}

impl TokenSigner {
    pub fn new(secret: &[u8]) -> Self {
        Self {
            // HMAC accepts keys of any length (long keys are hashed), so this cannot fail.
            mac: Hmac::new_from_slice(secret).expect("HMAC takes keys of any length"),
        }
    }

    pub fn sign(&self, claims: &Claims) -> ResumeToken {
        let id = claims.id.as_str().as_bytes();
        let room = claims.room.encode();
        let room = room.as_bytes();
        // Ids longer than 255 bytes never come from this server; truncating keeps the layout
        // well-formed, and the truncated token then simply fails to resume.
        let id = &id[..id.len().min(u8::MAX as usize)];
        let mut body = Vec::with_capacity(FIXED_LEN + id.len() + room.len());
        body.push(VERSION);
        body.extend_from_slice(&claims.nonce.to_be_bytes());
        body.extend_from_slice(&claims.issued.0.to_be_bytes());
        body.extend_from_slice(&claims.expires.0.to_be_bytes());
        body.push(id.len() as u8);
        body.extend_from_slice(id);
        body.extend_from_slice(room);

        let mut mac = self.mac.clone();
        mac.update(&body);
        let tag = mac.finalize().into_bytes();
        ResumeToken::new(format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&body),
            URL_SAFE_NO_PAD.encode(tag)
        ))
    }

    /// The token's claims if this server's secret signed it. Expiry is the caller's business:
    /// the core passes time in.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        let (body, tag) = token.split_once('.')?;
        let body = URL_SAFE_NO_PAD.decode(body).ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        let mut mac = self.mac.clone();
        mac.update(&body);
        mac.verify_slice(&tag).ok()?;

        if body.len() < FIXED_LEN || body[0] != VERSION {
            return None;
        }
        let number = |range: std::ops::Range<usize>| -> Option<u64> {
            Some(u64::from_be_bytes(body.get(range)?.try_into().ok()?))
        };
        let nonce = u128::from_be_bytes(body.get(1..17)?.try_into().ok()?);
        let issued = Timestamp(number(17..25)?);
        let expires = Timestamp(number(25..33)?);
        let id_len = usize::from(body[33]);
        let id = std::str::from_utf8(body.get(FIXED_LEN..FIXED_LEN + id_len)?).ok()?;
        let room = std::str::from_utf8(body.get(FIXED_LEN + id_len..)?).ok()?;
        Some(Claims {
            id: MemberId::new(id),
            room: RoomId::decode(room)?,
            nonce,
            issued,
            expires,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signalling::{RoomName, RoomVerifier};

    fn claims() -> Claims {
        Claims {
            id: MemberId::new("0123456789abcdef0123456789abcdef"),
            room: RoomId::public(RoomName::parse("home").unwrap()),
            nonce: 0xfeed_beef,
            issued: Timestamp(1_000),
            expires: Timestamp(2_000),
        }
    }

    #[test]
    fn a_signed_token_verifies_to_its_claims() {
        let signer = TokenSigner::new(b"secret");
        let token = signer.sign(&claims());
        assert_eq!(signer.verify(token.as_str()), Some(claims()));
    }

    #[test]
    fn another_secret_or_a_changed_byte_fails() {
        let token = TokenSigner::new(b"secret").sign(&claims());
        assert_eq!(TokenSigner::new(b"other").verify(token.as_str()), None);

        let mut tampered = token.as_str().to_string();
        let flipped = if tampered.starts_with('A') { "B" } else { "A" };
        tampered.replace_range(0..1, flipped);
        assert_eq!(TokenSigner::new(b"secret").verify(&tampered), None);
    }

    #[test]
    fn a_private_rooms_token_names_its_verifier() {
        let signer = TokenSigner::new(b"secret");
        let mut private = claims();
        private.room.verifier =
            Some(RoomVerifier::parse("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").unwrap());
        let token = signer.sign(&private);
        assert_eq!(signer.verify(token.as_str()), Some(private));
        assert_ne!(signer.verify(token.as_str()), Some(claims()));
    }

    #[test]
    fn garbage_is_not_a_token() {
        let signer = TokenSigner::new(b"secret");
        for garbage in ["", ".", "abc", "abc.def", "..", "%%%.%%%"] {
            assert_eq!(signer.verify(garbage), None, "{garbage}");
        }
    }
}
