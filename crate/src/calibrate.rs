//! Guaranteed calibration by *Learn then Test* (Angelopoulos, Bates, Candès, Jordan, Lei 2021;
//! for early exit: Jazbec et al. 2024, "Fast yet safe").
//!
//! The loss of image *i* at thresholds λ is `L_i(λ) = 1[the exit λ picks is wrong and the final
//! classifier is right]`; its mean bounds the accuracy drop from above (drop = mean 1[final right,
//! early wrong] − mean 1[final wrong, early right] ≤ mean L). For each λ on a path ordered from
//! conservative to aggressive the null `H_λ: R(λ) > α` (α = max_drop / 100) is tested with the
//! exact binomial p-value `P(Binom(n, α) ≤ k)`, k = Σ L_i; steps are rejected in order while
//! p ≤ δ (fixed-sequence testing, no multiplicity correction needed) and the last rejected λ is
//! returned. With probability ≥ 1 − δ over calibration sets exchangeable with future data, its
//! risk, hence its accuracy drop, is ≤ α. [`crate::Evaluation::calibrate`] runs it; this module
//! holds the options, the result and the statistics.

use crate::error::{err, ErrorCode, Result};
use serde::{Deserialize, Serialize};

/// δ when none is given: the guarantee holds with 90 % confidence.
pub const DEFAULT_DELTA: f64 = 0.1;
/// Seed of the fixed permutation that splits the calibration set for [`CalibrationPath::Split`].
pub const SPLIT_SEED: u64 = 0x6578_6974_7769_7365; // "exitwise"

/// How [`crate::Evaluation::calibrate`] is asked to calibrate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CalibrateOptions {
    /// Allowed probability that the guarantee fails, in (0, 1). Default 0.1.
    pub delta: f64,
    /// The path of threshold vectors tested. Default [`CalibrationPath::Shared`].
    pub path: CalibrationPath,
}

impl Default for CalibrateOptions {
    fn default() -> Self {
        CalibrateOptions { delta: DEFAULT_DELTA, path: CalibrationPath::Shared }
    }
}

/// The path of threshold vectors, from conservative to aggressive, that is tested in order.
/// Either is fixed before the images it is tested on are looked at, which is what makes the
/// fixed-sequence test valid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum CalibrationPath {
    /// One threshold shared by every early exit: 1.00, 0.99, …, 0.00. Data-independent; every
    /// calibration image is used for the test. The default.
    #[default]
    Shared,
    /// Per-exit thresholds: a fixed pseudo-random `fraction` of the calibration images (seed
    /// [`SPLIT_SEED`]) builds a path with the greedy search at growing loss budgets; the other
    /// images, never seen by the path, test it. Fewer images are left for the test, so the
    /// bound is looser; the thresholds can be more efficient.
    Split { fraction: f64 },
}

/// The result of Learn-then-Test calibration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Certified {
    /// The last certified threshold vector; all 1.0 when nothing is certified (see `certified`).
    pub thresholds: Vec<f32>,
    /// Whether some point of the path was certified. When false, `thresholds` are all 1.0, the
    /// most conservative the threshold range allows; that is *not* the plain network: an exit
    /// whose confidence is exactly 1.0 still fires, and every early-exit head is evaluated. No
    /// guarantee covers them; for one, run the final classifier alone.
    pub certified: bool,
    /// The budget, in percentage points of accuracy drop.
    pub max_drop: f64,
    /// The guarantee holds with probability ≥ 1 − δ.
    pub delta: f64,
    /// The path tested.
    pub path: CalibrationPath,
    /// Images the test ran on (all calibration images for the shared path, the held-out part
    /// for a split one).
    pub n: usize,
    /// Losses k = Σ L_i among those n at `thresholds`.
    pub losses: usize,
    /// P(Binom(n, α) ≤ losses): the p-value of `thresholds` (≤ δ when certified).
    pub p_value: f64,
    /// The certified upper bound on the risk (mean loss, a fraction), which bounds the accuracy
    /// drop: α = max_drop / 100 when certified, `None` when nothing is.
    pub risk_upper_bound: Option<f64>,
    /// Points of the path certified (rejected nulls), and the path's length.
    pub steps_certified: usize,
    pub path_length: usize,
    /// Fewest test images with which α could be certified at δ at all (with zero losses):
    /// ⌈ln δ / ln(1 − α)⌉.
    pub min_images: u64,
    /// 1 − mean MACs / MACs of the plain network at `thresholds`, over every calibration image.
    pub macs_saved_fraction: f64,
}

/// Checks Learn-then-Test inputs: max_drop in (0, 100] points, δ in (0, 1), a split fraction in
/// (0, 1), all finite. Errors are `BAD_THRESHOLD`.
pub fn check_options(max_drop: f64, options: &CalibrateOptions) -> Result<()> {
    if !(max_drop.is_finite() && max_drop > 0.0 && max_drop <= 100.0) {
        return err(ErrorCode::BadThreshold, format!("max_drop is {max_drop}, must be within (0, 100] points"));
    }
    let d = options.delta;
    if !(d.is_finite() && d > 0.0 && d < 1.0) {
        return err(ErrorCode::BadThreshold, format!("delta is {d}, must be within (0, 1)"));
    }
    if let CalibrationPath::Split { fraction } = options.path {
        if !(fraction.is_finite() && fraction > 0.0 && fraction < 1.0) {
            return err(ErrorCode::BadThreshold, format!("split fraction is {fraction}, must be within (0, 1)"));
        }
    }
    Ok(())
}

/// P(Binom(n, p) ≤ k), exactly up to f64 rounding: the terms are summed in log space
/// (log C(n, j) built up incrementally), so nothing underflows for large n. `p` outside [0, 1]
/// or NaN gives NaN.
pub fn binomial_cdf(k: u64, n: u64, p: f64) -> f64 {
    if !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    if k >= n || p == 0.0 {
        return 1.0;
    }
    if p == 1.0 {
        return 0.0;
    }
    let lq = (-p).ln_1p();
    let ratio = p.ln() - lq;
    let mut term = n as f64 * lq; // log P(X = 0)
    let (mut max, mut sum) = (term, 1.0f64);
    for j in 0..k {
        term += ((n - j) as f64 / (j + 1) as f64).ln() + ratio;
        if term > max {
            sum = sum * (max - term).exp() + 1.0;
            max = term;
        } else {
            sum += (term - max).exp();
        }
    }
    (max + sum.ln()).exp().min(1.0)
}

/// The Learn-then-Test p-value of `losses` among `n` for the null "risk > α".
pub fn p_value(losses: usize, n: usize, alpha: f64) -> f64 {
    binomial_cdf(losses as u64, n as u64, alpha)
}

/// Fewest images with which α can be certified at δ (with zero losses): the least n with
/// (1 − α)^n ≤ δ. α, δ in (0, 1].
pub fn min_images(alpha: f64, delta: f64) -> u64 {
    if alpha >= 1.0 || delta >= 1.0 {
        return 1;
    }
    let guess = (delta.ln() / (-alpha).ln_1p()).ceil();
    if !guess.is_finite() || guess < 1.0 {
        return 1;
    }
    let mut n = guess as u64;
    // The closed form rounds; settle it on the p-value itself.
    while n > 1 && binomial_cdf(0, n - 1, alpha) <= delta {
        n -= 1;
    }
    while binomial_cdf(0, n, alpha) > delta {
        n += 1;
    }
    n
}

/// The data-independent path for `early` early exits: one shared threshold 1.00, 0.99, …, 0.00.
pub fn shared_path(early: usize) -> Vec<Vec<f32>> {
    (0..=100u32).rev().map(|s| vec![s as f32 / 100.0; early]).collect()
}

/// Fixed-sequence testing: the p-value of each step, in order, while steps are rejected
/// (p ≤ δ); the last entry is the first step not rejected, if any. The certified steps are the
/// returned ones with p ≤ δ.
pub fn fixed_sequence(steps: usize, delta: f64, mut p_of: impl FnMut(usize) -> f64) -> Vec<f64> {
    let mut out = Vec::new();
    for j in 0..steps {
        let p = p_of(j);
        out.push(p);
        if p.is_nan() || p > delta {
            break;
        }
    }
    out
}

/// A fixed pseudo-random permutation of 0..n (splitmix64 + Fisher–Yates), the same on every
/// platform.
pub fn permutation(n: usize, seed: u64) -> Vec<usize> {
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut idx: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        idx.swap(i, j);
    }
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cdf_small_exact() {
        assert!((binomial_cdf(3, 10, 0.5) - 0.171875).abs() < 1e-15);
        assert_eq!(binomial_cdf(10, 10, 0.3), 1.0);
        assert_eq!(binomial_cdf(0, 10, 0.0), 1.0);
        assert_eq!(binomial_cdf(3, 10, 1.0), 0.0);
        assert!(binomial_cdf(1, 10, 1.5).is_nan());
        assert!(binomial_cdf(1, 10, f64::NAN).is_nan());
    }

    #[test]
    fn permutation_is_one() {
        let mut p = permutation(1000, SPLIT_SEED);
        assert_ne!(p, (0..1000).collect::<Vec<_>>());
        p.sort();
        assert_eq!(p, (0..1000).collect::<Vec<_>>());
        assert!(permutation(0, 1).is_empty());
    }
}
