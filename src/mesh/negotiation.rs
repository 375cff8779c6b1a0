//! Perfect negotiation after the W3C WebRTC specification's example "Perfect negotiation",
//! with the example's own names: `makingOffer`, `ignoreOffer` and
//! `isSettingRemoteAnswerPending`. Pure: the link feeds it what happened and the connection's
//! `signalingState`, and does what it decides. Two additions of ours: the flag for an answer
//! being applied is cleared only when an answer settles (see
//! [`PerfectNegotiation::remote_description_settled`]), and candidates that arrive before the
//! remote description wait in a [`CandidateQueue`], which also sets aside those of ICE sessions
//! the remote description does not have. Beside them: who makes a link's first offer, and the
//! SDP lines the link reads.

use crate::signalling::protocol::{IceCandidate, SdpType};

/// `RTCSignalingState`, without web-sys, so that the decisions are tested on the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignalingState {
    Stable,
    HaveLocalOffer,
    HaveRemoteOffer,
    HaveLocalPranswer,
    HaveRemotePranswer,
    Closed,
}

/// What to do with a description the peer sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Hand it to `setRemoteDescription`; an offer is then answered.
    Apply,
    /// An offer that collided with ours, on the impolite side: ours wins and theirs is dropped.
    Ignore,
}

/// One link's perfect-negotiation flags.
#[derive(Clone, Debug)]
pub struct PerfectNegotiation {
    polite: bool,
    making_offer: bool,
    ignore_offer: bool,
    is_setting_remote_answer_pending: bool,
}

impl PerfectNegotiation {
    pub fn new(polite: bool) -> Self {
        Self {
            polite,
            making_offer: false,
            ignore_offer: false,
            is_setting_remote_answer_pending: false,
        }
    }

    pub fn polite(&self) -> bool {
        self.polite
    }

    /// `negotiationneeded` fired: `setLocalDescription()` is called now.
    pub fn offer_started(&mut self) {
        self.making_offer = true;
    }

    /// That `setLocalDescription()` settled, whether it worked or not (the spec's `finally`).
    pub fn offer_settled(&mut self) {
        self.making_offer = false;
    }

    pub fn is_making_offer(&self) -> bool {
        self.making_offer
    }

    /// A description arrived while the connection is in `state`. Records whether an offer is
    /// ignored and whether an answer is now being applied.
    pub fn description_received(&mut self, kind: SdpType, state: SignalingState) -> Verdict {
        let ready_for_offer = !self.making_offer
            && (state == SignalingState::Stable || self.is_setting_remote_answer_pending);
        let offer_collision = kind == SdpType::Offer && !ready_for_offer;
        self.ignore_offer = !self.polite && offer_collision;
        if self.ignore_offer {
            return Verdict::Ignore;
        }
        self.is_setting_remote_answer_pending = kind == SdpType::Answer;
        Verdict::Apply
    }

    /// The `setRemoteDescription` of a description of this kind settled. Only an answer's
    /// clears the flag: an offer handed over after it (the connection queues them) must not
    /// clear it while the answer is still being applied.
    pub fn remote_description_settled(&mut self, kind: SdpType) {
        if kind == SdpType::Answer {
            self.is_setting_remote_answer_pending = false;
        }
    }

    /// Whether the last offer was ignored: its candidates then fail, as expected.
    pub fn ignoring_offer(&self) -> bool {
        self.ignore_offer
    }
}

/// Who makes a link's first offer. The two sides must not both offer at once: Chromium never
/// gathers ICE candidates on a connection whose very first offer was rolled back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FirstOffer {
    /// We offer at once.
    Ours,
    /// We let the peer offer, and offer ourselves only if nothing came after this long.
    Theirs { wait_ms: u32 },
}

impl FirstOffer {
    /// A member already in the room waiting for a newcomer's offer. Long: a newcomer on a busy
    /// machine (seen: the eighth tab on two cores) handles its first `info` seconds after the
    /// room heard of it, and an offer of ours made meanwhile would cross its own. The wait ends
    /// early only if the newcomer never offers, which a newcomer of ours never fails to do.
    pub const FROM_NEWCOMER: Self = Self::Theirs { wait_ms: 5_000 };
    /// A newcomer waiting for the offer of a member that does not say it waits for ours (a base
    /// client, which offers on every `info`). Longer than the 1.5 s that a tab of ours loaded
    /// before it said so waits: its offer then meets ours still waiting.
    pub const FROM_MEMBER: Self = Self::Theirs { wait_ms: 3_000 };

    /// A link opened for the peer's offer, which is handled before we could make one of our
    /// own: the polite side holds its tracks back for its answer, as for a newcomer's offer.
    pub fn offer_in_hand(polite: bool) -> Self {
        if polite {
            Self::FROM_NEWCOMER
        } else {
            Self::Ours
        }
    }
}

/// Whom a page offers to first on its first `info` under an id. Our clients agree that a
/// newcomer offers and the members already there wait for it; our server marks those members
/// in `info` (`newcomer_offers`). A base `@openlab/portals` client instead offers to everyone on
/// every `info`, the one announcing us included, so a newcomer waits for the offer of a member
/// without the mark.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FirstOffers {
    /// Our server's marks say who waits for us.
    ToMembersThatWait,
    /// A base server marks nobody (our newcomer offers to all, as base clients do). And after a
    /// reload the seat was kept: the others were told of no newcomer and wait for nothing,
    /// while every connection of ours is new, so ours are the first offers.
    ToAll,
}

impl FirstOffers {
    /// Who offers first on a link to a member of an `info`. `newcomer`: this is our first
    /// `info` under this id (otherwise the member is the newcomer). `waits_for_newcomer`: the
    /// member's `newcomer_offers` mark.
    pub fn on_link_to(self, newcomer: bool, waits_for_newcomer: bool) -> FirstOffer {
        match (newcomer, self) {
            (false, _) => FirstOffer::FROM_NEWCOMER,
            (true, FirstOffers::ToMembersThatWait) if !waits_for_newcomer => {
                FirstOffer::FROM_MEMBER
            }
            (true, _) => FirstOffer::Ours,
        }
    }
}

/// Early candidates kept until the remote description arrives.
pub const PENDING_LIMIT: usize = 256;

/// A remote description handed to the connection, numbered so that one that fails can tell
/// whether another was handed over after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Handed(u32);

/// The peer's candidates: those that arrive before any remote description wait here, and
/// those of an ICE session the remote description does not have are set aside.
#[derive(Debug, Default)]
pub struct CandidateQueue {
    pending: Vec<Option<IceCandidate>>,
    /// The ICE sessions (`a=ice-ufrag`) of the newest remote description handed to the
    /// connection, recorded when it is handed over, not when it is applied: the connection
    /// runs its operations in order, so a candidate added now is tried after that description
    /// and must be judged by it. Judged by the one still in place, the candidates that follow
    /// an ICE restart or a peer's new connection would be set aside.
    remote_ice_sessions: Vec<String>,
    handed: u32,
}

/// What to do with a candidate that arrived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CandidateVerdict {
    /// Add it to the connection now (`None` is the end of candidates).
    Add(Option<IceCandidate>),
    /// Kept until the remote description arrives.
    Queued,
    /// Of an ICE session the remote description no longer has.
    Stale,
}

impl CandidateQueue {
    /// A remote description with this SDP is handed to `setRemoteDescription` now.
    pub fn description_handed(&mut self, sdp: &str) -> Handed {
        self.remote_ice_sessions = ice_ufrags(sdp);
        self.handed = self.handed.wrapping_add(1);
        Handed(self.handed)
    }

    /// That description failed and the connection kept the one it had (`kept`, its SDP), unless
    /// a later one has taken the failed one's place meanwhile.
    pub fn description_failed(&mut self, handed: Handed, kept: Option<&str>) {
        if handed.0 == self.handed {
            self.remote_ice_sessions = kept.map(ice_ufrags).unwrap_or_default();
        }
    }

    /// A candidate arrived; `has_remote_description` is the connection's own say.
    pub fn received(
        &mut self,
        candidate: Option<IceCandidate>,
        has_remote_description: bool,
    ) -> CandidateVerdict {
        if !has_remote_description {
            if self.pending.len() < PENDING_LIMIT {
                self.pending.push(candidate);
            }
            return CandidateVerdict::Queued;
        }
        if self.is_stale(candidate.as_ref()) {
            return CandidateVerdict::Stale;
        }
        CandidateVerdict::Add(candidate)
    }

    /// A remote description is in place: the candidates that waited for it and still belong
    /// to it.
    pub fn flush(&mut self) -> Vec<Option<IceCandidate>> {
        let pending = std::mem::take(&mut self.pending);
        pending
            .into_iter()
            .filter(|candidate| !self.is_stale(candidate.as_ref()))
            .collect()
    }

    /// Whether a candidate belongs to an ICE session the remote description no longer has:
    /// one of an offer we ignored or the peer rolled back, or of its connection before an ICE
    /// restart. Its `usernameFragment` says which session it is for (trystero filters the same
    /// way); trying it would only fail, and the failure would read like a real problem.
    fn is_stale(&self, candidate: Option<&IceCandidate>) -> bool {
        let Some(ufrag) = candidate.and_then(|candidate| candidate.username_fragment.as_deref())
        else {
            return false;
        };
        !self.remote_ice_sessions.is_empty()
            && !self.remote_ice_sessions.iter().any(|known| known == ufrag)
    }
}

/// The ICE sessions an SDP describes: its `a=ice-ufrag:` values, one per media section (most
/// often all the same).
pub fn ice_ufrags(sdp: &str) -> Vec<String> {
    sdp.lines()
        .filter_map(|line| line.trim().strip_prefix("a=ice-ufrag:"))
        .map(str::to_owned)
        .collect()
}

/// The `a=fingerprint:` line of an SDP, which identifies the sending `RTCPeerConnection`.
pub fn fingerprint(sdp: &str) -> Option<String> {
    sdp.lines()
        .find_map(|line| line.trim().strip_prefix("a=fingerprint:"))
        .map(str::to_string)
}

/// The peer's `RTCPeerConnection` as we last negotiated with it, by its DTLS fingerprint: a new
/// one means the peer replaced its whole connection (the base library does so on every
/// `info`).
#[derive(Debug, Default)]
pub struct RemoteConnection {
    fingerprint: Option<String>,
}

impl RemoteConnection {
    /// Whether a description's fingerprint names another connection than the one we last
    /// negotiated with. Without either fingerprint we cannot tell, and take it as the same.
    pub fn is_other(&self, fingerprint: Option<&str>) -> bool {
        matches!(
            (self.fingerprint.as_deref(), fingerprint),
            (Some(known), Some(new)) if known != new
        )
    }

    /// A description with this fingerprint was applied.
    pub fn applied(&mut self, fingerprint: Option<String>) {
        if fingerprint.is_some() {
            self.fingerprint = fingerprint;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use SignalingState::*;

    fn candidate(ufrag: &str) -> Option<IceCandidate> {
        Some(IceCandidate {
            candidate: format!("candidate:1 1 udp 1 127.0.0.1 9 typ host ufrag {ufrag}"),
            sdp_mid: Some("0".into()),
            sdp_m_line_index: Some(0),
            username_fragment: Some(ufrag.into()),
        })
    }

    fn sdp(ufrag: &str) -> String {
        format!("v=0\r\na=fingerprint:sha-256 AA\r\na=ice-ufrag:{ufrag}\r\n")
    }

    #[test]
    fn an_offer_in_stable_is_applied_and_answered() {
        let mut negotiation = PerfectNegotiation::new(false);
        assert_eq!(
            negotiation.description_received(SdpType::Offer, Stable),
            Verdict::Apply
        );
        assert!(!negotiation.ignoring_offer());
    }

    #[test]
    fn glare_the_impolite_side_ignores_the_peers_offer() {
        let mut negotiation = PerfectNegotiation::new(false);
        negotiation.offer_started();
        assert_eq!(
            negotiation.description_received(SdpType::Offer, Stable),
            Verdict::Ignore,
            "an offer while ours is being made collides"
        );
        assert!(negotiation.ignoring_offer());
        negotiation.offer_settled();
        assert_eq!(
            negotiation.description_received(SdpType::Offer, HaveLocalOffer),
            Verdict::Ignore,
            "an offer while ours waits for its answer collides too"
        );
        assert_eq!(
            negotiation.description_received(SdpType::Answer, HaveLocalOffer),
            Verdict::Apply
        );
        assert!(!negotiation.ignoring_offer());
    }

    #[test]
    fn glare_the_polite_side_rolls_back_and_applies_the_peers_offer() {
        let mut negotiation = PerfectNegotiation::new(true);
        negotiation.offer_started();
        negotiation.offer_settled();
        // `setRemoteDescription(offer)` in `have-local-offer` rolls ours back implicitly.
        assert_eq!(
            negotiation.description_received(SdpType::Offer, HaveLocalOffer),
            Verdict::Apply
        );
        assert!(!negotiation.ignoring_offer());
    }

    #[test]
    fn an_offer_right_behind_an_answer_being_applied_is_no_collision() {
        let mut negotiation = PerfectNegotiation::new(false);
        assert_eq!(
            negotiation.description_received(SdpType::Answer, HaveLocalOffer),
            Verdict::Apply
        );
        // The state still says `have-local-offer` until the answer is in.
        assert_eq!(
            negotiation.description_received(SdpType::Offer, HaveLocalOffer),
            Verdict::Apply
        );
        negotiation.remote_description_settled(SdpType::Offer);
        negotiation.remote_description_settled(SdpType::Answer);
        assert_eq!(
            negotiation.description_received(SdpType::Offer, HaveLocalOffer),
            Verdict::Ignore,
            "once the answer is in, have-local-offer is our own new offer again"
        );
    }

    #[test]
    fn a_newcomer_offers_unless_the_member_is_a_base_client_and_members_wait() {
        use FirstOffers::*;
        assert_eq!(ToMembersThatWait.on_link_to(true, true), FirstOffer::Ours);
        assert_eq!(
            ToMembersThatWait.on_link_to(true, false),
            FirstOffer::FROM_MEMBER,
            "a base client offers on every info"
        );
        assert_eq!(ToAll.on_link_to(true, false), FirstOffer::Ours);
        assert_eq!(ToAll.on_link_to(false, true), FirstOffer::FROM_NEWCOMER);
        assert_eq!(
            ToMembersThatWait.on_link_to(false, false),
            FirstOffer::FROM_NEWCOMER
        );
        assert_eq!(FirstOffer::offer_in_hand(true), FirstOffer::FROM_NEWCOMER);
        assert_eq!(FirstOffer::offer_in_hand(false), FirstOffer::Ours);
    }

    #[test]
    fn early_candidates_wait_for_the_remote_description_up_to_a_limit() {
        let mut queue = CandidateQueue::default();
        for _ in 0..PENDING_LIMIT + 10 {
            assert_eq!(
                queue.received(candidate("a"), false),
                CandidateVerdict::Queued
            );
        }
        queue.description_handed(&sdp("a"));
        assert_eq!(queue.flush().len(), PENDING_LIMIT);
        assert!(queue.flush().is_empty(), "flushed once");
        assert_eq!(
            queue.received(candidate("a"), true),
            CandidateVerdict::Add(candidate("a"))
        );
        assert_eq!(queue.received(None, true), CandidateVerdict::Add(None));
    }

    #[test]
    fn candidates_of_another_ice_session_are_set_aside() {
        let mut queue = CandidateQueue::default();
        queue.received(candidate("old"), false);
        queue.received(candidate("new"), false);
        queue.description_handed(&sdp("new"));
        assert_eq!(queue.flush(), vec![candidate("new")]);
        assert_eq!(
            queue.received(candidate("old"), true),
            CandidateVerdict::Stale
        );
    }

    #[test]
    fn a_failed_description_restores_the_kept_sessions_unless_another_followed() {
        let mut queue = CandidateQueue::default();
        queue.description_handed(&sdp("one"));
        let failed = queue.description_handed(&sdp("two"));
        queue.description_failed(failed, Some(&sdp("one")));
        assert_eq!(
            queue.received(candidate("one"), true),
            CandidateVerdict::Add(candidate("one"))
        );
        let failed = queue.description_handed(&sdp("three"));
        queue.description_handed(&sdp("four"));
        queue.description_failed(failed, Some(&sdp("one")));
        assert_eq!(
            queue.received(candidate("four"), true),
            CandidateVerdict::Add(candidate("four")),
            "the later description's sessions stand"
        );
    }

    #[test]
    fn a_new_fingerprint_is_another_connection() {
        let mut remote = RemoteConnection::default();
        assert!(!remote.is_other(Some("sha-256 AA")), "nothing known yet");
        remote.applied(fingerprint(&sdp("x")));
        assert!(!remote.is_other(Some("sha-256 AA")));
        assert!(remote.is_other(Some("sha-256 BB")));
        assert!(!remote.is_other(None));
        remote.applied(None);
        assert!(
            remote.is_other(Some("sha-256 BB")),
            "no fingerprint keeps the known one"
        );
    }
}
