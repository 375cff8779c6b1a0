//! Keys by the time they fall due, earliest first: each owner of the hub keeps its deadlines
//! in one, and the hub's next deadline is the earliest of theirs.

use std::collections::BTreeSet;

use crate::signalling::Timestamp;

#[derive(Debug)]
pub struct Schedule<K> {
    due: BTreeSet<(Timestamp, K)>,
}

impl<K> Default for Schedule<K> {
    fn default() -> Self {
        Self {
            due: BTreeSet::new(),
        }
    }
}

impl<K: Ord + Clone> Schedule<K> {
    pub fn insert(&mut self, at: Timestamp, key: K) {
        self.due.insert((at, key));
    }

    pub fn remove(&mut self, at: Timestamp, key: &K) {
        self.due.remove(&(at, key.clone()));
    }

    pub fn contains(&self, at: Timestamp, key: &K) -> bool {
        self.due.contains(&(at, key.clone()))
    }

    /// The keys due at or before `now`, earliest first.
    pub fn due_by(&self, now: Timestamp) -> Vec<K> {
        self.due
            .iter()
            .take_while(|(at, _)| *at <= now)
            .map(|(_, key)| key.clone())
            .collect()
    }

    pub fn next(&self) -> Option<Timestamp> {
        self.due.first().map(|(at, _)| *at)
    }

    pub fn len(&self) -> usize {
        self.due.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &(Timestamp, K)> {
        self.due.iter()
    }
}
