//! The browser's WebSocket to `/portal`: keeps it open, reconnects with backoff and jitter,
//! presents the resume token, and queues outgoing messages while it is down.
//!
//! Every closure handed to the browser is an `EventListener` or timer owned by this socket and
//! removed when it is dropped; callbacks reach the socket through a `Weak`, so nothing keeps
//! it alive by accident.

use std::{
    cell::RefCell,
    collections::VecDeque,
    rc::{Rc, Weak},
};

use gloo_events::EventListener;
use gloo_timers::callback::{Interval, Timeout};
use wasm_bindgen::JsCast;
use web_sys::{CloseEvent, MessageEvent, WebSocket};

use super::{plan::reconnect_delay, session_store::SessionStore};
use crate::signalling::{protocol::NEWCOMER_OFFERS, ClientMessage, MemberId, ServerMessage};

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

pub enum SocketEvent {
    Message(ServerMessage),
    /// The connection dropped; the next attempt is scheduled.
    Reconnecting {
        seconds_left: u32,
    },
}

pub struct SignallingSocket {
    core: Rc<SocketCore>,
    /// `online`, `visibilitychange`, `pagehide`, `pageshow`.
    _window_listeners: Vec<EventListener>,
}

/// A handle for peer connections to send through, which does not keep the socket alive.
#[derive(Clone)]
pub struct SignalSender(Weak<SocketCore>);

impl SignalSender {
    pub fn send(&self, message: &ClientMessage) {
        if let Some(core) = self.0.upgrade() {
            core.send(message.encode());
        }
    }

    /// Whether what is sent now goes out now: the socket is open and the server has said who
    /// we are on it.
    pub fn is_joined(&self) -> bool {
        self.0.upgrade().is_some_and(|core| {
            core.state
                .borrow()
                .socket
                .as_ref()
                .is_some_and(|live| live.joined)
        })
    }
}

struct SocketCore {
    /// `ws[s]://host/portal?room=<room>&newcomer_offers=1`; the token is appended per attempt.
    endpoint: String,
    on_event: Box<dyn Fn(SocketEvent)>,
    state: RefCell<State>,
    /// The session kept across reloads of this tab.
    session: SessionStore,
}

#[derive(Default)]
struct State {
    socket: Option<Live>,
    token: Option<String>,
    claimed_id: Option<MemberId>,
    attempt: u32,
    retry: Option<(Timeout, Interval)>,
    queue: VecDeque<String>,
    /// Set by `stop` or a fatal error: never reconnect.
    stopped: bool,
    pings: u64,
}

/// One WebSocket and everything registered on it.
struct Live {
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

impl SignallingSocket {
    /// Connects to `room` on the page's own server.
    pub fn open(room: &str, on_event: impl Fn(SocketEvent) + 'static) -> Self {
        let core = Rc::new(SocketCore {
            endpoint: endpoint(room),
            on_event: Box::new(on_event),
            state: RefCell::new(State::default()),
            session: SessionStore::open(room),
        });
        let window = web_sys::window().expect("the wall runs in a window");
        let document = window.document().expect("a window has a document");
        let retry_now = |core: &Rc<SocketCore>| {
            let weak = Rc::downgrade(core);
            move |_: &web_sys::Event| {
                if let Some(core) = weak.upgrade() {
                    core.reconnect_now_if_waiting();
                }
            }
        };
        let visible = {
            let weak = Rc::downgrade(&core);
            let document = document.clone();
            move |_: &web_sys::Event| {
                if document.visibility_state() == web_sys::VisibilityState::Visible {
                    if let Some(core) = weak.upgrade() {
                        core.reconnect_now_if_waiting();
                    }
                }
            }
        };
        let unload = {
            let weak = Rc::downgrade(&core);
            move |_: &web_sys::Event| {
                // The tab is going away (closed, reloaded, or into the back-forward cache): say
                // so, and the server keeps our seat only for its short reload hold, so the
                // others drop a closed tab's tile at once but see no leave/join on a reload.
                if let Some(core) = weak.upgrade() {
                    core.unload();
                }
            }
        };
        let back = {
            let weak = Rc::downgrade(&core);
            move |event: &web_sys::Event| {
                let restored = event
                    .dyn_ref::<web_sys::PageTransitionEvent>()
                    .is_some_and(|event| event.persisted());
                if let Some(core) = weak.upgrade().filter(|_| restored) {
                    core.state.borrow_mut().stopped = false;
                    SocketCore::connect(&core);
                }
            }
        };
        let window_listeners = vec![
            EventListener::new(&window, "online", retry_now(&core)),
            EventListener::new(&document, "visibilitychange", visible),
            EventListener::new(&window, "pagehide", unload),
            EventListener::new(&window, "pageshow", back),
        ];
        // A reload resumes the session this tab had, unless a live tab holds it.
        let weak = Rc::downgrade(&core);
        core.session.claim(move |claimed| {
            if let Some(core) = weak.upgrade() {
                {
                    let mut state = core.state.borrow_mut();
                    state.token = claimed.as_ref().map(|(_, token)| token.clone());
                    state.claimed_id = claimed.map(|(id, _)| MemberId::new(id));
                }
                SocketCore::connect(&core);
            }
        });
        Self {
            core,
            _window_listeners: window_listeners,
        }
    }

    pub fn sender(&self) -> SignalSender {
        SignalSender(Rc::downgrade(&self.core))
    }

    /// The session the server gave us (our id and the token to present on the next
    /// (re)connection, in this page or the next one of this tab), or `None` from a server that
    /// has no sessions.
    pub fn set_session(&self, session: Option<(&str, &str)>) {
        match session {
            Some((id, token)) => self.core.session.save(id, token),
            None => self.core.session.forget(),
        }
        self.core.state.borrow_mut().token = session.map(|(_, token)| token.to_string());
    }

    /// The id of the session this page set out to resume (the tab's before a reload), if any:
    /// a `welcome` with this id gave back a seat the others still hold.
    pub fn claimed_id(&self) -> Option<MemberId> {
        self.core.state.borrow().claimed_id.clone()
    }

    /// Drops whatever was queued while down: it was addressed under an identity we lost.
    pub fn discard_queue(&self) {
        self.core.state.borrow_mut().queue.clear();
    }

    /// The server has said who we are on this connection: send what was queued, and from now
    /// on send at once. Call [`Self::discard_queue`] first if the identity changed.
    pub fn joined(&self) {
        let mut state = self.core.state.borrow_mut();
        let State { socket, queue, .. } = &mut *state;
        let Some(live) = socket.as_mut().filter(|live| live.open && !live.joined) else {
            return;
        };
        live.joined = true;
        for text in queue.drain(..) {
            let _ = live.socket.send_with_str(&text);
        }
    }

    /// Gives up for good, e.g. after `room_full`.
    pub fn stop(&self) {
        self.core.leave();
    }
}

impl Drop for SignallingSocket {
    fn drop(&mut self) {
        self.core.leave();
    }
}

impl SocketCore {
    fn connect(core: &Rc<Self>) {
        let url = {
            let mut state = core.state.borrow_mut();
            state.retry = None;
            state.socket = None;
            match &state.token {
                Some(token) => format!("{}&token={}", core.endpoint, token),
                None => core.endpoint.clone(),
            }
        };
        let socket = match WebSocket::new(&url) {
            Ok(socket) => socket,
            Err(_) => return Self::schedule_retry(core),
        };
        let weak = Rc::downgrade(core);
        let on_open = {
            let weak = weak.clone();
            move |_: &web_sys::Event| {
                if let Some(core) = weak.upgrade() {
                    Self::opened(&core);
                }
            }
        };
        let on_message = {
            let weak = weak.clone();
            move |event: &web_sys::Event| {
                let text = event
                    .dyn_ref::<MessageEvent>()
                    .and_then(|event| event.data().as_string());
                if let (Some(core), Some(text)) = (weak.upgrade(), text) {
                    core.heard();
                    match ServerMessage::decode(&text) {
                        Ok(message) => (core.on_event)(SocketEvent::Message(message)),
                        Err(error) => web_sys::console::warn_1(
                            &format!("portals: ignoring a server message: {error}").into(),
                        ),
                    }
                }
            }
        };
        let on_close = move |event: &web_sys::Event| {
            let code = event.dyn_ref::<CloseEvent>().map_or(1006, CloseEvent::code);
            if let Some(core) = weak.upgrade() {
                Self::closed(&core, code);
            }
        };
        let listeners = [
            EventListener::new(&socket, "open", on_open),
            EventListener::new(&socket, "message", on_message),
            EventListener::new(&socket, "close", on_close),
        ];
        core.state.borrow_mut().socket = Some(Live {
            socket,
            open: false,
            joined: false,
            last_heard: js_sys::Date::now(),
            _listeners: listeners,
            _heartbeat: None,
        });
    }

    fn opened(core: &Rc<Self>) {
        let weak = Rc::downgrade(core);
        let heartbeat = Interval::new(HEARTBEAT_MS, move || {
            if let Some(core) = weak.upgrade() {
                Self::heartbeat(&core);
            }
        });
        let mut state = core.state.borrow_mut();
        state.attempt = 0;
        if let Some(live) = state.socket.as_mut() {
            live.open = true;
            live.last_heard = js_sys::Date::now();
            live._heartbeat = Some(heartbeat);
        }
    }

    fn heard(&self) {
        if let Some(live) = self.state.borrow_mut().socket.as_mut() {
            live.last_heard = js_sys::Date::now();
        }
    }

    /// Pings, and treats a connection that stayed silent too long as dead: a vanished server
    /// (or network) can leave the browser's socket "open" for minutes.
    fn heartbeat(core: &Rc<Self>) {
        let silent = {
            let mut state = core.state.borrow_mut();
            state.pings += 1;
            let ping = ClientMessage::Ping(state.pings.into()).encode();
            match state.socket.as_ref() {
                Some(live) if js_sys::Date::now() - live.last_heard > SILENCE_LIMIT_MS => true,
                Some(live) => {
                    let _ = live.socket.send_with_str(&ping);
                    false
                }
                None => false,
            }
        };
        if silent {
            Self::closed(core, 1006);
        }
    }

    fn closed(core: &Rc<Self>, code: u16) {
        // Dropping the Live removes its listeners and closes the socket if it is still open.
        let stopped = {
            let mut state = core.state.borrow_mut();
            state.socket = None;
            state.stopped
        };
        if !stopped {
            web_sys::console::info_1(
                &format!("portals: signalling closed ({code}), reconnecting").into(),
            );
            Self::schedule_retry(core);
        }
    }

    fn schedule_retry(core: &Rc<Self>) {
        let delay = {
            let mut state = core.state.borrow_mut();
            state.attempt += 1;
            reconnect_delay(state.attempt, js_sys::Math::random())
        };
        let deadline = js_sys::Date::now() + delay.as_secs_f64() * 1000.0;
        let seconds_left =
            move || ((deadline - js_sys::Date::now()) / 1000.0).ceil().max(0.0) as u32;
        let weak = Rc::downgrade(core);
        let retry = Timeout::new(delay.as_millis() as u32, move || {
            if let Some(core) = weak.upgrade() {
                Self::connect(&core);
            }
        });
        let weak = Rc::downgrade(core);
        let countdown = Interval::new(250, move || {
            if let Some(core) = weak.upgrade() {
                (core.on_event)(SocketEvent::Reconnecting {
                    seconds_left: seconds_left(),
                });
            }
        });
        core.state.borrow_mut().retry = Some((retry, countdown));
        (core.on_event)(SocketEvent::Reconnecting {
            seconds_left: seconds_left(),
        });
    }

    fn reconnect_now_if_waiting(self: Rc<Self>) {
        let waiting = {
            let state = self.state.borrow();
            state.retry.is_some() && !state.stopped
        };
        if waiting {
            Self::connect(&self);
        }
    }

    fn send(&self, text: String) {
        let mut state = self.state.borrow_mut();
        if let Some(live) = state.socket.as_ref().filter(|live| live.joined) {
            if live.socket.send_with_str(&text).is_ok() {
                return;
            }
        }
        if state.queue.len() >= QUEUE_LIMIT {
            state.queue.pop_front();
        }
        state.queue.push_back(text);
    }

    /// Closes with 4002 and stays closed until the page is shown again from the back-forward
    /// cache. The session stays stored for the page that may follow.
    fn unload(&self) {
        let mut state = self.state.borrow_mut();
        state.stopped = true;
        state.retry = None;
        if let Some(live) = state.socket.take() {
            let _ = live
                .socket
                .close_with_code_and_reason(CLOSE_UNLOADING, "unloading");
        }
    }

    /// Closes with 1000, which tells the server we left for good, and stays closed. Nothing
    /// is left to resume.
    fn leave(&self) {
        self.session.forget();
        let mut state = self.state.borrow_mut();
        state.stopped = true;
        state.retry = None;
        if let Some(live) = state.socket.take() {
            let _ = live.socket.close_with_code_and_reason(1000, "left");
        }
    }
}

/// The signalling URL on the page's own origin: `wss:` under `https:`, `ws:` otherwise.
fn endpoint(room: &str) -> String {
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
    format!(
        "{}://{host}/portal?room={}&{NEWCOMER_OFFERS}=1",
        if secure { "wss" } else { "ws" },
        String::from(room)
    )
}
