//! The `/portal` WebSocket endpoint: everything about sockets, and nothing about rooms.
//!
//! Each connection is one task that reads frames, writes what the hub queued for it and pings.
//! One task rather than a reader and a writer keeps an idle connection small.

use std::{collections::HashSet, sync::Arc, time::Duration};

use axum::{
    extract::{
        ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade},
        RawQuery, State,
    },
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use futures_util::SinkExt;
use tokio::{
    sync::mpsc,
    time::{interval_at, timeout, Instant, MissedTickBehavior},
};

use super::{
    switchboard::{Outbound, OUTBOX_CAPACITY},
    Portal,
};
use crate::signalling::{CloseCode, ConnectionId, Departure, ServerMessage};

/// The socket's read buffer, allocated up front for every connection. Signalling messages are
/// small (candidates ~200 B, descriptions a few KiB), so tungstenite's 128 KiB default would
/// only cost memory; bigger frames are still read, in more than one go.
const READ_BUFFER_BYTES: usize = 4 * 1024;
/// Outgoing bytes gathered before a write; a batch is flushed as one write anyway.
const WRITE_BUFFER_BYTES: usize = 16 * 1024;
/// Most queued messages written in one batch before flushing.
const BATCH: usize = 64;

/// Which web pages may open the WebSocket from a visitor's browser.
#[derive(Clone, Debug, Default)]
pub struct OriginPolicy {
    any: bool,
    /// Lower-case `scheme://host[:port]`.
    allowed: HashSet<String>,
}

impl OriginPolicy {
    pub fn new(allowed: &[String]) -> Self {
        Self {
            any: allowed.iter().any(|origin| origin.trim() == "*"),
            allowed: allowed
                .iter()
                .map(|origin| origin.trim().trim_end_matches('/').to_ascii_lowercase())
                .collect(),
        }
    }

    /// A request without `Origin` comes from no browser and cannot be abused by another web
    /// page, so it is let through; a browser's request must come from the page's own host or
    /// a configured origin.
    pub fn allows(&self, origin: Option<&str>, host: Option<&str>) -> bool {
        let Some(origin) = origin else {
            return true;
        };
        let origin = origin.trim_end_matches('/').to_ascii_lowercase();
        if self.any || self.allowed.contains(&origin) {
            return true;
        }
        let authority = origin.split_once("://").map(|(_, authority)| authority);
        match (authority, host) {
            (Some(authority), Some(host)) => authority.eq_ignore_ascii_case(host),
            _ => false,
        }
    }
}

pub async fn upgrade(
    upgrade: WebSocketUpgrade,
    State(portal): State<Arc<Portal>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let header_text = |name| headers.get(name).and_then(|value| value.to_str().ok());
    if !portal
        .origins
        .allows(header_text(header::ORIGIN), header_text(header::HOST))
    {
        return (
            StatusCode::FORBIDDEN,
            "this origin may not open the signalling socket\n",
        )
            .into_response();
    }
    let (room, token) = room_and_token(query.as_deref());
    let limit = portal.max_message_bytes;
    upgrade
        .max_message_size(limit)
        .max_frame_size(limit)
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .on_failed_upgrade(|error| tracing::debug!(%error, "WebSocket upgrade failed"))
        .on_upgrade(move |socket| async move {
            let (outbox, inbox) = mpsc::channel(OUTBOX_CAPACITY);
            let connection = portal
                .switchboard
                .connect(outbox, room.as_deref(), token.as_deref());
            drop((room, token));
            let departure = serve(socket, &portal, connection, inbox).await;
            portal.switchboard.disconnect(connection, departure);
        })
}

/// `room` and `token` from the query string. The base format's `id` is ignored on purpose:
/// ids are the server's to give.
fn room_and_token(query: Option<&str>) -> (Option<String>, Option<String>) {
    let (mut room, mut token) = (None, None);
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "room" if room.is_none() => room = Some(value.into_owned()),
            "token" if token.is_none() => token = Some(value.into_owned()),
            _ => {}
        }
    }
    (room, token)
}

/// Runs one connection until it ends and says how it ended.
async fn serve(
    mut socket: WebSocket,
    portal: &Portal,
    connection: ConnectionId,
    mut inbox: mpsc::Receiver<Outbound>,
) -> Departure {
    let interval = portal.ping_interval;
    let mut pings = interval_at(Instant::now() + interval, interval);
    pings.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_heard = Instant::now();
    loop {
        tokio::select! {
            outbound = inbox.recv() => {
                let outcome = match outbound {
                    Some(Outbound::Message(message)) => {
                        write_batch(&mut socket, message, &mut inbox, interval).await
                    }
                    Some(Outbound::Close(code)) => Err(Some(code)),
                    // The switchboard dropped the outbox: this client reads too slowly.
                    None => Err(Some(CloseCode::POLICY)),
                };
                if let Err(close) = outcome {
                    if let Some(code) = close {
                        close_with(&mut socket, code, interval).await;
                    }
                    return Departure::Lost;
                }
            }
            frame = socket.recv() => {
                last_heard = Instant::now();
                match frame {
                    Some(Ok(Message::Text(text))) => portal.switchboard.text(connection, text.as_str()),
                    Some(Ok(Message::Binary(_))) => portal.switchboard.binary(connection),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Ok(Message::Close(frame))) => {
                        // tungstenite has queued the reply; flush it.
                        let _ = timeout(interval, socket.close()).await;
                        return departure_of(frame.as_ref());
                    }
                    Some(Err(error)) => {
                        if is_too_big(error) {
                            close_with(&mut socket, CloseCode::TOO_BIG, interval).await;
                        }
                        return Departure::Lost;
                    }
                    None => return Departure::Lost,
                }
            }
            _ = pings.tick() => {
                if last_heard.elapsed() >= interval * 2 {
                    tracing::debug!(connection = connection.0, "dropping a silent connection");
                    portal.metrics.silent_drops.inc();
                    return Departure::Lost;
                }
                let ping = socket.send(Message::Ping(Default::default()));
                if !matches!(timeout(interval, ping).await, Ok(Ok(()))) {
                    return Departure::Lost;
                }
            }
        }
    }
}

/// Writes one message and whatever else is already queued, then flushes once. `Err` says the
/// connection is over, with the close code to send if there is one.
async fn write_batch(
    socket: &mut WebSocket,
    first: ServerMessage,
    inbox: &mut mpsc::Receiver<Outbound>,
    write_timeout: Duration,
) -> Result<(), Option<CloseCode>> {
    let mut close = None;
    let written = timeout(write_timeout, async {
        socket.feed(text(&first)).await?;
        for _ in 1..BATCH {
            match inbox.try_recv() {
                Ok(Outbound::Message(message)) => socket.feed(text(&message)).await?,
                Ok(Outbound::Close(code)) => {
                    close = Some(code);
                    break;
                }
                Err(_) => break,
            }
        }
        socket.flush().await
    })
    .await;
    match (written, close) {
        (Ok(Ok(())), None) => Ok(()),
        (Ok(Ok(())), Some(code)) => Err(Some(code)),
        // A failed or stalled write: the peer is gone or not reading.
        _ => Err(None),
    }
}

fn text(message: &ServerMessage) -> Message {
    Message::Text(message.encode().into())
}

async fn close_with(socket: &mut WebSocket, code: CloseCode, write_timeout: Duration) {
    let reason = match code {
        CloseCode::TOO_BIG => "message too big",
        CloseCode::SESSION_REPLACED => "session replaced",
        CloseCode::GOING_AWAY => "server restarting",
        _ => "policy violation",
    };
    let frame = CloseFrame {
        code: code.0,
        reason: reason.into(),
    };
    let _ = timeout(write_timeout, socket.send(Message::Close(Some(frame)))).await;
}

/// A client that closes with 1000 or 1001 (or without a code) is leaving; any other code, or
/// no close frame at all, is a drop it may come back from.
fn departure_of(frame: Option<&CloseFrame>) -> Departure {
    match frame {
        None => Departure::Left,
        Some(frame) if CloseCode(frame.code).is_deliberate_leave() => Departure::Left,
        Some(_) => Departure::Lost,
    }
}

/// Whether a read failed because the frame was over the size limit. axum boxes tungstenite's
/// error; its type is the only way to tell this case apart.
fn is_too_big(error: axum::Error) -> bool {
    matches!(
        error.into_inner().downcast_ref::<tungstenite::Error>(),
        Some(tungstenite::Error::Capacity(_))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pages_own_origin_and_non_browsers_are_allowed() {
        let policy = OriginPolicy::new(&[]);
        assert!(policy.allows(None, Some("127.0.0.1:3000")));
        assert!(policy.allows(Some("http://127.0.0.1:3000"), Some("127.0.0.1:3000")));
        assert!(policy.allows(Some("https://Wall.Example.org"), Some("wall.example.org")));
        assert!(!policy.allows(Some("http://evil.example"), Some("127.0.0.1:3000")));
        assert!(!policy.allows(Some("http://127.0.0.1:3001"), Some("127.0.0.1:3000")));
        assert!(!policy.allows(Some("null"), Some("127.0.0.1:3000")));
        assert!(!policy.allows(Some("http://127.0.0.1:3000"), None));
    }

    #[test]
    fn configured_origins_are_allowed_too() {
        let policy = OriginPolicy::new(&["https://wall.example.org/".into()]);
        assert!(policy.allows(Some("https://wall.example.org"), Some("internal:3000")));
        assert!(!policy.allows(Some("http://wall.example.org"), Some("internal:3000")));
        assert!(OriginPolicy::new(&["*".into()]).allows(Some("null"), None));
    }

    #[test]
    fn the_query_gives_room_and_token_and_ignores_id() {
        assert_eq!(
            room_and_token(Some("room=home&id=mine&token=a.b")),
            (Some("home".into()), Some("a.b".into()))
        );
        assert_eq!(
            room_and_token(Some("room=coffee%2Dchat")),
            (Some("coffee-chat".into()), None)
        );
        assert_eq!(room_and_token(None), (None, None));
    }
}
