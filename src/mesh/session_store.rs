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

use std::{cell::RefCell, rc::Rc};

use gloo_events::EventListener;
use gloo_timers::callback::Timeout;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{BroadcastChannel, MessageEvent, Storage};

/// How long a tab waits for another tab to say that a stored session is its own. Tabs of one
/// browser answer within a few milliseconds; this is paid once per reload.
const PROBE_MS: u32 = 150;
const CHANNEL: &str = "portals.sessions";

pub struct SessionStore {
    key: String,
    state: Rc<RefCell<StoreState>>,
    channel: Option<BroadcastChannel>,
    _listener: Option<EventListener>,
}

#[derive(Default)]
struct StoreState {
    /// The id this tab has now, which it answers for.
    current: Option<String>,
    /// A stored session being checked: its id and token.
    probing: Option<(String, String)>,
    /// Another tab said the probed id is its own.
    taken: bool,
    probe: Option<Timeout>,
}

impl SessionStore {
    pub fn open(room: &str) -> Self {
        let state = Rc::new(RefCell::new(StoreState::default()));
        let channel = BroadcastChannel::new(CHANNEL).ok();
        let listener = channel.as_ref().map(|channel| {
            let state = Rc::clone(&state);
            let replies = channel.clone();
            EventListener::new(channel, "message", move |event| {
                let Some(text) = event
                    .dyn_ref::<MessageEvent>()
                    .and_then(|event| event.data().as_string())
                else {
                    return;
                };
                let mut state = state.borrow_mut();
                if let Some(id) = text.strip_prefix("probe ") {
                    if state.current.as_deref() == Some(id) {
                        let _ = replies.post_message(&JsValue::from_str(&format!("live {id}")));
                    }
                } else if let Some(id) = text.strip_prefix("live ") {
                    if state
                        .probing
                        .as_ref()
                        .is_some_and(|(probed, _)| probed == id)
                    {
                        state.taken = true;
                    }
                }
            })
        });
        Self {
            key: format!("portals.session.{room}"),
            state,
            channel,
            _listener: listener,
        }
    }

    /// Calls `done` with the session (id and token) to resume: the stored one, unless there is
    /// none or a live tab holds it. At once when nothing is stored, after the probe otherwise.
    pub fn claim(&self, done: impl FnOnce(Option<(String, String)>) + 'static) {
        let stored = self.load();
        let (Some((id, token)), Some(channel)) = (stored.clone(), self.channel.as_ref()) else {
            return done(stored);
        };
        if channel
            .post_message(&JsValue::from_str(&format!("probe {id}")))
            .is_err()
        {
            return done(Some((id, token)));
        }
        let state = Rc::clone(&self.state);
        let mut shared = self.state.borrow_mut();
        shared.probing = Some((id, token));
        shared.taken = false;
        shared.probe = Some(Timeout::new(PROBE_MS, move || {
            let session = {
                let mut state = state.borrow_mut();
                let probed = state.probing.take();
                if state.taken {
                    None
                } else {
                    probed
                }
            };
            done(session);
        }));
    }

    /// Remembers the session the server just gave this tab.
    pub fn save(&self, id: &str, token: &str) {
        self.state.borrow_mut().current = Some(id.to_string());
        if let Some(storage) = storage() {
            let _ = storage.set_item(&self.key, &format!("{id} {token}"));
        }
    }

    /// The tab left the room for good (or the server has no sessions): nothing to resume.
    pub fn forget(&self) {
        self.state.borrow_mut().current = None;
        if let Some(storage) = storage() {
            let _ = storage.remove_item(&self.key);
        }
    }

    fn load(&self) -> Option<(String, String)> {
        let stored = storage()?.get_item(&self.key).ok()??;
        let (id, token) = stored.split_once(' ')?;
        Some((id.to_string(), token.to_string()))
    }
}

impl Drop for SessionStore {
    fn drop(&mut self) {
        if let Some(channel) = &self.channel {
            channel.close();
        }
    }
}

fn storage() -> Option<Storage> {
    web_sys::window()?.session_storage().ok()?
}
