//! One tile: a member's video, its label and its connection state.

use leptos::{html, prelude::*, wasm_bindgen::JsCast};

use super::model::{LinkState, RelayProblem, SharedStream, Tile};
use crate::{mesh::peer_message::CameraName, signalling::MemberId};

/// How long a tile's size must hold before the sender hears of it: longer than the tiles'
/// transition (0.2 s in the style sheet).
#[cfg(feature = "hydrate")]
const VIEW_SETTLE_MS: u32 = 300;

#[component]
pub fn VideoTile(
    tile: Tile,
    /// Where the tile goes (an inline style of its box).
    #[prop(into)]
    place: Signal<String>,
    sound: RwSignal<bool>,
    /// The wall's focused member: a click (or Enter) on the tile focuses it, or gives the grid
    /// back if it is the one focused.
    focused: RwSignal<Option<MemberId>>,
    /// The time of day, ticking every second.
    clock: RwSignal<String>,
    show_stats: RwSignal<bool>,
) -> impl IntoView {
    let video = NodeRef::<html::Video>::new();
    let stream = tile.stream.clone();
    Effect::new(move |_| {
        if let Some(element) = video.get() {
            show(&element, stream.get().as_ref());
        }
    });

    // The size the video is shown at, for the sender (see `mesh::video_budget`): watched as
    // long as the tile lives, and told once it settles. A tile moving to a new place reports a
    // size on every frame of its transition, and each one would have the sender re-encode.
    #[cfg(feature = "hydrate")]
    {
        let view = tile.view.clone();
        let settling = StoredValue::new_local(None::<gloo_timers::callback::Timeout>);
        crate::browser::watch_size(
            video,
            crate::browser::Pixels::Device,
            move |width, height| {
                let view = view.clone();
                // A new size cancels the wait for the one before.
                settling.set_value(Some(gloo_timers::callback::Timeout::new(
                    VIEW_SETTLE_MS,
                    move || {
                        if view.get_untracked() != (width, height) {
                            view.set((width, height));
                        }
                    },
                )));
            },
        );
    }

    let state = tile.state.clone();
    let has_video = tile.has_video.clone();
    let present = tile.present.clone();
    let camera_off = tile.camera_off.clone();
    let watches = tile.watches;
    let relay_problem = tile.relay_problem.clone();
    let placeholder = {
        let (state, has_video, camera_off) = (state.clone(), has_video.clone(), camera_off.clone());
        let relay_problem = relay_problem.clone();
        move || {
            if has_video.get() {
                return None;
            }
            let state = state.get();
            // Waiting would not help: say what does not work.
            if let (LinkState::Connecting | LinkState::Failed, Some(problem)) =
                (state, relay_problem.get())
            {
                return Some(problem.explain());
            }
            Some(match state {
                LinkState::Connecting => "Connecting…",
                // A camera only sends: off, it is nothing else.
                LinkState::Connected if camera_off.get() && !watches => "Camera off",
                // A camera whose picture is on its way (turned back on, or a base client's).
                LinkState::Connected if !watches => "Waiting for the picture…",
                LinkState::Connected => "Camera off: watching only",
                LinkState::Reconnecting => "Reconnecting…",
                LinkState::Failed => "Connection lost, retrying…",
            })
        }
    };
    let state_text = {
        let (state, present, camera_off) = (state.clone(), present.clone(), camera_off.clone());
        move || match (state.get(), present.get()) {
            (LinkState::Connected, false) => "connected, rejoining",
            (LinkState::Connected, true) if camera_off.get() => "camera off",
            (state, _) => state.as_str(),
        }
    };
    // The camera's name, or its member's short id until it says one (a base client never
    // does).
    let short = tile.member.short().to_string();
    let name = {
        let name = tile.name.clone();
        move || {
            name.get()
                .map_or_else(|| short.clone(), |name| name.to_string())
        }
    };
    // Its accessible name: a tile of an unnamed camera still reads as a camera.
    let spoken = {
        let (name, short) = (tile.name.clone(), tile.member.short().to_string());
        move || {
            name.get()
                .map_or_else(|| format!("camera {short}"), |name| name.to_string())
        }
    };
    let video_name = spoken.clone();
    let member = tile.member.clone();
    let is_focused = {
        let member = member.clone();
        move || focused.with(|focused| focused.as_ref() == Some(&member))
    };
    let toggle_focus = move || {
        focused.update(|focused| {
            *focused = match focused {
                Some(current) if current == &member => None,
                _ => Some(member.clone()),
            }
        })
    };
    let on_key = {
        let toggle_focus = toggle_focus.clone();
        move |event: leptos::ev::KeyboardEvent| {
            if matches!(event.key().as_str(), "Enter" | " ") {
                event.prevent_default();
                toggle_focus();
            }
        }
    };

    view! {
        <figure
            class="tile"
            style=place
            class:focused={
                let is_focused = is_focused.clone();
                move || is_focused()
            }
            tabindex={
                let proven = tile.proven.clone();
                move || if proven.get() { "0" } else { "-1" }
            }
            title="Click to enlarge; again, or Escape, to see all"
            role="button"
            aria-pressed=move || is_focused().to_string()
            on:click=move |event| {
                // The second click of a double click (fullscreen) leaves the focus as it is.
                if event.detail() <= 1 {
                    toggle_focus();
                }
            }
            on:keydown=on_key
            aria-label=spoken
            data-member=tile.member.to_string()
            data-camera=move || if camera_off.get() { "off" } else { "on" }
            data-state=move || state.get().as_str()
            data-video=move || has_video.get().to_string()
            data-present=move || present.get().to_string()
            data-relay-problem=move || relay_problem.get().map(RelayProblem::as_str)
            class:unproven={
                let proven = tile.proven.clone();
                move || !proven.get()
            }
            aria-hidden={
                let proven = tile.proven.clone();
                move || (!proven.get()).then_some("true")
            }
            data-proven={
                let proven = tile.proven.clone();
                move || proven.get().to_string()
            }
        >
            <video
                node_ref=video
                aria-label=video_name
                autoplay
                playsinline
                muted=true
                prop:muted=move || !sound.get()
                on:loadedmetadata={
                    let aspect = tile.aspect.clone();
                    move |event| follow_shape(&event, &aspect)
                }
                on:resize={
                    let aspect = tile.aspect.clone();
                    move |event| follow_shape(&event, &aspect)
                }
            ></video>
            {move || placeholder().map(|text| view! { <div class="placeholder">{text}</div> })}
            <time class="clock">{move || clock.get()}</time>
            {
                let stats = tile.stats.clone();
                move || {
                    show_stats.get().then(|| {
                        let stats = stats.get().unwrap_or_default();
                        view! {
                            <div
                                class="stats"
                                data-rtt=stats.rtt_ms.map(|rtt| format!("{rtt:.1}"))
                                data-fps=stats.fps.map(|fps| format!("{fps:.0}"))
                                data-path=stats.path.map(|path| path.as_str())
                            >
                                {match stats.line() {
                                    line if line.is_empty() => "reading stats…".to_string(),
                                    line => line,
                                }}
                            </div>
                        }
                    })
                }
            }
            <figcaption class="label">
                <span class="dot"></span>
                <span class="name" title=tile.member.to_string()>{name}</span>
                <span class="state">{state_text}</span>
            </figcaption>
        </figure>
    }
}

/// This tab's own camera, mirrored like a mirror (unless it faces away), under its name.
#[component]
pub fn SelfTile(
    stream: RwSignal<Option<SharedStream>>,
    name: RwSignal<Option<CameraName>>,
    mirror: RwSignal<bool>,
    aspect: RwSignal<f64>,
    #[prop(into)] place: Signal<String>,
) -> impl IntoView {
    let video = NodeRef::<html::Video>::new();
    Effect::new(move |_| {
        if let Some(element) = video.get() {
            stream.with(|stream| show(&element, stream.as_ref()));
        }
    });
    view! {
        <figure
            class="tile self"
            style=place
            class:mirrored=move || mirror.get()
            data-member="self"
            tabindex="0"
            aria-label="Your own camera"
        >
            <video
                node_ref=video
                aria-label="Your own video"
                autoplay
                playsinline
                muted=true
                prop:muted=true
                on:loadedmetadata=move |event| follow_shape(&event, &aspect)
                on:resize=move |event| follow_shape(&event, &aspect)
            ></video>
            {move || stream.with(Option::is_none).then(|| view! { <div class="placeholder">"No camera"</div> })}
            <figcaption class="label">
                <span class="dot"></span>
                <span class="name">
                    {move || name.get().map_or_else(|| "you".to_string(), |name| format!("you · {name}"))}
                </span>
            </figcaption>
        </figure>
    }
}

/// Gives a tile (`aspect`) the shape of the video a `loadedmetadata` or `resize` event is
/// about: a phone turned, a camera flipped. A change under 2 % is the encoder's rounding of a
/// scaled picture, and no reason to lay the wall out again.
fn follow_shape(
    event: &web_sys::Event,
    aspect: &(impl GetUntracked<Value = f64> + Set<Value = f64>),
) {
    let Some(video) = event
        .target()
        .and_then(|target| target.dyn_into::<web_sys::HtmlVideoElement>().ok())
    else {
        return;
    };
    let (width, height) = (video.video_width(), video.video_height());
    if width == 0 || height == 0 {
        return;
    }
    let shape = f64::from(width) / f64::from(height);
    if (aspect.get_untracked() / shape - 1.0).abs() > 0.02 {
        aspect.set(shape);
    }
}

/// Points a `<video>` at a stream, or at nothing, which lets the browser release it.
fn show(element: &web_sys::HtmlVideoElement, stream: Option<&SharedStream>) {
    let stream = stream.map(|stream| &**stream);
    if element.src_object().as_ref() == stream {
        return;
    }
    element.set_src_object(stream);
    #[cfg(feature = "hydrate")]
    if stream.is_some() {
        crate::browser::play(element);
    }
}
