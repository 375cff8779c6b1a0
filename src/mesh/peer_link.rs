//! One `RTCPeerConnection` to one other member, negotiated with "perfect negotiation" as
//! PROTOCOL.md describes: `negotiationneeded` makes an offer; on a colliding offer the impolite
//! side ignores it and the polite side rolls back (implicitly) and answers.
//!
//! The link owns its event listeners and timer; dropping it removes them, closes the
//! connection and takes the stream off its tile. Async steps hold only a `Weak` between awaits,
//! so a closed link is never kept alive by a promise still in flight.

use std::{
    cell::{Cell, RefCell},
    rc::{Rc, Weak},
};

use gloo_events::EventListener;
use gloo_timers::callback::{Interval, Timeout};
use leptos::prelude::{GetUntracked, Set, WithUntracked};
use send_wrapper::SendWrapper;
use serde_json::value::RawValue;
use wasm_bindgen::{prelude::wasm_bindgen, JsCast, JsValue};
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{
    MediaStream, MediaStreamTrack, MediaStreamTrackState, RtcIceConnectionState, RtcPeerConnection,
    RtcPeerConnectionIceEvent, RtcPeerConnectionState, RtcRtpTransceiver,
    RtcRtpTransceiverDirection, RtcRtpTransceiverInit, RtcSdpType, RtcSessionDescriptionInit,
    RtcSignalingState, RtcTrackEvent,
};

use super::{signalling_socket::SignalSender, trace::trace};
use crate::{
    components::model::{LinkState, Tile},
    signalling::{
        protocol::{IceCandidate, Peer, Relayed, RtcConfiguration, SdpType, SessionDescription},
        ClientMessage, MemberId,
    },
};

/// How long a connection may sit in `disconnected` before we restart ICE ourselves.
const DISCONNECTED_GRACE_MS: u32 = 3_000;
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
}

/// How often a connection that never got (back) to `connected` is looked at; two looks in a
/// row without progress restart ICE or offer again, then four, eight and at most sixteen
/// (about a minute): a peer that cannot answer is not sent an offer every few seconds.
const WATCHDOG_MS: u32 = 4_000;
const FIRST_PATIENCE: u32 = 2;
const MAX_PATIENCE: u32 = 16;
/// New frames between two watchdog looks that make a picture of a track that says it is
/// muted: a straggler or two decoded after the peer stopped sending are not one.
const MIN_FRAMES_PER_LOOK: f64 = 4.0;
/// Early candidates kept until the remote description arrives.
const PENDING_LIMIT: usize = 256;

#[wasm_bindgen]
extern "C" {
    /// `RTCPeerConnection` with two current methods that web-sys does not bind yet.
    #[wasm_bindgen(extends = RtcPeerConnection, js_name = RTCPeerConnection)]
    type ModernPeerConnection;

    /// `setLocalDescription()` without arguments: the browser creates the right offer or answer
    /// for the current state, which is what makes perfect negotiation race-free.
    #[wasm_bindgen(method, js_name = setLocalDescription)]
    fn set_local_description_implicit(this: &ModernPeerConnection) -> js_sys::Promise;

    #[wasm_bindgen(method, js_name = restartIce)]
    fn restart_ice(this: &ModernPeerConnection);
}

fn modern(connection: &RtcPeerConnection) -> &ModernPeerConnection {
    connection.unchecked_ref()
}

pub struct PeerLink {
    core: Rc<LinkCore>,
    _listeners: [EventListener; 5],
    _watchdog: Interval,
}

/// Local tracks and the streams they belong to.
type LocalTracks = Vec<(MediaStreamTrack, MediaStream)>;

struct LinkCore {
    peer: MemberId,
    polite: bool,
    connection: RtcPeerConnection,
    signal: SignalSender,
    tile: Tile,
    /// Everything the peer sends, shown on its tile.
    remote: MediaStream,
    making_offer: Cell<bool>,
    ignore_offer: Cell<bool>,
    /// An answer is being applied: the state still says `have-local-offer`, but an offer
    /// arriving now follows that answer and is no collision.
    applying_answer: Cell<bool>,
    pending_candidates: RefCell<Vec<Option<IceCandidate>>>,
    /// The ICE sessions (`a=ice-ufrag`) of the newest remote description handed to the
    /// connection, recorded when it is handed over, not when it is applied: the connection
    /// runs its operations in order, so a candidate added now is tried after that description
    /// and must be judged by it. Judged by the one still in place, the candidates that follow
    /// an ICE restart or a peer's new connection would be set aside.
    remote_ice_sessions: RefCell<Vec<String>>,
    /// Counts the remote descriptions handed to the connection: one that fails can tell
    /// whether another was handed over after it, and must not undo that one's sessions.
    descriptions_handed: Cell<u32>,
    /// The DTLS fingerprint of the peer's connection: a new one means the peer replaced its
    /// whole `RTCPeerConnection` (the base library does so on every `info`).
    remote_fingerprint: RefCell<Option<String>>,
    ice_restart: RefCell<Option<Timeout>>,
    /// Our tracks, held back until the peer's first offer arrives and then attached to it: one
    /// round trip and no offer collision when both sides open their connections at once, as
    /// they do on every join. `None` once attached.
    deferred: RefCell<Option<LocalTracks>>,
    first_offer_wait: RefCell<Option<Timeout>>,
    stalled_looks: Cell<u32>,
    /// How many stalled looks in a row the next restart or re-offer waits for.
    patience: Cell<u32>,
    /// `mute`, `unmute` and `ended` on each remote track.
    track_listeners: RefCell<Vec<EventListener>>,
    /// The video frames decoded so far, as of the last watchdog look while the remote track
    /// said there was no picture although the peer sends one; `None` otherwise.
    frames_seen: Cell<Option<f64>>,
    /// Frames went on being decoded between the last two looks although the remote track said
    /// it was muted. Chromium can leave a remote track muted while its frames play (seen
    /// under load with eight tabs): the tile believes the frames, as a person would, for as
    /// long as the negotiated direction says the peer sends video.
    decoding: Cell<bool>,
    /// Numbers the looks at the receivers' stats: a slow read that ends after a newer look
    /// began is dropped, so that counts are compared in the order they were taken.
    stats_reads: Cell<u32>,
}

impl PeerLink {
    /// Opens a connection to `peer`, sending `local` (the camera, maybe a microphone) if any.
    /// With [`FirstOffer::Theirs`], the tracks wait (a moment at most) for the peer's own first
    /// offer and join it, so that the two never offer at once.
    pub fn open(
        peer: &Peer,
        rtc: &RtcConfiguration,
        local: LocalTracks,
        signal: SignalSender,
        tile: Tile,
        first_offer: FirstOffer,
    ) -> Result<Self, JsValue> {
        let connection = RtcPeerConnection::new_with_configuration(&to_js(rtc)?.unchecked_into())?;
        let core = Rc::new(LinkCore {
            peer: peer.id.clone(),
            polite: peer.polite,
            connection,
            signal,
            tile,
            remote: MediaStream::new()?,
            making_offer: Cell::new(false),
            ignore_offer: Cell::new(false),
            applying_answer: Cell::new(false),
            pending_candidates: RefCell::new(Vec::new()),
            remote_ice_sessions: RefCell::new(Vec::new()),
            descriptions_handed: Cell::new(0),
            remote_fingerprint: RefCell::new(None),
            ice_restart: RefCell::new(None),
            deferred: RefCell::new(None),
            first_offer_wait: RefCell::new(None),
            stalled_looks: Cell::new(0),
            patience: Cell::new(FIRST_PATIENCE),
            track_listeners: RefCell::new(Vec::new()),
            frames_seen: Cell::new(None),
            decoding: Cell::new(false),
            stats_reads: Cell::new(0),
        });
        let target = core.connection.clone();
        let weak = Rc::downgrade(&core);
        let listeners = [
            listen(&target, "negotiationneeded", &weak, |core, _| {
                LinkCore::negotiate(core)
            }),
            listen(&target, "icecandidate", &weak, |core, event| {
                if let Some(event) = event.dyn_ref::<RtcPeerConnectionIceEvent>() {
                    core.send_candidate(event.candidate());
                }
            }),
            listen(&target, "track", &weak, |core, event| {
                if let Some(event) = event.dyn_ref::<RtcTrackEvent>() {
                    core.add_remote_track(&event.track());
                }
            }),
            listen(&target, "connectionstatechange", &weak, |core, _| {
                core.show_state()
            }),
            listen(&target, "iceconnectionstatechange", &weak, |core, _| {
                LinkCore::watch_ice(core)
            }),
        ];
        if let FirstOffer::Theirs { wait_ms } = first_offer {
            *core.deferred.borrow_mut() = Some(local);
            let weak = Rc::downgrade(&core);
            let wait = Timeout::new(wait_ms, move || {
                if let Some(core) = weak.upgrade() {
                    trace!("{}: no offer came, offering first", core.peer.short());
                    core.attach_deferred();
                }
            });
            *core.first_offer_wait.borrow_mut() = Some(wait);
        } else {
            core.attach(local);
        }
        let weak = Rc::downgrade(&core);
        let watchdog = Interval::new(WATCHDOG_MS, move || {
            if let Some(core) = weak.upgrade() {
                core.look_for_a_stall();
            }
        });
        Ok(Self {
            core,
            _listeners: listeners,
            _watchdog: watchdog,
        })
    }

    pub fn member(&self) -> &MemberId {
        &self.core.peer
    }

    pub fn is_connected(&self) -> bool {
        self.core.connection.connection_state() == RtcPeerConnectionState::Connected
    }

    pub fn tile(&self) -> &Tile {
        &self.core.tile
    }

    /// Starts sending a local track (the camera arriving late or turned back on, the
    /// microphone switched on). A transceiver of the same kind that sends nothing (a viewer's
    /// receive-only one, or the camera's after it was turned off) is reused, as `addTrack`
    /// itself would do for one never used: turning the camera off and on does not grow the
    /// SDP by a media section each time. `negotiationneeded` takes care of the rest.
    pub fn send_track(&self, track: &MediaStreamTrack, stream: &MediaStream) {
        if let Some(deferred) = self.core.deferred.borrow_mut().as_mut() {
            deferred.push((track.clone(), stream.clone()));
            return;
        }
        let transceivers = self.core.transceivers();
        let sent = |transceiver: &RtcRtpTransceiver| {
            transceiver
                .sender()
                .track()
                .is_some_and(|sent| sent.id() == track.id())
        };
        if transceivers.iter().any(sent) {
            return;
        }
        let idle = transceivers.into_iter().find(|transceiver| {
            !transceiver.stopped()
                && transceiver.sender().track().is_none()
                && transceiver.receiver().track().kind() == track.kind()
        });
        match idle {
            Some(transceiver) => {
                let replaced = transceiver.sender().replace_track(Some(track));
                spawn_local(async move {
                    if let Err(error) = JsFuture::from(replaced).await {
                        warn("replaceTrack", &error);
                    }
                });
                let direction = match transceiver.direction() {
                    RtcRtpTransceiverDirection::Inactive | RtcRtpTransceiverDirection::Sendonly => {
                        RtcRtpTransceiverDirection::Sendonly
                    }
                    _ => RtcRtpTransceiverDirection::Sendrecv,
                };
                transceiver.set_direction(direction);
            }
            None => {
                self.core.connection.add_track_0(track, stream);
            }
        }
    }

    /// Stops sending a local track that is going away. The direction change renegotiates, and
    /// the other side's copy of the track is muted: its tile shows a viewer, not a frozen frame.
    pub fn stop_sending(&self, track: &MediaStreamTrack) {
        if let Some(deferred) = self.core.deferred.borrow_mut().as_mut() {
            deferred.retain(|(held, _)| held.id() != track.id());
            return;
        }
        for transceiver in self.core.transceivers() {
            let sender = transceiver.sender();
            if sender.track().is_none_or(|sent| sent.id() != track.id()) {
                continue;
            }
            let replaced = sender.replace_track(None);
            spawn_local(async move {
                if let Err(error) = JsFuture::from(replaced).await {
                    warn("replaceTrack", &error);
                }
            });
            let direction = match transceiver.direction() {
                RtcRtpTransceiverDirection::Sendrecv => RtcRtpTransceiverDirection::Recvonly,
                _ => RtcRtpTransceiverDirection::Inactive,
            };
            transceiver.set_direction(direction);
        }
    }

    /// Whether this description comes from a different `RTCPeerConnection` than the one we
    /// negotiated with, so that ours must be replaced rather than renegotiated.
    pub fn is_from_a_new_connection(&self, description: &SessionDescription) -> bool {
        // Not an answer: one from a new connection (the peer rebuilt while our offer was on
        // its way) still answers our offer, with our media sections, and the peer's new
        // connection is now bound to them; a fresh connection of ours could never match them
        // again. Applied to ours, its new DTLS parameters make a new DTLS transport, and our
        // own ICE restart follows (see `receive_description`).
        description.kind == SdpType::Offer
            && self
                .core
                .is_other_connection(fingerprint(&description.sdp).as_deref())
    }

    pub fn receive_description(&self, description: SessionDescription) {
        let core = &self.core;
        let offer = description.kind == SdpType::Offer;
        let ready_for_offer = !core.making_offer.get()
            && (core.connection.signaling_state() == RtcSignalingState::Stable
                || core.applying_answer.get());
        let collision = offer && !ready_for_offer;
        core.ignore_offer.set(!core.polite && collision);
        trace!(
            "{} ← {:?} (state {:?}, making offer {}, polite {})",
            core.peer.short(),
            description.kind,
            core.connection.signaling_state(),
            core.making_offer.get(),
            core.polite
        );
        if core.ignore_offer.get() {
            trace!("{}: ignoring a colliding offer", core.peer.short());
            return;
        }
        let init = session_init(&description);
        // Called now rather than inside the task, so that descriptions are applied in the
        // order they arrived: the connection queues its operations.
        let answer = description.kind == SdpType::Answer;
        core.applying_answer.set(answer);
        *core.remote_ice_sessions.borrow_mut() = ice_ufrags(&description.sdp);
        let handed = core.descriptions_handed.get().wrapping_add(1);
        core.descriptions_handed.set(handed);
        let applied = core.connection.set_remote_description(&init);
        let new_fingerprint = fingerprint(&description.sdp);
        let weak = Rc::downgrade(core);
        spawn_local(async move {
            let result = JsFuture::from(applied).await;
            let Some(core) = weak.upgrade() else { return };
            if answer {
                core.applying_answer.set(false);
            }
            if let Err(error) = result {
                // The connection kept the description it had, and so do we, unless a later
                // description has taken the failed one's place in the meantime.
                if core.descriptions_handed.get() == handed {
                    let kept = core
                        .connection
                        .remote_description()
                        .map(|kept| ice_ufrags(&kept.sdp()))
                        .unwrap_or_default();
                    *core.remote_ice_sessions.borrow_mut() = kept;
                }
                warn(
                    &format!("remote description from {}", core.peer.short()),
                    &error,
                );
                return;
            }
            let answered_by_a_new_connection =
                answer && core.is_other_connection(new_fingerprint.as_deref());
            if new_fingerprint.is_some() {
                *core.remote_fingerprint.borrow_mut() = new_fingerprint;
            }
            core.flush_pending_candidates();
            // An answer settles what the peer sends: a camera turned off is no longer
            // received, whatever its track says.
            core.show_video();
            if answered_by_a_new_connection {
                // Chromium goes on sending on the pair to the peer's old connection, which
                // is gone, and tries the new one's candidates only once that pair times out:
                // about 3 s of frozen video, at times longer than the stall watchdog waits.
                // A new ICE session of ours leaves it only pairs with the new connection.
                trace!(
                    "{}: answered by a new connection, restarting ICE at once",
                    core.peer.short()
                );
                modern(&core.connection).restart_ice();
            }
            if offer {
                // Held-back tracks join the transceivers this offer just created, so the
                // answer already sends them.
                core.attach_deferred();
                let answered = modern(&core.connection).set_local_description_implicit();
                drop(core);
                let result = JsFuture::from(answered).await;
                let Some(core) = weak.upgrade() else { return };
                match result {
                    Ok(_) => {
                        core.send_local_description();
                        core.show_video();
                    }
                    Err(error) => warn("answer", &error),
                }
            }
        });
    }

    pub fn receive_candidate(&self, candidate: Option<IceCandidate>) {
        let core = &self.core;
        trace!(
            "{} ← candidate {}",
            core.peer.short(),
            candidate.as_ref().map_or("(end)", |c| c.candidate.as_str())
        );
        if core.connection.remote_description().is_none() {
            trace!("{}: queued (no remote description yet)", core.peer.short());
            let mut pending = core.pending_candidates.borrow_mut();
            if pending.len() < PENDING_LIMIT {
                pending.push(candidate);
            }
            return;
        }
        if core.is_stale(candidate.as_ref()) {
            return;
        }
        core.add_candidate(candidate);
    }
}

impl Drop for PeerLink {
    fn drop(&mut self) {
        self.core.ice_restart.borrow_mut().take();
        self.core.track_listeners.borrow_mut().clear();
        self.core.connection.close();
        self.core.tile.stream.set(None);
        for track in self.core.remote.get_tracks().iter() {
            if let Ok(track) = track.dyn_into::<MediaStreamTrack>() {
                self.core.remote.remove_track(&track);
            }
        }
    }
}

impl LinkCore {
    /// Whether a description's DTLS fingerprint names another `RTCPeerConnection` of the peer
    /// than the one we last negotiated with. Without either fingerprint we cannot tell, and
    /// take it as the same.
    fn is_other_connection(&self, fingerprint: Option<&str>) -> bool {
        matches!(
            (self.remote_fingerprint.borrow().as_deref(), fingerprint),
            (Some(known), Some(new)) if known != new
        )
    }

    /// Hands local tracks to the connection, which then asks for negotiation by itself.
    fn attach(&self, tracks: LocalTracks) {
        let sends_video = tracks.iter().any(|(track, _)| track.kind() == "video");
        for (track, stream) in &tracks {
            self.connection.add_track_0(track, stream);
        }
        if !sends_video && !self.receives_video() {
            // A viewer still wants the others' video: without a transceiver of its own, two
            // viewers would never connect and could not tell each other apart from "stuck".
            let init = RtcRtpTransceiverInit::new();
            init.set_direction(RtcRtpTransceiverDirection::Recvonly);
            self.connection
                .add_transceiver_with_str_and_init("video", &init);
        }
    }

    fn attach_deferred(&self) {
        self.first_offer_wait.borrow_mut().take();
        let deferred = self.deferred.borrow_mut().take();
        if let Some(tracks) = deferred {
            self.attach(tracks);
        }
    }

    fn transceivers(&self) -> Vec<RtcRtpTransceiver> {
        self.connection
            .get_transceivers()
            .iter()
            .filter_map(|transceiver| transceiver.dyn_into::<RtcRtpTransceiver>().ok())
            .collect()
    }

    /// The transceivers whose receiving half carries video (a media section of kind video).
    fn video_transceivers(&self) -> impl Iterator<Item = RtcRtpTransceiver> {
        self.transceivers()
            .into_iter()
            .filter(|transceiver| transceiver.receiver().track().kind() == "video")
    }

    fn receives_video(&self) -> bool {
        self.video_transceivers().next().is_some()
    }

    /// Two ways a connection can get stuck with nothing left to fail, each seen in Chromium:
    ///
    /// - short of `connected`, when a polite side's first offer is rolled back before it
    ///   gathered a single candidate. Restarting ICE gathers afresh.
    /// - with an offer of ours that is never answered. A peer that settles collisions less
    ///   carefully than we do (the base `@openlab/portals` client has no notion of an answer
    ///   still being applied) can take our offer for a collision and drop it. Rolling the
    ///   offer back returns to `stable`, where the browser asks for negotiation again and the
    ///   new offer meets a peer that is ready for it.
    fn look_for_a_stall(self: &Rc<Self>) {
        // `mute`/`unmute` are the tile's cue, but an event lost while the page was starved
        // would leave a playing video under "Camera off": the track's state is looked at too,
        // and the frames the connection decodes.
        self.show_video();
        self.count_decoded_frames();
        let connecting = matches!(
            self.connection.connection_state(),
            RtcPeerConnectionState::New | RtcPeerConnectionState::Connecting
        ) && self.deferred.borrow().is_none();
        let unanswered = self.connection.signaling_state() == RtcSignalingState::HaveLocalOffer
            && !self.making_offer.get();
        if !(connecting || unanswered) {
            self.stalled_looks.set(0);
            self.patience.set(FIRST_PATIENCE);
            return;
        }
        if !self.signal.is_joined() {
            // Our own signalling is down: an offer now would only wait in its queue, and the
            // time away says nothing about the peer.
            self.stalled_looks.set(0);
            return;
        }
        self.stalled_looks.set(self.stalled_looks.get() + 1);
        if self.stalled_looks.get() < self.patience.get() {
            return;
        }
        self.stalled_looks.set(0);
        self.patience
            .set((self.patience.get() * 2).min(MAX_PATIENCE));
        if unanswered {
            trace!(
                "{}: offer never answered, offering again",
                self.peer.short()
            );
            let rollback = RtcSessionDescriptionInit::new(RtcSdpType::Rollback);
            let rolled_back = self.connection.set_local_description(&rollback);
            let weak = Rc::downgrade(self);
            spawn_local(async move {
                if let (Err(error), Some(core)) =
                    (JsFuture::from(rolled_back).await, weak.upgrade())
                {
                    warn(&format!("rollback towards {}", core.peer.short()), &error);
                }
            });
        } else {
            trace!("{}: stuck connecting, restarting ICE", self.peer.short());
            modern(&self.connection).restart_ice();
        }
    }

    fn negotiate(core: Rc<Self>) {
        trace!("{}: negotiation needed", core.peer.short());
        core.making_offer.set(true);
        let offered = modern(&core.connection).set_local_description_implicit();
        let weak = Rc::downgrade(&core);
        drop(core);
        spawn_local(async move {
            let result = JsFuture::from(offered).await;
            let Some(core) = weak.upgrade() else { return };
            core.making_offer.set(false);
            match result {
                Ok(_) => core.send_local_description(),
                Err(error) => warn("offer", &error),
            }
        });
    }

    fn send_local_description(&self) {
        let Some(local) = self.connection.local_description() else {
            return;
        };
        let kind = match local.type_() {
            RtcSdpType::Offer => SdpType::Offer,
            RtcSdpType::Answer => SdpType::Answer,
            RtcSdpType::Pranswer => SdpType::Pranswer,
            _ => SdpType::Rollback,
        };
        trace!("{} → {kind:?}", self.peer.short());
        self.signal.send(&ClientMessage::Description {
            target: self.peer.clone(),
            description: Relayed::new(&SessionDescription {
                kind,
                sdp: local.sdp(),
            }),
        });
    }

    fn send_candidate(&self, candidate: Option<web_sys::RtcIceCandidate>) {
        let candidate = match candidate {
            // The browser's own JSON form carries every field, usernameFragment included, and
            // goes out as it is.
            Some(candidate) => {
                let json = js_sys::JSON::stringify(&candidate.to_json())
                    .ok()
                    .and_then(|json| json.as_string())
                    .and_then(|json| RawValue::from_string(json).ok())
                    .and_then(|json| Relayed::from_json(json).ok());
                match json {
                    Some(candidate) => candidate,
                    None => return,
                }
            }
            None => Relayed::new(&None),
        };
        trace!("{} → candidate {}", self.peer.short(), candidate.json());
        self.signal.send(&ClientMessage::Candidate {
            target: self.peer.clone(),
            candidate,
        });
    }

    fn flush_pending_candidates(self: &Rc<Self>) {
        let pending = std::mem::take(&mut *self.pending_candidates.borrow_mut());
        for candidate in pending {
            if !self.is_stale(candidate.as_ref()) {
                self.add_candidate(candidate);
            }
        }
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
        let sessions = self.remote_ice_sessions.borrow();
        if sessions.is_empty() {
            return false;
        }
        let stale = !sessions.iter().any(|known| known == ufrag);
        if stale {
            trace!(
                "{}: candidate of ICE session {ufrag} set aside (not the remote description's)",
                self.peer.short()
            );
        }
        stale
    }

    fn add_candidate(self: &Rc<Self>, candidate: Option<IceCandidate>) {
        let init = match &candidate {
            Some(candidate) => match to_js(candidate) {
                Ok(init) => Some(init.unchecked_into::<web_sys::RtcIceCandidateInit>()),
                Err(_) => return,
            },
            None => None,
        };
        let added = self
            .connection
            .add_ice_candidate_with_opt_rtc_ice_candidate_init(init.as_ref());
        let weak = Rc::downgrade(self);
        spawn_local(async move {
            if let Err(error) = JsFuture::from(added).await {
                // Candidates of an offer we ignored are expected to fail.
                if weak.upgrade().is_some_and(|core| !core.ignore_offer.get()) {
                    warn("candidate", &error);
                }
            }
        });
    }

    fn add_remote_track(self: &Rc<Self>, track: &MediaStreamTrack) {
        trace!("{}: {} track arrived", self.peer.short(), track.kind());
        let known = self.remote.get_track_by_id(&track.id()).is_some();
        if !known {
            self.remote.add_track(track);
            // A track comes back (unmute) when the other side turns its camera on again, and
            // goes quiet (mute) or ends when it turns it off or loses it: the tile follows.
            let weak = Rc::downgrade(self);
            let update = move |_: &web_sys::Event| {
                if let Some(core) = weak.upgrade() {
                    core.show_video();
                }
            };
            let mut listeners = self.track_listeners.borrow_mut();
            for event in ["mute", "unmute", "ended"] {
                listeners.push(EventListener::new(track, event, update.clone()));
            }
        }
        self.show_video();
        if self.tile.stream.with_untracked(Option::is_none) {
            self.tile
                .stream
                .set(Some(SendWrapper::new(self.remote.clone())));
        }
    }

    /// Whether the remote video track says it has a picture: live and not muted.
    fn track_has_video(&self) -> bool {
        self.remote.get_video_tracks().iter().any(|track| {
            track.dyn_into::<MediaStreamTrack>().is_ok_and(|track| {
                !track.muted() && track.ready_state() == MediaStreamTrackState::Live
            })
        })
    }

    /// Whether the negotiated direction of a video transceiver has the peer sending to us.
    fn receives_sent_video(&self) -> bool {
        self.video_transceivers().any(|transceiver| {
            matches!(
                transceiver.current_direction(),
                Some(RtcRtpTransceiverDirection::Sendrecv | RtcRtpTransceiverDirection::Recvonly)
            )
        })
    }

    /// Whether the tile has a picture: the remote track says so, or frames are decoded anyway
    /// from a peer that still sends.
    fn show_video(&self) {
        let track_says = self.track_has_video();
        let playing = track_says || (self.decoding.get() && self.receives_sent_video());
        if self.tile.has_video.get_untracked() != playing {
            trace!(
                "{}: video {}",
                self.peer.short(),
                match (playing, track_says) {
                    (false, _) => "off",
                    (true, true) => "on",
                    (true, false) => "on (frames decoded, though the track says muted)",
                }
            );
            self.tile.has_video.set(playing);
        }
    }

    /// While the remote track says there is no picture but the peer still sends video, reads
    /// how many frames the connection has decoded and compares that with the last look:
    /// frames that go on arriving are a picture whatever the track says. It costs a stats
    /// call per video receiver and look, made only then.
    fn count_decoded_frames(self: &Rc<Self>) {
        let read = self.stats_reads.get().wrapping_add(1);
        self.stats_reads.set(read);
        if self.track_has_video() || !self.receives_sent_video() {
            self.frames_seen.set(None);
            self.decoding.set(false);
            return;
        }
        let reports: Vec<JsFuture> = self
            .video_transceivers()
            .map(|transceiver| JsFuture::from(transceiver.receiver().get_stats()))
            .collect();
        let weak = Rc::downgrade(self);
        spawn_local(async move {
            let mut frames = 0.0;
            let mut failure = None;
            for report in reports {
                match report.await {
                    Ok(report) => frames += frames_decoded(&report),
                    Err(error) => failure = Some(error),
                }
            }
            // A link closed meanwhile fails its reads, and that is no news.
            let Some(core) = weak.upgrade() else { return };
            if core.stats_reads.get() != read {
                return;
            }
            if let Some(error) = failure {
                warn("receiver stats", &error);
                return;
            }
            match core.frames_seen.replace(Some(frames)) {
                Some(before) if frames >= before => {
                    core.decoding.set(frames - before >= MIN_FRAMES_PER_LOOK);
                }
                // The first count, or a lower one (a receiver was replaced): nothing to
                // compare with yet.
                _ => {}
            }
            core.show_video();
        });
    }

    fn show_state(&self) {
        trace!(
            "{}: connection {:?}",
            self.peer.short(),
            self.connection.connection_state()
        );
        let state = match self.connection.connection_state() {
            RtcPeerConnectionState::Connected => LinkState::Connected,
            RtcPeerConnectionState::Disconnected => LinkState::Reconnecting,
            RtcPeerConnectionState::Failed => LinkState::Failed,
            RtcPeerConnectionState::Closed => return,
            _ => {
                // `connecting` again after having been connected is a reconnection.
                if self.tile.state.get_untracked() == LinkState::Connecting {
                    LinkState::Connecting
                } else {
                    LinkState::Reconnecting
                }
            }
        };
        self.tile.state.set(state);
    }

    /// ICE restart on `failed`, and after a few seconds of `disconnected`: a network change on
    /// either side then heals without rebuilding the connection.
    fn watch_ice(core: Rc<Self>) {
        trace!(
            "{}: ICE {:?}",
            core.peer.short(),
            core.connection.ice_connection_state()
        );
        match core.connection.ice_connection_state() {
            RtcIceConnectionState::Failed => {
                core.ice_restart.borrow_mut().take();
                modern(&core.connection).restart_ice();
            }
            RtcIceConnectionState::Disconnected => {
                let weak = Rc::downgrade(&core);
                let timer = Timeout::new(DISCONNECTED_GRACE_MS, move || {
                    if let Some(core) = weak.upgrade() {
                        if core.connection.ice_connection_state()
                            == RtcIceConnectionState::Disconnected
                        {
                            modern(&core.connection).restart_ice();
                        }
                    }
                });
                *core.ice_restart.borrow_mut() = Some(timer);
            }
            _ => {
                core.ice_restart.borrow_mut().take();
            }
        }
    }
}

/// An event listener on the connection that reaches its link through a `Weak`.
fn listen(
    target: &RtcPeerConnection,
    event: &'static str,
    core: &Weak<LinkCore>,
    handler: impl Fn(Rc<LinkCore>, &web_sys::Event) + 'static,
) -> EventListener {
    let core = core.clone();
    EventListener::new(target, event, move |event| {
        if let Some(core) = core.upgrade() {
            handler(core, event);
        }
    })
}

fn session_init(description: &SessionDescription) -> RtcSessionDescriptionInit {
    let kind = match description.kind {
        SdpType::Offer => RtcSdpType::Offer,
        SdpType::Answer => RtcSdpType::Answer,
        SdpType::Pranswer => RtcSdpType::Pranswer,
        SdpType::Rollback => RtcSdpType::Rollback,
    };
    let init = RtcSessionDescriptionInit::new(kind);
    init.set_sdp(&description.sdp);
    init
}

/// The ICE sessions an SDP describes: its `a=ice-ufrag:` values, one per media section (most
/// often all the same; `is_stale` only asks whether a ufrag is among them).
fn ice_ufrags(sdp: &str) -> Vec<String> {
    sdp.lines()
        .filter_map(|line| line.trim().strip_prefix("a=ice-ufrag:"))
        .map(str::to_owned)
        .collect()
}

/// The `a=fingerprint:` line of an SDP, which identifies the sending `RTCPeerConnection`.
fn fingerprint(sdp: &str) -> Option<String> {
    sdp.lines()
        .find_map(|line| line.trim().strip_prefix("a=fingerprint:"))
        .map(str::to_string)
}

/// The video frames an `RTCStatsReport` says were decoded, over its `inbound-rtp` entries.
fn frames_decoded(report: &JsValue) -> f64 {
    let Ok(Some(entries)) = js_sys::try_iter(report) else {
        return 0.0;
    };
    let text = |stats: &JsValue, name: &str| {
        js_sys::Reflect::get(stats, &name.into())
            .ok()
            .and_then(|value| value.as_string())
    };
    entries
        .flatten()
        // Each entry of the map is `[id, stats]`.
        .filter_map(|entry| js_sys::Reflect::get_u32(&entry, 1).ok())
        .filter(|stats| {
            text(stats, "type").as_deref() == Some("inbound-rtp")
                && text(stats, "kind").as_deref() == Some("video")
        })
        .filter_map(|stats| {
            js_sys::Reflect::get(&stats, &"framesDecoded".into())
                .ok()
                .and_then(|value| value.as_f64())
        })
        .sum()
}

/// A serde value as the browser's own object, through JSON: the shapes are the same.
fn to_js(value: &impl serde::Serialize) -> Result<JsValue, JsValue> {
    let json =
        serde_json::to_string(value).map_err(|error| JsValue::from_str(&error.to_string()))?;
    js_sys::JSON::parse(&json)
}

fn warn(what: &str, error: &JsValue) {
    web_sys::console::warn_2(&format!("portals: {what} failed:").into(), error);
}
