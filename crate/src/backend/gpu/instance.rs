//! A lowered [`Program`] instantiated for concrete input shapes: shapes resolved, a static
//! memory plan (values share buffers once dead), every dispatch's parameter block in one uniform
//! buffer, bind groups and grids. Built once per part and input shapes; a run then records its
//! dispatches into the caller's encoder and creates nothing (a changed input buffer re-binds only
//! the dispatches that read it).

use super::device::Gpu;
use super::exec::{bind, dispatches};
use super::kernels::{grid, Kernel, Kernels, MAX_PARAMS};
use super::lower::{Op, Program, ValueId};
use super::stats::Event;
use super::GpuTensor;
use crate::error::{Error, ErrorCode, Result};
use std::sync::Arc;
use tract_onnx::tract_hir::internal::DimLike;

fn backend(msg: impl Into<String>) -> Error {
    Error::new(ErrorCode::Backend, msg.into())
}

/// Where a value's data lives.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Home {
    Input(usize),
    Const,
    Slot(usize),
}

/// One recorded dispatch.
struct Launch {
    kernel: Kernel,
    /// Offset of its parameter block in the uniform buffer.
    offset: u64,
    grid: (u32, u32),
    operands: Vec<ValueId>,
    output: ValueId,
    /// Whether an operand lives in a program input (re-bound when the input buffer changes).
    reads_input: bool,
    group: wgpu::BindGroup,
}

pub struct Instance {
    /// The input shapes it was built for.
    pub key: Vec<Vec<usize>>,
    shapes: Vec<Vec<usize>>,
    homes: Vec<Option<Home>>,
    slots: Vec<wgpu::Buffer>,
    uniform: Option<wgpu::Buffer>,
    launches: Vec<Launch>,
    /// The input buffers the bind groups reference.
    bound: Vec<wgpu::Buffer>,
    /// Held by every output handed out: while a caller holds one, the instance is busy and a
    /// run of the same part gets another instance, so outputs are never overwritten under it.
    lease: Arc<()>,
}

/// The parameter block's size in bytes (`array<vec4<u32>, 8>` in common.wgsl).
const BLOCK: u64 = (MAX_PARAMS * 4) as u64;

fn bytes(shape: &[usize]) -> u64 {
    (shape.iter().product::<usize>() as u64 * 4).max(4)
}

impl Instance {
    /// No output of the last run is held any more.
    pub fn idle(&self) -> bool {
        Arc::strong_count(&self.lease) == 1
    }

    /// The storage buffers of the memory plan (for tests and the static plan's accounting).
    pub fn slot_bytes(&self) -> u64 {
        self.slots.iter().map(|b| b.size()).sum()
    }

    pub fn build(gpu: &Gpu, kernels: &Kernels, p: &Program, consts: &[Option<wgpu::Buffer>], inputs: &[GpuTensor], file: &str) -> Result<Instance> {
        if inputs.len() != p.inputs.len() {
            return Err(backend(format!("{file}: {} inputs given, the graph takes {}", inputs.len(), p.inputs.len())));
        }
        let syms = bind(p, inputs, file)?;
        let shapes: Vec<Vec<usize>> = p
            .shapes
            .iter()
            .map(|s| s.iter().map(|d| d.eval(&syms).to_usize().ok()).collect::<Option<Vec<_>>>())
            .collect::<Option<_>>()
            .ok_or_else(|| backend(format!("{file}: shapes do not resolve for inputs {:?}", inputs.iter().map(|t| &t.shape).collect::<Vec<_>>())))?;
        let n = shapes.len();
        let mut homes: Vec<Option<Home>> = vec![None; n];
        for (v, c) in consts.iter().enumerate() {
            if c.is_some() {
                homes[v] = Some(Home::Const);
            }
        }
        for (i, &v) in p.inputs.iter().enumerate() {
            homes[v] = Some(Home::Input(i));
        }
        // A view shares its operand's buffer: liveness is tracked per root value.
        let mut root: Vec<ValueId> = (0..n).collect();
        for s in &p.steps {
            if s.op == Op::View {
                let src = *s.inputs.first().ok_or_else(|| backend(format!("{file}: a view without operand")))?;
                root[s.output] = root[src];
            }
        }
        // The last step reading each root; outputs live past the end.
        let mut last = vec![0usize; n];
        for (j, s) in p.steps.iter().enumerate() {
            for &v in &s.inputs {
                last[root[v]] = last[root[v]].max(j);
            }
        }
        for &v in &p.outputs {
            last[root[v]] = usize::MAX;
        }
        // Greedy best fit: a step's output takes the smallest free slot that holds it; a slot
        // frees after the last step reading its value (never during it: a kernel reads its
        // operands while it writes).
        let mut slot_size: Vec<u64> = vec![];
        let mut busy: Vec<(ValueId, usize)> = vec![];
        let mut free: Vec<usize> = vec![];
        for (j, s) in p.steps.iter().enumerate() {
            if s.op == Op::View {
                homes[s.output] = homes[root[s.output]];
                continue;
            }
            busy.retain(|&(r, slot)| {
                let live = last[r] >= j;
                if !live {
                    free.push(slot);
                }
                live
            });
            let need = bytes(&shapes[s.output]);
            let pick = free.iter().enumerate().filter(|(_, &f)| slot_size[f] >= need).min_by_key(|(_, &f)| slot_size[f]).map(|(i, _)| i);
            let slot = match pick {
                Some(i) => free.swap_remove(i),
                None => {
                    slot_size.push(need);
                    slot_size.len() - 1
                }
            };
            busy.push((s.output, slot));
            homes[s.output] = Some(Home::Slot(slot));
        }
        let slots = slot_size.iter().map(|&b| gpu.storage(b as usize, file)).collect::<Result<Vec<_>>>()?;

        // Every dispatch, its parameter block at an aligned offset of one uniform buffer.
        let align = (gpu.device.limits().min_uniform_buffer_offset_alignment as u64).max(BLOCK);
        let max_dim = gpu.device.limits().max_compute_workgroups_per_dimension;
        let mut plan: Vec<(Kernel, (u32, u32), Vec<ValueId>, ValueId)> = vec![];
        let mut blocks: Vec<u8> = vec![];
        for s in &p.steps {
            if s.op == Op::View {
                continue;
            }
            let ins: Vec<&[usize]> = s.inputs.iter().map(|&v| shapes[v].as_slice()).collect();
            for (kernel, params, reads) in dispatches(&s.op, &ins, &shapes[s.output])? {
                let params = params.into_iter().map(|v| u32::try_from(v).map_err(|_| backend(format!("{v} does not fit a 32-bit kernel index")))).collect::<Result<Vec<u32>>>()?;
                let total = params.first().copied().unwrap_or(0);
                if total == 0 {
                    continue; // empty tensors launch nothing
                }
                if params.len() > MAX_PARAMS {
                    return Err(backend(format!("{kernel:?}: {} parameters, at most {MAX_PARAMS}", params.len())));
                }
                let g = grid(total, kernel.workgroup(), max_dim)?;
                let operands = reads.iter().map(|&r| s.inputs.get(r).copied()).collect::<Option<Vec<_>>>().ok_or_else(|| backend(format!("{file}: a kernel reads a missing operand")))?;
                blocks.resize(plan.len() * align as usize, 0);
                let mut block = [0u32; MAX_PARAMS];
                block[..params.len()].copy_from_slice(&params);
                blocks.extend(block.iter().flat_map(|v| v.to_le_bytes()));
                plan.push((kernel, g, operands, s.output));
            }
        }
        let uniform = if plan.is_empty() {
            None
        } else {
            let u = gpu.buffer(&wgpu::BufferDescriptor {
                label: Some("params"),
                size: blocks.len() as u64,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            gpu.queue.write_buffer(&u, 0, &blocks);
            Some(u)
        };
        let bound: Vec<wgpu::Buffer> = inputs.iter().map(|t| t.buffer.clone()).collect();
        let mut inst = Instance { key: inputs.iter().map(|t| t.shape.clone()).collect(), shapes, homes, slots, uniform, launches: vec![], bound, lease: Arc::new(()) };
        for (i, (kernel, grid, operands, output)) in plan.into_iter().enumerate() {
            let reads_input = operands.iter().any(|&v| matches!(inst.homes[v], Some(Home::Input(_))));
            let group = inst.group(gpu, kernels, kernel, i as u64 * align, &operands, output, consts)?;
            inst.launches.push(Launch { kernel, offset: i as u64 * align, grid, operands, output, reads_input, group });
        }
        Ok(inst)
    }

    fn buffer<'a>(&'a self, v: ValueId, consts: &'a [Option<wgpu::Buffer>]) -> Result<&'a wgpu::Buffer> {
        match self.homes.get(v).copied().flatten() {
            Some(Home::Input(i)) => self.bound.get(i),
            Some(Home::Const) => consts.get(v).and_then(|c| c.as_ref()),
            Some(Home::Slot(s)) => self.slots.get(s),
            None => None,
        }
        .ok_or_else(|| backend("a value with no buffer"))
    }

    fn binding<'a>(&'a self, v: ValueId, consts: &'a [Option<wgpu::Buffer>]) -> Result<wgpu::BindingResource<'a>> {
        let size = self.shapes.get(v).map(|s| bytes(s)).and_then(wgpu::BufferSize::new);
        Ok(wgpu::BindingResource::Buffer(wgpu::BufferBinding { buffer: self.buffer(v, consts)?, offset: 0, size }))
    }

    #[allow(clippy::too_many_arguments)]
    fn group(&self, gpu: &Gpu, kernels: &Kernels, kernel: Kernel, offset: u64, operands: &[ValueId], output: ValueId, consts: &[Option<wgpu::Buffer>]) -> Result<wgpu::BindGroup> {
        let uniform = self.uniform.as_ref().ok_or_else(|| backend("a dispatch without parameters"))?;
        let mut entries = vec![wgpu::BindGroupEntry {
            binding: 0,
            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding { buffer: uniform, offset, size: wgpu::BufferSize::new(BLOCK) }),
        }];
        for (i, &v) in operands.iter().chain(std::iter::once(&output)).enumerate() {
            entries.push(wgpu::BindGroupEntry { binding: i as u32 + 1, resource: self.binding(v, consts)? });
        }
        Ok(gpu.bind_group(&wgpu::BindGroupDescriptor {
            label: Some(&format!("{kernel:?}")),
            layout: &kernels.pipeline(kernel)?.get_bind_group_layout(0),
            entries: &entries,
        }))
    }

    /// Records one run on `inputs` into `encoder` (one compute pass: WebGPU orders the
    /// dispatches' storage accesses); the outputs stay on the device.
    pub fn record(&mut self, gpu: &Gpu, kernels: &Kernels, p: &Program, consts: &[Option<wgpu::Buffer>], inputs: &[GpuTensor], encoder: &mut wgpu::CommandEncoder) -> Result<Vec<GpuTensor>> {
        let same = inputs.len() == self.bound.len() && inputs.iter().zip(&self.bound).all(|(t, b)| t.buffer == *b);
        if !same {
            self.bound = inputs.iter().map(|t| t.buffer.clone()).collect();
            for i in 0..self.launches.len() {
                let l = &self.launches[i];
                if l.reads_input {
                    let group = self.group(gpu, kernels, l.kernel, l.offset, &l.operands.clone(), l.output, consts)?;
                    self.launches[i].group = group;
                }
            }
        }
        if !self.launches.is_empty() {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: None, timestamp_writes: None });
            for l in &self.launches {
                pass.set_pipeline(kernels.pipeline(l.kernel)?);
                pass.set_bind_group(0, &l.group, &[]);
                pass.dispatch_workgroups(l.grid.0, l.grid.1, 1);
                gpu.counters.count(Event::Dispatch);
            }
        }
        p.outputs
            .iter()
            .map(|&v| {
                let shape = self.shapes.get(v).cloned().ok_or_else(|| backend("an output without a shape"))?;
                Ok(GpuTensor { buffer: self.buffer(v, consts)?.clone(), shape, lease: Some(self.lease.clone()) })
            })
            .collect()
    }
}
