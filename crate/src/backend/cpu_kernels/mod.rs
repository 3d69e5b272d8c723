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
use crate::backend::window::Window;

pub use maxpool::MaxPool2d;
pub use pad::Pad2d;

/// `graph` optimised for tract's CPU plan, with exitwise's kernels swapped in.
pub fn optimize(graph: TypedModel) -> TractResult<TypedModel> {
    // tract's kernels are registered by static constructors (see js/ctors.rs): before any plan.
    #[cfg(target_arch = "wasm32")]
    crate::js::ctors::ensure();
    let mut graph = graph.into_decluttered()?;
    swap(&mut graph, max_pool);
    let mut graph = graph.into_optimized()?;
    swap(&mut graph, pad);
    Ok(graph)
}

/// Replaces the op of every node running an `O` on a concrete f32 input with the kernel `make`
/// builds from that input's shape — when it builds one, and its output is the node's (same
/// type and shape, so nothing downstream changes).
fn swap<O: TypedOp, K: TypedOp>(model: &mut TypedModel, make: impl Fn(&[usize], &O) -> Option<K>) {
    for id in 0..model.nodes.len() {
        let node = &model.nodes[id];
        let Some(op) = node.op_as::<O>() else { continue };
        let Some(fact) = node.inputs.first().and_then(|&i| model.outlet_fact(i).ok()) else { continue };
        let Some(shape) = fact.shape.as_concrete().filter(|_| fact.datum_type == f32::datum_type()) else { continue };
        let Some(kernel) = make(shape, op) else { continue };
        let out = kernel.output_facts(&[]).unwrap_or_default();
        let same = match (&out[..], &node.outputs[..]) {
            ([got], [want]) => got.datum_type == want.fact.datum_type && got.shape == want.fact.shape,
            _ => false,
        };
        if same {
            model.nodes[id].op = Box::new(kernel);
        }
    }
}

fn max_pool(shape: &[usize], op: &MaxPool) -> Option<MaxPool2d> {
    let input: [usize; 4] = shape.try_into().ok()?;
    let window = Window::of(&op.pool_spec, [input[2], input[3]])?;
    op.with_index_outputs.is_none().then_some(MaxPool2d { input, window })
}

fn pad(shape: &[usize], op: &Pad) -> Option<Pad2d> {
    let PadMode::Constant(value) = &op.mode else { return None };
    let r = shape.len().checked_sub(2)?;
    if op.pads.len() != shape.len() || op.pads[..r].iter().any(|&p| p != (0, 0)) {
        return None;
    }
    Some(Pad2d { input: shape.into(), pads: [op.pads[r], op.pads[r + 1]], value: value.cast_to_scalar::<f32>().ok()? })
}

/// The names of the ops in `model`'s nodes, e.g. to check which kernels a plan runs.
pub fn op_names(model: &TypedModel) -> Vec<String> {
    model.nodes.iter().map(|n| n.op.name().to_string()).collect()
}
