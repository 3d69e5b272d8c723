//! Lowering: a part's decluttered tract graph becomes a list of kernel steps over numbered
//! values. Shapes stay symbolic (the batch `N`) and are resolved per run; weights are
//! extracted here, in the layout the kernels read, to be uploaded once.

use crate::error::{Error, ErrorCode, Result};
use std::collections::HashMap;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::DimLike;
use tract_onnx::tract_core::ops::array::TypedConcat;
use tract_onnx::tract_core::ops::binary::TypedBinOp;
use tract_onnx::tract_core::ops::change_axes::AxisOp;
use tract_onnx::tract_core::ops::cnn::{Conv, KernelFormat, MaxPool, PoolSpec, SumPool};
use tract_onnx::tract_core::ops::downsample::Downsample;
use tract_onnx::tract_core::ops::einsum::EinSum;
use super::einsum::gemm_axes;
pub use super::einsum::GemmAxes;
use tract_onnx::tract_core::ops::element_wise::ElementWiseOp;
use tract_onnx::tract_core::ops::konst::Const;
use tract_onnx::tract_core::ops::nn::{DataFormat, Reduce, Reducer, Softmax, SoftmaxKind};
use tract_onnx::tract_core::ops::source::TypedSource;

pub type ValueId = usize;

pub use crate::backend::window::Window;

#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Inputs: x, OIHW weights, bias [Cout]. `fast`: the 1×1 kernel applies.
    Conv { window: Window, group: usize, fast: bool },
    Gemm(GemmAxes),
    /// 0 add, 1 sub, 2 mul, 3 div, 4 max, 5 min (eltwise.wgsl).
    Binary(u32),
    /// 0 sigmoid, 1 reciprocal (activation.wgsl).
    Unary(u32),
    /// mode as in pool.wgsl.
    Pool { window: Window, mode: u32 },
    /// Axes `first..end` reduced; 0 sum, 1 max, 2 min (reduce.wgsl).
    Reduce { first: usize, end: usize, op: u32 },
    Softmax { first: usize, end: usize },
    Concat { axis: usize },
    /// Every `stride`-th row along `axis`, from `modulo`.
    Downsample { axis: usize, stride: usize, modulo: usize },
    /// Same buffer, new shape (reshape, flatten, adding or removing a unit axis).
    View,
}

#[derive(Debug, Clone)]
pub struct Step {
    pub op: Op,
    pub inputs: Vec<ValueId>,
    pub output: ValueId,
}

/// A lowered part: value shapes (symbolic in the batch), constants, and steps in order.
#[derive(Debug, Clone)]
pub struct Program {
    pub shapes: Vec<TVec<TDim>>,
    /// Constant values and their data (row-major f32), uploaded once.
    pub consts: Vec<(ValueId, Vec<f32>)>,
    pub inputs: Vec<ValueId>,
    pub outputs: Vec<ValueId>,
    pub steps: Vec<Step>,
}

fn unsupported(file: &str, node: &TypedNode, why: impl std::fmt::Display) -> Error {
    // tract keeps ONNX's names for most ops: the shared list says which run on the CPU only.
    let name = node.op.name();
    let cpu_only = crate::ops::find(&name).is_some_and(|o| o.cpu && !o.webgpu);
    Error::new(ErrorCode::UnsupportedOp, format!(
        "{file}: operator {name} (node {:?}) is not supported by the WebGPU backend{}: {why}",
        node.name, if cpu_only { " (exitwise runs it on the CPU)" } else { "" }
    ))
}

fn f32_data(t: &Tensor) -> Option<Vec<f32>> {
    t.cast_to::<f32>().ok().and_then(|c| c.to_plain_array_view::<f32>().ok().map(|v| v.iter().copied().collect()))
}

struct Lowering<'a> {
    model: &'a TypedModel,
    file: &'a str,
    p: Program,
    values: HashMap<OutletId, ValueId>,
}

impl Lowering<'_> {
    fn new_value(&mut self, shape: TVec<TDim>) -> ValueId {
        self.p.shapes.push(shape);
        self.p.shapes.len() - 1
    }

    fn new_const(&mut self, shape: &[usize], data: Vec<f32>) -> ValueId {
        let v = self.new_value(shape.iter().map(|d| d.to_dim()).collect());
        self.p.consts.push((v, data));
        v
    }

    /// The value behind an input wire; a constant is materialised on first use.
    fn value(&mut self, node: &TypedNode, o: OutletId) -> Result<ValueId> {
        if let Some(v) = self.values.get(&o) {
            return Ok(*v);
        }
        let fact = self.model.outlet_fact(o).map_err(|e| unsupported(self.file, node, e))?;
        let k = fact.konst.clone().ok_or_else(|| unsupported(self.file, node, format!("input {o:?} is not computed")))?;
        let data = f32_data(&k).ok_or_else(|| unsupported(self.file, node, format!("constant of type {:?}", k.datum_type())))?;
        let v = self.new_const(k.shape(), data);
        self.values.insert(o, v);
        Ok(v)
    }

    fn konst(&self, node: &TypedNode, i: usize) -> Result<Arc<Tensor>> {
        let fact = self.model.outlet_fact(node.inputs[i]).map_err(|e| unsupported(self.file, node, e))?;
        fact.konst.clone().ok_or_else(|| unsupported(self.file, node, format!("input {i} must be a constant")))
    }

    fn in_shape(&self, node: &TypedNode, i: usize) -> Result<TVec<TDim>> {
        Ok(self.model.outlet_fact(node.inputs[i]).map_err(|e| unsupported(self.file, node, e))?.shape.to_tvec())
    }

    fn node(&mut self, node: &TypedNode) -> Result<()> {
        if node.op_is::<TypedSource>() || node.op_is::<Const>() {
            return Ok(()); // inputs are bound up front; constants on first use
        }
        for o in &node.outputs {
            if o.fact.datum_type != f32::datum_type() {
                return Err(unsupported(self.file, node, format!("output type {:?}", o.fact.datum_type)));
            }
        }
        if node.outputs.len() != 1 {
            return Err(unsupported(self.file, node, format!("{} outputs", node.outputs.len())));
        }
        let (op, operands) = self.op(node)?;
        let mut inputs = operands.into_iter().map(|i| self.value(node, node.inputs[i])).collect::<Result<Vec<_>>>()?;
        if let Op::Conv { .. } = op {
            let (w, b) = self.conv_weights(node)?;
            inputs.extend([w, b]);
        }
        let output = self.new_value(node.outputs[0].fact.shape.to_tvec());
        self.values.insert(OutletId::new(node.id, 0), output);
        self.p.steps.push(Step { op, inputs, output });
        Ok(())
    }

    /// The kernel op for `node` and which of its inputs are operands.
    fn op(&self, node: &TypedNode) -> Result<(Op, Vec<usize>)> {
        let bad = |why: &str| Err(unsupported(self.file, node, why));
        if let Some(conv) = node.op_as::<Conv>() {
            if conv.q_params.is_some() || conv.kernel_fmt != KernelFormat::OIHW {
                return bad("only float convolutions with OIHW weights");
            }
            let window = self.window(node, &conv.pool_spec)?;
            let fast = window.kernel == [1, 1] && window.stride == [1, 1] && window.pad_before == [0, 0]
                && window.pad_after == [0, 0] && conv.group == 1;
            return Ok((Op::Conv { window, group: conv.group, fast }, vec![0]));
        }
        if let Some(e) = node.op_as::<EinSum>() {
            if e.q_params.is_some() || node.inputs.len() != 2 || e.operating_dt != f32::datum_type() {
                return bad("only float products of two inputs");
            }
            let shapes = [self.in_shape(node, 0)?, self.in_shape(node, 1)?, node.outputs[0].fact.shape.to_tvec()];
            let g = gemm_axes(e, &shapes).map_err(|why| unsupported(self.file, node, why))?;
            // tract declutters a 1×1 convolution into `NIHW,OI->NOHW` (plus a bias Add):
            // that is the 1×1 kernel's exact layout, with pixels on the fast thread axis.
            let one_by_one = GemmAxes { a: [vec![0], vec![2, 3], vec![1]], b: [vec![], vec![0], vec![1]], y: [vec![0], vec![2, 3], vec![1]] };
            if g == one_by_one && self.konst(node, 1).is_ok() {
                let window = Window { kernel: [1, 1], stride: [1, 1], dilation: [1, 1], pad_before: [0, 0], pad_after: [0, 0], output: self.hw(node)? };
                return Ok((Op::Conv { window, group: 1, fast: true }, vec![0]));
            }
            return Ok((Op::Gemm(g), vec![0, 1]));
        }
        if let Some(b) = node.op_as::<TypedBinOp>() {
            let code = match b.0.name() {
                "Add" => 0,
                "Sub" => 1,
                "Mul" => 2,
                "Div" => 3,
                "Max" => 4,
                "Min" => 5,
                _ => return bad("binary operator without a kernel"),
            };
            return Ok((Op::Binary(code), vec![0, 1]));
        }
        if let Some(e) = node.op_as::<ElementWiseOp>() {
            return match e.0.name().as_ref() {
                "Sigmoid" => Ok((Op::Unary(0), vec![0])),
                "Recip" => Ok((Op::Unary(1), vec![0])),
                _ => bad("element-wise operator without a kernel"),
            };
        }
        if let Some(p) = node.op_as::<MaxPool>() {
            if p.with_index_outputs.is_some() {
                return bad("max pooling with indices");
            }
            return Ok((Op::Pool { window: self.window(node, &p.pool_spec)?, mode: 0 }, vec![0]));
        }
        if let Some(p) = node.op_as::<SumPool>() {
            let mode = match (p.normalize, p.count_include_pad) {
                (false, _) => 1,
                (true, false) => 2,
                (true, true) => 3,
            };
            return Ok((Op::Pool { window: self.window(node, &p.pool_spec)?, mode }, vec![0]));
        }
        if let Some(r) = node.op_as::<Reduce>() {
            let op = match r.reducer {
                Reducer::Sum => 0,
                Reducer::Max => 1,
                Reducer::Min => 2,
                _ => return bad("reducer without a kernel"),
            };
            let (first, end) = contiguous(&r.axes).ok_or_else(|| unsupported(self.file, node, "non-adjacent axes"))?;
            return Ok((Op::Reduce { first, end, op }, vec![0]));
        }
        if let Some(s) = node.op_as::<Softmax>() {
            if s.quant_output_dt.is_some() || s.kind != SoftmaxKind::Softmax {
                return bad("only float softmax (tract splits log-softmax into softmax and Ln)");
            }
            let (first, end) = contiguous(&s.axes).ok_or_else(|| unsupported(self.file, node, "non-adjacent axes"))?;
            return Ok((Op::Softmax { first, end }, vec![0]));
        }
        if let Some(c) = node.op_as::<TypedConcat>() {
            return Ok((Op::Concat { axis: c.axis }, (0..node.inputs.len()).collect()));
        }
        if let Some(d) = node.op_as::<Downsample>() {
            return match usize::try_from(d.stride) {
                Ok(stride) if stride > 0 => Ok((Op::Downsample { axis: d.axis, stride, modulo: d.modulo }, vec![0])),
                _ => bad("negative or zero stride"),
            };
        }
        if let Some(a) = node.op_as::<AxisOp>() {
            let unit_move = match a {
                AxisOp::Move(from, _) => self.in_shape(node, 0)?.get(*from).is_some_and(|d| d.is_one()),
                _ => true,
            };
            if unit_move {
                return Ok((Op::View, vec![0]));
            }
            return bad("moving a non-unit axis (a transpose)");
        }
        bad("no kernel lowers it")
    }

    fn window(&self, node: &TypedNode, spec: &PoolSpec) -> Result<Window> {
        if spec.data_format != DataFormat::NCHW || spec.rank() != 2 {
            return Err(unsupported(self.file, node, "only 2-D NCHW windows"));
        }
        Window::of(spec, self.hw(node)?).ok_or_else(|| unsupported(self.file, node, "a window with a zero kernel, stride or dilation"))
    }

    /// Height and width of the node's NCHW input.
    fn hw(&self, node: &TypedNode) -> Result<[usize; 2]> {
        let shape = self.in_shape(node, 0)?;
        let hw: Vec<usize> = shape.get(2..).unwrap_or_default().iter().map(|d| d.to_usize().ok()).collect::<Option<_>>()
            .ok_or_else(|| unsupported(self.file, node, "symbolic spatial dims"))?;
        hw.try_into().map_err(|_| unsupported(self.file, node, "only 2-D NCHW windows"))
    }

    /// The convolution's weights as OIHW f32 and its bias expanded to `[Cout]` (zero for a 1×1
    /// convolution tract turned into an EinSum, whose bias is a separate Add).
    fn conv_weights(&mut self, node: &TypedNode) -> Result<(ValueId, ValueId)> {
        let w = self.konst(node, 1)?;
        let cout = w.shape()[0];
        let wd = f32_data(&w).ok_or_else(|| unsupported(self.file, node, "non-f32 weights"))?;
        let mut bd = match node.inputs.len() {
            2 => vec![0.0; cout],
            _ => f32_data(&*self.konst(node, 2)?).ok_or_else(|| unsupported(self.file, node, "non-f32 bias"))?,
        };
        if bd.len() == 1 {
            bd = vec![bd[0]; cout];
        }
        if bd.len() != cout {
            return Err(unsupported(self.file, node, format!("bias of {} values for {cout} channels", bd.len())));
        }
        Ok((self.new_const(w.shape(), wd), self.new_const(&[cout], bd)))
    }
}

/// `axes` as a half-open range when they are adjacent.
fn contiguous(axes: &[usize]) -> Option<(usize, usize)> {
    let mut v = axes.to_vec();
    v.sort();
    let first = *v.first()?;
    v.iter().enumerate().all(|(i, a)| *a == first + i).then_some((first, first + v.len()))
}

/// Lowers `model` (a part's decluttered graph); `file` names the part in errors.
pub fn lower(model: &TypedModel, file: &str) -> Result<Program> {
    let mut l = Lowering {
        model,
        file,
        p: Program { shapes: vec![], consts: vec![], inputs: vec![], outputs: vec![], steps: vec![] },
        values: HashMap::new(),
    };
    for &o in model.input_outlets().map_err(|e| Error::new(ErrorCode::BadOnnx, format!("{file}: {e}")))? {
        let fact = model.outlet_fact(o).map_err(|e| Error::new(ErrorCode::BadOnnx, format!("{file}: {e}")))?;
        let v = l.new_value(fact.shape.to_tvec());
        l.values.insert(o, v);
        l.p.inputs.push(v);
    }
    let order = model.eval_order().map_err(|e| Error::new(ErrorCode::BadOnnx, format!("{file}: {e}")))?;
    for id in order {
        l.node(&model.nodes()[id])?;
    }
    for &o in model.output_outlets().map_err(|e| Error::new(ErrorCode::BadOnnx, format!("{file}: {e}")))? {
        let node = &model.nodes()[o.node];
        let v = l.value(node, o)?;
        l.p.outputs.push(v);
    }
    Ok(l.p)
}
