//! exitwise's own CPU kernels, plugged into tract's plans where tract's generic code is slow on
//! wasm (measured per node under V8; README "CPU hot path"). Each replaces one tract op on a
//! graph whose shapes are all concrete, computes the same values, and declines — leaving
//! tract's op in place — whenever a case is not one it handles.
//!
//! [`optimize`] is tract's `into_optimized` with the swaps around it: max pools before codegen
//! (tract would lower them to its own `OptMaxPool`), the `Pad`s tract inserts for lazy-im2col
//! convolutions after it.

pub mod maxpool;
pub mod pad;

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::array::{Pad, PadMode};
use tract_onnx::tract_core::ops::cnn::MaxPool;
use tract_onnx::tract_core::ops::nn::DataFormat;

pub use maxpool::MaxPool2d;
pub use pad::Pad2d;

/// `graph` optimised for tract's CPU plan, with exitwise's kernels swapped in.
pub fn optimize(graph: TypedModel) -> TractResult<TypedModel> {
    let mut graph = graph.into_decluttered()?;
    swap_max_pools(&mut graph)?;
    let mut graph = graph.into_optimized()?;
    swap_pads(&mut graph)?;
    Ok(graph)
}

fn concrete<'a>(model: &'a TypedModel, node: &TypedNode) -> Option<(&'a TypedFact, TVec<usize>)> {
    let fact = model.outlet_fact(*node.inputs.first()?).ok()?;
    let shape = fact.shape.as_concrete()?.into();
    (fact.datum_type == f32::datum_type()).then_some((fact, shape))
}

fn max_pool(model: &TypedModel, node: &TypedNode, op: &MaxPool) -> Option<MaxPool2d> {
    let spec = &op.pool_spec;
    if op.with_index_outputs.is_some() || spec.data_format != DataFormat::NCHW || spec.kernel_shape.len() != 2 {
        return None;
    }
    let (_, shape) = concrete(model, node)?;
    let input: [usize; 4] = shape.as_slice().try_into().ok()?;
    let padding = spec.computed_padding(&input[2..]);
    let output = [input[0], input[1], padding.first()?.convoluted, padding.get(1)?.convoluted];
    let out_fact = node.outputs.first()?.fact.shape.as_concrete()?;
    let two = |v: &[usize]| -> Option<[usize; 2]> { v.try_into().ok() };
    (out_fact == output).then_some(MaxPool2d {
        input,
        output,
        kernel: two(&spec.kernel_shape)?,
        stride: two(&spec.strides())?,
        dilation: two(&spec.dilations())?,
        pad_before: [padding[0].pad_before, padding[1].pad_before],
    })
    .filter(|p| p.kernel.iter().chain(&p.stride).chain(&p.dilation).all(|&k| k >= 1))
}

fn pad(model: &TypedModel, node: &TypedNode, op: &Pad) -> Option<Pad2d> {
    let PadMode::Constant(value) = &op.mode else { return None };
    let value = value.cast_to_scalar::<f32>().ok()?;
    let (_, input) = concrete(model, node)?;
    let r = input.len();
    if r < 2 || op.pads.len() != r || op.pads[..r - 2].iter().any(|&p| p != (0, 0)) {
        return None;
    }
    let p = Pad2d { input, pads: [op.pads[r - 2], op.pads[r - 1]], value };
    let out_fact = node.outputs.first()?.fact.shape.as_concrete()?;
    (out_fact == &*p.output()).then_some(p)
}

fn swap_max_pools(model: &mut TypedModel) -> TractResult<()> {
    for id in 0..model.nodes.len() {
        let node = &model.nodes[id];
        if let Some(p) = node.op_as::<MaxPool>().and_then(|op| max_pool(model, node, op)) {
            model.nodes[id].op = Box::new(p);
        }
    }
    Ok(())
}

fn swap_pads(model: &mut TypedModel) -> TractResult<()> {
    for id in 0..model.nodes.len() {
        let node = &model.nodes[id];
        if let Some(p) = node.op_as::<Pad>().and_then(|op| pad(model, node, op)) {
            model.nodes[id].op = Box::new(p);
        }
    }
    Ok(())
}

/// The names of the ops in `model`'s nodes, e.g. to check which kernels a plan runs.
pub fn op_names(model: &TypedModel) -> Vec<String> {
    model.nodes.iter().map(|n| n.op.name().to_string()).collect()
}
