//! Which backend runs a JS model: the `backend` load option (`auto`, `cpu`, `webgpu`), and the
//! move to the CPU, for good, when the GPU device is lost.

use crate::bundle::Bundle;
use crate::engine::{BatchClassification, Classification, Costs, Trace};
use crate::error::{Error, ErrorCode, Result};
use crate::info::ModelInfo;
use crate::manifest::Manifest;
use crate::CpuModel;
#[cfg(feature = "webgpu")]
use crate::{GpuModel, WebGpu};
use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;

/// The backend asked for at load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// WebGPU when `navigator.gpu` gives an adapter and the model lowers to WGSL; else the CPU.
    Auto,
    Cpu,
    /// WebGPU or a load error (`BACKEND`, or `UNSUPPORTED_OP` naming the operator).
    WebGpu,
}

impl Choice {
    pub fn parse(name: Option<&str>) -> Result<Choice> {
        match name {
            None | Some("auto") => Ok(Choice::Auto),
            Some("cpu") => Ok(Choice::Cpu),
            Some("webgpu") => Ok(Choice::WebGpu),
            Some(other) => Err(Error::new(ErrorCode::Backend, format!("unknown backend {other:?}: use \"auto\", \"cpu\" or \"webgpu\""))),
        }
    }
}

/// A model prepared on one backend.
pub enum Engine {
    Cpu(CpuModel),
    #[cfg(feature = "webgpu")]
    Gpu(GpuModel),
}

/// `$body` with `$m` bound to the engine's model, whichever backend it is on.
macro_rules! on {
    ($engine:expr, $m:ident => $body:expr) => {
        match $engine {
            Engine::Cpu($m) => $body,
            #[cfg(feature = "webgpu")]
            Engine::Gpu($m) => $body,
        }
    };
}

impl Engine {
    pub fn manifest(&self) -> &Manifest {
        on!(self, m => m.manifest())
    }

    pub fn bundle(&self) -> &Bundle {
        on!(self, m => &m.bundle)
    }

    pub fn costs(&self) -> &Costs {
        on!(self, m => &m.costs)
    }

    pub fn backend(&self) -> &'static str {
        use crate::backend::Backend;
        on!(self, m => m.backend.name())
    }

    pub fn info(&self) -> ModelInfo {
        on!(self, m => ModelInfo::of(m))
    }

    pub fn decide(&self, trace: &Trace, thresholds: &[f32]) -> Result<Classification> {
        on!(self, m => m.decide(trace, thresholds))
    }

    pub async fn classify(&self, input: &[f32], thresholds: &[f32]) -> Result<Classification> {
        on!(self, m => m.classify_async(input, thresholds).await)
    }

    pub async fn classify_batch(&self, inputs: &[f32], n: usize, thresholds: &[f32]) -> Result<BatchClassification> {
        on!(self, m => m.classify_batch_async(inputs, n, thresholds).await)
    }

    pub async fn classify_full(&self, input: &[f32]) -> Result<Classification> {
        on!(self, m => m.classify_full_async(input).await)
    }

    pub fn plan_batch(&self, n: usize) -> Result<()> {
        on!(self, m => m.plan_batch(n))
    }

    pub async fn trace(&self, input: &[f32]) -> Result<Trace> {
        on!(self, m => m.trace_async(input).await)
    }

    pub async fn trace_batch(&self, inputs: &[f32], n: usize) -> Result<Vec<Trace>> {
        on!(self, m => m.trace_batch_async(inputs, n).await)
    }

    /// True when this engine's GPU device is gone (never for the CPU).
    fn lost(&self) -> bool {
        match self {
            Engine::Cpu(_) => false,
            #[cfg(feature = "webgpu")]
            Engine::Gpu(m) => m.backend.is_lost(),
        }
    }
}

/// The engine a JS `Model` runs on, replaced by a CPU one if its GPU device is lost.
pub struct Runner {
    engine: RefCell<Rc<Engine>>,
    /// Why the model runs on the CPU although `auto` (or a device now lost) could have meant
    /// WebGPU; `None` when nothing fell back.
    fallback: RefCell<Option<String>>,
}

impl Runner {
    pub async fn new(bundle: Bundle, choice: Choice) -> Result<Runner> {
        let (engine, fallback) = match choice {
            Choice::Cpu => (Engine::Cpu(CpuModel::new(bundle)?), None),
            Choice::WebGpu => (gpu_ready(&bundle).await?, None),
            Choice::Auto => match gpu_ready(&bundle).await {
                Ok(engine) => (engine, None),
                Err(why) => (Engine::Cpu(CpuModel::new(bundle)?), Some(why.message)),
            },
        };
        Ok(Runner { engine: RefCell::new(Rc::new(engine)), fallback: RefCell::new(fallback) })
    }

    /// The engine now (a run holds its own `Rc`, so a swap never pulls it from under a run).
    pub fn engine(&self) -> Rc<Engine> {
        Rc::clone(&self.engine.borrow())
    }

    pub fn fallback(&self) -> Option<String> {
        self.fallback.borrow().clone()
    }

    /// Runs `op` on the engine; if the GPU device is (or turns out) lost, moves to the CPU for
    /// this and every later call and runs `op` there.
    pub async fn run<T, F, Fut>(&self, op: F) -> Result<T>
    where
        F: Fn(Rc<Engine>) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let engine = self.engine();
        if engine.lost() {
            return op(self.to_cpu(&engine, "the GPU device was lost before this call")?).await;
        }
        match op(Rc::clone(&engine)).await {
            Err(e) if engine.lost() => {
                let cpu = self.to_cpu(&engine, &format!("the GPU device was lost: {}", e.message))?;
                op(cpu).await
            }
            other => other,
        }
    }

    /// Replaces a lost GPU engine by a CPU one of the same bundle (once, whoever asks first).
    fn to_cpu(&self, lost: &Rc<Engine>, why: &str) -> Result<Rc<Engine>> {
        let now = self.engine();
        if !Rc::ptr_eq(&now, lost) {
            return Ok(now);
        }
        let cpu = Rc::new(Engine::Cpu(CpuModel::new(lost.bundle().clone())?));
        *self.engine.borrow_mut() = Rc::clone(&cpu);
        *self.fallback.borrow_mut() = Some(why.to_string());
        Ok(cpu)
    }

    /// Destroys the GPU device now, as a driver crash or a lost adapter would (for tests of the
    /// fallback); no effect on the CPU.
    #[doc(hidden)]
    pub fn lose_device(&self) {
        #[cfg(feature = "webgpu")]
        if let Engine::Gpu(m) = &*self.engine() {
            m.backend.destroy();
        }
    }
}

/// The bundle on WebGPU (a copy of it stays with the model for a CPU fallback).
#[cfg(feature = "webgpu")]
async fn gpu_ready(bundle: &Bundle) -> Result<Engine> {
    let backend = WebGpu::prepare_async(bundle).await?;
    Ok(Engine::Gpu(GpuModel::with_backend(bundle.clone(), backend)?))
}

#[cfg(not(feature = "webgpu"))]
async fn gpu_ready(_: &Bundle) -> Result<Engine> {
    Err(Error::new(ErrorCode::Backend, "this build of exitwise has no WebGPU backend (the `webgpu` feature is off)"))
}
