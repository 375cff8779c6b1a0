//! Each connection's message budget, checked by its own task before a message is decoded or
//! reaches the hub: a flood costs its sender's task, not the lock every room shares.
//!
//! Two limits, each the GCRA of `governor` (a token bucket without a timer):
//! - **messages**: `per_second` on average, `burst` at once; a message over it is dropped and
//!   answered `rate_limited`;
//! - **drops**: the dropped messages themselves. A client that goes over its budget now and
//!   then is only slowed; one that keeps going over it (twice its budget for a few seconds, or
//!   a burst of drops) spends this one too and is closed with 1008. The older rule, a run of
//!   consecutive drops, never closed a client that sent twice its budget: every other message
//!   got through and reset the run.
//!
//! Why not `governor` itself, which this was: each of its limiters keeps its quota and its
//! clock's start beside its one word of state, 40 bytes, while the quota is the same for every
//! connection. Here a connection keeps the two words (16 bytes), and the rule is worked out
//! from the server's [`RateLimit`] at each message. With the rest of `connection.rs`'s
//! savings, that brought an idle connection's task under tokio's next 128-byte size class.

use std::time::Duration;

use crate::signalling::RateLimit;

/// Drops a client may have in hand before it counts as abusive, at least.
const MIN_DROPS: u64 = 10;
/// The drops budget refills over this long: a client dropping messages at a fifth of its
/// message rate, or more, for a while is closed.
const DROPS_REFILL_NS: u64 = 5_000_000_000;
const NS_PER_SECOND: u64 = 1_000_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Over budget: drop it and say so.
    Dropped,
    /// Persistently over budget: close the connection.
    Abusive,
}

/// One connection's state of both limits: for each, the theoretical arrival time of its next
/// message (GCRA's TAT), in nanoseconds on the connection's clock.
#[derive(Debug, Default)]
pub struct MessageBudget {
    messages: u64,
    drops: u64,
}

/// A GCRA limit: one message per `interval`, `burst` at once.
#[derive(Clone, Copy, Debug)]
struct Quota {
    interval: u64,
    burst: u64,
}

impl Quota {
    /// Whether a message at `now` fits; if it does, it is counted in `tat`.
    fn admit(self, tat: &mut u64, now: u64) -> bool {
        let tolerance = self.interval.saturating_mul(self.burst.saturating_sub(1));
        if now < tat.saturating_sub(tolerance) {
            return false;
        }
        *tat = (*tat).max(now).saturating_add(self.interval);
        true
    }
}

impl MessageBudget {
    /// Charges one message arriving at `now`: nanoseconds on a clock that only moves forward,
    /// the same for every message of the connection (its age).
    pub fn take(&mut self, rate: RateLimit, now: Duration) -> Verdict {
        let now = u64::try_from(now.as_nanos()).unwrap_or(u64::MAX);
        let per_second = u64::from(rate.per_second.max(1));
        let messages = Quota {
            interval: NS_PER_SECOND / per_second,
            burst: u64::from(rate.burst.max(1)),
        };
        let drops_burst = per_second.max(MIN_DROPS);
        let drops = Quota {
            // At least a nanosecond: drops_burst is at most u32::MAX, the refill 5 s.
            interval: (DROPS_REFILL_NS / drops_burst).max(1),
            burst: drops_burst,
        };
        if messages.admit(&mut self.messages, now) {
            Verdict::Allowed
        } else if drops.admit(&mut self.drops, now) {
            Verdict::Dropped
        } else {
            Verdict::Abusive
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(per_second: u32, burst: u32) -> RateLimit {
        RateLimit { per_second, burst }
    }

    #[test]
    fn a_burst_passes_then_messages_are_dropped_then_the_sender_is_closed() {
        let now = Duration::from_secs(1);
        let mut budget = MessageBudget::default();
        let verdicts: Vec<Verdict> = (0..3 + MIN_DROPS + 1)
            .map(|_| budget.take(rate(1, 3), now))
            .collect();
        assert_eq!(&verdicts[..3], [Verdict::Allowed; 3]);
        assert_eq!(&verdicts[3..13], [Verdict::Dropped; 10]);
        assert_eq!(verdicts[13], Verdict::Abusive);
    }

    #[test]
    fn the_drops_a_sender_may_have_grow_with_its_rate() {
        let now = Duration::ZERO;
        let mut budget = MessageBudget::default();
        assert_eq!(budget.take(rate(100, 1), now), Verdict::Allowed);
        let dropped = std::iter::repeat_with(|| budget.take(rate(100, 1), now))
            .take_while(|verdict| *verdict == Verdict::Dropped)
            .count();
        assert_eq!(dropped, 100);
    }

    #[test]
    fn the_budget_refills_with_time_and_a_steady_sender_is_never_dropped() {
        let start = Duration::from_millis(3);
        let mut budget = MessageBudget::default();
        let rate = rate(10, 2);
        assert_eq!(budget.take(rate, start), Verdict::Allowed);
        assert_eq!(budget.take(rate, start), Verdict::Allowed);
        assert_eq!(budget.take(rate, start), Verdict::Dropped);
        // One message's worth of time later, one more fits, and then no more.
        let later = start + Duration::from_millis(100);
        assert_eq!(budget.take(rate, later), Verdict::Allowed);
        assert_eq!(budget.take(rate, later), Verdict::Dropped);
        // At its rate exactly, for a minute: never over.
        let steady = later + Duration::from_secs(1);
        for n in 0..600 {
            let at = steady + Duration::from_millis(100 * n);
            assert_eq!(budget.take(rate, at), Verdict::Allowed, "message {n}");
        }
        // A long silence saves up no more than the burst.
        let back = steady + Duration::from_secs(600);
        assert_eq!(budget.take(rate, back), Verdict::Allowed);
        assert_eq!(budget.take(rate, back), Verdict::Allowed);
        assert_eq!(budget.take(rate, back), Verdict::Dropped);
    }
}
