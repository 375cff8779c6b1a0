//! The wall: `/?room=<name>`. The server renders the frame; in the browser the mesh joins the
//! room and fills the grid.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::{
    components::{
        banners::Banners,
        model::{Connection, LinkState, WallModel},
        video_wall::VideoWall,
    },
    mesh::peer_message::CameraName,
    signalling::{protocol::Role, RoomName},
};

/// Where a device keeps its camera's name between visits: a phone at the front door is
/// "Front door" in every room.
#[cfg(feature = "hydrate")]
const NAME_KEY: &str = "portals.name";

#[component]
pub fn WallPage(
    room: String,
    /// `&role=`: a camera only sends, a wall only receives, and without it a tab does both.
    #[prop(optional)]
    role: Role,
    /// `&uplink=<kbit/s>`: the video this tab sends in total, over the server's figure.
    #[prop(default = None)]
    uplink_kbps: Option<u32>,
    /// `&name=`: this camera's name, kept for the next visits too.
    #[prop(default = None)]
    name: Option<CameraName>,
    #[prop(optional)] self_view: bool,
    /// `&kiosk`: a TV's wall, with no bar and no buttons; banners still say what is wrong.
    #[prop(optional)]
    kiosk: bool,
    /// `&stats`: each tile shows its link's health from the start.
    #[prop(optional)]
    stats: bool,
    #[prop(optional)] debug: bool,
    /// `&relay`, with `&debug` only: relayed links only, to test a TURN server.
    #[prop(optional)]
    relay: bool,
) -> impl IntoView {
    let from_url = name.is_some();
    let model = WallModel {
        force_relay: debug && relay,
        ..WallModel::new(self_view, role, uplink_kbps, name, stats)
    };
    // Storage is the browser's: read after hydration, so both sides render the same page.
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        if from_url {
            let name = model.name.get_untracked();
            crate::browser::store(NAME_KEY, name.as_ref().map(CameraName::as_str));
        } else if let Some(name) =
            crate::browser::stored(NAME_KEY).and_then(|name| CameraName::parse(&name))
        {
            model.name.set(Some(name));
        }
        let _ = from_url;
    });
    let rename = move |text: String| {
        let name = CameraName::parse(&text);
        #[cfg(feature = "hydrate")]
        crate::browser::store(NAME_KEY, name.as_ref().map(CameraName::as_str));
        if model.name.get_untracked() != name {
            model.name.set(name);
        }
    };
    match RoomName::parse(&room) {
        // Decided the same way on both sides, so hydration sees the same page.
        Err(error) => model.connection.set(Connection::Fatal {
            message: format!("“{room}” is not a room name: {error}."),
        }),
        Ok(_name) => {
            // The fragment is read once: a key pasted into the address bar, or taken out of it,
            // changes only the fragment, and takes the page to its room by a reload.
            #[cfg(feature = "hydrate")]
            {
                let edited = window_event_listener(leptos::ev::hashchange, |_| {
                    if let Some(window) = web_sys::window() {
                        let _ = window.location().reload();
                    }
                });
                on_cleanup(move || edited.remove());
            }
            // Only the browser sees the fragment, and has a mesh.
            #[cfg(feature = "hydrate")]
            match crate::signalling::RoomKey::from_fragment(&crate::browser::url_fragment()) {
                // Not the public room of the same name: the person meant a private one.
                Some(None) => {
                    Effect::new(move |_| {
                        model.connection.set(Connection::Fatal {
                            message: "This private link's key is damaged: ask for the link \
                                      again, whole (the part after # is the room's key)."
                                .into(),
                        })
                    });
                }
                key => {
                    let key = key.flatten();
                    let shown = key.clone();
                    Effect::new(move |_| model.room_key.set(shown.clone()));
                    let mesh = send_wrapper::SendWrapper::new(crate::mesh::Mesh::start(
                        _name, key, model, debug,
                    ));
                    // Leaving the page leaves the room: the mesh closes everything it opened.
                    on_cleanup(move || drop(mesh));
                }
            }
        }
    }

    let others = move || {
        model
            .tiles
            .with(|tiles| tiles.iter().filter(|tile| tile.proven.get()).count())
    };
    // A camera's links all go to members that watch it; connected ones are watching now.
    let watchers = move || {
        model.tiles.with(|tiles| {
            tiles
                .iter()
                .filter(|tile| tile.proven.get() && tile.state.get() == LinkState::Connected)
                .count()
        })
    };
    let status = move || match model.connection.get() {
        Connection::Connecting => "connecting…".to_string(),
        Connection::Joined if role == Role::Camera => match watchers() {
            0 => "live · nobody watching".to_string(),
            1 => "live · 1 watching".to_string(),
            n => format!("live · {n} watching"),
        },
        Connection::Joined => match others() {
            0 => "live · alone".to_string(),
            1 => "live · 1 other".to_string(),
            n => format!("live · {n} others"),
        },
        Connection::Reconnecting { .. } => "reconnecting…".to_string(),
        Connection::Fatal { .. } => "not joined".to_string(),
    };
    let me = move || model.me.get().map(|id| id.to_string());
    let adding = RwSignal::new(false);
    // Effects run only in the browser, and only once the page is hydrated: the tests and
    // the styles can tell a live page from its server-rendered frame.
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    // A wall on a TV and a phone propped up as a camera must not go to sleep.
    let wake = RwSignal::new(None::<&'static str>);
    // In an effect: after hydration, so that what it reports at once is rendered, and owned
    // by the effect, so that the lock goes with the page.
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        crate::browser::keep_screen_awake(move |state| {
            wake.try_set(Some(state.as_str()));
        });
    });

    let bar_room = room.clone();
    view! {
        <Title text=format!("{room} · portals")/>
        <main
            class="wall"
            data-room=room.clone()
            data-role=role.as_str()
            data-watchers=move || (role == Role::Camera).then(watchers)
            data-status=move || model.connection.get().as_str()
            data-camera=move || model.camera.get().as_str()
            data-member=me
            data-connections-created=move || model.connections_created.get()
            data-hydrated=move || hydrated.get().then_some("true")
            data-wake-lock=move || wake.get()
            data-cameras=move || model.cameras.get()
            data-private=move || model.room_key.with(Option::is_some).then_some("true")
            data-sealing-dropped=move || debug.then(|| model.sealing_dropped.get())
            class:kiosk=kiosk
        >
            <Show when=move || !kiosk>
            <header class="wall-bar">
                <a class="brand" href="/">"portals"</a>
                <span class="room-name">{bar_room.clone()}</span>
                <Show when=move || model.room_key.with(Option::is_some)>
                    <span
                        class="private-room"
                        title="A private room: only those with the whole link (its key) are in it, and the server can neither read nor alter what its cameras and walls say to each other"
                    >
                        <svg class="lock" viewBox="0 0 16 16" width="12" height="12" aria-hidden="true">
                            <path fill="currentColor" d="M4 7V5a4 4 0 0 1 8 0v2h1v8H3V7zm2 0h4V5a2 2 0 0 0-4 0z"/>
                        </svg>
                        " private"
                    </span>
                    <Show when=move || debug>
                        <span class="sealing-dropped" title="Messages from members that did not open with this room's key, dropped">
                            {move || format!("{} dropped", model.sealing_dropped.get())}
                        </span>
                    </Show>
                </Show>
                <Show when=move || role.sends()>
                    <input
                        class="camera-name"
                        type="text"
                        aria-label="Camera name"
                        title="What the walls call this camera"
                        placeholder=move || model.me.get().map(|id| format!("camera {}", id.short()))
                        prop:value=move || model.name.get().map(|name| name.to_string()).unwrap_or_default()
                        on:change=move |event| rename(event_target_value(&event))
                    />
                </Show>
                <span class="status" data-status=move || model.connection.get().as_str()>{status}</span>
                <span class="spacer"></span>
                <Show when=move || role != Role::Camera>
                <Toggle class="add-camera" on=adding title="Show a QR code that opens this room on a phone" label="Add a camera"/>
                </Show>
                <Show when=move || role.sends()>
                <Toggle class="toggle-camera" on=model.camera_enabled title="Send your camera to the room" label="Camera"/>
                <Show when=move || model.cameras.get().is_some_and(|cameras| cameras > 1)>
                <button
                    class="flip-camera"
                    title="Use this device's other camera"
                    on:click=move |_| model.camera_flips.update(|flips| *flips += 1)
                >"Flip"</button>
                </Show>
                <Toggle class="toggle-microphone" on=model.microphone_enabled title="Send your microphone to the room" label="Mic"/>
                </Show>
                <Show when=move || role.receives()>
                <Toggle class="toggle-sound" on=model.sound title="Play the others' sound" label="Sound"/>
                <Toggle class="toggle-stats" on=model.show_stats title="Show each tile's round trip, frame rate, size, bitrate and path" label="Stats"/>
                </Show>
                <Show when=move || role == Role::Both>
                <Toggle class="toggle-self" on=model.self_view title="Show your own camera on the wall" label="Self view"/>
                </Show>
            </header>
            </Show>
            <Banners model/>
            <VideoWall model room=room.clone() adding/>
        </main>
    }
}

/// A button of the bar that turns `on` on and off, and says which it is (`aria-pressed`).
#[component]
fn Toggle(
    class: &'static str,
    on: RwSignal<bool>,
    title: &'static str,
    label: &'static str,
) -> impl IntoView {
    view! {
        <button
            class=class
            aria-pressed=move || on.get().to_string()
            title=title
            on:click=move |_| on.update(|on| *on = !*on)
        >
            {label}
        </button>
    }
}
