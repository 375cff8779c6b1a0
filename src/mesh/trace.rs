//! `&debug` in the wall's URL logs every negotiation step to the console: WebRTC problems are
//! otherwise invisible.

use std::cell::Cell;

thread_local! {
    static ENABLED: Cell<bool> = const { Cell::new(false) };
}

pub fn enable(on: bool) {
    ENABLED.with(|enabled| enabled.set(on));
}

pub fn enabled() -> bool {
    ENABLED.with(Cell::get)
}

macro_rules! trace {
    ($($arg:tt)*) => {
        if $crate::mesh::trace::enabled() {
            web_sys::console::debug_1(&format!("portals: {}", format_args!($($arg)*)).into());
        }
    };
}
pub(crate) use trace;
