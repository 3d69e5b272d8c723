//! What the WebGPU backend asks of the device per `classify` (batch 1, default thresholds) and
//! per full `trace`, on every bundle in `models/` (discovered, not listed): the counts are bounded
//! so that waste cannot creep back. Per classify:
//!
//! - dispatches ≤ the kernels of the parts run, where a part's kernels are those its lowered
//!   program launches ([`WebGpu::kernels`]: one per kernel step, none for a view, one per input
//!   of a concatenation);
//! - read-backs (buffer maps) ≤ the exits evaluated: an exit's logits and learned confidence
//!   come back together;
//! - submits ≤ read-backs: parts run back to back share one encoder, submitted by the read-back
//!   that needs them;
//! - once every part has run at batch 1 (a warm-up trace), no buffer and no bind group is
//!   created: each part's instance (memory plan, parameter blocks, bind groups) is reused, and
//!   so are the input and read-back buffers.
//!
//! A full trace runs every part: its dispatches must stay within the recorded [`CEILINGS`].
//! The measured numbers are printed (`-- --nocapture`). Fails (never skips) when no adapter is
//! found.
#![cfg(all(feature = "webgpu", not(target_arch = "wasm32")))]

use exitwise::backend::gpu::{Stats, WebGpu};
use exitwise::input::from_u8;
use exitwise::pack::Pack;
use exitwise::{Bundle, Model};
use std::path::PathBuf;

/// Per bundle: the most dispatches one full trace (every segment and exit head, batch 1) may
/// take. A bundle not listed here fails, so that a new one gets its numbers recorded.
const CEILINGS: [(&str, u64); 4] = [
    ("mobilenet-random", 71),
    ("resnet-fmnist", 89),
    ("resnet-fmnist-pt", 89),
    ("tiny-mnist", 25),
];

/// Images of the test pack classified per bundle.
const IMAGES: usize = 16;

fn bundles() -> Vec<PathBuf> {
    let models = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&models)
        .map(|d| d.flatten().map(|e| e.path()).filter(|p| p.join("manifest.json").exists()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// The counters' change over `f`.
fn counted<T>(gpu: &WebGpu, f: impl FnOnce() -> T) -> (Stats, T) {
    let before = gpu.stats();
    let out = f();
    (gpu.stats().since(&before), out)
}

#[test]
fn per_classify_the_gpu_work_stays_within_the_kernels_and_exits_run() {
    let dirs = bundles();
    assert!(!dirs.is_empty(), "no bundle found in models/");
    for dir in dirs {
        let name = dir.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        let bundle = Bundle::from_dir(&dir).unwrap();
        let m = bundle.manifest.clone();
        let pack_ref = m.test_pack.as_ref().unwrap_or_else(|| panic!("{name}: no test pack"));
        let pack = Pack::parse(&pack_ref.file, &bundle.data[&pack_ref.file]).unwrap();
        let images = from_u8(&m.input, &pack.pixels);
        let len = m.input.len();
        let model = Model::<WebGpu>::new(bundle).expect("WebGPU backend (is a Vulkan driver such as mesa-vulkan-drivers installed?)");
        let gpu = &model.backend;
        let (seg_kernels, exit_kernels) = gpu.kernels();
        let defaults = m.default_thresholds();

        // A full trace: every part once.
        let all = (seg_kernels.iter().sum::<usize>() + exit_kernels.iter().sum::<usize>()) as u64;
        let exits = m.exits.len() as u64;
        model.trace(&images[..len]).unwrap(); // warm-up: first-use allocations are not steady state
        let (t, _) = counted(gpu, || model.trace(&images[..len]).unwrap());
        let ceiling = CEILINGS.iter().find(|(n, _)| *n == name).map(|c| c.1);
        let ceiling = ceiling.unwrap_or_else(|| panic!("{name}: no recorded ceiling; add it to CEILINGS ({all} kernels)"));
        assert!(t.dispatches <= all, "{name}: a trace dispatched {} times, its parts have {all} kernels", t.dispatches);
        assert!(t.dispatches <= ceiling, "{name}: a trace dispatched {} times, the recorded ceiling is {ceiling}", t.dispatches);
        assert!(t.readbacks <= exits, "{name}: a trace read back {} times for {exits} exits", t.readbacks);
        assert!(t.submits <= t.readbacks, "{name}: a trace submitted {} times for {} read-backs", t.submits, t.readbacks);
        assert_eq!((t.buffers, t.bind_groups), (0, 0), "{name}: a second trace created buffers or bind groups: {t:?}");
        println!("{name}: trace: {all} kernels, {exits} exits: {t:?}");

        let mut sum = Stats::default();
        let n = pack.count.min(IMAGES);
        for i in 0..n {
            let x = &images[i * len..(i + 1) * len];
            let (s, c) = counted(gpu, || model.classify(x, &defaults).unwrap());
            let kernels = seg_kernels[..c.segments_run].iter().sum::<usize>()
                + c.exits.iter().map(|r| exit_kernels[r.exit]).sum::<usize>();
            let what = format!("{name}: image {i} (exit {}, {} segments)", c.exit, c.segments_run);
            assert!(s.dispatches <= kernels as u64, "{what}: {} dispatches for {kernels} kernels", s.dispatches);
            assert!(s.readbacks <= c.exits.len() as u64, "{what}: {} read-backs for {} exits evaluated", s.readbacks, c.exits.len());
            assert!(s.submits <= s.readbacks, "{what}: {} submits for {} read-backs", s.submits, s.readbacks);
            assert_eq!((s.buffers, s.bind_groups), (0, 0), "{what}: buffers and bind groups created in steady state: {s:?}");
            sum = Stats {
                dispatches: sum.dispatches + s.dispatches,
                submits: sum.submits + s.submits,
                buffers: sum.buffers + s.buffers,
                bind_groups: sum.bind_groups + s.bind_groups,
                readbacks: sum.readbacks + s.readbacks,
            };
        }
        let avg = |v: u64| v as f64 / n as f64;
        println!(
            "{name}: classify, mean of {n}: dispatches {:.1}, submits {:.1}, buffers {:.1}, bind groups {:.1}, read-backs {:.1}",
            avg(sum.dispatches), avg(sum.submits), avg(sum.buffers), avg(sum.bind_groups), avg(sum.readbacks)
        );
        assert!(!gpu.is_lost(), "{name}: the device reports itself lost");
    }
}

/// `reset_stats` zeroes every counter; the counters then count again.
#[test]
fn stats_reset_to_zero() {
    let dir = bundles().into_iter().next().expect("a bundle in models/");
    let bundle = Bundle::from_dir(&dir).unwrap();
    let x = vec![0.5; bundle.manifest.input.len()];
    let model = Model::<WebGpu>::new(bundle).unwrap();
    model.trace(&x).unwrap();
    assert!(model.backend.stats().dispatches > 0);
    model.backend.reset_stats();
    assert_eq!(model.backend.stats(), Stats::default());
    model.trace(&x).unwrap();
    let s = model.backend.stats();
    assert!(s.dispatches > 0 && s.submits > 0 && s.readbacks > 0, "{s:?}");
}
