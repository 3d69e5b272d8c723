//! The WebGPU backend: every part lowered to WGSL compute kernels (wgpu; Vulkan natively, the
//! browser's WebGPU on wasm32). Weights are uploaded once at prepare; activations stay on the
//! device across segments and only `download` reads back.
//!
//! Stages, one module each: `device` (adapter and device), `lower` (tract graph → kernel steps),
//! with `einsum` (products as gemm), `kernels` (WGSL sources and pipelines), `exec` (one part's
//! run).

use super::{Backend, HostTensor};
use crate::bundle::{Bundle, Part};
use crate::error::{Error, ErrorCode, Result};
use tract_onnx::prelude::TypedModel;

pub mod device;
pub mod einsum;
pub mod exec;
pub mod kernels;
pub mod lower;

use device::Gpu;
use kernels::Kernels;
use lower::Program;

/// A tensor on the device: a storage buffer (row-major f32) and its shape.
#[derive(Debug, Clone)]
pub struct GpuTensor {
    pub buffer: wgpu::Buffer,
    pub shape: Vec<usize>,
}

/// One part, lowered, with its constants on the device (indexed by value id).
struct Plan {
    file: String,
    program: Program,
    consts: Vec<Option<wgpu::Buffer>>,
}

pub struct WebGpu {
    gpu: Gpu,
    kernels: Kernels,
    segments: Vec<Plan>,
    exits: Vec<Plan>,
}

fn plan(gpu: &Gpu, file: &str, program: Program) -> Result<Plan> {
    let mut consts = vec![None; program.shapes.len()];
    for (v, data) in &program.consts {
        let bytes: Vec<u8> = data.iter().flat_map(|x| x.to_le_bytes()).collect();
        let buffer = gpu.storage(bytes.len(), file)?;
        gpu.queue.write_buffer(&buffer, 0, &bytes);
        consts[*v] = Some(buffer);
    }
    Ok(Plan { file: file.to_string(), program, consts })
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

    /// A backend whose segments are the given graphs (file name, decluttered graph) and which
    /// has no exits: runs single graphs, for kernel tests.
    pub fn from_graphs(graphs: &[(String, TypedModel)]) -> Result<WebGpu> {
        let lowered = graphs.iter().map(|(f, g)| Ok((f.clone(), lower::lower(g, f)?))).collect::<Result<_>>()?;
        WebGpu::build(lowered, vec![])
    }

    fn build(segments: Vec<(String, Program)>, exits: Vec<(String, Program)>) -> Result<WebGpu> {
        let gpu = pollster::block_on(Gpu::new())?;
        let kernels = pollster::block_on(Kernels::new(&gpu))?;
        let up = |v: Vec<(String, Program)>| v.into_iter().map(|(f, p)| plan(&gpu, &f, p)).collect::<Result<Vec<_>>>();
        let (segments, exits) = (up(segments)?, up(exits)?);
        gpu.check("uploading the weights")?;
        Ok(WebGpu { gpu, kernels, segments, exits })
    }

    fn run(&self, plans: &[Plan], k: usize, inputs: &[GpuTensor]) -> Result<Vec<GpuTensor>> {
        let p = plans.get(k).ok_or_else(|| Error::new(ErrorCode::Backend, format!("no part {k}")))?;
        exec::run(&self.gpu, &self.kernels, &p.program, &p.consts, inputs, &p.file)
    }
}

impl Backend for WebGpu {
    type Activation = GpuTensor;

    fn name(&self) -> &'static str {
        "webgpu"
    }

    fn prepare(bundle: &Bundle) -> Result<Self> {
        WebGpu::build(lower_all(&bundle.segments)?, lower_all(&bundle.exits)?)
    }

    fn upload(&self, t: HostTensor) -> Result<GpuTensor> {
        if t.shape.iter().product::<usize>() != t.data.len() {
            return Err(Error::new(ErrorCode::BadInput, format!("{} values for shape {:?}", t.data.len(), t.shape)));
        }
        let bytes: Vec<u8> = t.data.iter().flat_map(|x| x.to_le_bytes()).collect();
        let buffer = self.gpu.storage(bytes.len(), "input")?;
        self.gpu.queue.write_buffer(&buffer, 0, &bytes);
        Ok(GpuTensor { buffer, shape: t.shape })
    }

    /// Copies to a mappable buffer and blocks on the map (natively, `device.poll`).
    fn download(&self, a: &GpuTensor) -> Result<HostTensor> {
        let len: usize = a.shape.iter().product();
        let size = (len as u64 * 4).max(4);
        let staging = self.gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = self.gpu.device.create_command_encoder(&Default::default());
        encoder.copy_buffer_to_buffer(&a.buffer, 0, &staging, 0, size);
        self.gpu.queue.submit([encoder.finish()]);
        let (tx, rx) = std::sync::mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = tx.send(r);
        });
        let fail = |e: String| Error::new(ErrorCode::Backend, format!("reading back: {e}"));
        self.gpu.device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| fail(e.to_string()))?;
        rx.recv().map_err(|e| fail(e.to_string()))?.map_err(|e| fail(e.to_string()))?;
        let data = {
            let view = staging.get_mapped_range(..).map_err(|e| fail(e.to_string()))?;
            view.chunks_exact(4).take(len).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
        };
        staging.unmap();
        self.gpu.check("reading back")?;
        Ok(HostTensor { shape: a.shape.clone(), data })
    }

    fn run_segment(&self, k: usize, inputs: &[GpuTensor]) -> Result<Vec<GpuTensor>> {
        self.run(&self.segments, k, inputs)
    }

    fn run_exit(&self, e: usize, inputs: &[GpuTensor]) -> Result<Vec<GpuTensor>> {
        self.run(&self.exits, e, inputs)
    }
}
