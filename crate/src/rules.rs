//! Exit rules: how an exit's confidence is computed from its outputs.

use crate::manifest::ExitRule;

/// Numerically stable softmax.
pub fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = logits.iter().map(|&l| (l - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

/// Index of the largest value (the first one on ties; NaN never wins).
pub fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] || values[best].is_nan() {
            best = i;
        }
    }
    best
}

/// 1 − H(p)/ln(C): 1 for a one-hot distribution, 0 for a uniform one.
pub fn entropy_confidence(p: &[f32]) -> f32 {
    if p.len() < 2 {
        return 1.0;
    }
    let h: f32 = p.iter().filter(|&&x| x > 0.0).map(|&x| -x * x.ln()).sum();
    (1.0 - h / (p.len() as f32).ln()).clamp(0.0, 1.0)
}

/// The confidence of an exit given its softmax probabilities and, for `learned`, the head's own
/// sigmoid output.
pub fn confidence(rule: ExitRule, probabilities: &[f32], learned: Option<f32>) -> f32 {
    match rule {
        ExitRule::Learned => learned.unwrap_or(f32::NAN).clamp(0.0, 1.0),
        ExitRule::MaxSoftmax => probabilities.iter().copied().fold(0.0, f32::max),
        ExitRule::Entropy => entropy_confidence(probabilities),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_is_a_distribution_and_stable() {
        let p = softmax(&[1000.0, 1000.0, -1000.0]);
        assert!((p[0] - 0.5).abs() < 1e-6 && (p[1] - 0.5).abs() < 1e-6 && p[2] == 0.0);
        let p = softmax(&[1.0, 2.0, 3.0]);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!((p[2] - 0.665_240_9).abs() < 1e-6);
    }

    #[test]
    fn rules_match_hand_values() {
        let uniform = [0.25f32; 4];
        assert!(entropy_confidence(&uniform).abs() < 1e-6);
        assert_eq!(entropy_confidence(&[0.0, 1.0, 0.0]), 1.0);
        // p = (0.5, 0.5, 0, 0): H = ln 2, C = 4 → 1 − ln2/ln4 = 0.5
        assert!((entropy_confidence(&[0.5, 0.5, 0.0, 0.0]) - 0.5).abs() < 1e-6);
        assert_eq!(confidence(ExitRule::MaxSoftmax, &[0.2, 0.7, 0.1], None), 0.7);
        assert_eq!(confidence(ExitRule::Learned, &[0.2, 0.7, 0.1], Some(0.33)), 0.33);
        assert_eq!(argmax(&[0.1, 0.7, 0.7]), 1);
        assert_eq!(argmax(&[f32::NAN, 0.2]), 1);
    }
}
