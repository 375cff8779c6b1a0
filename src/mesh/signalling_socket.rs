//! The browser's WebSocket to `/portal`: keeps it open, reconnects with backoff and jitter,
//! presents the resume token, and queues outbound messages while it is down.
//!
//! Every closure handed to the browser is an `EventListener` or timer owned by this socket and
//! removed when it is dropped; each only sends an event to the mesh's queue, and the mesh hands
//! it back to [`SignallingSocket::handle`].

use std::collections::VecDeque;

use gloo_events::EventListener;
use gloo_timers::callback::{Interval, Timeout};
use wasm_bindgen::JsCast;
use web_sys::{CloseEvent, MessageEvent, WebSocket};

use super::{
    events::Events,
    plan::reconnect_delay,
    session_store::{Claim, Session, SessionStore},
};
use crate::signalling::{
    private_room::{PrivateRoom, RoomSeal, VERIFIER},
    protocol::{Role, NEWCOMER_OFFERS, ROLE},
    ClientMessage, MemberId, ServerMessage,
};

/// How often the client pings the server, to notice a dead connection the browser has not.
const HEARTBEAT_MS: u32 = 5_000;
/// Silence after which the connection counts as dead.
const SILENCE_LIMIT_MS: f64 = 12_000.0;
/// Messages kept while disconnected; negotiation re-offers, so old ones are the ones to drop.
const QUEUE_LIMIT: usize = 512;
/// Our own close code for "I will be back": the server keeps our seat for the grace period.
const CLOSE_RECONNECTING: u16 = 4001;
/// The page is unloading, maybe for a reload: the server keeps our seat for its short reload
/// hold, and the next page resumes with the token it finds in `sessionStorage`.
const CLOSE_UNLOADING: u16 = 4002;

/// What the socket tells the mesh.
pub enum SocketEvent {
    Message(ServerMessage),
    /// The connection dropped; the next attempt is scheduled.
    Reconnecting {
        seconds_left: u32,
    },
}

/// What the socket's listeners and timers send to the mesh's queue, for the socket. Events of
/// one WebSocket carry its number: those of a socket already replaced are dropped.
pub enum SocketInput {
    Opened(u32),
    Received(u32, String),
    Closed(u32, u16),
    Heartbeat(u32),
    RetryDue,
    Countdown,
    /// `online`, or the page became visible: a good moment not to wait for the next attempt.
    GoodMoment,
    /// `pagehide`: the tab is going away, maybe for a reload.
    PageHide,
    /// `pageshow` from the back-forward cache.
    PageRestored,
    SessionChannel(String),
    ProbeOver,
}

/// A private room's side of the socket: every `description` and `candidate` is sealed on its
/// way out and opened on its way in.
struct Sealing {
    seal: RoomSeal,
    /// Who we are, as the last `welcome` (or a base server's `info`) said: the sender of what
    /// we seal and the receiver of what we open.
    me: Option<MemberId>,
    /// Messages from members that did not open, or were not sealed.
    dropped: u32,
}

pub struct SignallingSocket {
    /// `ws[s]://host/portal?room=<room>&newcomer_offers=1[&role=…]`; the token is appended per
    /// attempt.
    endpoint: String,
    events: Events,
    /// The session kept across reloads of this tab.
    session: SessionStore,
    live: Option<Live>,
    /// Numbers the WebSockets opened, so that late events of a replaced one are told apart.
    sockets_opened: u32,
    token: Option<String>,
    claimed_id: Option<MemberId>,
    /// Failed attempts in a row.
    attempt: u32,
    retry: Option<Retry>,
    queue: VecDeque<String>,
    /// In a private room.
    sealing: Option<Sealing>,
    /// Set by `stop` or a fatal error: never reconnect.
    stopped: bool,
    pings: u64,
    /// `online`, `visibilitychange`, `pagehide`, `pageshow`.
    _window_listeners: Vec<EventListener>,
}

/// One WebSocket and everything registered on it.
struct Live {
    number: u32,
    socket: WebSocket,
    open: bool,
    /// The server has told us who we are on this connection (`welcome`, or a base server's
    /// first `info`). Until then nothing queued goes out: it was addressed by an identity the
    /// server may no longer give us.
    joined: bool,
    last_heard: f64,
    _listeners: [EventListener; 3],
    _heartbeat: Option<Interval>,
}

impl Drop for Live {
    fn drop(&mut self) {
        // Listeners are removed by their own drop; a socket still open is told we are coming
        // back (the caller decides otherwise by closing with 1000 first).
        let _ = self
            .socket
            .close_with_code_and_reason(CLOSE_RECONNECTING, "reconnecting");
    }
}

/// The next attempt, and the countdown shown until then.
struct Retry {
    deadline: f64,
    _attempt: Timeout,
    _countdown: Interval,
}

impl Retry {
    fn seconds_left(&self) -> u32 {
        ((self.deadline - js_sys::Date::now()) / 1000.0)
            .ceil()
            .max(0.0) as u32
    }
}

impl SignallingSocket {
    /// Connects to `room` on the page's own server, once the tab's stored session is claimed;
    /// to its private room if `private`.
    pub fn open(room: &str, role: Role, private: Option<PrivateRoom>, events: &Events) -> Self {
        let window = web_sys::window().expect("the wall runs in a window");
        let document = window.document().expect("a window has a document");
        let send = |input: fn() -> SocketInput| {
            let events = events.clone();
            move |_: &web_sys::Event| events.socket(input())
        };
        let visible = {
            let events = events.clone();
            let document = document.clone();
            move |_: &web_sys::Event| {
                if document.visibility_state() == web_sys::VisibilityState::Visible {
                    events.socket(SocketInput::GoodMoment);
                }
            }
        };
        let back = {
            let events = events.clone();
            move |event: &web_sys::Event| {
                if event
                    .dyn_ref::<web_sys::PageTransitionEvent>()
                    .is_some_and(|event| event.persisted())
                {
                    events.socket(SocketInput::PageRestored);
                }
            }
        };
        let window_listeners = vec![
            EventListener::new(&window, "online", send(|| SocketInput::GoodMoment)),
            EventListener::new(&document, "visibilitychange", visible),
            EventListener::new(&window, "pagehide", send(|| SocketInput::PageHide)),
            EventListener::new(&window, "pageshow", back),
        ];
        let mut socket = Self {
            endpoint: endpoint(room, role, private.as_ref()),
            events: events.clone(),
            // A private room's session is not the public room's of the same name, nor another
            // key's.
            session: SessionStore::open(
                &match &private {
                    Some(private) => format!("{room}:{}", private.verifier.as_str()),
                    None => room.to_string(),
                },
                events,
            ),
            live: None,
            sockets_opened: 0,
            token: None,
            claimed_id: None,
            attempt: 0,
            retry: None,
            queue: VecDeque::new(),
            sealing: private.map(|private| Sealing {
                seal: private.seal,
                me: None,
                dropped: 0,
            }),
            stopped: false,
            pings: 0,
            _window_listeners: window_listeners,
        };
        // A reload resumes the session this tab had, unless a live tab holds it.
        if let Claim::Now(session) = socket.session.claim(events) {
            // Nothing is shown yet: a browser that refuses the very first socket shows the
            // countdown at its first tick.
            let _ = socket.resume(session);
        }
        socket
    }

    /// Handles one of the socket's own events; returns what the mesh should know of it.
    pub fn handle(&mut self, input: SocketInput) -> Option<SocketEvent> {
        let current = |number: u32| self.live.as_ref().is_some_and(|live| live.number == number);
        match input {
            SocketInput::Opened(number) if current(number) => self.opened(),
            SocketInput::Received(number, text) if current(number) => {
                if let Some(live) = self.live.as_mut() {
                    live.last_heard = js_sys::Date::now();
                }
                match ServerMessage::decode(&text) {
                    Ok(message) => return self.received(message).map(SocketEvent::Message),
                    Err(error) => web_sys::console::warn_1(
                        &format!("portals: ignoring a server message: {error}").into(),
                    ),
                }
            }
            SocketInput::Closed(number, code) if current(number) => return self.closed(code),
            SocketInput::Heartbeat(number) if current(number) => return self.heartbeat(),
            SocketInput::RetryDue if self.retry.is_some() && !self.stopped => {
                return self.connect()
            }
            SocketInput::Countdown => {
                if let Some(retry) = &self.retry {
                    return Some(SocketEvent::Reconnecting {
                        seconds_left: retry.seconds_left(),
                    });
                }
            }
            SocketInput::GoodMoment if self.retry.is_some() && !self.stopped => {
                return self.connect()
            }
            SocketInput::PageHide => self.unload(),
            SocketInput::PageRestored => {
                self.stopped = false;
                return self.connect();
            }
            SocketInput::SessionChannel(text) => self.session.heard(&text),
            SocketInput::ProbeOver => {
                if let Some(session) = self.session.probe_over() {
                    return self.resume(session);
                }
            }
            // Late news of a socket already replaced, or a retry no longer wanted.
            _ => {}
        }
        None
    }

    fn resume(&mut self, session: Option<Session>) -> Option<SocketEvent> {
        self.token = session.as_ref().map(|(_, token)| token.clone());
        self.claimed_id = session.map(|(id, _)| MemberId::new(id));
        self.connect()
    }

    /// The session the server gave us (our id and the token to present on the next
    /// (re)connection, in this page or the next one of this tab), or `None` from a server that
    /// has no sessions.
    pub fn set_session(&mut self, session: Option<(&str, &str)>) {
        match session {
            Some((id, token)) => self.session.save(id, token),
            None => self.session.forget(),
        }
        self.token = session.map(|(_, token)| token.to_string());
    }

    /// The id of the session this page set out to resume (the tab's before a reload), if any:
    /// a `welcome` with this id gave back a seat the others still hold.
    pub fn claimed_id(&self) -> Option<&MemberId> {
        self.claimed_id.as_ref()
    }

    /// Drops whatever was queued while down: it was addressed under an identity we lost.
    pub fn discard_queue(&mut self) {
        self.queue.clear();
    }

    /// How many messages from members were dropped because they did not open (or were not
    /// sealed) in this private room.
    pub fn dropped(&self) -> u32 {
        self.sealing.as_ref().map_or(0, |sealing| sealing.dropped)
    }

    /// A message from the server, for the mesh: in a private room, what a member sent opened,
    /// or `None` (dropped, and counted) if it does not.
    fn received(&mut self, message: ServerMessage) -> Option<ServerMessage> {
        let Some(sealing) = self.sealing.as_mut() else {
            return Some(message);
        };
        match &message {
            ServerMessage::Welcome(welcome) => sealing.me = Some(welcome.id.clone()),
            ServerMessage::Info(info) => sealing.me = Some(info.id.clone()),
            _ => {}
        }
        let opened = match &sealing.me {
            Some(me) => sealing.seal.open_message(me, message),
            // Before the server said who we are, nothing a member sent can be for us.
            None => match message {
                ServerMessage::Description { .. } | ServerMessage::Candidate { .. } => None,
                message => Some(message),
            },
        };
        if opened.is_none() {
            sealing.dropped = sealing.dropped.saturating_add(1);
        }
        opened
    }

    /// The server has said who we are on this connection: send what was queued, and from now
    /// on send at once. Call [`Self::discard_queue`] first if the identity changed.
    pub fn joined(&mut self) {
        let Some(live) = self.live.as_mut().filter(|live| live.open && !live.joined) else {
            return;
        };
        live.joined = true;
        for text in self.queue.drain(..) {
            let _ = live.socket.send_with_str(&text);
        }
    }

    /// Whether what is sent now goes out now: the socket is open and the server has said who
    /// we are on it.
    pub fn is_joined(&self) -> bool {
        self.live.as_ref().is_some_and(|live| live.joined)
    }

    /// Sends now if joined, queues otherwise; in a private room, sealed.
    pub fn send(&mut self, message: &ClientMessage) {
        let text = match &self.sealing {
            None => message.encode(),
            Some(sealing) => {
                // Links exist only once the server has said who we are.
                let Some(me) = &sealing.me else { return };
                // A fresh random nonce for each message.
                let nonce = match crate::browser::random_bytes() {
                    Ok(nonce) => nonce,
                    Err(error) => {
                        web_sys::console::error_2(
                            &"portals: no nonce to seal with:".into(),
                            &error,
                        );
                        return;
                    }
                };
                match sealing.seal.seal_message(me, message, nonce) {
                    Some(sealed) => sealed.encode(),
                    None => return,
                }
            }
        };
        if let Some(live) = self.live.as_ref().filter(|live| live.joined) {
            if live.socket.send_with_str(&text).is_ok() {
                return;
            }
        }
        if self.queue.len() >= QUEUE_LIMIT {
            self.queue.pop_front();
        }
        self.queue.push_back(text);
    }

    /// Closes with 1000, which tells the server we left for good, and stays closed. Nothing
    /// is left to resume. Also for giving up for good, e.g. after `room_full`.
    pub fn leave(&mut self) {
        self.session.forget();
        self.stopped = true;
        self.retry = None;
        if let Some(live) = self.live.take() {
            let _ = live.socket.close_with_code_and_reason(1000, "left");
        }
    }

    /// Opens a WebSocket; if the browser refuses at once, the next attempt is scheduled and
    /// the countdown shown.
    fn connect(&mut self) -> Option<SocketEvent> {
        self.retry = None;
        self.live = None;
        let url = match &self.token {
            Some(token) => format!("{}&token={}", self.endpoint, token),
            None => self.endpoint.clone(),
        };
        let socket = match WebSocket::new(&url) {
            Ok(socket) => socket,
            Err(_) => return Some(self.schedule_retry()),
        };
        self.sockets_opened = self.sockets_opened.wrapping_add(1);
        let number = self.sockets_opened;
        let events = &self.events;
        let on_open = {
            let events = events.clone();
            move |_: &web_sys::Event| events.socket(SocketInput::Opened(number))
        };
        let on_message = {
            let events = events.clone();
            move |event: &web_sys::Event| {
                if let Some(text) = event
                    .dyn_ref::<MessageEvent>()
                    .and_then(|event| event.data().as_string())
                {
                    events.socket(SocketInput::Received(number, text));
                }
            }
        };
        let on_close = {
            let events = events.clone();
            move |event: &web_sys::Event| {
                let code = event.dyn_ref::<CloseEvent>().map_or(1006, CloseEvent::code);
                events.socket(SocketInput::Closed(number, code));
            }
        };
        let listeners = [
            EventListener::new(&socket, "open", on_open),
            EventListener::new(&socket, "message", on_message),
            EventListener::new(&socket, "close", on_close),
        ];
        self.live = Some(Live {
            number,
            socket,
            open: false,
            joined: false,
            last_heard: js_sys::Date::now(),
            _listeners: listeners,
            _heartbeat: None,
        });
        None
    }

    fn opened(&mut self) {
        self.attempt = 0;
        let events = self.events.clone();
        if let Some(live) = self.live.as_mut() {
            let number = live.number;
            live.open = true;
            live.last_heard = js_sys::Date::now();
            live._heartbeat = Some(Interval::new(HEARTBEAT_MS, move || {
                events.socket(SocketInput::Heartbeat(number))
            }));
        }
    }

    /// Pings, and treats a connection that stayed silent too long as dead: a vanished server
    /// (or network) can leave the browser's socket "open" for minutes.
    fn heartbeat(&mut self) -> Option<SocketEvent> {
        self.pings += 1;
        let live = self.live.as_ref()?;
        if js_sys::Date::now() - live.last_heard > SILENCE_LIMIT_MS {
            return self.closed(1006);
        }
        let _ = live
            .socket
            .send_with_str(&ClientMessage::Ping(self.pings.into()).encode());
        None
    }

    fn closed(&mut self, code: u16) -> Option<SocketEvent> {
        // Dropping the Live removes its listeners and closes the socket if it is still open.
        self.live = None;
        if self.stopped {
            return None;
        }
        web_sys::console::info_1(
            &format!("portals: signalling closed ({code}), reconnecting").into(),
        );
        Some(self.schedule_retry())
    }

    fn schedule_retry(&mut self) -> SocketEvent {
        self.attempt += 1;
        let delay = reconnect_delay(self.attempt, js_sys::Math::random());
        let attempt = {
            let events = self.events.clone();
            Timeout::new(delay.as_millis() as u32, move || {
                events.socket(SocketInput::RetryDue)
            })
        };
        let countdown = {
            let events = self.events.clone();
            Interval::new(250, move || events.socket(SocketInput::Countdown))
        };
        let retry = Retry {
            deadline: js_sys::Date::now() + delay.as_secs_f64() * 1000.0,
            _attempt: attempt,
            _countdown: countdown,
        };
        let seconds_left = retry.seconds_left();
        self.retry = Some(retry);
        SocketEvent::Reconnecting { seconds_left }
    }

    /// The tab is going away (closed, reloaded, or into the back-forward cache): close with
    /// 4002 and stay closed until the page is shown again from the cache. The server keeps our
    /// seat only for its short reload hold, so the others drop a closed tab's tile at once but
    /// see no leave/join on a reload; the session stays stored for the page that may follow.
    fn unload(&mut self) {
        self.stopped = true;
        self.retry = None;
        if let Some(live) = self.live.take() {
            let _ = live
                .socket
                .close_with_code_and_reason(CLOSE_UNLOADING, "unloading");
        }
    }
}

impl Drop for SignallingSocket {
    fn drop(&mut self) {
        self.leave();
    }
}

/// The signalling URL on the page's own origin: `wss:` under `https:`, `ws:` otherwise.
fn endpoint(room: &str, role: Role, private: Option<&PrivateRoom>) -> String {
    let location = web_sys::window()
        .expect("the wall runs in a window")
        .location();
    let secure = location
        .protocol()
        .is_ok_and(|protocol| protocol == "https:");
    let host = location.host().unwrap_or_default();
    let room = js_sys::encode_uri_component(room);
    // We wait for a newcomer's offer once in the room: the others are told, so that a
    // newcomer offers to us at once and waits for a base client's offer instead.
    let mut url = format!(
        "{}://{host}/portal?room={}&{NEWCOMER_OFFERS}=1",
        if secure { "wss" } else { "ws" },
        String::from(room)
    );
    if role != Role::Both {
        url.push_str(&format!("&{ROLE}={}", role.as_str()));
    }
    // base64url needs no escaping in a query.
    if let Some(private) = private {
        url.push_str(&format!("&{VERIFIER}={}", private.verifier.as_str()));
    }
    url
}
