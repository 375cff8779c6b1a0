//! One tile: a member's video, its label and its connection state.

use leptos::{html, prelude::*};

use super::model::{LinkState, SharedStream, Tile};

#[component]
pub fn VideoTile(tile: Tile, sound: RwSignal<bool>) -> impl IntoView {
    let video = NodeRef::<html::Video>::new();
    let stream = tile.stream.clone();
    Effect::new(move |_| {
        if let Some(element) = video.get() {
            show(&element, stream.get().as_ref());
        }
    });

    // The size the video is shown at, for the sender (see `mesh::video_budget`): watched as
    // long as the tile lives.
    #[cfg(feature = "hydrate")]
    {
        let view = tile.view.clone();
        let watch = StoredValue::new_local(None::<crate::browser::SizeWatch>);
        Effect::new(move |_| {
            if let Some(element) = video.get() {
                let view = view.clone();
                watch.set_value(crate::browser::SizeWatch::new(
                    &element,
                    move |width, height| {
                        if view.get_untracked() != (width, height) {
                            view.set((width, height));
                        }
                    },
                ));
            }
        });
    }

    let state = tile.state.clone();
    let has_video = tile.has_video.clone();
    let present = tile.present.clone();
    let placeholder = {
        let (state, has_video) = (state.clone(), has_video.clone());
        move || {
            if has_video.get() {
                return None;
            }
            Some(match state.get() {
                LinkState::Connecting => "Connecting…",
                LinkState::Connected => "Camera off: watching only",
                LinkState::Reconnecting => "Reconnecting…",
                LinkState::Failed => "Connection lost, retrying…",
            })
        }
    };
    let state_text = {
        let (state, present) = (state.clone(), present.clone());
        move || match (state.get(), present.get()) {
            (LinkState::Connected, false) => "connected, rejoining",
            (state, _) => state.as_str(),
        }
    };

    view! {
        <figure
            class="tile"
            tabindex="0"
            aria-label=format!("Camera of {}", tile.member.short())
            data-member=tile.member.to_string()
            data-state=move || state.get().as_str()
            data-video=move || has_video.get().to_string()
            data-present=move || present.get().to_string()
        >
            <video
                node_ref=video
                aria-label=format!("Video of {}", tile.member.short())
                autoplay
                playsinline
                muted=true
                prop:muted=move || !sound.get()
            ></video>
            {move || placeholder().map(|text| view! { <div class="placeholder">{text}</div> })}
            <figcaption class="label">
                <span class="dot"></span>
                <span class="name" title=tile.member.to_string()>{tile.member.short().to_string()}</span>
                <span class="state">{state_text}</span>
            </figcaption>
        </figure>
    }
}

/// This tab's own camera, mirrored like a mirror.
#[component]
pub fn SelfTile(stream: RwSignal<Option<SharedStream>>) -> impl IntoView {
    let video = NodeRef::<html::Video>::new();
    Effect::new(move |_| {
        if let Some(element) = video.get() {
            stream.with(|stream| show(&element, stream.as_ref()));
        }
    });
    view! {
        <figure class="tile self" data-member="self" tabindex="0" aria-label="Your own camera">
            <video node_ref=video aria-label="Your own video" autoplay playsinline muted=true prop:muted=true></video>
            {move || stream.with(Option::is_none).then(|| view! { <div class="placeholder">"No camera"</div> })}
            <figcaption class="label"><span class="dot"></span><span class="name">"you"</span></figcaption>
        </figure>
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
