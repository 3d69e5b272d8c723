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

/// A manifest over 1 MiB is refused before it is parsed (crate/fuzz found 5,000 exits of 5,000
/// inputs each, ~150 MB of JSON, parsing into more than 1 GiB of strings); one just under the
/// limit still loads.
#[test]
fn huge_manifests_are_refused_before_parsing() {
    let padded = |bytes: usize| {
        let files = chain(false, true);
        let mut m = manifest_of(&files);
        let base = serde_json::to_vec_pretty(&m).unwrap().len();
        m["description"] = "x".repeat(bytes.saturating_sub(base + 40)).into();
        let mut f = files.clone();
        f.insert("manifest.json".into(), serde_json::to_vec_pretty(&m).unwrap());
        f
    };
    let under = padded(exitwise::manifest::MAX_MANIFEST_BYTES - 100);
    assert!(under["manifest.json"].len() <= exitwise::manifest::MAX_MANIFEST_BYTES);
    assert!(Bundle::from_files(&under).is_ok());
    let over = padded(exitwise::manifest::MAX_MANIFEST_BYTES + 100);
    assert!(over["manifest.json"].len() > exitwise::manifest::MAX_MANIFEST_BYTES);
    let e = Bundle::from_files(&over).err().expect("refused");
    assert_eq!(e.code, ErrorCode::BadManifest);
    assert!(e.message.contains("1 MiB"), "{}", e.message);
    // The fuzzer's case: many exits with many inputs, far over the limit, refused the same way.
    let mut m = manifest_of(&chain(false, true));
    let ins: Vec<String> = (0..2000).map(|i| format!("a{i}")).collect();
    m["exits"][1]["inputs"] = serde_json::json!(ins);
    let copy = m["exits"][1].clone();
    m["exits"] = serde_json::json!(vec![copy; 300]);
    let mut f = chain(false, true);
    f.insert("manifest.json".into(), serde_json::to_vec(&m).unwrap());
    assert_eq!(Bundle::from_files(&f).err().expect("refused").code, ErrorCode::BadManifest);
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

/// `files` with `bytes` as the pack or reference named by manifest key `key`.
fn with_data(files: Files, key: &str, bytes: Vec<u8>) -> Files {
    let mut files = files;
    let name = format!("{}.bin", key.replace('_', "-"));
    files.insert(name.clone(), bytes);
    let mut m = manifest_of(&files);
    m[key] = serde_json::json!({ "file": name, "sha256": "" });
    with_manifest(files, m)
}

fn pack(count: usize, chw: [usize; 3], label: u8) -> Vec<u8> {
    let [channels, height, width] = chw;
    let p = exitwise::pack::Pack { count, channels, height, width, pixels: vec![0; count * channels * height * width], labels: vec![label; count] };
    p.to_bytes()
}

fn reference(count: usize, widths: &[usize]) -> Vec<u8> {
    let mut b = b"EWRF".to_vec();
    for v in [1, count, widths.len()].into_iter().chain(widths.iter().copied()) {
        b.extend((v as u32).to_le_bytes());
    }
    b.extend(std::iter::repeat_n(0u8, count * widths.iter().sum::<usize>() * 4));
    b
}

#[test]
fn packs_and_reference_outputs_are_checked_at_load() {
    let base = chain(false, true);
    let m = manifest_of(&base);
    let s: Vec<usize> = m["input"]["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
    let chw = [s[1], s[2], s[3]];
    let classes = m["labels"].as_array().unwrap().len();
    for key in ["test_pack", "calibration_pack"] {
        assert!(Bundle::from_files(&with_data(base.clone(), key, pack(3, chw, 1))).is_ok(), "{key}: a good pack loads");
        let good = pack(3, chw, 1);
        for (why, bytes) in [
            ("garbage", b"not a pack".to_vec()),
            ("truncated", good[..good.len() - 1].to_vec()),
            ("one byte too many", [good.clone(), vec![0]].concat()),
            ("other image size", pack(3, [chw[0], chw[1] + 1, chw[2]], 1)),
            ("no image", pack(0, chw, 1)),
            ("a label that is not a class", pack(3, chw, classes as u8)),
        ] {
            let e = Bundle::from_files(&with_data(base.clone(), key, bytes)).err().unwrap_or_else(|| panic!("{key}: {why} loaded"));
            assert_eq!(e.code, ErrorCode::BadPack, "{key}: {why}: {}", e.message);
        }
    }
    // Reference outputs: one record per exit, logits (+ confidence), as many as the test pack.
    let with_test = with_data(base.clone(), "test_pack", pack(3, chw, 1));
    let widths: Vec<usize> = m["exits"].as_array().unwrap().iter().map(|x| classes + usize::from(x.get("confidence").is_some_and(|c| !c.is_null()))).collect();
    assert!(Bundle::from_files(&with_data(with_test.clone(), "reference", reference(3, &widths))).is_ok());
    for (why, bytes) in [("wrong widths", reference(3, &vec![classes + 5; widths.len()])), ("wrong count", reference(4, &widths)), ("garbage", b"EWRF".to_vec())] {
        let e = Bundle::from_files(&with_data(with_test.clone(), "reference", bytes)).err().unwrap_or_else(|| panic!("reference: {why} loaded"));
        assert_eq!(e.code, ErrorCode::BadPack, "reference: {why}: {}", e.message);
    }
    // The browser does not fetch the reference: with `reference: false` it is neither needed nor read.
    let mut no_ref = with_data(with_test, "reference", reference(3, &widths));
    no_ref.remove("reference.bin");
    assert_eq!(code(&no_ref), ErrorCode::MissingFile);
    let limits = exitwise::bundle::LoadLimits { reference: false, ..Default::default() };
    let b = Bundle::from_files_with(&no_ref, &limits).expect("loads without its reference");
    assert!(CpuModel::new(b).is_ok());
}

#[test]
fn file_names_cannot_leave_the_bundle_folder() {
    let dir = std::env::temp_dir().join(format!("exitwise-names-{}", std::process::id()));
    let inner = dir.join("bundle");
    std::fs::create_dir_all(&inner).unwrap();
    for (name, bytes) in chain(false, true) {
        std::fs::write(inner.join(&name), bytes).unwrap();
    }
    // A file outside the bundle's folder, named through `..` and as an absolute path.
    std::fs::write(dir.join("outside.onnx"), chain(false, true)["seg1.onnx"].clone()).unwrap();
    for name in ["../outside.onnx".to_string(), dir.join("outside.onnx").display().to_string()] {
        let mut m = manifest_of(&chain(false, true));
        m["segments"][1]["file"] = name.clone().into();
        std::fs::write(inner.join("manifest.json"), serde_json::to_vec(&m).unwrap()).unwrap();
        let e = Bundle::from_dir(&inner).err().unwrap_or_else(|| panic!("{name}: followed"));
        assert_eq!(e.code, ErrorCode::BadManifest, "{name}: {}", e.message);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
