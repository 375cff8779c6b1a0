//! The client's decisions, kept pure so they are unit-tested natively: which peer connections
//! to open and close on an `info`, and how long to wait before reconnecting.

use std::time::Duration;

use crate::signalling::{protocol::Peer, MemberId};

/// What the client knows about one of its peer connections when it decides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkView {
    pub member: MemberId,
    /// Media is flowing (the connection state is `connected`).
    pub connected: bool,
}

/// What to do with the peer connections after an `info`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Members with no connection yet: open one, with this politeness.
    pub open: Vec<Peer>,
    /// Connections to members who left: close them.
    pub close: Vec<MemberId>,
    /// Connections to members missing from `info` that are kept for now (see [`reconcile`]).
    pub keep_missing: Vec<MemberId>,
}

/// Compares the connections the client has with the members of the room.
///
/// Members present in both keep their connection untouched: a join or leave elsewhere never
/// renegotiates anyone else. A member missing from `info` loses its connection, except while
/// `after_own_rejoin` is true and its media is still flowing: right after this client came
/// back (for instance after a server restart) the others are still coming back one by one,
/// and tearing down a live call because its member has not reconnected *yet* is exactly the
/// flicker the grace period exists to prevent.
pub fn reconcile(links: &[LinkView], members: &[Peer], after_own_rejoin: bool) -> Plan {
    let mut plan = Plan::default();
    for link in links {
        if members.iter().any(|peer| peer.id == link.member) {
            continue;
        }
        if after_own_rejoin && link.connected {
            plan.keep_missing.push(link.member.clone());
        } else {
            plan.close.push(link.member.clone());
        }
    }
    plan.open = members
        .iter()
        .filter(|peer| !links.iter().any(|link| link.member == peer.id))
        .cloned()
        .collect();
    plan
}

/// First reconnect delay, doubled per failed attempt up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_millis(500);
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// How long to wait before reconnect attempt number `attempt` (1 for the first retry).
///
/// `jitter` is a random number in `[0, 1)`: the delay is spread over the upper half of the
/// exponential step so that a room of tabs that lost the server at the same moment does not
/// come back at the same moment.
pub fn reconnect_delay(attempt: u32, jitter: f64) -> Duration {
    let exponent = attempt.saturating_sub(1).min(16);
    let step = FIRST_BACKOFF.saturating_mul(1 << exponent).min(MAX_BACKOFF);
    step.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(text: &str) -> MemberId {
        MemberId::new(text)
    }

    fn peer(text: &str) -> Peer {
        Peer {
            id: id(text),
            polite: true,
            newcomer_offers: true,
        }
    }

    fn link(text: &str, connected: bool) -> LinkView {
        LinkView {
            member: id(text),
            connected,
        }
    }

    #[test]
    fn a_join_opens_one_connection_and_touches_no_other() {
        let plan = reconcile(
            &[link("a", true), link("b", false)],
            &[peer("a"), peer("b"), peer("c")],
            false,
        );
        assert_eq!(
            plan,
            Plan {
                open: vec![peer("c")],
                ..Plan::default()
            }
        );
    }

    #[test]
    fn a_leave_closes_only_that_connection() {
        let plan = reconcile(&[link("a", true), link("b", true)], &[peer("a")], false);
        assert_eq!(plan.close, [id("b")]);
        assert!(plan.open.is_empty() && plan.keep_missing.is_empty());
    }

    #[test]
    fn after_a_rejoin_live_calls_outlast_their_members_absence() {
        let links = [link("a", true), link("b", false)];
        let plan = reconcile(&links, &[], true);
        assert_eq!(plan.keep_missing, [id("a")]);
        assert_eq!(plan.close, [id("b")], "a dead call is not worth keeping");
    }

    #[test]
    fn backoff_doubles_to_a_cap_with_jitter_in_the_upper_half() {
        assert_eq!(reconnect_delay(1, 1.0), Duration::from_millis(500));
        assert_eq!(reconnect_delay(1, 0.0), Duration::from_millis(250));
        assert_eq!(reconnect_delay(2, 1.0), Duration::from_secs(1));
        assert_eq!(reconnect_delay(3, 1.0), Duration::from_secs(2));
        assert_eq!(reconnect_delay(6, 1.0), Duration::from_secs(10));
        assert_eq!(reconnect_delay(60, 1.0), Duration::from_secs(10));
        assert_eq!(reconnect_delay(60, 0.0), Duration::from_secs(5));
        assert_eq!(reconnect_delay(0, 1.0), Duration::from_millis(500));
    }
}
