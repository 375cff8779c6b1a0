//! The room picker: `/`.

use std::time::Duration;

use leptos::prelude::*;

use crate::signalling::RoomSummary;

/// How often an open picker refreshes its room list.
const REFRESH: Duration = Duration::from_secs(5);

#[component]
pub fn RoomPicker() -> impl IntoView {
    let rooms = Resource::new(|| (), |()| load_rooms());
    // Effects only run in the browser, so the server renders the list once and the page then
    // keeps it fresh; the interval is cleared when the picker goes away.
    Effect::new(move |_| {
        // A server that keeps its rooms to itself rendered no list: nothing to refresh.
        let listed = move || !matches!(rooms.get_untracked(), Some(Ok(None)));
        let refresh = move || {
            if listed() {
                rooms.refetch();
            }
        };
        if let Ok(handle) = set_interval_with_handle(refresh, REFRESH) {
            on_cleanup(move || handle.clear());
        }
    });

    view! {
        <main class="page picker">
            <h1>"portals"</h1>
            <p class="lede">
                "Open a room in several tabs, or on several machines on one network: "
                "everyone in the room sees everyone else's camera, peer to peer."
            </p>
            <form class="join" method="get" action="/">
                <label for="room">"Room name"</label>
                <input
                    id="room"
                    name="room"
                    required
                    maxlength="64"
                    pattern="[A-Za-z0-9._\\-]{1,64}"
                    title="1 to 64 letters, digits, dots, dashes or underscores"
                    placeholder="home"
                    autocomplete="off"
                />
                <button type="submit">"Join"</button>
            </form>
            <div class="private-start">
                <button
                    class="new-private-room"
                    type="button"
                    on:click=move |_| {
                        #[cfg(feature = "hydrate")]
                        if let Err(error) = crate::browser::open_new_private_room() {
                            web_sys::console::error_2(&"portals: no private room:".into(), &error);
                        }
                    }
                >"New private room"</button>
                <p class="muted">
                    "A random name and a key of its own, in the link only: whoever you give the "
                    "link to can join, nobody else can, and the server never sees the key or "
                    "what the cameras and walls say to each other."
                </p>
            </div>
            // A Transition, not a Suspense: a refresh keeps the list on screen until the new
            // one is there, instead of flashing "Loading…" every few seconds.
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || rooms.get().map(|loaded| match loaded {
                    Ok(None) => ().into_any(),
                    Ok(Some(list)) if list.is_empty() => view! {
                        <h2>"Rooms open now"</h2>
                        <p class="muted rooms-empty">"Nobody is in a room right now: start one above."</p>
                    }.into_any(),
                    Ok(Some(list)) => view! {
                        <h2>"Rooms open now"</h2>
                        <ul class="rooms">
                            {list.into_iter().map(|room| view! {
                                <li>
                                    <a href=format!("/?room={}", room.name)>{room.name.to_string()}</a>
                                    <span class="count">{members_label(room.members)}</span>
                                </li>
                            }).collect_view()}
                        </ul>
                    }.into_any(),
                    Err(error) => view! {
                        <h2>"Rooms open now"</h2>
                        <p class="error">{error}</p>
                    }.into_any(),
                })}
            </Transition>
        </main>
    }
}

fn members_label(members: usize) -> String {
    match members {
        0 => "empty".to_string(),
        1 => "1 member".to_string(),
        n => format!("{n} members"),
    }
}

/// The rooms open now; `None` when the server does not list them (`--no-room-list`).
type Listing = Result<Option<Vec<RoomSummary>>, String>;

#[cfg(feature = "ssr")]
async fn load_rooms() -> Listing {
    use_context::<std::sync::Arc<crate::server::SignallingService>>()
        .map(|service| service.room_list.then(|| service.switchboard.rooms()))
        .ok_or_else(|| "The room list is not available.".to_string())
}

#[cfg(all(feature = "hydrate", not(feature = "ssr")))]
async fn load_rooms() -> Listing {
    // Resources must be Send; the browser is single-threaded, so the wrapper never panics.
    send_wrapper::SendWrapper::new(crate::browser::fetch_json("/api/rooms"))
        .await
        .map(Some)
}

#[cfg(not(any(feature = "ssr", feature = "hydrate")))]
async fn load_rooms() -> Listing {
    Ok(Some(Vec::new()))
}
