//! The CPU backend: tract's optimised plans (wasm SIMD kernels when built with `+simd128`).
//!
//! Each part is planned for a *concrete* batch of 1 at load: tract optimises a graph with fixed
//! shapes much further than one over the symbolic batch `N` (1.5–6.7× per part, measured
//! natively and in Chromium; README "CPU hot path"). Other batch sizes use concrete plans asked
//! for with [`Backend::plan_batch`] (evaluation's chunk size) or, for any other size (a batch
//! that shrinks as images exit), the symbolic plan, built on first use. Every plan keeps one
//! spawned tract state across runs (its op states and scratch space).

use super::{Backend, HostTensor};
use crate::bundle::{Bundle, Part, BATCH};
use crate::error::{tract_chain, Error, ErrorCode, Result};
use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use tract_onnx::prelude::*;

/// One optimised plan and the tract state it keeps between runs.
struct Plan {
    runnable: Arc<TypedRunnableModel>,
    state: RefCell<Option<TypedSimpleState>>,
}

impl Plan {
    fn new(graph: TypedModel) -> TractResult<Plan> {
        let runnable = graph.into_optimized()?.into_runnable()?;
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
    one: Plan,
    sized: RefCell<HashMap<usize, Rc<Plan>>>,
    any: OnceCell<Rc<Plan>>,
}

impl PartPlans {
    fn new(part: &Part) -> Result<PartPlans> {
        let batch = part.batchable.then(|| part.graph.sym(BATCH));
        let graph = part.graph.clone();
        let one = Plan::new(concrete(&graph, batch.as_ref(), 1)?).map_err(|e| cannot_plan(part, &e))?;
        Ok(PartPlans { file: part.file.clone(), graph, batch, one, sized: RefCell::default(), any: OnceCell::new() })
    }

    fn plan_for(&self, n: usize) -> Result<Rc<Plan>> {
        if let Some(p) = self.sized.borrow().get(&n) {
            return Ok(Rc::clone(p));
        }
        if let Some(p) = self.any.get() {
            return Ok(Rc::clone(p));
        }
        let p = Rc::new(Plan::new(self.graph.clone()).map_err(|e| self.error(&e))?);
        Ok(Rc::clone(self.any.get_or_init(|| p)))
    }

    fn plan_batch(&self, n: usize) -> Result<()> {
        if n == 1 || self.batch.is_none() || self.sized.borrow().contains_key(&n) {
            return Ok(());
        }
        let g = concrete(&self.graph, self.batch.as_ref(), n)?;
        let p = Plan::new(g).map_err(|e| self.error(&e))?;
        self.sized.borrow_mut().insert(n, Rc::new(p));
        Ok(())
    }

    fn run(&self, inputs: Vec<TValue>) -> Result<Vec<TValue>> {
        let n = inputs.first().and_then(|t| t.shape().first().copied()).unwrap_or(1);
        let inputs: TVec<TValue> = inputs.into();
        let out = if n == 1 {
            self.one.run(inputs)
        } else if self.batch.is_none() {
            return Err(Error::new(ErrorCode::Backend, format!("{}: takes one input at a time, got a batch of {n}", self.file)));
        } else {
            self.plan_for(n)?.run(inputs)
        };
        out.map(|o| o.into_iter().collect()).map_err(|e| self.error(&e))
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
            segments: bundle.segments.iter().map(PartPlans::new).collect::<Result<_>>()?,
            exits: bundle.exits.iter().map(PartPlans::new).collect::<Result<_>>()?,
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
