//! The signalling protocol and its server-side core. Pure: no tokio, axum, web-sys, clocks or
//! entropy in here, so it compiles for the browser (which shares the message types) and every
//! rule is unit-tested without a network.

pub mod error;
pub mod hub;
pub mod protocol;
pub mod token;

pub use error::{CloseCode, ErrorCode, ProtocolError};
pub use hub::{
    Action, ConnectionId, Departure, Hub, HubConfig, Input, JoinQuery, Outbound, RateLimit,
    RoomPolicy, RoomSummary,
};
pub use protocol::{ClientMessage, MemberId, RoomName, ServerMessage};

/// Milliseconds since the Unix epoch. Wall-clock time, because tokens must stay meaningful
/// across a server restart; the transport reads the clock and passes it in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub u64);

impl Timestamp {
    pub fn plus_ms(self, ms: u64) -> Self {
        Timestamp(self.0.saturating_add(ms))
    }
}
