//! The CLI's `calibrate --max-drop … --greedy` against the operating points that
//! `python -m models.train.oppoints` wrote to `models/<name>/operating-points.json` (and to the
//! calibration-pack section of models/REPORT.md).
//!
//! Both sides work on the bundle's own `calibpack.bin` (the first 1,000 validation images): the
//! Python side with onnxruntime for the confidences, and the CLI's own thresholds checked against
//! its exit simulation (models/train/oppoints.py); this side with the `exitwise` binary (tract, the runtime's MAC
//! count, eval.rs). Thresholds must be equal (both on the 0.01 grid), and so must the accuracy,
//! the MACs saved and the exit histogram. No Python at test time: the JSON files are committed.
//! Plain `calibrate` (Learn then Test) runs on the same packs too, and its certificate is checked
//! for consistency (a certified point's p-value ≤ δ and calibration drop ≤ its losses' share; 0.1
//! points cannot be certified on 1,000 images). The pack is named (`--calib-pack`): by default
//! `calibrate` reads the bundle's calibration trace, the whole validation split.
//! Native only: there is no process to run on wasm32.
#![cfg(not(target_arch = "wasm32"))]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const DROPS: [f64; 3] = [0.1, 0.5, 1.0];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Runs the binary with `args` (plus `--json`) and parses its output; fails on a non-zero exit.
fn cli(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_exitwise")).args(args).arg("--json").output().expect("run exitwise");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exitwise {args:?} failed: {stderr}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("exitwise {args:?}: not JSON ({e})"))
}

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array().expect("an array").iter().map(|x| x.as_f64().expect("a number")).collect()
}

fn u64s(v: &Value) -> Vec<u64> {
    v.as_array().expect("an array").iter().map(|x| x.as_u64().expect("an integer")).collect()
}

/// The bundle folder of `name` from models/index.json.
fn bundle(name: &str) -> PathBuf {
    let index = read_json(&repo().join("models/index.json"));
    let entry = index
        .as_array()
        .expect("index.json is a list")
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("{name} is not in models/index.json"));
    repo().join(entry["path"].as_str().expect("a path"))
}

fn check(name: &str) {
    let dir = bundle(name);
    let dir_s = dir.to_str().expect("a UTF-8 path");
    let calib_pack = dir.join("calibpack.bin").display().to_string();
    let want = read_json(&dir.join("operating-points.json"));
    assert_eq!(want["model"], name);

    // The MACs behind "saved": the runtime's count (tract's cost model) against the Python one
    // (Conv and Gemm shapes read from the ONNX graphs).
    let info = cli(&["info", dir_s]);
    let seg: Vec<u64> = info["segments"].as_array().unwrap().iter().map(|s| s["macs"].as_u64().unwrap()).collect();
    let exits = info["exits"].as_array().unwrap();
    let head: Vec<u64> = exits.iter().map(|x| x["macs"].as_u64().unwrap()).collect();
    let to_exit: Vec<u64> = exits.iter().map(|x| x["cumulative_macs"].as_u64().unwrap()).collect();
    assert_eq!(seg, u64s(&want["segment_macs"]), "{name}: segment MACs");
    assert_eq!(head, u64s(&want["exit_macs"]), "{name}: exit head MACs");
    assert_eq!(to_exit, u64s(&want["macs_to_exit"]), "{name}: MACs when each exit fires");
    assert_eq!(info["macs_full"].as_u64(), want["macs_full"].as_u64(), "{name}: MACs of the plain network");

    let points = want["operating_points"].as_array().expect("operating_points");
    assert_eq!(points.len(), DROPS.len(), "{name}: one point per max drop");
    for (drop, p) in DROPS.iter().zip(points) {
        assert_eq!(p["max_drop"].as_f64(), Some(*drop), "{name}: points in the order {DROPS:?}");
        // The Python side is the greedy search (BUNDLE.md, "Greedy search"); plain `calibrate`
        // is Learn then Test since, checked below.
        let got = cli(&["calibrate", dir_s, "--max-drop", &drop.to_string(), "--greedy", "--calib-pack", &calib_pack]);
        let c = &got["calibration"];
        let what = format!("{name} --max-drop {drop}");
        eprintln!(
            "{what}: thresholds {} accuracy {} saved {} histogram {} (python: {} {} {} {})",
            got["thresholds"], c["accuracy"], c["macs_saved_fraction"], c["histogram"],
            p["thresholds"], p["accuracy"], p["macs_saved_fraction"], p["histogram"]
        );
        // Calibrated on the bundle's own calibration pack, the one the JSON describes.
        assert_eq!(c["pack"], calib_pack, "{what}");
        assert_eq!(c["count"].as_u64(), want["count"].as_u64(), "{what}: images");
        // Grid values: f32 k/100 printed shortest (serde_json) and f64 k/100 (Python) parse to
        // the same f64, so they compare exactly.
        assert_eq!(f64s(&got["thresholds"]), f64s(&p["thresholds"]), "{what}: thresholds");
        assert_eq!(f64s(&c["thresholds"]), f64s(&p["thresholds"]), "{what}: thresholds of the calibration figures");
        assert_eq!(u64s(&c["histogram"]), u64s(&p["histogram"]), "{what}: exit histogram");
        // Counts over the same n, divided the same way: equal to the last bit.
        assert_eq!(f64s(&c["exit_accuracies"]), f64s(&want["exit_accuracies"]), "{what}: each exit's accuracy alone");
        assert_eq!(c["final_accuracy"].as_f64(), p["final_accuracy"].as_f64(), "{what}: final exit's accuracy");
        assert_eq!(c["accuracy"].as_f64(), p["accuracy"].as_f64(), "{what}: accuracy");
        assert_eq!(c["mean_macs"].as_f64(), p["mean_macs"].as_f64(), "{what}: mean MACs");
        assert_eq!(c["macs_full"].as_u64(), want["macs_full"].as_u64(), "{what}: MACs of the plain network");
        let (gs, ws) = (c["macs_saved_fraction"].as_f64().unwrap(), p["macs_saved_fraction"].as_f64().unwrap());
        assert!((gs - ws).abs() <= 1e-12, "{what}: MACs saved {gs} vs {ws}");
        // And the bound the search had to respect.
        let correct = (c["accuracy"].as_f64().unwrap() * c["count"].as_f64().unwrap()).round() as u64;
        assert!(correct >= p["min_correct"].as_u64().unwrap(), "{what}: {correct} correct, under the bound");
        assert_eq!(got["method"], "greedy", "{what}");
        assert_eq!(got["guaranteed"], false, "{what}");

        // Learn then Test on the same pack: its own figures hang together.
        let ltt = cli(&["calibrate", dir_s, "--max-drop", &drop.to_string(), "--calib-pack", &calib_pack]);
        let cert = &ltt["certificate"];
        let c = &ltt["calibration"];
        let t = f64s(&ltt["thresholds"]);
        let alpha = drop / 100.0;
        eprintln!(
            "{what} (learn then test, δ 0.1): certified {} thresholds {:?} losses {} p {} saved {} test drop {:.4} saved {}",
            cert["certified"], t, cert["losses"], cert["p_value"], c["macs_saved_fraction"],
            ltt["test"]["final_accuracy"].as_f64().unwrap() - ltt["test"]["accuracy"].as_f64().unwrap(),
            ltt["test"]["macs_saved_fraction"]
        );
        assert_eq!(ltt["method"], "learn-then-test", "{what}");
        assert_eq!(cert["n"].as_u64(), want["count"].as_u64(), "{what}: the shared path tests every image");
        assert!(t.iter().all(|&x| x == t[0]), "{what}: one shared threshold, got {t:?}");
        let n = cert["n"].as_u64().unwrap();
        let min = cert["min_images"].as_u64().unwrap();
        if cert["certified"] == true {
            assert!(cert["p_value"].as_f64().unwrap() <= 0.1, "{what}");
            assert_eq!(cert["risk_upper_bound"].as_f64(), Some(alpha), "{what}");
            // p ≤ δ needs fewer losses than nα, and the drop is at most the losses' share.
            let drop_calib = c["final_accuracy"].as_f64().unwrap() - c["accuracy"].as_f64().unwrap();
            let losses = cert["losses"].as_f64().unwrap();
            assert!(losses < alpha * n as f64, "{what}");
            assert!(drop_calib <= losses / n as f64 + 1e-12, "{what}: drop {drop_calib} over the losses");
        } else {
            assert!(t.iter().all(|&x| x == 1.0), "{what}: nothing certified, thresholds {t:?}");
            assert!(cert["risk_upper_bound"].is_null(), "{what}");
        }
        // 1,000 images cannot certify 0.1 pt at δ = 0.1 (2,302 with no loss are needed).
        if *drop == 0.1 {
            assert_eq!(min, 2302);
            assert_eq!(cert["certified"], false, "{what}");
        }
    }
}

#[test]
fn tiny_mnist_operating_points() {
    check("tiny-mnist");
}

#[test]
fn resnet_fmnist_operating_points() {
    check("resnet-fmnist");
}

#[test]
fn resnet_fmnist_pt_operating_points() {
    check("resnet-fmnist-pt");
}

/// Every bundle of models/index.json is covered by a test above.
#[test]
fn every_indexed_bundle_is_checked() {
    let index = read_json(&repo().join("models/index.json"));
    let mut names: Vec<&str> = index.as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["resnet-fmnist", "resnet-fmnist-pt", "tiny-mnist"]);
}
