//! Where the pure hub meets the connections: one lock around the hub and the connections'
//! outboxes, so that what the hub decides is queued in the order it decided it.
//!
//! Queueing happens under the lock on purpose: two tasks delivering outside it could swap two
//! `info`s for the same member and leave it with a stale view of its room. Serialising to JSON
//! does not: each connection's own task encodes what it sends.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, MutexGuard,
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use prometheus_client::metrics::histogram::Histogram;

use super::outbox::{Abandoned, Frame, Outbox};
use crate::signalling::{
    hub::{HubCounters, HubGauges},
    Action, CloseCode, ConnectionId, Departure, Hub, Input, JoinQuery, Outbound, RoomSummary,
    Timestamp,
};

pub struct Switchboard {
    shared: Mutex<Shared>,
    next_connection: AtomicU64,
    relay_seconds: Histogram,
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
    outboxes: HashMap<ConnectionId, Arc<Outbox>>,
    /// Reused across calls so the hot path does not allocate a vector per message.
    scratch: Vec<Outbound>,
    /// Connections dropped because their outbox was full.
    slow_drops: u64,
    /// Connections dropped because they answered no ping.
    silent_drops: u64,
}

impl Switchboard {
    pub fn new(hub: Hub, relay_seconds: Histogram) -> Self {
        Self {
            relay_seconds,
            shared: Mutex::new(Shared {
                hub,
                outboxes: HashMap::new(),
                scratch: Vec::new(),
                slow_drops: 0,
                silent_drops: 0,
            }),
            next_connection: AtomicU64::new(1),
        }
    }

    /// Registers a connection's outbox and tells the hub it connected.
    pub fn connect(&self, outbox: Arc<Outbox>, query: &JoinQuery) -> ConnectionId {
        let connection = ConnectionId(self.next_connection.fetch_add(1, Ordering::Relaxed));
        let mut shared = self.lock();
        shared.outboxes.insert(connection, outbox);
        shared.run(Input::Connect { connection, query });
        connection
    }

    pub fn text(&self, connection: ConnectionId, text: &str) {
        let started = Instant::now();
        let relayed = {
            let mut shared = self.lock();
            let before = shared.hub.counters().relayed;
            shared.run(Input::Text { connection, text });
            shared.hub.counters().relayed != before
        };
        if relayed {
            self.relay_seconds.observe(started.elapsed().as_secs_f64());
        }
    }

    pub fn binary(&self, connection: ConnectionId) {
        self.lock().run(Input::Binary { connection });
    }

    /// The connection's task has ended; nothing more will be queued for it.
    pub fn disconnect(&self, connection: ConnectionId, departure: Departure) {
        let mut shared = self.lock();
        shared.outboxes.remove(&connection);
        shared.run(Input::Disconnect {
            connection,
            departure,
        });
    }

    pub fn tick(&self) {
        self.lock().run(Input::Tick);
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

    pub fn snapshot(&self) -> Snapshot {
        let shared = self.lock();
        Snapshot {
            counters: shared.hub.counters().clone(),
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
}

impl Shared {
    fn run(&mut self, input: Input<'_>) {
        let mut out = std::mem::take(&mut self.scratch);
        self.hub.handle_into(now(), input, &mut out);
        for Outbound { to, action } in out.drain(..) {
            let Some(outbox) = self.outboxes.get(&to) else {
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

pub fn now() -> Timestamp {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp(u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX))
}
