//! Every error code reached by a real bad input, answered without a panic; the model keeps working.
#![cfg(not(target_arch = "wasm32"))]

mod support;

use exitwise::{Bundle, CpuModel, ErrorCode};
use support::*;

fn code(files: &Files) -> ErrorCode {
    match Bundle::from_files(files) {
        Ok(_) => panic!("bundle loaded but should not have"),
        Err(e) => {
            assert!(!e.message.is_empty());
            e.code
        }
    }
}

fn edited(edit: impl FnOnce(&mut serde_json::Value)) -> Files {
    let files = chain(false, true);
    let mut m = manifest_of(&files);
    edit(&mut m);
    files.insert_manifest(m)
}

trait InsertManifest {
    fn insert_manifest(self, m: serde_json::Value) -> Files;
}
impl InsertManifest for Files {
    fn insert_manifest(mut self, m: serde_json::Value) -> Files {
        self.insert("manifest.json".into(), serde_json::to_vec(&m).unwrap());
        self
    }
}

#[test]
fn missing_and_broken_manifests() {
    let mut files = chain(false, true);
    files.remove("manifest.json");
    assert_eq!(code(&files), ErrorCode::MissingFile);
    let files = chain(false, true).insert_manifest(serde_json::json!({}));
    assert_eq!(code(&files), ErrorCode::BadManifest);
    assert_eq!(code(&edited(|m| m["segments"] = serde_json::json!([]))), ErrorCode::BadManifest);
    assert_eq!(code(&edited(|m| m["exits"][0]["rule"] = "vibes".into())), ErrorCode::BadManifest);
}

#[test]
fn wrong_hash_names_the_file() {
    let files = edited(|m| m["segments"][1]["sha256"] = "00".repeat(32).into());
    let e = Bundle::from_files(&files).unwrap_err();
    assert_eq!(e.code, ErrorCode::BundleHashMismatch);
    assert!(e.message.contains("seg1.onnx"), "{}", e.message);
}

#[test]
fn missing_part_file() {
    let mut files = chain(false, true);
    files.remove("exit1.onnx");
    assert_eq!(code(&files), ErrorCode::MissingFile);
}

#[test]
fn truncated_and_garbage_onnx() {
    for damage in [0.5, 0.9] {
        let mut files = chain(false, true);
        let b = files.get_mut("seg1.onnx").unwrap();
        b.truncate((b.len() as f64 * damage) as usize);
        let files = with_manifest(files, manifest_of(&chain(false, true)));
        let e = Bundle::from_files(&files).unwrap_err();
        assert!(matches!(e.code, ErrorCode::BadOnnx | ErrorCode::ShapeMismatch), "{e}");
        assert!(e.message.contains("seg1.onnx"), "{}", e.message);
    }
    let mut files = chain(false, true);
    files.insert("seg0.onnx".into(), b"this is not a protobuf at all \xff\xff\xff".to_vec());
    let files = with_manifest(files, manifest_of(&chain(false, true)));
    assert_eq!(code(&files), ErrorCode::BadOnnx);
}

#[test]
fn shapes_that_do_not_fit_their_neighbours() {
    // Exit 1's graph fed to segment 1: its input takes [N, 8, 4, 4] but seg0 gives [N, 4, 8, 8].
    let mut files = chain(false, true);
    let e1 = files["exit1.onnx"].clone();
    files.insert("seg1.onnx".into(), e1);
    let e = Bundle::from_files(&with_manifest(files, manifest_of(&chain(false, true)))).unwrap_err();
    assert_eq!(e.code, ErrorCode::ShapeMismatch, "{e}");
    assert!(e.message.contains("seg1.onnx"), "{}", e.message);

    // Labels say 4 classes, exits give 3.
    let e = Bundle::from_files(&edited(|m| m["labels"] = serde_json::json!(["a", "b", "c", "d"]))).unwrap_err();
    assert_eq!(e.code, ErrorCode::ShapeMismatch, "{e}");
    assert!(e.message.contains("logits"), "{}", e.message);

    // The input is declared 9×9 but the graph takes 8×8.
    let e = Bundle::from_files(&edited(|m| m["input"]["shape"] = serde_json::json!([1, 1, 9, 9]))).unwrap_err();
    assert_eq!(e.code, ErrorCode::ShapeMismatch, "{e}");

    // A part with the wrong number of outputs for the manifest.
    let e = Bundle::from_files(&edited(|m| m["exits"][1]["outputs"] = serde_json::json!(["e1_logits"]))).unwrap_err();
    assert!(matches!(e.code, ErrorCode::ShapeMismatch | ErrorCode::BadManifest), "{e}");
}

#[test]
fn unsupported_operator_is_named() {
    let mut files = chain(false, true);
    let mut g = onnx::Graph::default();
    let x = g.input("a0", &[None, Some(4), Some(8), Some(8)]);
    g.node("FancyNewOp", &[&x], vec![], Some("a1"));
    g.output("a1");
    files.insert("seg1.onnx".into(), g.bytes());
    let e = Bundle::from_files(&with_manifest(files, manifest_of(&chain(false, true)))).unwrap_err();
    assert_eq!(e.code, ErrorCode::UnsupportedOp);
    assert!(e.message.contains("FancyNewOp"), "{}", e.message);
}

#[test]
fn bad_inputs_and_thresholds_leave_the_model_working() {
    let m = CpuModel::new(Bundle::from_files(&chain(false, true)).unwrap()).unwrap();
    let good = input(5);
    let before = m.classify(&good, &[0.5, 0.5]).unwrap();

    let mut nan = good.clone();
    nan[3] = f32::NAN;
    let mut big = good.clone();
    big[0] = 7.0;
    for bad in [nan, big, vec![0.5; 10], vec![]] {
        assert_eq!(m.classify(&bad, &[0.5, 0.5]).unwrap_err().code, ErrorCode::BadInput);
        assert_eq!(m.trace(&bad).unwrap_err().code, ErrorCode::BadInput);
    }
    for t in [vec![0.5], vec![0.5, 0.5, 0.5], vec![1.5, 0.5], vec![-0.1, 0.5], vec![f32::NAN, 0.5]] {
        assert_eq!(m.classify(&good, &t).unwrap_err().code, ErrorCode::BadThreshold, "{t:?}");
    }
    let mut trace = m.trace(&good).unwrap();
    trace.exits.pop();
    assert_eq!(m.decide(&trace, &[0.5, 0.5]).unwrap_err().code, ErrorCode::BadInput);

    let mut after = m.classify(&good, &[0.5, 0.5]).unwrap();
    after.elapsed_ms = before.elapsed_ms;
    assert_eq!(before, after);
}
