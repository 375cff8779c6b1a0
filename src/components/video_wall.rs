//! The wall: a tile per member that sends us video, each in its video's own shape and all as
//! large as the window allows (see [`super::layout`]); or one of them focused (clicked), large
//! over a strip of the others.

use leptos::{html, prelude::*, wasm_bindgen::JsCast};

use super::{
    invite::InvitePanel,
    layout::{arrange, arrange_focused, Placed},
    model::{Connection, WallModel},
    video_tile::{SelfTile, VideoTile},
};

/// Where each tile goes, by tile key, and whether one of them is focused.
#[derive(Clone, PartialEq)]
struct WallLayout {
    focusing: bool,
    placed: Vec<(u64, Placed)>,
}

/// The key of this tab's own tile among the others' (which start at 1).
const SELF_KEY: u64 = 0;

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
    // Measured whenever the stage changes size: the window resized, a banner come or gone,
    // the bar wrapping onto a second line when a button appears.
    #[cfg(feature = "hydrate")]
    crate::browser::watch_size(stage, crate::browser::Pixels::Css, move |width, height| {
        let measured = (f64::from(width), f64::from(height));
        if width > 0 && size.get_untracked() != measured {
            size.set(measured);
        }
    });
    // Escape gives the grid back; `f` toggles fullscreen, unless a name is being typed.
    let keys = window_event_listener(leptos::ev::keydown, move |event| {
        let typing = event
            .target()
            .and_then(|target| target.dyn_into::<web_sys::HtmlElement>().ok())
            .is_some_and(|element| matches!(element.tag_name().as_str(), "INPUT" | "TEXTAREA"));
        if typing || event.ctrl_key() || event.meta_key() || event.alt_key() {
            return;
        }
        match event.key().as_str() {
            "Escape" if model.focused.get_untracked().is_some() => model.focused.set(None),
            "f" | "F" => {
                #[cfg(feature = "hydrate")]
                crate::browser::toggle_fullscreen();
            }
            _ => {}
        }
    });
    on_cleanup(move || keys.remove());
    // CCTV: every tile shows the time, so a frozen picture shows itself. One clock for all.
    let clock = RwSignal::new(String::new());
    #[cfg(feature = "hydrate")]
    {
        let tick = move || {
            let now = js_sys::Date::new_0();
            clock.set(format!(
                "{:02}:{:02}:{:02}",
                now.get_hours(),
                now.get_minutes(),
                now.get_seconds()
            ));
        };
        tick();
        if let Ok(handle) = set_interval_with_handle(tick, std::time::Duration::from_millis(1_000))
        {
            on_cleanup(move || handle.clear());
        }
    }

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
            .with(|tiles| tiles.iter().filter(|tile| tile.is_shown()).count())
    };
    let receives = model.role.receives();
    // Where each tile goes, by tile key (0: this tab's own), in the order the tiles appeared.
    let placements = Memo::new(move |_| {
        let mut keys = Vec::new();
        let mut aspects = Vec::new();
        let mut focused = None;
        if shows_self() {
            keys.push(SELF_KEY);
            aspects.push(model.self_aspect.get());
        }
        model.focused.with(|member| {
            model.tiles.with(|tiles| {
                for tile in tiles.iter().filter(|tile| tile.is_shown()) {
                    if member.as_ref() == Some(&tile.member) {
                        focused = Some(keys.len());
                    }
                    keys.push(tile.key);
                    aspects.push(tile.aspect.get());
                }
            })
        });
        let (width, height) = size.get();
        let placed = match focused {
            Some(index) => arrange_focused(&aspects, index, width, height),
            None => arrange(&aspects, width, height),
        };
        WallLayout {
            focusing: focused.is_some(),
            placed: keys.into_iter().zip(placed).collect(),
        }
    });
    // The focused member, while its tile is on the wall.
    let focusing = move || placements.with(|layout| layout.focusing);
    let place = move |key: u64| {
        Signal::derive(move || {
            placements.with(|layout| {
                layout
                    .placed
                    .iter()
                    .find(|(placed_key, _)| *placed_key == key)
                    .map(|(_, place)| place.style())
                    .unwrap_or_default()
            })
        })
    };
    let awaiting = move || {
        model
            .tiles
            .with(|tiles| tiles.iter().any(|tile| tile.awaiting_proof.get()))
    };
    let alone = move || {
        receives
            && shown_count() == 0
            && !awaiting()
            && model.connection.get() == Connection::Joined
    };
    let private = move || model.room_key.with(Option::is_some);
    let nobody = move || {
        model
            .tiles
            .with(|tiles| !tiles.iter().any(|tile| tile.proven.get()))
    };
    let empty_text = move || match (nobody(), private()) {
        (true, false) => "Nobody else is here yet. Add a camera:",
        // Someone with another key, or none, is in a room of its own: all this one can say.
        (true, true) => {
            "Nobody else with this key is here. Add a camera with this link, whole: \
                         the part after # is the room's key."
        }
        (false, _) => "Only screens are watching here. Add a camera:",
    };
    let overlay_room = room.clone();

    view! {
        <div class="stage" node_ref=stage>
            <Show when=move || alone() && !adding.get()>
                <div class="empty-room" data-empty="true">
                    <p>{empty_text}</p>
                    <Show when=move || !private()>
                        <p class="hint">"Given a private link? Open it whole: without the part after #, it leads here, to the public room of that name."</p>
                    </Show>
                    <InvitePanel room=room.clone() key=model.room_key/>
                </div>
            </Show>
            <Show when=move || adding.get()>
                <div class="invite-overlay" data-adding="true">
                    <button class="close-invite" title="Close" on:click=move |_| adding.set(false)>"×"</button>
                    <p>"Add a camera to this room:"</p>
                    <InvitePanel room=overlay_room.clone() key=model.room_key/>
                </div>
            </Show>
            <div
                class="grid"
                class:focusing=focusing
                data-count=move || placements.with(|layout| layout.placed.len())
                on:dblclick=move |_| {
                    #[cfg(feature = "hydrate")]
                    crate::browser::toggle_fullscreen();
                }
            >
                <Show when=shows_self>
                    <SelfTile
                        stream=model.local_stream
                        name=model.name
                        mirror=model.mirror_preview
                        aspect=model.self_aspect
                        place=place(SELF_KEY)
                    />
                </Show>
                <For
                    each=shown
                    key=|tile| tile.key
                    children=move |tile| {
                        let place = place(tile.key);
                        view! {
                            <VideoTile
                                tile
                                place
                                sound=model.sound
                                focused=model.focused
                                clock
                                show_stats=model.show_stats
                            />
                        }
                    }
                />
            </div>
        </div>
    }
}
