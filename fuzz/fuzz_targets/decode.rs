//! Every frame a client or a server could send: decoding never panics, whatever decodes
//! encodes to something that decodes to the same, and no token verifies that was not signed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portals::signalling::{token::TokenSigner, ClientMessage, ServerMessage};

fuzz_target!(|text: &str| {
    if let Ok(message) = ClientMessage::decode(text) {
        let encoded = message.encode();
        assert_eq!(
            ClientMessage::decode(&encoded).as_ref(),
            Ok(&message),
            "{encoded}"
        );
    }
    if let Ok(message) = ServerMessage::decode(text) {
        let encoded = message.encode();
        assert_eq!(
            ServerMessage::decode(&encoded).as_ref(),
            Ok(&message),
            "{encoded}"
        );
    }
    assert_eq!(TokenSigner::new(b"fuzz").verify(text), None);
});
