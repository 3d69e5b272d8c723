//! Reading caller-supplied JS values without letting a JS exception unwind through Rust frames
//! (see `boundary.js`): typed arrays through fresh views made by catch-marked JS functions,
//! properties through `getKey`, everything else through `JSON.stringify` (also catch-marked).
//! Every failure is an `Error` with a stable code, never a raw JS exception.

use crate::error::{Error, ErrorCode, Result};
use js_sys::{Array, Float32Array, Uint8Array, Uint8ClampedArray};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

#[wasm_bindgen(module = "/src/js/boundary.js")]
extern "C" {
    #[wasm_bindgen(catch, js_name = typedView)]
    fn typed_view(v: &JsValue, kind: &str) -> std::result::Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_name = getKey)]
    fn get_key(v: &JsValue, key: &str) -> std::result::Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_name = bundleEntries)]
    fn bundle_entries(source: &JsValue) -> std::result::Result<Array, JsValue>;
    /// Never throws: the message of a thrown value, or a placeholder.
    #[wasm_bindgen(js_name = describe)]
    fn describe_js(e: &JsValue) -> String;
}

/// What a caught JS exception says.
pub fn describe(e: &JsValue) -> String {
    describe_js(e)
}

fn failed(code: ErrorCode, what: &str, e: &JsValue) -> Error {
    Error::new(code, format!("{what}: {}", describe(e)))
}

/// `v` copied when it is a genuine `Float32Array`; `None` when it is something else.
pub fn f32s(v: &JsValue, code: ErrorCode, what: &str) -> Result<Option<Vec<f32>>> {
    let view = typed_view(v, "Float32Array").map_err(|e| failed(code, what, &e))?;
    Ok(view.dyn_ref::<Float32Array>().map(|a| a.to_vec()))
}

/// `v` copied when it is a genuine `Uint8Array` or `ArrayBuffer`; `None` otherwise.
pub fn u8s(v: &JsValue, code: ErrorCode, what: &str) -> Result<Option<Vec<u8>>> {
    let view = typed_view(v, "Uint8Array").map_err(|e| failed(code, what, &e))?;
    Ok(view.dyn_ref::<Uint8Array>().map(|a| a.to_vec()))
}

/// RGBA bytes: a genuine `Uint8ClampedArray` (ImageData), `Uint8Array` or `ArrayBuffer`.
pub fn rgba(v: &JsValue, what: &str) -> Result<Option<Vec<u8>>> {
    let view = typed_view(v, "Uint8ClampedArray").map_err(|e| failed(ErrorCode::BadInput, what, &e))?;
    if let Some(a) = view.dyn_ref::<Uint8ClampedArray>() {
        return Ok(Some(a.to_vec()));
    }
    u8s(v, ErrorCode::BadInput, what)
}

/// `v[key]` (which may run a caller's getter): `undefined` when `v` is not an object.
pub fn field(v: &JsValue, key: &str, code: ErrorCode, what: &str) -> Result<JsValue> {
    if !v.is_object() && !v.is_function() {
        return Ok(JsValue::UNDEFINED);
    }
    get_key(v, key).map_err(|e| failed(code, &format!("{what}.{key} cannot be read"), &e))
}

/// A JS value read into `T` through `JSON.stringify` (which runs getters and Proxy traps, and may
/// throw: caught).
pub fn json<T: serde::de::DeserializeOwned>(v: &JsValue) -> std::result::Result<T, String> {
    let text = js_sys::JSON::stringify(v).map_err(|e| format!("it cannot be read ({})", describe(&e)))?;
    let text = text.as_string().ok_or_else(|| "it is not a JSON value".to_string())?;
    serde_json::from_str(&text).map_err(|e| e.to_string())
}

/// A bundle given as a `Map` or an object of file name → bytes.
pub fn bundle_files(source: &JsValue) -> Result<Vec<(String, Vec<u8>)>> {
    let bad = |msg: String| Error::new(ErrorCode::BadManifest, msg);
    if !source.is_object() {
        return Err(bad("a bundle source is a base URL, a Map or an object of file name → bytes".into()));
    }
    let pair = bundle_entries(source).map_err(|e| bad(format!("the bundle's files cannot be read: {}", describe(&e))))?;
    // Both arrays are fresh ones boundary.js made: reading them runs no caller code.
    let (names, views): (Array, Array) = (pair.get(0).unchecked_into(), pair.get(1).unchecked_into());
    let mut files = Vec::with_capacity(names.length() as usize);
    for (name, view) in names.iter().zip(views.iter()) {
        let name = name.as_string().ok_or_else(|| bad("bundle file names must be strings".into()))?;
        let bytes = view.dyn_ref::<Uint8Array>().ok_or_else(|| bad(format!("{name}: expected a Uint8Array or ArrayBuffer")))?.to_vec();
        files.push((name, bytes));
    }
    Ok(files)
}
