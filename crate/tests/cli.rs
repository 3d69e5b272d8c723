//! The `exitwise` binary on a generated bundle written to a temp folder: JSON figures equal the
//! library's, bad inputs fail with a code and no panic; and `eval` on every real bundle present.
//! Native only: there is no process to run on wasm32.
#![cfg(not(target_arch = "wasm32"))]

mod support;

use exitwise::pack::Pack;
use exitwise::{Bundle, CpuModel, Evaluation};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use support::*;

const TEST_IMAGES: usize = 40;
const CALIB_IMAGES: usize = 60;

/// A pack of deterministic 8×8 gray images and labels.
fn pack(seed: u64, count: usize) -> Pack {
    let mut r = onnx::Lcg(seed);
    let len = (SIDE * SIDE) as usize;
    let pixels = (0..count * len).map(|_| ((r.next() + 1.0) * 127.5).clamp(0.0, 255.0) as u8).collect();
    let labels = (0..count).map(|_| (((r.next() + 1.0) * 1.5) as u8).min(C as u8 - 1)).collect();
    Pack { count, channels: 1, height: SIDE as usize, width: SIDE as usize, pixels, labels }
}

fn write_bundle(dir: &Path, files: &Files) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("exitwise-cli-{}", std::process::id()))
}

/// The chain fixture (with early-view assist) plus a test and a calibration pack.
fn bundle() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let mut files = chain(true, true);
        let mut m = manifest_of(&files);
        files.insert("testpack.bin".into(), pack(11, TEST_IMAGES).to_bytes());
        files.insert("calibpack.bin".into(), pack(23, CALIB_IMAGES).to_bytes());
        m["test_pack"] = serde_json::json!({"file": "testpack.bin"});
        m["calibration_pack"] = serde_json::json!({"file": "calibpack.bin"});
        let dir = root().join("chain");
        write_bundle(&dir, &with_manifest(files, m));
        dir
    })
}

/// The chain fixture without any pack.
fn bare_bundle() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = root().join("bare");
        write_bundle(&dir, &chain(false, false));
        dir
    })
}

fn exitwise(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_exitwise")).args(args).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs a command that must succeed and print JSON.
fn json(args: &[&str]) -> Value {
    let out = exitwise(args);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{args:?} failed: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {stdout}"))
}

/// Runs a command that must fail with status 1 and `code` on stderr, without a panic.
fn fails(args: &[&str], code: &str) {
    let out = exitwise(args);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?}: expected status 1, stderr: {stderr}");
    assert!(stderr.contains(code), "{args:?}: {code} not in stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    assert!(out.stdout.is_empty(), "{args:?} printed to stdout on failure");
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn model() -> CpuModel {
    CpuModel::new(Bundle::from_dir(bundle()).unwrap()).unwrap()
}

/// The library's evaluation of a pack.
fn evaluation(m: &CpuModel, pack: &Pack) -> Evaluation {
    let x = exitwise::input::from_u8(&m.manifest().input, &pack.pixels);
    let traces = m.trace_batch(&x, pack.count).unwrap();
    Evaluation::new(m.manifest(), &m.costs, &traces, &pack.labels).unwrap()
}

fn f32s(v: &Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

/// An f32 written to JSON reads back as the same f32.
fn same_f32(a: &Value, b: f32) -> bool {
    a.as_f64().is_some_and(|a| a as f32 == b)
}

fn close(a: &Value, b: f64) -> bool {
    a.as_f64().is_some_and(|a| (a - b).abs() <= 1e-9 * b.abs().max(1.0))
}

/// Checks an `eval`-style JSON object against the library's summary.
fn assert_summary(v: &Value, ev: &Evaluation, m: &CpuModel, thresholds: &[f32]) {
    let s = ev.summary(thresholds, m.manifest()).unwrap();
    assert_eq!(v["count"], s.count);
    assert_eq!(f32s(&v["thresholds"]), s.thresholds);
    assert!(close(&v["accuracy"], s.accuracy), "{} vs {}", v["accuracy"], s.accuracy);
    assert!(close(&v["final_accuracy"], s.final_accuracy));
    assert!(close(&v["mean_macs"], s.mean_macs));
    assert_eq!(v["macs_full"], s.macs_full);
    assert!(close(&v["macs_saved_fraction"], s.macs_saved_fraction));
    let hist: Vec<usize> = v["histogram"].as_array().unwrap().iter().map(|h| h.as_u64().unwrap() as usize).collect();
    assert_eq!(hist, s.histogram);
    let accs = ev.exit_accuracies();
    let got = v["exit_accuracies"].as_array().unwrap();
    assert_eq!(got.len(), accs.len());
    for (g, a) in got.iter().zip(&accs) {
        assert!(close(g, *a));
    }
}

#[test]
fn info_reports_the_library_costs() {
    let m = model();
    let v = json(&["info", p(bundle()), "--json"]);
    assert_eq!(v["name"], "chain-assist");
    assert_eq!(v["labels"], serde_json::json!(["zero", "one", "two"]));
    assert_eq!(v["input"]["shape"], serde_json::json!([1, 1, 8, 8]));
    let segs: Vec<u64> = v["segments"].as_array().unwrap().iter().map(|s| s["macs"].as_u64().unwrap()).collect();
    assert_eq!(segs, m.costs.segments);
    assert_eq!(segs, SEG_MACS.to_vec());
    let exits = v["exits"].as_array().unwrap();
    let heads: Vec<u64> = exits.iter().map(|x| x["macs"].as_u64().unwrap()).collect();
    let cumulative: Vec<u64> = exits.iter().map(|x| x["cumulative_macs"].as_u64().unwrap()).collect();
    assert_eq!(heads, m.costs.exits);
    assert_eq!(cumulative, m.costs.to_exit);
    assert_eq!(v["macs_full"], m.costs.plain);
    assert_eq!(exits[0]["rule"], "max_softmax");
    assert_eq!(exits[1]["rule"], "learned");
    assert!(same_f32(&exits[0]["threshold"], 0.6));
    assert!(exits[2]["threshold"].is_null());
    assert_eq!(v["batchable"], true);
    assert_eq!(v["test_pack"]["count"], TEST_IMAGES);
    assert_eq!(v["calibration_pack"]["count"], CALIB_IMAGES);

    // The manifest path works too, and a fixed-batch bundle says so.
    let v = json(&["info", p(&bare_bundle().join("manifest.json")), "--json"]);
    assert_eq!(v["batchable"], false);
    assert!(v["test_pack"].is_null());
}

#[test]
fn eval_equals_the_library_summary() {
    let m = model();
    let test = pack(11, TEST_IMAGES);
    let ev = evaluation(&m, &test);
    let v = json(&["eval", p(bundle()), "--json"]);
    assert_summary(&v, &ev, &m, &m.manifest().default_thresholds());
    for t in [[0.0f32, 0.0], [1.0, 1.0], [0.55, 0.3]] {
        let arg = format!("{},{}", t[0], t[1]);
        let v = json(&["eval", p(bundle()), "--thresholds", &arg, "--json"]);
        assert_summary(&v, &ev, &m, &t);
    }
    // An external pack (more images than the chunk size, to cross a chunk boundary).
    let big = pack(5, 300);
    let file = root().join("big.bin");
    std::fs::write(&file, big.to_bytes()).unwrap();
    let v = json(&["eval", p(bundle()), "--pack", p(&file), "--json"]);
    assert_summary(&v, &evaluation(&m, &big), &m, &m.manifest().default_thresholds());
}

/// `classify-batch` (a real early-exit run at batch N) leaves images where the trace-based
/// summary says they leave, with the same accuracy and MACs, and each image's exit and class
/// are what single-image `classify` gives.
#[test]
fn classify_batch_agrees_with_eval_and_classify() {
    let m = model();
    let test = pack(11, TEST_IMAGES);
    let ev = evaluation(&m, &test);
    for (t, batch) in [([0.55f32, 0.3], "7"), ([0.0, 0.0], "64"), ([1.0, 1.0], "1")] {
        let arg = format!("{},{}", t[0], t[1]);
        let v = json(&["classify-batch", p(bundle()), "--thresholds", &arg, "--batch", batch, "--json"]);
        let s = ev.summary(&t, m.manifest()).unwrap();
        assert_eq!(v["count"], TEST_IMAGES);
        let histogram: Vec<usize> = v["histogram"].as_array().unwrap().iter().map(|h| h.as_u64().unwrap() as usize).collect();
        assert_eq!(histogram, s.histogram, "{t:?}");
        assert!(close(&v["accuracy"], s.accuracy), "{t:?}");
        assert_eq!(v["macs_executed"].as_f64().unwrap(), s.mean_macs * TEST_IMAGES as f64, "{t:?}");
        let len = m.manifest().input.len();
        let images = exitwise::input::from_u8(&m.manifest().input, &test.pixels);
        for i in 0..TEST_IMAGES {
            let c = m.classify(&images[i * len..(i + 1) * len], &t).unwrap();
            assert_eq!((v["exits"][i].as_u64(), v["classes"][i].as_u64()), (Some(c.exit as u64), Some(c.class as u64)), "{t:?} image {i}");
        }
    }
    fails(&["classify-batch", p(bundle()), "--batch", "0"], "BAD_INPUT");
}

#[test]
fn sweep_gives_the_library_frontier() {
    let m = model();
    let ev = evaluation(&m, &pack(11, TEST_IMAGES));
    let v = json(&["sweep", p(bundle()), "--json"]);
    let points = v["points"].as_array().unwrap();
    let frontier = ev.frontier();
    assert!(!points.is_empty());
    assert_eq!(points.len(), frontier.len());
    for (g, f) in points.iter().zip(&frontier) {
        assert_eq!(f32s(&g["thresholds"]), f.thresholds);
        assert!(close(&g["accuracy"], f.accuracy));
        assert!(close(&g["macs_saved_fraction"], f.macs_saved_fraction));
    }
}

/// `--greedy`: the old grid search (no guarantee), equal to the library's `calibrate_greedy`.
#[test]
fn calibrate_meets_the_accuracy_target() {
    let m = model();
    let calib = evaluation(&m, &pack(23, CALIB_IMAGES));
    let test = evaluation(&m, &pack(11, TEST_IMAGES));
    for max_drop in [0.0, 2.0, 10.0, 100.0] {
        let arg = max_drop.to_string();
        let v = json(&["calibrate", p(bundle()), "--max-drop", &arg, "--greedy", "--json"]);
        let t = f32s(&v["thresholds"]);
        assert_eq!(t, calib.calibrate_greedy(max_drop).unwrap());
        let s = calib.summary(&t, m.manifest()).unwrap();
        assert!(s.accuracy >= s.final_accuracy - max_drop / 100.0 - 1e-9, "{max_drop}: {s:?}");
        assert!(close(&v["max_drop"], max_drop));
        assert_summary(&v["calibration"], &calib, &m, &t);
        assert_summary(&v["test"], &test, &m, &t);
        assert_eq!(v["calibration"]["pack"], "calibpack.bin");
        assert_eq!(v["test"]["pack"], "testpack.bin");
        assert_eq!(v["method"], "greedy");
        assert_eq!(v["guaranteed"], false);
        assert!(v["certificate"].is_null());
    }
    let out = exitwise(&["calibrate", p(bundle()), "--max-drop", "2", "--greedy"]);
    assert!(text(&out.stdout).contains("NO GUARANTEE"), "{}", text(&out.stdout));
    // Packs from files, and no test pack at all.
    let file = root().join("calib-ext.bin");
    std::fs::write(&file, pack(23, CALIB_IMAGES).to_bytes()).unwrap();
    let v = json(&["calibrate", p(bare_bundle()), "--max-drop", "5", "--calib-pack", p(&file), "--json"]);
    assert!(v["test"].is_null());
    assert_eq!(v["thresholds"].as_array().unwrap().len(), 2);
    let v = json(&["calibrate", p(bare_bundle()), "--max-drop", "5", "--calib-pack", p(&file), "--pack", p(&file), "--json"]);
    assert_eq!(v["test"]["count"], CALIB_IMAGES);
}

/// `exitwise trace` writes the library's calibration trace of a pack (batch 1 by default, as
/// `classify` runs); a bundle naming it loads with it, and `calibrate` then reads it, giving what
/// calibrating on the pack's pixels gives.
#[test]
fn trace_writes_the_calibration_trace_calibrate_reads() {
    use exitwise::calibtrace::CalibrationTrace;
    let m = model();
    let calib = pack(23, CALIB_IMAGES);
    let out = root().join("calibtrace-chain.bin");
    let v = json(&["trace", p(bundle()), "--out", p(&out), "--json"]);
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(v["count"], CALIB_IMAGES);
    assert_eq!(v["bytes"], bytes.len());
    assert_eq!(v["sha256"], exitwise::bundle::sha256_hex(&bytes));
    let len = m.manifest().input.len();
    let singles: Vec<_> = (0..calib.count)
        .map(|i| m.trace(&exitwise::input::from_u8(&m.manifest().input, &calib.pixels[i * len..(i + 1) * len])).unwrap())
        .collect();
    let want = CalibrationTrace::from_traces(m.manifest(), &singles, &calib.labels).unwrap();
    assert_eq!(CalibrationTrace::parse("t", &bytes).unwrap(), want);
    // Batched: a valid trace of the same images and classes.
    let batched = root().join("calibtrace-chain-b16.bin");
    json(&["trace", p(bundle()), "--out", p(&batched), "--batch", "16", "--json"]);
    let b = CalibrationTrace::parse("t", &std::fs::read(&batched).unwrap()).unwrap();
    assert_eq!((b.count, &b.class, &b.labels), (want.count, &want.class, &want.labels));

    // The bundle with the trace in its manifest: calibrate reads it by default.
    let dir = root().join("chain-traced");
    let mut files: Files = std::fs::read_dir(bundle()).unwrap().map(|e| {
        let e = e.unwrap();
        (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap())
    }).collect();
    let mut man = manifest_of(&files);
    files.insert("calibtrace.bin".into(), bytes.clone());
    man["calibration_trace"] = serde_json::json!({"file": "calibtrace.bin"});
    write_bundle(&dir, &with_manifest(files, man));
    assert_eq!(json(&["info", p(&dir), "--json"])["has_calibration_trace"], true);
    for drop in ["2", "10"] {
        let from_trace = json(&["calibrate", p(&dir), "--max-drop", drop, "--json"]);
        assert_eq!(from_trace["calibration"]["pack"], "calibtrace.bin", "{from_trace}");
        let ev = Evaluation::new(m.manifest(), &m.costs, &singles, &calib.labels).unwrap();
        let c = ev.calibrate(drop.parse().unwrap(), &exitwise::CalibrateOptions::default()).unwrap();
        assert_eq!(f32s(&from_trace["thresholds"]), c.thresholds);
        let explicit = json(&["calibrate", p(bundle()), "--max-drop", drop, "--calib-trace", p(&out), "--json"]);
        assert_eq!(explicit["thresholds"], from_trace["thresholds"]);
        // --calib-pack still calibrates on pixels.
        let px_file = root().join("calib-trace-pack.bin");
        std::fs::write(&px_file, pack(31, 25).to_bytes()).unwrap();
        let px = json(&["calibrate", p(&dir), "--max-drop", drop, "--calib-pack", p(&px_file), "--json"]);
        assert_eq!(px["calibration"]["count"], 25);
    }
    // A trace of another bundle is refused, by calibrate and at load.
    fails(&["calibrate", p(bare_bundle()), "--max-drop", "5", "--calib-trace", p(&out)], "BAD_PACK");
    fails(&["trace", p(bare_bundle()), "--out", p(&root().join("x.bin"))], "MISSING_FILE");
    let zero = exitwise(&["trace", p(bundle()), "--out", p(&out), "--batch", "0"]);
    assert!(!zero.status.success() && !text(&zero.stderr).contains("panicked"), "{}", text(&zero.stderr));
}

/// The default: Learn then Test, equal to the library's `calibrate`, with its certificate.
#[test]
fn calibrate_certifies_by_learn_then_test() {
    use exitwise::{CalibrateOptions, CalibrationPath};
    let m = model();
    let calib = evaluation(&m, &pack(23, CALIB_IMAGES));
    let test = evaluation(&m, &pack(11, TEST_IMAGES));
    let mut seen = [false; 2];
    for (max_drop, delta, split) in [(2.0, None, None), (10.0, Some(0.2), None), (50.0, None, None), (100.0, Some(0.05), None), (50.0, None, Some(0.5))] {
        let (drop_s, delta_s, split_s) = (max_drop.to_string(), delta.unwrap_or(0.1).to_string(), split.unwrap_or(0.5).to_string());
        let mut args = vec!["calibrate", p(bundle()), "--max-drop", &drop_s, "--json"];
        if delta.is_some() {
            args.extend(["--delta", &delta_s]);
        }
        if split.is_some() {
            args.extend(["--split", &split_s]);
        }
        let v = json(&args);
        let options = CalibrateOptions {
            delta: delta.unwrap_or(0.1),
            path: split.map_or(CalibrationPath::Shared, |fraction| CalibrationPath::Split { fraction }),
        };
        let want = calib.calibrate(max_drop, &options).unwrap();
        let t = f32s(&v["thresholds"]);
        assert_eq!(t, want.thresholds, "{args:?}");
        assert_eq!(v["method"], "learn-then-test");
        assert_eq!(v["guaranteed"], want.certified);
        let c = &v["certificate"];
        assert_eq!(c["certified"], want.certified);
        assert_eq!(c["n"], want.n);
        assert_eq!(c["losses"], want.losses);
        assert_eq!(c["min_images"], want.min_images);
        assert_eq!(c["steps_certified"], want.steps_certified);
        assert!(close(&c["p_value"], want.p_value));
        assert!(close(&c["delta"], options.delta));
        assert!(close(&c["macs_saved_fraction"], want.macs_saved_fraction));
        match want.risk_upper_bound {
            Some(r) => assert!(close(&c["risk_upper_bound"], r)),
            None => assert!(c["risk_upper_bound"].is_null()),
        }
        assert_eq!(c["path"]["kind"], if split.is_some() { "split" } else { "shared" });
        if !want.certified {
            assert!(t.iter().all(|&x| x == 1.0), "{t:?}");
        }
        assert_summary(&v["calibration"], &calib, &m, &t);
        assert_summary(&v["test"], &test, &m, &t);
        seen[want.certified as usize] = true;
        // The table names the method and the guarantee (or its absence).
        let out = text(&exitwise(&args.iter().copied().filter(|a| *a != "--json").collect::<Vec<_>>()).stdout);
        assert!(out.contains("Learn then Test"), "{out}");
        assert!(out.contains(if want.certified { "% confidence, accuracy drop ≤" } else { "NONE" }), "{out}");
    }
    // 60 images certify 50 points but not 2 (that needs 114 with no loss).
    assert_eq!(seen, [true, true]);
}

#[test]
fn classify_a_pack_image_and_a_png() {
    let m = model();
    let test = pack(11, TEST_IMAGES);
    let v = json(&["classify", p(bundle()), "pack:0", "--json"]);
    let x = exitwise::input::from_u8(&m.manifest().input, test.image(0));
    let c = m.classify(&x, &m.manifest().default_thresholds()).unwrap();
    assert_eq!(v["exit"], c.exit);
    assert_eq!(v["class"], c.class);
    assert_eq!(v["label"], c.label.as_str());
    assert_eq!(v["macs_executed"], c.macs_executed);
    assert_eq!(v["macs_full"], c.macs_full);
    assert!(close(&v["flops_saved"], c.flops_saved));
    assert_eq!(v["true_class"], test.labels[0]);
    assert_eq!(v["exits"].as_array().unwrap().len(), c.exits.len());
    assert!(v["elapsed_ms"].as_f64().unwrap() >= 0.0);

    // Thresholds that keep every early exit shut: the final classifier answers.
    let v = json(&["classify", p(bundle()), "pack:3", "--thresholds", "1,1", "--json"]);
    let t = m.trace(&exitwise::input::from_u8(&m.manifest().input, test.image(3))).unwrap();
    let shut = t.exits[..2].iter().all(|o| o.confidence < 1.0);
    if shut {
        assert_eq!(v["exit"], 2);
        assert_eq!(v["macs_executed"], m.costs.to_exit[2]);
    }

    // A 16×12 RGB PNG: same answer as the library's from_rgba + classify.
    let (w, h) = (16usize, 12usize);
    let rgb: Vec<u8> = (0..w * h * 3).map(|i| ((i * 37) % 256) as u8).collect();
    let file = root().join("image.png");
    {
        let f = std::fs::File::create(&file).unwrap();
        let mut enc = png::Encoder::new(std::io::BufWriter::new(f), w as u32, h as u32);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.write_header().unwrap().write_image_data(&rgb).unwrap();
    }
    let rgba: Vec<u8> = rgb.chunks(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect();
    for invert in [false, true] {
        #[allow(clippy::needless_update)]
        let opts = exitwise::input::ImageOptions { invert, ..Default::default() };
        let x = exitwise::input::from_rgba(&m.manifest().input, &rgba, w, h, opts).unwrap();
        let c = m.classify(&x, &[0.5, 0.5]).unwrap();
        let mut args = vec!["classify", p(bundle()), p(&file), "--thresholds", "0.5,0.5", "--json"];
        if invert {
            args.push("--invert");
        }
        let v = json(&args);
        assert_eq!(v["exit"], c.exit, "invert {invert}");
        assert_eq!(v["class"], c.class, "invert {invert}");
        assert!(same_f32(&v["confidence"], c.confidence));
    }
}

#[test]
fn tables_print_without_json() {
    let b = p(bundle());
    for args in [
        vec!["info", b],
        vec!["classify", b, "pack:1"],
        vec!["eval", b],
        vec!["sweep", b],
        vec!["calibrate", b, "--max-drop", "1"],
    ] {
        let out = exitwise(&args);
        let stdout = text(&out.stdout);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        assert!(stdout.contains("chain-assist"), "{args:?}: {stdout}");
        assert!(serde_json::from_str::<Value>(&stdout).is_err(), "{args:?} printed JSON without --json");
    }
    let stdout = text(&exitwise(&["info", b]).stdout);
    assert!(stdout.contains("plain network"), "{stdout}");
}

#[test]
fn bad_inputs_fail_with_a_code() {
    let b = p(bundle());
    let nowhere = root().join("no-such-bundle");
    fails(&["info", p(&nowhere)], "MISSING_FILE");
    fails(&["eval", p(&nowhere), "--json"], "MISSING_FILE");
    for t in ["2,0.5", "a,b", "0.5", "0.5,0.5,0.5", "-1,0.5", "NaN,0.5", "inf,0", ""] {
        fails(&["eval", b, "--thresholds", t], "BAD_THRESHOLD");
        fails(&["classify", b, "pack:0", "--thresholds", t, "--json"], "BAD_THRESHOLD");
    }
    // No packs in the bundle.
    fails(&["eval", p(bare_bundle())], "MISSING_FILE");
    fails(&["sweep", p(bare_bundle())], "MISSING_FILE");
    fails(&["classify", p(bare_bundle()), "pack:0"], "MISSING_FILE");
    let out = exitwise(&["calibrate", p(bare_bundle()), "--max-drop", "1"]);
    assert!(text(&out.stderr).contains("calibration_pack"), "{}", text(&out.stderr));
    fails(&["calibrate", p(bare_bundle()), "--max-drop", "1"], "MISSING_FILE");
    fails(&["calibrate", b, "--max-drop", "-1"], "BAD_THRESHOLD");
    fails(&["calibrate", b, "--max-drop", "101"], "BAD_THRESHOLD");
    fails(&["calibrate", b, "--max-drop", "-1", "--greedy"], "BAD_THRESHOLD");
    fails(&["calibrate", b, "--max-drop", "101", "--greedy"], "BAD_THRESHOLD");
    // Learn then Test needs a budget above 0, δ in (0, 1) and a split fraction in (0, 1).
    fails(&["calibrate", b, "--max-drop", "0"], "BAD_THRESHOLD");
    for d in ["0", "1", "-0.1", "NaN", "inf"] {
        fails(&["calibrate", b, "--max-drop", "1", "--delta", d], "BAD_THRESHOLD");
    }
    for f in ["0", "1", "NaN"] {
        fails(&["calibrate", b, "--max-drop", "1", "--split", f], "BAD_THRESHOLD");
    }
    // Bad images and packs.
    fails(&["classify", b, "pack:40"], "BAD_INPUT");
    fails(&["classify", b, "pack:x"], "BAD_INPUT");
    fails(&["classify", b, p(&root().join("missing.png"))], "MISSING_FILE");
    let junk = root().join("junk.png");
    std::fs::write(&junk, b"not a png at all").unwrap();
    fails(&["classify", b, p(&junk)], "BAD_INPUT");
    fails(&["eval", b, "--pack", p(&junk)], "BAD_PACK");
    let wrong = root().join("wrong-shape.bin");
    let mut other = pack(1, 3);
    other.height = 4;
    other.width = 16;
    std::fs::write(&wrong, other.to_bytes()).unwrap();
    fails(&["eval", b, "--pack", p(&wrong)], "BAD_PACK");
    // A broken bundle: a part's hash no longer matches.
    let broken = root().join("broken");
    write_bundle(&broken, &chain(false, true));
    std::fs::write(broken.join("seg1.onnx"), b"garbage").unwrap();
    fails(&["info", p(&broken)], "BUNDLE_HASH_MISMATCH");
    // Usage errors are clap's (status 2), still without a panic.
    for args in [
        vec!["eval"],
        vec!["frobnicate"],
        vec!["calibrate", b],
        vec!["calibrate", b, "--max-drop", "x"],
        vec!["calibrate", b, "--max-drop", "1", "--greedy", "--delta", "0.2"],
        vec!["calibrate", b, "--max-drop", "1", "--delta", "x"],
    ] {
        let out = exitwise(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!text(&out.stderr).contains("panicked"));
    }
}

/// Every real bundle under models/ that exists: `eval --json` gives an accuracy in [0, 1].
#[test]
fn real_bundles_evaluate() {
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&models)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.join("manifest.json").is_file()).collect())
        .unwrap_or_default();
    found.sort();
    eprintln!("real bundles under {}: {:?}", models.display(), found);
    for dir in &found {
        let v = json(&["eval", p(dir), "--json"]);
        let acc = v["accuracy"].as_f64().unwrap_or(f64::NAN);
        assert!((0.0..=1.0).contains(&acc), "{}: accuracy {}", dir.display(), v["accuracy"]);
        let count = v["count"].as_u64().unwrap_or(0);
        assert!(count > 0, "{}", dir.display());
        let left: u64 = v["histogram"].as_array().map(|h| h.iter().filter_map(|x| x.as_u64()).sum()).unwrap_or(0);
        assert_eq!(left, count, "{}: every image leaves at one exit", dir.display());
        let saved = v["macs_saved_fraction"].as_f64().unwrap_or(f64::NAN);
        assert!(saved.is_finite() && saved < 1.0, "{}: saved {saved}", dir.display());
        eprintln!("{}: accuracy {acc:.4}, saved {}", dir.display(), v["macs_saved_fraction"]);
    }
}
