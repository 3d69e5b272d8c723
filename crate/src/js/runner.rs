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
use crate::backend::choose::{self, choose, median, Timing, Work, PROBE_BATCH};
use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use web_time::Instant;

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

    /// Whether this engine runs on a software GPU adapter (never for the CPU).
    fn software(&self) -> bool {
        match self {
            Engine::Cpu(_) => false,
            #[cfg(feature = "webgpu")]
            Engine::Gpu(m) => m.backend.is_software(),
        }
    }

    fn adapter(&self) -> String {
        match self {
            Engine::Cpu(_) => "the CPU".into(),
            #[cfg(feature = "webgpu")]
            Engine::Gpu(m) => format!("the adapter {:?}", m.backend.adapter_name()),
        }
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

/// The engines a JS `Model` runs on — one per kind of work ([`Work`]), the same one unless
/// `auto`'s probe found the GPU faster for one kind and slower for the other — replaced by a
/// CPU one if the GPU device is lost.
pub struct Runner {
    single: RefCell<Rc<Engine>>,
    batch: RefCell<Rc<Engine>>,
    /// Why each kind of work runs where it does, with the evidence.
    reason: RefCell<String>,
    /// Why the model runs on the CPU although `auto` (or a device now lost) could have meant
    /// WebGPU; `None` when nothing fell back.
    fallback: RefCell<Option<String>>,
}

/// Load options of the runner.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunnerOptions {
    /// Test-only: let `auto` probe a software adapter instead of skipping it.
    pub probe_software: bool,
}

impl Runner {
    pub async fn new(bundle: Bundle, choice: Choice, opts: RunnerOptions) -> Result<Runner> {
        let cpu_only = |reason: String, fallback: Option<String>| -> Result<Runner> {
            let cpu = Rc::new(Engine::Cpu(CpuModel::new(bundle.clone())?));
            Ok(Runner::with(Rc::clone(&cpu), cpu, reason, fallback))
        };
        match choice {
            Choice::Cpu => cpu_only("cpu: asked for".into(), None),
            Choice::WebGpu => {
                let gpu = Rc::new(gpu_ready(&bundle).await?);
                Ok(Runner::with(Rc::clone(&gpu), gpu, "webgpu: asked for".into(), None))
            }
            Choice::Auto => match gpu_ready(&bundle).await {
                Err(why) => cpu_only(format!("cpu: {}", why.message), Some(why.message)),
                Ok(gpu) if gpu.software() && !opts.probe_software => {
                    let why = format!(
                        "{} is a software adapter, never faster than the CPU backend (backend: \"webgpu\" uses it anyway)",
                        gpu.adapter()
                    );
                    cpu_only(format!("cpu: {why}"), Some(why))
                }
                Ok(gpu) => {
                    let (gpu, cpu) = (Rc::new(gpu), Rc::new(Engine::Cpu(CpuModel::new(bundle.clone())?)));
                    let start = Instant::now();
                    let (tc, tg) = (probe(&cpu).await?, probe(&gpu).await.unwrap_or(Timing { single_ms: f64::INFINITY, batch_ms_per_input: f64::INFINITY }));
                    let c = choose(tc, tg);
                    let reason = choose::reason(tc, tg, c, start.elapsed().as_secs_f64() * 1e3);
                    let pick = |on_gpu: bool| if on_gpu { Rc::clone(&gpu) } else { Rc::clone(&cpu) };
                    let fallback = (!c.single_on_gpu && !c.batch_on_gpu).then(|| format!("the CPU measured faster ({reason})"));
                    Ok(Runner::with(pick(c.single_on_gpu), pick(c.batch_on_gpu), reason, fallback))
                }
            },
        }
    }

    fn with(single: Rc<Engine>, batch: Rc<Engine>, reason: String, fallback: Option<String>) -> Runner {
        Runner { single: RefCell::new(single), batch: RefCell::new(batch), reason: RefCell::new(reason), fallback: RefCell::new(fallback) }
    }

    fn slot(&self, w: Work) -> &RefCell<Rc<Engine>> {
        match w {
            Work::Single => &self.single,
            Work::Batch => &self.batch,
        }
    }

    /// The engine for one input now (a run holds its own `Rc`, so a swap never pulls it from
    /// under a run).
    pub fn engine(&self) -> Rc<Engine> {
        self.engine_for(Work::Single)
    }

    pub fn engine_for(&self, w: Work) -> Rc<Engine> {
        Rc::clone(&self.slot(w).borrow())
    }

    pub fn fallback(&self) -> Option<String> {
        self.fallback.borrow().clone()
    }

    pub fn reason(&self) -> String {
        self.reason.borrow().clone()
    }

    /// Runs `op` on the engine for `w`; if the GPU device is (or turns out) lost, moves to the
    /// CPU for this and every later call and runs `op` there.
    pub async fn run<T, F, Fut>(&self, w: Work, op: F) -> Result<T>
    where
        F: Fn(Rc<Engine>) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let engine = self.engine_for(w);
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

    /// Replaces a lost GPU engine by a CPU one of the same bundle (once, whoever asks first),
    /// for every kind of work it ran.
    fn to_cpu(&self, lost: &Rc<Engine>, why: &str) -> Result<Rc<Engine>> {
        let slots = [Work::Single, Work::Batch];
        let cpu = match slots.iter().map(|&w| self.engine_for(w)).find(|e| !e.lost()) {
            Some(healthy) if !Rc::ptr_eq(&healthy, lost) && matches!(*healthy, Engine::Cpu(_)) => healthy,
            _ => Rc::new(Engine::Cpu(CpuModel::new(lost.bundle().clone())?)),
        };
        let mut moved = false;
        for w in slots {
            if Rc::ptr_eq(&self.engine_for(w), lost) {
                *self.slot(w).borrow_mut() = Rc::clone(&cpu);
                moved = true;
            }
        }
        if moved {
            *self.fallback.borrow_mut() = Some(why.to_string());
            *self.reason.borrow_mut() = format!("cpu: {why}");
        }
        Ok(cpu)
    }

    /// Destroys the GPU device now, as a driver crash or a lost adapter would (for tests of the
    /// fallback); no effect on the CPU.
    #[doc(hidden)]
    pub fn lose_device(&self) {
        #[cfg(feature = "webgpu")]
        for w in [Work::Single, Work::Batch] {
            if let Engine::Gpu(m) = &*self.engine_for(w) {
                m.backend.destroy();
            }
        }
    }
}

/// One backend's probe on the loaded model: every part for one input (a warm-up, then the
/// median of five), and a batch of [`PROBE_BATCH`] (a warm-up, then one timed run). The input
/// is the low end of the range: timing does not depend on the values.
async fn probe(e: &Engine) -> Result<Timing> {
    let spec = &e.manifest().input;
    let one = vec![spec.range[0]; spec.len()];
    e.trace(&one).await?;
    let mut runs = Vec::with_capacity(5);
    for _ in 0..5 {
        let t = Instant::now();
        e.trace(&one).await?;
        runs.push(t.elapsed().as_secs_f64() * 1e3);
    }
    e.plan_batch(PROBE_BATCH)?;
    let many = vec![spec.range[0]; spec.len() * PROBE_BATCH];
    e.trace_batch(&many, PROBE_BATCH).await?;
    let t = Instant::now();
    e.trace_batch(&many, PROBE_BATCH).await?;
    let batch_ms = t.elapsed().as_secs_f64() * 1e3;
    Ok(Timing { single_ms: median(runs), batch_ms_per_input: batch_ms / PROBE_BATCH as f64 })
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
