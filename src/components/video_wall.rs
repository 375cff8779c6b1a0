//! The grid: as many 16:9 tiles as there are other members, as large as the window allows.

use leptos::{html, prelude::*};

use super::{
    invite::InvitePanel,
    layout::{fit, GAP},
    model::{Connection, WallModel},
    video_tile::{SelfTile, VideoTile},
};

#[component]
pub fn VideoWall(
    model: WallModel,
    room: String,
    /// The "Add a camera" button's state: shows the invite over the tiles.
    adding: RwSignal<bool>,
) -> impl IntoView {
    let stage = NodeRef::<html::Div>::new();
    // The server renders for a common laptop window; the browser measures the real one.
    let size = RwSignal::new((1280.0, 680.0));
    let measure = move || {
        if let Some(stage) = stage.get_untracked() {
            let measured = (
                f64::from(stage.client_width()),
                f64::from(stage.client_height()),
            );
            if measured.0 > 0.0 && size.get_untracked() != measured {
                size.set(measured);
            }
        }
    };
    Effect::new(move |_| {
        // Re-measure when the stage appears and whenever banners come or go above it.
        stage.track();
        model.connection.track();
        model.camera.track();
        model.notice.track();
        measure();
    });
    let resize = window_event_listener(leptos::ev::resize, move |_| measure());
    on_cleanup(move || resize.remove());

    let shows_self = move || model.self_view.get();
    // Tiles of members that send us video: a camera decodes nothing and shows only its own
    // preview, and a wall watching a `both` tab has no tile there.
    let shown = move || {
        model.tiles.with(|tiles| {
            tiles
                .iter()
                .filter(|tile| tile.shows_video)
                .cloned()
                .collect::<Vec<_>>()
        })
    };
    let shown_count = move || {
        model
            .tiles
            .with(|tiles| tiles.iter().filter(|tile| tile.shows_video).count())
    };
    let receives = model.role.receives();
    let count = move || shown_count() + usize::from(shows_self());
    let grid_style = move || {
        let (width, height) = size.get();
        let grid = fit(count(), width, height);
        format!(
            "--columns:{};--tile-width:{}px;--gap:{}px",
            grid.columns, grid.tile_width, GAP
        )
    };
    let alone =
        move || receives && shown_count() == 0 && model.connection.get() == Connection::Joined;
    let empty_text = move || {
        if model.tiles.with(Vec::is_empty) {
            "Nobody else is here yet. Add a camera:"
        } else {
            "Only screens are watching here. Add a camera:"
        }
    };
    let overlay_room = room.clone();

    view! {
        <div class="stage" node_ref=stage>
            <Show when=move || alone() && !adding.get()>
                <div class="empty-room" data-empty="true">
                    <p>{empty_text}</p>
                    <InvitePanel room=room.clone()/>
                </div>
            </Show>
            <Show when=move || adding.get()>
                <div class="invite-overlay" data-adding="true">
                    <button class="close-invite" title="Close" on:click=move |_| adding.set(false)>"×"</button>
                    <p>"Add a camera to this room:"</p>
                    <InvitePanel room=overlay_room.clone()/>
                </div>
            </Show>
            <div class="grid" style=grid_style data-count=count>
                <Show when=shows_self>
                    <SelfTile stream=model.local_stream/>
                </Show>
                <For
                    each=shown
                    key=|tile| tile.key
                    children=move |tile| view! { <VideoTile tile sound=model.sound/> }
                />
            </div>
        </div>
    }
}
