//! Every trained bundle in `models/`: the Rust runtime on its test pack matches the training
//! framework's reference outputs (probabilities derived from the reference logits, learned
//! confidences), predictions 100 % equal, exit decisions equal at the default thresholds.
#![cfg(not(target_arch = "wasm32"))]

mod support;

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
                if m.exits[e].confidence.is_some() && m.exits[e].rule == exitwise::manifest::ExitRule::Learned {
                    worst = worst.max((out.confidence - rec[c]).abs());
                }
            }
            // Exit decision at the default thresholds, from the reference outputs.
            // The exit's rule decides; a learned confidence is the reference's extra column.
            let ref_conf = |e: usize| {
                let rec = reference.record(i, e);
                let learned = m.exits[e].confidence.as_ref().map(|_| rec[c]);
                exitwise::rules::confidence(m.exits[e].rule, &softmax(&rec[..c]), learned)
            };
            let want = (0..defaults.len()).find(|&e| ref_conf(e) >= defaults[e]).unwrap_or(m.exits.len() - 1);
            assert_eq!(model.decide(t, &defaults).unwrap().exit, want, "{}: image {i} exit decision", dir.display());
        }
        assert!(worst <= 1e-4, "{}: max |Δ| {worst}", dir.display());
        println!("{}: {} images, max |Δ| {worst:.2e}", dir.display(), pack.count);
    }
}

/// Early exit at batch N: on every real bundle's test pack (first 300 images, batches of 64 —
/// the last one short), every image's exit, class and confidence equal single-image `classify`,
/// at the default thresholds and at thresholds that send images out of every exit; the MACs
/// executed add up to the per-image ones.
#[test]
fn classify_batch_equals_classify_on_every_bundle() {
    for dir in bundles() {
        let model = CpuModel::new(Bundle::from_dir(&dir).unwrap()).unwrap();
        let m = model.manifest().clone();
        let pack_ref = m.test_pack.as_ref().expect("test pack");
        let pack = Pack::parse(&pack_ref.file, &model.bundle.data[&pack_ref.file]).unwrap();
        let n = pack.count.min(300);
        let len = m.input.len();
        let images = from_u8(&m.input, &pack.pixels[..n * len]);
        // Thresholds near the median confidence of each exit, so that about half the images
        // leave at each — midway between two confidences at least 1e-4 apart: a batch plan may
        // round differently from the batch-1 plan (~1 ulp), which could flip an image whose
        // confidence sits exactly on its threshold.
        let traces = model.trace_batch(&images, n).unwrap();
        let median: Vec<f32> = (0..m.early_exits())
            .map(|e| {
                let mut c: Vec<f32> = traces.iter().map(|t| t.exits[e].confidence).collect();
                c.sort_by(f32::total_cmp);
                (c.len() / 2..c.len() - 1)
                    .find(|&k| c[k + 1] - c[k] > 1e-4)
                    .map_or(1.0, |k| (c[k] + c[k + 1]) / 2.0)
            })
            .collect();
        for thresholds in [m.default_thresholds(), median] {
            let mut fired = vec![0usize; m.exits.len()];
            for (start, chunk) in images.chunks(64 * len).enumerate() {
                let k = chunk.len() / len;
                let b = model.classify_batch(chunk, k, &thresholds).unwrap();
                assert_eq!(b.classifications.len(), k);
                let mut macs = 0;
                for (j, got) in b.classifications.iter().enumerate() {
                    let i = start * 64 + j;
                    let want = model.classify(&images[i * len..(i + 1) * len], &thresholds).unwrap();
                    if let Err(e) = support::same_classification(got, &want) {
                        panic!("{}: image {i} at {thresholds:?}: {e}", dir.display());
                    }
                    fired[got.exit] += 1;
                    macs += want.macs_executed;
                }
                assert_eq!(b.macs_executed, macs);
                assert_eq!(b.macs_full, model.costs.plain * k as u64);
            }
            println!("{}: {n} images at {thresholds:?}: left at each exit {fired:?}", dir.display());
        }
    }
}
