//! "Add a camera": the room's URL as a QR code a phone can scan, and as text beside it.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::signalling::{private_room::KEY_PARAMETER, RoomKey};

/// `GET /api/invite?room=<name>`. The server renders the QR code of a public room; a private
/// room's link carries its key in the fragment, which the server must never see, so the
/// browser encodes that one itself.
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

/// The QR code of `text` as an SVG element, one unit per module, sized by the page's CSS.
pub fn qr_svg(text: &str) -> Option<String> {
    let code = qrcode::QrCode::with_error_correction_level(text, qrcode::EcLevel::M).ok()?;
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .quiet_zone(true)
        .module_dimensions(1, 1)
        .build();
    // The XML prolog has no place inside an HTML page.
    let start = svg.find("<svg")?;
    Some(svg[start..].replacen("<svg ", "<svg class=\"qr-code\" ", 1))
}

impl Invite {
    /// The invite to the private room of this key: the key goes in the fragment.
    fn with_key(self, key: &RoomKey) -> Result<Self, String> {
        let url = format!("{}#{KEY_PARAMETER}={}", self.url, key.encode());
        let svg = qr_svg(&url).ok_or("This link does not fit in a QR code.")?;
        Ok(Self { url, svg, ..self })
    }
}

/// Loaded in the browser only: the server renders the placeholder, so hydration matches.
#[component]
pub fn InvitePanel(
    room: String,
    /// The private room's key, if the room is private.
    key: RwSignal<Option<RoomKey>>,
) -> impl IntoView {
    let invite = LocalResource::new(move || {
        let (room, key) = (room.clone(), key.get());
        async move {
            let invite = load_invite(room).await?;
            match key {
                Some(key) => invite.with_key(&key),
                None => Ok(invite),
            }
        }
    });
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
