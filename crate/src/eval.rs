//! Test-set level: trace a labelled set once, then answer for any thresholds — accuracy, mean
//! MACs, fraction saved, exit histogram — plus the accuracy-vs-cost frontier and calibration.

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

    /// Index of the exit image `i` leaves at.
    fn fires(&self, i: usize, t: &[f32]) -> usize {
        let row = &self.confidence[i * self.exits..(i + 1) * self.exits];
        t.iter().zip(row).position(|(t, c)| c >= t).unwrap_or(self.exits - 1)
    }

    /// (correct count, total MACs) at thresholds `t` (unchecked).
    fn score(&self, t: &[f32]) -> (usize, u64) {
        let mut right = 0;
        let mut macs = 0u64;
        for i in 0..self.n {
            let e = self.fires(i, t);
            right += self.correct[i * self.exits + e] as usize;
            macs += self.costs.to_exit[e];
        }
        (right, macs)
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

    /// Thresholds that minimise mean MACs with accuracy ≥ final accuracy − `max_drop` points,
    /// by the greedy grid search specified in BUNDLE.md.
    pub fn calibrate(&self, max_drop: f64) -> Result<Vec<f32>> {
        if !(max_drop.is_finite() && (0.0..=100.0).contains(&max_drop)) {
            return err(ErrorCode::BadThreshold, format!("max_drop is {max_drop}, must be within [0, 100] points"));
        }
        let needed = self.final_correct() as f64 - max_drop / 100.0 * self.n as f64;
        let ok = |right: usize| right as f64 >= needed - 1e-9;
        let grid: Vec<f32> = (0..=CALIBRATION_STEPS).map(|s| s as f32 / CALIBRATION_STEPS as f32).collect();
        let mut t = vec![1.0f32; self.exits - 1];
        let (_, mut macs) = self.score(&t);
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
                    let (right, m) = self.score(&c);
                    if ok(right) && m < macs && best.is_none_or(|(bm, _, _)| m < bm) {
                        best = Some((m, e, g));
                    }
                }
            }
            match best {
                Some((m, e, g)) => {
                    t[e] = g;
                    macs = m;
                }
                None => return Ok(t),
            }
        }
    }
}
