use std::collections::BTreeSet;

use serde_json::json;

use super::*;
use crate::signalling::protocol::{
    ErrorReport, IceServer, Info, Relayed, SdpType, SessionDescription,
};

const SECRET: &[u8] = b"test secret";
const T0: Timestamp = Timestamp(1_700_000_000_000);

/// The defaults, but every change to a room told at once: most tests look at one change at a
/// time; coalescing has its own.
fn config() -> HubConfig {
    HubConfig {
        info_window_ms: 0,
        ..HubConfig::with_defaults(T0, SECRET.to_vec(), [7; 32])
    }
}

/// A hub plus helpers that read its output the way a transport would.
struct Harness {
    hub: Hub,
    now: Timestamp,
    next_connection: u64,
}

/// What one connection received from one input.
#[derive(Debug)]
struct Received(Vec<Action>);

impl Received {
    fn messages(&self) -> Vec<&ServerMessage> {
        self.0
            .iter()
            .filter_map(|action| match action {
                Action::Send(message) => Some(message),
                Action::Close(_) => None,
            })
            .collect()
    }

    fn kinds(&self) -> Vec<&'static str> {
        self.messages()
            .iter()
            .map(|message| message.kind())
            .collect()
    }

    fn welcome(&self) -> &Welcome {
        self.messages()
            .into_iter()
            .find_map(|message| match message {
                ServerMessage::Welcome(welcome) => Some(&**welcome),
                _ => None,
            })
            .expect("a welcome")
    }

    fn info(&self) -> &Info {
        self.messages()
            .into_iter()
            .find_map(|message| match message {
                ServerMessage::Info(info) => Some(info),
                _ => None,
            })
            .expect("an info")
    }

    fn error(&self) -> &ErrorReport {
        self.messages()
            .into_iter()
            .find_map(|message| match message {
                ServerMessage::Error(report) => Some(report),
                _ => None,
            })
            .expect("an error")
    }

    fn close(&self) -> Option<CloseCode> {
        self.0.iter().find_map(|action| match action {
            Action::Close(code) => Some(*code),
            Action::Send(_) => None,
        })
    }
}

struct Outputs(Vec<Outbound>);

impl Outputs {
    fn to(&self, connection: ConnectionId) -> Received {
        Received(
            self.0
                .iter()
                .filter(|outbound| outbound.to == connection)
                .map(|outbound| outbound.action.clone())
                .collect(),
        )
    }

    fn receivers(&self) -> BTreeSet<ConnectionId> {
        self.0.iter().map(|outbound| outbound.to).collect()
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Harness {
    fn new() -> Self {
        Self::with(config())
    }

    fn with(config: HubConfig) -> Self {
        Self {
            hub: Hub::new(config),
            now: T0.plus_ms(1_000),
            next_connection: 1,
        }
    }

    fn input(&mut self, input: Input<'_>) -> Outputs {
        Outputs(self.hub.handle(self.now, input))
    }

    fn connect(&mut self, room: Option<&str>, token: Option<&str>) -> (ConnectionId, Outputs) {
        self.connect_with(&JoinQuery {
            room: room.map(Into::into),
            token: token.map(Into::into),
            newcomer_offers: false,
            ..JoinQuery::default()
        })
    }

    fn connect_with(&mut self, query: &JoinQuery) -> (ConnectionId, Outputs) {
        let connection = ConnectionId(self.next_connection);
        self.next_connection += 1;
        let out = self.input(Input::Connect { connection, query });
        (connection, out)
    }

    /// Joins `room` and returns the connection, the id and the resume token.
    fn join(&mut self, room: &str) -> (ConnectionId, MemberId, String) {
        let (connection, out) = self.connect(Some(room), None);
        let welcome = out.to(connection).welcome().clone();
        (connection, welcome.id, welcome.token.as_str().to_string())
    }

    /// A frame as the transport hands it over once it decoded it.
    fn text(&mut self, connection: ConnectionId, text: &str) -> Outputs {
        let message = ClientMessage::decode(text).expect("a well-formed message");
        self.input(Input::Message {
            connection,
            message,
        })
    }

    fn lose(&mut self, connection: ConnectionId) -> Outputs {
        self.input(Input::Disconnect {
            connection,
            departure: Departure::Lost,
        })
    }

    fn leave(&mut self, connection: ConnectionId) -> Outputs {
        self.input(Input::Disconnect {
            connection,
            departure: Departure::Left,
        })
    }

    fn advance(&mut self, ms: u64) -> Outputs {
        self.now = self.now.plus_ms(ms);
        self.input(Input::Tick)
    }
}

fn offer_to(target: &MemberId) -> String {
    json!({"type": "description", "description": {"type": "offer", "sdp": "v=0\r\n"}, "target": target})
        .to_string()
}

fn candidate_to(target: &MemberId) -> String {
    json!({"type": "candidate", "candidate": {"candidate": "candidate:1 1 udp 1 10.0.0.1 9 typ host", "sdpMid": "0", "sdpMLineIndex": 0}, "target": target})
        .to_string()
}

fn member_ids(info: &Info) -> Vec<&MemberId> {
    info.members.iter().map(|peer| &peer.id).collect()
}

#[test]
fn a_newcomer_gets_welcome_then_info_and_the_room_is_told() {
    let mut h = Harness::new();
    let (a, out) = h.connect(Some("home"), None);
    assert_eq!(out.to(a).kinds(), ["welcome", "info"]);
    let a_id = out.to(a).welcome().id.clone();
    assert_eq!(a_id.as_str().len(), 32);
    assert!(out.to(a).info().members.is_empty());
    assert_eq!(out.to(a).welcome().room.as_str(), "home");
    assert_eq!(out.to(a).welcome().limits.max_members, 12);

    let (b, out) = h.connect(Some("home"), None);
    let b_id = out.to(b).welcome().id.clone();
    assert_eq!(out.to(b).kinds(), ["welcome", "info"]);
    assert_eq!(member_ids(out.to(b).info()), [&a_id]);
    assert_eq!(out.to(a).kinds(), ["info"]);
    assert_eq!(member_ids(out.to(a).info()), [&b_id]);
    assert_eq!(out.to(a).info().id, a_id);

    // Exactly one side of the pair is polite, and it is the larger id.
    let a_polite = out.to(a).info().members[0].polite;
    let b_polite = out.to(b).info().members[0].polite;
    assert_ne!(a_polite, b_polite);
    assert_eq!(a_polite, a_id > b_id);
}

#[test]
fn info_tells_which_members_wait_for_a_newcomers_offer() {
    let mut h = Harness::new();
    let ours = |token: Option<String>| JoinQuery {
        room: Some("home".into()),
        token,
        newcomer_offers: true,
        ..JoinQuery::default()
    };
    let (first, out) = h.connect_with(&ours(None));
    let first_id = out.to(first).welcome().id.clone();
    let first_token = out.to(first).welcome().token.as_str().to_string();
    // A base client says nothing: it offers to everyone on every `info`.
    let (_, base_id, _) = h.join("home");
    let waits = |info: &Info| -> Vec<(MemberId, bool)> {
        info.members
            .iter()
            .map(|peer| (peer.id.clone(), peer.newcomer_offers))
            .collect()
    };
    let (newcomer, out) = h.connect_with(&ours(None));
    assert_eq!(
        waits(out.to(newcomer).info()),
        [(first_id.clone(), true), (base_id.clone(), false)]
    );

    // The newest connection says it: a page reloaded into another client may resume the seat.
    h.lose(first);
    let (resumed, out) = h.connect(Some("home"), Some(&first_token));
    assert_eq!(out.to(resumed).welcome().id, first_id);
    let first_token = out.to(resumed).welcome().token.as_str().to_string();
    let (later, out) = h.connect(Some("home"), None);
    assert_eq!(waits(out.to(later).info())[0], (first_id.clone(), false));
    h.lose(resumed);
    let (again, out) = h.connect_with(&ours(Some(first_token)));
    assert_eq!(out.to(again).welcome().id, first_id);
    let (latest, out) = h.connect(Some("home"), None);
    assert_eq!(waits(out.to(latest).info())[0], (first_id, true));
}

#[test]
fn room_errors_close_the_socket_and_leave_nothing_behind() {
    let mut fixed = config();
    fixed.rooms = RoomPolicy::Fixed(["home", "misc"].map(|r| RoomName::parse(r).unwrap()).into());
    fixed.max_members = 2;
    let mut h = Harness::with(fixed);
    h.join("home");
    h.join("home");

    let cases = [
        (None, ErrorCode::RoomNotSet),
        (Some(""), ErrorCode::RoomInvalid),
        (Some("no spaces"), ErrorCode::RoomInvalid),
        (Some("elsewhere"), ErrorCode::RoomNotFound),
        (Some("home"), ErrorCode::RoomFull),
    ];
    for (room, code) in cases {
        let (connection, out) = h.connect(room, None);
        let received = out.to(connection);
        assert_eq!(received.error().code, code, "{room:?}");
        assert!(!received.error().message.is_empty());
        assert_eq!(received.close(), Some(CloseCode::POLICY), "{room:?}");
        assert_eq!(out.receivers().len(), 1, "nobody else hears of {room:?}");
        // The refused connection is not a member: it can say nothing.
        assert!(h.text(connection, r#"{"type":"ping","ping":1}"#).is_empty());
    }
    assert_eq!(h.hub.gauges().members, 2);
    assert_eq!(h.hub.gauges().connections, 2);
    assert_eq!(h.hub.counters().refused(ErrorCode::RoomFull), 1);
}

#[test]
fn descriptions_and_candidates_are_relayed_with_the_senders_id() {
    let mut h = Harness::new();
    let (a, a_id, _) = h.join("home");
    let (b, b_id, _) = h.join("home");

    let out = h.text(a, &offer_to(&b_id));
    assert_eq!(out.receivers(), [b].into());
    assert_eq!(
        out.to(b).messages(),
        [&ServerMessage::Description {
            from: a_id.clone(),
            description: Relayed::new(&SessionDescription {
                kind: SdpType::Offer,
                sdp: "v=0\r\n".into()
            })
        }]
    );

    let out = h.text(b, &candidate_to(&a_id));
    assert_eq!(out.receivers(), [a].into());
    let received = out.to(a);
    let ServerMessage::Candidate { from, candidate } = received.messages()[0] else {
        panic!("expected a candidate");
    };
    let sdp_mid = candidate.parse().unwrap().and_then(|c| c.sdp_mid);
    assert_eq!((from, sdp_mid.as_deref()), (&b_id, Some("0")));
    assert_eq!(h.hub.counters().relayed, 2);
}

#[test]
fn a_forged_from_is_replaced_by_the_real_sender() {
    let mut h = Harness::new();
    let (a, a_id, _) = h.join("home");
    let (b, b_id, _) = h.join("home");
    let (_c, c_id, _) = h.join("home");
    let forged = json!({"type": "candidate", "candidate": null, "target": b_id, "from": c_id});
    let out = h.text(a, &forged.to_string());
    assert_eq!(
        out.to(b).messages(),
        [&ServerMessage::Candidate {
            from: a_id,
            candidate: Relayed::new(&None)
        }]
    );
}

#[test]
fn ping_is_answered_to_the_sender_only() {
    let mut h = Harness::new();
    let (a, _, _) = h.join("home");
    let (_b, b_id, _) = h.join("home");
    let out = h.text(
        a,
        &json!({"type": "ping", "ping": 42, "target": b_id}).to_string(),
    );
    assert_eq!(out.receivers(), [a].into());
    assert_eq!(out.to(a).messages(), [&ServerMessage::Pong(42.into())]);
}

#[test]
fn no_member_can_make_the_server_deliver_server_only_types() {
    // What reaches the hub is a ClientMessage, which has no such types: the decoder at the
    // edge refuses them.
    for (kind, payload) in [
        ("info", json!({"id": "b", "members": []})),
        ("error", json!({"code": "room_full"})),
        ("pong", json!(1)),
        ("welcome", json!({"id": "x", "token": "y"})),
        ("token", json!("y")),
        ("anything", json!({})),
    ] {
        let frame = json!({"type": kind, kind: payload, "target": "b"});
        let error = ClientMessage::decode(&frame.to_string()).expect_err(kind);
        assert_eq!(error.code(), ErrorCode::UnknownType, "{kind}");
    }
}

#[test]
fn an_unknown_target_gets_its_error_and_the_connection_stays() {
    let mut h = Harness::new();
    let (a, _, _) = h.join("home");
    let (_b, b_id, _) = h.join("home");
    let text = json!({"type": "candidate", "candidate": null, "target": "nobody"}).to_string();
    let out = h.text(a, &text);
    assert_eq!(out.receivers(), [a].into());
    assert_eq!(out.to(a).error().code, ErrorCode::TargetNotFound);
    assert_eq!(out.to(a).close(), None);
    assert_eq!(h.hub.counters().refused(ErrorCode::TargetNotFound), 1);
    // Still usable afterwards.
    assert_eq!(h.text(a, &offer_to(&b_id)).receivers().len(), 1);
}

#[test]
fn a_target_in_another_room_is_not_found() {
    let mut h = Harness::new();
    let (a, _, _) = h.join("home");
    let (elsewhere, elsewhere_id, _) = h.join("misc");
    let out = h.text(a, &offer_to(&elsewhere_id));
    assert_eq!(out.receivers(), [a].into());
    assert_eq!(out.to(a).error().code, ErrorCode::TargetNotFound);
    assert!(out.to(elsewhere).0.is_empty());
}

#[test]
fn a_deliberate_leave_tells_the_room_at_once() {
    let mut h = Harness::new();
    let (a, _, _) = h.join("home");
    let (b, _, _) = h.join("home");
    let out = h.leave(b);
    assert_eq!(out.receivers(), [a].into());
    assert!(out.to(a).info().members.is_empty());
    assert_eq!(h.hub.gauges().members, 1);
}

#[test]
fn a_lost_member_keeps_its_seat_until_the_grace_period_ends() {
    let mut h = Harness::new();
    let (a, _, _) = h.join("home");
    let (b, b_id, _) = h.join("home");
    assert!(h.lose(b).is_empty(), "nobody sees a flicker");
    assert_eq!(h.hub.gauges().in_grace, 1);
    assert_eq!(h.hub.next_deadline(), Some(h.now.plus_ms(20_000)));

    // Messages to it are accepted and held, not refused.
    assert!(h.text(a, &offer_to(&b_id)).is_empty());
    assert!(h.advance(19_999).is_empty());
    let out = h.advance(1);
    assert_eq!(out.receivers(), [a].into());
    assert!(out.to(a).info().members.is_empty());
    assert_eq!(
        h.hub.gauges(),
        HubGauges {
            rooms: 1,
            members: 1,
            connections: 1,
            in_grace: 0
        }
    );
}

#[test]
fn an_unloading_page_keeps_its_seat_for_the_reload_hold_only() {
    let mut h = Harness::new();
    let (a, _, _) = h.join("home");
    let (b, b_id, token) = h.join("home");
    let unload = |h: &mut Harness, connection| {
        h.input(Input::Disconnect {
            connection,
            departure: Departure::Unloading,
        })
    };
    assert!(unload(&mut h, b).is_empty(), "a reload is no leave");
    assert_eq!(h.hub.next_deadline(), Some(h.now.plus_ms(1_500)));

    // The reload comes back with its token: the same member, and the others see nothing.
    h.advance(1_000);
    let (b2, out) = h.connect(Some("home"), Some(&token));
    assert_eq!(out.receivers(), [b2].into());
    assert_eq!(out.to(b2).welcome().id, b_id);

    // A closed tab does not come back: it leaves when the hold ends, not after the grace.
    assert!(unload(&mut h, b2).is_empty());
    assert!(h.advance(1_499).is_empty());
    let out = h.advance(1);
    assert_eq!(out.receivers(), [a].into());
    assert!(out.to(a).info().members.is_empty());
    assert_eq!(h.hub.gauges().members, 1);
}

#[test]
fn a_resume_within_grace_keeps_the_id_and_delivers_what_was_held() {
    let mut h = Harness::new();
    let (a, a_id, _) = h.join("home");
    let (b, b_id, token) = h.join("home");
    h.lose(b);
    h.text(a, &offer_to(&b_id));
    h.text(a, &candidate_to(&b_id));
    h.advance(5_000);

    let (b2, out) = h.connect(Some("home"), Some(&token));
    assert_eq!(out.receivers(), [b2].into(), "the others see no change");
    let received = out.to(b2);
    assert_eq!(
        received.kinds(),
        ["welcome", "info", "description", "candidate"]
    );
    assert_eq!(received.welcome().id, b_id);
    assert_ne!(received.welcome().token.as_str(), token, "a fresh token");
    assert_eq!(member_ids(received.info()), [&a_id]);
    assert_eq!(h.hub.counters().resumes, 1);
    assert_eq!(h.hub.gauges().in_grace, 0);

    // The grace period no longer applies, and relays reach the new connection.
    assert!(h.advance(60_000).is_empty());
    assert_eq!(h.text(a, &offer_to(&b_id)).receivers(), [b2].into());
}

#[test]
fn a_token_resumes_once_only() {
    let mut h = Harness::new();
    let (_a, _, _) = h.join("home");
    let (b, b_id, token) = h.join("home");
    h.lose(b);
    let (b2, out) = h.connect(Some("home"), Some(&token));
    assert_eq!(out.to(b2).welcome().id, b_id);
    let newer = out.to(b2).welcome().token.as_str().to_string();
    h.lose(b2);
    // The newest token resumes; the one before it is then spent.
    let (b3, out) = h.connect(Some("home"), Some(&newer));
    assert_eq!(out.to(b3).welcome().id, b_id);
    h.lose(b3);

    let (b4, out) = h.connect(Some("home"), Some(&token));
    assert_ne!(
        out.to(b4).welcome().id,
        b_id,
        "a used token yields a fresh member"
    );
    assert_eq!(h.hub.gauges().members, 3);
}

#[test]
fn an_expired_session_or_token_yields_a_fresh_member() {
    let mut h = Harness::new();
    let (b, b_id, token) = h.join("home");
    h.lose(b);
    h.advance(20_000);
    let (c, out) = h.connect(Some("home"), Some(&token));
    assert_ne!(
        out.to(c).welcome().id,
        b_id,
        "grace ended: the seat is gone"
    );

    let mut short = config();
    short.token_ttl_ms = 60_000;
    let mut h = Harness::with(short);
    let (b, b_id, token) = h.join("home");
    h.hub.handle(
        h.now,
        Input::Disconnect {
            connection: b,
            departure: Departure::Lost,
        },
    );
    h.now = h.now.plus_ms(60_000);
    let (c, out) = h.connect(Some("home"), Some(&token));
    assert_ne!(out.to(c).welcome().id, b_id, "the token itself expired");
}

#[test]
fn a_token_for_another_room_or_a_forged_one_joins_fresh() {
    let mut h = Harness::new();
    let (b, b_id, token) = h.join("home");
    h.lose(b);
    let (c, out) = h.connect(Some("misc"), Some(&token));
    assert_ne!(out.to(c).welcome().id, b_id);
    let (d, out) = h.connect(Some("home"), Some("forged.token"));
    assert_ne!(out.to(d).welcome().id, b_id);
    assert_eq!(
        out.to(d).kinds(),
        ["welcome", "info"],
        "no error for a bad token"
    );
}

const VERIFIER_1: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const VERIFIER_2: &str = "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBA";

fn connect_private(
    h: &mut Harness,
    room: &str,
    verifier: &str,
    token: Option<&str>,
) -> (ConnectionId, Outputs) {
    h.connect_with(&JoinQuery {
        room: Some(room.into()),
        verifier: Some(verifier.into()),
        token: token.map(Into::into),
        ..JoinQuery::default()
    })
}

#[test]
fn a_private_room_is_apart_from_rooms_of_the_same_name_with_another_verifier_or_none() {
    let mut h = Harness::new();
    let (public, public_id, _) = h.join("home");
    let (b, out) = connect_private(&mut h, "home", VERIFIER_1, None);
    let (b_id, b_token) = (
        out.to(b).welcome().id.clone(),
        out.to(b).welcome().token.as_str().to_string(),
    );
    assert_eq!(out.to(b).welcome().room.as_str(), "home");
    assert!(
        out.to(b).info().members.is_empty(),
        "alone in the private room"
    );
    assert_eq!(out.receivers(), [b].into(), "the public room hears nothing");

    let (c, out) = connect_private(&mut h, "home", VERIFIER_1, None);
    assert_eq!(member_ids(out.to(c).info()), [&b_id]);
    assert_eq!(out.receivers(), [b, c].into());
    let (d, out) = connect_private(&mut h, "home", VERIFIER_2, None);
    assert!(
        out.to(d).info().members.is_empty(),
        "another key, another room"
    );
    assert_eq!(out.receivers(), [d].into());

    // No relay across: neither way, nor from another key's room.
    for (from, to) in [(public, &b_id), (b, &public_id), (d, &b_id)] {
        let out = h.text(from, &offer_to(to));
        assert_eq!(out.to(from).error().code, ErrorCode::TargetNotFound);
        assert_eq!(out.receivers(), [from].into());
    }

    // Only the public room is listed, with its own member only.
    assert_eq!(
        h.hub.rooms(),
        [RoomSummary {
            name: RoomName::parse("home").unwrap(),
            members: 1
        }]
    );

    // A private room's token resumes only with its verifier.
    h.lose(b);
    let (e, out) = h.connect(Some("home"), Some(&b_token));
    assert_ne!(out.to(e).welcome().id, b_id, "not in the public room");
    let (f, out) = connect_private(&mut h, "home", VERIFIER_2, Some(&b_token));
    assert_ne!(out.to(f).welcome().id, b_id, "not with another key");
    let (g, out) = connect_private(&mut h, "home", VERIFIER_1, Some(&b_token));
    assert_eq!(out.to(g).welcome().id, b_id, "with its own");
    h.hub.check_invariants();
}

#[test]
fn a_verifier_that_is_not_32_bytes_of_base64url_is_refused() {
    let mut h = Harness::new();
    // Too short, too long, padded, the wrong alphabet, and bits past the 32 bytes.
    for verifier in [
        "",
        "AAAA",
        &"A".repeat(44),
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB",
    ] {
        let (connection, out) = connect_private(&mut h, "home", verifier, None);
        let received = out.to(connection);
        assert_eq!(
            received.error().code,
            ErrorCode::RoomInvalid,
            "{verifier:?}"
        );
        assert_eq!(received.close(), Some(CloseCode::POLICY), "{verifier:?}");
    }
    assert_eq!(h.hub.gauges().members, 0);
}

#[test]
fn resuming_a_live_session_replaces_the_old_connection() {
    let mut h = Harness::new();
    let (a, _, _) = h.join("home");
    let (b, b_id, token) = h.join("home");
    let (b2, out) = h.connect(Some("home"), Some(&token));
    assert_eq!(out.receivers(), [b, b2].into(), "a sees nothing");
    assert_eq!(out.to(b).error().code, ErrorCode::SessionReplaced);
    assert_eq!(out.to(b).close(), Some(CloseCode::SESSION_REPLACED));
    assert_eq!(out.to(b2).welcome().id, b_id);

    // The old connection is forgotten: its frames do nothing, its close changes nothing.
    assert!(h.text(b, &offer_to(&b_id)).is_empty());
    assert!(h.leave(b).is_empty());
    assert_eq!(h.text(a, &offer_to(&b_id)).receivers(), [b2].into());
    assert_eq!(h.hub.gauges().connections, 2);
}

#[test]
fn a_restarted_server_with_the_same_secret_restores_ids_once() {
    let mut before = Harness::new();
    let (_a, a_id, a_token) = before.join("home");
    let (_b, b_id, b_token) = before.join("home");

    let mut restarted = config();
    restarted.boot_time = before.now.plus_ms(10_000);
    restarted.seed = [9; 32];
    let mut h = Harness::with(restarted);
    h.now = before.now.plus_ms(11_000);

    let (a, out) = h.connect(Some("home"), Some(&a_token));
    assert_eq!(out.to(a).welcome().id, a_id);
    let (b, out) = h.connect(Some("home"), Some(&b_token));
    assert_eq!(out.to(b).welcome().id, b_id);
    assert_eq!(member_ids(out.to(a).info()), [&b_id]);

    // Used once: after the restored session ends, the old token does not bring it back.
    h.leave(a);
    let (again, out) = h.connect(Some("home"), Some(&a_token));
    assert_ne!(out.to(again).welcome().id, a_id);

    // Another secret restores nothing.
    let mut other = config();
    other.secret = b"another".to_vec();
    other.boot_time = before.now.plus_ms(10_000);
    let mut h = Harness::with(other);
    h.now = before.now.plus_ms(11_000);
    let (c, out) = h.connect(Some("home"), Some(&b_token));
    assert_ne!(out.to(c).welcome().id, b_id);
}

#[test]
fn a_room_taken_over_from_another_process_restores_its_ids_once() {
    // Two processes of a cluster, started together with one secret; the first ran "home".
    let mut first = Harness::new();
    let (_a, a_id, a_token) = first.join("home");
    let (_b, b_id, b_token) = first.join("home");

    let mut second = config();
    second.seed = [9; 32];
    let mut h = Harness::with(second);
    h.now = first.now.plus_ms(5_000);
    // Before the lease is taken over, the token is only a stale one here.
    let (stranger, out) = h.connect(Some("home"), Some(&b_token));
    assert_ne!(out.to(stranger).welcome().id, b_id);
    h.leave(stranger);

    h.now = h.now.plus_ms(1);
    let room = RoomId::public(RoomName::parse("home").unwrap());
    h.input(Input::Adopt { room: &room });
    let (a, out) = h.connect(Some("home"), Some(&a_token));
    assert_eq!(out.to(a).welcome().id, a_id);
    // Once: after the restored session ends, the token does not bring it back.
    h.leave(a);
    let (again, out) = h.connect(Some("home"), Some(&a_token));
    assert_ne!(out.to(again).welcome().id, a_id);
    // The adoption is the room's: another room's old tokens restore nothing.
    let (_c, c_id, c_token) = first.join("garden");
    let (c, out) = h.connect(Some("garden"), Some(&c_token));
    assert_ne!(out.to(c).welcome().id, c_id);
    h.leave(again);

    // The room went away and came back (taken over again): its ids restore once more.
    h.now = h.now.plus_ms(1);
    h.input(Input::Adopt { room: &room });
    let (a, out) = h.connect(Some("home"), Some(&a_token));
    assert_eq!(out.to(a).welcome().id, a_id);
}

#[test]
fn a_takeover_allows_for_the_other_process_clock_running_ahead() {
    let mut second = config();
    second.seed = [9; 32];
    second.clock_tolerance_ms = 5_000;
    let mut h = Harness::with(second);
    h.now = T0.plus_ms(10_000);
    // The first process's clock runs 3 s ahead: its last token reads as issued after the
    // takeover by this one's.
    let mut first = Harness::new();
    first.now = h.now.plus_ms(3_000);
    let (_a, a_id, a_token) = first.join("home");
    let room = RoomId::public(RoomName::parse("home").unwrap());
    h.input(Input::Adopt { room: &room });
    let (a, out) = h.connect(Some("home"), Some(&a_token));
    assert_eq!(out.to(a).welcome().id, a_id);
    // Beyond the tolerance, it is a token of this room's new era: it restores nothing.
    first.now = h.now.plus_ms(6_000);
    let (_b, b_id, b_token) = first.join("home");
    let (b, out) = h.connect(Some("home"), Some(&b_token));
    assert_ne!(out.to(b).welcome().id, b_id);
}

#[test]
fn an_evicted_room_closes_its_sockets_and_is_forgotten_without_a_word() {
    let mut h = Harness::new();
    let (a, _, _) = h.join("home");
    let (b, _, _) = h.join("home");
    let (c, _, _) = h.join("home");
    let (other, _, _) = h.join("garden");
    h.lose(c);
    let room = RoomId::public(RoomName::parse("home").unwrap());
    let out = h.input(Input::Evict {
        room: &room,
        code: CloseCode::SERVICE_RESTART,
    });
    assert_eq!(out.to(a).0, [Action::Close(CloseCode::SERVICE_RESTART)]);
    assert_eq!(out.to(b).0, [Action::Close(CloseCode::SERVICE_RESTART)]);
    assert_eq!(out.receivers(), [a, b].into());
    assert_eq!(h.hub.gauges().members, 1);
    assert_eq!(h.hub.gauges().in_grace, 0);
    assert_eq!(
        h.text(other, r#"{"type":"ping","ping":1}"#)
            .to(other)
            .kinds(),
        ["pong"]
    );
    h.hub.check_invariants();
}

/// Joins `room` as `role`, returning the connection and what it was sent.
fn join_as(h: &mut Harness, room: &str, role: Role) -> (ConnectionId, Outputs) {
    h.connect_with(&JoinQuery {
        room: Some(room.into()),
        role,
        ..JoinQuery::default()
    })
}

#[test]
fn members_that_watch_and_members_that_send_are_capped_apart() {
    let mut limited = config();
    limited.max_members = 2;
    limited.max_senders = 3;
    let mut h = Harness::with(limited);
    let (wall, out) = join_as(&mut h, "home", Role::Wall);
    assert_eq!(out.to(wall).welcome().limits.max_senders, 3);
    for _ in 0..3 {
        let (camera, out) = join_as(&mut h, "home", Role::Camera);
        assert_eq!(out.to(camera).kinds(), ["welcome", "info"]);
    }
    let (camera, out) = join_as(&mut h, "home", Role::Camera);
    assert_eq!(out.to(camera).error().code, ErrorCode::RoomFull);
    assert!(out
        .to(camera)
        .error()
        .message
        .contains("3 members that send video"));
    // A `both` member needs a seat of each kind: the senders' are taken.
    let (both, out) = join_as(&mut h, "home", Role::Both);
    assert_eq!(out.to(both).error().code, ErrorCode::RoomFull);
    // Three cameras do not take the seat of a second wall; a third finds none.
    let (second, out) = join_as(&mut h, "home", Role::Wall);
    assert_eq!(out.to(second).kinds(), ["welcome", "info"]);
    let (third, out) = join_as(&mut h, "home", Role::Wall);
    assert_eq!(out.to(third).error().code, ErrorCode::RoomFull);
    assert!(out
        .to(third)
        .error()
        .message
        .contains("2 members that watch"));
    assert_eq!(h.hub.gauges().members, 5);
    assert_eq!(h.hub.counters().refused(ErrorCode::RoomFull), 3);
}

#[test]
fn a_room_of_both_members_is_capped_by_max_members_as_before_roles() {
    let mut h = Harness::new();
    for _ in 0..12 {
        let (both, out) = join_as(&mut h, "home", Role::Both);
        assert_eq!(out.to(both).kinds(), ["welcome", "info"]);
    }
    let (both, out) = join_as(&mut h, "home", Role::Both);
    assert_eq!(out.to(both).error().code, ErrorCode::RoomFull);
    // Cameras still fit, up to the senders' cap of 24.
    for _ in 0..12 {
        let (camera, out) = join_as(&mut h, "home", Role::Camera);
        assert_eq!(out.to(camera).kinds(), ["welcome", "info"]);
    }
    let (camera, out) = join_as(&mut h, "home", Role::Camera);
    assert_eq!(out.to(camera).error().code, ErrorCode::RoomFull);
}

#[test]
fn a_reload_into_another_kind_of_seat_needs_that_seat_free() {
    let mut limited = config();
    limited.max_members = 1;
    limited.max_senders = 1;
    let mut h = Harness::with(limited);
    let (_wall, _) = join_as(&mut h, "home", Role::Wall);
    let (camera, out) = join_as(&mut h, "home", Role::Camera);
    let camera_id = out.to(camera).welcome().id.clone();
    let token = out.to(camera).welcome().token.as_str().to_string();
    h.input(Input::Disconnect {
        connection: camera,
        departure: Departure::Unloading,
    });
    // Back as a wall: the one watcher's seat is taken, so it is a newcomer, and refused.
    let back_as = |h: &mut Harness, role, token: &str| {
        h.connect_with(&JoinQuery {
            room: Some("home".into()),
            token: Some(token.to_string()),
            role,
            ..JoinQuery::default()
        })
    };
    let (again, out) = back_as(&mut h, Role::Wall, &token);
    assert_eq!(out.to(again).error().code, ErrorCode::RoomFull);
    // Back as the camera it was: its seat was kept.
    let (again, out) = back_as(&mut h, Role::Camera, &token);
    assert_eq!(out.to(again).welcome().id, camera_id);
}

#[test]
fn info_tells_each_members_role_as_its_newest_connection_said() {
    let mut h = Harness::new();
    let (wall, out) = join_as(&mut h, "home", Role::Wall);
    let wall_id = out.to(wall).welcome().id.clone();
    let (camera, out) = join_as(&mut h, "home", Role::Camera);
    let camera_token = out.to(camera).welcome().token.as_str().to_string();
    let roles = |info: &Info| -> Vec<Role> { info.members.iter().map(|peer| peer.role).collect() };
    assert_eq!(roles(out.to(wall).info()), [Role::Camera]);
    assert_eq!(roles(out.to(camera).info()), [Role::Wall]);
    // The camera's page reloads as a `both` member: the others see the new role.
    h.input(Input::Disconnect {
        connection: camera,
        departure: Departure::Unloading,
    });
    let (_, out) = h.connect_with(&JoinQuery {
        room: Some("home".into()),
        token: Some(camera_token),
        ..JoinQuery::default()
    });
    let to_wall = out.to(wall);
    assert_eq!(roles(to_wall.info()), [Role::Both]);
    assert_eq!(to_wall.info().id, wall_id);
}

#[test]
fn a_restored_id_still_respects_the_room_limit() {
    let mut before = Harness::new();
    let (_a, a_id, a_token) = before.join("home");
    let mut restarted = config();
    restarted.boot_time = before.now.plus_ms(1);
    restarted.max_members = 1;
    // Another process draws other ids (the server seeds from the OS).
    restarted.seed = [9; 32];
    let mut h = Harness::with(restarted);
    h.now = before.now.plus_ms(2);
    let (squatter, _, _) = h.join("home");
    let (a, out) = h.connect(Some("home"), Some(&a_token));
    assert_eq!(out.to(a).error().code, ErrorCode::RoomFull);
    // The refusal did not use up the restore.
    h.leave(squatter);
    let (a, out) = h.connect(Some("home"), Some(&a_token));
    assert_eq!(out.to(a).welcome().id, a_id);
}

#[test]
fn held_messages_are_bounded() {
    let mut small = config();
    small.held = HeldLimit {
        messages: 2,
        bytes: 64 * 1024,
    };
    let mut h = Harness::with(small);
    let (a, _, _) = h.join("home");
    let (b, b_id, token) = h.join("home");
    h.lose(b);
    for _ in 0..5 {
        h.text(a, &candidate_to(&b_id));
    }
    let (b2, out) = h.connect(Some("home"), Some(&token));
    assert_eq!(
        out.to(b2).kinds(),
        ["welcome", "info", "candidate", "candidate"]
    );
    assert_eq!(h.hub.counters().held_overflow, 3);
}

#[test]
fn a_newer_offer_replaces_a_held_one_from_the_same_sender() {
    let mut h = Harness::new();
    let (a, _, _) = h.join("home");
    let (c, c_id, _) = h.join("home");
    let (b, b_id, token) = h.join("home");
    h.lose(b);
    let offer = |sdp: &str| {
        json!({"type": "description", "description": {"type": "offer", "sdp": sdp}, "target": &b_id})
            .to_string()
    };
    h.text(a, &offer("v=0\r\nfirst"));
    h.text(a, &candidate_to(&b_id));
    h.text(c, &offer("v=0\r\nfrom c"));
    h.text(a, &offer("v=0\r\nsecond"));
    let (b2, out) = h.connect(Some("home"), Some(&token));
    let held: Vec<String> = out
        .to(b2)
        .messages()
        .into_iter()
        .filter_map(|message| match message {
            ServerMessage::Description { from, description } => {
                let sdp = description.parse().expect("a description").sdp;
                Some(format!("{} {}", if *from == c_id { "c" } else { "a" }, sdp))
            }
            ServerMessage::Candidate { .. } => Some("candidate".to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(held, ["candidate", "c v=0\r\nfrom c", "a v=0\r\nsecond"]);
}

#[test]
fn rooms_are_listed_with_their_member_counts() {
    let mut h = Harness::new();
    h.join("b-room");
    h.join("a-room");
    let (last, _, _) = h.join("a-room");
    assert_eq!(
        h.hub.rooms(),
        [
            RoomSummary {
                name: RoomName::parse("a-room").unwrap(),
                members: 2
            },
            RoomSummary {
                name: RoomName::parse("b-room").unwrap(),
                members: 1
            },
        ]
    );
    h.leave(ConnectionId(1));
    assert_eq!(h.hub.rooms().len(), 1, "an empty room stops existing");
    h.leave(last);

    let mut fixed = config();
    fixed.rooms = RoomPolicy::Fixed(["home", "misc"].map(|r| RoomName::parse(r).unwrap()).into());
    let h = Harness::with(fixed);
    assert_eq!(
        h.hub.rooms().iter().map(|r| r.members).collect::<Vec<_>>(),
        [0, 0]
    );
}

#[test]
fn inputs_for_unknown_connections_are_ignored() {
    let mut h = Harness::new();
    let stranger = ConnectionId(999);
    assert!(h.text(stranger, r#"{"type":"ping","ping":1}"#).is_empty());
    assert!(h.leave(stranger).is_empty());
    assert!(h.lose(stranger).is_empty());
}

/// Drives the hub with a long random mix of inputs and checks after each that its maps agree:
/// every connection is a member's live link, every member is in its room, and nothing leaks
/// once everyone has gone.
#[test]
fn random_inputs_never_leak_or_panic() {
    let mut rng = ChaCha20Rng::from_seed([3; 32]);
    // With TURN credentials to renew, whose schedule must follow every member.
    let mut h = Harness::with(HubConfig {
        turn: Some(TurnRest::new(vec!["turn:t".into()], b"s", 10_000)),
        ..config()
    });
    let mut open: Vec<ConnectionId> = Vec::new();
    let mut tokens: Vec<String> = Vec::new();
    let rooms = ["a", "b", "bad room"];
    for _ in 0..5_000 {
        let pick = |rng: &mut ChaCha20Rng, n: usize| (rng.next_u32() as usize) % n.max(1);
        match pick(&mut rng, 10) {
            0 | 1 => {
                let room = rooms[pick(&mut rng, rooms.len())];
                let token = if tokens.is_empty() || pick(&mut rng, 2) == 0 {
                    None
                } else {
                    Some(tokens[pick(&mut rng, tokens.len())].clone())
                };
                let verifier = [None, Some(VERIFIER_1)][pick(&mut rng, 2)];
                let (connection, out) = h.connect_with(&JoinQuery {
                    room: Some(room.into()),
                    token,
                    verifier: verifier.map(Into::into),
                    ..JoinQuery::default()
                });
                let received = out.to(connection);
                if received.close().is_none() {
                    tokens.push(received.welcome().token.as_str().to_string());
                    open.push(connection);
                }
                for outbound in &out.0 {
                    if let (Action::Close(_), Some(index)) = (
                        &outbound.action,
                        open.iter().position(|c| *c == outbound.to),
                    ) {
                        open.remove(index);
                    }
                }
            }
            2 | 3 if !open.is_empty() => {
                let from = open[pick(&mut rng, open.len())];
                let ids = h.hub.member_ids();
                let target = &ids[pick(&mut rng, ids.len())];
                let text = match pick(&mut rng, 4) {
                    0 => offer_to(target),
                    1 => candidate_to(target),
                    2 => r#"{"type":"ping","ping":1}"#.to_string(),
                    _ => candidate_to(&MemberId::new("nobody")),
                };
                h.text(from, &text);
            }
            4 | 5 if !open.is_empty() => {
                let connection = open.remove(pick(&mut rng, open.len()));
                if pick(&mut rng, 2) == 0 {
                    h.leave(connection);
                } else {
                    h.lose(connection);
                }
            }
            // A cluster's process taking a room over, or losing it to another.
            8 | 9 => {
                let name = RoomName::parse(rooms[pick(&mut rng, 2)]).unwrap();
                let verifier = [None, Some(RoomVerifier::parse(VERIFIER_1).unwrap())]
                    [pick(&mut rng, 2)]
                .clone();
                let room = RoomId { name, verifier };
                if pick(&mut rng, 2) == 0 {
                    h.input(Input::Adopt { room: &room });
                } else {
                    let out = h.input(Input::Evict {
                        room: &room,
                        code: CloseCode::SERVICE_RESTART,
                    });
                    for outbound in &out.0 {
                        assert_eq!(outbound.action, Action::Close(CloseCode::SERVICE_RESTART));
                        open.retain(|c| *c != outbound.to);
                    }
                }
            }
            _ => {
                h.advance(u64::from(rng.next_u32() % 5_000));
            }
        }
        h.hub.check_invariants();
    }
    for connection in open {
        h.leave(connection);
    }
    h.advance(60_000);
    h.hub.check_invariants();
    assert_eq!(h.hub.gauges(), HubGauges::default());
}

#[test]
fn a_resume_whose_welcome_was_lost_resumes_with_the_same_token_once() {
    let mut h = Harness::new();
    let (_a, _, _) = h.join("home");
    let (b, b_id, token) = h.join("home");
    h.lose(b);
    // The welcome of this resume, and the token in it, never reach the client.
    let (b2, _) = h.connect(Some("home"), Some(&token));
    h.lose(b2);
    let (b3, out) = h.connect(Some("home"), Some(&token));
    assert_eq!(out.to(b3).welcome().id, b_id, "the same session");
    assert_eq!(out.to(b3).kinds(), ["welcome", "info"]);
    h.lose(b3);
    let (b4, out) = h.connect(Some("home"), Some(&token));
    assert_ne!(out.to(b4).welcome().id, b_id, "only once");
}

#[test]
fn a_connected_member_gets_a_fresh_token_before_its_own_expires() {
    let mut config = config();
    config.token_ttl_ms = 40_000;
    let mut h = Harness::with(config);
    let (a, a_id, first) = h.join("home");
    assert_eq!(h.hub.next_deadline(), Some(h.now.plus_ms(30_000)));
    assert!(h.advance(29_999).is_empty());
    let out = h.advance(1);
    let to_a = out.to(a);
    let [ServerMessage::Token(renewed)] = to_a.messages()[..] else {
        panic!("a token: {:?}", out.0);
    };
    let renewed = renewed.as_str().to_string();
    assert_eq!(h.hub.counters().tokens_renewed, 1);
    // Long after the first token expired, the renewed one resumes.
    h.advance(25_000);
    h.lose(a);
    let (a2, out) = h.connect(Some("home"), Some(&renewed));
    assert_eq!(out.to(a2).welcome().id, a_id);
    h.lose(a2);
    let (a3, out) = h.connect(Some("home"), Some(&first));
    assert_ne!(out.to(a3).welcome().id, a_id, "the first has expired");
}

#[test]
fn turn_credentials_are_minted_per_member_and_renewed_while_it_stays() {
    let mut config = config();
    config.rtc.ice_servers.push(IceServer {
        urls: vec!["stun:127.0.0.1:3478".into()],
        username: None,
        credential: None,
    });
    config.turn = Some(TurnRest::new(
        vec!["turn:127.0.0.1:3478".into()],
        b"turn secret",
        20_000,
    ));
    let mut h = Harness::with(config);
    let turn_of = |rtc: &RtcConfiguration| {
        assert_eq!(
            rtc.ice_servers.len(),
            2,
            "the shared STUN server, then TURN"
        );
        let turn = rtc.ice_servers[1].clone();
        assert_eq!(turn.urls, ["turn:127.0.0.1:3478"]);
        turn.username.expect("a username")
    };
    let start = h.now;
    let (a, a_id, token) = h.join("home");
    let expires = start.plus_ms(20_000).0 / 1000;
    let (_b, b_id, _) = h.join("home");
    assert_eq!(h.hub.next_deadline(), Some(start.plus_ms(15_000)));
    assert!(h.advance(14_999).is_empty());
    let out = h.advance(1);
    let to_a = out.to(a);
    let [ServerMessage::Rtc(rtc)] = to_a.messages()[..] else {
        panic!("fresh credentials for a: {:?}", out.0);
    };
    assert_eq!(
        turn_of(rtc),
        format!("{}:{a_id}", expires + 15),
        "good 20 s from now"
    );
    assert_eq!(h.hub.counters().ice_refreshes, 2, "and for b: {b_id}");
    // Away, a member gets none; its resume brings fresh ones and starts the count again.
    h.lose(a);
    assert_eq!(
        h.hub.next_deadline(),
        Some(h.now.plus_ms(15_000)),
        "b's next"
    );
    h.advance(10_000);
    let (a2, out) = h.connect(Some("home"), Some(&token));
    let to_a2 = out.to(a2);
    let welcome = to_a2.welcome();
    assert_eq!(welcome.id, a_id);
    assert_eq!(turn_of(&welcome.rtc), format!("{}:{a_id}", expires + 25));
    h.hub.check_invariants();
    h.leave(a2);
    h.hub.check_invariants();
}

#[test]
fn without_a_turn_secret_every_member_gets_the_same_configuration() {
    let mut h = Harness::new();
    let (a, out_a) = h.connect(Some("home"), None);
    let (b, out_b) = h.connect(Some("home"), None);
    let (to_a, to_b) = (out_a.to(a), out_b.to(b));
    assert!(Arc::ptr_eq(&to_a.welcome().rtc, &to_b.welcome().rtc));
    assert_eq!(
        h.hub.next_deadline(),
        Some(h.now.plus_ms(18 * 60 * 60 * 1000)),
        "only the tokens' renewal"
    );
}

#[test]
fn a_grace_period_ends_exactly_at_its_deadline_without_a_tick() {
    let mut h = Harness::new();
    let (_a, _, _) = h.join("home");
    let (b, b_id, token) = h.join("home");
    h.lose(b);
    let end = h.now.plus_ms(20_000);
    assert_eq!(h.hub.next_deadline(), Some(end));
    h.now = Timestamp(end.0 - 1);
    let (b2, out) = h.connect(Some("home"), Some(&token));
    assert_eq!(out.to(b2).welcome().id, b_id, "one millisecond before");
    h.lose(b2);
    let end = h.now.plus_ms(20_000);
    h.now = end;
    let (b3, out) = h.connect(Some("home"), Some(&token));
    assert_ne!(out.to(b3).welcome().id, b_id, "at the deadline, a new id");
}

#[test]
fn time_handed_in_never_runs_backwards() {
    let mut h = Harness::new();
    let (_a, _, _) = h.join("home");
    let (b, _, _) = h.join("home");
    h.lose(b);
    h.advance(20_000);
    assert_eq!(h.hub.gauges().members, 1, "the grace period ended");
    // A clock set back must not bring a grace period back, or end one early.
    let (_c, _, _) = h.join("home");
    let (d, _, _) = h.join("home");
    h.lose(d);
    h.now = Timestamp(h.now.0 - 60_000);
    h.input(Input::Tick);
    assert_eq!(h.hub.gauges().in_grace, 1);
    h.now = h.now.plus_ms(60_000 + 19_999);
    h.input(Input::Tick);
    assert_eq!(
        h.hub.gauges().in_grace,
        1,
        "19.999 s of hub time have passed"
    );
    h.now = h.now.plus_ms(1);
    h.input(Input::Tick);
    assert_eq!(h.hub.gauges().in_grace, 0);
}

#[test]
fn what_is_held_is_bounded_in_bytes_and_a_resume_always_gets_its_welcome() {
    let mut h = Harness::new();
    let (a, _, _) = h.join("home");
    let (b, b_id, token) = h.join("home");
    h.lose(b);
    let large = "x".repeat(60_000);
    for n in 0..20 {
        // Candidates, so that none replaces another.
        let text = json!({"type": "candidate", "candidate": {"candidate": format!("{n}{large}"), "sdpMid": "0", "sdpMLineIndex": 0}, "target": &b_id}).to_string();
        h.text(a, &text);
    }
    let (b2, out) = h.connect(Some("home"), Some(&token));
    let kinds = out.to(b2).kinds();
    assert_eq!(kinds[..2], ["welcome", "info"]);
    let held: usize = out
        .to(b2)
        .messages()
        .iter()
        .map(|message| message.payload_len())
        .sum();
    assert!(held <= 256 * 1024, "{held}");
    assert_eq!(kinds.len() - 2, 4, "the newest four fit in 256 KiB");
    assert_eq!(h.hub.counters().held_overflow, 16);
}

#[test]
fn a_member_that_left_is_not_heard_from_after_the_info_that_removed_it() {
    let mut h = Harness::new();
    let (a, a_id, _) = h.join("home");
    let (_c, c_id, _) = h.join("home");
    let (b, b_id, token) = h.join("home");
    h.lose(b);
    h.text(a, &candidate_to(&b_id));
    h.text(ConnectionId(2), &candidate_to(&b_id));
    h.leave(a);
    let (b2, out) = h.connect(Some("home"), Some(&token));
    assert_eq!(member_ids(out.to(b2).info()), [&c_id]);
    let to_b2 = out.to(b2);
    let from: Vec<&MemberId> = to_b2
        .messages()
        .into_iter()
        .filter_map(|message| match message {
            ServerMessage::Candidate { from, .. } => Some(from),
            _ => None,
        })
        .collect();
    assert_eq!(from, [&c_id], "nothing from {a_id}");
}

#[test]
fn churn_in_a_room_is_told_once_per_window() {
    let mut h = Harness::with(HubConfig {
        info_window_ms: 100,
        ..config()
    });
    let (a, _, _) = h.join("home");
    // The first change after a quiet window is told at once.
    h.now = h.now.plus_ms(100);
    let (b, out) = h.connect(Some("home"), None);
    assert_eq!(out.to(a).kinds(), ["info"]);
    assert_eq!(out.to(b).kinds(), ["welcome", "info"]);
    let infos = h.hub.counters().infos;
    // Nine more within the window: each newcomer learns who is there, the others wait.
    let mut newcomers = Vec::new();
    for _ in 0..9 {
        h.now = h.now.plus_ms(5);
        let (c, out) = h.connect(Some("home"), None);
        assert_eq!(out.receivers(), [c].into());
        newcomers.push(c);
    }
    assert_eq!(h.hub.counters().infos, infos + 9);
    assert_eq!(h.hub.next_deadline(), Some(T0.plus_ms(1_200)));
    // At the window's end, everyone hears the room as it is now, once; the last newcomer
    // already has.
    h.now = T0.plus_ms(1_200);
    let out = h.input(Input::Tick);
    let last = *newcomers.last().unwrap();
    let told: BTreeSet<ConnectionId> = [a, b]
        .into_iter()
        .chain(newcomers)
        .filter(|c| *c != last)
        .collect();
    assert_eq!(out.receivers(), told);
    assert_eq!(out.to(a).info().members.len(), 10);
    assert_eq!(h.hub.counters().infos, infos + 9 + 10);
}

#[test]
fn an_owed_info_goes_out_before_anything_from_the_room() {
    let mut h = Harness::with(HubConfig {
        info_window_ms: 100,
        ..config()
    });
    let (a, _, _) = h.join("home");
    let (_b, _, _) = h.join("home");
    let (c, c_id, _) = h.join("home");
    // a has not been told of c yet; c's offer must not reach it first.
    let a_id = h
        .hub
        .member_ids()
        .into_iter()
        .find(|id| h.hub.rooms.member_on(a) == Some(id))
        .unwrap();
    let out = h.text(c, &offer_to(&a_id));
    assert_eq!(out.to(a).kinds(), ["info", "description"]);
    assert!(member_ids(out.to(a).info()).contains(&&c_id));
}

#[test]
fn a_member_away_is_not_renewed_and_resumes_with_the_token_it_holds() {
    let mut config = config();
    config.token_ttl_ms = 80_000;
    let mut h = Harness::with(config);
    let (a, _, _) = h.join("home");
    let (b, b_id, token) = h.join("home");
    h.advance(59_000);
    h.lose(b);
    // Its renewal (at 60 s) passes while it is away: only the member still there gets one.
    let out = h.advance(2_000);
    assert_eq!(out.receivers(), [a].into());
    assert_eq!(out.to(a).kinds(), ["token"]);
    assert_eq!(h.hub.counters().tokens_renewed, 1);
    let (b2, out) = h.connect(Some("home"), Some(&token));
    assert_eq!(out.to(b2).welcome().id, b_id);
}

#[test]
fn a_member_is_not_its_own_target() {
    // Found by the hub's fuzz target: the relay reached a member its own info does not list.
    let mut h = Harness::new();
    let (a, a_id, _) = h.join("home");
    let out = h.text(a, &offer_to(&a_id));
    assert_eq!(out.receivers(), [a].into());
    assert_eq!(out.to(a).error().code, ErrorCode::TargetNotFound);
    assert_eq!(h.hub.counters().relayed, 0);
}
