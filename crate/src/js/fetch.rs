//! Fetching a bundle's files from a base URL (window or worker), all in flight at once.

use super::read::{call_quietly, describe};
use crate::error::{Error, ErrorCode, Result};
use crate::manifest::Manifest;
use js_sys::{Function, Object, Promise, Reflect, Uint8Array};
use std::collections::BTreeMap;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// `fetch` from whichever global scope we run in (window or worker): starts the request and
/// returns its pending response, so several files can be in flight at once.
fn start_fetch(url: &str) -> Result<Promise> {
    let global = js_sys::global();
    let fetch: Function = Reflect::get(&global, &"fetch".into())
        .ok()
        .and_then(|f| f.dyn_into().ok())
        .ok_or_else(|| Error::new(ErrorCode::MissingFile, "no fetch() in this environment: pass the files as a Map"))?;
    let promise = fetch.call1(&global, &url.into()).map_err(|e| Error::new(ErrorCode::MissingFile, format!("{url}: {}", describe(&e))))?;
    promise.dyn_into().map_err(|_| Error::new(ErrorCode::MissingFile, format!("{url}: fetch() did not return a Promise")))
}

/// The body of a started fetch.
async fn body_of(url: &str, pending: Promise) -> Result<Vec<u8>> {
    let fail = |why: String| Error::new(ErrorCode::MissingFile, format!("{url}: {why}"));
    let resp: web_sys::Response = JsFuture::from(pending)
        .await
        .map_err(|e| fail(describe(&e)))?
        .dyn_into()
        .map_err(|_| fail("fetch() did not give a Response".into()))?;
    if !resp.ok() {
        return Err(fail(format!("HTTP {}", resp.status())));
    }
    let buf = JsFuture::from(resp.array_buffer().map_err(|e| fail(describe(&e)))?).await.map_err(|e| fail(describe(&e)))?;
    Ok(Uint8Array::new(&buf).to_vec())
}

/// Every file `manifest.json` at `base` names. The manifest's rules (`Manifest::parse`) keep
/// each name a plain file name, so no fetch leaves the bundle's folder.
pub async fn fetch_bundle(base: &str, progress: Option<&Function>) -> Result<BTreeMap<String, Vec<u8>>> {
    let base = if base.ends_with('/') { base.to_string() } else { format!("{base}/") };
    let manifest_url = format!("{base}manifest.json");
    let manifest_bytes = body_of(&manifest_url, start_fetch(&manifest_url)?).await?;
    let manifest = Manifest::parse(&manifest_bytes)?;
    let mut names: Vec<String> = manifest.segments.iter().map(|s| s.file.clone()).collect();
    names.extend(manifest.exits.iter().map(|e| e.file.clone()));
    // Not the reference outputs: they only check an export natively (LoadLimits::reference).
    names.extend([&manifest.test_pack, &manifest.calibration_pack, &manifest.calibration_trace].into_iter().flatten().map(|r| r.file.clone()));
    // Every file in flight at once (cold start: one round trip, not one per file); bodies are
    // then taken in manifest order, so progress still counts up file by file.
    let pending: Vec<(String, String, Promise)> = names
        .into_iter()
        .map(|name| {
            let url = format!("{base}{name}");
            start_fetch(&url).map(|p| (name, url, p))
        })
        .collect::<Result<_>>()?;
    let mut files = BTreeMap::from([("manifest.json".to_string(), manifest_bytes)]);
    let total = pending.len() + 1;
    let mut bytes = 0usize;
    for (i, (name, url, p)) in pending.into_iter().enumerate() {
        let b = body_of(&url, p).await?;
        bytes += b.len();
        if let Some(f) = progress {
            let p = Object::new();
            let _ = Reflect::set(&p, &"file".into(), &name.as_str().into());
            let _ = Reflect::set(&p, &"filesLoaded".into(), &((i + 2) as f64).into());
            let _ = Reflect::set(&p, &"filesTotal".into(), &(total as f64).into());
            let _ = Reflect::set(&p, &"bytesLoaded".into(), &(bytes as f64).into());
            call_quietly(f, &p);
        }
        files.insert(name, b);
    }
    Ok(files)
}
