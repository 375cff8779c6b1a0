//! The browser side of the protocol. [`plan`], [`negotiation`], [`link_health`], [`tile_view`],
//! [`video_budget`], [`peer_message`], [`link_stats`] and [`camera_pick`] decide and are pure, tested natively; the rest drives `RTCPeerConnection`, `getUserMedia` and the
//! `WebSocket` through web-sys, all owned by one task that handles the mesh's events in order.

pub mod camera_pick;
pub mod link_health;
pub mod link_stats;
pub mod negotiation;
pub mod peer_message;
pub mod plan;
pub mod tile_view;
pub mod video_budget;

#[cfg(feature = "hydrate")]
mod controller;
#[cfg(feature = "hydrate")]
mod events;
#[cfg(feature = "hydrate")]
mod local_media;
#[cfg(feature = "hydrate")]
mod peer_link;
#[cfg(feature = "hydrate")]
mod sealing;
#[cfg(feature = "hydrate")]
mod session_store;
#[cfg(feature = "hydrate")]
mod signalling_socket;
#[cfg(feature = "hydrate")]
pub mod trace;

#[cfg(feature = "hydrate")]
pub use controller::Mesh;
