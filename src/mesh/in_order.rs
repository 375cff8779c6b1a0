//! Items that leave in the order they came, though some take a while to be ready: in a private
//! room every `description` and `candidate` is sealed (or opened) by a WebCrypto promise, and
//! promises settle in no promised order. An offer overtaken by its own candidates, or an `info`
//! that removed a member handled before that member's last offer, would break negotiation, so
//! each message takes a slot when it comes and goes on only once everything before it has.

use std::collections::VecDeque;

/// The ticket of an item still being worked on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot(u64);

pub struct InOrder<T> {
    /// The slot number of `slots[0]`.
    first: u64,
    slots: VecDeque<Entry<T>>,
}

enum Entry<T> {
    Working,
    Dropped,
    Ready(T),
}

impl<T> Default for InOrder<T> {
    fn default() -> Self {
        Self {
            first: 0,
            slots: VecDeque::new(),
        }
    }
}

impl<T> InOrder<T> {
    /// A slot for an item that will be ready later (or dropped), in [`Self::fill`].
    pub fn reserve(&mut self) -> Slot {
        self.slots.push_back(Entry::Working);
        Slot(self.first + self.slots.len() as u64 - 1)
    }

    /// An item ready now: it still waits for those before it.
    pub fn push(&mut self, item: T) {
        self.slots.push_back(Entry::Ready(item));
    }

    /// The item of `slot`, or `None` to drop it. A slot from before [`Self::clear`] is
    /// ignored.
    pub fn fill(&mut self, slot: Slot, item: Option<T>) {
        if let Some(entry) = slot
            .0
            .checked_sub(self.first)
            .and_then(|index| self.slots.get_mut(usize::try_from(index).ok()?))
        {
            if matches!(entry, Entry::Working) {
                *entry = item.map_or(Entry::Dropped, Entry::Ready);
            }
        }
    }

    /// The next item, if it and everything before it is ready.
    pub fn pop(&mut self) -> Option<T> {
        while !matches!(self.slots.front()?, Entry::Working) {
            self.first += 1;
            if let Some(Entry::Ready(item)) = self.slots.pop_front() {
                return Some(item);
            }
        }
        None
    }

    /// Forgets everything, and whatever is still being worked on.
    pub fn clear(&mut self) {
        self.first += self.slots.len() as u64;
        self.slots.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(queue: &mut InOrder<&'static str>) -> Vec<&'static str> {
        std::iter::from_fn(|| queue.pop()).collect()
    }

    #[test]
    fn items_leave_in_the_order_they_came_whenever_they_are_ready() {
        let mut queue = InOrder::default();
        let offer = queue.reserve();
        queue.push("info");
        let candidate = queue.reserve();
        assert_eq!(
            drain(&mut queue),
            Vec::<&str>::new(),
            "the offer holds all back"
        );
        queue.fill(candidate, Some("candidate"));
        assert_eq!(drain(&mut queue), Vec::<&str>::new());
        queue.fill(offer, Some("offer"));
        assert_eq!(drain(&mut queue), ["offer", "info", "candidate"]);
    }

    #[test]
    fn a_dropped_item_lets_the_others_go() {
        let mut queue = InOrder::default();
        let forged = queue.reserve();
        queue.push("pong");
        queue.fill(forged, None);
        assert_eq!(drain(&mut queue), ["pong"]);
        // Filling twice, or a slot already gone, changes nothing.
        queue.fill(forged, Some("late"));
        assert_eq!(drain(&mut queue), Vec::<&str>::new());
    }

    #[test]
    fn what_was_in_flight_before_a_clear_is_ignored() {
        let mut queue = InOrder::default();
        let old = queue.reserve();
        queue.clear();
        let new = queue.reserve();
        queue.fill(old, Some("old"));
        assert_eq!(drain(&mut queue), Vec::<&str>::new());
        queue.fill(new, Some("new"));
        assert_eq!(drain(&mut queue), ["new"]);
    }
}
