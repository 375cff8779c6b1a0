//! The camera and microphone, through `getUserMedia`. A refusal is not an error for the wall:
//! a tab without a camera joins as a viewer.

use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{MediaStream, MediaStreamConstraints};

use crate::components::model::Camera;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    Camera,
    Microphone,
}

/// Asks for one device. `Err` carries what the page should say instead.
pub async fn request(device: Device) -> Result<MediaStream, Camera> {
    let window = web_sys::window().ok_or(Camera::Unavailable("no window".into()))?;
    // `mediaDevices` only exists in secure contexts: https, or http on localhost.
    let devices = window
        .navigator()
        .media_devices()
        .map_err(|_| Camera::Unavailable("Camera access needs https (or localhost).".into()))?;
    let constraints = MediaStreamConstraints::new();
    match device {
        Device::Camera => {
            constraints.set_video(&video_constraints());
            constraints.set_audio_bool(false);
        }
        Device::Microphone => {
            constraints.set_video_bool(false);
            constraints.set_audio_bool(true);
        }
    }
    let promise = devices
        .get_user_media_with_constraints(&constraints)
        .map_err(|error| describe(&error))?;
    let stream = JsFuture::from(promise)
        .await
        .map_err(|error| describe(&error))?;
    stream
        .dyn_into::<MediaStream>()
        .map_err(|_| Camera::Unavailable("getUserMedia returned no stream".into()))
}

/// 720p is plenty for a tile and keeps a 12-way mesh within ordinary uplinks.
fn video_constraints() -> JsValue {
    js_sys::JSON::parse(
        r#"{"width":{"ideal":1280},"height":{"ideal":720},"frameRate":{"ideal":30}}"#,
    )
    .unwrap_or(JsValue::TRUE)
}

fn describe(error: &JsValue) -> Camera {
    let name = error
        .dyn_ref::<web_sys::DomException>()
        .map(|exception| exception.name())
        .unwrap_or_default();
    match name.as_str() {
        "NotAllowedError" | "SecurityError" => Camera::Denied,
        "NotFoundError" | "OverconstrainedError" => Camera::Missing,
        "NotReadableError" | "AbortError" => {
            Camera::Unavailable("The camera is in use by another program.".into())
        }
        _ => Camera::Unavailable(format!("The camera could not be started ({name}).")),
    }
}

/// Turns the device off: the camera light goes out when the page is done with it.
pub fn stop(stream: &MediaStream) {
    for track in stream.get_tracks().iter() {
        if let Ok(track) = track.dyn_into::<web_sys::MediaStreamTrack>() {
            track.stop();
        }
    }
}
