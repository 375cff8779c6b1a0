//! "Add a camera": the room's URL as a QR code a phone can scan, and as text beside it.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// `GET /api/invite?room=<name>`. The server renders the QR code, so the browser bundle
/// carries no encoder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invite {
    /// The room's URL on an address other devices can reach.
    pub url: String,
    /// An `<svg>` element holding the QR code of `url`.
    pub svg: String,
    /// Why phones cannot join as cameras with this URL, and what to do about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// Loaded in the browser only: the server renders the placeholder, so hydration matches.
#[component]
pub fn InvitePanel(room: String) -> impl IntoView {
    let invite = LocalResource::new(move || load_invite(room.clone()));
    view! {
        <div class="invite" data-invite="true">
            <Suspense fallback=|| view! { <p class="muted">"Loading the link…"</p> }>
                {move || invite.get().map(|loaded| match loaded {
                    Ok(invite) => view! {
                        <div
                            class="qr"
                            role="img"
                            aria-label=format!("QR code of {}", invite.url)
                            inner_html=invite.svg
                        ></div>
                        <div class="invite-text">
                            <p>"Scan this with a phone's camera, or open the link on another device:"</p>
                            <a class="share-link" href=invite.url.clone()>{invite.url.clone()}</a>
                            {invite.hint.map(|hint| view! { <p class="hint">{hint}</p> })}
                        </div>
                    }
                    .into_any(),
                    Err(error) => view! { <p class="error">{error}</p> }.into_any(),
                })}
            </Suspense>
        </div>
    }
}

#[cfg(feature = "hydrate")]
async fn load_invite(room: String) -> Result<Invite, String> {
    let room = js_sys::encode_uri_component(&room);
    crate::browser::fetch_json(&format!("/api/invite?room={room}")).await
}

#[cfg(not(feature = "hydrate"))]
async fn load_invite(_room: String) -> Result<Invite, String> {
    // LocalResource never runs on the server.
    Err(String::new())
}
