//! Which resume token each member may present, and when a connected member is due a new one.
//!
//! Tokens are signed (see [`crate::signalling::token`]) so that a restarted server can read
//! them; single use comes from here, while the session is remembered. Two rules keep a
//! session from being lost for want of a token:
//! - a member whose token would expire while it stays connected (a wall that runs for days) is
//!   sent a fresh one first;
//! - a member that resumed and never got the `welcome` with its new token (the connection broke
//!   again at once) may present the token it presented then, once more.

use std::collections::HashMap;

use super::schedule::Schedule;
use crate::signalling::{
    private_room::RoomId,
    protocol::{MemberId, ResumeToken},
    token::{Claims, TokenSigner},
    Timestamp,
};

struct Issued {
    /// The nonce of the newest token handed out.
    newest: u128,
    /// The nonce of the token the member presented last, which stays good for one more resume
    /// until the member shows it has the newest one.
    presented: Option<u128>,
    /// When the newest token is to be replaced; `None` while the member is away (its resume
    /// brings a new one, and the one it holds must stay the one that resumes).
    renew_at: Option<Timestamp>,
}

pub struct Tokens {
    signer: TokenSigner,
    ttl_ms: u64,
    issued: HashMap<MemberId, Issued>,
    renewals: Schedule<MemberId>,
    /// Ids restored from an earlier process's tokens, and their rooms: each is restored once
    /// (until its room is taken over again), so an old token
    /// cannot bring an id back a second time after its session ended here.
    restored: HashMap<MemberId, RoomId>,
}

/// What a presented token is good for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Presented {
    /// It resumes this member's session.
    Resumes(Claims),
    /// Signed by this secret, for this room, unexpired, but not (or no longer) one that resumes.
    Stale(Claims),
    /// Not a token of this server for this room, or expired.
    Invalid,
}

impl Tokens {
    pub fn new(secret: &[u8], ttl_ms: u64) -> Self {
        Self {
            signer: TokenSigner::new(secret),
            ttl_ms,
            issued: HashMap::new(),
            renewals: Schedule::default(),
            restored: HashMap::new(),
        }
    }

    pub fn check(&self, token: &str, room: &RoomId, now: Timestamp) -> Presented {
        let Some(claims) = self
            .signer
            .verify(token)
            .filter(|claims| &claims.room == room && now < claims.expires)
        else {
            return Presented::Invalid;
        };
        let resumes = self.issued.get(&claims.id).is_some_and(|issued| {
            issued.newest == claims.nonce || issued.presented == Some(claims.nonce)
        });
        if resumes {
            Presented::Resumes(claims)
        } else {
            Presented::Stale(claims)
        }
    }

    /// A new token for `id` with a fresh `nonce`. `presented` is the nonce of the token the
    /// member just presented, which may then be presented once more.
    pub fn issue(
        &mut self,
        id: &MemberId,
        room: &RoomId,
        nonce: u128,
        presented: Option<u128>,
        now: Timestamp,
    ) -> ResumeToken {
        // Never now: a renewal due at once would be due again at once.
        let renew_at = now.plus_ms((self.ttl_ms - self.ttl_ms / 4).max(1));
        // The token presented now, unless it is the one that was already its second chance.
        let presented = presented.filter(|presented| {
            self.issued
                .get(id)
                .is_some_and(|issued| issued.newest == *presented)
        });
        if let Some(Issued {
            renew_at: Some(old),
            ..
        }) = self.issued.insert(
            id.clone(),
            Issued {
                newest: nonce,
                presented,
                renew_at: Some(renew_at),
            },
        ) {
            self.renewals.remove(old, id);
        }
        self.renewals.insert(renew_at, id.clone());
        self.signer.sign(&Claims {
            id: id.clone(),
            room: room.clone(),
            nonce,
            issued: now,
            expires: now.plus_ms(self.ttl_ms),
        })
    }

    /// A token to send a connected member whose newest one is due for renewal. The one it
    /// replaces stays good once, in case this one is lost on the way.
    pub fn renew(
        &mut self,
        id: &MemberId,
        room: &RoomId,
        nonce: u128,
        now: Timestamp,
    ) -> ResumeToken {
        let newest = self.issued.get(id).map(|issued| issued.newest);
        self.issue(id, room, nonce, newest, now)
    }

    /// The member is away: no renewal until it comes back.
    pub fn pause_renewal(&mut self, id: &MemberId) {
        if let Some(issued) = self.issued.get_mut(id) {
            if let Some(at) = issued.renew_at.take() {
                self.renewals.remove(at, id);
            }
        }
    }

    pub fn renewal_paused(&self, id: &MemberId) -> bool {
        self.issued
            .get(id)
            .is_some_and(|issued| issued.renew_at.is_none())
    }

    /// Members due a new token by `now`.
    pub fn due_by(&self, now: Timestamp) -> Vec<MemberId> {
        self.renewals.due_by(now)
    }

    pub fn next_renewal(&self) -> Option<Timestamp> {
        self.renewals.next()
    }

    /// The member is gone: none of its tokens resumes any more.
    pub fn forget(&mut self, id: &MemberId) {
        if let Some(Issued {
            renew_at: Some(at), ..
        }) = self.issued.remove(id)
        {
            self.renewals.remove(at, id);
        }
    }

    /// Whether an id from an earlier process may be restored (once).
    pub fn may_restore(&self, id: &MemberId) -> bool {
        !self.issued.contains_key(id) && !self.restored.contains_key(id)
    }

    pub fn restored(&mut self, id: MemberId, room: RoomId) {
        self.restored.insert(id, room);
    }

    /// The room was taken over anew: each of its ids may be restored once more.
    pub fn forget_restored_in(&mut self, room: &RoomId) {
        self.restored.retain(|_, restored_in| restored_in != room);
    }

    pub fn was_restored(&self, id: &MemberId) -> bool {
        self.restored.contains_key(id)
    }

    /// Once every token of an earlier process has expired, none can be restored again.
    pub fn forget_restored_before(&mut self, boot_time: Timestamp, now: Timestamp) {
        if now > boot_time.plus_ms(self.ttl_ms) && !self.restored.is_empty() {
            self.restored = HashMap::new();
        }
    }

    pub fn count(&self) -> usize {
        self.issued.len()
    }

    pub fn ids(&self) -> impl Iterator<Item = &MemberId> {
        self.issued.keys()
    }

    /// Panics if the renewal schedule and the tokens disagree.
    pub fn check_invariants(&self) {
        assert_eq!(
            self.renewals.len(),
            self.issued
                .values()
                .filter(|issued| issued.renew_at.is_some())
                .count(),
            "one renewal per member not away"
        );
        for (at, id) in self.renewals.iter() {
            let issued = self.issued.get(id).expect("a renewal's member has tokens");
            assert_eq!(issued.renew_at, Some(*at));
        }
    }
}
