//! The JS-facing API in headless Chromium (`wasm-pack test --headless --chrome`): load from bytes,
//! classify, trace/decide, evaluate, and the error paths.
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

/// `obj[name](...args)`, its throw as an `Err`.
fn f_apply(obj: &JsValue, name: &str, args: &[JsValue]) -> Result<JsValue, JsValue> {
    let f: js_sys::Function = get(obj, name).unchecked_into();
    f.apply(obj, &args.iter().collect::<Array>())
}

/// A JSON value as a JS value.
fn serde_wasm(v: &serde_json::Value) -> JsValue {
    js_sys::JSON::parse(&v.to_string()).unwrap()
}

fn code(e: JsValue) -> String {
    assert!(e.is_instance_of::<js_sys::Error>(), "errors are JS Errors");
    get(&e, "code").as_string().unwrap()
}

/// Settles a running call's Promise.
async fn done(p: js_sys::Promise) -> Result<JsValue, JsValue> {
    JsFuture::from(p).await
}

/// Loads on the CPU (`web_gpu.rs` tests WebGPU; `auto` would pick it in this browser).
async fn load(files: &Files) -> Model {
    let o = Object::new();
    Reflect::set(&o, &"backend".into(), &"cpu".into()).unwrap();
    Model::load_from(source(files), o.into()).await.unwrap()
}

#[wasm_bindgen_test]
async fn loads_from_bytes_and_reports_info() {
    let m = load(&chain(false, true)).await;
    let info = m.info().unwrap();
    assert_eq!(get(&info, "name").as_string().unwrap(), "chain");
    let segs: Array = get(&info, "segments").unchecked_into();
    assert_eq!(get(&segs.get(0), "macs").as_f64().unwrap() as u64, SEG_MACS[0]);
    let full = SEG_MACS.iter().sum::<u64>() + EXIT_MACS[2];
    assert_eq!(get(&info, "macsFull").as_f64().unwrap() as u64, full);
    assert_eq!(m.backend(), "cpu");
}

#[wasm_bindgen_test]
async fn classify_stops_early_and_matches_decide() {
    let m = load(&chain(true, true)).await;
    let x = Float32Array::from(&input(4)[..]);
    let c = done(m.classify(x.clone().into(), thresholds(&[0.0, 0.0]), JsValue::UNDEFINED)).await.unwrap();
    assert_eq!(get(&c, "exit").as_f64(), Some(0.0));
    assert_eq!(get(&c, "segmentsRun").as_f64(), Some(1.0));
    assert!(get(&c, "flopsSaved").as_f64().unwrap() > 0.5);
    assert_eq!(get(&c, "backend").as_string().unwrap(), "cpu");

    let trace = done(m.trace(x.clone().into(), JsValue::UNDEFINED)).await.unwrap();
    for t in [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.3, 0.7], [0.95, 0.2]] {
        let c = done(m.classify(x.clone().into(), thresholds(&t), JsValue::UNDEFINED)).await.unwrap();
        let d = m.decide(trace.clone(), thresholds(&t)).unwrap();
        for k in ["exit", "class", "label", "confidence", "macsExecuted", "flopsSaved", "segmentsRun"] {
            assert_eq!(get(&c, k), get(&d, k), "{k} at {t:?}");
        }
    }
}

#[wasm_bindgen_test]
async fn images_of_any_size_are_converted() {
    let m = load(&chain(false, true)).await;
    let img = Object::new();
    let rgba: Vec<u8> = (0..(30 * 20 * 4)).map(|i| (i * 7 % 256) as u8).collect();
    Reflect::set(&img, &"data".into(), &js_sys::Uint8ClampedArray::from(&rgba[..])).unwrap();
    Reflect::set(&img, &"width".into(), &30.into()).unwrap();
    Reflect::set(&img, &"height".into(), &20.into()).unwrap();
    let x = m.image_to_input(img.clone().into(), JsValue::UNDEFINED).unwrap();
    assert_eq!(x.length() as i64, SIDE * SIDE);
    let c = done(m.classify(img.into(), JsValue::UNDEFINED, JsValue::UNDEFINED)).await.unwrap();
    assert!(get(&c, "confidence").as_f64().unwrap() >= 0.0);
}

#[wasm_bindgen_test]
async fn evaluate_gives_summary_frontier_and_calibration() {
    let m = load(&chain(false, true)).await;
    let n = 40;
    let images: Vec<f32> = (0..n).flat_map(|i| input(100 + i)).collect();
    let labels: Vec<u8> = (0..n).map(|i| (i % 3) as u8).collect();
    let ev = done(m.evaluate(Float32Array::from(&images[..]).into(), Uint8Array::from(&labels[..]).into(), JsValue::UNDEFINED))
        .await
        .unwrap();
    // The resolved value is the JS `Evaluation` object: drive it as JS code would.
    let call = |name: &str, args: &[JsValue]| -> JsValue {
        let f: js_sys::Function = get(&ev, name).unchecked_into();
        f.apply(&ev, &args.iter().collect::<Array>()).unwrap()
    };
    assert_eq!(get(&ev, "count").as_f64(), Some(n as f64));
    let s = call("summary", &[thresholds(&[0.0, 0.0])]);
    let hist: Array = get(&s, "histogram").unchecked_into();
    assert_eq!(hist.get(0).as_f64(), Some(n as f64), "threshold 0 sends everything out of exit 0");
    let f: Array = call("frontier", &[]).unchecked_into();
    assert!(f.length() >= 1);
    // Learn-then-Test: 40 images cannot certify ≤ 1 pt at δ = 0.1 (that needs ≥ 230), so
    // nothing is certified and the thresholds stay at 1.
    let c = call("calibrate", &[1.0.into()]);
    assert_eq!(get(&c, "certified").as_bool(), Some(false));
    assert_eq!(get(&c, "n").as_f64(), Some(n as f64));
    assert!(get(&c, "minImages").as_f64().unwrap() > n as f64);
    let t: Array = get(&c, "thresholds").unchecked_into();
    assert_eq!(t.to_vec().iter().map(|x| x.as_f64().unwrap()).collect::<Vec<_>>(), vec![1.0, 1.0]);
    let bad = f_apply(&ev, "calibrate", &[1.0.into(), serde_wasm(&serde_json::json!({ "delta": 2.0 }))]);
    assert_eq!(code(bad.unwrap_err()), "BAD_THRESHOLD");
    // The greedy search (no guarantee) keeps its contract on the set it searched.
    let t: Array = call("calibrateGreedy", &[1.0.into()]).unchecked_into();
    assert_eq!(t.length(), 2);
    let s = call("summary", &[t.into()]);
    let (acc, fin) = (get(&s, "accuracy").as_f64().unwrap(), get(&s, "finalAccuracy").as_f64().unwrap());
    assert!(acc >= fin - 0.01 - 1e-9);
}

/// A shipped calibration trace is an `Evaluation` of its images without running one: its summary
/// and calibration equal `evaluate` of the same images.
#[wasm_bindgen_test]
async fn calibration_evaluation_reads_the_trace() {
    use exitwise::calibtrace::CalibrationTrace;
    let files = chain(false, true);
    let n = 300;
    let images: Vec<f32> = (0..n).flat_map(|i| input(500 + i)).collect();
    let labels: Vec<u8> = (0..n).map(|i| (i * 7 % 3) as u8).collect();
    let native = exitwise::CpuModel::new(exitwise::Bundle::from_files(&files).unwrap()).unwrap();
    let len = images.len() / n as usize;
    let traces: Vec<_> = images.chunks(len).map(|x| native.trace(x).unwrap()).collect();
    let trace = CalibrationTrace::from_traces(native.manifest(), &traces, &labels).unwrap();
    let mut with = files.clone();
    let mut m = manifest_of(&with);
    with.insert("calibtrace.bin".into(), trace.to_bytes());
    m["calibration_trace"] = serde_json::json!({"file": "calibtrace.bin"});
    let with = with_manifest(with, m);

    let plain = load(&files).await;
    assert!(plain.calibration_evaluation().unwrap().is_undefined());
    assert_eq!(get(&plain.info().unwrap(), "hasCalibrationTrace").as_bool(), Some(false));
    let model = load(&with).await;
    assert_eq!(get(&model.info().unwrap(), "hasCalibrationTrace").as_bool(), Some(true));
    let from_trace = model.calibration_evaluation().unwrap();
    assert_eq!(get(&from_trace, "count").as_f64(), Some(n as f64));
    let from_images = done(model.evaluate(Float32Array::from(&images[..]).into(), Uint8Array::from(&labels[..]).into(), JsValue::UNDEFINED))
        .await
        .unwrap();
    let json = |v: JsValue| js_sys::JSON::stringify(&v).unwrap().as_string().unwrap();
    for t in [[0.0, 0.0], [0.5, 0.5], [0.9, 0.3], [1.0, 1.0]] {
        let a = f_apply(&from_trace, "summary", &[thresholds(&t)]).unwrap();
        let b = f_apply(&from_images, "summary", &[thresholds(&t)]).unwrap();
        assert_eq!(json(a), json(b), "{t:?}");
    }
    for d in [1.0, 10.0, 40.0] {
        let a = f_apply(&from_trace, "calibrate", &[d.into()]).unwrap();
        let b = f_apply(&from_images, "calibrate", &[d.into()]).unwrap();
        assert_eq!(json(a), json(b), "max drop {d}");
    }
    // A trace made by other parts is refused at load with a code.
    let mut stale = with.clone();
    let mut m = manifest_of(&stale);
    m["exits"][0]["rule"] = "entropy".into();
    stale = with_manifest(stale, m);
    let o = Object::new();
    Reflect::set(&o, &"backend".into(), &"cpu".into()).unwrap();
    let e = Model::load_from(source(&stale), o.into()).await.err().expect("refused");
    assert_eq!(code(e), "BAD_PACK");
}

#[wasm_bindgen_test]
async fn errors_have_codes_and_the_model_keeps_working() {
    let mut files = chain(false, true);
    files.insert("seg1.onnx".into(), b"garbage".to_vec());
    let e = Model::load_from(source(&files), JsValue::UNDEFINED).await.err().unwrap();
    assert_eq!(code(e), "BUNDLE_HASH_MISMATCH");

    let good = chain(false, true);
    let mut m = manifest_of(&good);
    m["exits"] = serde_json::json!([]);
    let mut bad = good.clone();
    bad.insert("manifest.json".into(), serde_json::to_vec(&m).unwrap());
    assert_eq!(code(Model::load_from(source(&bad), JsValue::UNDEFINED).await.err().unwrap()), "BAD_MANIFEST");
    assert_eq!(code(Model::load_from(JsValue::from(3), JsValue::UNDEFINED).await.err().unwrap()), "BAD_MANIFEST");
    let e = Model::load_from("http://127.0.0.1:9/nowhere/".into(), JsValue::UNDEFINED).await.err().unwrap();
    assert_eq!(code(e), "MISSING_FILE");
    // LoadOptions.memoryBudget: a part over it is refused before anything is allocated.
    let tight = serde_wasm(&serde_json::json!({ "backend": "cpu", "memoryBudget": 1 }));
    assert_eq!(code(Model::load_from(source(&good), tight).await.err().unwrap()), "BAD_ONNX");
    let silly = serde_wasm(&serde_json::json!({ "backend": "cpu", "memoryBudget": -5 }));
    assert_eq!(code(Model::load_from(source(&good), silly).await.err().unwrap()), "BAD_MANIFEST");
    let roomy = serde_wasm(&serde_json::json!({ "backend": "cpu", "memoryBudget": 1u64 << 30 }));
    assert!(Model::load_from(source(&good), roomy).await.is_ok());

    let model = load(&good).await;
    let x: JsValue = Float32Array::from(&input(9)[..]).into();
    let before = done(model.classify(x.clone(), thresholds(&[0.5, 0.5]), JsValue::UNDEFINED)).await.unwrap();
    let mut nan = input(9);
    nan[0] = f32::NAN;
    assert_eq!(code(done(model.classify(Float32Array::from(&nan[..]).into(), JsValue::UNDEFINED, JsValue::UNDEFINED)).await.unwrap_err()), "BAD_INPUT");
    assert_eq!(code(done(model.classify(Float32Array::new_with_length(3).into(), JsValue::UNDEFINED, JsValue::UNDEFINED)).await.unwrap_err()), "BAD_INPUT");
    assert_eq!(code(done(model.classify("an image".into(), JsValue::UNDEFINED, JsValue::UNDEFINED)).await.unwrap_err()), "BAD_INPUT");
    assert_eq!(code(done(model.classify(x.clone(), thresholds(&[1.5, 0.5]), JsValue::UNDEFINED)).await.unwrap_err()), "BAD_THRESHOLD");
    assert_eq!(code(done(model.classify(x.clone(), thresholds(&[0.5]), JsValue::UNDEFINED)).await.unwrap_err()), "BAD_THRESHOLD");
    assert_eq!(code(done(model.classify(x.clone(), "0.5".into(), JsValue::UNDEFINED)).await.unwrap_err()), "BAD_THRESHOLD");
    let e = done(model.evaluate(Float32Array::new_with_length(5).into(), Uint8Array::new_with_length(1).into(), JsValue::UNDEFINED)).await;
    assert_eq!(code(e.unwrap_err()), "BAD_INPUT");
    assert_eq!(code(model.decide(JsValue::from("trace"), thresholds(&[0.5, 0.5])).unwrap_err()), "BAD_INPUT");
    let after = done(model.classify(x, thresholds(&[0.5, 0.5]), JsValue::UNDEFINED)).await.unwrap();
    assert_eq!(get(&before, "class"), get(&after, "class"));
    assert_eq!(get(&before, "exit"), get(&after, "exit"));
}
