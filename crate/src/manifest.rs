//! `manifest.json` of an `exitwise/1` bundle: parsing and the rules that need no ONNX file.
//! The format is specified in `crate/BUNDLE.md`.

use crate::error::{err, ErrorCode, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

pub const FORMAT: &str = "exitwise/1";
/// The activation name bound to the (normalised) model input.
pub const INPUT: &str = "input";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub format: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub labels: Vec<String>,
    pub input: InputSpec,
    pub segments: Vec<SegmentSpec>,
    pub exits: Vec<ExitSpec>,
    #[serde(default)]
    pub test_pack: Option<FileRef>,
    #[serde(default)]
    pub calibration_pack: Option<FileRef>,
    #[serde(default)]
    pub reference: Option<FileRef>,
    /// Per image of a held-out split, every exit's confidence and class (`EWCT`,
    /// [`crate::calibtrace`]): what calibration reads when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration_trace: Option<FileRef>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InputSpec {
    /// `[1, C, H, W]`.
    pub shape: Vec<usize>,
    #[serde(default = "default_dtype")]
    pub dtype: String,
    #[serde(default = "default_layout")]
    pub layout: String,
    /// Value range before normalisation, e.g. `[0, 1]`.
    pub range: [f32; 2],
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

fn default_dtype() -> String {
    "f32".into()
}
fn default_layout() -> String {
    "NCHW".into()
}

impl InputSpec {
    pub fn channels(&self) -> usize {
        self.shape.get(1).copied().unwrap_or(0)
    }
    pub fn height(&self) -> usize {
        self.shape.get(2).copied().unwrap_or(0)
    }
    pub fn width(&self) -> usize {
        self.shape.get(3).copied().unwrap_or(0)
    }
    /// Elements of one input (C·H·W).
    pub fn len(&self) -> usize {
        // Saturating: a parsed manifest's dims are bounded (validate), an unchecked one is not.
        self.channels().saturating_mul(self.height()).saturating_mul(self.width())
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileRef {
    pub file: String,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SegmentSpec {
    pub name: String,
    pub file: String,
    pub sha256: String,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ExitRule {
    /// The head's own sigmoid confidence output (EENet, PTEENet).
    Learned,
    /// Max softmax probability (T-RECX, SDN).
    MaxSoftmax,
    /// 1 − H(p)/ln(C) (BranchyNet).
    Entropy,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExitSpec {
    pub name: String,
    /// Index of the segment after which this exit is evaluated.
    pub after: usize,
    pub file: String,
    pub sha256: String,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    /// Name of the output holding class scores `[N, C]` (before softmax).
    pub logits: String,
    /// Name of the output holding a sigmoid confidence `[N, 1]`.
    #[serde(default)]
    pub confidence: Option<String>,
    pub rule: ExitRule,
    /// Default threshold in [0, 1]; ignored for the final exit.
    #[serde(default)]
    pub threshold: Option<f32>,
}

/// One step of execution: a segment or an exit head, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Segment(usize),
    Exit(usize),
}

impl Manifest {
    pub fn parse(bytes: &[u8]) -> Result<Manifest> {
        // Before parsing: a few hundred MB of JSON lists parse into gigabytes of strings (found
        // by crate/fuzz: 5,000 exits of 5,000 inputs each). Real manifests are a few KB.
        if bytes.len() > MAX_MANIFEST_BYTES {
            return err(ErrorCode::BadManifest, format!(
                "manifest.json is {} bytes; the limit is {MAX_MANIFEST_BYTES} (1 MiB)", bytes.len()
            ));
        }
        let m: Manifest = serde_json::from_slice(bytes).or_else(|e| {
            err(ErrorCode::BadManifest, format!("manifest.json is not a valid exitwise manifest: {e}"))
        })?;
        m.validate()?;
        Ok(m)
    }

    pub fn classes(&self) -> usize {
        self.labels.len()
    }

    /// Number of early exits (all exits but the final classifier).
    pub fn early_exits(&self) -> usize {
        self.exits.len().saturating_sub(1)
    }

    /// Default thresholds of the early exits.
    pub fn default_thresholds(&self) -> Vec<f32> {
        self.exits[..self.early_exits()].iter().map(|e| e.threshold.unwrap_or(1.0)).collect()
    }

    /// Segments and exits in execution order.
    pub fn steps(&self) -> Vec<Step> {
        let mut steps = Vec::with_capacity(self.segments.len() + self.exits.len());
        for k in 0..self.segments.len() {
            steps.push(Step::Segment(k));
            steps.extend((0..self.exits.len()).filter(|&e| self.exits[e].after == k).map(Step::Exit));
        }
        steps
    }

    pub fn step_io(&self, step: Step) -> (&str, &[String], &[String]) {
        match step {
            Step::Segment(k) => {
                let s = &self.segments[k];
                (&s.file, &s.inputs, &s.outputs)
            }
            Step::Exit(e) => {
                let x = &self.exits[e];
                (&x.file, &x.inputs, &x.outputs)
            }
        }
    }

    fn validate(&self) -> Result<()> {
        let bad = |msg: String| err(ErrorCode::BadManifest, msg);
        if self.format != FORMAT {
            return bad(format!("format is {:?}, expected {FORMAT:?}", self.format));
        }
        if self.labels.len() < 2 {
            return bad(format!("labels has {} entries, need at least 2 classes", self.labels.len()));
        }
        let i = &self.input;
        if i.shape.len() != 4 || i.shape[0] != 1 || i.shape[1..].iter().any(|&d| d == 0) {
            return bad(format!("input.shape must be [1, C, H, W] with non-zero dims, got {:?}", i.shape));
        }
        // Bounded so that no product of dims (per image, per batch) can overflow downstream.
        if i.shape[1] > MAX_CHANNELS || i.shape[2..].iter().any(|&d| d > MAX_SIDE) || i.len() > MAX_INPUT_VALUES {
            return bad(format!(
                "input.shape {:?} is too large: at most {MAX_CHANNELS} channels, {MAX_SIDE} pixels a side and {MAX_INPUT_VALUES} values",
                i.shape
            ));
        }
        if i.dtype != "f32" || i.layout != "NCHW" {
            return bad(format!("input must be f32 NCHW, got {} {}", i.dtype, i.layout));
        }
        let [lo, hi] = i.range;
        if !(lo.is_finite() && hi.is_finite() && lo < hi) {
            return bad(format!("input.range must be finite with min < max, got {:?}", i.range));
        }
        if i.mean.len() != i.channels() || i.std.len() != i.channels() {
            return bad(format!(
                "input.mean and input.std need {} entries (one per channel), got {} and {}",
                i.channels(),
                i.mean.len(),
                i.std.len()
            ));
        }
        if i.mean.iter().any(|m| !m.is_finite()) || i.std.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return bad("input.mean must be finite and input.std finite and > 0".into());
        }
        if self.segments.is_empty() {
            return bad("segments is empty: a bundle needs at least one segment".into());
        }
        if self.exits.is_empty() {
            return bad("exits is empty: the final classifier must be listed as the last exit".into());
        }
        let last = self.segments.len() - 1;
        for (e, x) in self.exits.iter().enumerate() {
            if x.after > last {
                return bad(format!("exit {:?} is after segment {} but there are {} segments", x.name, x.after, last + 1));
            }
            if e > 0 && x.after < self.exits[e - 1].after {
                return bad(format!("exit {:?} is listed after an exit placed later in the network", x.name));
            }
            if !x.outputs.contains(&x.logits) {
                return bad(format!("exit {:?}: logits {:?} is not among its outputs", x.name, x.logits));
            }
            match (&x.confidence, x.rule) {
                (Some(c), _) if !x.outputs.contains(c) => {
                    return bad(format!("exit {:?}: confidence {c:?} is not among its outputs", x.name));
                }
                (None, ExitRule::Learned) => {
                    return bad(format!("exit {:?}: rule \"learned\" needs a confidence output", x.name));
                }
                _ => {}
            }
            let is_final = e + 1 == self.exits.len();
            if let Some(t) = x.threshold {
                if !(0.0..=1.0).contains(&t) {
                    return bad(format!("exit {:?}: threshold {t} is outside [0, 1]", x.name));
                }
            } else if !is_final {
                return bad(format!("exit {:?}: an early exit needs a default threshold", x.name));
            }
        }
        if self.exits[self.exits.len() - 1].after != last {
            return bad("the last exit (the final classifier) must come after the last segment".into());
        }
        for r in [&self.test_pack, &self.calibration_pack, &self.reference, &self.calibration_trace].into_iter().flatten() {
            check_file_name(&r.file)?;
        }
        // Dataflow: every part consumes only activations produced before it; names are unique.
        let mut names = HashSet::new();
        let mut files = HashSet::new();
        let mut known: HashSet<&str> = [INPUT].into_iter().collect();
        for step in self.steps() {
            let (file, inputs, outputs) = self.step_io(step);
            let name = match step {
                Step::Segment(k) => &self.segments[k].name,
                Step::Exit(e) => &self.exits[e].name,
            };
            if !names.insert(name.as_str()) {
                return bad(format!("part name {name:?} is used twice"));
            }
            check_file_name(file)?;
            if !files.insert(file) {
                return bad(format!("file {file:?} is used by two parts"));
            }
            if inputs.is_empty() || outputs.is_empty() {
                return bad(format!("part {name:?} needs at least one input and one output"));
            }
            for a in inputs {
                if !known.contains(a.as_str()) {
                    return bad(format!("part {name:?} consumes {a:?}, which no earlier part produces"));
                }
            }
            for a in outputs {
                if !known.insert(a.as_str()) {
                    return bad(format!("part {name:?} produces {a:?}, which already exists"));
                }
            }
        }
        Ok(())
    }
}

/// Largest manifest.json accepted.
pub const MAX_MANIFEST_BYTES: usize = 1 << 20;
/// Largest input channel count and image side a manifest may declare.
pub const MAX_CHANNELS: usize = 64;
pub const MAX_SIDE: usize = 4096;
/// Most values (C·H·W) one input may have: 64 MiB of f32, so one input always fits in memory.
pub const MAX_INPUT_VALUES: usize = 1 << 24;
/// Longest bundle file name.
const MAX_NAME: usize = 128;

/// A bundle's file names are plain names inside the bundle's folder: letters, digits, `.`, `_`,
/// `-`, no leading dot. No separators, `..`, absolute paths, query strings or fragments, so a
/// manifest can neither reach a file outside its folder on disk nor another URL of the origin.
pub fn check_file_name(name: &str) -> Result<()> {
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if name.is_empty() || name.len() > MAX_NAME || name.starts_with('.') || !name.chars().all(plain) {
        return err(ErrorCode::BadManifest, format!(
            "file name {name:?} is not allowed: use 1–{MAX_NAME} letters, digits, '.', '_' or '-', not starting with '.'"
        ));
    }
    if name == "manifest.json" {
        return err(ErrorCode::BadManifest, "file name \"manifest.json\" is not allowed: it is the manifest itself");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain() -> serde_json::Value {
        serde_json::json!({
            "format": "exitwise/1", "name": "t", "labels": ["a", "b"],
            "input": {"shape": [1, 1, 4, 4], "range": [0.0, 1.0], "mean": [0.0], "std": [1.0]},
            "segments": [
                {"name": "s0", "file": "s0.onnx", "sha256": "", "inputs": ["input"], "outputs": ["a0"]},
                {"name": "s1", "file": "s1.onnx", "sha256": "", "inputs": ["a0"], "outputs": ["a1"]}
            ],
            "exits": [
                {"name": "e0", "after": 0, "file": "e0.onnx", "sha256": "", "inputs": ["a0"],
                 "outputs": ["l0"], "logits": "l0", "rule": "max_softmax", "threshold": 0.9},
                {"name": "f", "after": 1, "file": "f.onnx", "sha256": "", "inputs": ["a1"],
                 "outputs": ["l1"], "logits": "l1", "rule": "entropy"}
            ]
        })
    }

    fn parse(v: &serde_json::Value) -> Result<Manifest> {
        Manifest::parse(&serde_json::to_vec(v).unwrap())
    }

    #[test]
    fn valid_chain_parses_and_orders_steps() {
        let m = parse(&chain()).unwrap();
        assert_eq!(m.steps(), vec![Step::Segment(0), Step::Exit(0), Step::Segment(1), Step::Exit(1)]);
        assert_eq!(m.default_thresholds(), vec![0.9]);
    }

    fn rejects(edit: impl FnOnce(&mut serde_json::Value), needle: &str) {
        let mut v = chain();
        edit(&mut v);
        let e = parse(&v).unwrap_err();
        assert_eq!(e.code, ErrorCode::BadManifest);
        assert!(e.message.contains(needle), "{:?} does not mention {needle:?}", e.message);
    }

    #[test]
    fn rule_violations_are_bad_manifest() {
        rejects(|v| v["format"] = "exitwise/2".into(), "format");
        rejects(|v| v["segments"] = serde_json::json!([]), "segments is empty");
        rejects(|v| v["exits"] = serde_json::json!([]), "exits is empty");
        rejects(|v| v["exits"][1]["after"] = 0.into(), "final classifier");
        rejects(|v| v["exits"][0]["threshold"] = 1.5.into(), "outside [0, 1]");
        rejects(|v| v["exits"][0]["rule"] = "learned".into(), "confidence");
        rejects(|v| v["exits"][1]["inputs"] = serde_json::json!(["nope"]), "no earlier part");
        rejects(|v| v["input"]["std"] = serde_json::json!([0.0]), "std");
        rejects(|v| v["input"]["shape"] = serde_json::json!([1, 28, 28]), "input.shape");
        rejects(|v| v["labels"] = serde_json::json!(["only"]), "labels");
        rejects(|v| v["segments"][1]["name"] = "s0".into(), "twice");
        rejects(|v| v["input"]["shape"] = serde_json::json!([1, 1, 65536, 65536]), "too large");
        rejects(|v| v["input"]["shape"] = serde_json::json!([1, 3, 4096, 4096]), "too large");
    }

    #[test]
    fn file_names_stay_inside_the_bundle() {
        for name in ["../s0.onnx", "/etc/passwd", "a/b.onnx", "a\\b.onnx", "s0.onnx?x=1", "s0.onnx#f", ".hidden", "..", "", "%2e%2e", "C:x", "manifest.json", "é.onnx"] {
            rejects(|v| v["segments"][0]["file"] = name.into(), "not allowed");
        }
        for name in ["../testpack.bin", "https://example.com/p.bin"] {
            rejects(|v| v["test_pack"] = serde_json::json!({"file": name, "sha256": ""}), "not allowed");
        }
        for name in ["seg0.onnx", "exit_1-b.v2.onnx", "T.onnx"] {
            let mut v = chain();
            v["segments"][0]["file"] = name.into();
            assert!(parse(&v).is_ok(), "{name}");
        }
    }

    #[test]
    fn garbage_is_bad_manifest() {
        for bytes in [&b""[..], b"{", b"[]", b"{\"format\": 3}", &[0xff, 0xfe, 0x00]] {
            assert_eq!(Manifest::parse(bytes).unwrap_err().code, ErrorCode::BadManifest);
        }
    }
}
