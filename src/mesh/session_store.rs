//! Where a tab keeps its session (its id and latest resume token) between page loads, so that
//! a reload, or the browser restoring the tab, comes back as the same member instead of a
//! leave and a join at everyone else.
//!
//! `sessionStorage` is the right store: it belongs to one tab, survives reloads and restores,
//! and goes with the tab. Its one trap is "Duplicate tab", which copies it: two tabs would then
//! present one token and the server would hand the session to the copy, closing the original
//! with `session_replaced`. So before a stored session is used, the tab asks the other tabs
//! of the origin on a `BroadcastChannel` whether one of them is that member right now; if one
//! answers, the stored session is someone else's and this tab joins as a new member.
//!
//! The channel's listener and the probe's timer send their news to the mesh's queue; the
//! store is owned by the signalling socket and handles them there.

use gloo_events::EventListener;
use gloo_timers::callback::Timeout;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{BroadcastChannel, MessageEvent, Storage};

use super::{events::Events, signalling_socket::SocketInput};

/// How long a tab waits for another tab to say that a stored session is its own. Tabs of one
/// browser answer within a few milliseconds; this is paid once per reload.
const PROBE_MS: u32 = 150;
const CHANNEL: &str = "portals.sessions";

/// A stored session: the member's id and its latest resume token.
pub type Session = (String, String);

pub struct SessionStore {
    key: String,
    channel: Option<(BroadcastChannel, EventListener)>,
    /// The id this tab has now, which it answers for.
    current: Option<String>,
    /// A stored session being checked, and the timer that ends the check.
    probing: Option<(Session, Timeout)>,
    /// Another tab said the probed id is its own.
    taken: bool,
}

/// What [`SessionStore::claim`] found.
pub enum Claim {
    /// Decided at once: this session (or none) is to be resumed.
    Now(Option<Session>),
    /// Other tabs are being asked; [`SessionStore::probe_over`] decides.
    Probing,
}

impl SessionStore {
    pub fn open(room: &str, events: &Events) -> Self {
        let channel = BroadcastChannel::new(CHANNEL).ok().map(|channel| {
            let events = events.clone();
            let listener = EventListener::new(&channel, "message", move |event| {
                if let Some(text) = event
                    .dyn_ref::<MessageEvent>()
                    .and_then(|event| event.data().as_string())
                {
                    events.socket(SocketInput::SessionChannel(text));
                }
            });
            (channel, listener)
        });
        Self {
            key: format!("portals.session.{room}"),
            channel,
            current: None,
            probing: None,
            taken: false,
        }
    }

    /// The session to resume: the stored one, unless there is none or a live tab holds it.
    pub fn claim(&mut self, events: &Events) -> Claim {
        let stored = self.load();
        let (Some(session), Some((channel, _))) = (stored.clone(), self.channel.as_ref()) else {
            return Claim::Now(stored);
        };
        if channel
            .post_message(&JsValue::from_str(&format!("probe {}", session.0)))
            .is_err()
        {
            return Claim::Now(Some(session));
        }
        let events = events.clone();
        let timer = Timeout::new(PROBE_MS, move || events.socket(SocketInput::ProbeOver));
        self.probing = Some((session, timer));
        self.taken = false;
        Claim::Probing
    }

    /// The probe's time is up: the probed session, unless another tab said it is its own.
    /// `None` also when no probe was running.
    pub fn probe_over(&mut self) -> Option<Option<Session>> {
        let (session, _) = self.probing.take()?;
        Some((!self.taken).then_some(session))
    }

    /// A message from another tab of the origin.
    pub fn heard(&mut self, text: &str) {
        if let Some(id) = text.strip_prefix("probe ") {
            if self.current.as_deref() == Some(id) {
                if let Some((channel, _)) = &self.channel {
                    let _ = channel.post_message(&JsValue::from_str(&format!("live {id}")));
                }
            }
        } else if let Some(id) = text.strip_prefix("live ") {
            if self
                .probing
                .as_ref()
                .is_some_and(|((probed, _), _)| probed == id)
            {
                self.taken = true;
            }
        }
    }

    /// Remembers the session the server just gave this tab.
    pub fn save(&mut self, id: &str, token: &str) {
        self.current = Some(id.to_string());
        if let Some(storage) = storage() {
            let _ = storage.set_item(&self.key, &format!("{id} {token}"));
        }
    }

    /// The tab left the room for good (or the server has no sessions): nothing to resume.
    pub fn forget(&mut self) {
        self.current = None;
        if let Some(storage) = storage() {
            let _ = storage.remove_item(&self.key);
        }
    }

    fn load(&self) -> Option<Session> {
        let stored = storage()?.get_item(&self.key).ok()??;
        let (id, token) = stored.split_once(' ')?;
        Some((id.to_string(), token.to_string()))
    }
}

impl Drop for SessionStore {
    fn drop(&mut self) {
        if let Some((channel, _)) = &self.channel {
            channel.close();
        }
    }
}

fn storage() -> Option<Storage> {
    web_sys::window()?.session_storage().ok()?
}
