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

/// A point on the page's performance timeline, for `scripts/bench.sh first-frame` (and the
/// browser's own profiler) to place the app's steps among the page's.
pub fn mark(name: &str) {
    if let Some(performance) = web_sys::window().and_then(|window| window.performance()) {
        // Marking only fails for names the page's timing already uses: ours are prefixed.
        let _ = performance.mark(name);
    }
}

/// Starts a `<video>`; a refusal (e.g. interrupted by a new source) is not worth reporting.
pub fn play(video: &web_sys::HtmlVideoElement) {
    if let Ok(promise) = video.play() {
        wasm_bindgen_futures::spawn_local(async move {
            let _ = JsFuture::from(promise).await;
        });
    }
}

/// The unit a [`SizeWatch`] reports in.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Pixels {
    /// CSS pixels, what layouts are made of.
    Css,
    /// CSS pixels × `devicePixelRatio`, which is what a video's pixels land on.
    Device,
}

/// A `ResizeObserver` on one element, reporting its content box's size. Dropping it stops the
/// observer and frees the callback.
pub struct SizeWatch {
    observer: web_sys::ResizeObserver,
    _callback: wasm_bindgen::closure::Closure<dyn FnMut(js_sys::Array)>,
}

impl SizeWatch {
    pub fn new(
        element: &web_sys::Element,
        unit: Pixels,
        report: impl Fn(u32, u32) + 'static,
    ) -> Option<Self> {
        let callback = wasm_bindgen::closure::Closure::<dyn FnMut(js_sys::Array)>::new(
            move |entries: js_sys::Array| {
                let ratio = match unit {
                    Pixels::Css => 1.0,
                    Pixels::Device => {
                        web_sys::window().map_or(1.0, |window| window.device_pixel_ratio())
                    }
                };
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

/// Watches the size of the element behind `node` for as long as the calling component lives,
/// the element it holds after a re-render included, reporting as [`SizeWatch::new`] does.
pub fn watch_size<E>(
    node: leptos::prelude::NodeRef<E>,
    unit: Pixels,
    report: impl Fn(u32, u32) + Clone + 'static,
) where
    E: leptos::tachys::html::element::ElementType + 'static,
    E::Output: JsCast + Clone + 'static,
{
    use leptos::prelude::{Effect, Get, SetValue, StoredValue};
    let watch = StoredValue::new_local(None::<SizeWatch>);
    Effect::new(move |_| {
        if let Some(element) = node.get() {
            watch.set_value(SizeWatch::new(
                element.unchecked_ref(),
                unit,
                report.clone(),
            ));
        }
    });
}

/// A serde value as the browser's own object, through JSON: the shapes are the same.
pub fn to_js(value: &impl serde::Serialize) -> Result<JsValue, JsValue> {
    let json =
        serde_json::to_string(value).map_err(|error| JsValue::from_str(&error.to_string()))?;
    js_sys::JSON::parse(&json)
}

impl Drop for SizeWatch {
    fn drop(&mut self) {
        self.observer.disconnect();
    }
}

/// `N` bytes from the browser's cryptographic generator (`crypto.getRandomValues`).
pub fn random_bytes<const N: usize>() -> Result<[u8; N], JsValue> {
    let mut bytes = [0; N];
    web_sys::window()
        .ok_or_else(|| JsValue::from_str("no window"))?
        .crypto()?
        .get_random_values_with_u8_array(&mut bytes)?;
    Ok(bytes)
}

/// Opens a new private room: a random name (which the server sees) and a random key (in the
/// fragment, which it does not).
pub fn open_new_private_room() -> Result<(), JsValue> {
    let name: String = random_bytes::<5>()?
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    let key = crate::signalling::RoomKey::from_bytes(random_bytes()?);
    let fragment = crate::signalling::private_room::KEY_PARAMETER;
    web_sys::window()
        .ok_or_else(|| JsValue::from_str("no window"))?
        .location()
        .set_href(&format!(
            "/?room=private-{name}#{fragment}={}",
            key.encode()
        ))
}

/// The page URL's fragment (`#…`, or empty), which the browser never sends to a server.
pub fn url_fragment() -> String {
    web_sys::window()
        .and_then(|window| window.location().hash().ok())
        .unwrap_or_default()
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
/// flag.
///
/// Call it within a reactive owner (an effect of the page): the lock and the listeners belong
/// to that owner and go with it, and a lock granted after the owner is gone is let go at once.
pub fn keep_screen_awake(report: impl Fn(WakeState) + Clone + Send + Sync + 'static) {
    use gloo_events::EventListener;
    use leptos::prelude::{on_cleanup, StoredValue, UpdateValue};

    let Some(window) = web_sys::window() else {
        return;
    };
    let Some(document) = window.document() else {
        return;
    };
    // The lock held now, and its `release` listener.
    let held = StoredValue::new_local(None::<(JsValue, EventListener)>);
    let navigator = window.navigator();
    let request = {
        let report = report.clone();
        move || {
            let lock = js_sys::Reflect::get(&navigator, &"wakeLock".into())
                .ok()
                .filter(|lock| !lock.is_undefined() && !lock.is_null());
            let asked = lock.as_ref().and_then(|lock| {
                js_sys::Reflect::get(lock, &"request".into())
                    .ok()?
                    .dyn_into::<js_sys::Function>()
                    .ok()?
                    .call1(lock, &"screen".into())
                    .ok()?
                    .dyn_into::<js_sys::Promise>()
                    .ok()
            });
            let Some(asked) = asked else {
                report(WakeState::Unsupported);
                return;
            };
            report(WakeState::Asking);
            let report = report.clone();
            wasm_bindgen_futures::spawn_local(async move {
                match JsFuture::from(asked).await {
                    Ok(lock) => {
                        let released = {
                            let report = report.clone();
                            EventListener::new(lock.unchecked_ref(), "release", move |_| {
                                report(WakeState::Released)
                            })
                        };
                        // A lock granted while another is held (the page hidden and shown
                        // in quick succession) takes its place: the older one is let go.
                        let kept = held
                            .try_update_value(|held| {
                                if let Some((older, _)) = held.replace((lock.clone(), released)) {
                                    release(&older);
                                }
                            })
                            .is_some();
                        if kept {
                            report(WakeState::Held);
                        } else {
                            release(&lock);
                        }
                    }
                    Err(error) => {
                        web_sys::console::info_2(&"portals: the screen may sleep:".into(), &error);
                        report(WakeState::Refused);
                    }
                }
            });
        }
    };
    request();
    let visibility = EventListener::new(&document.clone(), "visibilitychange", move |_| {
        if document.visibility_state() == web_sys::VisibilityState::Visible {
            request();
        }
    });
    let visibility = StoredValue::new_local(Some(visibility));
    on_cleanup(move || {
        visibility.try_update_value(Option::take);
        if let Some(Some((lock, _))) = held.try_update_value(Option::take) {
            release(&lock);
        }
    });
}

/// `WakeLockSentinel.release()`.
fn release(lock: &JsValue) {
    if let Some(release) = js_sys::Reflect::get(lock, &"release".into())
        .ok()
        .and_then(|release| release.dyn_into::<js_sys::Function>().ok())
    {
        let _ = release.call0(lock);
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
