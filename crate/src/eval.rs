//! Test-set level: trace a labelled set once, then answer for any thresholds — accuracy, mean
//! MACs, fraction saved, exit histogram — plus the accuracy-vs-cost frontier and calibration:
//! [`Evaluation::calibrate`] (Learn then Test, with a guarantee; see [`crate::calibrate`]) and
//! [`Evaluation::calibrate_greedy`] (the old grid search, without one).

use crate::calibtrace::CalibrationTrace;
use crate::calibrate::{self as ltt, CalibrateOptions, CalibrationPath, Certified};
use crate::engine::{check_thresholds, saved, Costs, Trace};
use crate::error::{err, ErrorCode, Result};
use crate::manifest::Manifest;
use serde::{Deserialize, Serialize};

/// Traced, labelled inputs: per image and exit, the confidence and whether the class is right.
#[derive(Debug, Clone)]
pub struct Evaluation {
    n: usize,
    exits: usize,
    confidence: Vec<f32>,
    correct: Vec<bool>,
    costs: Costs,
}

/// What a set of thresholds gives on the whole set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub count: usize,
    pub thresholds: Vec<f32>,
    pub accuracy: f64,
    /// Accuracy of the final classifier alone (the plain network).
    pub final_accuracy: f64,
    pub mean_macs: f64,
    pub macs_full: u64,
    /// 1 − mean MACs executed / MACs of the plain network.
    pub macs_saved_fraction: f64,
    /// Inputs that left at each exit.
    pub histogram: Vec<usize>,
}

/// One point of the accuracy-vs-cost frontier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FrontierPoint {
    pub thresholds: Vec<f32>,
    pub accuracy: f64,
    pub macs_saved_fraction: f64,
}

/// Counts over a set of images at some thresholds.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    /// Images whose exit is right.
    right: usize,
    /// Learn-then-Test losses: the exit is wrong and the final classifier right.
    loss: usize,
    /// MACs executed over the images.
    macs: u64,
}

/// Threshold grid of the calibration search: 0.00, 0.01, …, 1.00.
const CALIBRATION_STEPS: u32 = 100;
/// Most threshold combinations the frontier sweep evaluates.
const FRONTIER_BUDGET: usize = 20_000;

impl Evaluation {
    pub fn new(manifest: &Manifest, costs: &Costs, traces: &[Trace], labels: &[u8]) -> Result<Evaluation> {
        let exits = manifest.exits.len();
        if traces.len() != labels.len() || traces.is_empty() {
            return err(ErrorCode::BadInput, format!("{} traces for {} labels (need the same, at least one)", traces.len(), labels.len()));
        }
        if let Some(l) = labels.iter().find(|&&l| l as usize >= manifest.classes()) {
            return err(ErrorCode::BadInput, format!("label {l} is out of range for {} classes", manifest.classes()));
        }
        let mut confidence = Vec::with_capacity(traces.len() * exits);
        let mut correct = Vec::with_capacity(traces.len() * exits);
        for (t, &l) in traces.iter().zip(labels) {
            if t.exits.len() != exits {
                return err(ErrorCode::BadInput, format!("a trace has {} exits, the model {exits}", t.exits.len()));
            }
            for o in &t.exits {
                confidence.push(o.confidence);
                correct.push(o.class == l as usize);
            }
        }
        Ok(Evaluation { n: traces.len(), exits, confidence, correct, costs: costs.clone() })
    }

    /// The evaluation a calibration trace records (no model run): what `calibrate` reads when a
    /// bundle ships one. The trace must have been made by this manifest's parts.
    pub fn from_calibration_trace(manifest: &Manifest, costs: &Costs, trace: &CalibrationTrace) -> Result<Evaluation> {
        trace.check("calibration trace", manifest)?;
        let labels = trace.labels.iter().flat_map(|&l| std::iter::repeat_n(l, trace.exits));
        let correct = trace.class.iter().zip(labels).map(|(c, l)| c == &l).collect();
        Ok(Evaluation { n: trace.count, exits: trace.exits, confidence: trace.confidence.clone(), correct, costs: costs.clone() })
    }

    pub fn count(&self) -> usize {
        self.n
    }

    /// Adds `other`'s images after this one's: evaluating a set in chunks and appending them
    /// gives the same evaluation as one call over the whole set (so a page can trace in short
    /// requests and stay responsive).
    pub fn append(&mut self, other: &Evaluation) -> Result<()> {
        if other.exits != self.exits || other.costs != self.costs {
            return err(ErrorCode::BadInput, "cannot append an evaluation of another model");
        }
        self.n += other.n;
        self.confidence.extend_from_slice(&other.confidence);
        self.correct.extend_from_slice(&other.correct);
        Ok(())
    }

    /// The images `images` (indices into this evaluation, repeats allowed) as an evaluation of
    /// their own. `BAD_INPUT` for an empty list or an index out of range.
    pub fn subset(&self, images: &[usize]) -> Result<Evaluation> {
        if images.is_empty() {
            return err(ErrorCode::BadInput, "an empty subset of an evaluation");
        }
        if let Some(&i) = images.iter().find(|&&i| i >= self.n) {
            return err(ErrorCode::BadInput, format!("image {i} of an evaluation of {}", self.n));
        }
        let e = self.exits;
        let mut confidence = Vec::with_capacity(images.len() * e);
        let mut correct = Vec::with_capacity(images.len() * e);
        for &i in images {
            confidence.extend_from_slice(&self.confidence[i * e..(i + 1) * e]);
            correct.extend_from_slice(&self.correct[i * e..(i + 1) * e]);
        }
        Ok(Evaluation { n: images.len(), exits: e, confidence, correct, costs: self.costs.clone() })
    }

    /// Index of the exit image `i` leaves at.
    fn fires(&self, i: usize, t: &[f32]) -> usize {
        let row = &self.confidence[i * self.exits..(i + 1) * self.exits];
        t.iter().zip(row).position(|(t, c)| c >= t).unwrap_or(self.exits - 1)
    }

    /// (correct count, total MACs) at thresholds `t` (unchecked).
    fn score(&self, t: &[f32]) -> (usize, u64) {
        let t = self.tally(t, None);
        (t.right, t.macs)
    }

    /// Counts at thresholds `t` (unchecked) over `images` (all when `None`).
    fn tally(&self, t: &[f32], images: Option<&[usize]>) -> Tally {
        let mut out = Tally::default();
        let last = self.exits - 1;
        let mut one = |i: usize| {
            let e = self.fires(i, t);
            let right = self.correct[i * self.exits + e];
            out.right += right as usize;
            out.loss += (!right && self.correct[i * self.exits + last]) as usize;
            out.macs += self.costs.to_exit[e];
        };
        match images {
            Some(idx) => idx.iter().for_each(|&i| one(i)),
            None => (0..self.n).for_each(one),
        }
        out
    }

    /// Learn-then-Test losses at every shared threshold `g / 100`, g = 0..=100 (index g): what
    /// [`Evaluation::tally`] gives at `[g / 100; early]`, in O(images × exits + grid). An image
    /// leaves at the first early exit whose confidence reaches the threshold; with `top[e]` the
    /// highest grid step exit e fires at and `reach[e]` its running maximum, it leaves at exit e
    /// for the steps in (reach[e − 1], reach[e]], and at the final exit above reach[early − 1].
    fn shared_losses(&self) -> Vec<usize> {
        let steps = CALIBRATION_STEPS as i64;
        let step = |g: i64| g as f32 / CALIBRATION_STEPS as f32;
        // The highest g in 0..=steps with c >= g / 100 (the comparison `fires` makes), or −1.
        let top = |c: f32| -> i64 {
            if !(c >= 0.0) {
                return -1;
            }
            let mut g = ((c as f64) * steps as f64).floor().clamp(0.0, steps as f64) as i64;
            while g < steps && c >= step(g + 1) {
                g += 1;
            }
            while g >= 0 && !(c >= step(g)) {
                g -= 1;
            }
            g
        };
        // The final exit is the last; the early exits are the ones before it.
        let last = self.exits - 1;
        let early = last;
        // Losses per g as a difference array over g = 0..=steps.
        let mut diff = vec![0i64; steps as usize + 2];
        let mut add = |lo: i64, hi: i64| {
            // +1 loss for every g in [lo, hi] ∩ [0, steps].
            let (lo, hi) = (lo.max(0), hi.min(steps));
            if lo <= hi {
                diff[lo as usize] += 1;
                diff[hi as usize + 1] -= 1;
            }
        };
        for i in 0..self.n {
            let row = i * self.exits;
            let final_right = self.correct[row + last];
            if !final_right {
                continue; // no exit can lose what the final classifier gets wrong
            }
            let mut below = -1i64; // reach of the exits before e
            for e in 0..early {
                let reach = below.max(top(self.confidence[row + e]));
                if reach > below && !self.correct[row + e] {
                    add(below + 1, reach);
                }
                below = reach;
            }
            // Above `below` it leaves at the final exit, which is right: no loss.
        }
        let mut out = Vec::with_capacity(steps as usize + 1);
        let mut run = 0i64;
        for d in diff.iter().take(steps as usize + 1) {
            run += d;
            out.push(run.max(0) as usize);
        }
        out
    }

    fn final_correct(&self) -> usize {
        (0..self.n).filter(|i| self.correct[i * self.exits + self.exits - 1]).count()
    }

    /// Accuracy of every exit on its own.
    pub fn exit_accuracies(&self) -> Vec<f64> {
        (0..self.exits)
            .map(|e| (0..self.n).filter(|i| self.correct[i * self.exits + e]).count() as f64 / self.n as f64)
            .collect()
    }

    pub fn summary(&self, thresholds: &[f32], manifest: &Manifest) -> Result<Summary> {
        check_thresholds(manifest, thresholds)?;
        let mut histogram = vec![0; self.exits];
        for i in 0..self.n {
            histogram[self.fires(i, thresholds)] += 1;
        }
        let (right, macs) = self.score(thresholds);
        let mean_macs = macs as f64 / self.n as f64;
        Ok(Summary {
            count: self.n,
            thresholds: thresholds.to_vec(),
            accuracy: right as f64 / self.n as f64,
            final_accuracy: self.final_correct() as f64 / self.n as f64,
            mean_macs,
            macs_full: self.costs.plain,
            macs_saved_fraction: 1.0 - mean_macs / self.costs.plain.max(1) as f64,
            histogram,
        })
    }

    /// The accuracy-vs-cost frontier over a threshold grid (as fine as a budget of
    /// combinations allows), sorted by MACs saved, each point not dominated by another.
    pub fn frontier(&self) -> Vec<FrontierPoint> {
        let k = self.exits - 1;
        let mut steps = 100usize;
        while k > 0 && (steps + 1).checked_pow(k as u32).is_none_or(|c| c > FRONTIER_BUDGET) {
            steps = if steps > 20 { steps / 2 } else { steps - 1 };
            if steps <= 2 {
                break;
            }
        }
        let grid: Vec<f32> = (0..=steps).map(|s| s as f32 / steps as f32).collect();
        let mut points = Vec::new();
        let mut idx = vec![0usize; k];
        loop {
            let t: Vec<f32> = idx.iter().map(|&i| grid[i]).collect();
            let (right, macs) = self.score(&t);
            points.push((right, macs, t));
            // Odometer over the grid.
            let mut d = 0;
            while d < k {
                idx[d] += 1;
                if idx[d] < grid.len() {
                    break;
                }
                idx[d] = 0;
                d += 1;
            }
            if d == k {
                break;
            }
        }
        // Cheapest first; keep a point only if it is more accurate than every cheaper one.
        points.sort_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)));
        let mut best: Option<usize> = None;
        let mut frontier = Vec::new();
        for (right, macs, t) in points {
            if best.is_none_or(|b| right > b) {
                best = Some(right);
                frontier.push(FrontierPoint {
                    thresholds: t,
                    accuracy: right as f64 / self.n as f64,
                    macs_saved_fraction: saved(macs, self.costs.plain.saturating_mul(self.n as u64)),
                });
            }
        }
        frontier.reverse();
        frontier
    }

    /// Thresholds certified by Learn then Test: with probability ≥ 1 − δ (over calibration
    /// sets exchangeable with the data they are used on) their accuracy drop from the final
    /// classifier is ≤ `max_drop` points. `max_drop` in (0, 100], `options.delta` in (0, 1)
    /// (`BAD_THRESHOLD` otherwise). When nothing on the path is certified — too few images, or
    /// the first step already fails — the thresholds are all 1.0 and `certified` is false.
    /// BUNDLE.md specifies the loss, the p-value and the paths.
    pub fn calibrate(&self, max_drop: f64, options: &CalibrateOptions) -> Result<Certified> {
        ltt::check_options(max_drop, options)?;
        let alpha = max_drop / 100.0;
        let delta = options.delta;
        let early = self.exits - 1;
        let (path, test): (Vec<Vec<f32>>, Option<Vec<usize>>) = match options.path {
            CalibrationPath::Shared => (ltt::shared_path(early), None),
            CalibrationPath::Split { fraction } => {
                let order = ltt::permutation(self.n, ltt::SPLIT_SEED);
                let build = ((fraction * self.n as f64).round() as usize).clamp(0, self.n);
                if build == 0 || build == self.n {
                    return err(ErrorCode::BadThreshold, format!(
                        "split fraction {fraction} of {} images leaves one part empty", self.n
                    ));
                }
                let (a, b) = order.split_at(build);
                (self.split_path(a, alpha), Some(b.to_vec()))
            }
        };
        let test = test.as_deref();
        let n = test.map_or(self.n, |b| b.len());
        // The shared path's losses in one pass over the images (not one per step: calibrating
        // a 10,000-image trace in the browser stays in milliseconds).
        let shared = matches!(options.path, CalibrationPath::Shared).then(|| self.shared_losses());
        let mut losses = vec![0usize; path.len()];
        let ps = ltt::fixed_sequence(path.len(), delta, |j| {
            losses[j] = match &shared {
                Some(by_grid) => by_grid[CALIBRATION_STEPS as usize - j],
                None => self.tally(&path[j], test).loss,
            };
            ltt::p_value(losses[j], n, alpha)
        });
        let steps = ps.iter().take_while(|&&p| p <= delta).count();
        // Both paths start at all 1.0, so with nothing certified its figures are the first step's.
        let (thresholds, k, p) = match steps {
            0 => (vec![1.0; early], losses.first().copied().unwrap_or(0), ps.first().copied().unwrap_or(1.0)),
            s => (path[s - 1].clone(), losses[s - 1], ps[s - 1]),
        };
        let macs = self.tally(&thresholds, None).macs;
        Ok(Certified {
            certified: steps > 0,
            max_drop,
            delta,
            path: options.path.clone(),
            n,
            losses: k,
            p_value: p,
            risk_upper_bound: (steps > 0).then_some(alpha),
            steps_certified: steps,
            path_length: path.len(),
            min_images: ltt::min_images(alpha, delta),
            macs_saved_fraction: saved(macs, self.costs.plain.saturating_mul(self.n as u64)),
            thresholds,
        })
    }

    /// The per-exit path of [`CalibrationPath::Split`], built on `images` only. From all 1.00,
    /// each step lowers one early exit's threshold by one grid step (0.01), the most efficient
    /// move on `images`: among the moves that add no loss, the one that saves most MACs;
    /// otherwise the one with the fewest added losses per MAC saved (ties: lower exit). It stops
    /// when every threshold is 0 or the losses pass about twice α of `images`. Every point is
    /// kept, so the path descends in small steps, as fixed-sequence testing needs.
    fn split_path(&self, images: &[usize], alpha: f64) -> Vec<Vec<f32>> {
        let early = self.exits - 1;
        let cap = (2.0 * alpha * images.len() as f64).ceil() as usize + 2;
        let step = |g: u32| g as f32 / CALIBRATION_STEPS as f32;
        let mut grid = vec![CALIBRATION_STEPS; early];
        let mut t = vec![1.0f32; early];
        let mut now = self.tally(&t, Some(images));
        let mut path = vec![t.clone()];
        loop {
            // (exit, tally after the move, added losses, MACs saved)
            let mut best: Option<(usize, Tally, i64, i64)> = None;
            for e in (0..early).filter(|&e| grid[e] > 0) {
                let mut c = t.clone();
                c[e] = step(grid[e] - 1);
                let after = self.tally(&c, Some(images));
                let added = after.loss as i64 - now.loss as i64;
                let gain = now.macs as i64 - after.macs as i64;
                let better = match best {
                    None => true,
                    Some((_, _, ba, bg)) => match (added <= 0, ba <= 0) {
                        (true, true) => gain > bg,
                        (true, false) => true,
                        (false, true) => false,
                        // Fewer losses per MAC saved (a move that saves none is last).
                        (false, false) => match (gain > 0, bg > 0) {
                            // added / gain < ba / bg, without dividing.
                            (true, true) => (added as i128) * (bg as i128) < (ba as i128) * (gain as i128),
                            (true, false) => true,
                            (false, true) => false,
                            (false, false) => added < ba,
                        },
                    },
                };
                if better {
                    best = Some((e, after, added, gain));
                }
            }
            let Some((e, after, _, _)) = best else { break };
            if after.loss > cap {
                break;
            }
            grid[e] -= 1;
            t[e] = step(grid[e]);
            now = after;
            path.push(t.clone());
        }
        path
    }

    /// Greedy grid search, **without any guarantee**: the thresholds that minimise mean MACs
    /// with accuracy ≥ final accuracy − `max_drop` points *on this set*, by the greedy descent
    /// specified in BUNDLE.md. Chosen and judged on the same images, they overfit: on new data
    /// the drop often exceeds `max_drop` (on the shipped bundles' test packs, in 4 of the 9
    /// operating points at 0.1, 0.5 and 1 point; a fifth meets it exactly). Use [`Evaluation::calibrate`] for a certified drop. `max_drop` in
    /// [0, 100].
    pub fn calibrate_greedy(&self, max_drop: f64) -> Result<Vec<f32>> {
        if !(max_drop.is_finite() && (0.0..=100.0).contains(&max_drop)) {
            return err(ErrorCode::BadThreshold, format!("max_drop is {max_drop}, must be within [0, 100] points"));
        }
        let needed = self.final_correct() as f64 - max_drop / 100.0 * self.n as f64;
        Ok(self.greedy_from(vec![1.0; self.exits - 1], None, |c| c.right as f64 >= needed - 1e-9))
    }

    /// The greedy descent from `t` over `images` (all when `None`) under the constraint `ok`.
    fn greedy_from(&self, mut t: Vec<f32>, images: Option<&[usize]>, ok: impl Fn(&Tally) -> bool) -> Vec<f32> {
        let grid: Vec<f32> = (0..=CALIBRATION_STEPS).map(|s| s as f32 / CALIBRATION_STEPS as f32).collect();
        let mut macs = self.tally(&t, images).macs;
        loop {
            let mut best: Option<(u64, usize, f32)> = None;
            for e in 0..t.len() {
                // Higher thresholds first so that ties keep the higher one.
                for &g in grid.iter().rev() {
                    if g == t[e] {
                        continue;
                    }
                    let mut c = t.clone();
                    c[e] = g;
                    let tally = self.tally(&c, images);
                    if ok(&tally) && tally.macs < macs && best.is_none_or(|(bm, _, _)| tally.macs < bm) {
                        best = Some((tally.macs, e, g));
                    }
                }
            }
            match best {
                Some((m, e, g)) => {
                    t[e] = g;
                    macs = m;
                }
                None => return t,
            }
        }
    }
}
