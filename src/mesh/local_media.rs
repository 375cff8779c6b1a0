//! The camera and microphone, through `getUserMedia`. A refusal is not an error for the wall:
//! a tab without a camera joins as a viewer.

use wasm_bindgen::{prelude::wasm_bindgen, JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{MediaStream, MediaStreamConstraints, MediaStreamTrack};

use super::{
    camera_pick::CameraPick,
    video_budget::{CaptureSettings, ViewSize},
};
use crate::browser::to_js;

#[wasm_bindgen]
extern "C" {
    /// `MediaStreamTrack` with the two methods the video budget needs, which web-sys binds
    /// only behind dictionaries it cannot read back.
    #[wasm_bindgen(extends = MediaStreamTrack, js_name = MediaStreamTrack)]
    type AdjustableTrack;

    #[wasm_bindgen(method, js_name = getSettings)]
    fn get_settings(this: &AdjustableTrack) -> js_sys::Object;

    #[wasm_bindgen(method, catch, js_name = applyConstraints)]
    fn apply_constraints(
        this: &AdjustableTrack,
        constraints: &JsValue,
    ) -> Result<js_sys::Promise, JsValue>;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    Camera,
    Microphone,
}

impl Device {
    fn noun(self) -> &'static str {
        match self {
            Device::Camera => "camera",
            Device::Microphone => "microphone",
        }
    }
}

/// Why a device could not be had, whichever device it was: the words are chosen by
/// [`MediaError::sentence`] for the device that failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MediaError {
    /// Not a secure context: no `mediaDevices` at all.
    Insecure,
    Denied,
    Missing,
    InUse,
    /// Anything else, with the DOMException's name.
    Failed(String),
}

impl MediaError {
    pub fn sentence(&self, device: Device) -> String {
        let noun = device.noun();
        match self {
            MediaError::Insecure => format!("The {noun} needs https (or localhost)."),
            MediaError::Denied => format!("Access to the {noun} was refused."),
            MediaError::Missing => format!("No {noun} was found."),
            MediaError::InUse => format!("The {noun} is in use by another program."),
            MediaError::Failed(name) => format!("The {noun} could not be started ({name})."),
        }
    }
}

/// A device in use. Dropping it turns the device off, so that whoever ends up holding it (the
/// mesh, or a callback that finds the mesh gone) cannot leave the camera light on.
pub struct Capture {
    stream: MediaStream,
}

impl Capture {
    pub fn stream(&self) -> &MediaStream {
        &self.stream
    }

    pub fn tracks(&self) -> Vec<MediaStreamTrack> {
        self.stream
            .get_tracks()
            .iter()
            .filter_map(|track| track.dyn_into::<MediaStreamTrack>().ok())
            .collect()
    }

    /// The camera's track, if this capture has one.
    pub fn video_track(&self) -> Option<MediaStreamTrack> {
        self.tracks()
            .into_iter()
            .find(|track| track.kind() == "video")
    }

    fn adjustable_video_track(&self) -> Option<AdjustableTrack> {
        self.video_track().map(JsCast::unchecked_into)
    }

    /// What the camera captures now, if this capture has one.
    pub fn settings(&self) -> Option<CaptureSettings> {
        let settings = self.adjustable_video_track()?.get_settings();
        let number = |key: &str| {
            js_sys::Reflect::get(&settings, &key.into())
                .ok()
                .and_then(|value| value.as_f64())
                .unwrap_or(0.0)
        };
        Some(CaptureSettings {
            size: ViewSize {
                width: number("width") as u32,
                height: number("height") as u32,
            },
            frame_rate: number("frameRate"),
        })
    }

    /// Which way the camera faces and which device it is, as far as it says.
    pub fn facing_and_device(&self) -> (Option<String>, Option<String>) {
        let Some(track) = self.adjustable_video_track() else {
            return (None, None);
        };
        let settings = track.get_settings();
        let text = |key: &str| {
            js_sys::Reflect::get(&settings, &key.into())
                .ok()
                .and_then(|value| value.as_string())
                .filter(|text| !text.is_empty())
        };
        (text("facingMode"), text("deviceId"))
    }

    /// Asks the camera for `size`, at the frame rate it has: the page's own constraints are
    /// replaced whole, and a frame rate left out would go back to the device's default.
    pub fn resize(&self, size: ViewSize) -> Option<Result<js_sys::Promise, JsValue>> {
        let frame_rate = self.settings()?.frame_rate;
        let constraints = to_js(&serde_json::json!({
            "width": {"ideal": size.width},
            "height": {"ideal": size.height},
            "frameRate": {"ideal": if frame_rate > 0.0 { frame_rate } else { 30.0 }},
        }))
        .ok()?;
        Some(
            self.adjustable_video_track()?
                .apply_constraints(&constraints),
        )
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        for track in self.tracks() {
            track.stop();
        }
    }
}

/// Asks for one device; a camera, the one `pick` names if any: `exact`ly that one (a flip,
/// which must not give the same camera back), or preferably.
pub async fn request(
    device: Device,
    pick: Option<&CameraPick>,
    exact: bool,
) -> Result<Capture, MediaError> {
    let window = web_sys::window().ok_or(MediaError::Insecure)?;
    // `mediaDevices` only exists in secure contexts: https, or http on localhost.
    let devices = window
        .navigator()
        .media_devices()
        .map_err(|_| MediaError::Insecure)?;
    let constraints = MediaStreamConstraints::new();
    match device {
        Device::Camera => {
            constraints.set_video(&video_constraints(pick, exact));
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
        .map(|stream| Capture { stream })
        .map_err(|_| MediaError::Failed("no stream".into()))
}

/// 720p is plenty for a tile and keeps a 12-way mesh within ordinary uplinks.
fn video_constraints(pick: Option<&CameraPick>, exact: bool) -> JsValue {
    let strength = if exact { "exact" } else { "ideal" };
    let mut constraints = serde_json::json!({
        "width": {"ideal": 1280},
        "height": {"ideal": 720},
        "frameRate": {"ideal": 30},
    });
    let strongly = |value: &str| {
        let mut constraint = serde_json::Map::new();
        constraint.insert(strength.to_string(), value.into());
        serde_json::Value::Object(constraint)
    };
    match pick {
        Some(CameraPick::Facing(facing)) => constraints["facingMode"] = strongly(facing.as_str()),
        Some(CameraPick::Device(id)) => constraints["deviceId"] = strongly(id),
        None => {}
    }
    to_js(&constraints).unwrap_or(JsValue::TRUE)
}

/// The ids of the device's cameras, in the browser's order; empty where they cannot be listed.
pub async fn video_inputs() -> Vec<String> {
    let Some(devices) =
        web_sys::window().and_then(|window| window.navigator().media_devices().ok())
    else {
        return Vec::new();
    };
    let Ok(listed) = devices.enumerate_devices() else {
        return Vec::new();
    };
    let Ok(listed) = JsFuture::from(listed).await else {
        return Vec::new();
    };
    let text = |info: &JsValue, key: &str| {
        js_sys::Reflect::get(info, &key.into())
            .ok()
            .and_then(|value| value.as_string())
            .unwrap_or_default()
    };
    js_sys::Array::from(&listed)
        .iter()
        .filter(|info| text(info, "kind") == "videoinput")
        .map(|info| text(&info, "deviceId"))
        .collect()
}

fn describe(error: &JsValue) -> MediaError {
    let name = error
        .dyn_ref::<web_sys::DomException>()
        .map(|exception| exception.name())
        .unwrap_or_default();
    match name.as_str() {
        "NotAllowedError" | "SecurityError" => MediaError::Denied,
        "NotFoundError" | "OverconstrainedError" => MediaError::Missing,
        "NotReadableError" | "AbortError" => MediaError::InUse,
        _ => MediaError::Failed(name),
    }
}
