//! Where the pure hub meets the connections: one lock around the hub and the connections'
//! outboxes, so that what the hub decides is queued in the order it decided it.
//!
//! Queueing happens under the lock on purpose: two tasks delivering outside it could swap two
//! `info`s for the same member and leave it with a stale view of its room. Serialising to JSON
//! does not: each connection's own task encodes what it sends.
//!
//! Nothing a client sends is decoded or budgeted under the lock: each connection's own task
//! does both (`connection.rs`, `limits.rs`) and hands over only decoded, admitted messages.

use std::{
    collections::{BTreeSet, HashMap},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, MutexGuard, OnceLock,
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use prometheus_client::metrics::histogram::Histogram;
use tokio::sync::Notify;

use super::{
    cluster::{
        envelope::{EdgeConnection, Envelope, ProcessId},
        routes::Routes,
        Placement,
    },
    outbox::{Abandoned, Frame, Outbox},
};
use crate::signalling::{
    hub::{HubCounters, HubGauges},
    Action, ClientMessage, CloseCode, ConnectionId, Departure, ErrorCode, Hub, Input, JoinQuery,
    Outbound, ProtocolError, RoomId, RoomSummary, Timestamp,
};

pub struct Switchboard {
    shared: Mutex<Shared>,
    next_connection: AtomicU64,
    relay_seconds: Histogram,
    /// Errors the connections' own tasks sent (over budget, undecodable), outside the lock.
    edge_refusals: [AtomicU64; ErrorCode::ALL.len()],
    /// Woken when the hub's next deadline moved earlier than the timer knows.
    deadline_moved: Notify,
}

/// Everything `/metrics` reads, taken under one lock so the figures agree with each other.
pub struct Snapshot {
    pub counters: HubCounters,
    pub gauges: HubGauges,
    pub connections: usize,
    pub slow_drops: u64,
    pub silent_drops: u64,
}

struct Shared {
    hub: Hub,
    /// Every socket this process holds, whichever process runs its room.
    outboxes: HashMap<ConnectionId, Arc<Outbox>>,
    /// With `--redis-url`: the connections that cross to other processes.
    routes: Option<Routes>,
    /// Reused across calls so the hot path does not allocate a vector per message.
    scratch: Vec<Outbound>,
    /// Connections dropped because their outbox was full.
    slow_drops: u64,
    /// Connections dropped because they answered no ping.
    silent_drops: u64,
    /// The deadline the timer was last told of.
    scheduled: Option<Timestamp>,
}

impl Switchboard {
    pub fn new(hub: Hub, relay_seconds: Histogram, routes: Option<Routes>) -> Self {
        Self {
            relay_seconds,
            shared: Mutex::new(Shared {
                hub,
                outboxes: HashMap::new(),
                routes,
                scratch: Vec::new(),
                slow_drops: 0,
                silent_drops: 0,
                scheduled: None,
            }),
            next_connection: AtomicU64::new(1),
            edge_refusals: Default::default(),
            deadline_moved: Notify::new(),
        }
    }

    /// Registers a connection's outbox and tells the hub that runs its room (this process's,
    /// or another's through Redis) that it connected.
    pub fn connect(
        &self,
        outbox: Arc<Outbox>,
        query: &JoinQuery,
        placement: Placement,
    ) -> ConnectionId {
        let connection = self.fresh_connection();
        let mut shared = self.lock();
        match placement {
            Placement::Here => {
                shared.outboxes.insert(connection, outbox);
                self.adopt_if_new(&mut shared, query);
                self.run(&mut shared, Input::Connect { connection, query });
            }
            Placement::At(owner) => {
                shared.outboxes.insert(connection, outbox);
                if let Some(routes) = &mut shared.routes {
                    routes.forward(connection, owner);
                    let edge = routes.me;
                    routes.send(
                        owner,
                        Envelope::Connect {
                            edge,
                            connection: EdgeConnection(connection.0),
                            query: query.clone(),
                        },
                    );
                }
            }
            Placement::Unavailable => {
                // Known to no hub: the close is all it gets, and its end changes nothing.
                let _ = outbox.push(Frame::Close(CloseCode::TRY_AGAIN_LATER));
            }
        }
        connection
    }

    /// In a cluster, a room this process's hub does not run yet is one it holds the lease of
    /// now, and another process may have run it until now: its hub adopts it (restoring the
    /// ids of that process's tokens) in the same turn as the member that brings it, so that no
    /// other member can reach the room first.
    fn adopt_if_new(&self, shared: &mut Shared, query: &JoinQuery) {
        if shared.routes.is_none() {
            return;
        }
        if let Ok(room) = query.room_id() {
            if !shared.hub.runs(&room) {
                self.run(shared, Input::Adopt { room: &room });
            }
        }
    }

    fn fresh_connection(&self) -> ConnectionId {
        ConnectionId(self.next_connection.fetch_add(1, Ordering::Relaxed))
    }

    /// A message the connection's task decoded and admitted under its budget.
    pub fn message(&self, connection: ConnectionId, message: ClientMessage) {
        let started = Instant::now();
        let shared = self.lock();
        if let Some(routes) = &shared.routes {
            if let Some(owner) = routes.owner_of(connection) {
                let edge = routes.me;
                routes.send(
                    owner,
                    Envelope::Message {
                        edge,
                        connection: EdgeConnection(connection.0),
                        text: message.encode(),
                    },
                );
                return;
            }
        }
        self.hand_message(shared, connection, message, started);
    }

    /// Runs a message through the hub, and times it when it was relayed.
    fn hand_message(
        &self,
        mut shared: MutexGuard<'_, Shared>,
        connection: ConnectionId,
        message: ClientMessage,
        started: Instant,
    ) {
        let before = shared.hub.counters().relayed;
        self.run(
            &mut shared,
            Input::Message {
                connection,
                message,
            },
        );
        let relayed = shared.hub.counters().relayed != before;
        drop(shared);
        if relayed {
            self.relay_seconds.observe(started.elapsed().as_secs_f64());
        }
    }

    /// Counts an error a connection's task sent itself.
    pub fn refused(&self, error: &ProtocolError) {
        if let Some(index) = error.code().index() {
            self.edge_refusals[index].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The connection's task has ended; nothing more will be queued for it.
    pub fn disconnect(&self, connection: ConnectionId, departure: Departure) {
        let mut shared = self.lock();
        shared.outboxes.remove(&connection);
        if let Some(routes) = &mut shared.routes {
            if let Some(owner) = routes.unforward(connection) {
                routes.send_disconnect(owner, connection, departure);
                return;
            }
        }
        self.run(
            &mut shared,
            Input::Disconnect {
                connection,
                departure,
            },
        );
    }

    /// Hands the hub the time, for the deadline it gave.
    pub fn tick(&self) {
        let mut shared = self.lock();
        self.run(&mut shared, Input::Tick);
    }

    /// The hub's next deadline, and what to wait on for news of an earlier one.
    pub fn next_deadline(&self) -> (Option<Timestamp>, &Notify) {
        let mut shared = self.lock();
        let next = shared.hub.next_deadline();
        shared.scheduled = next;
        (next, &self.deadline_moved)
    }

    /// Asks every connection to close, e.g. when the server shuts down.
    pub fn close_all(&self, code: CloseCode) {
        let shared = self.lock();
        for outbox in shared.outboxes.values() {
            let _ = outbox.push(Frame::Close(code));
        }
    }

    /// Pings every connection, and gives up on those that have sent nothing for `silence`.
    /// One sweep for all connections, rather than a timer in each, keeps an idle connection
    /// small.
    pub fn ping_all(&self, silence: Duration) {
        let mut shared = self.lock();
        let silent: Vec<ConnectionId> = shared
            .outboxes
            .iter()
            .filter(|(_, outbox)| outbox.silent_for() >= silence)
            .map(|(connection, _)| *connection)
            .collect();
        for connection in silent {
            shared.abandon(connection, Abandoned::Silent);
        }
        for outbox in shared.outboxes.values() {
            // A full outbox is already being dealt with; one ping less changes nothing.
            let _ = outbox.push(Frame::Ping);
        }
    }

    pub fn rooms(&self) -> Vec<RoomSummary> {
        self.lock().hub.rooms()
    }

    /// Whether this process runs the room now.
    pub fn runs(&self, room: &RoomId) -> bool {
        self.lock().hub.runs(room)
    }

    /// Every room this process runs, private ones included: the leases it keeps.
    pub fn room_ids(&self) -> Vec<RoomId> {
        self.lock().hub.room_ids()
    }

    /// A socket on another process joined a room this one runs.
    pub fn remote_connect(&self, edge: ProcessId, at_edge: EdgeConnection, query: &JoinQuery) {
        let connection = self.fresh_connection();
        let mut shared = self.lock();
        let Some(routes) = &mut shared.routes else {
            return;
        };
        if routes.hub_connection(edge, at_edge).is_some() {
            // Said twice: the first one stands.
            return;
        }
        routes.add_remote(edge, at_edge, connection);
        self.adopt_if_new(&mut shared, query);
        self.run(&mut shared, Input::Connect { connection, query });
    }

    /// A socket on another process asked for a room this one cannot take: its edge closes it.
    pub fn refuse_remote(&self, edge: ProcessId, at_edge: EdgeConnection, code: CloseCode) {
        if let Some(routes) = &self.lock().routes {
            routes.send_close(edge, at_edge, code);
        }
    }

    /// A message from a socket on another process, which its edge decoded and admitted.
    pub fn remote_message(&self, edge: ProcessId, at_edge: EdgeConnection, message: ClientMessage) {
        let started = Instant::now();
        let shared = self.lock();
        let Some(routes) = &shared.routes else {
            return;
        };
        let Some(connection) = routes.hub_connection(edge, at_edge) else {
            // Forgotten here (cut, or never known): the edge must not wait for an answer.
            routes.send_close(edge, at_edge, CloseCode::SERVICE_RESTART);
            return;
        };
        self.hand_message(shared, connection, message, started);
    }

    /// A socket on another process ended.
    pub fn remote_disconnect(
        &self,
        edge: ProcessId,
        at_edge: EdgeConnection,
        departure: Departure,
    ) {
        let mut shared = self.lock();
        let Some(routes) = &mut shared.routes else {
            return;
        };
        let Some(connection) = routes.hub_connection(edge, at_edge) else {
            return;
        };
        routes.remove_remote(connection);
        self.run(
            &mut shared,
            Input::Disconnect {
                connection,
                departure,
            },
        );
    }

    /// What the process that runs a forwarded socket's room sends it. Anything for a socket
    /// that has ended or was closed here meanwhile is dropped.
    pub fn deliver(&self, owner: ProcessId, at_edge: EdgeConnection, frame: Frame) {
        let connection = ConnectionId(at_edge.0);
        let mut shared = self.lock();
        let Some(routes) = &shared.routes else {
            return;
        };
        if routes.owner_of(connection).is_none() {
            // Ended or cut here: the owner must not keep a member for it.
            if matches!(frame, Frame::Text(_)) {
                routes.send_disconnect(owner, connection, Departure::Lost);
            }
            return;
        }
        let Some(outbox) = shared.outboxes.get(&connection) else {
            return;
        };
        let last = matches!(frame, Frame::Close(_));
        if outbox.push(frame).is_err() {
            // The socket's task reports it lost, which tells the owner.
            shared.abandon(connection, Abandoned::TooSlow);
        } else if last {
            shared.outboxes.remove(&connection);
            if let Some(routes) = &mut shared.routes {
                routes.unforward(connection);
            }
        }
    }

    /// Another process runs the room now: its members here are closed with `code`, to move.
    pub fn evict(&self, room: &RoomId, code: CloseCode) {
        let mut shared = self.lock();
        self.run(&mut shared, Input::Evict { room, code });
    }

    /// Every other process this one has connections with.
    pub fn peers(&self) -> BTreeSet<ProcessId> {
        self.lock()
            .routes
            .as_ref()
            .map(Routes::peers)
            .unwrap_or_default()
    }

    /// These processes stopped beating: the members whose sockets they held keep their seats
    /// for the grace period, and the sockets here whose rooms they ran are closed with 1012,
    /// to come back (with their tokens) to whichever process takes the rooms over.
    pub fn processes_lost(&self, lost: &[ProcessId]) {
        let mut shared = self.lock();
        for process in lost {
            shared.cut(Some(*process), CloseCode::SERVICE_RESTART, self);
        }
    }

    /// Redis went away: what crossed it is lost, so every connection that crosses is cut the
    /// same way, the sockets here with 1013 ("try again later").
    pub fn cluster_down(&self) {
        let mut shared = self.lock();
        shared.cut(None, CloseCode::TRY_AGAIN_LATER, self);
    }

    /// Sockets forwarded to other processes, and remote connections of this one's hub.
    pub fn crossing(&self) -> (usize, usize) {
        self.lock().routes.as_ref().map_or((0, 0), Routes::counts)
    }

    pub fn snapshot(&self) -> Snapshot {
        let shared = self.lock();
        let mut counters = shared.hub.counters().clone();
        for (code, count) in ErrorCode::ALL.iter().zip(&self.edge_refusals) {
            counters.refused.add(*code, count.load(Ordering::Relaxed));
        }
        Snapshot {
            counters,
            gauges: shared.hub.gauges(),
            connections: shared.outboxes.len(),
            slow_drops: shared.slow_drops,
            silent_drops: shared.silent_drops,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        // The hub never panics while the lock is held on any input (the hub's tests drive it
        // with random input); if it ever did, its state is still structurally whole, so
        // carrying on serves the other rooms better than poisoning every connection.
        self.shared
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs one input through the hub and queues what it decided, in order; wakes the timer if
    /// the hub's next deadline is now earlier than the one it sleeps until.
    fn run(&self, shared: &mut Shared, input: Input<'_>) {
        shared.run(input);
        let next = shared.hub.next_deadline();
        if let Some(next) = next {
            if shared.scheduled.is_none_or(|scheduled| next < scheduled) {
                shared.scheduled = Some(next);
                self.deadline_moved.notify_one();
            }
        }
    }
}

impl Shared {
    fn run(&mut self, input: Input<'_>) {
        let mut out = std::mem::take(&mut self.scratch);
        self.hub.handle_into(now(), input, &mut out);
        for Outbound { to, action } in out.drain(..) {
            let Some(outbox) = self.outboxes.get(&to) else {
                if let Some(routes) = &mut self.routes {
                    send_remote(routes, to, action);
                }
                continue;
            };
            let (frame, last) = match action {
                Action::Send(message) => (Frame::Text(message), false),
                Action::Close(code) => (Frame::Close(code), true),
            };
            if outbox.push(frame).is_err() {
                self.abandon(to, Abandoned::TooSlow);
            } else if last {
                // After a close nothing more may be queued.
                self.outboxes.remove(&to);
            }
        }
        self.scratch = out;
    }

    /// Cuts the connections that cross to `process` (to any other process for `None`): the
    /// hub's remote ones are lost, the sockets here closed with `code`.
    fn cut(&mut self, process: Option<ProcessId>, code: CloseCode, switchboard: &Switchboard) {
        let Some(routes) = &mut self.routes else {
            return;
        };
        let remote = routes.remote_on(process);
        let forwarded = routes.forwarded_to(process);
        // The other side is told too, should it still be there (Redis dropped only this
        // process's connection, say): otherwise it would keep its half for good, a member that
        // never leaves or a socket that never hears back. Lost with Redis, it costs nothing.
        for connection in &forwarded {
            if let Some(owner) = routes.unforward(*connection) {
                routes.send_disconnect(owner, *connection, Departure::Lost);
            }
        }
        for connection in &remote {
            if let Some((edge, at_edge)) = routes.remote_of(*connection) {
                routes.send_close(edge, at_edge, code);
            }
            routes.remove_remote(*connection);
        }
        for connection in forwarded {
            if let Some(outbox) = self.outboxes.remove(&connection) {
                let _ = outbox.push(Frame::Close(code));
            }
        }
        for connection in remote {
            switchboard.run(
                self,
                Input::Disconnect {
                    connection,
                    departure: Departure::Lost,
                },
            );
        }
    }

    /// Gives up on a connection and forgets its outbox: nothing more is queued for it. Its
    /// task ends and reports the connection lost, so its member keeps the seat for the grace
    /// period and can resume.
    fn abandon(&mut self, connection: ConnectionId, why: Abandoned) {
        let Some(outbox) = self.outboxes.remove(&connection) else {
            return;
        };
        if !outbox.abandon(why) {
            return;
        }
        match why {
            Abandoned::TooSlow => {
                self.slow_drops += 1;
                tracing::warn!(
                    connection = connection.0,
                    "outbox full, dropping a slow connection"
                );
            }
            Abandoned::Silent => {
                self.silent_drops += 1;
                tracing::debug!(connection = connection.0, "dropping a silent connection");
            }
        }
    }
}

/// Sends what the hub decided for a socket on another process to that process.
fn send_remote(routes: &mut Routes, to: ConnectionId, action: Action) {
    let Some((edge, connection)) = routes.remote_of(to) else {
        return;
    };
    match action {
        Action::Send(message) => routes.send(
            edge,
            Envelope::Send {
                owner: routes.me,
                connection,
                text: message.encode(),
            },
        ),
        Action::Close(code) => {
            routes.remove_remote(to);
            routes.send_close(edge, connection, code);
        }
    }
}

/// The hub's time: the wall clock read once, at the first call, plus a monotonic clock's time
/// since. It follows the wall clock closely enough for tokens (which expire after hours) and
/// never jumps when the wall clock is set, which grace periods and deadlines need.
pub fn now() -> Timestamp {
    static START: OnceLock<(u64, Instant)> = OnceLock::new();
    let (epoch_ms, started) = START.get_or_init(|| {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        (
            u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX),
            Instant::now(),
        )
    });
    let elapsed = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    Timestamp(epoch_ms.saturating_add(elapsed))
}

/// How long from now until `deadline`, on the same clock as [`now`].
pub fn until(deadline: Timestamp) -> Duration {
    Duration::from_millis(deadline.0.saturating_sub(now().0))
}
