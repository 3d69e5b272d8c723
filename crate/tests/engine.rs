//! The engine on real (generated) ONNX bundles: MAC counts, early stop, trace/decide, batches.
#![cfg(not(target_arch = "wasm32"))]

mod support;

use exitwise::backend::{Backend, HostTensor};
use exitwise::{Bundle, CpuModel, Model, Result, TractCpu};
use proptest::prelude::*;
use std::cell::Cell;
use support::*;

/// The CPU backend, counting the parts it runs.
struct Counting {
    inner: TractCpu,
    segments: Cell<usize>,
    exits: Cell<usize>,
}

impl Backend for Counting {
    type Activation = <TractCpu as Backend>::Activation;
    fn name(&self) -> &'static str {
        "counting-cpu"
    }
    fn prepare(bundle: &Bundle) -> Result<Self> {
        Ok(Counting { inner: TractCpu::prepare(bundle)?, segments: Cell::new(0), exits: Cell::new(0) })
    }
    fn upload(&self, t: HostTensor) -> Result<Self::Activation> {
        self.inner.upload(t)
    }
    async fn download(&self, a: &Self::Activation) -> Result<HostTensor> {
        self.inner.download(a).await
    }
    fn run_segment(&self, k: usize, inputs: Vec<Self::Activation>) -> Result<Vec<Self::Activation>> {
        self.segments.set(self.segments.get() + 1);
        self.inner.run_segment(k, inputs)
    }
    fn run_exit(&self, e: usize, inputs: Vec<Self::Activation>) -> Result<Vec<Self::Activation>> {
        self.exits.set(self.exits.get() + 1);
        self.inner.run_exit(e, inputs)
    }
}

fn load(assist: bool) -> CpuModel {
    CpuModel::new(Bundle::from_files(&chain(assist, true)).unwrap()).unwrap()
}

#[test]
fn macs_are_counted_from_the_graph() {
    let m = load(false);
    assert_eq!(m.costs.segments, SEG_MACS.to_vec());
    assert_eq!(m.costs.exits, EXIT_MACS.to_vec());
    assert_eq!(m.costs.plain, SEG_MACS.iter().sum::<u64>() + EXIT_MACS[2]);
    assert_eq!(m.costs.to_exit[0], SEG_MACS[0] + EXIT_MACS[0]);
    assert_eq!(m.costs.to_exit[2], SEG_MACS.iter().sum::<u64>() + EXIT_MACS.iter().sum::<u64>());
}

#[test]
fn assist_heads_count_in_the_plain_network() {
    let m = load(true);
    assert_eq!(m.costs.exits[2], ASSIST_FINAL_MACS);
    // The final classifier consumes exit 0's features, so the plain network includes exit 0.
    assert_eq!(m.costs.plain, SEG_MACS.iter().sum::<u64>() + EXIT_MACS[0] + ASSIST_FINAL_MACS);
}

#[test]
fn later_segments_never_run_after_an_exit_fires() {
    let m: Model<Counting> = Model::new(Bundle::from_files(&chain(false, true)).unwrap()).unwrap();
    let x = input(1);
    let c = m.classify(&x, &[0.0, 0.0]).unwrap();
    assert_eq!((c.exit, c.segments_run), (0, 1));
    assert_eq!((m.backend.segments.get(), m.backend.exits.get()), (1, 1));
    assert_eq!(c.macs_executed, SEG_MACS[0] + EXIT_MACS[0]);
    assert!(c.flops_saved > 0.5);

    let c = m.classify(&x, &[1.0, 0.0]).unwrap();
    assert_eq!((c.exit, c.segments_run), (1, 2));
    assert_eq!((m.backend.segments.get(), m.backend.exits.get()), (3, 3));

    // Thresholds no confidence reaches: everything runs, and exits cost extra.
    let t = m.trace(&x).unwrap();
    let above = |e: usize| (t.exits[e].confidence + 1e-3).min(1.0);
    if above(0) > t.exits[0].confidence && above(1) > t.exits[1].confidence {
        let (s, x_) = (m.backend.segments.get(), m.backend.exits.get());
        let c = m.classify(&x, &[above(0), above(1)]).unwrap();
        assert_eq!((c.exit, c.segments_run), (2, 3));
        assert_eq!((m.backend.segments.get() - s, m.backend.exits.get() - x_), (3, 3));
        assert!(c.flops_saved < 0.0, "exit heads that did not fire cost extra");
        assert_eq!(c.exits.iter().filter(|r| r.fired).count(), 1);
    }
}

#[test]
fn results_name_labels_backend_and_probabilities() {
    let m = load(false);
    let c = m.classify(&input(3), &[0.0, 0.0]).unwrap();
    assert_eq!(c.backend, "cpu");
    assert_eq!(c.label, ["zero", "one", "two"][c.class]);
    assert!((c.probabilities.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    assert_eq!(c.exits.len(), 1);
    assert_eq!(c.macs_full, m.costs.plain);
}

#[test]
fn a_fixed_batch_bundle_loads_and_traces_one_by_one() {
    let fixed = CpuModel::new(Bundle::from_files(&chain(false, false)).unwrap()).unwrap();
    assert!(!fixed.bundle.batchable());
    let dynamic = load(false);
    let xs: Vec<f32> = (0..4).flat_map(input).collect();
    let a = fixed.trace_batch(&xs, 4).unwrap();
    let b = dynamic.trace_batch(&xs, 4).unwrap();
    for (a, b) in a.iter().zip(&b) {
        for (x, y) in a.exits.iter().zip(&b.exits) {
            assert_eq!(x.class, y.class);
            assert!((x.confidence - y.confidence).abs() < 1e-5);
        }
    }
}

#[test]
fn a_batch_traces_like_single_inputs() {
    let m = load(true);
    let xs: Vec<f32> = (10..17).flat_map(input).collect();
    let batch = m.trace_batch(&xs, 7).unwrap();
    for (i, t) in batch.iter().enumerate() {
        let single = m.trace(&input(10 + i as u64)).unwrap();
        for (x, y) in t.exits.iter().zip(&single.exits) {
            assert_eq!(x.class, y.class);
            for (p, q) in x.probabilities.iter().zip(&y.probabilities) {
                assert!((p - q).abs() < 1e-5, "{p} vs {q}");
            }
        }
    }
}

#[test]
fn batches_stay_within_the_memory_budget_and_still_trace_like_single_inputs() {
    let files = chain(true, true);
    let roomy = Bundle::from_files(&files).unwrap();
    // A budget that holds every part's constants and activations for about three inputs: a batch
    // of 64 must then run as sub-batches of at most that, and answer the same.
    let three = roomy.segments.iter().chain(&roomy.exits).map(|p| p.memory.constant_bytes + 3 * p.memory.activation_bytes).max().unwrap();
    let limits = exitwise::bundle::LoadLimits { memory_budget_bytes: three, ..Default::default() };
    let tight = CpuModel::new(Bundle::from_files_with(&files, &limits).unwrap()).unwrap();
    let m = CpuModel::new(roomy).unwrap();
    let xs: Vec<f32> = (0..64).flat_map(input).collect();
    let (a, b) = (m.trace_batch(&xs, 64).unwrap(), tight.trace_batch(&xs, 64).unwrap());
    for (x, y) in a.iter().zip(&b) {
        for (p, q) in x.exits.iter().zip(&y.exits) {
            assert_eq!(p.class, q.class);
            assert!((p.confidence - q.confidence).abs() < 1e-5);
        }
    }
}

#[test]
fn a_batch_runs_later_parts_only_on_the_inputs_left() {
    let m: Model<Counting> = Model::new(Bundle::from_files(&chain(false, true)).unwrap()).unwrap();
    let xs: Vec<f32> = (0..8).flat_map(input).collect();
    // Everything leaves at exit 0: one run of segment 0 and exit 0 for the whole batch.
    let b = m.classify_batch(&xs, 8, &[0.0, 0.0]).unwrap();
    assert!(b.classifications.iter().all(|c| c.exit == 0));
    assert_eq!((m.backend.segments.get(), m.backend.exits.get()), (1, 1));
    assert_eq!(b.macs_executed, 8 * (SEG_MACS[0] + EXIT_MACS[0]));
    // Nothing leaves early: every part runs once, on the whole batch.
    let b = m.classify_batch(&xs, 8, &[1.0, 1.0]).unwrap();
    assert_eq!((m.backend.segments.get(), m.backend.exits.get()), (4, 4));
    assert!(b.flops_saved < 0.0);
}

#[test]
fn classify_full_runs_the_plain_network() {
    for assist in [false, true] {
        let m: Model<Counting> = Model::new(Bundle::from_files(&chain(assist, true)).unwrap()).unwrap();
        let x = input(5);
        let c = m.classify_full(&x).unwrap();
        // Segments all run; exit heads only where the final classifier consumes them.
        let heads = if assist { 2 } else { 1 };
        assert_eq!((m.backend.segments.get(), m.backend.exits.get()), (3, heads));
        assert_eq!((c.exit, c.segments_run, c.macs_executed, c.flops_saved), (2, 3, m.costs.plain, 0.0));
        let t = m.trace(&x).unwrap();
        assert_eq!((c.class, c.confidence, &c.probabilities), (t.exits[2].class, t.exits[2].confidence, &t.exits[2].probabilities));
    }
}

#[test]
fn a_fixed_batch_bundle_classifies_a_batch_one_by_one() {
    let fixed = CpuModel::new(Bundle::from_files(&chain(false, false)).unwrap()).unwrap();
    let xs: Vec<f32> = (0..5).flat_map(input).collect();
    let b = fixed.classify_batch(&xs, 5, &[0.5, 0.5]).unwrap();
    for (i, got) in b.classifications.iter().enumerate() {
        let mut want = fixed.classify(&input(i as u64), &[0.5, 0.5]).unwrap();
        want.elapsed_ms = 0.0;
        assert_eq!(got, &want, "one by one: exactly equal");
    }
    assert_eq!(fixed.classify_batch(&xs, 4, &[0.5, 0.5]).unwrap_err().code, exitwise::ErrorCode::BadInput);
}

#[test]
fn evaluations_appended_equal_one_over_the_whole_set() {
    let m = load(true);
    let xs: Vec<f32> = (0..9).flat_map(input).collect();
    let labels: Vec<u8> = (0..9).map(|i| (i % 3) as u8).collect();
    let traces = m.trace_batch(&xs, 9).unwrap();
    let whole = exitwise::Evaluation::new(m.manifest(), &m.costs, &traces, &labels).unwrap();
    let mut parts = exitwise::Evaluation::new(m.manifest(), &m.costs, &traces[..4], &labels[..4]).unwrap();
    parts.append(&exitwise::Evaluation::new(m.manifest(), &m.costs, &traces[4..], &labels[4..]).unwrap()).unwrap();
    assert_eq!(parts.count(), 9);
    for t in [[0.0, 0.0], [0.4, 0.6], [1.0, 1.0]] {
        assert_eq!(parts.summary(&t, m.manifest()).unwrap(), whole.summary(&t, m.manifest()).unwrap());
    }
    assert_eq!(parts.frontier(), whole.frontier());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// classify_batch == classify input by input, for any thresholds and batch size.
    #[test]
    fn classify_batch_equals_classify(seed in 0u64..1000, n in 1usize..12, t0 in 0.0f32..=1.0, t1 in 0.0f32..=1.0, assist: bool) {
        let m = if assist { load(true) } else { load(false) };
        let xs: Vec<f32> = (0..n as u64).flat_map(|i| input(seed + i)).collect();
        let b = m.classify_batch(&xs, n, &[t0, t1]).unwrap();
        prop_assert_eq!(b.classifications.len(), n);
        for (i, got) in b.classifications.iter().enumerate() {
            let want = m.classify(&input(seed + i as u64), &[t0, t1]).unwrap();
            if let Err(e) = same_classification(got, &want) {
                prop_assert!(false, "input {}: {}", i, e);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// decide(trace(x), t) == classify(x, t), timing aside, for any thresholds.
    #[test]
    fn decide_of_trace_equals_classify(seed in 0u64..1000, t0 in 0.0f32..=1.0, t1 in 0.0f32..=1.0, assist: bool) {
        let m = if assist { load(true) } else { load(false) };
        let x = input(seed);
        let mut c = m.classify(&x, &[t0, t1]).unwrap();
        let d = m.decide(&m.trace(&x).unwrap(), &[t0, t1]).unwrap();
        c.elapsed_ms = 0.0;
        prop_assert_eq!(c, d);
    }
}
