//! What the wall shows: signals written by the mesh (in the browser) and read by the components
//! (on both sides). This is the only thing the two know about each other.

use std::sync::atomic::{AtomicU64, Ordering};

use leptos::prelude::*;
use send_wrapper::SendWrapper;

use super::layout::ASPECT;
use crate::{
    mesh::{link_stats::TileStats, peer_message::CameraName},
    signalling::{protocol::Role, MemberId, RoomKey},
};

/// A browser `MediaStream` inside a signal. Signals must be `Send`; the wall only ever touches
/// streams on the browser's one thread, so the wrapper's check never fires. On the server the
/// value is always `None`.
pub type SharedStream = SendWrapper<web_sys::MediaStream>;

/// The signalling connection, as the person in front of the wall should understand it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Connection {
    Connecting,
    Joined,
    /// The server is unreachable; the next attempt is in `seconds_left`.
    Reconnecting {
        seconds_left: u32,
    },
    /// Nothing to retry: room full, room unknown, invalid name, session taken over.
    Fatal {
        message: String,
    },
}

impl Connection {
    pub fn as_str(&self) -> &'static str {
        match self {
            Connection::Connecting => "connecting",
            Connection::Joined => "joined",
            Connection::Reconnecting { .. } => "reconnecting",
            Connection::Fatal { .. } => "fatal",
        }
    }
}

/// What became of the camera this tab sends (not of the microphone, which is only on or off).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CameraState {
    Starting,
    On,
    /// Turned off with the Camera button.
    Off,
    /// Permission refused: the tab still joins and watches.
    Denied,
    Missing,
    Unavailable(String),
}

impl CameraState {
    /// Whether the camera is, or is about to be, sending: anything else is "camera off" to
    /// the peers.
    pub fn is_on(&self) -> bool {
        matches!(self, CameraState::Starting | CameraState::On)
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            CameraState::Starting => "starting",
            CameraState::On => "on",
            CameraState::Off => "off",
            CameraState::Denied => "denied",
            CameraState::Missing => "missing",
            CameraState::Unavailable(_) => "unavailable",
        }
    }
}

/// One peer connection's state, in the words a tile shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkState {
    Connecting,
    Connected,
    Reconnecting,
    Failed,
}

impl LinkState {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkState::Connecting => "connecting",
            LinkState::Connected => "connected",
            LinkState::Reconnecting => "reconnecting",
            LinkState::Failed => "failed",
        }
    }
}

/// One other member's tile.
#[derive(Clone)]
pub struct Tile {
    /// Unique per tile, for keyed rendering: when a member's connection is replaced, its new
    /// tile must not be mistaken for the old one (whose stream is gone).
    pub key: u64,
    pub member: MemberId,
    /// The member sends us video: a tile on the wall. A link we only send on (to a wall, from
    /// a `both` tab) has no picture to show, and no tile in the grid.
    pub shows_video: bool,
    /// The member watches video (it is not a camera only).
    pub watches: bool,
    pub state: ArcRwSignal<LinkState>,
    pub stream: ArcRwSignal<Option<SharedStream>>,
    /// A video track arrived: without one, a connected member is a viewer.
    pub has_video: ArcRwSignal<bool>,
    /// False while the member is missing from `info` but its call is kept (after a rejoin).
    pub present: ArcRwSignal<bool>,
    /// In a private room, false until a message from the member opened with the room's key:
    /// until then its tile is made and rendered (so that showing it costs little while the
    /// first picture is on its way) but transparent, outside the grid, and counts for nothing,
    /// so that a member the server invented is never seen.
    pub proven: ArcRwSignal<bool>,
    /// Not proven yet, but just appeared: for a few seconds the wall does not call itself
    /// empty, so that the member's proof does not come with the empty room's notice going
    /// away on the first picture's critical path (and a member that never proves is not
    /// waited for long).
    pub awaiting_proof: ArcRwSignal<bool>,
    /// How large the tile shows the video, in device pixels (width, height): the sender sizes
    /// what it sends on this link to it. (0, 0) until laid out.
    pub view: ArcRwSignal<(u32, u32)>,
    /// The name the member gave its camera, once it said (see `mesh::peer_message`); a base
    /// client never says, and its tile shows its id.
    pub name: ArcRwSignal<Option<CameraName>>,
    /// The member said its camera is off: the tile says so instead of waiting for a picture.
    pub camera_off: ArcRwSignal<bool>,
    /// The shape of the member's video (width / height), once a frame said: its tile has it.
    pub aspect: ArcRwSignal<f64>,
    /// The link's health from `getStats`, read while the wall shows stats.
    pub stats: ArcRwSignal<Option<TileStats>>,
    /// A TURN server refused this link a relay: while it is not connected, the tile says so,
    /// for a link that only a relay can make (a strict firewall, `relay` policy) waits for
    /// nothing else.
    pub relay_problem: ArcRwSignal<Option<RelayProblem>>,
}

/// Why a TURN server gave a link no relay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelayProblem {
    /// Its credentials were refused: expired, or signed with another secret.
    Refused,
    /// It never answered.
    Unreachable,
    /// It has no room for another allocation.
    Full,
}

impl RelayProblem {
    /// What the tile says while the link is not connected.
    pub fn explain(self) -> &'static str {
        match self {
            RelayProblem::Refused => "No relay: the TURN server refused the credentials",
            RelayProblem::Unreachable => "No relay: the TURN server does not answer",
            RelayProblem::Full => "No relay: the TURN server is full",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RelayProblem::Refused => "refused",
            RelayProblem::Unreachable => "unreachable",
            RelayProblem::Full => "full",
        }
    }
}

impl Tile {
    /// On the wall: a member that sends us video and, in a private room, holds the key.
    pub fn is_shown(&self) -> bool {
        self.shows_video && self.proven.get()
    }

    pub fn new(member: MemberId, shows_video: bool, watches: bool) -> Self {
        static NEXT_KEY: AtomicU64 = AtomicU64::new(1);
        Self {
            key: NEXT_KEY.fetch_add(1, Ordering::Relaxed),
            member,
            shows_video,
            watches,
            state: ArcRwSignal::new(LinkState::Connecting),
            stream: ArcRwSignal::new(None),
            has_video: ArcRwSignal::new(false),
            present: ArcRwSignal::new(true),
            proven: ArcRwSignal::new(true),
            awaiting_proof: ArcRwSignal::new(false),
            view: ArcRwSignal::new((0, 0)),
            name: ArcRwSignal::new(None),
            camera_off: ArcRwSignal::new(false),
            aspect: ArcRwSignal::new(ASPECT),
            stats: ArcRwSignal::new(None),
            relay_problem: ArcRwSignal::new(None),
        }
    }
}

/// Everything on the wall page that changes.
#[derive(Clone, Copy)]
pub struct WallModel {
    /// What this tab does with video (`&role=`); fixed for the page's life.
    pub role: Role,
    /// `&uplink=<kbit/s>`: this page's video budget, over what the server announces.
    pub uplink_kbps: Option<u32>,
    /// `&relay` (with `&debug`): every link of this page goes through a TURN server, as if
    /// the server said `--ice-transport-policy relay`.
    pub force_relay: bool,
    pub connection: RwSignal<Connection>,
    pub camera: RwSignal<CameraState>,
    pub me: RwSignal<Option<MemberId>>,
    /// This tab's camera's name (`&name=`, typed in the page, or kept from an earlier visit),
    /// told to every peer it sends to.
    pub name: RwSignal<Option<CameraName>>,
    /// The member whose tile is enlarged over a strip of the others (a click on it), if any.
    pub focused: RwSignal<Option<MemberId>>,
    /// Other members, in the order their tiles appeared, so tiles never jump around.
    pub tiles: RwSignal<Vec<Tile>>,
    pub local_stream: RwSignal<Option<SharedStream>>,
    /// Peer connections ever created by this page: the tests use it to prove that a join or a
    /// leave does not rebuild anyone else's connection.
    pub connections_created: RwSignal<u32>,
    /// Send this tab's camera (on by default).
    pub camera_enabled: RwSignal<bool>,
    /// How many cameras the device has, once listed (after one is in use): with two or more,
    /// Flip turns to another (a phone's other side, a second webcam).
    pub cameras: RwSignal<Option<usize>>,
    /// Presses of the Flip button: each one asks the mesh for the device's other camera.
    pub camera_flips: RwSignal<u32>,
    /// Send this tab's microphone (off by default).
    pub microphone_enabled: RwSignal<bool>,
    /// Play the others' sound (off by default, so tiles can autoplay).
    pub sound: RwSignal<bool>,
    pub self_view: RwSignal<bool>,
    /// The preview is shown mirrored, as a mirror would: not for a camera that faces away
    /// (a phone's back camera), whose writing must read the right way round.
    pub mirror_preview: RwSignal<bool>,
    /// The shape of this tab's own camera (width / height), for its tile.
    pub self_aspect: RwSignal<f64>,
    /// Each tile shows its link's round trip, frame rate, size, bitrate and path (`&stats`,
    /// or the Stats button).
    pub show_stats: RwSignal<bool>,
    /// A passing problem worth telling, e.g. the microphone was refused.
    pub notice: RwSignal<Option<String>>,
    /// The private room's key, from the URL's fragment, which only the browser sees: set
    /// after hydration, so both sides first render the same page.
    pub room_key: RwSignal<Option<RoomKey>>,
    /// In a private room, messages from members that did not open (or were not sealed) and
    /// were dropped: shown with `&debug`.
    pub sealing_dropped: RwSignal<u32>,
}

impl WallModel {
    pub fn new(
        self_view: bool,
        role: Role,
        uplink_kbps: Option<u32>,
        name: Option<CameraName>,
        show_stats: bool,
    ) -> Self {
        let sends = role.sends();
        Self {
            role,
            uplink_kbps,
            force_relay: false,
            connection: RwSignal::new(Connection::Connecting),
            // A wall never asks for a camera: its state is off from the start.
            camera: RwSignal::new(if sends {
                CameraState::Starting
            } else {
                CameraState::Off
            }),
            me: RwSignal::new(None),
            name: RwSignal::new(name),
            focused: RwSignal::new(None),
            tiles: RwSignal::new(Vec::new()),
            local_stream: RwSignal::new(None),
            connections_created: RwSignal::new(0),
            camera_enabled: RwSignal::new(sends),
            cameras: RwSignal::new(None),
            camera_flips: RwSignal::new(0),
            microphone_enabled: RwSignal::new(false),
            sound: RwSignal::new(false),
            // A camera's page is its own preview.
            self_view: RwSignal::new(self_view || role == Role::Camera),
            show_stats: RwSignal::new(show_stats),
            mirror_preview: RwSignal::new(true),
            self_aspect: RwSignal::new(ASPECT),
            notice: RwSignal::new(None),
            room_key: RwSignal::new(None),
            sealing_dropped: RwSignal::new(0),
        }
    }
}
