//! The client's decisions, kept pure so they are unit-tested natively: which peer connections
//! to open and close on an `info`, which way media goes on each, and how long to wait before
//! reconnecting.

use std::time::Duration;

use crate::signalling::{
    protocol::{Peer, Role},
    MemberId,
};

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
///
/// Only members that `me` links with count (see [`Role::links_with`]): a camera never opens a
/// connection to another camera, and one whose peer comes back in a role it has nothing to say
/// to is closed like one that left.
pub fn reconcile(me: Role, links: &[LinkView], members: &[Peer], after_own_rejoin: bool) -> Plan {
    let present = |member: &MemberId| members.iter().any(|peer| &peer.id == member);
    let linked: Vec<&Peer> = members
        .iter()
        .filter(|peer| me.links_with(peer.role))
        .collect();
    let mut plan = Plan::default();
    for link in links {
        if linked.iter().any(|peer| peer.id == link.member) {
            continue;
        }
        // Kept only while its member may still be on its way back: one that is here, in a
        // role we have nothing to say to, is not coming back to this link.
        if after_own_rejoin && link.connected && !present(&link.member) {
            plan.keep_missing.push(link.member.clone());
        } else {
            plan.close.push(link.member.clone());
        }
    }
    plan.open = linked
        .into_iter()
        .filter(|peer| !links.iter().any(|link| link.member == peer.id))
        .cloned()
        .collect();
    plan
}

/// Which way media goes on one link, from the two ends' roles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkMedia {
    /// We send our camera (and microphone) on it: we send and the peer receives.
    pub sends: bool,
    /// We receive the peer's: we receive and the peer sends.
    pub receives: bool,
}

/// A transceiver's direction, as `RTCRtpTransceiverDirection` spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Sendrecv,
    Sendonly,
    Recvonly,
    Inactive,
}

impl LinkMedia {
    pub fn between(me: Role, peer: Role) -> Self {
        Self {
            sends: me.sends() && peer.receives(),
            receives: me.receives() && peer.sends(),
        }
    }

    /// The direction of a transceiver that has a local track to send (`has_track`) or not.
    /// Set on every transceiver before an answer, so that whatever the peer offered (a base
    /// client offers `sendrecv` to everyone), a camera decodes nothing and a wall sends
    /// nothing.
    pub fn direction(self, has_track: bool) -> Direction {
        match (self.sends && has_track, self.receives) {
            (true, true) => Direction::Sendrecv,
            (true, false) => Direction::Sendonly,
            (false, true) => Direction::Recvonly,
            (false, false) => Direction::Inactive,
        }
    }
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
        as_role(text, Role::Both)
    }

    fn as_role(text: &str, role: Role) -> Peer {
        Peer {
            id: id(text),
            polite: true,
            newcomer_offers: true,
            role,
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
            Role::Both,
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
        let plan = reconcile(
            Role::Both,
            &[link("a", true), link("b", true)],
            &[peer("a")],
            false,
        );
        assert_eq!(plan.close, [id("b")]);
        assert!(plan.open.is_empty() && plan.keep_missing.is_empty());
    }

    #[test]
    fn after_a_rejoin_live_calls_outlast_their_members_absence() {
        let links = [link("a", true), link("b", false)];
        let plan = reconcile(Role::Both, &links, &[], true);
        assert_eq!(plan.keep_missing, [id("a")]);
        assert_eq!(plan.close, [id("b")], "a dead call is not worth keeping");
    }

    #[test]
    fn a_camera_links_only_with_those_that_watch() {
        let members = [
            as_role("wall", Role::Wall),
            as_role("other camera", Role::Camera),
            peer("both"),
        ];
        let plan = reconcile(Role::Camera, &[], &members, false);
        assert_eq!(plan.open, [members[0].clone(), members[2].clone()]);
        let plan = reconcile(Role::Wall, &[], &members, false);
        assert_eq!(plan.open, [members[1].clone(), members[2].clone()]);
    }

    #[test]
    fn a_peer_back_in_a_role_it_cannot_link_in_is_closed_even_after_a_rejoin() {
        for after_own_rejoin in [false, true] {
            let plan = reconcile(
                Role::Camera,
                &[link("a", true)],
                &[as_role("a", Role::Camera)],
                after_own_rejoin,
            );
            assert_eq!(plan.close, [id("a")], "after a rejoin: {after_own_rejoin}");
            assert!(plan.keep_missing.is_empty());
        }
    }

    #[test]
    fn each_side_sends_only_to_a_receiver_and_receives_only_from_a_sender() {
        use Direction::*;
        let media = LinkMedia::between;
        assert_eq!(media(Role::Camera, Role::Wall).direction(true), Sendonly);
        assert_eq!(media(Role::Wall, Role::Camera).direction(false), Recvonly);
        assert_eq!(media(Role::Both, Role::Camera).direction(true), Recvonly);
        assert_eq!(media(Role::Camera, Role::Both).direction(true), Sendonly);
        assert_eq!(media(Role::Both, Role::Wall).direction(true), Sendonly);
        assert_eq!(media(Role::Both, Role::Both).direction(true), Sendrecv);
        assert_eq!(media(Role::Both, Role::Both).direction(false), Recvonly);
        assert_eq!(media(Role::Camera, Role::Wall).direction(false), Inactive);
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
