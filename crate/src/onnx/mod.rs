//! exitwise's ONNX front end: tract-onnx's parser with a register of exactly the operators
//! exitwise runs (`crate::ops::OPS`), not tract-onnx's ~200.
//!
//! Why: the register is a table of function pointers, so every builder in it — and every tract
//! op those builders construct (FFT, LSTM, tree ensembles, quantized kernels …) — is linked into
//! the `.wasm` whether a bundle uses it or not. With only the admitted operators the package is
//! ~0.3 MB (gzip) smaller and compiles faster at cold start. Admission (`crate::admission`) has
//! already checked every node's attributes and opset (11–18) before a builder runs.
//!
//! The builders follow tract-onnx 0.23.9's own (`src/ops/`, MIT/Apache-2.0, © Sonos), cut to the
//! opsets exitwise admits; `tests/onnx_register.rs` checks that they give the same typed graph as
//! tract-onnx's full register on every shipped part and on single-op models.

mod array;
mod axes;
mod math;
mod nn;
mod reduce;

use tract_onnx::model::{OnnxOpRegister, ParsingContext};
use tract_onnx::pb::NodeProto;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::InferenceOp;
use tract_onnx::Onnx;

/// What a builder gives tract-onnx: the op, and names of extra inputs (none here).
type Built = TractResult<(Box<dyn InferenceOp>, Vec<String>)>;
type Builder = fn(&ParsingContext, &NodeProto) -> Built;

/// `(op_type, builder)` for every operator in `crate::ops::OPS` that the CPU runs.
const BUILDERS: &[(&str, Builder)] = &[
    ("Add", math::add),
    ("AveragePool", nn::average_pool),
    ("BatchNormalization", nn::batch_normalization),
    ("Clip", math::clip),
    ("Concat", array::concat),
    ("Constant", array::constant),
    ("ConstantOfShape", array::constant_of_shape),
    ("Conv", nn::conv),
    ("Div", math::div),
    ("Erf", math::erf),
    ("Flatten", array::flatten),
    ("Gather", array::gather),
    ("Gemm", math::gemm),
    ("GlobalAveragePool", nn::global_average_pool),
    ("GlobalMaxPool", nn::global_max_pool),
    ("Identity", array::identity),
    ("MatMul", math::matmul),
    ("Max", math::max),
    ("MaxPool", nn::max_pool),
    ("Min", math::min),
    ("Mul", math::mul),
    ("Pad", array::pad),
    ("Reciprocal", math::reciprocal),
    ("ReduceMax", reduce::reduce_max),
    ("ReduceMean", reduce::reduce_mean),
    ("ReduceMin", reduce::reduce_min),
    ("ReduceSum", reduce::reduce_sum),
    ("Relu", nn::relu),
    ("Reshape", array::reshape),
    ("Sigmoid", nn::sigmoid),
    ("Slice", array::slice),
    ("Softmax", nn::softmax),
    ("Split", axes::split),
    ("Squeeze", axes::squeeze),
    ("Sub", math::sub),
    ("Transpose", array::transpose),
    ("Unsqueeze", axes::unsqueeze),
];

/// The op types this front end parses (for the test that keeps it equal to `crate::ops::OPS`).
pub fn op_types() -> impl Iterator<Item = &'static str> {
    BUILDERS.iter().map(|(name, _)| *name)
}

/// tract-onnx's parser with exitwise's register. Any other op type parses to tract's
/// `UnimplementedOp` (load reports `UNSUPPORTED_OP`), as with tract's own register.
pub fn parser() -> Onnx {
    let mut reg = OnnxOpRegister::default();
    for (name, builder) in BUILDERS {
        reg.insert(name, *builder);
    }
    Onnx { op_register: reg, ..Onnx::default() }
}

/// The input position of each declared input slot, `None` for an omitted optional one (an empty
/// name), as tract-onnx's `optional_inputs`: slot `k` of `node.input`.
fn optional_input(node: &NodeProto, k: usize) -> Option<usize> {
    match node.input.get(k) {
        Some(name) if !name.is_empty() => Some(node.input[..k].iter().filter(|s| !s.is_empty()).count()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn optional_inputs_count_only_present_ones() {
        let node = NodeProto { input: vec!["x".into(), "".into(), "max".into()], ..Default::default() };
        assert_eq!((optional_input(&node, 1), optional_input(&node, 2), optional_input(&node, 3)), (None, Some(1), None));
    }

    #[test]
    fn builders_sorted_and_cover_the_cpu_ops() {
        assert!(BUILDERS.windows(2).all(|w| w[0].0 < w[1].0));
        let cpu: Vec<&str> = crate::ops::OPS.iter().filter(|o| o.cpu).map(|o| o.name).collect();
        assert_eq!(op_types().collect::<Vec<_>>(), cpu);
    }
}
