//! Keeping a link alive. Pure: the link reads the connection's states, and these decide.
//!
//! - [`IceWatch`]: ICE restart on `failed`, and after a few seconds of `disconnected`, so that
//!   a network change on either side heals without rebuilding the connection.
//! - [`Watchdog`]: looks every few seconds at a connection that never got (back) to
//!   `connected`, or whose offer was never answered, with a patience that doubles.

/// How long a connection may sit in `disconnected` before we restart ICE ourselves.
pub const DISCONNECTED_GRACE_MS: u32 = 3_000;
/// How often the watchdog looks.
pub const WATCHDOG_MS: u32 = 4_000;
/// Two looks in a row without progress restart ICE or offer again, then four, eight and at
/// most sixteen (about a minute): a peer that cannot answer is not sent an offer every few
/// seconds.
pub const FIRST_PATIENCE: u32 = 2;
pub const MAX_PATIENCE: u32 = 16;
/// Why a TURN server gave this link no relayed candidate, from `icecandidateerror`.
pub use crate::components::model::RelayProblem;
use crate::signalling::turn::is_turn_url;

/// What an `icecandidateerror` (its URL and STUN error code) says about the relay: `None` for
/// a STUN server's trouble, which costs nothing but a candidate kind, and for passing errors.
pub fn relay_problem(url: &str, code: u16) -> Option<RelayProblem> {
    if !is_turn_url(url) {
        return None;
    }
    match code {
        // Unauthorized, Forbidden, Wrong Credentials (RFC 8489, 8656): a credential that
        // expired, or was signed with another secret.
        401 | 403 | 441 => Some(RelayProblem::Refused),
        // The WebRTC spec's code for a server that never answered.
        701 => Some(RelayProblem::Unreachable),
        // Allocation Quota Reached, Insufficient Capacity.
        486 | 508 => Some(RelayProblem::Full),
        _ => None,
    }
}

/// `RTCIceConnectionState`, as far as the link cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IceState {
    Disconnected,
    Failed,
    /// Any other state: checking, connected, completed, new, closed.
    Other,
}

/// What to do about the ICE connection state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IceStep {
    /// Restart ICE now, and forget a grace period in progress.
    RestartNow,
    /// Start the grace period: restart if still disconnected when it ends.
    WaitThenRestart,
    /// Forget a grace period in progress.
    Settled,
}

pub fn ice_step(state: IceState) -> IceStep {
    match state {
        IceState::Failed => IceStep::RestartNow,
        IceState::Disconnected => IceStep::WaitThenRestart,
        IceState::Other => IceStep::Settled,
    }
}

/// How a connection looks stuck, when it does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stall {
    /// Short of `connected`: seen when a polite side's first offer is rolled back before it
    /// gathered a single candidate. Restarting ICE gathers afresh.
    Connecting,
    /// An offer of ours is never answered: a peer that settles collisions less carefully than
    /// we do (the base `@openlab/portals` client has no notion of an answer still being
    /// applied) can take it for a collision and drop it. Rolling it back returns to `stable`,
    /// where the browser asks for negotiation again.
    Unanswered,
}

/// The watchdog's remedy for a stall that outlasted its patience.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Remedy {
    RestartIce,
    OfferAgain,
}

#[derive(Debug)]
pub struct Watchdog {
    stalled_looks: u32,
    /// How many stalled looks in a row the next remedy waits for.
    patience: u32,
}

impl Default for Watchdog {
    fn default() -> Self {
        Self {
            stalled_looks: 0,
            patience: FIRST_PATIENCE,
        }
    }
}

impl Watchdog {
    /// One look. `signalling_up`: what we send now goes out now. While our own signalling is
    /// down an offer would only wait in its queue, and the time away says nothing about the
    /// peer.
    pub fn look(&mut self, stall: Option<Stall>, signalling_up: bool) -> Option<Remedy> {
        let Some(stall) = stall else {
            *self = Self::default();
            return None;
        };
        if !signalling_up {
            self.stalled_looks = 0;
            return None;
        }
        self.stalled_looks += 1;
        if self.stalled_looks < self.patience {
            return None;
        }
        self.stalled_looks = 0;
        self.patience = (self.patience * 2).min(MAX_PATIENCE);
        Some(match stall {
            Stall::Unanswered => Remedy::OfferAgain,
            Stall::Connecting => Remedy::RestartIce,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watchdog_waits_two_looks_then_doubles_its_patience_up_to_sixteen() {
        let mut watchdog = Watchdog::default();
        let mut remedies_at = Vec::new();
        for look in 1..=80 {
            if watchdog.look(Some(Stall::Connecting), true).is_some() {
                remedies_at.push(look);
            }
        }
        assert_eq!(remedies_at, [2, 6, 14, 30, 46, 62, 78]);
    }

    #[test]
    fn progress_resets_the_watchdog_and_a_signalling_outage_does_not_count() {
        let mut watchdog = Watchdog::default();
        assert_eq!(watchdog.look(Some(Stall::Unanswered), true), None);
        assert_eq!(
            watchdog.look(Some(Stall::Unanswered), true),
            Some(Remedy::OfferAgain)
        );
        assert_eq!(watchdog.look(None, true), None);
        assert_eq!(watchdog.look(Some(Stall::Connecting), true), None);
        assert_eq!(watchdog.look(Some(Stall::Connecting), false), None);
        assert_eq!(watchdog.look(Some(Stall::Connecting), true), None);
        assert_eq!(
            watchdog.look(Some(Stall::Connecting), true),
            Some(Remedy::RestartIce),
            "patience back at two after progress"
        );
    }

    #[test]
    fn ice_restarts_at_once_on_failure_and_after_a_grace_when_disconnected() {
        assert_eq!(ice_step(IceState::Failed), IceStep::RestartNow);
        assert_eq!(ice_step(IceState::Disconnected), IceStep::WaitThenRestart);
        assert_eq!(ice_step(IceState::Other), IceStep::Settled);
    }

    #[test]
    fn only_a_relays_refusal_is_a_relay_problem() {
        let turn = "turn:127.0.0.1:3478?transport=udp";
        assert_eq!(relay_problem(turn, 401), Some(RelayProblem::Refused));
        assert_eq!(
            relay_problem("turns:t.example.org:5349", 441),
            Some(RelayProblem::Refused)
        );
        assert_eq!(relay_problem(turn, 701), Some(RelayProblem::Unreachable));
        assert_eq!(relay_problem(turn, 508), Some(RelayProblem::Full));
        assert_eq!(relay_problem("stun:127.0.0.1:3478", 701), None, "STUN only");
        assert_eq!(
            relay_problem(turn, 300),
            None,
            "Try Alternate is not a failure"
        );
    }
}
