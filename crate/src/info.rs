//! A serialisable description of a loaded model (JS `info()`, CLI `info`).

use crate::backend::Backend;
use crate::engine::Model;
use crate::manifest::{ExitRule, InputSpec};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SegmentInfo {
    pub name: String,
    pub file: String,
    pub macs: u64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExitInfo {
    pub name: String,
    pub after: usize,
    pub file: String,
    pub rule: ExitRule,
    pub threshold: Option<f32>,
    pub macs: u64,
    pub cumulative_macs: u64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InputInfo {
    pub shape: Vec<usize>,
    pub range: [f32; 2],
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelInfo {
    pub name: String,
    pub description: Option<String>,
    pub labels: Vec<String>,
    pub input: InputInfo,
    pub segments: Vec<SegmentInfo>,
    pub exits: Vec<ExitInfo>,
    pub macs_full: u64,
    pub default_thresholds: Vec<f32>,
    pub backend: String,
    pub has_test_pack: bool,
    pub has_calibration_pack: bool,
    /// A calibration trace was loaded (bound to these parts): `calibrate` reads it.
    pub has_calibration_trace: bool,
}

impl ModelInfo {
    pub fn of<B: Backend>(model: &Model<B>) -> ModelInfo {
        let m = model.manifest();
        let last = m.exits.len() - 1;
        let InputSpec { shape, range, mean, std, .. } = m.input.clone();
        ModelInfo {
            name: m.name.clone(),
            description: m.description.clone(),
            labels: m.labels.clone(),
            input: InputInfo { shape, range, mean, std },
            segments: m
                .segments
                .iter()
                .zip(&model.costs.segments)
                .map(|(s, &macs)| SegmentInfo { name: s.name.clone(), file: s.file.clone(), macs })
                .collect(),
            exits: m
                .exits
                .iter()
                .enumerate()
                .map(|(e, x)| ExitInfo {
                    name: x.name.clone(),
                    after: x.after,
                    file: x.file.clone(),
                    rule: x.rule,
                    threshold: if e == last { None } else { x.threshold },
                    macs: model.costs.exits[e],
                    cumulative_macs: model.costs.to_exit[e],
                })
                .collect(),
            macs_full: model.costs.plain,
            default_thresholds: m.default_thresholds(),
            backend: model.backend.name().to_string(),
            has_test_pack: m.test_pack.is_some(),
            has_calibration_pack: m.calibration_pack.is_some(),
            has_calibration_trace: m.calibration_trace.as_ref().is_some_and(|r| model.bundle.data.contains_key(&r.file)),
        }
    }
}
