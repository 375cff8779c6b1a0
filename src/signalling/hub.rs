//! The signalling core: rooms, members, sessions in grace and the relay rules.
//!
//! The hub is a state machine. It takes an [`Input`] and the current time and appends what to
//! send to whom; it owns no socket, lock, task, clock or entropy source (randomness comes from a
//! seeded generator handed in). That keeps every rule of PROTOCOL.md testable without a network
//! and lets the same code run under any transport.

use std::{
    collections::{BTreeSet, HashMap, HashSet, VecDeque},
    sync::Arc,
};

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use serde::Serialize;

use super::{
    error::{CloseCode, ErrorCode, ProtocolError},
    protocol::{
        ClientMessage, Info, Limits, MemberId, Peer, Role, RoomName, RtcConfiguration, SdpType,
        ServerMessage, Welcome,
    },
    token::{Claims, TokenSigner},
    Timestamp,
};

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

/// A token bucket per connection: `per_second` refill, `burst` capacity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub per_second: u32,
    pub burst: u32,
    /// Consecutive dropped messages after which the sender is considered abusive and closed.
    pub strikes_to_close: u32,
}

impl Default for RateLimit {
    /// Roomy enough for a newcomer negotiating with eleven peers at once (an offer and a dozen
    /// candidates each), tight enough that one tab cannot flood a room.
    fn default() -> Self {
        Self {
            per_second: 100,
            burst: 400,
            strikes_to_close: 200,
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
    /// How many relayed messages are kept for a member in grace.
    pub held_messages: usize,
    pub rate: RateLimit,
    /// How long a token stays valid. Long, so that a restarted server can restore the ids of
    /// sessions whose last welcome is hours old.
    pub token_ttl_ms: u64,
    /// When this server process started: a valid token issued before it comes from an earlier
    /// process with the same secret, and restores its id once.
    pub boot_time: Timestamp,
    pub secret: Vec<u8>,
    /// Seeds the generator of ids and token nonces.
    pub seed: [u8; 32],
    pub rtc: RtcConfiguration,
    /// Enforced by the transport, announced by the hub.
    pub max_message_bytes: u32,
    pub ping_interval_ms: u64,
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
            held_messages: 64,
            rate: RateLimit::default(),
            token_ttl_ms: 24 * 60 * 60 * 1000,
            boot_time,
            secret,
            seed,
            rtc: RtcConfiguration::default(),
            max_message_bytes: 64 * 1024,
            ping_interval_ms: 15_000,
        }
    }
}

/// Why a connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Departure {
    /// The client closed with 1000 or 1001: it is gone, its member leaves now.
    Left,
    /// The connection broke or went silent: the member keeps its seat for the grace period.
    Lost,
    /// The page is unloading (close code 4002): a reload or a closed tab, which the page
    /// cannot tell apart. The seat is kept for the short reload hold.
    Unloading,
}

/// What a WebSocket's query string asks for, decoded at the edge. The base format's `id` is
/// not here on purpose: ids are the server's to give.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JoinQuery {
    pub room: Option<String>,
    pub token: Option<String>,
    /// The client waits for a newcomer's offer
    /// ([`NEWCOMER_OFFERS`](super::protocol::NEWCOMER_OFFERS)); the others are told so.
    pub newcomer_offers: bool,
    /// What the client does with video; the others are told so.
    pub role: Role,
}

/// One thing that happened at the edge.
#[derive(Clone, Copy, Debug)]
pub enum Input<'a> {
    /// A WebSocket was accepted with this query.
    Connect {
        connection: ConnectionId,
        query: &'a JoinQuery,
    },
    Text {
        connection: ConnectionId,
        text: &'a str,
    },
    Binary {
        connection: ConnectionId,
    },
    Disconnect {
        connection: ConnectionId,
        departure: Departure,
    },
    /// Time passed; grace periods may have ended.
    Tick,
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

/// Counters for metrics; they only ever grow.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HubCounters {
    pub joins: u64,
    pub leaves: u64,
    pub resumes: u64,
    pub relayed: u64,
    /// Relayed messages dropped because a member in grace had too many waiting.
    pub held_overflow: u64,
    /// Errors sent, indexed like [`ErrorCode::ALL`].
    pub refused: [u64; ErrorCode::ALL.len()],
}

impl HubCounters {
    pub fn refused(&self, code: ErrorCode) -> u64 {
        ErrorCode::ALL
            .iter()
            .position(|known| *known == code)
            .map_or(0, |index| self.refused[index])
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

enum Link {
    Live {
        connection: ConnectionId,
        budget: RateBudget,
    },
    Grace {
        until: Timestamp,
        held: VecDeque<ServerMessage>,
    },
}

struct Member {
    room: RoomName,
    /// The nonce of the newest token handed out: only that token resumes.
    nonce: u128,
    /// Told to the others in `info`: whether this member waits for a newcomer's offer, as
    /// its newest connection said.
    newcomer_offers: bool,
    /// Told to the others in `info`, as its newest connection said.
    role: Role,
    link: Link,
}

#[derive(Default)]
struct Room {
    /// In join order, which is the order `info` lists them in.
    members: Vec<MemberId>,
}

pub struct Hub {
    config: HubConfig,
    limits: Arc<Limits>,
    rtc: Arc<RtcConfiguration>,
    signer: TokenSigner,
    rng: ChaCha20Rng,
    rooms: HashMap<RoomName, Room>,
    members: HashMap<MemberId, Member>,
    connections: HashMap<ConnectionId, MemberId>,
    in_grace: HashSet<MemberId>,
    /// Ids restored from an earlier process's tokens: each is restored once, so an old token
    /// cannot bring an id back a second time after its session ended here.
    restored: HashSet<MemberId>,
    counters: HubCounters,
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
            signer: TokenSigner::new(&config.secret),
            rng: ChaCha20Rng::from_seed(config.seed),
            rooms: HashMap::new(),
            members: HashMap::new(),
            connections: HashMap::new(),
            in_grace: HashSet::new(),
            restored: HashSet::new(),
            counters: HubCounters::default(),
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
        match input {
            Input::Connect { connection, query } => self.connect(now, connection, query, out),
            Input::Text { connection, text } => {
                if self.admit_message(now, connection, out) {
                    match ClientMessage::decode(text) {
                        Ok(message) => self.receive(connection, message, out),
                        Err(error) => self.refuse(connection, &error, out),
                    }
                }
            }
            Input::Binary { connection } => {
                if self.admit_message(now, connection, out) {
                    let error = ProtocolError::BadMessage(
                        "binary frames are not part of the protocol".into(),
                    );
                    self.refuse(connection, &error, out);
                }
            }
            Input::Disconnect {
                connection,
                departure,
            } => self.disconnect(now, connection, departure, out),
            Input::Tick => self.tick(now, out),
        }
    }

    pub fn rooms(&self) -> Vec<RoomSummary> {
        let count = |name: &RoomName| self.rooms.get(name).map_or(0, |room| room.members.len());
        let mut rooms: Vec<RoomSummary> = match &self.config.rooms {
            RoomPolicy::Any => self
                .rooms
                .keys()
                .map(|name| RoomSummary {
                    name: name.clone(),
                    members: count(name),
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

    pub fn counters(&self) -> &HubCounters {
        &self.counters
    }

    pub fn gauges(&self) -> HubGauges {
        HubGauges {
            rooms: self.rooms.len(),
            members: self.members.len(),
            connections: self.connections.len(),
            in_grace: self.in_grace.len(),
        }
    }

    /// The earliest time at which [`Input::Tick`] has work to do, so the transport can sleep.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        self.in_grace
            .iter()
            .filter_map(|id| match self.members.get(id).map(|member| &member.link) {
                Some(Link::Grace { until, .. }) => Some(*until),
                _ => None,
            })
            .min()
    }

    fn connect(
        &mut self,
        now: Timestamp,
        connection: ConnectionId,
        query: &JoinQuery,
        out: &mut Vec<Outbound>,
    ) {
        let room = match self.admit_room(query.room.as_deref()) {
            Ok(room) => room,
            Err(error) => return self.refuse_and_close(connection, &error, out),
        };
        let claims = query
            .token
            .as_deref()
            .and_then(|token| self.signer.verify(token))
            .filter(|claims| claims.room == room && now < claims.expires);
        if let Some(claims) = claims {
            if self.resume(now, connection, &claims, query, out) {
                return;
            }
            if claims.issued < self.config.boot_time
                && !self.members.contains_key(&claims.id)
                && !self.restored.contains(&claims.id)
            {
                let id = Some(claims.id.clone());
                if self.join(now, connection, room, id, query, out) {
                    self.restored.insert(claims.id);
                }
                return;
            }
        }
        self.join(now, connection, room, None, query, out);
    }

    fn admit_room(&self, room: Option<&str>) -> Result<RoomName, ProtocolError> {
        let name = room.ok_or(ProtocolError::RoomNotSet)?;
        let room = RoomName::parse(name)?;
        match &self.config.rooms {
            RoomPolicy::Fixed(names) if !names.contains(&room) => {
                Err(ProtocolError::RoomNotFound(name.to_string()))
            }
            _ => Ok(room),
        }
    }

    /// Gives a session back to the holder of its newest token. Returns false when the token does
    /// not resume anything here, and the caller decides what else it may mean.
    fn resume(
        &mut self,
        now: Timestamp,
        connection: ConnectionId,
        claims: &Claims,
        query: &JoinQuery,
        out: &mut Vec<Outbound>,
    ) -> bool {
        let nonce = self.rng_u128();
        let Some(member) = self.members.get_mut(&claims.id) else {
            return false;
        };
        if member.room != claims.room || member.nonce != claims.nonce {
            return false;
        }
        // A seat is kept for the member as what it was: coming back as something that takes
        // another kind of seat (a camera reloaded as a wall) needs that seat free, or the caps
        // could be walked around one reload at a time. The caller then treats it as a newcomer,
        // whom the caps refuse.
        let (was, now_is) = (member.role, query.role);
        let room = member.room.clone();
        if self
            .seat_refusal(&room, now_is, Some((&claims.id, was)))
            .is_some()
        {
            return false;
        }
        let Some(member) = self.members.get_mut(&claims.id) else {
            return false;
        };
        member.nonce = nonce;
        // The page that comes back may not be the one that left (a reload into a newer
        // client, or into another role): it is the one to say what it does. Its seat was kept
        // whatever its role: a reload is not a newcomer to turn away. The others hear of a
        // change, or they would keep linking to it as what it was.
        let changed = member.newcomer_offers != query.newcomer_offers || member.role != query.role;
        member.newcomer_offers = query.newcomer_offers;
        member.role = query.role;
        let live = Link::Live {
            connection,
            budget: RateBudget::full(now, &self.config.rate),
        };
        let held = match std::mem::replace(&mut member.link, live) {
            Link::Live {
                connection: replaced,
                ..
            } => {
                self.connections.remove(&replaced);
                let error = ProtocolError::SessionReplaced;
                self.count_refusal(&error);
                out.push(Outbound {
                    to: replaced,
                    action: Action::Send(ServerMessage::error(&error)),
                });
                out.push(Outbound {
                    to: replaced,
                    action: Action::Close(CloseCode::SESSION_REPLACED),
                });
                VecDeque::new()
            }
            Link::Grace { held, .. } => {
                self.in_grace.remove(&claims.id);
                held
            }
        };
        self.connections.insert(connection, claims.id.clone());
        self.counters.resumes += 1;
        out.push(self.welcome(now, connection, &claims.id, &claims.room, nonce));
        if changed {
            self.announce(&claims.room, out);
        } else if let Some(info) = self.info_for(&claims.room, &claims.id) {
            out.push(Outbound {
                to: connection,
                action: Action::Send(info),
            });
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
        room: RoomName,
        id: Option<MemberId>,
        query: &JoinQuery,
        out: &mut Vec<Outbound>,
    ) -> bool {
        if let Some(error) = self.seat_refusal(&room, query.role, None) {
            self.refuse_and_close(connection, &error, out);
            return false;
        }
        let id = id.unwrap_or_else(|| self.fresh_id());
        let nonce = self.rng_u128();
        self.members.insert(
            id.clone(),
            Member {
                room: room.clone(),
                nonce,
                newcomer_offers: query.newcomer_offers,
                role: query.role,
                link: Link::Live {
                    connection,
                    budget: RateBudget::full(now, &self.config.rate),
                },
            },
        );
        self.connections.insert(connection, id.clone());
        self.rooms
            .entry(room.clone())
            .or_default()
            .members
            .push(id.clone());
        self.counters.joins += 1;
        out.push(self.welcome(now, connection, &id, &room, nonce));
        self.announce(&room, out);
        true
    }

    /// Why `room` has no seat for a member in `role`: each member that watches is a seat among
    /// `max_members`, and each that sends one among `max_senders` (a `both` member takes one
    /// of each). `resuming` is a member of the room coming back, and what it was: the seats it
    /// holds already are its own.
    fn seat_refusal(
        &self,
        room: &RoomName,
        role: Role,
        resuming: Option<(&MemberId, Role)>,
    ) -> Option<ProtocolError> {
        let others = || {
            self.rooms
                .get(room)
                .into_iter()
                .flat_map(|room| room.members.iter())
                .filter(move |id| resuming.is_none_or(|(me, _)| *id != me))
                .filter_map(|id| self.members.get(id))
        };
        let held = resuming.map(|(_, was)| was);
        let full = |max: usize, seats: &'static str| ProtocolError::RoomFull {
            room: room.to_string(),
            max,
            seats,
        };
        if role.receives() && !held.is_some_and(Role::receives) {
            let watching = others().filter(|member| member.role.receives()).count();
            if watching >= self.config.max_members {
                return Some(full(self.config.max_members, "members that watch"));
            }
        }
        if role.sends() && !held.is_some_and(Role::sends) {
            let sending = others().filter(|member| member.role.sends()).count();
            if sending >= self.config.max_senders {
                return Some(full(self.config.max_senders, "members that send video"));
            }
        }
        None
    }

    fn welcome(
        &self,
        now: Timestamp,
        connection: ConnectionId,
        id: &MemberId,
        room: &RoomName,
        nonce: u128,
    ) -> Outbound {
        let claims = Claims {
            id: id.clone(),
            room: room.clone(),
            nonce,
            issued: now,
            expires: Timestamp(now.0.saturating_add(self.config.token_ttl_ms)),
        };
        Outbound {
            to: connection,
            action: Action::Send(ServerMessage::Welcome(Box::new(Welcome {
                id: id.clone(),
                token: self.signer.sign(&claims),
                rtc: Arc::clone(&self.rtc),
                room: room.clone(),
                limits: Arc::clone(&self.limits),
            }))),
        }
    }

    /// Charges one message to the sender's budget. Returns whether to go on with it.
    fn admit_message(
        &mut self,
        now: Timestamp,
        connection: ConnectionId,
        out: &mut Vec<Outbound>,
    ) -> bool {
        // A connection that is not (or no longer) a member has nothing to say: it was refused
        // or replaced, and the transport is already closing it.
        let Some(id) = self.connections.get(&connection) else {
            return false;
        };
        let Some(Member {
            link: Link::Live { budget, .. },
            ..
        }) = self.members.get_mut(id)
        else {
            return false;
        };
        match budget.take(now, &self.config.rate) {
            Verdict::Allowed => true,
            Verdict::Dropped => {
                self.refuse(connection, &ProtocolError::RateLimited, out);
                false
            }
            Verdict::Abusive => {
                let id = id.clone();
                self.refuse_and_close(connection, &ProtocolError::RateLimited, out);
                self.connections.remove(&connection);
                self.remove_member(&id, out);
                false
            }
        }
    }

    fn receive(
        &mut self,
        connection: ConnectionId,
        message: ClientMessage,
        out: &mut Vec<Outbound>,
    ) {
        let Some(sender) = self.connections.get(&connection) else {
            return;
        };
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
        let same_room = match (self.members.get(sender), self.members.get(&target)) {
            (Some(from), Some(to)) => from.room == to.room,
            _ => false,
        };
        if !same_room {
            return self.refuse(connection, &ProtocolError::TargetNotFound(target), out);
        }
        self.counters.relayed += 1;
        self.deliver(&target, relayed, out);
    }

    /// Sends to a member wherever it is: now if connected, on resume if in grace.
    fn deliver(&mut self, to: &MemberId, message: ServerMessage, out: &mut Vec<Outbound>) {
        let Some(member) = self.members.get_mut(to) else {
            return;
        };
        match &mut member.link {
            Link::Live { connection, .. } => out.push(Outbound {
                to: *connection,
                action: Action::Send(message),
            }),
            Link::Grace { held, .. } => {
                // A newer offer from the same sender replaces one still waiting: the sender
                // rolled the old one back (its watchdog re-offers when no answer comes), and a
                // member returning to a pile of them would answer offers no one holds any more.
                if let Some(sender) = offer_sender(&message) {
                    held.retain(|earlier| offer_sender(earlier) != Some(sender));
                }
                if held.len() >= self.config.held_messages {
                    // The oldest goes first: perfect negotiation re-offers, so the newest
                    // descriptions and candidates are the ones worth keeping.
                    held.pop_front();
                    self.counters.held_overflow += 1;
                }
                if self.config.held_messages > 0 {
                    held.push_back(message);
                }
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
        let Some(id) = self.connections.remove(&connection) else {
            return;
        };
        let hold_ms = match departure {
            Departure::Left => 0,
            Departure::Lost => self.config.grace_period_ms,
            Departure::Unloading => self.config.reload_hold_ms.min(self.config.grace_period_ms),
        };
        if hold_ms == 0 {
            return self.remove_member(&id, out);
        }
        if let Some(member) = self.members.get_mut(&id) {
            member.link = Link::Grace {
                until: Timestamp(now.0.saturating_add(hold_ms)),
                held: VecDeque::new(),
            };
            self.in_grace.insert(id);
        }
    }

    fn tick(&mut self, now: Timestamp, out: &mut Vec<Outbound>) {
        let expired: Vec<MemberId> = self
            .in_grace
            .iter()
            .filter(
                |id| match self.members.get(*id).map(|member| &member.link) {
                    Some(Link::Grace { until, .. }) => *until <= now,
                    _ => true,
                },
            )
            .cloned()
            .collect();
        for id in expired {
            self.in_grace.remove(&id);
            self.remove_member(&id, out);
        }
        // Once every token of an earlier process has expired, no restore can happen again.
        if now.0
            > self
                .config
                .boot_time
                .0
                .saturating_add(self.config.token_ttl_ms)
        {
            self.restored = HashSet::new();
        }
    }

    fn remove_member(&mut self, id: &MemberId, out: &mut Vec<Outbound>) {
        let Some(member) = self.members.remove(id) else {
            return;
        };
        self.in_grace.remove(id);
        self.counters.leaves += 1;
        if let Some(room) = self.rooms.get_mut(&member.room) {
            room.members.retain(|other| other != id);
            if room.members.is_empty() {
                self.rooms.remove(&member.room);
            }
        }
        self.announce(&member.room, out);
    }

    /// Tells every connected member of a room who else is in it.
    fn announce(&self, room: &RoomName, out: &mut Vec<Outbound>) {
        let Some(members) = self.rooms.get(room).map(|room| &room.members) else {
            return;
        };
        for receiver in members {
            // A member in grace gets a fresh `info` when it resumes; nothing to hold.
            if let Some(Member {
                link: Link::Live { connection, .. },
                ..
            }) = self.members.get(receiver)
            {
                if let Some(info) = self.info_for(room, receiver) {
                    out.push(Outbound {
                        to: *connection,
                        action: Action::Send(info),
                    });
                }
            }
        }
    }

    fn info_for(&self, room: &RoomName, receiver: &MemberId) -> Option<ServerMessage> {
        let members = &self.rooms.get(room)?.members;
        Some(ServerMessage::Info(Info {
            id: receiver.clone(),
            members: members
                .iter()
                .filter(|member| *member != receiver)
                .map(|id| {
                    let member = self.members.get(id);
                    Peer {
                        id: id.clone(),
                        polite: receiver.is_polite_towards(id),
                        newcomer_offers: member.is_some_and(|member| member.newcomer_offers),
                        role: member.map_or(Role::Both, |member| member.role),
                    }
                })
                .collect(),
        }))
    }

    fn refuse(&mut self, connection: ConnectionId, error: &ProtocolError, out: &mut Vec<Outbound>) {
        self.count_refusal(error);
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

    fn count_refusal(&mut self, error: &ProtocolError) {
        if let Some(index) = ErrorCode::ALL.iter().position(|code| *code == error.code()) {
            self.counters.refused[index] += 1;
        }
    }

    fn fresh_id(&mut self) -> MemberId {
        loop {
            let id = MemberId::new(format!("{:032x}", self.rng_u128()));
            if !self.members.contains_key(&id) && !self.restored.contains(&id) {
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Allowed,
    Dropped,
    Abusive,
}

/// A token bucket counted in thousandths of a message, so that refill needs no floats.
#[derive(Clone, Copy, Debug)]
struct RateBudget {
    milli_messages: u64,
    refilled: Timestamp,
    strikes: u32,
}

impl RateBudget {
    fn full(now: Timestamp, rate: &RateLimit) -> Self {
        Self {
            milli_messages: u64::from(rate.burst) * 1000,
            refilled: now,
            strikes: 0,
        }
    }

    fn take(&mut self, now: Timestamp, rate: &RateLimit) -> Verdict {
        // Milliseconds times messages per second is thousandths of a message.
        let elapsed_ms = now.0.saturating_sub(self.refilled.0);
        self.refilled = self.refilled.max(now);
        self.milli_messages = self
            .milli_messages
            .saturating_add(elapsed_ms.saturating_mul(u64::from(rate.per_second)))
            .min(u64::from(rate.burst) * 1000);
        if self.milli_messages >= 1000 {
            self.milli_messages -= 1000;
            self.strikes = 0;
            Verdict::Allowed
        } else {
            self.strikes += 1;
            if self.strikes >= rate.strikes_to_close {
                Verdict::Abusive
            } else {
                Verdict::Dropped
            }
        }
    }
}

/// The sender of a relayed offer; `None` for anything else. Only read for members in grace,
/// so parsing the payload again costs nothing on the live path.
fn offer_sender(message: &ServerMessage) -> Option<&MemberId> {
    match message {
        ServerMessage::Description { from, description } => description
            .parse()
            .is_ok_and(|description| description.kind == SdpType::Offer)
            .then_some(from),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
