//! One `RTCPeerConnection` to one other member: the web-sys side of a link. What it decides
//! is decided by pure pieces, each readable against its reference: [`negotiation`] (perfect
//! negotiation with the W3C example's names, the candidate queue, who offers first),
//! [`link_health`] (ICE restarts, the stall watchdog and its backoff) and [`tile_view`] (the
//! tile's state in words, whether it has a picture).
//!
//! The link is plain data owned by the mesh's task. Its listeners and timers, and each promise
//! it starts, only send a [`LinkEvent`] to the mesh's queue; the mesh hands it back to
//! [`PeerLink::handle`]. Dropping the link removes its listeners and timers, closes the
//! connection and takes the stream off its tile; a promise still in flight then reports to a
//! link that is gone, and its event is dropped.
//!
//! [`negotiation`]: super::negotiation
//! [`link_health`]: super::link_health
//! [`tile_view`]: super::tile_view

use std::sync::atomic::{AtomicU64, Ordering};

use gloo_events::EventListener;
use gloo_timers::callback::{Interval, Timeout};
use leptos::prelude::{Effect, GetUntracked, Owner, Set, Track, WithUntracked};
use send_wrapper::SendWrapper;
use serde_json::value::RawValue;
use wasm_bindgen::{prelude::wasm_bindgen, JsCast, JsValue};
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{
    MediaStream, MediaStreamTrack, MediaStreamTrackState, MessageEvent, RtcDataChannel,
    RtcDataChannelInit, RtcDataChannelState, RtcIceConnectionState, RtcPeerConnection,
    RtcPeerConnectionIceErrorEvent, RtcPeerConnectionIceEvent, RtcPeerConnectionState,
    RtcRtpSender, RtcRtpTransceiver, RtcRtpTransceiverDirection, RtcRtpTransceiverInit, RtcSdpType,
    RtcSessionDescriptionInit, RtcSignalingState, RtcTrackEvent,
};

use super::{
    events::{Events, LinkEvents},
    link_health::{
        ice_step, relay_problem, IceState, IceStep, RelayProblem, Remedy, Stall, Watchdog,
        DISCONNECTED_GRACE_MS, WATCHDOG_MS,
    },
    link_stats::{frames_decoded, summarise, Sample, StatsEntry},
    negotiation::{
        fingerprint, CandidateQueue, CandidateVerdict, FirstOffer, Handed, PerfectNegotiation,
        RemoteConnection, SignalingState, Verdict,
    },
    peer_message::{CameraName, PeerMessage, CHANNEL_ID, CHANNEL_LABEL},
    plan::{Direction, LinkMedia},
    signalling_socket::SignallingSocket,
    tile_view::{shown_state, ConnectionState, FramesRead, Picture},
    trace::trace,
    video_budget::{Encoding, ViewSize},
};
use crate::browser::to_js;
use crate::{
    components::model::Tile,
    signalling::{
        protocol::{IceCandidate, Peer, Relayed, RtcConfiguration, SdpType, SessionDescription},
        ClientMessage, MemberId,
    },
};

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

#[wasm_bindgen]
extern "C" {
    /// `RTCRtpSender`'s parameters, which web-sys binds only as a dictionary it cannot read
    /// back: the encodings are changed in place on the object `getParameters` returns.
    #[wasm_bindgen(extends = RtcRtpSender, js_name = RTCRtpSender)]
    type ParameterizedSender;

    #[wasm_bindgen(method, js_name = getParameters)]
    fn get_parameters(this: &ParameterizedSender) -> js_sys::Object;

    #[wasm_bindgen(method, catch, js_name = setParameters)]
    fn set_parameters(
        this: &ParameterizedSender,
        parameters: &js_sys::Object,
    ) -> Result<js_sys::Promise, JsValue>;
}

fn modern(connection: &RtcPeerConnection) -> &ModernPeerConnection {
    connection.unchecked_ref()
}

/// Tells one connection to a member from the next: a member's link is replaced when its peer
/// rebuilds its connection, or when we rejoin under a new id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkId(u64);

impl LinkId {
    fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Self(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// What a link's listeners, timers and promises report.
pub enum LinkEvent {
    NegotiationNeeded,
    LocalCandidate(Option<web_sys::RtcIceCandidate>),
    RemoteTrack(MediaStreamTrack),
    /// `mute`, `unmute` or `ended` on a remote track.
    RemoteTrackChanged,
    ConnectionStateChanged,
    IceConnectionStateChanged,
    /// A TURN server gave no relay.
    RelayProblem(RelayProblem),
    /// The peer did not make the first offer in time: ours goes.
    FirstOfferWaitOver,
    /// ICE stayed `disconnected` for the whole grace period, maybe.
    DisconnectedGraceOver,
    WatchdogLook,
    OfferSet(Result<(), JsValue>),
    RemoteDescriptionSet {
        kind: SdpType,
        handed: Handed,
        fingerprint: Option<String>,
        result: Result<(), JsValue>,
    },
    AnswerSet(Result<(), JsValue>),
    CandidateFailed(JsValue),
    RollbackFailed(JsValue),
    FramesRead(FramesRead, Result<f64, JsValue>),
    /// Our tile of the peer changed size: the peer is told, to size what it sends us.
    TileResized,
    ChannelOpened,
    ChannelMessage(String),
    EncodingSet(Result<(), JsValue>),
    StatsRead(Result<JsValue, JsValue>),
}

/// What a link's event means for the rest of the mesh.
pub enum LinkNotice {
    /// The peer told us a new size for our video: the uplink is shared out again.
    PeerViewChanged,
}

/// The link's data channel and its listeners (see [`super::peer_message`]).
struct Channel {
    channel: RtcDataChannel,
    _listeners: [EventListener; 2],
}

impl Drop for Channel {
    fn drop(&mut self) {
        self.channel.close();
    }
}

/// What this tab says about itself to the peers it sends video to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct About {
    pub name: Option<CameraName>,
    pub camera_on: bool,
}

/// Local tracks and the streams they belong to.
pub type LocalTracks = Vec<(MediaStreamTrack, MediaStream)>;

pub struct PeerLink {
    id: LinkId,
    peer: MemberId,
    connection: RtcPeerConnection,
    events: LinkEvents,
    tile: Tile,
    /// Which way media goes, from the two roles.
    media: LinkMedia,
    /// Everything the peer sends, shown on its tile.
    remote: MediaStream,
    negotiation: PerfectNegotiation,
    candidates: CandidateQueue,
    remote_connection: RemoteConnection,
    /// Our tracks, held back until the peer's first offer arrives and then attached to it: one
    /// round trip and no offer collision when both sides open their connections at once, as
    /// they do on every join. `None` once attached.
    deferred: Option<LocalTracks>,
    first_offer_wait: Option<Timeout>,
    disconnected_grace: Option<Timeout>,
    watchdog: Watchdog,
    picture: Picture,
    /// `mute`, `unmute` and `ended` on each remote track.
    track_listeners: Vec<EventListener>,
    _listeners: [EventListener; 6],
    _watchdog_timer: Interval,
    /// Made with the first offer between two of our clients; a base client has none.
    channel: Option<Channel>,
    /// The peer is one of our clients (its `info` entry says it waits for newcomers' offers):
    /// our first offer carries the channel. A peer not known to be ours gets one only if its
    /// own offer has one.
    peer_is_ours: bool,
    /// How large the peer shows our video, once it said.
    peer_view: Option<ViewSize>,
    /// What we tell the peer about ourselves, now and whenever the channel (re)opens.
    about: About,
    /// The encoding our video sender has, and one being set, with the sender: the camera
    /// turned off and on again may send on another transceiver, whose sender starts afresh.
    encoding: Option<(RtcRtpSender, Encoding)>,
    encoding_pending: Option<(RtcRtpSender, Encoding)>,
    /// The counters of the last stats read, for the next one's bitrate.
    stats_sample: Option<Sample>,
    /// Owns the effect that watches our tile's size; dropped with the link.
    _tile_watch: Owner,
}

impl PeerLink {
    /// Opens a connection to `peer`, sending `local` (the camera, maybe a microphone) if any
    /// and if `media` says the peer receives. With [`FirstOffer::Theirs`], the tracks wait (a
    /// moment at most) for the peer's own first offer and join it, so that the two never offer
    /// at once.
    pub fn open(
        peer: &Peer,
        media: LinkMedia,
        rtc: &RtcConfiguration,
        local: LocalTracks,
        events: &Events,
        tile: Tile,
        first_offer: FirstOffer,
    ) -> Result<Self, JsValue> {
        let connection = RtcPeerConnection::new_with_configuration(&to_js(rtc)?.unchecked_into())?;
        let id = LinkId::next();
        let events = events.for_link(peer.id.clone(), id);
        let on = |event: &'static str, report: fn(&web_sys::Event) -> Option<LinkEvent>| {
            let events = events.clone();
            EventListener::new(&connection, event, move |event| {
                if let Some(event) = report(event) {
                    events.send(event);
                }
            })
        };
        let listeners = [
            on("negotiationneeded", |_| Some(LinkEvent::NegotiationNeeded)),
            on("icecandidate", |event| {
                let event = event.dyn_ref::<RtcPeerConnectionIceEvent>()?;
                Some(LinkEvent::LocalCandidate(event.candidate()))
            }),
            on("track", |event| {
                let event = event.dyn_ref::<RtcTrackEvent>()?;
                Some(LinkEvent::RemoteTrack(event.track()))
            }),
            on("connectionstatechange", |_| {
                Some(LinkEvent::ConnectionStateChanged)
            }),
            on("iceconnectionstatechange", |_| {
                Some(LinkEvent::IceConnectionStateChanged)
            }),
            on("icecandidateerror", |event| {
                let event = event.dyn_ref::<RtcPeerConnectionIceErrorEvent>()?;
                relay_problem(&event.url(), event.error_code()).map(LinkEvent::RelayProblem)
            }),
        ];
        let watchdog_timer = {
            let events = events.clone();
            Interval::new(WATCHDOG_MS, move || events.send(LinkEvent::WatchdogLook))
        };
        // The mesh's task runs outside the page's reactive owner: this one is the link's own,
        // so that the effect goes with the link.
        let tile_watch = Owner::new();
        if media.receives {
            let view = tile.view.clone();
            let events = events.clone();
            tile_watch.with(|| {
                Effect::new(move |_| {
                    view.track();
                    events.send(LinkEvent::TileResized);
                })
            });
        }
        let mut link = Self {
            id,
            peer: peer.id.clone(),
            connection,
            events,
            tile,
            media,
            remote: MediaStream::new()?,
            negotiation: PerfectNegotiation::new(peer.polite),
            candidates: CandidateQueue::default(),
            remote_connection: RemoteConnection::default(),
            deferred: None,
            first_offer_wait: None,
            disconnected_grace: None,
            watchdog: Watchdog::default(),
            picture: Picture::default(),
            track_listeners: Vec::new(),
            _listeners: listeners,
            _watchdog_timer: watchdog_timer,
            channel: None,
            peer_is_ours: peer.newcomer_offers,
            peer_view: None,
            // Until the mesh says otherwise (see `set_about`), which it does on opening.
            about: About {
                name: None,
                camera_on: true,
            },
            encoding: None,
            encoding_pending: None,
            stats_sample: None,
            _tile_watch: tile_watch,
        };
        super::trace::expose_link(peer.id.as_str(), &link.connection);

        match first_offer {
            FirstOffer::Theirs { wait_ms } => {
                link.deferred = Some(local);
                let events = link.events.clone();
                link.first_offer_wait = Some(Timeout::new(wait_ms, move || {
                    events.send(LinkEvent::FirstOfferWaitOver)
                }));
            }
            FirstOffer::Ours => link.attach(local, false),
        }
        Ok(link)
    }

    pub fn id(&self) -> LinkId {
        self.id
    }

    pub fn member(&self) -> &MemberId {
        &self.peer
    }

    pub fn is_connected(&self) -> bool {
        self.connection.connection_state() == RtcPeerConnectionState::Connected
    }

    pub fn tile(&self) -> &Tile {
        &self.tile
    }

    /// Handles one of this link's own events. `signal` is where descriptions and candidates
    /// go.
    pub fn handle(
        &mut self,
        event: LinkEvent,
        signal: &mut SignallingSocket,
    ) -> Option<LinkNotice> {
        match event {
            LinkEvent::NegotiationNeeded => {
                trace!("{}: negotiation needed", self.peer.short());
                self.negotiation.offer_started();
                let offered = modern(&self.connection).set_local_description_implicit();
                self.settle(offered, |result| {
                    Some(LinkEvent::OfferSet(result.map(drop)))
                });
            }
            LinkEvent::OfferSet(result) => {
                self.negotiation.offer_settled();
                match result {
                    Ok(()) => self.send_local_description(signal),
                    Err(error) => warn("offer", &error),
                }
            }
            LinkEvent::RemoteDescriptionSet {
                kind,
                handed,
                fingerprint,
                result,
            } => self.remote_description_set(kind, handed, fingerprint, result),
            LinkEvent::AnswerSet(result) => match result {
                Ok(()) => {
                    self.send_local_description(signal);
                    self.show_video();
                }
                Err(error) => warn("answer", &error),
            },
            LinkEvent::LocalCandidate(candidate) => self.send_candidate(candidate, signal),
            LinkEvent::CandidateFailed(error) => {
                // Candidates of an offer we ignored are expected to fail.
                if !self.negotiation.ignoring_offer() {
                    warn("candidate", &error);
                }
            }
            LinkEvent::RemoteTrack(track) => self.add_remote_track(&track),
            LinkEvent::RemoteTrackChanged => self.show_video(),
            LinkEvent::ConnectionStateChanged => self.show_state(),
            LinkEvent::IceConnectionStateChanged => self.watch_ice(),
            LinkEvent::RelayProblem(problem) => {
                trace!("{}: relay {}", self.peer.short(), problem.as_str());
                self.tile.relay_problem.set(Some(problem));
            }
            LinkEvent::DisconnectedGraceOver => {
                self.disconnected_grace = None;
                if self.connection.ice_connection_state() == RtcIceConnectionState::Disconnected {
                    modern(&self.connection).restart_ice();
                }
            }
            LinkEvent::FirstOfferWaitOver => {
                trace!("{}: no offer came, offering first", self.peer.short());
                self.attach_deferred(false);
            }
            LinkEvent::WatchdogLook => self.look_for_a_stall(signal.is_joined()),
            LinkEvent::RollbackFailed(error) => {
                warn(&format!("rollback towards {}", self.peer.short()), &error)
            }
            LinkEvent::TileResized => self.tell_view(),
            LinkEvent::ChannelOpened => {
                self.tell_view();
                self.tell_about();
            }
            LinkEvent::ChannelMessage(text) => return self.peer_said(&text),
            LinkEvent::EncodingSet(result) => {
                let pending = self.encoding_pending.take();
                match result {
                    Ok(()) => self.encoding = pending,
                    Err(error) => warn("video encoding", &error),
                }
            }
            LinkEvent::StatsRead(Ok(report)) => {
                let entries = stats_entries(&report);
                let (stats, sample) = summarise(&entries, self.stats_sample);
                self.stats_sample = sample;
                if self
                    .tile
                    .stats
                    .with_untracked(|shown| shown.as_ref() != Some(&stats))
                {
                    self.tile.stats.set(Some(stats));
                }
            }
            // A connection closing under the read: the next read says more.
            LinkEvent::StatsRead(Err(_)) => {}
            LinkEvent::FramesRead(read, frames) => match frames {
                Ok(frames) => {
                    self.picture.frames_read(read, frames);
                    self.show_video();
                }
                Err(error) if self.picture.is_current(read) => warn("receiver stats", &error),
                Err(_) => {}
            },
        }
        None
    }

    /// Makes the link's data channel, once: `negotiated` with a fixed id on both ends, so it
    /// joins the offer being made or answered and needs no `datachannel` event.
    fn open_channel(&mut self) {
        if self.channel.is_some() {
            return;
        }
        let init = RtcDataChannelInit::new();
        init.set_negotiated(true);
        init.set_id(CHANNEL_ID);
        let channel = self
            .connection
            .create_data_channel_with_data_channel_dict(CHANNEL_LABEL, &init);
        let opened = {
            let events = self.events.clone();
            EventListener::new(&channel, "open", move |_| {
                events.send(LinkEvent::ChannelOpened)
            })
        };
        let message = {
            let events = self.events.clone();
            EventListener::new(&channel, "message", move |event| {
                if let Some(text) = event
                    .dyn_ref::<MessageEvent>()
                    .and_then(|event| event.data().as_string())
                {
                    events.send(LinkEvent::ChannelMessage(text));
                }
            })
        };
        self.channel = Some(Channel {
            channel,
            _listeners: [opened, message],
        });
    }

    /// Tells the peer how large we show its video, if it sends us any.
    fn tell_view(&self) {
        if self.media.receives {
            let (width, height) = self.tile.view.get_untracked();
            self.tell(&PeerMessage::view(ViewSize { width, height }));
        }
    }

    /// A new name or camera state: told at once if the channel is open, else when it opens.
    pub fn set_about(&mut self, about: &About) {
        if &self.about != about {
            self.about = about.clone();
            self.tell_about();
        }
    }

    /// Tells the peer our name and whether our camera is on, if it watches us.
    fn tell_about(&self) {
        if self.media.sends {
            self.tell(&PeerMessage::Name {
                name: self.about.name.clone(),
            });
            self.tell(&PeerMessage::Camera {
                on: self.about.camera_on,
            });
        }
    }

    /// Sends one message on the channel, if it is open: what is told is told again on
    /// opening, so nothing is queued.
    fn tell(&self, message: &PeerMessage) {
        let Some(channel) = &self.channel else { return };
        if channel.channel.ready_state() != RtcDataChannelState::Open {
            return;
        }
        let message = message.encode();
        trace!("{} ⇠ {message}", self.peer.short());
        if let Err(error) = channel.channel.send_with_str(&message) {
            warn("data channel", &error);
        }
    }

    fn peer_said(&mut self, text: &str) -> Option<LinkNotice> {
        trace!("{} ⇢ {text}", self.peer.short());
        match PeerMessage::decode(text)? {
            PeerMessage::View { width, height } => {
                let view = Some(ViewSize { width, height });
                if self.peer_view == view {
                    return None;
                }
                self.peer_view = view;
                Some(LinkNotice::PeerViewChanged)
            }
            PeerMessage::Name { name } => {
                if self.tile.name.with_untracked(|shown| shown != &name) {
                    self.tile.name.set(name);
                }
                None
            }
            PeerMessage::Camera { on } => {
                if self.tile.camera_off.get_untracked() == on {
                    self.tile.camera_off.set(!on);
                }
                None
            }
        }
    }

    /// Reads the connection's stats for the tile (see [`super::link_stats`]), if it shows
    /// the peer's video.
    pub fn read_stats(&self) {
        if self.media.receives {
            self.settle(self.connection.get_stats(), |result| {
                Some(LinkEvent::StatsRead(result))
            });
        }
    }

    /// Drops what the stats said: hidden, they go stale.
    pub fn forget_stats(&mut self) {
        self.stats_sample = None;
        if self.tile.stats.with_untracked(Option::is_some) {
            self.tile.stats.set(None);
        }
    }

    /// How large the peer shows our video, if it said.
    pub fn peer_view(&self) -> Option<ViewSize> {
        self.peer_view
    }

    /// The sender of our video on this link, once it sends one.
    pub fn video_sender(&self) -> Option<RtcRtpSender> {
        self.transceivers()
            .into_iter()
            .map(|transceiver| transceiver.sender())
            .find(|sender| sender.track().is_some_and(|track| track.kind() == "video"))
    }

    /// Gives our video sender (`sender`, from [`Self::video_sender`]) `encoding`, unless it
    /// has it or is being given one: the next share-out (every second at most) comes back to
    /// it.
    pub fn set_encoding(&mut self, sender: RtcRtpSender, encoding: Encoding) {
        if self.encoding_pending.is_some() {
            return;
        }
        if self.encoding.as_ref() == Some(&(sender.clone(), encoding)) {
            return;
        }
        let given = sender.clone();
        let sender: &ParameterizedSender = sender.unchecked_ref();
        let parameters = sender.get_parameters();
        let first = js_sys::Reflect::get(&parameters, &"encodings".into())
            .ok()
            .and_then(|encodings| encodings.dyn_into::<js_sys::Array>().ok())
            .map(|encodings| encodings.get(0))
            .filter(|first| first.is_object());
        // No encodings before the sender is negotiated: nothing to set yet.
        let Some(first) = first else { return };
        let set = |key: &str, value: f64| {
            let _ = js_sys::Reflect::set(&first, &key.into(), &value.into());
        };
        set("scaleResolutionDownBy", encoding.scale_resolution_down_by);
        set("maxBitrate", f64::from(encoding.max_bitrate));
        set("maxFramerate", encoding.max_framerate);
        match sender.set_parameters(&parameters) {
            Ok(promise) => {
                self.encoding_pending = Some((given, encoding));
                self.settle(promise, |result| {
                    Some(LinkEvent::EncodingSet(result.map(drop)))
                });
            }
            Err(error) => warn("video encoding", &error),
        }
    }

    /// Runs `promise` and reports how it settled as the event `report` makes of it, if any.
    fn settle(
        &self,
        promise: js_sys::Promise,
        report: impl FnOnce(Result<JsValue, JsValue>) -> Option<LinkEvent> + 'static,
    ) {
        let events = self.events.clone();
        spawn_local(async move {
            if let Some(event) = report(JsFuture::from(promise).await) {
                events.send(event);
            }
        });
    }

    /// Starts sending a local track (the camera arriving late or turned back on, the
    /// microphone switched on). A transceiver of the same kind that sends nothing (a viewer's
    /// receive-only one, or the camera's after it was turned off) is reused, as `addTrack`
    /// itself would do for one never used: turning the camera off and on does not grow the
    /// SDP by a media section each time. `negotiationneeded` takes care of the rest.
    pub fn send_track(&mut self, track: &MediaStreamTrack, stream: &MediaStream) {
        if !self.media.sends {
            return;
        }
        if let Some(deferred) = self.deferred.as_mut() {
            deferred.push((track.clone(), stream.clone()));
            return;
        }
        if self.transceiver_sending(track).is_some() {
            return;
        }
        match self.idle_transceiver(&track.kind()) {
            Some(transceiver) => {
                replace_track(&transceiver, Some(track));
                let direction = match transceiver.direction() {
                    RtcRtpTransceiverDirection::Inactive | RtcRtpTransceiverDirection::Sendonly => {
                        RtcRtpTransceiverDirection::Sendonly
                    }
                    _ => web_direction(self.media.direction(true)),
                };
                transceiver.set_direction(direction);
            }
            None => self.add_local_track(track, stream),
        }
    }

    /// The camera was asked for and has not answered yet, as on every page's start: our first
    /// offer already carries the video we are going to send, so that the camera, when it comes,
    /// is a `replaceTrack` into it (see [`Self::send_track`]) rather than a second offer and
    /// answer while the first frames are on their way. Only where we make the first offer and
    /// have not made it yet; called right after [`Self::open`], before `negotiationneeded` can
    /// fire. The second round had both tabs negotiating again just as the first frames were
    /// due; without it the second tab of a room showed its first remote frame 13 ms sooner,
    /// within the noise of the measurement (`end2end/bench/first-frame.mjs`, release builds
    /// alternating, medians of 15: 515 against 528 ms).
    pub fn expect_camera(&mut self) {
        if !self.media.sends || self.deferred.is_some() || self.video_sender().is_some() {
            return;
        }
        let direction = web_direction(self.media.direction(true));
        match self.video_transceivers().next() {
            // The viewer's receive-only one that `attach` made.
            Some(transceiver) => transceiver.set_direction(direction),
            None => self.add_video_transceiver(direction),
        }
    }

    /// The camera that [`Self::expect_camera`] waited for is not coming (refused, missing,
    /// turned off while asked for): the video offered stops claiming to send.
    pub fn camera_not_coming(&mut self) {
        for transceiver in self.video_transceivers() {
            if transceiver.stopped() || transceiver.sender().track().is_some() {
                continue;
            }
            if let Some(direction) = without_sending(transceiver.direction()) {
                transceiver.set_direction(direction);
            }
        }
    }

    /// Sends `new` where `old` was sent (the other camera after a flip), without
    /// renegotiating. Returns whether `old` was sent here at all.
    pub fn replace_sent_track(
        &mut self,
        old: &MediaStreamTrack,
        new: &MediaStreamTrack,
        stream: &MediaStream,
    ) -> bool {
        if let Some(deferred) = self.deferred.as_mut() {
            let held = deferred.iter_mut().find(|(held, _)| held.id() == old.id());
            if let Some(held) = held {
                *held = (new.clone(), stream.clone());
                return true;
            }
            return false;
        }
        match self.transceiver_sending(old) {
            Some(transceiver) => {
                replace_track(&transceiver, Some(new));
                true
            }
            None => false,
        }
    }

    /// `addTrack`, or for a peer that sends us nothing a `sendonly` transceiver: a camera's
    /// offer must not ask a wall, or anyone, for video it would never decode. While answering,
    /// `addTrack` takes the media section the offer made (a new transceiver would have none, and
    /// the video would wait for one more round of negotiation); it is then made `sendonly` too.
    fn add_local_track(&self, track: &MediaStreamTrack, stream: &MediaStream) {
        if self.media.receives {
            self.connection.add_track_0(track, stream);
        } else if self.idle_transceiver(&track.kind()).is_some() {
            self.connection.add_track_0(track, stream);
            if let Some(transceiver) = self.transceiver_sending(track) {
                transceiver.set_direction(RtcRtpTransceiverDirection::Sendonly);
            }
        } else {
            let init = RtcRtpTransceiverInit::new();
            init.set_direction(RtcRtpTransceiverDirection::Sendonly);
            init.set_streams(&js_sys::Array::of1(stream));
            self.connection
                .add_transceiver_with_media_stream_track_and_init(track, &init);
        }
    }

    /// Sets every transceiver's direction from the roles before an answer: a peer that knows
    /// no roles (a base client) offers `sendrecv` to everyone, and the answer is where a camera
    /// declines its video and a wall declines to send.
    fn fit_directions(&self) {
        for transceiver in self.transceivers() {
            if transceiver.stopped() {
                continue;
            }
            let has_track = transceiver.sender().track().is_some();
            let wanted = web_direction(self.media.direction(has_track));
            if transceiver.direction() != wanted {
                transceiver.set_direction(wanted);
            }
        }
    }

    /// Stops sending a local track that is going away. The direction change renegotiates, and
    /// the other side's copy of the track is muted: its tile shows a viewer, not a frozen frame.
    pub fn stop_sending(&mut self, track: &MediaStreamTrack) {
        if let Some(deferred) = self.deferred.as_mut() {
            deferred.retain(|(held, _)| held.id() != track.id());
            return;
        }
        for transceiver in self.transceivers() {
            let sender = transceiver.sender();
            if sender.track().is_none_or(|sent| sent.id() != track.id()) {
                continue;
            }
            replace_track(&transceiver, None);
            let direction = without_sending(transceiver.direction())
                .unwrap_or(RtcRtpTransceiverDirection::Inactive);
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
        // own ICE restart follows (see `remote_description_set`).
        description.kind == SdpType::Offer
            && self
                .remote_connection
                .is_other(fingerprint(&description.sdp).as_deref())
    }

    pub fn receive_description(&mut self, description: SessionDescription) {
        let state = signaling_state(&self.connection);
        trace!(
            "{} ← {:?} (state {:?}, making offer {}, polite {})",
            self.peer.short(),
            description.kind,
            state,
            self.negotiation.is_making_offer(),
            self.negotiation.polite()
        );
        if self
            .negotiation
            .description_received(description.kind, state)
            == Verdict::Ignore
        {
            trace!("{}: ignoring a colliding offer", self.peer.short());
            return;
        }
        // Handed over now rather than when an earlier step settles, so that descriptions are
        // applied in the order they arrived: the connection queues its operations.
        let handed = self.candidates.description_handed(&description.sdp);
        let applied = self
            .connection
            .set_remote_description(&session_init(&description));
        let kind = description.kind;
        let fingerprint = fingerprint(&description.sdp);
        self.settle(applied, move |result| {
            Some(LinkEvent::RemoteDescriptionSet {
                kind,
                handed,
                fingerprint,
                result: result.map(drop),
            })
        });
    }

    fn remote_description_set(
        &mut self,
        kind: SdpType,
        handed: Handed,
        new_fingerprint: Option<String>,
        result: Result<(), JsValue>,
    ) {
        self.negotiation.remote_description_settled(kind);
        if let Err(error) = result {
            // The connection kept the description it had, and so do we.
            let kept = self.connection.remote_description().map(|kept| kept.sdp());
            self.candidates.description_failed(handed, kept.as_deref());
            warn(
                &format!("remote description from {}", self.peer.short()),
                &error,
            );
            return;
        }
        let answered_by_a_new_connection =
            kind == SdpType::Answer && self.remote_connection.is_other(new_fingerprint.as_deref());
        self.remote_connection.applied(new_fingerprint);
        for candidate in self.candidates.flush() {
            self.add_candidate(candidate);
        }
        // An answer settles what the peer sends: a camera turned off is no longer received,
        // whatever its track says.
        self.show_video();
        if answered_by_a_new_connection {
            // Chromium goes on sending on the pair to the peer's old connection, which is gone,
            // and tries the new one's candidates only once that pair times out: about 3 s of
            // frozen video, at times longer than the stall watchdog waits. A new ICE session of
            // ours leaves it only pairs with the new connection.
            trace!(
                "{}: answered by a new connection, restarting ICE at once",
                self.peer.short()
            );
            modern(&self.connection).restart_ice();
        }
        if kind == SdpType::Offer {
            // Held-back tracks join the transceivers this offer just created, so the answer
            // already sends them.
            // An offer with a data channel is from a client of ours, known or not: answer
            // with ours.
            let has_channel = self
                .connection
                .remote_description()
                .is_some_and(|offer| offer.sdp().contains("\nm=application "));
            if has_channel {
                self.open_channel();
            }
            self.attach_deferred(true);
            self.fit_directions();
            let answered = modern(&self.connection).set_local_description_implicit();
            self.settle(answered, |result| {
                Some(LinkEvent::AnswerSet(result.map(drop)))
            });
        }
    }

    pub fn receive_candidate(&mut self, candidate: Option<IceCandidate>) {
        trace!(
            "{} ← candidate {}",
            self.peer.short(),
            candidate.as_ref().map_or("(end)", |c| c.candidate.as_str())
        );
        let has_remote = self.connection.remote_description().is_some();
        match self.candidates.received(candidate, has_remote) {
            CandidateVerdict::Add(candidate) => self.add_candidate(candidate),
            CandidateVerdict::Queued => {
                trace!("{}: queued (no remote description yet)", self.peer.short())
            }
            CandidateVerdict::Stale => trace!(
                "{}: candidate of another ICE session set aside (not the remote description's)",
                self.peer.short()
            ),
        }
    }

    fn add_candidate(&self, candidate: Option<IceCandidate>) {
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
        self.settle(added, |result| result.err().map(LinkEvent::CandidateFailed));
    }

    /// Hands local tracks to the connection, which then asks for negotiation by itself.
    /// `answering`: the tracks join the peer's first offer, rather than our own.
    fn attach(&mut self, tracks: LocalTracks, answering: bool) {
        if self.peer_is_ours {
            self.open_channel();
        }
        let tracks = if self.media.sends { tracks } else { Vec::new() };
        let sends_video = tracks.iter().any(|(track, _)| track.kind() == "video");
        for (track, stream) in &tracks {
            self.add_local_track(track, stream);
        }
        if self.media.receives && !sends_video && !self.receives_video() && !answering {
            // A viewer still wants the others' video: without a transceiver of its own, two
            // viewers would never connect and could not tell each other apart from "stuck".
            // Not in an answer, which could not carry it: the peer's own media section comes
            // when it has something to send, and two made apart would be one too many.
            self.add_video_transceiver(RtcRtpTransceiverDirection::Recvonly);
        }
    }

    /// A video media section with no track (yet) to send.
    fn add_video_transceiver(&self, direction: RtcRtpTransceiverDirection) {
        let init = RtcRtpTransceiverInit::new();
        init.set_direction(direction);
        self.connection
            .add_transceiver_with_str_and_init("video", &init);
    }

    fn attach_deferred(&mut self, answering: bool) {
        self.first_offer_wait = None;
        if let Some(tracks) = self.deferred.take() {
            self.attach(tracks, answering);
        }
    }

    /// The transceiver that sends `track`, if one does.
    fn transceiver_sending(&self, track: &MediaStreamTrack) -> Option<RtcRtpTransceiver> {
        self.transceivers().into_iter().find(|transceiver| {
            transceiver
                .sender()
                .track()
                .is_some_and(|sent| sent.id() == track.id())
        })
    }

    /// A transceiver of media `kind` that sends nothing: a viewer's receive-only one, the
    /// camera's after it was turned off, or one the peer's offer made. `addTrack` takes such
    /// a one too, rather than adding a media section.
    fn idle_transceiver(&self, kind: &str) -> Option<RtcRtpTransceiver> {
        self.transceivers().into_iter().find(|transceiver| {
            !transceiver.stopped()
                && transceiver.sender().track().is_none()
                && transceiver.receiver().track().kind() == kind
        })
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

    /// Every few seconds: the tile's picture, and a connection stuck short of `connected` or
    /// with an offer never answered (see [`Stall`]).
    fn look_for_a_stall(&mut self, signalling_up: bool) {
        // `mute`/`unmute` are the tile's cue, but an event lost while the page was starved
        // would leave a playing video under "Camera off": the track's state is looked at too,
        // and the frames the connection decodes.
        self.show_video();
        self.count_decoded_frames();
        let connecting = matches!(
            self.connection.connection_state(),
            RtcPeerConnectionState::New | RtcPeerConnectionState::Connecting
        ) && self.deferred.is_none();
        let unanswered = self.connection.signaling_state() == RtcSignalingState::HaveLocalOffer
            && !self.negotiation.is_making_offer();
        let stall = if unanswered {
            Some(Stall::Unanswered)
        } else if connecting {
            Some(Stall::Connecting)
        } else {
            None
        };
        match self.watchdog.look(stall, signalling_up) {
            Some(Remedy::OfferAgain) => {
                trace!(
                    "{}: offer never answered, offering again",
                    self.peer.short()
                );
                // Back in `stable`, the browser asks for negotiation again.
                let rollback = RtcSessionDescriptionInit::new(RtcSdpType::Rollback);
                let rolled_back = self.connection.set_local_description(&rollback);
                self.settle(rolled_back, |result| {
                    result.err().map(LinkEvent::RollbackFailed)
                });
            }
            Some(Remedy::RestartIce) => {
                trace!("{}: stuck connecting, restarting ICE", self.peer.short());
                modern(&self.connection).restart_ice();
            }
            None => {}
        }
    }

    fn send_local_description(&self, signal: &mut SignallingSocket) {
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
        signal.send(&ClientMessage::Description {
            target: self.peer.clone(),
            description: Relayed::new(&SessionDescription {
                kind,
                sdp: local.sdp(),
            }),
        });
    }

    fn send_candidate(
        &self,
        candidate: Option<web_sys::RtcIceCandidate>,
        signal: &mut SignallingSocket,
    ) {
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
        signal.send(&ClientMessage::Candidate {
            target: self.peer.clone(),
            candidate,
        });
    }

    fn add_remote_track(&mut self, track: &MediaStreamTrack) {
        trace!("{}: {} track arrived", self.peer.short(), track.kind());
        let known = self.remote.get_track_by_id(&track.id()).is_some();
        if !known {
            self.remote.add_track(track);
            // A track comes back (unmute) when the other side turns its camera on again, and
            // goes quiet (mute) or ends when it turns it off or loses it: the tile follows.
            for event in ["mute", "unmute", "ended"] {
                let events = self.events.clone();
                self.track_listeners
                    .push(EventListener::new(track, event, move |_| {
                        events.send(LinkEvent::RemoteTrackChanged)
                    }));
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

    fn show_video(&self) {
        let track_says = self.track_has_video();
        let playing = self.picture.playing(track_says, self.receives_sent_video());
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

    /// Reads the frames decoded so far when [`Picture`] asks for them.
    fn count_decoded_frames(&mut self) {
        let Some(read) = self
            .picture
            .look(self.track_has_video(), self.receives_sent_video())
        else {
            return;
        };
        let reports: Vec<JsFuture> = self
            .video_transceivers()
            .map(|transceiver| JsFuture::from(transceiver.receiver().get_stats()))
            .collect();
        let events = self.events.clone();
        spawn_local(async move {
            let mut frames = Ok(0.0);
            for report in reports {
                match (report.await, &mut frames) {
                    (Ok(report), Ok(sum)) => *sum += frames_decoded(&stats_entries(&report)),
                    (Err(error), _) => frames = Err(error),
                    _ => {}
                }
            }
            events.send(LinkEvent::FramesRead(read, frames));
        });
    }

    fn show_state(&self) {
        let state = connection_state(&self.connection);
        trace!("{}: connection {:?}", self.peer.short(), state);
        if let Some(shown) = shown_state(state, self.tile.state.get_untracked()) {
            self.tile.state.set(shown);
        }
        if state == ConnectionState::Connected && self.tile.relay_problem.get_untracked().is_some()
        {
            self.tile.relay_problem.set(None);
        }
    }

    /// New ICE servers (fresh TURN credentials) or policy: for this connection's next
    /// gathering, which an ICE restart starts.
    pub fn configure(&self, rtc: &RtcConfiguration) {
        let applied = to_js(rtc).and_then(|rtc| {
            self.connection
                .set_configuration_with_configuration(&rtc.unchecked_into())
        });
        if let Err(error) = applied {
            warn("setConfiguration", &error);
        }
    }

    fn watch_ice(&mut self) {
        let state = self.connection.ice_connection_state();
        trace!("{}: ICE {:?}", self.peer.short(), state);
        let state = match state {
            RtcIceConnectionState::Failed => IceState::Failed,
            RtcIceConnectionState::Disconnected => IceState::Disconnected,
            _ => IceState::Other,
        };
        match ice_step(state) {
            IceStep::RestartNow => {
                self.disconnected_grace = None;
                modern(&self.connection).restart_ice();
            }
            IceStep::WaitThenRestart => {
                let events = self.events.clone();
                self.disconnected_grace = Some(Timeout::new(DISCONNECTED_GRACE_MS, move || {
                    events.send(LinkEvent::DisconnectedGraceOver)
                }));
            }
            IceStep::Settled => self.disconnected_grace = None,
        }
    }
}

impl Drop for PeerLink {
    fn drop(&mut self) {
        super::trace::forget_link(self.peer.as_str(), &self.connection);
        self.disconnected_grace = None;
        self.track_listeners.clear();
        self.connection.close();
        self.tile.stream.set(None);
        for track in self.remote.get_tracks().iter() {
            if let Ok(track) = track.dyn_into::<MediaStreamTrack>() {
                self.remote.remove_track(&track);
            }
        }
    }
}

fn signaling_state(connection: &RtcPeerConnection) -> SignalingState {
    match connection.signaling_state() {
        RtcSignalingState::Stable => SignalingState::Stable,
        RtcSignalingState::HaveLocalOffer => SignalingState::HaveLocalOffer,
        RtcSignalingState::HaveRemoteOffer => SignalingState::HaveRemoteOffer,
        RtcSignalingState::HaveLocalPranswer => SignalingState::HaveLocalPranswer,
        RtcSignalingState::HaveRemotePranswer => SignalingState::HaveRemotePranswer,
        _ => SignalingState::Closed,
    }
}

fn connection_state(connection: &RtcPeerConnection) -> ConnectionState {
    match connection.connection_state() {
        RtcPeerConnectionState::New => ConnectionState::New,
        RtcPeerConnectionState::Connecting => ConnectionState::Connecting,
        RtcPeerConnectionState::Connected => ConnectionState::Connected,
        RtcPeerConnectionState::Disconnected => ConnectionState::Disconnected,
        RtcPeerConnectionState::Failed => ConnectionState::Failed,
        _ => ConnectionState::Closed,
    }
}

fn web_direction(direction: Direction) -> RtcRtpTransceiverDirection {
    match direction {
        Direction::Sendrecv => RtcRtpTransceiverDirection::Sendrecv,
        Direction::Sendonly => RtcRtpTransceiverDirection::Sendonly,
        Direction::Recvonly => RtcRtpTransceiverDirection::Recvonly,
        Direction::Inactive => RtcRtpTransceiverDirection::Inactive,
    }
}

/// `direction` with its sending half taken away, or `None` for one that sends nothing already.
fn without_sending(direction: RtcRtpTransceiverDirection) -> Option<RtcRtpTransceiverDirection> {
    match direction {
        RtcRtpTransceiverDirection::Sendrecv => Some(RtcRtpTransceiverDirection::Recvonly),
        RtcRtpTransceiverDirection::Sendonly => Some(RtcRtpTransceiverDirection::Inactive),
        _ => None,
    }
}

/// `replaceTrack`, whose failure is only worth a warning: the direction set beside it is what
/// renegotiates.
fn replace_track(transceiver: &RtcRtpTransceiver, track: Option<&MediaStreamTrack>) {
    let replaced = transceiver.sender().replace_track(track);
    spawn_local(async move {
        if let Err(error) = JsFuture::from(replaced).await {
            warn("replaceTrack", &error);
        }
    });
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

/// An `RTCStatsReport`'s entries that a tile reads, each parsed from its JSON form; entries of
/// other types are `Other`, and what fails to parse is left out.
fn stats_entries(report: &JsValue) -> Vec<StatsEntry> {
    let Ok(Some(entries)) = js_sys::try_iter(report) else {
        return Vec::new();
    };
    entries
        .flatten()
        // Each entry of the map is `[id, stats]`.
        .filter_map(|entry| js_sys::Reflect::get_u32(&entry, 1).ok())
        .filter_map(|stats| js_sys::JSON::stringify(&stats).ok()?.as_string())
        .filter_map(|json| serde_json::from_str(&json).ok())
        .collect()
}

fn warn(what: &str, error: &JsValue) {
    web_sys::console::warn_2(&format!("portals: {what} failed:").into(), error);
}
