//! Isomorphic pieces of the UI. None of them touches WebRTC: they render the [`model`]'s
//! signals, which the mesh writes in the browser.

pub mod banners;
pub mod invite;
pub mod layout;
pub mod model;
pub mod video_tile;
pub mod video_wall;
