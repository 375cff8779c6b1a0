//! What two of our clients say to each other on a link's `RTCDataChannel`, without the server:
//! today the size at which the receiver shows the sender's video; names and camera state are
//! to come. The format is in `docs/PROTOCOL.md` ("The link's data channel").
//!
//! Every message is one JSON text: `{"v": 1, "type": …, …}`. `v` is the format's version; a
//! message of a newer version, or of a type this client does not know, is ignored, so that
//! clients of different ages in one room keep working with what they share.

use serde::{Deserialize, Serialize};

use super::video_budget::ViewSize;

/// The channel's label. It is `negotiated` with a fixed id, so both ends make it themselves
/// and no `datachannel` event has to be waited for.
pub const CHANNEL_LABEL: &str = "portals";
pub const CHANNEL_ID: u16 = 0;
/// The format's version, sent as `v` on every message.
pub const VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PeerMessage {
    /// The receiver shows the sender's video `width` × `height` device pixels large (CSS
    /// pixels × `devicePixelRatio`). Sent when the channel opens and whenever the tile's size
    /// changes (a resize, a new grid, a tile made larger); 0 × 0 when it is not laid out.
    View { width: u32, height: u32 },
}

#[derive(Serialize, Deserialize)]
struct Versioned<M> {
    v: u32,
    #[serde(flatten)]
    message: M,
}

impl PeerMessage {
    pub fn view(size: ViewSize) -> Self {
        PeerMessage::View {
            width: size.width,
            height: size.height,
        }
    }

    pub fn encode(&self) -> String {
        // A plain enum of numbers into a String: serde_json has no failure mode for it.
        serde_json::to_string(&Versioned {
            v: VERSION,
            message: self,
        })
        .expect("a peer message serialises")
    }

    /// `None` for what this client does not understand: another version, another type, or
    /// not a message at all.
    pub fn decode(text: &str) -> Option<Self> {
        #[derive(Deserialize)]
        struct Version {
            v: u32,
        }
        let version: Version = serde_json::from_str(text).ok()?;
        if version.v != VERSION {
            return None;
        }
        serde_json::from_str::<Versioned<PeerMessage>>(text)
            .ok()
            .map(|versioned| versioned.message)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_view_is_one_versioned_json_object() {
        let message = PeerMessage::view(ViewSize {
            width: 640,
            height: 360,
        });
        let text = message.encode();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&text).unwrap(),
            json!({"v": 1, "type": "view", "width": 640, "height": 360})
        );
        assert_eq!(PeerMessage::decode(&text), Some(message));
    }

    #[test]
    fn what_is_not_understood_is_ignored() {
        for text in [
            r#"{"v":2,"type":"view","width":1,"height":1}"#,
            r#"{"v":1,"type":"name","name":"porch"}"#,
            r#"{"type":"view","width":1,"height":1}"#,
            r#"{"v":1,"type":"view","width":-1,"height":1}"#,
            "not json",
        ] {
            assert_eq!(PeerMessage::decode(text), None, "{text}");
        }
        // Fields a newer client adds are no reason to drop what it says.
        assert_eq!(
            PeerMessage::decode(r#"{"v":1,"type":"view","width":2,"height":1,"dpr":2}"#),
            Some(PeerMessage::View {
                width: 2,
                height: 1
            })
        );
    }
}
