//! Reading caller-supplied JS values without letting a JS exception unwind through Rust frames
//! (see `boundary.js`): typed arrays through fresh views made by JS functions that catch, return
//! what they caught, and never throw; properties through `field`; everything else through its
//! `stringify`.
//! Every failure is an `Error` with a stable code, never a raw JS exception.

use crate::error::{Error, ErrorCode, Result};
use js_sys::{Array, Float32Array, Uint8Array, Uint8ClampedArray};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

// Not `catch`-marked: these never throw (each returns `[ok, value or message]`), and a caught
// exception would leak a slot of wasm-bindgen's externref table.
#[wasm_bindgen(module = "/src/js/boundary.js")]
extern "C" {
    #[wasm_bindgen(js_name = typedView)]
    fn typed_view(v: &JsValue, kind: &str) -> Array;
    #[wasm_bindgen(js_name = field)]
    fn get_key(v: &JsValue, key: &str) -> Array;
    #[wasm_bindgen(js_name = bundleEntries)]
    fn bundle_entries(source: &JsValue) -> Array;
    #[wasm_bindgen(js_name = stringify)]
    fn stringify(v: &JsValue) -> Array;
    /// Never throws: the message of a thrown value, or a placeholder.
    #[wasm_bindgen(js_name = describe)]
    fn describe_js(e: &JsValue) -> String;
    /// Calls a caller's callback, dropping whatever it throws.
    #[wasm_bindgen(js_name = callQuietly)]
    pub fn call_quietly(f: &js_sys::Function, arg: &JsValue);
}

/// What a caught JS exception says.
pub fn describe(e: &JsValue) -> String {
    describe_js(e)
}

/// `[ok, value or message]` (made by boundary.js, so reading it runs no caller code) as a Result.
fn outcome(pair: Array) -> std::result::Result<JsValue, String> {
    if pair.get(0).is_truthy() {
        Ok(pair.get(1))
    } else {
        Err(pair.get(1).as_string().unwrap_or_else(|| "an exception that cannot be described".into()))
    }
}

fn failed(code: ErrorCode, what: &str, why: String) -> Error {
    Error::new(code, format!("{what}: {why}"))
}

/// `v` copied when it is a genuine `Float32Array`; `None` when it is something else.
pub fn f32s(v: &JsValue, code: ErrorCode, what: &str) -> Result<Option<Vec<f32>>> {
    let view = outcome(typed_view(v, "Float32Array")).map_err(|e| failed(code, what, e))?;
    Ok(view.dyn_ref::<Float32Array>().map(|a| a.to_vec()))
}

/// `v` copied when it is a genuine `Uint8Array` or `ArrayBuffer`; `None` otherwise.
pub fn u8s(v: &JsValue, code: ErrorCode, what: &str) -> Result<Option<Vec<u8>>> {
    let view = outcome(typed_view(v, "Uint8Array")).map_err(|e| failed(code, what, e))?;
    Ok(view.dyn_ref::<Uint8Array>().map(|a| a.to_vec()))
}

/// RGBA bytes: a genuine `Uint8ClampedArray` (ImageData), `Uint8Array` or `ArrayBuffer`.
pub fn rgba(v: &JsValue, what: &str) -> Result<Option<Vec<u8>>> {
    let view = outcome(typed_view(v, "Uint8ClampedArray")).map_err(|e| failed(ErrorCode::BadInput, what, e))?;
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
    outcome(get_key(v, key)).map_err(|e| failed(code, &format!("{what}.{key} cannot be read"), e))
}

/// A JS value read into `T` through `JSON.stringify` (which runs getters and Proxy traps, and may
/// throw: caught).
pub fn json<T: serde::de::DeserializeOwned>(v: &JsValue) -> std::result::Result<T, String> {
    let text = outcome(stringify(v)).map_err(|e| format!("it cannot be read ({e})"))?;
    let text = text.as_string().ok_or_else(|| "it is not a JSON value".to_string())?;
    serde_json::from_str(&text).map_err(|e| e.to_string())
}

/// A bundle given as a `Map` or an object of file name → bytes.
pub fn bundle_files(source: &JsValue) -> Result<Vec<(String, Vec<u8>)>> {
    let bad = |msg: String| Error::new(ErrorCode::BadManifest, msg);
    if !source.is_object() {
        return Err(bad("a bundle source is a base URL, a Map or an object of file name → bytes".into()));
    }
    let pair: Array = outcome(bundle_entries(source)).map_err(|e| bad(format!("the bundle's files cannot be read: {e}")))?.unchecked_into();
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
