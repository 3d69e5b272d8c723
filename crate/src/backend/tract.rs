//! The CPU backend: tract's optimised plans (wasm SIMD kernels when built with `+simd128`).
//!
//! Every plan is for a *concrete* batch size: tract optimises a graph with fixed shapes much
//! further than one over the symbolic batch `N` (1.5–6.7× per part; README "CPU hot path").
//! Each part is planned for a batch of 1 at load, and for the bucket sizes 4, 16, 64 and 256 the
//! first time a batch needs one. A batch of any other size (a batch that shrinks as images exit)
//! runs as consecutive sub-batches of bucket sizes — 37 = 16 + 16 + 4 + 1 — so no symbolic plan
//! is ever run. A batch never exceeds what fits the memory budget the bundle was admitted under
//! (admission's per-input estimate × batch): larger ones run as smaller sub-batches. Every plan
//! keeps one spawned tract state across runs (op states, scratch).

use super::{Backend, HostTensor};
use crate::bundle::{Bundle, Part, BATCH};
use crate::error::{tract_chain, Error, ErrorCode, Result};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use tract_onnx::prelude::*;

/// Batch sizes planned (on first use) besides 1, largest first.
const BUCKETS: [usize; 4] = [256, 64, 16, 4];

/// One optimised plan and the tract state it keeps between runs.
struct Plan {
    runnable: Arc<TypedRunnableModel>,
    state: RefCell<Option<TypedSimpleState>>,
}

impl Plan {
    fn new(graph: TypedModel) -> TractResult<Plan> {
        let runnable = super::cpu_kernels::optimize(graph)?.into_runnable()?;
        Ok(Plan { runnable, state: RefCell::new(None) })
    }

    fn run(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        // A run never re-enters another on this thread, but if it ever did, a fresh state is
        // correct, only slower.
        let Ok(mut slot) = self.state.try_borrow_mut() else { return self.runnable.run(inputs) };
        let state = match slot.as_mut() {
            Some(s) => s,
            None => slot.insert(self.runnable.spawn()?),
        };
        state.run(inputs)
    }
}

/// The plans of one part.
struct PartPlans {
    file: String,
    /// The decluttered graph, kept to plan more batch sizes later.
    graph: TypedModel,
    /// `None` when the part takes only a batch of 1.
    batch: Option<Symbol>,
    one: Rc<Plan>,
    sized: RefCell<HashMap<usize, Rc<Plan>>>,
    /// Largest batch whose activations (admission's estimate × batch) fit the bundle's memory
    /// budget: larger batches run as sub-batches no larger than this.
    max_batch: usize,
}

impl PartPlans {
    fn new(part: &Part, budget: u64) -> Result<PartPlans> {
        let batch = part.batchable.then(|| part.graph.sym(BATCH));
        let graph = part.graph.clone();
        let one = Plan::new(concrete(&graph, batch.as_ref(), 1)?).map_err(|e| cannot_plan(part, &e))?;
        let per_input = part.memory.activation_bytes.max(1);
        let max_batch = usize::try_from(budget.saturating_sub(part.memory.constant_bytes) / per_input).unwrap_or(usize::MAX).max(1);
        Ok(PartPlans { file: part.file.clone(), graph, batch, one: Rc::new(one), sized: RefCell::default(), max_batch })
    }

    /// The plan for a batch of exactly `n`, planned now if need be.
    fn plan(&self, n: usize) -> Result<Rc<Plan>> {
        if n == 1 {
            return Ok(Rc::clone(&self.one));
        }
        if self.batch.is_none() {
            return Err(Error::new(ErrorCode::Backend, format!("{}: takes one input at a time, got a batch of {n}", self.file)));
        }
        if let Some(p) = self.sized.borrow().get(&n) {
            return Ok(Rc::clone(p));
        }
        let p = Rc::new(Plan::new(concrete(&self.graph, self.batch.as_ref(), n)?).map_err(|e| self.error(&e))?);
        self.sized.borrow_mut().insert(n, Rc::clone(&p));
        Ok(p)
    }

    fn plan_batch(&self, n: usize) -> Result<()> {
        if self.batch.is_some() && n <= self.max_batch {
            self.plan(n)?;
        }
        Ok(())
    }

    fn run(&self, inputs: Vec<TValue>) -> Result<Vec<TValue>> {
        let n = inputs.first().and_then(|t| t.shape().first().copied()).unwrap_or(1);
        let planned = n == 1 || BUCKETS.contains(&n) || self.sized.borrow().contains_key(&n);
        if (planned && n <= self.max_batch) || self.batch.is_none() {
            let out = self.plan(n)?.run(inputs.into()).map_err(|e| self.error(&e))?;
            return Ok(out.into_iter().collect());
        }
        // Sub-batches of bucket sizes, outputs stacked back along the batch axis.
        let mut outs: Vec<Vec<Tensor>> = Vec::new();
        let mut start = 0;
        while start < n {
            let k = BUCKETS.iter().copied().find(|&b| b <= (n - start).min(self.max_batch)).unwrap_or(1);
            let part = inputs
                .iter()
                .map(|t| t.slice(0, start, start + k).map(|t| t.into_tvalue()))
                .collect::<TractResult<TVec<_>>>()
                .map_err(|e| self.error(&e))?;
            let out = self.plan(k)?.run(part).map_err(|e| self.error(&e))?;
            outs.resize_with(out.len(), Vec::new);
            for (o, t) in outs.iter_mut().zip(out) {
                o.push(t.into_tensor());
            }
            start += k;
        }
        outs.iter()
            .map(|o| Tensor::stack_tensors(0, o).map(|t| t.into_tvalue()).map_err(|e| self.error(&e)))
            .collect()
    }

    fn error(&self, e: &TractError) -> Error {
        Error::new(ErrorCode::Backend, format!("{}: {}", self.file, tract_chain(e)))
    }
}

/// `graph` with its batch symbol bound to `n` (unchanged when it has none).
fn concrete(graph: &TypedModel, batch: Option<&Symbol>, n: usize) -> Result<TypedModel> {
    match batch {
        None => Ok(graph.clone()),
        Some(b) => graph
            .set_symbols(&HashMap::from([(b.clone(), TDim::Val(n as i64))]))
            .map_err(|e| Error::new(ErrorCode::UnsupportedOp, format!("cannot plan a batch of {n}: {}", tract_chain(&e)))),
    }
}

fn cannot_plan(part: &Part, e: &TractError) -> Error {
    Error::new(ErrorCode::UnsupportedOp, format!("{}: tract cannot plan it: {}", part.file, tract_chain(e)))
}

pub struct TractCpu {
    segments: Vec<PartPlans>,
    exits: Vec<PartPlans>,
}

fn part(plans: &[PartPlans], k: usize) -> Result<&PartPlans> {
    plans.get(k).ok_or_else(|| Error::new(ErrorCode::Backend, format!("no part {k}")))
}

fn f32_view(a: &TValue) -> Result<&[f32]> {
    a.try_as_plain_ram()
        .and_then(|v| v.as_slice::<f32>())
        .map_err(|e| Error::new(ErrorCode::Backend, format!("output is not f32 in host memory: {e}")))
}

impl Backend for TractCpu {
    type Activation = TValue;

    fn name(&self) -> &'static str {
        "cpu"
    }

    fn prepare(bundle: &Bundle) -> Result<Self> {
        Ok(TractCpu {
            segments: bundle.segments.iter().map(|p| PartPlans::new(p, bundle.memory_budget)).collect::<Result<_>>()?,
            exits: bundle.exits.iter().map(|p| PartPlans::new(p, bundle.memory_budget)).collect::<Result<_>>()?,
        })
    }

    fn plan_batch(&self, n: usize) -> Result<()> {
        self.segments.iter().chain(&self.exits).try_for_each(|p| p.plan_batch(n))
    }

    fn upload(&self, t: HostTensor) -> Result<TValue> {
        Tensor::from_shape(&t.shape, &t.data)
            .map(|t| t.into_tvalue())
            .map_err(|e| Error::new(ErrorCode::BadInput, format!("cannot build a {:?} tensor: {e}", t.shape)))
    }

    /// Fills tract's own (aligned) tensor in place: the input is written once, where tract reads it.
    fn input(&self, shape: &[usize], fill: &mut dyn FnMut(&mut [f32]) -> Result<()>) -> Result<TValue> {
        let mut t = Tensor::zero::<f32>(shape)
            .map_err(|e| Error::new(ErrorCode::BadInput, format!("cannot build a {shape:?} tensor: {e}")))?;
        {
            let mut view = t.try_as_plain_ram_mut().map_err(|e| Error::new(ErrorCode::Backend, format!("input tensor: {e}")))?;
            let slice = view.as_slice_mut::<f32>().map_err(|e| Error::new(ErrorCode::Backend, format!("input tensor: {e}")))?;
            fill(slice)?;
        }
        Ok(t.into_tvalue())
    }

    async fn download(&self, a: &TValue) -> Result<HostTensor> {
        Ok(HostTensor { shape: a.shape().to_vec(), data: f32_view(a)?.to_vec() })
    }

    async fn gather(&self, a: &TValue, rows: &[usize]) -> Result<TValue> {
        let data = f32_view(a)?;
        let n = a.shape().first().copied().unwrap_or(0);
        let row = if n == 0 { 0 } else { data.len() / n };
        let mut shape = a.shape().to_vec();
        if let Some(b) = shape.first_mut() {
            *b = rows.len();
        }
        self.input(&shape, &mut |out| {
            for (dst, &r) in out.chunks_exact_mut(row.max(1)).zip(rows) {
                let src = data
                    .get(r * row..(r + 1) * row)
                    .ok_or_else(|| Error::new(ErrorCode::Backend, format!("row {r} of a batch of {n}")))?;
                dst.copy_from_slice(src);
            }
            Ok(())
        })
    }

    fn run_segment(&self, k: usize, inputs: Vec<TValue>) -> Result<Vec<TValue>> {
        part(&self.segments, k)?.run(inputs)
    }

    fn run_exit(&self, e: usize, inputs: Vec<TValue>) -> Result<Vec<TValue>> {
        part(&self.exits, e)?.run(inputs)
    }
}
