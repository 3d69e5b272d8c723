//! Getting a bundle's files: fetched from a base URL (window or worker), or given as a `Map` or
//! an object of file name → bytes.

use super::bytes_of;
use crate::error::{Error, ErrorCode, Result};
use crate::manifest::Manifest;
use js_sys::{Array, Function, Object, Promise, Reflect, Uint8Array};
use std::collections::BTreeMap;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// Files of a bundle given as a `Map` or a plain object of name → bytes.
pub fn files_of(source: &JsValue) -> Result<BTreeMap<String, Vec<u8>>> {
    let entries: Array = if let Some(m) = source.dyn_ref::<js_sys::Map>() {
        Array::from(&m.entries())
    } else if source.is_object() {
        Object::entries(source.unchecked_ref())
    } else {
        return Err(Error::new(ErrorCode::BadManifest, "a bundle source is a base URL, a Map or an object of file name → bytes"));
    };
    let mut files = BTreeMap::new();
    for entry in entries.iter() {
        let pair: Array = entry.unchecked_into();
        let name = pair.get(0).as_string().ok_or_else(|| Error::new(ErrorCode::BadManifest, "bundle file names must be strings"))?;
        let bytes = bytes_of(&pair.get(1))
            .ok_or_else(|| Error::new(ErrorCode::BadManifest, format!("{name}: expected a Uint8Array or ArrayBuffer")))?;
        files.insert(name, bytes);
    }
    Ok(files)
}

/// `fetch` from whichever global scope we run in (window or worker).
async fn fetch_bytes(url: &str) -> Result<Vec<u8>> {
    let global = js_sys::global();
    let fetch: Function = Reflect::get(&global, &"fetch".into())
        .ok()
        .and_then(|f| f.dyn_into().ok())
        .ok_or_else(|| Error::new(ErrorCode::MissingFile, "no fetch() in this environment: pass the files as a Map"))?;
    let fail = |why: String| Error::new(ErrorCode::MissingFile, format!("{url}: {why}"));
    let promise: Promise = fetch.call1(&global, &url.into()).map_err(|e| fail(format!("{e:?}")))?.unchecked_into();
    let resp: web_sys::Response = JsFuture::from(promise).await.map_err(|e| fail(describe(&e)))?.unchecked_into();
    if !resp.ok() {
        return Err(fail(format!("HTTP {}", resp.status())));
    }
    let buf = JsFuture::from(resp.array_buffer().map_err(|e| fail(describe(&e)))?).await.map_err(|e| fail(describe(&e)))?;
    Ok(Uint8Array::new(&buf).to_vec())
}

fn describe(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>().map(|e| String::from(e.message())).or_else(|| e.as_string()).unwrap_or_else(|| format!("{e:?}"))
}

pub async fn fetch_bundle(base: &str, progress: Option<&Function>) -> Result<BTreeMap<String, Vec<u8>>> {
    let base = if base.ends_with('/') { base.to_string() } else { format!("{base}/") };
    let manifest_bytes = fetch_bytes(&format!("{base}manifest.json")).await?;
    let manifest = Manifest::parse(&manifest_bytes)?;
    let mut names: Vec<String> = manifest.segments.iter().map(|s| s.file.clone()).collect();
    names.extend(manifest.exits.iter().map(|e| e.file.clone()));
    names.extend([&manifest.test_pack, &manifest.calibration_pack, &manifest.reference].into_iter().flatten().map(|r| r.file.clone()));
    let mut files = BTreeMap::from([("manifest.json".to_string(), manifest_bytes)]);
    let total = names.len() + 1;
    let mut bytes = 0usize;
    for (i, name) in names.into_iter().enumerate() {
        let b = fetch_bytes(&format!("{base}{name}")).await?;
        bytes += b.len();
        if let Some(f) = progress {
            let p = Object::new();
            let _ = Reflect::set(&p, &"file".into(), &name.as_str().into());
            let _ = Reflect::set(&p, &"filesLoaded".into(), &((i + 2) as f64).into());
            let _ = Reflect::set(&p, &"filesTotal".into(), &(total as f64).into());
            let _ = Reflect::set(&p, &"bytesLoaded".into(), &(bytes as f64).into());
            let _ = f.call1(&JsValue::NULL, &p);
        }
        files.insert(name, b);
    }
    Ok(files)
}

