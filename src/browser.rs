//! Small helpers over web-sys for the browser build.

use serde::de::DeserializeOwned;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// GETs a JSON document from the page's own server.
pub async fn fetch_json<T: DeserializeOwned>(path: &str) -> Result<T, String> {
    let unreachable = |_| "The server could not be reached.".to_string();
    let window = web_sys::window().ok_or("no window")?;
    let response: web_sys::Response = JsFuture::from(window.fetch_with_str(path))
        .await
        .map_err(unreachable)?
        .dyn_into()
        .map_err(|_| "fetch did not return a Response".to_string())?;
    if !response.ok() {
        return Err(format!("The server answered {}.", response.status()));
    }
    let text = JsFuture::from(response.text().map_err(unreachable)?)
        .await
        .map_err(unreachable)?
        .as_string()
        .ok_or("the response had no text")?;
    serde_json::from_str(&text).map_err(|error| error.to_string())
}

/// Starts a `<video>`; a refusal (e.g. interrupted by a new source) is not worth reporting.
pub fn play(video: &web_sys::HtmlVideoElement) {
    if let Ok(promise) = video.play() {
        wasm_bindgen_futures::spawn_local(async move {
            let _ = JsFuture::from(promise).await;
        });
    }
}

/// A `ResizeObserver` on one element, reporting its size in device pixels (CSS pixels ×
/// `devicePixelRatio`, which is what a video's pixels land on). Dropping it stops the observer
/// and frees the callback.
pub struct SizeWatch {
    observer: web_sys::ResizeObserver,
    _callback: wasm_bindgen::closure::Closure<dyn FnMut(js_sys::Array)>,
}

impl SizeWatch {
    pub fn new(element: &web_sys::Element, report: impl Fn(u32, u32) + 'static) -> Option<Self> {
        let callback = wasm_bindgen::closure::Closure::<dyn FnMut(js_sys::Array)>::new(
            move |entries: js_sys::Array| {
                let ratio = web_sys::window().map_or(1.0, |window| window.device_pixel_ratio());
                if let Some(entry) = entries
                    .iter()
                    .last()
                    .and_then(|entry| entry.dyn_into::<web_sys::ResizeObserverEntry>().ok())
                {
                    let rect = entry.content_rect();
                    report(
                        (rect.width() * ratio).round() as u32,
                        (rect.height() * ratio).round() as u32,
                    );
                }
            },
        );
        let observer = web_sys::ResizeObserver::new(callback.as_ref().unchecked_ref()).ok()?;
        observer.observe(element);
        Some(Self {
            observer,
            _callback: callback,
        })
    }
}

impl Drop for SizeWatch {
    fn drop(&mut self) {
        self.observer.disconnect();
    }
}

/// `localStorage`, which outlives the tab: what a device keeps between visits (a camera's
/// name). `None` where storage is refused (private modes) or empty.
pub fn stored(key: &str) -> Option<String> {
    let storage = web_sys::window()?.local_storage().ok()??;
    storage.get_item(key).ok()?
}

/// Keeps `value` under `key` in `localStorage`, or forgets it; a refused store keeps nothing.
pub fn store(key: &str, value: Option<&str>) {
    if let Some(Ok(Some(storage))) = web_sys::window().map(|window| window.local_storage()) {
        let _ = match value {
            Some(value) => storage.set_item(key, value),
            None => storage.remove_item(key),
        };
    }
}
