//! When each connected member is due fresh TURN credentials (with `--turn-secret` only).
//!
//! A member away in its grace period is due none: the `welcome` of its resume brings fresh
//! ones. So a refresh is scheduled exactly while a member is connected.

use std::collections::HashMap;

use super::schedule::Schedule;
use crate::signalling::{protocol::MemberId, Timestamp};

#[derive(Default)]
pub struct IceRefreshes {
    at: HashMap<MemberId, Timestamp>,
    due: Schedule<MemberId>,
}

impl IceRefreshes {
    /// `id` was just sent credentials: the next ones are due at `at`.
    pub fn schedule(&mut self, id: &MemberId, at: Timestamp) {
        self.cancel(id);
        self.at.insert(id.clone(), at);
        self.due.insert(at, id.clone());
    }

    /// The member is away or gone.
    pub fn cancel(&mut self, id: &MemberId) {
        if let Some(at) = self.at.remove(id) {
            self.due.remove(at, id);
        }
    }

    pub fn due_by(&self, now: Timestamp) -> Vec<MemberId> {
        self.due.due_by(now)
    }

    pub fn next(&self) -> Option<Timestamp> {
        self.due.next()
    }

    pub fn is_scheduled(&self, id: &MemberId) -> bool {
        self.at.contains_key(id)
    }

    /// Panics unless the schedule and the map agree.
    pub fn check_invariants(&self) {
        assert_eq!(self.at.len(), self.due.len(), "one refresh per member");
        for (at, id) in self.due.iter() {
            assert_eq!(
                self.at.get(id),
                Some(at),
                "a refresh is where its member says"
            );
        }
    }
}
