//! Learn-then-Test calibration (`Evaluation::calibrate`): the binomial p-value against exact
//! values, the smallest calibration set that can certify a budget, what happens when nothing is
//! certified, monotonicity in the budget, and a simulation on a synthetic population whose true
//! risk is known: over many random calibration sets the certified thresholds break the budget
//! at most δ of the time (plus sampling slack), while the greedy search breaks it far more often.

use exitwise::calibrate::{binomial_cdf, min_images, p_value, shared_path};
use exitwise::{CalibrateOptions, CalibrationPath, Certified, Costs, ErrorCode, Evaluation, ExitOutput, Manifest, Trace};

const CLASSES: usize = 10;

/// One image: per exit (the final classifier last) its confidence and whether it is right.
#[derive(Clone)]
struct Image {
    exits: Vec<(f32, bool)>,
}

/// A manifest with `early` early exits and a final classifier, one segment each.
fn manifest(early: usize) -> Manifest {
    let segments: Vec<_> = (0..=early)
        .map(|k| {
            let input = if k == 0 { "input".to_string() } else { format!("a{}", k - 1) };
            serde_json::json!({"name": format!("seg{k}"), "file": format!("seg{k}.onnx"), "sha256": "0", "inputs": [input], "outputs": [format!("a{k}")]})
        })
        .collect();
    let exits: Vec<_> = (0..=early)
        .map(|e| {
            let mut x = serde_json::json!({"name": format!("exit{e}"), "after": e, "file": format!("exit{e}.onnx"), "sha256": "0",
                "inputs": [format!("a{e}")], "outputs": [format!("l{e}")], "logits": format!("l{e}"), "rule": "max_softmax"});
            if e < early {
                x["threshold"] = 0.9.into();
            }
            x
        })
        .collect();
    let m = serde_json::json!({
        "format": "exitwise/1", "name": "synthetic",
        "labels": (0..CLASSES).map(|c| c.to_string()).collect::<Vec<_>>(),
        "input": {"shape": [1, 1, 4, 4], "dtype": "f32", "layout": "NCHW", "range": [0.0, 1.0], "mean": [0.0], "std": [1.0]},
        "segments": segments, "exits": exits,
    });
    Manifest::parse(&serde_json::to_vec(&m).unwrap()).unwrap()
}

/// Segments of 100 MACs, heads of 10: exit e costs 110·(e + 1), the plain network 100·(E) + 10.
fn costs(early: usize) -> Costs {
    let segments = vec![100u64; early + 1];
    let exits = vec![10u64; early + 1];
    let to_exit = (0..=early).map(|e| 110 * (e as u64 + 1)).collect();
    let mut plain_exits = vec![false; early + 1];
    plain_exits[early] = true;
    Costs { plain: 100 * (early as u64 + 1) + 10, segments, exits, to_exit, plain_exits }
}

fn evaluation(images: &[Image]) -> (Evaluation, Manifest) {
    let early = images[0].exits.len() - 1;
    let m = manifest(early);
    let labels: Vec<u8> = (0..images.len()).map(|i| (i % CLASSES) as u8).collect();
    let traces: Vec<Trace> = images
        .iter()
        .zip(&labels)
        .map(|(im, &l)| Trace {
            exits: im
                .exits
                .iter()
                .map(|&(confidence, right)| ExitOutput {
                    probabilities: Vec::new(),
                    class: if right { l as usize } else { (l as usize + 1) % CLASSES },
                    confidence,
                })
                .collect(),
        })
        .collect();
    (Evaluation::new(&m, &costs(early), &traces, &labels).unwrap(), m)
}

/// splitmix64: a seeded generator for the synthetic data and the splits.
struct Rng(u64);
impl Rng {
    fn u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn f64(&mut self) -> f64 {
        (self.u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: usize) -> usize {
        (self.u64() % n as u64) as usize
    }
}

/// A population of two early exits and a final classifier (95 % right). Each image has a
/// difficulty; an exit's confidence falls with it (plus noise) and its chance of being right
/// rises with its confidence, so confident early answers are mostly, not always, right.
fn population(n: usize, seed: u64) -> Vec<Image> {
    let mut r = Rng(seed);
    (0..n)
        .map(|_| {
            let d = r.f64();
            let mut exits = Vec::new();
            for (e, skill) in [(0usize, 0.55), (1, 0.7)] {
                let noise = (r.f64() - 0.5) * 0.3;
                let c = ((1.0 - d) * (0.8 + 0.1 * e as f64) + 0.1 + noise).clamp(0.0, 0.999) as f32;
                let p_right = skill + (1.0 - skill) * (c as f64).powf(0.7);
                exits.push((c, r.f64() < p_right));
            }
            exits.push((1.0, r.f64() < 0.95));
            Image { exits }
        })
        .collect()
}

/// Learn-then-Test losses at `t`, computed here from the images (not by the library).
fn losses(images: &[Image], t: &[f32]) -> usize {
    images
        .iter()
        .filter(|im| {
            let last = im.exits.len() - 1;
            let e = (0..last).find(|&e| im.exits[e].0 >= t[e]).unwrap_or(last);
            !im.exits[e].1 && im.exits[last].1
        })
        .count()
}

fn options(delta: f64) -> CalibrateOptions {
    CalibrateOptions { delta, ..CalibrateOptions::default() }
}

fn close(got: f64, want: f64, rel: f64) -> bool {
    (got - want).abs() <= rel * want.abs()
}

#[test]
fn binomial_tail_against_exact_values() {
    // Exact values: Python, sum of comb(n, j)·p^j·(1 − p)^(n − j) in rational arithmetic.
    let cases: [(u64, u64, f64, f64); 14] = [
        (0, 2302, 0.001, 0.09994334856146572),
        (0, 2301, 0.001, 0.10004339195341913),
        (3, 10, 0.5, 0.171875),
        (5, 20, 0.3, 0.4163708294474814),
        (2, 1000, 0.005, 0.12401961723200107),
        (1, 1000, 0.005, 0.04009099661316363),
        (5, 1000, 0.01, 0.06613951160725197),
        (6, 1000, 0.01, 0.12887662616988835),
        (0, 460, 0.005, 0.09968209181797483),
        (0, 459, 0.005, 0.10018300685223601),
        (900, 100_000, 0.01, 0.0006608413334501526),
        (1000, 100_000, 0.01, 0.5084094733514329),
        (50, 100_000, 0.001, 2.3711826624976413e-08),
        (30, 60_000, 0.001, 1.406520496416052e-05),
    ];
    for (k, n, p, want) in cases {
        let got = binomial_cdf(k, n, p);
        assert!(close(got, want, 1e-9), "P(Binom({n}, {p}) ≤ {k}) = {got}, want {want}");
    }
    // Edges, and P(X ≤ k) + P(n − X ≤ n − k − 1) = 1 (X ~ Binom(n, p), n − X ~ Binom(n, 1 − p)).
    assert_eq!(binomial_cdf(10, 10, 0.4), 1.0);
    assert_eq!(binomial_cdf(11, 10, 0.4), 1.0);
    assert_eq!(binomial_cdf(0, 10, 0.0), 1.0);
    assert_eq!(binomial_cdf(9, 10, 1.0), 0.0);
    assert!(binomial_cdf(0, 10, -0.1).is_nan() && binomial_cdf(0, 10, f64::NAN).is_nan());
    // Deep underflow in linear space stays a number in log space.
    let tiny = binomial_cdf(0, 1_000_000, 0.5);
    assert!(tiny == 0.0 || tiny.is_finite());
    assert!(binomial_cdf(400_000, 1_000_000, 0.5) < 1e-300);
    for (k, n, p) in [(3u64, 40u64, 0.2), (17, 50, 0.4), (250, 1000, 0.23)] {
        let sum = binomial_cdf(k, n, p) + binomial_cdf(n - k - 1, n, 1.0 - p);
        assert!((sum - 1.0).abs() < 1e-12, "{k} {n} {p}: {sum}");
    }
    assert_eq!(p_value(0, 2302, 0.001), binomial_cdf(0, 2302, 0.001));
}

/// 2,302 images with no loss certify 0.1 pt at δ = 0.1; 2,301 do not.
#[test]
fn smallest_set_that_certifies_a_tenth_of_a_point() {
    assert_eq!(min_images(0.001, 0.1), 2302);
    assert_eq!(min_images(0.005, 0.1), 460);
    assert_eq!(min_images(0.01, 0.1), 230);
    assert_eq!(min_images(1.0, 0.1), 1);
    let all_right = Image { exits: vec![(0.5, true), (0.5, true), (1.0, true)] };
    for (n, certified) in [(2302, true), (2301, false)] {
        let (ev, _) = evaluation(&vec![all_right.clone(); n]);
        let c = ev.calibrate(0.1, &options(0.1)).unwrap();
        assert_eq!(c.certified, certified, "{n} images: {c:?}");
        assert_eq!(c.n, n);
        assert_eq!(c.losses, 0);
        assert_eq!(c.min_images, 2302);
        assert_eq!(c.path_length, 101);
        if certified {
            // No loss anywhere: the whole path is certified, down to 0.00.
            assert_eq!(c.thresholds, [0.0, 0.0]);
            assert_eq!(c.steps_certified, 101);
            assert_eq!(c.risk_upper_bound, Some(0.001));
            assert!(close(c.p_value, 0.09994334856146572, 1e-9), "{}", c.p_value);
            // Every image leaves at exit 0: 110 of 310 MACs.
            assert!(close(c.macs_saved_fraction, 1.0 - 110.0 / 310.0, 1e-12));
        } else {
            assert_eq!(c.thresholds, [1.0, 1.0]);
            assert_eq!(c.steps_certified, 0);
            assert_eq!(c.risk_upper_bound, None);
            assert!(c.p_value > 0.1);
            // Nothing fires at 1.0 (confidences 0.5): every head runs, 330 of 310 MACs.
            assert!(close(c.macs_saved_fraction, 1.0 - 330.0 / 310.0, 1e-12));
        }
    }
}

/// Too few images for the budget: nothing is certified, whatever the data.
#[test]
fn too_few_images_give_all_ones() {
    let pop = population(200, 5);
    let (ev, _) = evaluation(&pop);
    for drop in [0.1, 0.5, 1.0] {
        let c = ev.calibrate(drop, &CalibrateOptions::default()).unwrap();
        assert!(!c.certified && c.thresholds == [1.0, 1.0] && c.risk_upper_bound.is_none(), "{drop}: {c:?}");
        assert!(c.min_images > 200);
    }
    // The split path with half of them for the test cannot do better.
    let split = CalibrateOptions { delta: 0.1, path: CalibrationPath::Split { fraction: 0.5 } };
    let c = ev.calibrate(1.0, &split).unwrap();
    assert!(!c.certified && c.thresholds == [1.0, 1.0], "{c:?}");
    assert_eq!(c.n, 100);
}

/// 1.0 is the most conservative threshold, not the plain network: a confidence of exactly 1.0
/// still fires. When such exits are wrong often enough, even 1.0 is not certified, and
/// `certified: false` says so.
#[test]
fn a_saturated_wrong_exit_is_not_certified_at_one() {
    let mut images = vec![Image { exits: vec![(0.3, true), (0.3, true), (1.0, true)] }; 5000];
    for im in images.iter_mut().step_by(50) {
        im.exits[0] = (1.0, false); // 2 % saturated and wrong at exit 0, right at the end
    }
    let (ev, m) = evaluation(&images);
    let c = ev.calibrate(1.0, &options(0.1)).unwrap();
    assert!(!c.certified, "{c:?}");
    assert_eq!(c.thresholds, [1.0, 1.0]);
    assert_eq!(c.losses, 100);
    assert_eq!(ev.summary(&c.thresholds, &m).unwrap().histogram, [100, 0, 4900]);
    // With a budget above 2 % it is certified — all the way down.
    let c = ev.calibrate(3.0, &options(0.1)).unwrap();
    assert!(c.certified && c.thresholds == [0.0, 0.0], "{c:?}");
}

/// The chosen point is the last of the rejected prefix: its p-value ≤ δ, the next step's > δ;
/// the figures agree with losses counted here.
#[test]
fn certified_point_is_the_end_of_the_rejected_prefix() {
    let pop = population(4000, 11);
    let (ev, _) = evaluation(&pop);
    let path = shared_path(2);
    for (drop, delta) in [(0.5, 0.1), (1.0, 0.1), (2.0, 0.05), (5.0, 0.2)] {
        let c = ev.calibrate(drop, &options(delta)).unwrap();
        let alpha = drop / 100.0;
        assert!(c.certified, "{drop}: {c:?}");
        assert_eq!(c.losses, losses(&pop, &c.thresholds));
        assert_eq!(c.p_value, p_value(c.losses, 4000, alpha));
        assert!(c.p_value <= delta);
        assert_eq!(c.risk_upper_bound, Some(alpha));
        let s = c.steps_certified;
        assert_eq!(path[s - 1], c.thresholds);
        for t in &path[..s] {
            assert!(p_value(losses(&pop, t), 4000, alpha) <= delta);
        }
        if s < path.len() {
            assert!(p_value(losses(&pop, &path[s]), 4000, alpha) > delta, "{drop}: step {s} should fail");
        }
        // The shared path: one threshold for every early exit.
        assert_eq!(c.thresholds[0], c.thresholds[1]);
    }
}

/// A larger budget never saves fewer MACs on the data-independent path, nor does a larger δ.
#[test]
fn larger_budget_never_saves_less() {
    let pop = population(3000, 3);
    let (ev, _) = evaluation(&pop);
    let mut last: Option<Certified> = None;
    for step in 1..=60 {
        let drop = step as f64 * 0.1;
        let c = ev.calibrate(drop, &CalibrateOptions::default()).unwrap();
        if let Some(l) = &last {
            assert!(c.macs_saved_fraction >= l.macs_saved_fraction, "{drop}: {c:?} after {l:?}");
            assert!(c.thresholds[0] <= l.thresholds[0]);
            assert!(c.certified || !l.certified);
        }
        last = Some(c);
    }
    let l = last.unwrap();
    assert!(l.certified && l.macs_saved_fraction > 0.0, "{l:?}");
    let mut prev = f64::NEG_INFINITY;
    for delta in [0.01, 0.05, 0.1, 0.2, 0.5] {
        let c = ev.calibrate(1.0, &options(delta)).unwrap();
        assert!(c.macs_saved_fraction >= prev);
        prev = c.macs_saved_fraction;
    }
}

/// Draws calibration sets of `n` images (with replacement: i.i.d. from the population, whose
/// own figures are then the true ones) and counts how often each method's thresholds break the
/// budget on the population.
#[test]
fn simulation_ltt_keeps_its_promise_greedy_does_not() {
    let pop = population(20_000, 2024);
    let (pop_ev, m) = evaluation(&pop);
    let (splits, n, drop, delta) = (300, 1000, 1.0, 0.1);
    let alpha: f64 = drop / 100.0;
    let true_drop = |t: &[f32]| {
        let s = pop_ev.summary(t, &m).unwrap();
        s.final_accuracy - s.accuracy
    };
    let true_risk = |t: &[f32]| losses(&pop, t) as f64 / pop.len() as f64;
    let mut r = Rng(77);
    let (mut ltt_risk, mut ltt_drop, mut greedy_drop, mut certified) = (0, 0, 0, 0);
    let (mut ltt_saved, mut greedy_saved) = (0.0, 0.0);
    for _ in 0..splits {
        let calib: Vec<Image> = (0..n).map(|_| pop[r.below(pop.len())].clone()).collect();
        let (ev, _) = evaluation(&calib);
        let c = ev.calibrate(drop, &options(delta)).unwrap();
        certified += c.certified as usize;
        ltt_risk += (true_risk(&c.thresholds) > alpha) as usize;
        ltt_drop += (true_drop(&c.thresholds) > alpha + 1e-12) as usize;
        ltt_saved += pop_ev.summary(&c.thresholds, &m).unwrap().macs_saved_fraction;
        let g = ev.calibrate_greedy(drop).unwrap();
        greedy_drop += (true_drop(&g) > alpha + 1e-12) as usize;
        greedy_saved += pop_ev.summary(&g, &m).unwrap().macs_saved_fraction;
    }
    let rate = |k: usize| k as f64 / splits as f64;
    eprintln!(
        "{splits} splits of {n}: LTT certified {certified}, true risk > α in {:.3}, true drop > α in {:.3}, \
         saved {:.3}; greedy true drop > α in {:.3}, saved {:.3}",
        rate(ltt_risk), rate(ltt_drop), ltt_saved / splits as f64, rate(greedy_drop), greedy_saved / splits as f64
    );
    // The population must make the comparison mean something: LTT certifies, and saves.
    assert!(certified >= splits * 9 / 10, "LTT certified only {certified} of {splits}");
    assert!(ltt_saved / splits as f64 > 0.02);
    assert!(rate(ltt_risk) <= delta + 0.05, "LTT broke its risk bound in {:.3} of splits", rate(ltt_risk));
    assert!(rate(ltt_drop) <= rate(ltt_risk), "the drop is bounded by the risk");
    assert!(rate(greedy_drop) > rate(ltt_drop), "greedy {:.3} vs LTT {:.3}", rate(greedy_drop), rate(ltt_drop));
    assert!(rate(greedy_drop) > delta + 0.05, "greedy broke the budget in only {:.3} of splits", rate(greedy_drop));
}

/// The split path: built on one part, tested on the other; its certified points keep the
/// promise in the same simulation.
#[test]
fn simulation_split_path_keeps_its_promise() {
    let pop = population(20_000, 99);
    let (splits, n, drop, delta) = (200, 1000, 2.0, 0.1);
    let alpha: f64 = drop / 100.0;
    let split = CalibrateOptions { delta, path: CalibrationPath::Split { fraction: 0.3 } };
    let mut r = Rng(5);
    let (mut broke, mut certified, mut saved) = (0, 0, 0.0);
    let (pop_ev, m) = evaluation(&pop);
    for _ in 0..splits {
        let calib: Vec<Image> = (0..n).map(|_| pop[r.below(pop.len())].clone()).collect();
        let (ev, _) = evaluation(&calib);
        let c = ev.calibrate(drop, &split).unwrap();
        assert_eq!(c.n, 700);
        certified += c.certified as usize;
        broke += (losses(&pop, &c.thresholds) as f64 / pop.len() as f64 > alpha) as usize;
        saved += pop_ev.summary(&c.thresholds, &m).unwrap().macs_saved_fraction;
    }
    eprintln!("split path: {certified} of {splits} certified, true risk > α in {broke}, saved {:.3}", saved / splits as f64);
    assert!(certified >= splits / 2, "{certified}");
    assert!(broke as f64 / splits as f64 <= delta + 0.05, "{broke} of {splits}");
}

#[test]
fn split_path_is_deterministic_and_starts_conservative() {
    let pop = population(2000, 8);
    let (ev, _) = evaluation(&pop);
    let split = CalibrateOptions { delta: 0.1, path: CalibrationPath::Split { fraction: 0.5 } };
    let a = ev.calibrate(2.0, &split).unwrap();
    let b = ev.calibrate(2.0, &split).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.n, 1000);
    assert!(a.path_length >= 2);
    assert!(a.certified, "{a:?}");
    assert!(a.p_value <= 0.1);
    // One part empty: refused.
    let (small, _) = evaluation(&pop[..10]);
    for fraction in [0.01, 0.99] {
        let o = CalibrateOptions { delta: 0.1, path: CalibrationPath::Split { fraction } };
        assert_eq!(small.calibrate(1.0, &o).unwrap_err().code, ErrorCode::BadThreshold);
    }
}

#[test]
fn bad_options_are_bad_thresholds() {
    let (ev, _) = evaluation(&population(100, 1));
    for drop in [0.0, -1.0, 100.01, f64::NAN, f64::INFINITY] {
        assert_eq!(ev.calibrate(drop, &CalibrateOptions::default()).unwrap_err().code, ErrorCode::BadThreshold, "{drop}");
    }
    for delta in [0.0, 1.0, -0.5, 2.0, f64::NAN, f64::INFINITY] {
        assert_eq!(ev.calibrate(1.0, &options(delta)).unwrap_err().code, ErrorCode::BadThreshold, "{delta}");
    }
    for fraction in [0.0, 1.0, -0.2, f64::NAN] {
        let o = CalibrateOptions { delta: 0.1, path: CalibrationPath::Split { fraction } };
        assert_eq!(ev.calibrate(1.0, &o).unwrap_err().code, ErrorCode::BadThreshold, "{fraction}");
    }
    assert!(ev.calibrate(100.0, &CalibrateOptions::default()).is_ok());
    // The greedy search keeps its own range, [0, 100].
    assert!(ev.calibrate_greedy(0.0).is_ok());
    assert_eq!(ev.calibrate_greedy(-1.0).unwrap_err().code, ErrorCode::BadThreshold);
}

#[test]
fn serialises_in_camel_case() {
    let (ev, _) = evaluation(&population(3000, 2));
    let c = ev.calibrate(2.0, &CalibrateOptions::default()).unwrap();
    let v = serde_json::to_value(&c).unwrap();
    for key in ["thresholds", "certified", "maxDrop", "delta", "path", "n", "losses", "pValue", "riskUpperBound",
                "stepsCertified", "pathLength", "minImages", "macsSavedFraction"] {
        assert!(v.get(key).is_some(), "{key} missing in {v}");
    }
    assert_eq!(v["path"], serde_json::json!({"kind": "shared"}));
    let back: Certified = serde_json::from_value(v).unwrap();
    assert_eq!(back, c);
    let o: CalibrateOptions = serde_json::from_str("{}").unwrap();
    assert_eq!(o, CalibrateOptions::default());
    let o: CalibrateOptions = serde_json::from_str(r#"{"delta": 0.05, "path": {"kind": "split", "fraction": 0.4}}"#).unwrap();
    assert_eq!(o, CalibrateOptions { delta: 0.05, path: CalibrationPath::Split { fraction: 0.4 } });
}

/// The shared path's losses come from one pass over the images (eval.rs `shared_losses`); they
/// must be what simulating each step gives, on confidences at, just off and between grid values,
/// NaN, negative and above 1, with one to three early exits.
#[test]
fn shared_path_losses_equal_step_by_step_simulation() {
    let mut r = Rng(77);
    let grid = |g: u32| g as f32 / 100.0;
    let (mut certified, mut partial) = (0, 0);
    for early in 1..=3 {
        for round in 0..20 {
            let n = 2500 + r.below(500);
            let images: Vec<Image> = (0..n)
                .map(|_| Image {
                    exits: (0..=early)
                        .map(|_| {
                            let c = match r.below(8) {
                                0 => grid(r.below(101) as u32),
                                1 => f32::from_bits(grid(r.below(101) as u32).to_bits() + 1),
                                2 => f32::from_bits(grid(1 + r.below(100) as u32).to_bits() - 1),
                                3 if round % 2 == 0 => *[f32::NAN, -0.5, 1.5, 0.0, 1.0].get(r.below(5)).unwrap(),
                                _ => (0.6 + 0.4 * r.f64()) as f32,
                            };
                            (c, r.below(100) < 85)
                        })
                        .collect(),
                })
                .collect();
            let (ev, _) = evaluation(&images);
            let path = shared_path(early);
            // Step by step: the first early exit whose confidence reaches the threshold.
            let losses: Vec<usize> = path
                .iter()
                .map(|t| {
                    images
                        .iter()
                        .filter(|im| {
                            let e = (0..early).find(|&e| im.exits[e].0 >= t[e]).unwrap_or(early);
                            !im.exits[e].1 && im.exits[early].1
                        })
                        .count()
                })
                .collect();
            for max_drop in [0.5, 1.0, 2.0, 5.0, 10.0, 20.0] {
                let c = ev.calibrate(max_drop, &CalibrateOptions::default()).unwrap();
                let ps = exitwise::calibrate::fixed_sequence(path.len(), 0.1, |j| p_value(losses[j], n, max_drop / 100.0));
                let steps = ps.iter().take_while(|&&p| p <= 0.1).count();
                assert_eq!(c.steps_certified, steps, "early {early} round {round} max drop {max_drop}");
                certified += (steps > 0) as usize;
                partial += (steps > 1 && steps < path.len()) as usize;
                if steps > 0 {
                    assert_eq!(c.thresholds, path[steps - 1]);
                    assert_eq!(c.losses, losses[steps - 1]);
                    assert_eq!(c.p_value, ps[steps - 1]);
                }
            }
        }
    }
    // Both ends and the middle of the path were reached.
    assert!(certified > 50 && partial > 50, "{certified} certified, {partial} stopped mid-path");
}

#[test]
fn subset_is_the_evaluation_of_those_images() {
    let images = population(400, 11);
    let (ev, m) = evaluation(&images);
    let pick: Vec<usize> = (0..400).filter(|i| i % 3 == 1).collect();
    // the labels of `evaluation` depend on the index, so rebuild the subset's images with their
    // right/wrong flags and compare what can be compared: the summaries at several thresholds
    let sub = ev.subset(&pick).unwrap();
    assert_eq!(sub.count(), pick.len());
    let chosen: Vec<Image> = pick.iter().map(|&i| images[i].clone()).collect();
    let (direct, _) = evaluation(&chosen);
    for t in [[1.0f32, 1.0], [0.7, 0.8], [0.3, 0.5], [0.0, 0.0]] {
        assert_eq!(sub.summary(&t, &m).unwrap(), direct.summary(&t, &m).unwrap(), "at {t:?}");
    }
    assert_eq!(ev.subset(&[]).unwrap_err().code, ErrorCode::BadInput);
    assert_eq!(ev.subset(&[400]).unwrap_err().code, ErrorCode::BadInput);
}

#[test]
fn resplit_ltt_keeps_its_promise_greedy_does_not() {
    // 3,000 calibration + 3,000 test images of the synthetic population, 60 re-splits at 1 pt
    let (cal, m) = evaluation(&population(3000, 21));
    let (test, _) = evaluation(&population(3000, 22));
    let r = exitwise::resplit::resplit(&m, &cal, &test, 1.0, &options(0.1), 60, 5).unwrap();
    assert_eq!((r.pool, r.calibration, r.test, r.splits), (6000, 3000, 3000, 60));
    // δ = 0.1 plus sampling slack of 60 splits; greedy sits on its budget and breaks it often
    assert!(r.ltt.violation_rate <= 0.2, "LTT broke the budget in {} of 60", r.ltt.violations);
    assert!(r.greedy.violations > r.ltt.violations, "greedy {} vs LTT {}", r.greedy.violations, r.ltt.violations);
    assert!(r.ltt.certified > 0 && r.greedy.certified == 60);
    assert!(r.ltt.mean_test_macs_saved > 0.0 && r.ltt.mean_test_macs_saved < r.greedy.mean_test_macs_saved);
    assert!(r.ltt.max_test_drop_pt >= r.ltt.mean_test_drop_pt);
    // deterministic: the same seed, the same study
    assert_eq!(r, exitwise::resplit::resplit(&m, &cal, &test, 1.0, &options(0.1), 60, 5).unwrap());
    for bad in [0, exitwise::resplit::MAX_SPLITS + 1] {
        let e = exitwise::resplit::resplit(&m, &cal, &test, 1.0, &options(0.1), bad, 5).unwrap_err();
        assert_eq!(e.code, ErrorCode::BadInput);
    }
    let e = exitwise::resplit::resplit(&m, &cal, &test, 0.0, &options(0.1), 5, 5).unwrap_err();
    assert_eq!(e.code, ErrorCode::BadThreshold);
}
