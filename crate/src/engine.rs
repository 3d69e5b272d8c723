//! The engine: runs a bundle segment by segment on a [`Backend`] and stops at the first exit that
//! fires — later segments never run. `trace` runs everything once so that `decide` can answer for
//! any thresholds without re-running the network.
//!
//! Running is async at heart (a browser GPU read-back completes only from the JS event loop):
//! `classify_async`, `trace_async` and `trace_batch_async` hold the logic, and `classify`,
//! `trace` and `trace_batch` drive them to completion (see [`crate::backend::wait`]).

use crate::backend::{wait, Backend};
use crate::bundle::Bundle;
use crate::error::{err, Error, ErrorCode, Result};
use crate::input::{input_shape, normalize_into};
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
    /// Per exit: whether the plain network runs its head (the final classifier, and the heads
    /// it consumes).
    pub plain_exits: Vec<bool>,
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
        Costs { segments, exits, to_exit, plain, plain_exits: needed }
    }

    /// Whether the plain network runs exit head `e`.
    pub fn in_plain(&self, e: usize) -> bool {
        self.plain_exits.get(e).copied().unwrap_or(false)
    }
}

/// The result of classifying a batch with early exit ([`Model::classify_batch`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchClassification {
    /// One per input, in order; each equal to what [`Model::classify`] gives for that input,
    /// except `elapsed_ms`, which is 0 (the batch ran as one).
    pub classifications: Vec<Classification>,
    /// MACs executed over the whole batch.
    pub macs_executed: u64,
    /// MACs of the plain network over the whole batch.
    pub macs_full: u64,
    /// 1 − macs_executed / macs_full.
    pub flops_saved: f64,
    /// Wall time of the whole batch in milliseconds.
    pub elapsed_ms: f64,
    pub backend: String,
}

/// The dataflow between parts, compiled at load into slot indices so that a run does no name
/// lookups.
#[derive(Debug, Clone)]
struct Flow {
    steps: Vec<FlowStep>,
    /// Number of activation slots; slot 0 is the input.
    slots: usize,
}

#[derive(Debug, Clone)]
struct FlowStep {
    step: Step,
    /// (slot, last use): an activation at its last use is moved into the part, not shared.
    args: Vec<(usize, bool)>,
    outputs: Vec<usize>,
    /// For an exit: the slots of its logits and learned confidence.
    exit: Option<(usize, Option<usize>)>,
    /// Slots no later step reads (outputs only read back, or never used).
    drops: Vec<usize>,
}

impl Flow {
    /// The flow through `steps` (a subset of the manifest's, in order).
    fn compile(m: &Manifest, steps: &[Step]) -> Result<Flow> {
        let mut slot_of: HashMap<&str, usize> = HashMap::from([(INPUT, 0)]);
        let mut last_use: Vec<usize> = vec![0];
        let mut out = Vec::with_capacity(steps.len());
        for (s, step) in steps.iter().enumerate() {
            let (file, inputs, outputs) = m.step_io(*step);
            let mut args = Vec::with_capacity(inputs.len());
            for a in inputs {
                let slot = *slot_of.get(a.as_str()).ok_or_else(|| {
                    Error::new(ErrorCode::BadManifest, format!("{file}: input {a:?} is not produced before it"))
                })?;
                last_use[slot] = s;
                args.push((slot, false));
            }
            let mut slots = Vec::with_capacity(outputs.len());
            for o in outputs {
                let slot = last_use.len();
                last_use.push(s);
                slot_of.insert(o.as_str(), slot);
                slots.push(slot);
            }
            let exit = match step {
                Step::Exit(e) => {
                    let x = &m.exits[*e];
                    let find = |name: &str| {
                        slot_of.get(name).copied().ok_or_else(|| {
                            Error::new(ErrorCode::BadManifest, format!("{}: {name:?} is not among its outputs", x.file))
                        })
                    };
                    Some((find(&x.logits)?, x.confidence.as_deref().map(find).transpose()?))
                }
                Step::Segment(_) => None,
            };
            out.push(FlowStep { step: *step, args, outputs: slots, exit, drops: Vec::new() });
        }
        for (slot, &s) in last_use.iter().enumerate() {
            let step = &mut out[s];
            match step.args.iter_mut().find(|(a, _)| *a == slot) {
                Some(arg) => arg.1 = true,
                None => step.drops.push(slot),
            }
        }
        // An input named twice by its last reader is shared, not moved, for all but the last.
        for step in &mut out {
            let n = step.args.len();
            for i in 0..n {
                if step.args[i].1 && step.args[i + 1..].iter().any(|(a, _)| *a == step.args[i].0) {
                    step.args[i].1 = false;
                }
            }
        }
        Ok(Flow { steps: out, slots: last_use.len() })
    }
}

/// A loaded model: a bundle prepared on a backend.
pub struct Model<B: Backend> {
    pub bundle: Bundle,
    pub backend: B,
    pub costs: Costs,
    /// Every part, in manifest order.
    flow: Flow,
    /// The plain network: segments, the final classifier and the exit heads it consumes.
    plain: Flow,
}

/// Checks a threshold vector: one per early exit, each finite and in [0, 1].
/// Tolerance for a trace's probabilities and confidences: what f32 rounding can explain.
const TRACE_SLACK: f32 = 1e-4;

/// A trace from outside (JS, a file) is only decided on if it is one this model could have
/// produced: the right shape, distributions that are distributions, each class the argmax of
/// its probabilities, and each confidence what the exit's rule computes from them (a learned
/// confidence, from its own head, only needs to be in [0, 1]). Anything else would give a
/// confident-looking answer from forged numbers.
pub fn check_trace(m: &Manifest, trace: &Trace) -> Result<()> {
    let bad = |msg: String| err(ErrorCode::BadInput, format!("not a trace of this model: {msg}"));
    if trace.exits.len() != m.exits.len() {
        return bad(format!("{} exits, the model has {}", trace.exits.len(), m.exits.len()));
    }
    for (e, (o, spec)) in trace.exits.iter().zip(&m.exits).enumerate() {
        let p = &o.probabilities;
        if p.len() != m.classes() {
            return bad(format!("exit {e} has {} probabilities, the model has {} classes", p.len(), m.classes()));
        }
        if p.iter().any(|&x| !(x >= 0.0 && x <= 1.0 + TRACE_SLACK)) {
            return bad(format!("exit {e}: a probability is not a number in [0, 1]"));
        }
        let sum: f32 = p.iter().sum();
        if (sum - 1.0).abs() > 1e-3 {
            return bad(format!("exit {e}: probabilities sum to {sum}, not 1"));
        }
        let best = p.iter().copied().fold(0.0, f32::max);
        if p.get(o.class).is_none_or(|&x| x < best) {
            return bad(format!("exit {e}: class {} is not the most probable one", o.class));
        }
        let c = o.confidence;
        let expected = match spec.rule {
            crate::manifest::ExitRule::Learned => None,
            rule => Some(confidence(rule, p, None)),
        };
        if !(0.0..=1.0).contains(&c) || expected.is_some_and(|x| (x - c).abs() > TRACE_SLACK) {
            return bad(format!("exit {e}: confidence {c} is not what its rule gives"));
        }
    }
    Ok(())
}

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
        let costs = Costs::of(&bundle);
        let m = &bundle.manifest;
        let steps = m.steps();
        let flow = Flow::compile(m, &steps)?;
        let plain_steps: Vec<Step> = steps
            .into_iter()
            .filter(|s| match s {
                Step::Segment(_) => true,
                Step::Exit(e) => costs.in_plain(*e),
            })
            .collect();
        let plain = Flow::compile(m, &plain_steps)?;
        Ok(Model { bundle, backend, costs, flow, plain })
    }

    pub fn manifest(&self) -> &Manifest {
        &self.bundle.manifest
    }

    /// Classifies one input (values in the manifest's range, shape C·H·W), stopping at the first
    /// exit whose confidence reaches its threshold.
    pub fn classify(&self, input: &[f32], thresholds: &[f32]) -> Result<Classification> {
        wait::block_on(self.classify_async(input, thresholds))
    }

    /// Classifies `n` inputs stored one after another with early exit at batch `n`: the batch
    /// runs part by part, and after each exit the inputs that fired leave it, so later parts run
    /// only on what is left. Each result equals [`Model::classify`] on that input.
    pub fn classify_batch(&self, inputs: &[f32], n: usize, thresholds: &[f32]) -> Result<BatchClassification> {
        wait::block_on(self.classify_batch_async(inputs, n, thresholds))
    }

    /// The plain network on one input: every segment and the final classifier (and the exit
    /// heads it consumes), no early exit — the cost early exit is measured against.
    pub fn classify_full(&self, input: &[f32]) -> Result<Classification> {
        wait::block_on(self.classify_full_async(input))
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

    /// A hint that batches of `n` inputs will come often (evaluation's chunk size), so the
    /// backend may plan for that size now rather than use its general plan.
    pub fn plan_batch(&self, n: usize) -> Result<()> {
        self.backend.plan_batch(n)
    }

    /// [`Model::classify`], awaiting the backend's read-backs.
    pub async fn classify_async(&self, input: &[f32], thresholds: &[f32]) -> Result<Classification> {
        check_thresholds(self.manifest(), thresholds)?;
        let start = Instant::now();
        let x = self.input(input, 1)?;
        let mut ran = self.run(&self.flow, x, 1, Some(thresholds)).await?;
        let outs = ran.pop().ok_or_else(|| Error::new(ErrorCode::Backend, "no result"))?;
        let mut c = self.classification(outs, thresholds)?;
        c.elapsed_ms = start.elapsed().as_secs_f64() * 1e3;
        Ok(c)
    }

    /// [`Model::classify_batch`], awaiting the backend's read-backs.
    pub async fn classify_batch_async(&self, inputs: &[f32], n: usize, thresholds: &[f32]) -> Result<BatchClassification> {
        check_thresholds(self.manifest(), thresholds)?;
        let start = Instant::now();
        let mut classifications = Vec::with_capacity(n);
        if n == 1 || self.bundle.batchable() {
            let x = self.input(inputs, n)?;
            for outs in self.run(&self.flow, x, n, Some(thresholds)).await? {
                classifications.push(self.classification(outs, thresholds)?);
            }
        } else {
            input_shape(&self.manifest().input, inputs, n)?;
            for one in inputs.chunks_exact(self.manifest().input.len()) {
                classifications.push(self.classify_async(one, thresholds).await?);
            }
        }
        let macs_executed = classifications.iter().map(|c| c.macs_executed).sum::<u64>();
        for c in &mut classifications {
            c.elapsed_ms = 0.0;
        }
        let macs_full = self.costs.plain.saturating_mul(n as u64);
        Ok(BatchClassification {
            classifications,
            macs_executed,
            macs_full,
            flops_saved: saved(macs_executed, macs_full),
            elapsed_ms: start.elapsed().as_secs_f64() * 1e3,
            backend: self.backend.name().to_string(),
        })
    }

    /// [`Model::classify_full`], awaiting the backend's read-backs.
    pub async fn classify_full_async(&self, input: &[f32]) -> Result<Classification> {
        let start = Instant::now();
        let x = self.input(input, 1)?;
        let mut ran = self.run(&self.plain, x, 1, None).await?;
        let outs = ran.pop().ok_or_else(|| Error::new(ErrorCode::Backend, "no result"))?;
        // The plain flow evaluates the final classifier last: the same record as an early-exit
        // run with no thresholds, costing the plain network.
        let mut c = self.classification(outs, &[])?;
        c.macs_executed = self.costs.plain;
        c.flops_saved = 0.0;
        c.elapsed_ms = start.elapsed().as_secs_f64() * 1e3;
        Ok(c)
    }

    /// [`Model::trace`], awaiting the backend's read-backs.
    pub async fn trace_async(&self, input: &[f32]) -> Result<Trace> {
        Ok(self.traced(input, 1).await?.remove(0))
    }

    /// [`Model::trace_batch`], awaiting the backend's read-backs.
    pub async fn trace_batch_async(&self, inputs: &[f32], n: usize) -> Result<Vec<Trace>> {
        if n == 1 || self.bundle.batchable() {
            return self.traced(inputs, n).await;
        }
        input_shape(&self.manifest().input, inputs, n)?;
        let mut traces = Vec::with_capacity(n);
        for one in inputs.chunks_exact(self.manifest().input.len()) {
            traces.extend(self.traced(one, 1).await?);
        }
        Ok(traces)
    }

    /// Runs every part on `n` inputs; one trace per input.
    async fn traced(&self, inputs: &[f32], n: usize) -> Result<Vec<Trace>> {
        let x = self.input(inputs, n)?;
        let ran = self.run(&self.flow, x, n, None).await?;
        Ok(ran.into_iter().map(|outs| Trace { exits: outs.into_iter().map(|(_, o)| o).collect() }).collect())
    }

    /// `n` inputs checked and normalised straight into the backend's input.
    fn input(&self, inputs: &[f32], n: usize) -> Result<B::Activation> {
        let spec = &self.manifest().input;
        let shape = input_shape(spec, inputs, n)?;
        self.backend.input(&shape, &mut |out| normalize_into(spec, inputs, out))
    }

    /// The result `classify` would give at these thresholds, from a trace, without running.
    pub fn decide(&self, trace: &Trace, thresholds: &[f32]) -> Result<Classification> {
        check_thresholds(self.manifest(), thresholds)?;
        let m = self.manifest();
        check_trace(m, trace)?;
        let fired = fired_at(&trace.exits, thresholds, m.exits.len() - 1);
        let outs = trace.exits[..=fired].iter().cloned().enumerate().collect();
        self.classification(outs, thresholds)
    }

    /// The classification from the exits evaluated for one input, in order (the last fired).
    fn classification(&self, mut outs: Vec<(usize, ExitOutput)>, thresholds: &[f32]) -> Result<Classification> {
        let m = self.manifest();
        let exits = outs
            .iter()
            .enumerate()
            .map(|(i, (e, o))| ExitRecord {
                exit: *e,
                name: m.exits[*e].name.clone(),
                confidence: o.confidence,
                threshold: thresholds.get(*e).copied(),
                class: o.class,
                fired: i + 1 == outs.len(),
            })
            .collect();
        let (fired, out) = outs.pop().ok_or_else(|| Error::new(ErrorCode::Backend, "no exit fired"))?;
        let macs_executed = self.costs.to_exit[fired];
        Ok(Classification {
            exit: fired,
            exit_name: m.exits[fired].name.clone(),
            class: out.class,
            label: m.labels.get(out.class).cloned().unwrap_or_default(),
            confidence: out.confidence,
            probabilities: out.probabilities,
            exits,
            segments_run: m.exits[fired].after + 1,
            macs_executed,
            macs_full: self.costs.plain,
            flops_saved: saved(macs_executed, self.costs.plain),
            elapsed_ms: 0.0,
            backend: self.backend.name().to_string(),
        })
    }

    /// Runs `flow` on the batch `x` of `n` inputs. With `thresholds`, each input leaves the
    /// batch at the first exit that fires (the rest are gathered into a smaller batch and go
    /// on); without, every exit runs. Returns, per input, the exits evaluated in order as
    /// (exit index, output).
    async fn run(
        &self,
        flow: &Flow,
        x: B::Activation,
        n: usize,
        thresholds: Option<&[f32]>,
    ) -> Result<Vec<Vec<(usize, ExitOutput)>>> {
        let last = self.manifest().exits.len() - 1;
        let mut acts: Vec<Option<B::Activation>> = vec![None; flow.slots];
        acts[0] = Some(x);
        let mut per_input: Vec<Vec<(usize, ExitOutput)>> = (0..n).map(|_| Vec::new()).collect();
        // Which inputs the batch rows still are.
        let mut live: Vec<usize> = (0..n).collect();
        for fs in &flow.steps {
            let args = fs
                .args
                .iter()
                .map(|&(slot, moved)| if moved { acts[slot].take() } else { acts[slot].clone() })
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| Error::new(ErrorCode::Backend, "an activation was dropped too early"))?;
            let results = match fs.step {
                Step::Segment(k) => self.backend.run_segment(k, args)?,
                Step::Exit(e) => self.backend.run_exit(e, args)?,
            };
            if results.len() != fs.outputs.len() {
                return err(ErrorCode::Backend, format!("a part gave {} outputs, expected {}", results.len(), fs.outputs.len()));
            }
            for (&slot, value) in fs.outputs.iter().zip(results) {
                acts[slot] = Some(value);
            }
            let mut keep = None;
            if let (Step::Exit(e), Some((logits, conf))) = (fs.step, fs.exit) {
                let outs = self.exit_outputs(e, &acts, logits, conf, live.len()).await?;
                let mut stay = Vec::with_capacity(live.len());
                for (row, o) in outs.into_iter().enumerate() {
                    let fires = thresholds.is_some_and(|t| e == last || t.get(e).is_some_and(|t| o.confidence >= *t));
                    per_input[live[row]].push((e, o));
                    if !fires {
                        stay.push(row);
                    }
                }
                if thresholds.is_some() && stay.len() < live.len() {
                    keep = Some(stay);
                }
            }
            for &d in &fs.drops {
                acts[d] = None;
            }
            if let Some(rows) = keep {
                if rows.is_empty() {
                    break;
                }
                for a in acts.iter_mut() {
                    if let Some(v) = a.as_ref() {
                        *a = Some(self.backend.gather(v, &rows).await?);
                    }
                }
                live = rows.iter().map(|&r| live[r]).collect();
            }
        }
        Ok(per_input)
    }

    /// Exit `e`'s outputs for each of the `n` batch rows, from its logits (and learned
    /// confidence) slots.
    async fn exit_outputs(
        &self,
        e: usize,
        acts: &[Option<B::Activation>],
        logits: usize,
        conf: Option<usize>,
        n: usize,
    ) -> Result<Vec<ExitOutput>> {
        let x = &self.manifest().exits[e];
        let c = self.manifest().classes();
        // Logits and learned confidence come back together: one read-back per exit evaluated.
        let mut wanted = vec![(logits, x.logits.as_str(), n * c)];
        if let (Some(slot), Some(name)) = (conf, x.confidence.as_deref()) {
            wanted.push((slot, name, n));
        }
        let mut got = self.fetch(e, acts, &wanted).await?.into_iter();
        let logits = got.next().ok_or_else(|| Error::new(ErrorCode::Backend, format!("{} missing", x.logits)))?;
        let learned = got.next();
        Ok(logits
            .chunks_exact(c.max(1))
            .enumerate()
            .map(|(i, l)| {
                let probabilities = softmax(l);
                let conf = confidence(x.rule, &probabilities, learned.as_ref().and_then(|l| l.get(i).copied()));
                ExitOutput { class: argmax(&probabilities), confidence: conf, probabilities }
            })
            .collect())
    }

    /// Reads back exit `e`'s activations `(slot, name, values it must hold)` in one go.
    async fn fetch(&self, e: usize, acts: &[Option<B::Activation>], wanted: &[(usize, &str, usize)]) -> Result<Vec<Vec<f32>>> {
        let found = wanted
            .iter()
            .map(|&(slot, name, _)| {
                acts.get(slot).and_then(|a| a.as_ref()).ok_or_else(|| Error::new(ErrorCode::Backend, format!("{name} missing")))
            })
            .collect::<Result<Vec<_>>>()?;
        let tensors = self.backend.download_all(&found).await?;
        if tensors.len() != wanted.len() {
            return err(ErrorCode::Backend, format!("{} tensors read back, {} asked for", tensors.len(), wanted.len()));
        }
        tensors
            .into_iter()
            .zip(wanted)
            .map(|(t, &(_, name, len))| {
                if t.data.len() != len {
                    let file = &self.manifest().exits[e].file;
                    return err(ErrorCode::Backend, format!("{file}: {name} has {} values, expected {len}", t.data.len()));
                }
                Ok(t.data)
            })
            .collect()
    }
}

/// The first exit whose confidence reaches its threshold (the final classifier, `last`, always
/// fires).
fn fired_at(outs: &[ExitOutput], thresholds: &[f32], last: usize) -> usize {
    (0..outs.len())
        .find(|&e| e == last || thresholds.get(e).is_some_and(|t| outs[e].confidence >= *t))
        .unwrap_or(last.min(outs.len().saturating_sub(1)))
}

/// 1 − executed / plain.
pub fn saved(executed: u64, plain: u64) -> f64 {
    if plain == 0 {
        0.0
    } else {
        1.0 - executed as f64 / plain as f64
    }
}
