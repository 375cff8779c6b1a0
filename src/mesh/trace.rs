//! `&debug` in the wall's URL logs every negotiation step to the console: WebRTC problems are
//! otherwise invisible.

use std::cell::Cell;

thread_local! {
    static ENABLED: Cell<bool> = const { Cell::new(false) };
}

pub fn enable(on: bool) {
    ENABLED.with(|enabled| enabled.set(on));
}

pub fn enabled() -> bool {
    ENABLED.with(Cell::get)
}

/// Under `&debug`, `window.__portals.links[<member id>]` is the link's `RTCPeerConnection`, for
/// a test or a person at the console to read `getStats()` of one link.
pub fn expose_link(member: &str, connection: &wasm_bindgen::JsValue) {
    if !enabled() {
        return;
    }
    if let Some(links) = exposed_links() {
        let _ = js_sys::Reflect::set(&links, &member.into(), connection);
    }
}

/// Takes a link's connection off `window.__portals.links`, unless a newer link replaced it.
pub fn forget_link(member: &str, connection: &wasm_bindgen::JsValue) {
    if !enabled() {
        return;
    }
    if let Some(links) = exposed_links() {
        let exposed = js_sys::Reflect::get(&links, &member.into()).ok();
        if exposed.as_ref() == Some(connection) {
            let _ = js_sys::Reflect::delete_property(&links, &member.into());
        }
    }
}

fn exposed_links() -> Option<js_sys::Object> {
    let portals = exposed()?;
    js_sys::Reflect::get(&portals, &"links".into())
        .ok()
        .and_then(|links| wasm_bindgen::JsCast::dyn_into(links).ok())
}

/// `window.__portals`, made on first use, with its `links`.
pub fn exposed() -> Option<js_sys::Object> {
    let window: wasm_bindgen::JsValue = web_sys::window()?.into();
    let key = wasm_bindgen::JsValue::from_str("__portals");
    let portals = match js_sys::Reflect::get(&window, &key) {
        Ok(portals) if portals.is_object() => portals,
        _ => {
            let portals = js_sys::Object::new();
            let _ = js_sys::Reflect::set(&portals, &"links".into(), &js_sys::Object::new());
            let _ = js_sys::Reflect::set(&window, &key, &portals);
            portals.into()
        }
    };
    wasm_bindgen::JsCast::dyn_into(portals).ok()
}

macro_rules! trace {
    ($($arg:tt)*) => {
        if $crate::mesh::trace::enabled() {
            web_sys::console::debug_1(&format!("portals: {}", format_args!($($arg)*)).into());
        }
    };
}
pub(crate) use trace;
