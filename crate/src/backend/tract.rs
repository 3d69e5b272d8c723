//! The CPU backend: tract's optimised plans (wasm SIMD kernels when built with `+simd128`).

use super::{Backend, HostTensor};
use crate::bundle::{Bundle, Part};
use crate::error::{tract_chain, Error, ErrorCode, Result};
use std::sync::Arc;
use tract_onnx::prelude::*;

/// A part's optimised plan, with its file name for error messages.
struct Plan {
    file: String,
    runnable: Arc<TypedRunnableModel>,
}

pub struct TractCpu {
    segments: Vec<Plan>,
    exits: Vec<Plan>,
}

fn plan(part: &Part) -> Result<Plan> {
    let runnable = part
        .graph
        .clone()
        .into_optimized()
        .and_then(|m| m.into_runnable())
        .map_err(|e| Error::new(ErrorCode::UnsupportedOp, format!("{}: tract cannot plan it: {}", part.file, tract_chain(&e))))?;
    Ok(Plan { file: part.file.clone(), runnable })
}

fn run(plans: &[Plan], k: usize, inputs: &[TValue]) -> Result<Vec<TValue>> {
    let p = plans.get(k).ok_or_else(|| Error::new(ErrorCode::Backend, format!("no part {k}")))?;
    p.runnable
        .run(inputs.iter().cloned().collect())
        .map(|o| o.into_iter().collect())
        .map_err(|e| Error::new(ErrorCode::Backend, format!("{}: {}", p.file, tract_chain(&e))))
}

impl Backend for TractCpu {
    type Activation = TValue;

    fn name(&self) -> &'static str {
        "cpu"
    }

    fn prepare(bundle: &Bundle) -> Result<Self> {
        Ok(TractCpu {
            segments: bundle.segments.iter().map(plan).collect::<Result<_>>()?,
            exits: bundle.exits.iter().map(plan).collect::<Result<_>>()?,
        })
    }

    fn upload(&self, t: HostTensor) -> Result<TValue> {
        Tensor::from_shape(&t.shape, &t.data)
            .map(|t| t.into_tvalue())
            .map_err(|e| Error::new(ErrorCode::BadInput, format!("cannot build a {:?} tensor: {e}", t.shape)))
    }

    async fn download(&self, a: &TValue) -> Result<HostTensor> {
        let view = a
            .to_plain_array_view::<f32>()
            .map_err(|e| Error::new(ErrorCode::Backend, format!("output is not f32: {e}")))?;
        Ok(HostTensor { shape: a.shape().to_vec(), data: view.iter().copied().collect() })
    }

    fn run_segment(&self, k: usize, inputs: &[TValue]) -> Result<Vec<TValue>> {
        run(&self.segments, k, inputs)
    }

    fn run_exit(&self, e: usize, inputs: &[TValue]) -> Result<Vec<TValue>> {
        run(&self.exits, e, inputs)
    }
}
