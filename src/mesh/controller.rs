//! The browser side of a room: one signalling socket, the local camera, and one
//! [`PeerLink`] per other member, reconciled with every `info`.
//!
//! One task owns all of it ([`MeshState`]) and handles the mesh's events in order (see
//! [`super::events`]). It is also the only writer of the wall's signals, but for two of the
//! buttons' wishes that it takes back when they cannot be had: the camera that stopped, and
//! the microphone that was refused.

use std::collections::{BTreeMap, BTreeSet};

use futures_channel::mpsc::UnboundedReceiver;
use futures_util::StreamExt;
use gloo_events::EventListener;
use gloo_timers::callback::Interval;
use leptos::prelude::*;
use send_wrapper::SendWrapper;
use wasm_bindgen_futures::spawn_local;
use web_sys::{MediaStream, MediaStreamTrack, RtcRtpSender};

use super::{
    camera_pick::{other_camera, CameraPick},
    events::{Events, MeshEvent},
    local_media::{self, Capture, Device, MediaError},
    negotiation::{FirstOffer, FirstOffers},
    peer_link::{About, LinkNotice, PeerLink},
    plan::{reconcile, LinkMedia, LinkView},
    sealing::SealHook,
    signalling_socket::{SignallingSocket, SocketEvent},
    trace::trace,
    video_budget::{self, ViewSize, DEFAULT_UPLINK_KBPS},
};
use crate::{
    components::model::{CameraState, Connection, Tile, WallModel},
    signalling::{
        private_room::PrivateRoom,
        protocol::{
            ErrorReport, IceTransportPolicy, Peer, Role, RtcConfiguration, SdpType,
            SessionDescription, Welcome,
        },
        ErrorCode, MemberId, RoomKey, RoomName, ServerMessage,
    },
};

/// How often links kept after a rejoin are looked at again.
const SWEEP_MS: u32 = 1_000;
/// Sweeps between two stats reads of each link, while the wall shows stats: 2 s, a pace a
/// person reads at, at one `getStats` per link.
const STATS_SWEEPS: u32 = 2;
/// How long a private room's new member may take to prove it holds the key before the wall
/// calls itself empty again.
const PROOF_WAIT_MS: f64 = 3_000.0;
/// The grace period to assume when the server does not announce one (a base server).
const DEFAULT_GRACE_MS: u64 = 20_000;

/// The camera in use being replaced by the device's other camera.
struct Flip {
    /// Stopped, and still on the links' senders until the other one comes.
    old: MediaStreamTrack,
    /// Its device, to go back to if no other camera starts.
    previous: Option<String>,
    /// The camera to try if the one asked for will not start.
    fallback: Option<CameraPick>,
}

/// A running wall. Dropping it leaves the room, closes every connection and turns the camera
/// off.
pub struct Mesh {
    events: Events,
}

impl Mesh {
    /// Joins `room`, or with a `key` its private room.
    pub fn start(room: RoomName, key: Option<RoomKey>, model: WallModel, debug: bool) -> Self {
        super::trace::enable(debug);
        let (events, receiver) = Events::channel();
        let private = key.map(|key| key.derive(&room));
        let state = MeshState::new(room.as_str(), private, model, &events);
        // Join first, camera in parallel: a slow permission prompt must not keep the others'
        // video off this wall. Each effect also runs once at the start.
        let sender = events.clone();
        Effect::new(move |_| sender.send(MeshEvent::CameraWanted(model.camera_enabled.get())));
        let sender = events.clone();
        Effect::new(move |_| {
            sender.send(MeshEvent::MicrophoneWanted(model.microphone_enabled.get()))
        });
        let sender = events.clone();
        Effect::new(move |_| sender.send(MeshEvent::StatsShown(model.show_stats.get())));
        let sender = events.clone();
        Effect::new(move |first: Option<()>| {
            model.camera_flips.track();
            // The effect's first run is the start, not a press.
            if first.is_some() {
                sender.send(MeshEvent::FlipCamera);
            }
        });
        let sender = events.clone();
        Effect::new(move |_| {
            model.name.track();
            model.camera.track();
            sender.send(MeshEvent::AboutChanged);
        });
        spawn_local(run(state, receiver));
        Self { events }
    }
}

impl Drop for Mesh {
    fn drop(&mut self) {
        self.events.send(MeshEvent::Leave);
    }
}

/// The mesh's one task: handles every event in order, until the page leaves. Events queued
/// before the `Leave` of a page that went away find its signals disposed already: reading one
/// then would panic, so the task stops at the first sign of it, as at `Leave`.
async fn run(mut state: MeshState, mut events: UnboundedReceiver<MeshEvent>) {
    while let Some(event) = events.next().await {
        if matches!(event, MeshEvent::Leave) || state.model.connection.is_disposed() {
            break;
        }
        state.handle(event);
    }
}

struct MeshState {
    model: WallModel,
    events: Events,
    socket: SignallingSocket,
    links: BTreeMap<MemberId, PeerLink>,
    me: Option<MemberId>,
    rtc: RtcConfiguration,
    grace_ms: u64,
    /// When we last came back under the same id: until the grace period has passed, the
    /// others may still be on their way back too.
    rejoined_at: Option<f64>,
    members: Vec<Peer>,
    /// In a private room: only members whose sealed messages opened are shown, so that a
    /// member the server invented (it knows the verifier, not the key) is never seen.
    private: bool,
    /// The members whose messages opened: a link rebuilt to one of them (an ICE restart, a
    /// rejoin) shows at once, without waiting for it to prove the key again.
    proven: BTreeSet<MemberId>,
    /// When each link to a member not proven yet was opened.
    awaiting_proof: BTreeMap<MemberId, f64>,
    /// `window.__portals.privateRoom` under `&debug`.
    _seal_hook: Option<SealHook>,
    /// An `info` has been handled under the current id: members that appear from now on are
    /// newcomers, and offer first.
    seen_info: bool,
    /// Whom we offer to first on our first `info` under the current id.
    first_offers: FirstOffers,
    camera: Option<Capture>,
    /// A camera request is in flight: a second toggle waits for it instead of opening a
    /// second capture.
    camera_requested: bool,
    /// `ended` on the camera's track: unplugged, or its permission withdrawn.
    _camera_ended: Option<EventListener>,
    /// The device's cameras' ids, listed once a camera is in use.
    camera_inputs: Vec<String>,
    /// A flip under way (see [`Flip`]).
    flipping: Option<Flip>,
    /// The camera this tab uses since Flip chose one: the Camera button turns that one back
    /// on, rather than the device's default.
    camera_choice: Option<CameraPick>,
    microphone: Option<Capture>,
    microphone_requested: bool,
    /// `welcome.limits.uplinkKbps`, or the default from a server that says nothing.
    server_uplink_kbps: u32,
    /// The size last asked of the camera, and whether that request is in flight.
    capture_asked: Option<ViewSize>,
    capture_resizing: bool,
    sweeps: u32,
    _sweep: Interval,
}

impl Drop for MeshState {
    fn drop(&mut self) {
        self.socket.leave();
        self.links.clear();
        // Dropping a capture turns its device off.
        self._camera_ended = None;
        self.camera = None;
        self.microphone = None;
        // The page may be going away with its signals: try_ does nothing on disposed ones.
        self.model.tiles.try_set(Vec::new());
        self.model.local_stream.try_set(None);
    }
}

impl MeshState {
    fn new(room: &str, private: Option<PrivateRoom>, model: WallModel, events: &Events) -> Self {
        let sweep = {
            let events = events.clone();
            Interval::new(SWEEP_MS, move || events.send(MeshEvent::Sweep))
        };
        Self {
            model,
            events: events.clone(),
            private: private.is_some(),
            proven: BTreeSet::new(),
            awaiting_proof: BTreeMap::new(),
            _seal_hook: private
                .as_ref()
                .filter(|_| super::trace::enabled())
                .and_then(SealHook::expose),
            socket: SignallingSocket::open(room, model.role, private, events),
            links: BTreeMap::new(),
            me: None,
            rtc: RtcConfiguration::default(),
            grace_ms: DEFAULT_GRACE_MS,
            rejoined_at: None,
            members: Vec::new(),
            seen_info: false,
            first_offers: FirstOffers::ToAll,
            camera: None,
            camera_requested: false,
            _camera_ended: None,
            camera_inputs: Vec::new(),
            flipping: None,
            camera_choice: None,
            microphone: None,
            microphone_requested: false,
            server_uplink_kbps: DEFAULT_UPLINK_KBPS,
            capture_asked: None,
            capture_resizing: false,
            sweeps: 0,
            _sweep: sweep,
        }
    }

    fn handle(&mut self, event: MeshEvent) {
        match event {
            MeshEvent::Socket(input) => {
                match self.socket.handle(input) {
                    Some(SocketEvent::Message(message)) => self.on_message(message),
                    // A refusal stays on screen.
                    Some(SocketEvent::Reconnecting { seconds_left })
                        if !matches!(
                            self.model.connection.get_untracked(),
                            Connection::Fatal { .. }
                        ) =>
                    {
                        self.model
                            .connection
                            .set(Connection::Reconnecting { seconds_left });
                    }
                    Some(SocketEvent::Reconnecting { .. }) | None => {}
                }
                let dropped = self.socket.dropped();
                if self.model.sealing_dropped.get_untracked() != dropped {
                    self.model.sealing_dropped.set(dropped);
                }
            }
            MeshEvent::Link {
                member,
                link,
                event,
            } => {
                let notice = self
                    .links
                    .get_mut(&member)
                    .filter(|peer_link| peer_link.id() == link)
                    .and_then(|peer_link| peer_link.handle(event, &mut self.socket));
                match notice {
                    Some(LinkNotice::PeerViewChanged) => self.share_uplink(),
                    None => {}
                }
            }
            MeshEvent::CameraWanted(wanted) => self.camera_wanted(wanted),
            MeshEvent::CameraReady(camera) => self.camera_ready(camera),
            MeshEvent::CameraEnded => self.camera_lost(),
            MeshEvent::CameraInputs(inputs) => {
                let cameras = Some(inputs.iter().filter(|id| !id.is_empty()).count());
                self.camera_inputs = inputs;
                if self.model.cameras.get_untracked() != cameras {
                    self.model.cameras.set(cameras);
                }
            }
            MeshEvent::FlipCamera => self.flip_camera(),
            MeshEvent::StatsShown(shown) => {
                // Read at once when shown; forgotten when hidden, so that showing them again
                // starts afresh rather than from numbers of long ago.
                for link in self.links.values_mut() {
                    if shown {
                        link.read_stats();
                    } else {
                        link.forget_stats();
                    }
                }
            }
            MeshEvent::CameraFlipped(camera) => self.camera_flipped(camera),
            MeshEvent::MicrophoneWanted(wanted) => self.microphone_wanted(wanted),
            MeshEvent::MicrophoneReady(microphone) => self.microphone_ready(microphone),
            MeshEvent::CaptureResized(result) => {
                self.capture_resizing = false;
                if let Err(error) = result {
                    web_sys::console::warn_2(&"portals: the camera kept its size:".into(), &error);
                }
                self.share_uplink();
            }
            MeshEvent::AboutChanged => {
                let about = self.about();
                for link in self.links.values_mut() {
                    link.set_about(&about);
                }
            }
            MeshEvent::Sweep => {
                self.reconcile();
                self.stop_awaiting_proof(js_sys::Date::now() - PROOF_WAIT_MS);
                self.sweeps = self.sweeps.wrapping_add(1);
                if self.model.show_stats.get_untracked() && self.sweeps.is_multiple_of(STATS_SWEEPS)
                {
                    for link in self.links.values() {
                        link.read_stats();
                    }
                }
                // Encodings can only be set once a link has negotiated its sender: the sweep
                // comes back to those that could not be set yet.
                self.share_uplink();
            }
            // `run` stops at it.
            MeshEvent::Leave => {}
        }
    }

    fn on_message(&mut self, message: ServerMessage) {
        match message {
            ServerMessage::Welcome(welcome) => self.welcomed(*welcome),
            ServerMessage::Info(info) => {
                self.identify(&info.id, false);
                self.socket.joined();
                self.members = info.members;
                self.model.connection.set(Connection::Joined);
                self.reconcile();
            }
            ServerMessage::Description { from, description } => {
                // Our server checks every payload; a base server relays whatever it gets.
                let Ok(description) = description.parse() else {
                    trace!("{}: unreadable description ignored", from.short());
                    return;
                };
                self.replace_if_rebuilt(&from, &description);
                self.open_for_an_early_offer(&from, description.kind);
                if let Some(link) = self.links.get_mut(&from) {
                    link.receive_description(description);
                }
                self.prove(&from);
            }
            ServerMessage::Candidate { from, candidate } => {
                if let (Some(link), Ok(candidate)) = (self.links.get_mut(&from), candidate.parse())
                {
                    link.receive_candidate(candidate);
                }
                self.prove(&from);
            }
            ServerMessage::Pong(_) => {}
            ServerMessage::Error(report) => self.refused(report),
            // Our session, as before, with the token to present from now on.
            ServerMessage::Token(token) => {
                if let Some(me) = self.me.clone() {
                    self.socket.set_session(Some((me.as_str(), token.as_str())));
                }
            }
            ServerMessage::Rtc(rtc) => self.configure(&rtc),
        }
    }

    /// The ICE servers and policy for every link from now on. Open links take them too, so
    /// that their next ICE restart finds a relay with credentials that have not expired.
    fn configure(&mut self, rtc: &RtcConfiguration) {
        let mut rtc = rtc.clone();
        if self.model.force_relay {
            rtc.ice_transport_policy = Some(IceTransportPolicy::Relay);
        }
        if rtc == self.rtc {
            return;
        }
        self.rtc = rtc;
        for link in self.links.values() {
            link.configure(&self.rtc);
        }
    }

    /// In a private room, a message from `member` opened: it holds the key, and its tile
    /// shows.
    fn prove(&mut self, member: &MemberId) {
        if self.private {
            self.proven.insert(member.clone());
        }
        if let Some(link) = self.links.get(member) {
            if !link.tile().proven.get_untracked() {
                link.tile().proven.set(true);
                link.tile().awaiting_proof.set(false);
            }
        }
        self.awaiting_proof.remove(member);
    }

    /// Members awaited since before `opened_before` are waited for no longer.
    fn stop_awaiting_proof(&mut self, opened_before: f64) {
        let links = &self.links;
        self.awaiting_proof.retain(|member, opened| {
            let waiting = *opened >= opened_before;
            if let (false, Some(link)) = (waiting, links.get(member)) {
                link.tile().awaiting_proof.set(false);
            }
            waiting
        });
    }

    fn welcomed(&mut self, welcome: Welcome) {
        // Before `identify` adopts the id: whether this page's first welcome gives back the
        // seat this tab had before a reload.
        let reloaded = self.me.is_none() && self.socket.claimed_id() == Some(&welcome.id);
        let resumed = self.identify(&welcome.id, true);
        if resumed {
            self.rejoined_at = Some(js_sys::Date::now());
        }
        self.socket
            .set_session(Some((welcome.id.as_str(), welcome.token.as_str())));
        self.socket.joined();
        self.configure(&welcome.rtc);
        self.grace_ms = welcome.limits.grace_period_ms;
        if welcome.limits.uplink_kbps > 0 {
            self.server_uplink_kbps = welcome.limits.uplink_kbps;
        }
        if !self.seen_info {
            self.first_offers = if reloaded {
                FirstOffers::ToAll
            } else {
                FirstOffers::ToMembersThatWait
            };
        }
    }

    /// Adopts the id the server calls us by. A new id means the server does not know our old
    /// self any more (the grace period ended, or it restarted with another secret): every
    /// connection was made under the old id, so all are rebuilt. Returns whether the id is the
    /// one we had.
    fn identify(&mut self, id: &MemberId, from_welcome: bool) -> bool {
        if self.me.as_ref() == Some(id) {
            return true;
        }
        if self.me.is_some() {
            web_sys::console::info_1(&"portals: rejoined under a new id".into());
            self.links.clear();
            self.proven.clear();
            self.members.clear();
            self.seen_info = false;
            self.model.tiles.set(Vec::new());
            self.model.focused.set(None);
            self.rejoined_at = None;
            self.socket.discard_queue();
        }
        if !from_welcome {
            // A base server sends no welcome and has no tokens to resume with.
            self.first_offers = FirstOffers::ToAll;
            self.socket.set_session(None);
        }
        self.me = Some(id.clone());
        self.model.me.set(Some(id.clone()));
        false
    }

    fn refused(&mut self, report: ErrorReport) {
        let fatal = match report.code {
            code if code.is_fatal_for_room() => Some(report.message.clone()),
            ErrorCode::SessionReplaced => Some(
                "This wall was opened again somewhere else with the same session. Reload to rejoin."
                    .to_string(),
            ),
            _ => None,
        };
        match fatal {
            Some(message) => {
                self.socket.leave();
                let message = if message.is_empty() {
                    format!("The server refused to join: {}.", report.code.as_str())
                } else {
                    capitalise(&message)
                };
                self.model.connection.set(Connection::Fatal { message });
            }
            None => web_sys::console::warn_1(
                &format!(
                    "portals: server said {}: {}",
                    report.code.as_str(),
                    report.message
                )
                .into(),
            ),
        }
    }

    /// Opens and closes connections to match the room; see [`reconcile`].
    fn reconcile(&mut self) {
        if self.me.is_none() {
            return;
        }
        let after_rejoin = self
            .rejoined_at
            .is_some_and(|at| js_sys::Date::now() - at < self.grace_ms as f64);
        let views: Vec<LinkView> = self
            .links
            .values()
            .map(|link| LinkView {
                member: link.member().clone(),
                connected: link.is_connected(),
            })
            .collect();
        let plan = reconcile(self.model.role, &views, &self.members, after_rejoin);
        for member in &plan.close {
            self.close_link(member);
            // Gone from the room: should it come back, it proves itself again.
            self.proven.remove(member);
            // A member that left is no longer the one enlarged: should it come back, the grid
            // is as the person left it.
            if self
                .model
                .focused
                .with_untracked(|focused| focused.as_ref() == Some(member))
            {
                self.model.focused.set(None);
            }
        }
        let newcomer = !self.seen_info;
        self.seen_info = true;
        for peer in &plan.open {
            let first_offer = self.first_offers.on_link_to(newcomer, peer.newcomer_offers);
            self.open_link(peer, first_offer);
        }
        for link in self.links.values() {
            let present = !plan.keep_missing.contains(link.member());
            if link.tile().present.get_untracked() != present {
                link.tile().present.set(present);
            }
        }
    }

    /// Opens a link to `from` on the spot for an offer that beats the `info` announcing its
    /// sender. Anything else from an unknown member is a leftover of one who left, and opening
    /// a link for it would make a ghost tile.
    fn open_for_an_early_offer(&mut self, from: &MemberId, kind: SdpType) {
        if kind == SdpType::Offer && !self.links.contains_key(from) {
            self.open_for_an_offer_in_hand(from);
        }
    }

    /// A base-library peer builds a brand new connection on every `info`; its offer then
    /// carries a new DTLS fingerprint, which our existing connection can never accept.
    fn replace_if_rebuilt(&mut self, from: &MemberId, description: &SessionDescription) {
        let rebuilt = self
            .links
            .get(from)
            .is_some_and(|link| link.is_from_a_new_connection(description));
        if rebuilt {
            self.close_link(from);
            self.open_for_an_offer_in_hand(from);
        }
    }

    /// A link for the offer being handled: politeness follows from the two ids alone.
    fn open_for_an_offer_in_hand(&mut self, from: &MemberId) {
        let Some(me) = &self.me else { return };
        let polite = me.is_polite_towards(from);
        // Its role, if an `info` told it already; `both` for a sender it did not.
        let role = self
            .members
            .iter()
            .find(|peer| &peer.id == from)
            .map_or(Role::Both, |peer| peer.role);
        self.open_link(
            &Peer {
                id: from.clone(),
                polite,
                newcomer_offers: false,
                role,
            },
            FirstOffer::offer_in_hand(polite),
        );
    }

    fn open_link(&mut self, peer: &Peer, first_offer: FirstOffer) {
        trace!(
            "opening a connection to {} (polite {}, first offer {:?}, camera {})",
            peer.id.short(),
            peer.polite,
            first_offer,
            self.camera.is_some()
        );
        let media = LinkMedia::between(self.model.role, peer.role);
        let tile = Tile::new(peer.id.clone(), media.receives, peer.role.receives());
        let proven = !self.private || self.proven.contains(&peer.id);
        tile.proven.set(proven);
        tile.awaiting_proof.set(!proven);
        if !proven {
            self.awaiting_proof
                .insert(peer.id.clone(), js_sys::Date::now());
        }
        let local = self.local_tracks();
        match PeerLink::open(
            peer,
            media,
            &self.rtc,
            local,
            &self.events,
            tile.clone(),
            first_offer,
        ) {
            Ok(mut link) => {
                if self.camera_requested && self.model.camera_enabled.get_untracked() {
                    link.expect_camera();
                }
                link.set_about(&self.about());
                self.links.insert(peer.id.clone(), link);
                self.model.tiles.update(|tiles| tiles.push(tile));
                self.model.connections_created.update(|count| *count += 1);
            }
            Err(error) => {
                web_sys::console::error_2(&"portals: could not open a connection:".into(), &error)
            }
        }
    }

    fn close_link(&mut self, member: &MemberId) {
        self.links.remove(member);
        self.awaiting_proof.remove(member);
        self.model
            .tiles
            .update(|tiles| tiles.retain(|tile| &tile.member != member));
    }

    /// What the peers are told about this tab: its name, and whether its camera is on.
    fn about(&self) -> About {
        About {
            name: self.model.name.get_untracked(),
            camera_on: self.model.camera.with_untracked(CameraState::is_on),
        }
    }

    fn local_tracks(&self) -> Vec<(MediaStreamTrack, MediaStream)> {
        [&self.camera, &self.microphone]
            .into_iter()
            .flatten()
            .flat_map(|capture| {
                capture
                    .tracks()
                    .into_iter()
                    .map(|track| (track, capture.stream().clone()))
            })
            .collect()
    }

    /// The Camera button, and the start. One request at a time: what is wanted when it
    /// resolves decides whether the camera is used.
    fn camera_wanted(&mut self, wanted: bool) {
        if !self.model.role.sends() {
            // A wall never asks: it is a screen, and a prompt on a TV has nobody to answer it.
            return;
        }
        if !wanted {
            let status = self.model.camera.get_untracked();
            if self.camera.is_some() || matches!(status, CameraState::On | CameraState::Starting) {
                self.camera_off();
                self.model.camera.set(CameraState::Off);
            }
            return;
        }
        if self.camera.is_some() || self.camera_requested || self.flipping.is_some() {
            return;
        }
        self.camera_requested = true;
        self.model.camera.set(CameraState::Starting);
        let choice = self.camera_choice.clone();
        let events = self.events.clone();
        spawn_local(async move {
            // Preferred, not required: a chosen camera unplugged since gives way to another.
            let camera = local_media::request(Device::Camera, choice.as_ref(), false).await;
            // Should the mesh be gone, the event and the capture in it are dropped: the
            // camera goes off again.
            events.send(MeshEvent::CameraReady(camera));
        });
    }

    fn camera_ready(&mut self, camera: Result<Capture, MediaError>) {
        self.camera_requested = false;
        trace!("camera: {}", if camera.is_ok() { "on" } else { "refused" });
        let capture = match camera {
            Ok(capture) => capture,
            Err(error) => {
                self.model.camera.set(camera_state(&error));
                // The next press asks for any camera: the chosen one may be the one that is
                // gone.
                self.camera_choice = None;
                self.links
                    .values_mut()
                    .for_each(PeerLink::camera_not_coming);
                return;
            }
        };
        if !self.model.camera_enabled.get_untracked() {
            // Turned off while the prompt was up.
            self.model.camera.set(CameraState::Off);
            self.links
                .values_mut()
                .for_each(PeerLink::camera_not_coming);
            return;
        }
        self.model.camera.set(CameraState::On);
        self.send_to_all(&capture);
        self.use_camera(capture);
        // Whether there is another camera to flip to: ids are listed only once one is in use.
        let events = self.events.clone();
        spawn_local(async move {
            events.send(MeshEvent::CameraInputs(local_media::video_inputs().await));
        });
    }

    /// Makes `capture` the camera in use, already handed to the links.
    fn use_camera(&mut self, capture: Capture) {
        let mirror = capture.facing_and_device().0.as_deref() != Some("environment");
        if self.model.mirror_preview.get_untracked() != mirror {
            self.model.mirror_preview.set(mirror);
        }
        self.model
            .local_stream
            .set(Some(SendWrapper::new(capture.stream().clone())));
        self._camera_ended = capture.video_track().map(|track| {
            let events = self.events.clone();
            EventListener::new(&track, "ended", move |_| {
                events.send(MeshEvent::CameraEnded)
            })
        });
        self.camera = Some(capture);
        // A new capture has the size the page asked for at first.
        self.capture_asked = None;
        self.share_uplink();
    }

    /// The Flip button: the device's other camera takes the place of the one in use on every
    /// link, by `replaceTrack`, with no renegotiation.
    fn flip_camera(&mut self) {
        if self.flipping.is_some() {
            return;
        }
        let Some(camera) = &self.camera else { return };
        let (facing, device) = camera.facing_and_device();
        let Some(pick) = other_camera(facing.as_deref(), device.as_deref(), &self.camera_inputs)
        else {
            return;
        };
        let Some(old) = camera.video_track() else {
            return;
        };
        // A camera that says which way it faces may have no other side (a laptop's webcam
        // says "user"): the device's next camera is tried then.
        let fallback = match pick {
            CameraPick::Facing(_) => other_camera(None, device.as_deref(), &self.camera_inputs),
            CameraPick::Device(_) => None,
        };
        // A phone opens one camera at a time: the one in use is let go first (a stop asked
        // by the page fires no `ended`).
        self._camera_ended = None;
        self.camera = None;
        self.flipping = Some(Flip {
            old,
            previous: device,
            fallback,
        });
        self.request_flip(pick);
    }

    fn request_flip(&self, pick: CameraPick) {
        trace!("camera: flipping to {pick:?}");
        let events = self.events.clone();
        spawn_local(async move {
            let camera = local_media::request(Device::Camera, Some(&pick), true).await;
            events.send(MeshEvent::CameraFlipped(camera));
        });
    }

    fn camera_flipped(&mut self, camera: Result<Capture, MediaError>) {
        let Some(mut flip) = self.flipping.take() else {
            return;
        };
        let wanted = self.model.camera_enabled.get_untracked();
        match camera {
            Ok(capture) if wanted => {
                trace!("camera: flipped");
                if let Some(track) = capture.video_track() {
                    for link in self.links.values_mut() {
                        // A link opened during the flip never had the old camera.
                        if !link.replace_sent_track(&flip.old, &track, capture.stream()) {
                            link.send_track(&track, capture.stream());
                        }
                    }
                }
                // The Camera button turns this one back on from now on.
                self.camera_choice = capture.facing_and_device().1.map(CameraPick::Device);
                // Off and on again during the flip: it is on.
                self.model.camera.set(CameraState::On);
                self.use_camera(capture);
            }
            Err(_) if wanted && flip.fallback.is_some() => {
                let fallback = flip.fallback.take();
                self.flipping = Some(flip);
                if let Some(pick) = fallback {
                    self.request_flip(pick);
                }
            }
            outcome => {
                // Turned off meanwhile, or no other camera would start: the links stop
                // sending the old one, and a wanted camera is asked for again: the one that
                // was in use.
                for link in self.links.values_mut() {
                    link.stop_sending(&flip.old);
                }
                self.model.local_stream.set(None);
                if let (Err(error), true) = (outcome, wanted) {
                    self.model.notice.set(Some(format!(
                        "The other camera could not be used: {}",
                        error.sentence(Device::Camera)
                    )));
                }
                self.camera_choice = flip.previous.map(CameraPick::Device);
                if wanted {
                    self.camera_wanted(true);
                }
            }
        }
    }

    /// Stops sending the camera and turns it off. The others' connections stay; each sees the
    /// track go quiet and shows its tile as a viewer's.
    fn camera_off(&mut self) {
        self._camera_ended = None;
        if let Some(capture) = self.camera.take() {
            for track in capture.tracks() {
                for link in self.links.values_mut() {
                    link.stop_sending(&track);
                }
            }
        }
        self.model.local_stream.set(None);
    }

    /// The camera ended without being asked to: say so, and let the button ask again.
    fn camera_lost(&mut self) {
        web_sys::console::warn_1(&"portals: the camera stopped".into());
        self.camera_off();
        self.model.camera.set(CameraState::Unavailable(
            "The camera stopped: it was unplugged, or its permission was taken back. Press Camera to try again."
                .to_string(),
        ));
        self.model.camera_enabled.set(false);
    }

    /// The Mic button: the first "on" asks for the microphone; later ones mute and unmute
    /// without renegotiating (the track stays, its content goes silent).
    fn microphone_wanted(&mut self, wanted: bool) {
        if !self.model.role.sends() {
            return;
        }
        if let Some(capture) = &self.microphone {
            for track in capture.tracks() {
                track.set_enabled(wanted);
            }
            return;
        }
        if !wanted || self.microphone_requested {
            return;
        }
        self.microphone_requested = true;
        let events = self.events.clone();
        spawn_local(async move {
            let microphone = local_media::request(Device::Microphone, None, false).await;
            events.send(MeshEvent::MicrophoneReady(microphone));
        });
    }

    fn microphone_ready(&mut self, microphone: Result<Capture, MediaError>) {
        self.microphone_requested = false;
        match microphone {
            // Turned off while the prompt was up: nothing is sent, and the device goes off.
            Ok(_) if !self.model.microphone_enabled.get_untracked() => {}
            Ok(capture) => {
                self.send_to_all(&capture);
                self.microphone = Some(capture);
                self.model.notice.set(None);
            }
            Err(error) => {
                self.model.microphone_enabled.set(false);
                self.model
                    .notice
                    .set(Some(error.sentence(Device::Microphone)));
            }
        }
    }

    /// Shares the uplink out over the links that send our video, each sized to what its
    /// receiver shows (see [`video_budget`]), and asks the camera for no more than the largest
    /// of them needs. Cheap when nothing changed: each link sets only a new encoding.
    fn share_uplink(&mut self) {
        let Some(settings) = self.camera.as_ref().and_then(Capture::settings) else {
            return;
        };
        // A receiver that never said (a base client) is assumed to show everyone in a grid.
        let default = video_budget::default_view(self.members.len());
        let sending: Vec<(&mut PeerLink, RtcRtpSender)> = self
            .links
            .values_mut()
            .filter_map(|link| link.video_sender().map(|sender| (link, sender)))
            .collect();
        if sending.is_empty() {
            return;
        }
        let views: Vec<ViewSize> = sending
            .iter()
            .map(|(link, _)| link.peer_view().unwrap_or(default))
            .collect();
        let uplink = self.model.uplink_kbps.unwrap_or(self.server_uplink_kbps);
        let encodings = video_budget::encodings(settings, &views, uplink);
        for ((link, sender), encoding) in sending.into_iter().zip(encodings) {
            link.set_encoding(sender, encoding);
        }
        let wanted = video_budget::capture_size(settings.size, &views);
        if self.capture_resizing || self.capture_asked == Some(wanted) {
            return;
        }
        let Some(camera) = &self.camera else { return };
        if let Some(Ok(promise)) = camera.resize(wanted) {
            trace!(
                "camera: capturing {}x{} for the largest view",
                wanted.width,
                wanted.height
            );
            self.capture_asked = Some(wanted);
            self.capture_resizing = true;
            let events = self.events.clone();
            spawn_local(async move {
                let result = wasm_bindgen_futures::JsFuture::from(promise).await;
                events.send(MeshEvent::CaptureResized(result.map(drop)));
            });
        }
    }

    fn send_to_all(&mut self, capture: &Capture) {
        for track in capture.tracks() {
            for link in self.links.values_mut() {
                link.send_track(&track, capture.stream());
            }
        }
    }
}

/// A camera that could not be had, as the wall shows it.
fn camera_state(error: &MediaError) -> CameraState {
    match error {
        MediaError::Denied => CameraState::Denied,
        MediaError::Missing => CameraState::Missing,
        other => CameraState::Unavailable(other.sentence(Device::Camera)),
    }
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => {
            let mut out: String = first.to_uppercase().collect();
            out.push_str(chars.as_str());
            if !out.ends_with('.') {
                out.push('.');
            }
            out
        }
        None => String::new(),
    }
}
