//! Which connections cross to another process: the cluster's part of the switchboard, kept
//! under its lock so that a message and the routing it follows cannot be told apart in time.
//!
//! A process is an **edge** for the sockets it accepted and an **owner** for the rooms it holds
//! leases on. A socket whose room this process owns goes to its hub as in a single process; one
//! whose room another process owns is *forwarded*: its messages go to the owner, and what the
//! owner sends comes back for it. The owner's hub sees that socket as a *remote* connection.

use std::collections::{BTreeSet, HashMap};

use tokio::sync::mpsc::UnboundedSender;

use super::envelope::{EdgeConnection, Envelope, ProcessId};
use crate::signalling::{CloseCode, ConnectionId, Departure};

/// Envelopes for other processes, in the order they were decided: one task publishes them on
/// one Redis connection.
pub type Outgoing = UnboundedSender<(ProcessId, Envelope)>;

pub struct Routes {
    pub me: ProcessId,
    outgoing: Outgoing,
    /// Sockets here whose room another process runs, and that process.
    forwarded: HashMap<ConnectionId, ProcessId>,
    /// The hub's connections whose socket another process holds.
    remote: HashMap<ConnectionId, (ProcessId, EdgeConnection)>,
    by_edge: HashMap<(ProcessId, EdgeConnection), ConnectionId>,
}

impl Routes {
    pub fn new(me: ProcessId, outgoing: Outgoing) -> Self {
        Self {
            me,
            outgoing,
            forwarded: HashMap::new(),
            remote: HashMap::new(),
            by_edge: HashMap::new(),
        }
    }

    /// Queues an envelope for another process. When the publishing task has ended (the server
    /// is stopping) there is no one left to tell.
    pub fn send(&self, to: ProcessId, envelope: Envelope) {
        let _ = self.outgoing.send((to, envelope));
    }

    /// Tells the process that runs a socket's room that the socket (here) ended.
    pub fn send_disconnect(
        &self,
        owner: ProcessId,
        connection: ConnectionId,
        departure: Departure,
    ) {
        self.send(
            owner,
            Envelope::Disconnect {
                edge: self.me,
                connection: EdgeConnection(connection.0),
                departure,
            },
        );
    }

    /// Tells the process that holds a member's socket to close it.
    pub fn send_close(&self, edge: ProcessId, at_edge: EdgeConnection, code: CloseCode) {
        self.send(
            edge,
            Envelope::Close {
                owner: self.me,
                connection: at_edge,
                code: code.0,
            },
        );
    }

    pub fn forward(&mut self, connection: ConnectionId, owner: ProcessId) {
        self.forwarded.insert(connection, owner);
    }

    pub fn owner_of(&self, connection: ConnectionId) -> Option<ProcessId> {
        self.forwarded.get(&connection).copied()
    }

    pub fn unforward(&mut self, connection: ConnectionId) -> Option<ProcessId> {
        self.forwarded.remove(&connection)
    }

    pub fn add_remote(&mut self, edge: ProcessId, at_edge: EdgeConnection, here: ConnectionId) {
        self.remote.insert(here, (edge, at_edge));
        self.by_edge.insert((edge, at_edge), here);
    }

    /// The hub's connection for a socket on another process.
    pub fn hub_connection(&self, edge: ProcessId, at_edge: EdgeConnection) -> Option<ConnectionId> {
        self.by_edge.get(&(edge, at_edge)).copied()
    }

    pub fn remote_of(&self, connection: ConnectionId) -> Option<(ProcessId, EdgeConnection)> {
        self.remote.get(&connection).copied()
    }

    pub fn remove_remote(&mut self, connection: ConnectionId) {
        if let Some(edge) = self.remote.remove(&connection) {
            self.by_edge.remove(&edge);
        }
    }

    /// Every other process this one has connections with, either way: the ones whose
    /// heartbeats it watches.
    pub fn peers(&self) -> BTreeSet<ProcessId> {
        self.forwarded
            .values()
            .copied()
            .chain(self.remote.values().map(|(edge, _)| *edge))
            .collect()
    }

    /// The sockets here whose room `owner` runs (all of them for `None`).
    pub fn forwarded_to(&self, owner: Option<ProcessId>) -> Vec<ConnectionId> {
        self.forwarded
            .iter()
            .filter(|(_, to)| owner.is_none_or(|owner| **to == owner))
            .map(|(connection, _)| *connection)
            .collect()
    }

    /// The hub's connections whose socket is on `edge` (on any other process for `None`).
    pub fn remote_on(&self, edge: Option<ProcessId>) -> Vec<ConnectionId> {
        self.remote
            .iter()
            .filter(|(_, (on, _))| edge.is_none_or(|edge| *on == edge))
            .map(|(connection, _)| *connection)
            .collect()
    }

    pub fn counts(&self) -> (usize, usize) {
        (self.forwarded.len(), self.remote.len())
    }
}
