//! A private room in the page: its verifier and seal (derived and applied by
//! [`crate::signalling::private_room`]), a fresh random nonce for each message, and the test
//! hook that checks this browser's sealing against the fixed vectors.

use wasm_bindgen::JsValue;

use crate::signalling::{
    private_room::{RoomSeal, SealedKind, NONCE_BYTES},
    MemberId, RoomKey, RoomName, RoomVerifier,
};

/// What a private room needs in the page: the verifier to join with, and the seal.
pub struct PrivateRoom {
    pub verifier: RoomVerifier,
    pub seal: RoomSeal,
}

impl PrivateRoom {
    pub fn new(key: &RoomKey, room: &RoomName) -> Self {
        let (verifier, seal) = key.derive(room);
        Self { verifier, seal }
    }
}

/// A fresh random nonce for each sealed message, from the browser's cryptographic generator.
pub fn nonce() -> Result<[u8; NONCE_BYTES], JsValue> {
    crate::browser::random_bytes()
}

/// Under `&debug`, `window.__portals.privateRoom`: the verifier this page joined with, and
/// `seal(kind, from, to, plaintext, nonceHex)`, which seals as the mesh does but with the
/// nonce given, so that a test checks this browser's sealing against the fixed vectors. Both
/// go when the mesh does.
pub struct SealHook {
    _seal: wasm_bindgen::closure::Closure<
        dyn Fn(String, String, String, String, String) -> js_sys::Promise,
    >,
}

impl SealHook {
    pub fn expose(private: &PrivateRoom) -> Option<Self> {
        let seal = private.seal.clone();
        let closure = wasm_bindgen::closure::Closure::<
            dyn Fn(String, String, String, String, String) -> js_sys::Promise,
        >::new(
            move |kind: String, from: String, to: String, plaintext: String, nonce: String| {
                let sealed = match (sealed_kind(&kind), hex_nonce(&nonce)) {
                    (Some(kind), Some(nonce)) => Ok(JsValue::from(seal.seal(
                        kind,
                        &MemberId::new(from),
                        &MemberId::new(to),
                        plaintext.as_bytes(),
                        nonce,
                    ))),
                    _ => Err(JsValue::from_str("a kind, and a nonce of 24 hex digits")),
                };
                match sealed {
                    Ok(sealed) => js_sys::Promise::resolve(&sealed),
                    Err(error) => js_sys::Promise::reject(&error),
                }
            },
        );
        let hook = js_sys::Object::new();
        js_sys::Reflect::set(&hook, &"verifier".into(), &private.verifier.as_str().into()).ok()?;
        js_sys::Reflect::set(&hook, &"seal".into(), closure.as_ref()).ok()?;
        js_sys::Reflect::set(
            &super::trace::exposed()?.into(),
            &"privateRoom".into(),
            &hook,
        )
        .ok()?;
        Some(Self { _seal: closure })
    }
}

impl Drop for SealHook {
    fn drop(&mut self) {
        if let Some(exposed) = super::trace::exposed() {
            let _ = js_sys::Reflect::delete_property(&exposed, &"privateRoom".into());
        }
    }
}

fn sealed_kind(name: &str) -> Option<SealedKind> {
    use crate::signalling::protocol::SdpType;
    Some(match name {
        "offer" => SealedKind::Description(SdpType::Offer),
        "pranswer" => SealedKind::Description(SdpType::Pranswer),
        "answer" => SealedKind::Description(SdpType::Answer),
        "rollback" => SealedKind::Description(SdpType::Rollback),
        "candidate" => SealedKind::Candidate,
        _ => return None,
    })
}

fn hex_nonce(hex: &str) -> Option<[u8; NONCE_BYTES]> {
    let mut nonce = [0; NONCE_BYTES];
    if hex.len() != 2 * NONCE_BYTES || !hex.is_ascii() {
        return None;
    }
    for (byte, at) in nonce.iter_mut().zip((0..hex.len()).step_by(2)) {
        *byte = u8::from_str_radix(&hex[at..at + 2], 16).ok()?;
    }
    Some(nonce)
}
