//! The wall: `/?room=<name>`. The server renders the frame; in the browser the mesh joins the
//! room and fills the grid.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::{
    components::{
        banners::Banners,
        model::{Connection, WallModel},
        video_wall::VideoWall,
    },
    signalling::RoomName,
};

#[component]
pub fn WallPage(
    room: String,
    #[prop(optional)] self_view: bool,
    #[prop(optional)] debug: bool,
) -> impl IntoView {
    let model = WallModel::new(self_view);
    match RoomName::parse(&room) {
        // Decided the same way on both sides, so hydration sees the same page.
        Err(error) => model.connection.set(Connection::Fatal {
            message: format!("“{room}” is not a room name: {error}."),
        }),
        Ok(_name) => {
            // Only the browser has a mesh to debug.
            let _ = debug;
            #[cfg(feature = "hydrate")]
            {
                let mesh = send_wrapper::SendWrapper::new(crate::mesh::Mesh::start(
                    _name.as_str(),
                    model,
                    debug,
                ));
                // Leaving the page leaves the room: the mesh closes everything it opened.
                on_cleanup(move || drop(mesh));
            }
        }
    }

    let others = move || model.tiles.with(Vec::len);
    let status = move || match model.connection.get() {
        Connection::Connecting => "connecting…".to_string(),
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
    let toggle = |signal: RwSignal<bool>| move |_| signal.update(|on| *on = !*on);

    view! {
        <Title text=format!("{room} · portals")/>
        <main
            class="wall"
            data-room=room.clone()
            data-status=move || model.connection.get().as_str()
            data-camera=move || model.camera.get().as_str()
            data-member=me
            data-connections-created=move || model.connections_created.get()
            data-hydrated=move || hydrated.get().then_some("true")
        >
            <header class="wall-bar">
                <a class="brand" href="/">"portals"</a>
                <span class="room-name">{room.clone()}</span>
                <span class="status" data-status=move || model.connection.get().as_str()>{status}</span>
                <span class="spacer"></span>
                <button
                    class="add-camera"
                    aria-pressed=move || adding.get().to_string()
                    title="Show a QR code that opens this room on a phone"
                    on:click=toggle(adding)
                >"Add a camera"</button>
                <button
                    class="toggle-camera"
                    aria-pressed=move || model.camera_enabled.get().to_string()
                    title="Send your camera to the room"
                    on:click=toggle(model.camera_enabled)
                >"Camera"</button>
                <button
                    class="toggle-microphone"
                    aria-pressed=move || model.microphone_enabled.get().to_string()
                    title="Send your microphone to the room"
                    on:click=toggle(model.microphone_enabled)
                >"Mic"</button>
                <button
                    class="toggle-sound"
                    aria-pressed=move || model.sound.get().to_string()
                    title="Play the others' sound"
                    on:click=toggle(model.sound)
                >"Sound"</button>
                <button
                    class="toggle-self"
                    aria-pressed=move || model.self_view.get().to_string()
                    title="Show your own camera on the wall"
                    on:click=toggle(model.self_view)
                >"Self view"</button>
            </header>
            <Banners model/>
            <VideoWall model room=room.clone() adding/>
        </main>
    }
}
