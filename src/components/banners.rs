//! What went wrong, in words: camera refused, server gone, room full.

use leptos::prelude::*;

use super::model::{Camera, Connection, WallModel};

#[component]
pub fn Banners(model: WallModel) -> impl IntoView {
    let connection = move || {
        match model.connection.get() {
        Connection::Reconnecting { seconds_left } => Some(view! {
            <p class="banner warning" role="status" data-banner="reconnecting">
                {format!(
                    "The server is unreachable. Reconnecting in {seconds_left} s… Video already playing keeps playing."
                )}
            </p>
        }.into_any()),
        Connection::Fatal { message } => Some(view! {
            <p class="banner fatal" role="alert" data-banner="fatal">
                {message} " " <a href="/">"Pick another room"</a>
            </p>
        }.into_any()),
        Connection::Connecting | Connection::Joined => None,
    }
    };
    let camera = move || {
        let text = match model.camera.get() {
            Camera::Denied => "Camera access was refused: you are watching only, and the others see you as a viewer.".to_string(),
            Camera::Missing => "No camera found: you are watching only.".to_string(),
            Camera::Unavailable(why) => format!("{why} You are watching only."),
            Camera::Starting | Camera::On => return None,
        };
        Some(view! { <p class="banner warning" role="status" data-banner="camera">{text}</p> })
    };
    let notice = move || {
        model
            .notice
            .get()
            .map(|text| view! { <p class="banner warning" role="status" data-banner="notice">{text}</p> })
    };
    view! { {connection} {camera} {notice} }
}
