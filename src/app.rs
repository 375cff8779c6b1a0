//! The HTML shell and the routes.

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Link, Meta, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    hooks::use_query_map,
    StaticSegment,
};

use crate::{
    mesh::peer_message::CameraName,
    pages::{room_picker::RoomPicker, wall::WallPage},
    signalling::protocol::Role,
};

pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="leptos" href="/pkg/portals.css"/>
        <Link rel="icon" href="/favicon.svg" type_="image/svg+xml"/>
        <Meta name="description" content="A video wall: everyone in a room sees everyone else's camera."/>
        <Title text="portals"/>
        <Router>
            <Routes fallback=NotFound>
                <Route path=StaticSegment("") view=Home/>
            </Routes>
        </Router>
    }
}

/// `/` is the room picker; `/?room=<name>` is that room's wall, `&role=camera` or `&role=wall`
/// a camera or a screen only.
#[component]
fn Home() -> impl IntoView {
    let query = use_query_map();
    let room = Memo::new(move |_| query.read().get("room"));
    let flag = move |name: &'static str| query.read_untracked().get(name).is_some();
    move || match room.get() {
        Some(room) => {
            let read = |name: &str| query.read_untracked().get(name).unwrap_or_default();
            let role = Role::parse(&read("role"));
            let uplink_kbps = read("uplink").parse::<u32>().ok().filter(|kbps| *kbps > 0);
            let name = CameraName::parse(&read("name"));
            view! {
                <WallPage
                    room
                    role
                    uplink_kbps
                    name
                    self_view=flag("self")
                    kiosk=flag("kiosk")
                    stats=flag("stats")
                    debug=flag("debug")
                    relay=flag("relay")
                />
            }
            .into_any()
        }
        None => view! { <RoomPicker/> }.into_any(),
    }
}

#[component]
fn NotFound() -> impl IntoView {
    view! {
        <main class="page">
            <h1>"Not found"</h1>
            <p>"There is nothing here. " <a href="/">"Pick a room"</a> "."</p>
        </main>
    }
}
