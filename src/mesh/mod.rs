//! The browser side of the protocol. [`plan`] is pure and tested natively; the rest drives
//! `RTCPeerConnection`, `getUserMedia` and the `WebSocket` through web-sys.

pub mod plan;

#[cfg(feature = "hydrate")]
mod controller;
#[cfg(feature = "hydrate")]
mod local_media;
#[cfg(feature = "hydrate")]
mod peer_link;
#[cfg(feature = "hydrate")]
mod session_store;
#[cfg(feature = "hydrate")]
mod signalling_socket;
#[cfg(feature = "hydrate")]
pub mod trace;

#[cfg(feature = "hydrate")]
pub use controller::Mesh;
