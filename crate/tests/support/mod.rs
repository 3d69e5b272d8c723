//! Test fixtures: small real bundles built in Rust (ONNX protobuf + manifest), with MACs that
//! can be computed by hand.
#![allow(dead_code)]

pub mod onnx;
pub mod samples;
#[cfg(target_arch = "wasm32")]
pub mod js;

use onnx::{Graph, Lcg};
use std::collections::BTreeMap;

pub type Files = BTreeMap<String, Vec<u8>>;

pub const C: i64 = 3;
pub const SIDE: i64 = 8;
const N: Option<i64> = None;

/// Hand-computed MACs (batch 1) of the fixture's parts.
pub const SEG_MACS: [u64; 3] = [
    (4 * 8 * 8) * (3 * 3),     // conv 1→4, 3×3, 8×8 out
    (8 * 4 * 4) * (4 * 3 * 3), // conv 4→8, 3×3 stride 2, 4×4 out
    (8 * 4 * 4) * 8,           // conv 8→8, 1×1
];
pub const EXIT_MACS: [u64; 3] = [
    4 * 3,           // gemm 4→3
    8 * 3 + 8,       // gemm 8→3 + gemm 8→1 (confidence)
    8 * 4 * 4 * 3,   // gemm 128→3
];
/// With early-view assist the final gemm also reads exit 0's 4 features.
pub const ASSIST_FINAL_MACS: u64 = (8 * 4 * 4 + 4) * 3;

/// A three-segment, three-exit bundle on 8×8 gray inputs: exit 0 max-softmax, exit 1 learned,
/// final entropy. `assist` feeds exit 0's pooled features into the final classifier.
pub fn chain(assist: bool, dynamic_batch: bool) -> Files {
    let b = if dynamic_batch { N } else { Some(1) };
    let mut rng = Lcg(7);
    let mut files = Files::new();

    let mut g = Graph::default();
    let x = g.input("x", &[b, Some(1), Some(SIDE), Some(SIDE)]);
    let c = g.conv(&mut rng, &x, 1, 4, 3, 1, 1);
    g.node("Relu", &[&c], vec![], Some("a0"));
    g.output("a0");
    files.insert("seg0.onnx".into(), g.bytes());

    let mut g = Graph::default();
    let x = g.input("a0", &[b, Some(4), Some(8), Some(8)]);
    let p = g.node("GlobalAveragePool", &[&x], vec![], None);
    let f = g.node("Flatten", &[&p], vec![onnx::int("axis", 1)], Some("feat"));
    g.dense(&mut rng, &f, 4, C, Some("logits"));
    g.output("logits");
    if assist {
        g.output("feat");
    }
    files.insert("exit0.onnx".into(), g.bytes());

    let mut g = Graph::default();
    let x = g.input("a0", &[b, Some(4), Some(8), Some(8)]);
    let c = g.conv(&mut rng, &x, 4, 8, 3, 2, 1);
    g.node("Relu", &[&c], vec![], Some("a1"));
    g.output("a1");
    files.insert("seg1.onnx".into(), g.bytes());

    let mut g = Graph::default();
    let x = g.input("a1", &[b, Some(8), Some(4), Some(4)]);
    let p = g.node("GlobalAveragePool", &[&x], vec![], None);
    let f = g.node("Flatten", &[&p], vec![onnx::int("axis", 1)], None);
    g.dense(&mut rng, &f, 8, C, Some("logits"));
    let z = g.dense(&mut rng, &f, 8, 1, None);
    g.node("Sigmoid", &[&z], vec![], Some("conf"));
    g.output("logits");
    g.output("conf");
    files.insert("exit1.onnx".into(), g.bytes());

    let mut g = Graph::default();
    let x = g.input("a1", &[b, Some(8), Some(4), Some(4)]);
    let c = g.conv(&mut rng, &x, 8, 8, 1, 1, 0);
    g.node("Relu", &[&c], vec![], Some("a2"));
    g.output("a2");
    files.insert("seg2.onnx".into(), g.bytes());

    let mut g = Graph::default();
    let x = g.input("a2", &[b, Some(8), Some(4), Some(4)]);
    let f = g.node("Flatten", &[&x], vec![onnx::int("axis", 1)], None);
    if assist {
        let e = g.input("e0_feat", &[b, Some(4)]);
        let cat = g.node("Concat", &[&f, &e], vec![onnx::int("axis", 1)], None);
        g.dense(&mut rng, &cat, 8 * 4 * 4 + 4, C, Some("logits"));
    } else {
        g.dense(&mut rng, &f, 8 * 4 * 4, C, Some("logits"));
    }
    g.output("logits");
    files.insert("final.onnx".into(), g.bytes());

    let exit0_outputs = if assist { serde_json::json!(["e0_logits", "e0_feat"]) } else { serde_json::json!(["e0_logits"]) };
    let final_inputs = if assist { serde_json::json!(["a2", "e0_feat"]) } else { serde_json::json!(["a2"]) };
    let manifest = serde_json::json!({
        "format": "exitwise/1",
        "name": if assist { "chain-assist" } else { "chain" },
        "labels": ["zero", "one", "two"],
        "input": {"shape": [1, 1, SIDE, SIDE], "dtype": "f32", "layout": "NCHW",
                  "range": [0.0, 1.0], "mean": [0.5], "std": [0.25]},
        "segments": [
            {"name": "seg0", "file": "seg0.onnx", "inputs": ["input"], "outputs": ["a0"]},
            {"name": "seg1", "file": "seg1.onnx", "inputs": ["a0"], "outputs": ["a1"]},
            {"name": "seg2", "file": "seg2.onnx", "inputs": ["a1"], "outputs": ["a2"]}
        ],
        "exits": [
            {"name": "exit0", "after": 0, "file": "exit0.onnx", "inputs": ["a0"], "outputs": exit0_outputs,
             "logits": "e0_logits", "rule": "max_softmax", "threshold": 0.6},
            {"name": "exit1", "after": 1, "file": "exit1.onnx", "inputs": ["a1"], "outputs": ["e1_logits", "e1_conf"],
             "logits": "e1_logits", "confidence": "e1_conf", "rule": "learned", "threshold": 0.5},
            {"name": "final", "after": 2, "file": "final.onnx", "inputs": final_inputs, "outputs": ["logits"],
             "logits": "logits", "rule": "entropy"}
        ]
    });
    with_manifest(files, manifest)
}

/// Writes `manifest` (filling in every named file's sha256) into `files`.
pub fn with_manifest(mut files: Files, mut manifest: serde_json::Value) -> Files {
    let sha = |f: &Files, name: &str| f.get(name).map(|b| exitwise::bundle::sha256_hex(b)).unwrap_or_default();
    for key in ["segments", "exits"] {
        if let Some(parts) = manifest[key].as_array_mut() {
            for p in parts {
                let name = p["file"].as_str().unwrap_or_default().to_string();
                p["sha256"] = sha(&files, &name).into();
            }
        }
    }
    for key in ["test_pack", "calibration_pack", "reference", "calibration_trace"] {
        if let Some(name) = manifest[key]["file"].as_str().map(String::from) {
            manifest[key]["sha256"] = sha(&files, &name).into();
        }
    }
    files.insert("manifest.json".into(), serde_json::to_vec_pretty(&manifest).unwrap());
    files
}

pub fn manifest_of(files: &Files) -> serde_json::Value {
    serde_json::from_slice(&files["manifest.json"]).unwrap()
}

/// A deterministic input in [0, 1].
pub fn input(seed: u64) -> Vec<f32> {
    let mut r = Lcg(seed);
    (0..(SIDE * SIDE)).map(|_| (r.next() + 1.0) / 2.0).collect()
}

/// `chain(false, true)` with an operator the WebGPU backend has no kernel for (Erf) in its first
/// segment: the CPU runs it, loading it for WebGPU fails with UNSUPPORTED_OP.
pub fn unlowerable() -> Files {
    let mut files = chain(false, true);
    let mut g = Graph::default();
    let x = g.input("x", &[N, Some(1), Some(SIDE), Some(SIDE)]);
    let c = g.conv(&mut Lcg(3), &x, 1, 4, 3, 1, 1);
    g.node("Erf", &[&c], vec![], Some("a0"));
    g.output("a0");
    files.insert("seg0.onnx".into(), g.bytes());
    let manifest = manifest_of(&files);
    with_manifest(files, manifest)
}

/// `got` (from a batch run) is the classification `want` (one input alone): the same exit,
/// class, label, exits evaluated with their classes and thresholds, MACs — and the same
/// numbers up to float rounding (a batch plan may sum in another order: ~1 ulp).
pub fn same_classification(got: &exitwise::Classification, want: &exitwise::Classification) -> Result<(), String> {
    let close = |a: f32, b: f32| (a - b).abs() <= 1e-5;
    let decision = |c: &exitwise::Classification| {
        (c.exit, c.class, c.label.clone(), c.segments_run, c.macs_executed, c.macs_full, c.backend.clone(),
         c.exits.iter().map(|r| (r.exit, r.class, r.threshold, r.fired)).collect::<Vec<_>>())
    };
    if decision(got) != decision(want) {
        return Err(format!("decisions differ:\n{got:?}\n{want:?}"));
    }
    let numbers_close = close(got.confidence, want.confidence)
        && got.probabilities.len() == want.probabilities.len()
        && got.probabilities.iter().zip(&want.probabilities).all(|(a, b)| close(*a, *b))
        && got.exits.iter().zip(&want.exits).all(|(a, b)| close(a.confidence, b.confidence));
    if !numbers_close {
        return Err(format!("numbers differ beyond 1e-5:\n{got:?}\n{want:?}"));
    }
    Ok(())
}
