#![recursion_limit = "256"]
//! portals: a CCTV-style video wall over a WebRTC full mesh, as one Leptos app.
//!
//! - [`signalling`]: the protocol and the pure room/session core, shared by both targets.
//! - [`server`] (feature `ssr`): axum, the `/portal` WebSocket, configuration.
//! - [`app`], [`pages`], [`components`]: the isomorphic UI.
//! - [`mesh`] (feature `hydrate`, plus its pure planning parts everywhere): the browser side of
//!   the protocol through web-sys.

pub mod app;
pub mod components;
pub mod mesh;
pub mod pages;
pub mod signalling;

#[cfg(feature = "ssr")]
pub mod server;

#[cfg(feature = "hydrate")]
pub mod browser;

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    browser::mark("portals:hydrate");
    leptos::mount::hydrate_body(app::App);
    browser::mark("portals:hydrated");
}
