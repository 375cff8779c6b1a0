//! Typed protocol errors and their mapping to the wire's error codes and close codes.

use serde::{Deserialize, Serialize};

use super::protocol::MemberId;

/// The `code` of an `error` message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    RoomNotSet,
    RoomNotFound,
    RoomInvalid,
    RoomFull,
    BadMessage,
    UnknownType,
    TargetNotSet,
    TargetNotFound,
    RateLimited,
    SessionReplaced,
    /// A code this build does not know, from a newer server.
    #[serde(other)]
    Other,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 10] = [
        ErrorCode::RoomNotSet,
        ErrorCode::RoomNotFound,
        ErrorCode::RoomInvalid,
        ErrorCode::RoomFull,
        ErrorCode::BadMessage,
        ErrorCode::UnknownType,
        ErrorCode::TargetNotSet,
        ErrorCode::TargetNotFound,
        ErrorCode::RateLimited,
        ErrorCode::SessionReplaced,
    ];

    /// Where this code stands in [`ErrorCode::ALL`], which counters indexed by code use;
    /// `None` for [`ErrorCode::Other`].
    pub fn index(self) -> Option<usize> {
        Self::ALL.iter().position(|known| *known == self)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::RoomNotSet => "room_not_set",
            ErrorCode::RoomNotFound => "room_not_found",
            ErrorCode::RoomInvalid => "room_invalid",
            ErrorCode::RoomFull => "room_full",
            ErrorCode::BadMessage => "bad_message",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::TargetNotSet => "target_not_set",
            ErrorCode::TargetNotFound => "target_not_found",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::SessionReplaced => "session_replaced",
            ErrorCode::Other => "other",
        }
    }

    /// Whether the server closes the socket after sending this error: a client that gets one of
    /// these must not simply reconnect to the same room.
    pub fn is_fatal_for_room(self) -> bool {
        matches!(
            self,
            ErrorCode::RoomNotSet
                | ErrorCode::RoomNotFound
                | ErrorCode::RoomInvalid
                | ErrorCode::RoomFull
        )
    }
}

/// A WebSocket close code, as sent in a close frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// The client is done: its member leaves at once, with no grace period.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// A tab navigating away, or the server shutting down.
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    pub const POLICY: CloseCode = CloseCode(1008);
    pub const TOO_BIG: CloseCode = CloseCode(1009);
    /// **ext** The process that ran the room is gone (a cluster): reconnect now, with the
    /// token, and another process takes the room over.
    pub const SERVICE_RESTART: CloseCode = CloseCode(1012);
    /// **ext** The cluster cannot reach Redis, which this socket's room needs: reconnect later.
    pub const TRY_AGAIN_LATER: CloseCode = CloseCode(1013);
    /// **ext** Another connection resumed this session.
    pub const SESSION_REPLACED: CloseCode = CloseCode(4000);
    /// **ext** Sent by a client: the page is unloading, and may be a reload that resumes at
    /// once. The member keeps its seat for the short reload hold only.
    pub const UNLOADING: CloseCode = CloseCode(4002);

    /// Whether a client closing with this code means to leave its room for good, rather than
    /// to come back within the grace period.
    pub fn is_deliberate_leave(self) -> bool {
        self == CloseCode::NORMAL || self == CloseCode::GOING_AWAY
    }
}

/// Everything that can go wrong between a client and the server, one variant per error code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("no room given: connect to /portal?room=<name>")]
    RoomNotSet,
    #[error("there is no room {0:?} on this server")]
    RoomNotFound(String),
    #[error("a room name is 1 to 64 characters of a-z A-Z 0-9 - _ .")]
    RoomInvalid,
    /// Told with `room_invalid`: to a client it is the same mistake, a room it cannot join.
    #[error("a private room's verifier is 43 characters of base64url (32 bytes)")]
    VerifierInvalid,
    #[error("room {room:?} is full: it already has {max} {seats}")]
    RoomFull {
        room: String,
        max: usize,
        /// Which seats are taken: the members that watch and those that send are counted
        /// apart.
        seats: &'static str,
    },
    #[error("bad message: {0}")]
    BadMessage(String),
    #[error("clients may not send {0:?} messages")]
    UnknownType(String),
    #[error("a {0} needs a target")]
    TargetNotSet(&'static str),
    #[error("{0} is not a member of this room")]
    TargetNotFound(MemberId),
    #[error("too many messages: this one was dropped")]
    RateLimited,
    #[error("this session was resumed by another connection")]
    SessionReplaced,
}

impl ProtocolError {
    pub fn code(&self) -> ErrorCode {
        match self {
            ProtocolError::RoomNotSet => ErrorCode::RoomNotSet,
            ProtocolError::RoomNotFound(_) => ErrorCode::RoomNotFound,
            ProtocolError::RoomInvalid | ProtocolError::VerifierInvalid => ErrorCode::RoomInvalid,
            ProtocolError::RoomFull { .. } => ErrorCode::RoomFull,
            ProtocolError::BadMessage(_) => ErrorCode::BadMessage,
            ProtocolError::UnknownType(_) => ErrorCode::UnknownType,
            ProtocolError::TargetNotSet(_) => ErrorCode::TargetNotSet,
            ProtocolError::TargetNotFound(_) => ErrorCode::TargetNotFound,
            ProtocolError::RateLimited => ErrorCode::RateLimited,
            ProtocolError::SessionReplaced => ErrorCode::SessionReplaced,
        }
    }

    /// The close code that follows this error, if the connection does not survive it.
    /// Rate limiting closes only on persistent abuse, which the hub decides.
    pub fn close_code(&self) -> Option<CloseCode> {
        match self.code() {
            code if code.is_fatal_for_room() => Some(CloseCode::POLICY),
            ErrorCode::SessionReplaced => Some(CloseCode::SESSION_REPLACED),
            _ => None,
        }
    }
}
