//! Golden vectors for the Python side (models/train/rules.py): confidences and exit decisions
//! computed here with the crate's public API — `rules::{softmax, argmax, confidence}`,
//! `Model::decide` on the tiny-mnist bundle and `Evaluation::summary` — and written to
//! `models/train/golden/*.json`, which `python3 -m unittest discover models/tests` reads.
//!
//! The files are committed; this test fails when they differ from what the crate computes now, so
//! the Python mirror cannot drift silently from the rules. After a deliberate change to the rules,
//! rewrite them with `EXITWISE_WRITE_GOLDEN=1 cargo test --workspace --features exitwise/webgpu
//! --test golden` and rerun the Python tests.
//!
//! f32 values are written as the decimal of their exact value (serde_json prints the widened
//! f64), so Python's `np.float32(x)` gets the same bits back; non-finite values as the strings
//! "NaN", "inf", "-inf" (JSON has no literal for them).
#![cfg(not(target_arch = "wasm32"))]

use exitwise::manifest::ExitRule;
use exitwise::rules::{argmax, confidence, softmax};
use exitwise::{Bundle, CpuModel, Evaluation, ExitOutput, Trace};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn golden_dir() -> PathBuf {
    repo().join("models/train/golden")
}

fn num(x: f32) -> Value {
    if x.is_nan() {
        json!("NaN")
    } else if x.is_infinite() {
        json!(if x > 0.0 { "inf" } else { "-inf" })
    } else {
        json!(x as f64)
    }
}

fn nums(v: &[f32]) -> Value {
    Value::Array(v.iter().copied().map(num).collect())
}

/// A fixed pseudo-random stream (no dependency, same numbers on every platform).
struct Lcg(u64);

impl Lcg {
    /// Uniform in [-1, 1).
    fn next(&mut self) -> f32 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
    fn below(&mut self, n: usize) -> usize {
        (((self.next() + 1.0) / 2.0 * n as f32) as usize).min(n - 1)
    }
}

/// Logit rows: random ones over class counts and scales, then the edges (ties, saturation,
/// one class, non-finite values).
fn logit_rows() -> Vec<Vec<f32>> {
    let mut rng = Lcg(13);
    let mut rows = Vec::new();
    for c in [2usize, 3, 10, 100] {
        for scale in [0.01f32, 1.0, 4.0, 20.0, 100.0] {
            for _ in 0..4 {
                rows.push((0..c).map(|_| rng.next() * scale).collect());
            }
        }
    }
    let (inf, nan) = (f32::INFINITY, f32::NAN);
    rows.extend([
        vec![0.0, 0.0],
        vec![0.0; 10],
        vec![1000.0, 1000.0, -1000.0],
        vec![1.0, 3.0, 3.0],
        vec![-1e4, 0.0, 1e4],
        vec![88.0, 0.0],
        vec![-100.0, -100.0, -99.0, -100.0, -100.0, -100.0, -100.0, -100.0, -100.0, -100.0],
        vec![3.4e38, -3.4e38],
        vec![5.0],
        vec![nan, 0.0, 1.0],
        vec![inf, 0.0, 1.0],
        vec![-inf, 0.0, 1.0],
        vec![-inf, -inf],
    ]);
    rows
}

fn confidences() -> Value {
    let cases: Vec<Value> = logit_rows()
        .iter()
        .map(|l| {
            let p = softmax(l);
            json!({
                "logits": nums(l),
                "probabilities": nums(&p),
                "class": argmax(&p),
                "max_softmax": num(confidence(ExitRule::MaxSoftmax, &p, None)),
                "entropy": num(confidence(ExitRule::Entropy, &p, None)),
            })
        })
        .collect();
    let p = [0.5f32, 0.5];
    let learned: Vec<Value> = [-0.5f32, -0.0, 0.0, 1e-8, 0.25, 0.5, 0.999_999_9, 1.0, 1.000_000_1, 1.5, f32::NAN, f32::INFINITY, f32::NEG_INFINITY]
        .iter()
        .map(|&v| json!({ "value": num(v), "confidence": num(confidence(ExitRule::Learned, &p, Some(v))) }))
        .collect();
    json!({
        "about": "exitwise::rules on fixed logits: softmax probabilities, argmax class, max_softmax and entropy confidences; learned: the head's value as the rule takes it. Written by crate/tests/golden.rs.",
        "cases": cases,
        "learned": learned,
    })
}

fn tiny_mnist() -> CpuModel {
    let dir = repo().join("models/tiny-mnist");
    CpuModel::new(Bundle::from_dir(&dir).expect("load models/tiny-mnist")).expect("prepare tiny-mnist")
}

fn thresholds_list() -> Vec<Vec<f32>> {
    vec![
        vec![0.0, 0.0],
        vec![1.0, 1.0],
        vec![0.7, 0.7],
        vec![0.9, 0.89],
        vec![0.5, 1.0],
        vec![1.0, 0.5],
        vec![0.3, 0.77],
        vec![0.71, 0.69],
        vec![0.99, 0.2],
    ]
}

/// Exit decisions two ways. `from_logits`: traces made from logit rows by the rules, decided by
/// `Model::decide` (tiny-mnist: three max_softmax exits, 10 classes). `from_confidences`:
/// confidences chosen at and around the thresholds (the f32 of 0.7 is below 0.7, so a float64
/// comparison would differ), 0, 1 and NaN, through `Evaluation` (one image at a time for each
/// image's exit, then all together for the summary).
fn decisions() -> Value {
    let model = tiny_mnist();
    let m = model.manifest();
    let c = m.classes();
    let mut rng = Lcg(29);
    let scales = [0.5f32, 2.0, 5.0, 12.0];
    let mut logits = Vec::new();
    let mut traces = Vec::new();
    for i in 0..48 {
        let per_exit: Vec<Vec<f32>> =
            (0..m.exits.len()).map(|e| (0..c).map(|_| rng.next() * scales[(i + e) % scales.len()]).collect()).collect();
        let exits = per_exit
            .iter()
            .map(|l| {
                let p = softmax(l);
                ExitOutput { class: argmax(&p), confidence: confidence(ExitRule::MaxSoftmax, &p, None), probabilities: p }
            })
            .collect();
        logits.push(Value::Array(per_exit.iter().map(|l| nums(l)).collect()));
        traces.push(Trace { exits });
    }
    let from_logits: Vec<Value> = thresholds_list()
        .iter()
        .map(|t| {
            let d: Vec<_> = traces.iter().map(|tr| model.decide(tr, t).expect("decide")).collect();
            json!({
                "thresholds": nums(t),
                "exit": d.iter().map(|c| c.exit).collect::<Vec<_>>(),
                "class": d.iter().map(|c| c.class).collect::<Vec<_>>(),
                "confidence": nums(&d.iter().map(|c| c.confidence).collect::<Vec<_>>()),
                "macs_executed": d.iter().map(|c| c.macs_executed).collect::<Vec<_>>(),
            })
        })
        .collect();

    let below = |x: f32| f32::from_bits(x.to_bits() - 1);
    let above = |x: f32| f32::from_bits(x.to_bits() + 1);
    let levels = [0.0f32, 0.7, below(0.7), above(0.7), 0.9, 0.89, 0.5, 1.0, f32::NAN];
    let mut conf = Vec::new();
    let mut class = Vec::new();
    let mut labels = Vec::new();
    let mut etraces = Vec::new();
    for &a in &levels {
        for &b in &levels {
            let cs = [a, b, rng.next().abs()];
            let ks: Vec<usize> = (0..3).map(|_| rng.below(c)).collect();
            let label = (if rng.next() > 0.0 { ks[rng.below(3)] } else { rng.below(c) }) as u8;
            let exits = cs
                .iter()
                .zip(&ks)
                .map(|(&cf, &k)| ExitOutput { probabilities: vec![0.0; c], class: k, confidence: cf })
                .collect();
            etraces.push(Trace { exits });
            conf.push(nums(&cs));
            class.push(json!(ks));
            labels.push(label);
        }
    }
    let from_confidences: Vec<Value> = thresholds_list()
        .iter()
        .map(|t| {
            let exit: Vec<usize> = etraces
                .iter()
                .zip(&labels)
                .map(|(tr, &l)| {
                    let one = Evaluation::new(m, &model.costs, std::slice::from_ref(tr), &[l]).expect("evaluation");
                    let s = one.summary(t, m).expect("summary");
                    s.histogram.iter().position(|&h| h == 1).expect("one image leaves once")
                })
                .collect();
            let s = Evaluation::new(m, &model.costs, &etraces, &labels).expect("evaluation").summary(t, m).expect("summary");
            json!({
                "thresholds": nums(t),
                "exit": exit,
                "summary": {
                    "accuracy": s.accuracy,
                    "final_accuracy": s.final_accuracy,
                    "mean_macs": s.mean_macs,
                    "macs_saved_fraction": s.macs_saved_fraction,
                    "histogram": s.histogram,
                },
            })
        })
        .collect();
    json!({
        "about": "Exit decisions on tiny-mnist's exits and costs: from_logits by Model::decide on traces the rules make from the logits; from_confidences by Evaluation (each image alone, then the summary). Written by crate/tests/golden.rs.",
        "model": m.name,
        "classes": c,
        "costs": { "to_exit": model.costs.to_exit, "plain": model.costs.plain },
        "from_logits": { "logits": logits, "decisions": from_logits },
        "from_confidences": { "confidence": conf, "class": class, "labels": labels, "decisions": from_confidences },
    })
}

/// Compares `value` with the committed file (or writes it under EXITWISE_WRITE_GOLDEN=1).
fn golden(name: &str, value: Value) {
    let path = golden_dir().join(name);
    let text = serde_json::to_string_pretty(&value).expect("JSON") + "\n";
    if std::env::var_os("EXITWISE_WRITE_GOLDEN").is_some() {
        std::fs::create_dir_all(golden_dir()).expect("create models/train/golden");
        std::fs::write(&path, &text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        eprintln!("wrote {}", path.display());
        return;
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e} (EXITWISE_WRITE_GOLDEN=1 writes it)", path.display()));
    assert!(
        on_disk == text,
        "{} differs from what the crate computes now; if the change is meant, rerun with EXITWISE_WRITE_GOLDEN=1 and then the Python tests",
        path.display()
    );
}

#[test]
fn confidences_golden() {
    let v = confidences();
    // The file must exercise what the Python side has to get right: ties, one class, NaN.
    let cases = v["cases"].as_array().unwrap();
    assert!(cases.iter().any(|c| c["logits"] == json!([1.0, 3.0, 3.0]) && c["class"] == 1), "first of tied classes");
    assert!(cases.iter().any(|c| c["entropy"] == json!(1.0) && c["logits"].as_array().unwrap().len() == 1));
    assert!(cases.iter().any(|c| c["max_softmax"] == json!(0.0) && c["probabilities"][0] == json!("NaN")));
    golden("confidences.json", v);
}

#[test]
fn decisions_golden() {
    let v = decisions();
    // Every threshold set sends some image to each exit somewhere, so the vectors test firing.
    for key in ["from_logits", "from_confidences"] {
        let mut seen = [false; 3];
        for d in v[key]["decisions"].as_array().unwrap() {
            for e in d["exit"].as_array().unwrap() {
                seen[e.as_u64().unwrap() as usize] = true;
            }
        }
        assert_eq!(seen, [true; 3], "{key}: every exit fires for some image");
    }
    golden("decisions.json", v);
}
