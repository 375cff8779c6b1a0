//! TURN credentials that expire: the "TURN REST" scheme coturn implements as
//! `use-auth-secret`. The portals server and the TURN server share a secret; the portals
//! server hands each member a username `<expiry in Unix seconds>:<member id>` and, as its
//! password, the base64 HMAC-SHA1 of that username under the secret. The TURN server checks
//! the signature and the expiry without asking anyone, so a credential copied out of a page
//! stops opening relays after its time-to-live, and each one names the member it was made for.
//!
//! The hub mints a member's first credentials into its `welcome` and sends fresh ones (the
//! `rtc` message) before they expire; see [`TurnRest::refresh_in_ms`].

use base64::{engine::general_purpose::STANDARD, Engine};
use hmac::{Hmac, Mac};
use sha1::Sha1;

use super::{protocol::IceServer, MemberId, Timestamp};

/// Whether `url` names a TURN server (`turn:` or `turns:`), which takes credentials and
/// relays, rather than a STUN server.
pub fn is_turn_url(url: &str) -> bool {
    url.starts_with("turn:") || url.starts_with("turns:")
}

/// The shortest time-to-live: below it, a refresh would be due again before it arrived.
pub const MIN_TTL_MS: u64 = 10_000;

/// The TURN servers that take credentials signed with a shared secret, and that secret.
#[derive(Clone)]
pub struct TurnRest {
    /// `turn:` and `turns:` URLs, all behind the same secret.
    pub urls: Vec<String>,
    mac: Hmac<Sha1>,
    ttl_ms: u64,
}

impl std::fmt::Debug for TurnRest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnRest")
            .field("urls", &self.urls)
            .field("ttl_ms", &self.ttl_ms)
            .finish_non_exhaustive()
    }
}

impl TurnRest {
    /// `ttl_ms` is raised to [`MIN_TTL_MS`].
    pub fn new(urls: Vec<String>, secret: &[u8], ttl_ms: u64) -> Self {
        Self {
            urls,
            // HMAC accepts keys of any length (long keys are hashed), so this cannot fail.
            mac: Hmac::new_from_slice(secret).expect("HMAC takes keys of any length"),
            ttl_ms: ttl_ms.max(MIN_TTL_MS),
        }
    }

    /// The ICE server entry for `member`, good until `now` plus the time-to-live (rounded
    /// down to the second, as the username counts seconds).
    pub fn credentials(&self, member: &MemberId, now: Timestamp) -> IceServer {
        let expires = now.plus_ms(self.ttl_ms).0 / 1000;
        let username = format!("{expires}:{}", member.as_str());
        IceServer {
            urls: self.urls.clone(),
            credential: Some(self.sign(&username)),
            username: Some(username),
        }
    }

    /// When a connected member is sent fresh credentials: once three quarters of their life
    /// has passed, which leaves a quarter (15 minutes of the default hour) for the message to
    /// arrive and be applied before the old ones stop working.
    pub fn refresh_in_ms(&self) -> u64 {
        self.ttl_ms - self.ttl_ms / 4
    }

    fn sign(&self, username: &str) -> String {
        let mut mac = self.mac.clone();
        mac.update(username.as_bytes());
        STANDARD.encode(mac.finalize().into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_match_coturns_vector() {
        // The TURN REST draft's example, as coturn's documentation gives it.
        let turn = TurnRest::new(vec![], b"feas-static-secret", 3_600_000);
        assert_eq!(
            turn.sign("1795521387:alice"),
            "mLZrI+PWVmZ552Jk6r7pkt+kE1I="
        );
    }

    #[test]
    fn the_username_says_when_and_for_whom() {
        let turn = TurnRest::new(
            vec!["turn:turn.example.org:3478".into()],
            b"feas-static-secret",
            3_600_000,
        );
        let alice = MemberId::new("alice");
        let server = turn.credentials(&alice, Timestamp(1_795_517_787_400));
        assert_eq!(server.urls, ["turn:turn.example.org:3478"]);
        assert_eq!(server.username.as_deref(), Some("1795521387:alice"));
        assert_eq!(
            server.credential.as_deref(),
            Some("mLZrI+PWVmZ552Jk6r7pkt+kE1I=")
        );
        assert_eq!(turn.refresh_in_ms(), 2_700_000);
    }

    #[test]
    fn a_tiny_ttl_is_raised() {
        let turn = TurnRest::new(vec![], b"s", 1);
        assert_eq!(turn.refresh_in_ms(), MIN_TTL_MS - MIN_TTL_MS / 4);
    }
}
