//! Calibration traces (`EWCT`, crate/src/calibtrace.rs): the shipped ones equal what the runtime
//! computes on the calibration pack images they cover; a trace round-trips, calibrates exactly as
//! the pixels it came from, and a stale, damaged or mislabelled one is refused at load.
#![cfg(not(target_arch = "wasm32"))]

mod support;

use exitwise::bundle::LoadLimits;
use exitwise::calibtrace::CalibrationTrace;
use exitwise::input::from_u8;
use exitwise::pack::Pack;
use exitwise::{Bundle, CalibrateOptions, CpuModel, ErrorCode, Evaluation};
use std::path::Path;
use support::*;

/// A pack of deterministic 8×8 gray images and labels for the chain fixture.
fn pack(seed: u64, count: usize) -> Pack {
    let mut r = onnx::Lcg(seed);
    let len = (SIDE * SIDE) as usize;
    let pixels = (0..count * len).map(|_| ((r.next() + 1.0) * 127.5).clamp(0.0, 255.0) as u8).collect();
    let labels = (0..count).map(|_| (((r.next() + 1.0) * 1.5) as u8).min(C as u8 - 1)).collect();
    Pack { count, channels: 1, height: SIDE as usize, width: SIDE as usize, pixels, labels }
}

fn traces(model: &CpuModel, p: &Pack) -> Vec<exitwise::Trace> {
    model.trace_batch(&from_u8(&model.manifest().input, &p.pixels), p.count).unwrap()
}

/// The chain fixture with `trace` shipped as its calibration trace.
fn with_trace(files: Files, trace: &[u8]) -> Files {
    let mut files = files;
    let mut m = manifest_of(&files);
    files.insert("calibtrace.bin".into(), trace.to_vec());
    m["calibration_trace"] = serde_json::json!({"file": "calibtrace.bin"});
    with_manifest(files, m)
}

fn fixture_trace(files: &Files, p: &Pack) -> CalibrationTrace {
    let limits = LoadLimits { calibration_trace: false, ..LoadLimits::default() };
    let model = CpuModel::new(Bundle::from_files_with(files, &limits).unwrap()).unwrap();
    CalibrationTrace::from_traces(model.manifest(), &traces(&model, p), &p.labels).unwrap()
}

#[test]
fn shipped_traces_equal_the_runtime_on_the_calibration_pack() {
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
    let mut checked = 0;
    for name in ["tiny-mnist", "resnet-fmnist", "resnet-fmnist-pt"] {
        let bundle = Bundle::from_dir(models.join(name)).unwrap();
        let Some(r) = bundle.manifest.calibration_trace.clone() else { panic!("{name} ships no calibration trace") };
        let trace = CalibrationTrace::parse(&r.file, &bundle.data[&r.file]).unwrap();
        let calib = bundle.manifest.calibration_pack.clone().expect("a calibration pack");
        let p = Pack::parse(&calib.file, &bundle.data[&calib.file]).unwrap();
        // The calibration pack is the first images of the validation split the trace covers.
        assert!(trace.count >= 5000 && trace.count > p.count, "{name}: {} traced images", trace.count);
        let labels: Vec<u16> = p.labels.iter().map(|&l| u16::from(l)).collect();
        assert_eq!(trace.labels[..p.count], labels[..], "{name}: labels");
        let model = CpuModel::new(bundle).unwrap();
        let len = model.manifest().input.len();
        // One image at a time, as `classify` runs and `exitwise trace` traces: the same classes,
        // confidences to the last bits. Not bit for bit across machines: tract picks its matmul
        // kernels by CPU (AVX2 or AVX-512 here, SIMD128 in wasm), which can round a last bit
        // differently (tiny-mnist image 4, exit 0: 0.9573026 made on one x86-64, 0.9573027 on
        // another). On the machine that traced, `exitwise trace` equals the runtime exactly (cli.rs).
        let mut single = Vec::new();
        for i in 0..p.count {
            let t = model.trace(&from_u8(&model.manifest().input, &p.pixels[i * len..(i + 1) * len])).unwrap();
            let got: Vec<(f32, u16)> = trace.image(i).collect();
            let want: Vec<(f32, u16)> = t.exits.iter().map(|o| (o.confidence, o.class as u16)).collect();
            assert_eq!(got.len(), want.len());
            for (e, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!((g.0 - w.0).abs() <= 1e-6 && g.1 == w.1, "{name}: image {i} exit {e}: trace {g:?}, runtime {w:?}");
            }
            single.push(t);
        }
        // Batched (as `evaluate` runs): the same classes, confidences within float rounding.
        let batched = traces(&model, &p);
        for (i, t) in batched.iter().enumerate() {
            for ((c, k), o) in trace.image(i).zip(&t.exits) {
                assert_eq!(k as usize, o.class, "{name}: image {i}");
                assert!((c - o.confidence).abs() <= 1e-5, "{name}: image {i}: {c} vs {}", o.confidence);
            }
        }
        // And it calibrates exactly as the pixels do, on the images both hold.
        let costs = &model.costs;
        let head = CalibrationTrace { count: p.count, confidence: trace.confidence[..p.count * trace.exits].to_vec(), class: trace.class[..p.count * trace.exits].to_vec(), labels: trace.labels[..p.count].to_vec(), ..trace.clone() };
        let from_trace = Evaluation::from_calibration_trace(model.manifest(), costs, &head).unwrap();
        let from_pixels = Evaluation::new(model.manifest(), costs, &single, &p.labels).unwrap();
        let t = model.manifest().default_thresholds();
        assert_eq!(format!("{:?}", from_trace.summary(&t, model.manifest()).unwrap()), format!("{:?}", from_pixels.summary(&t, model.manifest()).unwrap()));
        checked += 1;
    }
    assert_eq!(checked, 3);
}

#[test]
fn a_trace_round_trips_and_calibrates_as_its_pixels() {
    let files = chain(true, true);
    let p = pack(5, 3000);
    let trace = fixture_trace(&files, &p);
    let bytes = trace.to_bytes();
    assert_eq!(bytes.len(), 52 + 3000 * 3 * 6 + 3000 * 2);
    assert_eq!(CalibrationTrace::parse("t", &bytes).unwrap(), trace);
    let bundle = Bundle::from_files(&with_trace(files, &bytes)).unwrap();
    assert!(bundle.data.contains_key("calibtrace.bin"));
    let model = CpuModel::new(bundle).unwrap();
    let m = model.manifest();
    let a = Evaluation::from_calibration_trace(m, &model.costs, &trace).unwrap();
    let b = Evaluation::new(m, &model.costs, &traces(&model, &p), &p.labels).unwrap();
    assert_eq!(a.count(), 3000);
    for max_drop in [0.5, 2.0, 10.0] {
        let options = CalibrateOptions::default();
        assert_eq!(format!("{:?}", a.calibrate(max_drop, &options)), format!("{:?}", b.calibrate(max_drop, &options)));
        assert_eq!(a.calibrate_greedy(max_drop).unwrap(), b.calibrate_greedy(max_drop).unwrap());
    }
    assert_eq!(a.frontier(), b.frontier());
}

#[test]
fn a_stale_or_damaged_trace_is_refused_at_load() {
    let p = pack(9, 200);
    let plain = chain(false, true);
    let bytes = fixture_trace(&plain, &p).to_bytes();
    assert!(Bundle::from_files(&with_trace(plain.clone(), &bytes)).is_ok());

    let refused = |files: Files, code: ErrorCode, words: &[&str]| {
        let e = Bundle::from_files(&files).err().expect("refused");
        assert_eq!(e.code, code, "{e}");
        for w in words {
            assert!(e.message.contains(w), "{w:?} not in {}", e.message);
        }
        // Without the trace the same files load (a loader may skip it, as `exitwise trace` does).
        let limits = LoadLimits { calibration_trace: false, ..LoadLimits::default() };
        if code == ErrorCode::BadPack {
            let b = Bundle::from_files_with(&files, &limits).unwrap();
            assert!(!b.data.contains_key("calibtrace.bin"));
        }
    };
    // Other parts (the assist variant has other weights and wiring): the digest differs.
    refused(with_trace(chain(true, true), &bytes), ErrorCode::BadPack, &["calibtrace.bin", "digest"]);
    // Same parts, another rule for exit 0.
    let mut files = with_trace(plain.clone(), &bytes);
    let mut m = manifest_of(&files);
    m["exits"][0]["rule"] = "entropy".into();
    files = with_manifest(files, m);
    refused(files, ErrorCode::BadPack, &["digest"]);
    // Same parts, another normalisation.
    let mut files = with_trace(plain.clone(), &bytes);
    let mut m = manifest_of(&files);
    m["input"]["std"] = serde_json::json!([0.5]);
    refused(with_manifest(files.clone(), m), ErrorCode::BadPack, &["digest"]);
    // Damaged bytes, with a matching hash (a trace made badly, not corrupted in transit).
    for (at, v) in [(4usize, 9u8), (12, 7), (52 + 2, 0xC0)] {
        let mut b = bytes.clone();
        b[at] = v;
        refused(with_trace(plain.clone(), &b), ErrorCode::BadPack, &["calibtrace.bin"]);
    }
    refused(with_trace(plain.clone(), &bytes[..bytes.len() - 2]), ErrorCode::BadPack, &["bytes"]);
    // A hash that does not match the file.
    files.insert("calibtrace.bin".into(), bytes[..bytes.len() - 2].to_vec());
    let e = Bundle::from_files(&files).err().expect("refused");
    assert_eq!(e.code, ErrorCode::BundleHashMismatch, "{e}");
}
