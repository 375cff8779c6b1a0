//! The signalling endpoint end to end: a real server on port 0, real WebSocket clients, and
//! every rule of PROTOCOL.md checked on the wire.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{candidate, offer, Client, Ending, TestServer};
use portals::signalling::protocol::Welcome;
use serde_json::json;

#[tokio::test]
async fn two_clients_meet_and_exchange_descriptions_and_candidates() {
    let server = TestServer::start(&[]).await;
    let (mut a, a_welcome, a_info) = Client::join(&server, "home").await;
    assert!(a_info.members.is_empty());
    assert_eq!(a_welcome.room.as_str(), "home");
    assert!(
        a_welcome.rtc.ice_servers.is_empty(),
        "no ICE servers by default"
    );

    let mut b = Client::connect(&server, "room=home").await;
    // The wire format itself, as a base @openlab/portals client reads it.
    let welcome = b.recv_json().await;
    assert_eq!(welcome["type"], "welcome");
    let b_id = welcome["welcome"]["id"].as_str().unwrap().to_string();
    assert!(welcome["welcome"]["token"].as_str().unwrap().len() > 40);
    assert_eq!(welcome["welcome"]["limits"]["maxMembers"], 12);
    assert_eq!(welcome["welcome"]["limits"]["maxSenders"], 24);
    assert_eq!(welcome["welcome"]["limits"]["uplinkKbps"], 2500);
    let info = b.recv_json().await;
    assert_eq!(
        info,
        json!({"type": "info", "info": {"id": b_id, "members": [{"id": a_welcome.id.as_str(), "polite": b_id.as_str() > a_welcome.id.as_str()}]}})
    );
    let a_sees = a.recv_json().await;
    assert_eq!(a_sees["info"]["members"][0]["id"], b_id.as_str());
    assert_eq!(
        a_sees["info"]["members"][0]["polite"],
        a_welcome.id.as_str() > b_id.as_str()
    );

    a.send(offer(&b_id)).await;
    let relayed = b.recv_json().await;
    assert_eq!(relayed["type"], "description");
    assert_eq!(relayed["from"], a_welcome.id.as_str());
    assert_eq!(relayed["description"], offer(&b_id)["description"]);

    b.send(candidate(a_welcome.id.as_str())).await;
    let relayed = a.recv_json().await;
    assert_eq!(relayed["from"], b_id.as_str());
    assert_eq!(relayed["candidate"]["sdpMLineIndex"], 0);

    b.send(json!({"type": "candidate", "candidate": null, "target": a_welcome.id.as_str()}))
        .await;
    assert_eq!(
        a.recv_json().await,
        json!({"type": "candidate", "candidate": null, "from": b_id})
    );

    a.send(json!({"type": "ping", "ping": 17})).await;
    assert_eq!(a.recv_json().await, json!({"type": "pong", "pong": 17}));
    b.expect_nothing_queued().await;
}

#[tokio::test]
async fn room_errors_close_with_1008() {
    let server = TestServer::start(&["--rooms", "home,misc", "--max-members", "1"]).await;
    let (_a, _, _) = Client::join(&server, "home").await;
    for (query, code) in [
        ("", "room_not_set"),
        ("room=", "room_invalid"),
        ("room=not%20valid", "room_invalid"),
        ("room=elsewhere", "room_not_found"),
        ("room=home", "room_full"),
    ] {
        let mut client = Client::connect(&server, query).await;
        assert_eq!(client.error_code().await, code, "{query}");
        assert_eq!(client.ending().await, Ending::Closed(1008), "{query}");
    }
    let rooms: serde_json::Value = server.get_json("/api/rooms").await;
    assert_eq!(
        rooms,
        json!([{"name": "home", "members": 1}, {"name": "misc", "members": 0}])
    );
}

#[tokio::test]
async fn a_joiner_with_a_verifier_lands_apart_from_the_public_room_of_that_name() {
    const VERIFIER: &str = "verifier=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let server = TestServer::start(&[]).await;
    let (mut public, public_welcome, _) = Client::join(&server, "home").await;
    let (mut b, b_welcome, b_info) =
        Client::join_with(&server, &format!("room=home&{VERIFIER}")).await;
    assert!(b_info.members.is_empty(), "{b_info:?}");
    assert_eq!(b_welcome.room.as_str(), "home");
    let (mut c, c_welcome, c_info) =
        Client::join_with(&server, &format!("room=home&{VERIFIER}")).await;
    assert_eq!(c_info.members.len(), 1);
    assert_eq!(c_info.members[0].id, b_welcome.id);
    b.info().await;

    // A sealed description goes through as written, sealed.
    let sealed = json!({"type": "offer", "sealed": "bm90IHJlYWxseSBzZWFsZWQgYnV0IGxvbmcgZW5vdWdo"});
    b.send(json!({"type": "description", "description": sealed, "target": c_welcome.id.as_str()}))
        .await;
    assert_eq!(
        c.recv_json().await,
        json!({"type": "description", "description": sealed, "from": b_welcome.id.as_str()})
    );
    // Nothing crosses between the two rooms of one name.
    public
        .send(json!({"type": "candidate", "candidate": null, "target": b_welcome.id.as_str()}))
        .await;
    assert_eq!(public.error_code().await, "target_not_found");
    c.send(json!({"type": "candidate", "candidate": null, "target": public_welcome.id.as_str()}))
        .await;
    assert_eq!(c.error_code().await, "target_not_found");
    public.expect_nothing_queued().await;

    let rooms: serde_json::Value = server.get_json("/api/rooms").await;
    assert_eq!(rooms, json!([{"name": "home", "members": 1}]));

    let mut bad = Client::connect(&server, "room=home&verifier=short").await;
    assert_eq!(bad.error_code().await, "room_invalid");
    assert_eq!(bad.ending().await, Ending::Closed(1008));
}

#[tokio::test]
async fn message_errors_keep_the_connection_usable() {
    let server = TestServer::start(&[]).await;
    let (mut a, _, _) = Client::join(&server, "home").await;
    let (mut b, b_welcome, _) = Client::join(&server, "home").await;
    a.info().await;
    let b_id = b_welcome.id.as_str();

    a.send_text("this is not JSON").await;
    assert_eq!(a.error_code().await, "bad_message");
    a.send(json!({"type": "description", "description": "not an object", "target": b_id}))
        .await;
    assert_eq!(a.error_code().await, "bad_message");
    a.send_binary(&[1, 2, 3]).await;
    assert_eq!(a.error_code().await, "bad_message");
    a.send(json!({"type": "candidate", "candidate": null}))
        .await;
    assert_eq!(a.error_code().await, "target_not_set");
    a.send(candidate("no-such-member")).await;
    assert_eq!(a.error_code().await, "target_not_found");
    a.send(json!({"type": "shout", "shout": "hi", "target": b_id}))
        .await;
    assert_eq!(a.error_code().await, "unknown_type");

    // Still a member, still relayed.
    a.send(offer(b_id)).await;
    assert_eq!(b.recv_json().await["type"], "description");
}

#[tokio::test]
async fn a_member_cannot_forge_server_messages_for_another() {
    let server = TestServer::start(&[]).await;
    let (mut a, a_welcome, _) = Client::join(&server, "home").await;
    let (mut b, b_welcome, _) = Client::join(&server, "home").await;
    a.info().await;
    let b_id = b_welcome.id.as_str();
    for (kind, payload) in [
        (
            "info",
            json!({"id": b_id, "members": [{"id": "ghost", "polite": true}]}),
        ),
        ("error", json!({"code": "room_full", "message": "go away"})),
        ("pong", json!(1)),
        ("welcome", json!({"id": "ghost", "token": "x"})),
    ] {
        a.send(json!({"type": kind, kind: payload, "target": b_id, "from": a_welcome.id.as_str()}))
            .await;
        assert_eq!(a.error_code().await, "unknown_type", "{kind}");
    }
    b.expect_nothing_queued().await;
}

#[tokio::test]
async fn a_target_in_another_room_is_refused() {
    let server = TestServer::start(&[]).await;
    let (mut a, _, _) = Client::join(&server, "home").await;
    let (mut other, other_welcome, _) = Client::join(&server, "misc").await;
    a.send(offer(other_welcome.id.as_str())).await;
    assert_eq!(a.error_code().await, "target_not_found");
    other.expect_nothing_queued().await;
}

#[tokio::test]
async fn a_client_chosen_id_is_ignored() {
    let server = TestServer::start(&[]).await;
    let (_a, a_welcome, _) = Client::join(&server, "home").await;
    let (_b, b_welcome, _) =
        Client::join_with(&server, &format!("room=home&id={}", a_welcome.id)).await;
    assert_ne!(b_welcome.id, a_welcome.id);
    let (_c, c_welcome, _) = Client::join_with(&server, "room=home&id=chosen").await;
    assert_ne!(c_welcome.id.as_str(), "chosen");
}

/// Two members of `home`: `a`, connected and told of `b`, and `b`, whose connection dropped
/// and which the server holds in its grace period. Returns `a`, its welcome and `b`'s.
async fn one_here_one_away(server: &TestServer) -> (Client, Welcome, Welcome) {
    let (mut a, a_welcome, _) = Client::join(server, "home").await;
    let (b, b_welcome, _) = Client::join(server, "home").await;
    a.info().await;
    b.vanish();
    server.wait_for_metric("portals_sessions_in_grace 1").await;
    (a, a_welcome, b_welcome)
}

#[tokio::test]
async fn a_resume_within_grace_keeps_the_id_and_the_room_sees_no_change() {
    let server = TestServer::start(&[]).await;
    let (mut a, a_welcome, b_welcome) = one_here_one_away(&server).await;
    a.expect_nothing_queued().await;

    // Sent while b is away: held for it.
    a.send(offer(b_welcome.id.as_str())).await;

    let (mut b, welcome, info) = Client::join_with(
        &server,
        &format!("room=home&token={}", b_welcome.token.as_str()),
    )
    .await;
    assert_eq!(welcome.id, b_welcome.id);
    assert_ne!(welcome.token, b_welcome.token);
    assert_eq!(info.members.len(), 1);
    assert_eq!(info.members[0].id, a_welcome.id);
    let held = b.recv_json().await;
    assert_eq!(held["type"], "description");
    assert_eq!(held["from"], a_welcome.id.as_str());
    a.expect_nothing_queued().await;
}

#[tokio::test]
async fn an_expired_or_reused_token_yields_a_fresh_member() {
    let server = TestServer::start(&["--grace-period", "200ms"]).await;
    let (mut a, _, _) = Client::join(&server, "home").await;

    // Reused: the first resume spends the token.
    let (b, b_welcome, _) = Client::join(&server, "home").await;
    a.info().await;
    b.vanish();
    let token = b_welcome.token.as_str().to_string();
    let (b, resumed, _) = Client::join_with(&server, &format!("room=home&token={token}")).await;
    assert_eq!(resumed.id, b_welcome.id);
    b.close(1000).await;
    a.info().await;
    let (_c, fresh, _) = Client::join_with(&server, &format!("room=home&token={token}")).await;
    assert_ne!(fresh.id, b_welcome.id);
    assert_eq!(a.info().await.members.len(), 1);

    // Expired: the grace period ended before the client came back.
    let (d, d_welcome, _) = Client::join(&server, "home").await;
    a.info().await;
    d.vanish();
    let gone = a.info().await;
    assert!(gone.members.iter().all(|peer| peer.id != d_welcome.id));
    let (_d, again, _) = Client::join_with(
        &server,
        &format!("room=home&token={}", d_welcome.token.as_str()),
    )
    .await;
    assert_ne!(again.id, d_welcome.id);
}

#[tokio::test]
async fn a_second_connection_with_the_newest_token_replaces_the_first() {
    let server = TestServer::start(&[]).await;
    let (mut a, _, _) = Client::join(&server, "home").await;
    let (mut b, b_welcome, _) = Client::join(&server, "home").await;
    a.info().await;
    let (mut b2, welcome, _) = Client::join_with(
        &server,
        &format!("room=home&token={}", b_welcome.token.as_str()),
    )
    .await;
    assert_eq!(welcome.id, b_welcome.id);
    assert_eq!(b.error_code().await, "session_replaced");
    assert_eq!(b.ending().await, Ending::Closed(4000));
    a.expect_nothing_queued().await;

    a.send(offer(b_welcome.id.as_str())).await;
    assert_eq!(b2.recv_json().await["type"], "description");
}

#[tokio::test]
async fn a_deliberate_close_leaves_at_once() {
    let server = TestServer::start(&[]).await;
    let (mut a, _, _) = Client::join(&server, "home").await;
    let (b, _, _) = Client::join(&server, "home").await;
    a.info().await;
    b.close(1001).await;
    assert!(a.info().await.members.is_empty());
}

#[tokio::test]
async fn an_unloading_page_is_held_for_the_reload_hold_then_leaves() {
    let server = TestServer::start(&["--reload-hold", "300ms"]).await;
    let (mut a, _, _) = Client::join(&server, "home").await;
    let (b, b_welcome, _) = Client::join(&server, "home").await;
    a.info().await;

    // A reload: the page closes with 4002 and comes back with its token.
    b.close(4002).await;
    let (b, welcome, _) = Client::join_with(
        &server,
        &format!("room=home&token={}", b_welcome.token.as_str()),
    )
    .await;
    assert_eq!(welcome.id, b_welcome.id);
    a.expect_nothing_queued().await;

    // A closed tab: the same close, and no one comes back. The room is told after the hold,
    // well inside the 20 s grace period.
    let closed_at = std::time::Instant::now();
    b.close(4002).await;
    assert!(a.info().await.members.is_empty());
    assert!(closed_at.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_silent_client_is_dropped_and_the_room_told() {
    let server = TestServer::start(&["--ping-interval", "100ms", "--grace-period", "100ms"]).await;
    let (mut a, _, _) = Client::join(&server, "home").await;
    // `silent` never reads again, so it never answers the server's pings.
    let (_silent, silent_welcome, _) = Client::join(&server, "home").await;
    assert_eq!(a.info().await.members.len(), 1);
    // a keeps reading (and so answering pings) while it waits.
    let info = a.info().await;
    assert!(info.members.is_empty(), "{info:?}");
    let rooms: serde_json::Value = server.get_json("/api/rooms").await;
    assert_eq!(rooms, json!([{"name": "home", "members": 1}]));
    // Dropped for its silence (not for a close, an error or a slow read), and left after the
    // grace period rather than at once.
    let metrics = server.get("/metrics").await;
    let metrics = metrics.body();
    for line in [
        "portals_silent_connections_dropped_total 1",
        "portals_leaves_total 1",
        "portals_sessions_in_grace 0",
    ] {
        assert!(
            metrics.lines().any(|metric| metric == line),
            "missing {line:?} in\n{metrics}"
        );
    }
    drop(silent_welcome);
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_and_the_room_told() {
    let server = TestServer::start(&[
        "--messages-per-second",
        "1000000",
        "--message-burst",
        "1000000",
        "--grace-period",
        "100ms",
    ])
    .await;
    let (mut talker, _, _) = Client::join(&server, "home").await;
    // `deaf` never reads again: first the socket buffers fill, then its outbox.
    let (_deaf, deaf_welcome, _) = Client::join(&server, "home").await;
    assert_eq!(talker.info().await.members.len(), 1);
    let offer = json!({
        "type": "description",
        "description": {"type": "offer", "sdp": "a".repeat(32 * 1024)},
        "target": deaf_welcome.id.as_str(),
    })
    .to_string();
    // Loopback buffers hold a few MiB and the outbox 1024 messages: 64 MiB is more than both.
    for _ in 0..2048 {
        talker.send_text(&offer).await;
    }
    let info = talker.info().await;
    assert!(info.members.is_empty(), "{info:?}");
    let metrics = server.get("/metrics").await.into_body();
    assert!(
        metrics
            .lines()
            .any(|line| line == "portals_slow_connections_dropped_total 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_frame_over_the_limit_closes_with_1009() {
    let server = TestServer::start(&[]).await;
    let (mut a, _, _) = Client::join(&server, "home").await;
    let huge = json!({"type": "ping", "ping": 1, "padding": "x".repeat(70 * 1024)});
    a.send(huge).await;
    assert_eq!(a.ending().await, Ending::Closed(1009));

    // Just under the limit is fine.
    let (mut b, _, _) = Client::join(&server, "home").await;
    let padding = "x".repeat(60 * 1024);
    b.send(json!({"type": "ping", "ping": 2, "padding": padding}))
        .await;
    assert_eq!(b.recv_json().await, json!({"type": "pong", "pong": 2}));
}

#[tokio::test]
async fn a_ping_frame_is_answered_and_a_message_in_fragments_is_one_message() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::{
        protocol::frame::{
            coding::{Data, OpCode},
            Frame,
        },
        Message,
    };
    let server = TestServer::start(&[]).await;
    let (mut a, _, _) = Client::join(&server, "home").await;
    a.socket
        .send(Message::Ping(b"still there?".to_vec().into()))
        .await
        .unwrap();
    let answer = tokio::time::timeout(common::PATIENCE, a.socket.next())
        .await
        .unwrap();
    assert_eq!(
        answer.unwrap().unwrap(),
        Message::Pong(b"still there?".to_vec().into())
    );

    // "é" is cut between two frames: only the whole message is UTF-8.
    let text = r#"{"type": "ping", "ping": 5, "note": "café"}"#.as_bytes();
    let cut = text.len() - 3;
    let fragments = [
        Frame::message(text[..10].to_vec(), OpCode::Data(Data::Text), false),
        Frame::message(text[10..cut].to_vec(), OpCode::Data(Data::Continue), false),
        Frame::message(text[cut..].to_vec(), OpCode::Data(Data::Continue), true),
    ];
    for fragment in fragments {
        a.socket.send(Message::Frame(fragment)).await.unwrap();
    }
    assert_eq!(a.recv_json().await, json!({"type": "pong", "pong": 5}));
}

#[tokio::test]
async fn pings_beyond_the_budget_go_unanswered() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let server = TestServer::start(&["--messages-per-second", "1", "--message-burst", "3"]).await;
    let (mut a, _, _) = Client::join(&server, "home").await;
    for n in 0..5u8 {
        a.socket.send(Message::Ping(vec![n].into())).await.unwrap();
    }
    // Over the budget too: its refusal comes after every pong the pings were given.
    a.send(json!({"type": "ping", "ping": 1})).await;
    let mut pongs = Vec::new();
    tokio::time::timeout(common::PATIENCE, async {
        loop {
            match a.socket.next().await.unwrap().unwrap() {
                Message::Pong(payload) => pongs.push(payload.to_vec()),
                Message::Text(text) if text.contains("rate_limited") => break,
                _ => {}
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(pongs, [[0], [1], [2]]);
}

#[tokio::test]
async fn a_message_sent_with_the_opening_request_is_read() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = TestServer::start(&[]).await;
    // The request and a first frame in one write, as a client that does not wait for the 101
    // sends them: the HTTP server reads both, and the frame must reach the WebSocket.
    let mut bytes = format!(
        "GET /portal?room=home HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\n\
         Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        server.addr
    )
    .into_bytes();
    let message = br#"{"type":"ping","ping":7}"#;
    let mask = [1, 2, 3, 4];
    bytes.extend([0x81, 0x80 | message.len() as u8]);
    bytes.extend(mask);
    bytes.extend(message.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(&bytes).await.unwrap();
    let mut received = Vec::new();
    tokio::time::timeout(common::PATIENCE, async {
        while !String::from_utf8_lossy(&received).contains(r#"{"type":"pong","pong":7}"#) {
            let mut chunk = [0; 4096];
            let n = stream.read(&mut chunk).await.unwrap();
            assert_ne!(n, 0, "closed: {:?}", String::from_utf8_lossy(&received));
            received.extend_from_slice(&chunk[..n]);
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no pong in {:?}", String::from_utf8_lossy(&received)));
    let received = String::from_utf8_lossy(&received);
    assert!(
        received.starts_with("HTTP/1.1 101 Switching Protocols\r\n")
            && received.contains("sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
        "{received}"
    );
}

#[tokio::test]
async fn a_foreign_origin_is_refused_before_the_upgrade() {
    let server = TestServer::start(&[]).await;
    assert_eq!(
        Client::connect_from_origin(&server, "http://evil.example")
            .await
            .err(),
        Some(403)
    );
    let own = format!("http://{}", server.addr);
    assert!(Client::connect_from_origin(&server, &own).await.is_ok());

    let server = TestServer::start(&["--allowed-origin", "https://wall.example.org"]).await;
    assert!(
        Client::connect_from_origin(&server, "https://wall.example.org")
            .await
            .is_ok()
    );
    assert_eq!(
        Client::connect_from_origin(&server, "http://evil.example")
            .await
            .err(),
        Some(403)
    );
}

#[tokio::test]
async fn floods_are_rate_limited_then_closed() {
    let server = TestServer::start(&["--messages-per-second", "1", "--message-burst", "3"]).await;
    let (mut a, a_welcome, _) = Client::join(&server, "home").await;
    let (mut b, _, _) = Client::join(&server, "home").await;
    a.info().await;
    for n in 0..3 {
        a.send(json!({"type": "ping", "ping": n})).await;
        assert_eq!(a.recv_json().await["type"], "pong");
    }
    // Keep flooding (well inside half a second, so neither budget refills): ten messages
    // over budget are dropped, each refused; the eleventh spends the budget of drops too,
    // and closes the connection with its reason.
    for n in 0..11 {
        a.send(json!({"type": "ping", "ping": n})).await;
    }
    for _ in 0..11 {
        assert_eq!(a.error_code().await, "rate_limited");
    }
    assert_eq!(a.ending().await, Ending::Closed(1008));
    // Closed for abuse is gone, not in grace.
    let info = b.info().await;
    assert!(info.members.iter().all(|peer| peer.id != a_welcome.id));
    server
        .wait_for_metric("portals_messages_refused_total{code=\"rate_limited\"} 11")
        .await;
}

#[tokio::test]
async fn twice_the_budget_sustained_is_closed_within_seconds() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let server = TestServer::start(&["--messages-per-second", "20", "--message-burst", "20"]).await;
    let (a, _, _) = Client::join(&server, "home").await;
    let (mut sink, mut stream) = a.socket.split();
    // Forty messages a second, for up to ten seconds.
    let flood = tokio::spawn(async move {
        let mut pace = tokio::time::interval(Duration::from_millis(25));
        for n in 0..400 {
            pace.tick().await;
            let ping = json!({"type": "ping", "ping": n}).to_string();
            if sink.send(Message::Text(ping.into())).await.is_err() {
                return n;
            }
        }
        400
    });
    let started = tokio::time::Instant::now();
    let (mut pongs, mut refused) = (0, 0);
    let code = loop {
        let frame = tokio::time::timeout(Duration::from_secs(15), stream.next())
            .await
            .expect("the server says something within 15 s");
        match frame {
            Some(Ok(Message::Text(text))) => {
                let value: serde_json::Value = serde_json::from_str(text.as_str()).unwrap();
                match value["type"].as_str() {
                    Some("pong") => pongs += 1,
                    Some("error") => {
                        assert_eq!(value["error"]["code"], "rate_limited");
                        refused += 1;
                    }
                    _ => {}
                }
            }
            Some(Ok(Message::Close(Some(frame)))) => break u16::from(frame.code),
            Some(Ok(_)) => {}
            other => panic!("the connection ended without a close frame: {other:?}"),
        }
    };
    let took = started.elapsed();
    flood.abort();
    println!("closed after {took:?}: {pongs} answered, {refused} refused");
    assert_eq!(code, 1008);
    // 20 at once, then 20 a second; then 20 drops and a few seconds of refill at most.
    assert!(took < Duration::from_secs(6), "closed after {took:?}");
    assert!(pongs >= 20, "{pongs} answered");
    assert!(refused > 20, "{refused} refused");
}

#[tokio::test]
async fn a_restarted_server_with_the_same_secret_gives_ids_back() {
    let flags = ["--secret", "shared secret for the test"];
    let server = TestServer::start(&flags).await;
    let (mut a, a_welcome, _) = Client::join(&server, "home").await;
    server.stop().await;
    assert_eq!(a.ending().await, Ending::Closed(1001), "told to go away");
    // Tokens issued before a process started are the ones it may restore.
    tokio::time::sleep(Duration::from_millis(5)).await;

    let server = TestServer::start(&flags).await;
    let (_a, welcome, _) = Client::join_with(
        &server,
        &format!("room=home&token={}", a_welcome.token.as_str()),
    )
    .await;
    assert_eq!(welcome.id, a_welcome.id);
}

#[tokio::test]
async fn shutdown_tells_every_socket_1001_and_waits_for_them() {
    // As in the binary, the server's runtime is dropped once `serve` returns: a close frame not
    // written by then never is.
    let (server, runtime) = common::OwnRuntime::start(&["--shutdown-grace", "3s"]);
    let mut clients = Vec::new();
    for room in 0..20 {
        clients.push(Client::join(&server, &format!("room-{room}")).await.0);
    }
    let took = runtime.stop().await;
    for client in &mut clients {
        assert_eq!(client.ending().await, Ending::Closed(1001));
    }
    assert!(
        took < Duration::from_secs(3),
        "it sat out the grace: {took:?}"
    );
}

#[tokio::test]
async fn a_resume_gets_its_welcome_whatever_was_held_for_it() {
    let server = TestServer::start(&[]).await;
    let (mut a, a_welcome, b_welcome) = one_here_one_away(&server).await;
    // Twenty messages of 60 KB for b while it is away: more than its outbox takes at once.
    let padding = "x".repeat(60 * 1024);
    for n in 0..20 {
        a.send(json!({"type": "candidate", "candidate": {"candidate": format!("{n} {padding}"), "sdpMid": "0", "sdpMLineIndex": 0}, "target": b_welcome.id.as_str()}))
            .await;
    }
    a.expect_nothing_queued().await;

    let (mut b, welcome, info) = Client::join_with(
        &server,
        &format!("room=home&token={}", b_welcome.token.as_str()),
    )
    .await;
    assert_eq!(welcome.id, b_welcome.id, "the same session");
    assert_eq!(info.members[0].id, a_welcome.id);
    // The newest of what was held, as much as fits in 256 KiB, in order.
    let mut held = Vec::new();
    for _ in 0..4 {
        let message = b.recv_json().await;
        assert_eq!(message["type"], "candidate");
        let line = message["candidate"]["candidate"].as_str().unwrap();
        held.push(line.split(' ').next().unwrap().to_string());
    }
    assert_eq!(held, ["16", "17", "18", "19"]);
    b.expect_nothing_queued().await;
    server
        .wait_for_metric("portals_held_messages_dropped_total 16")
        .await;
}

#[tokio::test]
async fn a_resume_after_the_grace_period_gets_a_new_id() {
    let server = TestServer::start(&["--grace-period", "1s"]).await;
    let (mut a, _, b_welcome) = one_here_one_away(&server).await;
    // The server wakes for the deadline itself: the room hears of it with no one speaking.
    let gone = a.info().await;
    assert!(gone.members.is_empty(), "{gone:?}");
    let (_b, welcome, _) = Client::join_with(
        &server,
        &format!("room=home&token={}", b_welcome.token.as_str()),
    )
    .await;
    assert_ne!(welcome.id, b_welcome.id);
}

async fn fresh_token(client: &mut Client) -> String {
    let message = client.recv_json().await;
    assert_eq!(message["type"], "token", "{message}");
    message["token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_long_running_member_is_sent_fresh_tokens_that_resume_it() {
    let flags = [
        "--token-ttl",
        "3s",
        "--grace-period",
        "400ms",
        "--ping-interval",
        "100ms",
    ];
    let server = TestServer::start(&flags).await;
    let (mut a, a_welcome, _) = Client::join(&server, "home").await;
    // At three quarters of each token's life: 2.25 s, then 4.5 s, by when the first has expired.
    let _first_renewal = fresh_token(&mut a).await;
    let second_renewal = fresh_token(&mut a).await;
    a.vanish();
    server.wait_for_metric("portals_sessions_in_grace 1").await;
    let (b, expired, _) = Client::join_with(
        &server,
        &format!("room=home&token={}", a_welcome.token.as_str()),
    )
    .await;
    assert_ne!(
        expired.id, a_welcome.id,
        "the token of the welcome has expired"
    );
    b.close(1000).await;
    let (_a, resumed, _) =
        Client::join_with(&server, &format!("room=home&token={second_renewal}")).await;
    assert_eq!(resumed.id, a_welcome.id);
    server
        .wait_for_metric("portals_tokens_renewed_total 2")
        .await;
}
