//! One module per page.

pub mod room_picker;
pub mod wall;
