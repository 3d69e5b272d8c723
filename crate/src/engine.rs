//! The engine: runs a bundle segment by segment on a [`Backend`] and stops at the first exit that
//! fires — later segments never run. `trace` runs everything once so that `decide` can answer for
//! any thresholds without re-running the network.
//!
//! Running is async at heart (a browser GPU read-back completes only from the JS event loop):
//! `classify_async`, `trace_async` and `trace_batch_async` hold the logic, and `classify`,
//! `trace` and `trace_batch` drive them to completion (see [`crate::backend::wait`]).

use crate::backend::{wait, Backend, HostTensor};
use crate::bundle::Bundle;
use crate::error::{err, Error, ErrorCode, Result};
use crate::input::normalize;
use crate::manifest::{Manifest, Step, INPUT};
use crate::rules::{argmax, confidence, softmax};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use web_time::Instant;

/// What one exit said about one input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExitOutput {
    pub probabilities: Vec<f32>,
    pub class: usize,
    pub confidence: f32,
}

/// Every exit's output for one input: enough to decide for any thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Trace {
    pub exits: Vec<ExitOutput>,
}

/// One evaluated exit, as reported in a [`Classification`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExitRecord {
    pub exit: usize,
    pub name: String,
    pub confidence: f32,
    /// `None` for the final classifier, which always fires.
    pub threshold: Option<f32>,
    pub class: usize,
    pub fired: bool,
}

/// The result of classifying one input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Classification {
    /// Index of the exit that fired (the last index is the final classifier).
    pub exit: usize,
    pub exit_name: String,
    pub class: usize,
    pub label: String,
    pub confidence: f32,
    pub probabilities: Vec<f32>,
    /// The exits evaluated, in order; the last one fired.
    pub exits: Vec<ExitRecord>,
    pub segments_run: usize,
    /// MACs executed: every segment run and every exit head evaluated.
    pub macs_executed: u64,
    /// MACs of the plain network (see [`Costs::plain`]).
    pub macs_full: u64,
    /// 1 − macs_executed / macs_full.
    pub flops_saved: f64,
    /// Wall time of the run in milliseconds (0 for `decide`).
    pub elapsed_ms: f64,
    pub backend: String,
}

/// MACs per part and what each exit costs when it fires.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Costs {
    pub segments: Vec<u64>,
    pub exits: Vec<u64>,
    /// MACs executed when exit e fires: segments 0..=after(e) and exit heads 0..=e.
    pub to_exit: Vec<u64>,
    /// The plain network: all segments, the final classifier, and any exit head whose outputs
    /// the final classifier consumes (directly or through a segment).
    pub plain: u64,
}

impl Costs {
    pub fn of(bundle: &Bundle) -> Costs {
        let m = &bundle.manifest;
        let segments: Vec<u64> = bundle.segments.iter().map(|p| p.macs).collect();
        let exits: Vec<u64> = bundle.exits.iter().map(|p| p.macs).collect();
        let to_exit = m
            .exits
            .iter()
            .enumerate()
            .map(|(e, x)| segments[..=x.after].iter().sum::<u64>() + exits[..=e].iter().sum::<u64>())
            .collect();
        // Walk back from the final classifier's inputs to find every exit head it depends on.
        let producer: HashMap<&str, Step> = m
            .steps()
            .into_iter()
            .flat_map(|s| m.step_io(s).2.iter().map(move |o| (o.as_str(), s)))
            .collect();
        let last = m.exits.len() - 1;
        let mut needed = vec![false; m.exits.len()];
        needed[last] = true;
        let mut stack: Vec<&str> = m.exits[last].inputs.iter().map(|s| s.as_str()).collect();
        stack.extend(m.segments.iter().flat_map(|s| s.inputs.iter().map(|a| a.as_str())));
        while let Some(a) = stack.pop() {
            if let Some(Step::Exit(e)) = producer.get(a) {
                if !needed[*e] {
                    needed[*e] = true;
                    stack.extend(m.exits[*e].inputs.iter().map(|s| s.as_str()));
                }
            }
        }
        let plain = segments.iter().sum::<u64>()
            + exits.iter().zip(&needed).filter(|(_, n)| **n).map(|(c, _)| c).sum::<u64>();
        Costs { segments, exits, to_exit, plain }
    }
}

/// A loaded model: a bundle prepared on a backend.
pub struct Model<B: Backend> {
    pub bundle: Bundle,
    pub backend: B,
    pub costs: Costs,
    steps: Vec<Step>,
    /// After step s, the activations no later step needs.
    drops: Vec<Vec<String>>,
}

/// Checks a threshold vector: one per early exit, each finite and in [0, 1].
pub fn check_thresholds(m: &Manifest, thresholds: &[f32]) -> Result<()> {
    if thresholds.len() != m.early_exits() {
        return err(ErrorCode::BadThreshold, format!(
            "{} thresholds given, the model has {} early exits (the final classifier takes none)",
            thresholds.len(), m.early_exits()
        ));
    }
    if let Some((i, t)) = thresholds.iter().enumerate().find(|(_, t)| !(0.0..=1.0).contains(*t)) {
        return err(ErrorCode::BadThreshold, format!("threshold {i} is {t}, must be within [0, 1]"));
    }
    Ok(())
}

impl<B: Backend> Model<B> {
    /// Prepares `bundle` on backend `B` (synchronously; see [`Model::with_backend`] for a backend
    /// prepared otherwise, e.g. asynchronously in the browser).
    pub fn new(bundle: Bundle) -> Result<Self> {
        let backend = B::prepare(&bundle)?;
        Model::with_backend(bundle, backend)
    }

    /// A model of `bundle` on a backend already prepared for it.
    pub fn with_backend(bundle: Bundle, backend: B) -> Result<Self> {
        let steps = bundle.manifest.steps();
        let mut last_use: HashMap<&str, usize> = HashMap::new();
        for (s, step) in steps.iter().enumerate() {
            let (_, inputs, outputs) = bundle.manifest.step_io(*step);
            for a in outputs.iter().chain(inputs) {
                last_use.insert(a.as_str(), s);
            }
        }
        let mut drops = vec![Vec::new(); steps.len()];
        for (a, s) in last_use {
            drops[s].push(a.to_string());
        }
        let costs = Costs::of(&bundle);
        Ok(Model { bundle, backend, costs, steps, drops })
    }

    pub fn manifest(&self) -> &Manifest {
        &self.bundle.manifest
    }

    /// Classifies one input (values in the manifest's range, shape C·H·W), stopping at the first
    /// exit whose confidence reaches its threshold.
    pub fn classify(&self, input: &[f32], thresholds: &[f32]) -> Result<Classification> {
        wait::block_on(self.classify_async(input, thresholds))
    }

    /// Runs every segment and every exit once for one input.
    pub fn trace(&self, input: &[f32]) -> Result<Trace> {
        wait::block_on(self.trace_async(input))
    }

    /// Traces `n` inputs stored one after another; in one run per part when the bundle takes a
    /// dynamic batch, else one by one.
    pub fn trace_batch(&self, inputs: &[f32], n: usize) -> Result<Vec<Trace>> {
        wait::block_on(self.trace_batch_async(inputs, n))
    }

    /// [`Model::classify`], awaiting the backend's read-backs.
    pub async fn classify_async(&self, input: &[f32], thresholds: &[f32]) -> Result<Classification> {
        check_thresholds(self.manifest(), thresholds)?;
        let start = Instant::now();
        let x = normalize(&self.manifest().input, input, 1)?;
        let (outputs, segments_run) = self
            .run(x, 1, |e, out| thresholds.get(e).is_none_or(|t| out[0].confidence >= *t))
            .await?;
        let trace = Trace { exits: outputs.into_iter().map(|mut o| o.remove(0)).collect() };
        let mut c = self.decide_evaluated(&trace, thresholds)?;
        debug_assert_eq!(c.segments_run, segments_run);
        c.elapsed_ms = start.elapsed().as_secs_f64() * 1e3;
        Ok(c)
    }

    /// [`Model::trace`], awaiting the backend's read-backs.
    pub async fn trace_async(&self, input: &[f32]) -> Result<Trace> {
        let x = normalize(&self.manifest().input, input, 1)?;
        Ok(self.traced(x, 1).await?.remove(0))
    }

    /// [`Model::trace_batch`], awaiting the backend's read-backs.
    pub async fn trace_batch_async(&self, inputs: &[f32], n: usize) -> Result<Vec<Trace>> {
        let x = normalize(&self.manifest().input, inputs, n)?;
        if n == 1 || self.bundle.batchable() {
            return self.traced(x, n).await;
        }
        // `normalize` checked that `inputs` holds exactly n inputs of this length.
        let len = self.manifest().input.len();
        let mut traces = Vec::with_capacity(n);
        for i in 0..n {
            let x = normalize(&self.manifest().input, &inputs[i * len..(i + 1) * len], 1)?;
            traces.extend(self.traced(x, 1).await?);
        }
        Ok(traces)
    }

    /// Runs every part on the normalised batch `x` of `n` inputs; one trace per input.
    async fn traced(&self, x: HostTensor, n: usize) -> Result<Vec<Trace>> {
        let (outputs, _) = self.run(x, n, |_, _| false).await?;
        Ok((0..n).map(|i| Trace { exits: outputs.iter().map(|o| o[i].clone()).collect() }).collect())
    }

    /// The result `classify` would give at these thresholds, from a trace, without running.
    pub fn decide(&self, trace: &Trace, thresholds: &[f32]) -> Result<Classification> {
        check_thresholds(self.manifest(), thresholds)?;
        let m = self.manifest();
        if trace.exits.len() != m.exits.len() || trace.exits.iter().any(|o| o.probabilities.len() != m.classes()) {
            return err(ErrorCode::BadInput, format!(
                "the trace does not belong to this model: need {} exits of {} probabilities",
                m.exits.len(), m.classes()
            ));
        }
        self.decide_evaluated(trace, thresholds)
    }

    /// `decide` over the exits present in `trace` (classify passes only the ones it ran).
    fn decide_evaluated(&self, trace: &Trace, thresholds: &[f32]) -> Result<Classification> {
        let m = self.manifest();
        let last = m.exits.len() - 1;
        let fired = (0..trace.exits.len())
            .find(|&e| e == last || thresholds.get(e).is_some_and(|t| trace.exits[e].confidence >= *t))
            .ok_or_else(|| Error::new(ErrorCode::Backend, "no exit fired"))?;
        let exits = (0..=fired)
            .map(|e| ExitRecord {
                exit: e,
                name: m.exits[e].name.clone(),
                confidence: trace.exits[e].confidence,
                threshold: thresholds.get(e).copied(),
                class: trace.exits[e].class,
                fired: e == fired,
            })
            .collect();
        let out = &trace.exits[fired];
        let macs_executed = self.costs.to_exit[fired];
        Ok(Classification {
            exit: fired,
            exit_name: m.exits[fired].name.clone(),
            class: out.class,
            label: m.labels.get(out.class).cloned().unwrap_or_default(),
            confidence: out.confidence,
            probabilities: out.probabilities.clone(),
            exits,
            segments_run: m.exits[fired].after + 1,
            macs_executed,
            macs_full: self.costs.plain,
            flops_saved: saved(macs_executed, self.costs.plain),
            elapsed_ms: 0.0,
            backend: self.backend.name().to_string(),
        })
    }

    /// Runs steps in order; after each exit head, `stop(e, outputs)` may end the run.
    /// Returns the outputs of every exit evaluated (per exit, one per batch item) and the
    /// number of segments run.
    async fn run(
        &self,
        x: HostTensor,
        n: usize,
        mut stop: impl FnMut(usize, &[ExitOutput]) -> bool,
    ) -> Result<(Vec<Vec<ExitOutput>>, usize)> {
        let m = self.manifest();
        let mut acts: HashMap<&str, B::Activation> = HashMap::new();
        acts.insert(INPUT, self.backend.upload(x)?);
        let mut exit_outputs = Vec::new();
        let mut segments_run = 0;
        for (s, step) in self.steps.iter().enumerate() {
            let (_, inputs, outputs) = m.step_io(*step);
            let args = inputs
                .iter()
                .map(|a| acts.get(a.as_str()).cloned())
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| Error::new(ErrorCode::Backend, "an activation was dropped too early"))?;
            let results = match step {
                Step::Segment(k) => {
                    segments_run += 1;
                    self.backend.run_segment(*k, &args)?
                }
                Step::Exit(e) => self.backend.run_exit(*e, &args)?,
            };
            if results.len() != outputs.len() {
                return err(ErrorCode::Backend, format!("a part gave {} outputs, expected {}", results.len(), outputs.len()));
            }
            for (name, value) in outputs.iter().zip(results) {
                acts.insert(name.as_str(), value);
            }
            if let Step::Exit(e) = step {
                let out = self.exit_outputs(*e, &acts, n).await?;
                let done = stop(*e, &out);
                exit_outputs.push(out);
                if done {
                    break;
                }
            }
            for a in &self.drops[s] {
                acts.remove(a.as_str());
            }
        }
        Ok((exit_outputs, segments_run))
    }

    async fn exit_outputs(&self, e: usize, acts: &HashMap<&str, B::Activation>, n: usize) -> Result<Vec<ExitOutput>> {
        let x = &self.manifest().exits[e];
        let c = self.manifest().classes();
        let logits = self.fetch(e, acts, &x.logits, n * c).await?;
        let learned = match x.confidence.as_deref() {
            Some(name) => Some(self.fetch(e, acts, name, n).await?),
            None => None,
        };
        Ok((0..n)
            .map(|i| {
                let probabilities = softmax(&logits[i * c..(i + 1) * c]);
                let conf = confidence(x.rule, &probabilities, learned.as_ref().map(|l| l[i]));
                ExitOutput { class: argmax(&probabilities), confidence: conf, probabilities }
            })
            .collect())
    }

    /// Reads back activation `name` of exit `e`, which must hold `len` values.
    async fn fetch(&self, e: usize, acts: &HashMap<&str, B::Activation>, name: &str, len: usize) -> Result<Vec<f32>> {
        let a = acts.get(name).ok_or_else(|| Error::new(ErrorCode::Backend, format!("{name} missing")))?;
        let t = self.backend.download(a).await?;
        if t.data.len() != len {
            let file = &self.manifest().exits[e].file;
            return err(ErrorCode::Backend, format!("{file}: {name} has {} values, expected {len}", t.data.len()));
        }
        Ok(t.data)
    }
}

/// 1 − executed / plain.
pub fn saved(executed: u64, plain: u64) -> f64 {
    if plain == 0 {
        0.0
    } else {
        1.0 - executed as f64 / plain as f64
    }
}
