//! The mesh's one queue. Every browser listener and timer of the mesh (the signalling socket,
//! each `RTCPeerConnection` and its tracks, the camera, the buttons) only sends an event here;
//! one task ([`super::controller`]) owns all the state and handles the events in order. No
//! state is shared, so nothing is ever borrowed twice or retried when busy.

use futures_channel::mpsc::{unbounded, UnboundedReceiver, UnboundedSender};

use super::{
    local_media::{Capture, MediaError},
    peer_link::{LinkEvent, LinkId},
    signalling_socket::SocketInput,
};
use crate::signalling::MemberId;

pub enum MeshEvent {
    Socket(SocketInput),
    Link {
        member: MemberId,
        /// Which connection to the member: events of one already replaced are dropped.
        link: LinkId,
        event: LinkEvent,
    },
    /// The Camera button (and the start).
    CameraWanted(bool),
    CameraReady(Result<Capture, MediaError>),
    /// The camera's track ended without being asked to: unplugged, or permission withdrawn.
    CameraEnded,
    /// The device's cameras, listed once one is in use.
    CameraInputs(Vec<String>),
    /// The Flip button.
    FlipCamera,
    /// The other camera, or why it could not be had.
    CameraFlipped(Result<Capture, MediaError>),
    /// The Stats button (and the start): whether the tiles show their links' stats.
    StatsShown(bool),
    /// The Mic button.
    MicrophoneWanted(bool),
    MicrophoneReady(Result<Capture, MediaError>),
    /// `applyConstraints` on the camera settled: the links' encodings follow its new size.
    CaptureResized(Result<(), wasm_bindgen::JsValue>),
    /// This tab's name or camera state changed: the peers are told.
    AboutChanged,
    /// Time to look again at links kept after a rejoin, and at the links' encodings.
    Sweep,
    /// The page is done with the wall: leave the room and close everything.
    Leave,
}

/// Where listeners send their events. Sending to a mesh that is gone drops the event, and with
/// it whatever it carries (a capture turns its device off).
#[derive(Clone)]
pub struct Events(UnboundedSender<MeshEvent>);

impl Events {
    pub fn channel() -> (Self, UnboundedReceiver<MeshEvent>) {
        let (sender, receiver) = unbounded();
        (Self(sender), receiver)
    }

    pub fn send(&self, event: MeshEvent) {
        // Fails only once the mesh's task has ended, and then nobody wants the event.
        let _ = self.0.unbounded_send(event);
    }

    pub fn socket(&self, input: SocketInput) {
        self.send(MeshEvent::Socket(input));
    }

    /// A sender of one link's events, for its listeners and its async steps.
    pub fn for_link(&self, member: MemberId, link: LinkId) -> LinkEvents {
        LinkEvents {
            events: self.clone(),
            member,
            link,
        }
    }
}

#[derive(Clone)]
pub struct LinkEvents {
    events: Events,
    member: MemberId,
    link: LinkId,
}

impl LinkEvents {
    pub fn send(&self, event: LinkEvent) {
        self.events.send(MeshEvent::Link {
            member: self.member.clone(),
            link: self.link,
            event,
        });
    }
}
