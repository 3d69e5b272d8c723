//! Every trained bundle in `models/`: the Rust runtime on its test pack matches the training
//! framework's reference outputs (probabilities derived from the reference logits, learned
//! confidences), predictions 100 % equal, exit decisions equal at the default thresholds.
#![cfg(not(target_arch = "wasm32"))]

use exitwise::input::from_u8;
use exitwise::pack::{Pack, Reference};
use exitwise::rules::{argmax, softmax};
use exitwise::{Bundle, CpuModel};
use std::path::PathBuf;

fn bundles() -> Vec<PathBuf> {
    let models = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&models)
        .map(|d| d.flatten().map(|e| e.path()).filter(|p| p.join("manifest.json").exists()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn the_three_trained_bundles_are_present() {
    let names: Vec<String> = bundles().iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    for want in ["tiny-mnist", "resnet-fmnist", "resnet-fmnist-pt"] {
        assert!(names.iter().any(|n| n == want), "models/{want} missing: found {names:?}");
    }
}

#[test]
fn runtime_matches_reference_outputs() {
    for dir in bundles() {
        let model = CpuModel::new(Bundle::from_dir(&dir).unwrap()).unwrap();
        let m = model.manifest().clone();
        let pack_ref = m.test_pack.as_ref().expect("test pack");
        let pack = Pack::parse(&pack_ref.file, &model.bundle.data[&pack_ref.file]).unwrap();
        let rref = m.reference.as_ref().expect("reference");
        let reference = Reference::parse(&rref.file, &model.bundle.data[&rref.file]).unwrap();
        assert_eq!(reference.count, pack.count);
        let images = from_u8(&m.input, &pack.pixels);
        let traces = model.trace_batch(&images, pack.count).unwrap();
        let c = m.classes();
        let mut worst = 0f32;
        let defaults = m.default_thresholds();
        for (i, t) in traces.iter().enumerate() {
            for (e, out) in t.exits.iter().enumerate() {
                let rec = reference.record(i, e);
                let p = softmax(&rec[..c]);
                assert_eq!(out.class, argmax(&p), "{}: image {i} exit {e} prediction", dir.display());
                for (a, b) in out.probabilities.iter().zip(&p) {
                    worst = worst.max((a - b).abs());
                }
                if m.exits[e].confidence.is_some() {
                    worst = worst.max((out.confidence - rec[c]).abs());
                }
            }
            // Exit decision at the default thresholds, from the reference outputs.
            let ref_conf = |e: usize| {
                let rec = reference.record(i, e);
                match m.exits[e].confidence {
                    Some(_) => rec[c],
                    None => exitwise::rules::confidence(m.exits[e].rule, &softmax(&rec[..c]), None),
                }
            };
            let want = (0..defaults.len()).find(|&e| ref_conf(e) >= defaults[e]).unwrap_or(m.exits.len() - 1);
            assert_eq!(model.decide(t, &defaults).unwrap().exit, want, "{}: image {i} exit decision", dir.display());
        }
        assert!(worst <= 1e-4, "{}: max |Δ| {worst}", dir.display());
        println!("{}: {} images, max |Δ| {worst:.2e}", dir.display(), pack.count);
    }
}
