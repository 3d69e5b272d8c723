//! The WebGPU backend through the JS API, in headless Chromium started with
//! `--enable-unsafe-webgpu` (`webdriver.json`): same exits, classes and confidences as the CPU,
//! `auto`'s choice and fallback, and the move to the CPU when the device is lost.
//!
//! These tests need a WebGPU adapter and a build with the `webgpu` feature: without either,
//! loading with `backend: "webgpu"` fails and so do they (they never pass without running).
#![cfg(target_arch = "wasm32")]

mod support;

use exitwise::js::Model;
use js_sys::{Array, Float32Array, Object, Reflect, Uint8Array};
use support::js::*;
use support::*;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn num(v: &JsValue, k: &str) -> f64 {
    get(v, k).as_f64().unwrap_or_else(|| panic!("{k} is not a number"))
}

fn options(backend: &str) -> JsValue {
    let o = Object::new();
    Reflect::set(&o, &"backend".into(), &backend.into()).unwrap();
    o.into()
}

async fn load(files: &Files, backend: &str) -> Result<Model, JsValue> {
    Model::load_from(source(files), options(backend)).await
}

async fn gpu(files: &Files) -> Model {
    match load(files, "webgpu").await {
        Ok(m) => m,
        Err(e) => panic!("no WebGPU here, so this test cannot run: {}", String::from(js_sys::Error::from(e).message())),
    }
}

async fn classify(m: &Model, x: &[f32], t: &[f64]) -> JsValue {
    JsFuture::from(m.classify(Float32Array::from(x).into(), thresholds(t), JsValue::UNDEFINED)).await.unwrap()
}

/// Same exit, class and segments run; confidence and probabilities within 1e-4 (relative).
fn assert_same(cpu: &JsValue, gpu: &JsValue, what: &str) {
    for k in ["exit", "class", "segmentsRun", "macsExecuted"] {
        assert_eq!(get(cpu, k), get(gpu, k), "{k} differs {what}");
    }
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-4 * a.abs().max(b.abs()).max(1e-3);
    assert!(close(num(cpu, "confidence"), num(gpu, "confidence")), "confidence {what}");
    let (p, q): (Array, Array) = (get(cpu, "probabilities").unchecked_into(), get(gpu, "probabilities").unchecked_into());
    for (a, b) in p.iter().zip(q.iter()) {
        assert!(close(a.as_f64().unwrap(), b.as_f64().unwrap()), "probabilities {what}");
    }
}

#[wasm_bindgen_test]
async fn webgpu_matches_the_cpu() {
    let files = chain(true, true);
    let cpu = load(&files, "cpu").await.unwrap();
    let gpu = gpu(&files).await;
    assert_eq!(gpu.backend(), "webgpu");
    assert_eq!(gpu.fallback_reason(), None);
    assert_eq!(get(&gpu.info().unwrap(), "backend").as_string().unwrap(), "webgpu");
    let mut exits = std::collections::BTreeSet::new();
    for seed in 0..12 {
        let x = input(200 + seed);
        for t in [[0.0, 0.0], [1.0, 1.0], [0.5, 0.5], [0.9, 0.2]] {
            let (c, g) = (classify(&cpu, &x, &t).await, classify(&gpu, &x, &t).await);
            assert_eq!(get(&g, "backend").as_string().unwrap(), "webgpu");
            assert_same(&c, &g, &format!("for input {seed} at {t:?}"));
            exits.insert(num(&g, "exit") as u64);
        }
    }
    assert!(exits.len() >= 2, "the thresholds send inputs out of several exits: {exits:?}");
}

#[wasm_bindgen_test]
async fn webgpu_evaluation_matches_the_cpu() {
    let files = chain(false, true);
    let n = 70; // more than one batch of 64
    let images: Vec<f32> = (0..n).flat_map(|i| input(300 + i)).collect();
    let labels: Vec<u8> = (0..n).map(|i| (i % 3) as u8).collect();
    let mut summaries = vec![];
    for backend in ["cpu", "webgpu"] {
        let m = if backend == "cpu" { load(&files, "cpu").await.unwrap() } else { gpu(&files).await };
        let p = m.evaluate(Float32Array::from(&images[..]).into(), Uint8Array::from(&labels[..]).into(), JsValue::UNDEFINED);
        let ev = JsFuture::from(p).await.unwrap();
        let f: js_sys::Function = get(&ev, "summary").unchecked_into();
        let s = f.call1(&ev, &thresholds(&[0.6, 0.5])).unwrap();
        summaries.push((js_sys::JSON::stringify(&get(&s, "histogram")).unwrap(), num(&s, "accuracy"), num(&s, "meanMacs")));
    }
    assert_eq!(summaries[0], summaries[1], "histogram, accuracy and mean MACs (cpu, webgpu)");
}

/// `(chosen, its ms, the other, its ms)` from the `classify: …` or `batches of 64: …` clause of
/// a `backendReason`.
fn clause(reason: &str, head: &str) -> (String, f64, String, f64) {
    let rest = &reason[reason.find(head).unwrap_or_else(|| panic!("no {head:?} in {reason:?}")) + head.len()..];
    let words: Vec<&str> = rest.split(|c: char| c == ' ' || c == '(' || c == ')' || c == ';').filter(|w| !w.is_empty()).collect();
    // "cpu (0.190 ms vs webgpu 0.930 ms)" / "webgpu (0.050 vs cpu 0.310 ms/input)"
    let num = |w: &str| w.parse::<f64>().unwrap_or_else(|_| panic!("{w:?} in {reason:?}"));
    let vs = words.iter().position(|w| *w == "vs").expect("vs");
    (words[0].to_string(), num(words[1]), words[vs + 1].to_string(), num(words[vs + 2]))
}

#[wasm_bindgen_test]
async fn auto_skips_a_software_adapter_and_never_picks_what_its_probe_measured_slower() {
    // Headless Chromium's adapter is SwiftShader, a software one: auto keeps the CPU, says why.
    let auto = load(&chain(false, true), "auto").await.unwrap();
    assert_eq!(auto.backend(), "cpu", "{}", auto.backend_reason());
    assert_eq!(auto.batch_backend(), "cpu");
    let why = auto.fallback_reason().expect("auto says why it chose the CPU");
    assert!(why.contains("software adapter"), "{why}");
    assert!(auto.backend_reason().starts_with("cpu: "), "{}", auto.backend_reason());

    // Probing it anyway (a test-only option): each kind of work goes to the backend that ran it
    // faster, by the timings the reason gives.
    let o = options("auto");
    Reflect::set(&o, &"__probeSoftwareAdapters".into(), &true.into()).unwrap();
    let probed = Model::load_from(source(&chain(false, true)), o).await.unwrap();
    let reason = probed.backend_reason();
    for (head, backend) in [("classify: ", probed.backend()), ("batches of 64: ", probed.batch_backend())] {
        let (chosen, ms, other, other_ms) = clause(&reason, head);
        assert_eq!(chosen, backend, "{reason}");
        assert_ne!(chosen, other, "{reason}");
        assert!(ms <= other_ms, "{head}{chosen} measured slower: {reason}");
        assert!(chosen != "webgpu" || ms < other_ms, "a tie stays on the CPU: {reason}");
    }
    let c = classify(&probed, &input(5), &[0.5, 0.5]).await;
    assert_eq!(get(&c, "backend").as_string().unwrap(), probed.backend(), "results say where they ran");

    let files = unlowerable();
    let auto = load(&files, "auto").await.unwrap();
    assert_eq!(auto.backend(), "cpu");
    let why = auto.fallback_reason().expect("auto says why it chose the CPU");
    assert!(why.contains("Erf"), "{why}");
    let c = classify(&auto, &input(5), &[0.5, 0.5]).await;
    assert_eq!(get(&c, "backend").as_string().unwrap(), "cpu");

    let e = load(&files, "webgpu").await.err().expect("forced webgpu must not fall back");
    assert_eq!(get(&e, "code").as_string().unwrap(), "UNSUPPORTED_OP");
    let e = load(&files, "tpu").await.err().unwrap();
    assert_eq!(get(&e, "code").as_string().unwrap(), "BACKEND");
}

#[wasm_bindgen_test]
async fn a_lost_device_moves_the_model_to_the_cpu() {
    let files = chain(false, true);
    let m = gpu(&files).await;
    let x = input(11);
    let before = classify(&m, &x, &[0.5, 0.5]).await;
    assert_eq!(get(&before, "backend").as_string().unwrap(), "webgpu");
    m.lose_device();
    let after = classify(&m, &x, &[0.5, 0.5]).await;
    assert_eq!(get(&after, "backend").as_string().unwrap(), "cpu", "the call after the loss runs on the CPU");
    assert_same(&before, &after, "across the fallback");
    assert_eq!(m.backend(), "cpu");
    assert!(m.fallback_reason().unwrap().contains("lost"));
    let trace = JsFuture::from(m.trace(Float32Array::from(&x[..]).into(), JsValue::UNDEFINED)).await.unwrap();
    assert_eq!(Array::from(&get(&trace, "exits")).length(), 3, "later calls keep working");
}
