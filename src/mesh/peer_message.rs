//! What two of our clients say to each other on a link's `RTCDataChannel`, without the server:
//! the size at which the receiver shows the sender's video, and the sender's name and whether
//! its camera is on. The format is in `docs/PROTOCOL.md` ("The link's data channel").
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
    /// The sender's name, shown on its tile at the receiver; `null` for none (the tile shows
    /// the member's id). Sent when the channel opens and whenever it changes.
    Name { name: Option<CameraName> },
    /// Whether the sender's camera is on: off, its tile says "camera off" rather than waiting
    /// for a picture. Sent when the channel opens and whenever it changes.
    Camera { on: bool },
}

/// A camera's name as people give it ("Front door"): trimmed, inner runs of white space made
/// one space, no control characters and no invisible formatting ones (bidirectional
/// overrides, zero-width spaces), at most [`CameraName::MAX_CHARS`] Unicode scalar values, not
/// empty. What a peer sends is held to the same rules, so a tile never shows a page of text, a
/// name written backwards over its neighbours, or a name that looks blank.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CameraName(String);

impl CameraName {
    pub const MAX_CHARS: usize = 40;

    /// The name in `text`, tidied; `None` when nothing is left of it. Longer names are cut.
    pub fn parse(text: &str) -> Option<Self> {
        let visible: String = text.chars().filter(|c| !is_invisible(*c)).collect();
        let words: Vec<&str> = visible
            .split(|c: char| c.is_whitespace() || c.is_control())
            .filter(|word| !word.is_empty())
            .collect();
        let joined = words.join(" ");
        let name: String = joined.chars().take(Self::MAX_CHARS).collect();
        let name = name.trim_end();
        (!name.is_empty()).then(|| Self(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Formatting characters that change how the text around them shows without showing
/// themselves: the bidirectional marks, embeddings, overrides and isolates, the zero-width
/// space, word joiners and invisible operators, the byte order mark, the soft hyphen.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{180E}'
            // Not the joiners (U+200C, U+200D): emoji sequences and several scripts need them.
            | '\u{200B}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
    )
}

impl std::fmt::Display for CameraName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for CameraName {
    type Error = &'static str;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        match Self::parse(&text) {
            Some(name) if name.0 == text => Ok(name),
            _ => Err("not a tidy camera name"),
        }
    }
}

impl From<CameraName> for String {
    fn from(name: CameraName) -> Self {
        name.0
    }
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
            r#"{"v":1,"type":"rename","name":"porch"}"#,
            r#"{"v":1,"type":"name","name":"  two  spaces "}"#,
            r#"{"v":1,"type":"name","name":""}"#,
            r#"{"v":1,"type":"camera"}"#,
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

    #[test]
    fn names_and_camera_state_are_versioned_messages_too() {
        let name = CameraName::parse("Front door").expect("a name");
        let message = PeerMessage::Name { name: Some(name) };
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&message.encode()).unwrap(),
            json!({"v": 1, "type": "name", "name": "Front door"})
        );
        assert_eq!(PeerMessage::decode(&message.encode()), Some(message));
        assert_eq!(
            PeerMessage::decode(r#"{"v":1,"type":"name","name":null}"#),
            Some(PeerMessage::Name { name: None })
        );
        assert_eq!(
            PeerMessage::decode(r#"{"v":1,"type":"camera","on":false}"#),
            Some(PeerMessage::Camera { on: false })
        );
    }

    #[test]
    fn a_name_is_tidied_and_kept_short() {
        let parse = |text| CameraName::parse(text).map(|name| name.to_string());
        assert_eq!(parse("  Front \t door\n"), Some("Front door".to_string()));
        assert_eq!(parse(" \u{7}\n "), None);
        assert_eq!(
            parse("Kinderzimmer 👶"),
            Some("Kinderzimmer 👶".to_string())
        );
        let long = "x".repeat(100);
        assert_eq!(parse(&long).map(|name| name.chars().count()), Some(40));
        // Cut at 40 characters, not 40 bytes: a name in another script is not split.
        let greek = "α".repeat(50);
        assert_eq!(parse(&greek), Some("α".repeat(40)));
        assert_eq!(
            parse("a                                       b"),
            Some("a b".to_string())
        );
        // Nothing that turns the tile's text around or hides in it.
        assert_eq!(parse("\u{202E}rood tnorF"), Some("rood tnorF".to_string()));
        assert_eq!(parse("Ga\u{200B}rage\u{2066}"), Some("Garage".to_string()));
        assert_eq!(parse("\u{200B}\u{FEFF}"), None);
    }
}
