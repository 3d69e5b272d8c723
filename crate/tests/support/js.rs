//! Helpers for the browser tests (`web.rs`, `web_gpu.rs`): bundles as JS `Map`s, property reads.

use super::Files;
use js_sys::{Array, Map, Reflect, Uint8Array};
use wasm_bindgen::JsValue;

/// A bundle as `Model.load` takes it from JS: a `Map` of file name → `Uint8Array`.
pub fn source(files: &Files) -> JsValue {
    let m = Map::new();
    for (k, v) in files {
        m.set(&k.into(), &Uint8Array::from(&v[..]));
    }
    m.into()
}

pub fn get(v: &JsValue, k: &str) -> JsValue {
    Reflect::get(v, &k.into()).unwrap()
}

pub fn thresholds(t: &[f64]) -> JsValue {
    t.iter().map(|&x| JsValue::from(x)).collect::<Array>().into()
}
