//! Sessions in grace: members whose connection dropped, when their seat goes, and what was
//! sent to them meanwhile.
//!
//! What is held is bounded in count and in bytes, below what a connection's outbox accepts at
//! once, so that a member that comes back always gets its `welcome` and everything held with
//! it; without the byte bound, twenty large offers held for it filled the outbox and the
//! resume was closed as too slow before its `welcome`.

use std::collections::{HashMap, VecDeque};

use super::schedule::Schedule;
use crate::signalling::{
    protocol::{MemberId, SdpType, ServerMessage},
    Timestamp,
};

/// How much is held for one member in grace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeldLimit {
    pub messages: usize,
    /// Relayed payload bytes (descriptions and candidates as sent).
    pub bytes: usize,
}

struct Grace {
    until: Timestamp,
    held: VecDeque<ServerMessage>,
    /// [`ServerMessage::payload_len`] of everything in `held`.
    held_bytes: usize,
}

impl Grace {
    /// Keeps only the held messages `keep` accepts, and their count of bytes in step.
    fn keep(&mut self, keep: impl FnMut(&ServerMessage) -> bool) {
        self.held.retain(keep);
        self.held_bytes = self.held.iter().map(ServerMessage::payload_len).sum();
    }
}

#[derive(Default)]
pub struct Sessions {
    grace: HashMap<MemberId, Grace>,
    /// When each grace period ends: the earliest is a deadline of the hub.
    ends: Schedule<MemberId>,
}

impl Sessions {
    pub fn in_grace(&self, id: &MemberId) -> bool {
        self.grace.contains_key(id)
    }

    pub fn count(&self) -> usize {
        self.grace.len()
    }

    /// The member's connection dropped: it keeps its seat until `until`.
    pub fn begin(&mut self, id: MemberId, until: Timestamp) {
        self.end(&id);
        self.ends.insert(until, id.clone());
        self.grace.insert(
            id,
            Grace {
                until,
                held: VecDeque::new(),
                held_bytes: 0,
            },
        );
    }

    /// The member came back or left: what was held for it, in order.
    pub fn end(&mut self, id: &MemberId) -> VecDeque<ServerMessage> {
        let Some(grace) = self.grace.remove(id) else {
            return VecDeque::new();
        };
        self.ends.remove(grace.until, id);
        grace.held
    }

    /// Members whose grace period is over at `now`.
    pub fn ended_by(&self, now: Timestamp) -> Vec<MemberId> {
        self.ends.due_by(now)
    }

    pub fn next_end(&self) -> Option<Timestamp> {
        self.ends.next()
    }

    /// Holds a relayed message for a member in grace, and returns how many messages that
    /// dropped (this one, if it is larger than all a member may have held). The oldest go
    /// first when it is over its limit: perfect negotiation re-offers, so the newest
    /// descriptions and candidates are the ones worth keeping. `None` when the member is not
    /// in grace.
    pub fn hold(
        &mut self,
        to: &MemberId,
        message: ServerMessage,
        limit: HeldLimit,
    ) -> Option<usize> {
        let grace = self.grace.get_mut(to)?;
        let bytes = message.payload_len();
        if limit.messages == 0 || bytes > limit.bytes {
            return Some(1);
        }
        // A newer offer from the same sender replaces one still waiting: the sender rolled the
        // old one back (its watchdog re-offers when no answer comes), and a member returning to
        // a pile of them would answer offers no one holds any more.
        if let Some(sender) = offer_sender(&message) {
            grace.keep(|earlier| offer_sender(earlier) != Some(sender));
        }
        let mut dropped = 0;
        while grace.held.len() >= limit.messages || grace.held_bytes + bytes > limit.bytes {
            let Some(oldest) = grace.held.pop_front() else {
                break;
            };
            grace.held_bytes -= oldest.payload_len();
            dropped += 1;
        }
        grace.held_bytes += bytes;
        grace.held.push_back(message);
        Some(dropped)
    }

    /// Forgets what `sender` sent to `to` while `to` was away: `sender` has left, and a member
    /// coming back must not hear from someone its `info` no longer lists.
    pub fn forget_from(&mut self, to: &MemberId, sender: &MemberId) {
        if let Some(grace) = self.grace.get_mut(to) {
            grace.keep(|message| relayed_from(message) != Some(sender));
        }
    }

    pub fn ids(&self) -> impl Iterator<Item = &MemberId> {
        self.grace.keys()
    }

    /// Who sent what is held for `id`.
    pub fn held_senders(&self, id: &MemberId) -> impl Iterator<Item = &MemberId> {
        self.grace
            .get(id)
            .into_iter()
            .flat_map(|grace| grace.held.iter().filter_map(relayed_from))
    }

    /// Panics if the deadlines and the sessions disagree or a bound is broken.
    pub fn check_invariants(&self, limit: HeldLimit) {
        assert_eq!(
            self.ends.len(),
            self.grace.len(),
            "one deadline per session"
        );
        for (until, id) in self.ends.iter() {
            let grace = self.grace.get(id).expect("a deadline's session exists");
            assert_eq!(grace.until, *until);
        }
        for grace in self.grace.values() {
            assert!(grace.held.len() <= limit.messages);
            assert!(grace.held_bytes <= limit.bytes);
            assert_eq!(
                grace.held_bytes,
                grace
                    .held
                    .iter()
                    .map(ServerMessage::payload_len)
                    .sum::<usize>()
            );
        }
    }
}

/// The sender of a relayed offer; `None` for anything else. Only read for members in grace,
/// so parsing the payload again costs nothing on the live path.
fn offer_sender(message: &ServerMessage) -> Option<&MemberId> {
    match message {
        ServerMessage::Description { from, description } => description
            .parse()
            .is_ok_and(|description| description.kind == SdpType::Offer)
            .then_some(from),
        _ => None,
    }
}

fn relayed_from(message: &ServerMessage) -> Option<&MemberId> {
    match message {
        ServerMessage::Description { from, .. } | ServerMessage::Candidate { from, .. } => {
            Some(from)
        }
        _ => None,
    }
}
