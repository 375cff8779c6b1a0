//! What went wrong, in words: camera refused, server gone, room full.

use leptos::prelude::*;

use super::model::{CameraState, Connection, WallModel};

#[component]
pub fn Banners(model: WallModel) -> impl IntoView {
    // The reconnecting banner is made once per outage: only its countdown changes, and the
    // countdown sits outside the live region, so a screen reader says "unreachable" once
    // rather than every second.
    let reconnecting =
        Memo::new(move |_| matches!(model.connection.get(), Connection::Reconnecting { .. }));
    let countdown = move || match model.connection.get() {
        Connection::Reconnecting { seconds_left } => {
            format!("Reconnecting in {seconds_left} s…")
        }
        _ => String::new(),
    };
    let fatal = move || match model.connection.get() {
        Connection::Fatal { message } => Some(view! {
            <p class="banner fatal" role="alert" data-banner="fatal">
                {message} " " <a href="/">"Pick another room"</a>
            </p>
        }),
        _ => None,
    };
    let camera = move || {
        let text = match model.camera.get() {
            CameraState::Denied => "Camera access was refused: you are watching only, and the others see you as a viewer.".to_string(),
            CameraState::Missing => "No camera found: you are watching only.".to_string(),
            CameraState::Unavailable(why) => format!("{why} You are watching only."),
            CameraState::Starting | CameraState::On | CameraState::Off => return None,
        };
        Some(view! { <p class="banner warning" role="status" data-banner="camera">{text}</p> })
    };
    let notice = move || {
        model
            .notice
            .get()
            .map(|text| view! { <p class="banner warning" role="status" data-banner="notice">{text}</p> })
    };
    view! {
        <Show when=move || reconnecting.get()>
            <p class="banner warning" data-banner="reconnecting">
                <span role="status">"The server is unreachable. Video already playing keeps playing."</span>
                " "
                <span class="countdown">{countdown}</span>
            </p>
        </Show>
        {fatal}
        {camera}
        {notice}
    }
}
