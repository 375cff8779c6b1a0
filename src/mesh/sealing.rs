//! A private room's keys in the browser, through WebCrypto: HKDF-SHA-256 derives the verifier
//! the server is shown and the AES-256-GCM key that seals every `description` and `candidate`
//! (the layout is [`crate::signalling::private_room`]'s; PROTOCOL.md, "Private rooms").
//!
//! WebCrypto rather than a Rust cipher compiled in: the sealing key is a non-extractable
//! `CryptoKey` that no script of the page can read back, the browser's AES is its own
//! constant-time one, and the bundle carries no cipher. Its promises settle in no set order,
//! which [`super::in_order`] puts right.

use js_sys::{Array, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AesDerivedKeyParams, AesGcmParams, CryptoKey, HkdfParams, SubtleCrypto};

use crate::signalling::{
    private_room::{
        associated_data, decode_sealed, encode_sealed, hkdf_salt, SealedKind, NONCE_BYTES,
        SEALING_INFO, VERIFIER_INFO,
    },
    MemberId, RoomKey, RoomName, RoomVerifier,
};

/// What a private room needs in the page: the verifier to join with, and the sealing key.
pub struct PrivateRoom {
    pub verifier: RoomVerifier,
    pub seal: RoomSeal,
}

/// The sealing key of one room. Cloning clones a handle to the same `CryptoKey`.
#[derive(Clone)]
pub struct RoomSeal {
    key: CryptoKey,
    room: RoomName,
}

/// Why a private room cannot be had here. WebCrypto's `subtle` exists only in a secure
/// context: over `http://` to another machine there is none.
pub fn subtle() -> Result<SubtleCrypto, JsValue> {
    let crypto = web_sys::window()
        .ok_or_else(|| JsValue::from_str("no window"))?
        .crypto()?;
    let subtle = crypto.subtle();
    // Outside a secure context the attribute is missing altogether.
    if JsValue::from(subtle.clone()).is_undefined() {
        return Err(JsValue::from_str("WebCrypto needs https or localhost"));
    }
    Ok(subtle)
}

fn usages(usages: &[&str]) -> Array {
    usages
        .iter()
        .map(|usage| JsValue::from_str(usage))
        .collect()
}

fn hkdf(room: &RoomName, info: &[u8]) -> HkdfParams {
    HkdfParams::new_with_str(
        "HKDF",
        "SHA-256",
        &Uint8Array::from(info),
        &Uint8Array::from(hkdf_salt(room)),
    )
}

impl PrivateRoom {
    pub async fn derive(key: &RoomKey, room: &RoomName) -> Result<Self, JsValue> {
        let subtle = subtle()?;
        let base: CryptoKey = JsFuture::from(subtle.import_key_with_str(
            "raw",
            &Uint8Array::from(&key.as_bytes()[..]),
            "HKDF",
            false,
            &usages(&["deriveBits", "deriveKey"]),
        )?)
        .await?
        .dyn_into()?;
        // Both at once: the browser derives them side by side.
        let bits = JsFuture::from(subtle.derive_bits_with_object(
            &hkdf(room, VERIFIER_INFO),
            &base,
            256,
        )?);
        let key = JsFuture::from(subtle.derive_key_with_object_and_object(
            &hkdf(room, SEALING_INFO),
            &base,
            &AesDerivedKeyParams::new("AES-GCM", 256),
            false,
            &usages(&["encrypt", "decrypt"]),
        )?);
        let bits: [u8; 32] = Uint8Array::new(&bits.await?)
            .to_vec()
            .try_into()
            .map_err(|_| JsValue::from_str("HKDF gave other than 256 bits"))?;
        let key: CryptoKey = key.await?.dyn_into()?;
        Ok(Self {
            verifier: RoomVerifier::from_bytes(&bits),
            seal: RoomSeal {
                key,
                room: room.clone(),
            },
        })
    }
}

impl RoomSeal {
    /// Seals `plaintext` from `from` to `to`, with a fresh random nonce.
    pub async fn seal(
        self,
        kind: SealedKind,
        from: MemberId,
        to: MemberId,
        plaintext: Vec<u8>,
    ) -> Result<String, JsValue> {
        let nonce = crate::browser::random_bytes::<NONCE_BYTES>()?;
        self.seal_with_nonce(kind, &from, &to, &plaintext, nonce)
            .await
    }

    /// Sealing with a given nonce: for [`Self::seal`], and for checking the browser against
    /// the fixed vectors.
    pub async fn seal_with_nonce(
        &self,
        kind: SealedKind,
        from: &MemberId,
        to: &MemberId,
        plaintext: &[u8],
        nonce: [u8; NONCE_BYTES],
    ) -> Result<String, JsValue> {
        let params = self.params(kind, from, to, &nonce);
        let ciphertext = JsFuture::from(
            subtle()?.encrypt_with_object_and_u8_array(&params, &self.key, plaintext)?,
        )
        .await?;
        Ok(encode_sealed(
            &nonce,
            &Uint8Array::new(&ciphertext).to_vec(),
        ))
    }

    /// The plaintext, if `sealed` opens as `kind` from `from` to `to` in this room.
    pub async fn open(
        self,
        kind: SealedKind,
        from: MemberId,
        to: MemberId,
        sealed: String,
    ) -> Option<Vec<u8>> {
        let (nonce, ciphertext) = decode_sealed(&sealed)?;
        let params = self.params(kind, &from, &to, &nonce);
        let promise = subtle()
            .ok()?
            .decrypt_with_object_and_u8_array(&params, &self.key, &ciphertext)
            .ok()?;
        // A tag that does not verify rejects the promise.
        let plaintext = JsFuture::from(promise).await.ok()?;
        Some(Uint8Array::new(&plaintext).to_vec())
    }

    fn params(
        &self,
        kind: SealedKind,
        from: &MemberId,
        to: &MemberId,
        nonce: &[u8; NONCE_BYTES],
    ) -> AesGcmParams {
        let params = AesGcmParams::new_with_u8_array("AES-GCM", &Uint8Array::from(&nonce[..]));
        params.set_additional_data_u8_array(&Uint8Array::from(
            associated_data(kind, &self.room, from, to).as_slice(),
        ));
        params
    }
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
                let seal = seal.clone();
                wasm_bindgen_futures::future_to_promise(async move {
                    let kind = sealed_kind(&kind).ok_or("no such kind")?;
                    let nonce = hex_nonce(&nonce).ok_or("a nonce is 24 hex digits")?;
                    let (from, to) = (MemberId::new(from), MemberId::new(to));
                    seal.seal_with_nonce(kind, &from, &to, plaintext.as_bytes(), nonce)
                        .await
                        .map(JsValue::from)
                })
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
