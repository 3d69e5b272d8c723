//! The WGSL kernels: their sources, their compute pipelines (built once per backend) and the
//! grid of one dispatch.

use super::device::Gpu;
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
    pub fn workgroup(self) -> u32 {
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

    /// The compiled pipeline of `kernel`.
    pub fn pipeline(&self, kernel: Kernel) -> Result<&wgpu::ComputePipeline> {
        self.pipelines.get(&kernel).ok_or_else(|| Error::new(ErrorCode::Backend, format!("{kernel:?}: no pipeline")))
    }
}

/// A 2-D grid of workgroups covering `total` threads: x up to the per-dimension limit, the rest
/// in y (shaders flatten it back with `flat`).
pub fn grid(total: u32, workgroup: u32, max_dim: u32) -> Result<(u32, u32)> {
    let groups = total.div_ceil(workgroup);
    let x = groups.min(max_dim.max(1));
    let y = groups.div_ceil(x);
    if y > max_dim {
        return Err(Error::new(ErrorCode::Backend, format!("{total} threads exceed the dispatch limit")));
    }
    Ok((x, y))
}
