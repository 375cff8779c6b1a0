//! Private rooms (PROTOCOL.md, "Private rooms"): what a room key derives, and how a
//! `description` or `candidate` is sealed and opened, shared by the server (which only ever
//! sees a verifier) and the browser (which derives and seals with this very code).
//!
//! RustCrypto's `hkdf` and `aes-gcm` (through `crates/sealing`), not WebCrypto: they are
//! synchronous, so the verifier is there when the page opens its socket and each message is
//! sealed or opened in its turn as the mesh handles it. WebCrypto's promises settle in no set order and each waited behind a
//! starting page's other tasks: its derivation held the join back 15–22 ms and each sealed hop
//! 10–25 ms, and the first picture paid for all of it (measured with `timing.spec.ts`). A
//! non-extractable `CryptoKey` would have guarded nothing either: the room key it comes from is
//! in the page's URL. The tests pin the derivations and the sealed bytes with fixed vectors
//! computed by an independent implementation, and the browser is checked against them too.

use std::{fmt, sync::Arc};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use portals_sealing::{hkdf_sha256, Aes256GcmKey};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::{
    error::ProtocolError,
    protocol::{
        ClientMessage, MemberId, Relayed, RoomName, SdpType, ServerMessage, SessionDescription,
    },
};

/// The `/portal` query parameter that carries a private room's verifier.
pub const VERIFIER: &str = "verifier";
/// The URL fragment's parameter that carries a room key: `/?room=R#k=<key>`.
pub const KEY_PARAMETER: &str = "k";
/// HKDF `info` of the verifier: what the server is shown.
const VERIFIER_INFO: &[u8] = b"portals/v1 verifier";
/// HKDF `info` of the sealing key: what never leaves the browser.
const SEALING_INFO: &[u8] = b"portals/v1 seal";
/// The first field of every sealed message's associated data.
const SEAL_LABEL: &str = "portals/v1 seal";
/// AES-GCM nonce length: 96 bits, random per message.
pub const NONCE_BYTES: usize = 12;
/// AES-GCM tag length: 128 bits, at the end of the ciphertext.
const TAG_BYTES: usize = 16;
/// 256 bits, base64url without padding.
const KEY_BYTES: usize = 32;
const ENCODED_KEY_LEN: usize = 43;

/// A private room's key: 256 random bits, only ever in the page's URL fragment (which browsers
/// never send to a server) and in the browser.
#[derive(Clone, PartialEq, Eq)]
pub struct RoomKey([u8; KEY_BYTES]);

impl RoomKey {
    pub fn from_bytes(bytes: [u8; KEY_BYTES]) -> Self {
        Self(bytes)
    }

    /// A key as written in a fragment: exactly 43 characters of base64url, no padding.
    pub fn parse(text: &str) -> Option<Self> {
        decode_32(text).map(Self)
    }

    /// The key in a URL fragment `#k=…`, if the fragment has one (`None` for an unkeyed room).
    /// `Some(None)` is a fragment that names a key that is not one: the page says so rather
    /// than joining the public room of the same name.
    pub fn from_fragment(fragment: &str) -> Option<Option<Self>> {
        let fragment = fragment.strip_prefix('#').unwrap_or(fragment);
        fragment
            .split('&')
            .find_map(|pair| pair.strip_prefix(KEY_PARAMETER)?.strip_prefix('='))
            .map(Self::parse)
    }

    pub fn as_bytes(&self) -> &[u8; KEY_BYTES] {
        &self.0
    }

    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    /// The verifier to join `room` with, and the seal of its messages.
    pub fn derive(&self, room: &RoomName) -> PrivateRoom {
        let expand = |info: &[u8]| hkdf_sha256(&self.0, hkdf_salt(room), info);
        PrivateRoom {
            verifier: RoomVerifier::from_bytes(&expand(VERIFIER_INFO)),
            seal: RoomSeal::new(&expand(SEALING_INFO), room.clone()),
        }
    }
}

/// What a member of a private room needs: the verifier to join with, and the seal.
pub struct PrivateRoom {
    pub verifier: RoomVerifier,
    pub seal: RoomSeal,
}

impl fmt::Debug for RoomKey {
    /// A key is the room's whole secret: keep it out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RoomKey(…)")
    }
}

/// HKDF-SHA-256 of a room key, with the room name as salt: the verifier and the sealing key
/// differ by their `info`, so one cannot be had from the other, and a key reused under another
/// name derives other keys.
fn hkdf_salt(room: &RoomName) -> &[u8] {
    room.as_str().as_bytes()
}

/// What a joiner of a private room shows the server: 32 bytes derived from the room key,
/// base64url without padding. The server keeps members with different verifiers for one name
/// in different rooms; knowing a verifier gives no way to the sealing key.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomVerifier(Arc<str>);

impl RoomVerifier {
    pub fn parse(text: &str) -> Result<Self, ProtocolError> {
        decode_32(text)
            .map(|_| Self(text.into()))
            .ok_or(ProtocolError::VerifierInvalid)
    }

    pub fn from_bytes(bytes: &[u8; KEY_BYTES]) -> Self {
        Self(URL_SAFE_NO_PAD.encode(bytes).into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RoomVerifier {
    /// It lets anyone join the room at the server (though not read it): keep it out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RoomVerifier(…)")
    }
}

/// Which room a member is in, for the server: a name, and for a private room its verifier.
/// Members with the same name and different verifiers (or none) never meet.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomId {
    pub name: RoomName,
    pub verifier: Option<RoomVerifier>,
}

impl RoomId {
    pub fn public(name: RoomName) -> Self {
        Self {
            name,
            verifier: None,
        }
    }

    pub fn is_private(&self) -> bool {
        self.verifier.is_some()
    }

    /// Written into resume tokens: the name, and `:` and the verifier for a private room
    /// (neither contains a `:`).
    pub fn encode(&self) -> String {
        match &self.verifier {
            Some(verifier) => format!("{}:{}", self.name, verifier.as_str()),
            None => self.name.to_string(),
        }
    }

    pub fn decode(text: &str) -> Option<Self> {
        let (name, verifier) = match text.split_once(':') {
            Some((name, verifier)) => (name, Some(RoomVerifier::parse(verifier).ok()?)),
            None => (text, None),
        };
        Some(Self {
            name: RoomName::parse(name).ok()?,
            verifier,
        })
    }
}

impl fmt::Debug for RoomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.verifier {
            Some(_) => write!(f, "RoomId({}, private)", self.name),
            None => write!(f, "RoomId({})", self.name),
        }
    }
}

impl fmt::Display for RoomId {
    /// The name a person gave the room: what errors and logs show.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.name, f)
    }
}

/// What a sealed message is, bound into its associated data so that the server can neither
/// turn an offer into an answer nor a candidate into a description.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SealedKind {
    Description(SdpType),
    Candidate,
}

impl SealedKind {
    /// The kind named by [`Self::as_str`].
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "offer" => Self::Description(SdpType::Offer),
            "pranswer" => Self::Description(SdpType::Pranswer),
            "answer" => Self::Description(SdpType::Answer),
            "rollback" => Self::Description(SdpType::Rollback),
            "candidate" => Self::Candidate,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Description(SdpType::Offer) => "offer",
            Self::Description(SdpType::Pranswer) => "pranswer",
            Self::Description(SdpType::Answer) => "answer",
            Self::Description(SdpType::Rollback) => "rollback",
            Self::Candidate => "candidate",
        }
    }
}

/// The associated data of one sealed message: the label, its kind, the room's name, the
/// sender's id and the receiver's id, each as a 2-byte big-endian length and its UTF-8 bytes.
/// Length-prefixed, so that no choice of ids makes two different messages' data the same; with
/// both ids in, a message opens only from its sender and only at its receiver.
fn associated_data(kind: SealedKind, room: &RoomName, from: &MemberId, to: &MemberId) -> Vec<u8> {
    let fields = [
        SEAL_LABEL,
        kind.as_str(),
        room.as_str(),
        from.as_str(),
        to.as_str(),
    ];
    let mut data = Vec::with_capacity(fields.iter().map(|field| 2 + field.len()).sum());
    for field in fields {
        // Room names are at most 64 bytes; a server's id longer than 65535 bytes is cut to
        // that, and the message then does not open (the receiver's copy of the id is whole).
        let bytes = &field.as_bytes()[..field.len().min(usize::from(u16::MAX))];
        data.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
        data.extend_from_slice(bytes);
    }
    data
}

/// `sealed`: the nonce, then AES-GCM's ciphertext with its tag, as one base64url string
/// without padding.
fn encode_sealed(nonce: &[u8; NONCE_BYTES], ciphertext_and_tag: &[u8]) -> String {
    let mut bytes = Vec::with_capacity(NONCE_BYTES + ciphertext_and_tag.len());
    bytes.extend_from_slice(nonce);
    bytes.extend_from_slice(ciphertext_and_tag);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The nonce and the ciphertext with its tag, or `None` for what cannot be a sealed message.
fn decode_sealed(sealed: &str) -> Option<([u8; NONCE_BYTES], Vec<u8>)> {
    let bytes = URL_SAFE_NO_PAD.decode(sealed).ok()?;
    if bytes.len() < NONCE_BYTES + TAG_BYTES {
        return None;
    }
    let (nonce, rest) = bytes.split_at(NONCE_BYTES);
    Some((nonce.try_into().ok()?, rest.to_vec()))
}

/// A sealed description's payload: its type in the clear, its SDP sealed.
#[derive(Serialize, Deserialize)]
struct SealedDescription {
    #[serde(rename = "type")]
    kind: SdpType,
    sealed: String,
}

/// A sealed candidate's payload: all of it sealed, end-of-candidates too.
#[derive(Serialize, Deserialize)]
struct SealedCandidate {
    sealed: String,
}

/// A private room's sealing key, for its room: seals what a member sends and opens what it
/// receives.
#[derive(Clone)]
pub struct RoomSeal {
    cipher: Aes256GcmKey,
    room: RoomName,
}

impl RoomSeal {
    pub fn new(sealing_key: &[u8; KEY_BYTES], room: RoomName) -> Self {
        Self {
            cipher: Aes256GcmKey::new(sealing_key),
            room,
        }
    }

    /// `plaintext`, sealed from `from` to `to` as `kind`: the `sealed` string.
    pub fn seal(
        &self,
        kind: SealedKind,
        from: &MemberId,
        to: &MemberId,
        plaintext: &[u8],
        nonce: [u8; NONCE_BYTES],
    ) -> String {
        let aad = associated_data(kind, &self.room, from, to);
        encode_sealed(&nonce, &self.cipher.seal(&nonce, &aad, plaintext))
    }

    /// The plaintext, if `sealed` opens as `kind` from `from` to `to` in this room.
    pub fn open(
        &self,
        kind: SealedKind,
        from: &MemberId,
        to: &MemberId,
        sealed: &str,
    ) -> Option<Vec<u8>> {
        let (nonce, ciphertext) = decode_sealed(sealed)?;
        let aad = associated_data(kind, &self.room, from, to);
        self.cipher.open(&nonce, &aad, &ciphertext)
    }

    /// What `me` sends: a `description` or `candidate` sealed for its target, anything else as
    /// it is; `None` (not sent) for a description that cannot be read to seal (never one this
    /// client built), which must never go out in the clear.
    pub fn seal_message(
        &self,
        me: &MemberId,
        message: &ClientMessage,
        nonce: [u8; NONCE_BYTES],
    ) -> Option<ClientMessage> {
        Some(match message {
            ClientMessage::Ping(_) => message.clone(),
            ClientMessage::Description {
                target,
                description,
            } => {
                let SessionDescription { kind, sdp } = description.parse().ok()?;
                let sealed = self.seal(
                    SealedKind::Description(kind),
                    me,
                    target,
                    sdp.as_bytes(),
                    nonce,
                );
                ClientMessage::Description {
                    target: target.clone(),
                    description: Relayed::built(&SealedDescription { kind, sealed }),
                }
            }
            ClientMessage::Candidate { target, candidate } => {
                let plaintext = candidate.json().as_bytes();
                let sealed = self.seal(SealedKind::Candidate, me, target, plaintext, nonce);
                ClientMessage::Candidate {
                    target: target.clone(),
                    candidate: Relayed::built(&SealedCandidate { sealed }),
                }
            }
        })
    }

    /// What `me` received: from the server as it is; from a member, the message that was
    /// sealed, or `None` (to drop) if it was not sealed, does not open, or is not a message of
    /// its kind (which only a sender holding the key could have made).
    pub fn open_message(&self, me: &MemberId, message: ServerMessage) -> Option<ServerMessage> {
        Some(match message {
            ServerMessage::Description { from, description } => {
                let SealedDescription { kind, sealed } =
                    serde_json::from_str(description.json()).ok()?;
                let sdp = self.open_text(SealedKind::Description(kind), &from, me, &sealed)?;
                ServerMessage::Description {
                    from,
                    description: Relayed::new(&SessionDescription { kind, sdp }),
                }
            }
            ServerMessage::Candidate { from, candidate } => {
                let SealedCandidate { sealed } = serde_json::from_str(candidate.json()).ok()?;
                let json = self.open_text(SealedKind::Candidate, &from, me, &sealed)?;
                ServerMessage::Candidate {
                    from,
                    candidate: Relayed::from_json(RawValue::from_string(json).ok()?).ok()?,
                }
            }
            other => other,
        })
    }

    fn open_text(
        &self,
        kind: SealedKind,
        from: &MemberId,
        to: &MemberId,
        sealed: &str,
    ) -> Option<String> {
        String::from_utf8(self.open(kind, from, to, sealed)?).ok()
    }
}

/// 43 characters of base64url that decode to exactly 32 bytes, written the one canonical way
/// (the last character's two spare bits zero), so that one verifier has one spelling.
fn decode_32(text: &str) -> Option<[u8; KEY_BYTES]> {
    if text.len() != ENCODED_KEY_LEN {
        return None;
    }
    let bytes: [u8; KEY_BYTES] = URL_SAFE_NO_PAD.decode(text).ok()?.try_into().ok()?;
    (URL_SAFE_NO_PAD.encode(bytes) == text).then_some(bytes)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    /// `tests/vectors/private-room.json`, computed by another implementation.
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Vectors {
        key: String,
        room: String,
        verifier: String,
        sealing_key_hex: String,
        nonce_hex: String,
        messages: Vec<Message>,
    }

    #[derive(Deserialize)]
    struct Message {
        kind: String,
        from: String,
        to: String,
        plaintext: String,
        sealed: String,
    }

    fn vectors() -> Vectors {
        serde_json::from_str(include_str!("../../tests/vectors/private-room.json"))
            .expect("the vectors file is valid")
    }

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|at| u8::from_str_radix(&text[at..at + 2], 16).unwrap())
            .collect()
    }

    fn derive(key: &RoomKey, room: &RoomName, info: &[u8]) -> [u8; 32] {
        hkdf_sha256(key.as_bytes(), hkdf_salt(room), info)
    }

    #[test]
    fn the_key_derives_the_verifier_and_the_sealing_key_of_the_vectors() {
        let v = vectors();
        let key = RoomKey::parse(&v.key).unwrap();
        assert_eq!(key.encode(), v.key);
        let room = RoomName::parse(&v.room).unwrap();
        assert_eq!(key.derive(&room).verifier.as_str(), v.verifier);
        assert_eq!(
            derive(&key, &room, SEALING_INFO).to_vec(),
            hex(&v.sealing_key_hex)
        );
        // Another name, other keys: a key is never shared between two rooms.
        let elsewhere = RoomName::parse("misc").unwrap();
        assert_ne!(
            derive(&key, &elsewhere, SEALING_INFO),
            derive(&key, &room, SEALING_INFO)
        );
    }

    #[test]
    fn sealing_gives_the_vectors_and_each_opens_only_as_sealed() {
        let v = vectors();
        let key = RoomKey::parse(&v.key).unwrap();
        let room = RoomName::parse(&v.room).unwrap();
        let seal = key.derive(&room).seal;
        let nonce: [u8; NONCE_BYTES] = hex(&v.nonce_hex).try_into().unwrap();
        for message in &v.messages {
            let (from, to) = (MemberId::new(&*message.from), MemberId::new(&*message.to));
            let kind = SealedKind::parse(&message.kind).unwrap();
            let sealed = seal.seal(kind, &from, &to, message.plaintext.as_bytes(), nonce);
            assert_eq!(sealed, message.sealed, "{}", message.kind);
            assert_eq!(
                seal.open(kind, &from, &to, &sealed).as_deref(),
                Some(message.plaintext.as_bytes())
            );

            // Replayed to another member, or with the sender changed, or as another kind:
            // it does not open; nor in another room, nor under another key.
            let other = MemberId::new("c3");
            let other_kind = if kind == SealedKind::Candidate {
                SealedKind::Description(SdpType::Offer)
            } else {
                SealedKind::Candidate
            };
            for (why, kind, from, to) in [
                ("another receiver", kind, &from, &other),
                ("another sender", kind, &other, &to),
                ("sender and receiver swapped", kind, &to, &from),
                ("another kind", other_kind, &from, &to),
            ] {
                assert_eq!(seal.open(kind, from, to, &sealed), None, "{why}");
            }
            let other_room = RoomName::parse("misc").unwrap();
            let elsewhere = key.derive(&other_room).seal;
            assert_eq!(
                elsewhere.open(kind, &from, &to, &sealed),
                None,
                "another room"
            );
            let other_key = RoomKey::from_bytes([9; 32]);
            let other_seal = other_key.derive(&room).seal;
            assert_eq!(
                other_seal.open(kind, &from, &to, &sealed),
                None,
                "another key"
            );
            // One bit changed anywhere, nonce included.
            let mut bytes = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
            for at in [0, NONCE_BYTES, bytes.len() - 1] {
                bytes[at] ^= 1;
                let flipped = URL_SAFE_NO_PAD.encode(&bytes);
                assert_eq!(seal.open(kind, &from, &to, &flipped), None, "bit {at}");
                bytes[at] ^= 1;
            }
        }
    }

    /// What the server relays of a client's message, with its `from`.
    fn stamped(from: &MemberId, message: ClientMessage) -> ServerMessage {
        match message {
            ClientMessage::Description { description, .. } => ServerMessage::Description {
                from: from.clone(),
                description,
            },
            ClientMessage::Candidate { candidate, .. } => ServerMessage::Candidate {
                from: from.clone(),
                candidate,
            },
            ClientMessage::Ping(_) => unreachable!("not relayed"),
        }
    }

    #[test]
    fn a_message_sealed_and_opened_is_the_message_sent() {
        use crate::signalling::protocol::IceCandidate;
        let seal = RoomSeal::new(&[5; 32], RoomName::parse("home").unwrap());
        let (me, peer) = (MemberId::new("a1"), MemberId::new("b2"));
        let sent = [
            ClientMessage::Description {
                target: peer.clone(),
                description: Relayed::new(&SessionDescription {
                    kind: SdpType::Answer,
                    sdp: "v=0\r\na=fingerprint:sha-256 AB\r\n".into(),
                }),
            },
            ClientMessage::Candidate {
                target: peer.clone(),
                candidate: Relayed::new(&Some(IceCandidate {
                    candidate: "candidate:1 1 udp 1 10.0.0.1 9 typ host".into(),
                    sdp_mid: Some("0".into()),
                    sdp_m_line_index: Some(0),
                    username_fragment: None,
                })),
            },
            ClientMessage::Candidate {
                target: peer.clone(),
                candidate: Relayed::new(&None),
            },
        ];
        for message in sent {
            let wire = seal
                .seal_message(&me, &message, [1; NONCE_BYTES])
                .unwrap()
                .encode();
            assert!(
                !wire.contains("fingerprint") && !wire.contains("10.0.0.1"),
                "{wire}"
            );

            // Through the server, which stamps `from`, to the peer.
            let relayed = ServerMessage::decode(
                &stamped(&me, ClientMessage::decode(&wire).unwrap()).encode(),
            )
            .unwrap();
            assert_eq!(
                seal.open_message(&peer, relayed.clone()),
                Some(stamped(&me, message))
            );
            // Not at anyone else, nor from anyone else.
            assert_eq!(
                seal.open_message(&MemberId::new("c3"), relayed.clone()),
                None
            );
            assert_eq!(
                seal.open_message(&me, relayed),
                None,
                "the sender is not the receiver"
            );
        }
        let ping = ClientMessage::Ping(1.into());
        assert_eq!(seal.seal_message(&me, &ping, [1; NONCE_BYTES]), Some(ping));
        // A description that cannot be read is not sent at all, rather than in the clear.
        let unreadable = ClientMessage::Description {
            target: MemberId::new("b2"),
            description: Relayed::built(&serde_json::json!({"sdp": 5})),
        };
        assert_eq!(seal.seal_message(&me, &unreadable, [1; NONCE_BYTES]), None);
        let pong = ServerMessage::Pong(1.into());
        assert_eq!(seal.open_message(&me, pong.clone()), Some(pong));
        // What is not sealed in a private room is told apart, to be dropped.
        let clear = ServerMessage::Description {
            from: peer,
            description: Relayed::new(&SessionDescription {
                kind: SdpType::Offer,
                sdp: "v=0".into(),
            }),
        };
        assert_eq!(seal.open_message(&me, clear), None);
    }

    #[test]
    fn associated_data_is_length_prefixed_so_ids_cannot_shift_between_fields() {
        let room = RoomName::parse("home").unwrap();
        let aad = |from: &str, to: &str| {
            associated_data(
                SealedKind::Candidate,
                &room,
                &MemberId::new(from),
                &MemberId::new(to),
            )
        };
        assert_ne!(aad("ab", "c"), aad("a", "bc"));
        let mut expected = Vec::new();
        for field in ["portals/v1 seal", "candidate", "home", "a", "b"] {
            expected.extend_from_slice(&(field.len() as u16).to_be_bytes());
            expected.extend_from_slice(field.as_bytes());
        }
        assert_eq!(aad("a", "b"), expected);
    }

    #[test]
    fn keys_come_from_the_fragment_and_bad_ones_are_told_apart_from_none() {
        let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
        let parsed = RoomKey::from_fragment(&format!("#k={key}"));
        assert_eq!(
            parsed.flatten().map(|key| key.encode()).as_deref(),
            Some(key)
        );
        assert!(RoomKey::from_fragment(&format!("#x=1&k={key}"))
            .flatten()
            .is_some());
        assert_eq!(RoomKey::from_fragment(""), None);
        assert_eq!(RoomKey::from_fragment("#other=1"), None);
        assert_eq!(RoomKey::from_fragment("#k=tooshort"), Some(None));
        assert_eq!(RoomKey::from_fragment("#k="), Some(None));
        assert!(
            decode_sealed("AAAA").is_none(),
            "shorter than a nonce and a tag"
        );
    }

    #[test]
    fn a_room_id_survives_its_token_encoding() {
        let verifier = RoomVerifier::parse("lhBpc--qVnbztsy7Wrg9H3F506-XDCUWZqp-wt0-pa4").unwrap();
        for room in [
            RoomId::public(RoomName::parse("home").unwrap()),
            RoomId {
                name: RoomName::parse("home").unwrap(),
                verifier: Some(verifier),
            },
        ] {
            assert_eq!(RoomId::decode(&room.encode()), Some(room));
        }
        assert_eq!(RoomId::decode("home:short"), None);
        assert_eq!(
            format!(
                "{:?}",
                RoomId::decode("home:lhBpc--qVnbztsy7Wrg9H3F506-XDCUWZqp-wt0-pa4")
            ),
            "Some(RoomId(home, private))",
            "the verifier stays out of logs"
        );
    }
}
