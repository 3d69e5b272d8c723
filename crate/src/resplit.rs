//! How often a calibration method breaks its budget on data it did not see: the images of a
//! calibration trace and a test trace are pooled, then split at random, many times, into a
//! calibration part and a test part of the original sizes. Each split is calibrated by Learn
//! then Test and by the greedy search, and its test part judges both. Over many splits the
//! share where the test drop exceeds the budget estimates the failure rate LTT promises to keep
//! ≤ δ (issue 13; the report's "re-split violation rate").

use crate::calibrate::{permutation, CalibrateOptions};
use crate::error::{err, ErrorCode, Result};
use crate::eval::Evaluation;
use crate::manifest::Manifest;
use serde::Serialize;

/// What one method did over the splits.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MethodRecord {
    /// Splits whose test drop exceeded the budget.
    pub violations: usize,
    /// violations ÷ splits.
    pub violation_rate: f64,
    /// Mean and largest test drop, in points.
    pub mean_test_drop_pt: f64,
    pub max_test_drop_pt: f64,
    /// Mean fraction of MACs saved on the test parts.
    pub mean_test_macs_saved: f64,
    /// Splits where Learn then Test certified some point (greedy: always every split).
    pub certified: usize,
}

/// The re-split study of one budget.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Resplit {
    pub max_drop: f64,
    pub splits: usize,
    pub seed: u64,
    pub pool: usize,
    pub calibration: usize,
    pub test: usize,
    pub ltt: MethodRecord,
    pub greedy: MethodRecord,
}

/// Most splits one call runs (each calibrates twice).
pub const MAX_SPLITS: usize = 10_000;

/// Pools `calibration` and `test` (both of `manifest`'s model), re-splits them `splits` times
/// (seeded permutations, split `k` uses seed `seed + k`) into parts of the original sizes, and
/// calibrates each calibration part at `max_drop` with LTT (`options`) and greedy.
pub fn resplit(
    manifest: &Manifest,
    calibration: &Evaluation,
    test: &Evaluation,
    max_drop: f64,
    options: &CalibrateOptions,
    splits: usize,
    seed: u64,
) -> Result<Resplit> {
    if splits == 0 || splits > MAX_SPLITS {
        return err(ErrorCode::BadInput, format!("{splits} splits: must be within 1..={MAX_SPLITS}"));
    }
    let mut pool = calibration.clone();
    pool.append(test)?;
    let (n, nc) = (pool.count(), calibration.count());
    let mut ltt = Vec::with_capacity(splits);
    let mut greedy = Vec::with_capacity(splits);
    for k in 0..splits {
        let order = permutation(n, seed.wrapping_add(k as u64));
        let (a, b) = order.split_at(nc);
        let (cal, tst) = (pool.subset(a)?, pool.subset(b)?);
        let c = cal.calibrate(max_drop, options)?;
        ltt.push((tst.summary(&c.thresholds, manifest)?, c.certified));
        let g = cal.calibrate_greedy(max_drop)?;
        greedy.push((tst.summary(&g, manifest)?, true));
    }
    let record = |runs: &[(crate::eval::Summary, bool)]| {
        let drops: Vec<f64> = runs.iter().map(|(s, _)| 100.0 * (s.final_accuracy - s.accuracy)).collect();
        // 1e-9: a drop equal to the budget keeps it (accuracies are ratios of counts).
        let violations = drops.iter().filter(|&&d| d > max_drop + 1e-9).count();
        MethodRecord {
            violations,
            violation_rate: violations as f64 / splits as f64,
            mean_test_drop_pt: drops.iter().sum::<f64>() / splits as f64,
            max_test_drop_pt: drops.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
            mean_test_macs_saved: runs.iter().map(|(s, _)| s.macs_saved_fraction).sum::<f64>() / splits as f64,
            certified: runs.iter().filter(|(_, c)| *c).count(),
        }
    };
    Ok(Resplit {
        max_drop,
        splits,
        seed,
        pool: n,
        calibration: nc,
        test: n - nc,
        ltt: record(&ltt),
        greedy: record(&greedy),
    })
}
