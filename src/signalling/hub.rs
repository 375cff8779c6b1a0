//! The signalling core: the relay rules, composed from one owner per job.
//!
//! - [`rooms::Rooms`]: who is in which room, as what, on which connection;
//! - [`sessions::Sessions`]: members in their grace period and what is held for them;
//! - [`tokens::Tokens`]: which resume token each member may present, and renewals;
//! - [`ice_refresh::IceRefreshes`]: when each member is due fresh TURN credentials;
//! - message budgets and decoding are not here: the transport applies them to each
//!   connection before anything reaches the hub (and its lock).
//!
//! The hub is a state machine. It takes an [`Input`] and the current time and appends what to
//! send to whom, and says when it next has something to do ([`Hub::next_deadline`]); it owns no
//! socket, lock, task, clock or entropy source (randomness comes from a seeded generator handed
//! in). That keeps every rule of PROTOCOL.md testable without a network and lets the same code
//! run under any transport.

mod ice_refresh;
mod rooms;
mod schedule;
mod sessions;
mod tokens;

use std::{collections::BTreeSet, sync::Arc};

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use serde::Serialize;

use super::{
    error::{CloseCode, ErrorCode, ProtocolError},
    private_room::{RoomId, RoomVerifier},
    protocol::{
        ClientMessage, Limits, MemberId, Role, RoomName, RtcConfiguration, ServerMessage, Welcome,
    },
    token::Claims,
    turn::TurnRest,
    Timestamp,
};
use ice_refresh::IceRefreshes;
use rooms::{Member, Rooms};
pub use sessions::HeldLimit;
use sessions::Sessions;
use tokens::{Presented, Tokens};

/// The transport's handle for one connection. The hub never sees sockets, only these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub u64);

/// Which rooms may be joined.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoomPolicy {
    /// Any valid name; a room exists while it has members.
    Any,
    /// Only these rooms exist, as in the base library.
    Fixed(BTreeSet<RoomName>),
}

/// Each connection's message budget: `per_second` on average, `burst` at once. The transport
/// enforces it; the hub announces it in `welcome`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub per_second: u32,
    pub burst: u32,
}

impl Default for RateLimit {
    /// Roomy enough for a newcomer negotiating with eleven peers at once (an offer and a dozen
    /// candidates each), tight enough that one tab cannot flood a room.
    fn default() -> Self {
        Self {
            per_second: 100,
            burst: 400,
        }
    }
}

#[derive(Clone, Debug)]
pub struct HubConfig {
    pub rooms: RoomPolicy,
    /// The most members of a room that watch (`both` and `wall`): every member that sends
    /// encodes one stream for each of them, and a `both` member also decodes each of the
    /// others, which stops fitting an ordinary machine and uplink at about a dozen.
    pub max_members: usize,
    /// The most members of a room that send video (`both` and `camera`): each member that
    /// watches decodes all of them. Larger than `max_members`, so that one wall can watch many
    /// more cameras than a room of `both` members can hold.
    pub max_senders: usize,
    /// Announced in `welcome.limits`: the video uplink each client shares out over its links.
    pub uplink_kbps: u32,
    /// How long a dropped member keeps its seat; zero removes it at once.
    pub grace_period_ms: u64,
    /// How long a member whose page is unloading keeps its seat: long enough for a reload to
    /// come back with its token, short enough that a closed tab's tile goes at once.
    pub reload_hold_ms: u64,
    /// What is kept for a member in grace. The bytes stay below what a connection's outbox
    /// takes at once, so that a resume always gets its `welcome` and all that was held.
    pub held: HeldLimit,
    /// Announced in `welcome`; the transport enforces it.
    pub rate: RateLimit,
    /// A room's membership changes within this long of its last `info` are told together at
    /// its end, so that churn costs each member one `info` per window, not one per change.
    pub info_window_ms: u64,
    /// How long a token stays valid. A member still connected when three quarters of it has
    /// passed is sent a fresh one. Long, so that a restarted server can restore the ids of
    /// sessions whose last token is hours old.
    pub token_ttl_ms: u64,
    /// When this server process started: a valid token issued before it comes from an earlier
    /// process with the same secret, and restores its id once.
    pub boot_time: Timestamp,
    pub secret: Vec<u8>,
    /// Seeds the generator of ids and token nonces.
    pub seed: [u8; 32],
    /// The ICE servers every member gets as they are (STUN, TURN with fixed credentials).
    pub rtc: RtcConfiguration,
    /// TURN servers behind a shared secret: each member gets credentials of its own, which
    /// expire and are renewed while it stays.
    pub turn: Option<TurnRest>,
    /// Enforced by the transport, announced by the hub.
    pub max_message_bytes: u32,
    pub ping_interval_ms: u64,
    /// How far another process's clock may run ahead of this one's: a room taken over
    /// ([`Input::Adopt`]) restores tokens issued up to this long after the takeover by this
    /// clock, which the process that issued them may have read as before it.
    pub clock_tolerance_ms: u64,
}

impl HubConfig {
    /// The defaults of PROTOCOL.md, for tests and examples; the server builds its own from flags.
    pub fn with_defaults(boot_time: Timestamp, secret: Vec<u8>, seed: [u8; 32]) -> Self {
        Self {
            rooms: RoomPolicy::Any,
            max_members: 12,
            max_senders: 24,
            uplink_kbps: 2_500,
            grace_period_ms: 20_000,
            reload_hold_ms: 1_500,
            held: HeldLimit {
                messages: 64,
                bytes: 256 * 1024,
            },
            rate: RateLimit::default(),
            info_window_ms: 100,
            token_ttl_ms: 24 * 60 * 60 * 1000,
            boot_time,
            secret,
            seed,
            rtc: RtcConfiguration::default(),
            turn: None,
            max_message_bytes: 64 * 1024,
            ping_interval_ms: 15_000,
            clock_tolerance_ms: 0,
        }
    }
}

/// Why a connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum Departure {
    /// The client closed with 1000 or 1001, or was closed for abuse: it is gone, its member
    /// leaves now.
    Left,
    /// The connection broke or went silent: the member keeps its seat for the grace period.
    Lost,
    /// The page is unloading (close code 4002): a reload or a closed tab, which the page
    /// cannot tell apart. The seat is kept for the short reload hold.
    Unloading,
}

/// What a WebSocket's query string asks for, decoded at the edge. The base format's `id` is
/// not here on purpose: ids are the server's to give.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct JoinQuery {
    pub room: Option<String>,
    /// A private room's verifier, as given: members with another (or none) are elsewhere.
    pub verifier: Option<String>,
    pub token: Option<String>,
    /// The client waits for a newcomer's offer
    /// ([`NEWCOMER_OFFERS`](super::protocol::NEWCOMER_OFFERS)); the others are told so.
    pub newcomer_offers: bool,
    /// What the client does with video; the others are told so.
    pub role: Role,
}

impl JoinQuery {
    /// The room this query asks for, read once for the hub (which then applies its room
    /// policy) and for a cluster's placement of the socket.
    pub fn room_id(&self) -> Result<RoomId, ProtocolError> {
        let name = self.room.as_deref().ok_or(ProtocolError::RoomNotSet)?;
        Ok(RoomId {
            name: RoomName::parse(name)?,
            verifier: self
                .verifier
                .as_deref()
                .map(RoomVerifier::parse)
                .transpose()?,
        })
    }
}

/// One thing that happened at the edge.
#[derive(Clone, Debug)]
pub enum Input<'a> {
    /// A WebSocket was accepted with this query.
    Connect {
        connection: ConnectionId,
        query: &'a JoinQuery,
    },
    /// A message the transport decoded and admitted under the connection's budget.
    Message {
        connection: ConnectionId,
        message: ClientMessage,
    },
    Disconnect {
        connection: ConnectionId,
        departure: Departure,
    },
    /// Time passed: a deadline the hub gave may have come.
    Tick,
    /// This hub now runs the room, which another process may have run until now (a cluster's
    /// lease on it was taken over): a valid token for the room issued before now restores its
    /// member's id once, as after a restart.
    Adopt { room: &'a RoomId },
    /// Another process runs the room now (a cluster's lease was lost while Redis was away):
    /// its members here are closed with `code`, to reconnect there with their tokens, and
    /// forgotten here without a word to anyone.
    Evict { room: &'a RoomId, code: CloseCode },
}

/// What the transport must do.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Send(ServerMessage),
    /// Send a close frame with this code and forget the connection.
    Close(CloseCode),
}

/// An action for one connection: what the hub returns.
#[derive(Clone, Debug, PartialEq)]
pub struct Outbound {
    pub to: ConnectionId,
    pub action: Action,
}

/// A room in `GET /api/rooms`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct RoomSummary {
    pub name: RoomName,
    pub members: usize,
}

/// Counts of errors sent, by protocol code.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Refusals([u64; ErrorCode::ALL.len()]);

impl Refusals {
    pub fn count(&mut self, code: ErrorCode) {
        self.add(code, 1);
    }

    pub fn add(&mut self, code: ErrorCode, n: u64) {
        if let Some(index) = code.index() {
            self.0[index] += n;
        }
    }

    pub fn get(&self, code: ErrorCode) -> u64 {
        code.index().map_or(0, |index| self.0[index])
    }
}

/// Counters for metrics; they only ever grow.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HubCounters {
    pub joins: u64,
    pub leaves: u64,
    pub resumes: u64,
    pub relayed: u64,
    /// Relayed messages dropped because a member in grace had too many waiting.
    pub held_overflow: u64,
    /// Tokens sent to members that stayed connected most of a token's lifetime.
    pub tokens_renewed: u64,
    /// `rtc` messages with fresh TURN credentials.
    pub ice_refreshes: u64,
    /// `info` messages sent.
    pub infos: u64,
    pub refused: Refusals,
}

impl HubCounters {
    pub fn refused(&self, code: ErrorCode) -> u64 {
        self.refused.get(code)
    }
}

/// Sizes for metrics, read at scrape time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HubGauges {
    pub rooms: usize,
    pub members: usize,
    pub connections: usize,
    pub in_grace: usize,
}

pub struct Hub {
    config: HubConfig,
    limits: Arc<Limits>,
    rtc: Arc<RtcConfiguration>,
    rng: ChaCha20Rng,
    rooms: Rooms,
    sessions: Sessions,
    tokens: Tokens,
    ice_refreshes: IceRefreshes,
    /// The latest time handed in: time in the hub never runs backwards, whatever the caller's
    /// clock does.
    now: Timestamp,
    counters: HubCounters,
    /// When each room taken over from another process was taken (see [`Input::Adopt`]).
    adopted: std::collections::HashMap<RoomId, Timestamp>,
}

impl Hub {
    pub fn new(config: HubConfig) -> Self {
        let limits = Arc::new(Limits {
            max_members: u32::try_from(config.max_members).unwrap_or(u32::MAX),
            max_senders: u32::try_from(config.max_senders).unwrap_or(u32::MAX),
            uplink_kbps: config.uplink_kbps,
            max_message_bytes: config.max_message_bytes,
            grace_period_ms: config.grace_period_ms,
            ping_interval_ms: config.ping_interval_ms,
            messages_per_second: config.rate.per_second,
            message_burst: config.rate.burst,
        });
        Self {
            limits,
            rtc: Arc::new(config.rtc.clone()),
            rng: ChaCha20Rng::from_seed(config.seed),
            rooms: Rooms::default(),
            sessions: Sessions::default(),
            tokens: Tokens::new(&config.secret, config.token_ttl_ms),
            ice_refreshes: IceRefreshes::default(),
            now: Timestamp(0),
            counters: HubCounters::default(),
            adopted: std::collections::HashMap::new(),
            config,
        }
    }

    /// Handles one input and returns what to send to whom, in order.
    pub fn handle(&mut self, now: Timestamp, input: Input<'_>) -> Vec<Outbound> {
        let mut out = Vec::new();
        self.handle_into(now, input, &mut out);
        out
    }

    /// Like [`Hub::handle`], appending to a buffer the caller reuses.
    pub fn handle_into(&mut self, now: Timestamp, input: Input<'_>, out: &mut Vec<Outbound>) {
        self.now = self.now.max(now);
        let now = self.now;
        // Whatever was due by now happens first, so that a deadline holds to the millisecond
        // however late the transport's timer fires: a resume just after a grace period ended
        // finds the seat gone.
        self.run_due(now, out);
        match input {
            Input::Connect { connection, query } => self.connect(now, connection, query, out),
            Input::Message {
                connection,
                message,
            } => self.receive(now, connection, message, out),
            Input::Disconnect {
                connection,
                departure,
            } => self.disconnect(now, connection, departure, out),
            Input::Tick => {}
            Input::Adopt { room } => self.adopt(now, room),
            Input::Evict { room, code } => self.evict(now, room, code, out),
        }
    }

    /// The earliest time at which the hub has work to do (a grace period ends, a token is due
    /// for renewal, a room owes an `info`): the transport sleeps until then, or until the next
    /// input, and then hands in [`Input::Tick`].
    pub fn next_deadline(&self) -> Option<Timestamp> {
        [
            self.sessions.next_end(),
            self.tokens.next_renewal(),
            self.ice_refreshes.next(),
            self.rooms.next_owed(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    pub fn rooms(&self) -> Vec<RoomSummary> {
        // Only public rooms: a private room is listed nowhere, and its members are counted in
        // no public room of the same name.
        let count = |name: &RoomName| self.rooms.members_of(&RoomId::public(name.clone())).len();
        let mut rooms: Vec<RoomSummary> = match &self.config.rooms {
            RoomPolicy::Any => self
                .rooms
                .room_names()
                .filter(|room| !room.is_private())
                .map(|room| RoomSummary {
                    name: room.name.clone(),
                    members: count(&room.name),
                })
                .collect(),
            RoomPolicy::Fixed(names) => names
                .iter()
                .map(|name| RoomSummary {
                    name: name.clone(),
                    members: count(name),
                })
                .collect(),
        };
        rooms.sort_by(|a, b| a.name.cmp(&b.name));
        rooms
    }

    /// Whether the room has members here.
    pub fn runs(&self, room: &RoomId) -> bool {
        !self.rooms.members_of(room).is_empty()
    }

    /// Every room with members, private ones included: what a cluster process holds leases on.
    pub fn room_ids(&self) -> Vec<RoomId> {
        self.rooms.room_names().cloned().collect()
    }

    pub fn counters(&self) -> &HubCounters {
        &self.counters
    }

    pub fn gauges(&self) -> HubGauges {
        HubGauges {
            rooms: self.rooms.room_count(),
            members: self.rooms.member_count(),
            connections: self.rooms.connection_count(),
            in_grace: self.sessions.count(),
        }
    }

    /// The ids of every member, sorted, for tests and fuzzing that pick targets (and replay
    /// the same picks).
    pub fn member_ids(&self) -> Vec<MemberId> {
        let mut ids: Vec<MemberId> = self.rooms.ids().cloned().collect();
        ids.sort();
        ids
    }

    /// Panics unless the hub's owners agree with each other: every connection is a member's
    /// live link, every member is in exactly one room, every session in grace and every token
    /// belongs to a member that is away or present, and nothing is past its deadline.
    pub fn check_invariants(&self) {
        self.rooms.check_invariants();
        self.sessions.check_invariants(self.config.held);
        self.tokens.check_invariants();
        self.ice_refreshes.check_invariants();
        for id in self.sessions.ids() {
            let member = self
                .rooms
                .member(id)
                .expect("a session in grace is a member's");
            assert_eq!(
                member.connection, None,
                "a member in grace has no connection"
            );
        }
        for id in self.rooms.ids() {
            let member = self.rooms.member(id).expect("listed");
            assert_eq!(
                member.connection.is_none(),
                self.sessions.in_grace(id),
                "a member is either connected or in grace"
            );
            assert_eq!(
                self.tokens.renewal_paused(id),
                self.sessions.in_grace(id),
                "tokens are renewed for connected members only"
            );
            assert_eq!(
                self.ice_refreshes.is_scheduled(id),
                self.config.turn.is_some() && !self.sessions.in_grace(id),
                "TURN credentials are renewed for connected members only"
            );
            for sender in self.sessions.held_senders(id) {
                assert!(
                    self.rooms
                        .member(sender)
                        .is_some_and(|other| other.room == member.room),
                    "what is held comes from members of the same room"
                );
            }
        }
        self.rooms.check_told();
        assert_eq!(
            self.tokens.count(),
            self.rooms.member_count(),
            "every member, and no one else, has tokens"
        );
        for id in self.tokens.ids() {
            assert!(self.rooms.contains(id), "no tokens for a member that left");
        }
        if let Some(deadline) = self.next_deadline() {
            assert!(deadline > self.now, "what was due has run");
        }
    }

    fn run_due(&mut self, now: Timestamp, out: &mut Vec<Outbound>) {
        for id in self.sessions.ended_by(now) {
            self.remove_member(now, &id, out);
        }
        for id in self.tokens.due_by(now) {
            self.renew_token(now, &id, out);
        }
        for id in self.ice_refreshes.due_by(now) {
            self.refresh_ice(now, &id, out);
        }
        for room in self.rooms.owing_by(now) {
            if self.rooms.settle(&room, now) {
                self.announce(&room, out);
            }
        }
        self.tokens
            .forget_restored_before(self.latest_adoption(), now);
    }

    /// Tokens for `room` issued before this were issued by another process (or an earlier
    /// one): they may restore their ids.
    fn restores_before(&self, room: &RoomId) -> Timestamp {
        self.adopted
            .get(room)
            .map_or(self.config.boot_time, |adopted| {
                (*adopted).max(self.config.boot_time)
            })
    }

    /// When this hub last took rooms over: until every token issued before then has expired,
    /// the ids restored must be remembered.
    fn latest_adoption(&self) -> Timestamp {
        self.adopted
            .values()
            .copied()
            .fold(self.config.boot_time, Timestamp::max)
    }

    fn evict(&mut self, now: Timestamp, room: &RoomId, code: CloseCode, out: &mut Vec<Outbound>) {
        let ids = self.rooms.members_of(room).to_vec();
        // Every socket first, so that the removals below find no one left to tell.
        for id in &ids {
            if let Some(connection) = self.rooms.member(id).and_then(|member| member.connection) {
                self.rooms.detach(connection);
                out.push(Outbound {
                    to: connection,
                    action: Action::Close(code),
                });
            }
        }
        for id in &ids {
            self.remove_member(now, id, out);
        }
    }

    fn adopt(&mut self, now: Timestamp, room: &RoomId) {
        // An adoption older than a token's lifetime restores nothing any more.
        let ttl_ms = self.config.token_ttl_ms;
        self.adopted
            .retain(|_, adopted| adopted.plus_ms(ttl_ms) > now);
        self.adopted
            .insert(room.clone(), now.plus_ms(self.config.clock_tolerance_ms));
        self.tokens.forget_restored_in(room);
    }

    fn connect(
        &mut self,
        now: Timestamp,
        connection: ConnectionId,
        query: &JoinQuery,
        out: &mut Vec<Outbound>,
    ) {
        let room = match self.admit_room(query) {
            Ok(room) => room,
            Err(error) => return self.refuse_and_close(connection, &error, out),
        };
        let presented = query.token.as_deref().map_or(Presented::Invalid, |token| {
            self.tokens.check(token, &room, now)
        });
        match presented {
            Presented::Resumes(claims) => {
                if self.resume(now, connection, &claims, query, out) {
                    return;
                }
            }
            Presented::Stale(claims)
                if claims.issued < self.restores_before(&room)
                    && self.tokens.may_restore(&claims.id) =>
            {
                let id = claims.id.clone();
                if self.join(now, connection, room, Some(id), query, out) {
                    self.tokens.restored(claims.id, claims.room);
                }
                return;
            }
            Presented::Stale(_) | Presented::Invalid => {}
        }
        self.join(now, connection, room, None, query, out);
    }

    /// A fixed room list names rooms, public or private: with `--rooms home`, a private
    /// `home` may be held too, and no other name.
    fn admit_room(&self, query: &JoinQuery) -> Result<RoomId, ProtocolError> {
        let room = query.room_id()?;
        match &self.config.rooms {
            RoomPolicy::Fixed(names) if !names.contains(&room.name) => {
                Err(ProtocolError::RoomNotFound(room.name.as_str().to_string()))
            }
            _ => Ok(room),
        }
    }

    /// Gives a session back to the holder of a token that resumes it. Returns false when it
    /// cannot, and the caller treats the connection as a newcomer.
    fn resume(
        &mut self,
        now: Timestamp,
        connection: ConnectionId,
        claims: &Claims,
        query: &JoinQuery,
        out: &mut Vec<Outbound>,
    ) -> bool {
        let Some(member) = self.rooms.member(&claims.id) else {
            return false;
        };
        // A seat is kept for the member as what it was: coming back as something that takes
        // another kind of seat (a camera reloaded as a wall) needs that seat free, or the caps
        // could be walked around one reload at a time. The caller then treats it as a newcomer,
        // whom the caps refuse.
        if self
            .seat_refusal(&claims.room, query.role, Some((&claims.id, member.role)))
            .is_some()
        {
            return false;
        }
        // The page that comes back may not be the one that left (a reload into a newer
        // client, or into another role): it is the one to say what it does. The others hear
        // of a change, or they would keep linking to it as what it was.
        let changed = self
            .rooms
            .describe(&claims.id, query.role, query.newcomer_offers);
        if let Some(replaced) = self.rooms.attach(&claims.id, connection) {
            self.refuse_and_close(replaced, &ProtocolError::SessionReplaced, out);
        }
        let held = self.sessions.end(&claims.id);
        self.counters.resumes += 1;
        let nonce = self.rng_u128();
        let token = self
            .tokens
            .issue(&claims.id, &claims.room, nonce, Some(claims.nonce), now);
        out.push(self.welcome(now, connection, &claims.id, &claims.room, token));
        // The one coming back hears who is there at once; the others, of a change, as the
        // window allows.
        let announce = changed
            && self
                .rooms
                .changed(&claims.room, now, self.config.info_window_ms);
        self.send_info(connection, &claims.id, out);
        if announce {
            self.announce(&claims.room, out);
        }
        out.extend(held.into_iter().map(|message| Outbound {
            to: connection,
            action: Action::Send(message),
        }));
        true
    }

    fn join(
        &mut self,
        now: Timestamp,
        connection: ConnectionId,
        room: RoomId,
        id: Option<MemberId>,
        query: &JoinQuery,
        out: &mut Vec<Outbound>,
    ) -> bool {
        if let Some(error) = self.seat_refusal(&room, query.role, None) {
            self.refuse_and_close(connection, &error, out);
            return false;
        }
        let id = id.unwrap_or_else(|| self.fresh_id());
        self.rooms.add(
            id.clone(),
            Member {
                room: room.clone(),
                newcomer_offers: query.newcomer_offers,
                role: query.role,
                connection: Some(connection),
                told: 0,
            },
        );
        self.counters.joins += 1;
        let nonce = self.rng_u128();
        let token = self.tokens.issue(&id, &room, nonce, None, now);
        out.push(self.welcome(now, connection, &id, &room, token));
        // The newcomer learns who is there at once; the others as the window allows.
        let announce = self.rooms.changed(&room, now, self.config.info_window_ms);
        self.send_info(connection, &id, out);
        if announce {
            self.announce(&room, out);
        }
        true
    }

    /// Why `room` has no seat for a member in `role`: each member that watches is a seat among
    /// `max_members`, and each that sends one among `max_senders` (a `both` member takes one
    /// of each). `resuming` is a member of the room coming back, and what it was: the seats it
    /// holds already are its own.
    fn seat_refusal(
        &self,
        room: &RoomId,
        role: Role,
        resuming: Option<(&MemberId, Role)>,
    ) -> Option<ProtocolError> {
        let (watching, sending) = self.rooms.seats_taken(room, resuming.map(|(id, _)| id));
        let held = resuming.map(|(_, was)| was);
        let full = |max: usize, seats: &'static str| ProtocolError::RoomFull {
            room: room.to_string(),
            max,
            seats,
        };
        if role.receives()
            && !held.is_some_and(Role::receives)
            && watching >= self.config.max_members
        {
            return Some(full(self.config.max_members, "members that watch"));
        }
        if role.sends() && !held.is_some_and(Role::sends) && sending >= self.config.max_senders {
            return Some(full(self.config.max_senders, "members that send video"));
        }
        None
    }

    fn welcome(
        &mut self,
        now: Timestamp,
        connection: ConnectionId,
        id: &MemberId,
        room: &RoomId,
        token: super::protocol::ResumeToken,
    ) -> Outbound {
        Outbound {
            to: connection,
            action: Action::Send(ServerMessage::Welcome(Box::new(Welcome {
                id: id.clone(),
                token,
                rtc: self.rtc_for(now, id),
                room: room.name.clone(),
                limits: Arc::clone(&self.limits),
            }))),
        }
    }

    /// The `RTCConfiguration` for `id`: the shared one, plus TURN credentials of its own
    /// (whose renewal this schedules) where the TURN servers take signed ones.
    fn rtc_for(&mut self, now: Timestamp, id: &MemberId) -> Arc<RtcConfiguration> {
        let Some(turn) = &self.config.turn else {
            return Arc::clone(&self.rtc);
        };
        let mut rtc = RtcConfiguration::clone(&self.rtc);
        rtc.ice_servers.push(turn.credentials(id, now));
        self.ice_refreshes
            .schedule(id, now.plus_ms(turn.refresh_in_ms()));
        Arc::new(rtc)
    }

    fn refresh_ice(&mut self, now: Timestamp, id: &MemberId, out: &mut Vec<Outbound>) {
        let Some(connection) = self.rooms.member(id).and_then(|member| member.connection) else {
            // Never scheduled for a member away or gone (the invariants say so); were it, a
            // refresh left due would keep the hub's deadline in the past.
            self.ice_refreshes.cancel(id);
            return;
        };
        self.counters.ice_refreshes += 1;
        let rtc = self.rtc_for(now, id);
        out.push(Outbound {
            to: connection,
            action: Action::Send(ServerMessage::Rtc(rtc)),
        });
    }

    fn renew_token(&mut self, now: Timestamp, id: &MemberId, out: &mut Vec<Outbound>) {
        let Some(member) = self.rooms.member(id) else {
            return;
        };
        let (room, connection) = (member.room.clone(), member.connection);
        let nonce = self.rng_u128();
        let token = self.tokens.renew(id, &room, nonce, now);
        // A member in grace gets its new token in the `welcome` of its resume; the one it has
        // stays good meanwhile.
        if let Some(connection) = connection {
            self.counters.tokens_renewed += 1;
            out.push(Outbound {
                to: connection,
                action: Action::Send(ServerMessage::Token(token)),
            });
        }
    }

    fn receive(
        &mut self,
        now: Timestamp,
        connection: ConnectionId,
        message: ClientMessage,
        out: &mut Vec<Outbound>,
    ) {
        // A connection that is not (or no longer) a member has nothing to say: it was refused
        // or replaced, and the transport is already closing it.
        let Some(sender) = self.rooms.member_on(connection).cloned() else {
            return;
        };
        let Some(room) = self.rooms.member(&sender).map(|member| member.room.clone()) else {
            return;
        };
        // Anything a member says or is sent comes after the `info` its room owes, so that no
        // one hears from a member before hearing that it is there.
        if self.rooms.settle(&room, now) {
            self.announce(&room, out);
        }
        let (target, relayed) = match message {
            ClientMessage::Ping(number) => {
                out.push(Outbound {
                    to: connection,
                    action: Action::Send(ServerMessage::Pong(number)),
                });
                return;
            }
            ClientMessage::Description {
                target,
                description,
            } => (
                target,
                ServerMessage::Description {
                    from: sender.clone(),
                    description,
                },
            ),
            ClientMessage::Candidate { target, candidate } => (
                target,
                ServerMessage::Candidate {
                    from: sender.clone(),
                    candidate,
                },
            ),
        };
        // Oneself is not a peer: relaying to the sender would hand it a message from a member
        // its `info` does not list.
        let to = match self.rooms.member(&target) {
            Some(member) if member.room == room && target != sender => member.connection,
            _ => {
                return self.refuse(connection, &ProtocolError::TargetNotFound(target), out);
            }
        };
        self.counters.relayed += 1;
        match to {
            Some(to) => out.push(Outbound {
                to,
                action: Action::Send(relayed),
            }),
            None => {
                let dropped = self.sessions.hold(&target, relayed, self.config.held);
                self.counters.held_overflow += dropped.unwrap_or(0) as u64;
            }
        }
    }

    fn disconnect(
        &mut self,
        now: Timestamp,
        connection: ConnectionId,
        departure: Departure,
        out: &mut Vec<Outbound>,
    ) {
        let Some(id) = self.rooms.detach(connection) else {
            return;
        };
        let hold_ms = match departure {
            Departure::Left => 0,
            Departure::Lost => self.config.grace_period_ms,
            Departure::Unloading => self.config.reload_hold_ms.min(self.config.grace_period_ms),
        };
        if hold_ms == 0 {
            return self.remove_member(now, &id, out);
        }
        self.tokens.pause_renewal(&id);
        self.ice_refreshes.cancel(&id);
        self.sessions.begin(id, now.plus_ms(hold_ms));
    }

    fn remove_member(&mut self, now: Timestamp, id: &MemberId, out: &mut Vec<Outbound>) {
        let Some(member) = self.rooms.remove(id) else {
            return;
        };
        self.sessions.end(id);
        self.tokens.forget(id);
        self.ice_refreshes.cancel(id);
        self.counters.leaves += 1;
        // Those away must not come back to hear from someone their `info` no longer lists.
        for other in self.rooms.members_of(&member.room) {
            self.sessions.forget_from(other, id);
        }
        if self
            .rooms
            .changed(&member.room, now, self.config.info_window_ms)
        {
            self.announce(&member.room, out);
        }
    }

    /// Tells every connected member of a room that has not heard of its latest change who is
    /// in it. A member in grace gets a fresh `info` when it resumes; nothing to hold.
    fn announce(&mut self, room: &RoomId, out: &mut Vec<Outbound>) {
        for (id, connection) in self.rooms.behind(room) {
            self.send_info(connection, &id, out);
        }
    }

    fn send_info(&mut self, connection: ConnectionId, id: &MemberId, out: &mut Vec<Outbound>) {
        if let Some(info) = self.rooms.info_for(id) {
            self.counters.infos += 1;
            out.push(Outbound {
                to: connection,
                action: Action::Send(info),
            });
        }
    }

    fn refuse(&mut self, connection: ConnectionId, error: &ProtocolError, out: &mut Vec<Outbound>) {
        self.counters.refused.count(error.code());
        out.push(Outbound {
            to: connection,
            action: Action::Send(ServerMessage::error(error)),
        });
    }

    fn refuse_and_close(
        &mut self,
        connection: ConnectionId,
        error: &ProtocolError,
        out: &mut Vec<Outbound>,
    ) {
        self.refuse(connection, error, out);
        out.push(Outbound {
            to: connection,
            action: Action::Close(error.close_code().unwrap_or(CloseCode::POLICY)),
        });
    }

    fn fresh_id(&mut self) -> MemberId {
        loop {
            let id = MemberId::new(format!("{:032x}", self.rng_u128()));
            if !self.rooms.contains(&id) && !self.tokens.was_restored(&id) {
                return id;
            }
        }
    }

    fn rng_u128(&mut self) -> u128 {
        let mut bytes = [0; 16];
        self.rng.fill_bytes(&mut bytes);
        u128::from_be_bytes(bytes)
    }
}

#[cfg(test)]
mod tests;
