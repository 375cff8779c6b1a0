//! The signalling protocol and its server-side core. Pure: no tokio, axum, web-sys, clocks or
//! entropy in here, so it compiles for the browser (which shares the message types) and every
//! rule is unit-tested without a network.

pub mod error;
pub mod hub;
pub mod private_room;
pub mod protocol;
pub mod token;
pub mod turn;

pub use error::{CloseCode, ErrorCode, ProtocolError};
pub use hub::{
    Action, ConnectionId, Departure, HeldLimit, Hub, HubConfig, Input, JoinQuery, Outbound,
    RateLimit, RoomPolicy, RoomSummary,
};
pub use private_room::{RoomId, RoomKey, RoomVerifier};
pub use protocol::{ClientMessage, MemberId, RoomName, ServerMessage};

/// Milliseconds on a clock that never runs backwards, counted from the Unix epoch: the server
/// reads the wall clock once at start and adds a monotonic clock's elapsed time to it. Epoch
/// based, because tokens must stay meaningful across a restart; monotonic, because grace
/// periods and rate budgets must not jump when the wall clock is set. The transport reads the
/// clock and passes it in; the hub also never lets it go back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub u64);

impl Timestamp {
    pub fn plus_ms(self, ms: u64) -> Self {
        Timestamp(self.0.saturating_add(ms))
    }
}
