//! The WebGPU backend: every part lowered to WGSL compute kernels (wgpu; Vulkan natively, the
//! browser's WebGPU on wasm32). Weights are uploaded once at prepare; activations stay on the
//! device across segments and only `download` reads back.
//!
//! Stages, one module each: `device` (adapter, device, health, the pending commands), `lower`
//! (tract graph → kernel steps), with `einsum` (products as gemm), `kernels` (WGSL sources and
//! pipelines), `exec` (a step's dispatches for concrete shapes), `instance` (a part built once per
//! input shapes: memory plan, parameter blocks, bind groups), `readback` (with `oneshot`:
//! awaiting a buffer map).
//!
//! Steady state: a part run again at the same batch size creates no buffer or bind group, parts
//! run back to back share one encoder and one submit, and each read-back submits what is pending.
//!
//! In the browser the adapter, the device and every read-back complete only from the JS event
//! loop: use [`WebGpu::prepare_async`] and the engine's `*_async` calls there.

use super::{wait, Backend, HostTensor};
use crate::bundle::{Bundle, Part};
use crate::error::{Error, ErrorCode, Result};
use tract_onnx::prelude::TypedModel;

pub mod device;
pub mod einsum;
pub mod exec;
pub mod instance;
pub mod kernels;
pub mod lower;
pub mod oneshot;
pub mod readback;
pub mod stats;

use device::Gpu;
use instance::Instance;
use kernels::Kernels;
use std::sync::{Arc, Mutex};
use lower::Program;
pub use stats::Stats;

/// A tensor on the device: a storage buffer (row-major f32) and its shape.
#[derive(Debug, Clone)]
pub struct GpuTensor {
    pub buffer: wgpu::Buffer,
    pub shape: Vec<usize>,
    /// The buffer belongs to a pool (an instance's outputs, the uploads) that reuses it only
    /// once no tensor holds this (held for its count, never read).
    #[allow(dead_code)]
    lease: Option<Arc<()>>,
}

/// Instances kept per part (batch sizes, or copies whose outputs are still held).
const INSTANCES_KEPT: usize = 6;
/// Input buffers kept for reuse.
const UPLOADS_KEPT: usize = 8;

/// One part, lowered, with its constants on the device (indexed by value id) and its
/// instances.
struct Plan {
    file: String,
    program: Program,
    consts: Vec<Option<wgpu::Buffer>>,
    instances: Mutex<Vec<Instance>>,
}

pub struct WebGpu {
    gpu: Gpu,
    kernels: Kernels,
    segments: Vec<Plan>,
    exits: Vec<Plan>,
    /// Input buffers, each with the lease its tensors hold.
    uploads: Mutex<Vec<(wgpu::Buffer, Arc<()>)>>,
}

fn plan(gpu: &Gpu, file: &str, program: Program) -> Result<Plan> {
    let mut consts = vec![None; program.shapes.len()];
    for (v, data) in &program.consts {
        let bytes: Vec<u8> = data.iter().flat_map(|x| x.to_le_bytes()).collect();
        let buffer = gpu.storage(bytes.len(), file)?;
        gpu.queue.write_buffer(&buffer, 0, &bytes);
        consts[*v] = Some(buffer);
    }
    Ok(Plan { file: file.to_string(), program, consts, instances: Mutex::new(vec![]) })
}

/// Lowers every part first, so that an unsupported operator fails before any GPU work.
fn lower_all(parts: &[Part]) -> Result<Vec<(String, Program)>> {
    parts.iter().map(|p| Ok((p.file.clone(), lower::lower(&p.graph, &p.file)?))).collect()
}

impl WebGpu {
    /// The adapter the backend runs on, e.g. `"llvmpipe (LLVM 19.1.7, 256 bits)"`.
    pub fn adapter_name(&self) -> &str {
        &self.gpu.adapter_name
    }

    /// Whether the adapter is a software (CPU) implementation: never faster than the CPU
    /// backend, so `auto` does not pick it.
    pub fn is_software(&self) -> bool {
        self.gpu.software
    }

    /// What the backend has asked of the device since it was built or [`WebGpu::reset_stats`]:
    /// dispatches, submits, buffer and bind-group creations, read-backs (buffer maps).
    pub fn stats(&self) -> Stats {
        self.gpu.counters.snapshot()
    }

    /// The kernels one run of each segment and of each exit head dispatches (at most; see
    /// [`exec::kernel_count`]): what a test bounds [`Stats::dispatches`] with.
    pub fn kernels(&self) -> (Vec<usize>, Vec<usize>) {
        let count = |plans: &[Plan]| plans.iter().map(|p| exec::kernel_count(&p.program)).collect();
        (count(&self.segments), count(&self.exits))
    }

    /// Zeroes the counters behind [`WebGpu::stats`].
    pub fn reset_stats(&self) {
        self.gpu.counters.reset()
    }

    /// Prepares every part of `bundle`: the asynchronous form of [`Backend::prepare`], the only
    /// one that works in the browser. Lowering comes first, so that an unsupported operator
    /// fails with [`ErrorCode::UnsupportedOp`] before any adapter is requested.
    pub async fn prepare_async(bundle: &Bundle) -> Result<WebGpu> {
        let (segments, exits) = (lower_all(&bundle.segments)?, lower_all(&bundle.exits)?);
        WebGpu::build(segments, exits).await
    }

    /// True once the device is lost (or hit an out-of-memory or internal error): every later
    /// call fails with [`ErrorCode::Backend`], so the caller should move to the CPU.
    pub fn is_lost(&self) -> bool {
        self.gpu.is_lost()
    }

    /// Destroys the device now, freeing its memory without waiting for the drop; every later
    /// call fails and [`WebGpu::is_lost`] is true.
    pub fn destroy(&self) {
        self.gpu.mark_lost("the device was destroyed");
        self.gpu.device.destroy();
    }

    /// Waits until the device has finished all submitted work (natively; for benchmarks, since
    /// `run_segment` only submits).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn finish(&self) -> Result<()> {
        self.gpu.flush()?;
        self.gpu
            .device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::new(ErrorCode::Backend, format!("waiting for the GPU: {e}")))?;
        self.gpu.check("waiting for the GPU")
    }

    /// A backend whose segments are the given graphs (file name, decluttered graph) and which
    /// has no exits: runs single graphs, for kernel tests.
    pub fn from_graphs(graphs: &[(String, TypedModel)]) -> Result<WebGpu> {
        let lowered = graphs.iter().map(|(f, g)| Ok((f.clone(), lower::lower(g, f)?))).collect::<Result<_>>()?;
        wait::block_on(WebGpu::build(lowered, vec![]))
    }

    async fn build(segments: Vec<(String, Program)>, exits: Vec<(String, Program)>) -> Result<WebGpu> {
        let gpu = Gpu::new().await?;
        let kernels = Kernels::new(&gpu).await?;
        let up = |v: Vec<(String, Program)>| v.into_iter().map(|(f, p)| plan(&gpu, &f, p)).collect::<Result<Vec<_>>>();
        let (segments, exits) = (up(segments)?, up(exits)?);
        gpu.check("uploading the weights")?;
        Ok(WebGpu { gpu, kernels, segments, exits, uploads: Mutex::new(vec![]) })
    }

    fn run(&self, plans: &[Plan], k: usize, inputs: &[GpuTensor]) -> Result<Vec<GpuTensor>> {
        let p = plans.get(k).ok_or_else(|| Error::new(ErrorCode::Backend, format!("no part {k}")))?;
        // Also surfaces an upload's error, and spares a lost device any further work.
        self.gpu.check(&p.file)?;
        let key: Vec<&[usize]> = inputs.iter().map(|t| t.shape.as_slice()).collect();
        let mut pool = p.instances.lock().map_err(|_| Error::new(ErrorCode::Backend, format!("{}: its instances are poisoned", p.file)))?;
        let found = pool.iter().position(|i| i.idle() && i.key.iter().map(Vec::as_slice).eq(key.iter().copied()));
        let mut one_off;
        let inst = match found {
            Some(i) => &mut pool[i],
            None => {
                one_off = Instance::build(&self.gpu, &self.kernels, &p.program, &p.consts, inputs, &p.file)?;
                if pool.len() >= INSTANCES_KEPT {
                    // Make room by dropping an idle one; when every kept one is busy, this one
                    // serves once and is not kept.
                    match pool.iter().position(Instance::idle) {
                        Some(i) => {
                            pool.remove(i);
                        }
                        None => return self.gpu.record(|e| one_off.record(&self.gpu, &self.kernels, &p.program, &p.consts, inputs, e)),
                    }
                }
                pool.push(one_off);
                let last = pool.len() - 1;
                &mut pool[last]
            }
        };
        self.gpu.record(|e| inst.record(&self.gpu, &self.kernels, &p.program, &p.consts, inputs, e))
    }

    /// Instances built and kept per segment and per exit head (for tests).
    pub fn instances(&self) -> (Vec<usize>, Vec<usize>) {
        let count = |plans: &[Plan]| plans.iter().map(|p| p.instances.lock().map_or(0, |v| v.len())).collect();
        (count(&self.segments), count(&self.exits))
    }
}

impl Backend for WebGpu {
    type Activation = GpuTensor;

    fn name(&self) -> &'static str {
        "webgpu"
    }

    /// Natively blocks on [`WebGpu::prepare_async`]; in the browser it fails (nothing may
    /// block there): use `prepare_async`.
    fn prepare(bundle: &Bundle) -> Result<Self> {
        wait::block_on(WebGpu::prepare_async(bundle))
    }

    fn upload(&self, t: HostTensor) -> Result<GpuTensor> {
        if t.shape.iter().product::<usize>() != t.data.len() {
            return Err(Error::new(ErrorCode::BadInput, format!("{} values for shape {:?}", t.data.len(), t.shape)));
        }
        self.gpu.check("uploading the input")?;
        let bytes: Vec<u8> = t.data.iter().flat_map(|x| x.to_le_bytes()).collect();
        let size = (bytes.len() as u64).max(4);
        let mut uploads = self.uploads.lock().map_err(|_| Error::new(ErrorCode::Backend, "the input buffers are poisoned"))?;
        let (buffer, lease) = match uploads.iter().find(|(b, l)| b.size() == size && Arc::strong_count(l) == 1) {
            Some((b, l)) => {
                // A write lands before the next submit: commands still pending that read this
                // buffer's old contents must be submitted first.
                self.gpu.flush()?;
                (b.clone(), l.clone())
            }
            None => {
                let b = self.gpu.storage(bytes.len(), "input")?;
                let l = Arc::new(());
                if uploads.len() < UPLOADS_KEPT {
                    uploads.push((b.clone(), l.clone()));
                } else if let Some(i) = uploads.iter().position(|(_, l)| Arc::strong_count(l) == 1) {
                    uploads[i] = (b.clone(), l.clone());
                }
                (b, l)
            }
        };
        drop(uploads);
        self.gpu.queue.write_buffer(&buffer, 0, &bytes);
        Ok(GpuTensor { buffer, shape: t.shape, lease: Some(lease) })
    }

    async fn download(&self, a: &GpuTensor) -> Result<HostTensor> {
        readback::read(&self.gpu, a).await
    }

    /// One staging buffer, one copy per tensor, one submit, one map.
    async fn download_all(&self, tensors: &[&GpuTensor]) -> Result<Vec<HostTensor>> {
        readback::read_all(&self.gpu, tensors).await
    }

    fn run_segment(&self, k: usize, inputs: Vec<GpuTensor>) -> Result<Vec<GpuTensor>> {
        self.run(&self.segments, k, &inputs)
    }

    fn run_exit(&self, e: usize, inputs: Vec<GpuTensor>) -> Result<Vec<GpuTensor>> {
        self.run(&self.exits, e, &inputs)
    }
}
