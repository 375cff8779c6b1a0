//! The `&debug` hook that checks this browser's sealing (the very code of
//! [`crate::signalling::private_room`]) against the fixed vectors.

use wasm_bindgen::JsValue;

use crate::signalling::{
    private_room::{PrivateRoom, SealedKind, NONCE_BYTES},
    MemberId,
};

/// Under `&debug`, `window.__portals.privateRoom`: the verifier this page joined with, and
/// `seal(kind, from, to, plaintext, nonceHex)`, which seals as the mesh does but with the
/// nonce given, so that a test checks this browser's sealing against the fixed vectors. Both
/// go when the mesh does.
pub struct SealHook {
    _seal: wasm_bindgen::closure::Closure<SealFn>,
}

/// `(kind, from, to, plaintext, nonce as hex)` to the `sealed` string; an `Err` is thrown.
type SealFn = dyn Fn(String, String, String, String, String) -> Result<String, JsValue>;

impl SealHook {
    pub fn expose(private: &PrivateRoom) -> Option<Self> {
        let seal = private.seal.clone();
        let closure = wasm_bindgen::closure::Closure::<SealFn>::new(
            move |kind: String, from: String, to: String, plaintext: String, nonce: String| match (
                SealedKind::parse(&kind),
                hex_nonce(&nonce),
            ) {
                (Some(kind), Some(nonce)) => Ok(seal.seal(
                    kind,
                    &MemberId::new(from),
                    &MemberId::new(to),
                    plaintext.as_bytes(),
                    nonce,
                )),
                _ => Err(JsValue::from_str("a kind, and a nonce of 24 hex digits")),
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
