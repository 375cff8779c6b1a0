//! Each connection's message budget, checked by its own task before a message is decoded or
//! reaches the hub: a flood costs its sender's task, not the lock every room shares.
//!
//! Two GCRA limiters from `governor` (a token bucket without a timer, one atomic word each):
//! - **messages**: `per_second` on average, `burst` at once; a message over it is dropped and
//!   answered `rate_limited`;
//! - **drops**: the dropped messages themselves. A client that goes over its budget now and
//!   then is only slowed; one that keeps going over it (twice its budget for a few seconds, or
//!   a burst of drops) spends this one too and is closed with 1008. The older rule, a run of
//!   consecutive drops, never closed a client that sent twice its budget: every other message
//!   got through and reset the run.

use std::{num::NonZeroU32, time::Duration};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::signalling::RateLimit;

/// Drops a client may have in hand before it counts as abusive, at least.
const MIN_DROPS: u32 = 10;
/// The drops budget refills over this long: a client dropping messages at a fifth of its
/// message rate, or more, for a while is closed.
const DROPS_REFILL: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Over budget: drop it and say so.
    Dropped,
    /// Persistently over budget: close the connection.
    Abusive,
}

pub struct MessageBudget {
    messages: DefaultDirectRateLimiter,
    drops: DefaultDirectRateLimiter,
}

impl MessageBudget {
    pub fn new(rate: RateLimit) -> Self {
        let nonzero = |n: u32| NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN);
        let messages = Quota::per_second(nonzero(rate.per_second)).allow_burst(nonzero(rate.burst));
        let drops_burst = rate.per_second.max(MIN_DROPS);
        let drops = Quota::with_period(DROPS_REFILL / drops_burst)
            // A period of zero is the only refusal, and drops_burst is at most u32::MAX while
            // DROPS_REFILL is 5 s: the period is at least a nanosecond.
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX))
            .allow_burst(nonzero(drops_burst));
        Self {
            messages: RateLimiter::direct(messages),
            drops: RateLimiter::direct(drops),
        }
    }

    /// Charges one message.
    pub fn take(&self) -> Verdict {
        if self.messages.check().is_ok() {
            Verdict::Allowed
        } else if self.drops.check().is_ok() {
            Verdict::Dropped
        } else {
            Verdict::Abusive
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(per_second: u32, burst: u32) -> MessageBudget {
        MessageBudget::new(RateLimit { per_second, burst })
    }

    #[test]
    fn a_burst_passes_then_messages_are_dropped_then_the_sender_is_closed() {
        let budget = budget(1, 3);
        let verdicts: Vec<Verdict> = (0..3 + MIN_DROPS + 1).map(|_| budget.take()).collect();
        assert_eq!(&verdicts[..3], [Verdict::Allowed; 3]);
        assert_eq!(&verdicts[3..13], [Verdict::Dropped; 10]);
        assert_eq!(verdicts[13], Verdict::Abusive);
    }

    #[test]
    fn the_drops_a_sender_may_have_grow_with_its_rate() {
        let budget = budget(100, 1);
        assert_eq!(budget.take(), Verdict::Allowed);
        let dropped = std::iter::repeat_with(|| budget.take())
            .take_while(|verdict| *verdict == Verdict::Dropped)
            .count();
        // A hundred, give or take what refilled while this ran.
        assert!((100..110).contains(&dropped), "{dropped}");
    }
}
