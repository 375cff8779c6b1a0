//! Small helpers over web-sys for the browser build.

use serde::de::DeserializeOwned;
use wasm_bindgen::{JsCast, JsValue};
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

/// What became of the screen wake lock, as the page shows it (`data-wake-lock`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WakeState {
    /// Asked, not answered yet.
    Asking,
    /// The screen stays on while the page is visible.
    Held,
    /// Let go by the browser (the page was hidden); asked again when it is shown.
    Released,
    /// The browser has no Screen Wake Lock API (or not in an insecure context).
    Unsupported,
    /// The browser said no (battery saver, a policy, a hidden page).
    Refused,
}

impl WakeState {
    pub fn as_str(self) -> &'static str {
        match self {
            WakeState::Asking => "asking",
            WakeState::Held => "held",
            WakeState::Released => "released",
            WakeState::Unsupported => "unsupported",
            WakeState::Refused => "refused",
        }
    }
}

/// Keeps the screen on for a wall on a TV or a phone propped up as a camera: a Screen Wake
/// Lock, asked again each time the page becomes visible (the browser lets it go whenever the
/// page is hidden). Bound through `Reflect`: web-sys has the API only behind its unstable
/// flag. Dropping it releases the lock and stops listening.
pub struct ScreenAwake {
    _visibility: gloo_events::EventListener,
    /// The lock held now, if any: written by the request's task, released on drop.
    sentinel: std::rc::Rc<std::cell::RefCell<Option<JsValue>>>,
}

impl ScreenAwake {
    pub fn new(report: impl Fn(WakeState) + Clone + 'static) -> Option<Self> {
        let window = web_sys::window()?;
        let document = window.document()?;
        let sentinel = std::rc::Rc::new(std::cell::RefCell::new(None));
        let request = {
            let sentinel = sentinel.clone();
            let navigator = window.navigator();
            move || {
                let lock = js_sys::Reflect::get(&navigator, &"wakeLock".into())
                    .ok()
                    .filter(|lock| !lock.is_undefined() && !lock.is_null());
                let Some(lock) = lock else {
                    report(WakeState::Unsupported);
                    return;
                };
                let asked = js_sys::Reflect::get(&lock, &"request".into())
                    .ok()
                    .and_then(|request| request.dyn_into::<js_sys::Function>().ok())
                    .and_then(|request| request.call1(&lock, &"screen".into()).ok())
                    .and_then(|promise| promise.dyn_into::<js_sys::Promise>().ok());
                let Some(asked) = asked else {
                    report(WakeState::Unsupported);
                    return;
                };
                report(WakeState::Asking);
                let (sentinel, report) = (sentinel.clone(), report.clone());
                wasm_bindgen_futures::spawn_local(async move {
                    match JsFuture::from(asked).await {
                        Ok(lock) => {
                            let released = report.clone();
                            let listener =
                                wasm_bindgen::closure::Closure::once_into_js(move || {
                                    released(WakeState::Released)
                                });
                            let _ = js_sys::Reflect::set(&lock, &"onrelease".into(), &listener);
                            *sentinel.borrow_mut() = Some(lock);
                            report(WakeState::Held);
                        }
                        Err(error) => {
                            web_sys::console::info_2(
                                &"portals: the screen may sleep:".into(),
                                &error,
                            );
                            report(WakeState::Refused);
                        }
                    }
                });
            }
        };
        request();
        let visibility = {
            let document = document.clone();
            gloo_events::EventListener::new(&document.clone(), "visibilitychange", move |_| {
                if document.visibility_state() == web_sys::VisibilityState::Visible {
                    request();
                }
            })
        };
        Some(Self {
            _visibility: visibility,
            sentinel,
        })
    }
}

impl Drop for ScreenAwake {
    fn drop(&mut self) {
        if let Some(lock) = self.sentinel.borrow_mut().take() {
            if let Some(release) = js_sys::Reflect::get(&lock, &"release".into())
                .ok()
                .and_then(|release| release.dyn_into::<js_sys::Function>().ok())
            {
                let _ = release.call0(&lock);
            }
        }
    }
}

/// Toggles the whole page in and out of fullscreen (the `f` key, a double click on the wall).
pub fn toggle_fullscreen() {
    let Some(document) = web_sys::window().and_then(|window| window.document()) else {
        return;
    };
    if document.fullscreen_element().is_some() {
        document.exit_fullscreen();
    } else if let Some(root) = document.document_element() {
        // Refused outside a user gesture: nothing to do but stay as we are.
        let _ = root.request_fullscreen();
    }
}
