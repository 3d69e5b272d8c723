//! The WGSL kernels: their sources, their compute pipelines (built once per backend) and the
//! encoding of one dispatch (a parameter block, a bind group, a grid).

use super::device::Gpu;
use super::stats::Event;
use crate::error::{Error, ErrorCode, Result};
use std::collections::HashMap;

/// One compute kernel; its bindings are the parameter block (0), its inputs (1…) and its
/// output (last), in that order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kernel {
    Conv,
    Conv1x1,
    Gemm,
    Binary,
    Unary,
    Pool,
    Reduce,
    Softmax,
    Copy,
}

const COMMON: &str = include_str!("shaders/common.wgsl");

/// Parameter blocks hold at most this many u32s (`array<vec4<u32>, 8>` in common.wgsl).
pub const MAX_PARAMS: usize = 32;

impl Kernel {
    pub const ALL: [Kernel; 9] = [
        Kernel::Conv,
        Kernel::Conv1x1,
        Kernel::Gemm,
        Kernel::Binary,
        Kernel::Unary,
        Kernel::Pool,
        Kernel::Reduce,
        Kernel::Softmax,
        Kernel::Copy,
    ];

    fn source(self) -> &'static str {
        match self {
            Kernel::Conv => include_str!("shaders/conv.wgsl"),
            Kernel::Conv1x1 => include_str!("shaders/conv1x1.wgsl"),
            Kernel::Gemm => include_str!("shaders/gemm.wgsl"),
            Kernel::Binary => include_str!("shaders/eltwise.wgsl"),
            Kernel::Unary => include_str!("shaders/activation.wgsl"),
            Kernel::Pool => include_str!("shaders/pool.wgsl"),
            Kernel::Reduce => include_str!("shaders/reduce.wgsl"),
            Kernel::Softmax => include_str!("shaders/softmax.wgsl"),
            Kernel::Copy => include_str!("shaders/copy.wgsl"),
        }
    }

    /// Threads per workgroup; must equal the shader's `@workgroup_size` (reasons given there).
    fn workgroup(self) -> u32 {
        match self {
            Kernel::Binary | Kernel::Unary | Kernel::Copy => 256,
            _ => 64,
        }
    }
}

/// Every kernel's pipeline, compiled once.
pub struct Kernels {
    pipelines: HashMap<Kernel, wgpu::ComputePipeline>,
}

impl Kernels {
    /// Compiles every kernel; a WGSL or validation error becomes [`ErrorCode::Backend`].
    pub async fn new(gpu: &Gpu) -> Result<Kernels> {
        let scope = gpu.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let mut pipelines = HashMap::new();
        for k in Kernel::ALL {
            let source = format!("{COMMON}\n{}", k.source());
            let module = gpu.device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(&format!("{k:?}")),
                source: wgpu::ShaderSource::Wgsl(source.into()),
            });
            let pipeline = gpu.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(&format!("{k:?}")),
                layout: None,
                module: &module,
                entry_point: Some("main"),
                compilation_options: Default::default(),
                cache: None,
            });
            pipelines.insert(k, pipeline);
        }
        if let Some(e) = scope.pop().await {
            return Err(Error::new(ErrorCode::Backend, format!("{}: compiling the kernels: {e}", gpu.adapter_name)));
        }
        Ok(Kernels { pipelines })
    }

    /// Records one dispatch of `kernel` over `total` threads into `encoder`.
    pub fn dispatch(
        &self,
        gpu: &Gpu,
        encoder: &mut wgpu::CommandEncoder,
        kernel: Kernel,
        params: &[u32],
        inputs: &[&wgpu::Buffer],
        output: &wgpu::Buffer,
    ) -> Result<()> {
        let total = *params.first().ok_or_else(|| Error::new(ErrorCode::Backend, "empty parameter block"))?;
        if total == 0 {
            return Ok(());
        }
        if params.len() > MAX_PARAMS {
            return Err(Error::new(ErrorCode::Backend, format!("{kernel:?}: {} parameters, at most {MAX_PARAMS}", params.len())));
        }
        let pipeline = self
            .pipelines
            .get(&kernel)
            .ok_or_else(|| Error::new(ErrorCode::Backend, format!("{kernel:?}: no pipeline")))?;
        let mut block = [0u32; MAX_PARAMS];
        block[..params.len()].copy_from_slice(params);
        let bytes: Vec<u8> = block.iter().flat_map(|v| v.to_le_bytes()).collect();
        let uniform = gpu.buffer(&wgpu::BufferDescriptor {
            label: Some("params"),
            size: bytes.len() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        gpu.queue.write_buffer(&uniform, 0, &bytes);
        let mut entries = vec![wgpu::BindGroupEntry { binding: 0, resource: uniform.as_entire_binding() }];
        for (i, b) in inputs.iter().chain(std::iter::once(&output)).enumerate() {
            entries.push(wgpu::BindGroupEntry { binding: i as u32 + 1, resource: b.as_entire_binding() });
        }
        let bind_group = gpu.bind_group(&wgpu::BindGroupDescriptor {
            label: Some(&format!("{kernel:?}")),
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        });
        let (x, y) = grid(total, kernel.workgroup(), gpu.device.limits().max_compute_workgroups_per_dimension)?;
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some(&format!("{kernel:?}")), timestamp_writes: None });
        pass.set_pipeline(pipeline);
        pass.set_bind_group(0, &bind_group, &[]);
        pass.dispatch_workgroups(x, y, 1);
        gpu.counters.count(Event::Dispatch);
        Ok(())
    }
}

/// A 2-D grid of workgroups covering `total` threads: x up to the per-dimension limit, the rest
/// in y (shaders flatten it back with `flat`).
fn grid(total: u32, workgroup: u32, max_dim: u32) -> Result<(u32, u32)> {
    let groups = total.div_ceil(workgroup);
    let x = groups.min(max_dim.max(1));
    let y = groups.div_ceil(x);
    if y > max_dim {
        return Err(Error::new(ErrorCode::Backend, format!("{total} threads exceed the dispatch limit")));
    }
    Ok((x, y))
}
