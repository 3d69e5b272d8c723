//! The WebGPU backend's instances (a part built once per input shapes: memory plan, parameter
//! blocks, bind groups) and pooled buffers are reused without changing any result: outputs a
//! caller still holds are never overwritten by a later run of the same part, batch sizes each
//! get their own instance, and a run on a new input buffer re-binds, natively on lavapipe.
//! Fails (never skips) when no adapter is found.
#![cfg(all(feature = "webgpu", not(target_arch = "wasm32")))]

use exitwise::backend::gpu::WebGpu;
use exitwise::backend::{Backend, HostTensor};
use exitwise::input::{from_u8, normalize};
use exitwise::pack::Pack;
use exitwise::{Bundle, Model};
use std::path::PathBuf;

fn bundle(name: &str) -> Bundle {
    Bundle::from_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models").join(name)).unwrap()
}

/// The first `n` test-pack images of `b`, normalised, as one batch.
fn images(b: &Bundle, n: usize) -> HostTensor {
    let m = &b.manifest;
    let r = m.test_pack.as_ref().unwrap();
    let pack = Pack::parse(&r.file, &b.data[&r.file]).unwrap();
    let x = from_u8(&m.input, &pack.pixels);
    normalize(&m.input, &x[..n * m.input.len()], n).unwrap()
}

fn one(b: &Bundle, i: usize) -> HostTensor {
    let m = &b.manifest;
    let all = images(b, i + 1);
    let len = m.input.len();
    HostTensor { shape: all.shape.iter().enumerate().map(|(a, &d)| if a == 0 { 1 } else { d }).collect(), data: all.data[i * len..].to_vec() }
}

fn read(gpu: &WebGpu, t: &exitwise::backend::gpu::GpuTensor) -> Vec<f32> {
    pollster::block_on(gpu.download(t)).unwrap().data
}

#[test]
fn held_outputs_are_not_overwritten_by_a_later_run_of_the_same_part() {
    let b = bundle("resnet-fmnist");
    let model = Model::<WebGpu>::new(b.clone()).unwrap();
    let gpu = &model.backend;
    let (x0, x1) = (one(&b, 0), one(&b, 1));
    let expect0 = read(gpu, &gpu.run_segment(0, vec![gpu.upload(x0.clone()).unwrap()]).unwrap()[0]);
    let expect1 = read(gpu, &gpu.run_segment(0, vec![gpu.upload(x1.clone()).unwrap()]).unwrap()[0]);
    assert_ne!(expect0, expect1, "two different images give different activations");
    // Hold the first output while the same part runs again on another image.
    let held = gpu.run_segment(0, vec![gpu.upload(x0).unwrap()]).unwrap();
    let later = gpu.run_segment(0, vec![gpu.upload(x1).unwrap()]).unwrap();
    assert_eq!(read(gpu, &held[0]), expect0, "a held output was overwritten");
    assert_eq!(read(gpu, &later[0]), expect1);
    assert!(gpu.instances().0[0] >= 2, "a busy instance must not serve a second run");
}

#[test]
fn a_run_again_reuses_its_instance_and_creates_nothing() {
    let b = bundle("tiny-mnist");
    let model = Model::<WebGpu>::new(b.clone()).unwrap();
    let gpu = &model.backend;
    let x = one(&b, 0);
    let first = read(gpu, &gpu.run_segment(0, vec![gpu.upload(x.clone()).unwrap()]).unwrap()[0]);
    let before = gpu.stats();
    let again = read(gpu, &gpu.run_segment(0, vec![gpu.upload(x).unwrap()]).unwrap()[0]);
    let s = gpu.stats().since(&before);
    assert_eq!(first, again);
    assert_eq!((s.buffers, s.bind_groups), (0, 0), "{s:?}");
    assert_eq!(gpu.instances().0[0], 1);
}

/// Batches of several sizes, interleaved, each equal to its images run one by one.
#[test]
fn batch_sizes_each_get_an_instance_and_agree_with_batch_one() {
    let b = bundle("resnet-fmnist");
    let model = Model::<WebGpu>::new(b.clone()).unwrap();
    let m = &b.manifest;
    let len = m.input.len();
    let r = m.test_pack.as_ref().unwrap();
    let pack = Pack::parse(&r.file, &b.data[&r.file]).unwrap();
    let x = from_u8(&m.input, &pack.pixels);
    let singles: Vec<_> = (0..8).map(|i| model.trace(&x[i * len..(i + 1) * len]).unwrap()).collect();
    for n in [8, 3, 8, 5, 3] {
        let batch = model.trace_batch(&x[..n * len], n).unwrap();
        for (i, t) in batch.iter().enumerate() {
            for (e, (a, s)) in t.exits.iter().zip(&singles[i].exits).enumerate() {
                assert_eq!(a.class, s.class, "batch {n}, image {i}, exit {e}");
                assert!((a.confidence - s.confidence).abs() < 1e-4, "batch {n}, image {i}, exit {e}: {} vs {}", a.confidence, s.confidence);
            }
        }
    }
    // Batch 1, 8, 3 and 5: one instance each per segment, reused on the repeats.
    let (segs, _) = model.backend.instances();
    assert!(segs.iter().all(|&k| k == 4), "instances per segment: {segs:?}");
}
