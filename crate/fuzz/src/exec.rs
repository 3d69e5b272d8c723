//! One execution: what a case's files do to exitwise. Every failure must be a typed
//! [`exitwise::Error`]; the worker runs this under `catch_unwind`, a time limit and an
//! allocation cap.

use crate::case::{Bases, Case, Files, Run, Target};
use std::collections::BTreeMap;
use crate::rng::Rng;
use exitwise::calibtrace::CalibrationTrace;
use exitwise::pack::Pack;
use exitwise::{Bundle, CpuModel, Evaluation};

/// How far an execution got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A typed error at `stage` (`load`, `prepare`, `classify`, `parse`).
    Error { stage: &'static str, code: &'static str },
    /// Loaded, prepared and classified (or, for a pack, parsed and read back).
    Ok(&'static str),
    /// A result that breaks what the API promises (exit or class out of range).
    Invariant(String),
}

impl Outcome {
    pub fn label(&self) -> String {
        match self {
            Outcome::Error { stage, code } => format!("{stage}:{code}"),
            Outcome::Ok(s) => s.to_string(),
            Outcome::Invariant(_) => "invariant".into(),
        }
    }
}

/// Case `index` of `target` under `seed`.
pub fn generate(target: Target, bases: &Bases, seed: u64, index: u64) -> Case {
    let mut rng = Rng::for_case(seed, target.name(), index);
    let mut case = match target {
        Target::Manifest => crate::manifest::generate(&mut rng, bases),
        Target::Pack => crate::pack::generate(&mut rng, bases),
        Target::Onnx => crate::onnx::generate(&mut rng, bases),
    };
    case.origin = Some((seed, index));
    case
}

/// A valid input for `spec`: values spread over its range.
pub fn valid_input(spec: &exitwise::manifest::InputSpec) -> Vec<f32> {
    let [lo, hi] = spec.range;
    (0..spec.len()).map(|k| lo + (hi - lo) * ((k * 37 % 101) as f32 / 100.0)).collect()
}

/// The base bundles' file maps, kept between executions: a case swaps its files in and the
/// base's back out afterwards (even when the execution panics), so no execution copies a
/// whole bundle.
#[derive(Default)]
pub struct Scratch {
    maps: BTreeMap<String, Files>,
}

struct Swapped<'a> {
    map: &'a mut Files,
    saved: Vec<(String, Option<Vec<u8>>)>,
}

impl Drop for Swapped<'_> {
    fn drop(&mut self) {
        for (k, old) in self.saved.drain(..).rev() {
            match old {
                Some(v) => self.map.insert(k, v),
                None => self.map.remove(&k),
            };
        }
    }
}

impl Scratch {
    fn swap_in<'a>(&'a mut self, bases: &Bases, case: &mut Case) -> Swapped<'a> {
        let map = self.maps.entry(case.base.clone()).or_insert_with(|| bases.get(&case.base).clone());
        let mut saved = Vec::new();
        for d in &case.drop {
            if !case.set.contains_key(d) {
                saved.push((d.clone(), map.remove(d)));
            }
        }
        for (k, v) in std::mem::take(&mut case.set) {
            saved.push((k.clone(), map.insert(k, v)));
        }
        Swapped { map, saved }
    }
}

/// [`execute_in`] with a scratch of its own (copies the base once).
pub fn execute(case: &Case, bases: &Bases) -> Outcome {
    execute_in(case.clone(), bases, &mut Scratch::default())
}

pub fn execute_in(mut case: Case, bases: &Bases, scratch: &mut Scratch) -> Outcome {
    let fail = |stage, e: exitwise::Error| Outcome::Error { stage, code: e.code.as_str() };
    match &case.run {
        Run::ParsePack(f) if f == crate::trace::FILE => {
            let base = bases.get(&case.base);
            let bytes = case.set.get(f).or_else(|| base.get(f));
            let Some(bytes) = bytes else { return Outcome::Error { stage: "parse", code: "NO_FILE" } };
            let t = match CalibrationTrace::parse(f, bytes) {
                Ok(t) => t,
                Err(e) => return fail("parse", e),
            };
            if t.to_bytes() != *bytes {
                return Outcome::Invariant("a parsed trace does not serialise back to its bytes".into());
            }
            // Checked against the base's own parts, then calibrated on, as a loader would.
            let Some(m) = base.get("manifest.json").and_then(|b| exitwise::manifest::Manifest::parse(b).ok()) else {
                return Outcome::Error { stage: "parse", code: "NO_FILE" };
            };
            if let Err(e) = t.check(f, &m) {
                return fail("check", e);
            }
            // Costs rising by exit (the calibration needs no network, only what an exit costs).
            let (segs, exits) = (m.segments.len(), m.exits.len());
            let costs = exitwise::engine::Costs {
                segments: vec![10; segs],
                exits: vec![1; exits],
                to_exit: (1..=exits as u64).map(|e| 11 * e).collect(),
                plain: 10 * segs as u64 + 1,
                plain_exits: (0..exits).map(|e| e + 1 == exits).collect(),
            };
            match Evaluation::from_calibration_trace(&m, &costs, &t) {
                Ok(ev) => match ev.calibrate(1.0, &exitwise::CalibrateOptions::default()) {
                    Ok(c) if c.thresholds.len() + 1 != m.exits.len() => Outcome::Invariant(format!("{} thresholds for {} exits", c.thresholds.len(), m.exits.len())),
                    Ok(_) => Outcome::Ok("trace-calibrated"),
                    Err(e) => fail("calibrate", e),
                },
                Err(e) => fail("evaluate", e),
            }
        }
        Run::ParsePack(f) => {
            let bytes = case.set.get(f).or_else(|| bases.get(&case.base).get(f));
            let Some(bytes) = bytes else { return Outcome::Error { stage: "parse", code: "NO_FILE" } };
            match Pack::parse(f, bytes) {
                Ok(p) => {
                    let mut sum = 0u64;
                    for i in 0..p.count {
                        sum = sum.wrapping_add(p.image(i).iter().map(|&b| b as u64).sum::<u64>());
                    }
                    std::hint::black_box(sum);
                    if p.to_bytes() != *bytes {
                        return Outcome::Invariant("a parsed pack does not serialise back to its bytes".into());
                    }
                    Outcome::Ok("parsed")
                }
                Err(e) => fail("parse", e),
            }
        }
        Run::Bundle => {
            let files = scratch.swap_in(bases, &mut case);
            let bundle = match Bundle::from_files(files.map) {
                Ok(b) => b,
                Err(e) => return fail("load", e),
            };
            drop(files);
            let model = match CpuModel::new(bundle) {
                Ok(m) => m,
                Err(e) => return fail("prepare", e),
            };
            let m = model.manifest();
            let input = valid_input(&m.input);
            match model.classify(&input, &m.default_thresholds()) {
                Ok(c) if c.exit >= m.exits.len() || c.class >= m.classes() || c.probabilities.len() != m.classes() => {
                    Outcome::Invariant(format!("exit {} class {} of {} exits and {} classes", c.exit, c.class, m.exits.len(), m.classes()))
                }
                Ok(_) => Outcome::Ok("classified"),
                Err(e) => fail("classify", e),
            }
        }
    }
}
