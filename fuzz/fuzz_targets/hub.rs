//! The hub driven by arbitrary sequences of connections, messages, departures and time, with
//! its invariants checked after every input (`Hub::check_invariants`: no member in two rooms,
//! every connection a member's live link, no session or token without its member, nothing
//! past its deadline), every relay checked to stay within a room, and nothing left once
//! everyone has gone.
#![no_main]

use std::collections::HashMap;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use portals::signalling::{
    protocol::{Role, RoomName},
    Action, ClientMessage, ConnectionId, Departure, HeldLimit, Hub, HubConfig, Input, JoinQuery,
    MemberId, ServerMessage, Timestamp,
};

#[derive(Arbitrary, Debug)]
enum Op {
    Connect {
        room: u8,
        /// Present one of the tokens handed out so far.
        token: Option<u8>,
        role: u8,
        newcomer_offers: bool,
    },
    Send {
        from: u8,
        target: u8,
        kind: u8,
        size: u16,
    },
    Leave {
        connection: u8,
        how: u8,
    },
    Advance {
        ms: u16,
    },
    /// The clock stepping back, which the hub must ignore.
    StepBack {
        ms: u16,
    },
}

const ROOMS: [&str; 3] = ["a", "b", "bad room"];

fuzz_target!(|ops: Vec<Op>| {
    let boot = Timestamp(1_000_000);
    let mut hub = Hub::new(HubConfig {
        max_members: 3,
        max_senders: 4,
        grace_period_ms: 2_000,
        reload_hold_ms: 300,
        info_window_ms: 50,
        token_ttl_ms: 8_000,
        held: HeldLimit {
            messages: 4,
            bytes: 4_096,
        },
        ..HubConfig::with_defaults(boot, b"fuzz".to_vec(), [9; 32])
    });
    let mut now = boot.plus_ms(10);
    let mut next = 1u64;
    // What the transport knows: each open connection's member and room, from its welcome.
    let mut open: Vec<(ConnectionId, MemberId, RoomName)> = Vec::new();
    let mut rooms_of: HashMap<MemberId, RoomName> = HashMap::new();
    let mut tokens: Vec<String> = Vec::new();
    // Whom each connection was last told is in its room: no one hears from anyone else.
    let mut told: HashMap<ConnectionId, Vec<MemberId>> = HashMap::new();
    // The hub's time never goes back, whatever the clock handed in does.
    let mut latest = now;
    for op in ops.into_iter().take(512) {
        let input_out = match op {
            Op::Connect {
                room,
                token,
                role,
                newcomer_offers,
            } => {
                let query = JoinQuery {
                    room: Some(ROOMS[usize::from(room) % ROOMS.len()].to_string()),
                    token: token.and_then(|pick| {
                        (!tokens.is_empty())
                            .then(|| tokens[usize::from(pick) % tokens.len()].clone())
                    }),
                    newcomer_offers,
                    role: [Role::Both, Role::Camera, Role::Wall][usize::from(role) % 3],
                };
                let connection = ConnectionId(next);
                next += 1;
                let out = hub.handle(
                    now,
                    Input::Connect {
                        connection,
                        query: &query,
                    },
                );
                (Some(connection), out)
            }
            Op::Send {
                from,
                target,
                kind,
                size,
            } if !open.is_empty() => {
                let (connection, _, _) = &open[usize::from(from) % open.len()];
                let ids = hub.member_ids();
                let target = if ids.is_empty() || target == u8::MAX {
                    MemberId::new("nobody")
                } else {
                    ids[usize::from(target) % ids.len()].clone()
                };
                let padding = "x".repeat(usize::from(size) % 2_000);
                let text = match kind % 3 {
                    0 => serde_json::json!({"type": "description", "description": {"type": "offer", "sdp": padding}, "target": target}),
                    1 => serde_json::json!({"type": "candidate", "candidate": {"candidate": padding, "sdpMid": "0", "sdpMLineIndex": 0}, "target": target}),
                    _ => serde_json::json!({"type": "ping", "ping": 1}),
                }
                .to_string();
                let message = ClientMessage::decode(&text).expect("well-formed");
                (
                    None,
                    hub.handle(
                        now,
                        Input::Message {
                            connection: *connection,
                            message,
                        },
                    ),
                )
            }
            Op::Leave { connection, how } if !open.is_empty() => {
                let (connection, _, _) = open.remove(usize::from(connection) % open.len());
                let departure =
                    [Departure::Left, Departure::Lost, Departure::Unloading][usize::from(how) % 3];
                (
                    None,
                    hub.handle(
                        now,
                        Input::Disconnect {
                            connection,
                            departure,
                        },
                    ),
                )
            }
            Op::Advance { ms } => {
                now = now.plus_ms(u64::from(ms));
                latest = latest.max(now);
                (None, hub.handle(now, Input::Tick))
            }
            Op::StepBack { ms } => {
                now = Timestamp(now.0.saturating_sub(u64::from(ms)));
                (None, hub.handle(now, Input::Tick))
            }
            _ => continue,
        };
        let (connected, out) = input_out;
        for outbound in &out {
            match &outbound.action {
                Action::Send(ServerMessage::Welcome(welcome)) => {
                    assert_eq!(
                        Some(outbound.to),
                        connected,
                        "a welcome goes to the newcomer"
                    );
                    tokens.push(welcome.token.as_str().to_string());
                    rooms_of.insert(welcome.id.clone(), welcome.room.clone());
                    open.push((outbound.to, welcome.id.clone(), welcome.room.clone()));
                }
                Action::Send(
                    ServerMessage::Description { from, .. } | ServerMessage::Candidate { from, .. },
                ) => {
                    let (_, _, room) = open
                        .iter()
                        .find(|(connection, _, _)| *connection == outbound.to)
                        .expect("relayed to an open connection");
                    assert_eq!(rooms_of.get(from), Some(room), "a relay stays in its room");
                    assert!(
                        told.get(&outbound.to)
                            .is_some_and(|members| members.contains(from)),
                        "relayed from a member the receiver's last info lists"
                    );
                }
                Action::Send(ServerMessage::Info(info)) => {
                    let (_, id, room) = open
                        .iter()
                        .find(|(connection, _, _)| *connection == outbound.to)
                        .expect("info to an open connection");
                    assert_eq!(&info.id, id);
                    for peer in &info.members {
                        assert_eq!(rooms_of.get(&peer.id), Some(room), "info lists its room");
                    }
                    told.insert(
                        outbound.to,
                        info.members.iter().map(|peer| peer.id.clone()).collect(),
                    );
                }
                Action::Close(_) => open.retain(|(connection, _, _)| *connection != outbound.to),
                Action::Send(_) => {}
            }
        }
        hub.check_invariants();
    }
    // Everyone goes; once every grace period is over, nothing is left.
    for (connection, _, _) in std::mem::take(&mut open) {
        hub.handle(
            now,
            Input::Disconnect {
                connection,
                departure: Departure::Lost,
            },
        );
    }
    hub.handle(latest.plus_ms(60_000), Input::Tick);
    hub.check_invariants();
    let gauges = hub.gauges();
    assert_eq!(
        (
            gauges.rooms,
            gauges.members,
            gauges.connections,
            gauges.in_grace
        ),
        (0, 0, 0, 0)
    );
});
