//! What one portals process says to another over Redis, and the keys they share.
//!
//! Every process subscribes to one channel of its own ([`ProcessId::channel`]) and publishes
//! to the others' on one connection, in order, so that what one process sends another arrives
//! in the order it was sent: the per-pair ordering the hub's rules rely on.
//!
//! Protocol messages cross as the text the wire carries: the edge already decoded and admitted
//! a client's message, and the owner already decided what to send, so each side only needs to
//! read back what the other wrote.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::signalling::{Departure, JoinQuery, RoomId};

/// One server process of a cluster, random at each start: a process that restarts is a new one,
/// and the others see the old one die.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProcessId(pub u64);

impl fmt::Display for ProcessId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// The prefix of every key and channel, so that a Redis shared with other software is safe.
const PREFIX: &str = "portals:";

impl ProcessId {
    /// The channel the process listens on.
    pub fn channel(self) -> String {
        format!("{PREFIX}to:{self}")
    }

    /// Exists while the process is alive: it sets it again every heartbeat, with an expiry.
    pub fn heartbeat_key(self) -> String {
        format!("{}{self}", heartbeat_prefix())
    }

    /// The public rooms the process runs, for a cluster-wide `/api/rooms`.
    pub fn rooms_key(self) -> String {
        format!("{PREFIX}rooms:{self}")
    }

    pub fn parse(text: &str) -> Option<Self> {
        u64::from_str_radix(text, 16).ok().map(ProcessId)
    }
}

pub fn heartbeat_prefix() -> String {
    format!("{PREFIX}alive:")
}

/// The set of processes that have beaten, pruned of those whose lists of rooms expired.
pub fn processes_key() -> String {
    format!("{PREFIX}processes")
}

/// The lease on a room: the id of the process that runs it.
pub fn lease_key(room: &RoomId) -> String {
    format!("{PREFIX}room:{}", room.encode())
}

/// A connection as the process that holds its socket (its edge) numbers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EdgeConnection(pub u64);

/// One message between two processes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Envelope {
    /// Edge to owner: a socket was opened for a room the owner runs.
    Connect {
        edge: ProcessId,
        connection: EdgeConnection,
        query: JoinQuery,
    },
    /// Edge to owner: a message the edge decoded and admitted under the connection's budget.
    Message {
        edge: ProcessId,
        connection: EdgeConnection,
        text: String,
    },
    /// Edge to owner: the socket ended.
    Disconnect {
        edge: ProcessId,
        connection: EdgeConnection,
        departure: Departure,
    },
    /// Owner to edge: send this protocol message on the socket.
    Send {
        owner: ProcessId,
        connection: EdgeConnection,
        text: String,
    },
    /// Owner to edge: close the socket with this code; the owner has forgotten it.
    Close {
        owner: ProcessId,
        connection: EdgeConnection,
        code: u16,
    },
}

impl Envelope {
    pub fn encode(&self) -> String {
        // Every field is a string, a number or a plain enum: serialising cannot fail.
        serde_json::to_string(self).expect("an envelope serialises")
    }

    pub fn decode(text: &[u8]) -> Option<Self> {
        serde_json::from_slice(text).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signalling::protocol::Role;

    #[test]
    fn envelopes_read_back_as_written() {
        let envelopes = [
            Envelope::Connect {
                edge: ProcessId(7),
                connection: EdgeConnection(3),
                query: JoinQuery {
                    room: Some("home".into()),
                    verifier: None,
                    token: Some("t".into()),
                    newcomer_offers: true,
                    role: Role::Wall,
                },
            },
            Envelope::Message {
                edge: ProcessId(u64::MAX),
                connection: EdgeConnection(1),
                text: r#"{"type":"ping","ping":1}"#.into(),
            },
            Envelope::Disconnect {
                edge: ProcessId(0),
                connection: EdgeConnection(9),
                departure: Departure::Unloading,
            },
            Envelope::Send {
                owner: ProcessId(5),
                connection: EdgeConnection(2),
                text: "{}".into(),
            },
            Envelope::Close {
                owner: ProcessId(5),
                connection: EdgeConnection(2),
                code: 1013,
            },
        ];
        for envelope in envelopes {
            assert_eq!(
                Envelope::decode(envelope.encode().as_bytes()),
                Some(envelope)
            );
        }
    }

    #[test]
    fn process_ids_are_fixed_width_hex_both_ways() {
        let id = ProcessId(0xab);
        assert_eq!(id.to_string(), "00000000000000ab");
        assert_eq!(ProcessId::parse(&id.to_string()), Some(id));
        assert_eq!(id.heartbeat_key(), "portals:alive:00000000000000ab");
    }
}
