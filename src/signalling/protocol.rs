//! The wire format of `PROTOCOL.md`, shared by the server, the browser client and the tests.
//!
//! Every frame is one JSON object whose payload sits under a key equal to its type:
//! `{"type": T, T: payload, "target"|"from": id}`. serde's enum representations cannot express
//! "the content key is the tag's value", so the envelope is read and written here, in one place,
//! and nowhere else. One enum per direction means a client message can never be mistaken for a
//! server message: the server cannot be talked into relaying an `info` or a `welcome`.

use std::{borrow::Cow, fmt, marker::PhantomData, sync::Arc};

use serde::{
    de::{self, DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, Visitor},
    ser::SerializeMap,
    Deserialize, Deserializer, Serialize, Serializer,
};
use serde_json::value::RawValue;

use super::error::{ErrorCode, ProtocolError};

/// The longest room name; longer names are refused with `room_invalid`.
pub const MAX_ROOM_NAME_LEN: usize = 64;

/// A member of a room, as the server named it.
///
/// Ids are always assigned by the server (a client-chosen id would let anyone impersonate
/// another member). Our server issues 32 lower-case hex digits, but a client must accept any
/// string: the base `@openlab/portals` server hands out UUIDs.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MemberId(Arc<str>);

impl MemberId {
    pub fn new(id: impl Into<Arc<str>>) -> Self {
        Self(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The perfect-negotiation role of `self` towards `other`: the side with the larger id
    /// (compared byte-wise, as JavaScript compares these ASCII strings) is polite, so both ends
    /// of a pair compute opposite answers without talking to each other.
    pub fn is_polite_towards(&self, other: &MemberId) -> bool {
        self.0.as_bytes() > other.0.as_bytes()
    }

    /// A few characters to tell members apart on screen.
    pub fn short(&self) -> &str {
        let end = self
            .0
            .char_indices()
            .nth(6)
            .map_or(self.0.len(), |(index, _)| index);
        &self.0[..end]
    }
}

impl fmt::Debug for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MemberId({})", self.0)
    }
}

impl fmt::Display for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A room name that passed validation: 1–64 characters of `a-z A-Z 0-9 - _ .`.
///
/// Holding a `RoomName` proves the name is valid, so no code past the edge re-checks it.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct RoomName(Arc<str>);

impl RoomName {
    pub fn parse(name: &str) -> Result<Self, ProtocolError> {
        let valid_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        if name.is_empty() || name.len() > MAX_ROOM_NAME_LEN || !name.chars().all(valid_char) {
            return Err(ProtocolError::RoomInvalid);
        }
        Ok(Self(name.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for RoomName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = Cow::<str>::deserialize(deserializer)?;
        RoomName::parse(&name).map_err(de::Error::custom)
    }
}

impl fmt::Debug for RoomName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RoomName({})", self.0)
    }
}

impl fmt::Display for RoomName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An opaque resume token, handed out in `welcome` and presented as `?token=` to resume.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ResumeToken(String);

impl ResumeToken {
    pub fn new(token: String) -> Self {
        Self(token)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ResumeToken {
    /// Tokens are credentials: keep them out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResumeToken(…)")
    }
}

/// `RTCSdpType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SdpType {
    Offer,
    Pranswer,
    Answer,
    Rollback,
}

/// `RTCSessionDescriptionInit`: relayed as-is between two members.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionDescription {
    #[serde(rename = "type")]
    pub kind: SdpType,
    /// Empty for a rollback.
    #[serde(default)]
    pub sdp: String,
}

/// `RTCIceCandidateInit`: relayed as-is between two members.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceCandidate {
    #[serde(default)]
    pub candidate: String,
    #[serde(rename = "sdpMid", default, skip_serializing_if = "Option::is_none")]
    pub sdp_mid: Option<String>,
    #[serde(
        rename = "sdpMLineIndex",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub sdp_m_line_index: Option<u16>,
    #[serde(
        rename = "usernameFragment",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub username_fragment: Option<String>,
}

/// What one member sends another through the server: a `description` or a `candidate`.
///
/// The server checks once, on arrival, that the payload has the shape of `T` (a malformed one
/// gets `bad_message` and never reaches the other member), then passes on the very JSON the
/// sender wrote. Rebuilding it would cost an unescape and an escape of every SDP (a few KiB
/// each) and would drop any field a newer browser adds that this version does not know. The
/// receiving client reads the `T` out with [`Relayed::parse`].
pub struct Relayed<T> {
    json: Box<RawValue>,
    shape: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> Relayed<T> {
    /// Checks that `json` has the shape of `T` and keeps it as it is.
    pub fn from_json(json: Box<RawValue>) -> Result<Self, serde_json::Error> {
        serde_json::from_str::<T>(json.get())?;
        Ok(Self {
            json,
            shape: PhantomData,
        })
    }

    /// The payload itself. It was checked when it was decoded, so this fails only for one
    /// that no check has seen (a server that does not check relaying a bad peer's message).
    pub fn parse(&self) -> Result<T, ProtocolError> {
        serde_json::from_str(self.json.get())
            .map_err(|error| ProtocolError::BadMessage(format!("relayed payload: {error}")))
    }
}

impl<T> Relayed<T> {
    /// A payload of another shape under `T`'s type, which this process built itself and whose
    /// shape is `T`'s (a private room's sealed payload): checking it again would only cost a
    /// parse of every sealed SDP.
    pub fn built(payload: &impl Serialize) -> Self {
        Self {
            // Payloads are plain structs with string keys: serialising them cannot fail.
            json: serde_json::value::to_raw_value(payload).expect("payloads serialise to JSON"),
            shape: PhantomData,
        }
    }
}

impl<T: Serialize> Relayed<T> {
    pub fn new(value: &T) -> Self {
        Self {
            // Payloads are plain structs with string keys: serialising them cannot fail.
            json: serde_json::value::to_raw_value(value).expect("payloads serialise to JSON"),
            shape: PhantomData,
        }
    }
}

impl<T> Relayed<T> {
    pub fn json(&self) -> &str {
        self.json.get()
    }
}

impl<T> Clone for Relayed<T> {
    fn clone(&self) -> Self {
        Self {
            json: self.json.clone(),
            shape: PhantomData,
        }
    }
}

impl<T> PartialEq for Relayed<T> {
    /// The same JSON value, whatever the key order or spacing (for tests; nothing on the relay
    /// path compares payloads).
    fn eq(&self, other: &Self) -> bool {
        let value = |json: &RawValue| serde_json::from_str::<serde_json::Value>(json.get()).ok();
        self.json.get() == other.json.get() || value(&self.json) == value(&other.json)
    }
}

impl<T> fmt::Debug for Relayed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Relayed({})", self.json.get())
    }
}

impl<T> Serialize for Relayed<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.json.serialize(serializer)
    }
}

/// One entry of `RTCConfiguration.iceServers`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    #[serde(deserialize_with = "one_or_many")]
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// The part of `RTCConfiguration` the server hands to clients. No ICE servers means host
/// candidates only, which is all one LAN needs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RtcConfiguration {
    #[serde(rename = "iceServers", default)]
    pub ice_servers: Vec<IceServer>,
    /// **ext** `relay` makes every link go through a TURN server: neither side learns the
    /// other's addresses. Absent: the browser's default (`all`).
    #[serde(
        rename = "iceTransportPolicy",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub ice_transport_policy: Option<IceTransportPolicy>,
}

/// `RTCIceTransportPolicy`: which candidates ICE may use (also `--ice-transport-policy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum IceTransportPolicy {
    /// Relayed candidates only (TURN).
    Relay,
    /// Every kind of candidate.
    All,
}

/// The limits a server enforces, announced in `welcome` so that a client can pace itself and
/// knows how long the server keeps its seat after a drop.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    /// The most members of a room that watch: `both` and `wall` members.
    pub max_members: u32,
    /// **ext** The most members of a room that send video: `both` and `camera` members (see
    /// [`Role`]). Absent from an older server.
    #[serde(default)]
    pub max_senders: u32,
    /// **ext** What each client may send in total over its links, in kbit/s: each link gets a
    /// share sized to what its receiver shows. Absent (0) from an older server: the client's
    /// default.
    #[serde(default)]
    pub uplink_kbps: u32,
    pub max_message_bytes: u32,
    pub grace_period_ms: u64,
    pub ping_interval_ms: u64,
    pub messages_per_second: u32,
    pub message_burst: u32,
}

/// **ext** The first message on every (re)connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    pub id: MemberId,
    pub token: ResumeToken,
    pub rtc: Arc<RtcConfiguration>,
    pub room: RoomName,
    pub limits: Arc<Limits>,
}

/// The query parameter (`…&newcomer_offers=1`) and `info` field (ext) of a client that, once in
/// a room, waits for each newcomer's offer rather than offering to it.
///
/// The two sides of a pair must not make their first offers at once: Chromium never gathers ICE
/// candidates on a connection whose very first offer was rolled back in a collision, and that
/// pair gets no video. Our clients agree that the newcomer offers. A base `@openlab/portals`
/// client instead offers to everyone on every `info`; a newcomer whose server sent `welcome`
/// (ours, which passes this on) tells it apart by this field's absence, and waits for its offer.
pub const NEWCOMER_OFFERS: &str = "newcomer_offers";

/// The query parameter (`…&role=camera`) and `info` field (ext) that say what a member does
/// with video.
pub const ROLE: &str = "role";

/// **ext** What a member does with video. A CCTV wall is a few screens watching many cameras:
/// a camera that decoded every other camera, or a wall that encoded for every screen, would
/// spend the room's CPU and uplinks on video nobody looks at.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Sends its camera, receives nothing.
    Camera,
    /// Receives everyone's video, sends nothing, never asks for a camera.
    Wall,
    /// Sends and receives: what every member was before roles, and what a member that says
    /// nothing (a base `@openlab/portals` client) is.
    #[default]
    Both,
}

impl Role {
    /// The query parameter's value; anything else (or nothing) is [`Role::Both`], as for a
    /// client that knows no roles.
    pub fn parse(text: &str) -> Self {
        match text {
            "camera" => Role::Camera,
            "wall" => Role::Wall,
            _ => Role::Both,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Camera => "camera",
            Role::Wall => "wall",
            Role::Both => "both",
        }
    }

    pub fn sends(self) -> bool {
        self != Role::Wall
    }

    pub fn receives(self) -> bool {
        self != Role::Camera
    }

    /// Whether two members hold a peer connection: only where one sends to the other, which
    /// receives. Two cameras, or two walls, have nothing to say to each other.
    pub fn links_with(self, other: Role) -> bool {
        (self.sends() && other.receives()) || (other.sends() && self.receives())
    }

    fn is_both(&self) -> bool {
        *self == Role::Both
    }
}

/// One other member, as seen by the receiver of an `info`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peer {
    pub id: MemberId,
    /// The receiver's role towards this member in perfect negotiation.
    pub polite: bool,
    /// See [`NEWCOMER_OFFERS`]; absent (false) for a client that offers on its own.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub newcomer_offers: bool,
    /// See [`Role`]; absent for `both`, which is what a member without it is.
    #[serde(default, skip_serializing_if = "Role::is_both")]
    pub role: Role,
}

/// The room's membership as seen by its receiver, who is never listed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Info {
    pub id: MemberId,
    pub members: Vec<Peer>,
}

/// The payload of `error`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReport {
    pub code: ErrorCode,
    /// **ext** For people; programs look at `code`.
    #[serde(default)]
    pub message: String,
}

impl From<&ProtocolError> for ErrorReport {
    fn from(error: &ProtocolError) -> Self {
        Self {
            code: error.code(),
            message: error.to_string(),
        }
    }
}

/// Everything a client may send. Only these three types exist in this direction.
#[derive(Clone, Debug, PartialEq)]
pub enum ClientMessage {
    Ping(serde_json::Number),
    Description {
        target: MemberId,
        description: Relayed<SessionDescription>,
    },
    Candidate {
        target: MemberId,
        /// `null` is end-of-candidates.
        candidate: Relayed<Option<IceCandidate>>,
    },
}

/// Everything a server may send.
#[derive(Clone, Debug, PartialEq)]
pub enum ServerMessage {
    Welcome(Box<Welcome>),
    Info(Info),
    Description {
        from: MemberId,
        description: Relayed<SessionDescription>,
    },
    Candidate {
        from: MemberId,
        candidate: Relayed<Option<IceCandidate>>,
    },
    Pong(serde_json::Number),
    Error(ErrorReport),
    /// **ext** A fresh resume token for a member that has stayed connected most of its
    /// token's lifetime: the one to present from now on.
    Token(ResumeToken),
    /// **ext** A fresh `RTCConfiguration` (TURN credentials that expire, renewed before they
    /// do): for every connection from now on, and for the next ICE restart of those open.
    Rtc(Arc<RtcConfiguration>),
}

impl ClientMessage {
    const TYPES: [&'static str; 3] = ["ping", "description", "candidate"];

    pub fn kind(&self) -> &'static str {
        match self {
            ClientMessage::Ping(_) => "ping",
            ClientMessage::Description { .. } => "description",
            ClientMessage::Candidate { .. } => "candidate",
        }
    }

    /// Reads one text frame, with the protocol's error for each way it can be wrong.
    pub fn decode(text: &str) -> Result<Self, ProtocolError> {
        let envelope = Envelope::read(text, &Self::TYPES, "target")?;
        let kind = envelope.kind.as_ref();
        let target = || -> Result<MemberId, ProtocolError> {
            envelope
                .peer
                .clone()
                .ok_or_else(|| ProtocolError::TargetNotSet(Self::static_kind(kind)))
        };
        match kind {
            "ping" => Ok(ClientMessage::Ping(envelope.payload(kind)?)),
            "description" => Ok(ClientMessage::Description {
                target: target()?,
                description: envelope.relayed(kind)?,
            }),
            "candidate" => Ok(ClientMessage::Candidate {
                target: target()?,
                candidate: envelope.relayed(kind)?,
            }),
            _ => Err(ProtocolError::UnknownType(truncated(kind))),
        }
    }

    fn static_kind(kind: &str) -> &'static str {
        Self::TYPES
            .into_iter()
            .find(|known| *known == kind)
            .unwrap_or("message")
    }

    pub fn encode(&self) -> String {
        encode(self)
    }
}

impl Serialize for ClientMessage {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ClientMessage::Ping(number) => write_envelope(serializer, "ping", number, None),
            ClientMessage::Description {
                target,
                description,
            } => write_envelope(
                serializer,
                "description",
                description,
                Some(("target", target)),
            ),
            ClientMessage::Candidate { target, candidate } => {
                write_envelope(serializer, "candidate", candidate, Some(("target", target)))
            }
        }
    }
}

impl ServerMessage {
    const TYPES: [&'static str; 8] = [
        "welcome",
        "info",
        "description",
        "candidate",
        "pong",
        "error",
        "token",
        "rtc",
    ];

    pub fn kind(&self) -> &'static str {
        match self {
            ServerMessage::Welcome(_) => "welcome",
            ServerMessage::Info(_) => "info",
            ServerMessage::Description { .. } => "description",
            ServerMessage::Candidate { .. } => "candidate",
            ServerMessage::Pong(_) => "pong",
            ServerMessage::Error(_) => "error",
            ServerMessage::Token(_) => "token",
            ServerMessage::Rtc(_) => "rtc",
        }
    }

    pub fn error(error: &ProtocolError) -> Self {
        ServerMessage::Error(ErrorReport::from(error))
    }

    /// The bytes of relayed payload this holds: the part of a message whose size a client
    /// chooses, which is what buffers for a member are bounded by. The rest is small and
    /// bounded by the count of messages.
    pub fn payload_len(&self) -> usize {
        match self {
            ServerMessage::Description { description, .. } => description.json().len(),
            ServerMessage::Candidate { candidate, .. } => candidate.json().len(),
            _ => 0,
        }
    }

    /// Reads one text frame from a server. An unknown type is reported as `unknown_type` so
    /// that a client can skip messages from a newer server.
    pub fn decode(text: &str) -> Result<Self, ProtocolError> {
        let envelope = Envelope::read(text, &Self::TYPES, "from")?;
        let kind = envelope.kind.as_ref();
        let from = || {
            envelope
                .peer
                .clone()
                .ok_or_else(|| ProtocolError::BadMessage(format!("a relayed {kind} needs `from`")))
        };
        match kind {
            "welcome" => Ok(ServerMessage::Welcome(Box::new(envelope.payload(kind)?))),
            "info" => Ok(ServerMessage::Info(envelope.payload(kind)?)),
            "description" => Ok(ServerMessage::Description {
                from: from()?,
                description: envelope.relayed(kind)?,
            }),
            "candidate" => Ok(ServerMessage::Candidate {
                from: from()?,
                candidate: envelope.relayed(kind)?,
            }),
            "pong" => Ok(ServerMessage::Pong(envelope.payload(kind)?)),
            "error" => Ok(ServerMessage::Error(envelope.payload(kind)?)),
            "token" => Ok(ServerMessage::Token(envelope.payload(kind)?)),
            "rtc" => Ok(ServerMessage::Rtc(envelope.payload(kind)?)),
            _ => Err(ProtocolError::UnknownType(truncated(kind))),
        }
    }

    pub fn encode(&self) -> String {
        encode(self)
    }
}

impl Serialize for ServerMessage {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ServerMessage::Welcome(welcome) => write_envelope(serializer, "welcome", welcome, None),
            ServerMessage::Info(info) => write_envelope(serializer, "info", info, None),
            ServerMessage::Description { from, description } => {
                write_envelope(serializer, "description", description, Some(("from", from)))
            }
            ServerMessage::Candidate { from, candidate } => {
                write_envelope(serializer, "candidate", candidate, Some(("from", from)))
            }
            ServerMessage::Pong(number) => write_envelope(serializer, "pong", number, None),
            ServerMessage::Error(report) => write_envelope(serializer, "error", report, None),
            ServerMessage::Token(token) => write_envelope(serializer, "token", token, None),
            ServerMessage::Rtc(rtc) => write_envelope(serializer, "rtc", rtc, None),
        }
    }
}

fn encode(message: &impl Serialize) -> String {
    // Serialising plain structs with string keys into a String has no failure mode: serde_json
    // only fails on non-string map keys and on errors raised by custom Serialize impls.
    serde_json::to_string(message).expect("protocol messages always serialise to JSON")
}

fn write_envelope<S: Serializer, P: Serialize + ?Sized>(
    serializer: S,
    kind: &str,
    payload: &P,
    peer: Option<(&str, &MemberId)>,
) -> Result<S::Ok, S::Error> {
    let mut map = serializer.serialize_map(Some(if peer.is_some() { 3 } else { 2 }))?;
    map.serialize_entry("type", kind)?;
    map.serialize_entry(kind, payload)?;
    if let Some((key, id)) = peer {
        map.serialize_entry(key, id)?;
    }
    map.end()
}

/// Keeps an attacker-chosen type name from growing our error messages without bound.
fn truncated(kind: &str) -> String {
    kind.chars().take(32).collect()
}

fn one_or_many<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(url) => vec![url],
        OneOrMany::Many(urls) => urls,
    })
}

/// A frame split into its type, its payload (still raw JSON) and its peer id, without parsing
/// any value that is not needed. The payload is borrowed from the frame: no copy until the one
/// typed parse of the payload that the type calls for.
struct Envelope<'a> {
    kind: Cow<'a, str>,
    payload: Option<&'a RawValue>,
    peer: Option<MemberId>,
}

impl<'a> Envelope<'a> {
    fn read(
        text: &'a str,
        known_types: &'static [&'static str],
        peer_key: &'static str,
    ) -> Result<Self, ProtocolError> {
        let seed = EnvelopeSeed {
            known_types,
            peer_key,
        };
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let fields = seed
            .deserialize(&mut deserializer)
            .and_then(|fields| deserializer.end().map(|()| fields))
            .map_err(|error| ProtocolError::BadMessage(error.to_string()))?;
        let kind = fields
            .kind
            .ok_or_else(|| ProtocolError::BadMessage("`type` is missing".into()))?;
        let payload = known_types
            .iter()
            .position(|known| *known == kind)
            .and_then(|index| fields.payloads[index]);
        Ok(Envelope {
            kind,
            payload,
            peer: fields.peer,
        })
    }

    fn payload<T: Deserialize<'a>>(&self, kind: &str) -> Result<T, ProtocolError> {
        serde_json::from_str(self.raw_payload(kind)?.get())
            .map_err(|error| bad_payload(kind, error))
    }

    /// The payload kept as the sender wrote it, once its shape is checked.
    fn relayed<T: DeserializeOwned>(&self, kind: &str) -> Result<Relayed<T>, ProtocolError> {
        Relayed::from_json(self.raw_payload(kind)?.to_owned())
            .map_err(|error| bad_payload(kind, error))
    }

    fn raw_payload(&self, kind: &str) -> Result<&'a RawValue, ProtocolError> {
        self.payload
            .ok_or_else(|| ProtocolError::BadMessage(format!("`{kind}` payload is missing")))
    }
}

fn bad_payload(kind: &str, error: serde_json::Error) -> ProtocolError {
    ProtocolError::BadMessage(format!("`{kind}` payload: {error}"))
}

/// The most types one direction has: the envelope keeps a payload slot for each.
const MOST_TYPES: usize = 8;
const _: () = assert!(
    ClientMessage::TYPES.len() <= MOST_TYPES && ServerMessage::TYPES.len() <= MOST_TYPES,
    "a direction has more types than the envelope has slots"
);

/// What the envelope visitor collects: at most one raw payload per known type, because the
/// payload key may come before `type` in the object.
struct EnvelopeFields<'a> {
    kind: Option<Cow<'a, str>>,
    payloads: [Option<&'a RawValue>; MOST_TYPES],
    peer: Option<MemberId>,
}

struct EnvelopeSeed {
    known_types: &'static [&'static str],
    peer_key: &'static str,
}

impl<'de> DeserializeSeed<'de> for EnvelopeSeed {
    type Value = EnvelopeFields<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EnvelopeSeed {
    type Value = EnvelopeFields<'de>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a JSON object with a string `type`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = EnvelopeFields {
            kind: None,
            payloads: [None; MOST_TYPES],
            peer: None,
        };
        while let Some(key) = map.next_key::<Key<'de>>()? {
            let key = key.0.as_ref();
            if key == "type" {
                fields.kind = Some(map.next_value::<Key<'de>>()?.0);
            } else if key == self.peer_key {
                // JavaScript treats a null or empty peer as "no peer"; so do we.
                let peer = map.next_value::<Option<Key<'de>>>()?;
                fields.peer = peer
                    .filter(|peer| !peer.0.is_empty())
                    .map(|peer| MemberId::new(peer.0.as_ref()));
            } else if let Some(index) = self.known_types.iter().position(|known| *known == key) {
                fields.payloads[index] = Some(map.next_value::<&'de RawValue>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(fields)
    }
}

/// A JSON string that borrows from the frame when it has no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a string")
            }

            fn visit_borrowed_str<E: de::Error>(self, value: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(value)))
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(value.to_owned())))
            }

            fn visit_string<E: de::Error>(self, value: String) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(value)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn id(text: &str) -> MemberId {
        MemberId::new(text)
    }

    #[test]
    fn decodes_the_base_clients_frames() {
        // Exactly what @openlab/portals' SignalingChannel.send writes.
        let ping = r#"{"type":"ping","ping":7}"#;
        assert_eq!(
            ClientMessage::decode(ping).unwrap(),
            ClientMessage::Ping(7.into())
        );

        let offer = json!({
            "type": "description",
            "description": {"type": "offer", "sdp": "v=0\r\n"},
            "target": "b",
        });
        assert_eq!(
            ClientMessage::decode(&offer.to_string()).unwrap(),
            ClientMessage::Description {
                target: id("b"),
                description: Relayed::new(&SessionDescription {
                    kind: SdpType::Offer,
                    sdp: "v=0\r\n".into()
                }),
            }
        );

        let candidate = json!({
            "type": "candidate",
            "candidate": {"candidate": "candidate:1 1 udp 2122260223 10.0.0.1 5000 typ host",
                          "sdpMid": "0", "sdpMLineIndex": 0, "usernameFragment": "abcd"},
            "target": "b",
        });
        let decoded = ClientMessage::decode(&candidate.to_string()).unwrap();
        let ClientMessage::Candidate { candidate, .. } = decoded else {
            panic!("expected a candidate, got {decoded:?}");
        };
        let candidate = candidate.parse().unwrap().unwrap();
        assert_eq!(candidate.sdp_mid.as_deref(), Some("0"));
        assert_eq!(candidate.sdp_m_line_index, Some(0));

        let end_of_candidates = r#"{"type":"candidate","candidate":null,"target":"b"}"#;
        assert_eq!(
            ClientMessage::decode(end_of_candidates).unwrap(),
            ClientMessage::Candidate {
                target: id("b"),
                candidate: Relayed::new(&None)
            }
        );
    }

    #[test]
    fn a_relayed_payload_is_passed_on_as_the_sender_wrote_it() {
        // Spacing, key order and a field this version does not know all survive the relay.
        let text = r#"{"type":"candidate","target":"b","candidate": {"sdpMid":"0", "candidate":"candidate:1","futureField":[1]}}"#;
        let ClientMessage::Candidate { candidate, .. } = ClientMessage::decode(text).unwrap()
        else {
            panic!("expected a candidate");
        };
        let relayed = ServerMessage::Candidate {
            from: id("a"),
            candidate,
        }
        .encode();
        assert!(
            relayed.contains(
                r#""candidate":{"sdpMid":"0", "candidate":"candidate:1","futureField":[1]}"#
            ),
            "{relayed}"
        );
    }

    #[test]
    fn the_payload_may_come_before_the_type() {
        let text = r#"{"target":"b","candidate":null,"extra":[1,2],"type":"candidate"}"#;
        assert!(matches!(
            ClientMessage::decode(text).unwrap(),
            ClientMessage::Candidate { candidate, .. } if candidate.json() == "null"
        ));
    }

    #[test]
    fn a_from_sent_by_a_client_is_ignored() {
        let text = r#"{"type":"ping","ping":1,"from":"someone-else"}"#;
        assert_eq!(
            ClientMessage::decode(text).unwrap(),
            ClientMessage::Ping(1.into())
        );
    }

    #[test]
    fn each_malformed_frame_has_its_error_code() {
        let cases = [
            ("not json", ErrorCode::BadMessage),
            ("[1,2]", ErrorCode::BadMessage),
            ("\"ping\"", ErrorCode::BadMessage),
            ("{}", ErrorCode::BadMessage),
            (r#"{"type":5}"#, ErrorCode::BadMessage),
            (r#"{"type":"ping"}"#, ErrorCode::BadMessage),
            (r#"{"type":"ping","ping":"x"}"#, ErrorCode::BadMessage),
            (
                r#"{"type":"description","description":{"sdp":"x"},"target":"b"}"#,
                ErrorCode::BadMessage,
            ),
            (
                r#"{"type":"description","description":{"type":"offer","sdp":"x"},"target":7}"#,
                ErrorCode::BadMessage,
            ),
            (
                r#"{"type":"ping","ping":1} trailing"#,
                ErrorCode::BadMessage,
            ),
            (
                r#"{"type":"info","info":{"id":"x","members":[]}}"#,
                ErrorCode::UnknownType,
            ),
            (r#"{"type":"welcome","welcome":{}}"#, ErrorCode::UnknownType),
            (r#"{"type":"pong","pong":1}"#, ErrorCode::UnknownType),
            (
                r#"{"type":"error","error":{"code":"x"}}"#,
                ErrorCode::UnknownType,
            ),
            (
                r#"{"type":"description","description":{"type":"offer","sdp":"x"}}"#,
                ErrorCode::TargetNotSet,
            ),
            (
                r#"{"type":"candidate","candidate":null,"target":null}"#,
                ErrorCode::TargetNotSet,
            ),
            (
                r#"{"type":"candidate","candidate":null,"target":""}"#,
                ErrorCode::TargetNotSet,
            ),
        ];
        for (text, code) in cases {
            let error = ClientMessage::decode(text).expect_err(text);
            assert_eq!(error.code(), code, "{text}: {error}");
        }
    }

    fn info_of_a_base_client_and_one_of_ours() -> ServerMessage {
        ServerMessage::Info(Info {
            id: id("a"),
            members: vec![
                Peer {
                    id: id("b"),
                    polite: false,
                    newcomer_offers: false,
                    role: Role::Both,
                },
                Peer {
                    id: id("c"),
                    polite: true,
                    newcomer_offers: true,
                    role: Role::Camera,
                },
                Peer {
                    id: id("d"),
                    polite: true,
                    newcomer_offers: true,
                    role: Role::Wall,
                },
            ],
        })
    }

    #[test]
    fn server_messages_round_trip_in_the_base_envelope() {
        let messages = [
            info_of_a_base_client_and_one_of_ours(),
            ServerMessage::Candidate {
                from: id("b"),
                candidate: Relayed::new(&None),
            },
            ServerMessage::Pong(3.into()),
            ServerMessage::Token(ResumeToken::new("abc.def".into())),
            ServerMessage::Rtc(Arc::new(RtcConfiguration {
                ice_servers: vec![IceServer {
                    urls: vec!["turn:127.0.0.1:3478".into()],
                    username: Some("1795521387:a".into()),
                    credential: Some("c2VjcmV0".into()),
                }],
                ice_transport_policy: Some(IceTransportPolicy::Relay),
            })),
            ServerMessage::error(&ProtocolError::RoomFull {
                room: "home".into(),
                max: 12,
                seats: "members that watch",
            }),
        ];
        for message in messages {
            let text = message.encode();
            assert_eq!(ServerMessage::decode(&text).unwrap(), message, "{text}");
        }
        assert_eq!(
            ServerMessage::Rtc(Arc::new(RtcConfiguration {
                ice_servers: vec![],
                ice_transport_policy: Some(IceTransportPolicy::Relay),
            }))
            .encode(),
            r#"{"type":"rtc","rtc":{"iceServers":[],"iceTransportPolicy":"relay"}}"#,
            "the field names of RTCConfiguration, so that a client can pass it on as it is"
        );

        let relayed = ServerMessage::Description {
            from: id("a"),
            description: Relayed::new(&SessionDescription {
                kind: SdpType::Answer,
                sdp: "v=0".into(),
            }),
        };
        let value: serde_json::Value = serde_json::from_str(&relayed.encode()).unwrap();
        assert_eq!(
            value,
            json!({"type": "description", "description": {"type": "answer", "sdp": "v=0"}, "from": "a"})
        );
        // The ext fields are left out when false or `both`: a base client's entry is the base
        // format's.
        let info: serde_json::Value =
            serde_json::from_str(&info_of_a_base_client_and_one_of_ours().encode()).unwrap();
        assert_eq!(
            info,
            json!({"type": "info", "info": {"id": "a", "members": [
                {"id": "b", "polite": false},
                {"id": "c", "polite": true, "newcomer_offers": true, "role": "camera"},
                {"id": "d", "polite": true, "newcomer_offers": true, "role": "wall"},
            ]}})
        );
    }

    #[test]
    fn only_a_sender_and_a_receiver_hold_a_link() {
        use Role::*;
        let linked = |a: Role, b: Role| (a.links_with(b), b.links_with(a));
        assert_eq!(linked(Camera, Wall), (true, true));
        assert_eq!(linked(Camera, Both), (true, true));
        assert_eq!(linked(Wall, Both), (true, true));
        assert_eq!(linked(Both, Both), (true, true));
        assert_eq!(linked(Camera, Camera), (false, false));
        assert_eq!(linked(Wall, Wall), (false, false));
        assert_eq!(Role::parse("camera"), Camera);
        assert_eq!(Role::parse("wall"), Wall);
        assert_eq!(
            Role::parse("tv"),
            Both,
            "an unknown role is what a client without one is"
        );
        // A member entry without the field is a base client's: both.
        let peer: Peer = serde_json::from_value(json!({"id": "b", "polite": true})).unwrap();
        assert_eq!(peer.role, Both);
    }

    #[test]
    fn client_messages_round_trip() {
        let message = ClientMessage::Candidate {
            target: id("z"),
            candidate: Relayed::new(&Some(IceCandidate {
                candidate: "candidate:1".into(),
                sdp_mid: Some("0".into()),
                sdp_m_line_index: Some(0),
                username_fragment: None,
            })),
        };
        assert_eq!(ClientMessage::decode(&message.encode()).unwrap(), message);
    }

    #[test]
    fn a_newer_servers_unknown_error_code_still_decodes() {
        let text = r#"{"type":"error","error":{"code":"brand_new"}}"#;
        let ServerMessage::Error(report) = ServerMessage::decode(text).unwrap() else {
            panic!("expected an error");
        };
        assert_eq!(report.code, ErrorCode::Other);
    }

    #[test]
    fn ice_server_urls_may_be_one_string() {
        let server: IceServer = serde_json::from_str(r#"{"urls":"stun:example.org"}"#).unwrap();
        assert_eq!(server.urls, vec!["stun:example.org".to_string()]);
    }

    #[test]
    fn room_names_are_validated() {
        for good in ["home", "coffee-chat", "a", "A.b_c-9", &"x".repeat(64)] {
            assert!(RoomName::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "has space", "slash/", "ünï", &"x".repeat(65), "a?b"] {
            assert_eq!(
                RoomName::parse(bad),
                Err(ProtocolError::RoomInvalid),
                "{bad}"
            );
        }
    }

    #[test]
    fn politeness_is_antisymmetric_and_bytewise() {
        let (a, b) = (id("0a"), id("0b"));
        assert!(b.is_polite_towards(&a));
        assert!(!a.is_polite_towards(&b));
        // Upper case sorts before lower case byte-wise, as in JavaScript.
        assert!(id("a").is_polite_towards(&id("B")));
    }
}
