//! Every bundle in `models/` (discovered, not listed) and the chain fixtures on the WebGPU
//! backend against the tract CPU backend: the same prediction at every exit, the same exit
//! decision at the default thresholds, and exit outputs (probabilities, learned confidences)
//! within 1e-4; both through the sync API and through the async one the browser uses (driven
//! here by pollster). Fails (never skips) when no adapter is found.
#![cfg(all(feature = "webgpu", not(target_arch = "wasm32")))]

mod support;

use exitwise::backend::gpu::WebGpu;
use exitwise::input::from_u8;
use exitwise::pack::Pack;
use exitwise::{Bundle, Classification, CpuModel, ErrorCode, Model, Trace};
use std::path::PathBuf;
use std::time::Instant;

type GpuModel = Model<WebGpu>;

fn bundles() -> Vec<PathBuf> {
    let models = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&models)
        .map(|d| d.flatten().map(|e| e.path()).filter(|p| p.join("manifest.json").exists()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// Compares traces exit by exit; returns (max |Δ| of exit outputs, predictions that agree,
/// predictions compared).
fn compare(name: &str, cpu: &CpuModel, gpu: &GpuModel, a: &[Trace], b: &[Trace]) -> (f32, usize, usize) {
    let defaults = cpu.manifest().default_thresholds();
    let (mut worst, mut same, mut all) = (0f32, 0, 0);
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        for (e, (p, q)) in x.exits.iter().zip(&y.exits).enumerate() {
            all += 1;
            same += (p.class == q.class) as usize;
            worst = worst.max((p.confidence - q.confidence).abs());
            for (u, v) in p.probabilities.iter().zip(&q.probabilities) {
                worst = worst.max((u - v).abs());
            }
            assert_eq!(p.class, q.class, "{name}: image {i} exit {e}: prediction");
        }
        let (dc, dg) = (cpu.decide(x, &defaults).unwrap(), gpu.decide(y, &defaults).unwrap());
        assert_eq!((dc.exit, dc.class), (dg.exit, dg.class), "{name}: image {i}: exit decision at the defaults");
    }
    assert!(worst <= 1e-4, "{name}: max |Δ| of exit outputs {worst:e}");
    (worst, same, all)
}

/// How the GPU model is built: `new` (sync) or `prepare_async` + `with_backend` (the browser's
/// way).
fn gpu_model(bundle: Bundle, asynchronous: bool) -> GpuModel {
    let hint = "WebGPU backend (is a Vulkan driver such as mesa-vulkan-drivers installed?)";
    if asynchronous {
        let backend = pollster::block_on(WebGpu::prepare_async(&bundle)).expect(hint);
        GpuModel::with_backend(bundle, backend).unwrap()
    } else {
        GpuModel::new(bundle).expect(hint)
    }
}

/// Batched traces, then `classify` (batch 1, stopping early) on a few images, sync and async.
fn check(name: &str, bundle: Bundle, images: &[f32], n: usize, asynchronous: bool) {
    let cpu = CpuModel::new(bundle.clone()).unwrap();
    let t0 = Instant::now();
    let gpu = gpu_model(bundle, asynchronous);
    let prepare = t0.elapsed();
    let t1 = Instant::now();
    let a = cpu.trace_batch(images, n).unwrap();
    let cpu_time = t1.elapsed();
    let t2 = Instant::now();
    let b = if asynchronous { pollster::block_on(gpu.trace_batch_async(images, n)) } else { gpu.trace_batch(images, n) }.unwrap();
    let gpu_time = t2.elapsed();
    assert_eq!(b.len(), n);
    let (worst, same, all) = compare(name, &cpu, &gpu, &a, &b);
    let defaults = cpu.manifest().default_thresholds();
    let len = images.len() / n;
    let key = |c: &Classification| (c.exit, c.class, c.segments_run, c.macs_executed);
    for i in 0..n.min(8) {
        let x = &images[i * len..(i + 1) * len];
        let c = cpu.classify(x, &defaults).unwrap();
        let g = gpu.classify(x, &defaults).unwrap();
        assert_eq!(key(&c), key(&g), "{name}: classify image {i}");
        assert_eq!(g.backend, "webgpu");
        if i < 4 {
            let g = pollster::block_on(gpu.classify_async(x, &defaults)).unwrap();
            assert_eq!(key(&c), key(&g), "{name}: classify_async image {i}");
            let t = pollster::block_on(gpu.trace_async(x)).unwrap();
            compare(name, &cpu, &gpu, &a[i..=i], &[t]);
        }
    }
    assert!(!gpu.backend.is_lost(), "{name}: the device reports itself lost");
    println!(
        "{name}: {n} images on {}: max |Δ| {worst:.2e}, predictions {same}/{all} ({:.1} %), \
         prepare{} {prepare:.2?}, trace cpu {cpu_time:.2?} gpu {gpu_time:.2?}",
        gpu.backend.adapter_name(),
        100.0 * same as f64 / all as f64,
        if asynchronous { " (async)" } else { "" },
    );
}

#[test]
fn every_trained_bundle_matches_the_cpu_backend() {
    let dirs = bundles();
    assert!(!dirs.is_empty(), "no bundle found in models/");
    for dir in dirs {
        let name = dir.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        let bundle = Bundle::from_dir(&dir).unwrap();
        let m = bundle.manifest.clone();
        let pack_ref = m.test_pack.as_ref().unwrap_or_else(|| panic!("{name}: no test pack"));
        let pack = Pack::parse(&pack_ref.file, &bundle.data[&pack_ref.file]).unwrap();
        let images = from_u8(&m.input, &pack.pixels);
        check(&name, bundle, &images, pack.count, false);
    }
}

#[test]
fn chain_fixtures_match_the_cpu_backend() {
    for (assist, dynamic) in [(false, true), (true, true), (true, false)] {
        let bundle = Bundle::from_files(&support::chain(assist, dynamic)).unwrap();
        let n = 16;
        let images: Vec<f32> = (0..n as u64).flat_map(support::input).collect();
        // The async constructor and calls here; the trained bundles take the sync ones.
        check(&format!("chain assist={assist} dynamic={dynamic}"), bundle, &images, n, true);
    }
}

/// A bundle whose first segment uses an operator without a kernel: loading it on the GPU fails
/// with UNSUPPORTED_OP naming the operator and the file, so a caller can fall back to the CPU.
#[test]
fn unsupported_op_in_a_bundle_fails_prepare() {
    let files = support::unlowerable();
    let bundle = Bundle::from_files(&files).unwrap();
    assert!(CpuModel::new(bundle.clone()).is_ok(), "the CPU backend runs it");
    let e = GpuModel::new(bundle).err().expect("Erf must not lower");
    assert_eq!(e.code, ErrorCode::UnsupportedOp, "{e}");
    assert!(e.message.contains("Erf") && e.message.contains("seg0.onnx"), "{e}");
}

/// A destroyed device (what a lost one looks like to the engine) reports itself lost, and every
/// later call fails with BACKEND instead of panicking or hanging, so a caller can fall back.
#[test]
fn a_lost_device_fails_typed() {
    let bundle = Bundle::from_files(&support::chain(false, true)).unwrap();
    let gpu = gpu_model(bundle, false);
    let defaults = gpu.manifest().default_thresholds();
    let x = support::input(1);
    assert!(gpu.classify(&x, &defaults).is_ok());
    assert!(!gpu.backend.is_lost());
    gpu.backend.destroy();
    assert!(gpu.backend.is_lost());
    let e = gpu.classify(&x, &defaults).expect_err("classify on a destroyed device");
    assert_eq!(e.code, ErrorCode::Backend, "{e}");
    let e = pollster::block_on(gpu.trace_async(&x)).expect_err("trace_async on a destroyed device");
    assert_eq!(e.code, ErrorCode::Backend, "{e}");
}
